// Decompression bombs: 1 GiB of zeros (256 MiB for bz2, whose encoder is the
// slowest) squeezed into a small valid stream of each method. Each must stop
// at a 1 MiB limit with kLimit, quickly. The bombs are built without ever
// holding their content: a compressed segment repeated (gzip, zlib: full-
// flushed deflate blocks; xz: independent blocks listed in one index;
// snappy: copy elements), or streamed through libbz2 in 1 MiB pieces.
#include <bzlib.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>

#include <chrono>

#include "chorus/compression/codec.h"

namespace chorus::compression {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kLimit = kMiB;

void put_le32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// gzip or zlib stream of `total` zeros (a multiple of 1 MiB).
Bytes deflate_bomb(Method method, uint64_t total) {
  z_stream s{};
  EXPECT_EQ(deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);  // raw deflate
  Bytes zeros(kMiB, 0), segment(kMiB);
  s.next_in = zeros.data();
  s.avail_in = static_cast<uInt>(zeros.size());
  s.next_out = segment.data();
  s.avail_out = static_cast<uInt>(segment.size());
  // A full flush ends on a byte boundary with no reference to earlier data,
  // so the segment can be repeated as is.
  EXPECT_EQ(deflate(&s, Z_FULL_FLUSH), Z_OK);
  segment.resize(segment.size() - s.avail_out);
  deflateEnd(&s);

  const uint64_t count = total / kMiB;
  Bytes out;
  if (method == Method::kGzip) {
    out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  } else {
    out = {0x78, 0xda};
  }
  out.reserve(out.size() + segment.size() * count + 16);
  uLong crc = crc32(0, nullptr, 0), adler = adler32(0, nullptr, 0);
  const uLong seg_crc = crc32(crc, zeros.data(), static_cast<uInt>(zeros.size()));
  const uLong seg_adler = adler32(adler, zeros.data(), static_cast<uInt>(zeros.size()));
  for (uint64_t i = 0; i < count; ++i) {
    out.insert(out.end(), segment.begin(), segment.end());
    crc = crc32_combine(crc, seg_crc, static_cast<z_off_t>(kMiB));
    adler = adler32_combine(adler, seg_adler, static_cast<z_off_t>(kMiB));
  }
  out.push_back(0x03);  // final empty block with fixed codes: BFINAL 1, BTYPE 01, EOB
  out.push_back(0x00);
  if (method == Method::kGzip) {
    put_le32(out, static_cast<uint32_t>(crc));
    put_le32(out, static_cast<uint32_t>(total));  // ISIZE: size mod 2^32
  } else {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(adler >> (8 * i)));
  }
  return out;
}

// One .xz stream of `total` zeros: the same 8 MiB block repeated, one index.
Bytes xz_bomb(uint64_t total) {
  constexpr size_t kBlockBytes = 8 * kMiB;
  lzma_options_lzma options{};
  EXPECT_FALSE(lzma_lzma_preset(&options, 1));
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_block block{};
  block.version = 0;
  block.check = LZMA_CHECK_CRC64;
  block.filters = filters;
  Bytes zeros(kBlockBytes, 0), encoded(lzma_block_buffer_bound(kBlockBytes));
  size_t used = 0;
  EXPECT_EQ(lzma_block_buffer_encode(&block, nullptr, zeros.data(), zeros.size(), encoded.data(),
                                     &used, encoded.size()),
            LZMA_OK);
  encoded.resize(used);

  lzma_stream_flags flags{};
  flags.version = 0;
  flags.check = LZMA_CHECK_CRC64;
  Bytes out(LZMA_STREAM_HEADER_SIZE);
  EXPECT_EQ(lzma_stream_header_encode(&flags, out.data()), LZMA_OK);
  lzma_index* index = lzma_index_init(nullptr);
  for (uint64_t i = 0; i < total / kBlockBytes; ++i) {
    out.insert(out.end(), encoded.begin(), encoded.end());
    EXPECT_EQ(lzma_index_append(index, nullptr, lzma_block_unpadded_size(&block),
                                block.uncompressed_size),
              LZMA_OK);
  }
  size_t at = out.size();
  out.resize(at + lzma_index_size(index));
  EXPECT_EQ(lzma_index_buffer_encode(index, out.data(), &at, out.size()), LZMA_OK);
  flags.backward_size = lzma_index_size(index);
  lzma_index_end(index, nullptr);
  out.resize(at + LZMA_STREAM_HEADER_SIZE);
  EXPECT_EQ(lzma_stream_footer_encode(&flags, out.data() + at), LZMA_OK);
  return out;
}

