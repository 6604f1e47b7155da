#include "chorus/dht/types.h"

#include <gtest/gtest.h>

namespace chorus::dht {
namespace {

TEST(DhtTypes, CommonPrefixBitsCountsLeadingEqualBits) {
  NodeId a{}, b{};
  EXPECT_EQ(common_prefix_bits(a, b), 256);
  b[0] = 0x80;
  EXPECT_EQ(common_prefix_bits(a, b), 0);
  b[0] = 0x01;
  EXPECT_EQ(common_prefix_bits(a, b), 7);
  b[0] = 0;
  b[3] = 0x10;
  EXPECT_EQ(common_prefix_bits(a, b), 27);
}

TEST(DhtTypes, CloserUsesXorDistance) {
  Key t{};
  NodeId a{}, b{};
  a[31] = 1;  // distance 1
  b[0] = 1;   // distance 2^248
  EXPECT_TRUE(closer(t, a, b));
  EXPECT_FALSE(closer(t, b, a));
  EXPECT_FALSE(closer(t, a, a));
}

TEST(DhtTypes, KeyForIsBlake2bOfTheName) {
  EXPECT_EQ(key_for("room/42"), overlay::blake2b_256(as_bytes("room/42")));
  EXPECT_NE(key_for("room/42"), key_for("room/43"));
}

}  // namespace
}  // namespace chorus::dht
