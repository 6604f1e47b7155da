// ReachCore: the decisions of dht::Reach — how to get a WHISPER or request
// to a node that is not a direct peer — with no I/O (spec/dht.md §10).
//
// Ownership: it owns every send in progress (with its payload, which each
// route's Send carries a copy of), the route cache and the schedule of our
// own node record; the driver owns the callbacks, keyed by the ReachOp a
// command returns, and runs them on Completed. A driver (the libuv dht::Reach in reach.cc, or the
// simulator's DhtSim) feeds it
//   commands  start / stop / whisper / request / publish;
//   facts     on_peer (a direct link came up or went down), set_relays (the
//             relays our record would name now), observe_record (a node
//             record seen anywhere);
//   results   on_record (a get of a node record finished), on_contacts (a
//             find_node finished), on_dialled, on_whisper_done,
//             on_request_done, on_published;
//   time      on_timer, and `now_us` with every call;
// and after each call drains poll_action() until false, doing what each
// action says and reporting its result with the action's `op`:
//   GetRecord      Dht get(node_record_key(target))        → on_record
//   FindNode       Dht find_node(id of target)             → on_contacts
//   Dial           Node::connect(address, key)             → on_dialled
//   Send           WHISPER / request to `to`, directly or
//                  through `relay` (sealed end to end)     → on_whisper_done /
//                                                            on_request_done
//   PublishRecord  put_signed our record with `seq`, `ttl_s` → on_published
//   SetTimer       call on_timer at `at_us` (replaces the previous timer;
//                  -1: none needed)
//   Completed      run the caller's callback for `op` with `result`
//                  (Result<Hash256> for a whisper, Result<Bytes> for a
//                  request, Result<void> for a publish)
// Results for an op that is no longer in progress (stopped, timed out) are
// ignored, so every op completes exactly once.
//
// Sending (`to` not ourselves):
//   1. `to` is a direct peer: Send directly (kNotFound — the link went
//      meanwhile — falls back to one lookup, as a failed cached route does).
//   2. A live route cache entry for `to`: its routes, no DHT get.
//   3. Otherwise GetRecord; the record's routes (a listening node directly,
//      an initiate-only node through its relays, linked relays first) are
//      cached. No usable record: FindNode, and a contact with key `to` is
//      dialled directly (and cached, seq 0).
//   Each route is dialled (unless its node is already a peer), then sent
//   on. A failed dial, or a send that cannot have been delivered (relayed:
//   kRefused, kNotFound, kIo; direct: kNotFound, kIo), moves to the next
//   route; a request timeout does not (it may have been delivered). When a
//   route taken from the cache fails, the entry is erased, and once every
//   cached route failed the send does one fresh GetRecord and tries again
//   (once).
//
// Route cache (route_cache.h): at most route_cache.max_entries, each for
// route_cache.ttl_ms; replaced when observe_record or a get shows a record
// with a higher sequence.
//
// Publishing: start() publishes (when `publish`), then every
// republish_interval_ms and whenever set_relays names another set; one put
// in flight at a time (a change meanwhile triggers one more). The sequence
// is max(previous + 1, now_us): with a wall clock it rises across restarts.
//
// Errors (in Completed): kCancelled — not started yet, or stopped (stop()
// completes every op in progress with it); kLimit — max_operations in
// progress; kInvalidArgument — `to` is ourselves; kNotFound — no record and
// no contact; kTimeout — the op outlived its deadline (operation_deadline_ms,
// plus the request's timeout), or the Node/Dht's own timeouts; otherwise the
// last route's error (kRefused, kIo, kAuthFailed, ...).
//
// Time is the driver's clock in microseconds, only compared with itself.
// Bounded: ops ≤ max_operations, the cache ≤ its max_entries, tracked peers
// ≤ max_peers, actions queued ≤ a few per op. Not thread-safe: one driver
// thread owns a core.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/dht_core.h"
#include "chorus/dht/node_record.h"
#include "chorus/dht/route_cache.h"
#include "chorus/overlay/message.h"

namespace chorus::dht {

using ReachOp = uint64_t;  // names one send or publish; 0 = none

struct ReachCoreOptions {
  bool publish = true;                      // publish our own record
  uint32_t record_ttl_s = 600;              // how long replicas keep it
  int64_t republish_interval_ms = 300'000;  // well before the TTL ends
  size_t max_operations = 256;              // sends and publishes in progress; beyond, kLimit
  int64_t operation_deadline_ms = 60'000;   // a send's whole life (+ a request's timeout)
  size_t max_peers = 4096;                  // direct peers tracked (more are looked up)
  RouteCacheOptions route_cache{};
};

// ---- actions
struct GetRecord {
  ReachOp op = 0;
  PublicKey target{};
};
struct FindNode {
  ReachOp op = 0;
  PublicKey target{};
};
struct Dial {
  ReachOp op = 0;
  Address address;
  PublicKey key{};
};
struct Send {
  ReachOp op = 0;
  overlay::AppId app = 0;
  PublicKey to{};
  std::optional<PublicKey> relay;  // nullopt: directly to `to`
  Bytes payload;
  bool request = false;
  int64_t timeout_ms = 0;  // requests
};
struct PublishRecord {
  ReachOp op = 0;
  uint64_t seq = 0;
  uint32_t ttl_s = 0;
};
struct SetTimer {
  int64_t at_us = -1;
};
struct Completed {
  ReachOp op = 0;
  std::variant<Result<Hash256>, Result<Bytes>, Result<void>> result = Result<void>();
};
using ReachAction =
    std::variant<GetRecord, FindNode, Dial, Send, PublishRecord, SetTimer, Completed>;

struct ReachStats {
  uint64_t sends = 0;              // whisper + request calls
  uint64_t record_gets = 0;        // GetRecord actions
  uint64_t find_nodes = 0;         // FindNode actions
  uint64_t dials = 0;              // Dial actions
  uint64_t cache_hits = 0;         // sends that took their routes from the cache
  uint64_t cache_invalidated = 0;  // entries erased after a failure or replaced by a newer record
  uint64_t retries = 0;            // fresh lookups after a cached route failed
  uint64_t publishes = 0;          // PublishRecord actions
};

class ReachCore {
 public:
  ReachCore(const PublicKey& self, ReachCoreOptions options);
  ReachCore(const ReachCore&) = delete;
  ReachCore& operator=(const ReachCore&) = delete;

