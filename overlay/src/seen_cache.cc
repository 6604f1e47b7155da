#include "chorus/overlay/seen_cache.h"

#include <cstring>

namespace chorus::overlay {

SeenKey make_seen_key(const PublicKey& origin, uint64_t id) {
  SeenKey k{};
  std::memcpy(k.data(), origin.data(), 32);
  for (int i = 0; i < 8; ++i) k[32 + i] = static_cast<uint8_t>(id >> (56 - 8 * i));
  return k;
}

size_t SeenCache::KeyHash::operator()(const SeenKey& k) const {
  // Origins are public keys and ids are random: their bytes are already
  // spread, but mix both so one origin with many ids still spreads.
  uint64_t a = 0, b = 0;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 32, 8);
  uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ULL);
  x ^= x >> 31;
  return static_cast<size_t>(x * 0xbf58476d1ce4e5b9ULL);
}

SeenCache::SeenCache(size_t max_entries, int64_t max_age_us)
    : max_entries_(max_entries == 0 ? 1 : max_entries), max_age_us_(max_age_us) {}

bool SeenCache::insert(const SeenKey& key, int64_t now_us) {
  expire(now_us);
  if (!set_.insert(key).second) return false;
  order_.push_back({key, now_us});
  while (set_.size() > max_entries_) {
    set_.erase(order_.front().key);
    order_.pop_front();
  }
  return true;
}

void SeenCache::expire(int64_t now_us) {
  while (!order_.empty() && now_us - order_.front().inserted_us > max_age_us_) {
    set_.erase(order_.front().key);
    order_.pop_front();
  }
}

}  // namespace chorus::overlay
