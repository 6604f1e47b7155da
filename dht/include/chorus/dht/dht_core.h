// DhtCore: the whole DHT protocol of one node, with no I/O (spec/dht.md).
//
// It owns the routing table, the value store, the datagram codec, every RPC
// in flight and every operation a caller started. A driver (the libuv
// dht::Dht, or the simulator) feeds it
//   inputs    on_datagram / on_timer, each with the current time;
//   commands  bootstrap / add_contact / join / find_node / put / put_signed /
//             get / lock / renew / release / compare_and_set / apply_diff /
//             listen / cancel_listen;
// and drains after each, in this order:
//   1. poll_action()    until false: datagrams to send;
//   2. poll_event()     until false: completions and listen notifications;
//   3. next_timer_us()  when to call on_timer next.
// Commands return a Token at once and complete later with a DoneEvent, never
// inside the call. Time is the driver's clock in microseconds; the core only
// compares it with itself, so clocks of different nodes may disagree.
//
// Every operation is a lookup of the k closest nodes to the key, then a
// phase that writes to (or reads from) them:
//   put / put_signed     STORE to the k closest; ok when at least one took it;
//   get                  FIND_VALUE along the lookup, values merged;
//   lock / renew         LOCK to the k closest; held with a majority of them,
//                        then every granting node is raised to the largest
//                        token granted so tokens only grow (spec §7.3); the
//                        lease trusted is what the majority granted, not
//                        what was asked;
//   compare_and_set      CAS; ok only with a majority; otherwise undone;
//   apply_diff           DIFF; nodes without the base get the whole value;
//   listen               FIND_VALUE, then LISTEN on the k closest, renewed
//                        until cancelled; they NOTIFY us on every change.
// Reads trust no replica: signed values whose signature does not verify are
// dropped, and a NOTIFY counts only from a node we sent LISTEN to.
//
// Errors (DoneEvent::result): kLimit (too many operations), kNotFound
// (nobody answered the lookup, or get found nothing), kRefused (replicas
// said no, and retrying the same request would get the same answer),
// kTimeout (too few replicas answered: retrying may succeed; a partial
// write was undone at the replicas that took it). Details in spec §7.
//
// Not thread-safe: one driver thread owns a core.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/config.h"
#include "chorus/dht/events.h"
#include "chorus/dht/lookup.h"
#include "chorus/dht/routing_table.h"
#include "chorus/dht/types.h"
#include "chorus/dht/value_store.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace chorus::dht {

class Operation;
class ListenOp;
class RpcTable;
class DatagramCodec;  // datagram.h: internal, not installed
// rpc.h: internal, not installed.
struct Message;
struct Body;
struct StoreBody;
struct StoreReq;
struct NotifyReq;
struct FoundReply;
class WriteTokens;
class PeerTokens;
class Republisher;
enum class Phase : uint8_t;
enum class Purpose : uint8_t;

// ---- the driver's work
struct SendDatagram {
  Address to;
  Bytes bytes;
};

class DhtCore {
 public:
  // `self` is the UDP address others reach us at (empty host for read-only).
  DhtCore(const overlay::Identity& identity, Address self, DhtConfig config, int64_t now_us);
  ~DhtCore();
  DhtCore(const DhtCore&) = delete;
  DhtCore& operator=(const DhtCore&) = delete;

  // ---- inputs
  void on_datagram(const Address& from, ByteView bytes, int64_t now_us);
  void on_timer(int64_t now_us);
  // The wall-clock time (Unix epoch, ms) that corresponds to `now_us`. The
  // `now_us` of every other input is the driver's monotonic clock, which
  // starts anywhere (uv_hrtime counts from boot), so two hosts' monotonic
  // clocks differ by their uptimes. Datagram nonces carry wall-clock time
  // instead, checked against replay_window_ms (spec/dht.md §2): hosts need
  // clocks within that window of each other, as NTP keeps them. Call it
  // before the first input and again whenever convenient (the libuv driver
  // does on every timer) to follow clock steps; until then the monotonic
  // clock stands in for it (the simulator's single virtual clock).
  void set_wall_clock(int64_t unix_ms, int64_t now_us);

