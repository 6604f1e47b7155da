// What a node's elections look like from outside (NanoNode::elections(),
// the RPC's representatives_online, confirmation_quorum,
// confirmation_active, confirmation_history and election_info): copies,
// taken on the elections' own thread.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "chorus/nano/block.h"
#include "chorus/nano/election.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// A confirmed election, for confirmation_history and the devnet's figures.
struct ConfirmedElection {
  BlockHash hash{};
  ElectionInfo info;
};

// What the RPC reads (a copy, taken on the driver's thread).
struct ElectionsSnapshot {
  Amount online_weight = 0;
  Amount trended_weight = 0;
  Amount quorum_delta = 0;
  Amount online_weight_minimum = 0;
  std::map<PublicKey, Amount> online_reps;
  std::vector<QualifiedRoot> active;
  std::vector<ConfirmedElection> history;  // oldest first
  uint64_t confirmed_blocks = 0;           // cemented by this node since it started
  uint64_t elections_confirmed = 0;
  uint64_t forks_resolved = 0;  // elections with more than one block that confirmed
};

// One running election, for election_info / confirmation_info.
struct ElectionView {
  QualifiedRoot root;
  BlockHash winner{};
  int64_t started_ms = 0;
  std::vector<Election::BlockTally> blocks;
  std::map<PublicKey, Election::LastVote> votes;
  // confirm_req rounds sent for it (the RPC's `announcements`).
  uint32_t request_count = 0;
  // The competing blocks themselves, for confirmation_info's `contents`;
  // one missing here is read from the ledger.
  std::map<BlockHash, Block> contents;
};

}  // namespace chorus::nano
