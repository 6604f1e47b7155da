#include "chorus/dht/pair_key_cache.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "chorus/overlay/keyed_hash.h"

namespace chorus::dht {
namespace {

using Pair = std::array<uint8_t, 64>;

// The pair in a fixed order, so both ends name it alike.
Pair pair_of(const PublicKey& a, const PublicKey& b) {
  Pair p{};
  const bool a_first = std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  const PublicKey& lo = a_first ? a : b;
  const PublicKey& hi = a_first ? b : a;
  std::memcpy(p.data(), lo.data(), 32);
  std::memcpy(p.data() + 32, hi.data(), 32);
  return p;
}

}  // namespace

struct PairKeyCache::Table {
  explicit Table(overlay::KeyedHash hash) : keys(0, hash) {}
  std::unordered_map<Pair, SharedKey, overlay::KeyedHash> keys;
  std::vector<Pair> order;  // a ring once full: order[next] is the oldest
  size_t next = 0;
};

PairKeyCache::PairKeyCache(size_t capacity)
    : capacity_(capacity), table_(std::make_unique<Table>(overlay::KeyedHash::fresh())) {}

PairKeyCache::~PairKeyCache() {
  for (auto& [pair, key] : table_->keys) sodium_memzero(key.data(), key.size());
}

std::optional<PairKeyCache::SharedKey> PairKeyCache::find(const PublicKey& self,
                                                          const PublicKey& peer) const {
  std::lock_guard lock(mu_);
  auto it = table_->keys.find(pair_of(self, peer));
  if (it == table_->keys.end()) return std::nullopt;
  ++hits_;
  return it->second;
}

void PairKeyCache::insert(const PublicKey& self, const PublicKey& peer, const SharedKey& key) {
  std::lock_guard lock(mu_);
  if (capacity_ == 0) return;
  Table& t = *table_;
  const Pair pair = pair_of(self, peer);
  if (!t.keys.emplace(pair, key).second) return;
  if (t.order.size() < capacity_) {
    t.order.push_back(pair);
    return;
  }
  auto old = t.keys.find(t.order[t.next]);
  sodium_memzero(old->second.data(), old->second.size());
  t.keys.erase(old);
  t.order[t.next] = pair;
  t.next = (t.next + 1) % capacity_;
}

size_t PairKeyCache::size() const {
  std::lock_guard lock(mu_);
  return table_->keys.size();
}

uint64_t PairKeyCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

}  // namespace chorus::dht
