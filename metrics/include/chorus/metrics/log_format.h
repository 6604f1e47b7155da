// `--log-format text|json` for the long-running programs. json: one object a
// line, with stable field names a log pipeline can index, always in this
// order:
//   {"time":"2026-12-06T23:59:01.123456Z","level":"info","component":"node",
//    "peer":"a1b2c3d4e5","event":"peer down","reason":"read: connection reset"}
// time is UTC with microseconds; level is spdlog's name (trace .. critical);
// component is the logger's name (the node's name, "dht", ...); event is the
// message. peer and reason are null unless the message carries them as the
// framework writes them (text logs read the same):
//   log->info("peer down peer={} reason={}", name, why);
// " peer=" is followed by one word; " reason=" runs to the end of the
// message, so put it last. Invalid UTF-8 (a message may quote what a peer
// sent) is replaced, never thrown on.
#pragma once

#include <string>
#include <string_view>

#include "chorus/base/result.h"

namespace chorus::metrics {

// Applies to every logger, including those made later. kInvalidArgument for
// a format other than "text" or "json".
Result<void> set_log_format(const std::string& format);

// One message as the json format writes it, without the newline (for tests
// and for programs that write logs themselves).
std::string json_log_line(std::string_view time, std::string_view level, std::string_view component,
                          std::string_view message);

}  // namespace chorus::metrics
