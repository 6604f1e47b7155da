// bzip2 (libbz2): one stream, "BZh" + block size digit, as `bzip2` writes.
#include <bzlib.h>

#include <climits>

#include "codec_impl.h"

namespace chorus::compression::detail {
namespace {

constexpr size_t kMaxBzChunk = UINT_MAX;  // avail_in / avail_out are unsigned int
constexpr size_t kBlockUnitBytes = 100000;

class Bz2Codec final : public Codec {
 public:
  explicit Bz2Codec(int block_size_100k) : block_size_100k_(block_size_100k) {}

  Method method() const override { return Method::kBz2; }
  int level() const override { return block_size_100k_; }

  Result<Bytes> compress(ByteView in) const override {
    // A block larger than the whole input compresses it exactly as well;
    // a smaller one saves libbz2 allocating up to 7.6 MB for a short payload.
    const size_t blocks_needed = in.size() / kBlockUnitBytes + 1;
    const int block = static_cast<int>(std::min<size_t>(block_size_100k_, blocks_needed));
    bz_stream s{};
    if (BZ2_bzCompressInit(&s, block, 0, 0) != BZ_OK) {
      return codec_error(ErrorCode::kLimit, Method::kBz2, "out of memory starting the compressor");
    }
    // libbz2's documented worst case: 1% larger plus 600 bytes.
    Bytes out(in.size() + in.size() / 100 + 600);
    const uint8_t* next_in = in.data();
    size_t left_in = in.size();
    size_t used = 0;
    int ret = BZ_RUN_OK;
    while (ret != BZ_STREAM_END) {
      if (s.avail_in == 0 && left_in > 0) {
        s.next_in = reinterpret_cast<char*>(const_cast<uint8_t*>(next_in));
        s.avail_in = static_cast<unsigned>(std::min(left_in, kMaxBzChunk));
        next_in += s.avail_in;
        left_in -= s.avail_in;
      }
      if (used == out.size()) out.resize(out.size() + (64 << 10));
      s.next_out = reinterpret_cast<char*>(out.data() + used);
      s.avail_out = static_cast<unsigned>(std::min(out.size() - used, kMaxBzChunk));
      const unsigned before = s.avail_out;
      ret = BZ2_bzCompress(&s, left_in == 0 && s.avail_in == 0 ? BZ_FINISH : BZ_RUN);
      used += before - s.avail_out;
      if (ret != BZ_RUN_OK && ret != BZ_FINISH_OK && ret != BZ_STREAM_END) {
        BZ2_bzCompressEnd(&s);
        return codec_error(ErrorCode::kLimit, Method::kBz2,
                           "compressor failed (" + std::to_string(ret) + ")");
      }
    }
    BZ2_bzCompressEnd(&s);
    out.resize(used);
    return out;
  }

  Result<Bytes> decompress(ByteView in, size_t max_output_bytes) const override {
    bz_stream s{};
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
      return codec_error(ErrorCode::kLimit, Method::kBz2,
                         "out of memory starting the decompressor");
    }
    struct End {
      bz_stream* s;
      ~End() { BZ2_bzDecompressEnd(s); }
    } end{&s};
    BoundedOutput out(max_output_bytes, in.size());
    const uint8_t* next_in = in.data();
    size_t left_in = in.size();
    for (;;) {
      if (s.avail_in == 0 && left_in > 0) {
        s.next_in = reinterpret_cast<char*>(const_cast<uint8_t*>(next_in));
        s.avail_in = static_cast<unsigned>(std::min(left_in, kMaxBzChunk));
        next_in += s.avail_in;
        left_in -= s.avail_in;
      }
      auto window = out.window();
      if (window.empty()) return over_limit(Method::kBz2, max_output_bytes);
      s.next_out = reinterpret_cast<char*>(window.data());
      s.avail_out = static_cast<unsigned>(std::min(window.size(), kMaxBzChunk));
      const unsigned before_out = s.avail_out;
      const int ret = BZ2_bzDecompress(&s);
      out.commit(before_out - s.avail_out);
      if (out.exceeded()) return over_limit(Method::kBz2, max_output_bytes);
      switch (ret) {
        case BZ_OK:
          // libbz2 returns only when input or output space ran out; with
          // output space left, the input ended before the stream did.
          if (s.avail_out > 0 && s.avail_in == 0 && left_in == 0) {
            return malformed("truncated stream");
          }
          continue;
        case BZ_STREAM_END:
          if (s.avail_in > 0 || left_in > 0) {
            return malformed("trailing bytes after end of stream");
          }
          return std::move(out).take();
        case BZ_DATA_ERROR_MAGIC:
          return malformed("not a bzip2 stream (bad magic)");
        case BZ_DATA_ERROR:
          return malformed("corrupt stream (bad block or CRC mismatch)");
        case BZ_MEM_ERROR:
          return codec_error(ErrorCode::kLimit, Method::kBz2, "out of memory");
        default:
          return malformed("decompressor failed (" + std::to_string(ret) + ")");
      }
    }
  }

 private:
  static Error malformed(const std::string& what) {
    return codec_error(ErrorCode::kMalformed, Method::kBz2, what);
  }

  int block_size_100k_;
};

}  // namespace

std::unique_ptr<Codec> make_bz2_codec(int block_size_100k) {
  return std::make_unique<Bz2Codec>(block_size_100k);
}

}  // namespace chorus::compression::detail
