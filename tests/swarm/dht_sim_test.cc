// The DHT as users rely on it, run on the deterministic simulator: nodes
// join through one bootstrap address, values come back from any node, under
// churn and loss; locks exclude each other and tokens grow, also across a
// partition; CAS has one winner per version; diffs reach replicas that miss
// the base; listeners hear about changes; a run replays from its seed.
#include "chorus/swarm/dht_sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "chorus/dht/patch.h"

namespace chorus::swarm {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kMs = 1000;

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
};

DhtSimConfig small_config(uint64_t seed) {
  DhtSimConfig c;
  c.seed = seed;
  c.dht.lock_grace_after_start_ms = 0;
  return c;
}

Bytes bytes_of(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

TEST(DhtSim, NodesJoinThroughOneBootstrapAddressAndFindEachOthersValues) {
  World w(small_config(7));
  const size_t n = 60;
  for (size_t i = 0; i < n; ++i) w.sim.add_node();
  // Node 0 knows nobody; everyone else knows only node 0's address (not its
  // key), the way `--bootstrap HOST:PORT` works.
  for (SimNode i = 1; i < n; ++i) {
    auto r = w.run(i, [&](dht::DhtCore& c, int64_t now) {
      return c.bootstrap(w.sim.contact(0).address, now);
    });
    ASSERT_TRUE(r.result.ok()) << r.result.error().to_string();
  }
  for (SimNode i = 0; i < n; ++i) EXPECT_GE(w.sim.core(i)->table().size(), 10u) << i;

  for (int k = 0; k < 20; ++k) {
    SimNode writer = static_cast<SimNode>((k * 7) % n),
            reader = static_cast<SimNode>((k * 13 + 5) % n);
    dht::Key key = dht::key_for("joined/" + std::to_string(k));
    auto put = w.run(writer, [&](dht::DhtCore& c, int64_t now) {
      return c.put(
          key, dht::Value{static_cast<uint64_t>(k), bytes_of("v" + std::to_string(k)), 600}, now);
    });
    ASSERT_TRUE(put.result.ok()) << put.result.error().to_string();
    EXPECT_GE(put.result.value().acks, 10u);
    auto got = w.run(reader, [&](dht::DhtCore& c, int64_t now) { return c.get(key, now); });
    ASSERT_TRUE(got.result.ok()) << got.result.error().to_string();
    ASSERT_EQ(got.result.value().values.size(), 1u);
    EXPECT_EQ(got.result.value().values[0].data, bytes_of("v" + std::to_string(k)));
  }
}

// A warm table is what joining long ago would leave: bucket i holds
// min(per_bucket, nodes sharing exactly i leading bits) live nodes of that
// subtree, each once; crashed nodes are in nobody's table.
TEST(DhtSim, WarmStartFillsEveryBucketFromItsSubtree) {
  World w(small_config(5));
  const size_t n = 1500, per_bucket = 6;
  for (size_t i = 0; i < n; ++i) w.sim.add_node();
  for (SimNode i = 0; i < 50; ++i) w.sim.crash(i * 7);
  w.sim.warm_start(per_bucket);
  std::map<dht::NodeId, SimNode> live;
  for (SimNode b = 0; b < n; ++b)
    if (w.sim.is_up(b)) live[w.sim.contact(b).id] = b;
  size_t checked = 0;
  for (SimNode a = 0; a < n; ++a) {
    if (!w.sim.is_up(a)) continue;
    const dht::RoutingTable& table = w.sim.core(a)->table();
    std::map<int, size_t> subtree, held;
    for (SimNode b = 0; b < n; ++b)
      if (b != a && w.sim.is_up(b)) ++subtree[table.bucket_of(w.sim.contact(b).id)];
    std::set<dht::NodeId> seen;
    for (const dht::Contact& c : table.all()) {
      ++held[table.bucket_of(c.id)];
      EXPECT_TRUE(seen.insert(c.id).second) << "a contact held twice";
      auto b = live.find(c.id);
      ASSERT_TRUE(b != live.end() && b->second != a && w.sim.contact(b->second) == c)
          << "node " << a << " holds a contact that is not another live node";
    }
    for (auto [bucket, count] : subtree)
      ASSERT_EQ(held[bucket], std::min(per_bucket, count)) << "node " << a << " bucket " << bucket;
    ++checked;
  }
  EXPECT_EQ(checked, n - 50);
}

TEST(DhtSim, GetsSucceedUnderChurnAndLoss) {
  DhtSimConfig c = small_config(11);
  c.loss = 0.05;
  World w(c);
  const size_t n = 400;
  for (size_t i = 0; i < n; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  const int keys = 20;
  for (int k = 0; k < keys; ++k) {
    auto r = w.run(static_cast<SimNode>(k), [&](dht::DhtCore& core, int64_t now) {
      return core.put(dht::key_for("churn/" + std::to_string(k)),
                      dht::Value{1, bytes_of("value " + std::to_string(k)), 3600}, now);
    });
    ASSERT_TRUE(r.result.ok());
  }
  // A tenth of the nodes crash (none of the readers below).
  for (SimNode i = 100; i < 140; ++i) w.sim.crash(i);
  int found = 0, asked = 0;
  for (int g = 0; g < 100; ++g) {
    SimNode reader = static_cast<SimNode>(200 + g);
    int k = g % keys;
    auto r = w.run(reader, [&](dht::DhtCore& core, int64_t now) {
      return core.get(dht::key_for("churn/" + std::to_string(k)), now);
    });
    ++asked;
    if (r.result.ok() && !r.result.value().values.empty() &&
        r.result.value().values[0].data == bytes_of("value " + std::to_string(k)))
      ++found;
  }
  EXPECT_GE(found, asked * 99 / 100);
  EXPECT_GT(w.sim.stats().datagrams_lost, 0u);
}

// Hosts booted at different times: each node's monotonic clock (what the
// driver feeds the core) is hours or days away from the others', while their
// wall clocks agree within a few seconds, as NTP keeps them. Datagram nonces
// must carry the wall clock, or no two of these nodes could talk.
TEST(DhtSim, NodesWhoseMonotonicClocksDifferByHoursJoinAndShareValues) {
  World w(small_config(23));
  const size_t n = 40;
  constexpr int64_t kHour = 3600 * kSecond;
  for (size_t i = 0; i < n; ++i) {
    SimNode node = w.sim.add_node();
    w.sim.set_clock(
        node, static_cast<int64_t>(i % 7) * 5 * kHour + static_cast<int64_t>(i) * 131 * kMs, 0);
    w.sim.set_wall_skew(node, (static_cast<int64_t>(i % 5) - 2) * kSecond);
  }
  for (SimNode i = 1; i < n; ++i) {
    auto r = w.run(i, [&](dht::DhtCore& c, int64_t now) {
      return c.bootstrap(w.sim.contact(0).address, now);
    });
    ASSERT_TRUE(r.result.ok()) << "node " << i << ": " << r.result.error().to_string();
  }
  for (int k = 0; k < 10; ++k) {
    SimNode writer = static_cast<SimNode>((k * 7) % n),
            reader = static_cast<SimNode>((k * 13 + 5) % n);
    dht::Key key = dht::key_for("uptime/" + std::to_string(k));
    auto put = w.run(writer, [&](dht::DhtCore& c, int64_t now) {
      return c.put(key, dht::Value{1, bytes_of("v" + std::to_string(k)), 600}, now);
    });
    ASSERT_TRUE(put.result.ok()) << put.result.error().to_string();
    auto got = w.run(reader, [&](dht::DhtCore& c, int64_t now) { return c.get(key, now); });
    ASSERT_TRUE(got.result.ok()) << got.result.error().to_string();
    ASSERT_EQ(got.result.value().values.size(), 1u);
    EXPECT_EQ(got.result.value().values[0].data, bytes_of("v" + std::to_string(k)));
  }
  for (SimNode i = 0; i < n; ++i) EXPECT_EQ(w.sim.core(i)->codec_stats().stale, 0u) << i;
}

// The documented limit: a node whose wall clock is further from the others'
// than replay_window_ms cannot be distinguished from a replayer, so its
// datagrams are dropped as stale and it cannot join.
TEST(DhtSim, ANodeWhoseWallClockIsOutsideTheReplayWindowCannotJoin) {
  World w(small_config(29));
  for (int i = 0; i < 8; ++i) w.sim.add_node();
  for (SimNode i = 1; i < 7; ++i) {
    auto r = w.run(i, [&](dht::DhtCore& c, int64_t now) {
      return c.bootstrap(w.sim.contact(0).address, now);
    });
    ASSERT_TRUE(r.result.ok());
  }
  const int64_t window_us = small_config(29).dht.datagram.replay_window_ms * kMs;
  w.sim.set_wall_skew(7, 2 * window_us);
  auto r = w.run(
      7, [&](dht::DhtCore& c, int64_t now) { return c.bootstrap(w.sim.contact(0).address, now); });
  EXPECT_FALSE(r.result.ok());
  EXPECT_GT(w.sim.core(0)->codec_stats().stale, 0u);
}

// What metrics read (docs/metrics.md): operations by kind and result, and
// the round trips of answered RPCs, in the core's milliseconds.
// Replicas that crashed cost a get about a round trip each, not the RPC
// timeout: the lookup stops waiting for a query once it is slower than the
// round trips measured so far, and asks the next node instead.
TEST(DhtSim, AGetDoesNotWaitOutTheTimeoutOfCrashedReplicas) {
  DhtSimConfig c = small_config(23);
  c.latency_base_us = 10 * kMs;  // round trips of 20..30 ms
  c.latency_jitter_us = 5 * kMs;
  World w(c);
  for (int i = 0; i < 120; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  const SimNode at = 7;
  // Round trips measured before the crash.
  ASSERT_TRUE(w.run(at, [&](dht::DhtCore& core, int64_t now) {
                 return core.find_node(dht::key_for("warm"), now);
               }).result.ok());
  const dht::Key key = dht::key_for("stall/one");
  auto put = w.run(at, [&](dht::DhtCore& core, int64_t now) {
    return core.put(key, dht::Value{1, bytes_of("v"), 600}, now);
  });
  ASSERT_TRUE(put.result.ok());
  // The 5 replicas closest to the key crash (never the asker).
  std::vector<SimNode> ids;
  for (SimNode n = 0; n < 120; ++n)
    if (n != at) ids.push_back(n);
  std::sort(ids.begin(), ids.end(), [&](SimNode x, SimNode y) {
    return dht::closer(key, w.sim.contact(x).id, w.sim.contact(y).id);
  });
  for (size_t i = 0; i < 5; ++i) w.sim.crash(ids[i]);
  const dht::DhtStats before = w.sim.core(at)->stats();
  const int64_t t0 = w.sim.now_us();
  auto got = w.run(at, [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); });
  const int64_t took_ms = (w.sim.now_us() - t0) / kMs;
  ASSERT_TRUE(got.result.ok()) << got.result.error().to_string();
  ASSERT_EQ(got.result.value().values.size(), 1u);
  EXPECT_LT(took_ms, 500) << "waited for the crashed replicas";
  EXPECT_GE(w.sim.core(at)->stats().lookup_stalls - before.lookup_stalls, 5u);
}

TEST(DhtSim, StatsCountOperationsByKindAndResultAndRpcRoundTrips) {
  DhtSimConfig c = small_config(21);
  c.latency_base_us = 30 * kMs;  // each way: a round trip of 60..80 ms
  c.latency_jitter_us = 10 * kMs;
  World w(c);
  for (int i = 0; i < 40; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  const SimNode at = 3;
  const dht::DhtStats before = w.sim.core(at)->stats();
  const dht::Key key = dht::key_for("stats/one");
  for (int i = 0; i < 3; ++i) {
    auto put = w.run(at, [&](dht::DhtCore& core, int64_t now) {
      return core.put(key, dht::Value{static_cast<uint64_t>(i), bytes_of("v"), 600}, now);
    });
    ASSERT_TRUE(put.result.ok());
  }
  ASSERT_TRUE(
      w.run(at, [&](dht::DhtCore& core, int64_t now) { return core.get(key, now); }).result.ok());
  // A CAS expecting a version the key never had is refused: one failure.
  auto cas = w.run(at, [&](dht::DhtCore& core, int64_t now) {
    return core.compare_and_set(dht::key_for("stats/cas"), 41, bytes_of("x"), 600, 1, now);
  });
  ASSERT_FALSE(cas.result.ok());
  const dht::DhtStats s = w.sim.core(at)->stats();
  auto delta = [&](dht::OpKind k, int failed) {
    const size_t i = static_cast<size_t>(k);
    return s.operations[i][failed] - before.operations[i][failed];
  };
  EXPECT_EQ(delta(dht::OpKind::kPut, 0), 3u);
  EXPECT_EQ(delta(dht::OpKind::kPut, 1), 0u);
  EXPECT_EQ(delta(dht::OpKind::kGet, 0), 1u);
  EXPECT_EQ(delta(dht::OpKind::kCas, 1), 1u);
  EXPECT_STREQ(dht::op_kind_name(dht::OpKind::kPutSigned), "put_signed");
  // Every answered RPC sits in one bucket; here all in (50 ms, 100 ms].
  uint64_t in_buckets = 0;
  for (uint64_t n : s.rpc_rtt) in_buckets += n;
  EXPECT_EQ(in_buckets, s.rpcs_answered);
  const size_t b100 =
      static_cast<size_t>(std::find(dht::kRpcRttBoundsMs.begin(), dht::kRpcRttBoundsMs.end(), 100) -
                          dht::kRpcRttBoundsMs.begin());
  EXPECT_GT(s.rpc_rtt[b100], 0u);
  EXPECT_EQ(s.rpc_rtt[b100], s.rpcs_answered);
  EXPECT_GE(s.rpc_rtt_sum_ms, 60 * s.rpcs_answered);
  EXPECT_LE(s.rpc_rtt_sum_ms, 80 * s.rpcs_answered);
}

TEST(DhtSim, SameSeedSameRun) {
  auto trace = [](uint64_t seed) {
    World w(small_config(seed));
    for (int i = 0; i < 80; ++i) w.sim.add_node();
    w.sim.warm_start(20);
    std::vector<std::string> out;
    for (int k = 0; k < 10; ++k) {
      auto r = w.run(static_cast<SimNode>(k), [&](dht::DhtCore& c, int64_t now) {
        return c.put(dht::key_for(std::to_string(k)), dht::Value{1, bytes_of("x"), 60}, now);
      });
      out.push_back(std::to_string(w.sim.now_us()) + "/" +
                    std::to_string(r.result.ok() ? r.result.value().rpcs : 0));
    }
    out.push_back(std::to_string(w.sim.stats().datagrams) + "/" +
                  std::to_string(w.sim.stats().events));
    return out;
  };
  EXPECT_EQ(trace(5), trace(5));
  EXPECT_NE(trace(5), trace(6));
}

TEST(DhtSim, LockExcludesOthersAndTokensGrow) {
  World w(small_config(3));
  for (int i = 0; i < 100; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("lock/a");
  auto a = w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 1, now); });
  ASSERT_TRUE(a.result.ok()) << a.result.error().to_string();
  uint64_t t1 = a.result.value().number;
  EXPECT_GT(t1, 0u);
  auto b = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 2, now); });
  ASSERT_FALSE(b.result.ok());
  EXPECT_EQ(b.result.error().code(), ErrorCode::kRefused);
  // The holder renews: same token.
  auto renew =
      w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.renew(key, 5000, 1, t1, now); });
  ASSERT_TRUE(renew.result.ok()) << renew.result.error().to_string();
  EXPECT_EQ(renew.result.value().number, t1);
  auto rel = w.run(1, [&](dht::DhtCore& c, int64_t now) { return c.release(key, 1, t1, now); });
  ASSERT_TRUE(rel.result.ok());
  auto b2 = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 2, now); });
  ASSERT_TRUE(b2.result.ok()) << b2.result.error().to_string();
  EXPECT_GT(b2.result.value().number, t1);
  // Without release, the lease ends by itself and the next token is larger still.
  w.sim.run_until(w.sim.now_us() + 6 * kSecond);
  auto c3 = w.run(3, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 5000, 3, now); });
  ASSERT_TRUE(c3.result.ok()) << c3.result.error().to_string();
  EXPECT_GT(c3.result.value().number, b2.result.value().number);
}

