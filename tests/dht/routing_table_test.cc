#include "chorus/dht/routing_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>

namespace chorus::dht {
namespace {

NodeId random_id(std::mt19937_64& rng) {
  NodeId id{};
  for (auto& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

// Tests need ids in chosen buckets; the key does not matter to the table.
Contact contact_of(const NodeId& id, uint16_t port = 1) {
  return Contact{id, id, Address{"10.0.0.1", port}};
}

// An id in bucket `bucket` of self, with `low` in the last byte to tell
// several apart.
NodeId in_bucket(const NodeId& self, int bucket, uint8_t low) {
  NodeId id = self;
  id[bucket / 8] ^= static_cast<uint8_t>(0x80u >> (bucket % 8));
  if (bucket < 248) id[31] ^= low;
  return id;
}

std::vector<NodeId> ids_of(const std::vector<Contact>& contacts) {
  std::vector<NodeId> out;
  for (const Contact& c : contacts) out.push_back(c.id);
  return out;
}

std::vector<Contact> brute_closest(std::vector<Contact> all, const Key& target, size_t n) {
  std::sort(all.begin(), all.end(),
            [&](const Contact& a, const Contact& b) { return closer(target, a.id, b.id); });
  if (all.size() > n) all.resize(n);
  return all;
}

TEST(RoutingTable, PlacesContactsByCommonPrefix) {
  std::mt19937_64 rng(1);
  NodeId self = random_id(rng);
  RoutingTable table(self, 20);
  for (int bucket : {0, 1, 7, 8, 100, 255}) {
    NodeId id = in_bucket(self, bucket, 0);
    EXPECT_EQ(table.bucket_of(id), bucket);
    EXPECT_TRUE(table.observe(contact_of(id), 5).added);
    auto found = table.find(id);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->last_seen_ms, 5);
  }
  EXPECT_EQ(table.size(), 6u);
  EXPECT_EQ(table.bucket_of(self), 256);
}

TEST(RoutingTable, IgnoresSelf) {
  NodeId self{};
  self[3] = 9;
  RoutingTable table(self, 20);
  auto observed = table.observe(contact_of(self), 1);
  EXPECT_FALSE(observed.added);
  EXPECT_FALSE(observed.ping.has_value());
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.find(self).has_value());
  EXPECT_TRUE(table.closest(self, 20).empty());
}

TEST(RoutingTable, KeepsLeastRecentlySeenFirst) {
  NodeId self{};
  RoutingTable table(self, 3);
  NodeId a = in_bucket(self, 0, 1), b = in_bucket(self, 0, 2), c = in_bucket(self, 0, 3);
  table.observe(contact_of(a), 1);
  table.observe(contact_of(b), 2);
  table.observe(contact_of(c), 3);
  EXPECT_EQ(ids_of(table.all()), (std::vector<NodeId>{a, b, c}));
  EXPECT_TRUE(table.observe(contact_of(a), 4).added);
  EXPECT_EQ(ids_of(table.all()), (std::vector<NodeId>{b, c, a}));
  EXPECT_EQ(table.find(a)->last_seen_ms, 4);
  EXPECT_EQ(table.size(), 3u);
}

TEST(RoutingTable, FullBucketAsksForPingAndKeepsTheOldContact) {
  NodeId self{};
  RoutingTable table(self, 2, 8, /*good_for_ms=*/1);
  NodeId a = in_bucket(self, 0, 1), b = in_bucket(self, 0, 2), c = in_bucket(self, 0, 3);
  table.observe(contact_of(a), 1);
  table.observe(contact_of(b), 2);
  auto observed = table.observe(contact_of(c), 3);
  EXPECT_FALSE(observed.added);
  ASSERT_TRUE(observed.ping.has_value());
  EXPECT_EQ(observed.ping->id, a);
  // Without evict() nobody leaves, however often the newcomer shows up.
  for (int i = 0; i < 10; ++i) table.observe(contact_of(c), 4 + i);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.find(a).has_value());
  EXPECT_FALSE(table.find(c).has_value());
  // Other buckets are unaffected by the full one.
  EXPECT_TRUE(table.observe(contact_of(in_bucket(self, 1, 0)), 5).added);

