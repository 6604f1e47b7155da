// Puts that write before their lookup ends (spec/dht.md §7.2): once the
// lookup converges each replica gets its STORE as soon as it answered, and
// one whose write token the writer kept from an earlier reply gets the
// STORE in place of its query.
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
using test::small_config;
using test::wipe;
using test::World;

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

// A 60-node network in which the node farthest from the key (no replica)
// has written there once: it holds the replicas' write tokens.
struct WrittenOnce {
  WrittenOnce(DhtSimConfig config, const std::string& name)
      : w(config), key(dht::key_for(name)), k(config.dht.k) {
    w.join_through_first(60);
    order = by_distance(w.sim, key);
    writer = order.back();
    EXPECT_TRUE(put(w, writer, key, 1).result.ok());
  }
  // The writer's next put, value `id`: it must succeed.
  dht::OpResult put_again(uint64_t id) {
    auto r = put(w, writer, key, id);
    EXPECT_TRUE(r.result.ok()) << r.result.error().to_string();
    return r.result.ok() ? r.result.value() : dht::OpResult{};
  }
  // Every one of the k closest except `skip` holds value `id`.
  void replicas_hold(uint64_t id, const std::vector<size_t>& skip = {}) {
    for (size_t i = 0; i < k; ++i)
      if (std::find(skip.begin(), skip.end(), i) == skip.end()) {
        EXPECT_TRUE(holds(w, order[i], key, id)) << "replica " << i;
      }
  }
  const dht::DhtStats& stats() { return w.sim.core(writer)->stats(); }

  World w;
  dht::Key key;
  size_t k;
  std::vector<SimNode> order;
  SimNode writer = 0;
};

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
    WrittenOnce x(config, "tokens");
    const auto before = x.stats();
    const dht::OpResult r = x.put_again(2);
    EXPECT_EQ(r.acks, x.k);
    x.replicas_hold(2);
    // Every STORE left before the lookup ended.
    EXPECT_GE(x.stats().lookup_stores - before.lookup_stores, x.k);
    if (kept == 0) {
      EXPECT_GE(r.rpcs, 2 * x.k);
    } else {
      // Before the lookup converges it asks α at a time, more than α when
      // the closest is not the first to answer.
      EXPECT_LE(r.rpcs, x.k + 3 * config.dht.alpha);
    }
  }
}

// Replicas that restarted have new secrets: the writer's tokens are refused
// as stale, it asks those replicas FIND_NODE and writes with the fresh
// tokens, and the put still reaches every replica.
TEST(DhtSimPut, AStaleTokenCostsARoundTripNotTheWrite) {
  WrittenOnce x(small_config(13), "stale");
  for (size_t i = 0; i < x.k; ++i) wipe(x.w, x.order[i]);
  const auto before = x.stats();
  EXPECT_EQ(x.put_again(2).acks, x.k);
  x.replicas_hold(2);
  EXPECT_GT(x.stats().lookup_stores_stale - before.lookup_stores_stale, 0u);
  // The next put has the fresh tokens again.
  const auto again = x.stats();
  x.put_again(3);
  EXPECT_EQ(x.stats().lookup_stores_stale, again.lookup_stores_stale);
}

// A replica that crashed never answers the STORE sent in place of its
// query: the lookup counts it as unanswered, in the replica set but not
// written to, exactly as a silent FIND_NODE would have.
TEST(DhtSimPut, AReplicaSilentToAnEarlyStoreCountsAsUnanswered) {
  WrittenOnce x(small_config(14), "silent");
  x.w.sim.crash(x.order[3]);
  x.w.sim.crash(x.order[7]);
  const dht::OpResult r = x.put_again(2);
  EXPECT_EQ(r.replicas, x.k);
  EXPECT_EQ(r.acks, x.k - 2);
  x.replicas_hold(2, {3, 7});
}

}  // namespace
}  // namespace chorus::swarm
