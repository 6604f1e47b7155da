// The DHT as users rely on it, run on the deterministic simulator: nodes
// join through one bootstrap address, values come back from any node, under
// churn and loss; CAS has one winner per version; diffs reach replicas that
// miss the base; listeners hear about changes; a run replays from its seed.
// Locks: dht_sim_lock_test.cc; republishing: dht_sim_republish_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "chorus/dht/patch.h"
#include "chorus/swarm/dht_sim.h"
#include "dht_sim_world.h"

namespace chorus::swarm {
namespace {

using test::by_distance;
using test::bytes_of;
using test::kMs;
using test::kSecond;
using test::small_config;
using test::wipe;
using test::World;

TEST(DhtSim, NodesJoinThroughOneBootstrapAddressAndFindEachOthersValues) {
  World w(small_config(7));
  const size_t n = 60;
  ASSERT_NO_FATAL_FAILURE(w.join_through_first(n));
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
  w.add_warm(n);
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
  w.add_warm(120);
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
  w.add_warm(40);
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
    w.add_warm(80);
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

TEST(DhtSim, ConcurrentCasHasExactlyOneWinnerPerVersion) {
  World w(small_config(9));
  w.add_warm(120);
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
  w.add_warm(n);
  dht::Key key = dht::key_for("notebook/page");
  Bytes v1 = bytes_of("line one\nline two\n");
  auto cas = w.run(
      1, [&](dht::DhtCore& c, int64_t now) { return c.compare_and_set(key, 0, v1, 600, 1, now); });
  ASSERT_TRUE(cas.result.ok()) << cas.result.error().to_string();
  // Four replicas lose everything (crash + restart with an empty store).
  auto order = by_distance(w.sim, key);
  for (int i = 0; i < 4; ++i) wipe(w, order[i]);
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
  w.add_warm(80);
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
  w.add_warm(60);
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

TEST(DhtSim, ADiffRepairsTheCallersOwnReplicaWhenItMissesTheBase) {
  World w(small_config(15));
  const int n = 80;
  w.add_warm(n);
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
  w.add_warm(60);
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
    w.add_warm(60);
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
