// ActiveElections: signed votes routed to elections or the vote cache, the
// events a node acts on, and every bound (spec/nano.md, "Elections").
// Ports nano-node's vote_processor.codes, active_elections.vote_replays and
// the vote cache's rules.
#include "chorus/nano/active_elections.h"

#include <gtest/gtest.h>

#include <map>

#include "chorus/nano/network.h"
#include "vote_test_util.h"

namespace chorus::nano {
namespace {

using namespace vote_test;  // NOLINT: hashes, roots, signed votes

constexpr int64_t kNow = 5'000'000;

const Rep kA = rep(1);  // 70 of 100
const Rep kB = rep(2);  // 30 of 100

// 100 of weight in all; online_weight_minimum 100, so delta is 67.
struct Fixture {
  Fixture() {
    ActiveElectionsConfig c;
    c.online.online_weight_minimum = 100;
    config = c;
    weights[kA.pub] = 70;
    weights[kB.pub] = 30;
  }
  ActiveElections make() const { return ActiveElections(config); }
  WeightOf weight_of() const {
    return [this](const PublicKey& k) {
      auto it = weights.find(k);
      return it == weights.end() ? Amount{0} : it->second;
    };
  }
  template <typename T>
  static std::vector<T> of(const std::vector<ElectionEvent>& events) {
    std::vector<T> out;
    for (const auto& e : events)
      if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }
  ActiveElectionsConfig config;
  std::map<PublicKey, Amount> weights;
};

TEST(ActiveElections, CodesForABadSignatureNoElectionAVoteAndItsReplay) {
  Fixture f;
  ActiveElections active = f.make();
  Vote v = signed_vote(kB, pack_vote_timestamp(0x1000, 0), {hash(1)});
  Vote forged = v;
  forged.signature[5] ^= 1;
  EXPECT_EQ(active.vote(forged, f.weight_of(), kNow), VoteCode::kInvalid);
  EXPECT_EQ(active.vote(v, f.weight_of(), kNow), VoteCode::kIndeterminate) << "no election";
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  // The cached vote was counted when the election started; the same vote
  // again is a replay, and a bad signature still says invalid.
  EXPECT_EQ(active.vote(v, f.weight_of(), kNow + 20'000), VoteCode::kReplay);
  EXPECT_EQ(active.vote(forged, f.weight_of(), kNow + 20'000), VoteCode::kInvalid);
  Vote newer = signed_vote(kB, pack_vote_timestamp(0x2000, 0), {hash(1)});
  EXPECT_EQ(active.vote(newer, f.weight_of(), kNow + 20'000), VoteCode::kVote);
}

// nano-node: active_elections.vote_replays.
TEST(ActiveElections, AFinalQuorumConfirmsAndLaterVotesForItAreReplays) {
  Fixture f;
  ActiveElections active = f.make();
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  auto started = Fixture::of<ElectionStarted>(active.take_events());
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].hash, hash(1));
  Vote final_a = signed_vote(kA, kFinalVoteTimestamp, {hash(1)});
  EXPECT_EQ(active.vote(final_a, f.weight_of(), kNow + 50), VoteCode::kVote);
  auto confirmed = Fixture::of<ElectionConfirmed>(active.take_events());
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ(confirmed[0].winner, hash(1));
  EXPECT_EQ(confirmed[0].final_tally, Amount{70});
  EXPECT_EQ(confirmed[0].duration_ms, 50);
  EXPECT_EQ(active.size(), 0u) << "a confirmed election is done";
  EXPECT_TRUE(active.recently_confirmed(hash(1)));
  EXPECT_EQ(active.vote(final_a, f.weight_of(), kNow + 60), VoteCode::kReplay);
  Vote low = signed_vote(kB, pack_vote_timestamp(0x9000, 0), {hash(1)});
  EXPECT_EQ(active.vote(low, f.weight_of(), kNow + 60), VoteCode::kReplay);
  EXPECT_FALSE(active.start(root(1), hash(1), kNow + 70, f.weight_of()))
      << "a recently confirmed root gets no new election";
}

TEST(ActiveElections, AForkWinsWithTheHeavierVotesAndTheNodeIsToldToSwitch) {
  Fixture f;
  ActiveElections active = f.make();
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  EXPECT_FALSE(active.start(root(1), hash(2), kNow, f.weight_of())) << "the fork joins it";
  ASSERT_NE(active.find(root(1)), nullptr);
  EXPECT_EQ(active.find(root(1))->blocks().size(), 2u);
  EXPECT_EQ(active.find_by_hash(hash(2)), active.find(root(1)));
  active.take_events();
  EXPECT_EQ(active.vote(signed_vote(kB, kFinalVoteTimestamp, {hash(1)}), f.weight_of(), kNow),
            VoteCode::kVote);
  EXPECT_EQ(active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(2)}), f.weight_of(), kNow),
            VoteCode::kVote);
  const auto events = active.take_events();
  auto changed = Fixture::of<WinnerChanged>(events);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].winner, hash(2));
  EXPECT_EQ(changed[0].loser, hash(1));
  // 70 against 30: a lead of 40 is short of 67, so no confirmation yet.
  EXPECT_TRUE(Fixture::of<ElectionConfirmed>(events).empty());
  // B changes its mind (a newer, final vote cannot follow a final one: B's
  // weight moves to A instead, as a redelegation would).
  f.weights[kA.pub] = 100;
  f.weights[kB.pub] = 0;
  EXPECT_EQ(active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(2)}), f.weight_of(), kNow + 1),
            VoteCode::kReplay);
  ASSERT_TRUE(active.start(root(2), hash(3), kNow, f.weight_of()));
  EXPECT_EQ(active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(3)}), f.weight_of(), kNow + 2),
            VoteCode::kVote);
  auto confirmed = Fixture::of<ElectionConfirmed>(active.take_events());
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ(confirmed[0].winner, hash(3));
}

