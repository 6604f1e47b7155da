// Elections and online weight (spec/nano.md, "Elections", "Online weight"),
// with nano-node's election, vote and online-representative tests ported:
// quorum just below and at the threshold with online_weight_minimum, a fork
// flipping to the heavier block, vote replay codes, cooldowns, and a
// representative going offline mid-election.
#include "chorus/nano/election.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "chorus/nano/online_reps.h"
#include "chorus/nano/vote_rules.h"
#include "vote_test_util.h"

namespace chorus::nano {
namespace {

using namespace vote_test;  // NOLINT: hashes and representatives

const PublicKey kGenesis = rep(1).pub;
const PublicKey kRep2 = rep(2).pub;
const PublicKey kRep3 = rep(3).pub;
const BlockHash kSend1 = hash(1);
const BlockHash kSend2 = hash(2);
const QualifiedRoot kRoot{};
constexpr int64_t kNow = 1'000'000;

// The quorum tests of nano-node set online_weight_minimum to the genesis
// amount (all 128 bits), so delta is 67 % of it whatever is online.
const Amount kDelta = quorum_of(kAmountMax);

struct Weights {
  std::map<PublicKey, Amount> w;
  WeightOf fn() const {
    return [this](const PublicKey& k) {
      auto it = w.find(k);
      return it == w.end() ? Amount{0} : it->second;
    };
  }
};

TEST(VoteRules, TimestampsPackTimeAndDurationAndFinalIsAllOnes) {
  const uint64_t packed = pack_vote_timestamp(0x123f, 0xf);
  EXPECT_EQ(packed, 0x123fu);
  EXPECT_EQ(vote_time(packed), 0x1230u);
  EXPECT_TRUE(is_final_vote(pack_vote_timestamp(~uint64_t{0}, kVoteDurationMax)));
  EXPECT_EQ(vote_time(kFinalVoteTimestamp), kFinalVoteTimestamp);
  EXPECT_FALSE(is_final_vote(0xfffffffffffffff0ull));
}

TEST(VoteRules, QuorumIsSixtySevenPercentWithoutOverflow) {
  EXPECT_EQ(quorum_of(100), Amount{67});
  EXPECT_EQ(quorum_of(199), Amount{133});  // floor(199 * 0.67) = 133
  // floor((2^128 - 1) * 67 / 100), computed without 128-bit overflow.
  const Amount expected = (kAmountMax / 100) * 67 + (kAmountMax % 100) * 67 / 100;
  EXPECT_EQ(quorum_of(kAmountMax), expected);
  EXPECT_GT(quorum_of(kAmountMax), kAmountMax / 2);
}

TEST(VoteRules, QualifiedRootIsRootThenPrevious) {
  Block open;  // state open: previous zero, root the account
  open.account = PublicKey{7};
  QualifiedRoot q = qualified_root(open);
  EXPECT_EQ(q[0], 7);
  EXPECT_TRUE(std::all_of(q.begin() + 32, q.end(), [](uint8_t b) { return b == 0; }));
  Block send = open;
  send.previous = hash(5);
  q = qualified_root(send);
  EXPECT_EQ(q[31], 5) << "root: previous";
  EXPECT_EQ(q[63], 5) << "then previous again";
  Block fork = send;
  fork.balance = 1;
  EXPECT_EQ(qualified_root(fork), qualified_root(send)) << "forks share it";
}

// nano-node: election.quorum_minimum_confirm_success / _fail.
TEST(Election, ConfirmsWhenFinalVotesReachDeltaAndNotOneRawBelow) {
  for (const Amount weight : {kDelta, kDelta - 1}) {
    Election e(kRoot, kSend1, kNow);
    Weights w{{{kGenesis, weight}}};
    EXPECT_EQ(e.vote(kGenesis, weight, kFinalVoteTimestamp, kSend1, false, kNow, kAmountMax),
              VoteCode::kVote);
    const ElectionUpdate u = e.decide(kDelta, w.fn());
    EXPECT_EQ(u.confirmed, weight == kDelta);
    EXPECT_EQ(e.confirmed(), weight == kDelta);
    EXPECT_FALSE(u.winner_changed);
  }
}

// nano-node: election.quorum_minimum_flip_success / _fail.
TEST(Election, AForkFlipsToTheBlockFinalVotesChoseOnlyAtQuorum) {
  for (const Amount weight : {kDelta, kDelta - 1}) {
    Election e(kRoot, kSend1, kNow);
    ASSERT_TRUE(e.add_block(kSend2));
    Weights w{{{kGenesis, weight}}};
    EXPECT_EQ(e.vote(kGenesis, weight, kFinalVoteTimestamp, kSend2, false, kNow, kAmountMax),
              VoteCode::kVote);
    const ElectionUpdate u = e.decide(kDelta, w.fn());
    if (weight == kDelta) {
      EXPECT_TRUE(u.winner_changed);
      EXPECT_TRUE(u.confirmed);
      EXPECT_EQ(e.winner(), kSend2);
    } else {
      EXPECT_FALSE(u.winner_changed) << "below quorum the first block stays";
      EXPECT_FALSE(u.confirmed);
      EXPECT_EQ(e.winner(), kSend1);
    }
  }
}

TEST(Election, NormalVotesSwitchTheWinnerButOnlyFinalVotesConfirm) {
  Election e(kRoot, kSend1, kNow);
  ASSERT_TRUE(e.add_block(kSend2));
  Weights w{{{kGenesis, kDelta}}};
  EXPECT_EQ(e.vote(kGenesis, kDelta, pack_vote_timestamp(5000, 9), kSend2, false, kNow, kAmountMax),
            VoteCode::kVote);
  ElectionUpdate u = e.decide(kDelta, w.fn());
  EXPECT_TRUE(u.winner_changed);
  EXPECT_FALSE(u.confirmed);
  // The final vote replaces the normal one at once (no cooldown for it).
  EXPECT_EQ(e.vote(kGenesis, kDelta, kFinalVoteTimestamp, kSend2, false, kNow + 10, kAmountMax),
            VoteCode::kVote);
  u = e.decide(kDelta, w.fn());
  EXPECT_FALSE(u.winner_changed);
  EXPECT_TRUE(u.confirmed);
  // Nothing moves a confirmed election: no more forks, no decisions.
  EXPECT_FALSE(e.add_block(hash(9)));
  EXPECT_FALSE(e.decide(kDelta, w.fn()).confirmed) << "confirmed once";
}

TEST(Election, TheWinnerMustLeadTheRunnerUpByDelta) {
  // 100 of weight online: delta 67. 70 final for send1, 20 for send2:
  // the lead is 50, short of 67.
  Election e(kRoot, kSend1, kNow);
  ASSERT_TRUE(e.add_block(kSend2));
  Weights w{{{kGenesis, 70}, {kRep2, 20}, {kRep3, 10}}};
  const Amount delta = quorum_of(100);
  e.vote(kGenesis, 70, kFinalVoteTimestamp, kSend1, false, kNow, 100);
  e.vote(kRep2, 20, kFinalVoteTimestamp, kSend2, false, kNow, 100);
  EXPECT_FALSE(e.decide(delta, w.fn()).confirmed);
  // rep2's weight moves away (its delegators redelegated): the lead is now 70.
  w.w[kRep2] = 0;
  EXPECT_TRUE(e.decide(delta, w.fn()).confirmed) << "tallies use the weights of now";
  const auto t = e.tally(w.fn());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].hash, kSend1);
  EXPECT_EQ(t[0].tally, Amount{70});
  EXPECT_EQ(t[0].final_tally, Amount{70});
}

