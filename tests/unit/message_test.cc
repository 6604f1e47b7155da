#include "chorus/overlay/message.h"

#include <gtest/gtest.h>

#include <string>

#include "vectors.h"

namespace chorus::overlay {
namespace {

using testing::hex;
using testing::hex_array;
using testing::hex_bytes;
using testing::vectors;
using Json = nlohmann::json;

// Builds the Message a vector describes.
Message message_from(const Json& v) {
  const Json& f = v["fields"];
  Message m;
  m.id = v["id"].get<uint32_t>();
  switch (v["opcode"].get<int>()) {
    case 0:
      m.body = AckMsg{f["acked"].get<uint8_t>(), hex_bytes(f["data"])};
      break;
    case 1:
      m.body = NackMsg{f["acked"].get<uint8_t>(), static_cast<NackCode>(f["code"].get<int>()),
                       f["reason"].get<std::string>(), hex_bytes(f["data"])};
      break;
    case 2:
      m.body = PingMsg{};
      break;
    case 3:
      m.body = SetConnectionOptMsg{f["option"].get<uint8_t>(), f["setting"].get<uint8_t>()};
      break;
    case 4: {
      ShoutMsg s;
      s.app = f["app"].get<AppId>();
      s.hops_left = f["hops_left"].get<uint8_t>();
      s.origin = hex_array<32>(f["origin"]);
      s.shout_id = f["shout_id"].get<uint64_t>();
      s.signature = hex_array<64>(f["signature"]);
      s.payload = hex_bytes(f["payload"]);
      m.body = s;
      break;
    }
    case 5: {
      SpeakMsg s;
      s.app = f["app"].get<AppId>();
      s.flags = f["flags"].get<uint8_t>();
      s.hops_left = f["hops_left"].get<uint8_t>();
      s.origin = hex_array<32>(f["origin"]);
      s.speak_id = f["speak_id"].get<uint64_t>();
      s.payload = hex_bytes(f["payload"]);
      m.body = s;
      break;
    }
    case 6: {
      WhisperMsg w;
      w.app = f["app"].get<AppId>();
      w.flags = f["flags"].get<uint8_t>();
      w.reply_to = f["reply_to"].get<uint32_t>();
      w.payload = hex_bytes(f["payload"]);
      m.body = w;
      break;
    }
    default:
      m.body = UnknownMsg{v["opcode"].get<uint8_t>()};
      break;
  }
  return m;
}

// Checks that a decoded message carries exactly the vector's fields.
void expect_fields(const Message& m, const Json& v) {
  const Json& f = v["fields"];
  EXPECT_EQ(m.id, v["id"].get<uint32_t>());
  EXPECT_EQ(opcode_of(m), v["opcode"].get<uint8_t>());
  if (auto* a = std::get_if<AckMsg>(&m.body)) {
    EXPECT_EQ(a->acked, f["acked"]);
    EXPECT_EQ(hex(a->data), f["data"]);
  } else if (auto* n = std::get_if<NackMsg>(&m.body)) {
    EXPECT_EQ(n->acked, f["acked"]);
    EXPECT_EQ(static_cast<int>(n->code), f["code"]);
    EXPECT_EQ(n->reason, f["reason"]);
    EXPECT_EQ(hex(n->data), f["data"]);
  } else if (auto* o = std::get_if<SetConnectionOptMsg>(&m.body)) {
    EXPECT_EQ(o->option, f["option"]);
    EXPECT_EQ(o->setting, f["setting"]);
  } else if (auto* s = std::get_if<ShoutMsg>(&m.body)) {
    EXPECT_EQ(s->app, f["app"]);
    EXPECT_EQ(s->hops_left, f["hops_left"]);
    EXPECT_EQ(hex(s->origin), f["origin"]);
    EXPECT_EQ(s->shout_id, f["shout_id"]);
    EXPECT_EQ(hex(s->signature), f["signature"]);
    EXPECT_EQ(hex(s->payload), f["payload"]);
  } else if (auto* sp = std::get_if<SpeakMsg>(&m.body)) {
    EXPECT_EQ(sp->app, f["app"]);
    EXPECT_EQ(sp->flags, f["flags"]);
    EXPECT_EQ(sp->hops_left, f["hops_left"]);
    EXPECT_EQ(hex(sp->origin), f["origin"]);
    EXPECT_EQ(sp->speak_id, f["speak_id"]);
    EXPECT_EQ(hex(sp->payload), f["payload"]);
  } else if (auto* w = std::get_if<WhisperMsg>(&m.body)) {
    EXPECT_EQ(w->app, f["app"]);
    EXPECT_EQ(w->flags, f["flags"]);
    EXPECT_EQ(w->reply_to, f["reply_to"]);
    EXPECT_EQ(hex(w->payload), f["payload"]);
  } else if (auto* u = std::get_if<UnknownMsg>(&m.body)) {
    EXPECT_EQ(u->opcode, v["opcode"]);
  } else {
    EXPECT_TRUE(std::holds_alternative<PingMsg>(m.body));
  }
}

// Bytes of the fixed part of each layout: a prefix shorter than this is
// truncated; longer prefixes only shorten a trailing variable field.
size_t fixed_length(const Json& v) {
  switch (v["opcode"].get<int>()) {
    case 0:
      return 6;
    case 1:
      return 8 + v["fields"]["reason"].get<std::string>().size();
    case 2:
      return 5;
    case 3:
      return 7;
    case 4:
      return 5 + 2 + 1 + 32 + 8 + 64;
    case 5:
      return 5 + 2 + 1 + 1 + 32 + 8;
    case 6:
      return 5 + 2 + 1 + 4;
    default:
      return 5;
  }
}

const Json& message_vectors() {
  return vectors()["messages"];
}

TEST(Message, EveryOpcodeVectorEncodesByteForByte) {
  ASSERT_EQ(message_vectors().size(), 8u);
  for (const auto& v : message_vectors()) {
    EXPECT_EQ(hex(encode_message(message_from(v))), v["encoding"]) << v["name"];
  }
}

TEST(Message, EveryOpcodeVectorDecodesToItsFields) {
  for (const auto& v : message_vectors()) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto m = decode_message(hex_bytes(v["encoding"]));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    expect_fields(*m, v);
  }
}

TEST(Message, RoundTripsThroughEncodeAndDecode) {
  for (const auto& v : message_vectors()) {
    Message m = message_from(v);
    auto back = decode_message(encode_message(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(encode_message(*back), encode_message(m)) << v["name"];
  }
}

TEST(Message, ShoutVectorSignatureCoversTheSigningBytes) {
  const Json* shout = nullptr;
  for (const auto& v : message_vectors())
    if (v["name"] == "SHOUT") shout = &v;
  ASSERT_NE(shout, nullptr);
  const Json& f = (*shout)["fields"];
  auto origin = Identity::from_seed(hex_array<32>(f["origin_seed"]));
  EXPECT_EQ(hex(origin.public_key()), f["origin"]);
  Bytes payload = hex_bytes(f["payload"]);
  Bytes signing = shout_signing_bytes(f["app"].get<AppId>(), origin.public_key(),
                                      f["shout_id"].get<uint64_t>(), payload);
  EXPECT_EQ(hex(signing), f["signing_bytes"]);
  // Ed25519 is deterministic: the code signs to exactly the vector.
  EXPECT_EQ(hex(origin.sign(signing)), f["signature"]);
  EXPECT_TRUE(verify_signature(origin.public_key(), signing, hex_array<64>(f["signature"])));
  // hops_left is outside the signature; the payload is inside it.
  payload.push_back(0);
  EXPECT_FALSE(verify_signature(origin.public_key(),
                                shout_signing_bytes(f["app"].get<AppId>(), origin.public_key(),
                                                    f["shout_id"].get<uint64_t>(), payload),
                                hex_array<64>(f["signature"])));
}

TEST(Message, EveryTruncationIsMalformedOrAShorterTrailingField) {
  for (const auto& v : message_vectors()) {
    SCOPED_TRACE(v["name"].get<std::string>());
    const Bytes full = hex_bytes(v["encoding"]);
    const size_t fixed = fixed_length(v);
    ASSERT_LE(fixed, full.size());
    for (size_t n = 0; n < full.size(); ++n) {
      auto m = decode_message(ByteView(full.data(), n));
      if (n < fixed) {
        ASSERT_FALSE(m.ok()) << "prefix of " << n << " bytes decoded";
        EXPECT_EQ(m.error().code(), ErrorCode::kMalformed);
      } else {
        // The layout ends in a variable field: a shorter one is still a message.
        ASSERT_TRUE(m.ok()) << "prefix of " << n << ": " << m.error().to_string();
        EXPECT_EQ(opcode_of(*m), v["opcode"].get<uint8_t>());
        EXPECT_EQ(encode_message(*m), Bytes(full.begin(), full.begin() + n));
      }
    }
  }
}

TEST(Message, FixedSizeBodiesRefuseTrailingBytes) {
  for (const auto& v : message_vectors()) {
    const int op = v["opcode"];
    if (op != 2 && op != 3) continue;
    Bytes b = hex_bytes(v["encoding"]);
    b.push_back(0);
    auto m = decode_message(b);
    ASSERT_FALSE(m.ok()) << v["name"];
    EXPECT_EQ(m.error().code(), ErrorCode::kMalformed);
  }
}

TEST(Message, NackReasonLongerThanTheInputIsMalformed) {
  // opcode 1, id 0, acked 6, code 0, reason length 10 but only 3 bytes follow.
  Bytes b = {1, 0, 0, 0, 0, 6, 0, 10, 'a', 'b', 'c'};
  auto m = decode_message(b);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code(), ErrorCode::kMalformed);
}

TEST(Message, NackReasonIsCutAt255Bytes) {
  Message m{1, NackMsg{6, NackCode::kLimit, std::string(300, 'x'), {9}}};
  auto back = decode_message(encode_message(m));
  ASSERT_TRUE(back.ok());
  const auto& n = std::get<NackMsg>(back->body);
  EXPECT_EQ(n.reason, std::string(255, 'x'));
  EXPECT_EQ(n.data, Bytes{9});
  EXPECT_EQ(n.code, NackCode::kLimit);
}

TEST(Message, DirectMatchesItsVectorAndRefusesATruncatedHeader) {
  const auto& v = vectors()["direct"];
  Message m{0, DirectMsg{static_cast<AppId>(v["app"]), hex_bytes(v["payload"])}};
  EXPECT_EQ(hex(encode_message(m)), v["encoding"]);
  auto back = decode_message(hex_bytes(v["encoding"]));
  ASSERT_TRUE(back.ok());
  const auto& d = std::get<DirectMsg>(back->body);
  EXPECT_EQ(d.app, v["app"]);
  EXPECT_EQ(d.payload, hex_bytes(v["payload"]));
  EXPECT_EQ(opcode_name(15), std::string("DIRECT"));
  const Bytes cut = {15, 0, 0, 0, 0, 7};  // app u16 cut short
  auto bad = decode_message(cut);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kMalformed);
}

TEST(Message, UnknownOpcodesDecodeToUnknownMsgWhateverTheirBody) {
  for (int op = 7; op < 256; ++op) {
    if (op >= 10 && op <= 14) continue;  // IHAVE, GRAFT, PRUNE, CONTENT_SHOUT, STREAM (own tests)
    if (op == 15) continue;              // DIRECT (own test)
    Bytes b = {static_cast<uint8_t>(op), 0, 0, 0, 42, 1, 2, 3};
    auto m = decode_message(b);
    ASSERT_TRUE(m.ok()) << op;
    ASSERT_TRUE(std::holds_alternative<UnknownMsg>(m->body)) << op;
    EXPECT_EQ(std::get<UnknownMsg>(m->body).opcode, op);
    EXPECT_EQ(m->id, 42u);
  }
}

TEST(Message, ArbitraryBytesNeverCrashTheDecoder) {
  // Every 1- and 2-byte tail after each opcode byte, plus a fixed id.
  for (int op = 0; op < 256; ++op) {
    for (int a = 0; a < 256; a += 7) {
      Bytes b = {static_cast<uint8_t>(op), 0, 0, 0, 1, static_cast<uint8_t>(a), 0xff, 0xff};
      for (size_t n = 0; n <= b.size(); ++n) (void)decode_message(ByteView(b.data(), n));
    }
  }
}

TEST(Message, OpcodeNamesFollowTheTable) {
  EXPECT_STREQ(opcode_name(0), "ACK");
  EXPECT_STREQ(opcode_name(4), "SHOUT");
  EXPECT_STREQ(opcode_name(6), "WHISPER");
  EXPECT_STREQ(opcode_name(9), "STORE");
  EXPECT_STREQ(opcode_name(200), "UNKNOWN");
}

}  // namespace
}  // namespace chorus::overlay
