// NodeCore: the whole overlay protocol of one node, with no I/O.
//
// It owns the links (handshake, sealed frames), routing (PING, SHOUT, SPEAK,
// WHISPER, ACK/NACK matching), the peer book and every bound. A driver (the
// libuv Node, or a simulator) feeds it:
//   inputs   on_accepted / on_connected / on_connect_failed / on_bytes /
//            on_sent / on_closed / on_timer, each with the current time;
//   commands shout / speak / whisper / request / respond / reject / ping /
//            forward_speak, and peer control: penalize / ban / unban / disconnect.
// and drains, after every input or command, in this order:
//   1. flush(now)            seals queued messages into frames;
//   2. poll_action()         until false: connect, send, close;
//   3. poll_event()          until false: deliveries and completions for apps;
//   4. next_timer_us()       when to call on_timer next.
// Commands never complete inline: their result arrives as a CompletionEvent
// from poll_event(), so a callback never runs inside the call that caused it.
//
// Not thread-safe: one driver thread owns a core.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/broadcast_tree.h"
#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/message.h"
#include "chorus/overlay/node_types.h"
#include "chorus/overlay/peer_book.h"
#include "chorus/overlay/random.h"
#include "chorus/overlay/seen_cache.h"
#include "chorus/overlay/stream.h"  // streams

namespace chorus::overlay {

// Private to overlay/src/: the state of single concepts of the core.
class BanTable;
class PendingTable;
class RelayTable;
class ShoutVerdicts;
class StreamTable;  // streams (overlay/src/stream_table.h)
class WhisperBox;

using LinkId = uint64_t;
using Token = uint64_t;  // names one command's completion; 0 = none

// ---- actions for the driver
struct ConnectAction {
  LinkId link;
  SocketAddress to;
};
struct SendAction {
  LinkId link;
  Bytes bytes;
};
struct CloseAction {  // the driver closes the socket; no on_closed is needed
  LinkId link;
  std::string reason;
};
using Action = std::variant<ConnectAction, SendAction, CloseAction>;

// ---- events for applications
struct ShoutEvent {
  AppId app;
  PublicKey origin;  // zero for a content-addressed SHOUT (it has none)
  uint64_t shout_id;
  PublicKey from;  // the neighbour it arrived from
  Bytes payload;
  // Non-zero when the SHOUT waits for the app's verdict (shout_verdict)
  // before it is passed on; 0 when it was passed on already.
  uint64_t verdict = 0;
  // Content-addressed (spec/overlay.md, "Content-addressed SHOUT"): named by
  // content_id = BLAKE2b-256(payload), with no origin and no shout_id.
  bool content_addressed = false;
  Hash256 content_id{};
};
struct SpeakEvent {
  PublicKey from;
  LinkId link;
  SpeakMsg msg;
};
struct WhisperEvent {
  AppId app;
  PublicKey from;
  Bytes payload;  // decrypted when `encrypted`
  bool encrypted;
  bool is_request;
  uint32_t request_id;
  LinkId link;  // where it arrived: a response goes back the same way
  // Set when it came through a relay (then `from` is the origin, `payload`
  // was sealed end to end by it, and a response goes back through the relay).
  std::optional<PublicKey> relay;
};
struct CompletionEvent {
  Token token;
  Result<Bytes> result;  // WHISPER: the ACK hash; request: the response; PING/SPEAK: empty
  int64_t rtt_us = 0;    // PING only
};
struct PeerEvent {
  PublicKey peer;
  bool connected;
  std::string reason;  // why it went down
};
// A DIRECT message (send_direct): no ACK, no reply.
struct DirectEvent {
  AppId app;
  PublicKey from;
  Bytes payload;
};
using Event = std::variant<ShoutEvent, SpeakEvent, WhisperEvent, CompletionEvent, PeerEvent,
                           // streams (stream.h)
                           StreamOpenEvent, StreamCreditEvent, StreamClosedEvent, StreamDataEvent,
                           StreamEndEvent, DirectEvent>;

class NodeCore {
 public:
  NodeCore(Identity identity, OverlayConfig config, int64_t now_us);
  ~NodeCore();
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  const Identity& identity() const { return identity_; }
  const OverlayConfig& config() const { return config_; }

