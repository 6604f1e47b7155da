// Compression methods and their wire numbers.
//
// The number of a Method is its "setting" on the wire: the value carried by
// SET_CONNECTION_OPT `Compression` / `Preferred Compression` and by the codec
// mark of a frame (spec/compression.md). The numbers never change.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace chorus::compression {

enum class Method : uint8_t {
  kBz2 = 0,     // one bzip2 stream (libbz2), as `bzip2` writes
  kGzip = 1,    // one RFC 1952 gzip member (zlib), as `gzip` writes
  kLzma = 2,    // one .xz stream, LZMA2, CRC64 check (liblzma), as `xz` writes
  kZlib = 3,    // one RFC 1950 zlib stream (zlib)
  kSnappy = 4,  // one raw snappy block (snappy's format_description.txt)
};

// Every method, in wire order.
inline constexpr std::array<Method, 5> kAllMethods = {Method::kBz2, Method::kGzip, Method::kLzma,
                                                      Method::kZlib, Method::kSnappy};

// "bz2", "gzip", "lzma", "zlib", "snappy": the names used by the CLI, config
// and error messages.
const char* method_name(Method method);

// The inverse of method_name (exact, lower case); nullopt for anything else.
std::optional<Method> parse_method(std::string_view name);

// The Method with wire number `setting`; nullopt for unknown settings (a peer
// offering one gets a NACK, not a disconnect).
std::optional<Method> method_from_setting(uint8_t setting);

inline uint8_t setting_of(Method method) {
  return static_cast<uint8_t>(method);
}

}  // namespace chorus::compression
