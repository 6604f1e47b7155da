// KeyedHash: the hash for tables keyed by 32-byte values that peers choose
// (public keys, DHT ids). SipHash-2-4 (libsodium) under a secret of the
// table's own, so no peer can aim its keys at one bucket, as it could with
// the key's first bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "chorus/overlay/random.h"

namespace chorus::overlay {

struct KeyedHash {
  std::array<uint8_t, 16> secret;

  size_t operator()(const std::array<uint8_t, 32>& key) const;
  // Pairs of keys (the two ends of a link).
  size_t operator()(const std::array<uint8_t, 64>& pair) const;

  // A secret from the OS.
  static KeyedHash fresh();
  // A secret drawn from `random`: reproducible in a seeded core.
  static KeyedHash from(Random& random);
};

}  // namespace chorus::overlay
