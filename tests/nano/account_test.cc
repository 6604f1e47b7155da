#include "chorus/nano/account.h"

#include <gtest/gtest.h>

#include <random>

#include "chorus/nano/keys.h"

namespace chorus::nano {
namespace {

constexpr char kGenesisAccount[] =
    "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3";
constexpr char kGenesisPublic[] =
    "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA";

PublicKey key_of(const char* hex) {
  return *parse_hex_fixed<32>(hex, "key");
}

TEST(Account, EncodesTheLiveGenesisAccount) {
  EXPECT_EQ(encode_account(key_of(kGenesisPublic)), kGenesisAccount);
}

TEST(Account, DecodesNanoAndXrbPrefixes) {
  auto a = decode_account(kGenesisAccount);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(to_hex_upper(*a), kGenesisPublic);
  auto b = decode_account("xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(Account, ExtremeKeysRoundTrip) {
  PublicKey zero{};
  EXPECT_EQ(encode_account(zero),
            "nano_1111111111111111111111111111111111111111111111111111hifc8npp");
  PublicKey ones;
  ones.fill(0xff);
  auto back = decode_account(encode_account(ones));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ones);
}

TEST(Account, RandomKeysRoundTrip) {
  std::mt19937_64 rng(6);
  for (int i = 0; i < 500; ++i) {
    PublicKey k;
    for (auto& c : k) c = static_cast<uint8_t>(rng());
    const std::string s = encode_account(k);
    ASSERT_EQ(s.size(), 65u);
    auto back = decode_account(s);
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(*back, k);
  }
}

TEST(Account, RefusesMalformedStrings) {
  const std::string good = kGenesisAccount;
  std::vector<std::string> bad = {
      "",
      "nano_",
      "xrb",
      "NANO_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",  // upper prefix
      "ban_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",   // other coin
      "nano-3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",
      good.substr(0, good.size() - 1),                                      // short
      good + "1",                                                           // long
      "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr4",  // checksum
      "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohrl",  // 'l' not in alphabet
      "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr0",  // '0'
      "nano_2t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",  // '2'
      "nano_4t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3",  // padding bits set
      "nano_3T6K35GI95XU6TERGT6P69CK76OGMITSA8MNIJTPXM9FKCM736XTONCUOHR3",  // upper case
  };
  for (const auto& s : bad) EXPECT_FALSE(decode_account(s).ok()) << s;
  // Every single-character change to the key part is caught.
  for (size_t i = 5; i < good.size(); ++i) {
    std::string s = good;
    s[i] = s[i] == 'x' ? 'y' : 'x';
    EXPECT_FALSE(decode_account(s).ok()) << s;
  }
}

}  // namespace
}  // namespace chorus::nano
