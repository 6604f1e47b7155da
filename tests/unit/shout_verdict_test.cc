// Validate before forward and content-addressed SHOUTs, on the core with a
// virtual clock (spec/overlay.md, "Validate before forward" and
// "Content-addressed SHOUT").
#include <sodium.h>

#include "core_net.h"

namespace chorus::overlay {
namespace {

// The verdict ids of the SHOUTs node i was given (and forgets the events).
std::vector<ShoutEvent> take_shouts(Net& net, size_t i) {
  auto out = events_of<ShoutEvent>(net.events(i));
  net.events(i).clear();
  return out;
}

// A line 0 - 1 - 2 where node 1 validates kApp SHOUTs before passing them on.
void validating_line(Net& net, OverlayConfig base = test_config(0)) {
  link_line(net, {base, base, base},
            [](size_t i, NodeCore& core) { core.register_app(kApp, /*validate_shouts=*/i == 1); });
}

// ---------------------------------------------------------------- verdicts

TEST(ShoutVerdict, InvalidShoutIsNotForwardedToAnyone) {
  Net net;
  validating_line(net);
  const uint64_t sent_before = net.core(1).stats().shouts_sent;
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("invalid block"), net.now_us).ok());
  net.run(100 * kMs);
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_NE(got[0].verdict, 0u);  // held: the app decides
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 1u);
  EXPECT_EQ(net.core(1).stats().shouts_sent, sent_before);  // nothing went on while held
  ASSERT_TRUE(net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kDrop, net.now_us).ok());
  net.drain(1);
  net.run(2000 * kMs);
  EXPECT_TRUE(take_shouts(net, 2).empty());
  EXPECT_EQ(net.core(1).stats().shouts_sent, sent_before);
  EXPECT_EQ(net.core(1).stats().shout_verdicts_dropped, 1u);
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 0u);
  // A second verdict on it is refused; so is kLater.
  EXPECT_EQ(
      net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kForward, net.now_us).error().code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(
      net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kLater, net.now_us).error().code(),
      ErrorCode::kInvalidArgument);
  // The dropped SHOUT stays seen: the origin's copy again is a duplicate.
  EXPECT_EQ(net.core(1).stats().duplicates_dropped, 0u);
}

TEST(ShoutVerdict, LateVerdictForwards) {
  Net net;
  validating_line(net);
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("valid block"), net.now_us).ok());
  net.run(100 * kMs);
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 1u);
  net.run(1000 * kMs);  // a batch of signature checks later
  EXPECT_TRUE(take_shouts(net, 2).empty());
  ASSERT_TRUE(net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kForward, net.now_us).ok());
  net.drain(1);
  net.run(100 * kMs);
  auto at2 = take_shouts(net, 2);
  ASSERT_EQ(at2.size(), 1u);
  EXPECT_EQ(at2[0].payload, bytes_of("valid block"));
  EXPECT_EQ(at2[0].origin, net.key(0));
  EXPECT_EQ(at2[0].verdict, 0u);  // node 2 does not validate: passed on at once
  EXPECT_EQ(net.core(1).stats().shout_verdicts_forwarded, 1u);
}

TEST(ShoutVerdict, AVerdictNotGivenInTimeCountsAsDrop) {
  Net net;
  OverlayConfig c = test_config(0);
  c.shout_verdict_timeout_ms = 500;
  validating_line(net, c);
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("slow"), net.now_us).ok());
  net.run(100 * kMs);
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 1u);
  net.run(399 * kMs);
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 1u);  // not yet
  net.run(2 * kMs);
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 0u);
  EXPECT_EQ(net.core(1).stats().shout_verdicts_timed_out, 1u);
  EXPECT_EQ(
      net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kForward, net.now_us).error().code(),
      ErrorCode::kNotFound);
  net.run(1000 * kMs);
  EXPECT_TRUE(take_shouts(net, 2).empty());
}

