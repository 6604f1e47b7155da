// Loads spec/vectors/*.json for the unit tests, plus hex helpers.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "chorus/base/bytes.h"

namespace chorus::overlay::testing {

// The parsed vector file; loaded once per test binary.
inline const nlohmann::json& vectors() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(CHORUS_SPEC_DIR) + "/vectors/overlay.json");
    if (!in) ADD_FAILURE() << "cannot open " << CHORUS_SPEC_DIR << "/vectors/overlay.json";
    return in ? nlohmann::json::parse(in) : nlohmann::json::object();
  }();
  return j;
}

// spec/vectors/compression.json.
inline const nlohmann::json& compression_vectors() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(CHORUS_SPEC_DIR) + "/vectors/compression.json");
    if (!in) ADD_FAILURE() << "cannot open " << CHORUS_SPEC_DIR << "/vectors/compression.json";
    return in ? nlohmann::json::parse(in) : nlohmann::json::object();
  }();
  return j;
}

inline Bytes hex_bytes(const nlohmann::json& v) {
  auto b = from_hex(v.get<std::string>());
  if (!b) ADD_FAILURE() << "not hex: " << v;
  return b ? *b : Bytes{};
}

template <size_t N>
std::array<uint8_t, N> hex_array(const nlohmann::json& v) {
  Bytes b = hex_bytes(v);
  std::array<uint8_t, N> a{};
  if (b.size() != N) {
    ADD_FAILURE() << "expected " << N << " bytes: " << v;
    return a;
  }
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return to_hex(ByteView(a.data(), N));
}
inline std::string hex(ByteView b) {
  return to_hex(b);
}

}  // namespace chorus::overlay::testing
