// `chorus-nano bench`: single-core rates of the NANO primitives, with
// libsodium's standard Ed25519 verify measured in the same run for scale.
#pragma once

#include <nlohmann/json.hpp>

namespace chorus::nano {

struct BenchOptions {
  unsigned min_time_ms = 500;  // per measurement
  unsigned threads = 0;        // work generation; 0 = every core
};

nlohmann::ordered_json run_bench(const BenchOptions& opts);

}  // namespace chorus::nano
