#include "chorus/nano/work.h"

#include <sodium.h>

#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

namespace chorus::nano {

uint64_t work_value(const Hash32& root, uint64_t nonce) {
  uint8_t in[40];
  for (int i = 0; i < 8; ++i) in[i] = static_cast<uint8_t>(nonce >> (8 * i));
  std::memcpy(in + 8, root.data(), 32);
  uint8_t out[8];
  crypto_generichash(out, sizeof out, in, sizeof in, nullptr, 0);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | out[i];
  return v;
}

double multiplier_from_difficulty(uint64_t difficulty, uint64_t base) {
  // Unsigned negation is 2^64 - x (and 0 for x = 0, meaning 2^64).
  const double num = base == 0 ? 18446744073709551616.0 : static_cast<double>(0 - base);
  const double den = difficulty == 0 ? 18446744073709551616.0 : static_cast<double>(0 - difficulty);
  return num / den;
}

Result<uint64_t> difficulty_from_multiplier(double multiplier, uint64_t base) {
  if (!(multiplier > 0) || !std::isfinite(multiplier))
    return invalid_argument("multiplier: want a positive finite number");
  const double num = base == 0 ? 18446744073709551616.0 : static_cast<double>(0 - base);
  const double gap = num / multiplier;  // 2^64 - difficulty
  if (gap < 1.0) return invalid_argument("multiplier: difficulty above 2^64 - 1");
  if (gap >= 18446744073709551616.0) return invalid_argument("multiplier: difficulty below 0");
  return 0 - static_cast<uint64_t>(gap);
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Result<uint64_t> generate_work(const Hash32& root, uint64_t difficulty, const WorkOptions& opts) {
  unsigned threads = opts.threads != 0 ? opts.threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  constexpr uint64_t kBatch = 256;  // tries between looks at the flags
  std::atomic<bool> found{false};
  std::atomic<uint64_t> result{0};
  std::atomic<uint64_t> tries{0};
  std::atomic<bool> exhausted{false};
  uint64_t state = opts.seed;
  std::vector<uint64_t> starts(threads);
  for (auto& s : starts) s = splitmix64(state);

  auto worker = [&](uint64_t nonce) {
    while (!found.load(std::memory_order_relaxed)) {
      if (opts.cancel != nullptr && opts.cancel->load(std::memory_order_relaxed)) return;
      if (opts.max_tries != 0 && tries.fetch_add(kBatch) >= opts.max_tries) {
        exhausted = true;
        return;
      }
      for (uint64_t i = 0; i < kBatch; ++i, ++nonce) {
        if (work_value(root, nonce) >= difficulty) {
          bool expected = false;
          if (found.compare_exchange_strong(expected, true)) result = nonce;
          return;
        }
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker, starts[t]);
  worker(starts[0]);
  for (auto& th : pool) th.join();
  if (found) return result.load();
  if (exhausted) return limit_exceeded("work: no nonce within max_tries");
  return cancelled("work: generation cancelled");
}

}  // namespace chorus::nano
