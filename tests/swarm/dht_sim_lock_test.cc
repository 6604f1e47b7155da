// DHT locks and holds on the deterministic simulator: a lock excludes
// others and tokens grow; a hold renews until released or cut off; a
// restarted node refuses grants during its grace; a minority partition
// cannot take a held lock.
#include <gtest/gtest.h>

#include <vector>

#include "chorus/swarm/dht_sim.h"
#include "dht_sim_world.h"

namespace chorus::swarm {
namespace {

using test::by_distance;
using test::kMs;
using test::kSecond;
using test::small_config;
using test::World;

TEST(DhtSim, LockExcludesOthersAndTokensGrow) {
  World w(small_config(3));
  w.add_warm(100);
  dht::Key key = dht::key_for("lock/a");
  auto a = w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 1, now); });
  ASSERT_TRUE(a.result.ok()) << a.result.error().to_string();
  uint64_t t1 = a.result.value().number;
  EXPECT_GT(t1, 0u);
  auto b = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 2, now); });
  ASSERT_FALSE(b.result.ok());
  EXPECT_EQ(b.result.error().code(), ErrorCode::kRefused);
  // The holder renews: same token.
  auto renew =
      w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.renew(key, 5000, 1, t1, now); });
  ASSERT_TRUE(renew.result.ok()) << renew.result.error().to_string();
  EXPECT_EQ(renew.result.value().number, t1);
  auto rel = w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.release(key, 1, t1, now); });
  ASSERT_TRUE(rel.result.ok());
  auto b2 = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 2, now); });
  ASSERT_TRUE(b2.result.ok()) << b2.result.error().to_string();
  EXPECT_GT(b2.result.value().number, t1);
  // Without release, the lease ends by itself and the next token is larger still.
  w.sim.run_until(w.sim.now_us() + 6 * kSecond);
  auto c3 = w.run(3, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 3, now); });
  ASSERT_TRUE(c3.result.ok()) << c3.result.error().to_string();
  EXPECT_GT(c3.result.value().number, b2.result.value().number);
}

// A hold keeps its lock for many lease periods (renewed in the
// background), so nobody else gets it, until it is released; then the next
// owner gets a larger fencing token.
TEST(DhtSim, AHoldOutlivesManyLeasesUntilReleased) {
  World w(small_config(41));
  w.add_warm(100);
  dht::Key key = dht::key_for("hold/channel");
  const int64_t lease_ms = 4000;
  dht::Token h =
      w.issue(1, [&](dht::DhtCore& c, int64_t now) { return c.hold(key, lease_ms, 1, now); });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  ASSERT_EQ(w.held(1, h).size(), 1u);
  const dht::HoldEvent acquired = w.held(1, h)[0];
  ASSERT_EQ(acquired.kind, dht::HoldEvent::Kind::kAcquired);
  EXPECT_GT(acquired.fencing_token, 0u);
  EXPECT_GT(acquired.remaining_ms, lease_ms / 2);
  EXPECT_LE(acquired.remaining_ms, lease_ms);
  // Ten lease periods later, another owner is still refused.
  for (int round = 0; round < 10; ++round) {
    w.sim.run_until(w.sim.now_us() + lease_ms * kMs);
    auto other =
        w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
    ASSERT_FALSE(other.result.ok()) << "round " << round;
    EXPECT_EQ(other.result.error().code(), ErrorCode::kRefused);
  }
  EXPECT_EQ(w.held(1, h).size(), 1u) << "the hold reported more than its acquisition";
  EXPECT_EQ(w.sim.core(1)->holds(), 1u);
  w.sim.command(1, [&](dht::DhtCore& c, int64_t now) { c.release_hold(h, now); });
  EXPECT_EQ(w.sim.core(1)->holds(), 0u);
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  auto next = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
  EXPECT_GT(next.result.value().number, acquired.fencing_token);
  EXPECT_GT(next.result.value().remaining_ms, 0);
  EXPECT_EQ(w.held(1, h).size(), 1u) << "an event after release_hold";
}

