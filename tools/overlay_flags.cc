#include "overlay_flags.h"

#include "chorus/overlay/config.h"

namespace chorus::tools {

Result<std::vector<compression::Method>> parse_compression_list(const std::string& text) {
  if (text == "default") return overlay::OverlayConfig{}.compression;
  std::vector<compression::Method> out;
  if (text == "none" || text.empty()) return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto m = compression::parse_method(item);
    if (!m) {
      return invalid_argument("unknown compression method '" + item +
                              "' (bz2, gzip, lzma, zlib, snappy, none or default)");
    }
    for (auto seen : out)
      if (seen == *m) return invalid_argument("'" + item + "' listed twice");
    out.push_back(*m);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string compression_list_text(const std::vector<compression::Method>& methods) {
  if (methods.empty()) return "none";
  std::string out;
  for (auto m : methods) {
    if (!out.empty()) out += ",";
    out += compression::method_name(m);
  }
  return out;
}

}  // namespace chorus::tools
