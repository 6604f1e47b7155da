#include "chorus/nano/block.h"

#include <gtest/gtest.h>

#include <sodium.h>

#include <cstring>
#include <random>

#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/work.h"

namespace chorus::nano {
namespace {

constexpr char kGenesisJson[] = R"({
  "type": "open",
  "source": "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA",
  "representative": "xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
  "account": "xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
  "work": "62f05417dd3fb691",
  "signature": "9F0C933C8ADE004D808EA1985FA746A7E95BA2A38F867640F53EC8F180BDFE9E2C1268DEAD7C2664F356E37ABA362BC58E46DBA03E523A7B5A19E4B6EB12BB02"
})";

ParsedBlock parse(std::string_view text) {
  auto j = parse_json_text(text);
  EXPECT_TRUE(j.ok()) << (j.ok() ? "" : j.error().message());
  auto b = block_from_json(*j);
  EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message());
  return *b;
}

Block random_block(BlockType t, std::mt19937_64& rng) {
  Block b;
  b.type = t;
  auto fill = [&](auto& a) {
    for (auto& c : a) c = static_cast<uint8_t>(rng());
  };
  if (t == BlockType::kOpen || t == BlockType::kState) fill(b.account);
  if (t != BlockType::kOpen) fill(b.previous);
  if (t == BlockType::kOpen || t == BlockType::kChange || t == BlockType::kState)
    fill(b.representative);
  if (t == BlockType::kSend || t == BlockType::kState)
    b.balance = static_cast<Amount>(rng()) << 64 | rng();
  if (t != BlockType::kChange) fill(b.link);
  fill(b.signature);
  b.work = rng();
  return b;
}

constexpr BlockType kAllTypes[] = {BlockType::kSend, BlockType::kReceive, BlockType::kOpen,
                                   BlockType::kChange, BlockType::kState};

TEST(Block, LiveGenesisHashSignatureAndWork) {
  ASSERT_TRUE(init_crypto());
  const ParsedBlock p = parse(kGenesisJson);
  ASSERT_TRUE(p.has_signature && p.has_work);
  const Block& b = p.block;
  EXPECT_EQ(to_hex_upper(block_hash(b)),
            "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948");
  EXPECT_TRUE(verify(b.account, block_hash(b), b.signature));
  EXPECT_EQ(block_root(b), b.account);
  EXPECT_TRUE(work_valid(block_root(b), b.work, kThresholdEpoch1));
  // JSON out: nano_ accounts, the same fields.
  const auto j = block_to_json(b);
  EXPECT_EQ(j["account"], "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3");
  EXPECT_EQ(j["work"], "62f05417dd3fb691");
  auto again = block_from_json(j);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->block, b);
}

// The state block of the node RPC documentation's block_info example.
constexpr char kDocsStateJson[] = R"({
  "type": "state",
  "account": "nano_1ipx847tk8o46pwxt5qjdbncjqcbwcc1rrmqnkztrfjy5k7z4imsrata9est",
  "previous": "CE898C131AAEE25E05362F247760F8A3ACF34A9796A5AE0D9204E86B0637965E",
  "representative": "nano_1stofnrxuz3cai7ze75o174bpm7scwj9jn3nxsn8ntzg784jf1gzn1jjdkou",
  "balance": "5606157000000000000000000000000000000",
  "link": "5D1AA8A45F8736519D707FCB375976A7F9AF795091021D7E9C7548D6F45DD8D5",
  "link_as_account": "nano_1qato4k7z3spc8gq1zyd8xeqfbzsoxwo36a45ozbrxcatut7up8ohyardu1z",
  "signature": "82D41BC16F313E4B2243D14DFFA2FB04679C540C2095FEE7EAE0F2F26880AD56DD48D87A7CC5DD760C5B2D76EE2C205506AA557BF00B60D8DEE312EC7343A501",
  "work": "8a142e07a10996d5"
})";

TEST(Block, DocumentedStateBlockHashSignatureAndWork) {
  ASSERT_TRUE(init_crypto());
  const Block b = parse(kDocsStateJson).block;
  EXPECT_EQ(to_hex_upper(block_hash(b)),
            "87434F8041869A01C8F6F263B87972D7BA443A72E0A97D7A3FD0CCC2358FD6F9");
  EXPECT_TRUE(verify(b.account, block_hash(b), b.signature));
  EXPECT_TRUE(verify_reference(b.account, block_hash(b), b.signature));
  EXPECT_EQ(block_root(b), b.previous);
  EXPECT_EQ(work_value(block_root(b), b.work), 0xffffffdabde2c8ceULL);
  EXPECT_TRUE(work_valid(block_root(b), b.work, kThresholdEpoch1));
  EXPECT_EQ(block_to_json(b).dump(), parse_json_text(kDocsStateJson)->dump());
}

TEST(Block, StateHashHasThePreambleAndBigEndianBalance) {
  ASSERT_TRUE(init_crypto());
  std::mt19937_64 rng(6);
  const Block b = random_block(BlockType::kState, rng);
  uint8_t in[32 + 32 * 3 + 16 + 32] = {};
  in[31] = 6;
  std::memcpy(in + 32, b.account.data(), 32);
  std::memcpy(in + 64, b.previous.data(), 32);
  std::memcpy(in + 96, b.representative.data(), 32);
  const auto bal = amount_to_bytes(b.balance);
  std::memcpy(in + 128, bal.data(), 16);
  std::memcpy(in + 144, b.link.data(), 32);
  BlockHash want;
  crypto_generichash(want.data(), 32, in, sizeof in, nullptr, 0);
  EXPECT_EQ(block_hash(b), want);
  EXPECT_EQ(bal[0], static_cast<uint8_t>(b.balance >> 120));
}

