// The simulator drives real NodeCores deterministically: same seed, same
// trace; broadcasts reach everyone; partitions, crashes and bandwidth behave
// like the model in simulator.h says.
#include "chorus/swarm/simulator.h"

#include <gtest/gtest.h>

#include <deque>
#include <iostream>
#include <map>
#include <set>

namespace chorus::swarm {
namespace {

using overlay::Event;
using overlay::NodeCore;
using overlay::OverlayConfig;
using overlay::ShoutEvent;

constexpr overlay::AppId kApp = 9;
constexpr int64_t kSecond = 1'000'000;

uint64_t fnv(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}
template <class T>
uint64_t fnv_of(uint64_t h, const T& v) {
  return fnv(h, &v, sizeof v);
}

// A network of `n` nodes, each dialling up to three random earlier ones,
// every app event recorded.
struct World {
  Simulator sim;
  std::vector<std::set<uint32_t>> got;  // per node: the payload tags of SHOUTs delivered
  std::map<std::pair<NodeId, uint32_t>, int64_t> when;
  uint64_t trace = 0xcbf29ce484222325ULL;

  explicit World(SimConfig c) : sim(c) {
    sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
    sim.on_event = [this](NodeId n, Event& e) {
      trace = fnv_of(trace, n);
      trace = fnv_of(trace, sim.now_us());
      trace = fnv_of(trace, e.index());
      if (auto* s = std::get_if<ShoutEvent>(&e)) {
        trace = fnv(trace, s->origin.data(), s->origin.size());
        trace = fnv(trace, s->payload.data(), s->payload.size());
        uint32_t tag = 0;
        for (size_t i = 0; i < 4 && i < s->payload.size(); ++i) tag = tag << 8 | s->payload[i];
        got[n].insert(tag);
        when[{n, tag}] = sim.now_us();
      }
    };
  }

  void build(size_t n, OverlayConfig base) {
    for (size_t i = 0; i < n; ++i) {
      OverlayConfig c = base;
      for (int k = 0; k < 3 && i > 0; ++k) c.bootstrap.push_back(sim.address(sim.rng()() % i));
      got.emplace_back();
      sim.add_node(c);
    }
  }

  bool connected() const { return sim.connected(); }

  void run_until_connected(int64_t limit_s) {
    for (int64_t s = 0; s < limit_s && !connected(); ++s) sim.run_until(sim.now_us() + kSecond);
    ASSERT_TRUE(connected()) << "seed " << sim.rng()();
  }

  void shout(NodeId from, uint32_t tag) {
    Bytes payload = {static_cast<uint8_t>(tag >> 24), static_cast<uint8_t>(tag >> 16),
                     static_cast<uint8_t>(tag >> 8), static_cast<uint8_t>(tag)};
    ASSERT_TRUE(sim.command(from, [&](NodeCore& core, int64_t now) {
      ASSERT_TRUE(core.shout(kApp, payload, now).ok());
    }));
  }

  size_t reached(uint32_t tag) const {
    size_t n = 0;
    for (const auto& g : got) n += g.count(tag);
    return n;
  }
};

OverlayConfig base_config() {
  OverlayConfig c;
  c.rotate_interval_ms = 0;
  return c;
}

uint64_t run_trace(uint64_t seed) {
  World w(SimConfig{.seed = seed});
  w.build(40, base_config());
  w.sim.run_until(5 * kSecond);
  w.shout(3, 1);
  w.shout(17, 2);
  w.sim.crash(5);
  w.sim.run_until(7 * kSecond);
  w.sim.restart(5);
  w.shout(30, 3);
  w.sim.run_until(12 * kSecond);
  overlay::NodeStats total = w.sim.retired_stats();
  for (NodeId i = 0; i < w.sim.size(); ++i) total += w.sim.core(i)->stats();
  uint64_t h = fnv_of(w.trace, total.frames_sent);
  h = fnv_of(h, total.bytes_sent);
  h = fnv_of(h, total.shouts_sent);
  h = fnv_of(h, total.messages_received);
  h = fnv_of(h, w.sim.stats().events);
  h = fnv_of(h, w.sim.stats().bytes_delivered);
  return h;
}

TEST(Simulator, SameSeedReplaysTheSameTrace) {
  EXPECT_EQ(run_trace(42), run_trace(42));
}

TEST(Simulator, DifferentSeedGivesADifferentTrace) {
  EXPECT_NE(run_trace(42), run_trace(43));
}

TEST(Simulator, BroadcastReaches500Nodes) {
  World w(SimConfig{.seed = 7});
  w.build(500, base_config());
  w.run_until_connected(60);
  w.shout(123, 1);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.reached(1), 499u);
  EXPECT_FALSE(w.sim.stats().event_cap_hit);
}

TEST(Simulator, PartitionStopsShoutsAndHealingLetsLaterOnesThrough) {
  World w(SimConfig{.seed = 11});
  OverlayConfig c = base_config();
  c.rotate_interval_ms = 5000;  // links get replaced, so cross-links come back after a heal
  w.build(60, c);
  w.run_until_connected(30);
  std::vector<NodeId> left;
  for (NodeId i = 0; i < 30; ++i) left.push_back(i);
  w.sim.partition({left});  // 0..29 in group 1, the rest in group 0
  w.sim.run_until(w.sim.now_us() + kSecond);
  EXPECT_FALSE(w.connected());
  EXPECT_GT(w.sim.stats().links_cut, 0u);
  w.shout(0, 1);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.reached(1), 29u);
  for (NodeId i = 30; i < 60; ++i) EXPECT_EQ(w.got[i].count(1), 0u) << i;

