// Helpers shared by the libFuzzer targets in tests/fuzz.
//
// FUZZ_CHECK is the fuzzers' assert: it stays on in every build type and
// names the broken property before aborting, so a crash report says what
// went wrong and not only where.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "chorus/base/bytes.h"

#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace chorus::fuzz {

// Reads a fuzz input front to back; every getter is total (zeros, empty
// views once the input runs out), so a target never needs to bounds-check.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  explicit Input(ByteView v) : Input(v.data(), v.size()) {}

  bool empty() const { return at_ >= size_; }
  size_t remaining() const { return size_ - at_; }
  uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t u16() {
    const uint16_t hi = u8();
    return static_cast<uint16_t>(hi << 8 | u8());
  }
  // Up to `n` bytes (fewer at the end of the input).
  ByteView take(size_t n) {
    n = n < remaining() ? n : remaining();
    ByteView v(data_ + at_, n);
    at_ += n;
    return v;
  }
  // A chunk framed as u16 length (big-endian) + bytes.
  ByteView chunk() { return take(u16()); }
  ByteView rest() { return take(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

inline std::array<uint8_t, 32> filled(uint8_t b) {
  std::array<uint8_t, 32> a{};
  a.fill(b);
  return a;
}

}  // namespace chorus::fuzz
