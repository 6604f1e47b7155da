// NodeCore relaying (spec/overlay.md, "Relay") and connect(): an origin
// reaches a peer of its peer through it, sealed end to end; relays refuse
// what they must; targets check what relays hand them.
#include <gtest/gtest.h>
#include <sodium.h>

#include "chorus/overlay/node_core.h"
#include "core_net.h"

namespace chorus::overlay {
namespace {

// 0 - 1 - 2 in a line (0 and 2 dial 1), 1 relaying with `relay_cfg`.
// Events cleared; kApp registered on 0 and 2 only.
void relay_line(Net& net, OverlayConfig relay_cfg = test_config(0),
                OverlayConfig end_cfg = test_config(0)) {
  OverlayConfig last = end_cfg;
  last.seed = 0;
  link_line(net, {end_cfg, relay_cfg, last}, [](size_t i, NodeCore& core) {
    if (i != 1) core.register_app(kApp);
  });
}

// The NACK a RawPeer got for its message `id`.
std::optional<NackMsg> nack_for(const RawPeer& p, uint32_t id) {
  for (auto& [mid, n] : p.received_of<NackMsg>())
    if (mid == id) return n;
  return std::nullopt;
}

// nonce ‖ crypto_box_easy(plain) from `from` to `to`, as an origin seals it.
Bytes seal(const Identity& from, const PublicKey& to, ByteView plain) {
  auto pk = Identity::x25519_public(to);
  EXPECT_TRUE(pk.ok());
  auto sk = from.x25519_secret();
  Bytes out(crypto_box_NONCEBYTES + crypto_box_MACBYTES + plain.size());
  randombytes_buf(out.data(), crypto_box_NONCEBYTES);
  EXPECT_EQ(crypto_box_easy(out.data() + crypto_box_NONCEBYTES, plain.data(), plain.size(),
                            out.data(), pk->data(), sk.data()),
            0);
  return out;
}

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

WhisperMsg relay_msg(const PublicKey& to, ByteView box, uint8_t flags) {
  WhisperMsg w;
  w.app = kApp;
  w.flags = flags;
  w.payload = concat(ByteView(to.data(), to.size()), box);
  return w;
}

// ---------------------------------------------------------------------------
// Forwarding

TEST(Relay, WhisperReachesAPeerOfThePeerSealedToIt) {
  Net net;
  relay_line(net);
  const Bytes secret = bytes_of("only node 2 may read this");
  auto t = net.core(0).whisper_via(kApp, net.key(1), net.key(2), secret, net.now_us);
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  net.run(20 * kMs);
  auto w = events_of<WhisperEvent>(net.events(2));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].from, net.key(0));  // the origin, not the relay
  EXPECT_EQ(w[0].payload, secret);
  EXPECT_TRUE(w[0].encrypted);
  ASSERT_TRUE(w[0].relay.has_value());
  EXPECT_EQ(*w[0].relay, net.key(1));
  // The ACK came back through the relay, with the hash of the box.
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok()) << c->result.error().to_string();
  EXPECT_EQ(c->result->size(), 32u);
  // The relay delivered nothing to itself and passed on only the box.
  EXPECT_TRUE(events_of<WhisperEvent>(net.events(1)).empty());
  EXPECT_EQ(net.core(1).stats().relays_forwarded, 1u);
  EXPECT_EQ(net.core(1).stats().relay_bytes_forwarded,
            secret.size() + crypto_box_NONCEBYTES + crypto_box_MACBYTES);
  EXPECT_EQ(net.core(2).stats().relayed_received, 1u);
}

TEST(Relay, RequestGetsTheResponseBackThroughTheRelay) {
  Net net;
  relay_line(net);
  auto t =
      net.core(0).request_via(kApp, net.key(1), net.key(2), bytes_of("question"), 1000, net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(20 * kMs);
  auto w = events_of<WhisperEvent>(net.events(2));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].is_request);
  // The target has no link to the origin: respond() goes back via the relay.
  ASSERT_FALSE(net.core(2).is_connected(net.key(0)));
  auto r = net.core(2).respond(kApp, w[0].from, w[0].request_id, bytes_of("answer"), false,
                               net.now_us, w[0].link);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  net.drain(2);
  net.run(20 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok()) << c->result.error().to_string();
  EXPECT_EQ(*c->result, bytes_of("answer"));
  EXPECT_EQ(net.core(1).stats().relays_forwarded, 2u);
  EXPECT_TRUE(events_of<WhisperEvent>(net.events(1)).empty());
}

