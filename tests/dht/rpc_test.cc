#include "chorus/dht/rpc.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rpc_samples.h"

namespace chorus::dht {
namespace {

using samples::Sample;

bool refused_as_malformed(ByteView bytes, std::optional<Op> answering) {
  auto r = decode_message(bytes, answering);
  return !r.ok() && r.error().code() == ErrorCode::kMalformed;
}

TEST(RpcRoundTrip, EveryMessageAndStoreKind) {
  for (const Sample& s : samples::all()) {
    SCOPED_TRACE(s.name);
    Bytes wire = encode_message(s.message);
    auto back = decode_message(wire, s.answering);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_EQ(back->txid, s.message.txid);
    EXPECT_EQ(back->flags, s.message.flags);
    EXPECT_EQ(back->body.index(), s.message.body.index());
    EXPECT_EQ(encode_message(*back), wire);
    EXPECT_EQ(op_of(back->body), op_of(s.message.body));
    EXPECT_EQ(is_request(back->body), !s.answering && op_of(s.message.body) != Op::kNack);
  }
}

TEST(RpcRoundTrip, EveryStoreKindKeepsItsFields) {
  size_t kinds = 0;
  for (const Sample& s : samples::all()) {
    const auto* req = std::get_if<StoreReq>(&s.message.body);
    if (!req) continue;
    auto back = decode_message(encode_message(s.message), std::nullopt);
    ASSERT_TRUE(back.ok());
    const auto& got = std::get<StoreReq>(back->body);
    EXPECT_EQ(got.token, req->token);
    EXPECT_EQ(got.key, req->key);
    ASSERT_EQ(got.body.index(), req->body.index());
    std::visit(
        [&](const auto& want) {
          using T = std::decay_t<decltype(want)>;
          const T& have = std::get<T>(got.body);
          if constexpr (std::is_same_v<T, PutBody> || std::is_same_v<T, PutSignedBody> ||
                        std::is_same_v<T, RepairBody>) {
            EXPECT_EQ(have.value, want.value);
          } else if constexpr (std::is_same_v<T, LockBody>) {
            EXPECT_EQ(have.owner_tag, want.owner_tag);
            EXPECT_EQ(have.lease_ms, want.lease_ms);
            EXPECT_EQ(have.min_token, want.min_token);
          } else if constexpr (std::is_same_v<T, UnlockBody>) {
            EXPECT_EQ(have.token, want.token);
          } else if constexpr (std::is_same_v<T, CasBody>) {
            EXPECT_EQ(have.expected_version, want.expected_version);
            EXPECT_EQ(have.ttl_s, want.ttl_s);
            EXPECT_EQ(have.data, want.data);
          } else if constexpr (std::is_same_v<T, DiffBody>) {
            EXPECT_EQ(have.base_version, want.base_version);
            EXPECT_EQ(have.patch, want.patch);
            EXPECT_EQ(have.result_hash, want.result_hash);
          } else if constexpr (std::is_same_v<T, AbortBody>) {
            EXPECT_EQ(have.version, want.version);
          } else if constexpr (std::is_same_v<T, ListenBody>) {
            EXPECT_EQ(have.duration_s, want.duration_s);
          }
        },
        req->body);
    ++kinds;
  }
  EXPECT_EQ(kinds, std::variant_size_v<StoreBody::Variant>);
}

TEST(RpcRoundTrip, FoundReplyKeepsContactsValuesAndLock) {
  const std::vector<Sample> all = samples::all();  // keeps `found` alive past the loop
  const Sample* found = nullptr;
  for (const Sample& s : all) {
    if (s.name == "ack_find_value") found = &s;
  }
  ASSERT_NE(found, nullptr);
  auto back = decode_message(encode_message(found->message), Op::kFindValue);
  ASSERT_TRUE(back.ok());
  const auto& want = std::get<FoundReply>(found->message.body);
  const auto& got = std::get<FoundReply>(back->body);
  EXPECT_EQ(got.contacts, want.contacts);  // ids are derived again from the keys
  EXPECT_EQ(got.contacts[1].address.host, "2001:db8::1");
  EXPECT_EQ(got.token, want.token);
  EXPECT_EQ(got.values, want.values);
  EXPECT_EQ(got.signed_values, want.signed_values);
  EXPECT_EQ(got.versioned, want.versioned);
  ASSERT_TRUE(got.lock.has_value());
  EXPECT_EQ(got.lock->holder, want.lock->holder);
  EXPECT_EQ(got.lock->token, want.lock->token);
  EXPECT_EQ(got.lock->remaining_ms, want.lock->remaining_ms);
}

TEST(RpcRoundTrip, NegativeRemainingSurvives) {
  Message m{5, 0, StoreReply{1, -3}};
  auto back = decode_message(encode_message(m), Op::kStore);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::get<StoreReply>(back->body).remaining_ms, -3);
}

TEST(RpcEncode, MatchesTheSpecLayoutByHand) {
  // NACK: 01 | txid | flags | reason | u64 number | u64 remaining_ms
  Bytes nack = encode_message(Message{0x0102030405060708ULL, 0, Nack{Refusal::kLockHeld, 6, 250}});
  EXPECT_EQ(to_hex(nack),
            "01"
            "0102030405060708"
            "00"
            "09"
            "0000000000000006"
            "00000000000000fa");
  // A FIND_NODE ACK with one IPv4 contact: count, key, family 4, ip, port, token, 0, 0, 0, 0.
  FoundReply r;
  r.contacts = {make_contact(samples::filled<32>(0), Address{"10.0.0.1", 0x1234})};
  Bytes ack = encode_message(Message{1, 0, r});
  std::string want =
      "00"
      "0000000000000001"
      "00"
      "0001" +
      to_hex(samples::filled<32>(0)) +
      "04"
      "0a000001"
      "1234" +
      std::string(32, '0') +
      "0000"
      "0000"
      "00"
      "00";
  EXPECT_EQ(to_hex(ack), want);
}

TEST(RpcEncode, ContactsWithoutANumericAddressAreLeftOut) {
  FoundReply r;
  r.contacts = {make_contact(samples::filled<32>(1), Address{"example.com", 1}),
                make_contact(samples::filled<32>(2), Address{"127.0.0.1", 2})};
  auto back = decode_message(encode_message(Message{1, 0, r}), Op::kFindNode);
  ASSERT_TRUE(back.ok());
  const auto& got = std::get<FoundReply>(back->body);
  ASSERT_EQ(got.contacts.size(), 1u);
  EXPECT_EQ(got.contacts[0].address.host, "127.0.0.1");
}

TEST(RpcDecode, EveryTruncationIsRefused) {
  for (const Sample& s : samples::all()) {
    SCOPED_TRACE(s.name);
    Bytes wire = encode_message(s.message);
    for (size_t n = 0; n < wire.size(); ++n) {
      // A copy of exactly n bytes, so a read past the end shows under ASan.
      Bytes prefix(wire.begin(), wire.begin() + static_cast<ptrdiff_t>(n));
      EXPECT_TRUE(refused_as_malformed(prefix, s.answering)) << "length " << n;
    }
  }
}

TEST(RpcDecode, TrailingByteIsRefused) {
  for (const Sample& s : samples::all()) {
    Bytes wire = encode_message(s.message);
    wire.push_back(0);
    EXPECT_TRUE(refused_as_malformed(wire, s.answering)) << s.name;
  }
}

TEST(RpcDecode, UnknownOpKindFlagsAndRefusalAreRefused) {
  Bytes ping = encode_message(Message{1, 0, PingReq{}});
  for (uint8_t op : {3, 4, 5, 6, 11, 255}) {
    Bytes b = ping;
    b[0] = op;
    EXPECT_TRUE(refused_as_malformed(b, std::nullopt)) << int(op);
    EXPECT_FALSE(peek_head(b).ok());
  }
  for (uint8_t flags : {2, 0x80, 0xff}) {
    Bytes b = ping;
    b[9] = flags;
    EXPECT_TRUE(refused_as_malformed(b, std::nullopt)) << int(flags);
  }
  Bytes listen = encode_message(Message{1, 0, StoreReq{{}, {}, ListenBody{1}}});
  ASSERT_EQ(listen[10 + 16 + 32], static_cast<uint8_t>(StoreKind::kListen));
  for (uint8_t kind : {9, 100, 255}) {
    Bytes b = listen;
    b[10 + 16 + 32] = kind;
    EXPECT_TRUE(refused_as_malformed(b, std::nullopt)) << int(kind);
  }
  Bytes nack = encode_message(Message{1, 0, Nack{Refusal::kUnknown, 0, 0}});
  EXPECT_TRUE(decode_message(nack, std::nullopt).ok());
  nack[10] = 15;
  EXPECT_TRUE(refused_as_malformed(nack, std::nullopt));
}

TEST(RpcDecode, AckNeedsTheOpItAnswers) {
  Bytes ack = encode_message(Message{1, 0, EmptyReply{}});
  EXPECT_TRUE(refused_as_malformed(ack, std::nullopt));
  EXPECT_TRUE(refused_as_malformed(ack, Op::kAck));
  EXPECT_TRUE(refused_as_malformed(ack, Op::kNack));
  EXPECT_TRUE(decode_message(ack, Op::kPing).ok());
  EXPECT_TRUE(decode_message(ack, Op::kNotify).ok());
  // The same bytes are too short for what a FIND or STORE is answered with.
  EXPECT_TRUE(refused_as_malformed(ack, Op::kFindNode));
  EXPECT_TRUE(refused_as_malformed(ack, Op::kStore));
}

TEST(RpcDecode, RequestsIgnoreAnswering) {
  Bytes ping = encode_message(Message{1, 0, PingReq{}});
  auto r = decode_message(ping, Op::kStore);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<PingReq>(r->body));
  Bytes nack = encode_message(Message{1, 0, Nack{}});
  EXPECT_TRUE(decode_message(nack, Op::kFindValue).ok());
}

