// What the ledger keeps besides blocks, and what it answers for a block:
// nano-node's block_status codes, sideband, account info and receivable
// (pending) entries (spec/nano.md §Ledger).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "chorus/nano/block.h"
#include "chorus/nano/network.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// The result of processing a block. A block is checked rule by rule in
// nano-node's order and gets the code of the first rule it breaks, so a
// node here and nano-node answer the same block with the same code.
enum class BlockStatus : uint8_t {
  kProgress,                // accepted
  kOld,                     // already in the ledger
  kBadSignature,            // not signed by the account (or the epoch signer)
  kNegativeSpend,           // a legacy send that raises the balance
  kFork,                    // another block already follows `previous`, or the account is open
  kUnreceivable,            // the source is not receivable by this account (any more)
  kGapPrevious,             // `previous` is not in the ledger yet
  kGapSource,               // the source block is not in the ledger yet
  kGapEpochOpenPending,     // an epoch open for an account with nothing receivable
  kOpenedBurnAccount,       // the burn account (key zero) cannot be opened
  kBalanceMismatch,         // the balance does not match what the block claims to do
  kRepresentativeMismatch,  // an epoch block that changes the representative
  kBlockPosition,           // a legacy block after a state block, or an epoch out of order
  kInsufficientWork,        // work below the threshold for its epoch and kind
};

// nano-node's name: "progress", "old", "bad_signature", ...
std::string_view block_status_name(BlockStatus s);

struct BlockDetails {
  Epoch epoch = Epoch::k0;
  bool is_send = false;
  bool is_receive = false;
  bool is_epoch = false;
  bool operator==(const BlockDetails&) const = default;
};

// What the ledger learns about a block when it accepts it.
struct Sideband {
  PublicKey account{};     // the chain it belongs to
  uint64_t height = 0;     // 1 for the open block
  uint64_t timestamp = 0;  // seconds since the Unix epoch, when accepted
  Amount balance = 0;      // the account's balance after it
  BlockDetails details;
  Epoch source_epoch = Epoch::k0;  // receives: the epoch of the send they receive
  bool operator==(const Sideband&) const = default;
};

struct StoredBlock {
  Block block;
  Sideband sideband;
  BlockHash successor{};  // zero while it is its account's head
  bool operator==(const StoredBlock&) const = default;
};

struct AccountInfo {
  BlockHash head{};
  PublicKey representative{};
  BlockHash open_block{};
  Amount balance = 0;
  uint64_t modified = 0;  // seconds since the Unix epoch
  uint64_t block_count = 0;
  Epoch epoch = Epoch::k0;
  bool operator==(const AccountInfo&) const = default;
};

// A receivable amount: the send `hash` to `account`, not yet received.
struct PendingKey {
  PublicKey account{};
  BlockHash hash{};
  auto operator<=>(const PendingKey&) const = default;
};
struct PendingInfo {
  PublicKey source{};  // the sending account
  Amount amount = 0;
  Epoch epoch = Epoch::k0;  // of the send: epoch 1+ sends need a state receive
  bool operator==(const PendingInfo&) const = default;
};

// How far an account is confirmed (set by elections in part 2; rollback
// refuses to go below it).
struct ConfirmationHeight {
  uint64_t height = 0;
  BlockHash frontier{};
  bool operator==(const ConfirmationHeight&) const = default;
};

}  // namespace chorus::nano
