// SeenCache: remembers which broadcast messages already passed through, so
// each is delivered and forwarded once. Bounded both ways: at most
// `max_entries` keys (the oldest goes first) and none older than `max_age_us`.
// A key forgotten by either bound may be accepted again, so the bounds must
// outlast the time a message can circulate (hop limit × link latency).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <unordered_set>

#include "chorus/overlay/identity.h"

namespace chorus::overlay {

// origin key ‖ message id (big-endian).
using SeenKey = std::array<uint8_t, 40>;
SeenKey make_seen_key(const PublicKey& origin, uint64_t id);

class SeenCache {
 public:
  SeenCache(size_t max_entries, int64_t max_age_us);

  // Records `key`; true when it was not there (first sighting).
  bool insert(const SeenKey& key, int64_t now_us);
  bool contains(const SeenKey& key) const { return set_.count(key) != 0; }
  // Drops keys older than the age bound.
  void expire(int64_t now_us);
  size_t size() const { return set_.size(); }

 private:
  struct KeyHash {
    size_t operator()(const SeenKey& k) const;
  };
  struct Entry {
    SeenKey key;
    int64_t inserted_us;
  };
  size_t max_entries_;
  int64_t max_age_us_;
  std::unordered_set<SeenKey, KeyHash> set_;
  std::deque<Entry> order_;  // insertion order, oldest first
};

}  // namespace chorus::overlay
