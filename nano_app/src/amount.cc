#include <algorithm>

#include "chorus/nano/types.h"

namespace chorus::nano {

std::string to_hex_upper(ByteView b) {
  std::string s = to_hex(b);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](char c) { return c >= 'a' && c <= 'f' ? static_cast<char>(c - 32) : c; });
  return s;
}

Result<uint64_t> parse_hex_u64(std::string_view s, std::string_view what) {
  auto b = parse_hex_fixed<8>(s, what);
  if (!b.ok()) return b.error();
  uint64_t v = 0;
  for (uint8_t c : *b) v = v << 8 | c;
  return v;
}

std::string u64_to_hex(uint64_t v) {
  std::array<uint8_t, 8> b;
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<uint8_t>(v);
  return to_hex(b);
}

Result<Amount> parse_amount(std::string_view s) {
  if (s.empty()) return invalid_argument("amount: empty");
  Amount v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return invalid_argument("amount: not a decimal integer");
    const unsigned d = static_cast<unsigned>(c - '0');
    if (v > (kAmountMax - d) / 10) return invalid_argument("amount: above 2^128 - 1");
    v = v * 10 + d;
  }
  return v;
}

std::string amount_to_string(Amount a) {
  if (a == 0) return "0";
  std::string s;
  while (a != 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(a % 10)));
    a /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

Result<Amount> parse_amount_hex(std::string_view hex32) {
  auto b = parse_hex_fixed<16>(hex32, "balance");
  if (!b.ok()) return b.error();
  return amount_from_bytes(b->data());
}

std::string amount_to_hex(Amount a) {
  return to_hex_upper(amount_to_bytes(a));
}

std::array<uint8_t, 16> amount_to_bytes(Amount a) {
  std::array<uint8_t, 16> out;
  for (int i = 15; i >= 0; --i, a >>= 8) out[i] = static_cast<uint8_t>(a);
  return out;
}

Amount amount_from_bytes(const uint8_t* be16) {
  Amount v = 0;
  for (int i = 0; i < 16; ++i) v = v << 8 | be16[i];
  return v;
}

}  // namespace chorus::nano
