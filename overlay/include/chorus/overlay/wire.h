// Big-endian writer and bounds-checked reader for the wire formats.
//
// The reader never throws and never reads past its input: every getter
// returns false once the input is exhausted, and `ok()` stays false after.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "chorus/base/bytes.h"

namespace chorus::overlay {

class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put_be(v, 2); }
  void u32(uint32_t v) { put_be(v, 4); }
  void u64(uint64_t v) { put_be(v, 8); }
  void bytes(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  template <size_t N>
  void array(const std::array<uint8_t, N>& a) {
    bytes(ByteView(a.data(), N));
  }

 private:
  void put_be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes& out_;
};

class ByteReader {
 public:
  explicit ByteReader(ByteView in) : in_(in) {}

  bool u8(uint8_t& v) { return get_be(v, 1); }
  bool u16(uint16_t& v) { return get_be(v, 2); }
  bool u32(uint32_t& v) { return get_be(v, 4); }
  bool u64(uint64_t& v) { return get_be(v, 8); }
  template <size_t N>
  bool array(std::array<uint8_t, N>& a) {
    if (!take(N)) return false;
    std::memcpy(a.data(), in_.data() + pos_ - N, N);
    return true;
  }
  bool bytes(size_t n, ByteView& out) {
    if (!take(n)) return false;
    out = in_.subspan(pos_ - n, n);
    return true;
  }
  // Everything not read yet.
  ByteView rest() {
    ByteView r = in_.subspan(pos_);
    pos_ = in_.size();
    return r;
  }
  size_t remaining() const { return in_.size() - pos_; }
  bool ok() const { return ok_; }

 private:
  bool take(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) return ok_ = false;
    pos_ += n;
    return true;
  }
  template <typename T>
  bool get_be(T& v, int n) {
    if (!take(static_cast<size_t>(n))) return false;
    uint64_t x = 0;
    for (int i = 0; i < n; ++i) x = (x << 8) | in_[pos_ - n + i];
    v = static_cast<T>(x);
    return true;
  }
  ByteView in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace chorus::overlay
