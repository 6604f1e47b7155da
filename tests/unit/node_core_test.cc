#include "chorus/overlay/node_core.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <string>

#include "core_net.h"

namespace chorus::overlay {
namespace {

// ---------------------------------------------------------------------------
// Links

TEST(NodeCore, HandshakeEstablishesBothSidesAndFiresPeerEvents) {
  Net net;
  net.add();
  net.add();
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  auto up0 = events_of<PeerEvent>(net.events(0));
  auto up1 = events_of<PeerEvent>(net.events(1));
  ASSERT_EQ(up0.size(), 1u);
  ASSERT_EQ(up1.size(), 1u);
  EXPECT_TRUE(up0[0].connected);
  EXPECT_EQ(up0[0].peer, net.key(1));
  EXPECT_TRUE(up1[0].connected);
  EXPECT_EQ(up1[0].peer, net.key(0));
  auto p0 = net.core(0).peers();
  auto p1 = net.core(1).peers();
  ASSERT_EQ(p0.size(), 1u);
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_TRUE(p0[0].outbound);
  EXPECT_FALSE(p1[0].outbound);
  EXPECT_EQ(p1[0].listen_port, Net::port_of(0));  // announced in HELLO
  EXPECT_EQ(p0[0].listen_port, Net::port_of(1));
  // The dialled address now carries the key learned in the handshake.
  const auto* e = net.core(0).peer_book().find(Net::address_of(1));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->key, net.key(1));
}

TEST(NodeCore, IdleLinkStaysUpOnLivenessPings) {
  Net net;
  link_pair(net);
  net.run(60'000 * kMs);
  EXPECT_TRUE(net.linked(0, 1));
  EXPECT_TRUE(events_of<PeerEvent>(net.events(0)).empty());
  for (const auto& p : net.core(0).peers()) EXPECT_EQ(p.rtt_us, 2 * net.latency_us);
}

TEST(NodeCore, HandshakeTimeoutClosesALinkThatNeverAnswers) {
  Net net;
  net.add();
  net.core(0).add_peer_address(Net::black_hole(), std::nullopt);
  net.run(4900 * kMs);
  EXPECT_TRUE(net.node(0).closes.empty());
  EXPECT_EQ(net.core(0).link_count(), 1u);
  net.run(600 * kMs);
  ASSERT_FALSE(net.node(0).closes.empty());
  EXPECT_EQ(net.node(0).closes[0].reason, "handshake not finished within 5000 ms");
  // The failure backs the address off instead of redialling at once.
  const auto* e = net.core(0).peer_book().find(Net::black_hole());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->failures, 1);
}

TEST(NodeCore, RefusedConnectCountsAFailure) {
  Net net;
  net.add();
  net.core(0).add_peer_address({"127.0.0.1", 6000}, std::nullopt);
  net.run(10 * kMs);
  const auto* e = net.core(0).peer_book().find({"127.0.0.1", 6000});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->failures, 1);
  EXPECT_EQ(net.core(0).link_count(), 0u);
}

