// What the DHT simulator tests share: a simulation that records every
// event, with helpers that run one operation to completion (bounded in
// virtual time).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "chorus/swarm/dht_sim.h"

namespace chorus::swarm::test {

inline constexpr int64_t kSecond = 1'000'000;
inline constexpr int64_t kMs = 1000;

// A simulation plus a record of every event, and helpers that run one
// operation to completion (bounded in virtual time).
struct World {
  explicit World(DhtSimConfig c) : sim(c) {
    sim.on_event = [this](SimNode n, dht::DhtEvent& e) {
      if (auto* d = std::get_if<dht::DoneEvent>(&e)) {
        done[{n, d->token}] = *d;
      } else if (auto* l = std::get_if<dht::ListenEvent>(&e)) {
        heard[n].push_back(*l);
      } else if (auto* h = std::get_if<dht::HoldEvent>(&e)) {
        holds[{n, h->hold}].push_back(*h);
      }
    };
  }
  DhtSim sim;
  std::map<std::pair<SimNode, dht::Token>, dht::DoneEvent> done;
  std::map<SimNode, std::vector<dht::ListenEvent>> heard;
  std::map<std::pair<SimNode, dht::Token>, std::vector<dht::HoldEvent>> holds;
  std::vector<dht::HoldEvent>& held(SimNode n, dht::Token t) { return holds[{n, t}]; }

  dht::Token issue(SimNode n, const std::function<dht::Token(dht::DhtCore&, int64_t)>& fn) {
    dht::Token t = 0;
    EXPECT_TRUE(sim.command(n, [&](dht::DhtCore& c, int64_t now) { t = fn(c, now); }));
    return t;
  }
  // Runs until the operation completes (or 60 virtual seconds pass).
  dht::DoneEvent wait(SimNode n, dht::Token t) {
    int64_t limit = sim.now_us() + 60 * kSecond;
    while (!done.count({n, t}) && sim.now_us() < limit) sim.run_until(sim.now_us() + 10 * kMs);
    auto it = done.find({n, t});
    if (it == done.end()) {
      ADD_FAILURE() << "operation " << t << " on node " << n << " never completed";
      return dht::DoneEvent{t, timed_out("test"), 0};
    }
    return it->second;
  }
  dht::DoneEvent run(SimNode n, const std::function<dht::Token(dht::DhtCore&, int64_t)>& fn) {
    return wait(n, issue(n, fn));
  }
  // Adds n nodes whose tables are what joining long ago would leave
  // (DhtSim::warm_start, 20 contacts a bucket).
  void add_warm(size_t n) {
    for (size_t i = 0; i < n; ++i) sim.add_node();
    sim.warm_start(20);
  }
  // Adds n nodes. Node 0 knows nobody; every other node knows only node 0's
  // address (not its key), the way `--bootstrap HOST:PORT` works, and joins
  // through it, one after the other.
  void join_through_first(size_t n) {
    for (size_t i = 0; i < n; ++i) sim.add_node();
    for (SimNode i = 1; i < n; ++i) {
      auto r = run(i, [&](dht::DhtCore& c, int64_t now) {
        return c.bootstrap(sim.contact(0).address, now);
      });
      ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
    }
  }
};

inline DhtSimConfig small_config(uint64_t seed) {
  DhtSimConfig c;
  c.seed = seed;
  c.dht.lock_grace_after_start_ms = 0;
  return c;
}

inline Bytes bytes_of(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// The replicas of `key`: every node, closest first.
inline std::vector<SimNode> by_distance(DhtSim& sim, const dht::Key& key) {
  std::vector<SimNode> order(sim.size());
  for (size_t i = 0; i < sim.size(); ++i) order[i] = static_cast<SimNode>(i);
  std::sort(order.begin(), order.end(), [&](SimNode x, SimNode y) {
    return dht::closer(key, sim.contact(x).id, sim.contact(y).id);
  });
  return order;
}

// A crash that loses the store; the node comes back knowing everyone.
inline void wipe(World& w, SimNode n) {
  w.sim.crash(n);
  w.sim.restart(n);
  for (SimNode j = 0; j < w.sim.size(); ++j)
    if (j != n)
      w.sim.command(n, [&](dht::DhtCore& c, int64_t now) { c.add_contact(w.sim.contact(j), now); });
}

}  // namespace chorus::swarm::test
