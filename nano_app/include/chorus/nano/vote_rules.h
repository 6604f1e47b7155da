// The numbers of Open Representative Voting that every part of the node
// agrees on (spec/nano.md, "Votes"): how a vote's timestamp is packed, what
// makes a vote final, the quorum, and the qualified root elections are
// keyed by. Pure functions.
#pragma once

#include <array>
#include <cstdint>

#include "chorus/nano/block.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// A vote's timestamp: the time in the high 60 bits, a duration in the low 4
// (2^(bits+4) ms). All ones is a final vote.
inline constexpr uint64_t kFinalVoteTimestamp = ~uint64_t{0};
inline constexpr uint64_t kVoteTimestampMask = ~uint64_t{0xf};
inline constexpr uint8_t kVoteDurationMax = 0xf;

// The packed form of (time, duration bits).
inline uint64_t pack_vote_timestamp(uint64_t time, uint8_t duration_bits) {
  return (time & kVoteTimestampMask) | (duration_bits & kVoteDurationMax);
}
// What votes are compared by: the time without its duration, except that a
// final vote keeps all its bits (so it is later than any other).
inline uint64_t vote_time(uint64_t packed) {
  return packed == kFinalVoteTimestamp ? packed : packed & kVoteTimestampMask;
}
inline bool is_final_vote(uint64_t packed) {
  return packed == kFinalVoteTimestamp;
}

// Quorum: online_weight_quorum percent of the weight that counts.
inline constexpr unsigned kOnlineWeightQuorumPercent = 67;
// floor(w * 67 / 100) without overflowing 128 bits.
inline Amount quorum_of(Amount w) {
  return (w / 100) * kOnlineWeightQuorumPercent + (w % 100) * kOnlineWeightQuorumPercent / 100;
}

// Elections are keyed by root ‖ previous (QualifiedRoot, 64 bytes): two
// blocks compete for one place in an account chain exactly when their
// qualified roots match.
QualifiedRoot qualified_root(const Block& b);

}  // namespace chorus::nano