// A bzip2 stream of `total` zeros, fed to libbz2 1 MiB at a time.
Bytes bz2_bomb(uint64_t total) {
  bz_stream s{};
  EXPECT_EQ(BZ2_bzCompressInit(&s, 9, 0, 0), BZ_OK);
  Bytes zeros(kMiB, 0), out(64 * 1024);
  size_t used = 0;
  uint64_t fed = 0;
  int ret = BZ_RUN_OK;
  while (ret != BZ_STREAM_END) {
    if (s.avail_in == 0 && fed < total) {
      s.next_in = reinterpret_cast<char*>(zeros.data());
      s.avail_in = static_cast<unsigned>(zeros.size());
      fed += zeros.size();
    }
    if (out.size() - used < 4096) out.resize(out.size() * 2);
    s.next_out = reinterpret_cast<char*>(out.data() + used);
    s.avail_out = static_cast<unsigned>(out.size() - used);
    unsigned before = s.avail_out;
    ret = BZ2_bzCompress(&s, fed == total && s.avail_in == 0 ? BZ_FINISH : BZ_RUN);
    used += before - s.avail_out;
    if (ret < 0) break;
  }
  BZ2_bzCompressEnd(&s);
  out.resize(used);
  return out;
}

// A snappy block of `total` zeros: one literal zero, then copies of 64 bytes
// at offset 1 (3 bytes each), as the format allows.
Bytes snappy_bomb(uint32_t total) {
  Bytes out;
  for (uint32_t v = total;; v >>= 7) {
    out.push_back(static_cast<uint8_t>(v < 0x80 ? v : (v & 0x7f) | 0x80));
    if (v < 0x80) break;
  }
  out.push_back(0x00);  // literal, length 1
  out.push_back(0x00);
  uint32_t left = total - 1;
  out.reserve(out.size() + (left / 64 + 1) * 3);
  while (left > 0) {
    uint32_t len = std::min<uint32_t>(left, 64);
    out.push_back(static_cast<uint8_t>(2 | (len - 1) << 2));  // copy, 2-byte offset
    out.push_back(1);
    out.push_back(0);
    left -= len;
  }
  return out;
}

Bytes bomb(Method method, uint64_t total) {
  switch (method) {
    case Method::kGzip:
    case Method::kZlib:
      return deflate_bomb(method, total);
    case Method::kLzma:
      return xz_bomb(total);
    case Method::kBz2:
      return bz2_bomb(total);
    case Method::kSnappy:
      return snappy_bomb(static_cast<uint32_t>(total));
  }
  return {};
}

class Bomb : public ::testing::TestWithParam<Method> {};

TEST_P(Bomb, SmallBombIsAValidStreamOfZeros) {
  // The generators write real streams: a 16 MiB one decodes in full.
  const Method m = GetParam();
  Bytes b = bomb(m, 16 * kMiB);
  auto out = codec_for(m).decompress(b, 16 * kMiB);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  ASSERT_EQ(out->size(), 16 * kMiB);
  EXPECT_EQ(std::count(out->begin(), out->end(), 0), static_cast<std::ptrdiff_t>(16 * kMiB));
}

TEST_P(Bomb, StopsAtTheLimitQuickly) {
  const Method m = GetParam();
  const uint64_t total = m == Method::kBz2 ? kGiB / 4 : kGiB;
  Bytes b = bomb(m, total);
  RecordProperty("bomb_bytes", std::to_string(b.size()));
  auto start = std::chrono::steady_clock::now();
  auto out = codec_for(m).decompress(b, kLimit);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(out.ok()) << "a " << total << "-byte bomb decompressed";
  EXPECT_EQ(out.error().code(), ErrorCode::kLimit) << out.error().to_string();
  EXPECT_EQ(out.error().message(),
            std::string(method_name(m)) + ": output exceeds the limit of 1048576 bytes");
  EXPECT_LT(elapsed, std::chrono::seconds(2)) << "bomb of " << b.size() << " bytes";
  // Generous limits still stop the bomb.
  auto big = codec_for(m).decompress(b, 64 * kMiB);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kLimit);
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, Bomb, ::testing::ValuesIn(kAllMethods),
                         [](const ::testing::TestParamInfo<Method>& p) {
                           return std::string(method_name(p.param));
                         });

}  // namespace
}  // namespace chorus::compression
