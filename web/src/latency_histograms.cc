#include "chorus/web/latency_histograms.h"

#include <algorithm>
#include <cmath>

namespace chorus::web {

// Counts per bucket (not cumulative: MetricsText::histogram sums them) and
// the sum in nanoseconds, so every update is one relaxed fetch_add. A scrape
// may see a count without its sum for a moment; Prometheus tolerates that.
struct LatencyHistograms::Series {
  explicit Series(size_t buckets) : counts(buckets) {}
  std::vector<std::atomic<uint64_t>> counts;
  std::atomic<uint64_t> sum_ns{0};
  std::atomic<uint64_t> total{0};
};

std::vector<double> LatencyHistograms::default_bounds_s() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3,
          50e-3, 100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0};
}

LatencyHistograms::LatencyHistograms(std::vector<std::string> keys, std::string other,
                                     std::vector<double> bounds_s)
    : keys_(std::move(keys)), other_(std::move(other)), bounds_s_(std::move(bounds_s)) {
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  for (size_t i = 0; i <= keys_.size(); ++i)
    series_.push_back(std::make_unique<Series>(bounds_s_.size() + 1));
}

LatencyHistograms::~LatencyHistograms() = default;

LatencyHistograms::Series& LatencyHistograms::series_for(std::string_view key) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), key,
                             [](const std::string& a, std::string_view b) { return a < b; });
  const size_t i =
      (it != keys_.end() && *it == key) ? static_cast<size_t>(it - keys_.begin()) : keys_.size();
  return *series_[i];
}

void LatencyHistograms::record(std::string_view key, double seconds) {
  if (!(seconds > 0)) seconds = 0;  // NaN too
  Series& s = series_for(key);
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_s_.begin(), bounds_s_.end(), seconds) - bounds_s_.begin());
  s.counts[bucket].fetch_add(1, std::memory_order_relaxed);
  const double ns = std::min(seconds * 1e9, 1e18);
  s.sum_ns.fetch_add(static_cast<uint64_t>(std::llround(ns)), std::memory_order_relaxed);
  s.total.fetch_add(1, std::memory_order_relaxed);
}

uint64_t LatencyHistograms::count(std::string_view key) const {
  return series_for(key).total.load(std::memory_order_relaxed);
}

void LatencyHistograms::append(MetricsText& m, std::string_view name, std::string_view help,
                               std::string_view label) const {
  for (size_t i = 0; i <= keys_.size(); ++i) {
    const Series& s = *series_[i];
    if (s.total.load(std::memory_order_relaxed) == 0) continue;
    std::vector<uint64_t> counts(s.counts.size());
    for (size_t b = 0; b < counts.size(); ++b)
      counts[b] = s.counts[b].load(std::memory_order_relaxed);
    const double sum = static_cast<double>(s.sum_ns.load(std::memory_order_relaxed)) / 1e9;
    m.histogram(name, help, bounds_s_, counts, sum,
                {{std::string(label), i < keys_.size() ? keys_[i] : other_}});
  }
}

}  // namespace chorus::web
