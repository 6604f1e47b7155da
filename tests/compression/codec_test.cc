// Round trips, levels, names and the output limit, for every codec.
#include <gtest/gtest.h>

#include <tuple>

#include "chorus/compression/codec.h"
#include "test_data.h"

namespace chorus::compression {
namespace {

using test::Kind;

TEST(Method, NamesAndSettingsRoundTrip) {
  for (Method m : kAllMethods) {
    EXPECT_EQ(parse_method(method_name(m)), m);
    EXPECT_EQ(method_from_setting(setting_of(m)), m);
    EXPECT_EQ(codec_for(m).method(), m);
  }
  EXPECT_EQ(setting_of(Method::kBz2), 0);
  EXPECT_EQ(setting_of(Method::kGzip), 1);
  EXPECT_EQ(setting_of(Method::kLzma), 2);
  EXPECT_EQ(setting_of(Method::kZlib), 3);
  EXPECT_EQ(setting_of(Method::kSnappy), 4);
  EXPECT_FALSE(parse_method("xz"));
  EXPECT_FALSE(parse_method("GZIP"));
  EXPECT_FALSE(parse_method(""));
  EXPECT_FALSE(method_from_setting(5));
  EXPECT_FALSE(method_from_setting(255));
}

TEST(Codec, DefaultLevelsMatchTheStandardTools) {
  EXPECT_EQ(codec_for(Method::kBz2).level(), 9);
  EXPECT_EQ(codec_for(Method::kGzip).level(), 6);
  EXPECT_EQ(codec_for(Method::kLzma).level(), 6);
  EXPECT_EQ(codec_for(Method::kZlib).level(), 6);
  EXPECT_EQ(codec_for(Method::kSnappy).level(), 0);
}

using RoundTripParam = std::tuple<Method, size_t, Kind>;

class RoundTrip : public ::testing::TestWithParam<RoundTripParam> {};

TEST_P(RoundTrip, DecompressGivesBackTheInput) {
  auto [method, size, kind] = GetParam();
  const Codec& codec = codec_for(method);
  Bytes data = test::make_data(kind, size);
  auto packed = codec.compress(data);
  ASSERT_TRUE(packed.ok()) << packed.error().to_string();
  auto unpacked = codec.decompress(*packed, size);  // a limit of exactly the size is enough
  ASSERT_TRUE(unpacked.ok()) << unpacked.error().to_string();
  EXPECT_TRUE(*unpacked == data) << "round trip changed the data";
  if (kind == Kind::kZeros && size >= 64 * 1024) {
    EXPECT_LT(packed->size(), size / 20);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, RoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kAllMethods),
                                            ::testing::Values(size_t{0}, size_t{1}, size_t{100},
                                                              size_t{64} << 10, size_t{8} << 20),
                                            ::testing::Values(Kind::kRandom, Kind::kText,
                                                              Kind::kZeros)),
                         [](const ::testing::TestParamInfo<RoundTripParam>& p) {
                           return std::string(method_name(std::get<0>(p.param))) + "_" +
                                  std::to_string(std::get<1>(p.param)) + "B_" +
                                  test::kind_name(std::get<2>(p.param));
                         });

class PerCodec : public ::testing::TestWithParam<Method> {};

TEST_P(PerCodec, OutputOfExactlyTheLimitIsFineOneByteOverIsLimit) {
  const Codec& codec = codec_for(GetParam());
  for (size_t size : {size_t{1}, size_t{1000}, size_t{100000}}) {
    Bytes data = test::text_bytes(size);
    auto packed = codec.compress(data).value();
    auto exact = codec.decompress(packed, size);
    ASSERT_TRUE(exact.ok()) << exact.error().to_string();
    EXPECT_EQ(exact->size(), size);
    auto over = codec.decompress(packed, size - 1);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code(), ErrorCode::kLimit);
    EXPECT_EQ(over.error().message().rfind(std::string(method_name(GetParam())) + ": ", 0), 0u)
        << over.error().message();
  }
  auto empty = codec.compress({}).value();
  EXPECT_TRUE(codec.decompress(empty, 0).ok());
}

TEST_P(PerCodec, EveryLevelRoundTripsAndOthersAreRefused) {
  const Method m = GetParam();
  Bytes data = test::text_bytes(64 << 10);
  int lo = m == Method::kBz2 ? 1 : 0;
  int hi = m == Method::kSnappy ? 0 : 9;
  for (int level = lo; level <= hi; ++level) {
    auto codec = make_codec(m, level);
    ASSERT_TRUE(codec.ok()) << codec.error().to_string();
    EXPECT_EQ((*codec)->level(), level);
    auto packed = (*codec)->compress(data);
    ASSERT_TRUE(packed.ok()) << packed.error().to_string();
    // Any level decodes with any codec of the method.
    auto unpacked = codec_for(m).decompress(*packed, data.size());
    ASSERT_TRUE(unpacked.ok()) << level << ": " << unpacked.error().to_string();
    EXPECT_TRUE(*unpacked == data) << "level " << level;
  }
  for (int bad : {lo == 0 ? -2 : lo - 1, hi + 1, 100, -7}) {  // -1 is kDefaultLevel
    auto codec = make_codec(m, bad);
    ASSERT_FALSE(codec.ok()) << "level " << bad;
    EXPECT_EQ(codec.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(make_codec(m, kDefaultLevel).ok());
}

TEST_P(PerCodec, SmallPayloadsCompressWithoutHugeBuffers) {
  // bz2 and lzma shrink their block/dictionary to the input; a small payload
  // must not cost the 7.6 MB / 94 MiB their defaults would.
  const Codec& codec = codec_for(GetParam());
  Bytes msg = test::text_bytes(300);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(codec.compress(msg).ok());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, PerCodec, ::testing::ValuesIn(kAllMethods),
                         [](const ::testing::TestParamInfo<Method>& p) {
                           return std::string(method_name(p.param));
                         });

}  // namespace
}  // namespace chorus::compression
