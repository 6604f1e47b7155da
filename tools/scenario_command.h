// `chorus swarm --scenario FILE`: runs a scenario file (swarm/scenario.h) in
// simulation or on real nodes and writes its reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chorus::tools {

struct ScenarioArgs {
  std::string path;
  std::string mode = "sim";      // sim | real
  std::optional<uint64_t> seed;  // default: the scenario's
  std::string report_dir;        // empty: no report files
  bool json = false;             // print the JSON report on stdout, no progress
};

// Exit code: 0 when every assertion passed, 1 when one failed, 2 when the
// scenario could not run (bad file, a mode that cannot do what it asks).
int run_scenario_command(const ScenarioArgs& args);

}  // namespace chorus::tools
