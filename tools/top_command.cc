// `chorus top HOST:PORT`: a live view of what a running program's --metrics
// endpoint serves (`chorus node`, `chorus-relay`, `chorus-nano node`): the
// links and the process at a glance, then the busiest counters by rate, the
// latency histograms as rate and mean, and the gauges. Rates are the change
// between two scrapes divided by the time between them.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chorus/web/http_client.h"
#include "chorus/web/metrics_parse.h"
#include "commands.h"

namespace chorus::tools {
namespace {

using Clock = std::chrono::steady_clock;

struct TopArgs {
  std::string address;
  double interval_s = 1.0;
  uint64_t count = 0;  // frames; 0: until interrupted
  size_t rows = 12;
  bool plain = false;
};

// A sample's identity across scrapes: name{labels} as written.
std::string series(const web::MetricSample& s) {
  std::string out = s.name;
  if (s.labels.empty()) return out;
  out += '{';
  for (size_t i = 0; i < s.labels.size(); ++i) {
    if (i) out += ',';
    out += s.labels[i].first + "=" + s.labels[i].second;
  }
  return out + '}';
}

std::string human(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  } else if (a >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else if (a == std::floor(a)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

struct Scrape {
  Clock::time_point at;
  std::map<std::string, double> values;  // by series
  std::vector<web::MetricSample> samples;
};

Result<Scrape> scrape(web::HttpClient& client, const std::string& url) {
  auto r = client.get(url);
  if (!r) return r.error();
  if (r->status != 200) return io_error("HTTP " + std::to_string(r->status) + " from " + url);
  auto parsed = web::parse_metrics_text(r->body);
  if (!parsed) return parsed.error();
  Scrape s;
  s.at = Clock::now();
  for (const auto& m : *parsed) s.values[series(m)] = m.value;
  s.samples = std::move(*parsed);
  return s;
}

double find(const Scrape& s, std::string_view name, std::string_view label = {},
            std::string_view value = {}) {
  for (const auto& m : s.samples)
    if (m.name == name && (label.empty() || m.label(label) == value)) return m.value;
  return -1;
}

std::string frame(const TopArgs& a, const Scrape& now, const Scrape* before, uint64_t n) {
  std::ostringstream o;
  const double dt = before ? std::chrono::duration<double>(now.at - before->at).count() : 0.0;
  auto rate = [&](const std::string& key, double v) -> double {
    if (!before || dt <= 0) return -1;
    auto it = before->values.find(key);
    return it == before->values.end() ? -1 : (v - it->second) / dt;
  };
  o << "chorus top " << a.address << "   frame " << n;
  if (before) o << "   rates over " << human(dt) << " s";
  o << "\n\n";
  // At a glance: what every Chorus program serves.
  if (find(now, "chorus_overlay_links", "direction", "outbound") >= 0) {
    o << "links      " << human(find(now, "chorus_overlay_links", "direction", "outbound"))
      << " out, " << human(find(now, "chorus_overlay_links", "direction", "inbound"))
      << " in; send queue " << human(find(now, "chorus_overlay_send_queue_bytes")) << " B\n";
  }
  if (find(now, "chorus_dht_routing_table_nodes") >= 0)
    o << "dht        " << human(find(now, "chorus_dht_routing_table_nodes")) << " contacts\n";
  const double cpu = find(now, "process_cpu_seconds_total");
  o << "process    rss " << human(find(now, "process_resident_memory_bytes")) << "B, fds "
    << human(find(now, "process_open_fds"));
  if (before && cpu >= 0 && dt > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f",
                  100 * (cpu - find(*before, "process_cpu_seconds_total")) / dt);
    o << ", cpu " << buf << " %";
  }
  o << "\n\n";

  // Counters by rate (the busiest first); latency histograms as rate, mean.
  struct Row {
    std::string key;
    double rate, total;
  };
  std::vector<Row> counters, latencies;
  for (const auto& m : now.samples) {
    const std::string key = series(m);
    if (m.name.ends_with("_total") && !m.name.starts_with("process_")) {
      counters.push_back({key, rate(key, m.value), m.value});
    } else if (m.name.ends_with("_count")) {
      // A histogram: its _sum has the same labels.
      const std::string base = m.name.substr(0, m.name.size() - 6);
      const std::string labels = key.substr(m.name.size());
      const std::string sum_key = base + "_sum" + labels;
      auto sum = now.values.find(sum_key);
      const double r = rate(key, m.value);
      const double sr = sum == now.values.end() ? -1 : rate(sum_key, sum->second);
      // Mean over the interval: new seconds over new observations.
      latencies.push_back({base + labels, r, r > 0 && sr >= 0 ? sr / r : -1});
    }
  }
  std::stable_sort(counters.begin(), counters.end(), [](const Row& x, const Row& y) {
    return x.rate != y.rate ? x.rate > y.rate : x.total > y.total;
  });
  o << "busiest counters                                                   per s        total\n";
  for (size_t i = 0; i < counters.size() && i < a.rows; ++i) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-62.62s %10s %12s\n", counters[i].key.c_str(),
                  counters[i].rate < 0 ? "-" : human(counters[i].rate).c_str(),
                  human(counters[i].total).c_str());
    o << line;
  }
  if (!latencies.empty()) {
    o << "\nlatencies                                                          per s    mean ms\n";
    for (const Row& l : latencies) {
      char line[256];
      char mean[32] = "-";
      if (l.total >= 0) std::snprintf(mean, sizeof mean, "%.3f", l.total * 1000);
      std::snprintf(line, sizeof line, "  %-62.62s %10s %10s\n", l.key.c_str(),
                    l.rate < 0 ? "-" : human(l.rate).c_str(), mean);
      o << line;
    }
  }
  o << "\ngauges\n";
  for (const auto& m : now.samples) {
    if (m.name.ends_with("_total") || m.name.ends_with("_bucket") || m.name.ends_with("_sum") ||
        m.name.ends_with("_count") || m.name.starts_with("process_"))
      continue;
    o << "  " << series(m) << " " << human(m.value) << "\n";
  }
  return o.str();
}

}  // namespace

