// Ledger: the rules of the NANO ledger over a LedgerStore, in nano-node's
// order (spec/nano.md §Ledger).
//
// process() checks one block and, when it is accepted, writes it with its
// sideband and updates the account, receivable entries and representative
// weights, all inside the caller's write transaction: a caller batches many
// blocks into one transaction and commits once. rollback() undoes blocks,
// newest first, with everything that depends on them.
//
// The Ledger holds no state of its own besides the network's constants, so
// any number of threads may read through their own transactions while one
// writes. Time comes in as an argument (seconds since the Unix epoch):
// nothing here reads a clock.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/ledger_store.h"
#include "chorus/nano/network.h"

namespace chorus::nano {

// A block cemented by Ledger::confirm.
struct CementedBlock {
  BlockHash hash{};
  StoredBlock stored;
  Amount amount = 0;  // what it moved (Ledger::amount_of)
};

class Ledger {
 public:
  explicit Ledger(const NetworkParams& network) : network_(network) {}

  const NetworkParams& network() const { return network_; }

  // Writes the genesis block, account and weight into an empty store, with
  // its confirmation height set to 1. Does nothing to a store that has blocks.
  void initialize(WriteTxn& txn, uint64_t now_s) const;

  // Checks `block` and writes it when the result is kProgress. Signature
  // and work are checked here; a caller that already checked them in a
  // batch still gets the same answer.
  BlockStatus process(WriteTxn& txn, const Block& block, uint64_t now_s) const;

  // Removes `hash` and every later block of its account; a send among them
  // first takes back its receive (rolling back the receiver's chain down to
  // it). The removed blocks, newest first. kNotFound when `hash` is not in
  // the ledger; kRefused, with nothing removed, when any block to remove is
  // at or below its account's confirmation height. The caller aborts its
  // transaction on an error.
  Result<std::vector<Block>> rollback(WriteTxn& txn, const BlockHash& hash, uint64_t now_s) const;

  // Cements `hash`: raises its account's confirmation height to it after
  // cementing everything it depends on (the earlier blocks of its account,
  // and the send each receive among them takes), dependencies first, so
  // that no cemented block ever depends on an uncemented one. Appends the
  // blocks newly cemented to `out`, in that order (none when `hash` already
  // was). kNotFound when `hash` is not in the ledger; kLimit beyond
  // `max_blocks`. On an error what `out` holds is cemented in `txn` and
  // consistent: the caller may commit it or abort.
  Result<void> confirm(WriteTxn& txn, const BlockHash& hash, std::vector<CementedBlock>& out,
                       size_t max_blocks = 1'000'000) const;
  // Whether `hash` is in the ledger at or below its account's confirmation
  // height.
  static bool confirmed(ReadTxn& txn, const BlockHash& hash);

  // ---- reads
  // The send a block receives: the source of a legacy receive or open, the
  // link of a state receive (not of an epoch block); nullopt otherwise.
  static std::optional<BlockHash> receive_source(const StoredBlock& s);
  // The representative in force after block `hash` (walks back over legacy
  // sends and receives to the last open, change or state block).
  static PublicKey representative_at(ReadTxn& txn, const BlockHash& hash);
  // How much `hash` moved: sent, received, or zero for a change or epoch.
  static Amount amount_of(ReadTxn& txn, const StoredBlock& block);
  // The work value of the block (BLAKE2b over its root and nonce).
  static uint64_t difficulty(const Block& block);
  // What the work of `block` must reach given its details.
  uint64_t work_threshold(const BlockDetails& details) const {
    return network_.work.threshold(details.epoch, details.is_receive, details.is_epoch);
  }

 private:
  BlockStatus process_state(WriteTxn& txn, const Block& b, const BlockHash& hash,
                            uint64_t now_s) const;
  BlockStatus process_epoch(WriteTxn& txn, const Block& b, const BlockHash& hash, Epoch epoch,
                            uint64_t now_s) const;
  BlockStatus process_legacy(WriteTxn& txn, const Block& b, const BlockHash& hash,
                             uint64_t now_s) const;
  BlockStatus process_open(WriteTxn& txn, const Block& b, const BlockHash& hash,
                           uint64_t now_s) const;
  Result<void> rollback_head(WriteTxn& txn, const PublicKey& account, uint64_t now_s,
                             std::vector<Block>& removed, int depth) const;

  const NetworkParams& network_;
};

}  // namespace chorus::nano
