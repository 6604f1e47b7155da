// What `chorus swarm` prints (swarm_report.h).
#include "swarm_report.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "run_stats.h"

namespace chorus::tools {

bool report_swarm(const SwarmArgs& args, SwarmFigures& f) {
  const double p50 = percentile(f.latencies_ms, 0.50), p99 = percentile(f.latencies_ms, 0.99);
  nlohmann::json j;
  j["nodes"] = f.nodes;
  j["shouts"] = f.shouts;
  j["delivered"] = f.delivered;
  j["expected"] = f.expected;
  j["duplicates_dropped"] = f.traffic.duplicates_dropped;
  j["frames_sent"] = f.traffic.frames_sent;
  j["bytes_sent"] = f.traffic.bytes_sent;
  j["links"] = f.links;  // at the end; nodes keep dialling up to their link target
  j["links_at_setup"] = f.links_at_setup;
  j["links_per_node"] = f.links_per_node;  // ℓ, lowered when descriptors are short
  j["latency_ms"] = {{"p50", p50}, {"p99", p99}};
  j["setup_s"] = f.setup_s;
  j["shout_s"] = f.shout_s;
  j["initiate_only"] = f.initiate_only;
  j["repeated_deliveries"] = f.repeated;
  j["rate_limited"] = f.traffic.shouts_rate_limited;
  j["seed"] = args.seed;
  j["compression"] = f.compression;
  j["rate"] = args.rate;
  const double put_success =
      args.dht_puts ? static_cast<double>(f.dht.puts_ok) / static_cast<double>(args.dht_puts) : 0.0;
  auto success = [&](const GetFigures& g) {
    return args.dht_gets ? static_cast<double>(g.right) / static_cast<double>(args.dht_gets) : 0.0;
  };
  const double get_success = success(f.dht.gets);
  const double get_success_after_leave = success(f.dht.gets_after_leave);
  if (f.with_dht) {
    j["dht"] = {
        {"puts", args.dht_puts},
        {"gets", args.dht_gets},
        {"concurrency", args.dht_concurrency},
        {"k", args.dht_k},
        {"put_ms",
         {{"p50", percentile(f.dht.put_ms, 0.5)}, {"p99", percentile(f.dht.put_ms, 0.99)}}},
        {"get_ms",
         {{"p50", percentile(f.dht.gets.ms, 0.5)}, {"p99", percentile(f.dht.gets.ms, 0.99)}}},
        {"put_success", put_success},
        {"get_success", get_success},
        {"gets_missing_value", f.dht.gets.missing},
        {"gets_failed", f.dht.gets.failed},
        {"warmup_s", f.dht.warmup_s},
        {"puts_s", f.dht.puts_s},
        {"gets_s", f.dht.gets.seconds},
    };
    if (f.dht.left > 0) {
      GetFigures& a = f.dht.gets_after_leave;
      j["dht"]["left"] = f.dht.left;
      j["dht"]["after_leave"] = {
          {"get_success", get_success_after_leave},
          {"get_ms", {{"p50", percentile(a.ms, 0.5)}, {"p99", percentile(a.ms, 0.99)}}},
          {"gets_missing_value", a.missing},
          {"gets_failed", a.failed},
          {"gets_s", a.seconds},
      };
    }
    if (!f.dht.first_error.empty()) j["dht"]["first_error"] = f.dht.first_error;
  }
  // After nodes left, a get may meet only departed replicas' silence on
  // its way; 99 % is the bar (every value still has live replicas).
  const bool dht_ok =
      !f.with_dht ||
      ((args.dht_puts == 0 || put_success == 1.0) && (args.dht_gets == 0 || get_success == 1.0) &&
       (f.dht.left == 0 || args.dht_gets == 0 || get_success_after_leave >= 0.99));
  const bool ok = f.delivered == f.expected && f.repeated == 0 && dht_ok;
  if (args.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf(
        "\nswarm summary\n"
        "  nodes            %zu (%zu initiate-only), %zu links\n"
        "  setup            %.2f s\n"
        "  shouts           %zu, delivered %llu of %llu%s\n"
        "  latency          p50 %.2f ms, p99 %.2f ms\n"
        "  traffic          %llu frames, %.1f KiB, %llu duplicates dropped\n",
        f.nodes, f.initiate_only, f.links, f.setup_s, f.shouts,
        static_cast<unsigned long long>(f.delivered), static_cast<unsigned long long>(f.expected),
        ok ? " (all)" : " (INCOMPLETE)", p50, p99,
        static_cast<unsigned long long>(f.traffic.frames_sent),
        static_cast<double>(f.traffic.bytes_sent) / 1024.0,
        static_cast<unsigned long long>(f.traffic.duplicates_dropped));
    if (f.with_dht) {
      std::printf(
          "  dht puts         %zu, %.1f%% ok, p50 %.2f ms, p99 %.2f ms\n"
          "  dht gets         %zu, %.1f%% right value, p50 %.2f ms, p99 %.2f ms\n",
          args.dht_puts, 100 * put_success, percentile(f.dht.put_ms, 0.5),
          percentile(f.dht.put_ms, 0.99), args.dht_gets, 100 * get_success,
          percentile(f.dht.gets.ms, 0.5), percentile(f.dht.gets.ms, 0.99));
      if (f.dht.left > 0) {
        GetFigures& a = f.dht.gets_after_leave;
        std::printf("  after %zu left   %zu gets, %.1f%% right value, p50 %.2f ms, p99 %.2f ms\n",
                    f.dht.left, args.dht_gets, 100 * get_success_after_leave, percentile(a.ms, 0.5),
                    percentile(a.ms, 0.99));
      }
      if (!f.dht.first_error.empty())
        std::printf("  dht first error  %s\n", f.dht.first_error.c_str());
    }
  }
  return ok;
}

}  // namespace chorus::tools
