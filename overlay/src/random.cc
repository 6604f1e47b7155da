#include "chorus/overlay/random.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace chorus::overlay {

Random::Random(std::optional<uint64_t> seed) : seeded_(seed.has_value()) {
  if (sodium_init() < 0) std::abort();
  if (seed) {
    // The seed's bytes stretched to a key, so that nearby seeds give
    // unrelated streams.
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(*seed >> (8 * i));
    crypto_generichash(key_.data(), key_.size(), bytes, sizeof bytes, nullptr, 0);
  } else {
    randombytes_buf(key_.data(), key_.size());
  }
}

void Random::refill() {
  // Block `counter_` of the keystream: ChaCha20 of zeros, nonce zero.
  static constexpr uint8_t kZeros[64] = {};
  static constexpr uint8_t kNonce[crypto_stream_chacha20_NONCEBYTES] = {};
  crypto_stream_chacha20_xor_ic(block_.data(), kZeros, sizeof kZeros, kNonce, counter_++,
                                key_.data());
  used_ = 0;
}

uint64_t Random::next_u64() {
  if (size_t{used_} + 8 > block_.size()) refill();
  uint64_t v = 0;
  std::memcpy(&v, block_.data() + used_, sizeof v);
  used_ = static_cast<uint8_t>(used_ + 8);
  return v;
}

void Random::fill(uint8_t* out, size_t n) {
  if (!seeded_) {
    randombytes_buf(out, n);
    return;
  }
  while (n > 0) {
    if (used_ == block_.size()) refill();
    size_t take = std::min(n, block_.size() - used_);
    std::memcpy(out, block_.data() + used_, take);
    used_ = static_cast<uint8_t>(used_ + take);
    out += take;
    n -= take;
  }
}

}  // namespace chorus::overlay