  table.evict(a);
  EXPECT_FALSE(table.find(a).has_value());
  ASSERT_TRUE(table.find(c).has_value());
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.find(c)->last_seen_ms, 13);
}

TEST(RoutingTable, AGoodOldestContactIsNotPingedUntilItGoesQuiet) {
  NodeId self{};
  RoutingTable table(self, 1, 8, /*good_for_ms=*/1000);
  NodeId a = in_bucket(self, 0, 1), b = in_bucket(self, 0, 2);
  table.observe(contact_of(a), 0);
  EXPECT_FALSE(table.observe(contact_of(b), 500).ping.has_value());
  EXPECT_TRUE(table.has_replacement(0));
  auto later = table.observe(contact_of(b), 1000);
  ASSERT_TRUE(later.ping.has_value());
  EXPECT_EQ(later.ping->id, a);
  // A failure makes it questionable at once.
  table.observe(contact_of(a), 1100);
  table.failed(a);
  EXPECT_TRUE(table.observe(contact_of(b), 1101).ping.has_value());
}

TEST(RoutingTable, PromotesTheFreshestReplacementAndBoundsTheList) {
  NodeId self{};
  RoutingTable table(self, 1, 2);
  NodeId a = in_bucket(self, 0, 1), b = in_bucket(self, 0, 2), c = in_bucket(self, 0, 3),
         d = in_bucket(self, 0, 4);
  table.observe(contact_of(a), 1);
  table.observe(contact_of(b), 2);
  table.observe(contact_of(c), 3);
  table.observe(contact_of(d), 4);  // the list holds 2: b, the oldest, goes
  table.evict(a);
  EXPECT_TRUE(table.find(d).has_value());
  table.evict(d);
  EXPECT_TRUE(table.find(c).has_value());
  table.evict(c);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.all().empty());
}

TEST(RoutingTable, RefreshesAKnownReplacement) {
  NodeId self{};
  RoutingTable table(self, 1, 4);
  NodeId a = in_bucket(self, 0, 1), b = in_bucket(self, 0, 2), c = in_bucket(self, 0, 3);
  table.observe(contact_of(a), 1);
  table.observe(contact_of(b, 1), 2);
  table.observe(contact_of(c), 3);
  table.observe(contact_of(b, 2), 4);  // b is the freshest again, at a new port
  table.evict(a);
  auto promoted = table.find(b);
  ASSERT_TRUE(promoted.has_value());
  EXPECT_EQ(promoted->contact.address.port, 2);
  EXPECT_EQ(promoted->last_seen_ms, 4);
  table.evict(b);
  EXPECT_TRUE(table.find(c).has_value());
  table.evict(c);
  EXPECT_EQ(table.size(), 0u);  // b was queued once, not twice
}

TEST(RoutingTable, EvictOfUnknownOrNonFullBucketChangesNothingElse) {
  NodeId self{};
  RoutingTable table(self, 4);
  NodeId a = in_bucket(self, 0, 1);
  table.evict(a);
  table.observe(contact_of(a), 1);
  table.evict(in_bucket(self, 0, 2));
  table.evict(in_bucket(self, 50, 2));
  EXPECT_EQ(table.size(), 1u);
  table.evict(a);
  EXPECT_EQ(table.size(), 0u);
}

