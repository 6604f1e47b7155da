// chorus::web::LatencyHistograms — how long requests took, one histogram per
// value of one label (an RPC's action, a command's name), recorded from any
// thread and written as Prometheus text at scrape time.
//
//   LatencyHistograms rpc({"account_info", "block_count", "process"});
//   rpc.record("block_count", 0.0004);             // any thread, no lock
//   rpc.record("made_up_action", 0.0001);          // counted as "other"
//   rpc.append(m, "myapp_rpc_seconds", "RPC latency.", "action");
//
// The label values are fixed when it is made: a value nobody listed counts
// under `other`, so what clients send cannot grow the series without bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/web/metrics.h"

namespace chorus::web {

class LatencyHistograms {
 public:
  // 50 us, 100 us, 250 us, ... 10 s: from a lookup in memory to a
  // work_generate.
  static std::vector<double> default_bounds_s();

  // `keys`: the label values kept apart (duplicates are merged). `bounds_s`:
  // the buckets' upper bounds in seconds, increasing.
  explicit LatencyHistograms(std::vector<std::string> keys, std::string other = "other",
                             std::vector<double> bounds_s = default_bounds_s());
  ~LatencyHistograms();
  LatencyHistograms(const LatencyHistograms&) = delete;
  LatencyHistograms& operator=(const LatencyHistograms&) = delete;

  // One observation of `seconds` (negative counts as 0) under `key`.
  void record(std::string_view key, double seconds);

  // One histogram family `name`, a series per label value that has been
  // observed at least once (in the order of the sorted keys, `other` last).
  void append(MetricsText& m, std::string_view name, std::string_view help,
              std::string_view label) const;

  // Observations so far under `key` (`other` for an unlisted one).
  uint64_t count(std::string_view key) const;

 private:
  struct Series;
  Series& series_for(std::string_view key) const;

  std::vector<std::string> keys_;  // sorted, unique; series_[keys_.size()] is `other`
  std::string other_;
  std::vector<double> bounds_s_;
  std::vector<std::unique_ptr<Series>> series_;
};

}  // namespace chorus::web
