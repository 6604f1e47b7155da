// Quorum rules (spec/dht.md §7): how the answers of one write phase add up.
//
// A phase sends one STORE to each replica and tallies what comes back:
// acks, nacks with their reason, and silence. Puts need one ack; locks,
// CAS and diffs a majority of the replica set, where the replica set counts
// the replicas that did not answer the lookup too, so a partitioned
// minority cannot form a majority of a smaller set.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/rpc.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

// A majority of `replica_set`.
size_t quorum_of(size_t replica_set);

// The answers of one write phase.
struct Tally {
  size_t outstanding = 0;  // replicas still to answer
  std::vector<std::pair<Contact, StoreReply>> acks;
  std::vector<std::pair<Contact, Nack>> nacks;
  size_t silent = 0;  // timed out, or answered with something else

  void reset(size_t expected);
  // Counts one replica's answer (nullptr: silence). True when it was the
  // last one the phase waited for.
  bool add(const Contact& from, const Body* reply);

  // The reason of the first refusal that is not a stale write token (any
  // replica would have given a fresh one); kNone when nobody refused.
  Refusal first_refusal() const;
  // Nacks other than kBadToken: replicas that said no for a reason that a
  // retry would meet again.
  size_t refusing() const;
  // The newest version a replica reported in a kConflict / kMissingBase.
  uint64_t max_version() const;

  // A write that needed one replica and got none: kTimeout when nobody
  // answered, kRefused with the first reason otherwise.
  Error none_accepted(const std::string& what, size_t asked) const;
  // A quorum write without a majority: kRefused when the replicas that said
  // no leave no majority possible, so the same request would fail again;
  // kTimeout when the replicas that did not answer (or only lacked a fresh
  // write token) could have made one, so trying again may succeed.
  Error no_quorum(const std::string& what, size_t accepted, size_t replica_set) const;
};

// The lease a holder may count on: the quorum-th longest of the leases the
// replicas holding its token granted (once it runs out, fewer than a
// majority still hold it), never more than asked. A replica clamps to its
// own max_lease_ms, so what it granted, not what was asked, is what counts.
int64_t majority_lease(std::vector<int64_t> granted, size_t quorum, int64_t asked_ms);

// When a holder must stop trusting a lease the replicas granted for
// granted_ms, counted from sent_ms (before any of them received it): early
// by lease_safety, to absorb clock-rate differences and delay.
int64_t lease_end_us(int64_t sent_ms, int64_t granted_ms, double lease_safety);

}  // namespace chorus::dht