TEST(RoutingTable, UpdatesAddressAndResetsFailures) {
  NodeId self{};
  RoutingTable table(self, 20);
  NodeId a = in_bucket(self, 3, 1);
  table.observe(contact_of(a, 1000), 1);
  EXPECT_EQ(table.failed(a), 1);
  EXPECT_EQ(table.failed(a), 2);
  EXPECT_EQ(table.find(a)->failures, 2);
  EXPECT_EQ(table.failed(in_bucket(self, 3, 2)), 0);  // unknown
  table.observe(Contact{a, a, Address{"192.0.2.7", 2000}}, 2);
  auto entry = table.find(a);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->contact.address, (Address{"192.0.2.7", 2000}));
  EXPECT_EQ(entry->failures, 0);
  EXPECT_EQ(entry->last_seen_ms, 2);
  EXPECT_EQ(table.size(), 1u);
}

// Small buckets (the real k) and huge ones (every bucket overflowing n)
// exercise both the bucket walk and the partial sort inside one bucket.
TEST(RoutingTable, ClosestMatchesBruteForce) {
  std::mt19937_64 rng(7);
  for (size_t k : {size_t{20}, size_t{5000}}) {
    NodeId self = random_id(rng);
    RoutingTable table(self, k);
    std::vector<NodeId> inserted;
    for (int i = 0; i < 5000; ++i) {
      NodeId id = random_id(rng);
      // Some ids close to self so deep buckets are populated too.
      if (i % 10 == 0) id = table.id_in_bucket(8 + static_cast<int>(rng() % 40), random_id(rng));
      inserted.push_back(id);
      table.observe(contact_of(id), i);
    }
    std::vector<Contact> all = table.all();
    ASSERT_EQ(all.size(), table.size());
    if (k == 5000) {
      ASSERT_GE(table.size(), 4990u);  // only collisions lost
    }
    std::vector<Key> targets;
    for (int i = 0; i < 300; ++i) targets.push_back(random_id(rng));
    for (int i = 0; i < 50; ++i) targets.push_back(inserted[rng() % inserted.size()]);
    for (int i = 0; i < 50; ++i) {
      targets.push_back(in_bucket(self, static_cast<int>(rng() % 256), uint8_t(rng())));
    }
    targets.push_back(self);
    for (const Key& target : targets) {
      for (size_t n : {size_t{1}, size_t{8}, size_t{20}, size_t{100}}) {
        ASSERT_EQ(ids_of(table.closest(target, n)), ids_of(brute_closest(all, target, n)))
            << "k=" << k << " n=" << n;
      }
    }
    EXPECT_EQ(table.closest(targets[0], all.size() + 10).size(), all.size());
    EXPECT_TRUE(table.closest(targets[0], 0).empty());
  }
}

TEST(RoutingTable, AmongClosestMatchesBruteForce) {
  std::mt19937_64 rng(11);
  NodeId self = random_id(rng);
  RoutingTable table(self, 20);
  for (int i = 0; i < 5000; ++i) table.observe(contact_of(random_id(rng)), i);
  for (int i = 0; i < 100; ++i) {
    table.observe(contact_of(in_bucket(self, 10 + i % 30, uint8_t(rng()))), 0);
  }
  std::vector<Contact> all = table.all();
  int yes = 0, no = 0;
  for (int i = 0; i < 2000; ++i) {
    Key key = random_id(rng);
    if (i % 2 == 0) key = in_bucket(self, static_cast<int>(rng() % 40), uint8_t(rng()));
    for (size_t k : {size_t{1}, size_t{3}, size_t{20}}) {
      size_t closer_than_self = static_cast<size_t>(std::count_if(
          all.begin(), all.end(), [&](const Contact& c) { return closer(key, c.id, self); }));
      bool expected = closer_than_self < k;
      ASSERT_EQ(table.among_closest(key, k), expected);
      (expected ? yes : no)++;
    }
  }
  EXPECT_GT(yes, 100);  // both answers were exercised
  EXPECT_GT(no, 100);
}

