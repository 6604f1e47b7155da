// Fixed-size NANO values: 32-byte keys and hashes, 64-byte signatures,
// u128 raw amounts, and their hex forms.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"

namespace chorus::nano {

using Hash32 = std::array<uint8_t, 32>;
using PublicKey = Hash32;   // also an account
using PrivateKey = Hash32;  // a 32-byte secret (Ed25519 "seed")
using Seed = Hash32;        // a wallet seed
using BlockHash = Hash32;
using Signature = std::array<uint8_t, 64>;
// Root ‖ previous: what elections are keyed by (vote_rules.h).
using QualifiedRoot = std::array<uint8_t, 64>;

// Raw amounts: 1 NANO = 10^30 raw; the whole supply fits in 128 bits.
__extension__ typedef unsigned __int128 Amount;
inline constexpr Amount kAmountMax = ~Amount{0};

// Upper-case hex, as the node prints keys, hashes and signatures.
std::string to_hex_upper(ByteView b);
template <size_t N>
std::string to_hex_upper(const std::array<uint8_t, N>& a) {
  return to_hex_upper(ByteView(a.data(), N));
}

// Exactly 2*N hex digits (either case) into N bytes; `what` names the field
// in the error message (kInvalidArgument).
template <size_t N>
Result<std::array<uint8_t, N>> parse_hex_fixed(std::string_view s, std::string_view what) {
  if (s.size() != 2 * N)
    return invalid_argument(std::string(what) + ": want " + std::to_string(2 * N) +
                            " hex digits, got " + std::to_string(s.size()) + " characters");
  auto b = from_hex(s);
  if (!b) return invalid_argument(std::string(what) + ": not hex");
  std::array<uint8_t, N> out;
  for (size_t i = 0; i < N; ++i) out[i] = (*b)[i];
  return out;
}

// Exactly 16 hex digits (a work nonce or a difficulty), big-endian reading.
Result<uint64_t> parse_hex_u64(std::string_view s, std::string_view what);
// 16 lower-case hex digits, as the node prints work and difficulty.
std::string u64_to_hex(uint64_t v);

// Decimal raw amount: digits only (no sign, no spaces, no exponent, no
// fraction), at most 2^128 - 1. Leading zeros are accepted.
Result<Amount> parse_amount(std::string_view decimal);
std::string amount_to_string(Amount a);
// 32 hex digits, big-endian (the legacy send block's JSON balance).
Result<Amount> parse_amount_hex(std::string_view hex32);
std::string amount_to_hex(Amount a);
std::array<uint8_t, 16> amount_to_bytes(Amount a);  // big-endian, as hashed and sent
Amount amount_from_bytes(const uint8_t* be16);

}  // namespace chorus::nano
