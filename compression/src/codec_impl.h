// Internal: the codec constructors and the bounded output buffer they share.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "chorus/compression/codec.h"

namespace chorus::compression::detail {

std::unique_ptr<Codec> make_bz2_codec(int block_size_100k);
std::unique_ptr<Codec> make_deflate_codec(Method method, int level);  // kGzip or kZlib
std::unique_ptr<Codec> make_lzma_codec(uint32_t preset);
std::unique_ptr<Codec> make_snappy_codec();

// "<method>: <what>" with the error code of the caller's choosing.
inline Error codec_error(ErrorCode code, Method method, const std::string& what) {
  return {code, std::string(method_name(method)) + ": " + what};
}

inline Error over_limit(Method method, size_t max_output_bytes) {
  return codec_error(ErrorCode::kLimit, method,
                     "output exceeds the limit of " + std::to_string(max_output_bytes) + " bytes");
}

// Output of a streaming decoder that may hold at most `limit` bytes. It grows
// by doubling from a small start, never past limit + 1 bytes: the one extra
// byte is how a decoder learns that the stream wanted more than the limit
// (the decoder is then stopped and over_limit() reported).
class BoundedOutput {
 public:
  BoundedOutput(size_t limit, size_t input_size)
      : limit_(limit), cap_(limit == SIZE_MAX ? limit : limit + 1) {
    size_t start = std::clamp<size_t>(input_size * 4, kMinChunkBytes, kMaxStartBytes);
    buf_.resize(std::min(start, cap_));
  }

  // True once more than `limit` bytes were produced.
  bool exceeded() const { return used_ > limit_; }

  // Free space to write into; empty only when exceeded() (the buffer holds
  // limit + 1 bytes).
  std::span<uint8_t> window() {
    if (used_ == buf_.size() && buf_.size() < cap_) {
      size_t grown = buf_.size() > cap_ / 2 ? cap_ : std::max(buf_.size() * 2, kMinChunkBytes);
      buf_.resize(grown);
    }
    return {buf_.data() + used_, buf_.size() - used_};
  }
  void commit(size_t n) { used_ += n; }
  size_t used() const { return used_; }

  Bytes take() && {
    buf_.resize(used_);
    buf_.shrink_to_fit();
    return std::move(buf_);
  }

 private:
  static constexpr size_t kMinChunkBytes = 16 << 10;
  static constexpr size_t kMaxStartBytes = 1 << 20;
  size_t limit_;
  size_t cap_;
  size_t used_ = 0;
  Bytes buf_;
};

}  // namespace chorus::compression::detail
