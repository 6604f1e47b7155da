// Helpers for the integration tests: real nodes on loopback, bounded waits.
//
// Every wait is bounded and event-driven (promises, condition variables fed
// by the nodes' callbacks); a helper that runs out of time throws, which
// GoogleTest reports as a failure of the test that called it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "chorus/overlay/handshake.h"
#include "chorus/overlay/node.h"

namespace chorus::itest {

using namespace chorus::overlay;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr auto kWait = 15s;  // the longest any single event may take

// Timers shortened so that the suite runs in seconds.
OverlayConfig fast_config();

// Silences node logs (CHORUS_TEST_LOG=debug|info|... turns them back on).
void quiet_logs();

// Waits for `f` at most `timeout`; throws when it does not become ready.
template <typename T>
T await(std::future<T>& f, std::chrono::milliseconds timeout = kWait, const char* what = "event") {
  if (f.wait_for(timeout) != std::future_status::ready) {
    throw std::runtime_error(std::string("timed out waiting for ") + what);
  }
  return f.get();
}

// Runs `fn` on the node's loop thread and returns its result.
template <typename F>
auto on_loop(Node& node, F fn) -> std::invoke_result_t<F> {
  using R = std::invoke_result_t<F>;
  auto p = std::make_shared<std::promise<R>>();
  auto f = p->get_future();
  node.post([p, fn = std::move(fn)]() mutable {
    if constexpr (std::is_void_v<R>) {
      fn();
      p->set_value();
    } else {
      p->set_value(fn());
    }
  });
  return await(f, kWait, "the node's loop thread");
}

// Peer up/down events of one node, for waiting on the topology.
class PeerWatch {
 public:
  void attach(Node& node);  // call before start()
  // Waits until `pred(up peers)` holds; false after `timeout`.
  bool wait(const std::function<bool(const std::map<PublicKey, int>&)>& pred,
            std::chrono::milliseconds timeout = kWait);
  bool wait_up(const PublicKey& key, std::chrono::milliseconds timeout = kWait);
  bool wait_down(const PublicKey& key, std::chrono::milliseconds timeout = kWait,
                 std::string* reason = nullptr);
  bool wait_count(size_t at_least, std::chrono::milliseconds timeout = kWait);
  int ups(const PublicKey& key);
  int downs(const PublicKey& key);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<PublicKey, int> up_;  // key -> 1 while connected
  std::map<PublicKey, int> ups_, downs_;
  std::map<PublicKey, std::string> last_reason_;
};

struct TestNode {
  // The watch outlives the node: callbacks run until the node has stopped.
  std::shared_ptr<PeerWatch> watch = std::make_shared<PeerWatch>();
  std::unique_ptr<Node> node;

  Node* operator->() const { return node.get(); }
  Node& operator*() const { return *node; }
  const PublicKey& key() const { return node->key(); }
  SocketAddress addr() const;
  std::vector<PublicKey> peer_keys() const;  // via the loop thread
  bool linked_to(const TestNode& other) const;
};

// Creates, registers `apps`, and starts a node; throws on failure.
TestNode start_node(NodeOptions options, std::map<AppId, AppHandlers> apps = {});
// Shorthand: a listening (or initiate-only) node on 127.0.0.1 with `config`.
TestNode start_node(OverlayConfig config, bool listen = true,
                    std::map<AppId, AppHandlers> apps = {});

// Synchronous wrappers over the callback API (each bounded by kWait).
Result<int64_t> ping(Node& from, const PublicKey& to);
Result<Hash256> whisper(Node& from, AppId app, const PublicKey& to, Bytes payload,
                        bool encrypt = false);
Result<Bytes> request(Node& from, AppId app, const PublicKey& to, Bytes payload,
                      RequestOptions options = {});
Result<void> speak(Node& from, AppId app, Bytes payload, SpeakOptions options);

Bytes random_bytes(size_t n);
Bytes text(std::string_view s);

// A plain blocking POSIX TCP client, for hostile peers.
class RawClient {
 public:
  // Connects to `to`; a positive `rcvbuf` shrinks the receive buffer first.
  explicit RawClient(const SocketAddress& to, int rcvbuf = 0);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // False when the peer already closed the connection.
  bool send_all(ByteView bytes);
  // Reads exactly `n` bytes; throws after `timeout` or on EOF.
  Bytes read_exact(size_t n, std::chrono::milliseconds timeout = kWait);
  // Whatever arrives within `timeout` (at least one byte); empty on EOF or timeout.
  Bytes read_some(std::chrono::milliseconds timeout = kWait);
  // Reads and discards until EOF or a reset; false when still open at `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);

  // Completes the Chorus handshake as initiator with `identity`; returns the
  // session keys and leaves any bytes read past the handshake in `leftover`.
  SessionKeys handshake(const Identity& identity, Bytes* leftover = nullptr);

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace chorus::itest
