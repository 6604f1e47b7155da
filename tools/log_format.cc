#include "log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

namespace chorus::tools {
namespace {

class JsonLineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since_epoch);
    const auto micros = duration_cast<microseconds>(since_epoch - secs).count();
    const std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm utc{};
    gmtime_r(&t, &utc);
    char stamp[40];
    const size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(stamp + n, sizeof stamp - n, ".%06lldZ", static_cast<long long>(micros));
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::ordered_json j;  // time first, as a reader expects
    j["time"] = stamp;
    j["level"] = std::string(level.data(), level.size());
    j["component"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    // Messages are ours, but may quote what a peer sent: replace invalid
    // UTF-8 instead of throwing.
    j["event"] = std::string(msg.payload.data(), msg.payload.size());
    const std::string line =
        j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

}  // namespace

Result<void> set_log_format(const std::string& format) {
  if (format == "text") return {};
  if (format != "json") {
    return invalid_argument("log format must be text or json, not '" + format + "'");
  }
  spdlog::set_formatter(std::make_unique<JsonLineFormatter>());
  return {};
}

}  // namespace chorus::tools
