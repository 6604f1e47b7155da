// Cementing: raising confirmation heights, dependencies first.
#include "chorus/nano/ledger.h"

namespace chorus::nano {
namespace {

constexpr Hash32 kZero{};

}  // namespace

std::optional<BlockHash> Ledger::receive_source(const StoredBlock& s) {
  const Block& b = s.block;
  if (b.type == BlockType::kReceive || b.type == BlockType::kOpen) return BlockHash{b.link};
  if (b.type == BlockType::kState && s.sideband.details.is_receive && !s.sideband.details.is_epoch)
    return BlockHash{b.link};
  return std::nullopt;
}

bool Ledger::confirmed(ReadTxn& txn, const BlockHash& hash) {
  const std::optional<StoredBlock> s = txn.block(hash);
  if (!s) return false;
  return s->sideband.height <= txn.confirmation_height(s->sideband.account).height;
}

Result<void> Ledger::confirm(WriteTxn& txn, const BlockHash& hash, std::vector<CementedBlock>& out,
                             size_t max_blocks) const {
  const size_t start = out.size();
  // Blocks whose cementing waits on a dependency; the top is worked on.
  std::vector<BlockHash> stack{hash};
  while (!stack.empty()) {
    const BlockHash target = stack.back();
    const std::optional<StoredBlock> t = txn.block(target);
    if (!t) return not_found("block to cement not in the ledger");
    const PublicKey account = t->sideband.account;
    ConfirmationHeight ch = txn.confirmation_height(account);
    if (t->sideband.height <= ch.height) {
      stack.pop_back();
      continue;
    }
    // Walk up from the first uncemented block of the account to the target,
    // stopping at a receive whose send is not cemented yet.
    BlockHash cur = ch.height == 0 ? BlockHash{} : ch.frontier;
    if (ch.height == 0) {
      const std::optional<AccountInfo> info = txn.account(account);
      if (!info) return not_found("account of a block to cement not in the ledger");
      cur = info->open_block;
    } else {
      const std::optional<StoredBlock> frontier = txn.block(ch.frontier);
      if (!frontier) return io_error("confirmation frontier missing from the store");
      cur = frontier->successor;
    }
    bool waiting = false;
    const ConfirmationHeight before = ch;
    while (cur != kZero) {
      std::optional<StoredBlock> s = txn.block(cur);
      if (!s) {
        if (ch != before) txn.put_confirmation_height(account, ch);
        return io_error("block missing from its chain");
      }
      if (auto src = receive_source(*s); src && !confirmed(txn, *src)) {
        if (!txn.block_exists(*src)) {
          if (ch != before) txn.put_confirmation_height(account, ch);
          return io_error("source of a receive missing from the store");
        }
        stack.push_back(*src);
        waiting = true;
        break;
      }
      if (out.size() - start >= max_blocks) {
        if (ch != before) txn.put_confirmation_height(account, ch);
        return limit_exceeded("too many blocks to cement at once");
      }
      ch = ConfirmationHeight{s->sideband.height, cur};
      const Amount amount = amount_of(txn, *s);
      const BlockHash next = s->successor;
      out.push_back(CementedBlock{cur, std::move(*s), amount});
      if (cur == target) break;
      cur = next;
    }
    if (ch != before) txn.put_confirmation_height(account, ch);
    if (!waiting) stack.pop_back();
  }
  return {};
}

}  // namespace chorus::nano