  // ---- driver inputs
  // A peer connected to us. The core may refuse it at once (CloseAction).
  LinkId on_accepted(const SocketAddress& remote, int64_t now_us);
  void on_connected(LinkId link, int64_t now_us);
  void on_connect_failed(LinkId link, const std::string& reason, int64_t now_us);
  // Received bytes; `data` may be modified (frames are opened in place).
  void on_bytes(LinkId link, std::span<uint8_t> data, int64_t now_us);
  // `bytes` of an earlier SendAction reached the socket.
  void on_sent(LinkId link, size_t bytes, int64_t now_us);
  // Optional: hands back a SendAction's buffer once written, so the next
  // flush fills memory that is already mapped. Large frames otherwise cost a
  // fresh allocation each, and the page faults on it cost more than the
  // copying and sealing together. Bounded (a few buffers, each capped).
  void recycle_buffer(Bytes&& buffer);
  // The socket closed under us (EOF, reset, error).
  void on_closed(LinkId link, const std::string& reason, int64_t now_us);
  void on_timer(int64_t now_us);
  // Adds a dialable address (e.g. a late bootstrap). Dialled on the next timer.
  void add_peer_address(const SocketAddress& address, std::optional<PublicKey> key);
  // Apps registered here get deliveries; WHISPER or SPEAK-with-ACK for any
  // other app is answered NACK (SHOUTs for it are still relayed). With
  // `validate_shouts`, a SHOUT for the app is delivered with a verdict id and
  // passed on only once shout_verdict says kForward.
  void register_app(AppId app, bool validate_shouts = false);
  void unregister_app(AppId app);
  // How `app`'s messages share each link with other apps' (AppPriority;
  // every app starts at kNormal). Applies to what is queued from now on.
  void set_app_priority(AppId app, AppPriority priority);
  AppPriority app_priority(AppId app) const;
  // Closes every link and stops dialling.
  void shutdown(const std::string& reason);

  // ---- outputs
  void flush(int64_t now_us);
  bool poll_action(Action& out);
  bool poll_event(Event& out);
  // The earliest deadline the core waits for: request, relay and handshake
  // timeouts, the next PING or its timeout, a duplicate link's grace, peer
  // exchange, link rotation, a backoff or ban ending (while outbound links
  // are missing), broadcast-tree and SHOUT-verdict timers; at most one
  // housekeeping interval (1 s) away. A driver calls on_timer then (calling
  // it earlier is harmless). nullopt once shut down.
  std::optional<int64_t> next_timer_us() const;

