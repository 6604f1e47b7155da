// DhtCore against a hostile peer: the test plays the peer byte for byte with
// its own DatagramCodec, so every forged, spoofed, oversized or garbage
// datagram reaches the core exactly as it would off the wire.
#include "chorus/dht/dht_core.h"

#include <gtest/gtest.h>

namespace chorus::dht {
namespace {

overlay::Identity identity(uint8_t n) {
  std::array<uint8_t, 32> seed{};
  seed[0] = n;
  return overlay::Identity::from_seed(seed);
}

constexpr int64_t kMs = 1000;

// One core under test and one hand-driven peer.
struct Bench {
  Bench() : core(a_id, a_addr, config(), 0), h_codec(h_id, DatagramLimits{}, h_random) {}
  static DhtConfig config() {
    DhtConfig c;
    c.seed = 1;
    return c;
  }
  overlay::Identity a_id = identity(1);
  overlay::Identity h_id = identity(2);
  Address a_addr{"127.0.0.1", 1000};
  Address h_addr{"127.0.0.1", 2000};
  DhtCore core;
  overlay::Random h_random{7};
  DatagramCodec h_codec;
  int64_t now_us = 1'000'000;

  std::vector<SendDatagram> drain() {
    std::vector<SendDatagram> out;
    SendDatagram d;
    while (core.poll_action(d)) out.push_back(d);
    return out;
  }
  // The peer sends one message (sealed to the core) from `from`.
  void send(const Message& m, const Address& from) {
    auto datagrams = h_codec.seal(core.key(), encode_message(m), now_us / kMs);
    ASSERT_TRUE(datagrams.ok());
    for (auto& d : datagrams.value()) core.on_datagram(from, d, now_us);
  }
  // Everything the core sent, opened by the peer and decoded.
  std::vector<Message> received(std::optional<Op> answering) {
    std::vector<Message> out;
    for (auto& d : drain()) {
      auto opened = h_codec.open(d.bytes, now_us / kMs);
      if (!opened.ok() || !opened.value()) continue;
      auto m = decode_message(opened.value()->message, answering);
      if (m.ok()) out.push_back(std::move(m).value());
    }
    return out;
  }
  WriteToken token_from(const Address& from) {
    send(Message{1, 0, FindNodeReq{}}, from);
    auto r = received(Op::kFindNode);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? WriteToken{} : std::get<FoundReply>(r[0].body).token;
  }
};

Refusal nack_of(const std::vector<Message>& r) {
  if (r.size() != 1) return Refusal::kNone;
  auto* n = std::get_if<Nack>(&r[0].body);
  return n ? n->reason : Refusal::kNone;
}

TEST(DhtCoreHostile, StoreWithoutAValidTokenIsRefused) {
  Bench b;
  b.send(Message{5, 0, StoreReq{WriteToken{}, key_for("k"), PutBody{Value{1, {1, 2, 3}, 60}}}},
         b.h_addr);
  EXPECT_EQ(nack_of(b.received(Op::kStore)), Refusal::kBadToken);
  EXPECT_EQ(b.core.store().key_count(), 0u);
}

TEST(DhtCoreHostile, ATokenOnlyWorksFromTheAddressItWasGivenTo) {
  Bench b;
  WriteToken t = b.token_from(b.h_addr);
  // Someone spoofing another source address cannot use it ...
  Address elsewhere{"127.0.0.9", 2000};
  b.send(Message{6, 0, StoreReq{t, key_for("k"), PutBody{Value{1, {1}, 60}}}}, elsewhere);
  EXPECT_EQ(nack_of(b.received(Op::kStore)), Refusal::kBadToken);
  // ... the address it was given to can.
  b.send(Message{7, 0, StoreReq{t, key_for("k"), PutBody{Value{1, {1}, 60}}}}, b.h_addr);
  auto r = b.received(Op::kStore);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StoreReply>(r[0].body));
  EXPECT_EQ(b.core.store().key_count(), 1u);
}

TEST(DhtCoreHostile, OversizedValuesAndForgedSignaturesAreRefused) {
  Bench b;
  WriteToken t = b.token_from(b.h_addr);
  b.send(Message{8, 0, StoreReq{t, key_for("big"), PutBody{Value{1, Bytes(70 * 1024, 7), 60}}}},
         b.h_addr);
  EXPECT_EQ(nack_of(b.received(Op::kStore)), Refusal::kTooLarge);

  SignedValue forged;
  forged.owner = identity(3).public_key();  // claims to be someone else
  forged.seq = 1;
  forged.data = {1, 2};
  forged.signature = b.h_id.sign(signed_value_message(key_for("s"), 1, 600, forged.data));
  b.send(Message{9, 0, StoreReq{t, key_for("s"), PutSignedBody{forged}}}, b.h_addr);
  EXPECT_EQ(nack_of(b.received(Op::kStore)), Refusal::kBadSignature);
  EXPECT_EQ(b.core.store().key_count(), 0u);
}

TEST(DhtCoreHostile, GarbageAndReplaysAreDroppedWithoutAnswer) {
  Bench b;
  Bytes junk(300, 0xAB);
  b.core.on_datagram(b.h_addr, junk, b.now_us);
  b.core.on_datagram(b.h_addr, Bytes{}, b.now_us);
  EXPECT_TRUE(b.drain().empty());
  EXPECT_EQ(b.core.stats().dropped_bad, 2u);

  auto d = b.h_codec.seal(b.core.key(), encode_message(Message{3, 0, PingReq{}}), b.now_us / kMs);
  ASSERT_TRUE(d.ok());
  b.core.on_datagram(b.h_addr, d.value()[0], b.now_us);
  b.core.on_datagram(b.h_addr, d.value()[0], b.now_us);  // the same datagram again
  EXPECT_EQ(b.received(Op::kPing).size(), 1u);
}

TEST(DhtCoreHostile, AnUnreadableRequestGetsANackAndTheNodeKeepsServing) {
  Bench b;
  Bytes bad = encode_message(Message{4, 0, PingReq{}});
  bad.push_back(0xFF);  // trailing byte: malformed
  auto d = b.h_codec.seal(b.core.key(), bad, b.now_us / kMs);
  ASSERT_TRUE(d.ok());
  b.core.on_datagram(b.h_addr, d.value()[0], b.now_us);
  EXPECT_EQ(nack_of(b.received(std::nullopt)), Refusal::kMalformed);
  b.send(Message{5, 0, PingReq{}}, b.h_addr);
  auto r = b.received(Op::kPing);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<EmptyReply>(r[0].body));
}

