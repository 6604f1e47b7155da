#include "chorus/web/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace chorus::web {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void require_name(std::string_view name) {
  if (!valid_name(name)) std::abort();
}

// Backslash and newline are escaped in HELP text and label values; double
// quotes only in label values.
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    out += buf;
  } else {
    // The shortest text that reads back as the same double: 5e-05, not
    // 5.0000000000000002e-05 (a bucket bound is a label value people read).
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? end : buf);
  }
}

}  // namespace

void MetricsText::family(std::string_view name, std::string_view help, std::string_view type) {
  require_name(name);
  if (name == current_family_) return;
  // A family split by another would be refused by a strict parser.
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) std::abort();
  families_.emplace_back(name);
  current_family_ = name;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricsText::sample(std::string_view name, const MetricLabels& labels, double value,
                         const std::pair<std::string, std::string>* extra) {
  out_ += name;
  if (!labels.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto add = [&](const std::pair<std::string, std::string>& l) {
      require_name(l.first);
      if (!first) out_ += ',';
      first = false;
      out_ += l.first;
      out_ += "=\"";
      append_escaped(out_, l.second, true);
      out_ += '"';
    };
    for (const auto& l : labels) add(l);
    if (extra != nullptr) add(*extra);
    out_ += '}';
  }
  out_ += ' ';
  append_value(out_, value);
  out_ += '\n';
}

void MetricsText::counter(std::string_view name, std::string_view help, double value,
                          const MetricLabels& labels) {
  family(name, help, "counter");
  sample(name, labels, value);
}

void MetricsText::gauge(std::string_view name, std::string_view help, double value,
                        const MetricLabels& labels) {
  family(name, help, "gauge");
  sample(name, labels, value);
}

void MetricsText::append(const MetricsText& other) {
  for (const auto& f : other.families_) {
    if (std::find(families_.begin(), families_.end(), f) != families_.end()) std::abort();
  }
  families_.insert(families_.end(), other.families_.begin(), other.families_.end());
  out_ += other.out_;
  if (!other.families_.empty()) current_family_ = other.current_family_;
}

void MetricsText::histogram(std::string_view name, std::string_view help,
                            const std::vector<double>& upper_bounds,
                            const std::vector<uint64_t>& counts, double sum,
                            const MetricLabels& labels) {
  if (counts.size() != upper_bounds.size() + 1) std::abort();
  family(name, help, "histogram");
  const std::string base(name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= upper_bounds.size(); ++i) {
    cumulative += counts[i];
    std::string le;
    if (i < upper_bounds.size()) {
      append_value(le, upper_bounds[i]);
    } else {
      le = "+Inf";
    }
    const std::pair<std::string, std::string> bound{"le", le};
    sample(base + "_bucket", labels, static_cast<double>(cumulative), &bound);
  }
  sample(base + "_sum", labels, sum);
  sample(base + "_count", labels, static_cast<double>(cumulative));
}