// A holder cut off from every replica cannot renew: its hold is reported
// lost no later than the trusted lease ends, and after that another node can
// take the lock.
TEST(DhtSim, AHoldCutOffFromTheReplicasIsLostBeforeItsLeaseEnds) {
  World w(small_config(43));
  w.add_warm(60);
  dht::Key key = dht::key_for("hold/partitioned");
  const int64_t lease_ms = 6000;
  dht::Token h =
      w.issue(5, [&](dht::DhtCore& c, int64_t now) { return c.hold(key, lease_ms, 1, now); });
  w.sim.run_until(w.sim.now_us() + 3 * kSecond);
  ASSERT_EQ(w.held(5, h).size(), 1u);
  ASSERT_EQ(w.held(5, h)[0].kind, dht::HoldEvent::Kind::kAcquired);
  const int64_t cut_at = w.sim.now_us();
  w.sim.partition({{5}});
  w.sim.run_until(cut_at + lease_ms * kMs);
  ASSERT_EQ(w.held(5, h).size(), 2u) << "the hold was not reported lost within one lease";
  const dht::HoldEvent& lost = w.held(5, h)[1];
  EXPECT_EQ(lost.kind, dht::HoldEvent::Kind::kLost);
  ASSERT_TRUE(lost.reason.has_value());
  EXPECT_EQ(w.sim.core(5)->holds(), 0u);
  // Once the replicas' leases have run out, someone else gets the lock.
  w.sim.run_until(w.sim.now_us() + lease_ms * kMs);
  auto next = w.run(7, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
  EXPECT_GT(next.result.value().number, w.held(5, h)[0].fencing_token);
}

// Released while its lock was still being granted: nothing is reported, and
// the lock, once granted, is let go at once instead of running out.
TEST(DhtSim, AHoldReleasedBeforeItsLockIsGrantedLeavesTheLockFree) {
  World w(small_config(53));
  w.add_warm(60);
  dht::Key key = dht::key_for("hold/early");
  dht::Token h = 0, release = 1;
  w.sim.command(4, [&](dht::DhtCore& c, int64_t now) {
    h = c.hold(key, 60'000, 1, now);
    release = c.release_hold(h, now);
  });
  EXPECT_EQ(release, 0u);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_TRUE(w.held(4, h).empty());
  EXPECT_EQ(w.sim.core(4)->holds(), 0u);
  auto next = w.run(9, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 60'000, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
}

TEST(DhtSim, AHoldOnAKeySomeoneHoldsFailsAndHoldsAreBounded) {
  DhtSimConfig c = small_config(47);
  c.dht.max_holds = 2;
  World w(c);
  w.add_warm(40);
  dht::Key key = dht::key_for("hold/taken");
  auto a =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 30'000, 1, now); });
  ASSERT_TRUE(a.result.ok());
  dht::Token h =
      w.issue(2, [&](dht::DhtCore& core, int64_t now) { return core.hold(key, 30'000, 2, now); });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  ASSERT_EQ(w.held(2, h).size(), 1u);
  EXPECT_EQ(w.held(2, h)[0].kind, dht::HoldEvent::Kind::kLost);
  ASSERT_TRUE(w.held(2, h)[0].reason.has_value());
  EXPECT_EQ(w.held(2, h)[0].reason->code(), ErrorCode::kRefused);
  EXPECT_EQ(w.sim.core(2)->holds(), 0u);
  // The third hold at once is over max_holds.
  dht::Token h1 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/1"), 30'000, 3, now);
  });
  dht::Token h2 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/2"), 30'000, 3, now);
  });
  dht::Token h3 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/3"), 30'000, 3, now);
  });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.held(3, h1).at(0).kind, dht::HoldEvent::Kind::kAcquired);
  EXPECT_EQ(w.held(3, h2).at(0).kind, dht::HoldEvent::Kind::kAcquired);
  ASSERT_EQ(w.held(3, h3).size(), 1u);
  EXPECT_EQ(w.held(3, h3)[0].reason->code(), ErrorCode::kLimit);
}

TEST(DhtSim, RestartedNodesRefuseLocksDuringTheirGrace) {
  DhtSimConfig c = small_config(4);
  c.dht.lock_grace_after_start_ms = 30'000;
  World w(c);
  w.add_warm(50);
  dht::Key key = dht::key_for("lock/grace");
  auto early =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 1000, 1, now); });
  EXPECT_FALSE(early.result.ok());
  w.sim.run_until(31 * kSecond);
  auto later =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 1000, 1, now); });
  EXPECT_TRUE(later.result.ok());
}

TEST(DhtSim, AMinorityPartitionCannotTakeAHeldLockAndNoOneHoldsTwice) {
  World w(small_config(5));
  const int n = 200;
  w.add_warm(n);
  dht::Key key = dht::key_for("lock/partition");
  // The replicas of the key: the 20 closest ids.
  const std::vector<SimNode> order = by_distance(w.sim, key);
  // Side A holds 8 of the 20 replicas and a client; side B the rest.
  std::vector<SimNode> side_a(order.begin(), order.begin() + 8);
  SimNode client_a = order[100], client_b = order[150];
  side_a.push_back(client_a);
  w.sim.partition({side_a});
  auto a =
      w.run(client_a, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 1, now); });
  EXPECT_FALSE(a.result.ok()) << "a minority of the replicas granted a lock";
  auto b =
      w.run(client_b, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 2, now); });
  ASSERT_TRUE(b.result.ok()) << b.result.error().to_string();
  w.sim.heal();
  auto a2 =
      w.run(client_a, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 1, now); });
  EXPECT_FALSE(a2.result.ok()) << "granted while B's lease runs";
}

}  // namespace
}  // namespace chorus::swarm
