#include "chorus/dht/route_cache.h"

#include <algorithm>

namespace chorus::dht {

const RouteCache::Entry* RouteCache::find(const PublicKey& target, int64_t now_us) {
  auto it = entries_.find(target);
  if (it == entries_.end()) return nullptr;
  if (now_us >= it->second.expires_us) {
    entries_.erase(it);
    return nullptr;
  }
  it->second.used_us = now_us;
  return &it->second;
}

void RouteCache::put(const PublicKey& target, NodeRecord record, uint64_t seq, int64_t now_us) {
  if (options_.max_entries == 0) return;
  if (!entries_.contains(target) && entries_.size() >= options_.max_entries) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.used_us < b.second.used_us; });
    entries_.erase(oldest);
  }
  entries_[target] = Entry{std::move(record), seq, now_us + options_.ttl_ms * 1000, now_us};
}

bool RouteCache::observe(const PublicKey& target, const NodeRecord& record, uint64_t seq,
                         int64_t now_us) {
  auto it = entries_.find(target);
  if (it == entries_.end() || seq <= it->second.seq) return false;
  it->second = Entry{record, seq, now_us + options_.ttl_ms * 1000, now_us};
  return true;
}

}  // namespace chorus::dht
