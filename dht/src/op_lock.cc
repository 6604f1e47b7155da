// Locks (spec/dht.md §7.3): lock, renew and release, each a write phase to
// the replicas. A lock is held with a majority; then every granting node is
// raised to the largest token granted, so fencing tokens only grow. The
// lease trusted is what the majority granted, not what was asked.
#include <algorithm>

#include "operations.h"

namespace chorus::dht {

// ------------------------------------------------------------------ lock

StoreBody LockOp::store_body(const DhtConfig&) const {
  return LockBody{args_.owner_tag, static_cast<uint64_t>(args_.lease_ms), raise_to_};
}

void LockOp::on_phase_done(OpHost& host, int64_t now_ms) {
  if (phase == Phase::kWrite) return granted(host, now_ms);
  raised(host, now_ms);
}

void LockOp::unlock_all(OpHost& host, int64_t now_ms) {
  for (auto& [c, held] : holding_)
    host.send_store(*this, c, UnlockBody{args_.owner_tag, held}, false, now_ms);
}

void LockOp::granted(OpHost& host, int64_t now_ms) {
  const size_t quorum = quorum_of(replica_set);
  if (tally.acks.size() < quorum) {
    for (auto& [c, a] : tally.acks)
      host.send_store(*this, c, UnlockBody{args_.owner_tag, a.number}, false, now_ms);
    Error e = tally.no_quorum("lock", tally.acks.size(), replica_set);
    if (e.code() != ErrorCode::kRefused || tally.first_refusal() != Refusal::kLockHeld)
      return host.finish(*this, std::move(e));
    int64_t wait = 0;
    for (auto& [c, n] : tally.nacks)
      if (n.reason == Refusal::kLockHeld) wait = std::max(wait, n.remaining_ms);
    return host.finish(
        *this, refused("lock: held by another owner (about " + std::to_string(wait) + " ms left)"));
  }
  uint64_t top = 0;
  for (auto& [c, a] : tally.acks) top = std::max(top, a.number);
  raise_to_ = top;
  confirmed_ = 0;
  granted_.clear();
  holding_.clear();
  std::vector<Contact> low;
  for (auto& [c, a] : tally.acks) {
    holding_.emplace_back(c, a.number);
    if (a.number == top) {
      ++confirmed_;
      granted_.push_back(a.remaining_ms);
    } else {
      low.push_back(c);
    }
  }
  if (low.empty()) {
    result.number = top;
    result.acks = confirmed_;
    result.valid_until_us = lease_end_us(sent_ms, majority_lease(granted_, quorum, args_.lease_ms),
                                         host.config().lease_safety);
    return host.finish(*this, std::move(result));
  }
  // Raise the replicas that granted less, so that a majority holds the
  // top token before anyone relies on it: the next holder's majority
  // then meets one of them and gets a larger token (spec/dht.md §7.3).
  const DhtConfig& config = host.config();
  host.start_phase(
      *this, Phase::kRaise, low, [&](const Contact&) { return store_body(config); }, now_ms);
}

void LockOp::raised(OpHost& host, int64_t now_ms) {
  // A raised replica's lease restarted when it got the raise, after
  // sent_ms, so counting what it granted from sent_ms is safe.
  const size_t quorum = quorum_of(replica_set);
  for (auto& [c, a] : tally.acks) {
    if (a.number < raise_to_) continue;
    ++confirmed_;
    granted_.push_back(a.remaining_ms);
    for (auto& h : holding_)
      if (h.first.id == c.id) h.second = a.number;
  }
  if (confirmed_ < quorum) {
    unlock_all(host, now_ms);
    return host.finish(*this, timed_out("lock: could not raise a majority to the fencing token"));
  }
  result.number = raise_to_;
  result.acks = confirmed_;
  result.valid_until_us = lease_end_us(sent_ms, majority_lease(granted_, quorum, args_.lease_ms),
                                       host.config().lease_safety);
  host.finish(*this, std::move(result));
}

// ------------------------------------------------------------------ renew

StoreBody RenewOp::store_body(const DhtConfig&) const {
  return LockBody{args_.owner_tag, static_cast<uint64_t>(args_.lease_ms), args_.token};
}

void RenewOp::on_phase_done(OpHost& host, int64_t now_ms) {
  const size_t quorum = quorum_of(replica_set);
  size_t held = 0;
  std::vector<int64_t> granted;
  for (auto& [c, a] : tally.acks) {
    if (a.number != args_.token) continue;
    ++held;
    granted.push_back(a.remaining_ms);
  }
  result.acks = held;
  result.number = args_.token;
  if (held < quorum) {
    // The lock is lost: let go of every lease the replicas still hold for
    // us, so the next owner does not wait for them to run out.
    for (auto& [c, a] : tally.acks)
      host.send_store(*this, c, UnlockBody{args_.owner_tag, a.number}, false, now_ms);
    return host.finish(*this,
                       refused("renew: the lease was lost (" + std::to_string(held) + " of " +
                               std::to_string(replica_set) + " replicas still hold it, " +
                               std::to_string(quorum) + " needed)"));
  }
  // A replica where our lease had lapsed granted a fresh one under a new
  // token: no part of this lock, so it is released rather than left to
  // block others until it runs out.
  for (auto& [c, a] : tally.acks)
    if (a.number != args_.token)
      host.send_store(*this, c, UnlockBody{args_.owner_tag, a.number}, false, now_ms);
  result.valid_until_us = lease_end_us(sent_ms, majority_lease(granted, quorum, args_.lease_ms),
                                       host.config().lease_safety);
  host.finish(*this, std::move(result));
}

// ------------------------------------------------------------------ release

StoreBody ReleaseOp::store_body(const DhtConfig&) const {
  return UnlockBody{args_.owner_tag, args_.token};
}

void ReleaseOp::on_phase_done(OpHost& host, int64_t) {
  result.acks = tally.acks.size();
  host.finish(*this, std::move(result));
}

}  // namespace chorus::dht
