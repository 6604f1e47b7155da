// Undoing blocks: the inverse of Ledger::process, head first.
#include "chorus/nano/ledger.h"

#include "ledger_weights.h"

namespace chorus::nano {
namespace {

constexpr Hash32 kZero{};
// Rolling back a send first rolls back the chain that received it, which
// may hold sends received elsewhere: a bound on that recursion.
constexpr int kMaxRollbackDepth = 4096;

}  // namespace

Result<std::vector<Block>> Ledger::rollback(WriteTxn& txn, const BlockHash& hash,
                                            uint64_t now_s) const {
  const std::optional<StoredBlock> target = txn.block(hash);
  if (!target) return not_found("block not in the ledger");
  const PublicKey account = target->sideband.account;
  std::vector<Block> removed;
  while (txn.block_exists(hash)) {
    auto r = rollback_head(txn, account, now_s, removed, 0);
    if (!r) return r.error();
  }
  return removed;
}

Result<void> Ledger::rollback_head(WriteTxn& txn, const PublicKey& account, uint64_t now_s,
                                   std::vector<Block>& removed, int depth) const {
  if (depth > kMaxRollbackDepth) return limit_exceeded("rollback depends on too many chains");
  const std::optional<AccountInfo> info = txn.account(account);
  if (!info) return not_found("account not in the ledger");
  const BlockHash head = info->head;
  const std::optional<StoredBlock> stored = txn.block(head);
  if (!stored) return io_error("account head missing from the store");
  if (stored->sideband.height <= txn.confirmation_height(account).height)
    return refused("block is confirmed");
  const Block& b = stored->block;
  const Sideband& sb = stored->sideband;
  const bool is_epoch = sb.details.is_epoch;
  const bool is_send =
      b.type == BlockType::kSend || (b.type == BlockType::kState && sb.details.is_send);
  const bool is_receive = b.type == BlockType::kReceive || b.type == BlockType::kOpen ||
                          (b.type == BlockType::kState && sb.details.is_receive && !is_epoch);

  if (is_send) {
    // The receive must go first: roll the receiver back until the send is
    // receivable again.
    const PendingKey key{b.link, head};
    while (!txn.pending(key)) {
      auto r = rollback_head(txn, b.link, now_s, removed, depth + 1);
      if (!r) return r;
    }
    txn.del_pending(key);
  } else if (is_receive) {
    const std::optional<StoredBlock> source = txn.block(b.link);
    const PublicKey source_account = source ? source->sideband.account : PublicKey{};
    txn.put_pending(PendingKey{account, b.link},
                    PendingInfo{source_account, Ledger::amount_of(txn, *stored), sb.source_epoch});
  }

  // The account's weight moves back to where it was before the block.
  sub_weight(txn, info->representative, info->balance);
  if (b.previous == kZero) {
    txn.del_account(account);
  } else {
    const std::optional<StoredBlock> previous = txn.block(b.previous);
    if (!previous) return io_error("previous block missing from the store");
    const PublicKey rep = representative_at(txn, b.previous);
    add_weight(txn, rep, previous->sideband.balance);
    txn.put_account(
        account, AccountInfo{b.previous, rep, info->open_block, previous->sideband.balance, now_s,
                             info->block_count - 1, previous->sideband.details.epoch});
    txn.set_successor(b.previous, kZero);
  }
  txn.del_block(head);
  removed.push_back(b);
  return {};
}

}  // namespace chorus::nano
