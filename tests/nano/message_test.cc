#include "chorus/nano/message.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "chorus/nano/keys.h"

namespace chorus::nano {
namespace {

std::mt19937_64 rng(2026);

template <size_t N>
void fill(std::array<uint8_t, N>& a) {
  for (auto& c : a) c = static_cast<uint8_t>(rng());
}

Header header() {
  Header h;
  h.network = kNetworkLive;
  h.version_max = 0x15;
  h.version_using = 0x14;
  h.version_min = 0x13;
  return h;
}

std::vector<Payload> samples() {
  std::vector<Payload> out;
  Keepalive k;
  for (auto& p : k.peers) {
    fill(p.address);
    p.port = static_cast<uint16_t>(rng());
  }
  out.push_back(k);
  Block b;
  b.type = BlockType::kState;
  fill(b.account);
  fill(b.link);
  b.balance = 12345;
  b.work = rng();
  out.push_back(Publish{b, true});
  Block send;
  send.type = BlockType::kSend;
  fill(send.previous);
  fill(send.link);
  send.balance = kAmountMax;
  out.push_back(Publish{send, false});
  for (size_t n : {1, 15, 16, 255}) {
    ConfirmReq c;
    c.pairs.resize(n);
    for (auto& p : c.pairs) fill(p.hash), fill(p.root);
    out.push_back(c);
    ConfirmAck a;
    fill(a.vote.account);
    fill(a.vote.signature);
    a.vote.timestamp = rng();
    a.vote.hashes.resize(n);
    for (auto& h : a.vote.hashes) fill(h);
    a.rebroadcasted = n % 2 == 1;
    out.push_back(a);
  }
  BulkPull p;
  fill(p.start);
  out.push_back(p);
  p.count = 77;
  p.ascending = true;
  out.push_back(p);
  out.push_back(BulkPush{});
  FrontierReq f;
  fill(f.start);
  f.age = 0xffffffff;
  f.count = 1000;
  f.only_confirmed = true;
  out.push_back(f);
  BulkPullAccount acc;
  fill(acc.account);
  acc.minimum_amount = kAmountMax;
  acc.flags = 2;
  out.push_back(acc);
  NodeIdHandshake q;
  q.query_cookie = Hash32{};
  fill(*q.query_cookie);
  out.push_back(q);
  NodeIdHandshake r;
  r.response = NodeIdHandshake::Response{};
  fill(r.response->node_id);
  fill(r.response->signature);
  r.advertise_v2 = false;  // a v1 response clears bit 2
  out.push_back(r);        // v1 response
  r.advertise_v2 = true;
  r.response->v2 = NodeIdHandshake::Response::V2{};
  fill(r.response->v2->salt);
  r.query_cookie = Hash32{};
  out.push_back(r);  // query + v2 response
  out.push_back(TelemetryReq{});
  out.push_back(TelemetryAck{});
  TelemetryData d;
  fill(d.signature);
  d.block_count = rng();
  d.peer_count = 12;
  d.timestamp_ms = 1700000000000;
  out.push_back(TelemetryAck{d});
  d.unknown = {1, 2, 3};
  out.push_back(TelemetryAck{d});
  return out;
}

TEST(Message, EveryTypeRoundTripsAndEveryTruncationIsRefused) {
  for (const auto& payload : samples()) {
    Message m{header(), payload};
    auto bytes = serialize_message(m);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message();
    auto back = parse_message(*bytes);
    ASSERT_TRUE(back.ok()) << back.error().message() << " type " << int((*bytes)[5]);
    EXPECT_TRUE(back->payload == m.payload) << "type " << int((*bytes)[5]);
    EXPECT_EQ(back->header.network, kNetworkLive);
    EXPECT_EQ(back->header.version_using, 0x14);
    auto size = message_payload_size(*parse_header(*bytes));
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(*size + kHeaderSize, bytes->size());
    for (size_t cut = 0; cut < bytes->size(); ++cut)
      EXPECT_FALSE(parse_message(ByteView(bytes->data(), cut)).ok()) << cut;
    Bytes longer = *bytes;
    longer.push_back(0);
    EXPECT_FALSE(parse_message(longer).ok());
  }
}

TEST(Message, EachNetworkHasItsOwnOverlayNetworkId) {
  // Different overlay network ids never link (spec/overlay.md, HELLO).
  EXPECT_EQ(overlay_network_id(kNetworkLive), "nano/RC");
  EXPECT_EQ(overlay_network_id(kNetworkDev), "nano/RA");
  std::set<std::string> ids;
  for (uint16_t n : {kNetworkDev, kNetworkBeta, kNetworkLive, kNetworkTest})
    ids.insert(overlay_network_id(n));
  EXPECT_EQ(ids.size(), 4u);
}

TEST(Message, HeaderLayout) {
  ConfirmAck a;
  a.vote.hashes.resize(16);
  a.vote.hashes[0][0] = 1;
  Message m{header(), a};
  const Bytes b = *serialize_message(m);
  // 'R' 'C', versions, type 5, extensions 0x1101 little-endian (count 16 as
  // v2: high nibble 1 in bits 12-15, low nibble 0 in bits 4-7, not_a_block).
  EXPECT_EQ(to_hex(ByteView(b.data(), 8)), "5243151413050111");
  EXPECT_EQ(b.size(), 8u + 104 + 16 * 32);
  BulkPull p;
  p.count = 5;
  const Bytes bp = *serialize_message(Message{header(), p});
  EXPECT_EQ(to_hex(ByteView(bp.data() + 6, 2)), "0100");
  EXPECT_EQ(to_hex(ByteView(bp.data() + 72, 8)), "0005000000000000");
}

TEST(Message, VoteSignatureCoversHashesAndTimestamp) {
  ASSERT_TRUE(init_crypto());
  const PrivateKey prv = derive_private_key(Seed{}, 3);
  Vote v;
  v.account = public_key(prv);
  v.timestamp = ~0ULL;  // final vote
  v.hashes.resize(2);
  fill(v.hashes[0]);
  fill(v.hashes[1]);
  v.signature = sign(prv, vote_hash(v));
  EXPECT_TRUE(verify(v.account, vote_hash(v), v.signature));
  Vote other = v;
  other.timestamp = 0;
  EXPECT_NE(vote_hash(other), vote_hash(v));
}

TEST(Message, RefusesBadHeadersAndExtensions) {
  const Bytes keepalive = *serialize_message(Message{header(), Keepalive{}});
  EXPECT_FALSE(parse_header(Bytes(7)).ok());
  Bytes bad = keepalive;
  bad[0] = 'S';
  EXPECT_FALSE(parse_message(bad).ok());
  for (uint8_t t : {0x00, 0x01, 0x09, 0x0e, 0x0f, 0x10, 0xff}) {
    bad = keepalive;
    bad[5] = t;
    EXPECT_FALSE(parse_message(bad).ok()) << int(t);
  }
  auto with_ext = [](MessageType t, uint16_t ext, size_t payload) {
    Bytes b = {'R',
               'C',
               0x15,
               0x14,
               0x13,
               static_cast<uint8_t>(t),
               static_cast<uint8_t>(ext),
               static_cast<uint8_t>(ext >> 8)};
    b.resize(b.size() + payload);
    return b;
  };
  EXPECT_FALSE(parse_message(with_ext(MessageType::kPublish, 0x0000, 216)).ok());
  EXPECT_FALSE(parse_message(with_ext(MessageType::kPublish, 0x0700, 216)).ok());
  EXPECT_TRUE(parse_message(with_ext(MessageType::kPublish, 0x0600, 216)).ok());
  EXPECT_FALSE(parse_message(with_ext(MessageType::kConfirmReq, 0x0100, 0)).ok());
  EXPECT_FALSE(parse_message(with_ext(MessageType::kConfirmReq, 0x1100, 64)).ok());  // zero pair
  EXPECT_FALSE(parse_message(with_ext(MessageType::kConfirmAck, 0x0101, 104)).ok());
  EXPECT_FALSE(parse_message(with_ext(MessageType::kNodeIdHandshake, 0x0004, 0)).ok());
  EXPECT_FALSE(parse_message(with_ext(MessageType::kTelemetryAck, 205, 205)).ok());
  EXPECT_TRUE(parse_message(with_ext(MessageType::kTelemetryAck, 206, 206)).ok());
  EXPECT_TRUE(parse_message(with_ext(MessageType::kTelemetryAck, 0, 0)).ok());
  Bytes pull = with_ext(MessageType::kBulkPull, 0x0001, 72);
  pull[8 + 64 + 1] = 1;  // count 1
  EXPECT_TRUE(parse_message(pull).ok());
  pull[8 + 64] = 1;  // the first extended byte must be zero
  EXPECT_FALSE(parse_message(pull).ok());
  Bytes acc = with_ext(MessageType::kBulkPullAccount, 0, 49);
  acc.back() = 3;
  EXPECT_FALSE(parse_message(acc).ok());
}

TEST(Message, SerializeRefusesUnrepresentablePayloads) {
  EXPECT_FALSE(serialize_message(Message{header(), ConfirmReq{}}).ok());
  ConfirmAck big;
  big.vote.hashes.resize(256);
  EXPECT_FALSE(serialize_message(Message{header(), big}).ok());
  EXPECT_FALSE(serialize_message(Message{header(), NodeIdHandshake{}}).ok());
  TelemetryData d;
  d.unknown.resize(1024 - kTelemetrySize);
  EXPECT_FALSE(serialize_message(Message{header(), TelemetryAck{d}}).ok());
}

TEST(Message, RandomBytesNeverCrashTheParser) {
  std::mt19937_64 r(77);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(r() % 300);
    for (auto& c : b) c = static_cast<uint8_t>(r());
    if (b.size() > 5) {
      b[0] = 'R';
      b[5] = static_cast<uint8_t>(r() % 16);
    }
    auto m = parse_message(b);
    if (m.ok()) {
      auto again = parse_message(*serialize_message(*m));
      ASSERT_TRUE(again.ok());
      EXPECT_TRUE(again->payload == m->payload);
    }
  }
}

}  // namespace
}  // namespace chorus::nano
