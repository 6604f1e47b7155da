// apply_diff (spec/dht.md §7.5): a patch against a base version, checked by
// the replicas against the hash of the result. Replicas without the base
// (kMissingBase) get the whole new value instead, fetched from a replica
// that took the patch and checked against the same hash (the repair
// phase). Without a majority holding the new version, the patch is undone
// where it was applied.
#include "chorus/overlay/wire.h"
#include "operations.h"

namespace chorus::dht {

StoreBody DiffOp::store_body(const DhtConfig&) const {
  return DiffBody{args_.owner_tag, args_.base_version, args_.ttl_s, args_.data, args_.result_hash};
}

bool DiffOp::is_result(const VersionedValue& v) const {
  return v.version == args_.base_version + 1 && overlay::blake2b_256(v.data) == args_.result_hash;
}

void DiffOp::abort_applied(OpHost& host, int64_t now_ms) {
  for (const Contact& c : applied_)
    host.send_store(*this, c, AbortBody{args_.owner_tag, args_.base_version + 1}, false, now_ms);
}

void DiffOp::repair_missing(OpHost& host, const VersionedValue& value, int64_t now_ms) {
  const VersionedValue v = value;
  host.start_phase(
      *this, Phase::kRepair, missing_, [&](const Contact&) { return StoreBody{RepairBody{v}}; },
      now_ms);
}

void DiffOp::on_phase_done(OpHost& host, int64_t now_ms) {
  if (phase == Phase::kWrite) return patched(host, now_ms);
  repaired(host, now_ms);
}

void DiffOp::patched(OpHost& host, int64_t now_ms) {
  const size_t quorum = quorum_of(replica_set);
  missing_.clear();
  applied_.clear();
  for (auto& [c, n] : tally.nacks)
    if (n.reason == Refusal::kMissingBase) missing_.push_back(c);
  for (auto& [c, a] : tally.acks) applied_.push_back(c);
  result.acks = tally.acks.size();
  if (tally.acks.size() >= quorum && missing_.empty()) {
    result.number = args_.base_version + 1;
    return host.finish(*this, std::move(result));
  }
  if (tally.acks.empty() || tally.acks.size() + missing_.size() < quorum) {
    abort_applied(host, now_ms);
    return host.finish(*this, tally.no_quorum("apply_diff", tally.acks.size(), replica_set),
                       tally.max_version());
  }
  // Replicas without the base get the whole new value, fetched from one
  // that applied the patch (and checked against result_hash).
  const Contact source = applied_.front();
  if (source.key == host.identity().public_key()) {
    Snapshot s = host.store().get(key, now_ms);
    if (!s.versioned || !is_result(*s.versioned)) {
      abort_applied(host, now_ms);
      return host.finish(*this, refused("diff: our own replica lost the value it took"));
    }
    return repair_missing(host, *s.versioned, now_ms);
  }
  phase = Phase::kFetch;
  host.fetch(*this, source, now_ms);
}

void DiffOp::on_fetched(OpHost& host, const Body* reply, int64_t now_ms) {
  if (!reply) {
    abort_applied(host, now_ms);
    return host.finish(*this, timed_out("diff: fetching the new value timed out"));
  }
  auto* f = std::get_if<FoundReply>(reply);
  if (!f || !f->versioned || !is_result(*f->versioned)) {
    abort_applied(host, now_ms);
    return host.finish(*this,
                       refused("diff: the replica that took the patch has no matching value"));
  }
  repair_missing(host, *f->versioned, now_ms);
}

void DiffOp::repaired(OpHost& host, int64_t now_ms) {
  // tally.acks holds the repaired replicas.
  const size_t quorum = quorum_of(replica_set);
  size_t count = 0;
  for (auto& [c, a] : tally.acks)
    if (a.number == args_.base_version + 1) ++count;
  result.acks = applied_.size() + count;
  if (result.acks < quorum) {
    // Undo the patch where it was applied. Replicas already repaired keep
    // the value (a REPAIR has no writer, so no ABORT undoes it).
    abort_applied(host, now_ms);
    std::string msg = "apply_diff: only " + std::to_string(result.acks) + " of " +
                      std::to_string(replica_set) + " replicas hold the new version (" +
                      std::to_string(quorum) + " needed)";
    if (tally.silent > 0) return host.finish(*this, timed_out(msg), tally.max_version());
    return host.finish(*this, refused(msg), tally.max_version());
  }
  result.number = args_.base_version + 1;
  host.finish(*this, std::move(result));
}

}  // namespace chorus::dht
