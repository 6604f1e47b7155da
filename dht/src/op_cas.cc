// compare_and_set (spec/dht.md §7.4): CAS at the replicas; ok only with a
// majority, otherwise undone (ABORT) where it was applied.
#include "operations.h"

namespace chorus::dht {

StoreBody CasOp::store_body(const DhtConfig&) const {
  return CasBody{args_.owner_tag, args_.base_version, args_.ttl_s, args_.data};
}

void CasOp::on_phase_done(OpHost& host, int64_t now_ms) {
  result.acks = tally.acks.size();
  if (tally.acks.size() >= quorum_of(replica_set)) {
    result.number = args_.base_version + 1;
    return host.finish(*this, std::move(result));
  }
  for (auto& [c, a] : tally.acks)
    host.send_store(*this, c, AbortBody{args_.owner_tag, args_.base_version + 1}, false, now_ms);
  host.finish(*this, tally.no_quorum("compare_and_set", tally.acks.size(), replica_set),
              tally.max_version());
}

}  // namespace chorus::dht
