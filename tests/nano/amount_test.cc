#include <gtest/gtest.h>

#include <random>

#include "chorus/nano/types.h"

namespace chorus::nano {
namespace {

constexpr char kMax[] = "340282366920938463463374607431768211455";

TEST(Amount, PrintsAndParsesTheExtremes) {
  EXPECT_EQ(amount_to_string(0), "0");
  EXPECT_EQ(amount_to_string(kAmountMax), kMax);
  auto m = parse_amount(kMax);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(*m == kAmountMax);
  Amount one_nano = 1;
  for (int i = 0; i < 30; ++i) one_nano *= 10;
  EXPECT_EQ(amount_to_string(one_nano), "1000000000000000000000000000000");
  EXPECT_TRUE(*parse_amount("000123") == 123);
}

TEST(Amount, RefusesOutOfRangeAndNonNumeric) {
  for (const char* s :
       {"", "340282366920938463463374607431768211456", "999999999999999999999999999999999999999999",
        "-1", "+1", "1.5", "1e30", " 1", "1 ", "0x10", "abc", "１"})
    EXPECT_FALSE(parse_amount(s).ok()) << s;
}

TEST(Amount, RandomValuesRoundTripInDecimalHexAndBytes) {
  std::mt19937_64 rng(128);
  for (int i = 0; i < 1000; ++i) {
    const Amount a = static_cast<Amount>(rng()) << 64 | rng();
    auto back = parse_amount(amount_to_string(a));
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == a);
    auto hex = parse_amount_hex(amount_to_hex(a));
    ASSERT_TRUE(hex.ok());
    EXPECT_TRUE(*hex == a);
    EXPECT_TRUE(amount_from_bytes(amount_to_bytes(a).data()) == a);
  }
}

TEST(Amount, HexFormIsBigEndian32Digits) {
  EXPECT_EQ(amount_to_hex(1), "00000000000000000000000000000001");
  EXPECT_FALSE(parse_amount_hex("1").ok());
  EXPECT_FALSE(parse_amount_hex("0000000000000000000000000000000G").ok());
}

TEST(Hex, U64IsSixteenDigits) {
  EXPECT_EQ(u64_to_hex(0x62f05417dd3fb691ULL), "62f05417dd3fb691");
  EXPECT_EQ(*parse_hex_u64("62F05417DD3FB691", "work"), 0x62f05417dd3fb691ULL);
  EXPECT_FALSE(parse_hex_u64("62f05417dd3fb69", "work").ok());
  EXPECT_FALSE(parse_hex_u64("62f05417dd3fb6911", "work").ok());
  EXPECT_FALSE(parse_hex_u64("62f05417dd3fb69z", "work").ok());
}

}  // namespace
}  // namespace chorus::nano
