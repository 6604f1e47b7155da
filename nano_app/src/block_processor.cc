#include "chorus/nano/block_processor.h"

namespace chorus::nano {

BlockProcessor::BlockProcessor(const Ledger& ledger, LedgerStore& store,
                               BlockProcessorConfig config)
    : ledger_(ledger), store_(store), config_(config), unchecked_(config.max_unchecked) {}

Result<void> BlockProcessor::add(const Block& block, BlockSource source, uint64_t tag) {
  if (queued() >= config_.max_queue)
    return limit_exceeded("block queue full (" + std::to_string(config_.max_queue) + " blocks)");
  queue_.push_back({block, source, tag});
  return {};
}

Hash32 BlockProcessor::dependency(const Block& b, BlockStatus status) {
  switch (status) {
    case BlockStatus::kGapPrevious:
      return b.previous;
    case BlockStatus::kGapSource:
      return b.link;  // state receive/open link, legacy receive/open source
    case BlockStatus::kGapEpochOpenPending:
      return b.account;  // any send to the account frees it
    default:
      return {};
  }
}

void BlockProcessor::free_dependents(ReadTxn& txn, const ProcessedBlock& done) {
  auto requeue = [this](const Hash32& dependency) {
    for (auto& u : unchecked_.take(dependency))
      ready_.push_back({std::move(u.block), u.source, u.tag});
  };
  requeue(done.hash);
  // A send creates a receivable entry, which an epoch open of its
  // destination may be waiting for (nano-node: not for sends of the last
  // epoch, which cannot be followed by an epoch open of the same epoch).
  if (done.block.type == BlockType::kSend) {
    requeue(done.block.link);
  } else if (done.block.type == BlockType::kState) {
    auto stored = txn.block(done.hash);
    if (stored && stored->sideband.details.is_send && stored->sideband.details.epoch != Epoch::k2)
      requeue(done.block.link);
  }
}

Result<std::vector<ProcessedBlock>> BlockProcessor::run_batch(uint64_t now_s) {
  std::vector<ProcessedBlock> results;
  if (queued() == 0) return results;
  auto txn = store_.begin_write();
  while (results.size() < config_.max_batch && queued() != 0) {
    std::deque<Item>& from = ready_.empty() ? queue_ : ready_;
    Item item = std::move(from.front());
    from.pop_front();
    ProcessedBlock r;
    r.hash = block_hash(item.block);
    r.status = ledger_.process(*txn, item.block, now_s);
    r.source = item.source;
    r.tag = item.tag;
    r.block = std::move(item.block);
    switch (r.status) {
      case BlockStatus::kProgress:
        free_dependents(*txn, r);
        break;
      case BlockStatus::kGapPrevious:
      case BlockStatus::kGapSource:
      case BlockStatus::kGapEpochOpenPending:
        unchecked_.put(dependency(r.block, r.status), {r.block, r.source, r.tag});
        break;
      default:
        break;
    }
    results.push_back(std::move(r));
  }
  auto committed = txn->commit();
  if (!committed.ok()) return committed.error();
  return results;
}

}  // namespace chorus::nano