  // ---- commands
  // Asks a node whose key we do not know (a signed FIND_NODE for our id),
  // then looks up our own id through it. Completes like join().
  Token bootstrap(const Address& address, int64_t now_us);
  // A contact learned elsewhere (an overlay peer, a saved table). `pooled`:
  // a handle the caller holds to an equal contact in DhtConfig::contact_pool
  // (RoutingTable::observe).
  void add_contact(const Contact& contact, int64_t now_us,
                   std::optional<ContactPool::Handle> pooled = std::nullopt);
  // A lookup of our own id: fills the table near us. Completes with closest.
  Token join(int64_t now_us);
  Token find_node(const NodeId& target, int64_t now_us);
  Token put(const Key& key, Value value, int64_t now_us);
  Token put_signed(const Key& key, Bytes data, uint64_t seq, uint32_t ttl_s, int64_t now_us);
  Token get(const Key& key, int64_t now_us);
  Token lock(const Key& key, int64_t lease_ms, uint64_t owner_tag, int64_t now_us);
  // Extends a held lease; fails (kRefused) if the lease was lost.
  Token renew(const Key& key, int64_t lease_ms, uint64_t owner_tag, uint64_t token, int64_t now_us);
  Token release(const Key& key, uint64_t owner_tag, uint64_t token, int64_t now_us);
  Token compare_and_set(const Key& key, uint64_t expected_version, Bytes data, uint32_t ttl_s,
                        uint64_t owner_tag, int64_t now_us);
  Token apply_diff(const Key& key, uint64_t base_version, Bytes patch, const Hash256& result_hash,
                   uint32_t ttl_s, uint64_t owner_tag, int64_t now_us);
  // A lock renewed automatically until release_hold: reports HoldEvents with
  // this token (no DoneEvent). Renewals run while more than half of the
  // trusted lease is left; the hold is lost when a renewal is refused (the
  // replicas no longer hold our token) or when the trusted lease runs out
  // before a renewal succeeded. kLimit (as kLost) beyond max_holds.
  Token hold(const Key& key, int64_t lease_ms, uint64_t owner_tag, int64_t now_us);
  // Ends a hold: no HoldEvent after it. Returns the token of the release
  // operation (a DoneEvent like release()'s) when the lock was held, 0 when
  // there was nothing to release yet (an unknown hold, or one whose lock is
  // still being granted: that lock is released, unreported, once granted).
  Token release_hold(Token hold, int64_t now_us);
  size_t holds() const { return holds_.size(); }
  // Reports what is there now, then every change, as ListenEvents with this
  // token, until cancel_listen. No DoneEvent unless the listen fails.
  Token listen(const Key& key, int64_t now_us);
  void cancel_listen(Token listen, int64_t now_us);

  // ---- drain
  bool poll_action(SendDatagram& out);
  bool poll_event(DhtEvent& out);
  std::optional<int64_t> next_timer_us() const;

  // ---- introspection
  const RoutingTable& table() const { return table_; }
  const ValueStore& store() const { return store_; }
  const DhtStats& stats() const { return stats_; }
  const DatagramStats& codec_stats() const;
  const PublicKey& key() const { return identity_.public_key(); }
  const NodeId& id() const { return table_.self(); }
  const Address& address() const { return self_; }
  size_t operations() const { return ops_.size(); }
  size_t pending_rpcs() const;

 private:
  // The pieces, each in its own file under dht/src/: the RPCs in flight
  // (rpc_table.h), write tokens (write_tokens.h), one class per kind of
  // operation (operation.h, operations.h), the quorum rules (quorum.h) and
  // the republisher (republisher.h). Operations reach the core through
  // OpHost.
  friend class OpHost;

  // requests we serve (dht_core_serve.cc)
  void serve(const Address& from, const PublicKey& sender, const Message& m, int64_t now_ms);
  Message serve_store(const Address& from, const PublicKey& sender, const StoreReq& req,
                      int64_t now_ms);
  void serve_notify(const PublicKey& sender, const NotifyReq& n, int64_t now_ms);
  void notify_listeners(const Key& key, int64_t now_ms);

