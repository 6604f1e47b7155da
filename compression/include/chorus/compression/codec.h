// Codec: compress and decompress whole payloads with one standard format.
//
// Every codec writes exactly the standard format of its method (method.h),
// so `gzip -d`, `bzip2 -d`, `xz -d` or any snappy implementation reads what
// Chorus writes, and Chorus reads what they write (one stream/member/block
// per payload; see spec/compression.md for the details and the limits).
//
// Decompression is bounded. The caller says how many output bytes it will
// accept; the decoder produces output in chunks and stops with a kLimit error
// as soon as the output would pass that bound. A bomb (1 GiB of zeros in a
// few KiB) therefore costs at most about `max_output_bytes` of memory and the
// time to produce them, never more. Snappy blocks declare their length up
// front: an over-limit block is refused before anything is allocated.
//
// Errors are values, never exceptions or crashes. Every message starts with
// the method name ("gzip: truncated stream"):
//   kMalformed  the input is not one complete, valid stream of this method:
//               bad header, corrupt data, checksum mismatch, truncated, or
//               trailing bytes after the end of the stream;
//   kLimit      the output would pass max_output_bytes, or the stream needs
//               more decoder memory than the codec allows (xz dictionary
//               over kXzDecoderMemoryLimitBytes), or memory ran out;
//   kInvalidArgument  compress() was given more than the format can carry
//               (snappy: 4 GiB - 1 bytes) or make_codec() an unknown level.
//
// Threads: a Codec is immutable after construction; any number of threads
// may call the same Codec at once. Each call owns its own library state.
#pragma once

#include <cstddef>
#include <memory>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/compression/method.h"

namespace chorus::compression {

// A decompression limit for callers without a better one (the CLI's default).
inline constexpr size_t kDefaultMaxOutputBytes = size_t{64} << 20;

// liblzma's decoder memory cap. Streams written by `xz -0` .. `xz -9e` need
// at most ~65 MiB to decode; a header asking for more gets kLimit.
inline constexpr uint64_t kXzDecoderMemoryLimitBytes = uint64_t{128} << 20;

// Pass to make_codec() for the method's default level.
inline constexpr int kDefaultLevel = -1;

class Codec {
 public:
  virtual ~Codec() = default;

  virtual Method method() const = 0;
  // The compression level in use (codec-specific; 0 for snappy).
  virtual int level() const = 0;

  // The whole of `in` as one stream of this method. Empty input gives a
  // valid stream that decompresses to nothing.
  virtual Result<Bytes> compress(ByteView in) const = 0;

  // The content of `in`, which must be exactly one complete stream of this
  // method (nothing before or after it). Output of exactly max_output_bytes
  // is fine; one more byte is kLimit.
  virtual Result<Bytes> decompress(ByteView in, size_t max_output_bytes) const = 0;
};

// The codec of `method` at its default level: bz2 9 (900 k blocks, as
// `bzip2`), gzip 6, zlib 6 (as `gzip` and zlib's default), lzma 6 (`xz`'s
// default preset), snappy (no levels). Lives for the whole program.
const Codec& codec_for(Method method);

// A codec at `level`: bz2 1..9, gzip and zlib 0..9, lzma 0..9, snappy only
// kDefaultLevel or 0. kDefaultLevel picks the codec_for() level. Anything
// else is kInvalidArgument.
Result<std::unique_ptr<Codec>> make_codec(Method method, int level = kDefaultLevel);

}  // namespace chorus::compression
