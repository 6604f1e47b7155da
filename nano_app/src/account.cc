#include "chorus/nano/account.h"

#include <sodium.h>

namespace chorus::nano {
namespace {

constexpr char kAlphabet[] = "13456789abcdefghijkmnopqrstuwxyz";
constexpr size_t kKeyChars = 52;
constexpr size_t kChecksumChars = 8;

int char_value(char c) {
  for (int i = 0; i < 32; ++i)
    if (kAlphabet[i] == c) return i;
  return -1;
}

std::array<uint8_t, 5> checksum(const PublicKey& key) {
  std::array<uint8_t, 5> h;
  crypto_generichash(h.data(), h.size(), key.data(), key.size(), nullptr, 0);
  return {h[4], h[3], h[2], h[1], h[0]};
}

// Bit i (0 = most significant) of the 260-bit value 0000 ‖ key.
int key_bit(const PublicKey& key, size_t i) {
  if (i < 4) return 0;
  i -= 4;
  return key[i / 8] >> (7 - i % 8) & 1;
}

}  // namespace

std::string encode_account(const PublicKey& key) {
  std::string out = "nano_";
  for (size_t c = 0; c < kKeyChars; ++c) {
    int v = 0;
    for (size_t b = 0; b < 5; ++b) v = v << 1 | key_bit(key, c * 5 + b);
    out.push_back(kAlphabet[v]);
  }
  const auto sum = checksum(key);
  uint64_t bits = 0;
  for (uint8_t b : sum) bits = bits << 8 | b;
  for (int c = kChecksumChars - 1; c >= 0; --c) out.push_back(kAlphabet[bits >> (5 * c) & 31]);
  return out;
}

Result<PublicKey> decode_account(std::string_view s) {
  std::string_view body;
  if (s.substr(0, 5) == "nano_") {
    body = s.substr(5);
  } else if (s.substr(0, 4) == "xrb_") {
    body = s.substr(4);
  } else {
    return invalid_argument("account: want a nano_ or xrb_ prefix");
  }
  if (body.size() != kKeyChars + kChecksumChars)
    return invalid_argument("account: want 60 characters after the prefix, got " +
                            std::to_string(body.size()));
  PublicKey key{};
  size_t bit = 0;
  for (size_t c = 0; c < kKeyChars; ++c) {
    const int v = char_value(body[c]);
    if (v < 0) return invalid_argument("account: character outside the alphabet");
    for (int b = 4; b >= 0; --b, ++bit) {
      const int x = v >> b & 1;
      if (bit < 4) {
        if (x != 0) return invalid_argument("account: padding bits are not zero");
        continue;
      }
      const size_t k = bit - 4;
      key[k / 8] = static_cast<uint8_t>(key[k / 8] | x << (7 - k % 8));
    }
  }
  uint64_t bits = 0;
  for (size_t c = kKeyChars; c < body.size(); ++c) {
    const int v = char_value(body[c]);
    if (v < 0) return invalid_argument("account: character outside the alphabet");
    bits = bits << 5 | static_cast<uint64_t>(v);
  }
  const auto want = checksum(key);
  uint64_t want_bits = 0;
  for (uint8_t b : want) want_bits = want_bits << 8 | b;
  if (bits != want_bits) return invalid_argument("account: checksum mismatch");
  return key;
}

}  // namespace chorus::nano
