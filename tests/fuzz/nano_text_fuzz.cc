// libFuzzer: the NANO text forms that JSON blocks and the CLI carry. The
// first byte picks the parser (mod 4), the rest is the text; what parses
// must print back to the canonical text that parses to the same value:
//   0 → decode_account ("nano_…" / "xrb_…"); the nano_ form is canonical;
//   1 → parse_amount (decimal raw); canonical when no leading zeros;
//   2 → parse_amount_hex (32 hex digits);
//   3 → parse_hex_u64 (16 hex digits, work and difficulty).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/types.h"
#include "fuzz_util.h"

namespace {

using namespace chorus::nano;

bool lower_hex_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    char d = b[i];
    if (d >= 'A' && d <= 'F') d = static_cast<char>(d - 'A' + 'a');
    if (c != d) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool crypto_ok = init_crypto();
  FUZZ_CHECK(crypto_ok);
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto key = decode_account(text);
      if (!key.ok()) break;
      const std::string printed = encode_account(*key);
      if (text.rfind("nano_", 0) == 0) FUZZ_CHECK(printed == text);
      if (text.rfind("xrb_", 0) == 0) FUZZ_CHECK(printed.substr(5) == text.substr(4));
      auto back = decode_account(printed);
      FUZZ_CHECK(back.ok() && *back == *key);
      break;
    }
    case 1: {
      auto a = parse_amount(text);
      if (!a.ok()) break;
      const std::string printed = amount_to_string(*a);
      const size_t first = text.find_first_not_of('0');
      FUZZ_CHECK(printed == (first == std::string::npos ? "0" : text.substr(first)));
      auto back = parse_amount(printed);
      FUZZ_CHECK(back.ok() && *back == *a);
      break;
    }
    case 2: {
      auto a = parse_amount_hex(text);
      if (!a.ok()) break;
      FUZZ_CHECK(lower_hex_equal(amount_to_hex(*a), text));
      auto back = parse_amount_hex(amount_to_hex(*a));
      FUZZ_CHECK(back.ok() && *back == *a);
      break;
    }
    default: {
      auto v = parse_hex_u64(text, "value");
      if (!v.ok()) break;
      FUZZ_CHECK(lower_hex_equal(u64_to_hex(*v), text));
      auto back = parse_hex_u64(u64_to_hex(*v), "value");
      FUZZ_CHECK(back.ok() && *back == *v);
      break;
    }
  }
  return 0;
}
