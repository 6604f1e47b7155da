#include "nano_bench.h"

#include <sodium.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/work.h"

namespace chorus::nano {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `op(i)` until min_time_ms has passed; returns operations per second.
template <typename Op>
double rate(unsigned min_time_ms, Op&& op) {
  const auto start = Clock::now();
  const auto until = start + std::chrono::milliseconds(min_time_ms);
  uint64_t n = 0;
  while (Clock::now() < until) {
    for (int k = 0; k < 16; ++k) op(n++);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(n) / secs;
}

double work_rate(unsigned threads, unsigned min_time_ms) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Hash32 root{};
      root[0] = static_cast<uint8_t>(t);
      uint64_t n = 0, sink = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 256; ++k) sink ^= work_value(root, n++);
      }
      total += n + (sink & 0);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(min_time_ms));
  stop = true;
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(total.load()) / secs;
}

}  // namespace

nlohmann::ordered_json run_bench(const BenchOptions& opts) {
  constexpr size_t kKeys = 64;
  std::vector<PrivateKey> prv(kKeys);
  std::vector<PublicKey> pub(kKeys);
  std::vector<BlockHash> msg(kKeys);
  std::vector<Signature> sig(kKeys);
  // Standard Ed25519 (SHA-512) keys and signatures over the same messages.
  std::vector<std::array<uint8_t, crypto_sign_PUBLICKEYBYTES>> std_pub(kKeys);
  std::vector<std::array<uint8_t, crypto_sign_BYTES>> std_sig(kKeys);
  for (size_t i = 0; i < kKeys; ++i) {
    Seed seed{};
    prv[i] = derive_private_key(seed, static_cast<uint32_t>(i));
    pub[i] = public_key(prv[i]);
    msg[i] = derive_private_key(prv[i], 7);  // any 32 bytes
    sig[i] = sign(prv[i], msg[i]);
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(std_pub[i].data(), sk, prv[i].data());
    crypto_sign_detached(std_sig[i].data(), nullptr, msg[i].data(), msg[i].size(), sk);
    sodium_memzero(sk, sizeof sk);
  }
  Block block;
  block.type = BlockType::kState;
  const unsigned t = opts.min_time_ms;

  const double hash_rate = rate(t, [&](uint64_t i) {
    block.balance = i;
    (void)block_hash(block);
  });
  const double sign_rate = rate(t, [&](uint64_t i) { (void)sign(prv[i % kKeys], msg[i % kKeys]); });
  bool all_ok = true;
  const double verify_rate = rate(
      t, [&](uint64_t i) { all_ok &= verify(pub[i % kKeys], msg[i % kKeys], sig[i % kKeys]); });
  // "Batch": a block of 64 distinct signatures checked back to back (no
  // batch algorithm yet, so this is the single rate on varied inputs).
  const double batch_rate = kKeys * rate(t, [&](uint64_t) {
                              for (size_t k = 0; k < kKeys; ++k)
                                all_ok &= verify(pub[k], msg[k], sig[k]);
                            });
  const double reference_rate = rate(t, [&](uint64_t i) {
    all_ok &= verify_reference(pub[i % kKeys], msg[i % kKeys], sig[i % kKeys]);
  });
  const double sodium_rate = rate(t, [&](uint64_t i) {
    const size_t k = i % kKeys;
    all_ok &= crypto_sign_verify_detached(std_sig[k].data(), msg[k].data(), msg[k].size(),
                                          std_pub[k].data()) == 0;
  });

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = opts.threads != 0 ? opts.threads : cores;
  const double work_one = work_rate(1, t);
  const double work_all = work_rate(threads, t);

  nlohmann::ordered_json j;
  j["block_hashes_per_s"] = hash_rate;
  j["signs_per_s"] = sign_rate;
  j["verifies_per_s"] = verify_rate;
  j["verifies_batch_per_s"] = batch_rate;
  j["verifies_reference_per_s"] = reference_rate;
  j["libsodium_ed25519_verifies_per_s"] = sodium_rate;
  j["verify_ratio_to_libsodium"] = verify_rate / sodium_rate;
  j["work_hashes_per_s_one_thread"] = work_one;
  j["work_threads"] = threads;
  j["work_hashes_per_s_total"] = work_all;
  j["work_hashes_per_s_per_thread"] = work_all / threads;
  j["all_signatures_valid"] = all_ok;
  return j;
}

}  // namespace chorus::nano
