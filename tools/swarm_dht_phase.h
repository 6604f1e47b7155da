// The DHT phase of `chorus swarm`: timed puts and gets of random keys from
// random nodes of a running swarm, and what they measured.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "progress.h"
#include "swarm_live.h"

namespace chorus::tools {

struct DhtFigures {
  std::vector<double> put_ms, get_ms;  // of every operation, failed or not
  size_t puts_ok = 0, gets_right = 0, gets_missing = 0, gets_failed = 0;
  std::string first_error;
  double warmup_s = 0, puts_s = 0, gets_s = 0;
};

// P puts of distinct keys (128-byte values) from random nodes, then G gets
// of random put keys from random nodes, `concurrency` in flight, each timed
// from the call to its callback.
DhtFigures run_dht_phase(std::vector<SwarmNode>& nodes, size_t puts, size_t gets,
                         size_t concurrency, std::mt19937_64& rng, double timeout_s,
                         Progress& progress);

}  // namespace chorus::tools
