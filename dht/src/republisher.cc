#include "republisher.h"

#include <algorithm>

namespace chorus::dht {

Republisher::Republisher(const DhtConfig& config, int64_t now_ms)
    : config_(config), next_interval_ms_(now_ms + config.republish_interval_ms) {}

void Republisher::prune(int64_t now_ms) {
  for (auto it = own_.begin(); it != own_.end();) {
    auto& values = it->second.values;
    for (auto v = values.begin(); v != values.end();)
      v = v->second.second <= now_ms ? values.erase(v) : std::next(v);
    auto& sv = it->second.signed_value;
    if (sv && sv->second <= now_ms) sv.reset();
    it = values.empty() && !sv ? own_.erase(it) : std::next(it);
  }
}

Republisher::OwnPut* Republisher::slot(const Key& key, int64_t now_ms) {
  auto it = own_.find(key);
  if (it != own_.end()) return &it->second;
  if (own_.size() >= config_.max_republished_keys) prune(now_ms);
  if (own_.size() >= config_.max_republished_keys) return nullptr;  // not republished
  return &own_[key];
}

Republisher::OwnPut* Republisher::find(const Key& key) {
  auto it = own_.find(key);
  return it == own_.end() ? nullptr : &it->second;
}

void Republisher::remember_put(const Key& key, const Value& value, int64_t now_ms) {
  OwnPut* own = slot(key, now_ms);
  if (!own) return;
  if (!own->values.count(value.id) && own->values.size() >= config_.store.max_values_per_key)
    return;
  int64_t expires = now_ms + int64_t{std::min(value.ttl_s, config_.store.max_ttl_s)} * kMsPerS;
  own->values[value.id] = {value, expires};
}

void Republisher::remember_signed(const Key& key, const SignedValue& value, int64_t now_ms) {
  OwnPut* own = slot(key, now_ms);
  if (!own) return;
  if (own->signed_value && own->signed_value->first.seq > value.seq) return;
  int64_t expires = now_ms + int64_t{std::min(value.ttl_s, config_.store.max_ttl_s)} * kMsPerS;
  own->signed_value = std::make_pair(value, expires);
}

void Republisher::begin_interval_if_due(int64_t now_ms) {
  if (now_ms < next_interval_ms_) return;
  next_interval_ms_ = now_ms + config_.republish_interval_ms;
  prune(now_ms);
  queue_.clear();
  for (const auto& [key, own] : own_) queue_.push_back(key);
  // Spread over the interval, but all of it within one interval.
  const auto ticks = static_cast<size_t>(
      std::max<int64_t>(1, config_.republish_interval_ms / config_.housekeeping_ms));
  per_tick_ = std::max(config_.republish_per_tick, (queue_.size() + ticks - 1) / ticks);
}

std::optional<Key> Republisher::next_due() {
  while (!queue_.empty()) {
    Key key = queue_.front();
    queue_.pop_front();
    if (own_.count(key)) return key;
  }
  return std::nullopt;
}

void RepublishOp::on_found(OpHost& host, const NodeId& from, const FoundReply& reply,
                           const std::vector<const SignedValue*>& good) {
  Held& h = held_[from];
  const Republisher::OwnPut* own = host.republisher().find(key);
  for (const Value& v : reply.values) {
    h.ids.insert(v.id);
    // Someone put other data under our id since: ours was replaced.
    if (!own) continue;
    auto mine = own->values.find(v.id);
    if (mine != own->values.end() && mine->second.first.data != v.data) replaced_.insert(v.id);
  }
  for (const SignedValue* s : good) {
    if (s->owner != host.identity().public_key()) continue;
    h.has_own_signed = true;
    h.own_seq = std::max(h.own_seq, s->seq);
  }
}

void RepublishOp::on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) {
  Republisher::OwnPut* own = host.republisher().find(key);
  if (!own) return host.finish(*this, OpResult{});
  // A value someone replaced is no longer ours to keep alive: pushing it to
  // a replica that lost the replacement would bring the old one back.
  for (uint64_t id : replaced_) own->values.erase(id);
  // Each value goes with the whole seconds we still want it kept, so a
  // republish never lengthens its life.
  std::vector<Value> push;
  for (const auto& [id, slot] : own->values) {
    int64_t left_s = (slot.second - now_ms) / kMsPerS;
    if (left_s <= 0) continue;
    push.push_back(slot.first);
    push.back().ttl_s = static_cast<uint32_t>(left_s);
  }
  std::optional<SignedValue> sv;
  if (own->signed_value) {
    int64_t left_s = (own->signed_value->second - now_ms) / kMsPerS;
    if (left_s > 0) {
      // Signed anew with the seconds left (same seq, same data): a replica
      // that lacks it lets it go when we would; one that holds it keeps it.
      sv = own->signed_value->first;
      sv->ttl_s = static_cast<uint32_t>(left_s);
      sv->signature = host.identity().sign(signed_value_message(key, sv->seq, sv->ttl_s, sv->data));
    }
  }
  // Only to replicas that lack it.
  for (const Contact& c : replicas.closest) {
    auto h = held_.find(c.id);
    if (h == held_.end()) continue;
    for (const Value& v : push)
      if (!h->second.ids.count(v.id)) host.send_store(*this, c, PutBody{v}, false, now_ms);
    if (sv && (!h->second.has_own_signed || h->second.own_seq < sv->seq))
      host.send_store(*this, c, PutSignedBody{*sv}, false, now_ms);
  }
  host.finish(*this, OpResult{});
}

}  // namespace chorus::dht
