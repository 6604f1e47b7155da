// chorus::overlay::Node — one overlay node on its own libuv loop thread.
//
//   auto node = Node::create(options);          // loads or makes the identity
//   (*node)->register_app(7, handlers);          // any number of apps
//   (*node)->start();                            // binds, dials bootstrap peers
//   (*node)->shout(7, payload);                  // from any thread
//   (*node)->stop();                             // closes links, joins the loop
//
// Threads. Every callback (handlers, completions, on_peer) runs on the
// node's loop thread and must not block. Every command may be called from
// any thread: off the loop thread it is posted (in order) to the loop; on it,
// it runs at once. `post` runs any function on the loop thread. Introspection
// (`peers`, `stats`, `queued_bytes`) is for the loop thread only (use post).
//
// Completions. Each command's callback fires exactly once, never inside the
// call that started it: with the result, a timeout, or kCancelled when the
// node stops first.
//
// Lifetime. stop() (or the destructor) closes every link and joins the loop
// thread; do not call either from the loop thread itself.
//
// Keys. The node's secret key stays inside it: key() gives the public key,
// and nothing in this API returns the secret (NodeOptions::identity and
// key_file hand it in; never log or persist them yourself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/message.h"
#include "chorus/overlay/node_types.h"
#include "chorus/overlay/stream_writer.h"

struct uv_loop_s;  // libuv's loop; node.h must not pull in uv.h

namespace chorus::overlay {

struct NodeOptions {
  OverlayConfig overlay;
  // Where to accept links. nullopt: initiate-only (never listens, reached
  // through the links it opens). Port 0 picks a free port.
  std::optional<SocketAddress> listen = SocketAddress{"127.0.0.1", 0};
  // Key file (created with mode 0600 on first run). Empty: use `identity`,
  // or a fresh key that lives as long as the process.
  std::string key_file;
  std::optional<Identity> identity;
  // Name in log lines; defaults to the start of the address.
  std::string name;
  // Bound on run_work() jobs queued or running at once for this node;
  // beyond it `done` gets kLimit. 0 refuses every job.
  size_t max_work_jobs = 256;
};

struct ShoutInfo {
  AppId app;
  const PublicKey& origin;  // all zero for a content-addressed SHOUT
  uint64_t shout_id;        // 0 for a content-addressed SHOUT
  const PublicKey& from;    // neighbour it arrived from
  ByteView payload;         // valid during the callback
  // Content-addressed (OverlayConfig::content_shout_apps): no origin, no
  // signature; named by content_id = BLAKE2b-256(payload). Only an app that
  // checks the payload itself (validate_shout) should use the mode.
  bool content_addressed = false;
  const Hash256* content_id = nullptr;  // set when content_addressed
};

enum class SpeakDecision { kKeep, kForward };

struct SpeakInfo {
  AppId app;
  const PublicKey& from;
  const PublicKey& origin;
  uint8_t hops_left;
  ByteView payload;
};

struct WhisperInfo {
  AppId app;
  const PublicKey& from;
  ByteView payload;  // plaintext (decrypted when `encrypted`)
  bool encrypted;    // end-to-end encrypted to us by the sender
  bool is_request;   // answer through the Responder
  // The direct peer that relayed it (spec/overlay.md, "Relay"); nullptr when
  // `from` sent it to us itself. A relayed WHISPER is always encrypted, and
  // the Responder answers back through the same relay.
  const PublicKey* relay = nullptr;
};

// A DIRECT message (Node::send): from a direct peer, no ACK, no reply.
struct DirectInfo {
  AppId app;
  const PublicKey& from;
  ByteView payload;  // valid during the callback
};

class Node;
namespace detail {
struct NodeAnchor;    // what a Responder or ShoutVerdict holds of its node: a weak handle
struct NodeSecrets;   // drivers in this tree that seal under the node's key (not installed)
struct CommandState;  // what a PendingCommand shares with its command
}  // namespace detail

// The handle of a command that waits for a peer (speak, whisper, request,
// their _via forms, ping, connect), to give up on it. Copyable; any thread.
// cancel() makes the command's callback run with kCancelled ("cancelled by
// the app") unless it has run or is about to run with its result: either
// way it runs exactly once, never inside cancel(). An answer arriving after
// the cancel is ignored. A default-made handle, or one whose node is gone,
// cancels nothing.
class PendingCommand {
 public:
  PendingCommand() = default;
  void cancel();

