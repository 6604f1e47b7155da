// Validate before forward and content-addressed SHOUTs between real nodes on
// loopback TCP: verdicts given at once and later from another thread, a
// penalty that closes the sender's link, and one payload from two
// publishers delivered once per node.
#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "harness.h"
#include "inbox.h"

namespace chorus::itest {
namespace {

constexpr AppId kApp = 7;

class ShoutVerdictTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

// Verdict handles the validator put aside (kLater), for the test thread.
class Later {
 public:
  void add(ShoutVerdict v) {
    {
      std::lock_guard<std::mutex> g(mu_);
      items_.push_back(std::move(v));
    }
    cv_.notify_all();
  }
  ShoutVerdict take() {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, kWait, [&] { return !items_.empty(); })) {
      throw std::runtime_error("timed out waiting for a held SHOUT");
    }
    ShoutVerdict v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ShoutVerdict> items_;
};

bool starts_with(ByteView b, std::string_view prefix) {
  return b.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), b.begin());
}

// Records, then: "bad…" drop at once, "evil…" penalize at once, "late…"
// later (through `later`), anything else forward at once.
AppHandlers validating(std::shared_ptr<Inbox> inbox, std::shared_ptr<Later> later) {
  AppHandlers h;
  h.validate_shout = [inbox, later](const ShoutInfo& s, ShoutVerdict v) {
    inbox->add({s.from, s.origin, Bytes(s.payload.begin(), s.payload.end()), false, false});
    if (starts_with(s.payload, "bad")) return ShoutDecision::kDrop;
    if (starts_with(s.payload, "evil")) return ShoutDecision::kPenalize;
    if (starts_with(s.payload, "late")) {
      later->add(std::move(v));
      return ShoutDecision::kLater;
    }
    return ShoutDecision::kForward;
  };
  return h;
}

TEST_F(ShoutVerdictTest, InvalidShoutStopsAtTheValidatorAndALateVerdictForwards) {
  // A - B - C in a line (no shortcut: A dials nobody, C only B). B validates.
  auto in_b = std::make_shared<Inbox>();
  auto in_c = std::make_shared<Inbox>();
  auto later = std::make_shared<Later>();
  OverlayConfig ca = fast_config();
  ca.max_outbound_links = 0;
  TestNode a = start_node(ca, true);
  OverlayConfig cb = fast_config();
  cb.bootstrap = {a.addr()};
  cb.max_outbound_links = 1;
  cb.misbehaviour_limit = 10;  // one penalty closes the link
  TestNode b = start_node(cb, true, {{kApp, validating(in_b, later)}});
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  OverlayConfig cc = fast_config();
  cc.bootstrap = {b.addr()};
  cc.max_outbound_links = 1;
  TestNode c = start_node(cc, true, {{kApp, recording_handlers(in_c)}});
  ASSERT_TRUE(b.watch->wait_up(c.key()));

  a->shout(kApp, text("bad block"));
  a->shout(kApp, text("late block"));
  ASSERT_TRUE(in_b->wait_size(2));
  ShoutVerdict v = later.get()->take();
  // Held: C has nothing yet. The verdict comes from this (non-loop) thread.
  EXPECT_EQ(in_c->size(), 0u);
  std::thread([v = std::move(v)]() mutable { v.forward(); }).join();
  ASSERT_TRUE(in_c->wait_payload(text("late block")));
  // B sends to C in order: had the bad one gone on, it would be there first.
  EXPECT_EQ(in_c->count(text("bad block")), 0u);
  EXPECT_EQ(in_c->size(), 1u);
  auto stats = on_loop(*b, [&] { return b->stats(); });
  EXPECT_EQ(stats.shouts_held, 2u);
  EXPECT_EQ(stats.shout_verdicts_dropped, 1u);
  EXPECT_EQ(stats.shout_verdicts_forwarded, 1u);

  // A penalty: B closes its link to A, the neighbour that sent it.
  a->shout(kApp, text("evil block"));
  std::string reason;
  ASSERT_TRUE(b.watch->wait_down(a.key(), kWait, &reason));
  EXPECT_NE(reason.find("rejected as invalid"), std::string::npos) << reason;
  EXPECT_EQ(in_c->count(text("evil block")), 0u);
}

