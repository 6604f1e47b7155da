// Fair sending and DIRECT messages on the overlay Simulator: a bulk app keeps
// a slow link busy for seconds while a high-priority app sends a small
// message every 100 ms. Each vote waits only for what the socket already
// held when it was sent, not for the bulk backlog nor for bulk data queued
// behind it, and the bulk transfer still arrives whole and in order. The
// simulated link reports bytes as written only once its bandwidth has
// carried them, and delivers a large send segment by segment, as TCP does.
#include <gtest/gtest.h>

#include <map>

#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

using overlay::AppPriority;
using overlay::Event;
using overlay::NodeCore;
using overlay::OverlayConfig;

constexpr overlay::AppId kBulkApp = 20;
constexpr overlay::AppId kVoteApp = 21;
constexpr int64_t kMs = 1'000;
constexpr int64_t kSecond = 1'000'000;

Bytes numbered(uint32_t i, size_t size) {
  Bytes b(size, static_cast<uint8_t>(i * 13));
  for (int k = 0; k < 4; ++k) b[static_cast<size_t>(k)] = static_cast<uint8_t>(i >> (8 * k));
  return b;
}
uint32_t number_of(const Bytes& b) {
  uint32_t n = 0;
  for (int k = 0; k < 4; ++k) n |= static_cast<uint32_t>(b[static_cast<size_t>(k)]) << (8 * k);
  return n;
}

TEST(FairSendingSim, VotesCrossASaturatedLinkWithinTheWriteWindow) {
  constexpr double kBandwidth = 1e6;  // bytes per second, each way
  constexpr int64_t kLatency = 10 * kMs;
  constexpr uint32_t kBulkMessages = 30;
  constexpr size_t kBulkSize = 128 * 1024;  // 3.9 MB: about 3.9 s of link time
  constexpr uint32_t kVotes = 20;           // one per 100 ms, all during the bulk
  SimConfig sc{.seed = 11};
  sc.link.latency_base_us = kLatency;
  sc.link.latency_jitter_us = 0;
  sc.link.bandwidth_bytes_per_s = kBandwidth;
  Simulator sim(sc);

  std::map<uint32_t, int64_t> vote_sent_at;
  std::vector<int64_t> vote_delay_us;
  uint32_t next_bulk = 0;
  bool bulk_in_order = true;
  int64_t bulk_done_at = 0;
  sim.on_start = [](NodeId, NodeCore& core) {
    core.register_app(kBulkApp);
    core.set_app_priority(kBulkApp, AppPriority::kBulk);
    core.register_app(kVoteApp);
    core.set_app_priority(kVoteApp, AppPriority::kHigh);
  };
  sim.on_event = [&](NodeId, Event& e) {
    auto* d = std::get_if<overlay::DirectEvent>(&e);
    if (!d) return;
    const uint32_t n = number_of(d->payload);
    if (d->app == kVoteApp) {
      vote_delay_us.push_back(sim.now_us() - vote_sent_at.at(n));
    } else if (n != next_bulk++) {
      bulk_in_order = false;
    } else if (next_bulk == kBulkMessages) {
      bulk_done_at = sim.now_us();
    }
  };
  OverlayConfig c;
  c.rotate_interval_ms = 0;
  c.compression.clear();  // the link carries exactly what the apps send
  c.link_write_window_bytes = 64 << 10;
  const NodeId receiver = sim.add_node(c);
  c.bootstrap.push_back(sim.address(receiver));
  const NodeId sender = sim.add_node(c);
  ASSERT_TRUE(sim.run_until(2 * kSecond));
  ASSERT_TRUE(sim.connected());

  const int64_t start = sim.now_us();
  sim.command(sender, [&](NodeCore& core, int64_t now) {
    for (uint32_t i = 0; i < kBulkMessages; ++i) {
      ASSERT_TRUE(core.send_direct(kBulkApp, sim.key(receiver), numbered(i, kBulkSize), now).ok());
    }
  });
  for (uint32_t v = 0; v < kVotes; ++v) {
    sim.at(start + (v + 1) * 100 * kMs, [&, v] {
      sim.command(sender, [&, v](NodeCore& core, int64_t now) {
        vote_sent_at[v] = now;
        ASSERT_TRUE(core.send_direct(kVoteApp, sim.key(receiver), numbered(v, 100), now).ok());
      });
    });
  }
  ASSERT_TRUE(sim.run_until(start + 20 * kSecond));

  ASSERT_EQ(vote_delay_us.size(), kVotes);
  EXPECT_EQ(next_bulk, kBulkMessages);
  EXPECT_TRUE(bulk_in_order);
  // Every vote was sent while the bulk backlog was seconds long...
  EXPECT_GT(bulk_done_at, start + (kVotes + 5) * 100 * kMs);
  // ...yet waited only for what the socket could already hold (the write
  // window plus one record) and its own small frame. Framed together with
  // the bulk record drained after it, it would wait for that record too.
  const int64_t bound =
      kLatency +
      static_cast<int64_t>((c.link_write_window_bytes + kBulkSize + 1024) * 1e6 / kBandwidth);
  for (int64_t d : vote_delay_us) EXPECT_LE(d, bound);
}

}  // namespace
}  // namespace chorus::swarm
