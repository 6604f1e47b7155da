// Fair sending and DIRECT messages through two NodeCores: what an app sees
// when a link is slower than what it is asked to carry.
#include <gtest/gtest.h>

#include <random>

#include "core_net.h"

namespace chorus::overlay {
namespace {

constexpr AppId kBulkApp = 20;
constexpr AppId kVoteApp = 21;
constexpr AppId kOtherBulkApp = 22;

// A payload: a sequence number in its first four bytes, then seeded random
// bytes (incompressible, so the window counts what the tests say).
Bytes numbered(uint32_t seq, size_t size) {
  Bytes b(size);
  std::mt19937 rng(seq * 7919 + static_cast<uint32_t>(size));
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  for (int i = 0; i < 4; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  return b;
}
uint32_t number_of(const Bytes& b) {
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}

// Two linked nodes whose apps are registered before they link; node 0's
// socket is slow (its writes are held until released).
void slow_pair(Net& net, OverlayConfig cfg = test_config(0)) {
  for (int i = 0; i < 2; ++i) {
    net.add(cfg);
    NodeCore& c = net.core(static_cast<size_t>(i));
    c.register_app(kBulkApp);
    c.register_app(kVoteApp);
    c.register_app(kOtherBulkApp);
    c.set_app_priority(kBulkApp, AppPriority::kBulk);
    c.set_app_priority(kOtherBulkApp, AppPriority::kBulk);
    c.set_app_priority(kVoteApp, AppPriority::kHigh);
  }
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  net.events(0).clear();
  net.events(1).clear();
  net.node(0).hold_writes = true;
}

// Lets node 0's socket write `step` bytes at a time until nothing is held.
void release_all(Net& net, size_t step) {
  net.run(1 * kMs);  // what the commands queued reaches the socket
  for (int guard = 0; guard < 100000 && !net.node(0).unwritten.empty(); ++guard) {
    net.release_writes(0, step);
    net.run(1 * kMs);
  }
  ASSERT_TRUE(net.node(0).unwritten.empty());
  net.run(10 * kMs);  // and the last bytes arrive
}

TEST(Direct, ArrivesOnceInOrderWithoutAnyAnswer) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  for (uint32_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(net.core(0).send_direct(kApp, net.key(1), numbered(i, 40), net.now_us).ok());
  }
  net.run(10 * kMs);
  auto got = events_of<DirectEvent>(net.events(1));
  ASSERT_EQ(got.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(number_of(got[i].payload), i);
    EXPECT_EQ(got[i].from, net.key(0));
    EXPECT_EQ(got[i].app, kApp);
  }
  // Nothing completes or answers a DIRECT.
  EXPECT_TRUE(events_of<CompletionEvent>(net.events(0)).empty());
  EXPECT_EQ(net.core(0).stats().directs_sent, 100u);
  EXPECT_EQ(net.core(1).stats().directs_received, 100u);
}

TEST(Direct, ToAnAppNotRegisteredIsDroppedAndCountedNotNacked) {
  Net net;
  link_pair(net);
  ASSERT_TRUE(net.core(0).send_direct(99, net.key(1), bytes_of("hi"), net.now_us).ok());
  net.run(10 * kMs);
  EXPECT_TRUE(events_of<DirectEvent>(net.events(1)).empty());
  EXPECT_EQ(net.core(1).stats().directs_unknown_app, 1u);
  EXPECT_TRUE(net.linked(0, 1));
  EXPECT_EQ(net.core(0).stats().bad_signatures, 0u);
}

TEST(Direct, RefusedWithoutALinkOrWhenTooLarge) {
  Net net;
  link_pair(net);
  auto no_link =
      net.core(0).send_direct(kApp, identity_of(77).public_key(), bytes_of("x"), net.now_us);
  ASSERT_FALSE(no_link.ok());
  EXPECT_EQ(no_link.error().code(), ErrorCode::kNotFound);
  Bytes huge(net.core(0).max_payload_bytes() + 1, 1);
  auto too_big = net.core(0).send_direct(kApp, net.key(1), huge, net.now_us);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code(), ErrorCode::kLimit);
  Bytes largest(net.core(0).max_payload_bytes(), 1);
  EXPECT_TRUE(net.core(0).send_direct(kApp, net.key(1), largest, net.now_us).ok());
}

TEST(FairSending, AVoteOvertakesABulkTransferQueuedBeforeIt) {
  Net net;
  slow_pair(net);
  const size_t kBulkMessages = 400;
  const size_t kBulkSize = 16 * 1024;  // 6.4 MiB in all: far past the 1 MiB window
  for (uint32_t i = 0; i < kBulkMessages; ++i) {
    ASSERT_TRUE(
        net.core(0).send_direct(kBulkApp, net.key(1), numbered(i, kBulkSize), net.now_us).ok());
  }
  net.run(1 * kMs);
  EXPECT_GT(net.core(0).stats().messages_queued, 300u);
  ASSERT_TRUE(net.core(0).send_direct(kVoteApp, net.key(1), numbered(0, 100), net.now_us).ok());
  release_all(net, 64 * 1024);
  auto got = events_of<DirectEvent>(net.events(1));
  ASSERT_EQ(got.size(), kBulkMessages + 1);
  size_t vote_at = got.size();
  uint32_t next_bulk = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].app == kVoteApp) {
      vote_at = i;
    } else {
      EXPECT_EQ(number_of(got[i].payload), next_bulk++);
    }
  }
  // Only what was already in the window (1 MiB: 64 messages) goes first.
  const size_t window_messages = test_config(0).link_write_window_bytes / kBulkSize + 1;
  EXPECT_LE(vote_at, window_messages);
  EXPECT_EQ(next_bulk, kBulkMessages);
}