// Answers every FIND_NODE the core sends to the peer with `contacts`.
size_t answer_lookups(Bench& b, const std::vector<Contact>& contacts) {
  size_t answered = 0;
  for (auto& d : b.drain()) {
    if (d.to != b.h_addr) continue;
    auto opened = b.h_codec.open(d.bytes, b.now_us / kMs);
    if (!opened.ok() || !opened.value()) continue;
    auto m = decode_message(opened.value()->message, std::nullopt);
    if (!m.ok() || !std::holds_alternative<FindNodeReq>(m.value().body)) continue;
    FoundReply r;
    r.contacts = contacts;
    b.send(Message{m.value().txid, 0, r}, b.h_addr);
    ++answered;
  }
  return answered;
}

TEST(DhtCoreHostile, APeerNamingItselfOverAndOverDoesNotStallALookup) {
  Bench b;
  Contact h = make_contact(b.h_id.public_key(), b.h_addr);
  b.core.add_contact(h, b.now_us);
  Token t = b.core.find_node(key_for("target"), b.now_us);
  std::vector<Contact> self_spam(kMaxContactsPerReply, h);
  EXPECT_EQ(answer_lookups(b, self_spam), 1u);
  DhtEvent e;
  ASSERT_TRUE(b.core.poll_event(e));
  auto& done = std::get<DoneEvent>(e);
  EXPECT_EQ(done.token, t);
  ASSERT_TRUE(done.result.ok());
  EXPECT_EQ(done.result.value().closest.size(), 1u);
  EXPECT_EQ(b.core.table().size(), 1u);
}

TEST(DhtCoreHostile, GarbageContactsCostTimeoutsButNeverATableSlot) {
  Bench b;
  Contact h = make_contact(b.h_id.public_key(), b.h_addr);
  b.core.add_contact(h, b.now_us);
  Token t = b.core.find_node(key_for("target"), b.now_us);
  std::vector<Contact> garbage;
  for (uint8_t i = 0; i < kMaxContactsPerReply; ++i)
    garbage.push_back(make_contact(identity(static_cast<uint8_t>(100 + i)).public_key(),
                                   Address{"127.0.0.2", static_cast<uint16_t>(3000 + i)}));
  answer_lookups(b, garbage);
  // Nobody at those addresses answers; the lookup gives up on them by itself.
  std::optional<DoneEvent> done;
  for (int step = 0; step < 200 && !done; ++step) {
    b.now_us += 100 * kMs;
    b.core.on_timer(b.now_us);
    b.drain();
    DhtEvent e;
    while (b.core.poll_event(e))
      if (auto* d = std::get_if<DoneEvent>(&e)) done = *d;
  }
  ASSERT_TRUE(done.has_value()) << b.core.stats().rpcs_sent << " sent, "
                                << b.core.stats().rpcs_timed_out << " timed out, "
                                << b.core.pending_rpcs() << " pending, " << b.core.operations();
  EXPECT_EQ(done->token, t);
  // Bounded by the lookup deadline, not by how many the peer named.
  EXPECT_LE(b.now_us, 1'000'000 + (DhtConfig{}.lookup_deadline_ms + 1000) * kMs);
  EXPECT_LE(b.core.stats().rpcs_sent, 1u + kMaxContactsPerReply);
  EXPECT_EQ(b.core.table().size(), 1u);
  EXPECT_LE(b.core.pending_rpcs(), DhtConfig{}.alpha);  // the last queries time out on their own
}

TEST(DhtCoreHostile, AReplyFromTheWrongKeyIsIgnored) {
  Bench b;
  // The core asks C; the hostile peer answers in C's place.
  overlay::Identity c_id = identity(4);
  Contact c = make_contact(c_id.public_key(), Address{"127.0.0.3", 4000});
  b.core.add_contact(c, b.now_us);
  b.core.find_node(key_for("x"), b.now_us);
  auto sent = b.drain();
  ASSERT_EQ(sent.size(), 1u);
  // H cannot open what was sealed to C; it guesses a txid.
  b.send(Message{12345, 0, FoundReply{}}, c.address);
  EXPECT_EQ(b.core.stats().dropped_unexpected, 1u);
  EXPECT_EQ(b.core.stats().rpcs_answered, 0u);
}

}  // namespace
}  // namespace chorus::dht
