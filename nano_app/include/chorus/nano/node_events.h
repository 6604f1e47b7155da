// chorus::nano::NodeEvent — what a running node tells the services built on
// it (the WebSocket API, IPC subscriptions, the devnet's figures): blocks
// confirmed, votes seen, elections started and stopped, blocks accepted but
// not yet confirmed. One type for all of them, so that every service reads
// the same facts and a new one needs no change to the node.
//
// Events are delivered on the node's election thread, in the order they
// happened; a listener copies what it needs and returns at once (it never
// blocks or calls back into the node synchronously).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <variant>
#include <vector>

#include "chorus/nano/block.h"
#include "chorus/nano/election.h"
#include "chorus/nano/message.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// How a block came to be confirmed (nano-node's `confirmation_type`).
enum class ConfirmationType {
  kActiveQuorum,              // its own election reached quorum
  kActiveConfirmationHeight,  // cemented as a dependency of a block that did
  kInactive,                  // confirmed without an election of its own here
};
const char* confirmation_type_name(ConfirmationType t);  // "active_quorum", ...

struct ElectionInfo {
  int64_t duration_ms = 0;
  uint64_t time_ms = 0;  // wall clock when it was confirmed
  Amount tally = 0;
  Amount final_tally = 0;
  size_t blocks = 0;  // competing blocks the election saw
  size_t voters = 0;
  uint32_t request_count = 0;  // confirm_req rounds it sent
};

struct BlockConfirmedEvent {
  Block block;
  BlockHash hash{};
  PublicKey account{};
  Amount amount = 0;  // what it moved (0 for a change or epoch)
  uint64_t height = 0;
  ConfirmationType type = ConfirmationType::kActiveQuorum;
  std::optional<ElectionInfo> election;  // with kActiveQuorum
};

struct VoteSeenEvent {
  Vote vote;
  VoteCode code = VoteCode::kVote;
};

struct ElectionStartedEvent {
  BlockHash hash{};
};

struct ElectionStoppedEvent {
  BlockHash hash{};
  bool expired = true;  // false: the block lost a fork and was rolled back
};

struct BlockAcceptedEvent {  // nano-node's new_unconfirmed_block
  Block block;
  BlockHash hash{};
};

using NodeEvent = std::variant<BlockConfirmedEvent, VoteSeenEvent, ElectionStartedEvent,
                               ElectionStoppedEvent, BlockAcceptedEvent>;
using NodeEventListener = std::function<void(const NodeEvent&)>;

}  // namespace chorus::nano
