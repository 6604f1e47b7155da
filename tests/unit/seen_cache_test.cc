#include "chorus/overlay/seen_cache.h"

#include <gtest/gtest.h>

namespace chorus::overlay {
namespace {

PublicKey origin(uint8_t b) {
  PublicKey k{};
  k.fill(b);
  return k;
}

TEST(SeenCache, KeyIsOriginThenBigEndianId) {
  SeenKey k = make_seen_key(origin(0xab), 0x0102030405060708ULL);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(k[i], 0xab);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(k[32 + i], i + 1);
}

TEST(SeenCache, DuplicatesAreRefused) {
  SeenCache c(16, 1'000'000);
  auto k = make_seen_key(origin(1), 5);
  EXPECT_TRUE(c.insert(k, 0));
  EXPECT_FALSE(c.insert(k, 10));
  EXPECT_TRUE(c.contains(k));
  // Same id from another origin, or another id from the same origin, is new.
  EXPECT_TRUE(c.insert(make_seen_key(origin(2), 5), 20));
  EXPECT_TRUE(c.insert(make_seen_key(origin(1), 6), 30));
  EXPECT_EQ(c.size(), 3u);
}

TEST(SeenCache, BoundedByCountDroppingTheOldest) {
  SeenCache c(100, 1'000'000'000);
  for (uint64_t i = 0; i < 250; ++i) {
    EXPECT_TRUE(c.insert(make_seen_key(origin(1), i), static_cast<int64_t>(i)));
    EXPECT_LE(c.size(), 100u);
  }
  EXPECT_EQ(c.size(), 100u);
  EXPECT_FALSE(c.contains(make_seen_key(origin(1), 149)));
  EXPECT_TRUE(c.contains(make_seen_key(origin(1), 150)));
  EXPECT_TRUE(c.contains(make_seen_key(origin(1), 249)));
  // A forgotten key is accepted again.
  EXPECT_TRUE(c.insert(make_seen_key(origin(1), 0), 300));
}

TEST(SeenCache, EntriesExpireByAge) {
  SeenCache c(100, 1000);
  auto a = make_seen_key(origin(1), 1), b = make_seen_key(origin(1), 2);
  ASSERT_TRUE(c.insert(a, 0));
  ASSERT_TRUE(c.insert(b, 600));
  c.expire(1000);  // a is exactly max age: kept
  EXPECT_TRUE(c.contains(a));
  c.expire(1001);
  EXPECT_FALSE(c.contains(a));
  EXPECT_TRUE(c.contains(b));
  // insert() expires too, so an old key is new again.
  EXPECT_TRUE(c.insert(a, 1700));
  EXPECT_FALSE(c.contains(b));
  EXPECT_EQ(c.size(), 1u);
}

TEST(SeenCache, ZeroEntriesMeansOne) {
  SeenCache c(0, 1000);
  EXPECT_TRUE(c.insert(make_seen_key(origin(1), 1), 0));
  EXPECT_TRUE(c.insert(make_seen_key(origin(1), 2), 0));
  EXPECT_EQ(c.size(), 1u);
}

}  // namespace
}  // namespace chorus::overlay
