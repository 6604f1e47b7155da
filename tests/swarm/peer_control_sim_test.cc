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

// Cancel handles across real latencies: requests held by their responders
// for a second, one direct and one through a relay, cancelled after 100 ms,
// complete once with kCancelled then, and the answers that still come are
// ignored; an uncancelled twin shows that those answers did arrive.
TEST(PeerControlSim, CancelledRequestsEndOnceAndTheirLateAnswersAreIgnored) {
  Simulator sim(SimConfig{.seed = 9});
  struct Held {
    NodeId node;
    PublicKey from;
    uint32_t id;
    overlay::LinkId link;
  };
  std::vector<Held> held;
  const NodeId asker = 1;
  std::map<overlay::Token, std::vector<std::pair<int64_t, Result<Bytes>>>> completions;
  sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
  sim.on_event = [&](NodeId n, Event& e) {
    if (auto* w = std::get_if<overlay::WhisperEvent>(&e); w && w->is_request) {
      held.push_back({n, w->from, w->request_id, w->link});
    } else if (auto* c = std::get_if<overlay::CompletionEvent>(&e); c && n == asker) {
      completions[c->token].emplace_back(sim.now_us(), c->result);
    }
  };
  OverlayConfig c = base_config();
  const NodeId relay = sim.add_node(c);
  c.bootstrap.push_back(sim.address(relay));
  ASSERT_EQ(sim.add_node(c), asker);
  const NodeId target = sim.add_node(c);
  ASSERT_TRUE(sim.run_until(3 * kSecond));
  overlay::Token direct = 0, relayed = 0, kept = 0;
  const Bytes ask = {1, 2, 3};
  sim.command(asker, [&](NodeCore& core, int64_t now) {
    direct = core.request(kApp, sim.key(relay), ask, true, 5000, now).value();
    relayed = core.request_via(kApp, sim.key(relay), sim.key(target), ask, 5000, now).value();
    kept = core.request(kApp, sim.key(relay), ask, true, 5000, now).value();
  });
  const int64_t start = sim.now_us();
  sim.at(start + 100'000, [&] {
    sim.command(asker, [&](NodeCore& core, int64_t now) {
      EXPECT_TRUE(core.cancel(direct, "gave up", now).ok());
      EXPECT_TRUE(core.cancel(relayed, "gave up", now).ok());
      EXPECT_FALSE(core.cancel(direct, "twice", now).ok());
    });
  });
  sim.at(start + kSecond, [&] {
    for (const Held& h : held) {
      sim.command(h.node, [&](NodeCore& core, int64_t now) {
        EXPECT_TRUE(core.respond(kApp, h.from, h.id, Bytes{9}, true, now, h.link).ok());
      });
    }
  });
  ASSERT_TRUE(sim.run_until(start + 10 * kSecond));
  EXPECT_EQ(held.size(), 3u);
  for (overlay::Token t : {direct, relayed}) {
    ASSERT_EQ(completions[t].size(), 1u) << "token " << t;
    EXPECT_EQ(completions[t][0].first, start + 100'000);
    ASSERT_FALSE(completions[t][0].second.ok());
    EXPECT_EQ(completions[t][0].second.error().code(), ErrorCode::kCancelled);
  }
  ASSERT_EQ(completions[kept].size(), 1u);
  ASSERT_TRUE(completions[kept][0].second.ok());
  EXPECT_EQ(*completions[kept][0].second, Bytes{9});
}

}  // namespace
}  // namespace chorus::swarm
