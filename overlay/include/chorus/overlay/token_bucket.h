// TokenBucket: one rate limit, `rate_per_s` on average with bursts of up to
// `burst`, on the caller's clock (microseconds).
//
// Why one type: the overlay limits SHOUTs and relay requests per link, and
// the broadcast tree limits IHAVE ids and GRAFTed ids per link. Each used to
// carry its own copy of the refill arithmetic; this is that arithmetic once.
//
// Time is a parameter (sans-IO): refill(now_us) adds what accrued since the
// last refill, never more than `burst`, and a clock that stands still or
// goes back adds nothing. A bucket starts full. Plain value, no allocation,
// no virtual calls: it sits on the SHOUT hot path.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace chorus::overlay {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double rate_per_s, double burst, int64_t now_us)
      : rate_per_s_(rate_per_s), burst_(burst), tokens_(burst), updated_us_(now_us) {}

  // Adds the tokens accrued since the last refill, capped at the burst.
  void refill(int64_t now_us) {
    if (now_us <= updated_us_) return;
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - updated_us_) * rate_per_s_ /
                                             kMicrosPerSecond);
    updated_us_ = now_us;
  }
  // Whole tokens can be taken (without refilling first).
  bool has_token() const { return tokens_ >= 1; }
  // Takes one token; the caller checked has_token().
  void take() { tokens_ -= 1; }
  // Refills, then takes one token if there is one.
  bool try_take(int64_t now_us) {
    refill(now_us);
    if (!has_token()) return false;
    take();
    return true;
  }
  // Refills, then takes as many of `wanted` whole tokens as there are;
  // returns how many it took.
  size_t take_up_to(size_t wanted, int64_t now_us) {
    refill(now_us);
    const size_t whole = static_cast<size_t>(std::max(tokens_, 0.0));
    const size_t taken = std::min(wanted, whole);
    tokens_ -= static_cast<double>(taken);
    return taken;
  }
  double tokens() const { return tokens_; }

 private:
  static constexpr double kMicrosPerSecond = 1e6;

  double rate_per_s_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  int64_t updated_us_ = 0;
};

}  // namespace chorus::overlay
