// Command-line forms shared by the commands that configure an overlay.
#pragma once

#include <string>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/compression/method.h"

namespace chorus::tools {

// "snappy,zlib" (order = preference), "none" (compression off) or
// "default" (the overlay's default list). kInvalidArgument names the bad item.
Result<std::vector<compression::Method>> parse_compression_list(const std::string& text);
// "snappy,zlib", or "none" for an empty list.
std::string compression_list_text(const std::vector<compression::Method>& methods);

}  // namespace chorus::tools
