#include "chorus/overlay/keyed_hash.h"

#include <gtest/gtest.h>

#include <set>

namespace chorus::overlay {
namespace {

// Keys a peer made to share their first bytes (the old hash) still spread.
TEST(KeyedHash, KeysSharingTheirFirstBytesSpreadOverBuckets) {
  const KeyedHash hash = KeyedHash::fresh();
  std::set<size_t> buckets;
  for (int i = 0; i < 256; ++i) {
    std::array<uint8_t, 32> key{};
    key[31] = static_cast<uint8_t>(i);
    buckets.insert(hash(key) % 64);
  }
  EXPECT_GT(buckets.size(), 48u);
}

TEST(KeyedHash, TheSecretDecidesTheHash) {
  std::array<uint8_t, 32> key{};
  key[0] = 7;
  Random a(5), b(5), c(6);
  const KeyedHash ha = KeyedHash::from(a), hb = KeyedHash::from(b), hc = KeyedHash::from(c);
  EXPECT_EQ(ha(key), hb(key));  // a seeded core replays
  EXPECT_NE(ha(key), hc(key));
  EXPECT_NE(KeyedHash::fresh()(key), KeyedHash::fresh()(key));
}

}  // namespace
}  // namespace chorus::overlay
