// chorus::relay::HostStats — the machine a relay node runs on (host-stats in
// spec/relay.md): load averages, memory, disks, and network traffic in
// 15-second buckets, the last four kept. Read from /proc and statvfs.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace chorus::relay {

class HostStats {
 public:
  static constexpr int64_t kBucketMs = 15'000;
  static constexpr size_t kBuckets = 4;

  // `disks`: mount points to report (each statvfs'd when asked).
  explicit HostStats(std::vector<std::string> disks = {"/"});

  // Every kBucketMs (the driver's timer): closes the current bucket with
  // the interfaces' counters since the last sample.
  void sample(int64_t now_ms);
  // {"load":{"1m","5m","15m"},"memory":{"total_bytes","available_bytes"},
  //  "disks":[{"path","total_bytes","free_bytes"}],
  //  "network":[{"end_ms","rx_bytes","tx_bytes","rx_packets","tx_packets"}, ...]}
  nlohmann::json to_json() const;

 private:
  struct Counters {
    uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
  };
  struct Bucket {
    int64_t end_ms = 0;
    Counters delta;
  };
  static bool read_network(Counters& out);

  std::vector<std::string> disks_;
  bool have_last_ = false;
  Counters last_;
  std::array<Bucket, kBuckets> buckets_{};
  size_t filled_ = 0;
  size_t next_ = 0;
};

}  // namespace chorus::relay
