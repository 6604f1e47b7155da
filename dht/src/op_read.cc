// The reads: find_node (and bootstrap, join, refresh), which report the
// closest nodes, and get, which reports what the lookup gathered.
#include "operations.h"

namespace chorus::dht {

void FindNodeOp::on_lookup_done(OpHost& host, const Replicas& replicas, int64_t) {
  if (replicas.closest.empty() && bootstrap_) {
    host.finish(*this, not_found("no DHT node answered"));
    return;
  }
  host.finish(*this, std::move(result));
}

void GetOp::on_lookup_done(OpHost& host, const Replicas&, int64_t) {
  OpResult& r = result;
  for (auto& [id, v] : values) r.values.push_back(std::move(v));
  for (auto& [owner, v] : signed_values) r.signed_values.push_back(std::move(v));
  // The versioned value: the highest version; among several values at
  // that version (a failed CAS not yet undone), the one most replicas hold.
  const std::pair<size_t, VersionedValue>* best = nullptr;
  uint64_t best_version = 0;
  for (auto& [k, slot] : versions) {
    if (!best || k.first > best_version || (k.first == best_version && slot.first > best->first)) {
      best = &slot;
      best_version = k.first;
    }
  }
  if (best) r.versioned = best->second;
  r.hops = first_data_depth ? first_data_depth : r.hops;
  if (r.values.empty() && r.signed_values.empty() && !r.versioned) {
    host.finish(*this, not_found("no value under the key"));
    return;
  }
  host.finish(*this, std::move(result));
}

}  // namespace chorus::dht