  // ---- application commands
  // Broadcasts to every node. No completion: SHOUTs are never ACKed. For a
  // content_shout_apps app: content-addressed, unsigned; publishing a
  // payload this node has seen sends it again to its links (their copies
  // make them drop it as a duplicate), so an app can pass on later what it
  // dropped before (a block that came before its predecessor).
  Result<void> shout(AppId app, ByteView payload, int64_t now_us);
  // The app's verdict on the held SHOUT `verdict` (ShoutEvent::verdict):
  // kForward passes it on now (eager links, announcements, flooding), kDrop
  // forgets it, kPenalize forgets it and adds to the misbehaviour score of
  // the link it came on. kNotFound when it is not held (verdict given
  // already, or timed out: after shout_verdict_timeout_ms it counts as drop).
  Result<void> shout_verdict(uint64_t verdict, ShoutDecision decision, int64_t now_us);
  // To one direct peer, or every direct peer when `to` is empty. With
  // `ack`, completes once each addressee ACKed (or with the first failure);
  // without, returns token 0 and no completion.
  Result<Token> speak(AppId app, ByteView payload, std::optional<PublicKey> to, bool ack,
                      int64_t now_us);
  // To one direct peer; completes with the peer's ACK hash (checked).
  Result<Token> whisper(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                        int64_t now_us);
  // WHISPER that waits for the peer's response; completes with it or kTimeout.
  Result<Token> request(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                        int64_t timeout_ms, int64_t now_us);
  // To `to` through the direct peer `relay`, which passes it on to its own
  // direct peer `to` (spec/overlay.md, "Relay"). Always sealed to `to`: the
  // relay sees only ciphertext. Completes with the ACK hash (of nonce ‖ box)
  // the target returned through the relay, or kRefused with the relay's or
  // target's reason (switched off, no route, limit, timeout, ...). The relay
  // could forge that ACK; a request's response cannot be forged.
  Result<Token> whisper_via(AppId app, const PublicKey& relay, const PublicKey& to,
                            ByteView payload, int64_t now_us);
  // A request through `relay`; completes with `to`'s response (checked to be
  // sealed by `to`) or kTimeout.
  Result<Token> request_via(AppId app, const PublicKey& relay, const PublicKey& to,
                            ByteView payload, int64_t timeout_ms, int64_t now_us);
  // Dials `address` at once (even beyond max_outbound_links) and completes
  // once a link to `key` is up: at once if one already is; kAuthFailed if
  // the address answers with another key; kTimeout when the link is not up
  // within handshake_timeout_ms; kIo when the connection fails or closes.
  Result<Token> connect(const SocketAddress& address, const PublicKey& key, int64_t now_us);
  // Answers request `request_id` from `to`, on link `via` (the request's
  // WhisperEvent::link) while it is open, else on the current link to `to`.
  // When `via` leads to another node than `to`, the request came through
  // that relay and the response goes back through it (always encrypted).
  Result<void> respond(AppId app, const PublicKey& to, uint32_t request_id, ByteView payload,
                       bool encrypt, int64_t now_us, LinkId via = 0);
  // Refuses request `request_id` from `to` that arrived on link `via`: sends
  // NACK(acked WHISPER, `code`, `reason`) there, which fails the requester's
  // request at once with kRefused. kNotFound when that link is closed;
  // kInvalidArgument when `via` leads to another node (a relayed request:
  // it cannot be refused this way and times out at its origin).
  Result<void> reject(const PublicKey& to, uint32_t request_id, LinkId via, NackCode code,
                      const std::string& reason, int64_t now_us);
  Result<Token> ping(const PublicKey& to, int64_t now_us);
  // Gives up on a command that waits (speak with ACK, whisper, request,
  // their _via forms, ping, connect): its completion comes now, with
  // kCancelled and `reason`, and a late answer is ignored. A dial that
  // connect() started goes on (the link may be useful). kNotFound when
  // `token` completed already (its completion may still be unpolled) or
  // never named a waiting command.
  Result<void> cancel(Token token, const std::string& reason, int64_t now_us);
  // A DIRECT message to the direct peer `to`: no ACK, no completion, no
  // end-to-end box (the link is encrypted), 7 bytes of header. Delivered
  // at most once and, per app and link, in order; lost if the link goes
  // down first. kNotFound without a link to `to`; kLimit when the payload is
  // too large or `app`'s queue on that link is full (max_app_queue_bytes):
  // the app should slow down.
  Result<void> send_direct(AppId app, const PublicKey& to, ByteView payload, int64_t now_us);

  // ---- streams (stream.h; spec/overlay.md, "Streams"; node_core_streams.cc)
  // Opens a stream to the direct peer `to` for `app`, sending `request` and
  // `window` (1..max_stream_window) credit. The result comes as
  // StreamDataEvents, then exactly one StreamEndEvent. With automatic
  // credit the core gives credit back in batches of window/2 as DATA
  // arrives; with `manual_credit` the app grants it (stream_grant), e.g. as
  // it writes DATA to disk. If the peer's option-4 offer has not arrived
  // yet, the OPEN waits for it. kNotFound: no link to `to`; kRefused: the
  // peer does not speak streams; kLimit: max_outbound_streams open, or the
  // request is too large; kInvalidArgument: a bad window.
  Result<StreamId> open_stream(AppId app, const PublicKey& to, ByteView request, uint32_t window,
                               int64_t now_us, bool manual_credit = false);
  // Manual credit: lets the responder send `credit` more DATA. kLimit when
  // the credit not yet used would exceed the window; kNotFound once ended.
  Result<void> stream_grant(StreamId id, uint32_t credit, int64_t now_us);
  // Stops a stream we opened: the responder gets CANCEL(code, reason); our
  // StreamEndEvent (kCancelled) follows from poll_event. DATA still on its
  // way is dropped. kNotFound once ended.
  Result<void> stream_cancel(StreamId id, NackCode code, const std::string& reason, int64_t now_us);
  // Responder: one DATA message (at most max_payload_bytes). kLimit when the
  // stream has no credit now (a StreamCreditEvent says when it has again);
  // kNotFound once the stream ended (cancelled, timed out, link closed).
  Result<void> stream_write(StreamHandle handle, ByteView payload, int64_t now_us);
  // Responder: ends the stream; kStreamFinished = finished normally, any
  // other code is an error the opener sees. A StreamClosedEvent follows.
  Result<void> stream_end(StreamHandle handle, NackCode code, const std::string& reason,
                          int64_t now_us);
  // DATA the responder may write now (0 for a stream that ended).
  uint32_t stream_credit(StreamHandle handle) const;
  // Streams open on this node, opened by it and by peers.
  size_t stream_count() const;

