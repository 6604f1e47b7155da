// Node::Impl: the state of the libuv driver around one NodeCore, shared by
// the files that make up the driver. Private to overlay/src.
//
//   node.cc           lifecycle (create, start, stop), the loop thread and
//                     each loop turn (drain: core outputs, timer)
//   node_links.cc     TCP links: accept, connect, read, write, close
//   node_commands.cc  the thread-safe command API and post()
//   node_apps.cc      events to app handlers; Responder and ShoutVerdict
//   node_work.cc      run_work on libuv's threadpool
//   uv_helpers.h      time, error text and address conversion over libuv
//                     (overlay/internal: the DHT driver uses them too)
//
// Threads. Members marked "loop" are touched only by the loop thread (or,
// once it has exited, by the thread that holds after_stop_mu); those marked
// "mu" only under `mu`; "const" ones are set at create() and not changed.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chorus/overlay/node.h"
#include "chorus/overlay/node_core.h"

namespace spdlog {
class logger;
}

namespace chorus::overlay {

namespace detail {
// The weak handle of Responders and ShoutVerdicts: it outlives the node only
// as long as one of them holds it, and `node` turns null when the node is
// destroyed (a holder keeps `mu` while it uses the node, so the node waits).
struct NodeAnchor {
  std::mutex mu;
  Node* node = nullptr;
};

// What a PendingCommand shares with its command: the request to cancel,
// from any thread, and the core's token once the loop issued it.
struct CommandState {
  explicit CommandState(std::weak_ptr<NodeAnchor> a) : anchor(std::move(a)) {}
  std::weak_ptr<NodeAnchor> anchor;
  std::atomic<bool> cancel_requested{false};
  Token token = 0;  // loop
};

// What the copies of one StreamWriter share. Destroyed with the last copy:
// a stream its app neither finished nor failed is ended then (NACK code 9).
struct StreamWriterState {
  StreamWriterState(std::weak_ptr<NodeAnchor> a, StreamHandle h, AppId ap)
      : anchor(std::move(a)), handle(h), app(ap) {}
  ~StreamWriterState();
  std::weak_ptr<NodeAnchor> anchor;
  StreamHandle handle;
  AppId app;
  bool ended = false;  // finish() or fail() was called
};
}  // namespace detail

// Bounds of one drain: rounds of core outputs handled in one loop turn, so
// that a core and an app that keep feeding each other cannot starve libuv.
inline constexpr int kMaxDrainRounds = 1000;
// One read buffer per node: libuv reads into it, the core opens frames in place.
inline constexpr size_t kReadBufferBytes = 256 * 1024;

struct Node::Impl {
  // One TCP link; freed by its close callback, never before.
  struct Conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    Impl* impl = nullptr;
    LinkId link = 0;
    bool closing = false;
  };
  // One uv_write in flight; owns the bytes until libuv is done with them.
  struct WriteReq {
    uv_write_t req;
    Impl* impl;
    LinkId link;
    Bytes data;
  };
  // A run_work() job: `work` on a pool thread, `done` back on the loop.
  struct WorkJob {
    uv_work_t req;
    Impl* impl = nullptr;
    std::function<void()> work;
    DoneCallback done;
    std::optional<std::string> failure;  // what() of an exception from `work`
  };
  // Something to run on the loop thread. `drop`, when set, runs instead of
  // `run` if the node never gets to run it (post()'s if_dropped).
  struct Posted {
    std::function<void()> run;
    std::function<void()> drop;
  };
  // when_writable: `fn` once at most `below` bytes wait for `peer`.
  struct Waiter {
    PublicKey peer;
    size_t below;
    std::function<void()> fn;
  };

  explicit Impl(Identity id) : identity(std::move(id)) {}

  // const
  std::shared_ptr<detail::NodeAnchor> anchor = std::make_shared<detail::NodeAnchor>();
  NodeOptions options;
  Identity identity;
  std::shared_ptr<spdlog::logger> log;