TEST(NodeCore, DuplicateLinkTieBreakKeepsExactlyOneLink) {
  // Both orders of keys: the kept link is the one the smaller key opened.
  for (bool swap : {false, true}) {
    SCOPED_TRACE(swap ? "swapped" : "plain");
    Net net;
    net.add(identity_of(swap ? 2 : 1), test_config(100));
    net.add(identity_of(swap ? 1 : 2), test_config(101));
    net.dial(0, 1);
    net.dial(1, 0);
    net.run(100 * kMs);
    ASSERT_TRUE(net.linked(0, 1));
    // Both dialled at once: two links are open, but each side routes over
    // one, and the app saw the peer come up once and never go down.
    EXPECT_EQ(net.core(0).peers().size(), 1u);
    EXPECT_EQ(net.core(1).peers().size(), 1u);
    for (size_t i = 0; i < 2; ++i) {
      auto ups = events_of<PeerEvent>(net.events(i));
      ASSERT_EQ(ups.size(), 1u);
      EXPECT_TRUE(ups[0].connected);
    }
    net.run(30'000 * kMs);
    // After the grace period the losing link is closed.
    size_t closes = net.node(0).closes.size() + net.node(1).closes.size();
    EXPECT_GE(closes, 1u);
    ASSERT_TRUE(net.linked(0, 1));
    EXPECT_EQ(net.core(0).link_count(), 1u);
    EXPECT_EQ(net.core(1).link_count(), 1u);
    auto p0 = net.core(0).peers(), p1 = net.core(1).peers();
    ASSERT_EQ(p0.size(), 1u);
    ASSERT_EQ(p1.size(), 1u);
    // Both ends kept the same link: one side's outbound is the other's inbound.
    EXPECT_NE(p0[0].outbound, p1[0].outbound);
    const bool zero_smaller = net.key(0) < net.key(1);
    EXPECT_EQ(p0[0].outbound, zero_smaller);
    // And it carries traffic.
    auto t = net.core(1).ping(net.key(0), net.now_us);
    ASSERT_TRUE(t.ok());
    net.run(10 * kMs);
    auto c = completion(net.events(1), *t);
    ASSERT_TRUE(c.has_value());
    EXPECT_TRUE(c->result.ok());
  }
}

TEST(NodeCore, InboundCapRefusesExtraLinks) {
  OverlayConfig c = test_config(5);
  c.max_inbound_links = 1;
  NodeCore core(identity_of(1), c, 1'000'000);
  RawPeer first(core, identity_of(2));
  ASSERT_TRUE(first.established());
  LinkId extra = core.on_accepted({"127.0.0.1", 50001}, 1'000'000);
  core.flush(1'000'000);
  Action a;
  bool refused = false;
  while (core.poll_action(a))
    if (auto* cl = std::get_if<CloseAction>(&a))
      refused |= cl->link == extra && cl->reason == "inbound link cap reached";
  EXPECT_TRUE(refused);
  EXPECT_EQ(core.stats().links_refused, 1u);
}

TEST(NodeCore, SendQueueBoundClosesALinkWhosePeerNeverReads) {
  Net net;
  OverlayConfig c = test_config(0);
  c.max_frame_bytes = 64 << 10;
  c.max_send_queue_bytes = 256 << 10;
  c.compression.clear();  // the queue must fill with exactly what is sent
  net.add(c);
  net.add(c);
  net.core(1).register_app(kApp);
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  net.node(0).mute = true;  // node 1 never reads what 0 writes
  const Bytes big(net.core(0).max_payload_bytes(), 0x5a);
  int sent = 0;
  for (; sent < 100 && net.core(0).is_connected(net.key(1)); ++sent) {
    ASSERT_TRUE(net.core(0).whisper(kApp, net.key(1), big, false, net.now_us).ok());
    net.run(1 * kMs);
  }
  EXPECT_FALSE(net.core(0).is_connected(net.key(1)));
  EXPECT_LE(sent, 6);  // 256 KiB of queue holds about four 64 KiB frames
  auto downs = events_of<PeerEvent>(net.events(0));
  ASSERT_FALSE(downs.empty());
  EXPECT_FALSE(downs.back().connected);
  EXPECT_NE(downs.back().reason.find("send queue above 262144 bytes"), std::string::npos)
      << downs.back().reason;
  // The whispers still in flight end as cancelled, each exactly once.
  size_t cancelled = 0;
  for (const auto& ev : events_of<CompletionEvent>(net.events(0))) {
    ASSERT_FALSE(ev.result.ok());
    EXPECT_EQ(ev.result.error().code(), ErrorCode::kCancelled);
    ++cancelled;
  }
  EXPECT_EQ(cancelled, static_cast<size_t>(sent));
}

TEST(NodeCore, NonzeroCodecByteClosesTheLink) {
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  ASSERT_TRUE(core.is_connected(raw.key()));
  Bytes plain = {3, 0, 0, 0, 5, 2, 0, 0, 0, 1};  // "zlib" codec, then a PING record
  raw.send_plaintext(plain);
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_NE(raw.closed_reason()->find("codec"), std::string::npos) << *raw.closed_reason();
  EXPECT_FALSE(core.is_connected(raw.key()));
  auto downs = events_of<PeerEvent>(raw.events());
  ASSERT_EQ(downs.size(), 2u);
  EXPECT_FALSE(downs[1].connected);
  EXPECT_NE(downs[1].reason.find("codec"), std::string::npos);
}

TEST(NodeCore, MalformedRecordClosesTheLink) {
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  raw.send_plaintext(Bytes{0, 0, 0, 0, 9, 2});  // a record longer than its frame
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_EQ(*raw.closed_reason(), "record longer than its frame");
}

// ---------------------------------------------------------------------------
// Requests between two nodes

TEST(NodeCore, PingIsAnsweredWithTheRoundTripTime) {
  Net net;
  link_pair(net);
  auto t = net.core(0).ping(net.key(1), net.now_us);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(completion(net.events(0), *t) == std::nullopt);  // never inline
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok());
  EXPECT_TRUE(c->result->empty());
  EXPECT_EQ(c->rtt_us, 2 * net.latency_us);
}

