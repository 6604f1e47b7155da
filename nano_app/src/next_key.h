// Paging through a table in key order: the key right after the last one
// seen, where keys are fixed-size big-endian numbers (accounts, hashes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace chorus::nano {

// The smallest key after `k`; false when `k` is the largest (then `k`
// wraps to zero).
template <size_t N>
bool next_key(std::array<uint8_t, N>& k) {
  for (size_t i = N; i-- > 0;) {
    if (++k[i] != 0) return true;
  }
  return false;
}

}  // namespace chorus::nano
