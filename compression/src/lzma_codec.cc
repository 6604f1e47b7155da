// lzma: one .xz stream (liblzma): stream header, one block with the LZMA2
// filter, index, footer; CRC64 check, as `xz` and Python's lzma write by
// default.
#include <lzma.h>

#include "codec_impl.h"

namespace chorus::compression::detail {
namespace {

class LzmaCodec final : public Codec {
 public:
  explicit LzmaCodec(uint32_t preset) : preset_(preset) {}

  Method method() const override { return Method::kLzma; }
  int level() const override { return static_cast<int>(preset_); }

  Result<Bytes> compress(ByteView in) const override {
    lzma_options_lzma options{};
    if (lzma_lzma_preset(&options, preset_)) {
      return codec_error(ErrorCode::kInvalidArgument, Method::kLzma, "unsupported preset");
    }
    // A dictionary larger than the input buys nothing; a smaller one spares
    // the encoder (94 MiB at preset 6) and every decoder the memory. Only
    // the dictionary size in the block header changes: still standard .xz.
    if (options.dict_size > in.size()) {
      options.dict_size = std::max<uint32_t>(LZMA_DICT_SIZE_MIN, static_cast<uint32_t>(in.size()));
    }
    lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
    const size_t bound = lzma_stream_buffer_bound(in.size());
    if (bound == 0) {
      return codec_error(ErrorCode::kInvalidArgument, Method::kLzma, "input too large");
    }
    Bytes out(bound);
    size_t used = 0;
    const lzma_ret ret = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC64, nullptr, in.data(),
                                                   in.size(), out.data(), &used, out.size());
    if (ret != LZMA_OK) {
      return codec_error(ret == LZMA_MEM_ERROR ? ErrorCode::kLimit : ErrorCode::kInvalidArgument,
                         Method::kLzma, "compressor failed (" + std::to_string(ret) + ")");
    }
    out.resize(used);
    return out;
  }

  Result<Bytes> decompress(ByteView in, size_t max_output_bytes) const override {
    lzma_stream s = LZMA_STREAM_INIT;
    // No LZMA_CONCATENATED: exactly one stream, so anything after it
    // (another stream, stream padding) is trailing bytes.
    if (lzma_stream_decoder(&s, kXzDecoderMemoryLimitBytes, 0) != LZMA_OK) {
      return codec_error(ErrorCode::kLimit, Method::kLzma,
                         "out of memory starting the decompressor");
    }
    struct End {
      lzma_stream* s;
      ~End() { lzma_end(s); }
    } end{&s};
    BoundedOutput out(max_output_bytes, in.size());
    s.next_in = in.data();
    s.avail_in = in.size();
    for (;;) {
      auto window = out.window();
      if (window.empty()) return over_limit(Method::kLzma, max_output_bytes);
      s.next_out = window.data();
      s.avail_out = window.size();
      const lzma_ret ret = lzma_code(&s, LZMA_FINISH);
      out.commit(window.size() - s.avail_out);
      if (out.exceeded()) return over_limit(Method::kLzma, max_output_bytes);
      switch (ret) {
        case LZMA_OK:
          continue;
        case LZMA_STREAM_END:
          if (s.avail_in > 0) return malformed("trailing bytes after end of stream");
          return std::move(out).take();
        case LZMA_BUF_ERROR:  // no progress possible: the input ended early
          return malformed("truncated stream");
        case LZMA_FORMAT_ERROR:
          return malformed("not an xz stream (bad magic)");
        case LZMA_OPTIONS_ERROR:
          return malformed("unsupported stream options");
        case LZMA_DATA_ERROR:
          return malformed(s.avail_in == 0 ? "corrupt or truncated stream"
                                           : "corrupt stream (bad data or check mismatch)");
        case LZMA_MEMLIMIT_ERROR:
          return codec_error(ErrorCode::kLimit, Method::kLzma,
                             "stream needs " + std::to_string(lzma_memusage(&s)) +
                                 " bytes of decoder memory, over the limit of " +
                                 std::to_string(kXzDecoderMemoryLimitBytes));
        case LZMA_MEM_ERROR:
          return codec_error(ErrorCode::kLimit, Method::kLzma, "out of memory");
        default:
          return malformed("decompressor failed (" + std::to_string(ret) + ")");
      }
    }
  }

 private:
  static Error malformed(const std::string& what) {
    return codec_error(ErrorCode::kMalformed, Method::kLzma, what);
  }

  uint32_t preset_;
};

}  // namespace

std::unique_ptr<Codec> make_lzma_codec(uint32_t preset) {
  return std::make_unique<LzmaCodec>(preset);
}

}  // namespace chorus::compression::detail