TEST(Block, StateWorkIsBigEndianLegacyLittleEndian) {
  Block s;
  s.type = BlockType::kState;
  s.work = 0x0102030405060708ULL;
  const Bytes sb = serialize_block(s);
  ASSERT_EQ(sb.size(), 216u);
  EXPECT_EQ(sb[208], 0x01);
  EXPECT_EQ(sb[215], 0x08);
  Block r;
  r.type = BlockType::kReceive;
  r.work = s.work;
  const Bytes rb = serialize_block(r);
  ASSERT_EQ(rb.size(), 136u);
  EXPECT_EQ(rb[128], 0x08);
  EXPECT_EQ(rb[135], 0x01);
}

TEST(Block, RootIsPreviousOrAccount) {
  std::mt19937_64 rng(7);
  Block s = random_block(BlockType::kState, rng);
  EXPECT_EQ(block_root(s), s.previous);
  s.previous = {};
  EXPECT_EQ(block_root(s), s.account);
  const Block send = random_block(BlockType::kSend, rng);
  EXPECT_EQ(block_root(send), send.previous);
}

TEST(Block, EveryTypeRoundTripsThroughBinaryAndJson) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    for (BlockType t : kAllTypes) {
      const Block b = random_block(t, rng);
      const Bytes body = serialize_block(b);
      ASSERT_EQ(body.size(), block_body_size(t));
      auto back = parse_block(t, body);
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, b);
      auto typed = parse_typed_block(serialize_typed_block(b));
      ASSERT_TRUE(typed.ok());
      EXPECT_EQ(*typed, b);
      auto text = block_to_json(b).dump();
      auto j = parse_json_text(text);
      ASSERT_TRUE(j.ok());
      auto pj = block_from_json(*j);
      ASSERT_TRUE(pj.ok()) << text << ": " << pj.error().message();
      EXPECT_EQ(pj->block, b) << text;
    }
  }
}

TEST(Block, BinaryRefusesWrongSizesAndTypes) {
  for (BlockType t : kAllTypes) {
    const size_t n = block_body_size(t);
    EXPECT_FALSE(parse_block(t, Bytes(n - 1)).ok());
    EXPECT_FALSE(parse_block(t, Bytes(n + 1)).ok());
    EXPECT_FALSE(parse_block(t, Bytes()).ok());
  }
  EXPECT_FALSE(parse_typed_block(Bytes()).ok());
  for (uint8_t bad : {0, 1, 7, 255}) {
    Bytes b(217);
    b[0] = bad;
    EXPECT_FALSE(parse_typed_block(b).ok());
  }
}

TEST(Block, JsonRefusesBadInput) {
  ASSERT_TRUE(init_crypto());
  const std::string state =
      R"({"type":"state","account":"nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3","previous":"991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948","representative":"nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3","balance":"BAL","link":"0000000000000000000000000000000000000000000000000000000000000000"})";
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = state;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  // The template itself is fine.
  parse(with("BAL", "340282366920938463463374607431768211455"));
  const std::vector<std::string> bad = {
      with("BAL", "340282366920938463463374607431768211456"),
      with("BAL", "-1"),
      with("BAL", "1.5"),
      with("BAL", "abc"),
      with("BAL", ""),
      with("\"BAL\"", "1"),  // a number, not a string
      with("\"type\":\"state\"", "\"type\":\"nope\""),
      with("\"type\":\"state\",", ""),  // missing type
      with("991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948", "991CF1"),
      with("991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948",
           "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B72894G"),
      with("\"account\":\"nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3\"",
           "\"account\":\"nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr4\""),
      with("\"link\":\"0000000000000000000000000000000000000000000000000000000000000000\"",
           "\"link\":\"00\""),
      with("\"link\":\"0000000000000000000000000000000000000000000000000000000000000000\"",
           "\"foo\":\"1\""),  // missing link
  };
  for (const auto& s : bad) {
    auto j = parse_json_text(s);
    if (!j.ok()) continue;
    EXPECT_FALSE(block_from_json(*j).ok()) << s;
  }
  for (const char* s : {"", "{", "[]", "null", "\"x\"", "{\"type\":\"send\"}", "{\"type\":6}"}) {
    auto j = parse_json_text(s);
    if (j.ok()) {
      EXPECT_FALSE(block_from_json(*j).ok()) << s;
    }
  }
  // Signature and work, when present, must be well formed.
  const std::string good = with("BAL", "1");
  for (const char* extra :
       {R"(,"signature":"00")", R"(,"work":"123")", R"(,"work":1)", R"(,"signature":"ZZ")"}) {
    std::string s = good;
    s.insert(s.size() - 1, extra);
    auto j = parse_json_text(s);
    ASSERT_TRUE(j.ok());
    EXPECT_FALSE(block_from_json(*j).ok()) << s;
  }
}

TEST(Block, JsonTextIsBounded) {
  EXPECT_EQ(parse_json_text(std::string(2 << 20, ' ')).error().code(), ErrorCode::kLimit);
  EXPECT_EQ(parse_json_text(std::string(100, '[') + std::string(100, ']')).error().code(),
            ErrorCode::kLimit);
  EXPECT_TRUE(parse_json_text(R"({"a":"[[[[[[[[[[[[[[[[[[[[[[[[[["})").ok());
}

}  // namespace
}  // namespace chorus::nano
