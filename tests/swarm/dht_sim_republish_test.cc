// Republishing on the deterministic simulator: values come back to the
// replicas that lost them with the time they have left, never past their
// TTL nor over a newer value, spread out so commands keep room.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "chorus/swarm/dht_sim.h"
#include "dht_sim_world.h"

namespace chorus::swarm {
namespace {

using test::by_distance;
using test::bytes_of;
using test::kMs;
using test::kSecond;
using test::small_config;
using test::wipe;
using test::World;

TEST(DhtSim, RepublishNeverKeepsAValuePastItsTtl) {
  DhtSimConfig c = small_config(17);
  c.dht.republish_interval_ms = 20'000;
  World w(c);
  w.add_warm(60);
  dht::Key key = dht::key_for("status");
  ASSERT_TRUE(w.run(3, [&](dht::DhtCore& core, int64_t now) {
                 return core.put_signed(key, bytes_of("online"), 1, 60, now);
               }).result.ok());
  w.sim.run_until(w.sim.now_us() + 40 * kSecond);
  EXPECT_TRUE(
      w.run(40, [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); }).result.ok());
  // Republished twice by now (20 s, 40 s), yet gone when its 60 s are up.
  w.sim.run_until(w.sim.now_us() + 35 * kSecond);
  auto late = w.run(40, [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); });
  ASSERT_FALSE(late.result.ok()) << "a signed value with a 60 s TTL lived 75 s";
  EXPECT_EQ(late.result.error().code(), ErrorCode::kNotFound);
}

TEST(DhtSim, RepublishRestoresTheWritersValueWithTheTimeItHasLeft) {
  DhtSimConfig c = small_config(18);
  c.dht.republish_interval_ms = 20'000;
  World w(c);
  w.add_warm(80);
  dht::Key key = dht::key_for("kept");
  auto order = by_distance(w.sim, key);
  ASSERT_TRUE(w.run(order[60], [&](dht::DhtCore& core, int64_t now) {
                 return core.put(key, dht::Value{1, bytes_of("mine"), 3600}, now);
               }).result.ok());
  // Every replica loses its store; only the writer still knows the value.
  for (int i = 0; i < 20; ++i) wipe(w, order[i]);
  w.sim.run_until(w.sim.now_us() + 45 * kSecond);
  auto got = w.run(order[40], [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); });
  ASSERT_TRUE(got.result.ok()) << "the writer did not republish its value";
  EXPECT_EQ(got.result.value().values.at(0).data, bytes_of("mine"));
  EXPECT_LE(got.result.value().values.at(0).ttl_s, 3600u - 40u) << "republish reset the TTL";
}

TEST(DhtSim, RepublishNeverBringsBackAReplacedValue) {
  DhtSimConfig c = small_config(20);
  c.dht.republish_interval_ms = 20'000;
  World w(c);
  w.add_warm(80);
  dht::Key key = dht::key_for("replaced");
  auto order = by_distance(w.sim, key);
  ASSERT_TRUE(w.run(order[60], [&](dht::DhtCore& core, int64_t now) {
                 return core.put(key, dht::Value{1, bytes_of("old"), 3600}, now);
               }).result.ok());
  ASSERT_TRUE(w.run(order[70], [&](dht::DhtCore& core, int64_t now) {
                 return core.put(key, dht::Value{1, bytes_of("new"), 3600}, now);
               }).result.ok());
  // A few replicas lose the replacement; the first writer still has "old".
  for (int i = 0; i < 5; ++i) wipe(w, order[i]);
  w.sim.run_until(w.sim.now_us() + 65 * kSecond);
  for (int i = 0; i < 20; ++i) {
    auto s =
        w.sim.core(order[i])->store().get(key, w.sim.local_us(order[i], w.sim.now_us()) / 1000);
    for (auto& v : s.values) EXPECT_EQ(v.data, bytes_of("new")) << "replica " << i;
  }
  auto got = w.run(order[41], [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); });
  ASSERT_TRUE(got.result.ok());
  EXPECT_EQ(got.result.value().values.at(0).data, bytes_of("new"));
}

TEST(DhtSim, RepublishIsSpreadOutAndLeavesRoomForCommands) {
  DhtSimConfig c = small_config(19);
  c.dht.republish_interval_ms = 30'000;
  c.dht.max_operations = 64;
  World w(c);
  w.add_warm(60);
  const int keys = 200;
  for (int base = 0; base < keys; base += 10) {
    std::vector<dht::Token> tokens;
    for (int k = base; k < base + 10; ++k)
      tokens.push_back(w.issue(0, [&](dht::DhtCore& core, int64_t now) {
        return core.put(dht::key_for("many/" + std::to_string(k)),
                        dht::Value{1, bytes_of("x"), 3600}, now);
      }));
    for (dht::Token t : tokens) w.wait(0, t);
  }
  size_t most = 0;
  int64_t end = w.sim.now_us() + 90 * kSecond;
  while (w.sim.now_us() < end) {
    w.sim.run_until(w.sim.now_us() + 5 * kMs);
    most = std::max(most, w.sim.core(0)->operations());
  }
  EXPECT_LE(most, c.dht.max_operations / 2) << "republish crowded out the node's commands";
  EXPECT_GE(w.sim.core(0)->stats().republished, static_cast<uint64_t>(keys));
}

}  // namespace
}  // namespace chorus::swarm
