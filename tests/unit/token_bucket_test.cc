#include "chorus/overlay/token_bucket.h"

#include <gtest/gtest.h>

namespace chorus::overlay {
namespace {

TEST(TokenBucket, StartsFullAndEmptiesAfterTheBurst) {
  TokenBucket b(10, 3, 0);
  EXPECT_TRUE(b.try_take(0));
  EXPECT_TRUE(b.try_take(0));
  EXPECT_TRUE(b.try_take(0));
  EXPECT_FALSE(b.try_take(0));
}

TEST(TokenBucket, RefillsAtTheRate) {
  TokenBucket b(10, 1, 0);  // one token per 100 ms
  EXPECT_TRUE(b.try_take(0));
  EXPECT_FALSE(b.try_take(99'999));
  EXPECT_TRUE(b.try_take(100'000));
  EXPECT_FALSE(b.try_take(100'000));
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurst) {
  TokenBucket b(1000, 2, 0);
  b.refill(60'000'000);  // a minute idle
  EXPECT_DOUBLE_EQ(b.tokens(), 2);
  EXPECT_EQ(b.take_up_to(5, 60'000'000), 2u);
  EXPECT_EQ(b.take_up_to(5, 60'000'000), 0u);
}

TEST(TokenBucket, AClockGoingBackAddsNothing) {
  TokenBucket b(10, 1, 1'000'000);
  EXPECT_TRUE(b.try_take(1'000'000));
  EXPECT_FALSE(b.try_take(0));
  // The bucket keeps its own time: the 100 ms count from 1 s, not from 0.
  EXPECT_FALSE(b.try_take(1'050'000));
  EXPECT_TRUE(b.try_take(1'100'000));
}

TEST(TokenBucket, TakeUpToTakesWholeTokensOnly) {
  TokenBucket b(10, 4, 0);
  EXPECT_EQ(b.take_up_to(3, 0), 3u);
  EXPECT_EQ(b.take_up_to(3, 50'000), 1u);  // 1.5 left: one whole token
  EXPECT_DOUBLE_EQ(b.tokens(), 0.5);
}

TEST(TokenBucket, HasTokenAndTakeSplitACheckFromTheTaking) {
  TokenBucket b(1, 1, 0);
  b.refill(0);
  ASSERT_TRUE(b.has_token());
  b.take();
  EXPECT_FALSE(b.has_token());
}

}  // namespace
}  // namespace chorus::overlay