TEST(ShoutVerdict, PendingVerdictsAreBoundedAndTheNewestIsDropped) {
  Net net;
  OverlayConfig c = test_config(0);
  c.max_pending_shout_verdicts = 2;
  validating_line(net, c);
  for (const char* p : {"one", "two", "three"}) {
    ASSERT_TRUE(net.core(0).shout(kApp, bytes_of(p), net.now_us).ok());
    net.run(10 * kMs);
  }
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 2u);  // "three" found no room: not delivered, not forwarded
  EXPECT_EQ(got[0].payload, bytes_of("one"));
  EXPECT_EQ(got[1].payload, bytes_of("two"));
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 2u);
  EXPECT_EQ(net.core(1).stats().shout_verdicts_overflow, 1u);
  for (const auto& s : got)
    ASSERT_TRUE(net.core(1).shout_verdict(s.verdict, ShoutDecision::kForward, net.now_us).ok());
  net.drain(1);
  net.run(100 * kMs);
  EXPECT_EQ(take_shouts(net, 2).size(), 2u);
  // With room again, the next one is held as usual.
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("four"), net.now_us).ok());
  net.run(10 * kMs);
  EXPECT_EQ(take_shouts(net, 1).size(), 1u);
  EXPECT_EQ(net.core(1).pending_shout_verdicts(), 1u);
}

TEST(ShoutVerdict, PenalizeRaisesTheSendersMisbehaviourScore) {
  OverlayConfig c = test_config(1);
  c.misbehaviour_limit = 25;  // each penalty adds 10: the third closes the link
  NodeCore core(identity_of(1), c, 1'000'000);
  core.register_app(kApp, /*validate_shouts=*/true);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  const Identity origin = identity_of(9);
  for (uint64_t n = 1; n <= 3; ++n) {
    raw.send(Message{0, signed_shout(origin, kApp, n, bytes_of("forged vote"))});
    auto got = events_of<ShoutEvent>(raw.events());
    raw.events().clear();
    ASSERT_EQ(got.size(), 1u) << n;
    EXPECT_EQ(got[0].from, raw.key());
    ASSERT_TRUE(core.shout_verdict(got[0].verdict, ShoutDecision::kPenalize, 1'000'000).ok());
    raw.send(Message{1, PingMsg{}});  // pumps the core
    if (n < 3) {
      EXPECT_FALSE(raw.closed_reason()) << n;
    }
  }
  ASSERT_TRUE(raw.closed_reason());
  EXPECT_NE(raw.closed_reason()->find("rejected as invalid by app 7"), std::string::npos)
      << *raw.closed_reason();
  EXPECT_EQ(core.stats().shout_verdicts_penalized, 3u);
  // No SHOUT went back to the peer that sent them.
  EXPECT_TRUE(raw.received_of<ShoutMsg>().empty());
}

TEST(ShoutVerdict, AppsThatDoNotValidateForwardBeforeDeliveryAsBefore) {
  Net net;
  link_line(net);  // every node registered without validation
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("as before"), net.now_us).ok());
  net.run(100 * kMs);
  auto at1 = take_shouts(net, 1);
  ASSERT_EQ(at1.size(), 1u);
  EXPECT_EQ(at1[0].verdict, 0u);
  EXPECT_EQ(take_shouts(net, 2).size(), 1u);
  EXPECT_EQ(net.core(1).stats().shouts_held, 0u);
}

TEST(ShoutVerdict, HeldShoutIsNeitherPushedNorAnnouncedNorGraftedOnTheTree) {
  Net net;
  OverlayConfig c = test_config(0);
  c.tree_shout_apps = {kApp};
  validating_line(net, c);
  ASSERT_EQ(net.core(1).broadcast_tree().link_count(), 2u);
  const NodeStats before = net.core(1).stats();
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("tree block"), net.now_us).ok());
  net.run(100 * kMs);
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 1u);
  const ShoutKey key = make_seen_key(got[0].origin, got[0].shout_id);
  net.run(1000 * kMs);
  EXPECT_EQ(net.core(1).stats().shouts_sent, before.shouts_sent);
  EXPECT_EQ(net.core(1).stats().ihaves_sent, before.ihaves_sent);
  EXPECT_FALSE(net.core(1).broadcast_tree().holds(key));  // a GRAFT would get nothing
  EXPECT_TRUE(take_shouts(net, 2).empty());
  ASSERT_TRUE(net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kForward, net.now_us).ok());
  net.drain(1);
  net.run(100 * kMs);
  EXPECT_TRUE(net.core(1).broadcast_tree().holds(key));
  EXPECT_EQ(take_shouts(net, 2).size(), 1u);
}

// ---------------------------------------------------------------- content-addressed

OverlayConfig content_config(uint64_t seed) {
  OverlayConfig c = test_config(seed);
  c.content_shout_apps = {kApp};
  return c;
}