TEST(Relay, TargetRefusalComesBackToTheOrigin) {
  Net net;
  relay_line(net);
  net.core(2).unregister_app(kApp);
  auto t = net.core(0).whisper_via(kApp, net.key(1), net.key(2), bytes_of("x"), net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(20 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kRefused);
  EXPECT_NE(c->result.error().message().find("target: no app 7"), std::string::npos)
      << c->result.error().message();
}

TEST(Relay, SilentTargetTimesOutAtTheRelay) {
  Net net;
  OverlayConfig relay_cfg = test_config(0);
  relay_cfg.request_timeout_ms = 2000;
  OverlayConfig ends = test_config(0);
  ends.request_timeout_ms = 8000;  // the origin waits longer than the relay
  relay_line(net, relay_cfg, ends);
  net.node(2).mute = true;
  auto t = net.core(0).whisper_via(kApp, net.key(1), net.key(2), bytes_of("x"), net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(3000 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_EQ(c->result.error().code(), ErrorCode::kRefused);
  EXPECT_NE(c->result.error().message().find("did not answer in time"), std::string::npos);
}

TEST(Relay, TargetLinkClosingFailsTheRelayedWhisperBack) {
  Net net;
  relay_line(net);
  net.node(2).mute = true;
  auto t = net.core(0).whisper_via(kApp, net.key(1), net.key(2), bytes_of("x"), net.now_us);
  ASSERT_TRUE(t.ok());
  net.run(5 * kMs);
  net.core(2).shutdown("gone");
  net.drain(2);
  net.run(20 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_FALSE(c->result.ok());
  EXPECT_NE(c->result.error().message().find("link to the target closed"), std::string::npos)
      << c->result.error().message();
}

TEST(Relay, OriginRefusesRelaysThatAreNotThirdNodes) {
  Net net;
  relay_line(net);
  EXPECT_EQ(net.core(0)
                .whisper_via(kApp, net.key(1), net.key(1), bytes_of("x"), net.now_us)
                .error()
                .code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(net.core(0)
                .whisper_via(kApp, net.key(2), net.key(1), bytes_of("x"), net.now_us)
                .error()
                .code(),
            ErrorCode::kNotFound);  // 2 is no peer of ours
}

// ---------------------------------------------------------------------------
// Refusals at the relay (a hand-driven origin)

TEST(Relay, RelayToANonPeerIsRefusedWithNoRoute) {
  NodeCore relay(identity_of(1), test_config(5), 1'000'000);
  RawPeer origin(relay, identity_of(2));
  ASSERT_TRUE(origin.established());
  const Identity stranger = identity_of(9);
  origin.send(Message{11, relay_msg(stranger.public_key(),
                                    seal(identity_of(2), stranger.public_key(), bytes_of("x")),
                                    kWhisperRelay | kWhisperEncrypted)});
  auto n = nack_for(origin, 11);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->code, NackCode::kNoRoute);
  EXPECT_EQ(relay.stats().relays_refused, 1u);
  EXPECT_FALSE(origin.closed_reason().has_value());
}

TEST(Relay, SwitchedOffRelayRefuses) {
  OverlayConfig cfg = test_config(5);
  cfg.relay_enabled = false;
  NodeCore relay(identity_of(1), cfg, 1'000'000);
  RawPeer origin(relay, identity_of(2));
  ASSERT_TRUE(origin.established());
  const PublicKey to = identity_of(9).public_key();
  origin.send(Message{3, relay_msg(to, seal(identity_of(2), to, bytes_of("x")),
                                   kWhisperRelay | kWhisperEncrypted)});
  auto n = nack_for(origin, 3);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->code, NackCode::kRelayOff);
  EXPECT_EQ(relay.stats().relays_forwarded, 0u);
}

TEST(Relay, BadRelayRequestsAreRefusedAndTheLinkStays) {
  NodeCore relay(identity_of(1), test_config(5), 1'000'000);
  RawPeer origin(relay, identity_of(2));
  ASSERT_TRUE(origin.established());
  const PublicKey to = identity_of(9).public_key();
  const Bytes box = seal(identity_of(2), to, bytes_of("x"));
  // Unencrypted: a relay passes only ciphertext.
  origin.send(Message{1, relay_msg(to, box, kWhisperRelay)});
  // Already relayed once: never relayed again.
  origin.send(Message{2, relay_msg(to, box, kWhisperRelay | kWhisperRelayed | kWhisperEncrypted)});
  // A loop: the target is the sender itself, or the relay.
  origin.send(Message{3, relay_msg(origin.key(), box, kWhisperRelay | kWhisperEncrypted)});
  origin.send(
      Message{4, relay_msg(relay.identity().public_key(), box, kWhisperRelay | kWhisperEncrypted)});
  // Malformed: shorter than a key and a box.
  WhisperMsg shorty;
  shorty.app = kApp;
  shorty.flags = kWhisperRelay | kWhisperEncrypted;
  shorty.payload = Bytes(40, 0xaa);
  origin.send(Message{5, shorty});
  for (uint32_t id : {1u, 2u, 3u, 4u}) {
    auto n = nack_for(origin, id);
    ASSERT_TRUE(n.has_value()) << id;
    EXPECT_EQ(n->code, NackCode::kRelayOff) << id;
  }
  auto m = nack_for(origin, 5);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->code, NackCode::kUnspecified);
  EXPECT_FALSE(origin.closed_reason().has_value());
  EXPECT_EQ(relay.stats().relays_forwarded, 0u);
  EXPECT_EQ(relay.stats().relays_refused, 5u);
}

TEST(Relay, OversizedRelayPayloadIsRefusedWithLimit) {
  OverlayConfig cfg = test_config(5);
  cfg.max_frame_bytes = 4096;
  cfg.max_send_queue_bytes = 1 << 20;
  NodeCore relay(identity_of(1), cfg, 1'000'000);
  RawPeer origin(relay, identity_of(2));
  ASSERT_TRUE(origin.established());
  const PublicKey to = identity_of(9).public_key();
  // Fits the relay's frame, but what it would pass on exceeds a payload.
  const Bytes box = seal(identity_of(2), to, Bytes(cfg.max_frame_bytes - 200, 0x55));
  origin.send(Message{8, relay_msg(to, box, kWhisperRelay | kWhisperEncrypted)});
  auto n = nack_for(origin, 8);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->code, NackCode::kLimit);
}

TEST(Relay, RelayRateIsBoundedPerLink) {
  Net net;
  OverlayConfig relay_cfg = test_config(0);
  relay_cfg.relay_rate_per_s = 1;
  relay_cfg.relay_burst = 2;
  relay_line(net, relay_cfg);
  std::vector<Token> tokens;
  for (int i = 0; i < 4; ++i) {
    auto t = net.core(0).whisper_via(kApp, net.key(1), net.key(2), bytes_of("x"), net.now_us);
    ASSERT_TRUE(t.ok());
    tokens.push_back(*t);
  }
  net.run(20 * kMs);
  size_t ok = 0, limited = 0;
  for (Token t : tokens) {
    auto c = completion(net.events(0), t);
    ASSERT_TRUE(c.has_value());
    if (c->result.ok()) {
      ++ok;
    } else if (c->result.error().message().find("rate limit") != std::string::npos) {
      ++limited;
    }
  }
  EXPECT_EQ(ok, 2u);
  EXPECT_EQ(limited, 2u);
  EXPECT_EQ(events_of<WhisperEvent>(net.events(2)).size(), 2u);
}

// ---------------------------------------------------------------------------
// What a target accepts from a relay (a hand-driven relay)

WhisperMsg relayed_msg(const PublicKey& origin, ByteView box, uint8_t flags) {
  WhisperMsg w = relay_msg(origin, box, flags);  // same layout, origin in front
  return w;
}

TEST(Relay, TargetDeliversAReplayedMessageOnce) {
  NodeCore target(identity_of(1), test_config(5), 1'000'000);
  target.register_app(kApp);
  RawPeer relay(target, identity_of(2));
  ASSERT_TRUE(relay.established());
  const Identity origin = identity_of(3);
  const Bytes box = seal(origin, target.identity().public_key(), bytes_of("once"));
  const WhisperMsg w = relayed_msg(origin.public_key(), box, kWhisperRelayed | kWhisperEncrypted);
  relay.send(Message{1, w});
  relay.send(Message{2, w});
  auto delivered = events_of<WhisperEvent>(relay.events());
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].from, origin.public_key());
  EXPECT_EQ(delivered[0].payload, bytes_of("once"));
  EXPECT_EQ(*delivered[0].relay, relay.key());
  EXPECT_EQ(relay.received_of<AckMsg>().size(), 2u);  // both ACKed with the box's hash
  const Hash256 h = blake2b_256(box);
  for (auto& [id, a] : relay.received_of<AckMsg>()) EXPECT_EQ(a.data, Bytes(h.begin(), h.end()));
  EXPECT_EQ(target.stats().relayed_replays, 1u);
}

