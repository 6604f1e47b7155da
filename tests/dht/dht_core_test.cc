// DhtCore against a hostile peer: the test plays the peer byte for byte with
// its own DatagramCodec, so every forged, spoofed, oversized or garbage
// datagram reaches the core exactly as it would off the wire.
#include "chorus/dht/dht_core.h"
#include "chorus/dht/datagram.h"
#include "chorus/dht/rpc.h"

#include <gtest/gtest.h>

#include "chorus/dht/patch.h"

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
  explicit Bench(DhtConfig c = config())
      : core(a_id, a_addr, c, 0), h_codec(h_id, DatagramLimits{}, h_random) {}
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
  // The queries still out (stalled ones included) time out on their own.
  b.now_us += (DhtConfig{}.rpc_timeout_ms + 1) * kMs;
  b.core.on_timer(b.now_us);
  EXPECT_EQ(b.core.pending_rpcs(), 0u);
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

// ---- the core as a client of a replica the test plays by hand

// Requests the core sent to the peer, decoded.
std::vector<Message> requests_to(Bench& b, const Address& to) {
  std::vector<Message> out;
  for (auto& d : b.drain()) {
    if (d.to != to) continue;
    auto opened = b.h_codec.open(d.bytes, b.now_us / kMs);
    if (!opened.ok() || !opened.value()) continue;
    auto m = decode_message(opened.value()->message, std::nullopt);
    if (m.ok()) out.push_back(std::move(m).value());
  }
  return out;
}

// Answers the core's lookup queries to the peer with `reply` (contacts none).
void answer_lookup(Bench& b, FoundReply reply) {
  for (auto& m : requests_to(b, b.h_addr)) {
    ASSERT_TRUE(std::holds_alternative<FindNodeReq>(m.body) ||
                std::holds_alternative<FindValueReq>(m.body));
    b.send(Message{m.txid, 0, reply}, b.h_addr);
  }
}

std::optional<DoneEvent> done_event(Bench& b) {
  DhtEvent e;
  std::optional<DoneEvent> out;
  while (b.core.poll_event(e))
    if (auto* d = std::get_if<DoneEvent>(&e)) out = *d;
  return out;
}

std::vector<ListenEvent> listen_events(Bench& b) {
  std::vector<ListenEvent> out;
  DhtEvent e;
  while (b.core.poll_event(e))
    if (auto* l = std::get_if<ListenEvent>(&e)) out.push_back(*l);
  return out;
}

SignedValue signed_by(const overlay::Identity& signer, const PublicKey& claimed, const Key& key,
                      uint64_t seq, Bytes data) {
  SignedValue v;
  v.owner = claimed;
  v.seq = seq;
  v.ttl_s = 600;
  v.data = std::move(data);
  v.signature = signer.sign(signed_value_message(key, seq, v.ttl_s, v.data));
  return v;
}

TEST(DhtCoreReader, AGetDropsSignedValuesWhoseSignatureDoesNotVerify) {
  Bench b;
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  Key key = key_for("profile");
  b.core.get(key, b.now_us);
  FoundReply r;
  // A hostile replica hands out a value "from" node 3 that node 3 never signed.
  r.signed_values.push_back(signed_by(b.h_id, identity(3).public_key(), key, 9, {6, 6, 6}));
  r.signed_values.push_back(signed_by(b.h_id, b.h_id.public_key(), key, 1, {1}));
  answer_lookup(b, r);
  auto done = done_event(b);
  ASSERT_TRUE(done && done->result.ok());
  ASSERT_EQ(done->result.value().signed_values.size(), 1u);
  EXPECT_EQ(done->result.value().signed_values[0].owner, b.h_id.public_key());
  EXPECT_EQ(b.core.stats().bad_signed_dropped, 1u);
}

TEST(DhtCoreReader, ANotifyCountsOnlyFromANodeWeListenAtAndOnlyVerifiedValues) {
  Bench b;
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  Key key = key_for("room");
  b.core.listen(key, b.now_us);
  answer_lookup(b, FoundReply{});
  auto reg = requests_to(b, b.h_addr);
  ASSERT_EQ(reg.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<ListenBody>(std::get<StoreReq>(reg[0].body).body));
  b.send(Message{reg[0].txid, 0, StoreReply{}}, b.h_addr);

  // A stranger (never asked to LISTEN) cannot feed the listener.
  overlay::Identity s_id = identity(5);
  overlay::Random s_random{9};
  DatagramCodec s_codec(s_id, DatagramLimits{}, s_random);
  NotifyReq fake{key, {Value{7, {7}, 60}}, {}, std::nullopt};
  auto d = s_codec.seal(b.core.key(), encode_message(Message{77, 0, fake}), b.now_us / kMs);
  ASSERT_TRUE(d.ok());
  for (auto& x : d.value()) b.core.on_datagram(Address{"127.0.0.5", 5000}, x, b.now_us);
  EXPECT_TRUE(listen_events(b).empty());
  EXPECT_EQ(b.core.stats().notifies_ignored, 1u);

  // The replica we listen at can, but not with a forged signed value.
  NotifyReq real{key,
                 {Value{8, {8}, 60}},
                 {signed_by(b.h_id, identity(3).public_key(), key, 1, {3})},
                 std::nullopt};
  b.send(Message{78, 0, real}, b.h_addr);
  auto heard = listen_events(b);
  ASSERT_EQ(heard.size(), 1u);
  ASSERT_EQ(heard[0].values.size(), 1u);
  EXPECT_EQ(heard[0].values[0].id, 8u);
  EXPECT_TRUE(heard[0].signed_values.empty());
}

