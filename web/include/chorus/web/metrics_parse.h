// chorus::web::parse_metrics_text — reads what a /metrics endpoint serves
// (Prometheus text exposition 0.0.4) back into samples, for tools that watch
// a node (`chorus top`) and tests. Comments (HELP, TYPE) are skipped; the
// samples come out in the order written.
//
//   auto samples = parse_metrics_text(body);
//   if (!samples.ok()) ...;                 // kMalformed "line 7: ..." or kLimit
//   for (const MetricSample& s : *samples) use(s.name, s.labels, s.value);
//
// The text comes from another process, maybe another machine: every bound is
// checked (bytes, samples, labels per sample) and a bad line is an error
// that names it, never a crash.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/web/metrics.h"

namespace chorus::web {

struct MetricSample {
  std::string name;     // as written: a histogram's x_bucket, x_sum, x_count
  MetricLabels labels;  // in the order written, values unescaped
  double value = 0;
  // The label's value, or "" when the sample has no such label.
  std::string_view label(std::string_view label_name) const;
};

struct MetricsParseLimits {
  size_t max_bytes = 16 << 20;
  size_t max_samples = 200'000;
  size_t max_labels = 32;  // per sample
};

// kMalformed (with the line number) for a line that is not a sample or a
// comment; kLimit when a bound is passed.
Result<std::vector<MetricSample>> parse_metrics_text(std::string_view text,
                                                     const MetricsParseLimits& limits = {});

}  // namespace chorus::web
