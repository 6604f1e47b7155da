// RoutingTable: the k-buckets of one node (Kademlia §2.4).
//
// Bucket i holds contacts whose id shares exactly i leading bits with ours
// (i = 0..255), at most k each, least recently seen first. A full bucket
// does not drop anyone on its own: `observe` returns the least recently
// seen contact to PING, and only `evict` after that PING failed makes room.
// Newcomers that found the bucket full wait in a small replacement list and
// take the place of an evicted contact. Not thread-safe; no I/O.
//
// Entries hold a handle into a ContactPool (24 bytes an entry instead of
// 120), so that tables of one thread may share their contacts.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "chorus/dht/contact_pool.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

struct RoutingEntry {
  Contact contact;
  int64_t last_seen_ms = 0;
  int failures = 0;  // RPCs that timed out since it last answered
};

class RoutingTable {
 public:
  // A contact heard from within `good_for_ms` is "good" (BEP 5): a full
  // bucket whose least recently seen contact is good keeps it without asking
  // for a PING; the newcomer only waits among the replacements. That keeps
  // a busy node from PINGing on every new face.
  // `pool`: shared with other tables of this thread; null gives the table
  // a pool of its own.
  static constexpr size_t kDefaultReplacements = 8;
  static constexpr int64_t kDefaultGoodForMs = 15 * 60'000;
  RoutingTable(const NodeId& self, size_t k, size_t replacements_per_bucket = kDefaultReplacements,
               int64_t good_for_ms = kDefaultGoodForMs,
               std::shared_ptr<ContactPool> pool = nullptr);
  ~RoutingTable();
  RoutingTable(RoutingTable&&) noexcept;
  RoutingTable& operator=(RoutingTable&&) noexcept;
  RoutingTable(const RoutingTable&) = delete;
  RoutingTable& operator=(const RoutingTable&) = delete;

  // What observe() did.
  struct Observed {
    bool added = false;  // new in the table, or moved to most recently seen
    // The bucket was full and its least recently seen contact is no longer
    // good: PING this one; evict() it if the PING fails.
    std::optional<Contact> ping;
  };
  // A contact was heard from (an authenticated request or reply). Ignores
  // ourselves. An address change for a known key updates the address.
  // `pooled`, when given, is a handle the caller holds in this table's pool
  // to a contact equal to `contact`: the table shares it instead of looking
  // the contact up.
  Observed observe(const Contact& contact, int64_t now_ms,
                   std::optional<ContactPool::Handle> pooled = std::nullopt);

  // An RPC to this id timed out. Returns its failure count.
  int failed(const NodeId& id);
  // Removes the contact (its PING failed, or it misbehaved) and lets the
  // freshest replacement of its bucket take the place.
  void evict(const NodeId& id);

  // Up to n contacts closest to target, closest first.
  std::vector<Contact> closest(const Key& target, size_t n) const;
  // True when fewer than k known contacts are closer to key than we are.
  bool among_closest(const Key& key, size_t k) const;

  std::optional<RoutingEntry> find(const NodeId& id) const;
  size_t size() const { return size_; }
  // Indices of non-empty buckets, and when each was last touched by a lookup.
  void touched(int bucket, int64_t now_ms);
  std::vector<int> stale_buckets(int64_t now_ms, int64_t older_than_ms) const;
  // A random id that falls in bucket i (for refresh), from 32 random bytes.
  NodeId id_in_bucket(int bucket, const std::array<uint8_t, 32>& random) const;
  int bucket_of(const NodeId& id) const;
  // True when a newcomer waits to take a place in that bucket.
  bool has_replacement(int bucket) const;

  const NodeId& self() const { return self_; }
  std::vector<Contact> all() const;

 private:
  struct Slot {
    uint64_t id_prefix;  // the id's first 8 bytes: most comparisons end here
    int64_t last_seen_ms;
    ContactPool::Handle contact;
    int32_t failures;
  };
  struct Bucket {
    std::vector<Slot> entries;       // least recently seen first
    std::vector<Slot> replacements;  // most recent last
    int64_t touched_ms = 0;
  };
  const Contact& contact_of(const Slot& s) const { return pool_->at(s.contact); }
  Slot make_slot(const Contact& contact, int64_t now_ms, std::optional<ContactPool::Handle> pooled);
  ContactPool::Handle pool_handle(const Contact& contact,
                                  std::optional<ContactPool::Handle> pooled);
  void release_all();

  std::shared_ptr<ContactPool> pool_;
  NodeId self_;
  size_t k_;
  size_t replacements_;
  int64_t good_for_ms_;
  std::vector<Bucket> buckets_;  // grown on demand up to 257 (256 = self)
  size_t size_ = 0;
};

}  // namespace chorus::dht
