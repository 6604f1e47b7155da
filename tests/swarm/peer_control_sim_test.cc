// Network ids and bans on the overlay Simulator: the same NodeCore as
// production, many nodes, virtual time, replayable from the seed.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

using overlay::Event;
using overlay::NodeCore;
using overlay::OverlayConfig;
using overlay::PeerEvent;
using overlay::PublicKey;
using overlay::ShoutEvent;

constexpr overlay::AppId kApp = 11;
constexpr int64_t kSecond = 1'000'000;

OverlayConfig base_config() {
  OverlayConfig c;
  c.rotate_interval_ms = 0;
  return c;
}

// NANO's dev, test and live networks in one swarm, each node bootstrapped
// from nodes of every network: links form only inside a network, a SHOUT
// stays in its network, and each network is still connected.
TEST(PeerControlSim, NetworksNeverLinkEvenWhenTheyBootstrapFromEachOther) {
  const std::vector<std::string> networks = {"nano/dev", "nano/test", "nano/live"};
  constexpr NodeId kNodes = 36;
  Simulator sim(SimConfig{.seed = 7});
  std::map<PublicKey, size_t> network_of;
  size_t cross_links = 0, mismatches = 0;
  std::map<size_t, std::set<NodeId>> got;  // SHOUT tag -> nodes that delivered it
  sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
  sim.on_event = [&](NodeId n, Event& e) {
    if (auto* p = std::get_if<PeerEvent>(&e)) {
      if (p->connected && network_of.at(p->peer) != n % networks.size()) ++cross_links;
      if (!p->connected && p->reason == "handshake: network id mismatch") ++mismatches;
    } else if (auto* s = std::get_if<ShoutEvent>(&e)) {
      got[s->payload.at(0)].insert(n);
    }
  };
  for (NodeId i = 0; i < kNodes; ++i) {
    OverlayConfig c = base_config();
    c.network_id = networks[i % networks.size()];
    // Up to two random earlier nodes of any network, and one of its own.
    for (int k = 0; k < 2 && i > 0; ++k) c.bootstrap.push_back(sim.address(sim.rng()() % i));
    if (i >= networks.size()) c.bootstrap.push_back(sim.address(i - networks.size()));
    NodeId n = sim.add_node(c);
    network_of[sim.key(n)] = i % networks.size();
  }
  ASSERT_TRUE(sim.run_until(20 * kSecond));
  EXPECT_EQ(cross_links, 0u);
  EXPECT_EQ(mismatches, 0u) << "refusals happen before a link is up: no peer-down events";
  uint64_t refused = 0;
  for (NodeId i = 0; i < kNodes; ++i) {
    ASSERT_FALSE(sim.core(i)->peers().empty()) << "node " << i << " is isolated";
    for (const auto& p : sim.core(i)->peers()) EXPECT_EQ(network_of.at(p.key), i % networks.size());
    refused += sim.core(i)->stats().links_refused;
  }
  EXPECT_GT(refused, 0u) << "cross-network bootstraps were tried and refused";
  // A SHOUT from each network reaches exactly its own network's nodes.
  for (uint8_t net = 0; net < networks.size(); ++net) {
    ASSERT_TRUE(sim.command(net, [&](NodeCore& core, int64_t now) {
      ASSERT_TRUE(core.shout(kApp, Bytes{net}, now).ok());
    }));
  }
  ASSERT_TRUE(sim.run_until(sim.now_us() + 5 * kSecond));
  for (uint8_t net = 0; net < networks.size(); ++net) {
    std::set<NodeId> want;
    for (NodeId i = 0; i < kNodes; ++i)
      if (i % networks.size() == net && i != net) want.insert(i);
    EXPECT_EQ(got[net], want) << networks[net];
  }
}

// A node every other node bans stays out, also after a crash and restart
// with its identity (the ban is by key, in its peers' tables), and comes back
// once the bans expire on the virtual clock.
TEST(PeerControlSim, BannedKeyStaysOutAcrossRestartsUntilTheBanExpires) {
  constexpr NodeId kNodes = 16;
  constexpr int64_t kBanMs = 30'000;
  Simulator sim(SimConfig{.seed = 11});
  for (NodeId i = 0; i < kNodes; ++i) {
    OverlayConfig c = base_config();
    for (int k = 0; k < 3 && i > 0; ++k) c.bootstrap.push_back(sim.address(sim.rng()() % i));
    sim.add_node(c);
  }
  ASSERT_TRUE(sim.run_until(5 * kSecond));
  const NodeId bad = 5;
  ASSERT_FALSE(sim.core(bad)->peers().empty());
  const PublicKey bad_key = sim.key(bad);
  for (NodeId i = 0; i < kNodes; ++i) {
    if (i == bad) continue;
    ASSERT_TRUE(sim.command(i, [&](NodeCore& core, int64_t now) {
      ASSERT_TRUE(core.ban(bad_key, kBanMs, "test", now).ok());
    }));
  }
  const int64_t ban_end = sim.now_us() + kBanMs * 1000;
  ASSERT_TRUE(sim.run_until(sim.now_us() + 10 * kSecond));
  EXPECT_TRUE(sim.core(bad)->peers().empty());
  sim.crash(bad);
  sim.restart(bad);
  ASSERT_TRUE(sim.run_until(ban_end - kSecond));
  EXPECT_TRUE(sim.core(bad)->peers().empty()) << "a restart does not lift a ban";
  uint64_t refused = 0;
  for (NodeId i = 0; i < kNodes; ++i)
    if (i != bad) refused += sim.core(i)->stats().banned_refused;
  EXPECT_GT(refused, 0u) << "it kept dialling and was refused at its HELLO";
  for (NodeId i = 0; i < kNodes; ++i) {
    if (i == bad) continue;
    for (const auto& p : sim.core(i)->peers()) EXPECT_NE(p.key, bad_key);
  }
  // Past the ban (and the dialler's backoff, at most reconnect_max × 1.5).
  ASSERT_TRUE(sim.run_until(ban_end + 60 * kSecond));
  EXPECT_FALSE(sim.core(bad)->peers().empty()) << "the ban ended";
}

}  // namespace
}  // namespace chorus::swarm
