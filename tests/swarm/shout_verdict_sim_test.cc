// Validate before forward and content-addressed SHOUTs on a few hundred
// simulated nodes (virtual time, one seed): an invalid SHOUT reaches only
// the origin's neighbours, and one payload published by two origins is
// delivered exactly once per node, flooding or on the broadcast tree.
#include <gtest/gtest.h>

#include <deque>
#include <iostream>
#include <map>
#include <set>

#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

using overlay::Event;
using overlay::NodeCore;
using overlay::OverlayConfig;
using overlay::ShoutDecision;
using overlay::ShoutEvent;

constexpr overlay::AppId kApp = 9;
constexpr int64_t kSecond = 1'000'000;
constexpr size_t kNodes = 300;

// Every node validates kApp SHOUTs: a payload starting with 'X' is invalid
// (penalize the sender), anything else is forwarded, at once, from the
// simulator's event hook.
struct World {
  Simulator sim;
  std::vector<std::map<Bytes, int>> got;  // per node: payload -> deliveries

  World(uint64_t seed, bool validate) : sim(SimConfig{.seed = seed}) {
    sim.on_start = [validate](NodeId, NodeCore& core) { core.register_app(kApp, validate); };
    sim.on_event = [this](NodeId n, Event& e) {
      auto* s = std::get_if<ShoutEvent>(&e);
      if (!s) return;
      ++got[n][s->payload];
      if (s->verdict == 0) return;
      const bool invalid = !s->payload.empty() && s->payload[0] == 'X';
      ASSERT_TRUE(sim.core(n)
                      ->shout_verdict(s->verdict,
                                      invalid ? ShoutDecision::kPenalize : ShoutDecision::kForward,
                                      sim.now_us())
                      .ok());
    };
  }

  void build(OverlayConfig base) {
    base.rotate_interval_ms = 0;
    for (size_t i = 0; i < kNodes; ++i) {
      OverlayConfig c = base;
      for (int k = 0; k < 3 && i > 0; ++k) c.bootstrap.push_back(sim.address(sim.rng()() % i));
      got.emplace_back();
      sim.add_node(c);
    }
  }

  bool connected() const { return sim.connected(); }

  void run_until_connected() {
    for (int s = 0; s < 60 && !connected(); ++s) sim.run_until(sim.now_us() + kSecond);
    ASSERT_TRUE(connected());
  }

  void shout(NodeId from, const Bytes& payload) {
    ASSERT_TRUE(sim.command(from, [&](NodeCore& core, int64_t now) {
      ASSERT_TRUE(core.shout(kApp, payload, now).ok());
    }));
  }

  // Nodes that delivered `payload`, and how many delivered it more than once.
  std::pair<std::set<NodeId>, size_t> reached(const Bytes& payload) const {
    std::set<NodeId> nodes;
    size_t twice = 0;
    for (NodeId i = 0; i < got.size(); ++i) {
      auto it = got[i].find(payload);
      if (it == got[i].end()) continue;
      nodes.insert(i);
      if (it->second > 1) ++twice;
    }
    return {nodes, twice};
  }

  overlay::NodeStats total() {
    overlay::NodeStats t;
    for (NodeId i = 0; i < sim.size(); ++i) t += sim.core(i)->stats();
    return t;
  }
};

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

TEST(ShoutVerdictSim, InvalidShoutReachesOnlyTheOriginsNeighbours) {
  World w(21, /*validate=*/true);
  w.build(OverlayConfig{});
  w.run_until_connected();
  const NodeId origin = 5;
  std::set<NodeId> neighbours;
  for (const auto& p : w.sim.core(origin)->peers())
    for (NodeId i = 0; i < w.sim.size(); ++i)
      if (w.sim.key(i) == p.key) neighbours.insert(i);
  ASSERT_GE(neighbours.size(), 3u);

  const Bytes invalid = bytes_of("Xforged block");
  w.shout(origin, invalid);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  auto [bad_reached, bad_twice] = w.reached(invalid);
  EXPECT_EQ(bad_reached, neighbours);  // exactly the neighbours, nobody further
  EXPECT_EQ(bad_twice, 0u);
  const overlay::NodeStats t = w.total();
  EXPECT_EQ(t.shout_verdicts_penalized, neighbours.size());

  // A valid one still reaches everyone (a penalty of 10 closes no link).
  const Bytes valid = bytes_of("valid block");
  w.shout(origin, valid);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  auto [ok_reached, ok_twice] = w.reached(valid);
  EXPECT_EQ(ok_reached.size(), kNodes - 1);
  EXPECT_EQ(ok_twice, 0u);
  std::cout << "[ figures ] " << kNodes << " nodes: invalid SHOUT delivered at "
            << bad_reached.size() << " nodes (origin's neighbours), valid at " << ok_reached.size()
            << "\n";
  EXPECT_FALSE(w.sim.stats().event_cap_hit);
}

void two_origins_same_payload(bool tree) {
  World w(tree ? 32 : 31, /*validate=*/true);
  OverlayConfig c;
  c.content_shout_apps = {kApp};
  if (tree) c.tree_shout_apps = {kApp};
  w.build(c);
  w.run_until_connected();
  if (tree) {
    // Warm up: the first broadcasts prune the links down to a tree.
    for (int i = 0; i < 5; ++i) {
      w.shout(static_cast<NodeId>(i * 7), bytes_of("warm-up " + std::to_string(i)));
      w.sim.run_until(w.sim.now_us() + 2 * kSecond);
    }
  }
  const overlay::NodeStats before = w.total();
  const Bytes vote = bytes_of("vote: block 42 by rep 7");
  const NodeId a = 3, b = 250;
  w.shout(a, vote);
  w.shout(b, vote);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  auto [nodes, twice] = w.reached(vote);
  EXPECT_EQ(nodes.size(), kNodes - 2);  // everyone but the two publishers ...
  EXPECT_FALSE(nodes.count(a) || nodes.count(b));
  EXPECT_EQ(twice, 0u);  // ... exactly once
  const overlay::NodeStats after = w.total();
  const uint64_t copies = after.shouts_sent - before.shouts_sent;
  const uint64_t bytes = after.shout_bytes_sent - before.shout_bytes_sent;
  EXPECT_EQ(bytes, copies * (8 + vote.size()));  // no origin, no signature
  EXPECT_EQ(after.bad_signatures, 0u);
  std::cout << "[ figures ] " << (tree ? "tree" : "flood") << ", " << kNodes
            << " nodes, one payload from two origins: " << nodes.size() << " deliveries, " << copies
            << " copies of " << 8 + vote.size() << " bytes, "
            << after.ihaves_sent - before.ihaves_sent << " IHAVEs\n";
  EXPECT_FALSE(w.sim.stats().event_cap_hit);
}

TEST(ShoutVerdictSim, ContentAddressedShoutFromTwoOriginsDeliversOncePerNode) {
  two_origins_same_payload(/*tree=*/false);
}

TEST(ShoutVerdictSim, ContentAddressedShoutOnTheTreeDeliversOncePerNode) {
  two_origins_same_payload(/*tree=*/true);
}

}  // namespace
}  // namespace chorus::swarm