TEST(RoutingTable, IdInBucketSharesExactlyThatPrefix) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    NodeId self = random_id(rng);
    RoutingTable table(self, 20);
    for (int bucket = 0; bucket < 256; ++bucket) {
      std::array<uint8_t, 32> random{};
      for (auto& b : random) b = static_cast<uint8_t>(rng());
      NodeId id = table.id_in_bucket(bucket, random);
      ASSERT_EQ(table.bucket_of(id), bucket);
      ASSERT_EQ(common_prefix_bits(self, id), bucket);
      // The bits below the flipped one are the random ones.
      for (int bit = bucket + 1; bit < 256; ++bit) {
        int mask = 0x80 >> (bit % 8);
        ASSERT_EQ(id[bit / 8] & mask, random[bit / 8] & mask);
      }
    }
  }
}

TEST(RoutingTable, StaleBucketsAreNonEmptyAndUntouched) {
  NodeId self{};
  RoutingTable table(self, 20);
  table.observe(contact_of(in_bucket(self, 0, 1)), 1000);
  table.observe(contact_of(in_bucket(self, 2, 1)), 1000);
  EXPECT_TRUE(table.stale_buckets(1500, 1000).empty());
  EXPECT_EQ(table.stale_buckets(2000, 1000), (std::vector<int>{0, 2}));
  table.touched(2, 1800);
  table.touched(200, 1800);  // not populated: nothing to refresh
  EXPECT_EQ(table.stale_buckets(2000, 1000), (std::vector<int>{0}));
  EXPECT_EQ(table.stale_buckets(3000, 1000), (std::vector<int>{0, 2}));
}

TEST(ContactPool, EqualContactsShareASlotUntilTheLastRelease) {
  ContactPool pool;
  std::mt19937_64 rng(11);
  const NodeId id = random_id(rng);
  auto a = pool.acquire(contact_of(id, 1));
  auto b = pool.acquire(contact_of(id, 1));
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool.size(), 1u);
  // The same id at another address is another contact.
  auto moved = pool.acquire(contact_of(id, 2));
  EXPECT_NE(moved, a);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.at(moved).address.port, 2);
  pool.release(a);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.at(b).address.port, 1);
  pool.release(b);
  EXPECT_EQ(pool.size(), 1u);
  // A shared handle is one more reference to the same slot.
  EXPECT_EQ(pool.share(moved), moved);
  pool.release(moved);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.at(moved).address.port, 2);
  // A freed slot is reused, and a reference taken earlier stays valid
  // through many acquisitions.
  const Contact& kept = pool.at(moved);
  std::vector<ContactPool::Handle> many;
  for (int i = 0; i < 5000; ++i) many.push_back(pool.acquire(contact_of(random_id(rng))));
  EXPECT_EQ(kept.address.port, 2);
  EXPECT_EQ(kept.id, id);
  EXPECT_EQ(pool.size(), 5001u);
  for (auto h : many) pool.release(h);
  pool.release(moved);
  EXPECT_EQ(pool.size(), 0u);
}

// Against a plain model, through growth and many releases: an equal
// contact always finds its slot again, a new one never takes a held slot,
// and what is held reads back unchanged. Ids repeat with other addresses,
// as a readdressed peer's do.
TEST(ContactPool, AcquireAndReleaseAgreeWithAModel) {
  ContactPool pool;
  std::mt19937_64 rng(13);
  std::vector<NodeId> ids;
  for (int i = 0; i < 400; ++i) ids.push_back(random_id(rng));
  std::map<std::pair<NodeId, uint16_t>, std::pair<ContactPool::Handle, int>> model;
  std::vector<ContactPool::Handle> held;  // one entry per reference
  for (int step = 0; step < 60000; ++step) {
    bool acquire = held.empty() || rng() % 100 < (step < 30000 ? 60 : 35);
    if (acquire) {
      const NodeId& id = ids[rng() % ids.size()];
      auto port = static_cast<uint16_t>(1 + rng() % 3);
      ContactPool::Handle h = pool.acquire(contact_of(id, port));
      auto [it, fresh] = model.try_emplace({id, port}, h, 0);
      if (fresh) {
        for (auto& [key, entry] : model)
          ASSERT_TRUE(key == it->first || entry.first != h) << "a held slot was given out again";
      } else {
        ASSERT_EQ(h, it->second.first) << "an equal contact did not find its slot";
      }
      ++it->second.second;
      held.push_back(h);
    } else {
      size_t at = rng() % held.size();
      ContactPool::Handle h = held[at];
      held[at] = held.back();
      held.pop_back();
      auto it = std::find_if(model.begin(), model.end(),
                             [&](const auto& e) { return e.second.first == h; });
      ASSERT_NE(it, model.end());
      const Contact& c = pool.at(h);
      ASSERT_EQ(c.id, it->first.first);
      ASSERT_EQ(c.address.port, it->first.second);
      pool.release(h);
      if (--it->second.second == 0) model.erase(it);
    }
    ASSERT_EQ(pool.size(), model.size());
  }
  for (ContactPool::Handle h : held) pool.release(h);
  EXPECT_EQ(pool.size(), 0u);
}