  // loop (set up by start() before the thread runs)
  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_timer_t timer{};
  uv_prepare_t prepare{};
  uv_async_t async{};
  std::thread thread;
  std::atomic<std::thread::id> loop_id{};
  std::optional<SocketAddress> bound;
  std::unique_ptr<NodeCore> core;
  std::unordered_map<LinkId, Conn*> conns;
  std::unordered_map<Token, std::function<void(CompletionEvent&)>> callbacks;
  std::unordered_map<AppId, AppHandlers> apps;  // mu before start()
  PeerCallback peer_callback;
  std::vector<LoopHooks> hooks;                 // mu before start(), fixed after
  std::vector<std::function<void()>> deferred;  // run on the next drain
  bool deferred_closed = false;                 // shutdown ran its last deferred round
  std::vector<Waiter> waiters;
  std::unique_ptr<uint8_t[]> read_buffer{new uint8_t[kReadBufferBytes]};
  bool read_buffer_busy = false;
  std::unordered_set<WorkJob*> jobs;  // queued or running
  bool work_closed = false;           // shutdown began: no new jobs
  // Streams (node_streams.cc): those we opened, with their callbacks; those
  // peers opened to our apps and not yet closed; a StreamWriter's
  // when_credit callback per stream.
  std::unordered_map<StreamId, StreamCallbacks> opened;
  std::unordered_set<StreamHandle> served;
  std::unordered_map<StreamHandle, std::function<void()>> credit_waiters;

  // mu
  std::mutex mu;
  std::vector<Posted> posted;
  bool started = false;
  bool stopping = false;
  bool stopped = false;      // the loop thread has exited
  std::mutex after_stop_mu;  // serialises commands run after stop()

  bool on_loop() const { return std::this_thread::get_id() == loop_id; }

  // ---- node.cc: the loop turn and shutdown
  // Handles the core's outputs until it has none (bounded), then sets the
  // timer to the core's next deadline.
  void drain();
  void run_deferred();
  void shutdown_on_loop();
  static void on_timer(uv_timer_t* t);
  static void on_prepare(uv_prepare_t* p);
  static void on_async(uv_async_t* a);

  // ---- node_links.cc: sockets
  void handle(Action& a);
  void do_connect(const ConnectAction& c);
  void do_send(SendAction& s);
  void close_conn(Conn* conn);
  void start_reading(Conn* conn);
  static void set_nodelay(Conn* conn);
  static void free_conn(uv_handle_t* h);  // a Conn's close callback
  static void on_connection(uv_stream_t* server, int status);
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  // ---- node_commands.cc: commands from any thread
  // On the loop thread runs `fn` now; off it posts it in order. `droppable`
  // (a Responder's refusal): dropped once stop() began. Commands are not:
  // after the loop has exited they run on the caller's thread against the
  // shut-down core, which fails them, so their completions still fire.
  void run_on_loop(std::function<void()> fn, bool droppable = false);
  // Registers `fn` for `token`, or reports `r`'s error on the next drain.
  void track(Result<Token> r, std::function<void(CompletionEvent&)> fn);
  // A command that may wait: `op` issues it on the loop (unless its handle
  // was cancelled first) and `fn` gets its completion; the state lets a
  // PendingCommand cancel it.
  std::shared_ptr<detail::CommandState> command(std::function<Result<Token>()> op,
                                                std::function<void(CompletionEvent&)> fn);
  // Runs a peer-control call of the core on the loop; `done` gets its result.
  void control(std::function<Result<void>()> op, DoneCallback done);
  void check_waiters();

  // ---- node_apps.cc: deliveries
  void dispatch(Event& e);
  // A Responder's answer: on the loop thread sent at once (the core's
  // errors come back); off it, queued unless the node is stopping.
  Result<void> respond(AppId app, const PublicKey& to, uint32_t id, LinkId link, Bytes payload,
                       bool encrypt);
  // A Responder dropped unanswered: NACK code 9 to the requester.
  void refuse_request(AppId app, const PublicKey& to, uint32_t id, LinkId link);

  // ---- node_streams.cc: streams and DIRECT
  // The stream and DIRECT events; false for any other event.
  bool dispatch_stream(Event& e);
  // At shutdown, after the core's last events: every stream we opened that
  // has not ended ends kCancelled, and when_credit callbacks run.
  void end_streams();

  // ---- node_work.cc: run_work
  void start_work(std::function<void()> work, DoneCallback done);
  static void on_work(uv_work_t* req);
  static void on_work_done(uv_work_t* req, int status);
};

}  // namespace chorus::overlay
