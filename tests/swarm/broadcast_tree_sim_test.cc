// The epidemic broadcast tree in the simulator: after a few warm-up SHOUTs
// the tree carries about one payload copy per node, and under churn every
// node that stays up still gets every SHOUT (lost tree links are repaired
// from the lazy announcements).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

using overlay::NodeCore;
using overlay::OverlayConfig;

constexpr overlay::AppId kApp = 9;
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMs = 1000;

struct TreeWorld {
  Simulator sim;
  std::vector<std::set<uint32_t>> got;  // per node: tags of SHOUTs delivered

  TreeWorld(uint64_t seed, size_t n, bool tree) : sim(SimConfig{.seed = seed}) {
    sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
    sim.on_event = [this](NodeId node, overlay::Event& e) {
      auto* s = std::get_if<overlay::ShoutEvent>(&e);
      if (!s || s->payload.size() < 4) return;
      got[node].insert(uint32_t{s->payload[0]} << 24 | uint32_t{s->payload[1]} << 16 |
                       uint32_t{s->payload[2]} << 8 | s->payload[3]);
    };
    OverlayConfig base;
    base.rotate_interval_ms = 0;
    if (tree) base.tree_shout_apps = {kApp};
    for (size_t i = 0; i < n; ++i) {
      OverlayConfig c = base;
      for (int k = 0; k < 3 && i > 0; ++k) c.bootstrap.push_back(sim.address(sim.rng()() % i));
      got.emplace_back();
      sim.add_node(c);
    }
    sim.run_until(10 * kSecond);  // connects and settles
  }

  void shout(NodeId from, uint32_t tag, size_t payload_bytes = 256) {
    Bytes p(payload_bytes, 0x5a);
    for (int i = 0; i < 4; ++i)
      p[static_cast<size_t>(i)] = static_cast<uint8_t>(tag >> (24 - 8 * i));
    sim.command(from,
                [&](NodeCore& core, int64_t now) { ASSERT_TRUE(core.shout(kApp, p, now).ok()); });
  }

  overlay::NodeStats total() {
    overlay::NodeStats t = sim.retired_stats();
    for (NodeId i = 0; i < sim.size(); ++i)
      if (sim.core(i)) t += sim.core(i)->stats();
    return t;
  }

  // Warm-up SHOUTs (tags from 1000) from random nodes, a second apart.
  void warm_up(int count) {
    for (int k = 0; k < count; ++k) {
      shout(static_cast<NodeId>(sim.rng()() % sim.size()), 1000 + static_cast<uint32_t>(k));
      sim.run_until(sim.now_us() + kSecond);
    }
    sim.run_until(sim.now_us() + 2 * kSecond);
  }
};

TEST(BroadcastTreeSim, SteadyStateCostsAboutOnePayloadPerNodeAndFloodCostsADegree) {
  constexpr size_t n = 300;
  uint64_t frames[2] = {0, 0};
  for (int tree = 0; tree < 2; ++tree) {
    TreeWorld w(11, n, tree == 1);
    w.warm_up(5);
    const overlay::NodeStats before = w.total();
    for (uint32_t k = 0; k < 5; ++k) {
      w.shout(static_cast<NodeId>(w.sim.rng()() % n), k);
      w.sim.run_until(w.sim.now_us() + kSecond);
    }
    w.sim.run_until(w.sim.now_us() + 2 * kSecond);
    frames[tree] = (w.total().shouts_sent - before.shouts_sent) / 5;
    for (uint32_t k = 0; k < 5; ++k) {
      size_t reached = 0;
      for (const auto& g : w.got) reached += g.count(k);
      EXPECT_EQ(reached, n - 1) << "tree " << tree << " shout " << k;
    }
  }
  // A spanning tree has n - 1 edges; a handful of grafts or late prunes aside.
  EXPECT_LE(frames[1], n + n / 10);
  EXPECT_GE(frames[1], n - 1);
  EXPECT_GT(frames[0], 3 * n);
}

TEST(BroadcastTreeSim, UnderChurnEveryLiveNodeGetsEveryShout) {
  constexpr size_t n = 500;
  TreeWorld w(3, n, true);
  w.warm_up(5);
  // 10% of the nodes crash inside the window and come back later in it.
  std::vector<NodeId> order(n);
  for (NodeId i = 0; i < n; ++i) order[i] = i;
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[w.sim.rng()() % (i + 1)]);
  const size_t churned = n / 10;
  const int64_t t0 = w.sim.now_us();
  const int64_t window = 4 * kSecond;
  for (size_t k = 0; k < churned; ++k) {
    const NodeId v = order[k];
    const int64_t down = t0 + static_cast<int64_t>(w.sim.rng()() % (window / 2));
    const int64_t up = down + window / 4 + static_cast<int64_t>(w.sim.rng()() % (window / 4));
    w.sim.at(down, [&w, v] { w.sim.crash(v); });
    w.sim.at(up, [&w, v] { w.sim.restart(v); });
  }
  const overlay::NodeStats before = w.total();
  constexpr uint32_t kShouts = 20;
  for (uint32_t k = 0; k < kShouts; ++k) {
    const NodeId from = order[churned + w.sim.rng()() % (n - churned)];
    w.got[from].insert(k);  // the sender does not deliver its own
    w.sim.at(t0 + k * (window / kShouts), [&w, from, k] { w.shout(from, k); });
  }
  w.sim.run_until(t0 + window + 10 * kSecond);
  const overlay::NodeStats after = w.total();
  for (size_t i = churned; i < n; ++i) {
    const NodeId node = order[i];
    for (uint32_t k = 0; k < kShouts; ++k) {
      EXPECT_EQ(w.got[node].count(k), 1u) << "node " << node << " missed shout " << k;
    }
  }
  const double payload_frames =
      static_cast<double>(after.shouts_sent - before.shouts_sent) / kShouts;
  EXPECT_LT(payload_frames, 1.5 * n);
  // Repairs happened: lost tree links were grafted from lazy ones.
  EXPECT_GT(after.grafts_sent - before.grafts_sent, 0u);
}

TEST(BroadcastTreeSim, SameSeedReplaysTheSameCounts) {
  auto run = [] {
    TreeWorld w(21, 60, true);
    w.warm_up(3);
    w.sim.crash(7);
    w.shout(1, 1);
    w.sim.run_until(w.sim.now_us() + 3 * kSecond);
    const overlay::NodeStats t = w.total();
    return std::vector<uint64_t>{t.shouts_sent,       t.ihaves_sent,      t.grafts_sent,
                                 t.prunes_sent,       t.shout_bytes_sent, t.ihave_bytes_sent,
                                 w.sim.stats().events};
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace chorus::swarm
