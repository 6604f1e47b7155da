#include "chorus/overlay/keyed_hash.h"

#include <sodium.h>

#include <cstdlib>

namespace chorus::overlay {

namespace {

size_t siphash(const uint8_t* data, size_t size, const std::array<uint8_t, 16>& secret) {
  static_assert(sizeof(secret) == crypto_shorthash_KEYBYTES);
  uint64_t h = 0;
  crypto_shorthash(reinterpret_cast<unsigned char*>(&h), data, size, secret.data());
  return static_cast<size_t>(h);
}

}  // namespace

size_t KeyedHash::operator()(const std::array<uint8_t, 32>& key) const {
  return siphash(key.data(), key.size(), secret);
}

size_t KeyedHash::operator()(const std::array<uint8_t, 64>& pair) const {
  return siphash(pair.data(), pair.size(), secret);
}

KeyedHash KeyedHash::fresh() {
  if (sodium_init() < 0) std::abort();
  KeyedHash hash;
  randombytes_buf(hash.secret.data(), hash.secret.size());
  return hash;
}

KeyedHash KeyedHash::from(Random& random) {
  KeyedHash hash;
  random.fill(hash.secret.data(), hash.secret.size());
  return hash;
}

}  // namespace chorus::overlay
