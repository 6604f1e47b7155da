// snappy: one raw block (snappy's format_description.txt): the uncompressed
// length as a varint, then literal and copy elements. No framing format, no
// checksum: integrity comes from the AEAD frame around it.
#include <snappy.h>

#include <cstdint>
#include <limits>

#include "codec_impl.h"

namespace chorus::compression::detail {
namespace {

Error snappy_malformed(const std::string& what) {
  return codec_error(ErrorCode::kMalformed, Method::kSnappy, what);
}

uint64_t read_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Why snappy refused a block whose header declared `declared` bytes. Runs
// only after a failure, to name the reason; snappy itself does the decoding.
std::string diagnose(ByteView in, size_t pos, uint64_t declared) {
  uint64_t produced = 0;
  while (pos < in.size()) {
    if (produced == declared) return "trailing bytes after end of block";
    const uint8_t tag = in[pos++];
    const size_t left = in.size() - pos;
    uint64_t len = 0;
    uint64_t offset = 0;
    switch (tag & 3) {
      case 0: {  // literal
        len = (tag >> 2) + 1u;
        if (len > 60) {
          const size_t n = len - 60;
          if (left < n) return "truncated block";
          len = read_le(&in[pos], n) + 1;
          pos += n;
        }
        if (in.size() - pos < len) return "truncated block";
        pos += len;
        break;
      }
      case 1:  // copy, 1-byte offset
        if (left < 1) return "truncated block";
        len = 4 + ((tag >> 2) & 7u);
        offset = (uint64_t{tag} >> 5) << 8 | in[pos];
        pos += 1;
        break;
      case 2:  // copy, 2-byte offset
        if (left < 2) return "truncated block";
        len = (tag >> 2) + 1u;
        offset = read_le(&in[pos], 2);
        pos += 2;
        break;
      default:  // copy, 4-byte offset
        if (left < 4) return "truncated block";
        len = (tag >> 2) + 1u;
        offset = read_le(&in[pos], 4);
        pos += 4;
        break;
    }
    if ((tag & 3) != 0 && (offset == 0 || offset > produced)) return "copy offset out of range";
    if (len > declared - produced) return "element runs past the declared length";
    produced += len;
  }
  if (produced < declared) return "truncated block";
  return "corrupt block";
}

class SnappyCodec final : public Codec {
 public:
  Method method() const override { return Method::kSnappy; }
  int level() const override { return 0; }

  Result<Bytes> compress(ByteView in) const override {
    if (in.size() > std::numeric_limits<uint32_t>::max()) {
      return codec_error(ErrorCode::kInvalidArgument, Method::kSnappy,
                         "input over 4 GiB - 1 bytes (the block format's limit)");
    }
    Bytes out(snappy::MaxCompressedLength(in.size()));
    size_t used = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(in.data()), in.size(),
                        reinterpret_cast<char*>(out.data()), &used);
    out.resize(used);
    return out;
  }

  Result<Bytes> decompress(ByteView in, size_t max_output_bytes) const override {
    const char* data = reinterpret_cast<const char*>(in.data());
    size_t declared = 0;
    if (in.empty() || !snappy::GetUncompressedLength(data, in.size(), &declared)) {
      return snappy_malformed(in.empty() ? "truncated block (no length header)"
                                         : "bad length header");
    }
    // The block says how long it is: refuse before allocating anything.
    if (declared > max_output_bytes) return over_limit(Method::kSnappy, max_output_bytes);
    Bytes out(declared);
    char scratch = 0;  // snappy wants a valid pointer even for empty output
    char* dest = declared == 0 ? &scratch : reinterpret_cast<char*>(out.data());
    if (!snappy::RawUncompress(data, in.size(), dest)) {
      size_t header = 0;
      while (in[header] & 0x80) ++header;  // GetUncompressedLength accepted it
      return snappy_malformed(diagnose(in, header + 1, declared));
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Codec> make_snappy_codec() {
  return std::make_unique<SnappyCodec>();
}

}  // namespace chorus::compression::detail
