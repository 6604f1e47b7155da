// NANO account strings: "nano_" + 60 base32 characters (spec/nano.md §Accounts).
//
// The 256-bit public key, preceded by 4 zero bits, is written as 52
// characters of the alphabet 13456789abcdefghijkmnopqrstuwxyz (5 bits each,
// most significant first); 8 more characters carry the checksum, the 5-byte
// BLAKE2b of the key with its bytes reversed.
#pragma once

#include <string>
#include <string_view>

#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// "nano_…" (65 characters). Never fails.
std::string encode_account(const PublicKey& key);

// Reads "nano_…" and the legacy "xrb_…" (lower case only, as the node
// prints them). kInvalidArgument on a wrong prefix or length, a character
// outside the alphabet, non-zero padding bits, or a checksum mismatch.
Result<PublicKey> decode_account(std::string_view account);

}  // namespace chorus::nano
