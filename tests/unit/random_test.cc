#include "chorus/overlay/random.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>
#include <vector>

namespace chorus::overlay {
namespace {

std::vector<uint8_t> bytes_of(Random& r, size_t n) {
  std::vector<uint8_t> out(n);
  r.fill(out.data(), n);
  return out;
}

TEST(Random, ASeedReplaysItsStreamAndAnotherSeedDoesNot) {
  Random a(7), b(7), c(8);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_EQ(bytes_of(a, 333), bytes_of(b, 333));
  Random a2(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(a2.next_u64());
  int same = 0;
  for (int i = 0; i < 20; ++i) same += seen.count(c.next_u64()) ? 1 : 0;
  EXPECT_EQ(same, 0);
}

// The handshake vectors (spec/overlay.md) define a seeded stream as this
// keystream; a reimplementation must be able to rebuild it.
TEST(Random, ASeededStreamIsChaCha20UnderTheBlake2bOfTheSeed) {
  const uint64_t seed = 1001;
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(seed >> (8 * i));
  std::array<uint8_t, 32> key{};
  crypto_generichash(key.data(), key.size(), le, sizeof le, nullptr, 0);
  std::vector<uint8_t> expected(200);
  std::array<uint8_t, crypto_stream_chacha20_NONCEBYTES> nonce{};
  crypto_stream_chacha20(expected.data(), expected.size(), nonce.data(), key.data());
  Random r(seed);
  // Across block boundaries, in odd-sized pieces.
  std::vector<uint8_t> got = bytes_of(r, 5);
  for (size_t piece : {59, 64, 1, 71}) {
    auto more = bytes_of(r, piece);
    got.insert(got.end(), more.begin(), more.end());
  }
  EXPECT_EQ(got, expected);
}

TEST(Random, BelowStaysInRangeAndReachesBothEnds) {
  Random r(3);
  bool low = false, high = false;
  for (int i = 0; i < 2000; ++i) {
    uint64_t v = r.below(10);
    ASSERT_LT(v, 10u);
    low |= v == 0;
    high |= v == 9;
    double u = r.unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  EXPECT_TRUE(low && high);
}

TEST(Random, UnseededStreamsDiffer) {
  Random a, b;
  EXPECT_NE(a.next_u64(), b.next_u64());
  EXPECT_NE(bytes_of(a, 32), bytes_of(b, 32));
}

// A core holds one per node; a simulator holds a million cores.
TEST(Random, StaysSmall) {
  EXPECT_LE(sizeof(Random), 128u);
}

}  // namespace
}  // namespace chorus::overlay