  // our requests and their answers (dht_core_rpc.cc)
  uint64_t send_request(const Contact& to, Body body, Token op, Purpose purpose, int64_t now_ms,
                        bool key_unknown = false);
  void send_reply(const Address& to, const PublicKey& key, uint64_t txid, Body body,
                  int64_t now_ms);
  void send_bytes(const Address& to, const Result<std::vector<Bytes>>& datagrams);
  void observe(const Contact& c, int64_t now_ms,
               std::optional<ContactPool::Handle> pooled = std::nullopt);
  void on_reply(const Address& from, const PublicKey& sender, ByteView bytes, int64_t now_ms);
  void on_found(Operation& op, const Contact& who, const FoundReply& f, int64_t now_ms);
  void on_lookup_store(Operation& op, const Contact& to, const Body* body, int64_t now_ms);
  void on_rpc_failed(uint64_t txid, int64_t now_ms);
  void on_rpc_stalled(uint64_t txid, int64_t now_ms);

  // running operations (dht_core_ops.cc)
  Token start(std::unique_ptr<Operation> op, int64_t now_ms);
  void begin_lookup(Operation& op, const std::vector<Contact>& extra_seeds, int64_t now_ms);
  void pump(Operation& op, int64_t now_ms);
  void send_early_store(Operation& op, const Contact& to, const WriteToken& token, int64_t now_ms);
  void lookup_done(Operation& op, int64_t now_ms);
  void send_store(Operation& op, const Contact& to, StoreBody body, bool tracked, int64_t now_ms);
  void start_phase(Operation& op, Phase phase, const std::vector<Contact>& to,
                   const std::function<StoreBody(const Contact&)>& body, int64_t now_ms);
  void store_reply(Operation& op, const Contact& from, const Body* reply, int64_t now_ms);
  void finish(Operation& op, Result<OpResult> result, uint64_t current_version = 0);
  // The listen operations on `key`, for NOTIFYs.
  std::vector<ListenOp*> listens_on(const Key& key);

  // maintenance (dht_core.cc)
  void housekeeping(int64_t now_ms);
  void republish_due(int64_t now_ms);

  // Holds (dht_core_hold.cc).
  struct Hold {
    Key key{};
    int64_t lease_ms = 0;
    uint64_t owner_tag = 0;
    bool acquired = false;
    bool released = false;  // release_hold while the lock was in flight
    uint64_t fencing_token = 0;
    int64_t valid_until_ms = 0;            // trusted lease end (our clock)
    Token op = 0;                          // lock or renew in flight
    int64_t renew_at_ms = -1;              // next renewal when none is in flight
    std::optional<Result<OpResult>> done;  // the op's result, handled in run_holds
  };
  void run_holds(int64_t now_ms);
  void hold_step(Token token, Hold& h, int64_t now_ms);
  void end_hold(Token token, Error reason, int64_t now_ms);
  std::optional<int64_t> next_hold_ms() const;
  // Starts the hold's lock (or, once acquired, its renewal) as an internal
  // operation whose result lands in h.done; with `release`, a release of
  // the hold's lock that nobody waits for.
  Token start_hold_op(Token hold, Hold& h, bool release, int64_t now_ms);

  overlay::Identity identity_;
  Address self_;
  DhtConfig config_;
  overlay::Random random_;
  RoutingTable table_;
  ValueStore store_;
  std::unique_ptr<DatagramCodec> codec_;
  int64_t started_ms_ = 0;
  int64_t now_ms_ = 0;
  int64_t wall_offset_ms_ = 0;  // wall clock minus now_ms_, set_wall_clock
  int64_t wall_ms(int64_t now_ms) const { return now_ms + wall_offset_ms_; }
  // Round trips of answered RPCs (RFC 6298): when a lookup stops waiting.
  double srtt_ms_ = 0, rttvar_ms_ = 0;
  bool rtt_known_ = false;
  void note_rtt(int64_t rtt_ms);
  int64_t stall_after_ms() const;

  std::unique_ptr<WriteTokens> tokens_;
  std::unique_ptr<PeerTokens> peer_tokens_;  // tokens others gave us
  std::unique_ptr<RpcTable> rpcs_;
  std::unique_ptr<Republisher> republisher_;
  int64_t next_housekeeping_ms_ = 0;

  std::priority_queue<std::pair<int64_t, Token>, std::vector<std::pair<int64_t, Token>>,
                      std::greater<>>
      lookup_deadlines_;
  std::map<Token, std::unique_ptr<Operation>> ops_;
  std::map<Token, Hold> holds_;
  Token next_token_ = 1;
  std::deque<SendDatagram> actions_;
  std::deque<DhtEvent> events_;
  DhtStats stats_;
};

}  // namespace chorus::dht
