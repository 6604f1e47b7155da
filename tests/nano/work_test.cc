#include "chorus/nano/work.h"

#include <gtest/gtest.h>

#include "chorus/nano/keys.h"

namespace chorus::nano {
namespace {

TEST(Work, LiveGenesisWorkValue) {
  ASSERT_TRUE(init_crypto());
  const auto root =
      *parse_hex_fixed<32>("E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA", "r");
  const uint64_t v = work_value(root, 0x62f05417dd3fb691ULL);
  EXPECT_GE(v, kThresholdEpoch1);
  EXPECT_FALSE(work_valid(root, 0x62f05417dd3fb690ULL, kThresholdEpoch1));
}

TEST(Work, MultiplierConversions) {
  EXPECT_DOUBLE_EQ(multiplier_from_difficulty(kThresholdEpoch1, kThresholdEpoch1), 1.0);
  EXPECT_DOUBLE_EQ(multiplier_from_difficulty(kThresholdEpoch2Send, kThresholdEpoch1), 8.0);
  EXPECT_DOUBLE_EQ(multiplier_from_difficulty(kThresholdEpoch2Receive, kThresholdEpoch1), 1.0 / 8);
  EXPECT_DOUBLE_EQ(multiplier_from_difficulty(kThresholdEpoch2Send, kThresholdEpoch2Receive), 64.0);
  EXPECT_EQ(*difficulty_from_multiplier(8.0, kThresholdEpoch1), kThresholdEpoch2Send);
  EXPECT_EQ(*difficulty_from_multiplier(1.0 / 8, kThresholdEpoch1), kThresholdEpoch2Receive);
  EXPECT_FALSE(difficulty_from_multiplier(0, kThresholdEpoch1).ok());
  EXPECT_FALSE(difficulty_from_multiplier(-1, kThresholdEpoch1).ok());
  EXPECT_FALSE(difficulty_from_multiplier(1e30, kThresholdEpoch1).ok());
}

TEST(Work, GeneratedWorkIsValidOnAnyThreadCount) {
  ASSERT_TRUE(init_crypto());
  Hash32 root{};
  for (unsigned threads : {1u, 2u, 4u}) {
    root[0] = static_cast<uint8_t>(threads);
    WorkOptions o;
    o.threads = threads;
    o.seed = threads;
    auto w = generate_work(root, kThresholdTest, o);
    ASSERT_TRUE(w.ok()) << w.error().message();
    EXPECT_TRUE(work_valid(root, *w, kThresholdTest));
  }
}

TEST(Work, SingleThreadIsReproducibleFromTheSeed) {
  ASSERT_TRUE(init_crypto());
  Hash32 root{};
  WorkOptions o;
  o.threads = 1;
  o.seed = 99;
  EXPECT_EQ(*generate_work(root, kThresholdTest, o), *generate_work(root, kThresholdTest, o));
}

TEST(Work, CancelAndTryBoundStopTheSearch) {
  ASSERT_TRUE(init_crypto());
  Hash32 root{};
  std::atomic<bool> cancel{true};
  WorkOptions o;
  o.threads = 2;
  o.cancel = &cancel;
  auto c = generate_work(root, ~0ULL, o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kCancelled);
  WorkOptions bounded;
  bounded.threads = 2;
  bounded.max_tries = 10000;
  auto l = generate_work(root, ~0ULL, bounded);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code(), ErrorCode::kLimit);
}

}  // namespace
}  // namespace chorus::nano
