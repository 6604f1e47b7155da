#include "chorus/relay/host_stats.h"

#include <sys/statvfs.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace chorus::relay {

HostStats::HostStats(std::vector<std::string> disks) : disks_(std::move(disks)) {}

bool HostStats::read_network(Counters& out) {
  std::ifstream in("/proc/net/dev");
  if (!in) return false;
  std::string line;
  out = {};
  int n = 0;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || ++n > 4096) continue;  // the two header lines
    std::istringstream fields(line.substr(colon + 1));
    uint64_t v[16] = {};
    for (auto& x : v) fields >> x;
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // transmit: bytes packets ...
    out.rx_bytes += v[0];
    out.rx_packets += v[1];
    out.tx_bytes += v[8];
    out.tx_packets += v[9];
  }
  return true;
}

void HostStats::sample(int64_t now_ms) {
  Counters now;
  if (!read_network(now)) return;
  if (have_last_) {
    Bucket& b = buckets_[next_];
    b.end_ms = now_ms;
    b.delta.rx_bytes = now.rx_bytes - last_.rx_bytes;
    b.delta.tx_bytes = now.tx_bytes - last_.tx_bytes;
    b.delta.rx_packets = now.rx_packets - last_.rx_packets;
    b.delta.tx_packets = now.tx_packets - last_.tx_packets;
    next_ = (next_ + 1) % kBuckets;
    if (filled_ < kBuckets) ++filled_;
  }
  last_ = now;
  have_last_ = true;
}

nlohmann::json HostStats::to_json() const {
  nlohmann::json j;
  double load[3] = {0, 0, 0};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
      load[0] = load[1] = load[2] = 0;
    std::fclose(f);
  }
  j["load"] = {{"1m", load[0]}, {"5m", load[1]}, {"15m", load[2]}};
  uint64_t total_kb = 0, available_kb = 0;
  std::ifstream mem("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (mem >> key >> value >> unit) {
    if (key == "MemTotal:") total_kb = value;
    if (key == "MemAvailable:") available_kb = value;
  }
  j["memory"] = {{"total_bytes", total_kb * 1024}, {"available_bytes", available_kb * 1024}};
  nlohmann::json disks = nlohmann::json::array();
  for (const std::string& path : disks_) {
    struct statvfs s {};
    if (::statvfs(path.c_str(), &s) != 0) continue;
    disks.push_back({{"path", path},
                     {"total_bytes", static_cast<uint64_t>(s.f_blocks) * s.f_frsize},
                     {"free_bytes", static_cast<uint64_t>(s.f_bavail) * s.f_frsize}});
  }
  j["disks"] = std::move(disks);
  nlohmann::json net = nlohmann::json::array();
  for (size_t i = 0; i < filled_; ++i) {
    // Oldest first.
    const Bucket& b = buckets_[(next_ + kBuckets - filled_ + i) % kBuckets];
    net.push_back({{"end_ms", b.end_ms},
                   {"rx_bytes", b.delta.rx_bytes},
                   {"tx_bytes", b.delta.tx_bytes},
                   {"rx_packets", b.delta.rx_packets},
                   {"tx_packets", b.delta.tx_packets}});
  }
  j["network"] = std::move(net);
  j["bucket_ms"] = kBucketMs;
  return j;
}

}  // namespace chorus::relay
