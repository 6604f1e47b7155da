// Deterministic test data for the compression tests: every byte comes from a
// fixed seed, so a failure names the same input on every run.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "chorus/base/bytes.h"

namespace chorus::compression::test {

inline constexpr uint64_t kSeed = 0xC0FFEE;

enum class Kind { kRandom, kText, kZeros };

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kRandom:
      return "random";
    case Kind::kText:
      return "text";
    case Kind::kZeros:
      return "zeros";
  }
  return "?";
}

inline Bytes random_bytes(size_t n, uint64_t seed = kSeed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return out;
}

// JSON-like lines of account records: compressible like real protocol text.
inline Bytes text_bytes(size_t n, uint64_t seed = kSeed) {
  static const char* kWords[] = {"account",   "balance", "representative", "previous", "link",
                                 "signature", "work",    "height",         "state",    "send",
                                 "receive",   "open",    "change",         "epoch",    "nano"};
  std::mt19937_64 rng(seed);
  std::string s;
  s.reserve(n + 128);
  while (s.size() < n) {
    s += "{\"";
    s += kWords[rng() % 15];
    s += "\": \"";
    s += kWords[rng() % 15];
    s += "_";
    s += std::to_string(rng() % 100000);
    s += "\", \"amount\": ";
    s += std::to_string(rng() % 1000000000);
    s += "}\n";
  }
  s.resize(n);
  return Bytes(s.begin(), s.end());
}

inline Bytes make_data(Kind kind, size_t n) {
  switch (kind) {
    case Kind::kRandom:
      return random_bytes(n);
    case Kind::kText:
      return text_bytes(n);
    case Kind::kZeros:
      return Bytes(n, 0);
  }
  return {};
}

}  // namespace chorus::compression::test
