// Hostile and broken input: truncated at every point, trailing bytes, every
// byte corrupted, seeded garbage. Always an error value naming the codec,
// never a crash and never more output than the limit.
#include <gtest/gtest.h>

#include <random>

#include "chorus/compression/codec.h"
#include "test_data.h"

namespace chorus::compression {
namespace {

constexpr size_t kLimit = 1 << 20;

std::string prefix(Method m) {
  return std::string(method_name(m)) + ": ";
}

// Error or a value within the limit; errors are kMalformed or kLimit and
// name the codec.
void expect_well_behaved(Method m, const Result<Bytes>& r) {
  if (r.ok()) {
    EXPECT_LE(r->size(), kLimit);
    return;
  }
  EXPECT_TRUE(r.error().code() == ErrorCode::kMalformed || r.error().code() == ErrorCode::kLimit)
      << r.error().to_string();
  EXPECT_EQ(r.error().message().rfind(prefix(m), 0), 0u) << r.error().message();
}

class Malformed : public ::testing::TestWithParam<Method> {};

TEST_P(Malformed, EmptyInputIsMalformed) {
  auto r = codec_for(GetParam()).decompress({}, kLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(r.error().message().rfind(prefix(GetParam()), 0), 0u) << r.error().message();
}

TEST_P(Malformed, EveryTruncationIsAnError) {
  const Method m = GetParam();
  for (size_t size : {size_t{0}, size_t{300}, size_t{5000}}) {
    Bytes data = test::text_bytes(size);
    Bytes stream = codec_for(m).compress(data).value();
    for (size_t cut = 0; cut < stream.size(); ++cut) {
      auto r = codec_for(m).decompress(ByteView(stream).first(cut), kLimit);
      ASSERT_FALSE(r.ok()) << size << "-byte input cut to " << cut << " of " << stream.size();
      EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << r.error().to_string();
      EXPECT_EQ(r.error().message().rfind(prefix(m), 0), 0u) << r.error().message();
    }
  }
  // Cut just before the end of a larger stream: the reason is "truncated".
  Bytes stream = codec_for(m).compress(test::text_bytes(5000)).value();
  auto r = codec_for(m).decompress(ByteView(stream).first(stream.size() - 1), kLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
}

TEST_P(Malformed, TrailingBytesAreAnError) {
  const Method m = GetParam();
  Bytes stream = codec_for(m).compress(test::text_bytes(3000)).value();
  const std::vector<Bytes> tails = {{0x00},
                                    {0x00, 0x00, 0x00, 0x00} /* xz stream padding */,
                                    {'g', 'a', 'r', 'b', 'a', 'g', 'e'},
                                    stream /* a second, complete stream */,
                                    test::random_bytes(100)};
  for (const Bytes& tail : tails) {
    Bytes bad = stream;
    bad.insert(bad.end(), tail.begin(), tail.end());
    auto r = codec_for(m).decompress(bad, kLimit);
    ASSERT_FALSE(r.ok()) << tail.size() << " trailing bytes accepted";
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
    // Snappy has no end marker: trailing bytes read as more elements, which
    // may instead overrun the declared length.
    if (m != Method::kSnappy || tail.size() == 1) {
      EXPECT_EQ(r.error().message(),
                prefix(m) + (m == Method::kSnappy ? "trailing bytes after end of block"
                                                  : "trailing bytes after end of stream"));
    } else {
      EXPECT_EQ(r.error().message().rfind(prefix(m), 0), 0u) << r.error().message();
    }
  }
}

TEST_P(Malformed, EveryCorruptedByteIsHandled) {
  const Method m = GetParam();
  Bytes data = test::text_bytes(2000);
  Bytes stream = codec_for(m).compress(data).value();
  size_t accepted = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes bad = stream;
      bad[i] ^= flip;
      auto r = codec_for(m).decompress(bad, kLimit);
      expect_well_behaved(m, r);
      // Checked formats never hand back wrong data: a change is an error
      // unless it lands in bits that do not affect the output (gzip's FTEXT,
      // MTIME, XFL and OS; deflate's final padding bits; an unused bzip2
      // coding table), where the output is the original.
      if (m != Method::kSnappy && r.ok()) {
        EXPECT_TRUE(*r == data) << "byte " << i << " ^ " << int{flip} << " gave wrong data";
        ++accepted;
      }
    }
  }
  if (m != Method::kSnappy) {
    EXPECT_LT(accepted, stream.size() / 10) << "too many changes unnoticed";
  }
}

TEST_P(Malformed, SeededGarbageIsHandled) {
  const Method m = GetParam();
  // Garbage alone, and garbage behind each format's real magic so the
  // decoders get past their first check.
  const std::vector<Bytes> heads = {{},
                                    {'B', 'Z', 'h', '9'},
                                    {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3},
                                    {0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46},
                                    {0x78, 0x9c},
                                    {0x80, 0x08}};
  std::mt19937_64 rng(test::kSeed);
  for (int i = 0; i < 3000; ++i) {
    Bytes in = heads[i % heads.size()];
    Bytes tail = test::random_bytes(rng() % 400, rng());
    in.insert(in.end(), tail.begin(), tail.end());
    expect_well_behaved(m, codec_for(m).decompress(in, kLimit));
  }
}

TEST_P(Malformed, OtherMethodsStreamsAreRefused) {
  const Method m = GetParam();
  Bytes data = test::text_bytes(1000);
  for (Method other : kAllMethods) {
    if (other == m) continue;
    // zlib and gzip differ in wrapper only; snappy has no magic, so a
    // foreign stream may start like a valid block: it must still fail.
    auto r = codec_for(m).decompress(codec_for(other).compress(data).value(), kLimit);
    EXPECT_FALSE(r.ok() && *r == data) << method_name(other) << " read as " << method_name(m);
    expect_well_behaved(m, r);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, Malformed, ::testing::ValuesIn(kAllMethods),
                         [](const ::testing::TestParamInfo<Method>& p) {
                           return std::string(method_name(p.param));
                         });

}  // namespace
}  // namespace chorus::compression