  // ---- peer control (spec/overlay.md, "Links": misbehaviour and bans)
  // Adds `score` (> 0, else kInvalidArgument) misbehaviour points to the
  // link with `peer`; at misbehaviour_limit the link closes with `reason`
  // and the key is banned for misbehaviour_ban_ms. kNotFound without a link.
  Result<void> penalize(const PublicKey& peer, int score, const std::string& reason,
                        int64_t now_us);
  // Bans `peer` until now + `duration_ms` (> 0): its links close with
  // "banned: <reason>", its HELLO is refused (before our AUTH, so no
  // handshake with it completes) and it is never dialled, until the ban
  // expires or unban(). Banning again sets the new expiry. The table holds
  // max_bans keys; when full, the ban that expires first makes room.
  // kInvalidArgument for our own key or a duration ≤ 0.
  Result<void> ban(const PublicKey& peer, int64_t duration_ms, const std::string& reason,
                   int64_t now_us);
  // Lifts a ban. kNotFound when `peer` is not banned.
  Result<void> unban(const PublicKey& peer, int64_t now_us);
  // Closes the links to `peer` with `reason`, without penalty; an outbound
  // peer is not redialled for reconnect_max_ms (ban() keeps it away for
  // longer). kNotFound when there is no link to it.
  Result<void> disconnect(const PublicKey& peer, const std::string& reason, int64_t now_us);
  bool is_banned(const PublicKey& peer, int64_t now_us) const;
  // Unexpired and expired-but-not-yet-swept bans (at most max_bans).
  size_t ban_count() const;
  // Sends an app-approved SPEAK on to every other peer (hops permitting).
  void forward_speak(const SpeakEvent& event, int64_t now_us);

  // ---- introspection
  std::vector<PeerInfo> peers() const;
  bool is_connected(const PublicKey& key) const { return by_key_.count(key) != 0; }
  size_t queued_bytes(const PublicKey& key) const;
  size_t link_count() const { return links_.size(); }
  const NodeStats& stats() const { return stats_; }
  size_t seen_cache_size() const { return seen_.size(); }
  size_t pending_shout_verdicts() const;
  // The epidemic broadcast tree's state (links, missing ids, stored SHOUTs).
  const BroadcastTree& broadcast_tree() const { return tree_; }
  const PeerBook& peer_book() const { return book_; }
  // The codec frames to `peer` are compressed with (nullopt: none, or no link).
  std::optional<compression::Method> link_codec(const PublicKey& peer) const;
  // Largest payload a single message may carry.
  size_t max_payload_bytes() const;

 private:
  // Each group below is one concept, defined in its own file in overlay/src/
  // (named in the group's heading); state that belongs to one concept alone
  // lives in a small class of its own there.
  struct Link;  // node_core_internal.h
  struct KeyHash {
    size_t operator()(const PublicKey& k) const;
  };

  // ---- link table and lifecycle (link_table.cc)
  Link* find(LinkId id);
  // Established, not superseded, and the link by_key_ routes to.
  bool routable(const Link& l) const;
  LinkId new_link(bool outbound, const SocketAddress& remote, int64_t now_us);
  void start_handshake(Link& l);
  void established(Link& l, int64_t now_us);
  void close_link(Link& l, const std::string& reason, bool emit_close, int64_t now_us);
  void end_connect_waits(Link& l, const std::string& reason, int64_t now_us);

  // ---- framing: messages to frames and back (link_framing.cc)
  void process_frames(Link& l, std::span<uint8_t> data, int64_t now_us);
  bool handle_plaintext(Link& l, std::span<uint8_t> plain, int64_t now_us);
  bool send(Link& l, const Message& m, int64_t now_us);
  void send_ack(Link& l, uint32_t id, Opcode acked, Bytes data, int64_t now_us);
  void send_nack(Link& l, uint32_t id, uint8_t acked, NackCode code, std::string reason, Bytes data,
                 int64_t now_us);
  void seal_pending(Link& l);
  void mark_dirty(Link& l);

  // ---- fair sending (fair_sending.cc; state: each Link's SendQueue)
  // Control messages and, while the write window has room and nothing
  // waits, app messages go into the link's frame at once; other app
  // messages wait in its SendQueue. False when refused or the link closed.
  bool enqueue(Link& l, ByteView record, int64_t now_us);
  // Fair sending: adds one record to the link's unsealed frame; moves
  // queued app messages there while the write window has room; whether
  // `app` may queue `bytes` more on `l`.
  void append_record(Link& l, ByteView record);
  void drain_send_queue(Link& l);
  bool room_for(const Link& l, AppId app, size_t bytes) const;

