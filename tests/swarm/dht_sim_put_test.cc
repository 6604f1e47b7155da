// Puts that write before their lookup ends (spec/dht.md §7.2): once the
// lookup converges each replica gets its STORE as soon as it answered, and
// one whose write token the writer kept from an earlier reply gets the
// STORE in place of its query.
#include <gtest/gtest.h>

#include "chorus/swarm/dht_sim.h"
#include "dht_sim_world.h"

namespace chorus::swarm {
namespace {

using test::by_distance;
using test::bytes_of;
using test::kSecond;
using test::small_config;
using test::wipe;
using test::World;

// Node 0 knows nobody; every other node joins through node 0's address,
// one after the other.
void join_all(World& w, size_t n) {
  for (size_t i = 0; i < n; ++i) w.sim.add_node();
  for (SimNode i = 1; i < n; ++i) {
    auto r = w.run(i, [&](dht::DhtCore& c, int64_t now) {
      return c.bootstrap(w.sim.contact(0).address, now);
    });
    ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
  }
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
}

dht::DoneEvent put(World& w, SimNode writer, const dht::Key& key, uint64_t id) {
  return w.run(writer, [&](dht::DhtCore& c, int64_t now) {
    return c.put(key, dht::Value{id, bytes_of("v" + std::to_string(id)), 600}, now);
  });
}

bool holds(World& w, SimNode n, const dht::Key& key, uint64_t id) {
  for (const dht::Value& v : w.sim.core(n)->store().get(key, w.sim.now_us() / 1000).values)
    if (v.id == id) return true;
  return false;
}

// Once its lookup converges, a put writes to each replica as soon as it
// answers. A writer that wrote near a key before holds the replicas'
// tokens: its next put there asks FIND_NODE of the closest few only and
// sends every other replica its STORE in place of the query, about k + α
// RPCs. Without kept tokens, every replica is asked first: 2k RPCs.
TEST(DhtSimPut, APutWritesToReplicasWhoseTokensItHoldsInItsLookupsLastRound) {
  for (size_t kept : {size_t{0}, size_t{1024}}) {
    SCOPED_TRACE(kept);
    auto config = small_config(12);
    config.dht.peer_tokens = kept;
    World w(config);
    const size_t n = 60;
    join_all(w, n);
    const dht::Key key = dht::key_for("tokens");
    const std::vector<SimNode> order = by_distance(w.sim, key);
    const SimNode writer = order.back();  // not a replica itself
    const size_t k = config.dht.k;
    ASSERT_TRUE(put(w, writer, key, 1).result.ok());
    const auto before = w.sim.core(writer)->stats();
    auto r = put(w, writer, key, 2);
    ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
    EXPECT_EQ(r.result.value().acks, k);
    for (size_t i = 0; i < k; ++i) EXPECT_TRUE(holds(w, order[i], key, 2)) << "replica " << i;
    const auto& after = w.sim.core(writer)->stats();
    // Every STORE left before the lookup ended.
    EXPECT_GE(after.lookup_stores - before.lookup_stores, k);
    if (kept == 0) {
      EXPECT_GE(r.result.value().rpcs, 2 * k);
    } else {
      // Before the lookup converges it asks α at a time, more than α when
      // the closest is not the first to answer.
      EXPECT_LE(r.result.value().rpcs, k + 3 * config.dht.alpha);
    }
  }
}

// Replicas that restarted have new secrets: the writer's tokens are refused
// as stale, it asks those replicas FIND_NODE and writes with the fresh
// tokens, and the put still reaches every replica.
TEST(DhtSimPut, AStaleTokenCostsARoundTripNotTheWrite) {
  World w(small_config(13));
  const size_t n = 60;
  join_all(w, n);
  const dht::Key key = dht::key_for("stale");
  const std::vector<SimNode> order = by_distance(w.sim, key);
  const SimNode writer = order.back();
  const size_t k = small_config(13).dht.k;
  ASSERT_TRUE(put(w, writer, key, 1).result.ok());
  for (size_t i = 0; i < k; ++i) wipe(w, order[i]);
  const auto before = w.sim.core(writer)->stats();
  auto r = put(w, writer, key, 2);
  ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
  EXPECT_EQ(r.result.value().acks, k);
  for (size_t i = 0; i < k; ++i) EXPECT_TRUE(holds(w, order[i], key, 2)) << "replica " << i;
  const auto& after = w.sim.core(writer)->stats();
  EXPECT_GT(after.lookup_stores_stale - before.lookup_stores_stale, 0u);
  // The next put has the fresh tokens again.
  const auto again = w.sim.core(writer)->stats();
  ASSERT_TRUE(put(w, writer, key, 3).result.ok());
  EXPECT_EQ(w.sim.core(writer)->stats().lookup_stores_stale, again.lookup_stores_stale);
}

// A replica that crashed never answers the STORE sent in place of its
// query: the lookup counts it as unanswered, in the replica set but not
// written to, exactly as a silent FIND_NODE would have.
TEST(DhtSimPut, AReplicaSilentToAnEarlyStoreCountsAsUnanswered) {
  World w(small_config(14));
  const size_t n = 60;
  join_all(w, n);
  const dht::Key key = dht::key_for("silent");
  const std::vector<SimNode> order = by_distance(w.sim, key);
  const SimNode writer = order.back();
  const size_t k = small_config(14).dht.k;
  ASSERT_TRUE(put(w, writer, key, 1).result.ok());
  w.sim.crash(order[3]);
  w.sim.crash(order[7]);
  auto r = put(w, writer, key, 2);
  ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
  EXPECT_EQ(r.result.value().replicas, k);
  EXPECT_EQ(r.result.value().acks, k - 2);
  for (size_t i = 0; i < k; ++i)
    if (i != 3 && i != 7) {
      EXPECT_TRUE(holds(w, order[i], key, 2)) << "replica " << i;
    }
}

}  // namespace
}  // namespace chorus::swarm
