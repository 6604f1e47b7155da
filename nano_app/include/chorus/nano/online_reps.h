// chorus::nano::OnlineReps — which representatives are voting now, and the
// quorum that follows (spec/nano.md, "Online weight"). No I/O: the caller
// passes the time and each representative's ledger weight.
//
//   online   the weight of representatives seen voting in the last
//            weight_period (5 min)
//   trended  the upper median of online_weight_minimum and the samples of
//            `online` taken every weight_period (the last max_samples kept)
//   delta    67 % of max(online, trended, online_weight_minimum): what a
//            block's tally must reach (and lead by) to be confirmed
//
// A representative that stops voting leaves `online` one weight_period
// later; the trended figure keeps a sudden drop from lowering the quorum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "chorus/nano/types.h"

namespace chorus::nano {

struct OnlineRepsConfig {
  // 60 million NANO, nano-node's default on every network.
  Amount online_weight_minimum =
      Amount{60'000'000} * Amount{1'000'000'000'000'000ull} * Amount{1'000'000'000'000'000ull};
  int64_t weight_period_ms = 300'000;
  size_t max_samples = 288;  // a day of 5-minute samples (nano-node: dev 288, live 4032)
};

class OnlineReps {
 public:
  explicit OnlineReps(OnlineRepsConfig config = {});

  // A live vote from `rep`, whose ledger weight is `weight` (a rep with no
  // weight is not counted).
  void observe(const PublicKey& rep, Amount weight, int64_t now_ms);
  Amount online(int64_t now_ms);
  // Every weight_period: records `online` as a sample.
  void sample(int64_t now_ms);
  Amount trended() const;
  Amount delta(int64_t now_ms);
  // The representatives seen in the last weight_period, with their weight.
  std::map<PublicKey, Amount> list(int64_t now_ms);

  // Samples kept across restarts (oldest first); at most max_samples.
  const std::vector<Amount>& samples() const { return samples_; }
  void restore_samples(std::vector<Amount> samples);
  const OnlineRepsConfig& config() const { return config_; }

 private:
  struct Seen {
    Amount weight = 0;
    int64_t last_ms = 0;
  };
  void trim(int64_t now_ms);

  OnlineRepsConfig config_;
  std::map<PublicKey, Seen> reps_;
  std::vector<Amount> samples_;
};

}  // namespace chorus::nano