TEST(Relay, TargetRefusesForgedOrMalformedRelayedMessages) {
  NodeCore target(identity_of(1), test_config(5), 1'000'000);
  target.register_app(kApp);
  RawPeer relay(target, identity_of(2));
  ASSERT_TRUE(relay.established());
  const Identity origin = identity_of(3);
  // Sealed by the relay but claiming the origin: does not open.
  const Bytes forged = seal(identity_of(2), target.identity().public_key(), bytes_of("fake"));
  relay.send(
      Message{1, relayed_msg(origin.public_key(), forged, kWhisperRelayed | kWhisperEncrypted)});
  // Not encrypted: never valid relayed.
  relay.send(Message{2, relayed_msg(origin.public_key(), Bytes(64, 1), kWhisperRelayed)});
  auto n1 = nack_for(relay, 1);
  auto n2 = nack_for(relay, 2);
  ASSERT_TRUE(n1.has_value());
  ASSERT_TRUE(n2.has_value());
  EXPECT_EQ(n1->code, NackCode::kDecryptFailed);
  EXPECT_EQ(n2->code, NackCode::kUnspecified);
  EXPECT_TRUE(events_of<WhisperEvent>(relay.events()).empty());
  EXPECT_FALSE(relay.closed_reason().has_value());
}

TEST(Relay, RelayCannotAnswerARequestInTheTargetsName) {
  NodeCore origin(identity_of(1), test_config(5), 1'000'000);
  RawPeer relay(origin, identity_of(2));
  ASSERT_TRUE(relay.established());
  const PublicKey target = identity_of(3).public_key();
  auto t = origin.request_via(kApp, relay.key(), target, bytes_of("q"), 1000, 1'000'000);
  ASSERT_TRUE(t.ok());
  origin.flush(1'000'000);
  relay.send(Message{1, PingMsg{}});  // lets the RawPeer collect what the core sent
  auto sent = relay.received_of<WhisperMsg>();
  ASSERT_EQ(sent.size(), 1u);
  const uint32_t request_id = sent[0].first;
  // A direct response from the relay itself: ignored.
  WhisperMsg direct;
  direct.app = kApp;
  direct.flags = kWhisperResponse;
  direct.reply_to = request_id;
  direct.payload = bytes_of("forged");
  relay.send(Message{2, direct});
  // A relayed response sealed by the relay, claiming the target: does not open.
  WhisperMsg fake =
      relayed_msg(target, seal(identity_of(2), origin.identity().public_key(), bytes_of("forged")),
                  kWhisperRelayed | kWhisperEncrypted | kWhisperResponse);
  fake.reply_to = request_id;
  relay.send(Message{3, fake});
  EXPECT_FALSE(completion(relay.events(), *t).has_value());
  // The target's real response completes it.
  WhisperMsg real =
      relayed_msg(target, seal(identity_of(3), origin.identity().public_key(), bytes_of("real")),
                  kWhisperRelayed | kWhisperEncrypted | kWhisperResponse);
  real.reply_to = request_id;
  relay.send(Message{4, real});
  auto c = completion(relay.events(), *t);
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->result.ok());
  EXPECT_EQ(*c->result, bytes_of("real"));
}

