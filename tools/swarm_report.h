// What `chorus swarm` measured, and how it is shown: one JSON line
// (--json) or a summary table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chorus/overlay/node.h"
#include "swarm_dht_phase.h"
#include "swarm_run.h"

namespace chorus::tools {

struct SwarmFigures {
  size_t nodes = 0, shouts = 0, initiate_only = 0;
  size_t links = 0;           // at the end; nodes keep dialling up to their link target
  size_t links_at_setup = 0;  // when the overlay was found connected
  size_t links_per_node = 0;  // ℓ, lowered when descriptors are short
  uint64_t delivered = 0, expected = 0, repeated = 0;
  overlay::NodeStats traffic;        // of the SHOUT phase, summed over nodes
  std::vector<double> latencies_ms;  // of every first delivery
  double setup_s = 0, shout_s = 0;
  std::string compression;
  bool with_dht = false;
  DhtFigures dht;
};

// Prints `f` (as args.json asks) and returns whether the run passed: every
// SHOUT delivered once to every other node, and every DHT put and get right.
bool report_swarm(const SwarmArgs& args, SwarmFigures& f);

}  // namespace chorus::tools