  w.sim.heal();
  const int64_t healed_at = w.sim.now_us();
  w.run_until_connected(120);
  std::cout << "reconnected " << (w.sim.now_us() - healed_at) / kSecond << " s after the heal\n";
  w.shout(0, 2);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.reached(2), 59u);
}

TEST(Simulator, CrashedNodeMissesShoutsAndGetsNewOnesAfterRestart) {
  World w(SimConfig{.seed = 5});
  w.build(50, base_config());
  w.run_until_connected(30);
  w.sim.crash(8);
  EXPECT_FALSE(w.sim.is_up(8));
  w.sim.run_until(w.sim.now_us() + kSecond);
  w.shout(0, 1);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.reached(1), 48u);
  EXPECT_EQ(w.got[8].count(1), 0u);

  w.sim.restart(8);
  w.run_until_connected(30);
  w.shout(0, 2);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.reached(2), 49u);
  EXPECT_EQ(w.got[8].count(2), 1u);
  EXPECT_EQ(w.got[8].count(1), 0u);
}

TEST(Simulator, BandwidthBoundsAWhisper) {
  constexpr double kBandwidth = 2e6;  // bytes/s
  SimConfig sc{.seed = 3};
  sc.link.latency_base_us = 1000;
  sc.link.latency_jitter_us = 0;
  sc.link.bandwidth_bytes_per_s = kBandwidth;
  Simulator sim(sc);
  OverlayConfig c = base_config();
  c.max_frame_bytes = 4u << 20;
  c.compression.clear();  // the payload must travel whole
  std::optional<int64_t> arrived;
  sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
  sim.on_event = [&](NodeId n, Event& e) {
    if (n == 1 && std::holds_alternative<overlay::WhisperEvent>(e)) arrived = sim.now_us();
  };
  sim.add_node(c);
  c.bootstrap.push_back(sim.address(0));
  sim.add_node(c);
  sim.run_until(2 * kSecond);
  ASSERT_TRUE(sim.core(1)->is_connected(sim.key(0)));

  constexpr size_t kSize = 1u << 20;
  Bytes payload(kSize, 0x5a);
  const int64_t sent_at = sim.now_us();
  sim.command(0, [&](NodeCore& core, int64_t now) {
    ASSERT_TRUE(core.whisper(kApp, sim.key(1), payload, false, now).ok());
  });
  sim.run_until(sim.now_us() + 10 * kSecond);
  ASSERT_TRUE(arrived);
  const auto min_us = static_cast<int64_t>(kSize / kBandwidth * 1e6);
  std::cout << "1 MiB whisper took " << *arrived - sent_at << " us\n";
  EXPECT_GE(*arrived - sent_at, min_us);
  EXPECT_LT(*arrived - sent_at, min_us + kSecond / 2);
}

TEST(Simulator, NodeQueueBoundResetsTheLink) {
  SimConfig sc{.seed = 4};
  sc.link.bandwidth_bytes_per_s = 100e3;
  sc.max_node_queue_bytes = 256u << 10;
  Simulator sim(sc);
  OverlayConfig c = base_config();
  c.max_frame_bytes = 4u << 20;
  c.compression.clear();
  bool went_down = false;
  sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
  sim.on_event = [&](NodeId n, Event& e) {
    if (auto* p = std::get_if<overlay::PeerEvent>(&e); p && n == 0 && !p->connected) {
      went_down = true;
    }
  };
  sim.add_node(c);
  c.bootstrap.push_back(sim.address(0));
  sim.add_node(c);
  sim.run_until(2 * kSecond);
  ASSERT_TRUE(sim.core(0)->is_connected(sim.key(1)));
  Bytes payload(1u << 20, 0x11);
  sim.command(0, [&](NodeCore& core, int64_t now) {
    ASSERT_TRUE(core.whisper(kApp, sim.key(1), payload, false, now).ok());
  });
  sim.run_until(sim.now_us() + kSecond);
  EXPECT_EQ(sim.stats().links_reset_overflow, 1u);
  EXPECT_TRUE(went_down);
}

}  // namespace
}  // namespace chorus::swarm
