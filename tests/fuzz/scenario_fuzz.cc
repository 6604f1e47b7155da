// libFuzzer: scenario files (swarm/scenario.h) are text from outside. Any
// input must parse to a valid scenario or give an error naming a position,
// never crash; what parses must respect every bound, and its timeline must
// expand within kMaxTimelineOps, in time order, inside the duration.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chorus/swarm/scenario.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::swarm;
  auto r = parse_scenario(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!r) {
    FUZZ_CHECK(r.error().message().rfind("fuzz:", 0) == 0);
    return 0;
  }
  const Scenario& s = *r;
  FUZZ_CHECK(s.node_count >= 2 && s.node_count <= kMaxScenarioNodes);
  FUZZ_CHECK(s.start_nodes >= 2 && s.start_nodes <= s.node_count);
  FUZZ_CHECK(s.duration_us > 0 && s.duration_us <= kMaxScenarioDurationS * 1'000'000);
  FUZZ_CHECK(s.timeline.size() <= kMaxTimelineActions);
  size_t total = 0;
  for (const ScenarioAction& a : s.timeline) {
    FUZZ_CHECK(a.at_us >= 0 && a.at_us < s.duration_us);
    FUZZ_CHECK(a.at_us + a.duration_us <= s.duration_us);
    FUZZ_CHECK(a.payload_bytes <= kMaxPayloadBytes && a.keys <= kMaxDhtKeys);
    FUZZ_CHECK(a.count <= s.node_count && a.groups.size() <= kMaxPartitionGroups);
    total += a.steps();
  }
  FUZZ_CHECK(total <= kMaxTimelineOps);
  auto steps = expand_timeline(s);
  FUZZ_CHECK(steps.size() == total);
  for (size_t i = 0; i < steps.size(); ++i) {
    FUZZ_CHECK(steps[i].action < s.timeline.size());
    FUZZ_CHECK(steps[i].at_us <= s.duration_us);
    if (i > 0) FUZZ_CHECK(steps[i - 1].at_us <= steps[i].at_us);
  }
  return 0;
}
