// chorus::relay::TrafficStats — packets and bytes a relay node carried over
// the last 1, 15 and 60 seconds, overall and per channel (node-stats in
// spec/relay.md). Sixty one-second buckets per series and nothing older; a
// channel idle for a minute drops out.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace chorus::relay {

class TrafficStats {
 public:
  struct Window {
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };
  struct Summary {
    Window last_1s, last_15s, last_60s;
  };

  void record(std::string_view channel, size_t bytes, int64_t now_ms);
  Summary overall(int64_t now_ms) const;
  Summary channel(std::string_view name, int64_t now_ms) const;
  // {"overall":{"1s":{"packets","bytes","bytes_per_s"},"15s":...,"60s":...},
  //  "channels":{"<name>":{...}}}
  nlohmann::json to_json(int64_t now_ms) const;
  size_t channels_tracked() const { return channels_.size(); }

 private:
  struct Series {
    std::array<Window, 60> buckets{};
    int64_t last_second = -1;  // the second of the newest bucket
    void add(size_t bytes, int64_t second);
    Summary sum(int64_t second) const;
  };
  Series overall_;
  std::map<std::string, Series, std::less<>> channels_;
};

}  // namespace chorus::relay
