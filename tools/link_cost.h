// What moving messages over one link costs in CPU, without sockets: two
// NodeCores in this process joined in memory, every action delivered at
// once. The figure is the overlay's own work (framing, sealing, opening,
// the WHISPER hash, and compression when negotiated), free of kernel and
// scheduler noise, so small differences such as compression's cost on
// incompressible traffic can be read.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "chorus/compression/method.h"
#include "chorus/overlay/node_core.h"

namespace chorus::tools {

// Two cores, 0 dialling 1, linked on construction (check linked()).
class CorePair {
 public:
  explicit CorePair(std::vector<compression::Method> codecs);
  bool linked() const;
  overlay::NodeCore& core(int i) { return *cores_[i]; }
  // Moves everything until both cores are quiet; returns the WHISPERs
  // delivered at core 1.
  size_t settle();

 private:
  int64_t now_us_ = 1'000'000;
  std::array<std::unique_ptr<overlay::NodeCore>, 2> cores_;
  std::array<overlay::LinkId, 2> link_ = {0, 0};
};

// Microseconds of CPU per MiB of payload sent as WHISPERs of `message_bytes`
// from core 0 to core 1, for each setting (a list of codecs to offer; empty
// = compression off): the median of `runs` runs of `mib` MiB each, the runs
// of all settings interleaved. `random`: incompressible payloads; otherwise
// JSON-like text. -1 for a setting whose pair did not link or lost messages.
std::vector<double> link_cost_us_per_mib(
    const std::vector<std::vector<compression::Method>>& settings, bool random,
    size_t message_bytes, int runs, int mib);

}  // namespace chorus::tools