TEST(ActiveElections, AVoteForSeveralHashesReportsReplayFirstThenVote) {
  Fixture f;
  ActiveElections active = f.make();
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  ASSERT_TRUE(active.start(root(2), hash(2), kNow, f.weight_of()));
  const uint64_t t = pack_vote_timestamp(0x1000, 0);
  EXPECT_EQ(active.vote(signed_vote(kB, t, {hash(1)}), f.weight_of(), kNow), VoteCode::kVote);
  // hash(1) a replay, hash(2) new, hash(9) unknown: replay wins.
  EXPECT_EQ(
      active.vote(signed_vote(kB, t, {hash(1), hash(2), hash(9)}), f.weight_of(), kNow + 20'000),
      VoteCode::kReplay);
  EXPECT_EQ(active.find(root(2))->last_votes().count(kB.pub), 1u) << "hash(2) still counted";
  EXPECT_EQ(active.vote(signed_vote(kA, t, {hash(9), hash(1)}), f.weight_of(), kNow + 20'000),
            VoteCode::kVote);
}

TEST(ActiveElections, ElectionsExpireAfterTheirTimeToLiveUnconfirmed) {
  Fixture f;
  f.config.election_ttl_ms = 1000;
  ActiveElections active = f.make();
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  active.take_events();
  active.tick(kNow + 999);
  EXPECT_EQ(active.size(), 1u);
  active.tick(kNow + 1000);
  EXPECT_EQ(active.size(), 0u);
  auto stopped = Fixture::of<ElectionStopped>(active.take_events());
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].blocks, std::vector<BlockHash>{hash(1)});
  EXPECT_EQ(
      active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(1)}), f.weight_of(), kNow + 1001),
      VoteCode::kIndeterminate);
  EXPECT_TRUE(active.start(root(1), hash(1), kNow + 1002, f.weight_of()))
      << "an expired root may be elected again";
}