 private:
  friend class Node;
  explicit PendingCommand(std::shared_ptr<detail::CommandState> s) : s_(std::move(s)) {}
  std::shared_ptr<detail::CommandState> s_;
};

// The verdict on one SHOUT held for an app's validate_shout handler: resolve
// it once, from any thread, when the handler returned kLater (an app that
// checks signatures in batches answers after the batch). Move-only; a
// second resolve, or one after the handler answered itself, is ignored. Not
// resolved within shout_verdict_timeout_ms, the SHOUT counts as dropped.
// Like a Responder it holds only a weak handle of its node, so one kept
// past its node's stop or destruction resolves to nothing.
class ShoutVerdict {
 public:
  ShoutVerdict() = default;
  ShoutVerdict(ShoutVerdict&& o) noexcept { *this = std::move(o); }
  ShoutVerdict& operator=(ShoutVerdict&& o) noexcept {
    node_ = std::move(o.node_);
    o.node_.reset();
    id_ = o.id_;
    armed_ = std::exchange(o.armed_, false);
    return *this;
  }
  ShoutVerdict(const ShoutVerdict&) = delete;
  ShoutVerdict& operator=(const ShoutVerdict&) = delete;
  // kForward, kDrop or kPenalize (kLater is ignored).
  void resolve(ShoutDecision decision);
  void forward() { resolve(ShoutDecision::kForward); }
  void drop() { resolve(ShoutDecision::kDrop); }
  void penalize() { resolve(ShoutDecision::kPenalize); }
  bool valid() const { return armed_; }

 private:
  friend class Node;
  ShoutVerdict(std::weak_ptr<detail::NodeAnchor> node, uint64_t id)
      : node_(std::move(node)), id_(id), armed_(true) {}
  std::weak_ptr<detail::NodeAnchor> node_;
  uint64_t id_ = 0;
  bool armed_ = false;
};

// Answers one request (WhisperInfo::is_request). Move-only. It may be kept
// and used later, from any thread (one thread at a time per Responder), and
// may outlive its node: it holds only a weak handle, never a Node*.
//
// Dropping it unanswered (destroying it, or assigning over it, without a
// successful reply) answers the requester NACK code 9, "request dropped
// unanswered by app N" (spec/overlay.md, "WHISPER"), so the requester fails
// at once with kRefused instead of waiting out its timeout. (A request that
// came through a relay cannot be refused this way; it times out.)
class Responder {
 public:
  Responder() = default;  // answers nothing: reply() is kInvalidArgument
  Responder(Responder&& other) noexcept;
  Responder& operator=(Responder&& other) noexcept;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  // Sends the response. Errors: kInvalidArgument when already answered or
  // not a request; kCancelled when the node stopped or was destroyed. Off
  // the loop thread the response is queued to the loop and the result says
  // only that; on the loop thread it is sent at once and the core's errors
  // come back too (kNotFound: the requester's link is gone; kLimit: payload
  // too large). Either way the request counts as answered afterwards.
  Result<void> reply(Bytes payload, bool encrypt = false);
  // A request that has not been answered yet.
  bool valid() const { return armed_; }

