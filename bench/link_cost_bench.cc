// CPU cost per MiB over one link, two NodeCores in one process (see
// tools/link_cost.h), compression off against each codec, on incompressible
// 64 KiB and 100-byte messages and on compressible text. The same figures
// appear in `chorus bench compression`; this prints them alone.
#include <cstdio>

#include "../tools/link_cost.h"

int main() {
  using chorus::compression::Method;
  struct Case {
    const char* name;
    bool random;
    size_t size;
  };
  const Case cases[] = {
      {"random 64 KiB", true, 65536}, {"random 100 B", true, 100}, {"text 64 KiB", false, 65536}};
  std::printf("%-14s %-8s %12s %8s\n", "payload", "codec", "us/MiB", "speed");
  for (const Case& c : cases) {
    // Fast codecs: 9 runs of 4 MiB; lzma and bz2 on compressible data take
    // ~100x longer per MiB, so those cases run 1 MiB each.
    const int mib = c.random && c.size > 1000 ? 4 : 1;
    std::vector<std::vector<Method>> settings = {{}};
    for (Method m : chorus::compression::kAllMethods) settings.push_back({m});
    auto cost = chorus::tools::link_cost_us_per_mib(settings, c.random, c.size, 9, mib);
    for (size_t k = 0; k < settings.size(); ++k) {
      const char* name =
          settings[k].empty() ? "off" : chorus::compression::method_name(settings[k][0]);
      std::printf("%-14s %-8s %12.0f %8.3f\n", c.name, name, cost[k], cost[0] / cost[k]);
    }
  }
  return 0;
}