TEST(RpcDecode, CountsOverTheLimitsAreRefused) {
  FoundReply r;
  for (size_t i = 0; i <= kMaxContactsPerReply; ++i) {
    r.contacts.push_back(
        make_contact(samples::filled<32>(static_cast<uint8_t>(i)), Address{"10.0.0.1", 1}));
  }
  EXPECT_TRUE(refused_as_malformed(encode_message(Message{1, 0, r}), Op::kFindNode));
  r.contacts.pop_back();
  EXPECT_TRUE(decode_message(encode_message(Message{1, 0, r}), Op::kFindNode).ok());

  NotifyReq n;
  n.values.assign(kMaxValuesPerReply + 1, Value{});
  EXPECT_TRUE(refused_as_malformed(encode_message(Message{1, 0, n}), std::nullopt));
  n.values.pop_back();
  EXPECT_TRUE(decode_message(encode_message(Message{1, 0, n}), std::nullopt).ok());
  n.values.clear();
  n.signed_values.assign(kMaxValuesPerReply + 1, SignedValue{});
  EXPECT_TRUE(refused_as_malformed(encode_message(Message{1, 0, n}), std::nullopt));
}

TEST(RpcDecode, ByteFieldOverTheLimitIsRefused) {
  Bytes big(kMaxBytesField + 1, 7);
  Message m{1, 0, StoreReq{{}, {}, CasBody{1, 2, 3, big}}};
  EXPECT_TRUE(refused_as_malformed(encode_message(m), std::nullopt));
  std::get<CasBody>(std::get<StoreReq>(m.body).body).data.pop_back();
  EXPECT_TRUE(decode_message(encode_message(m), std::nullopt).ok());
  // A length claiming more than the limit is refused before anything is read.
  Bytes lying = encode_message(Message{1, 0, StoreReq{{}, {}, PutBody{Value{}}}});
  size_t len_at = 10 + 16 + 32 + 1 + 8 + 4;
  lying[len_at] = 0xff;
  EXPECT_TRUE(refused_as_malformed(lying, std::nullopt));
}

