#include "chorus/dht/routing_table.h"

#include <algorithm>
#include <cstring>

namespace chorus::dht {

namespace {

constexpr int kIdBits = 256;

bool bit_at(const NodeId& id, int bit) {
  return (id[bit / 8] >> (7 - bit % 8)) & 1;
}

// The first 64 bits of an id, big-endian: XOR of two of them is the first
// 64 bits of the distance, which decide almost every comparison.
uint64_t prefix_of(const std::array<uint8_t, 32>& id) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v = (v << 8) | id[b];
  return v;
}

// The slot of `id` in a bucket's entries or replacements, const or not.
template <typename Slots>
auto find_slot(Slots& slots, const NodeId& id, const ContactPool& pool) {
  const uint64_t prefix = prefix_of(id);
  return std::find_if(slots.begin(), slots.end(), [&](const auto& e) {
    return e.id_prefix == prefix && pool.at(e.contact).id == id;
  });
}

}  // namespace

RoutingTable::RoutingTable(const NodeId& self, size_t k, size_t replacements_per_bucket,
                           int64_t good_for_ms, std::shared_ptr<ContactPool> pool)
    : pool_(pool ? std::move(pool) : std::make_shared<ContactPool>()),
      self_(self),
      k_(std::max<size_t>(k, 1)),
      replacements_(replacements_per_bucket),
      good_for_ms_(good_for_ms) {}

RoutingTable::~RoutingTable() {
  release_all();
}

RoutingTable::RoutingTable(RoutingTable&& other) noexcept
    : pool_(other.pool_),
      self_(other.self_),
      k_(other.k_),
      replacements_(other.replacements_),
      good_for_ms_(other.good_for_ms_),
      buckets_(std::move(other.buckets_)),
      size_(other.size_) {
  other.buckets_.clear();  // its handles are ours now
  other.size_ = 0;
}

RoutingTable& RoutingTable::operator=(RoutingTable&& other) noexcept {
  if (this == &other) return *this;
  release_all();
  pool_ = other.pool_;
  self_ = other.self_;
  k_ = other.k_;
  replacements_ = other.replacements_;
  good_for_ms_ = other.good_for_ms_;
  buckets_ = std::move(other.buckets_);
  size_ = other.size_;
  other.buckets_.clear();
  other.size_ = 0;
  return *this;
}

void RoutingTable::release_all() {
  for (Bucket& bucket : buckets_) {
    for (const Slot& e : bucket.entries) pool_->release(e.contact);
    for (const Slot& e : bucket.replacements) pool_->release(e.contact);
  }
  buckets_.clear();
  size_ = 0;
}

ContactPool::Handle RoutingTable::pool_handle(const Contact& contact,
                                              std::optional<ContactPool::Handle> pooled) {
  return pooled ? pool_->share(*pooled) : pool_->acquire(contact);
}

RoutingTable::Slot RoutingTable::make_slot(const Contact& contact, int64_t now_ms,
                                           std::optional<ContactPool::Handle> pooled) {
  return Slot{prefix_of(contact.id), now_ms, pool_handle(contact, pooled), 0};
}

bool RoutingTable::has_replacement(int bucket) const {
  return bucket >= 0 && static_cast<size_t>(bucket) < buckets_.size() &&
         !buckets_[bucket].replacements.empty();
}

int RoutingTable::bucket_of(const NodeId& id) const {
  return common_prefix_bits(self_, id);
}

namespace {

// push_back that never leaves room past `bound`: a bucket of k = 20 would
// otherwise grow to a capacity of 32, and in a simulator of 10^5 tables
// that slack was a third of every table.
template <typename T>
void push_bounded(std::vector<T>& v, T e, size_t bound) {
  if (v.size() == v.capacity()) v.reserve(std::min(bound, std::max<size_t>(4, 2 * v.size())));
  v.push_back(std::move(e));
}

}  // namespace