TEST(NodeCore, PingToAStrangerIsNotFound) {
  Net net;
  link_pair(net);
  auto t = net.core(0).ping(identity_of(9).public_key(), net.now_us);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), ErrorCode::kNotFound);
}

TEST(NodeCore, WhisperCompletesWithThePayloadHash) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  const Bytes payload = bytes_of("a quiet word");
  auto t = net.core(0).whisper(kApp, net.key(1), payload, false, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok()) << c->result.error().to_string();
  Hash256 h = blake2b_256(payload);
  EXPECT_EQ(*c->result, Bytes(h.begin(), h.end()));
  auto w = events_of<WhisperEvent>(net.events(1));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].app, kApp);
  EXPECT_EQ(w[0].from, net.key(0));
  EXPECT_EQ(w[0].payload, payload);
  EXPECT_FALSE(w[0].encrypted);
  EXPECT_FALSE(w[0].is_request);
}

TEST(NodeCore, EncryptedWhisperDecryptsAtTheReceiver) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  const Bytes payload = bytes_of("for your eyes only");
  auto t = net.core(0).whisper(kApp, net.key(1), payload, true, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok()) << c->result.error().to_string();
  EXPECT_EQ(c->result->size(), 32u);  // hash of the box as carried
  Hash256 plain_hash = blake2b_256(payload);
  EXPECT_NE(*c->result, Bytes(plain_hash.begin(), plain_hash.end()));
  auto w = events_of<WhisperEvent>(net.events(1));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].encrypted);
  EXPECT_EQ(w[0].payload, payload);
}

TEST(NodeCore, WhisperToAnUnregisteredAppIsRefused) {
  Net net;
  link_pair(net);
  auto t = net.core(0).whisper(kApp, net.key(1), bytes_of("x"), false, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kRefused);
  EXPECT_TRUE(events_of<WhisperEvent>(net.events(1)).empty());
}

