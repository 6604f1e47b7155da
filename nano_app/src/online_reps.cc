#include "chorus/nano/online_reps.h"

#include <algorithm>

#include "chorus/nano/vote_rules.h"

namespace chorus::nano {

OnlineReps::OnlineReps(OnlineRepsConfig config) : config_(config) {}

void OnlineReps::observe(const PublicKey& rep, Amount weight, int64_t now_ms) {
  if (weight == 0) return;
  reps_[rep] = Seen{weight, now_ms};
}

void OnlineReps::trim(int64_t now_ms) {
  for (auto it = reps_.begin(); it != reps_.end();)
    it = now_ms - it->second.last_ms >= config_.weight_period_ms ? reps_.erase(it) : std::next(it);
}

Amount OnlineReps::online(int64_t now_ms) {
  trim(now_ms);
  Amount sum = 0;
  for (const auto& [rep, seen] : reps_) {
    // The supply fits in 128 bits, but a caller's weights need not: saturate.
    sum = sum > kAmountMax - seen.weight ? kAmountMax : sum + seen.weight;
  }
  return sum;
}

void OnlineReps::sample(int64_t now_ms) {
  samples_.push_back(online(now_ms));
  if (samples_.size() > config_.max_samples)
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(
                                                            samples_.size() - config_.max_samples));
}

Amount OnlineReps::trended() const {
  // The minimum is one of the items, so a node with few samples (or none)
  // trends toward it rather than toward whatever it saw first.
  std::vector<Amount> items = samples_;
  items.push_back(config_.online_weight_minimum);
  auto mid = items.begin() + static_cast<std::ptrdiff_t>(items.size() / 2);
  std::nth_element(items.begin(), mid, items.end());
  return *mid;
}

Amount OnlineReps::delta(int64_t now_ms) {
  return quorum_of(std::max({online(now_ms), trended(), config_.online_weight_minimum}));
}

std::map<PublicKey, Amount> OnlineReps::list(int64_t now_ms) {
  trim(now_ms);
  std::map<PublicKey, Amount> out;
  for (const auto& [rep, seen] : reps_) out[rep] = seen.weight;
  return out;
}

void OnlineReps::restore_samples(std::vector<Amount> samples) {
  samples_ = std::move(samples);
  if (samples_.size() > config_.max_samples)
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(
                                                            samples_.size() - config_.max_samples));
}

}  // namespace chorus::nano
