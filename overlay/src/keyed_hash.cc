#include "chorus/overlay/keyed_hash.h"

#include <sodium.h>

#include <cstdlib>

namespace chorus::overlay {

size_t KeyedHash::operator()(const std::array<uint8_t, 32>& key) const {
  static_assert(sizeof(secret) == crypto_shorthash_KEYBYTES);
  uint64_t h = 0;
  crypto_shorthash(reinterpret_cast<unsigned char*>(&h), key.data(), key.size(), secret.data());
  return static_cast<size_t>(h);
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