TEST(NodeCore, RequestAndRespondRoundTrip) {
  for (bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt ? "encrypted" : "plain");
    Net net;
    link_pair(net);
    net.core(1).register_app(kApp);
    auto t = net.core(0).request(kApp, net.key(1), bytes_of("question"), encrypt, 1000, net.now_us);
    ASSERT_TRUE(t.ok());
    net.run(10 * kMs);
    auto w = events_of<WhisperEvent>(net.events(1));
    ASSERT_EQ(w.size(), 1u);
    EXPECT_TRUE(w[0].is_request);
    EXPECT_EQ(w[0].encrypted, encrypt);
    EXPECT_EQ(w[0].payload, bytes_of("question"));
    EXPECT_FALSE(completion(net.events(0), *t).has_value());  // the ACK alone does not complete
    ASSERT_TRUE(
        net.core(1)
            .respond(kApp, net.key(0), w[0].request_id, bytes_of("answer"), encrypt, net.now_us)
            .ok());
    net.run(10 * kMs);
    auto c = completion(net.events(0), *t);
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(c->result.ok()) << c->result.error().to_string();
    EXPECT_EQ(*c->result, bytes_of("answer"));
    // A response is not delivered to the requester's app as a WHISPER.
    EXPECT_TRUE(events_of<WhisperEvent>(net.events(0)).empty());
  }
}

TEST(NodeCore, RequestTimesOutWithoutAResponse) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).request(kApp, net.key(1), bytes_of("anyone?"), false, 1000, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(900 * kMs);
  EXPECT_FALSE(completion(net.events(0), *t).has_value());
  net.run(400 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kTimeout);
  // A late response after the timeout is dropped, not completed twice.
  auto w = events_of<WhisperEvent>(net.events(1));
  ASSERT_EQ(w.size(), 1u);
  ASSERT_TRUE(net.core(1)
                  .respond(kApp, net.key(0), w[0].request_id, bytes_of("late"), false, net.now_us)
                  .ok());
  net.run(10 * kMs);
  size_t n = 0;
  for (const auto& ev : events_of<CompletionEvent>(net.events(0))) n += ev.token == *t;
  EXPECT_EQ(n, 1u);
}

TEST(NodeCore, SpeakWithAckCompletes) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).speak(kApp, bytes_of("hi neighbour"), net.key(1), true, net.now_us);
  ASSERT_TRUE(t.ok());
  EXPECT_NE(*t, 0u);
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->result.ok());
  auto s = events_of<SpeakEvent>(net.events(1));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].from, net.key(0));
  EXPECT_EQ(s[0].msg.origin, net.key(0));
  EXPECT_EQ(s[0].msg.payload, bytes_of("hi neighbour"));
}

TEST(NodeCore, SpeakWithoutAckHasNoCompletion) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).speak(kApp, bytes_of("fire and forget"), std::nullopt, false, net.now_us);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 0u);
  net.run(10 * kMs);
  EXPECT_TRUE(events_of<CompletionEvent>(net.events(0)).empty());
  EXPECT_EQ(events_of<SpeakEvent>(net.events(1)).size(), 1u);
}

TEST(NodeCore, SpeakWithAckToAnUnregisteredAppIsRefused) {
  Net net;
  link_pair(net);
  auto t = net.core(0).speak(kApp, bytes_of("x"), net.key(1), true, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kRefused);
}

// ---------------------------------------------------------------------------
// Broadcast

