// Dht::Impl: the state of the libuv DHT driver (dht.h), shared by its files:
//   dht_node.cc       the public Dht methods: commands posted to the loop
//   dht_node_loop.cc  the loop side: draining the core, routing completions
//   dht_node_udp.cc   the UDP socket and timer: bind, send, receive, close
// It only moves datagrams and time into the DhtCore and completions out;
// every protocol decision lives in the core.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>

#include "chorus/dht/dht.h"
#include "chorus/dht/dht_core.h"
#include "chorus/overlay/node.h"
#include "chorus/overlay/uv_helpers.h"

namespace chorus::dht {

constexpr size_t kRecvBufferBytes = 64 * 1024;
// Asked of the kernel; it caps these at net.core.{r,w}mem_max. Bursts of a
// few hundred operations' RPCs must not overflow the default ~200 KiB.
constexpr int kSocketBufferBytes = 4 << 20;
// How long start() and stop() wait for the node's loop.
constexpr auto kLoopWait = std::chrono::seconds(10);
// At most this many drain rounds (actions, then events) per input, so a
// callback that keeps issuing commands cannot hold the loop forever.
constexpr int kMaxDrainRounds = 1000;
constexpr int64_t kUsPerMs = 1000;

// The driver's monotonic clock: the overlay driver's (uv_hrtime, in
// microseconds), so the DHT and its node's core read one clock.
using overlay::now_us;
// Unix time in ms: what datagram nonces carry (DhtCore::set_wall_clock).
int64_t wall_ms();
bool is_loopback(const std::string& host);
std::shared_ptr<spdlog::logger> dht_logger();

using DoneFn = std::function<void(DoneEvent&)>;

// A completion travelling to the loop inside a posted task. If the node
// drops the task (it is stopping), the last copy's destructor still
// completes it, so every callback fires exactly once.
struct PendingDone {
  DoneFn fn;
  explicit PendingDone(DoneFn f) : fn(std::move(f)) {}
  PendingDone(const PendingDone&) = delete;
  PendingDone& operator=(const PendingDone&) = delete;
  ~PendingDone() {
    if (!fn) return;
    DoneEvent ev{0, cancelled("the node stopped before the DHT ran the command"), 0};
    fn(ev);
  }
  DoneFn take() { return std::exchange(fn, nullptr); }
};

struct Dht::Impl : std::enable_shared_from_this<Impl> {
  struct SendReq {
    uv_udp_send_t req;
    Impl* impl;
    Bytes data;
  };
  struct Listening {
    Token token = 0;
    ListenCallback on_change;
    std::function<void(Error)> ended;
  };
  struct Holding {
    Token token = 0;
    std::function<void(Result<HoldGrant>)> acquired;  // emptied once run
    std::function<void(Error)> lost;
  };
  // Where the Dht is in its life; guarded by `mu`.
  enum class State { kCreated, kStarting, kRunning, kStopped };

  overlay::Node& node;
  DhtOptions options;
  uint64_t tag = 0;
  std::shared_ptr<spdlog::logger> log = dht_logger();

  // ---- loop thread only
  uv_loop_t* loop = nullptr;
  uv_udp_t udp{};
  uv_timer_t timer{};
  bool running = false;  // bound and serving; false again once shut down
  std::unique_ptr<DhtCore> core;
  std::unordered_map<Token, DoneFn> pending;
  std::unordered_map<ListenHandle, Listening> listens;
  std::unordered_map<Token, ListenHandle> listen_by_token;
  std::unordered_map<HoldHandle, Holding> holds;
  std::unordered_map<Token, HoldHandle> hold_by_token;
  std::unique_ptr<uint8_t[]> recv_buffer{new uint8_t[kRecvBufferBytes]};
  DhtDriverStats driver;

  // ---- any thread
  std::mutex mu;
  std::condition_variable cv;
  State state = State::kCreated;
  int open_handles = 0;
  std::optional<Address> bound;
  std::atomic<ListenHandle> next_listen{1};
  std::atomic<HoldHandle> next_hold{1};

  Impl(overlay::Node& n, DhtOptions o) : node(n), options(std::move(o)) {}

  // ---- loop side (dht_node_loop.cc)
  // Sends what the core queued, delivers its events, re-arms the timer.
  void drain();
  void dispatch(DhtEvent& e);
  void dispatch_hold(HoldEvent& ev);
  // Runs `begin` against the core on the loop and routes its DoneEvent to
  // `done`. Always through post, so `done` never runs inside the caller.
  void submit(std::function<Token(DhtCore&, int64_t)> begin, DoneFn done);
  Error not_running();
  size_t learn(const overlay::PeerInfo& p);
  void on_peer(const overlay::PublicKey& key, bool up);
  static void on_timer(uv_timer_t* t);

  // ---- the socket (dht_node_udp.cc)
  Result<Address> start_on_loop();
  void send(SendDatagram& s);
  void add_handle();
  // Ends everything: from stop() through post, or from the node's stopping
  // hook. Idempotent.
  void shutdown_on_loop();
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  static void on_send(uv_udp_send_t* req, int status);
  static void on_closed(uv_handle_t* h);
};

}  // namespace chorus::dht