TEST(DhtCoreReplica, ARepliesTooLargeForOneMessageCarryTheValuesThatFit) {
  Bench b;
  WriteToken t = b.token_from(b.h_addr);
  Key key = key_for("big");
  // Two values of 60 KiB: together above the 96 KiB a message may carry.
  for (uint64_t id = 1; id <= 2; ++id) {
    b.send(Message{10 + id, 0, StoreReq{t, key, PutBody{Value{id, Bytes(60 * 1024, 1), 600}}}},
           b.h_addr);
    ASSERT_EQ(b.received(Op::kStore).size(), 1u);
  }
  b.send(Message{20, 0, FindValueReq{key}}, b.h_addr);
  auto r = b.received(Op::kFindValue);
  ASSERT_EQ(r.size(), 1u) << "the reply was not sent at all";
  EXPECT_EQ(std::get<FoundReply>(r[0].body).values.size(), 1u);
  EXPECT_EQ(b.core.stats().replies_trimmed, 1u);

  // The same for a NOTIFY to a listener when a third value arrives.
  b.send(Message{21, 0, StoreReq{t, key, ListenBody{60}}}, b.h_addr);
  ASSERT_EQ(b.received(Op::kStore).size(), 1u);
  b.send(Message{22, 0, StoreReq{t, key, PutBody{Value{3, Bytes(100, 3), 600}}}}, b.h_addr);
  std::optional<NotifyReq> notify;
  for (auto& m : requests_to(b, b.h_addr))
    if (auto* n = std::get_if<NotifyReq>(&m.body)) notify = *n;
  ASSERT_TRUE(notify) << "the NOTIFY was not sent at all";
  EXPECT_EQ(notify->values.size(), 2u);  // the small one and one large one
}

TEST(DhtCoreClient, ALocallyRefusedRpcIsNotAFailureOfThePeer) {
  DhtConfig c = Bench::config();
  c.max_pending_rpcs = 1;
  Bench b(c);
  Contact h = make_contact(b.h_id.public_key(), b.h_addr);
  b.core.add_contact(h, b.now_us);
  b.core.find_node(key_for("a"), b.now_us);  // its query to h is in flight
  b.core.find_node(key_for("b"), b.now_us);  // over our own bound: never sent
  b.core.on_timer(b.now_us);
  EXPECT_EQ(b.core.stats().rpcs_refused_locally, 1u);
  auto entry = b.core.table().find(h.id);
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->failures, 0) << "h was blamed for an RPC we never sent";
}

TEST(DhtCoreClient, LockTrustsTheLeaseTheMajorityGrantedNotTheOneAsked) {
  DhtConfig c = Bench::config();
  c.lock_grace_after_start_ms = 0;
  Bench b(c);
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  const int64_t asked_ms = 20'000, granted_ms = 2'000;
  b.core.lock(key_for("lock"), asked_ms, 1, b.now_us);
  answer_lookup(b, FoundReply{});
  auto writes = requests_to(b, b.h_addr);
  ASSERT_EQ(writes.size(), 1u);
  // h clamps the lease to its own max_lease_ms; we (the other replica) grant 20 s.
  b.send(Message{writes[0].txid, 0, StoreReply{1, granted_ms}}, b.h_addr);
  auto done = done_event(b);
  ASSERT_TRUE(done && done->result.ok()) << (done ? done->result.error().to_string() : "none");
  // Both replicas are needed (quorum 2 of 2): h's lease ends first.
  EXPECT_LE(done->result.value().valid_until_us,
            b.now_us + static_cast<int64_t>(granted_ms * (1 - c.lease_safety)) * kMs);
}

