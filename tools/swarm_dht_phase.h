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

// One round of gets.
struct GetFigures {
  std::vector<double> ms;  // of every get, failed or not
  size_t right = 0, missing = 0, failed = 0;
  double seconds = 0;
};

struct DhtFigures {
  std::vector<double> put_ms;  // of every put, failed or not
  size_t puts_ok = 0;
  GetFigures gets;
  size_t left = 0;              // nodes stopped after the gets (leave > 0)
  GetFigures gets_after_leave;  // the same number of gets again, from the rest
  std::string first_error;
  double warmup_s = 0, puts_s = 0;
};

// P puts of distinct keys (128-byte values) from random nodes, then G gets
// of random put keys from random nodes, `concurrency` in flight, each timed
// from the call to its callback. With `leave` > 0, that fraction of the
// nodes (chosen at random) then stops, DHT and overlay, without a word to
// the others, and G gets run again from the nodes that stayed.
DhtFigures run_dht_phase(std::vector<SwarmNode>& nodes, size_t puts, size_t gets,
                         size_t concurrency, double leave, std::mt19937_64& rng, double timeout_s,
                         Progress& progress);

}  // namespace chorus::tools
