// ElectionDriver: runs the node's elections (spec/nano.md, "Votes and
// elections") on a thread of its own. It feeds the no-I/O cores
// (ActiveElections, VoteGenerator) with what the node sees and carries out
// what they decide:
//
//   block accepted  -> the account's first unconfirmed block, when what it
//                      receives is cemented, gets an election
//   fork seen       -> joins the election at its root (one is started for
//                      the ledger's block there when none runs)
//   vote received   -> counted; the caller forwards or penalizes by its code
//   winner changed  -> the ledger rolls the loser back and takes the winner
//   quorum reached  -> a hosted representative claims its final vote (in
//                      the store, committed) and only then sends it
//   confirmed       -> cemented, dependencies first; NodeEvents told; the
//                      next blocks activated
//
// Every input is posted to the thread, so callers never wait on an election.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/active_elections.h"
#include "chorus/nano/election_status.h"
#include "chorus/nano/ledger_service.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/vote_generator.h"

namespace chorus::nano {

struct ElectionDriverConfig {
  ActiveElectionsConfig active;
  VoteGeneratorConfig generator;
  int64_t tick_ms = 10;            // the generator's batches and cementing run this often
  int64_t revote_ms = 1000;        // an unconfirmed election's votes are sent again this often
  int64_t request_after_ms = 500;  // an election this old asks the representatives (confirm_req)
  int64_t request_interval_ms = 1000;  // and again this often
  size_t max_requests_per_round = 16;  // confirm_req messages (255 pairs each) per round
  // An election asked this many times without a decision publishes its
  // block again (as nano-node's elections do): a node that accepted a block
  // and was killed before passing it on is the only holder until then.
  uint32_t republish_after_requests = 2;
  size_t max_republish_per_round = 64;
  // An account this many blocks past its confirmation height also gets an
  // election for its head (nano-node's optimistic elections): confirming
  // the head cements the chain below it in one step, which is how a node
  // that was away catches up.
  uint64_t optimistic_gap = 8;
  size_t max_backlog = 100'000;  // accounts waiting for room among the elections
  size_t max_history = 2048;     // confirmed elections kept for confirmation_history
  size_t max_tasks = 1'000'000;  // inputs waiting for the thread
};

// An answer to a confirm_req: votes, and the blocks voted for that the
// asker does not hold (it holds a fork of them).
struct VoteAnswer {
  std::vector<Vote> votes;
  std::vector<Block> blocks;
};

class ElectionDriver {
 public:
  static constexpr size_t kMaxAnswerBlocks = 16;
  struct Hooks {
    // Sends a signed vote of a hosted representative to the network (any
    // thread; empty: no network).
    std::function<void(const Vote&)> broadcast;
    // Asks the nodes that host representatives for their votes on these
    // (hash, root) pairs (a confirm_req); the answers come back through
    // vote_received. Empty: no network.
    std::function<void(std::vector<ConfirmReq::Pair>)> request_votes;
    // Publishes a block of an undecided election again (empty: no network).
    std::function<void(const Block&)> republish;
    std::function<void(const NodeEvent&)> emit;
    std::function<int64_t()> now_ms;  // steady milliseconds
    std::function<uint64_t()> wall_ms;
  };

  static Result<std::unique_ptr<ElectionDriver>> start(LedgerService& ledger,
                                                       std::vector<PrivateKey> representatives,
                                                       ElectionDriverConfig config, Hooks hooks);
  ~ElectionDriver();  // stop()
  void stop();

  // Inputs, from any thread.
  void block_accepted(const BlockHash& hash);
  // `done` (optional) hears, on the driver's thread, whether the fork joined
  // an election (and so should travel on).
  void fork_seen(const Block& block, std::function<void(bool)> done = {});
  // `done` runs on the driver's thread with the vote's code and whether its
  // key is a representative here (has ledger weight).
  void vote_received(Vote vote, std::function<void(VoteCode, bool)> done);
  // A confirm_req from a peer: `reply` runs (on any thread) with the votes
  // of the representatives hosted here for the pairs they can vote on:
  // final for a block cemented or voted final here, normal for the block
  // winning an election here; nothing for the rest.
  void answer_request(std::vector<ConfirmReq::Pair> pairs, std::function<void(VoteAnswer)> reply);
  // Starts an election for a block in the ledger that is not cemented
  // (block_confirm); false when there is no such block.
  bool confirm_block(const BlockHash& hash);

  // Reads, from any thread other than the driver's (waits for it, bounded).
  ElectionsSnapshot snapshot();
  std::optional<ElectionView> election(const BlockHash& hash_or_root);
  const std::vector<PublicKey>& representatives() const { return rep_keys_; }
  // Blocks cemented in the ledger (counted at start, before this driver
  // cemented anything, plus what it cemented since).
  uint64_t cemented_count() const;

 private:
  ElectionDriver(LedgerService& ledger, std::vector<PrivateKey> reps, ElectionDriverConfig config,
                 Hooks hooks);
  struct Inbox;
  bool post(std::function<void()> task);
  void run();
  void tick();
  void resume();
  void activate(const PublicKey& account);
  bool start_election(const BlockHash& hash, const Block& block);
  void handle_events();
  void check_quorum(const QualifiedRoot& root);
  void replace(const QualifiedRoot& root, const BlockHash& winner);
  void flush_cementing();
  void request_round(int64_t now);
  void forget(const QualifiedRoot& root);
  void cemented(const std::vector<BlockHash>& hashes, const std::vector<CementedBlock>& blocks);
  VoteCode count_vote(const Vote& vote);
  Amount weight(const PublicKey& rep);

  LedgerService& ledger_;
  LedgerStore& store_;
  ElectionDriverConfig config_;
  Hooks hooks_;
  std::vector<PublicKey> rep_keys_;

  std::shared_ptr<Inbox> inbox_;
  std::atomic<uint64_t> cemented_base_{0};
  std::thread thread_;

  // The driver thread's own.
  ActiveElections active_;
  std::unique_ptr<VoteGenerator> generator_;                    // null without representatives
  std::map<QualifiedRoot, std::map<BlockHash, Block>> blocks_;  // the blocks in elections
  std::map<PublicKey, Amount> weights_;                         // ledger weights read this tick
  std::set<QualifiedRoot> final_claimed_;  // roots our representatives voted final at
  std::map<QualifiedRoot, int64_t> last_vote_ms_;
  std::vector<BlockHash> to_cement_;
  std::map<BlockHash, ElectionInfo> confirmed_info_;  // confirmed, waiting to be cemented
  std::set<PublicKey> backlog_;
  std::deque<ConfirmedElection> history_;
  uint64_t confirmed_blocks_ = 0;
  uint64_t elections_confirmed_ = 0;
  uint64_t forks_resolved_ = 0;
  int64_t last_revote_ms_ = 0;
  int64_t last_request_round_ms_ = 0;
  std::map<QualifiedRoot, std::pair<int64_t, uint32_t>> requests_;  // last time, count
};

}  // namespace chorus::nano