Runner add_top_command(CLI::App& cmd) {
  auto a = std::make_shared<TopArgs>();
  cmd.add_option("address", a->address,
                 "HOST:PORT of a --metrics endpoint (chorus node, chorus-relay, chorus-nano node)")
      ->required();
  cmd.add_option("--interval", a->interval_s, "Seconds between scrapes")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  cmd.add_option("--count", a->count, "Frames to show, then exit (0: until interrupted)")
      ->capture_default_str();
  cmd.add_option("--rows", a->rows, "Counters to list")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd.add_flag("--plain", a->plain,
               "Print frames one after another instead of redrawing (the default when stdout "
               "is not a terminal)");
  return [a]() -> int {
    web::HttpClientOptions ho;
    ho.timeout_ms = 5000;
    ho.max_body_bytes = 16 << 20;
    web::HttpClient client(ho);
    const std::string url = "http://" + a->address + "/metrics";
    const bool redraw = !a->plain && isatty(STDOUT_FILENO) == 1;
    std::optional<Scrape> before;
    int rc = 0;
    for (uint64_t n = 1; a->count == 0 || n <= a->count; ++n) {
      if (n > 1) std::this_thread::sleep_for(std::chrono::duration<double>(a->interval_s));
      auto now = scrape(client, url);
      std::string text;
      if (!now) {
        text = "chorus top " + a->address + ": " + now.error().to_string() + "\n";
        rc = 1;
      } else {
        text = frame(*a, *now, before ? &*before : nullptr, n);
        before = std::move(*now);
        rc = 0;
      }
      if (redraw) std::cout << "\x1b[H\x1b[2J";
      std::cout << text << (redraw ? "" : "\n") << std::flush;
    }
    return rc;
  };
}

}  // namespace chorus::tools
