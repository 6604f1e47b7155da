#include "chorus/relay/traffic_stats.h"

namespace chorus::relay {

namespace {
// The bucket of a second. The first record clears the 59 seconds before it,
// which are negative in the first minute of the clock: % alone would index
// before the array.
size_t slot(int64_t second) {
  return static_cast<size_t>((second % 60 + 60) % 60);
}
nlohmann::json window_json(const TrafficStats::Window& w, int seconds) {
  return {{"packets", w.packets},
          {"bytes", w.bytes},
          {"bytes_per_s", static_cast<double>(w.bytes) / seconds},
          {"packets_per_s", static_cast<double>(w.packets) / seconds}};
}
nlohmann::json summary_json(const TrafficStats::Summary& s) {
  return {{"1s", window_json(s.last_1s, 1)},
          {"15s", window_json(s.last_15s, 15)},
          {"60s", window_json(s.last_60s, 60)}};
}
}  // namespace

void TrafficStats::Series::add(size_t bytes, int64_t second) {
  if (second > last_second) {
    // Clear the buckets of the seconds that passed with nothing.
    const int64_t gap = last_second < 0 ? 60 : std::min<int64_t>(second - last_second, 60);
    for (int64_t s = second - gap + 1; s <= second; ++s) buckets[slot(s)] = {};
    last_second = second;
  }
  if (second <= last_second - 60) return;  // older than the window
  Window& w = buckets[slot(second)];
  ++w.packets;
  w.bytes += bytes;
}

TrafficStats::Summary TrafficStats::Series::sum(int64_t second) const {
  Summary out;
  for (int64_t age = 0; age < 60; ++age) {
    const int64_t s = second - age;
    if (s < 0 || s > last_second || s <= last_second - 60) continue;
    const Window& w = buckets[slot(s)];
    auto add = [&](Window& into) {
      into.packets += w.packets;
      into.bytes += w.bytes;
    };
    if (age < 1) add(out.last_1s);
    if (age < 15) add(out.last_15s);
    add(out.last_60s);
  }
  return out;
}

void TrafficStats::record(std::string_view channel, size_t bytes, int64_t now_ms) {
  const int64_t second = now_ms / 1000;
  overall_.add(bytes, second);
  if (channel.empty()) return;
  auto it = channels_.find(channel);
  if (it == channels_.end()) {
    // Forget channels idle for a minute, so the map follows live traffic.
    for (auto c = channels_.begin(); c != channels_.end();)
      c = c->second.last_second <= second - 60 ? channels_.erase(c) : std::next(c);
    it = channels_.emplace(std::string(channel), Series{}).first;
  }
  it->second.add(bytes, second);
}

TrafficStats::Summary TrafficStats::overall(int64_t now_ms) const {
  return overall_.sum(now_ms / 1000);
}

TrafficStats::Summary TrafficStats::channel(std::string_view name, int64_t now_ms) const {
  auto it = channels_.find(name);
  return it == channels_.end() ? Summary{} : it->second.sum(now_ms / 1000);
}

nlohmann::json TrafficStats::to_json(int64_t now_ms) const {
  nlohmann::json channels = nlohmann::json::object();
  for (const auto& [name, series] : channels_) {
    const Summary s = series.sum(now_ms / 1000);
    if (s.last_60s.packets > 0) channels[name] = summary_json(s);
  }
  return {{"overall", summary_json(overall(now_ms))}, {"channels", std::move(channels)}};
}

}  // namespace chorus::relay
