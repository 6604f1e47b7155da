// `chorus swarm` without --scenario: N real nodes (libuv, TCP on 127.0.0.1,
// one loop thread each) in this process. Waits until the overlay is
// connected, sends M SHOUTs from random nodes and counts distinct deliveries
// at every other node. With dht_puts/dht_gets every node also runs a DHT on
// its overlay port and the run ends with timed puts and gets of random keys
// from random nodes (swarm_dht_phase.h). The options are those of the CLI
// (swarm_command.cc), which documents them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "chorus/dht/config.h"

namespace chorus::tools {

struct SwarmArgs {
  size_t nodes = 16;
  size_t shouts = 100;
  double initiate_only = 0.0;
  uint64_t seed = 1;
  bool json = false;
  double timeout_s = 60;
  size_t payload_bytes = 200;
  std::string compression = "default";
  double rate = 0;
  size_t dht_puts = 0;
  size_t dht_gets = 0;
  size_t dht_concurrency = 64;
  size_t dht_k = dht::DhtConfig{}.k;
  double dht_leave = 0;  // fraction of nodes stopped after the gets, then gets again
};

// Runs the swarm and prints its figures (swarm_report.h). Returns the exit
// status: 0 when every SHOUT and DHT operation succeeded, 1 when not or when
// the swarm could not start (the reason on stderr), 2 for a bad option.
int run_swarm(const SwarmArgs& args);

}  // namespace chorus::tools
