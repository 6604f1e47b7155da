// Streams on the overlay Simulator: one long stream (a ledger bootstrap's
// shape) across a link with real latency and bandwidth. Everything arrives,
// in order, exactly once, and the responder never has more DATA queued or
// in flight than the opener's window.
#include <gtest/gtest.h>

#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

using overlay::Event;
using overlay::NodeCore;
using overlay::OverlayConfig;

constexpr overlay::AppId kApp = 12;
constexpr int64_t kSecond = 1'000'000;

Bytes numbered(size_t i) {
  Bytes b(200, static_cast<uint8_t>(i * 7));
  for (int k = 0; k < 8; ++k) b[static_cast<size_t>(k)] = static_cast<uint8_t>(i >> (8 * k));
  return b;
}

TEST(StreamSim, ThousandsOfMessagesArriveInOrderWithinTheWindow) {
  constexpr size_t kCount = 4000;
  constexpr uint32_t kWindow = 32;
  SimConfig sc{.seed = 5};
  sc.link.latency_base_us = 20'000;  // 20-40 ms one way
  sc.link.latency_jitter_us = 20'000;
  sc.link.bandwidth_bytes_per_s = 2e6;
  Simulator sim(sc);
  size_t written = 0, received = 0, max_in_flight = 0, ends = 0, closes = 0;
  bool in_order = true, ok = false;
  overlay::StreamHandle handle = 0;
  auto write_all = [&](NodeCore& core) {
    while (written < kCount && core.stream_credit(handle) > 0) {
      ASSERT_TRUE(core.stream_write(handle, numbered(written), sim.now_us()).ok());
      ++written;
      max_in_flight = std::max(max_in_flight, written - received);
    }
    if (written == kCount) {
      ASSERT_TRUE(core.stream_end(handle, overlay::kStreamFinished, "", sim.now_us()).ok());
      ++written;  // ended
    }
  };
  sim.on_start = [](NodeId, NodeCore& core) { core.register_app(kApp); };
  sim.on_event = [&](NodeId n, Event& e) {
    if (auto* o = std::get_if<overlay::StreamOpenEvent>(&e)) {
      handle = o->handle;
      write_all(*sim.core(n));
    } else if (std::get_if<overlay::StreamCreditEvent>(&e)) {
      write_all(*sim.core(n));
    } else if (auto* d = std::get_if<overlay::StreamDataEvent>(&e)) {
      if (d->payload != numbered(received)) in_order = false;
      ++received;
    } else if (auto* end = std::get_if<overlay::StreamEndEvent>(&e)) {
      ++ends;
      ok = end->result.ok();
    } else if (std::get_if<overlay::StreamClosedEvent>(&e)) {
      ++closes;
    }
  };
  OverlayConfig c;
  c.rotate_interval_ms = 0;
  const NodeId responder = sim.add_node(c);
  c.bootstrap.push_back(sim.address(responder));
  const NodeId opener = sim.add_node(c);
  ASSERT_TRUE(sim.run_until(2 * kSecond));
  ASSERT_TRUE(sim.connected());
  const int64_t start = sim.now_us();
  sim.command(opener, [&](NodeCore& core, int64_t now) {
    ASSERT_TRUE(core.open_stream(kApp, sim.key(responder), {}, kWindow, now).ok());
  });
  ASSERT_TRUE(sim.run_until(start + 120 * kSecond));
  EXPECT_EQ(received, kCount);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(ends, 1u);
  EXPECT_TRUE(ok);
  EXPECT_EQ(closes, 1u);
  EXPECT_LE(max_in_flight, kWindow);
  EXPECT_EQ(sim.core(opener)->stream_count() + sim.core(responder)->stream_count(), 0u);
}

}  // namespace
}  // namespace chorus::swarm