TEST(RpcDecode, PresenceAndAddressFamilyAreChecked) {
  Bytes notify = encode_message(Message{1, 0, NotifyReq{}});
  ASSERT_EQ(notify.back(), 0);
  notify.back() = 2;
  EXPECT_TRUE(refused_as_malformed(notify, std::nullopt));

  FoundReply r;
  r.contacts = {make_contact(samples::filled<32>(0), Address{"10.0.0.1", 1})};
  Bytes ack = encode_message(Message{1, 0, r});
  size_t family_at = 10 + 2 + 32;
  ASSERT_EQ(ack[family_at], 4);
  ack[family_at] = 5;
  EXPECT_TRUE(refused_as_malformed(ack, Op::kFindNode));
}

TEST(RpcDecode, PeekHeadReadsOpAndTxid) {
  Bytes b = encode_message(Message{0xdeadbeef, 0, FindNodeReq{}});
  auto h = peek_head(b);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->op, Op::kFindNode);
  EXPECT_EQ(h->txid, 0xdeadbeefu);
  EXPECT_FALSE(peek_head(ByteView(b.data(), 8)).ok());
  EXPECT_TRUE(peek_head(ByteView(b.data(), 9)).ok());
}

TEST(RpcVectors, DecodeAndReencodeMatch) {
  std::ifstream in(std::string(CHORUS_SPEC_DIR) + "/vectors/dht.json");
  ASSERT_TRUE(in.good()) << "spec/vectors/dht.json missing";
  auto doc = nlohmann::json::parse(in);
  auto all = samples::all();
  ASSERT_EQ(doc["messages"].size(), all.size());
  for (const auto& v : doc["messages"]) {
    const std::string name = v["name"];
    SCOPED_TRACE(name);
    auto bytes = from_hex(v["hex"].get<std::string>());
    ASSERT_TRUE(bytes.has_value());
    auto answering = samples::op_from_name(v["answering"].get<std::string>());
    auto m = decode_message(*bytes, answering);
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    EXPECT_EQ(encode_message(*m), *bytes);
    bool matched = false;
    for (const Sample& s : all) {
      if (s.name != name) continue;
      matched = true;
      EXPECT_EQ(s.answering, answering);
      EXPECT_EQ(encode_message(s.message), *bytes);
    }
    EXPECT_TRUE(matched);
  }
}

}  // namespace
}  // namespace chorus::dht
