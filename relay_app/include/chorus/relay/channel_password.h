// Channel passwords (spec/relay.md, "Passwords"). A relay keeps only
// PBKDF2-HMAC-SHA-256 of a channel's password, salted with the channel's
// name, 32768 iterations (OpenSSL's PKCS5_PBKDF2_HMAC), and compares in
// constant time. Only that hash travels between nodes (in the DHT and in
// reserve-channel messages), as lower-case hex.
//
// A channel opened without a password keeps the hash of the empty one, so
// one rule covers both: a subscriber's password (empty when none is given)
// must hash to the channel's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chorus::relay {

inline constexpr int kPasswordIterations = 32768;
using PasswordHash = std::array<uint8_t, 32>;

// `iterations` other than kPasswordIterations only for tests and fuzzing:
// every node of a network must hash alike.
PasswordHash hash_password(std::string_view channel, std::string_view password,
                           int iterations = kPasswordIterations);
// Constant time in the hash's bytes.
bool password_matches(const PasswordHash& stored, std::string_view channel,
                      std::string_view password, int iterations = kPasswordIterations);

// Lower-case hex, and back (nullopt unless 64 hex digits).
std::string hash_to_hex(const PasswordHash& hash);
std::optional<PasswordHash> hash_from_hex(std::string_view hex);

}  // namespace chorus::relay
