// What DHT operations report: results, listen notifications, hold events
// and the protocol's counters. Shared by the sans-IO core (dht_core.h) and
// the libuv driver (dht.h), so applications see these without the core.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

using Token = uint64_t;  // names one command; 0 = none

// ---- events
struct OpResult {
  std::vector<Value> values;
  std::vector<SignedValue> signed_values;
  std::optional<VersionedValue> versioned;
  std::vector<Contact> closest;  // the replica set (find_node: the answer)
  uint64_t number = 0;           // lock: fencing token; CAS/diff: new version
  // lock/renew: when to stop trusting the lease, by our clock: the lease the
  // granting majority gave (never more than asked), minus lease_safety.
  int64_t valid_until_us = 0;
  // lock/renew: the same as time left when the operation completed, for
  // callers that do not share the core's clock.
  int64_t remaining_ms = 0;
  size_t acks = 0;      // replicas that accepted
  size_t replicas = 0;  // replicas asked
  int hops = 0;         // depth of the node that answered first / closest
  size_t rpcs = 0;      // RPCs sent for the operation
};
struct DoneEvent {
  Token token = 0;
  Result<OpResult> result = OpResult{};
  // On kRefused for CAS/diff: the newest version a replica reported.
  uint64_t current_version = 0;
};
struct ListenEvent {
  Token listen = 0;
  Key key{};
  std::vector<Value> values;  // only what is new to this listener
  std::vector<SignedValue> signed_values;
  std::optional<VersionedValue> versioned;
};
// What became of a hold (DhtCore::hold). kAcquired once, when a majority
// granted the lock; then kLost at most once. A hold whose acquisition
// failed ends with kLost and the lock's error. release_hold ends a hold
// without an event.
struct HoldEvent {
  enum class Kind : uint8_t { kAcquired, kLost };
  Token hold = 0;
  Kind kind = Kind::kAcquired;
  uint64_t fencing_token = 0;   // kAcquired: the lock's fencing token
  int64_t valid_until_us = 0;   // kAcquired: as OpResult::valid_until_us
  int64_t remaining_ms = 0;     // kAcquired: as OpResult::remaining_ms
  std::optional<Error> reason;  // kLost: why
};
using DhtEvent = std::variant<DoneEvent, ListenEvent, HoldEvent>;

// The datagram layer's counters (DhtCore::codec_stats).
struct DatagramStats {
  // sealed counts datagrams out, opened complete messages in.
  uint64_t sealed = 0, opened = 0, bad_auth = 0, malformed = 0, replayed = 0, stale = 0,
           fragments_dropped = 0;
  // Gauges: bytes held for partial messages (payload plus bookkeeping)
  // and how many partial messages that is.
  uint64_t reassembly_bytes = 0, partial_messages = 0;
};

// The kinds of operation, as DhtStats counts them.
enum class OpKind : uint8_t {
  kFindNode,
  kGet,
  kPut,
  kPutSigned,
  kLock,
  kRenew,
  kRelease,
  kCas,
  kDiff,
  kListen,
  kRepublish
};
inline constexpr size_t kOpKinds = 11;
// "find_node", "get", "put", "put_signed", "lock", "renew", "release",
// "cas", "diff", "listen", "republish".
const char* op_kind_name(OpKind kind);

// Upper bounds of the RPC round-trip buckets, in the core's milliseconds.
inline constexpr std::array<int64_t, 10> kRpcRttBoundsMs = {1,  2,   5,   10,  25,
                                                            50, 100, 250, 500, 1000};

struct DhtStats {
  uint64_t datagrams_in = 0, datagrams_out = 0, bytes_in = 0, bytes_out = 0;
  uint64_t rpcs_sent = 0, rpcs_answered = 0, rpcs_timed_out = 0;
  uint64_t requests_served = 0, dropped_bad = 0, dropped_unexpected = 0;
  uint64_t stores_refused = 0, lookups = 0, operations_done = 0;
  uint64_t lock_grants = 0;
  uint64_t rpcs_refused_locally = 0;  // over max_pending_rpcs: never sent
  uint64_t replies_trimmed = 0;       // FIND_VALUE replies / NOTIFYs cut to fit
  uint64_t bad_signed_dropped = 0;    // signed values read that did not verify
  uint64_t notifies_ignored = 0;      // NOTIFY from a node we do not listen at
  uint64_t republished = 0;           // republish lookups started
  uint64_t lookup_stalls = 0;         // lookup queries no longer waited for
  // (DhtConfig::stall_floor_ms); each later answered or timed out as well
  // STOREs a put sent before its lookup ended (to replicas that answered,
  // or in place of a query with a token kept from before), and kept tokens
  // refused as stale (the replica was then asked FIND_NODE as usual).
  uint64_t lookup_stores = 0, lookup_stores_stale = 0;
  // Operations finished, by kind (OpKind): [kind][0] succeeded, [kind][1]
  // failed. The core's own (republish, bucket refresh) included.
  std::array<std::array<uint64_t, 2>, kOpKinds> operations{};
  // Answered RPCs by round trip, not cumulative: rpc_rtt[i] took at most
  // kRpcRttBoundsMs[i] and more than the bound before; the last, more than
  // every bound. The core's clock has milliseconds: below 1 ms counts as 0.
  std::array<uint64_t, kRpcRttBoundsMs.size() + 1> rpc_rtt{};
  uint64_t rpc_rtt_sum_ms = 0;
};

}  // namespace chorus::dht
