// RouteCache: what ReachCore remembers about how to reach nodes that are
// not direct peers, so that a send does not cost a DHT get every time
// (spec/dht.md §10, "Route cache").
//
//   RouteCache cache({.max_entries = 1024, .ttl_ms = 60'000});
//   cache.put(target, record, seq, now_us);
//   if (const RouteCache::Entry* e = cache.find(target, now_us)) use(e->record);
//
// An entry is the node record last seen for a target (its listen address
// or its relay set) and the record's sequence number (0 for a route learnt
// from a DHT contact rather than a record). It lives `ttl_ms` from when it
// was stored; `find` drops it once expired. A record with a higher sequence
// replaces it (`observe`), and ReachCore erases it when a send over it
// fails.
//
// Bounds: at most `max_entries`; storing one more evicts the entry used
// least recently (a linear scan: the cache is small and a put follows a DHT
// lookup, which costs far more).
//
// Pure data, no I/O, no clock: time is passed in. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>

#include "chorus/dht/node_record.h"

namespace chorus::dht {

struct RouteCacheOptions {
  size_t max_entries = 1024;  // 0 disables the cache
  int64_t ttl_ms = 60'000;    // well below a record's TTL (600 s)
};

class RouteCache {
 public:
  struct Entry {
    NodeRecord record;
    uint64_t seq = 0;  // of the record; 0: from a DHT contact
    int64_t expires_us = 0;
    int64_t used_us = 0;
  };

  explicit RouteCache(RouteCacheOptions options = {}) : options_(options) {}

  // The live entry for `target` (marked used), or nullptr; an expired one is
  // erased.
  const Entry* find(const PublicKey& target, int64_t now_us);
  // Stores (or replaces) the entry for `target`, evicting the least recently
  // used entry when full.
  void put(const PublicKey& target, NodeRecord record, uint64_t seq, int64_t now_us);
  // A record of `target` seen elsewhere: replaces a cached entry with a
  // lower sequence and returns true; otherwise (no entry, or not newer)
  // changes nothing.
  bool observe(const PublicKey& target, const NodeRecord& record, uint64_t seq, int64_t now_us);
  // True when there was an entry.
  bool erase(const PublicKey& target) { return entries_.erase(target) > 0; }
  void clear() { entries_.clear(); }

  size_t size() const { return entries_.size(); }
  const RouteCacheOptions& options() const { return options_; }

 private:
  RouteCacheOptions options_;
  std::map<PublicKey, Entry> entries_;
};

}  // namespace chorus::dht
