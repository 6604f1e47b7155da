// chorus::web::MetricsText — the Prometheus text exposition format (0.0.4),
// written by hand-fed counters and gauges: a node's counters already exist
// (NodeStats, DhtStats, ...), so there is no registry to keep in step with
// them; a scrape reads them and writes this.
//
//   MetricsText m;
//   m.counter("chorus_frames_total", "Frames sealed or opened.", s.frames_sent,
//             {{"direction", "out"}});
//   m.counter("chorus_frames_total", "", s.frames_received, {{"direction", "in"}});
//   append_process_metrics(m);
//   std::string body = m.text();
//
// Samples of one family are written together: give each family's samples
// one after another. HELP and TYPE are written with the first; the help
// given with the others is not written again, so a loop may pass the same
// text every time (or "", as above). A name or
// label name that is not [a-zA-Z_:][a-zA-Z0-9_:]* is a programming error
// and aborts; label values are escaped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chorus/web/http_server.h"

namespace chorus::web {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
 public:
  void counter(std::string_view name, std::string_view help, double value,
               const MetricLabels& labels = {});
  void gauge(std::string_view name, std::string_view help, double value,
             const MetricLabels& labels = {});
  // A histogram from cumulative-free bucket counts: `counts[i]` observations
  // fell at or below `upper_bounds[i]` and above the bound before it; the
  // last entry of `counts` (one more than the bounds) is above every bound.
  void histogram(std::string_view name, std::string_view help,
                 const std::vector<double>& upper_bounds, const std::vector<uint64_t>& counts,
                 double sum, const MetricLabels& labels = {});

  // Adds what `other` wrote (collected elsewhere, e.g. on another thread).
  // A family both wrote is a programming error and aborts, as a split
  // family would be.
  void append(const MetricsText& other);

  const std::string& text() const { return out_; }

 private:
  void family(std::string_view name, std::string_view help, std::string_view type);
  void sample(std::string_view name, const MetricLabels& labels, double value,
              const std::pair<std::string, std::string>* extra = nullptr);

  std::string out_;
  std::string current_family_;
  std::vector<std::string> families_;  // written so far: a family is never split
};

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds, named as Prometheus' own clients name them,
// read from /proc and getrusage. Figures the system does not give are left
// out, not written as 0.
void append_process_metrics(MetricsText& metrics);

// An HttpServer's counters (HttpServer::stats(), read on its loop thread),
// each server under its own `server` label ("rpc", "ws"): requests,
// refusals by reason, connections, WebSocket messages and closes. All the
// servers of a scrape go in one call, so no family is split.
void append_http_metrics(MetricsText& metrics,
                         const std::vector<std::pair<std::string, HttpServerStats>>& servers);

// An HttpServer handler that answers GET /metrics with what `collect` writes
// (and the process figures after it), 404 elsewhere and 405 to other
// methods. `collect` runs on the server's loop thread, once a scrape.
HttpHandler metrics_handler(std::function<void(MetricsText&)> collect);

}  // namespace chorus::web
