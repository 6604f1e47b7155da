// Peer control in the core, on its virtual clock: bans (from misbehaviour and
// from the app), penalize, disconnect, refusing a request, and the network id.
#include "core_net.h"

namespace chorus::overlay {
namespace {

constexpr int64_t kStart = 1'000'000;

// Closes `raw`'s link with a frame error (worth misbehaviour_limit at once).
void misbehave(RawPeer& raw) {
  raw.send_plaintext(Bytes{});  // an empty frame
  ASSERT_TRUE(raw.closed_reason().has_value());
  ASSERT_EQ(*raw.closed_reason(), "empty frame");
}

// The bug: a peer the node penalized could reconnect at once, because its
// score lived on the link and accepted connections were never refused.
TEST(PeerControl, MisbehavingKeyIsRefusedAtItsHelloWhenItReconnects) {
  NodeCore core(identity_of(1), test_config(5), kStart);
  RawPeer bad(core, identity_of(2));
  ASSERT_TRUE(bad.established());
  misbehave(bad);
  EXPECT_TRUE(core.is_banned(bad.key(), kStart));
  EXPECT_EQ(core.stats().bans, 1u);

  RawPeer again(core, identity_of(2), kStart + 1000);
  EXPECT_FALSE(again.established()) << "the handshake must not complete";
  ASSERT_TRUE(again.closed_reason().has_value());
  EXPECT_EQ(*again.closed_reason(), "handshake: peer is banned");
  EXPECT_FALSE(core.is_connected(again.key()));
  EXPECT_EQ(core.stats().banned_refused, 1u);
  EXPECT_TRUE(events_of<PeerEvent>(again.events()).empty()) << "the app never sees it come up";

  // Another key from the same address is welcome: the ban is by key.
  RawPeer other(core, identity_of(3), kStart + 2000);
  EXPECT_TRUE(other.established());
}

TEST(PeerControl, MisbehaviourBanExpiresOnTheCoreClock) {
  OverlayConfig cfg = test_config(5);
  cfg.misbehaviour_ban_ms = 60'000;
  NodeCore core(identity_of(1), cfg, kStart);
  RawPeer bad(core, identity_of(2));
  misbehave(bad);
  const int64_t end = kStart + 60'000 * kMs;
  {
    RawPeer early(core, identity_of(2), end - 1);
    EXPECT_FALSE(early.established());
  }
  core.on_timer(end);  // the maintenance sweep drops the expired ban
  EXPECT_EQ(core.ban_count(), 0u);
  RawPeer later(core, identity_of(2), end);
  EXPECT_TRUE(later.established());
}

TEST(PeerControl, PenalizeAddsUpToTheLimitThenClosesAndBans) {
  NodeCore core(identity_of(1), test_config(5), kStart);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  EXPECT_EQ(core.penalize(raw.key(), 0, "nothing", kStart).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(core.penalize(identity_of(9).public_key(), 5, "stranger", kStart).error().code(),
            ErrorCode::kNotFound);
  const int limit = core.config().misbehaviour_limit;
  ASSERT_TRUE(core.penalize(raw.key(), limit - 1, "invalid block", kStart).ok());
  EXPECT_TRUE(core.is_connected(raw.key()));
  EXPECT_FALSE(core.is_banned(raw.key(), kStart));
  ASSERT_TRUE(core.penalize(raw.key(), 1, "invalid vote", kStart).ok());
  core.flush(kStart);
  Action a;
  std::optional<std::string> reason;
  while (core.poll_action(a))
    if (auto* c = std::get_if<CloseAction>(&a)) reason = c->reason;
  EXPECT_EQ(reason, "invalid vote");
  EXPECT_FALSE(core.is_connected(raw.key()));
  EXPECT_TRUE(core.is_banned(raw.key(), kStart));
  Event e;
  std::vector<Event> events;
  while (core.poll_event(e)) events.push_back(e);
  auto downs = events_of<PeerEvent>(events);
  ASSERT_FALSE(downs.empty());
  EXPECT_FALSE(downs.back().connected);
  EXPECT_EQ(downs.back().reason, "invalid vote");
}

TEST(PeerControl, AppBanClosesTheLinkRefusesUntilUnbanAndChecksItsArguments) {
  NodeCore core(identity_of(1), test_config(5), kStart);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  EXPECT_EQ(core.ban(core.identity().public_key(), 1000, "self", kStart).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(core.ban(raw.key(), 0, "zero", kStart).error().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(core.ban(raw.key(), 3'600'000, "spam", kStart).ok());
  core.flush(kStart);
  Action a;
  std::optional<std::string> reason;
  while (core.poll_action(a))
    if (auto* c = std::get_if<CloseAction>(&a)) reason = c->reason;
  EXPECT_EQ(reason, "banned: spam");
  EXPECT_FALSE(core.is_connected(raw.key()));
  {
    RawPeer refused(core, identity_of(2), kStart + 1);
    EXPECT_FALSE(refused.established());
  }
  ASSERT_TRUE(core.unban(raw.key(), kStart + 2).ok());
  EXPECT_EQ(core.unban(raw.key(), kStart + 2).error().code(), ErrorCode::kNotFound);
  RawPeer back(core, identity_of(2), kStart + 3);
  EXPECT_TRUE(back.established());
}

TEST(PeerControl, BanTableIsBoundedAndDropsTheBanThatEndsFirst) {
  OverlayConfig cfg = test_config(5);
  cfg.max_bans = 2;
  NodeCore core(identity_of(1), cfg, kStart);
  const PublicKey a = identity_of(2).public_key(), b = identity_of(3).public_key(),
                  c = identity_of(4).public_key();
  ASSERT_TRUE(core.ban(a, 50'000, "a", kStart).ok());
  ASSERT_TRUE(core.ban(b, 10'000, "b", kStart).ok());  // ends first
  ASSERT_TRUE(core.ban(c, 90'000, "c", kStart).ok());
  EXPECT_EQ(core.ban_count(), 2u);
  EXPECT_TRUE(core.is_banned(a, kStart));
  EXPECT_FALSE(core.is_banned(b, kStart));
  EXPECT_TRUE(core.is_banned(c, kStart));
  ASSERT_TRUE(core.ban(a, 70'000, "a again", kStart).ok());  // re-ban: no eviction
  EXPECT_EQ(core.ban_count(), 2u);
  EXPECT_TRUE(core.is_banned(c, kStart));
}

TEST(PeerControl, BannedKeyIsNotDialledAndItsDialsAreRefusedUntilTheBanEnds) {
  Net net;
  OverlayConfig cfg = test_config(0);
  net.add(cfg);
  net.add(cfg);
  net.dial(0, 1);  // 0 knows 1's address; 1 learns 0's from the inbound link
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  ASSERT_TRUE(net.core(0).ban(net.key(1), 20'000, "test", net.now_us).ok());
  EXPECT_FALSE(net.core(0).connect(Net::address_of(1), net.key(1), net.now_us).ok());
  net.run(10 * kMs);
  EXPECT_FALSE(net.core(0).is_connected(net.key(1)));
  EXPECT_FALSE(net.core(1).is_connected(net.key(0)));
  // 1 keeps trying to reach 0 (its dialled peer went away); 0 refuses each
  // time at the HELLO, and 0 never dials 1.
  net.node(0).closes.clear();
  net.run(15'000 * kMs);
  EXPECT_FALSE(net.core(0).is_connected(net.key(1)));
  size_t refusals = 0;
  for (const auto& c : net.node(0).closes) {
    EXPECT_EQ(c.reason, "handshake: peer is banned");
    ++refusals;
  }
  EXPECT_GE(refusals, 1u);
  EXPECT_EQ(refusals, net.core(0).stats().banned_refused);
  // After the ban, they link again.
  net.run(40'000 * kMs);
  EXPECT_TRUE(net.linked(0, 1));
}

TEST(PeerControl, DisconnectClosesWithTheReasonWithoutABan) {
  Net net;
  link_pair(net);
  EXPECT_EQ(net.core(0).disconnect(identity_of(9).public_key(), "x", net.now_us).error().code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(net.core(0).disconnect(net.key(1), "app says goodbye", net.now_us).ok());
  net.run(10 * kMs);
  EXPECT_FALSE(net.core(0).is_banned(net.key(1), net.now_us));
  auto downs = events_of<PeerEvent>(net.events(0));
  ASSERT_EQ(downs.size(), 1u);
  EXPECT_EQ(downs[0].reason, "app says goodbye");
  auto far = events_of<PeerEvent>(net.events(1));
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(far[0].reason, "peer closed: app says goodbye");
}

TEST(PeerControl, RejectedRequestFailsTheRequesterAtOnceWithTheCode) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).request(kApp, net.key(1), bytes_of("q"), false, 10'000, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto w = events_of<WhisperEvent>(net.events(1));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(net.core(1)
                .reject(net.key(0), w[0].request_id, 999, NackCode::kNoResponse, "x", net.now_us)
                .error()
                .code(),
            ErrorCode::kNotFound);
  ASSERT_TRUE(net.core(1)
                  .reject(net.key(0), w[0].request_id, w[0].link, NackCode::kNoResponse,
                          "request dropped unanswered by app 7", net.now_us)
                  .ok());
  net.run(10 * kMs);  // far less than the 10 s timeout
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kRefused);
  EXPECT_NE(c->result.error().message().find("dropped unanswered"), std::string::npos);
}

// Every completion of `token` in `events`.
size_t completions_of(const std::vector<Event>& events, Token token) {
  size_t n = 0;
  for (const auto& c : events_of<CompletionEvent>(events)) n += c.token == token;
  return n;
}

TEST(PeerControl, CancelledRequestCompletesOnceAndItsLateAnswerIsIgnored) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).request(kApp, net.key(1), bytes_of("q"), false, 10'000, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto w = events_of<WhisperEvent>(net.events(1));
  ASSERT_EQ(w.size(), 1u);
  ASSERT_TRUE(net.core(0).cancel(*t, "the user went away", net.now_us).ok());
  net.run(1 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(c->result.error().message(), "the user went away");
  // The answer still comes, and is ignored; so is a second cancel.
  ASSERT_TRUE(net.core(1)
                  .respond(kApp, net.key(0), w[0].request_id, bytes_of("a"), false, net.now_us)
                  .ok());
  net.run(20 * kMs);
  EXPECT_EQ(completions_of(net.events(0), *t), 1u);
  EXPECT_EQ(net.core(0).cancel(*t, "again", net.now_us).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(net.core(0).cancel(12345, "never issued", net.now_us).error().code(),
            ErrorCode::kNotFound);
}

TEST(PeerControl, CancelAfterCompletionAndOfAFailedSpeakGroupDoesNothing) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto p = net.core(0).ping(net.key(1), net.now_us);
  ASSERT_TRUE(p.ok());
  net.run(20 * kMs);
  ASSERT_EQ(completions_of(net.events(0), *p), 1u);
  EXPECT_EQ(net.core(0).cancel(*p, "late", net.now_us).error().code(), ErrorCode::kNotFound);
  net.run(1 * kMs);
  EXPECT_EQ(completions_of(net.events(0), *p), 1u);

  // A SPEAK with ACK still waiting: cancelled, it completes once.
  auto s = net.core(0).speak(kApp, bytes_of("s"), net.key(1), true, net.now_us);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(net.core(0).cancel(*s, "enough", net.now_us).ok());
  net.run(20 * kMs);  // the ACK arrives after the cancel
  EXPECT_EQ(completions_of(net.events(0), *s), 1u);
  EXPECT_EQ(completion(net.events(0), *s)->result.error().code(), ErrorCode::kCancelled);
}

TEST(PeerControl, NodesOfDifferentNetworksNeverLinkAndBothSayWhy) {
  Net net;
  OverlayConfig test = test_config(0), live = test_config(0);
  test.network_id = "nano/test";
  live.network_id = "nano/live";
  net.add(test);
  net.add(live);
  net.add(live);
  net.dial(0, 1);
  net.dial(2, 1);
  net.run(1000 * kMs);
  EXPECT_FALSE(net.core(0).is_connected(net.key(1)));
  EXPECT_FALSE(net.core(1).is_connected(net.key(0)));
  EXPECT_TRUE(net.linked(1, 2)) << "same network links";
  for (size_t i : {size_t{0}, size_t{1}}) {
    bool said = false;
    for (const auto& c : net.node(i).closes) said |= c.reason == "handshake: network id mismatch";
    EXPECT_TRUE(said) << "node " << i;
  }
  for (const auto& p : events_of<PeerEvent>(net.events(0))) EXPECT_NE(p.peer, net.key(1));
}

}  // namespace
}  // namespace chorus::overlay
