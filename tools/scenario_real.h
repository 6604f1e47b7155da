// The real-node run of a scenario: `chorus swarm --scenario FILE --mode real`.
#pragma once

#include <cstdint>

#include "chorus/swarm/scenario_run.h"
#include "progress.h"

namespace chorus::tools {

// Runs the scenario on real libuv nodes on 127.0.0.1 in this process, on the
// wall clock. Refuses (invalid-argument, naming the line) what real mode
// cannot do honestly; see swarm/README.md.
Result<swarm::RunFigures> run_scenario_real(const swarm::Scenario& s, uint64_t seed,
                                            Progress& progress);

}  // namespace chorus::tools
