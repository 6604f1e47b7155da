// RpcTable: the requests this node sent and still waits for.
//
// Each RPC has a random transaction id, the contact it went to, why it was
// sent (so its answer, or its silence, reaches the right place) and a
// deadline. Deadlines sit in a min-heap; entries of RPCs already answered
// are skipped when they come up, so answering costs no heap surgery.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chorus/dht/events.h"
#include "chorus/dht/rpc.h"
#include "chorus/dht/types.h"
#include "chorus/overlay/random.h"

namespace chorus::dht {

// Why an RPC was sent, so its answer (or silence) goes to the right place.
enum class Purpose : uint8_t {
  kLookup,  // a FIND_NODE / FIND_VALUE of an operation's lookup
  kWrite,   // a STORE of an operation's write phase (also raise, repair)
  // A put's STORE sent before its lookup ended: in place of a query (a
  // token kept from before), when its answer counts for the lookup too, or
  // to a replica that has answered one. Its answer counts as the write's.
  kLookupStore,
  kFetch,  // diff: the whole new value from a replica that took the patch
  kBoot,   // the signed first request of bootstrap
  kEvict,  // PING of a least-recently-seen contact; `newcomer` waits
  kFireAndForget,
};

struct Rpc {
  Contact to;
  Op op = Op::kPing;
  Token owner = 0;  // the operation it belongs to; 0 = none
  Purpose purpose = Purpose::kFireAndForget;
  int64_t sent_ms = 0;
  int64_t deadline_ms = 0;
  // Lookup queries: when the lookup stops waiting for this one (it may
  // still answer until deadline_ms). 0 for every other RPC.
  int64_t stall_ms = 0;
  bool key_unknown = false;  // sent signed to an address whose key we lack
  // Never sent: our own max_pending_rpcs was reached. It fails like a
  // timeout for its operation but says nothing about the peer.
  bool refused_locally = false;
  std::optional<Contact> newcomer;  // kEvict
};

class RpcTable {
 public:
  // A fresh transaction id: never 0, never one in flight.
  uint64_t new_txid(overlay::Random& random) const;
  void add(uint64_t txid, Rpc rpc);
  Rpc* find(uint64_t txid);
  // Removes and returns the RPC (which must be in the table).
  Rpc take(uint64_t txid);
  // The txid of one RPC whose deadline is at or before now_ms, removed from
  // the heap (not from the table); nullopt when none is due.
  std::optional<uint64_t> pop_expired(int64_t now_ms);
  // Likewise for stall times (Rpc::stall_ms), each popped once.
  std::optional<uint64_t> pop_stalled(int64_t now_ms);
  // The earliest deadline or stall time.
  std::optional<int64_t> next_deadline_ms() const;
  // True while an eviction PING to `id` is in flight (one at a time).
  bool pinging(const NodeId& id) const;
  size_t size() const { return rpcs_.size(); }

 private:
  std::unordered_map<uint64_t, Rpc> rpcs_;
  // (deadline, txid): a min-heap; entries of finished RPCs are skipped.
  std::priority_queue<std::pair<int64_t, uint64_t>, std::vector<std::pair<int64_t, uint64_t>>,
                      std::greater<>>
      deadlines_, stalls_;
};

}  // namespace chorus::dht