void append_http_metrics(MetricsText& m,
                         const std::vector<std::pair<std::string, HttpServerStats>>& servers) {
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  // One family at a time across every server, so none is split.
  auto each = [&](auto write) {
    for (const auto& [name, s] : servers) write(MetricLabels{{"server", name}}, s);
  };
  each([&](const MetricLabels& l, const HttpServerStats& s) {
    m.counter("chorus_http_requests_total", "HTTP requests answered.", d(s.requests), l);
  });
  each([&](MetricLabels l, const HttpServerStats& s) {
    const char* help = "Requests or connections refused, by reason.";
    l.emplace_back("reason", "too_large");
    m.counter("chorus_http_refused_total", help, d(s.refused_too_large), l);
    l.back().second = "busy";
    m.counter("chorus_http_refused_total", help, d(s.refused_busy), l);
    l.back().second = "ws_upgrade";
    m.counter("chorus_http_refused_total", help, d(s.ws_refused), l);
  });
  each([&](const MetricLabels& l, const HttpServerStats& s) {
    m.gauge("chorus_http_connections", "Open connections, WebSockets included.", d(s.connections),
            l);
  });
  each([&](const MetricLabels& l, const HttpServerStats& s) {
    m.gauge("chorus_websocket_open", "Open WebSockets.", d(s.ws_open), l);
  });
  each([&](MetricLabels l, const HttpServerStats& s) {
    const char* help = "WebSocket messages, by direction.";
    l.emplace_back("direction", "in");
    m.counter("chorus_websocket_messages_total", help, d(s.ws_messages_in), l);
    l.back().second = "out";
    m.counter("chorus_websocket_messages_total", help, d(s.ws_messages_out), l);
  });
  each([&](MetricLabels l, const HttpServerStats& s) {
    const char* help = "WebSockets the server closed, by reason.";
    l.emplace_back("reason", "too_big");
    m.counter("chorus_websocket_closed_total", help, d(s.ws_closed_too_big), l);
    l.back().second = "slow";
    m.counter("chorus_websocket_closed_total", help, d(s.ws_closed_slow), l);
  });
}

void append_process_metrics(MetricsText& m) {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    m.counter("process_cpu_seconds_total",
              "CPU time this process has used, user and system, in seconds.", cpu);
  }
  const long page = sysconf(_SC_PAGESIZE);
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages_virtual = 0, pages_resident = 0;
  if (page > 0 && (statm >> pages_virtual >> pages_resident)) {
    m.gauge("process_resident_memory_bytes", "Memory of this process in RAM, in bytes.",
            static_cast<double>(pages_resident) * static_cast<double>(page));
    m.gauge("process_virtual_memory_bytes", "Address space of this process, in bytes.",
            static_cast<double>(pages_virtual) * static_cast<double>(page));
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    size_t n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    m.gauge("process_open_fds", "File descriptors this process has open.",
            static_cast<double>(n > 0 ? n - 1 : 0));  // less the one reading the folder
  }
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur != RLIM_INFINITY) {
    m.gauge("process_max_fds", "File descriptors this process may open (soft limit).",
            static_cast<double>(fds.rlim_cur));
  }
  // Start time: field 22 of /proc/self/stat (clock ticks after boot) plus
  // the boot time from /proc/stat.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t close_paren = stat.rfind(')');
  const long ticks = sysconf(_SC_CLK_TCK);
  if (close_paren != std::string::npos && ticks > 0) {
    std::istringstream fields(stat.substr(close_paren + 2));
    std::string field;
    unsigned long long start_ticks = 0;
    // After the name, fields start at 3 (state); starttime is field 22.
    for (int i = 3; i <= 22 && (fields >> field); ++i) {
      if (i == 22) start_ticks = std::strtoull(field.c_str(), nullptr, 10);
    }
    std::ifstream proc_stat("/proc/stat");
    std::string line;
    unsigned long long boot = 0;
    while (std::getline(proc_stat, line)) {
      if (line.rfind("btime ", 0) == 0) boot = std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    if (boot > 0 && start_ticks > 0) {
      m.gauge("process_start_time_seconds",
              "When this process started, in seconds since the Unix epoch.",
              static_cast<double>(boot) +
                  static_cast<double>(start_ticks) / static_cast<double>(ticks));
    }
  }
}

HttpHandler metrics_handler(std::function<void(MetricsText&)> collect) {
  return [collect = std::move(collect)](const HttpRequest& request, Responder reply) {
    if (request.path != "/metrics") {
      reply({404, "text/plain", "not found: the metrics are at /metrics\n"});
      return;
    }
    if (request.method != "GET") {
      reply({405, "text/plain", "GET only\n"});
      return;
    }
    MetricsText m;
    if (collect) collect(m);
    append_process_metrics(m);
    reply({200, "text/plain; version=0.0.4; charset=utf-8", m.text()});
  };
}

}  // namespace chorus::web