TEST(NodeCore, SpeakToAllWithAckCompletesOnceEveryPeerAcked) {
  Net net;
  link_line(net);
  auto t = net.core(1).speak(kApp, bytes_of("both of you"), std::nullopt, true, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(10 * kMs);
  size_t n = 0;
  for (const auto& c : events_of<CompletionEvent>(net.events(1))) {
    n += c.token == *t;
    EXPECT_TRUE(c.result.ok());
  }
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(events_of<SpeakEvent>(net.events(0)).size(), 1u);
  EXPECT_EQ(events_of<SpeakEvent>(net.events(2)).size(), 1u);
}

TEST(NodeCore, SpeakToAllWithAckCompletesOnceWhenPeersRefuse) {
  // Every addressee answers; the first failure completes the command and
  // the later answers (ACK or NACK) must not complete it again.
  for (bool one_accepts : {false, true}) {
    SCOPED_TRACE(one_accepts ? "one accepts" : "none accepts");
    Net net;
    link_line(net);
    net.core(0).unregister_app(kApp);
    if (!one_accepts) net.core(2).unregister_app(kApp);
    auto t = net.core(1).speak(kApp, bytes_of("anyone?"), std::nullopt, true, net.now_us);
    ASSERT_TRUE(t.ok());
    net.run(20'000 * kMs);  // past every request timeout too
    size_t n = 0;
    for (const auto& c : events_of<CompletionEvent>(net.events(1))) {
      if (c.token != *t) continue;
      ++n;
      ASSERT_FALSE(c.result.ok());
      EXPECT_EQ(c.result.error().code(), ErrorCode::kRefused);
    }
    EXPECT_EQ(n, 1u);
  }
}

TEST(NodeCore, SpeakIsNotForwardedUnlessTheAppForwardsIt) {
  Net net;
  link_line(net);
  ASSERT_TRUE(
      net.core(0).speak(kApp, bytes_of("pass it on?"), std::nullopt, false, net.now_us).ok());
  net.run(10 * kMs);
  auto at1 = events_of<SpeakEvent>(net.events(1));
  ASSERT_EQ(at1.size(), 1u);
  EXPECT_TRUE(events_of<SpeakEvent>(net.events(2)).empty());
  net.core(1).forward_speak(at1[0], net.now_us);
  net.run(10 * kMs);
  auto at2 = events_of<SpeakEvent>(net.events(2));
  ASSERT_EQ(at2.size(), 1u);
  EXPECT_EQ(at2[0].from, net.key(1));
  EXPECT_EQ(at2[0].msg.origin, net.key(0));
  EXPECT_EQ(at2[0].msg.speak_id, at1[0].msg.speak_id);
  EXPECT_EQ(at2[0].msg.hops_left, at1[0].msg.hops_left - 1);
  EXPECT_EQ(at2[0].msg.payload, bytes_of("pass it on?"));
  // Not sent back towards its origin.
  EXPECT_TRUE(events_of<SpeakEvent>(net.events(0)).empty());
}

TEST(NodeCore, ShoutOnALineReachesTheFarNodeExactlyOnce) {
  Net net;
  link_line(net);
  const Bytes payload = bytes_of("hear ye");
  ASSERT_TRUE(net.core(0).shout(kApp, payload, net.now_us).ok());
  net.run(50 * kMs);
  auto far = events_of<ShoutEvent>(net.events(2));
  ASSERT_EQ(far.size(), 1u);
  EXPECT_EQ(far[0].origin, net.key(0));
  EXPECT_EQ(far[0].from, net.key(1));
  EXPECT_EQ(far[0].app, kApp);
  EXPECT_EQ(far[0].payload, payload);
  auto mid = events_of<ShoutEvent>(net.events(1));
  ASSERT_EQ(mid.size(), 1u);
  EXPECT_EQ(mid[0].shout_id, far[0].shout_id);
  EXPECT_TRUE(events_of<ShoutEvent>(net.events(0)).empty());  // never to its origin
  EXPECT_EQ(net.core(2).stats().shouts_delivered, 1u);
}

TEST(NodeCore, ShoutInATriangleIsDeliveredOnceAndDuplicatesAreCounted) {
  Net net;
  for (int i = 0; i < 3; ++i) {
    OverlayConfig c = test_config(0);
    c.max_outbound_links = 1;
    net.add(c);
    net.core(static_cast<size_t>(i)).register_app(kApp);
  }
  net.dial(0, 1);
  net.dial(1, 2);
  net.dial(2, 0);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  ASSERT_TRUE(net.linked(1, 2));
  ASSERT_TRUE(net.linked(2, 0));
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("round and round"), net.now_us).ok());
  net.run(50 * kMs);
  EXPECT_EQ(events_of<ShoutEvent>(net.events(1)).size(), 1u);
  EXPECT_EQ(events_of<ShoutEvent>(net.events(2)).size(), 1u);
  EXPECT_TRUE(events_of<ShoutEvent>(net.events(0)).empty());
  // 1 and 2 each relay to the other; each copy is the second sighting there.
  EXPECT_EQ(net.core(1).stats().duplicates_dropped, 1u);
  EXPECT_EQ(net.core(2).stats().duplicates_dropped, 1u);
  EXPECT_EQ(net.core(1).seen_cache_size(), 1u);
}