  // ---- commands
  // kInvalidArgument when already running, kCancelled after stop().
  Result<void> start(int64_t now_us);
  // Idempotent. Every op in progress completes with kCancelled; later
  // commands too. The route cache is cleared.
  void stop(int64_t now_us);
  ReachOp whisper(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t now_us);
  ReachOp request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
                  int64_t now_us);
  // Publishes our record now (a put already in flight is superseded: its
  // result no longer triggers another). kCancelled when not running.
  ReachOp publish(int64_t now_us);

  // ---- facts
  void on_peer(const PublicKey& peer, bool up, int64_t now_us);
  void set_relays(std::vector<PublicKey> relays, int64_t now_us);
  void observe_record(const PublicKey& node, const std::vector<SignedValue>& signed_values,
                      int64_t now_us);

  // ---- results
  void on_record(ReachOp op, Result<OpResult> result, int64_t now_us);
  void on_contacts(ReachOp op, Result<OpResult> result, int64_t now_us);
  void on_dialled(ReachOp op, Result<void> result, int64_t now_us);
  void on_whisper_done(ReachOp op, Result<Hash256> result, int64_t now_us);
  void on_request_done(ReachOp op, Result<Bytes> result, int64_t now_us);
  void on_published(ReachOp op, Result<void> result, int64_t now_us);
  void on_timer(int64_t now_us);

  // ---- drain
  bool poll_action(ReachAction& out);

  // ---- introspection
  bool running() const { return running_; }
  bool is_peer(const PublicKey& key) const { return peers_.contains(key); }
  size_t operations() const { return ops_.size(); }
  const RouteCache& route_cache() const { return cache_; }
  const ReachStats& stats() const { return stats_; }

 private:
  enum class Kind : uint8_t { kWhisper, kRequest, kPublish };
  enum class Stage : uint8_t { kRecord, kContacts, kDial, kSend, kPublish };
  struct Op {
    Kind kind = Kind::kWhisper;
    Stage stage = Stage::kRecord;
    overlay::AppId app = 0;
    PublicKey to{};
    Bytes payload;
    int64_t timeout_ms = 0;
    int64_t deadline_us = 0;
    std::vector<Route> routes;
    size_t next = 0;
    std::optional<Route> route;  // being dialled or sent on
    std::optional<Error> last;   // why the previous route failed
    bool from_cache = false;
    bool refreshed = false;
    bool notify = true;  // publish: report Completed (false: our own schedule)
  };

  ReachOp send(Kind kind, overlay::AppId app, const PublicKey& to, Bytes payload,
               int64_t timeout_ms, int64_t now_us);
  void begin(ReachOp id, Op& op, int64_t now_us);
  void lookup(ReachOp id, Op& op);
  void try_next(ReachOp id, Op& op, int64_t now_us);
  void send_on(ReachOp id, Op& op, const Route& route);
  void route_failed(Op& op, Error e);
  void sent(ReachOp id, std::optional<Error> error,
            std::variant<Result<Hash256>, Result<Bytes>, Result<void>> result, int64_t now_us);
  Op* find(ReachOp id, Stage stage);
  void complete(ReachOp id, Error e);
  void complete(ReachOp id, std::variant<Result<Hash256>, Result<Bytes>, Result<void>> result);
  void publish_now(ReachOp id, bool notify, int64_t now_us);
  void republish(int64_t now_us);
  void arm();

  PublicKey self_;
  ReachCoreOptions options_;
  RouteCache cache_;
  bool running_ = false;
  bool stopped_ = false;
  std::map<ReachOp, Op> ops_;
  std::set<PublicKey> peers_;
  ReachOp next_op_ = 1;
  // publishing
  std::optional<ReachOp> publishing_;  // the put in flight
  bool dirty_ = false;                 // the relay set changed while it was
  std::vector<PublicKey> wanted_relays_, published_relays_;
  uint64_t last_seq_ = 0;
  int64_t next_republish_us_ = -1;
  int64_t timer_at_ = -1;
  std::deque<ReachAction> actions_;
  ReachStats stats_;
};

}  // namespace chorus::dht
