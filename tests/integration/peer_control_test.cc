// Peer control, network ids and Responders on real nodes over loopback TCP.
// Every wait is bounded and event-driven (completions, peer events, EOF).
#include <gtest/gtest.h>

#include <atomic>

#include "harness.h"

namespace chorus::itest {
namespace {

constexpr AppId kApp = 31;

class PeerControlTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

// The result of a DoneCallback command, waited for.
template <typename Start>
Result<void> done_of(Start start) {
  auto p = std::make_shared<std::promise<Result<void>>>();
  auto f = p->get_future();
  start([p](Result<void> r) { p->set_value(std::move(r)); });
  return await(f, kWait, "a command's completion");
}

Result<void> connect(Node& from, const SocketAddress& to, const PublicKey& key) {
  return done_of([&](DoneCallback d) { from.connect(to, key, std::move(d)); });
}

TestNode start_pair_member(OverlayConfig cfg, std::optional<SocketAddress> boot = {}) {
  if (boot) cfg.bootstrap = {*boot};
  return start_node(cfg, true);
}

// The bug this stop fixes: a peer that misbehaved (here a frame that fails
// authentication) could reconnect at once. Now its key is banned and its
// next HELLO is refused: the node sends no AUTH and closes.
TEST_F(PeerControlTest, MisbehavingKeyIsRefusedBeforeItsNextHandshakeCompletes) {
  TestNode a = start_node(fast_config());
  const Identity bad = Identity::generate();
  {
    RawClient c(a.addr());
    c.handshake(bad);
    Bytes junk = {0, 0, 0, 20};
    junk.resize(24, 0);  // a frame that fails authentication: limit at once
    ASSERT_TRUE(c.send_all(junk));
    ASSERT_TRUE(c.wait_closed(kWait));
  }
  RawClient again(a.addr());
  Random random;
  Handshake hs(bad, Role::kInitiator, 0, random);
  ASSERT_TRUE(again.send_all(hs.take_output()));
  Bytes hello = again.read_exact(kHelloBytes);
  auto used = hs.on_bytes(hello);
  ASSERT_TRUE(used) << used.error().to_string();
  (void)again.send_all(hs.take_output());  // our AUTH (the node may have closed already)
  Bytes more = again.read_some(kWait);
  EXPECT_TRUE(more.empty()) << "the node sent " << more.size() << " bytes (its AUTH?)";
  EXPECT_FALSE(hs.done());
  auto stats = on_loop(*a, [&] { return a->stats(); });
  EXPECT_EQ(stats.bans, 1u);
  EXPECT_EQ(stats.banned_refused, 1u);
}

TEST_F(PeerControlTest, BanClosesRefusesAndUnbanLetsThePeerBack) {
  TestNode a = start_pair_member(fast_config());
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  EXPECT_EQ(done_of([&](DoneCallback d) { a->ban(b.key(), 0, std::move(d)); }).error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(done_of([&](DoneCallback d) { a->ban(b.key(), 60'000, std::move(d)); }));
  std::string reason;
  ASSERT_TRUE(a.watch->wait_down(b.key(), kWait, &reason));
  EXPECT_EQ(reason, "banned: by the application");
  ASSERT_TRUE(b.watch->wait_down(a.key()));
  // B dials A: refused at its HELLO, so B's connect fails with A's close.
  EXPECT_FALSE(connect(*b, a.addr(), a.key()));
  // A does not dial B either.
  auto own = connect(*a, b.addr(), b.key());
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code(), ErrorCode::kRefused);
  EXPECT_FALSE(a.linked_to(b));
  ASSERT_TRUE(done_of([&](DoneCallback d) { a->unban(b.key(), std::move(d)); }));
  EXPECT_EQ(done_of([&](DoneCallback d) { a->unban(b.key(), std::move(d)); }).error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(connect(*b, a.addr(), a.key()));
  ASSERT_TRUE(a.watch->wait_up(b.key()));
}

TEST_F(PeerControlTest, PenalizeToTheLimitDisconnectsWithTheReasonAndBans) {
  TestNode a = start_pair_member(fast_config());
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  const int limit = OverlayConfig{}.misbehaviour_limit;
  ASSERT_TRUE(
      done_of([&](DoneCallback d) { a->penalize(b.key(), limit / 2, "odd", std::move(d)); }));
  EXPECT_TRUE(ping(*a, b.key())) << "below the limit the link stays";
  ASSERT_TRUE(done_of([&](DoneCallback d) {
    a->penalize(b.key(), limit - limit / 2, "invalid block", std::move(d));
  }));
  std::string reason;
  ASSERT_TRUE(a.watch->wait_down(b.key(), kWait, &reason));
  EXPECT_EQ(reason, "invalid block");
  ASSERT_TRUE(b.watch->wait_down(a.key()));
  EXPECT_FALSE(connect(*b, a.addr(), a.key()));
  EXPECT_EQ(done_of([&](DoneCallback d) { a->penalize(b.key(), 1, "gone", std::move(d)); })
                .error()
                .code(),
            ErrorCode::kNotFound);
}

TEST_F(PeerControlTest, DisconnectShowsTheAppsReasonAndDoesNotBan) {
  TestNode a = start_pair_member(fast_config());
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  ASSERT_TRUE(
      done_of([&](DoneCallback d) { a->disconnect(b.key(), "maintenance", std::move(d)); }));
  std::string reason;
  ASSERT_TRUE(a.watch->wait_down(b.key(), kWait, &reason));
  EXPECT_EQ(reason, "maintenance");
  ASSERT_TRUE(connect(*b, a.addr(), a.key())) << "no ban: B may come back";
}

TEST_F(PeerControlTest, DifferentNetworkIdsNeverLinkAndEachSideSaysWhy) {
  OverlayConfig live = fast_config(), test = fast_config();
  live.network_id = "nano/live";
  test.network_id = "nano/test";
  TestNode a = start_node(live);
  TestNode b = start_node(test);
  TestNode c = start_node(live);
  auto from_b = connect(*b, a.addr(), a.key());
  ASSERT_FALSE(from_b);
  EXPECT_NE(from_b.error().message().find("network id mismatch"), std::string::npos)
      << from_b.error().to_string();
  auto from_a = connect(*a, b.addr(), b.key());
  ASSERT_FALSE(from_a);
  EXPECT_NE(from_a.error().message().find("network id mismatch"), std::string::npos)
      << from_a.error().to_string();
  EXPECT_TRUE(connect(*c, a.addr(), a.key())) << "the same network links";
  EXPECT_EQ(a.watch->ups(b.key()), 0);
  EXPECT_EQ(b.watch->ups(a.key()), 0);
}

TEST_F(PeerControlTest, DroppedResponderFailsTheRequestAtOnce) {
  AppHandlers dropper;
  dropper.on_whisper = [](const WhisperInfo&, Responder) {};  // drops it unanswered
  TestNode a = start_node(fast_config(), true, {{kApp, dropper}});
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  RequestOptions o;
  o.timeout_ms = 60'000;  // the test would time out long before this
  auto r = request(*b, kApp, a.key(), text("anyone?"), o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kRefused) << r.error().to_string();
  EXPECT_NE(r.error().message().find("dropped unanswered"), std::string::npos);
  EXPECT_TRUE(ping(*b, a.key())) << "the link stays";
}

// A request the app gives up on: its callback runs once, kCancelled, long
// before its timeout, and the answer that comes later is ignored. One
// cancelled before the loop issued it never reaches the peer.
TEST_F(PeerControlTest, CancelledRequestEndsOnceAndOneCancelledAtOnceIsNeverSent) {
  auto held = std::make_shared<std::promise<Responder>>();
  auto held_f = held->get_future();
  auto seen = std::make_shared<std::vector<std::string>>();  // loop thread of a
  auto last = std::make_shared<std::promise<void>>();
  AppHandlers keeper;
  keeper.on_whisper = [held, seen, last](const WhisperInfo& w, Responder r) {
    std::string what(w.payload.begin(), w.payload.end());
    seen->push_back(what);
    if (what == "hold") held->set_value(std::move(r));
    if (what == "last") {
      (void)r.reply(text("ok"));
      last->set_value();
    }
  };
  TestNode a = start_node(fast_config(), true, {{kApp, keeper}});
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  struct Ends {
    std::atomic<int> count{0};
    std::promise<Result<Bytes>> first;
  };
  auto ends = std::make_shared<Ends>();
  RequestOptions o;
  o.timeout_ms = 60'000;
  PendingCommand pending = b->request(kApp, a.key(), text("hold"), o, [ends](Result<Bytes> r) {
    if (++ends->count == 1) ends->first.set_value(std::move(r));
  });
  Responder r = await(held_f, kWait, "the request");
  pending.cancel();
  auto end_f = ends->first.get_future();
  auto ended = await(end_f, kWait, "the cancelled request's end");
  ASSERT_FALSE(ended);
  EXPECT_EQ(ended.error().code(), ErrorCode::kCancelled) << ended.error().to_string();
  ASSERT_TRUE(r.reply(text("too late")));  // reaches b, which ignores it
  pending.cancel();                        // a second cancel does nothing

  // Cancelled right after the call, from the same thread: the loop sees
  // the cancel before it issues the request.
  auto never = std::make_shared<std::promise<Result<Bytes>>>();
  auto never_f = never->get_future();
  b->request(kApp, a.key(), text("never"), o, [never](Result<Bytes> x) {
     never->set_value(x);
   }).cancel();
  auto n = await(never_f, kWait, "the request cancelled at once");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kCancelled);
  ASSERT_TRUE(request(*b, kApp, a.key(), text("last")));  // after "never" on the same link
  auto last_f = last->get_future();
  await(last_f, kWait, "the last request");
  EXPECT_EQ(on_loop(*a, [seen] { return *seen; }), (std::vector<std::string>{"hold", "last"}));
  EXPECT_EQ(ends->count.load(), 1);
}

TEST_F(PeerControlTest, ResponderReportsAnsweredNonRequestsAndADeadNode) {
  auto kept = std::make_shared<std::promise<Responder>>();
  auto kept_f = kept->get_future();
  auto non_request = std::make_shared<std::promise<Result<void>>>();
  auto non_request_f = non_request->get_future();
  AppHandlers keeper;
  keeper.on_whisper = [kept, non_request](const WhisperInfo& w, Responder r) {
    if (w.is_request) {
      kept->set_value(std::move(r));
    } else {
      EXPECT_FALSE(r.valid());
      non_request->set_value(r.reply(text("no")));
    }
  };
  TestNode a = start_node(fast_config(), true, {{kApp, keeper}});
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(whisper(*b, kApp, a.key(), text("just saying")));
  auto nr = await(non_request_f, kWait, "the WHISPER");
  ASSERT_FALSE(nr);
  EXPECT_EQ(nr.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Responder().reply(text("x")).error().code(), ErrorCode::kInvalidArgument);

  auto first = std::make_shared<std::promise<Result<Bytes>>>();
  auto first_f = first->get_future();
  b->request(kApp, a.key(), text("q1"), {}, [first](Result<Bytes> r) { first->set_value(r); });
  Responder r1 = await(kept_f, kWait, "the first request");
  ASSERT_TRUE(r1.valid());
  ASSERT_TRUE(r1.reply(text("a1")));
  EXPECT_FALSE(r1.valid());
  EXPECT_EQ(r1.reply(text("again")).error().code(), ErrorCode::kInvalidArgument);
  auto got = await(first_f, kWait, "the response");
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(*got, text("a1"));

  // A Responder kept past its node's life answers kCancelled, and dropping
  // it then does nothing (no dangling pointer to the destroyed node).
  kept = std::make_shared<std::promise<Responder>>();
  auto kept2_f = kept->get_future();
  // The handler captured the old promise; a fresh request goes to a fresh app.
  AppHandlers keeper2;
  keeper2.on_whisper = [kept](const WhisperInfo&, Responder r) { kept->set_value(std::move(r)); };
  ASSERT_TRUE(a->register_app(kApp + 1, keeper2));
  auto second = std::make_shared<std::promise<Result<Bytes>>>();
  auto second_f = second->get_future();
  b->request(kApp + 1, a.key(), text("q2"), {},
             [second](Result<Bytes> r) { second->set_value(r); });
  Responder r2 = await(kept2_f, kWait, "the second request");
  a.node.reset();
  auto lost = r2.reply(text("too late"));
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code(), ErrorCode::kCancelled);
  auto second_r = await(second_f, kWait, "the requester's end");
  EXPECT_FALSE(second_r);  // the link closed under it
}

TEST_F(PeerControlTest, UnregisterAppFromItsOwnHandlerStopsDeliveries) {
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto unregistered = std::make_shared<std::promise<Result<void>>>();
  auto unregistered_f = unregistered->get_future();
  Node* a_node = nullptr;
  AppHandlers once;
  once.on_whisper = [&a_node, seen, unregistered](const WhisperInfo&, Responder) {
    if (seen->fetch_add(1) == 0) unregistered->set_value(a_node->unregister_app(kApp));
  };
  TestNode a = start_node(fast_config(), true, {{kApp, once}});
  a_node = a.node.get();
  TestNode b = start_pair_member(fast_config(), a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(whisper(*b, kApp, a.key(), text("first")));
  ASSERT_TRUE(await(unregistered_f, kWait, "unregister_app"));
  auto second = whisper(*b, kApp, a.key(), text("second"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kRefused);
  EXPECT_EQ(seen->load(), 1);
  EXPECT_EQ(a->unregister_app(kApp).error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace chorus::itest