RoutingTable::Observed RoutingTable::observe(const Contact& contact, int64_t now_ms,
                                             std::optional<ContactPool::Handle> pooled) {
  Observed result;
  int index = bucket_of(contact.id);
  if (index >= kIdBits) return result;
  // Buckets are created lazily: a simulator holds 10^5 tables and only the
  // first ~log2(N/k) buckets of each are ever populated.
  if (buckets_.size() <= static_cast<size_t>(index)) {
    buckets_.reserve(index + 1);  // exactly: a table has ~log2(N/k) buckets
    buckets_.resize(index + 1);
  }
  Bucket& bucket = buckets_[index];

  if (auto it = find_slot(bucket.entries, contact.id, *pool_); it != bucket.entries.end()) {
    Slot entry = *it;
    if (!(contact_of(entry) == contact)) {  // a new address for the key
      ContactPool::Handle old = entry.contact;
      entry.contact = pool_handle(contact, pooled);
      pool_->release(old);
    }
    entry.last_seen_ms = now_ms;
    entry.failures = 0;
    bucket.entries.erase(it);
    bucket.entries.push_back(entry);
    result.added = true;
    return result;
  }

  if (bucket.entries.size() < k_) {
    // A bucket that just became populated needs no refresh for a while.
    if (bucket.entries.empty()) bucket.touched_ms = std::max(bucket.touched_ms, now_ms);
    push_bounded(bucket.entries, make_slot(contact, now_ms, pooled), k_);
    ++size_;
    result.added = true;
    return result;
  }

  // Full: the long-lived contacts keep their place (Kademlia's resistance to
  // flooding); the newcomer waits and the caller checks the oldest one.
  if (now_ms - bucket.entries.front().last_seen_ms >= good_for_ms_ ||
      bucket.entries.front().failures > 0)
    result.ping = contact_of(bucket.entries.front());
  if (replacements_ == 0) return result;
  // Acquired before anything is released: the pool may hold this contact
  // only through the replacement about to go.
  Slot fresh = make_slot(contact, now_ms, pooled);
  if (auto it = find_slot(bucket.replacements, contact.id, *pool_);
      it != bucket.replacements.end()) {
    pool_->release(it->contact);
    bucket.replacements.erase(it);
  } else if (bucket.replacements.size() >= replacements_) {
    pool_->release(bucket.replacements.front().contact);
    bucket.replacements.erase(bucket.replacements.begin());
  }
  push_bounded(bucket.replacements, fresh, replacements_);
  return result;
}

int RoutingTable::failed(const NodeId& id) {
  int index = bucket_of(id);
  if (static_cast<size_t>(index) >= buckets_.size()) return 0;
  Bucket& bucket = buckets_[index];
  if (auto it = find_slot(bucket.entries, id, *pool_); it != bucket.entries.end()) {
    return ++it->failures;
  }
  if (auto it = find_slot(bucket.replacements, id, *pool_); it != bucket.replacements.end()) {
    return ++it->failures;
  }
  return 0;
}

void RoutingTable::evict(const NodeId& id) {
  int index = bucket_of(id);
  if (static_cast<size_t>(index) >= buckets_.size()) return;
  Bucket& bucket = buckets_[index];
  if (auto it = find_slot(bucket.replacements, id, *pool_); it != bucket.replacements.end()) {
    pool_->release(it->contact);
    bucket.replacements.erase(it);
    return;
  }
  auto it = find_slot(bucket.entries, id, *pool_);
  if (it == bucket.entries.end()) return;
  pool_->release(it->contact);
  bucket.entries.erase(it);
  --size_;
  // Prefer a replacement that has not failed us; among those, the freshest.
  auto best = bucket.replacements.end();
  for (auto r = bucket.replacements.begin(); r != bucket.replacements.end(); ++r) {
    if (best == bucket.replacements.end() || r->failures <= best->failures) best = r;
  }
  if (best == bucket.replacements.end()) return;
  Slot promoted = *best;
  bucket.replacements.erase(best);
  // Entries stay ordered by last_seen, and the replacement may be older
  // than contacts seen since it queued.
  auto pos = std::upper_bound(bucket.entries.begin(), bucket.entries.end(), promoted.last_seen_ms,
                              [](int64_t seen, const Slot& e) { return seen < e.last_seen_ms; });
  bucket.entries.insert(pos, promoted);
  ++size_;
}