Hash256 blake2b(ByteView payload) {
  Hash256 h{};
  crypto_generichash(h.data(), h.size(), payload.data(), payload.size(), nullptr, 0);
  return h;
}

TEST(ContentShout, VectorsEncodeAndDecodeByteForByte) {
  const auto& v = vectors()["content_shout"];
  ASSERT_TRUE(v.is_object());
  const Bytes payload = hex_bytes(v["payload"]);
  ContentShoutMsg m{static_cast<AppId>(v["app"]), static_cast<uint8_t>(v["hops_left"]), payload};
  EXPECT_EQ(hex(encode_message(Message{0, m})), v["encoding"]);
  auto d = decode_message(hex_bytes(v["encoding"]));
  ASSERT_TRUE(d.ok());
  const auto& got = std::get<ContentShoutMsg>(d->body);
  EXPECT_EQ(got.app, m.app);
  EXPECT_EQ(got.hops_left, m.hops_left);
  EXPECT_EQ(got.payload, payload);
  const Hash256 id = content_id_of(payload);
  EXPECT_EQ(hex(id), v["content_id"]);
  EXPECT_EQ(hex(content_shout_key(m.app, id)), v["key"]);
  EXPECT_EQ(hex(encode_message(Message{4, SetConnectionOptMsg{3, 1}})), v["offer"]);
  // Shorter than its fixed part (header, app, hops) is malformed.
  const Bytes full = hex_bytes(v["encoding"]);
  for (size_t n = 0; n < 8; ++n) EXPECT_FALSE(decode_message(ByteView(full.data(), n)).ok()) << n;
  EXPECT_TRUE(decode_message(ByteView(full.data(), 8)).ok());  // empty payload
}

TEST(ContentShout, SamePayloadFromTwoOriginsIsDeliveredOncePerNode) {
  // 0 - 1 - 2 - 3, and both ends publish the same payload at once.
  Net net;
  for (uint64_t i = 0; i < 4; ++i) {
    OverlayConfig c = content_config(i + 1);
    c.max_outbound_links = i == 2 ? 0 : 1;  // no shortcut from peer exchange
    net.add(c);
    net.core(i).register_app(kApp);
  }
  net.dial(0, 1);
  net.dial(1, 2);
  net.dial(3, 2);
  net.run(200 * kMs);
  ASSERT_TRUE(net.linked(0, 1) && net.linked(1, 2) && net.linked(2, 3));
  for (size_t i = 0; i < 4; ++i) net.events(i).clear();
  const Bytes vote = bytes_of("signed vote for block 42");
  ASSERT_TRUE(net.core(0).shout(kApp, vote, net.now_us).ok());
  ASSERT_TRUE(net.core(3).shout(kApp, vote, net.now_us).ok());
  net.run(1000 * kMs);
  NodeStats total;
  for (size_t i = 0; i < 4; ++i) {
    auto got = take_shouts(net, i);
    // The publishers already have it; every other node gets it once.
    ASSERT_EQ(got.size(), (i == 0 || i == 3) ? 0u : 1u) << i;
    for (const auto& s : got) {
      EXPECT_TRUE(s.content_addressed);
      EXPECT_EQ(s.content_id, blake2b(vote));
      EXPECT_EQ(s.origin, PublicKey{});
      EXPECT_EQ(s.payload, vote);
    }
    total.shouts_sent += net.core(i).stats().shouts_sent;
    total.shout_bytes_sent += net.core(i).stats().shout_bytes_sent;
    total.bad_signatures += net.core(i).stats().bad_signatures;
  }
  // Each record is opcode, id, app, hops and the payload: no origin, no
  // signature, no id chosen by an origin.
  ASSERT_GT(total.shouts_sent, 0u);
  EXPECT_EQ(total.shout_bytes_sent, total.shouts_sent * (8 + vote.size()));
  // 0 and 3 each send one copy; 1 and 2 pass on what they got first (one
  // copy each, at most): 4 copies, not a flood per origin.
  EXPECT_LE(total.shouts_sent, 4u);
}

// The id of the core's content offer to `raw` (0: none).
uint32_t content_offer_id(const RawPeer& raw) {
  for (const auto& [id, o] : raw.received_of<SetConnectionOptMsg>())
    if (o.option == 3 && o.setting == 1) return id;
  return 0;
}

