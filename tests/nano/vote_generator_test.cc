// VoteGenerator: what a node's representatives sign, when, and what they
// refuse (spec/nano.md, "Local voting").
#include "chorus/nano/vote_generator.h"

#include <gtest/gtest.h>

#include "chorus/nano/active_elections.h"
#include "chorus/nano/keys.h"
#include "vote_test_util.h"

namespace chorus::nano {
namespace {

constexpr int64_t kNow = 1'000'000;
constexpr uint64_t kWall = 1'760'000'000'000;  // ms since the epoch

using namespace vote_test;  // NOLINT: hashes, roots, representatives

TEST(VoteGenerator, BatchesFor100MsThenEachRepresentativeSignsOneVote) {
  VoteGenerator gen({rep(1).prv, rep(2).prv});
  ASSERT_TRUE(gen.add(root(1), hash(1), false, kNow));
  ASSERT_TRUE(gen.add(root(2), hash(2), false, kNow + 10));
  EXPECT_TRUE(gen.take_due(kNow + 99, kWall).empty()) << "still batching";
  const auto votes = gen.take_due(kNow + 100, kWall);
  ASSERT_EQ(votes.size(), 2u);
  for (const Vote& v : votes) {
    EXPECT_TRUE(signature_ok(v));
    EXPECT_EQ(v.hashes, (std::vector<BlockHash>{hash(1), hash(2)}));
    EXPECT_FALSE(is_final_vote(v.timestamp));
    EXPECT_EQ(vote_time(v.timestamp), kWall & kVoteTimestampMask);
    EXPECT_EQ(v.timestamp & 0xf, 9u) << "duration bits";
  }
  EXPECT_EQ(votes[0].account, public_key(rep(1).prv));
  EXPECT_EQ(votes[1].account, public_key(rep(2).prv));
  EXPECT_EQ(gen.queued(), 0u);
}

TEST(VoteGenerator, A255HashBatchIsDueAtOnceAndFinalVotesGoApart) {
  VoteGenerator gen({rep(1).prv});
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(gen.add(root(i), hash(i), false, kNow));
  ASSERT_TRUE(gen.add(root(1000), hash(1000), true, kNow));
  const auto votes = gen.take_due(kNow, kWall);
  ASSERT_EQ(votes.size(), 2u) << "255 then 45 normal; the final batch waits its delay";
  EXPECT_EQ(votes[0].hashes.size(), 255u);
  EXPECT_EQ(votes[1].hashes.size(), 45u);
  const auto finals = gen.take_due(kNow + 100, kWall);
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_TRUE(is_final_vote(finals[0].timestamp));
  EXPECT_EQ(finals[0].hashes, std::vector<BlockHash>{hash(1000)});
  EXPECT_TRUE(signature_ok(finals[0]));
}

TEST(VoteGenerator, SpacingKeepsARootOnOneBlockForASecond) {
  VoteGenerator gen({rep(1).prv});
  ASSERT_TRUE(gen.add(root(1), hash(1), false, kNow));
  EXPECT_FALSE(gen.add(root(1), hash(2), false, kNow + 999)) << "a fork within the spacing";
  EXPECT_TRUE(gen.add(root(1), hash(1), false, kNow + 999)) << "the same block: fine";
  EXPECT_TRUE(gen.add(root(1), hash(2), false, kNow + 999 + 1000));
  const auto votes = gen.take_due(kNow + 5000, kWall);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].hashes, (std::vector<BlockHash>{hash(1), hash(2)}));
}

TEST(VoteGenerator, QueueIsBoundedAndANodeWithoutRepresentativesVotesNot) {
  VoteGeneratorConfig c;
  c.max_queued = 3;
  VoteGenerator gen({rep(1).prv}, c);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gen.add(root(i), hash(i), false, kNow));
  EXPECT_FALSE(gen.add(root(9), hash(9), false, kNow));
  VoteGenerator none({});
  EXPECT_FALSE(none.add(root(1), hash(1), false, kNow));
  EXPECT_TRUE(none.take_due(kNow + 1000, kWall).empty());
}

TEST(VoteGenerator, ItsFinalVotesConfirmAnElectionElsewhere) {
  // The generator's votes are what ActiveElections on another node accepts.
  const PrivateKey k = rep(1).prv;
  VoteGenerator gen({k});
  ActiveElectionsConfig c;
  c.online.online_weight_minimum = 100;
  ActiveElections active(c);
  const PublicKey rep = public_key(k);
  WeightOf weight_of = [rep](const PublicKey& p) { return p == rep ? Amount{100} : Amount{0}; };
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, weight_of));
  ASSERT_TRUE(gen.add(root(1), hash(1), true, kNow));
  const auto votes = gen.take_due(kNow + 100, kWall);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(active.vote(votes[0], weight_of, kNow + 101), VoteCode::kVote);
  EXPECT_TRUE(active.recently_confirmed(hash(1)));
}

}  // namespace
}  // namespace chorus::nano
