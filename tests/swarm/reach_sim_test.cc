// dht::ReachCore on the deterministic simulator (DhtSim's Reach layer): the
// same core the libuv dht::Reach runs reaches nodes that are not its peers —
// listening ones through their record and a dial, initiate-only ones through
// the relays their record names — and a run replays exactly from its seed.
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "chorus/swarm/dht_sim.h"

namespace chorus::swarm {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr overlay::AppId kApp = 11;
constexpr SimNode kNodes = 60;
constexpr SimNode kHidden = 10;  // the last kHidden nodes are initiate-only

struct Outcome {
  std::string trace;  // every completion and delivery, in order, with its time
  size_t ok = 0, failed = 0, relayed_deliveries = 0, direct_deliveries = 0;
  uint64_t record_gets = 0, cache_hits = 0, refused = 0;
  bool replies_right = true;
};

Outcome run(uint64_t seed) {
  DhtSimConfig c;
  c.seed = seed;
  c.dht.seed = seed;
  c.dht.lock_grace_after_start_ms = 0;
  DhtSim sim(c);
  for (SimNode n = 0; n < kNodes; ++n) sim.add_node();
  sim.warm_start(8);
  const SimNode first_hidden = kNodes - kHidden;
  for (SimNode n = 0; n < kNodes; ++n) sim.enable_reach(n, n < first_hidden);

  Outcome o;
  std::ostringstream trace;
  std::map<std::pair<SimNode, dht::ReachOp>, Bytes> asked;  // request payloads
  sim.on_reach_done = [&](SimNode n, const dht::Completed& d) {
    trace << sim.now_us() << " done " << n << "/" << d.op;
    const auto* reply = std::get_if<Result<Bytes>>(&d.result);
    const bool ok = reply ? reply->ok() : std::get<Result<dht::Hash256>>(d.result).ok();
    if (ok) {
      ++o.ok;
    } else {
      ++o.failed;
      trace << " "
            << (reply ? reply->error() : std::get<Result<dht::Hash256>>(d.result).error())
                   .to_string();
    }
    if (reply && reply->ok()) {
      Bytes want{'r', 'e', ':'};
      const Bytes& p = asked[{n, d.op}];
      want.insert(want.end(), p.begin(), p.end());
      o.replies_right &= **reply == want;
    }
    trace << "\n";
  };
  sim.on_deliver = [&](SimNode to, SimNode from, overlay::AppId app, const Bytes&, bool relayed) {
    trace << sim.now_us() << " deliver " << from << "->" << to << " app " << app
          << (relayed ? " relayed" : "") << "\n";
    (relayed ? o.relayed_deliveries : o.direct_deliveries)++;
  };

  // Each initiate-only node links to two listening relays (drawn from the
  // seed); the first relay of every other hidden node does not relay, so
  // those are reached through their second.
  std::mt19937_64 rng(seed);
  auto pick = [&](SimNode below) {
    return static_cast<SimNode>(std::uniform_int_distribution<SimNode>(0, below - 1)(rng));
  };
  for (SimNode h = first_hidden; h < kNodes; ++h) {
    SimNode r1 = pick(first_hidden), r2 = pick(first_hidden);
    while (r2 == r1) r2 = pick(first_hidden);
    sim.link(h, r1);
    sim.link(h, r2);
    if (h % 2 == 0) sim.set_relaying(std::min(r1, r2), false);
  }
  sim.run_until(10 * kSecond);  // records published

  // Every sender is a listening node with no link to its target.
  auto send = [&](SimNode from, SimNode to, int i) {
    Bytes payload{'m', static_cast<uint8_t>(i), static_cast<uint8_t>(to)};
    sim.reach_command(from, [&](dht::ReachCore& r, int64_t now) {
      if (i % 2) {
        asked[{from, r.request(kApp, sim.identity(to).public_key(), payload, 5000, now)}] = payload;
      } else {
        r.whisper(kApp, sim.identity(to).public_key(), payload, now);
      }
    });
  };
  int i = 0;
  for (SimNode to = first_hidden - 5; to < kNodes; ++to) {  // 5 listening, kHidden hidden
    SimNode from = pick(first_hidden - 5);
    while (sim.linked(from, to)) from = pick(first_hidden - 5);
    EXPECT_FALSE(sim.linked(from, to));
    send(from, to, i++);
    sim.run_until(sim.now_us() + 2 * kSecond);
    send(from, to, i++);  // again: the route is cached
    sim.run_until(sim.now_us() + 2 * kSecond);
  }
  sim.run_until(sim.now_us() + 30 * kSecond);
  for (SimNode n = 0; n < kNodes; ++n) {
    o.record_gets += sim.reach(n)->stats().record_gets;
    o.cache_hits += sim.reach(n)->stats().cache_hits;
  }
  o.refused = sim.reach_stats().sends_failed;
  o.trace = trace.str();
  return o;
}

TEST(ReachSim, ReachesListeningAndInitiateOnlyStrangersAndReplaysFromItsSeed) {
  const Outcome a = run(7);
  const size_t sends = 2 * (5 + kHidden);
  EXPECT_EQ(a.ok, sends) << a.trace;
  EXPECT_EQ(a.failed, 0u) << a.trace;
  EXPECT_TRUE(a.replies_right);
  // Initiate-only targets only through relays; listening ones directly.
  EXPECT_EQ(a.relayed_deliveries, 2 * kHidden) << a.trace;
  EXPECT_EQ(a.direct_deliveries, 2 * 5u) << a.trace;
  // One record get per target: the second send to a listening node goes
  // over the link the first one dialled, to a hidden node over the cached
  // route (no get).
  EXPECT_EQ(a.record_gets, 5 + kHidden);
  EXPECT_EQ(a.cache_hits, kHidden);
  // Some first tries hit a relay that does not relay, and went on to the
  // target's other relay.
  EXPECT_GT(a.refused, 0u);

  const Outcome again = run(7);
  EXPECT_EQ(again.trace, a.trace);  // same seed, same run, to the microsecond
  const Outcome other = run(8);
  EXPECT_NE(other.trace, a.trace);
  EXPECT_EQ(other.failed, 0u) << other.trace;
}

TEST(ReachSim, CrashedTargetFailsAndItsCachedRouteIsDropped) {
  DhtSimConfig c;
  c.seed = 3;
  c.dht.seed = 3;
  DhtSim sim(c);
  for (SimNode n = 0; n < 20; ++n) sim.add_node();
  sim.warm_start(8);
  for (SimNode n = 0; n < 20; ++n) sim.enable_reach(n, true);
  sim.run_until(5 * kSecond);
  std::vector<Result<dht::Hash256>> results;
  sim.on_reach_done = [&](SimNode, const dht::Completed& d) {
    results.push_back(std::get<Result<dht::Hash256>>(d.result));
  };
  const dht::PublicKey target = sim.identity(19).public_key();
  auto whisper = [&] {
    sim.reach_command(0,
                      [&](dht::ReachCore& r, int64_t now) { r.whisper(kApp, target, {1}, now); });
    sim.run_until(sim.now_us() + 10 * kSecond);
  };
  whisper();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(sim.reach(0)->route_cache().size(), 1u);
  sim.crash(19);  // the link drops with it; the cache still names its address
  whisper();
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[1].ok());
  // The cached dial failed, the entry went, one fresh lookup found the same
  // (stale) record, and its dial failed too.
  EXPECT_EQ(results[1].error().code(), ErrorCode::kIo) << results[1].error().to_string();
  EXPECT_EQ(sim.reach(0)->stats().retries, 1u);
  EXPECT_EQ(sim.reach(0)->stats().record_gets, 2u);
}

}  // namespace
}  // namespace chorus::swarm
