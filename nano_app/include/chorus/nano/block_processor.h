// BlockProcessor: the one way blocks enter the ledger, whoever brings them
// (a peer's publish, bootstrap, the process RPC).
//
// Blocks wait in a bounded queue; run_batch() takes up to `max_batch` of
// them and processes them in one write transaction, so a node pays one
// commit (one fsync) per batch rather than per block. A block that arrives
// before what it depends on (gap_previous, gap_source,
// gap_epoch_open_pending) waits in the UncheckedBlocks set, keyed by the
// missing dependency, and goes back in the queue as soon as a block
// satisfies it: a chain sent newest-first still ends up whole.
//
// No I/O and no clock: time comes in as an argument, the caller decides on
// which thread batches run and where the results go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/unchecked_blocks.h"

namespace chorus::nano {

struct BlockProcessorConfig {
  size_t max_queue = 65536;      // blocks waiting for a batch
  size_t max_batch = 1024;       // blocks per write transaction
  size_t max_unchecked = 65536;  // blocks waiting for a dependency
};

struct ProcessedBlock {
  Block block;
  BlockHash hash{};
  BlockStatus status = BlockStatus::kProgress;
  BlockSource source = BlockSource::kLive;
  uint64_t tag = 0;  // the caller's, from add(): which peer or request
};

class BlockProcessor {
 public:
  BlockProcessor(const Ledger& ledger, LedgerStore& store, BlockProcessorConfig config = {});

  // Queues a block. kLimit when the queue is full: the node is behind, and
  // the caller drops the block (a peer will send it again, bootstrap will
  // ask again) rather than hold it without bound.
  Result<void> add(const Block& block, BlockSource source, uint64_t tag = 0);

  // Processes queued blocks, and the unchecked blocks they free, up to
  // max_batch of them, in one write transaction; returns one result per
  // block in processing order (none when nothing is queued). Blocks that
  // wait for a dependency are reported with their gap status and kept. On a
  // failed commit (kIo, or kLimit when the store is full) nothing of the
  // batch is in the ledger and its blocks are dropped.
  Result<std::vector<ProcessedBlock>> run_batch(uint64_t now_s);

  size_t queued() const { return ready_.size() + queue_.size(); }
  const UncheckedBlocks& unchecked() const { return unchecked_; }
  UncheckedBlocks& unchecked() { return unchecked_; }

 private:
  struct Item {
    Block block;
    BlockSource source;
    uint64_t tag;
  };
  // What a block with this gap status waits for.
  static Hash32 dependency(const Block& block, BlockStatus status);
  // Moves the unchecked blocks that `done` satisfies to the ready queue.
  void free_dependents(ReadTxn& txn, const ProcessedBlock& done);

  const Ledger& ledger_;
  LedgerStore& store_;
  BlockProcessorConfig config_;
  std::deque<Item> ready_;  // freed from unchecked: processed first
  std::deque<Item> queue_;
  UncheckedBlocks unchecked_;
};

}  // namespace chorus::nano
