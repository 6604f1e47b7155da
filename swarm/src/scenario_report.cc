// Assertions and the JSON / HTML reports of a scenario run.
#include <algorithm>
#include <cstdio>

#include "chorus/swarm/report.h"
#include "chorus/swarm/scenario_run.h"

namespace chorus::swarm {
namespace {

double ratio(uint64_t num, uint64_t den) {
  return den ? static_cast<double>(num) / static_cast<double>(den) : 1.0;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

nlohmann::json traffic(const TrafficFigures& t) {
  return {{"sent", t.sent},
          {"expected", t.expected},
          {"delivered", t.delivered},
          {"ratio", ratio(t.delivered, t.expected)}};
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

double RunFigures::delivery_ratio() const {
  return ratio(shout.delivered + speak.delivered + whisper.delivered,
               shout.expected + speak.expected + whisper.expected);
}

double RunFigures::lookup_success() const {
  return ratio(gets_ok, gets);
}

std::vector<AssertionResult> check_assertions(const Scenario& s, const RunFigures& f) {
  std::vector<AssertionResult> out;
  const ScenarioAssertions& a = s.asserts;
  if (a.delivery_ratio_min) {
    const double v = f.delivery_ratio();
    out.push_back(
        {"delivery_ratio", ">= " + fmt(*a.delivery_ratio_min), v, v >= *a.delivery_ratio_min});
  }
  if (a.lookup_success_min) {
    const double v = f.lookup_success();
    out.push_back(
        {"lookup_success", ">= " + fmt(*a.lookup_success_min), v, v >= *a.lookup_success_min});
  }
  if (a.lock_violations_max) {
    out.push_back({"lock_violations", "<= " + std::to_string(*a.lock_violations_max),
                   static_cast<double>(f.lock_violations),
                   f.lock_violations <= *a.lock_violations_max});
  }
  if (a.cas_one_winner) {
    const bool one = f.cas_versions_with_two_winners == 0;
    out.push_back({"cas_one_winner", *a.cas_one_winner ? "true" : "false", one ? 1.0 : 0.0,
                   one == *a.cas_one_winner});
  }
  return out;
}

nlohmann::json report_json(const Scenario& s, const RunFigures& f,
                           const std::vector<AssertionResult>& asserts) {
  nlohmann::json j;
  j["scenario"] = {{"name", s.name},
                   {"source", s.source},
                   {"nodes", s.node_count},
                   {"duration_s", static_cast<double>(s.duration_us) / 1e6},
                   {"actions", s.timeline.size()}};
  j["mode"] = f.mode;
  j["seed"] = f.seed;
  j["run_s"] = static_cast<double>(f.run_us) / 1e6;
  j["delivery_ratio"] = f.delivery_ratio();
  j["traffic"] = {
      {"shout", traffic(f.shout)}, {"speak", traffic(f.speak)}, {"whisper", traffic(f.whisper)}};
  j["latency_ms"] = {{"p50", quantile(f.latency_ms, 0.5)},
                     {"p90", quantile(f.latency_ms, 0.9)},
                     {"p99", quantile(f.latency_ms, 0.99)},
                     {"max", quantile(f.latency_ms, 1.0)}};
  double frames = 0;
  for (double v : f.frames_per_node) frames += v;
  j["messages_sent"] = frames;  // overlay frames + DHT datagrams
  j["messages_per_node"] = {{"p50", quantile(f.frames_per_node, 0.5)},
                            {"max", quantile(f.frames_per_node, 1.0)}};
  j["links_final"] = f.links_over_time.empty() ? 0.0 : f.links_over_time.back().second;
  j["membership"] = {{"joins", f.joins},
                     {"leaves", f.leaves},
                     {"crashes", f.crashes},
                     {"restarts", f.restarts},
                     {"partitions", f.partitions}};
  j["dht"] = {
      {"puts", f.puts},
      {"puts_ok", f.puts_ok},
      {"gets", f.gets},
      {"gets_ok", f.gets_ok},
      {"gets_failed", f.gets_failed},
      {"lookup_success", f.lookup_success()},
      {"hops", {{"p50", quantile(f.lookup_hops, 0.5)}, {"max", quantile(f.lookup_hops, 1)}}},
      {"get_ms",
       {{"p50", quantile(f.dht_latency_ms, 0.5)}, {"p99", quantile(f.dht_latency_ms, 0.99)}}},
      {"lock_attempts", f.lock_attempts},
      {"locks_acquired", f.locks_acquired},
      {"lock_violations", f.lock_violations},
      {"cas_attempts", f.cas_attempts},
      {"cas_wins", f.cas_wins},
      {"cas_versions_with_two_winners", f.cas_versions_with_two_winners},
      {"diffs", f.diffs},
      {"diffs_ok", f.diffs_ok}};
  j["state_bytes_per_node"] = {{"p50", quantile(f.state_bytes_per_node, 0.5)},
                               {"max", quantile(f.state_bytes_per_node, 1.0)}};
  nlohmann::json as = nlohmann::json::array();
  bool all = true;
  for (const auto& a : asserts) {
    as.push_back({{"name", a.name}, {"want", a.want}, {"value", a.value}, {"pass", a.pass}});
    all = all && a.pass;
  }
  j["assertions"] = as;
  j["pass"] = all;
  j["notes"] = f.notes;
  j["host"] = {{"wall_s", f.wall_s}, {"rss_mb", f.rss_mb}};
  return j;
}

std::string report_html(const Scenario& s, const RunFigures& f,
                        const std::vector<AssertionResult>& asserts) {
  using report::PlotOptions;
  std::vector<report::SummaryRow> rows;
  rows.emplace_back("scenario", s.name.empty() ? s.source : s.name + " (" + s.source + ")");
  if (!s.description.empty()) rows.emplace_back("description", s.description);
  rows.emplace_back("mode / seed", f.mode + " / " + std::to_string(f.seed));
  rows.emplace_back("nodes", std::to_string(s.node_count));
  rows.emplace_back("run time", fmt(static_cast<double>(f.run_us) / 1e6) +
                                    (f.mode == "sim" ? " s virtual, " : " s, ") + fmt(f.wall_s) +
                                    " s wall");
  const uint64_t sent = f.shout.sent + f.speak.sent + f.whisper.sent;
  if (sent)
    rows.emplace_back(
        "delivery ratio",
        fmt(f.delivery_ratio()) + " (" +
            std::to_string(f.shout.delivered + f.speak.delivered + f.whisper.delivered) + " of " +
            std::to_string(f.shout.expected + f.speak.expected + f.whisper.expected) +
            " deliveries, " + std::to_string(sent) + " messages)");
  if (f.gets) rows.emplace_back("lookup success", fmt(f.lookup_success()));
  if (f.lock_attempts)
    rows.emplace_back("locks", std::to_string(f.locks_acquired) + " acquired of " +
                                   std::to_string(f.lock_attempts) + ", " +
                                   std::to_string(f.lock_violations) + " violations");
  if (f.cas_attempts)
    rows.emplace_back(
        "CAS", std::to_string(f.cas_wins) + " wins of " + std::to_string(f.cas_attempts) + ", " +
                   std::to_string(f.cas_versions_with_two_winners) + " versions with two winners");
  for (const auto& a : asserts)
    rows.emplace_back("assert " + a.name + " " + a.want,
                      (a.pass ? "pass: " : "FAIL: ") + fmt(a.value),
                      a.pass ? report::Verdict::kPass : report::Verdict::kFail);
  for (const auto& n : f.notes) rows.emplace_back("note", n);

  std::vector<report::Section> sections;
  sections.push_back(
      {"Delivery latency CDF",
       std::to_string(f.latency_ms.size()) + " deliveries of test-app messages",
       report::cdf_plot({"delivery latency", "latency (ms)", "fraction delivered"}, f.latency_ms)});
  sections.push_back(
      {"Messages per node",
       "overlay frames and DHT datagrams each node sent over the run (all its lives)",
       report::bar_plot({"messages sent per node", "messages", "nodes"},
                        report::histogram(f.frames_per_node, 30, false))});
  sections.push_back(
      {"Connections over time", "established and handshaking links, and nodes up",
       report::line_plot({"connections", "time (s)", "count"},
                         {{"links", f.links_over_time}, {"nodes up", f.nodes_up_over_time}})});
  sections.push_back({"Lookup hops", "depth at which each dht_get found its answer",
                      report::bar_plot({"lookup hops", "hops", "gets", 560, 300, true},
                                       report::histogram(f.lookup_hops, 20, true))});
  std::vector<double> kib;
  for (double b : f.state_bytes_per_node) kib.push_back(b / 1024.0);
  sections.push_back(
      {"Memory per node",
       f.mode == "sim" ? "estimated state per node at the end: seen-cache entries × 64 B + "
                         "routing-table contacts × 128 B + DHT bytes stored"
                       : "estimated state per node at the end (see notes)",
       report::bar_plot({"state per node", "KiB", "nodes"}, report::histogram(kib, 30, false))});
  return report::html_page("chorus swarm report: " + (s.name.empty() ? s.source : s.name), rows,
                           sections);
}

}  // namespace chorus::swarm
