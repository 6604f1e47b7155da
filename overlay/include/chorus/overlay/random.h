// Randomness for a core. Seeded (deterministic, for tests and the simulator)
// or from the OS (production). Key material in production comes from
// libsodium's randombytes; a seeded Random makes it reproducible instead.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>

#include "chorus/base/bytes.h"

namespace chorus::overlay {

// The stream is ChaCha20's keystream (libsodium) under a key from the seed
// or the OS, read a block at a time: 120 bytes of state, where a Mersenne
// twister holds 2.5 KB, which counts when one process simulates a million
// nodes.
class Random {
 public:
  // nullopt: OS randomness (libsodium). A value: a reproducible stream.
  explicit Random(std::optional<uint64_t> seed = std::nullopt);

  uint64_t next_u64();
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(*this); }
  // Uniform in [0, 1).
  double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(*this); }
  // Fills with key-grade bytes (OS) or reproducible bytes (seeded).
  void fill(uint8_t* out, size_t n);

  // A uniform random bit generator, for the standard distributions.
  using result_type = uint64_t;
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return std::numeric_limits<uint64_t>::max(); }
  uint64_t operator()() { return next_u64(); }

 private:
  void refill();

  bool seeded_;
  uint8_t used_ = 64;  // bytes of block_ already handed out
  uint64_t counter_ = 0;
  std::array<uint8_t, 32> key_{};
  std::array<uint8_t, 64> block_{};
};

}  // namespace chorus::overlay
