#include "chorus/nano/election.h"

#include <algorithm>

namespace chorus::nano {

namespace {

Amount add_saturating(Amount a, Amount b) {
  return a > kAmountMax - b ? kAmountMax : a + b;
}

// How long a representative waits between counted votes in one election,
// by its share of the trended weight.
int64_t cooldown_ms(Amount weight, Amount trended) {
  if (weight > trended / 100 * 5) return 1'000;
  if (weight > trended / 100) return 5'000;
  return 15'000;
}

}  // namespace

const char* vote_code_name(VoteCode code) {
  switch (code) {
    case VoteCode::kInvalid:
      return "invalid";
    case VoteCode::kReplay:
      return "replay";
    case VoteCode::kVote:
      return "vote";
    case VoteCode::kIndeterminate:
      return "indeterminate";
    case VoteCode::kIgnored:
      return "ignored";
  }
  return "unknown";
}

QualifiedRoot qualified_root(const Block& b) {
  QualifiedRoot q{};
  const Hash32 root = block_root(b);
  std::copy(root.begin(), root.end(), q.begin());
  std::copy(b.previous.begin(), b.previous.end(), q.begin() + 32);
  return q;
}

Election::Election(const QualifiedRoot& root, const BlockHash& first, int64_t now_ms,
                   ElectionConfig config)
    : root_(root), winner_(first), blocks_{first}, started_ms_(now_ms), config_(config) {}

bool Election::has_block(const BlockHash& hash) const {
  return std::find(blocks_.begin(), blocks_.end(), hash) != blocks_.end();
}

bool Election::add_block(const BlockHash& hash) {
  if (has_block(hash)) return true;
  if (confirmed_ || blocks_.size() >= config_.max_blocks) return false;
  blocks_.push_back(hash);
  return true;
}

VoteCode Election::vote(const PublicKey& rep, Amount weight, uint64_t timestamp,
                        const BlockHash& hash, bool from_cache, int64_t now_ms, Amount trended) {
  if (!has_block(hash)) return VoteCode::kIndeterminate;
  if (config_.require_principal_weight && weight <= trended / 1000) return VoteCode::kIndeterminate;
  const uint64_t time = vote_time(timestamp);
  auto last = last_votes_.find(rep);
  if (last != last_votes_.end()) {
    const uint64_t last_time = vote_time(last->second.timestamp);
    if (last_time > time) return VoteCode::kReplay;
    if (last_time == time && !(last->second.hash < hash)) return VoteCode::kReplay;
    const bool final_over_normal =
        is_final_vote(timestamp) && !is_final_vote(last->second.timestamp);
    if (!from_cache && !final_over_normal &&
        now_ms - last->second.received_ms < cooldown_ms(weight, trended))
      return VoteCode::kIgnored;
  }
  last_votes_[rep] = LastVote{timestamp, hash, now_ms};
  return VoteCode::kVote;
}

std::vector<Election::BlockTally> Election::tally(const WeightOf& weight_of) const {
  std::map<BlockHash, BlockTally> by_hash;
  for (const BlockHash& b : blocks_) by_hash[b].hash = b;
  for (const auto& [rep, v] : last_votes_) {
    auto it = by_hash.find(v.hash);
    if (it == by_hash.end()) continue;
    const Amount w = weight_of(rep);
    it->second.tally = add_saturating(it->second.tally, w);
    if (is_final_vote(v.timestamp))
      it->second.final_tally = add_saturating(it->second.final_tally, w);
  }
  std::vector<BlockTally> out;
  for (auto& [hash, t] : by_hash) out.push_back(t);
  std::stable_sort(out.begin(), out.end(),
                   [](const BlockTally& a, const BlockTally& b) { return a.tally > b.tally; });
  return out;
}

ElectionUpdate Election::decide(Amount delta, const WeightOf& weight_of) {
  ElectionUpdate u;
  if (confirmed_) return u;
  const std::vector<BlockTally> t = tally(weight_of);
  Amount total = 0;
  for (const BlockTally& b : t) total = add_saturating(total, b.tally);
  const BlockTally& top = t.front();
  if (total >= delta && top.hash != winner_) {
    winner_ = top.hash;
    u.winner_changed = true;
  }
  const Amount second = t.size() > 1 ? t[1].tally : 0;
  const bool quorum = top.tally - second >= delta;
  if (quorum && top.hash == winner_ && top.final_tally >= delta) {
    confirmed_ = true;
    u.confirmed = true;
  }
  return u;
}

}  // namespace chorus::nano
