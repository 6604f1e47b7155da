// libFuzzer: DHT patches (dht/patch.h) from a peer are hostile input.
// The first two bytes give the base's length; the base follows, the patch is
// the rest. apply_patch must return a result within its bound or an error,
// never crash or read outside either buffer. Separately, make_patch from the
// base to the patch bytes (used as arbitrary target data) must reproduce them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "chorus/dht/patch.h"

namespace {
constexpr size_t kLimitBytes = 64 * 1024;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus;
  if (size < 2) return 0;
  size_t base_len = (size_t{data[0]} << 8 | data[1]);
  data += 2;
  size -= 2;
  if (base_len > size) base_len = size;
  const ByteView base(data, base_len);
  const ByteView patch(data + base_len, size - base_len);

  auto applied = dht::apply_patch(base, patch, kLimitBytes);
  if (applied.ok()) {
    if (applied->size() > kLimitBytes) std::abort();
    // What applies must be expressible again by make_patch.
    auto again = dht::apply_patch(base, dht::make_patch(base, *applied), kLimitBytes);
    if (!again.ok() || *again != *applied) std::abort();
  } else if (applied.error().code() != ErrorCode::kMalformed &&
             applied.error().code() != ErrorCode::kLimit) {
    std::abort();
  }

  const Bytes made = dht::make_patch(base, patch);
  auto round = dht::apply_patch(base, made, patch.size());
  if (!round.ok() || !std::equal(round->begin(), round->end(), patch.begin(), patch.end()))
    std::abort();
  return 0;
}