TEST(ActiveElections, AnElectionErasedForACementedBlockIsGoneWithoutAnEvent) {
  Fixture f;
  ActiveElections active = f.make();
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  ASSERT_TRUE(active.start(root(2), hash(2), kNow, f.weight_of()));
  active.take_events();
  EXPECT_TRUE(active.erase(root(1)));
  EXPECT_FALSE(active.erase(root(1)));
  EXPECT_EQ(active.size(), 1u);
  EXPECT_EQ(active.find_by_hash(hash(1)), nullptr);
  ASSERT_EQ(active.list().size(), 1u);
  EXPECT_EQ(active.list()[0]->root(), root(2));
  EXPECT_TRUE(active.take_events().empty());
  // Its votes now wait in the cache like any vote without an election.
  EXPECT_EQ(active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(1)}), f.weight_of(), kNow),
            VoteCode::kIndeterminate);
  EXPECT_EQ(active.cached(hash(1)).final_tally, 70);
}

TEST(ActiveElections, EveryCollectionIsBounded) {
  Fixture f;
  f.config.max_elections = 2;
  f.config.max_cached_hashes = 3;
  f.config.max_voters_per_hash = 2;
  f.config.max_recently_confirmed = 1;
  ActiveElections active = f.make();
  EXPECT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  EXPECT_TRUE(active.start(root(2), hash(2), kNow, f.weight_of()));
  EXPECT_FALSE(active.start(root(3), hash(3), kNow, f.weight_of())) << "max_elections";
  // The cache keeps the 3 newest hashes.
  for (uint8_t h = 10; h < 15; ++h)
    active.vote(signed_vote(kB, pack_vote_timestamp(0x1000, 0), {hash(h)}), f.weight_of(), kNow);
  EXPECT_EQ(active.cached(hash(10)).voters, 0u);
  EXPECT_EQ(active.cached(hash(11)).voters, 0u);
  EXPECT_EQ(active.cached(hash(14)).voters, 1u);
  // Two voters a hash: a heavier third replaces the lightest.
  const Rep c = rep(3);
  f.weights[c.pub] = 50;
  active.vote(signed_vote(kA, pack_vote_timestamp(0x1000, 0), {hash(14)}), f.weight_of(), kNow);
  active.vote(signed_vote(c, pack_vote_timestamp(0x1000, 0), {hash(14)}), f.weight_of(), kNow);
  EXPECT_EQ(active.cached(hash(14)).voters, 2u);
  EXPECT_EQ(active.cached(hash(14)).tally, Amount{120}) << "A 70 + C 50; B's 30 dropped";
  // Only the last confirmed root is remembered.
  active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(1)}), f.weight_of(), kNow);
  active.vote(signed_vote(kA, kFinalVoteTimestamp, {hash(2)}), f.weight_of(), kNow);
  EXPECT_FALSE(active.recently_confirmed(hash(1)));
  EXPECT_TRUE(active.recently_confirmed(hash(2)));
}

TEST(ActiveElections, CachedVotesAgeOut) {
  Fixture f;
  f.config.cache_age_ms = 1000;
  ActiveElections active = f.make();
  active.vote(signed_vote(kB, pack_vote_timestamp(0x1000, 0), {hash(5)}), f.weight_of(), kNow);
  active.tick(kNow + 999);
  EXPECT_EQ(active.cached(hash(5)).voters, 1u);
  active.tick(kNow + 1000);
  EXPECT_EQ(active.cached(hash(5)).voters, 0u);
}

TEST(ActiveElections, OnlyCountedVotesMarkARepresentativeOnline) {
  Fixture f;
  ActiveElections active = f.make();
  active.vote(signed_vote(kA, pack_vote_timestamp(0x1000, 0), {hash(7)}), f.weight_of(), kNow);
  EXPECT_EQ(active.online().online(kNow), Amount{0}) << "indeterminate: not online";
  ASSERT_TRUE(active.start(root(1), hash(1), kNow, f.weight_of()));
  active.vote(signed_vote(kB, pack_vote_timestamp(0x1000, 0), {hash(1)}), f.weight_of(), kNow);
  EXPECT_EQ(active.online().online(kNow), Amount{30});
  // The online weight is sampled every weight period by tick().
  active.tick(kNow);
  active.tick(kNow + f.config.online.weight_period_ms);
  EXPECT_EQ(active.online().samples().size(), 1u);
}

}  // namespace
}  // namespace chorus::nano