TEST(FairSending, TwoBulkAppsShareASlowLinkByBytes) {
  Net net;
  slow_pair(net);
  // Fill the window first, so everything below waits in the queues.
  for (uint32_t i = 0; i < 80; ++i) {
    ASSERT_TRUE(
        net.core(0).send_direct(kBulkApp, net.key(1), numbered(i, 16 * 1024), net.now_us).ok());
  }
  net.run(1 * kMs);
  net.events(1).clear();
  // Then: app A 3 MiB in 1 KiB messages, app B 3 MiB in 48 KiB messages.
  for (uint32_t i = 0; i < 3072; ++i) {
    ASSERT_TRUE(
        net.core(0).send_direct(kBulkApp, net.key(1), numbered(80 + i, 1024), net.now_us).ok());
  }
  for (uint32_t i = 0; i < 64; ++i) {
    ASSERT_TRUE(net.core(0)
                    .send_direct(kOtherBulkApp, net.key(1), numbered(i, 48 * 1024), net.now_us)
                    .ok());
  }
  release_all(net, 64 * 1024);
  // Count the bytes each app got over the first 4 MiB after the window
  // drained: 2 MiB each (within a few quanta), not 64:1 by message count.
  size_t a = 0, b = 0;
  for (const auto& e : events_of<DirectEvent>(net.events(1))) {
    if (a + b >= 4u << 20) break;
    if (e.app == kBulkApp && number_of(e.payload) < 80) continue;  // the window's
    (e.app == kBulkApp ? a : b) += e.payload.size();
  }
  const double ratio = static_cast<double>(a) / static_cast<double>(b);
  EXPECT_GT(ratio, 0.85) << a << " vs " << b;
  EXPECT_LT(ratio, 1.15) << a << " vs " << b;
}

TEST(FairSending, AFullAppQueueRefusesThatAppOnlyAndKeepsTheLink) {
  OverlayConfig cfg = test_config(0);
  cfg.max_app_queue_bytes = cfg.max_frame_bytes;  // the smallest allowed: 1 MiB
  Net net;
  slow_pair(net, cfg);
  Result<void> r;
  size_t accepted = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    r = net.core(0).send_direct(kBulkApp, net.key(1), numbered(i, 16 * 1024), net.now_us);
    if (!r.ok()) break;
    ++accepted;
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  // About the window plus the app's queue: 2 MiB of 16 KiB messages.
  EXPECT_GT(accepted, 110u);
  EXPECT_LT(accepted, 140u);
  EXPECT_GE(net.core(0).stats().app_queue_refused, 1u);
  // Another app still gets through, and so do requests of it.
  EXPECT_TRUE(net.core(0).send_direct(kVoteApp, net.key(1), numbered(0, 10), net.now_us).ok());
  auto w = net.core(0).whisper(kVoteApp, net.key(1), bytes_of("vote"), false, net.now_us);
  ASSERT_TRUE(w.ok());
  // While a WHISPER of the full app is refused at once, not left to time out.
  auto refused =
      net.core(0).whisper(kBulkApp, net.key(1), numbered(0, 16 * 1024), false, net.now_us);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kLimit);
  release_all(net, 64 * 1024);
  EXPECT_TRUE(net.linked(0, 1));
  EXPECT_EQ(events_of<DirectEvent>(net.events(1)).size(), accepted + 1);
  auto done = completion(net.events(0), *w);
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->result.ok());
}

TEST(FairSending, ControlMessagesNeverWaitBehindAppData) {
  Net net;
  slow_pair(net);
  for (uint32_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(
        net.core(0).send_direct(kBulkApp, net.key(1), numbered(i, 16 * 1024), net.now_us).ok());
  }
  net.run(1 * kMs);
  // A PING goes past the 3.7 MiB queued: it completes while nothing more
  // was written, in one round trip.
  auto ping = net.core(0).ping(net.key(1), net.now_us);
  ASSERT_TRUE(ping.ok());
  net.run(5 * kMs);
  auto done = completion(net.events(0), *ping);
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->result.ok());
  EXPECT_GT(net.core(0).queued_bytes(net.key(1)), 2u << 20);
}

}  // namespace
}  // namespace chorus::overlay