  // ---- dispatch of one received message (node_core.cc)
  void handle_message(Link& l, Message&& m, int64_t now_us);

  // ---- connection options (connection_options.cc)
  void offer_options(Link& l, int64_t now_us);
  void on_option_answer(Link& l, uint32_t id, const Result<Bytes>& result, int64_t now_us);
  // CONTENT_SHOUT to a link: sent, or held while our offer is unanswered.
  bool send_content(Link& l, const Bytes& record, int64_t now_us);
  void settle_content(Link& l, bool speaks, int64_t now_us);
  void on_connection_opt(Link& l, uint32_t id, const SetConnectionOptMsg& opt, int64_t now_us);
  void choose_codec(Link& l);
  bool offered(uint8_t setting) const;
  size_t max_decompressed_bytes() const;

  // ---- pending requests, SPEAK (requests.cc; state: PendingTable)
  void on_ack(Link& l, uint32_t id, uint8_t acked, Result<Bytes> result, int64_t now_us);
  Result<Token> add_pending(Link& l, uint32_t id, int kind, Token token, int64_t deadline_us,
                            Hash256 expect = {}, std::optional<PublicKey> relayed_to = {});
  void complete(Token token, Result<Bytes> result, int64_t rtt_us = 0);
  void on_speak(Link& l, uint32_t id, SpeakMsg&& s, int64_t now_us);
  Token next_token() { return ++last_token_; }

  // ---- WHISPER to a direct peer (whisper.cc; state: WhisperBox)
  void on_whisper(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us);
  // A WHISPER to a direct peer, checked and sealed, ready to send.
  struct Outgoing {
    Link* link = nullptr;
    WhisperMsg msg;
  };
  // With `relay`: sealed to `to`, addressed to it, sent to `relay`.
  Result<Outgoing> prepare_whisper(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                                   uint8_t flags, LinkId via = 0,
                                   std::optional<PublicKey> relay = {});
  // The hash an ACK must carry for `msg` (relayed: of the box alone).
  static Hash256 ack_hash_of(const WhisperMsg& msg);
  Result<Bytes> seal_whisper(const PublicKey& to, ByteView payload, bool encrypt);
  Result<Bytes> open_whisper(const PublicKey& from, ByteView payload);

  // ---- relay (relay.cc; state: RelayTable)
  void on_relay_request(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us);
  void on_relayed(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us);
  // An ACK/NACK on `l` answering a WHISPER we relayed: passed back to its
  // origin. False when (l, id) is not a relayed message.
  bool relay_answer(Link& l, uint32_t id, const Message& answer, int64_t now_us);
  void end_relays_of(LinkId link, const std::string& reason, int64_t now_us);
  void expire_relays(int64_t now_us);

  // ---- broadcast: SHOUT, verdicts, tree glue (broadcast.cc; state: ShoutVerdicts)
  void on_shout(Link& l, ShoutMsg&& s, int64_t now_us);
  void on_content_shout(Link& l, ContentShoutMsg&& c, int64_t now_us);
  // The SHOUT path shared by both forms. take_shout_token: the per-link
  // rate limit. shout_duplicate: one seen before came again on `l`.
  // must_hold_full: the app validates and no room is left to hold it.
  // accept_shout: a new one (seen, verified): held for the app's verdict or
  // passed on, then delivered. pass_on: to the next hops (tree or flood).
  bool take_shout_token(Link& l, int64_t now_us);
  void shout_duplicate(Link& l, AppId app, int64_t now_us);
  bool must_hold_full(AppId app);
  void accept_shout(Link& l, Message fwd, const SeenKey& key, bool forward, ShoutEvent event,
                    int64_t now_us);
  void pass_on(Message fwd, const SeenKey& key, LinkId from, bool forward, int64_t now_us);
  bool content_mode(AppId app) const;
  // Held SHOUTs whose verdict did not come in time count as drop.
  void expire_verdicts(int64_t now_us);
  // An app rejected a SHOUT as invalid: the neighbour that sent it pays.
  void penalize_shout_sender(LinkId from, AppId app, int64_t now_us);
  // Broadcast tree: is `app` tree-mode here; pass a SHOUT on (eager links
  // get it, lazy ones an announcement); the control messages; and sending
  // what the tree asks for.
  bool tree_mode(AppId app) const;
  void tree_forward(Message fwd, const SeenKey& key, LinkId from, bool forward, int64_t now_us);
  void on_tree_control(Link& l, Message&& m, int64_t now_us);
  void drain_tree(int64_t now_us);
  // To every routable link but `except` and a link to `skip_key` (flooding).
  void broadcast(const Message& m, std::initializer_list<LinkId> except, const PublicKey* skip_key,
                 int64_t now_us);

