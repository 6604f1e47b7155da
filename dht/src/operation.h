// Operation: one command in progress inside DhtCore, and what every kind
// of operation shares.
//
// Every operation starts with a lookup of the k closest nodes to its key
// (lookup.h). What follows depends on the kind (operations.h, one class
// each): a read reports what the lookup gathered; a write sends STOREs to
// the replicas in one or more phases and decides, from the phase's Tally
// (quorum.h), whether it succeeded. DhtCore runs lookups and phases
// (dht_core_ops.cc) and routes the answers (dht_core_rpc.cc); an operation
// reaches the core only through OpHost. An operation that calls
// OpHost::finish is destroyed by it: the caller returns at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "chorus/dht/dht_core.h"
#include "chorus/dht/lookup.h"
#include "chorus/dht/rpc.h"
#include "quorum.h"

namespace chorus::dht {

enum class Phase : uint8_t { kBoot, kLookup, kWrite, kRaise, kFetch, kRepair, kIdle };

class Operation;
class ListenOp;
class Republisher;

constexpr int64_t kUsPerMs = 1000;
constexpr int64_t kMsPerS = 1000;

// The core keeps time in milliseconds; drivers pass microseconds.
inline int64_t to_ms(int64_t us) {
  return us / kUsPerMs;
}

// Readers trust no replica: a signed value counts only if its owner signed
// it for this key (a replica could hand out anything).
bool signature_ok(const Key& key, const SignedValue& v);

// Whom a lookup settled on (spec/dht.md §7.1).
struct Replicas {
  std::vector<Contact> closest;  // the k closest that answered
  // The k closest of those that answered and those that did not, and us
  // when we fall among them: the set a quorum is a majority of.
  std::vector<Contact> settled;
  bool self_replica = false;
};

// What an operation may ask of the core that runs it.
class OpHost {
 public:
  explicit OpHost(DhtCore& core) : core_(core) {}

  const DhtConfig& config() const;
  ValueStore& store();
  const overlay::Identity& identity() const;
  Contact me() const;  // our own contact, as a replica
  Republisher& republisher();

  // The one way a STORE of an operation leaves: to a replica with the token
  // it gave us, or served at once when the replica is ourselves. Untracked
  // STOREs are best effort: nobody waits for their answers.
  void send_store(Operation& op, const Contact& to, StoreBody body, bool tracked, int64_t now_ms);
  // A write phase: one tracked STORE to each of `to`; on_phase_done once
  // all answered or timed out (at once when `to` is empty).
  void start_phase(Operation& op, Phase phase, const std::vector<Contact>& to,
                   const std::function<StoreBody(const Contact&)>& body, int64_t now_ms);
  // A FIND_VALUE of op's key to one replica; the answer goes to on_fetched.
  void fetch(Operation& op, const Contact& from, int64_t now_ms);
  // Ends the operation (and destroys it) with its result.
  void finish(Operation& op, Result<OpResult> result, uint64_t current_version = 0);
  void emit(DhtEvent event);

 private:
  DhtCore& core_;
};

class Operation {
 public:
  Operation(const Key& target, bool reads_values) : key(target), find_value(reads_values) {}
  virtual ~Operation() = default;
  virtual OpKind kind() const = 0;
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // What a STORE of this operation's write phases carries.
  virtual StoreBody store_body(const DhtConfig& config) const;
  // The lookup ended. Default: write store_body() to the replicas.
  virtual void on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms);
  // A write phase ended: every replica in `tally` answered or timed out.
  // Default: finish with `result`.
  virtual void on_phase_done(OpHost& host, int64_t now_ms);
  // One lookup answer from `from`, signed values already checked.
  virtual void on_found(OpHost&, const NodeId& /*from*/, const FoundReply& /*reply*/,
                        const std::vector<const SignedValue*>& /*good*/) {}
  // The answer to OpHost::fetch (nullptr: none in time).
  virtual void on_fetched(OpHost&, const Body* /*reply*/, int64_t /*now_ms*/) {}
  virtual ListenOp* as_listen() { return nullptr; }
  // True when store_body() may go to a replica before the lookup ends: an
  // unconditional write, the same for every replica, harmless on a node
  // that turns out not to be among the k closest (DhtCore::pump).
  virtual bool writes_during_lookup() const { return false; }

  // What a lookup gathers when find_value (signatures checked by the caller).
  void merge(const Value& v);
  void merge(const SignedValue& v);
  void merge(const VersionedValue& v);

  // ---- identity
  Token token = 0;
  Key key{};
  bool internal = false;  // no DoneEvent (refresh, republish, holds)
  Token hold = 0;         // the hold whose lock or renewal this is
  bool find_value = false;

  // ---- the lookup
  Phase phase = Phase::kLookup;
  std::optional<Lookup> lookup;
  std::map<NodeId, WriteToken> tokens;  // write tokens by replica
  std::vector<Contact> unanswered;      // lookup queries that failed (or never left)
  size_t replica_set = 0;               // answered or not, for quorums
  int64_t lookup_started_ms = 0;
  size_t rpcs = 0;
  // STOREs sent during the lookup (DhtCore::pump), by replica. The write
  // phase counts their answers instead of sending those replicas another.
  struct EarlyStore {
    enum class State : uint8_t {
      kInFlight,
      kAnswered,  // reply holds the answer; none: silence
      kAwaited,   // a target of the write phase: its answer goes to the tally
    };
    State state = State::kInFlight;
    std::optional<Body> reply;
  };
  std::map<NodeId, EarlyStore> early;
  // Gathered along the lookup.
  std::map<uint64_t, Value> values;
  std::map<PublicKey, SignedValue> signed_values;
  // (version, hash) → (count, value)
  std::map<std::pair<uint64_t, Hash256>, std::pair<size_t, VersionedValue>> versions;
  int first_data_depth = 0;

  // ---- write phases
  std::vector<Contact> targets;
  Tally tally;
  std::optional<Body> local_reply;  // our own answer, held until the phase is sent
  int64_t sent_ms = 0;
  OpResult result;

 protected:
  // The replicas that answered, in the replica set's order, us last; false
  // (and the operation finished with kNotFound) when there are none.
  bool pick_targets(OpHost& host, const Replicas& replicas);
  // The kWrite phase: store_body() to every target.
  void write_targets(OpHost& host, int64_t now_ms);
};

}  // namespace chorus::dht
