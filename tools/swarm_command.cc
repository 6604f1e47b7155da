// `chorus swarm`: its options, and which run they start: a scenario file
// (scenario_command.h) or N live nodes on loopback (swarm_run.h).
#include <CLI/CLI.hpp>
#include <memory>

#include "commands.h"
#include "scenario_command.h"
#include "swarm_run.h"

namespace chorus::tools {

Runner add_swarm_command(CLI::App& cmd) {
  struct Args : SwarmArgs {
    ScenarioArgs scenario;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--nodes", args->nodes, "number of nodes")
      ->capture_default_str()
      ->check(CLI::Range(2, 2000));
  cmd.add_option("--shouts", args->shouts, "SHOUTs to send, each from a random node")
      ->capture_default_str();
  cmd.add_option("--initiate-only", args->initiate_only,
                 "fraction of nodes that never listen (they only dial out)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  auto* seed_opt = cmd.add_option("--seed", args->seed,
                                  "seed for topology and senders (with --scenario: default the "
                                  "scenario's [scenario] seed)")
                       ->capture_default_str();
  cmd.add_option("--payload", args->payload_bytes, "bytes per SHOUT (at least 12)")
      ->capture_default_str()
      ->check(CLI::Range(12, 65536));
  cmd.add_option("--timeout", args->timeout_s, "seconds allowed for setup and for delivery each")
      ->capture_default_str();
  cmd.add_option("--compression", args->compression,
                 "codecs every node offers (e.g. snappy,zlib), 'none' or 'default'")
      ->capture_default_str();
  cmd.add_option("--rate", args->rate,
                 "SHOUTs per second across the swarm (0: all at once, a burst)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd.add_option("--dht-puts", args->dht_puts,
                 "run a DHT on every node; after the SHOUTs, this many puts of 128-byte values "
                 "from random nodes")
      ->capture_default_str();
  cmd.add_option("--dht-gets", args->dht_gets, "then this many gets of random put keys")
      ->capture_default_str();
  cmd.add_option("--dht-concurrency", args->dht_concurrency, "DHT operations in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd.add_option("--dht-k", args->dht_k,
                 "replicas per key (the DHT's k, also the lookup's width); every node uses it")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64}));
  cmd.add_option("--dht-leave", args->dht_leave,
                 "after the gets, this fraction of the nodes stops (no goodbye) and the gets run "
                 "again from the rest")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  cmd.add_flag("--json", args->json, "print one JSON line and no progress display");
  auto* scenario_opt =
      cmd.add_option("--scenario", args->scenario.path,
                     "run a scenario file (TOML, see swarm/README.md and swarm/scenarios/); the "
                     "options above other than --seed and --json do not apply then")
          ->check(CLI::ExistingFile);
  cmd.add_option("--mode", args->scenario.mode,
                 "with --scenario: sim (deterministic simulator, virtual time) or real (libuv "
                 "nodes on loopback)")
      ->check(CLI::IsMember({"sim", "real"}))
      ->capture_default_str();
  cmd.add_option("--report", args->scenario.report_dir,
                 "with --scenario: write report.json and report.html into this directory");

  return [args, seed_opt, scenario_opt]() -> int {
    if (scenario_opt->count() > 0) {
      args->scenario.json = args->json;
      if (seed_opt->count() > 0) args->scenario.seed = args->seed;
      return run_scenario_command(args->scenario);
    }
    return run_swarm(*args);
  };
}

}  // namespace chorus::tools