// ---------------------------------------------------------------------------
// The vector (spec/vectors/overlay.json, "relay")

TEST(Relay, VectorOpensAtTheTargetAsTheOrigins) {
  const auto& v = vectors()["relay"];
  const Identity origin_id = Identity::from_seed(hex_array<32>(v["origin_seed"]));
  const Identity target_id = Identity::from_seed(hex_array<32>(v["target_seed"]));
  // The relay's forward is the origin's request with the key swapped and flag 8 -> 16.
  Bytes to_relay = hex_bytes(v["to_relay"]), to_target = hex_bytes(v["to_target"]);
  ASSERT_EQ(to_relay.size(), to_target.size());
  EXPECT_EQ(Bytes(to_relay.begin() + 5 + 7 + 32, to_relay.end()),
            Bytes(to_target.begin() + 5 + 7 + 32, to_target.end()));
  // The target: opens it as the origin's, ACKs the box's hash.
  {
    NodeCore target(target_id, test_config(5), 1'000'000);
    target.register_app(v["app"].get<AppId>());
    RawPeer relay(target, Identity::from_seed(hex_array<32>(v["relay_seed"])));
    relay.send_record(hex_bytes(v["to_target"]));
    auto w = events_of<WhisperEvent>(relay.events());
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].from, origin_id.public_key());
    EXPECT_EQ(hex(w[0].payload), v["plaintext"]);
    auto acks = relay.received_of<AckMsg>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].first, 5u);
    EXPECT_EQ(hex(acks[0].second.data), v["ack_hash"]);
  }
}

