// libFuzzer: every decompressor on arbitrary bytes. The first byte picks the
// method (its wire setting, mod 5), the rest is the stream. Decompression
// must return a value or an error naming the codec, never crash, and never
// produce more than the limit. What decompresses must survive a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "chorus/compression/codec.h"

namespace {
constexpr size_t kLimitBytes = 1 << 20;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::compression;
  if (size == 0) return 0;
  const Method method = kAllMethods[data[0] % kAllMethods.size()];
  const Codec& codec = codec_for(method);
  chorus::ByteView stream(data + 1, size - 1);
  auto out = codec.decompress(stream, kLimitBytes);
  if (!out.ok()) {
    const std::string prefix = std::string(method_name(method)) + ": ";
    if (out.error().message().compare(0, prefix.size(), prefix) != 0) std::abort();
    return 0;
  }
  if (out->size() > kLimitBytes) std::abort();
  auto again = codec.compress(*out);
  if (!again.ok()) std::abort();
  auto back = codec.decompress(*again, kLimitBytes);
  if (!back.ok() || *back != *out) std::abort();
  return 0;
}
