// Randomness for a core. Seeded (deterministic, for tests and the simulator)
// or from the OS (production). Key material in production comes from
// libsodium's randombytes; a seeded Random makes it reproducible instead.
#pragma once

#include <cstdint>
#include <optional>
#include <random>

#include "chorus/base/bytes.h"

namespace chorus::overlay {

class Random {
 public:
  // nullopt: OS randomness (libsodium). A value: a reproducible stream.
  explicit Random(std::optional<uint64_t> seed = std::nullopt);

  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(engine_); }
  // Uniform in [0, 1).
  double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }
  // Fills with key-grade bytes (OS) or reproducible bytes (seeded).
  void fill(uint8_t* out, size_t n);

 private:
  bool seeded_;
  std::mt19937_64 engine_;
};

}  // namespace chorus::overlay