TEST(NodeCore, ShoutHopLimitStopsForwarding) {
  Net net;
  link_line(net, /*hop_limit=*/1);
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("one hop"), net.now_us).ok());
  net.run(50 * kMs);
  EXPECT_EQ(events_of<ShoutEvent>(net.events(1)).size(), 1u);
  EXPECT_TRUE(events_of<ShoutEvent>(net.events(2)).empty());
}

TEST(NodeCore, ShoutForAnUnregisteredAppIsStillRelayed) {
  Net net;
  link_line(net);
  net.core(1).unregister_app(kApp);
  ASSERT_TRUE(net.core(0).shout(kApp, bytes_of("through"), net.now_us).ok());
  net.run(50 * kMs);
  EXPECT_TRUE(events_of<ShoutEvent>(net.events(1)).empty());
  EXPECT_EQ(events_of<ShoutEvent>(net.events(2)).size(), 1u);
}

TEST(NodeCore, ShoutWithABadSignatureIsDroppedAndNotDelivered) {
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  Identity origin = identity_of(3);
  ShoutMsg bad = signed_shout(origin, kApp, 77, bytes_of("forged"));
  bad.signature[5] ^= 1;
  raw.send(Message{0, bad});
  EXPECT_TRUE(events_of<ShoutEvent>(raw.events()).empty());
  EXPECT_EQ(core.stats().bad_signatures, 1u);
  EXPECT_EQ(core.seen_cache_size(), 0u);  // a forgery does not poison the cache
  EXPECT_TRUE(core.is_connected(raw.key()));
  // The genuine message with the same (origin, id) is still accepted.
  raw.send(Message{0, signed_shout(origin, kApp, 77, bytes_of("genuine"))});
  auto got = events_of<ShoutEvent>(raw.events());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, bytes_of("genuine"));
  EXPECT_EQ(got[0].origin, origin.public_key());
  EXPECT_EQ(got[0].from, raw.key());
}

TEST(NodeCore, RepeatedBadSignaturesCloseTheLink) {
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  RawPeer raw(core, identity_of(2));
  Identity origin = identity_of(3);
  for (uint64_t i = 0; i < 10 && !raw.closed_reason(); ++i) {
    ShoutMsg bad = signed_shout(origin, kApp, i, bytes_of("forged"));
    bad.signature[0] ^= 1;
    raw.send(Message{0, bad});
  }
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_EQ(*raw.closed_reason(), "SHOUT with a bad signature");
  EXPECT_EQ(core.stats().bad_signatures, 10u);  // misbehaviour_limit 100, 10 points each
}

// ---------------------------------------------------------------------------
// Protocol edges, driven by a raw peer

TEST(NodeCore, UnknownOpcodeGetsNackAndTheLinkStays) {
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  raw.send(Message{77, UnknownMsg{0x42}});
  auto nacks = raw.received_of<NackMsg>();
  ASSERT_EQ(nacks.size(), 1u);
  EXPECT_EQ(nacks[0].first, 77u);
  EXPECT_EQ(nacks[0].second.acked, 0x42);
  EXPECT_EQ(nacks[0].second.code, NackCode::kUnknownOpcode);
  EXPECT_FALSE(raw.closed_reason().has_value());
  EXPECT_TRUE(core.is_connected(raw.key()));
  raw.send(Message{78, PingMsg{}});
  auto acks = raw.received_of<AckMsg>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].first, 78u);
  EXPECT_EQ(acks[0].second.acked, static_cast<uint8_t>(Opcode::kPing));
  EXPECT_TRUE(acks[0].second.data.empty());
}