// ---------------------------------------------------------------------------
// connect()

TEST(Connect, CompletesWhenTheLinkIsUpEvenBeyondTheOutboundCap) {
  Net net;
  OverlayConfig cfg = test_config(0);
  cfg.max_outbound_links = 1;
  net.add(cfg);
  net.add();
  net.add();
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  auto t = net.core(0).connect(Net::address_of(2), net.key(2), net.now_us);
  ASSERT_TRUE(t.ok());
  net.drain(0);
  net.run(100 * kMs);
  auto c = completion(net.events(0), *t);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->result.ok()) << c->result.error().to_string();
  EXPECT_TRUE(net.linked(0, 2));
  // Already linked: completes at once (as an event, not inline).
  auto again = net.core(0).connect(Net::address_of(2), net.key(2), net.now_us);
  ASSERT_TRUE(again.ok());
  net.drain(0);
  auto c2 = completion(net.events(0), *again);
  ASSERT_TRUE(c2.has_value());
  EXPECT_TRUE(c2->result.ok());
}

TEST(Connect, FailsWithTheRightCode) {
  Net net;
  net.add();
  net.add();
  net.add();
  // Another key answers at the address: kAuthFailed.
  auto wrong = net.core(0).connect(Net::address_of(1), net.key(2), net.now_us);
  // Nobody there: kIo.
  auto refused = net.core(0).connect({"127.0.0.1", 6000}, net.key(2), net.now_us);
  // Never answers: kTimeout after handshake_timeout_ms.
  auto silent = net.core(0).connect(Net::black_hole(), net.key(2), net.now_us);
  ASSERT_TRUE(wrong.ok() && refused.ok() && silent.ok());
  EXPECT_EQ(net.core(0).connect(Net::address_of(1), net.key(0), net.now_us).error().code(),
            ErrorCode::kInvalidArgument);
  net.drain(0);
  net.run(6000 * kMs);
  auto code = [&](Token t) -> std::optional<ErrorCode> {
    auto c = completion(net.events(0), t);
    EXPECT_TRUE(c.has_value());
    if (!c || c->result.ok()) return std::nullopt;
    return c->result.error().code();
  };
  EXPECT_EQ(code(*wrong), ErrorCode::kAuthFailed);
  EXPECT_EQ(code(*refused), ErrorCode::kIo);
  EXPECT_EQ(code(*silent), ErrorCode::kTimeout);
}

}  // namespace
}  // namespace chorus::overlay