TEST(DhtCoreClient, AFailedRenewReleasesWhatTheReplicasStillHoldForUs) {
  DhtConfig c = Bench::config();
  c.lock_grace_after_start_ms = 0;
  Bench b(c);
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  Key key = key_for("lock");
  b.core.lock(key, 5000, 1, b.now_us);
  answer_lookup(b, FoundReply{});
  auto writes = requests_to(b, b.h_addr);
  ASSERT_EQ(writes.size(), 1u);
  b.send(Message{writes[0].txid, 0, StoreReply{1, 5000}}, b.h_addr);
  auto locked = done_event(b);
  ASSERT_TRUE(locked && locked->result.ok());
  uint64_t token = locked->result.value().number;

  // h lost our lease and grants a fresh one under a new token.
  b.core.renew(key, 5000, 1, token, b.now_us);
  answer_lookup(b, FoundReply{});
  writes = requests_to(b, b.h_addr);
  ASSERT_EQ(writes.size(), 1u);
  b.send(Message{writes[0].txid, 0, StoreReply{token + 1, 5000}}, b.h_addr);
  auto renewed = done_event(b);
  ASSERT_TRUE(renewed);
  EXPECT_FALSE(renewed->result.ok());
  // The stray lease at h and ours at our own replica are let go at once.
  bool unlocked_h = false;
  for (auto& m : requests_to(b, b.h_addr))
    if (auto* st = std::get_if<StoreReq>(&m.body))
      if (auto* u = std::get_if<UnlockBody>(&st->body)) unlocked_h = u->token == token + 1;
  EXPECT_TRUE(unlocked_h);
  auto mine = b.core.store().get(key, b.now_us / kMs);
  ASSERT_TRUE(mine.lock);
  EXPECT_EQ(mine.lock->remaining_ms, 0);
}

TEST(DhtCoreClient, AWriteWithoutAMajorityAndNoRefusalIsATimeoutThatSaysWhy) {
  Bench b;
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  // Two replicas that never answer.
  for (uint8_t i = 0; i < 2; ++i)
    b.core.add_contact(make_contact(identity(static_cast<uint8_t>(20 + i)).public_key(),
                                    Address{"127.0.0.7", static_cast<uint16_t>(7000 + i)}),
                       b.now_us);
  b.core.compare_and_set(key_for("cas"), 0, {1, 2}, 600, 1, b.now_us);
  answer_lookup(b, FoundReply{});
  b.now_us += 1100 * kMs;
  b.core.on_timer(b.now_us);  // the two silent ones time out: replica set 4, quorum 3
  auto writes = requests_to(b, b.h_addr);
  ASSERT_EQ(writes.size(), 1u);
  b.send(Message{writes[0].txid, 0, StoreReply{1, 0}}, b.h_addr);
  auto done = done_event(b);
  ASSERT_TRUE(done);
  ASSERT_FALSE(done->result.ok());
  // Nobody refused: trying again may succeed, so a timeout, with the counts.
  EXPECT_EQ(done->result.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(done->result.error().message().find("2 of 4 replicas accepted"), std::string::npos)
      << done->result.error().message();
  // The partial write is undone where it landed.
  bool aborted = false;
  for (auto& m : requests_to(b, b.h_addr))
    if (auto* st = std::get_if<StoreReq>(&m.body))
      aborted = aborted || std::holds_alternative<AbortBody>(st->body);
  EXPECT_TRUE(aborted);
}

TEST(DhtCoreClient, ADiffWhoseFetchFailsAbortsThePatchWhereItWasApplied) {
  Bench b;
  b.core.add_contact(make_contact(b.h_id.public_key(), b.h_addr), b.now_us);
  Bytes v2 = {4, 5, 6};
  b.core.apply_diff(key_for("doc"), 1, make_patch(Bytes{1, 2, 3}, v2), overlay::blake2b_256(v2),
                    600, 1, b.now_us);
  answer_lookup(b, FoundReply{});
  auto writes = requests_to(b, b.h_addr);
  ASSERT_EQ(writes.size(), 1u);
  // h applies the patch; our own replica lacks the base, so the core asks h
  // for the whole value, and h never answers.
  b.send(Message{writes[0].txid, 0, StoreReply{2, 0}}, b.h_addr);
  auto fetch = requests_to(b, b.h_addr);
  ASSERT_EQ(fetch.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<FindValueReq>(fetch[0].body));
  b.now_us += 1100 * kMs;
  b.core.on_timer(b.now_us);
  auto done = done_event(b);
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->result.ok());
  bool aborted = false;
  for (auto& m : requests_to(b, b.h_addr))
    if (auto* st = std::get_if<StoreReq>(&m.body))
      if (auto* a = std::get_if<AbortBody>(&st->body)) aborted = a->version == 2;
  EXPECT_TRUE(aborted) << "h keeps a version the operation reported as failed";
}

}  // namespace
}  // namespace chorus::dht