// The peer's answer to that offer: it speaks the form, or does not know it.
void ack_content_offer(RawPeer& raw, uint32_t offer) {
  raw.send(Message{offer, AckMsg{static_cast<uint8_t>(Opcode::kSetConnectionOpt), {3, 1}}});
}
void nack_content_offer(RawPeer& raw, uint32_t offer) {
  raw.send(Message{offer, NackMsg{static_cast<uint8_t>(Opcode::kSetConnectionOpt),
                                  NackCode::kUnsupportedOption,
                                  "unknown option 3",
                                  {3, 1}}});
}

TEST(ContentShout, OnTheWireAContentShoutCarriesNoSignature) {
  NodeCore core(identity_of(1), content_config(1), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  const uint32_t offer = content_offer_id(raw);
  ASSERT_NE(offer, 0u);  // the core offers the form
  ack_content_offer(raw, offer);
  const Bytes block = bytes_of("self-signed block");
  ASSERT_TRUE(core.shout(kApp, block, 1'000'000).ok());
  raw.send(Message{1, PingMsg{}});  // pumps the core
  auto got = raw.received_of<ContentShoutMsg>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 0u);
  EXPECT_EQ(got[0].second.app, kApp);
  EXPECT_EQ(got[0].second.payload, block);
  EXPECT_TRUE(raw.received_of<ShoutMsg>().empty());
  // The peer's copy back is a duplicate, and a new payload is delivered with
  // its content id, no signature checked.
  raw.send(Message{0, ContentShoutMsg{kApp, 3, block}});
  raw.send(Message{0, ContentShoutMsg{kApp, 3, bytes_of("another block")}});
  auto ev = events_of<ShoutEvent>(raw.events());
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].content_id, blake2b(bytes_of("another block")));
  EXPECT_EQ(core.stats().duplicates_dropped, 1u);
  EXPECT_EQ(core.stats().bad_signatures, 0u);
}

