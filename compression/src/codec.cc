// Method names and the codec registry.
#include "chorus/compression/codec.h"

#include "codec_impl.h"

namespace chorus::compression {

const char* method_name(Method method) {
  switch (method) {
    case Method::kBz2:
      return "bz2";
    case Method::kGzip:
      return "gzip";
    case Method::kLzma:
      return "lzma";
    case Method::kZlib:
      return "zlib";
    case Method::kSnappy:
      return "snappy";
  }
  return "unknown";
}

std::optional<Method> parse_method(std::string_view name) {
  for (Method m : kAllMethods) {
    if (name == method_name(m)) return m;
  }
  return std::nullopt;
}

std::optional<Method> method_from_setting(uint8_t setting) {
  for (Method m : kAllMethods) {
    if (setting == setting_of(m)) return m;
  }
  return std::nullopt;
}

Result<std::unique_ptr<Codec>> make_codec(Method method, int level) {
  auto bad_level = [&](const char* range) -> Error {
    return invalid_argument(std::string(method_name(method)) + ": level " + std::to_string(level) +
                            " is not " + range);
  };
  switch (method) {
    case Method::kBz2:
      if (level == kDefaultLevel) level = 9;
      if (level < 1 || level > 9) return bad_level("1..9");
      return detail::make_bz2_codec(level);
    case Method::kGzip:
    case Method::kZlib:
      if (level == kDefaultLevel) level = 6;
      if (level < 0 || level > 9) return bad_level("0..9");
      return detail::make_deflate_codec(method, level);
    case Method::kLzma:
      if (level == kDefaultLevel) level = 6;
      if (level < 0 || level > 9) return bad_level("0..9");
      return detail::make_lzma_codec(static_cast<uint32_t>(level));
    case Method::kSnappy:
      if (level != kDefaultLevel && level != 0) return bad_level("0 (snappy has no levels)");
      return detail::make_snappy_codec();
  }
  return invalid_argument("unknown compression method");
}

const Codec& codec_for(Method method) {
  // Built once, on first use (thread-safe static init), never destroyed so
  // that codecs stay usable from other static destructors.
  static const auto* const kCodecs = [] {
    auto* codecs = new std::array<std::unique_ptr<Codec>, kAllMethods.size()>();
    for (Method m : kAllMethods) (*codecs)[setting_of(m)] = std::move(make_codec(m).value());
    return codecs;
  }();
  return *(*kCodecs)[setting_of(method)];
}

}  // namespace chorus::compression