// nano-node: vote_processor.codes, votes.add_existing, votes.add_old,
// active_elections.vote_replays.
TEST(Election, ReplayCodesFollowTheTimestamps) {
  Election e(kRoot, kSend1, kNow);
  ASSERT_TRUE(e.add_block(kSend2));
  const uint64_t t1 = pack_vote_timestamp(0x1000, 0);
  const uint64_t t2 = pack_vote_timestamp(0x2000, 0);
  int64_t now = kNow;
  EXPECT_EQ(e.vote(kRep2, 10, t1, kSend1, false, now, 100), VoteCode::kVote);
  EXPECT_EQ(e.vote(kRep2, 10, t1, kSend1, false, now += 20'000, 100), VoteCode::kReplay)
      << "the same vote again";
  // The same time for a smaller hash is a replay; for a greater one, a switch.
  EXPECT_EQ(e.vote(kRep2, 10, t1, kSend2, false, now += 20'000, 100), VoteCode::kVote);
  EXPECT_EQ(e.vote(kRep2, 10, t1, kSend1, false, now += 20'000, 100), VoteCode::kReplay);
  // A newer time moves it back; the older time then counts for nothing.
  EXPECT_EQ(e.vote(kRep2, 10, t2, kSend1, false, now += 20'000, 100), VoteCode::kVote);
  EXPECT_EQ(e.vote(kRep2, 10, t1, kSend2, false, now += 20'000, 100), VoteCode::kReplay);
  EXPECT_EQ(e.last_votes().at(kRep2).hash, kSend1);
  // The duration bits do not make a vote newer.
  EXPECT_EQ(e.vote(kRep2, 10, pack_vote_timestamp(0x2000, 0xf), kSend1, false, now += 20'000, 100),
            VoteCode::kReplay);
  // A final vote is newer than any; after it, everything is a replay.
  EXPECT_EQ(e.vote(kRep2, 10, kFinalVoteTimestamp, kSend2, false, now += 20'000, 100),
            VoteCode::kVote);
  EXPECT_EQ(e.vote(kRep2, 10, kFinalVoteTimestamp, kSend1, false, now += 20'000, 100),
            VoteCode::kReplay);
  EXPECT_EQ(e.vote(kRep2, 10, t1, hash(7), false, now, 100), VoteCode::kIndeterminate)
      << "a hash the election does not hold";
}

// nano-node: votes.add_one, votes.add_cooldown.
TEST(Election, ARepresentativeWaitsOutItsCooldownByWeight) {
  // trended 1000: above 5 % (50) waits 1 s, above 1 % (10) 5 s, else 15 s.
  const Amount trended = 1000;
  for (const auto& [weight, wait] : std::vector<std::pair<Amount, int64_t>>{
           {Amount{60}, 1'000}, {Amount{20}, 5'000}, {Amount{5}, 15'000}}) {
    Election e(kRoot, kSend1, kNow);
    ASSERT_TRUE(e.add_block(kSend2));
    EXPECT_EQ(e.vote(kRep2, weight, pack_vote_timestamp(0x100, 0), kSend1, false, kNow, trended),
              VoteCode::kVote);
    EXPECT_EQ(e.vote(kRep2, weight, pack_vote_timestamp(0x200, 0), kSend2, false, kNow + wait - 1,
                     trended),
              VoteCode::kIgnored);
    EXPECT_EQ(e.vote(kRep2, weight, pack_vote_timestamp(0x200, 0), kSend2, true, kNow + 1, trended),
              VoteCode::kVote)
        << "from the vote cache: no cooldown";
    EXPECT_EQ(e.vote(kRep2, weight, pack_vote_timestamp(0x300, 0), kSend1, false, kNow + 1 + wait,
                     trended),
              VoteCode::kVote);
  }
}

TEST(Election, OutsideDevSmallRepresentativesAreIndeterminate) {
  ElectionConfig c;
  c.require_principal_weight = true;
  Election e(kRoot, kSend1, kNow, c);
  // trended 100000: 0.1 % is 100.
  EXPECT_EQ(e.vote(kRep2, 100, 0x10, kSend1, false, kNow, 100'000), VoteCode::kIndeterminate);
  EXPECT_EQ(e.vote(kRep2, 101, 0x10, kSend1, false, kNow, 100'000), VoteCode::kVote);
}

TEST(Election, HoldsAtMostMaxBlocksForks) {
  ElectionConfig c;
  c.max_blocks = 3;
  Election e(kRoot, kSend1, kNow, c);
  EXPECT_TRUE(e.add_block(hash(2)));
  EXPECT_TRUE(e.add_block(hash(3)));
  EXPECT_TRUE(e.add_block(hash(3))) << "already held";
  EXPECT_FALSE(e.add_block(hash(4)));
  EXPECT_EQ(e.blocks().size(), 3u);
}

// nano-node: node.online_reps.
TEST(OnlineReps, TrendedStartsAtTheMinimumAndFollowsTheMedianOfSamples) {
  OnlineRepsConfig c;
  c.online_weight_minimum = 1000;
  OnlineReps reps(c);
  EXPECT_EQ(reps.trended(), Amount{1000});
  EXPECT_EQ(reps.online(kNow), Amount{0});
  EXPECT_EQ(reps.delta(kNow), quorum_of(1000));
  reps.observe(kGenesis, 5000, kNow);
  reps.observe(kRep2, 0, kNow);  // no weight: not counted
  EXPECT_EQ(reps.online(kNow), Amount{5000});
  EXPECT_EQ(reps.list(kNow).size(), 1u);
  EXPECT_EQ(reps.delta(kNow), quorum_of(5000)) << "online above the minimum";
  reps.sample(kNow);
  EXPECT_EQ(reps.trended(), Amount{5000}) << "upper median of {1000, 5000}";
  reps.restore_samples({});
  EXPECT_EQ(reps.trended(), Amount{1000});
}

TEST(OnlineReps, KeepsAtMostMaxSamples) {
  OnlineRepsConfig c;
  c.online_weight_minimum = 0;
  c.max_samples = 3;
  OnlineReps reps(c);
  for (int i = 1; i <= 5; ++i) {
    reps.observe(rep(static_cast<uint8_t>(i)).pub, 10, kNow + i);
    reps.sample(kNow + i);
  }
  EXPECT_EQ(reps.samples(), (std::vector<Amount>{30, 40, 50}));
}

// No nano-node test has this: a representative goes offline in the middle
// of an election. Its weight leaves `online` after the weight period, but
// the trended weight keeps the quorum, so the rest cannot confirm alone.
TEST(OnlineReps, ARepresentativeGoingOfflineMidElectionDoesNotLowerTheQuorumAtOnce) {
  OnlineRepsConfig c;
  c.online_weight_minimum = 10;
  OnlineReps reps(c);
  int64_t now = kNow;
  for (int i = 0; i < 5; ++i, now += c.weight_period_ms) {
    reps.observe(kGenesis, 60, now);
    reps.observe(kRep2, 40, now);
    reps.sample(now);
  }
  EXPECT_EQ(reps.trended(), Amount{100});
  Election e(kRoot, kSend1, now);
  Weights w{{{kGenesis, 60}, {kRep2, 40}}};
  // rep2 goes offline; genesis keeps voting, final, for send1.
  now += c.weight_period_ms;
  reps.observe(kGenesis, 60, now);
  EXPECT_EQ(reps.online(now), Amount{60}) << "rep2 no longer online";
  EXPECT_EQ(e.vote(kGenesis, 60, kFinalVoteTimestamp, kSend1, false, now, reps.trended()),
            VoteCode::kVote);
  EXPECT_FALSE(e.decide(reps.delta(now), w.fn()).confirmed) << "60 < 67 % of the trended 100";
  // rep2 comes back and votes: confirmed.
  reps.observe(kRep2, 40, now + 1);
  EXPECT_EQ(e.vote(kRep2, 40, kFinalVoteTimestamp, kSend1, false, now + 1, reps.trended()),
            VoteCode::kVote);
  EXPECT_TRUE(e.decide(reps.delta(now + 1), w.fn()).confirmed);
}

}  // namespace
}  // namespace chorus::nano
