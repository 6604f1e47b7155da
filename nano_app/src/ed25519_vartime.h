// Variable-time Ed25519-BLAKE2b verification with nano-node's rules
// (spec/nano.md §Signatures). Internal to chorus::nano; keys.cc exposes it
// as verify(). Only public data goes through it, so timing leaks nothing.
#pragma once

#include <cstdint>

#include "chorus/base/bytes.h"

namespace chorus::nano::detail {

// pk: 32 bytes, sig: 64 bytes (R ‖ S).
bool verify_vartime(const uint8_t* pk, ByteView message, const uint8_t* sig);

}  // namespace chorus::nano::detail
