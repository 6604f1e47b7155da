#include "chorus/overlay/random.h"

#include <sodium.h>

#include <cstdlib>

namespace chorus::overlay {

Random::Random(std::optional<uint64_t> seed) : seeded_(seed.has_value()) {
  if (seed) {
    engine_.seed(*seed);
  } else {
    if (sodium_init() < 0) std::abort();
    uint64_t s = 0;
    randombytes_buf(&s, sizeof s);
    engine_.seed(s);
  }
}

void Random::fill(uint8_t* out, size_t n) {
  if (!seeded_) {
    randombytes_buf(out, n);
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(engine_());
}

}  // namespace chorus::overlay
