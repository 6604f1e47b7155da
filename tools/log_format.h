// `--log-format text|json` for the long-running commands. json: one object
// a line on stderr, with stable field names a log pipeline can index:
//   {"time":"2026-12-06T23:59:01.123456Z","level":"info","component":"node",
//    "event":"link to 127.0.0.1:7401 up"}
// time is UTC with microseconds; level is spdlog's name (trace .. critical);
// component is the logger's name (the node's name, "dht", ...); event is the
// message. Applies to every logger, including those made later.
#pragma once

#include <string>

#include "chorus/base/result.h"

namespace chorus::tools {

// kInvalidArgument for a format other than "text" or "json".
Result<void> set_log_format(const std::string& format);

}  // namespace chorus::tools
