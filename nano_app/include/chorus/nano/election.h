// chorus::nano::Election — one election of Open Representative Voting: the
// blocks competing for one qualified root, the last vote of each
// representative, and the decision (spec/nano.md, "Elections"). No I/O and
// no clock: the caller passes the time, the representatives' ledger
// weights and the quorum (OnlineReps::delta).
//
//   Election e(qualified_root(block), hash_of(block), now_ms);
//   VoteCode c = e.vote(rep, weight, vote.timestamp, hash, false, now_ms, trended);
//   if (c == VoteCode::kVote) {
//     ElectionUpdate u = e.decide(online.delta(now_ms), weight_of);
//     if (u.winner_changed) ...  // put e.winner() in the ledger, rolling the loser back
//     if (u.confirmed) ...       // cement e.winner()
//   }
//
// The rules are nano-node's:
//   * a vote older than the representative's last one in this election is
//     a replay; one with the same time is a replay unless it is for a
//     numerically greater hash; a final vote (timestamp all ones) is later
//     than any other;
//   * a representative that voted recently is ignored until its cooldown
//     passes (1 s above 5 % of the trended weight, 5 s above 1 %, else
//     15 s), unless a final vote replaces a normal one;
//   * tallies use the representatives' current weights; once all tallies
//     together reach delta, the heaviest block becomes the winner;
//   * the winner is confirmed when it leads the next block by delta and its
//     final votes alone reach delta. A confirmed election never changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "chorus/nano/types.h"
#include "chorus/nano/vote_rules.h"

namespace chorus::nano {

enum class VoteCode {
  kInvalid,        // the signature did not verify (decided before an election sees it)
  kReplay,         // not newer than what this representative said already
  kVote,           // counted
  kIndeterminate,  // no election for the hash, or the representative weighs too little
  kIgnored,        // within the representative's cooldown
};
const char* vote_code_name(VoteCode code);  // "invalid", "replay", "vote", ...

struct ElectionConfig {
  size_t max_blocks = 10;  // competing blocks kept for one root
  // Outside the dev network, a representative at or below 0.1 % of the
  // trended weight is not counted (indeterminate).
  bool require_principal_weight = false;
};

struct ElectionUpdate {
  bool winner_changed = false;  // the ledger must now hold winner()
  bool confirmed = false;       // this call confirmed it
};

using WeightOf = std::function<Amount(const PublicKey&)>;

class Election {
 public:
  Election(const QualifiedRoot& root, const BlockHash& first, int64_t now_ms,
           ElectionConfig config = {});

  const QualifiedRoot& root() const { return root_; }
  const BlockHash& winner() const { return winner_; }
  bool confirmed() const { return confirmed_; }
  int64_t started_ms() const { return started_ms_; }
  const std::vector<BlockHash>& blocks() const { return blocks_; }
  bool has_block(const BlockHash& hash) const;

  // A fork for this root. False when the election is confirmed or already
  // holds max_blocks.
  bool add_block(const BlockHash& hash);

  // A vote whose signature was checked, for `hash` from `rep` (its weight in
  // the ledger now). `from_cache`: replayed from the vote cache, which
  // skips the cooldown.
  VoteCode vote(const PublicKey& rep, Amount weight, uint64_t timestamp, const BlockHash& hash,
                bool from_cache, int64_t now_ms, Amount trended);

  // Recounts with the representatives' current weights and applies the
  // rules above. Idempotent; nothing changes once confirmed.
  ElectionUpdate decide(Amount delta, const WeightOf& weight_of);

  struct BlockTally {
    BlockHash hash{};
    Amount tally = 0;
    Amount final_tally = 0;
  };
  // Heaviest first (ties: the smaller hash first); blocks without votes too.
  std::vector<BlockTally> tally(const WeightOf& weight_of) const;

  struct LastVote {
    uint64_t timestamp = 0;  // as packed in the vote
    BlockHash hash{};
    int64_t received_ms = 0;
  };
  const std::map<PublicKey, LastVote>& last_votes() const { return last_votes_; }

 private:
  QualifiedRoot root_;
  BlockHash winner_;
  std::vector<BlockHash> blocks_;
  std::map<PublicKey, LastVote> last_votes_;
  int64_t started_ms_;
  bool confirmed_ = false;
  ElectionConfig config_;
};

}  // namespace chorus::nano
