#include "chorus/metrics/log_format.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

namespace chorus::metrics {
namespace {

constexpr std::string_view kPeer = " peer=";
constexpr std::string_view kReason = " reason=";

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
    std::string line =
        json_log_line(stamp, std::string_view(level.data(), level.size()),
                      std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

}  // namespace

std::string json_log_line(std::string_view time, std::string_view level, std::string_view component,
                          std::string_view message) {
  std::string_view rest = message;
  nlohmann::ordered_json peer, reason;  // null unless the message has them
  if (auto r = rest.find(kReason); r != std::string_view::npos) {
    reason = std::string(rest.substr(r + kReason.size()));
    rest = rest.substr(0, r);
  }
  std::string event(rest);
  if (auto p = rest.find(kPeer); p != std::string_view::npos) {
    const std::string_view word = rest.substr(p + kPeer.size());
    const size_t end = word.find(' ');
    peer = std::string(word.substr(0, end));
    // What follows the peer's word stays part of the event.
    event = std::string(rest.substr(0, p));
    if (end != std::string_view::npos) event += word.substr(end);
  }
  nlohmann::ordered_json j;  // time first, as a reader expects
  j["time"] = std::string(time);
  j["level"] = std::string(level);
  j["component"] = std::string(component);
  j["peer"] = std::move(peer);
  j["event"] = std::move(event);
  j["reason"] = std::move(reason);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<void> set_log_format(const std::string& format) {
  if (format == "text") return {};
  if (format != "json") {
    return invalid_argument("log format must be text or json, not '" + format + "'");
  }
  spdlog::set_formatter(std::make_unique<JsonLineFormatter>());
  return {};
}

}  // namespace chorus::metrics