// A hold keeps its lock for many lease periods (renewed in the
// background), so nobody else gets it, until it is released; then the next
// owner gets a larger fencing token.
TEST(DhtSim, AHoldOutlivesManyLeasesUntilReleased) {
  World w(small_config(41));
  for (int i = 0; i < 100; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("hold/channel");
  const int64_t lease_ms = 4000;
  dht::Token h =
      w.issue(1, [&](dht::DhtCore& c, int64_t now) { return c.hold(key, lease_ms, 1, now); });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  ASSERT_EQ(w.held(1, h).size(), 1u);
  const dht::HoldEvent acquired = w.held(1, h)[0];
  ASSERT_EQ(acquired.kind, dht::HoldEvent::Kind::kAcquired);
  EXPECT_GT(acquired.fencing_token, 0u);
  EXPECT_GT(acquired.remaining_ms, lease_ms / 2);
  EXPECT_LE(acquired.remaining_ms, lease_ms);
  // Ten lease periods later, another owner is still refused.
  for (int round = 0; round < 10; ++round) {
    w.sim.run_until(w.sim.now_us() + lease_ms * kMs);
    auto other =
        w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
    ASSERT_FALSE(other.result.ok()) << "round " << round;
    EXPECT_EQ(other.result.error().code(), ErrorCode::kRefused);
  }
  EXPECT_EQ(w.held(1, h).size(), 1u) << "the hold reported more than its acquisition";
  EXPECT_EQ(w.sim.core(1)->holds(), 1u);
  w.sim.command(1, [&](dht::DhtCore& c, int64_t now) { c.release_hold(h, now); });
  EXPECT_EQ(w.sim.core(1)->holds(), 0u);
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  auto next = w.run(2, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
  EXPECT_GT(next.result.value().number, acquired.fencing_token);
  EXPECT_GT(next.result.value().remaining_ms, 0);
  EXPECT_EQ(w.held(1, h).size(), 1u) << "an event after release_hold";
}

// A holder cut off from every replica cannot renew: its hold is reported
// lost no later than the trusted lease ends, and after that another node can
// take the lock.
TEST(DhtSim, AHoldCutOffFromTheReplicasIsLostBeforeItsLeaseEnds) {
  World w(small_config(43));
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("hold/partitioned");
  const int64_t lease_ms = 6000;
  dht::Token h =
      w.issue(5, [&](dht::DhtCore& c, int64_t now) { return c.hold(key, lease_ms, 1, now); });
  w.sim.run_until(w.sim.now_us() + 3 * kSecond);
  ASSERT_EQ(w.held(5, h).size(), 1u);
  ASSERT_EQ(w.held(5, h)[0].kind, dht::HoldEvent::Kind::kAcquired);
  const int64_t cut_at = w.sim.now_us();
  w.sim.partition({{5}});
  w.sim.run_until(cut_at + lease_ms * kMs);
  ASSERT_EQ(w.held(5, h).size(), 2u) << "the hold was not reported lost within one lease";
  const dht::HoldEvent& lost = w.held(5, h)[1];
  EXPECT_EQ(lost.kind, dht::HoldEvent::Kind::kLost);
  ASSERT_TRUE(lost.reason.has_value());
  EXPECT_EQ(w.sim.core(5)->holds(), 0u);
  // Once the replicas' leases have run out, someone else gets the lock.
  w.sim.run_until(w.sim.now_us() + lease_ms * kMs);
  auto next = w.run(7, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, lease_ms, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
  EXPECT_GT(next.result.value().number, w.held(5, h)[0].fencing_token);
}

// Released while its lock was still being granted: nothing is reported, and
// the lock, once granted, is let go at once instead of running out.
TEST(DhtSim, AHoldReleasedBeforeItsLockIsGrantedLeavesTheLockFree) {
  World w(small_config(53));
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("hold/early");
  dht::Token h = 0, release = 1;
  w.sim.command(4, [&](dht::DhtCore& c, int64_t now) {
    h = c.hold(key, 60'000, 1, now);
    release = c.release_hold(h, now);
  });
  EXPECT_EQ(release, 0u);
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_TRUE(w.held(4, h).empty());
  EXPECT_EQ(w.sim.core(4)->holds(), 0u);
  auto next = w.run(9, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 60'000, 2, now); });
  ASSERT_TRUE(next.result.ok()) << next.result.error().to_string();
}

TEST(DhtSim, AHoldOnAKeySomeoneHoldsFailsAndHoldsAreBounded) {
  DhtSimConfig c = small_config(47);
  c.dht.max_holds = 2;
  World w(c);
  for (int i = 0; i < 40; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("hold/taken");
  auto a =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 30'000, 1, now); });
  ASSERT_TRUE(a.result.ok());
  dht::Token h =
      w.issue(2, [&](dht::DhtCore& core, int64_t now) { return core.hold(key, 30'000, 2, now); });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  ASSERT_EQ(w.held(2, h).size(), 1u);
  EXPECT_EQ(w.held(2, h)[0].kind, dht::HoldEvent::Kind::kLost);
  ASSERT_TRUE(w.held(2, h)[0].reason.has_value());
  EXPECT_EQ(w.held(2, h)[0].reason->code(), ErrorCode::kRefused);
  EXPECT_EQ(w.sim.core(2)->holds(), 0u);
  // The third hold at once is over max_holds.
  dht::Token h1 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/1"), 30'000, 3, now);
  });
  dht::Token h2 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/2"), 30'000, 3, now);
  });
  dht::Token h3 = w.issue(3, [&](dht::DhtCore& core, int64_t now) {
    return core.hold(dht::key_for("hold/3"), 30'000, 3, now);
  });
  w.sim.run_until(w.sim.now_us() + 5 * kSecond);
  EXPECT_EQ(w.held(3, h1).at(0).kind, dht::HoldEvent::Kind::kAcquired);
  EXPECT_EQ(w.held(3, h2).at(0).kind, dht::HoldEvent::Kind::kAcquired);
  ASSERT_EQ(w.held(3, h3).size(), 1u);
  EXPECT_EQ(w.held(3, h3)[0].reason->code(), ErrorCode::kLimit);
}

TEST(DhtSim, RestartedNodesRefuseLocksDuringTheirGrace) {
  DhtSimConfig c = small_config(4);
  c.dht.lock_grace_after_start_ms = 30'000;
  World w(c);
  for (int i = 0; i < 50; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("lock/grace");
  auto early =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 1000, 1, now); });
  EXPECT_FALSE(early.result.ok());
  w.sim.run_until(31 * kSecond);
  auto later =
      w.run(1, [&](dht::DhtCore& core, int64_t now) { return core.lock(key, 1000, 1, now); });
  EXPECT_TRUE(later.result.ok());
}

TEST(DhtSim, AMinorityPartitionCannotTakeAHeldLockAndNoOneHoldsTwice) {
  World w(small_config(5));
  const int n = 200;
  for (int i = 0; i < n; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("lock/partition");
  // The replicas of the key: the 20 closest ids.
  std::vector<SimNode> order(n);
  for (int i = 0; i < n; ++i) order[i] = static_cast<SimNode>(i);
  std::sort(order.begin(), order.end(), [&](SimNode x, SimNode y) {
    return dht::closer(key, w.sim.contact(x).id, w.sim.contact(y).id);
  });
  // Side A holds 8 of the 20 replicas and a client; side B the rest.
  std::vector<SimNode> side_a(order.begin(), order.begin() + 8);
  SimNode client_a = order[100], client_b = order[150];
  side_a.push_back(client_a);
  w.sim.partition({side_a});
  auto a =
      w.run(client_a, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 1, now); });
  EXPECT_FALSE(a.result.ok()) << "a minority of the replicas granted a lock";
  auto b =
      w.run(client_b, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 2, now); });
  ASSERT_TRUE(b.result.ok()) << b.result.error().to_string();
  w.sim.heal();
  auto a2 =
      w.run(client_a, [&](dht::DhtCore& c, int64_t now) { return c.lock(key, 20'000, 1, now); });
  EXPECT_FALSE(a2.result.ok()) << "granted while B's lease runs";
}

TEST(DhtSim, ConcurrentCasHasExactlyOneWinnerPerVersion) {
  World w(small_config(9));
  for (int i = 0; i < 120; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("cas/counter");
  uint64_t version = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::pair<SimNode, dht::Token>> ops;
    for (SimNode writer = 10; writer < 12; ++writer)
      ops.emplace_back(writer, w.issue(writer, [&](dht::DhtCore& c, int64_t now) {
        return c.compare_and_set(key, version, bytes_of("by " + std::to_string(writer)), 600,
                                 writer, now);
      }));
    int winners = 0;
    for (auto& [node, token] : ops) {
      auto r = w.wait(node, token);
      if (r.result.ok()) {
        ++winners;
        EXPECT_EQ(r.result.value().number, version + 1);
      }
    }
    EXPECT_LE(winners, 1) << "round " << round;
    auto got = w.run(50, [&](dht::DhtCore& c, int64_t now) { return c.get(key, now); });
    if (winners == 1) {
      ASSERT_TRUE(got.result.ok());
      ASSERT_TRUE(got.result.value().versioned);
      EXPECT_EQ(got.result.value().versioned->version, version + 1);
      ++version;
    }
  }
  // Two writers racing split the votes now and then (no winner, both
  // undone); most rounds still have one.
  EXPECT_GE(version, 2u);
}

TEST(DhtSim, DiffReachesReplicasThatMissTheBase) {
  World w(small_config(12));
  const int n = 100;
  for (int i = 0; i < n; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("notebook/page");
  Bytes v1 = bytes_of("line one\nline two\n");
  auto cas = w.run(
      1, [&](dht::DhtCore& c, int64_t now) { return c.compare_and_set(key, 0, v1, 600, 1, now); });
  ASSERT_TRUE(cas.result.ok()) << cas.result.error().to_string();
  // Four replicas lose everything (crash + restart with an empty store).
  std::vector<SimNode> order(n);
  for (int i = 0; i < n; ++i) order[i] = static_cast<SimNode>(i);
  std::sort(order.begin(), order.end(), [&](SimNode x, SimNode y) {
    return dht::closer(key, w.sim.contact(x).id, w.sim.contact(y).id);
  });
  for (int i = 0; i < 4; ++i) {
    w.sim.crash(order[i]);
    w.sim.restart(order[i]);
    for (int j = 0; j < n; ++j)
      if (j != static_cast<int>(order[i]))
        w.sim.command(order[i], [&](dht::DhtCore& c, int64_t now) {
          c.add_contact(w.sim.contact(static_cast<SimNode>(j)), now);
        });
  }
  Bytes v2 = bytes_of("line one\nline 2\nline three\n");
  auto diff = w.run(2, [&](dht::DhtCore& c, int64_t now) {
    return c.apply_diff(key, 1, dht::make_patch(v1, v2), overlay::blake2b_256(v2), 600, 2, now);
  });
  ASSERT_TRUE(diff.result.ok()) << diff.result.error().to_string();
  EXPECT_EQ(diff.result.value().number, 2u);
  // The replicas that had lost the base now hold the whole new value.
  for (int i = 0; i < 4; ++i) {
    auto s =
        w.sim.core(order[i])->store().get(key, w.sim.local_us(order[i], w.sim.now_us()) / 1000);
    ASSERT_TRUE(s.versioned) << "replica " << i;
    EXPECT_EQ(s.versioned->data, v2);
  }
  auto got = w.run(70, [&](dht::DhtCore& c, int64_t now) { return c.get(key, now); });
  ASSERT_TRUE(got.result.ok());
  ASSERT_TRUE(got.result.value().versioned);
  EXPECT_EQ(got.result.value().versioned->data, v2);
  // A diff against a version that is no longer current is refused.
  auto stale = w.run(3, [&](dht::DhtCore& c, int64_t now) {
    return c.apply_diff(key, 1, dht::make_patch(v1, v2), overlay::blake2b_256(v2), 600, 3, now);
  });
  EXPECT_FALSE(stale.result.ok());
  EXPECT_EQ(stale.current_version, 2u);
}

TEST(DhtSim, ListenersHearNewValuesUntilCancelled) {
  World w(small_config(13));
  for (int i = 0; i < 80; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("room/lobby");
  dht::Token listen = w.issue(5, [&](dht::DhtCore& c, int64_t now) { return c.listen(key, now); });
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  auto put = w.run(9, [&](dht::DhtCore& c, int64_t now) {
    return c.put(key, dht::Value{42, bytes_of("hello"), 600}, now);
  });
  ASSERT_TRUE(put.result.ok());
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  bool heard = false;
  for (auto& e : w.heard[5])
    for (auto& v : e.values)
      if (v.id == 42 && v.data == bytes_of("hello")) heard = true;
  EXPECT_TRUE(heard);
  size_t before = w.heard[5].size();
  // Renewal keeps it alive past the listen duration.
  w.sim.run_until(w.sim.now_us() + 90 * kSecond);
  w.run(9, [&](dht::DhtCore& c, int64_t now) {
    return c.put(key, dht::Value{43, bytes_of("again"), 600}, now);
  });
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  EXPECT_GT(w.heard[5].size(), before);
  w.sim.command(5, [&](dht::DhtCore& c, int64_t now) { c.cancel_listen(listen, now); });
  w.sim.run_until(w.sim.now_us() + kSecond);
  size_t after_cancel = w.heard[5].size();
  w.run(9, [&](dht::DhtCore& c, int64_t now) {
    return c.put(key, dht::Value{44, bytes_of("late"), 600}, now);
  });
  w.sim.run_until(w.sim.now_us() + 2 * kSecond);
  EXPECT_EQ(w.heard[5].size(), after_cancel);
}

TEST(DhtSim, SignedValuesOnlyTheOwnerReplaces) {
  World w(small_config(14));
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("profile");
  auto p1 = w.run(3, [&](dht::DhtCore& c, int64_t now) {
    return c.put_signed(key, bytes_of("v1"), 1, 600, now);
  });
  ASSERT_TRUE(p1.result.ok());
  auto p2 = w.run(3, [&](dht::DhtCore& c, int64_t now) {
    return c.put_signed(key, bytes_of("v2"), 2, 600, now);
  });
  ASSERT_TRUE(p2.result.ok());
  auto old = w.run(3, [&](dht::DhtCore& c, int64_t now) {
    return c.put_signed(key, bytes_of("v0"), 1, 600, now);
  });
  EXPECT_FALSE(old.result.ok()) << "a lower sequence replaced a higher one";
  auto got = w.run(40, [&](dht::DhtCore& c, int64_t now) { return c.get(key, now); });
  ASSERT_TRUE(got.result.ok());
  ASSERT_EQ(got.result.value().signed_values.size(), 1u);
  EXPECT_EQ(got.result.value().signed_values[0].data, bytes_of("v2"));
  EXPECT_EQ(got.result.value().signed_values[0].owner, w.sim.contact(3).key);
}

// The replicas of `key`: every node, closest first.
std::vector<SimNode> by_distance(DhtSim& sim, const dht::Key& key) {
  std::vector<SimNode> order(sim.size());
  for (size_t i = 0; i < sim.size(); ++i) order[i] = static_cast<SimNode>(i);
  std::sort(order.begin(), order.end(), [&](SimNode x, SimNode y) {
    return dht::closer(key, sim.contact(x).id, sim.contact(y).id);
  });
  return order;
}

// A crash that loses the store; the node comes back knowing everyone.
void wipe(World& w, SimNode n) {
  w.sim.crash(n);
  w.sim.restart(n);
  for (SimNode j = 0; j < w.sim.size(); ++j)
    if (j != n)
      w.sim.command(n, [&](dht::DhtCore& c, int64_t now) { c.add_contact(w.sim.contact(j), now); });
}

TEST(DhtSim, ADiffRepairsTheCallersOwnReplicaWhenItMissesTheBase) {
  World w(small_config(15));
  const int n = 80;
  for (int i = 0; i < n; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  dht::Key key = dht::key_for("notebook/mine");
  Bytes v1 = bytes_of("one\n"), v2 = bytes_of("one\ntwo\n");
  ASSERT_TRUE(w.run(1, [&](dht::DhtCore& c, int64_t now) {
                 return c.compare_and_set(key, 0, v1, 600, 1, now);
               }).result.ok());
  // The writer of the diff is the closest replica, and lost the base.
  SimNode caller = by_distance(w.sim, key)[0];
  wipe(w, caller);
  auto diff = w.run(caller, [&](dht::DhtCore& c, int64_t now) {
    return c.apply_diff(key, 1, dht::make_patch(v1, v2), overlay::blake2b_256(v2), 600, 2, now);
  });
  ASSERT_TRUE(diff.result.ok()) << diff.result.error().to_string();
  auto mine = w.sim.core(caller)->store().get(key, w.sim.local_us(caller, w.sim.now_us()) / 1000);
  ASSERT_TRUE(mine.versioned) << "the repair for our own replica went out as a datagram to us";
  EXPECT_EQ(mine.versioned->data, v2);
}

TEST(DhtSim, EveryListenStaysRegisteredNotJustOnePerTick) {
  World w(small_config(16));
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
  const int keys = 12;
  auto key = [](int k) { return dht::key_for("feed/" + std::to_string(k)); };
  for (int k = 0; k < keys; ++k)
    w.issue(5, [&](dht::DhtCore& c, int64_t now) { return c.listen(key(k), now); });
  // Probe across several renewal periods (a registration lasts 61 s): every
  // listen hears every probe.
  for (int probe = 0; probe < 10; ++probe) {
    w.sim.run_until(w.sim.now_us() + 10 * kSecond);
    uint64_t id = 100 + static_cast<uint64_t>(probe);
    for (int k = 0; k < keys; ++k)
      w.issue(9, [&](dht::DhtCore& c, int64_t now) {
        return c.put(key(k), dht::Value{id, bytes_of("p"), 600}, now);
      });
    w.sim.run_until(w.sim.now_us() + 3 * kSecond);
    for (int k = 0; k < keys; ++k) {
      bool heard = false;
      for (auto& e : w.heard[5])
        if (e.key == key(k))
          for (auto& v : e.values) heard = heard || v.id == id;
      EXPECT_TRUE(heard) << "listen " << k << " missed probe " << probe;
    }
  }
}

TEST(DhtSim, RepublishNeverKeepsAValuePastItsTtl) {
  DhtSimConfig c = small_config(17);
  c.dht.republish_interval_ms = 20'000;
  World w(c);
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
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
  for (int i = 0; i < 80; ++i) w.sim.add_node();
  w.sim.warm_start(20);
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
  for (int i = 0; i < 80; ++i) w.sim.add_node();
  w.sim.warm_start(20);
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
  for (int i = 0; i < 60; ++i) w.sim.add_node();
  w.sim.warm_start(20);
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

// The uplink model: a 32 KiB put to 20 replicas is ~660 KB on the writer's
// uplink. At 64 KB/s one STORE alone is half a second on the wire, and the
// STOREs queued behind it outlast the 1 s RPC timeout, so fewer replicas
// acknowledge in time; a backlog longer than the bound is dropped, not
// queued without end.
TEST(DhtSim, UplinkBandwidthPacesAWriterAndBoundsItsBacklog) {
  struct Outcome {
    bool ok = false;
    size_t acks = 0;
    int64_t took_us = 0;
    DhtSimStats stats;
  };
  auto put_big = [](uint64_t bytes_per_s, int64_t backlog_us) {
    DhtSimConfig c = small_config(23);
    c.uplink_bytes_per_s = bytes_per_s;
    c.max_uplink_backlog_us = backlog_us;
    World w(c);
    for (int i = 0; i < 60; ++i) w.sim.add_node();
    w.sim.warm_start(20);
    const int64_t t0 = w.sim.now_us();
    auto r = w.run(3, [&](dht::DhtCore& core, int64_t now) {
      return core.put(dht::key_for("big"), dht::Value{1, Bytes(32 * 1024, 0x5a), 600}, now);
    });
    Outcome o;
    o.ok = r.result.ok();
    if (o.ok) o.acks = r.result->acks;
    o.took_us = w.sim.now_us() - t0;
    o.stats = w.sim.stats();
    return o;
  };
  Outcome fast = put_big(0, 0);
  Outcome slow = put_big(64'000, 60 * kSecond);
  ASSERT_TRUE(fast.ok);
  ASSERT_TRUE(slow.ok);
  EXPECT_GE(slow.took_us, fast.took_us + 500 * kMs) << "the uplink did not pace the writer";
  EXPECT_LT(slow.acks, fast.acks) << "every STORE fit in its RPC timeout on a 64 KB/s uplink";
  EXPECT_EQ(slow.stats.datagrams_uplink_dropped, 0u);
  EXPECT_EQ(fast.stats.datagrams_uplink_dropped, 0u);
  // With a 1 s bound the same burst overflows the uplink: dropped and counted.
  Outcome tight = put_big(64'000, 1 * kSecond);
  EXPECT_GT(tight.stats.datagrams_uplink_dropped, 0u);
}

}  // namespace
}  // namespace chorus::swarm