TEST(NodeCore, UnknownOrDisabledConnectionOptionsAreRefusedEchoingTheOption) {
  OverlayConfig c = test_config(5);
  c.compression = {compression::Method::kZlib};
  NodeCore core(identity_of(1), c, 1'000'000);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{5, SetConnectionOptMsg{7, 3}});  // unknown option
  raw.send(Message{6, SetConnectionOptMsg{0, 2}});  // lzma: known, disabled here
  raw.send(Message{8, SetConnectionOptMsg{0, 9}});  // unknown setting
  auto nacks = raw.received_of<NackMsg>();
  ASSERT_EQ(nacks.size(), 3u);
  const std::vector<std::pair<uint32_t, Bytes>> want = {{5, {7, 3}}, {6, {0, 2}}, {8, {0, 9}}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(nacks[i].first, want[i].first);
    EXPECT_EQ(nacks[i].second.acked, static_cast<uint8_t>(Opcode::kSetConnectionOpt));
    EXPECT_EQ(nacks[i].second.code, NackCode::kUnsupportedOption);
    EXPECT_EQ(nacks[i].second.data, want[i].second);
  }
  EXPECT_TRUE(core.is_connected(raw.key()));
}

TEST(NodeCore, PeerExchangeVectorAddsItsEntriesToThePeerBook) {
  const auto& v = vectors()["peer_exchange"];
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  RawPeer raw(core, Identity::from_seed(hex_array<32>(v["origin_seed"])));
  ASSERT_TRUE(raw.established());
  raw.send_record(hex_bytes(v["message"]));
  EXPECT_FALSE(raw.closed_reason().has_value());
  for (const auto& e : v["entries"]) {
    const auto* got =
        core.peer_book().find({e["host"].get<std::string>(), e["port"].get<uint16_t>()});
    ASSERT_NE(got, nullptr) << e;
    EXPECT_EQ(hex(*got->key), e["key"]);
  }
  // The overlay's own SPEAKs never reach an app.
  EXPECT_TRUE(events_of<SpeakEvent>(raw.events()).empty());
}

TEST(NodeCore, PeerExchangeIsSentInTheVectorLayout) {
  // A core that knows a peer tells a new neighbour about it right after the
  // handshake, as SPEAK app 0, hops 1, with the vector's payload layout.
  const auto& v = vectors()["peer_exchange"];
  NodeCore core(identity_of(1), test_config(5), 1'000'000);
  const auto& e = v["entries"][0];
  core.add_peer_address({e["host"].get<std::string>(), e["port"].get<uint16_t>()},
                        hex_array<32>(e["key"]));
  RawPeer raw(core, identity_of(2));
  auto speaks = raw.received_of<SpeakMsg>();
  ASSERT_EQ(speaks.size(), 1u);
  const SpeakMsg& s = speaks[0].second;
  EXPECT_EQ(speaks[0].first, 0u);
  EXPECT_EQ(s.app, kOverlayApp);
  EXPECT_EQ(s.hops_left, 1);
  EXPECT_EQ(s.flags, 0);
  EXPECT_EQ(s.origin, core.identity().public_key());
  // count 1, then the first vector entry exactly as in the vector payload.
  Bytes full = hex_bytes(v["payload"]);
  Bytes first_entry(full.begin() + 1, full.begin() + 1 + 32 + 1 + 4 + 2);
  Bytes expect(1 + first_entry.size(), 1);
  std::copy(first_entry.begin(), first_entry.end(), expect.begin() + 1);
  EXPECT_EQ(hex(s.payload), hex(expect));
}