TEST(ContentShout, PeerThatNacksTheOfferGetsNoContentShouts) {
  NodeCore core(identity_of(1), content_config(1), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  const uint32_t offer = content_offer_id(raw);
  ASSERT_NE(offer, 0u);
  nack_content_offer(raw, offer);
  ASSERT_TRUE(core.shout(kApp, bytes_of("block"), 1'000'000).ok());
  ASSERT_TRUE(core.shout(kApp + 1, bytes_of("signed"), 1'000'000).ok());  // not content mode
  raw.send(Message{1, PingMsg{}});
  EXPECT_TRUE(raw.received_of<ContentShoutMsg>().empty());
  EXPECT_EQ(raw.received_of<ShoutMsg>().size(), 1u);
  EXPECT_FALSE(raw.closed_reason());
}

TEST(ContentShout, ShoutsMadeBeforeTheOfferIsAnsweredGoWhenThePeerAcks) {
  // A block published in the first round trip of a new link is not lost to
  // that peer: it waits for the peer's answer, then goes in order.
  NodeCore core(identity_of(1), content_config(1), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  const uint32_t offer = content_offer_id(raw);
  ASSERT_NE(offer, 0u);
  ASSERT_TRUE(core.shout(kApp, bytes_of("block 1"), 1'000'000).ok());
  ASSERT_TRUE(core.shout(kApp, bytes_of("block 2"), 1'000'000).ok());
  raw.send(Message{1, PingMsg{}});                          // pumps the core
  EXPECT_TRUE(raw.received_of<ContentShoutMsg>().empty());  // not before the answer
  EXPECT_EQ(core.stats().content_shouts_waited, 2u);
  EXPECT_FALSE(core.peers().at(0).content_shouts);
  ack_content_offer(raw, offer);
  auto got = raw.received_of<ContentShoutMsg>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second.payload, bytes_of("block 1"));
  EXPECT_EQ(got[1].second.payload, bytes_of("block 2"));
  EXPECT_TRUE(core.peers().at(0).content_shouts);
  EXPECT_EQ(core.stats().content_shouts_wait_dropped, 0u);
}

TEST(ContentShout, ShoutsWaitingForANackedOfferAreDroppedAndTheWaitIsBounded) {
  NodeCore core(identity_of(1), content_config(1), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  const uint32_t offer = content_offer_id(raw);
  ASSERT_NE(offer, 0u);
  // More than a link holds while it waits: the rest are dropped at once.
  const size_t n = 300;
  for (size_t i = 0; i < n; ++i)
    ASSERT_TRUE(core.shout(kApp, bytes_of("block " + std::to_string(i)), 1'000'000).ok());
  const NodeStats st = core.stats();
  EXPECT_EQ(st.content_shouts_waited, 256u);
  EXPECT_EQ(st.content_shouts_wait_dropped, n - 256);
  nack_content_offer(raw, offer);
  raw.send(Message{1, PingMsg{}});
  EXPECT_TRUE(raw.received_of<ContentShoutMsg>().empty());  // it would not understand them
  EXPECT_EQ(core.stats().content_shouts_wait_dropped, n);
  EXPECT_FALSE(raw.closed_reason());
  // From now on nothing waits for this peer.
  ASSERT_TRUE(core.shout(kApp, bytes_of("later"), 1'000'000).ok());
  EXPECT_EQ(core.stats().content_shouts_waited, 256u);
}

TEST(ContentShout, ANodeWithoutContentAppsAcceptsTheOfferAndRelays) {
  NodeCore core(identity_of(1), test_config(1), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  for (const auto& [id, o] : raw.received_of<SetConnectionOptMsg>()) EXPECT_NE(o.option, 3) << id;
  raw.send(Message{9, SetConnectionOptMsg{3, 1}});
  bool acked = false;
  for (const auto& [id, a] : raw.received_of<AckMsg>())
    if (id == 9 && a.data == Bytes{3, 1}) acked = true;
  EXPECT_TRUE(acked);
  raw.send(Message{10, SetConnectionOptMsg{3, 2}});  // a version it does not know
  bool nacked = false;
  for (const auto& [id, n] : raw.received_of<NackMsg>())
    if (id == 10 && n.code == NackCode::kUnsupportedOption) nacked = true;
  EXPECT_TRUE(nacked);
}

TEST(ContentShout, TreeAnnouncesThePayloadHashAndDeliversOncePerNode) {
  // A triangle of tree nodes: duplicates prune it to a tree, after which the
  // lazy link gets IHAVEs whose ids are content keys.
  Net net;
  for (uint64_t s = 1; s <= 3; ++s) {
    OverlayConfig c = content_config(s);
    c.tree_shout_apps = {kApp};
    net.add(c);
  }
  net.dial(0, 1);
  net.dial(1, 2);
  net.dial(2, 0);
  net.run(500 * kMs);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(net.core(i).broadcast_tree().link_count(), 2u) << i;
    net.core(i).register_app(kApp);
  }
  for (int round = 0; round < 6; ++round) {
    const Bytes p = bytes_of("block " + std::to_string(round));
    ASSERT_TRUE(net.core(static_cast<size_t>(round % 3)).shout(kApp, p, net.now_us).ok());
    net.run(1500 * kMs);
    const ShoutKey key = content_shout_key(kApp, blake2b(p));
    for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(net.core(i).broadcast_tree().holds(key)) << i;
  }
  uint64_t ihaves = 0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(take_shouts(net, i).size(), 4u) << i;  // 6 rounds, 2 of its own
    ihaves += net.core(i).stats().ihaves_sent;
  }
  EXPECT_GT(ihaves, 0u);
}

TEST(ContentShout, ADroppedPayloadCanBePublishedLater) {
  // Node 1 drops a block it cannot check yet (its predecessor is missing);
  // once it can, it publishes it itself and node 2 gets it.
  Net net;
  OverlayConfig c = content_config(0);
  validating_line(net, c);
  const Bytes block = bytes_of("block after a gap");
  ASSERT_TRUE(net.core(0).shout(kApp, block, net.now_us).ok());
  net.run(100 * kMs);
  auto got = take_shouts(net, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(net.core(1).shout_verdict(got[0].verdict, ShoutDecision::kDrop, net.now_us).ok());
  net.drain(1);
  net.run(100 * kMs);
  EXPECT_TRUE(take_shouts(net, 2).empty());
  ASSERT_TRUE(net.core(1).shout(kApp, block, net.now_us).ok());
  net.run(100 * kMs);
  EXPECT_EQ(take_shouts(net, 2).size(), 1u);
  EXPECT_EQ(net.core(0).stats().duplicates_dropped, 1u);  // node 0 had it
}

}  // namespace
}  // namespace chorus::overlay
