// The node's clocks, read in one place: steady milliseconds for timers and
// ages (never jump), wall-clock milliseconds and seconds for what is shown
// or stored (vote timestamps, event times, ledger timestamps).
#pragma once

#include <chrono>
#include <cstdint>

namespace chorus::nano {

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline uint64_t wall_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

inline uint64_t wall_s() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace chorus::nano
