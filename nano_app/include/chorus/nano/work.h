// NANO proof of work (spec/nano.md §Work).
//
// value(nonce, root) = BLAKE2b-64(nonce as 8 bytes little-endian ‖ root), read
// as a little-endian u64; the work is valid when value ≥ the threshold.
#pragma once

#include <atomic>
#include <cstdint>

#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// Live network thresholds.
inline constexpr uint64_t kThresholdEpoch1 = 0xffffffc000000000ULL;         // every block, epoch 1
inline constexpr uint64_t kThresholdEpoch2Send = 0xfffffff800000000ULL;     // send/change, epoch 2
inline constexpr uint64_t kThresholdEpoch2Receive = 0xfffffe0000000000ULL;  // receive/open/epoch
// A cheap threshold for tests and private test networks (about 2^8 tries).
inline constexpr uint64_t kThresholdTest = 0xff00000000000000ULL;

// O(1): one BLAKE2b call.
uint64_t work_value(const Hash32& root, uint64_t nonce);
inline bool work_valid(const Hash32& root, uint64_t nonce, uint64_t threshold) {
  return work_value(root, nonce) >= threshold;
}

// multiplier = (2^64 - base) / (2^64 - difficulty): how many times more
// hashing `difficulty` takes than `base`. difficulty_from_multiplier is the
// inverse, rounded as the node does; a multiplier ≤ 0 or a result outside
// the u64 range gives kInvalidArgument.
double multiplier_from_difficulty(uint64_t difficulty, uint64_t base);
Result<uint64_t> difficulty_from_multiplier(double multiplier, uint64_t base);

struct WorkOptions {
  // Worker threads; 0 means std::thread::hardware_concurrency().
  unsigned threads = 0;
  // Set to true by anyone to stop the search (generate_work returns kCancelled).
  const std::atomic<bool>* cancel = nullptr;
  // Each thread starts at a nonce drawn from this seed (reproducible runs).
  uint64_t seed = 0;
  // Bound on the search: kLimit after this many tries in total (0 = none).
  uint64_t max_tries = 0;
};

// Searches nonces on `threads` threads; returns as soon as one thread finds
// a nonce whose value ≥ difficulty. Blocks the calling thread; the workers
// are joined before it returns.
Result<uint64_t> generate_work(const Hash32& root, uint64_t difficulty,
                               const WorkOptions& opts = {});

}  // namespace chorus::nano