 private:
  friend class Node;
  Responder(std::weak_ptr<detail::NodeAnchor> node, AppId app, PublicKey to, uint32_t id,
            uint64_t link)
      : node_(std::move(node)), app_(app), to_(to), id_(id), link_(link), armed_(true) {}
  void drop() noexcept;  // the NACK of an unanswered request
  std::weak_ptr<detail::NodeAnchor> node_;
  AppId app_ = 0;
  PublicKey to_{};
  uint32_t id_ = 0;
  uint64_t link_ = 0;      // the core's link the request came on
  bool armed_ = false;     // a request not yet answered
  bool answered_ = false;  // reply() was called
};

struct AppHandlers {
  std::function<void(const ShoutInfo&)> on_shout = nullptr;
  // Decides whether a SPEAK goes on to our other peers. Default: kKeep.
  std::function<SpeakDecision(const SpeakInfo&)> on_speak = nullptr;
  std::function<void(const WhisperInfo&, Responder)> on_whisper = nullptr;
  // Validate before forward, instead of on_shout (not both): the app gets
  // each SHOUT before it is passed on, and says kForward, kDrop, or
  // kPenalize (drop, and add to the misbehaviour score of the neighbour it
  // came from); or kLater, and resolves the ShoutVerdict when it knows.
  // Until then the SHOUT is neither forwarded nor announced (broadcast
  // tree). Bounded by max_pending_shout_verdicts and
  // shout_verdict_timeout_ms (OverlayConfig). Without it, SHOUTs are passed
  // on before on_shout runs, as always.
  std::function<ShoutDecision(const ShoutInfo&, ShoutVerdict)> validate_shout = nullptr;
  // DIRECT messages (Node::send) from direct peers.
  std::function<void(const DirectInfo&)> on_direct = nullptr;
  // Streams peers open to the app (stream_writer.h). Without it, an OPEN
  // for the app is ended at once (the opener gets kRefused).
  std::function<void(const StreamRequest&, StreamWriter)> on_stream = nullptr;
  // The app's share of each link when links are busy (app_priority.h):
  // kHigh apps are sent first, kBulk ones when nothing else waits.
  AppPriority priority = AppPriority::kNormal;
};

struct SpeakOptions {
  std::optional<PublicKey> to;  // nullopt: every direct peer
  bool ack = false;             // wait for every addressee's ACK
};

struct RequestOptions {
  int64_t timeout_ms = 10000;
  bool encrypt = false;
};

using DoneCallback = std::function<void(Result<void>)>;
using WhisperCallback = std::function<void(Result<Hash256>)>;  // the peer's ACK hash
using ReplyCallback = std::function<void(Result<Bytes>)>;
using PingCallback = std::function<void(Result<int64_t>)>;  // round trip, microseconds
using PeerCallback = std::function<void(const PublicKey& peer, bool up, const std::string& reason)>;

// Lets another driver (the DHT's UDP socket, a WebSocket front) live on the
// node's loop thread instead of running a second loop. Every hook runs on
// the loop thread; any may be empty.
struct LoopHooks {
  // Once, when the loop thread starts and before the loop runs: the place
  // to init handles on `loop` (or to remember it).
  std::function<void(uv_loop_s* loop)> started;
  // Once, at shutdown, before the node closes its own handles (and before
  // pending completions are cancelled): the hook uv_closes its handles and
  // the node's loop drains them before the thread exits.
  std::function<void()> stopping;
  // Every peer up/down, like on_peer (which has room for one callback only;
  // hooks add to it without replacing it).
  PeerCallback peer;
};

class Node {
 public:
  // Validates options and loads the identity; nothing runs yet.
  static Result<std::unique_ptr<Node>> create(NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Binds the listener (unless initiate-only) and starts the loop thread.
  // kIo when the address cannot be bound.
  Result<void> start();
  // Idempotent. Pending completions end with kCancelled.
  void stop();

  // The node's public key: its address. Any thread.
  const PublicKey& key() const;
  // The bound address (port resolved) once started; nullopt if initiate-only.
  std::optional<SocketAddress> listen_address() const;

  // Before or after start. kExists if the id is taken; kInvalidArgument
  // with both on_shout and validate_shout.
  Result<void> register_app(AppId app, AppHandlers handlers);
  // Before or after start; thread-safe. Once it returns, no handler of the
  // app starts again (one running on the loop thread finishes; calling this
  // from inside it is safe), and the node answers WHISPERs and SPEAK ACKs
  // for it with NACK "no app N" (SHOUTs for it are still relayed). The
  // handlers are destroyed on the loop thread. kNotFound if not registered;
  // kCancelled if the node stopped first.
  Result<void> unregister_app(AppId app);
  void on_peer(PeerCallback callback);
  // Before start() (kInvalidArgument after): see LoopHooks. Hooks run in
  // the order they were added.
  Result<void> add_loop_hooks(LoopHooks hooks);
  void add_peer(const SocketAddress& address);

  void shout(AppId app, Bytes payload, DoneCallback done = {});
  // The commands that wait for a peer return a PendingCommand to cancel
  // them with; ignore it when you will not.
  PendingCommand speak(AppId app, Bytes payload, SpeakOptions options = {}, DoneCallback done = {});
  PendingCommand whisper(AppId app, const PublicKey& to, Bytes payload, bool encrypt = false,
                         WhisperCallback done = {});
  PendingCommand request(AppId app, const PublicKey& to, Bytes payload, RequestOptions options,
                         ReplyCallback done);
  PendingCommand ping(const PublicKey& to, PingCallback done);

  // DIRECT (spec/overlay.md, "DIRECT"): one message to the direct peer
  // `to`, 7 bytes of header, no ACK, no retry, for apps with their own
  // replies and resends (gossip of votes, keep-alives). `done` says only
  // whether it was queued: kNotFound without a link, kLimit when the
  // payload is too large or the app already has max_app_queue_bytes
  // waiting for `to` (fair sending's backpressure: try again after
  // when_writable), kCancelled after stop.
  void send(AppId app, const PublicKey& to, Bytes payload, DoneCallback done = {});

  // Streams (stream_writer.h; spec/overlay.md, "Streams"): sends `request`
  // to `app` on the direct peer `to` and hands back what its on_stream
  // writes, under credit-based flow control. `callbacks.on_end` runs
  // exactly once, also when the stream cannot open (kNotFound: no link;
  // kRefused: the peer does not speak streams or the app serves none;
  // kLimit: max_outbound_streams open, a window above max_stream_window,
  // a request too large; kInvalidArgument: a window of 0; kCancelled: the
  // node stopped).
  void open_stream(AppId app, const PublicKey& to, Bytes request, StreamCallbacks callbacks,
                   StreamOptions options = {});

  // Reaching nodes that are not direct peers (dht::Reach builds on these).
  // Dials `address` now, even beyond max_outbound_links, and completes when
  // a link to `key` is up (at once if one is): kAuthFailed when the address
  // answers with another key, kTimeout after handshake_timeout_ms, kIo when
  // the connection fails.
  PendingCommand connect(const SocketAddress& address, const PublicKey& key, DoneCallback done);
  // WHISPER / request to `to` through the direct peer `relay`, which passes
  // it to its own direct peer `to`. Always sealed end to end to `to`.
  // kRefused with the reason when the relay or target refuses (relaying
  // off, `to` not the relay's peer, limits, the target's own refusals).
  PendingCommand whisper_via(AppId app, const PublicKey& relay, const PublicKey& to, Bytes payload,
                             WhisperCallback done);
  PendingCommand request_via(AppId app, const PublicKey& relay, const PublicKey& to, Bytes payload,
                             int64_t timeout_ms, ReplyCallback done);

  // Peer control (spec/overlay.md, "Links"). Thread-safe like the other
  // commands; `done` runs on the loop thread with the result.
  // Adds `score` (> 0) misbehaviour points to the link with `peer`: at
  // OverlayConfig::misbehaviour_limit the link closes with `reason` and the
  // key is banned for misbehaviour_ban_ms. kInvalidArgument for score ≤ 0,
  // kNotFound without a link.
  void penalize(const PublicKey& peer, int score, std::string reason, DoneCallback done = {});
  // Bans `peer` for `duration_ms` (> 0): its links close ("banned: by the
  // application"), the listener refuses its HELLO before the handshake
  // completes, and it is not dialled, until the ban expires or unban().
  // Bans live in memory (max_bans of them). kInvalidArgument for our own
  // key or a duration ≤ 0.
  void ban(const PublicKey& peer, int64_t duration_ms, DoneCallback done = {});
  // kNotFound if `peer` is not banned.
  void unban(const PublicKey& peer, DoneCallback done = {});
  // Closes the links to `peer` with `reason` (on_peer shows it), with no
  // penalty and no ban; an outbound peer is not redialled for
  // reconnect_max_ms. kNotFound without a link.
  void disconnect(const PublicKey& peer, std::string reason, DoneCallback done = {});

  // Flow control for bulk senders: runs `fn` once, on the loop thread, when
  // no more than `below_bytes` wait to be written to `peer` (or the link is
  // gone). Without it a fast sender fills the queue until the link is closed
  // for exceeding max_send_queue_bytes.
  void when_writable(const PublicKey& peer, size_t below_bytes, std::function<void()> fn);

  // Thread-safe. Runs `fn` on the loop thread, later (never inside this
  // call, even on the loop thread), in the order posted from one thread.
  // Exactly one of the two runs, once:
  //   `fn`          on the loop thread, when the loop gets to it (before
  //                 start(): in the loop's first turn);
  //   `if_dropped`  when the node stops first (post() after stop() began,
  //                 or stop() or the destructor of a node never started):
  //                 on the loop thread during its shutdown, else on the
  //                 thread that calls stop() (or the destructor), or on this
  //                 call's thread, before it returns, once the node has
  //                 stopped. It may be empty: then a dropped `fn` is just
  //                 destroyed. Use it to keep an "every callback once"
  //                 promise (fail your own pending operation with
  //                 kCancelled) without a flag of your own.
  // The function that does not run is destroyed without being called.
  void post(std::function<void()> fn, std::function<void()> if_dropped = {});

  // Runs CPU-heavy `work` (proof of work, batch signature checks) off the
  // loop, on libuv's threadpool, then `done` on the loop thread. The pool is
  // shared by every loop in the process and sized by the UV_THREADPOOL_SIZE
  // environment variable (default 4), read when it first starts; long jobs
  // delay the other users of the pool (DNS, file system).
  //
  // Thread-safe. `work` runs on a pool thread, at most once, and must not
  // touch the node except through thread-safe calls (post() and the
  // commands); it must not call stop(). The node owns both functions until
  // `done` has run; they are destroyed on the loop thread (or, after
  // stop(), on the thread that ends them).
  //
  // `done` runs exactly once, on the loop thread and never inside this call;
  // after stop() it runs on the thread that ends the job (stop()'s, or this
  // call's, before it returns). With:
  //   ok          `work` ran (it may have run while the node stopped);
  //   kLimit      NodeOptions::max_work_jobs jobs are already queued or
  //               running; `work` does not run;
  //   kCancelled  the node stopped before `work` started; it never runs;
  //   kIo         `work` threw (the message is its what()), or libuv
  //               refused the job.
  // stop() cancels jobs that have not started and waits for running ones
  // to finish before it returns, so keep each job short (split long work).
  // Jobs given before start() are queued when it runs (like the other
  // commands, they are dropped, `done` unrun, if the node never starts).
  void run_work(std::function<void()> work, DoneCallback done);
  bool on_loop_thread() const;

  // Loop thread only.
  std::vector<PeerInfo> peers() const;
  NodeStats stats() const;
  size_t queued_bytes(const PublicKey& peer) const;
  size_t seen_cache_size() const;

 private:
  friend class Responder;
  friend class ShoutVerdict;
  friend class StreamWriter;
  friend class PendingCommand;
  friend struct detail::StreamWriterState;
  friend struct detail::NodeSecrets;
  struct Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::overlay
