#include "operation.h"

#include "chorus/overlay/wire.h"

namespace chorus::dht {

bool signature_ok(const Key& key, const SignedValue& v) {
  return overlay::verify_signature(v.owner, signed_value_message(key, v.seq, v.ttl_s, v.data),
                                   v.signature);
}

// ------------------------------------------------------------------ Operation

StoreBody Operation::store_body(const DhtConfig&) const {
  return ListenBody{0};
}

void Operation::merge(const Value& v) {
  values.emplace(v.id, v);
}

void Operation::merge(const SignedValue& v) {
  auto [it, fresh] = signed_values.emplace(v.owner, v);
  if (!fresh && v.seq > it->second.seq) it->second = v;
}

void Operation::merge(const VersionedValue& v) {
  auto& slot = versions[std::make_pair(v.version, overlay::blake2b_256(v.data))];
  if (slot.first++ == 0) slot.second = v;
}

bool Operation::pick_targets(OpHost& host, const Replicas& replicas) {
  // Writes go to the replicas that answered; the silent ones count as "no".
  const Contact me = host.me();
  targets.clear();
  for (const Contact& c : replicas.settled) {
    if (c.key == me.key) continue;
    for (const Contact& a : replicas.closest)
      if (a.id == c.id) targets.push_back(a);
  }
  if (replicas.self_replica) targets.push_back(me);
  if (targets.empty()) {
    host.finish(*this, not_found("no DHT node answered the lookup"));
    return false;
  }
  result.replicas = replica_set;
  return true;
}

void Operation::write_targets(OpHost& host, int64_t now_ms) {
  sent_ms = now_ms;
  const DhtConfig& config = host.config();
  host.start_phase(
      *this, Phase::kWrite, targets, [&](const Contact&) { return store_body(config); }, now_ms);
}

void Operation::on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) {
  if (!pick_targets(host, replicas)) return;
  write_targets(host, now_ms);
}

void Operation::on_phase_done(OpHost& host, int64_t) {
  host.finish(*this, std::move(result));
}
}  // namespace chorus::dht
