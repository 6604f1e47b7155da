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
  const double get_success =
      args.dht_gets ? static_cast<double>(f.dht.gets_right) / static_cast<double>(args.dht_gets)
                    : 0.0;
  if (f.with_dht) {
    j["dht"] = {
        {"puts", args.dht_puts},
        {"gets", args.dht_gets},
        {"concurrency", args.dht_concurrency},
        {"put_ms",
         {{"p50", percentile(f.dht.put_ms, 0.5)}, {"p99", percentile(f.dht.put_ms, 0.99)}}},
        {"get_ms",
         {{"p50", percentile(f.dht.get_ms, 0.5)}, {"p99", percentile(f.dht.get_ms, 0.99)}}},
        {"put_success", put_success},
        {"get_success", get_success},
        {"gets_missing_value", f.dht.gets_missing},
        {"gets_failed", f.dht.gets_failed},
        {"warmup_s", f.dht.warmup_s},
        {"puts_s", f.dht.puts_s},
        {"gets_s", f.dht.gets_s},
    };
    if (!f.dht.first_error.empty()) j["dht"]["first_error"] = f.dht.first_error;
  }
  const bool dht_ok = !f.with_dht || ((args.dht_puts == 0 || put_success == 1.0) &&
                                      (args.dht_gets == 0 || get_success == 1.0));
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
          percentile(f.dht.get_ms, 0.5), percentile(f.dht.get_ms, 0.99));
      if (!f.dht.first_error.empty())
        std::printf("  dht first error  %s\n", f.dht.first_error.c_str());
    }
  }
  return ok;
}

}  // namespace chorus::tools
