#include "chorus/nano/active_elections.h"

#include <algorithm>

#include "chorus/nano/keys.h"

namespace chorus::nano {

ActiveElections::ActiveElections(ActiveElectionsConfig config)
    : config_(config), online_(config.online) {}

bool ActiveElections::start(const QualifiedRoot& root, const BlockHash& hash, int64_t now_ms,
                            const WeightOf& weight_of) {
  if (confirmed_roots_.count(root)) return false;
  if (elections_.count(root)) {
    add_fork(root, hash, now_ms, weight_of);
    return false;
  }
  if (elections_.size() >= config_.max_elections) return false;
  auto e = std::make_unique<Election>(root, hash, now_ms, config_.election);
  Election& ref = *e;
  elections_[root] = std::move(e);
  by_hash_[hash] = root;
  events_.push_back(ElectionStarted{root, hash});
  replay_cache(ref, hash, weight_of, now_ms);
  return true;
}

bool ActiveElections::add_fork(const QualifiedRoot& root, const BlockHash& hash, int64_t now_ms,
                               const WeightOf& weight_of) {
  auto it = elections_.find(root);
  if (it == elections_.end()) return false;
  Election& e = *it->second;
  if (e.has_block(hash)) return true;
  if (!e.add_block(hash)) return false;
  by_hash_[hash] = root;
  replay_cache(e, hash, weight_of, now_ms);
  return true;
}

VoteCode ActiveElections::vote(const Vote& v, const WeightOf& weight_of, int64_t now_ms) {
  const BlockHash signed_hash = vote_hash(v);
  if (!verify(v.account, ByteView(signed_hash.data(), signed_hash.size()), v.signature))
    return VoteCode::kInvalid;
  bool any_replay = false;
  bool any_vote = false;
  std::set<BlockHash> seen;
  for (const BlockHash& h : v.hashes) {
    if (!seen.insert(h).second) continue;
    const VoteCode c = vote_one(v.account, v.timestamp, h, weight_of, now_ms);
    any_replay |= c == VoteCode::kReplay;
    any_vote |= c == VoteCode::kVote;
  }
  if (any_replay) return VoteCode::kReplay;
  return any_vote ? VoteCode::kVote : VoteCode::kIndeterminate;
}

VoteCode ActiveElections::vote_one(const PublicKey& rep, uint64_t timestamp, const BlockHash& hash,
                                   const WeightOf& weight_of, int64_t now_ms) {
  const Amount weight = weight_of(rep);
  auto where = by_hash_.find(hash);
  if (where == by_hash_.end()) {
    if (confirmed_hashes_.count(hash)) return VoteCode::kReplay;
    cache_vote(rep, weight, timestamp, hash, now_ms);
    return VoteCode::kIndeterminate;
  }
  Election& e = *elections_.at(where->second);
  const VoteCode c = e.vote(rep, weight, timestamp, hash, false, now_ms, online_.trended());
  if (c == VoteCode::kVote) {
    online_.observe(rep, weight, now_ms);
    decide(e, weight_of, now_ms);
  }
  return c;
}

void ActiveElections::decide(Election& e, const WeightOf& weight_of, int64_t now_ms) {
  const BlockHash before = e.winner();
  const ElectionUpdate u = e.decide(online_.delta(now_ms), weight_of);
  if (u.winner_changed) events_.push_back(WinnerChanged{e.root(), e.winner(), before});
  if (!u.confirmed) return;
  ElectionConfirmed c;
  c.root = e.root();
  c.winner = e.winner();
  const auto t = e.tally(weight_of);
  for (const auto& b : t)
    if (b.hash == c.winner) {
      c.tally = b.tally;
      c.final_tally = b.final_tally;
    }
  c.voters = e.last_votes().size();
  c.blocks = e.blocks().size();
  c.duration_ms = now_ms - e.started_ms();
  events_.push_back(c);
  remember_confirmed(e.root(), e.winner());
  // Confirmed elections change no more: drop it (votes for its hashes are
  // replays from now on).
  const QualifiedRoot root = e.root();
  for (const BlockHash& b : e.blocks()) by_hash_.erase(b);
  elections_.erase(root);
}

void ActiveElections::remember_confirmed(const QualifiedRoot& root, const BlockHash& hash) {
  confirmed_roots_.insert(root);
  confirmed_hashes_.insert(hash);
  confirmed_order_.emplace_back(root, hash);
  while (confirmed_order_.size() > config_.max_recently_confirmed) {
    confirmed_roots_.erase(confirmed_order_.front().first);
    confirmed_hashes_.erase(confirmed_order_.front().second);
    confirmed_order_.pop_front();
  }
}

bool ActiveElections::recently_confirmed(const BlockHash& hash) const {
  return confirmed_hashes_.count(hash) > 0;
}

void ActiveElections::cache_vote(const PublicKey& rep, Amount weight, uint64_t timestamp,
                                 const BlockHash& hash, int64_t now_ms) {
  auto it = cache_.find(hash);
  if (it == cache_.end()) {
    while (cache_.size() >= config_.max_cached_hashes && !cache_order_.empty()) {
      cache_.erase(cache_order_.front());
      cache_order_.pop_front();
    }
    it = cache_.emplace(hash, std::vector<CachedVote>{}).first;
    cache_order_.push_back(hash);
    // Hashes whose votes went to an election stay in the order until they
    // reach its front: compact it before it outgrows the cache.
    if (cache_order_.size() > 2 * config_.max_cached_hashes) {
      std::deque<BlockHash> live;
      std::set<BlockHash> kept;
      for (const BlockHash& h : cache_order_)
        if (cache_.count(h) && kept.insert(h).second) live.push_back(h);
      cache_order_.swap(live);
    }
  }
  std::vector<CachedVote>& voters = it->second;
  for (CachedVote& c : voters) {
    if (c.rep != rep) continue;
    if (vote_time(timestamp) > vote_time(c.timestamp))
      c = CachedVote{rep, weight, timestamp, now_ms};
    return;
  }
  if (voters.size() < config_.max_voters_per_hash) {
    voters.push_back(CachedVote{rep, weight, timestamp, now_ms});
    return;
  }
  // Full: a heavier representative takes the lightest one's place.
  auto lightest = std::min_element(
      voters.begin(), voters.end(),
      [](const CachedVote& a, const CachedVote& b) { return a.weight < b.weight; });
  if (lightest->weight < weight) *lightest = CachedVote{rep, weight, timestamp, now_ms};
}

void ActiveElections::replay_cache(Election& e, const BlockHash& hash, const WeightOf& weight_of,
                                   int64_t now_ms) {
  auto it = cache_.find(hash);
  if (it == cache_.end()) return;
  const std::vector<CachedVote> voters = std::move(it->second);
  cache_.erase(it);
  bool counted = false;
  for (const CachedVote& c : voters)
    counted |= e.vote(c.rep, weight_of(c.rep), c.timestamp, hash, /*from_cache=*/true, now_ms,
                      online_.trended()) == VoteCode::kVote;
  if (counted) decide(e, weight_of, now_ms);
}

ActiveElections::CachedTally ActiveElections::cached(const BlockHash& hash) const {
  CachedTally t;
  auto it = cache_.find(hash);
  if (it == cache_.end()) return t;
  for (const CachedVote& c : it->second) {
    t.tally += c.weight;
    if (is_final_vote(c.timestamp)) t.final_tally += c.weight;
  }
  t.voters = it->second.size();
  return t;
}

void ActiveElections::tick(int64_t now_ms) {
  if (last_sample_ms_ == 0) last_sample_ms_ = now_ms;
  if (now_ms - last_sample_ms_ >= config_.online.weight_period_ms) {
    online_.sample(now_ms);
    last_sample_ms_ = now_ms;
  }
  for (auto it = elections_.begin(); it != elections_.end();) {
    Election& e = *it->second;
    if (now_ms - e.started_ms() < config_.election_ttl_ms) {
      ++it;
      continue;
    }
    events_.push_back(ElectionStopped{e.root(), e.blocks()});
    for (const BlockHash& b : e.blocks()) by_hash_.erase(b);
    it = elections_.erase(it);
  }
  // Cached votes age out, oldest hashes first.
  while (!cache_order_.empty()) {
    auto it = cache_.find(cache_order_.front());
    if (it != cache_.end()) {
      int64_t newest = 0;
      for (const CachedVote& c : it->second) newest = std::max(newest, c.received_ms);
      if (now_ms - newest < config_.cache_age_ms) break;
      cache_.erase(it);
    }
    cache_order_.pop_front();
  }
}

std::vector<ElectionEvent> ActiveElections::take_events() {
  std::vector<ElectionEvent> out;
  out.swap(events_);
  return out;
}

const Election* ActiveElections::find(const QualifiedRoot& root) const {
  auto it = elections_.find(root);
  return it == elections_.end() ? nullptr : it->second.get();
}

const Election* ActiveElections::find_by_hash(const BlockHash& hash) const {
  auto it = by_hash_.find(hash);
  return it == by_hash_.end() ? nullptr : find(it->second);
}

bool ActiveElections::erase(const QualifiedRoot& root) {
  auto it = elections_.find(root);
  if (it == elections_.end()) return false;
  for (const BlockHash& b : it->second->blocks()) by_hash_.erase(b);
  elections_.erase(it);
  return true;
}

std::vector<const Election*> ActiveElections::list() const {
  std::vector<const Election*> out;
  out.reserve(elections_.size());
  for (const auto& [root, e] : elections_) out.push_back(e.get());
  return out;
}

}  // namespace chorus::nano