  // ---- peer manager: exchange, dialling, rotation, misbehaviour, bans
  // (peer_manager.cc; state: PeerBook, BanTable)
  void send_peer_exchange(Link& l, int64_t now_us);
  void on_peer_exchange(Link& l, ByteView payload, int64_t now_us);
  bool dial_candidate_busy(const PeerBook::Entry& e) const;
  void rotate(int64_t now_us);
  void dial(int64_t now_us);
  void misbehaved(Link& l, int score, const std::string& why, int64_t now_us);
  // The handshake's PeerCheck: refuses a banned key at its HELLO.
  Result<void> check_peer(const PublicKey& peer) const;

  // ---- timers (timers.cc)
  void maintain(int64_t now_us);
  void schedule_maintain(int64_t now_us);
  // Makes the next maintain() run no later than `t_us`.
  void wake_at(int64_t t_us) { next_maintain_us_ = std::min(next_maintain_us_, t_us); }
  // ---- streams glue (node_core_streams.cc): the hooks node_core.cc calls.
  // (They take the link's id and peer as values: Link is private to node_core.cc.)
  void offer_streams(Link& l, uint32_t id, int64_t now_us);
  bool streams_option(Link& l, LinkId link, const PublicKey& peer, uint32_t id,
                      const SetConnectionOptMsg& opt, int64_t now_us);
  void streams_nacked(LinkId link, const NackMsg& nack, int64_t now_us);
  void on_stream(LinkId link, const PublicKey& peer, StreamMsg&& m, int64_t now_us);
  void end_streams_of(LinkId link, const std::string& reason, int64_t now_us);
  void stream_timer(int64_t now_us);
  std::optional<int64_t> stream_deadline_us() const;
  void pump_streams(int64_t now_us);  // carries out what the StreamTable queued

  // ---- constant after construction
  Identity identity_;
  OverlayConfig config_;
  Hash256 network_{};  // network_tag(config_.network_id)

  // ---- state
  Random random_;
  PeerBook book_;
  SeenCache seen_;  // SHOUT (origin, id)
  BroadcastTree tree_;
  SeenCache speak_seen_;  // forwarded SPEAK (origin, id)
  std::unordered_map<LinkId, std::unique_ptr<Link>> links_;
  std::unordered_map<PublicKey, LinkId, KeyHash> by_key_;  // established links
  std::unique_ptr<PendingTable> pending_;
  std::unique_ptr<RelayTable> relays_;  // as the relay: what we passed on
  SeenCache relay_seen_;                // relayed WHISPERs delivered to us: (origin, nonce)
  std::unique_ptr<ShoutVerdicts> verdicts_;
  std::unique_ptr<BanTable> bans_;
  std::unique_ptr<WhisperBox> box_;  // holds our X25519 secret
  struct ConnectWait {
    Token token = 0;
    PublicKey key{};
    LinkId link = 0;
  };
  std::vector<ConnectWait> connect_waits_;  // at most max_pending_requests
  std::deque<Action> actions_;
  std::deque<Event> events_;
  std::vector<LinkId> dirty_;  // links with unsealed or unsent bytes
  LinkId last_link_ = 0;
  Token last_token_ = 0;
  int64_t next_maintain_us_ = 0;
  int64_t next_exchange_us_ = 0;
  int64_t next_rotate_us_ = 0;
  bool shut_down_ = false;
  bool swept_closed_ = false;  // a link closed since the last sweep in flush()
  std::unordered_set<AppId> apps_;
  std::unordered_map<AppId, AppPriority> priorities_;  // apps not at kNormal
  int64_t input_now_us_ = 0;              // the time of the input being handled (for check_peer)
  Bytes scratch_;                         // reused encode buffer
  std::vector<Bytes> spare_buffers_;      // written SendAction buffers (recycle_buffer)
  std::unique_ptr<StreamTable> streams_;  // streams: every open stream, both directions
  NodeStats stats_;
};

}  // namespace chorus::overlay