TEST(NodeCore, EncryptedWhisperVectorOpensAtTheReceiver) {
  const auto& v = vectors()["whisper_e2e"];
  NodeCore core(Identity::from_seed(hex_array<32>(v["receiver_seed"])), test_config(5), 1'000'000);
  core.register_app(v["app"].get<AppId>());
  RawPeer raw(core, Identity::from_seed(hex_array<32>(v["sender_seed"])));
  ASSERT_TRUE(raw.established());
  raw.send_record(hex_bytes(v["message"]));
  auto w = events_of<WhisperEvent>(raw.events());
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].encrypted);
  EXPECT_EQ(hex(w[0].payload), v["plaintext"]);
  EXPECT_EQ(w[0].from, raw.key());
  // The ACK carries the hash of the payload as carried (nonce ‖ box).
  auto acks = raw.received_of<AckMsg>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(hex(encode_message(Message{acks[0].first, acks[0].second})), v["ack_message"]);
}

TEST(NodeCore, TamperedEncryptedWhisperIsNackedAsUndecryptable) {
  const auto& v = vectors()["whisper_e2e"];
  NodeCore core(Identity::from_seed(hex_array<32>(v["receiver_seed"])), test_config(5), 1'000'000);
  core.register_app(v["app"].get<AppId>());
  RawPeer raw(core, Identity::from_seed(hex_array<32>(v["sender_seed"])));
  Bytes m = hex_bytes(v["message"]);
  m.back() ^= 1;
  raw.send_record(m);
  EXPECT_TRUE(events_of<WhisperEvent>(raw.events()).empty());
  auto nacks = raw.received_of<NackMsg>();
  ASSERT_EQ(nacks.size(), 1u);
  EXPECT_EQ(nacks[0].second.code, NackCode::kDecryptFailed);
  EXPECT_TRUE(core.is_connected(raw.key()));
}

TEST(NodeCore, ShutdownCancelsPendingWorkOnce) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto t = net.core(0).request(kApp, net.key(1), bytes_of("q"), false, 5000, net.now_us);
  ASSERT_TRUE(t.ok());
  net.core(0).shutdown("bye");
  net.run(10 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kCancelled);
  EXPECT_FALSE(net.core(0).shout(kApp, bytes_of("x"), net.now_us).ok());
  EXPECT_FALSE(net.core(1).is_connected(net.key(0)));
}

// ---------------------------------------------------------------------------
// Timer: the core asks for its true next deadline, not a fixed poll.

TEST(NodeCore, IdleCoreTimerIsTheMaintenanceIntervalNotAPoll) {
  Net net;
  const int64_t start = net.now_us;
  net.add();  // no peers, nothing to dial
  net.run(10 * kMs);
  auto t = net.core(0).next_timer_us();
  ASSERT_TRUE(t.has_value());
  // The first maintain ran at `start`; nothing is due before the 1 s
  // housekeeping interval (it was a 200 ms poll).
  EXPECT_EQ(*t, start + 1000 * kMs);
  net.run(5000 * kMs);
  t = net.core(0).next_timer_us();
  ASSERT_TRUE(t.has_value());
  EXPECT_GE(*t - net.now_us, 100 * kMs);
  EXPECT_LE(*t - net.now_us, 1000 * kMs);
}

TEST(NodeCore, PendingRequestMakesItsTimeoutTheNextTimer) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  auto before = net.core(0).next_timer_us();
  ASSERT_TRUE(before.has_value());
  ASSERT_GT(*before, net.now_us + 60 * kMs);
  auto t = net.core(0).request(kApp, net.key(1), bytes_of("q"), false, 60, net.now_us);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(net.core(0).next_timer_us(), std::optional<int64_t>(net.now_us + 60 * kMs));
  net.run(59 * kMs);
  EXPECT_FALSE(completion(net.events(0), *t).has_value());
  net.run(1 * kMs);  // exactly at the deadline, not up to a poll later
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kTimeout);
  // Done: the timer moves away again.
  auto after = net.core(0).next_timer_us();
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, net.now_us + 60 * kMs);
}

}  // namespace
}  // namespace chorus::overlay