// Tables sharing a pool hold one copy of a contact between them, and give
// every reference back: when evicted, replaced, readdressed or destroyed.
TEST(RoutingTable, TablesSharingAPoolHoldEachContactOnceAndReleaseIt) {
  auto pool = std::make_shared<ContactPool>();
  std::mt19937_64 rng(12);
  const NodeId self_a = random_id(rng), self_b = random_id(rng);
  std::vector<Contact> contacts;
  for (int i = 0; i < 300; ++i) contacts.push_back(contact_of(random_id(rng)));
  {
    RoutingTable a(self_a, 4, 2, RoutingTable::kDefaultGoodForMs, pool);
    RoutingTable b(self_b, 4, 2, RoutingTable::kDefaultGoodForMs, pool);
    for (const Contact& c : contacts) {
      a.observe(c, 1);
      b.observe(c, 1);
    }
    // Everything either table holds (entries and replacements) is pooled
    // once: no more slots than the contacts there are.
    EXPECT_LE(pool->size(), contacts.size());
    EXPECT_GE(pool->size(), std::max(a.size(), b.size()));
    // The same answers as contacts stored by value would give.
    for (int t = 0; t < 20; ++t) {
      Key target = random_id(rng);
      EXPECT_EQ(ids_of(a.closest(target, 8)), ids_of(brute_closest(a.all(), target, 8)));
    }
    // A new address for a contact a table holds replaces it there.
    const Contact first = a.all().front();
    Contact readdressed = first;
    readdressed.address.port = 4242;
    a.observe(readdressed, 2);
    ASSERT_TRUE(a.find(first.id).has_value());
    EXPECT_EQ(a.find(first.id)->contact.address.port, 4242);
    EXPECT_EQ(a.find(first.id)->last_seen_ms, 2);
    for (const Contact& c : a.all()) a.evict(c.id);
    // Moving a table hands its references over; the moved-from one gives
    // none back twice.
    RoutingTable moved(std::move(b));
    EXPECT_GT(moved.size(), 0u);
    // A caller holding handles (a simulator) hands them over instead of
    // contacts to look up: nothing new is pooled, and the table reads back
    // what it was given.
    std::vector<ContactPool::Handle> held;
    for (const Contact& c : contacts) held.push_back(pool->acquire(c));
    const size_t pooled = pool->size();
    {
      RoutingTable handed(random_id(rng), 4, 2, RoutingTable::kDefaultGoodForMs, pool);
      for (size_t i = 0; i < contacts.size(); ++i) handed.observe(contacts[i], 1, held[i]);
      EXPECT_EQ(pool->size(), pooled);
      EXPECT_GT(handed.size(), 0u);
      for (const Contact& c : handed.all())
        EXPECT_NE(std::find(contacts.begin(), contacts.end(), c), contacts.end());
    }
    for (ContactPool::Handle h : held) pool->release(h);
  }
  EXPECT_EQ(pool->size(), 0u);
}

}  // namespace
}  // namespace chorus::dht