// A verdict kept past its node: resolving it does nothing (the node and its
// held SHOUTs are gone), and it cannot reach freed memory.
TEST_F(ShoutVerdictTest, AVerdictKeptPastItsNodeResolvesToNothing) {
  auto in_b = std::make_shared<Inbox>();
  auto later = std::make_shared<Later>();
  TestNode a = start_node(fast_config(), true);
  OverlayConfig cb = fast_config();
  cb.bootstrap = {a.addr()};
  TestNode b = start_node(cb, true, {{kApp, validating(in_b, later)}});
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  a->shout(kApp, text("late block"));
  ShoutVerdict v = later->take();
  EXPECT_TRUE(v.valid());
  b.node.reset();
  v.forward();
  EXPECT_FALSE(v.valid());
  ShoutVerdict moved = std::move(v);
  EXPECT_FALSE(moved.valid());
  moved.drop();  // a second resolve is ignored too
}

TEST_F(ShoutVerdictTest, BothHandlersAtOnceAreRefused) {
  auto node = Node::create(NodeOptions{});
  ASSERT_TRUE(node.ok());
  AppHandlers h;
  h.on_shout = [](const ShoutInfo&) {};
  h.validate_shout = [](const ShoutInfo&, ShoutVerdict) { return ShoutDecision::kForward; };
  EXPECT_EQ((*node)->register_app(kApp, std::move(h)).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ShoutVerdictTest, ContentAddressedShoutFromTwoOriginsIsDeliveredOncePerNode) {
  // A - B - C - D in a line; A and D publish the same payload.
  constexpr size_t kNodes = 4;
  std::vector<std::shared_ptr<Inbox>> inbox;
  for (size_t i = 0; i < kNodes; ++i) inbox.push_back(std::make_shared<Inbox>());
  std::vector<TestNode> n;
  for (size_t i = 0; i < kNodes; ++i) {
    OverlayConfig c = fast_config();
    c.content_shout_apps = {kApp};
    c.max_outbound_links = i == 0 ? 0 : 1;
    if (i > 0) c.bootstrap = {n[i - 1].addr()};
    AppHandlers h;
    h.validate_shout = [in = inbox[i]](const ShoutInfo& s, ShoutVerdict) {
      EXPECT_TRUE(s.content_addressed);
      EXPECT_EQ(s.origin, PublicKey{});
      in->add({s.from, s.origin, Bytes(s.payload.begin(), s.payload.end()), false, false});
      return ShoutDecision::kForward;  // a real app checks the block's own signature here
    };
    n.push_back(start_node(c, true, {{kApp, std::move(h)}}));
    if (i > 0) {  // up on both ends before anyone publishes
      ASSERT_TRUE(n[i].watch->wait_up(n[i - 1].key()));
      ASSERT_TRUE(n[i - 1].watch->wait_up(n[i].key()));
    }
  }
  const Bytes vote = text("vote:42");  // every payload here is 7 bytes
  n[0]->shout(kApp, vote);
  n[kNodes - 1]->shout(kApp, vote);
  for (size_t i = 1; i + 1 < kNodes; ++i) ASSERT_TRUE(inbox[i]->wait_payload(vote)) << i;
  // A fence from each end: once it arrived, any duplicate would have too.
  const Bytes fence_a = text("fenceA1");
  const Bytes fence_d = text("fenceD2");
  n[0]->shout(kApp, fence_a);
  n[kNodes - 1]->shout(kApp, fence_d);
  for (size_t i = 0; i < kNodes; ++i) {
    if (i != 0) {
      ASSERT_TRUE(inbox[i]->wait_payload(fence_a)) << i;
    }
    if (i != kNodes - 1) {
      ASSERT_TRUE(inbox[i]->wait_payload(fence_d)) << i;
    }
  }
  uint64_t sent = 0, bytes = 0, bad = 0;
  for (size_t i = 0; i < kNodes; ++i) {
    // A publisher sees the payload only when the other publisher's copy
    // reached it before its own shout ran (its loop was slow): at most once.
    const bool publisher = i == 0 || i == kNodes - 1;
    if (publisher) {
      EXPECT_LE(inbox[i]->count(vote), 1u) << i;
    } else {
      EXPECT_EQ(inbox[i]->count(vote), 1u) << i;
    }
    auto s = on_loop(*n[i], [&] { return n[i]->stats(); });
    sent += s.shouts_sent;
    bytes += s.shout_bytes_sent;
    bad += s.bad_signatures;
  }
  // Every record is 8 bytes + payload: no origin key, no signature.
  EXPECT_EQ(bytes, sent * (8 + vote.size()));
  EXPECT_EQ(bad, 0u);
}

}  // namespace
}  // namespace chorus::itest
