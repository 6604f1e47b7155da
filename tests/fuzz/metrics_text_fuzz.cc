// libFuzzer: what a /metrics endpoint serves, read by `chorus top` from
// another process (web/metrics_parse.h). Any text parses or gives an error
// naming a line, never a crash; what parses respects the bounds and reads
// back the same when written out again.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chorus/web/metrics_parse.h"
#include "fuzz_util.h"

namespace {

std::string escaped(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string value_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::web;
  MetricsParseLimits limits;
  limits.max_samples = 1000;
  limits.max_labels = 8;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parse_metrics_text(text, limits);
  if (!r) {
    const std::string m = r.error().message();
    FUZZ_CHECK(m.rfind("metrics: line ", 0) == 0 || m.rfind("metrics: over ", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(r->size() <= limits.max_samples);
  std::string again;
  for (const MetricSample& s : *r) {
    FUZZ_CHECK(!s.name.empty() && s.labels.size() <= limits.max_labels);
    again += s.name;
    if (!s.labels.empty()) {
      again += '{';
      for (size_t i = 0; i < s.labels.size(); ++i) {
        if (i) again += ',';
        again += s.labels[i].first + "=\"" + escaped(s.labels[i].second) + '"';
      }
      again += '}';
    }
    again += ' ' + value_text(s.value) + '\n';
  }
  auto back = parse_metrics_text(again, limits);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->size() == r->size());
  for (size_t i = 0; i < r->size(); ++i) {
    FUZZ_CHECK((*back)[i].name == (*r)[i].name);
    FUZZ_CHECK((*back)[i].labels == (*r)[i].labels);
    FUZZ_CHECK(same((*back)[i].value, (*r)[i].value));
  }
  return 0;
}
