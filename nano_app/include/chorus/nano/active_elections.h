// chorus::nano::ActiveElections — the elections a node runs, the votes that
// arrive for them, and the votes that arrive early (spec/nano.md,
// "Elections"). No I/O: the caller passes votes, the time and a way to read
// ledger weights, and takes out what happened (started, confirmed, winner
// changed, stopped) to act on: put a new winner into the ledger, cement a
// confirmed block, tell WebSocket subscribers.
//
//   ActiveElections active(config);
//   active.start(qualified_root(block), block_hash(block), now_ms);
//   VoteCode code = active.vote(vote, weight_of, now_ms);
//   for (auto& event : active.take_events()) ...
//   active.tick(now_ms);  // expires elections past their time to live
//
// Bounds: max_elections at once (start() refuses beyond), max_blocks per
// election, the vote cache (max_cached_hashes, oldest evicted, at most
// max_voters_per_hash, the heaviest kept) and the recently confirmed roots
// and hashes (max_recently_confirmed, oldest forgotten).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "chorus/nano/election.h"
#include "chorus/nano/message.h"
#include "chorus/nano/online_reps.h"
#include "chorus/nano/vote_rules.h"

namespace chorus::nano {

struct ActiveElectionsConfig {
  size_t max_elections = 5000;
  int64_t election_ttl_ms = 300'000;  // unconfirmed after this: stopped
  ElectionConfig election;
  size_t max_cached_hashes = 65536;
  size_t max_voters_per_hash = 64;
  int64_t cache_age_ms = 900'000;  // cached votes older than this are dropped
  size_t max_recently_confirmed = 65536;
  OnlineRepsConfig online;
};

// What happened, for the driver to act on.
struct ElectionStarted {
  QualifiedRoot root;
  BlockHash hash;
};
struct WinnerChanged {  // put `winner` into the ledger in place of `loser`
  QualifiedRoot root;
  BlockHash winner;
  BlockHash loser;
};
struct ElectionConfirmed {  // cement `winner`
  QualifiedRoot root;
  BlockHash winner;
  Amount tally = 0;
  Amount final_tally = 0;
  size_t voters = 0;
  size_t blocks = 0;  // competing blocks the election held
  int64_t duration_ms = 0;
};
struct ElectionStopped {  // expired unconfirmed
  QualifiedRoot root;
  std::vector<BlockHash> blocks;
};
using ElectionEvent =
    std::variant<ElectionStarted, WinnerChanged, ElectionConfirmed, ElectionStopped>;

class ActiveElections {
 public:
  explicit ActiveElections(ActiveElectionsConfig config = {});

  // An election for `hash` at `root`. False when one exists for the root
  // already (then `hash` joins it as a fork, if there is room), when the
  // root was confirmed recently, or when max_elections run. Cached votes
  // for the hash are counted at once.
  bool start(const QualifiedRoot& root, const BlockHash& hash, int64_t now_ms,
             const WeightOf& weight_of);
  // A fork of an election's block arrived: it joins the election.
  bool add_fork(const QualifiedRoot& root, const BlockHash& hash, int64_t now_ms,
                const WeightOf& weight_of);

  // A vote from the network (`live`), checked here: invalid for a bad
  // signature; otherwise each hash goes to its election, or to the vote
  // cache when it has none. The result: replay when any hash was a replay,
  // else vote when any counted, else indeterminate (nano-node's order). A
  // counted live vote marks its representative online.
  VoteCode vote(const Vote& vote, const WeightOf& weight_of, int64_t now_ms);

  // Expires elections past their time to live, ages the vote cache, and
  // samples the online weight every weight period.
  void tick(int64_t now_ms);
  std::vector<ElectionEvent> take_events();

  const Election* find(const QualifiedRoot& root) const;
  const Election* find_by_hash(const BlockHash& hash) const;
  // Ends the election at `root` without an event: its block was cemented
  // another way (as a dependency of a block confirmed after it). False when
  // none runs there.
  bool erase(const QualifiedRoot& root);
  // Every running election, in root order.
  std::vector<const Election*> list() const;
  size_t size() const { return elections_.size(); }
  bool recently_confirmed(const BlockHash& hash) const;
  OnlineReps& online() { return online_; }

  // The vote cache's tally for a hash (votes that came before its election).
  struct CachedTally {
    Amount tally = 0;
    Amount final_tally = 0;
    size_t voters = 0;
  };
  CachedTally cached(const BlockHash& hash) const;

 private:
  struct CachedVote {
    PublicKey rep{};
    Amount weight = 0;
    uint64_t timestamp = 0;
    int64_t received_ms = 0;
  };
  VoteCode vote_one(const PublicKey& rep, uint64_t timestamp, const BlockHash& hash,
                    const WeightOf& weight_of, int64_t now_ms);
  void cache_vote(const PublicKey& rep, Amount weight, uint64_t timestamp, const BlockHash& hash,
                  int64_t now_ms);
  void replay_cache(Election& e, const BlockHash& hash, const WeightOf& weight_of, int64_t now_ms);
  void decide(Election& e, const WeightOf& weight_of, int64_t now_ms);
  void remember_confirmed(const QualifiedRoot& root, const BlockHash& hash);

  ActiveElectionsConfig config_;
  OnlineReps online_;
  std::map<QualifiedRoot, std::unique_ptr<Election>> elections_;
  std::map<BlockHash, QualifiedRoot> by_hash_;
  std::map<BlockHash, std::vector<CachedVote>> cache_;
  std::deque<BlockHash> cache_order_;
  std::set<BlockHash> confirmed_hashes_;
  std::set<QualifiedRoot> confirmed_roots_;
  std::deque<std::pair<QualifiedRoot, BlockHash>> confirmed_order_;
  std::vector<ElectionEvent> events_;
  int64_t last_sample_ms_ = 0;
};

}  // namespace chorus::nano