// Why walking buckets works: with D = self ^ target, every id in bucket i
// has a distance whose first i bits are D's and whose bit i is !D[i]. So for
// i < j, all of bucket i is closer than all of bucket j exactly when D[i] is
// 1. The buckets therefore fall in a strict order: those with D[i] = 1 by
// increasing i, then those with D[i] = 0 by decreasing i. Only the bucket
// that overflows n needs sorting beyond its own k entries.
std::vector<Contact> RoutingTable::closest(const Key& target, size_t n) const {
  std::vector<Contact> out;
  if (n == 0 || size_ == 0) return out;
  out.reserve(std::min(n, size_));
  const int count = static_cast<int>(buckets_.size());
  // Reused across calls: the simulator calls this millions of times.
  struct Ranked {
    uint64_t prefix;  // of the distance
    const Slot* entry;
  };
  thread_local std::vector<Ranked> ranked;
  const uint64_t target_prefix = prefix_of(target);

  auto take = [&](const Bucket& bucket) {
    if (bucket.entries.empty()) return;
    ranked.clear();
    for (const Slot& e : bucket.entries) ranked.push_back(Ranked{target_prefix ^ e.id_prefix, &e});
    auto less = [&](const Ranked& a, const Ranked& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return closer(target, contact_of(*a.entry).id, contact_of(*b.entry).id);
    };
    const size_t want = std::min(n - out.size(), ranked.size());
    const auto mid = ranked.begin() + static_cast<ptrdiff_t>(want);
    if (want == ranked.size()) {
      std::sort(ranked.begin(), ranked.end(), less);
    } else if (ranked.size() > 8 * want) {
      // Selection is linear; a heap over a huge bucket is not.
      std::nth_element(ranked.begin(), mid, ranked.end(), less);
      std::sort(ranked.begin(), mid, less);
    } else {
      std::partial_sort(ranked.begin(), mid, ranked.end(), less);
    }
    for (size_t i = 0; i < want; ++i) out.push_back(contact_of(*ranked[i].entry));
  };

  for (int i = 0; i < count && out.size() < n; ++i) {
    if (bit_at(target, i) != bit_at(self_, i)) take(buckets_[i]);
  }
  for (int i = count - 1; i >= 0 && out.size() < n; --i) {
    if (bit_at(target, i) == bit_at(self_, i)) take(buckets_[i]);
  }
  return out;
}

// By the same ordering, a contact is closer to key than we are exactly when
// its bucket index i has key and self differing at bit i: no comparisons.
bool RoutingTable::among_closest(const Key& key, size_t k) const {
  size_t closer_count = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (bit_at(key, static_cast<int>(i)) != bit_at(self_, static_cast<int>(i))) {
      closer_count += buckets_[i].entries.size();
      if (closer_count >= k) return false;
    }
  }
  return true;
}

std::optional<RoutingEntry> RoutingTable::find(const NodeId& id) const {
  int index = bucket_of(id);
  if (static_cast<size_t>(index) >= buckets_.size()) return std::nullopt;
  const Bucket& bucket = buckets_[index];
  if (auto it = find_slot(bucket.entries, id, *pool_); it != bucket.entries.end()) {
    return RoutingEntry{contact_of(*it), it->last_seen_ms, it->failures};
  }
  return std::nullopt;
}

void RoutingTable::touched(int bucket, int64_t now_ms) {
  if (bucket < 0 || bucket >= kIdBits) return;
  // An empty bucket that does not exist yet has nothing to refresh.
  if (static_cast<size_t>(bucket) >= buckets_.size()) return;
  buckets_[bucket].touched_ms = std::max(buckets_[bucket].touched_ms, now_ms);
}

std::vector<int> RoutingTable::stale_buckets(int64_t now_ms, int64_t older_than_ms) const {
  std::vector<int> out;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const Bucket& bucket = buckets_[i];
    if (!bucket.entries.empty() && now_ms - bucket.touched_ms >= older_than_ms) {
      out.push_back(static_cast<int>(i));
    }
  }
  return out;
}

NodeId RoutingTable::id_in_bucket(int bucket, const std::array<uint8_t, 32>& random) const {
  if (bucket >= kIdBits) return self_;
  bucket = std::max(bucket, 0);
  NodeId id = random;
  const int full_bytes = bucket / 8;
  std::memcpy(id.data(), self_.data(), static_cast<size_t>(full_bytes));
  const int rest = bucket % 8;
  // Bits above the flipped one come from self, the flipped one is !self,
  // the ones below stay random.
  const uint8_t keep = static_cast<uint8_t>(0xFF00u >> rest);
  const uint8_t flip = static_cast<uint8_t>(0x80u >> rest);
  const uint8_t below = static_cast<uint8_t>(flip - 1);
  id[full_bytes] =
      static_cast<uint8_t>((self_[full_bytes] & keep) | ((self_[full_bytes] & flip) ^ flip) |
                           (random[full_bytes] & below));
  return id;
}

std::vector<Contact> RoutingTable::all() const {
  std::vector<Contact> out;
  out.reserve(size_);
  for (const Bucket& bucket : buckets_) {
    for (const Slot& e : bucket.entries) out.push_back(contact_of(e));
  }
  return out;
}

}  // namespace chorus::dht
