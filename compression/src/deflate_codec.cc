// gzip (RFC 1952) and zlib (RFC 1950): the same DEFLATE data (RFC 1951) from
// zlib, in the two wrappers. windowBits 15+16 asks zlib for exactly one gzip
// member (header without name or mtime, CRC-32 and ISIZE trailer), plain 15
// for the zlib wrapper (Adler-32 trailer).
#include <zlib.h>

#include <climits>

#include "codec_impl.h"

namespace chorus::compression::detail {
namespace {

constexpr size_t kMaxZlibChunk = UINT_MAX;  // avail_in / avail_out are uInt

class DeflateCodec final : public Codec {
 public:
  DeflateCodec(Method method, int level) : method_(method), level_(level) {}

  Method method() const override { return method_; }
  int level() const override { return level_; }

  Result<Bytes> compress(ByteView in) const override {
    // A window that covers the whole input finds every match a 32 KiB one
    // would; zlib reaches back (window - 262) bytes. Smaller window and hash
    // tables make a short payload 5x cheaper to compress (zlib clears and
    // allocates ~256 KiB per stream at the defaults). gzip has no window
    // field; zlib's header records it (CINFO), and every decoder reads any
    // window up to 32 KiB. From 32 506 bytes up the stream is exactly
    // compress2()'s.
    int bits = 9;
    while (bits < 15 && (size_t{1} << bits) - 262 < in.size()) ++bits;
    const int mem_level = std::clamp(bits - 7, 1, 8);
    z_stream s{};
    const int window = method_ == Method::kGzip ? bits + 16 : bits;
    if (deflateInit2(&s, level_, Z_DEFLATED, window, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
      return codec_error(ErrorCode::kLimit, method_, "out of memory starting the compressor");
    }
    Bytes out(deflateBound(&s, in.size()));
    const uint8_t* next_in = in.data();
    size_t left_in = in.size();
    size_t used = 0;
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
      if (s.avail_in == 0 && left_in > 0) {
        s.next_in = const_cast<Bytef*>(next_in);
        s.avail_in = static_cast<uInt>(std::min(left_in, kMaxZlibChunk));
        next_in += s.avail_in;
        left_in -= s.avail_in;
      }
      if (used == out.size()) out.resize(out.size() + (64 << 10));  // never with deflateBound
      s.next_out = out.data() + used;
      s.avail_out = static_cast<uInt>(std::min(out.size() - used, kMaxZlibChunk));
      const uInt before = s.avail_out;
      ret = deflate(&s, left_in == 0 ? Z_FINISH : Z_NO_FLUSH);
      used += before - s.avail_out;
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
        deflateEnd(&s);
        return codec_error(ErrorCode::kLimit, method_,
                           "compressor failed (" + std::to_string(ret) + ")");
      }
    }
    deflateEnd(&s);
    out.resize(used);
    return out;
  }

  Result<Bytes> decompress(ByteView in, size_t max_output_bytes) const override {
    z_stream s{};
    if (inflateInit2(&s, window_bits()) != Z_OK) {
      return codec_error(ErrorCode::kLimit, method_, "out of memory starting the decompressor");
    }
    struct End {
      z_stream* s;
      ~End() { inflateEnd(s); }
    } end{&s};
    BoundedOutput out(max_output_bytes, in.size());
    const uint8_t* next_in = in.data();
    size_t left_in = in.size();
    for (;;) {
      if (s.avail_in == 0 && left_in > 0) {
        s.next_in = const_cast<Bytef*>(next_in);
        s.avail_in = static_cast<uInt>(std::min(left_in, kMaxZlibChunk));
        next_in += s.avail_in;
        left_in -= s.avail_in;
      }
      auto window = out.window();
      if (window.empty()) return over_limit(method_, max_output_bytes);
      s.next_out = window.data();
      s.avail_out = static_cast<uInt>(std::min(window.size(), kMaxZlibChunk));
      const uInt before = s.avail_out;
      const int ret = inflate(&s, Z_NO_FLUSH);
      out.commit(before - s.avail_out);
      if (out.exceeded()) return over_limit(method_, max_output_bytes);
      switch (ret) {
        case Z_OK:
          continue;
        case Z_STREAM_END:
          if (s.avail_in > 0 || left_in > 0) {
            return malformed_error("trailing bytes after end of stream");
          }
          return std::move(out).take();
        case Z_BUF_ERROR:  // no progress: all input used, output space left
          return malformed_error("truncated stream");
        case Z_NEED_DICT:
          return malformed_error("stream needs a preset dictionary (not supported)");
        case Z_DATA_ERROR:
          return malformed_error(std::string("corrupt stream (") +
                                 (s.msg != nullptr ? s.msg : "data error") + ")");
        case Z_MEM_ERROR:
          return codec_error(ErrorCode::kLimit, method_, "out of memory");
        default:
          return malformed_error("decompressor failed (" + std::to_string(ret) + ")");
      }
    }
  }

 private:
  int window_bits() const { return method_ == Method::kGzip ? 15 + 16 : 15; }
  Error malformed_error(const std::string& what) const {
    return codec_error(ErrorCode::kMalformed, method_, what);
  }

  Method method_;
  int level_;
};

}  // namespace

std::unique_ptr<Codec> make_deflate_codec(Method method, int level) {
  return std::make_unique<DeflateCodec>(method, level);
}

}  // namespace chorus::compression::detail
