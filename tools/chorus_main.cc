// `chorus`: run a node, a local swarm, the codecs, or the benchmarks.
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "chorus: a peer-to-peer overlay framework (node, swarm, sim, dht, compress, benchmarks)"};
  app.require_subcommand(1);
  std::string log_level = "info";
  auto* level = app.add_option("--log-level", log_level,
                               "trace, debug, info, warn, error or off (default: info for node, "
                               "warn for swarm and bench)")
                    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  std::map<CLI::App*, chorus::tools::Runner> runners;
  auto* node = app.add_subcommand("node", "Run one overlay node until SIGINT/SIGTERM");
  runners[node] = chorus::tools::add_node_command(*node);
  auto* swarm = app.add_subcommand("swarm", "Run N real nodes on loopback and broadcast SHOUTs");
  runners[swarm] = chorus::tools::add_swarm_command(*swarm);
  auto* sim = app.add_subcommand("sim", "Deterministic simulations: many nodes, virtual time");
  sim->require_subcommand(1);
  auto* sim_broadcast = sim->add_subcommand(
      "broadcast", "N simulated nodes; SHOUTs under churn; delivery ratio and costs");
  runners[sim_broadcast] = chorus::tools::add_sim_broadcast_command(*sim_broadcast);
  auto* sim_dht = sim->add_subcommand(
      "dht", "N simulated DHT nodes; gets of stored values under churn and loss");
  runners[sim_dht] = chorus::tools::add_sim_dht_command(*sim_dht);
  auto* sim_locks = sim->add_subcommand(
      "locks", "Clients competing for DHT locks under clock skew and partitions");
  runners[sim_locks] = chorus::tools::add_sim_locks_command(*sim_locks);
  auto* dht =
      app.add_subcommand("dht", "One DHT operation (put, get, lock, send) against running nodes");
  runners[dht] = chorus::tools::add_dht_command(*dht);
  auto* top =
      app.add_subcommand("top", "A live view of a running program's metrics (--metrics HOST:PORT)");
  runners[top] = chorus::tools::add_top_command(*top);
  auto* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto* transport = bench->add_subcommand(
      "transport", "One-way throughput: encrypted overlay against plain libuv TCP");
  runners[transport] = chorus::tools::add_bench_transport_command(*transport);
  auto* bench_compression = bench->add_subcommand(
      "compression", "Per codec: compress/decompress MB/s and ratio on three corpora");
  runners[bench_compression] = chorus::tools::add_bench_compression_command(*bench_compression);
  auto* compress =
      app.add_subcommand("compress", "Compress stdin to stdout (bz2, gzip, lzma, zlib, snappy)");
  runners[compress] = chorus::tools::add_compress_command(*compress);
  auto* decompress = app.add_subcommand(
      "decompress", "Decompress stdin to stdout; refuses output over --max-size");
  runners[decompress] = chorus::tools::add_decompress_command(*decompress);

  CLI11_PARSE(app, argc, argv);
  if (level->count() == 0 && !node->parsed()) log_level = "warn";
  spdlog::set_level(spdlog::level::from_str(log_level));
  for (auto& [cmd, run] : runners) {
    if (cmd->parsed()) return run();
  }
  std::cerr << app.help();
  return 2;
}
