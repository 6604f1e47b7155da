// The ledger's acceptance rules. Each check carries nano-node's order: the
// first rule a block breaks decides its code (spec/nano.md §Ledger).
#include "chorus/nano/ledger.h"

#include <algorithm>

#include "chorus/nano/keys.h"
#include "chorus/nano/work.h"
#include "ledger_weights.h"

namespace chorus::nano {
namespace {

constexpr Hash32 kZero{};

bool signed_by(const PublicKey& key, const BlockHash& hash, const Signature& sig) {
  return verify(key, ByteView(hash.data(), hash.size()), sig);
}

// Legacy send, receive and change blocks may only follow legacy blocks.
bool legacy_predecessor(BlockType t) {
  return t == BlockType::kSend || t == BlockType::kReceive || t == BlockType::kOpen ||
         t == BlockType::kChange;
}

}  // namespace

std::string_view block_status_name(BlockStatus s) {
  switch (s) {
    case BlockStatus::kProgress:
      return "progress";
    case BlockStatus::kOld:
      return "old";
    case BlockStatus::kBadSignature:
      return "bad_signature";
    case BlockStatus::kNegativeSpend:
      return "negative_spend";
    case BlockStatus::kFork:
      return "fork";
    case BlockStatus::kUnreceivable:
      return "unreceivable";
    case BlockStatus::kGapPrevious:
      return "gap_previous";
    case BlockStatus::kGapSource:
      return "gap_source";
    case BlockStatus::kGapEpochOpenPending:
      return "gap_epoch_open_pending";
    case BlockStatus::kOpenedBurnAccount:
      return "opened_burn_account";
    case BlockStatus::kBalanceMismatch:
      return "balance_mismatch";
    case BlockStatus::kRepresentativeMismatch:
      return "representative_mismatch";
    case BlockStatus::kBlockPosition:
      return "block_position";
    case BlockStatus::kInsufficientWork:
      return "insufficient_work";
  }
  return "unknown";
}

uint64_t Ledger::difficulty(const Block& b) {
  return work_value(block_root(b), b.work);
}

void Ledger::initialize(WriteTxn& txn, uint64_t now_s) const {
  if (txn.block_count() != 0) return;
  const Block& g = network_.genesis;
  const BlockHash& hash = network_.genesis_hash;
  Sideband sb;
  sb.account = g.account;
  sb.height = 1;
  sb.timestamp = now_s;
  sb.balance = network_.genesis_amount;
  txn.put_block(hash, StoredBlock{g, sb, {}});
  txn.put_account(g.account, AccountInfo{hash, g.representative, hash, network_.genesis_amount,
                                         now_s, 1, Epoch::k0});
  add_weight(txn, g.representative, network_.genesis_amount);
  txn.put_confirmation_height(g.account, ConfirmationHeight{1, hash});
}

BlockStatus Ledger::process(WriteTxn& txn, const Block& b, uint64_t now_s) const {
  const BlockHash hash = block_hash(b);
  switch (b.type) {
    case BlockType::kState: {
      const std::optional<Epoch> epoch = network_.epoch_of_link(b.link);
      if (!epoch) return process_state(txn, b, hash, now_s);
      // An epoch link with an unchanged balance is an epoch block; with
      // another balance it is an ordinary send to that "account".
      Amount previous_balance = 0;
      if (b.previous != kZero) {
        auto previous = txn.block(b.previous);
        if (!previous) {
          const bool by_account = signed_by(b.account, hash, b.signature);
          const bool by_signer = signed_by(network_.epoch_info(*epoch).signer, hash, b.signature);
          return by_account || by_signer ? BlockStatus::kGapPrevious : BlockStatus::kBadSignature;
        }
        previous_balance = previous->sideband.balance;
      }
      if (b.balance == previous_balance) return process_epoch(txn, b, hash, *epoch, now_s);
      return process_state(txn, b, hash, now_s);
    }
    case BlockType::kOpen:
      return process_open(txn, b, hash, now_s);
    case BlockType::kSend:
    case BlockType::kReceive:
    case BlockType::kChange:
      return process_legacy(txn, b, hash, now_s);
  }
  return BlockStatus::kBlockPosition;  // not reached: every type is handled above
}

BlockStatus Ledger::process_state(WriteTxn& txn, const Block& b, const BlockHash& hash,
                                  uint64_t now_s) const {
  if (txn.block_exists(hash)) return BlockStatus::kOld;
  if (!signed_by(b.account, hash, b.signature)) return BlockStatus::kBadSignature;
  if (b.account == kZero) return BlockStatus::kOpenedBurnAccount;
  Epoch epoch = Epoch::k0;
  Epoch source_epoch = Epoch::k0;
  Amount amount = b.balance;
  bool is_send = false;
  bool is_receive = false;
  const std::optional<AccountInfo> info = txn.account(b.account);
  if (info) {
    epoch = info->epoch;
    if (b.previous == kZero) return BlockStatus::kFork;
    if (!txn.block_exists(b.previous)) return BlockStatus::kGapPrevious;
    is_send = b.balance < info->balance;
    is_receive = !is_send && b.link != kZero;
    amount = is_send ? info->balance - b.balance : b.balance - info->balance;
    if (b.previous != info->head) return BlockStatus::kFork;
  } else {
    if (b.previous != kZero) return BlockStatus::kGapPrevious;
    is_receive = true;
    if (b.link == kZero) return BlockStatus::kGapSource;
  }
  if (!is_send) {
    if (b.link != kZero) {
      if (!txn.block_exists(b.link)) return BlockStatus::kGapSource;
      const std::optional<PendingInfo> pending = txn.pending(PendingKey{b.account, b.link});
      if (!pending) return BlockStatus::kUnreceivable;
      if (amount != pending->amount) return BlockStatus::kBalanceMismatch;
      source_epoch = pending->epoch;
      epoch = std::max(epoch, source_epoch);
    } else if (amount != 0) {
      return BlockStatus::kBalanceMismatch;  // no link: only the representative may change
    }
  }
  const BlockDetails details{epoch, is_send, is_receive, false};
  if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;

  const uint64_t count = info ? info->block_count : 0;
  txn.put_block(
      hash,
      StoredBlock{b, Sideband{b.account, count + 1, now_s, b.balance, details, source_epoch}, {}});
  if (info) {
    txn.set_successor(b.previous, hash);
    sub_weight(txn, info->representative, info->balance);
  }
  add_weight(txn, b.representative, b.balance);
  if (is_send) {
    txn.put_pending(PendingKey{b.link, hash}, PendingInfo{b.account, amount, epoch});
  } else if (b.link != kZero) {
    txn.del_pending(PendingKey{b.account, b.link});
  }
  txn.put_account(b.account, AccountInfo{hash, b.representative, info ? info->open_block : hash,
                                         b.balance, now_s, count + 1, epoch});
  return BlockStatus::kProgress;
}

BlockStatus Ledger::process_epoch(WriteTxn& txn, const Block& b, const BlockHash& hash, Epoch epoch,
                                  uint64_t now_s) const {
  if (txn.block_exists(hash)) return BlockStatus::kOld;
  if (!signed_by(network_.epoch_info(epoch).signer, hash, b.signature))
    return BlockStatus::kBadSignature;
  if (b.account == kZero) return BlockStatus::kOpenedBurnAccount;
  const std::optional<AccountInfo> info = txn.account(b.account);
  if (info) {
    if (b.previous == kZero) return BlockStatus::kFork;
    if (b.previous != info->head) return BlockStatus::kFork;
    if (b.representative != info->representative) return BlockStatus::kRepresentativeMismatch;
  } else {
    if (b.representative != kZero) return BlockStatus::kRepresentativeMismatch;
    // Only an account with something to receive may be opened by an epoch.
    if (txn.pending_of(b.account, 1).empty()) return BlockStatus::kGapEpochOpenPending;
  }
  const bool in_order =
      info ? static_cast<int>(epoch) == static_cast<int>(info->epoch) + 1 : epoch != Epoch::k0;
  if (!in_order) return BlockStatus::kBlockPosition;
  const Amount balance = info ? info->balance : 0;
  if (b.balance != balance) return BlockStatus::kBalanceMismatch;
  const BlockDetails details{epoch, false, false, true};
  if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;

  const uint64_t count = info ? info->block_count : 0;
  txn.put_block(
      hash, StoredBlock{b, Sideband{b.account, count + 1, now_s, balance, details, Epoch::k0}, {}});
  if (info) txn.set_successor(b.previous, hash);
  txn.put_account(b.account, AccountInfo{hash, b.representative, info ? info->open_block : hash,
                                         balance, now_s, count + 1, epoch});
  return BlockStatus::kProgress;
}

BlockStatus Ledger::process_legacy(WriteTxn& txn, const Block& b, const BlockHash& hash,
                                   uint64_t now_s) const {
  if (txn.block_exists(hash)) return BlockStatus::kOld;
  const std::optional<StoredBlock> previous = txn.block(b.previous);
  if (!previous) return BlockStatus::kGapPrevious;
  if (!legacy_predecessor(previous->block.type)) return BlockStatus::kBlockPosition;
  const PublicKey account = previous->sideband.account;
  const std::optional<AccountInfo> info = txn.account(account);
  if (!info || info->head != b.previous) return BlockStatus::kFork;
  if (!signed_by(account, hash, b.signature)) return BlockStatus::kBadSignature;

  const BlockDetails details{};  // legacy blocks are epoch 0, with no flags
  AccountInfo next = *info;
  next.head = hash;
  next.modified = now_s;
  next.block_count = info->block_count + 1;
  switch (b.type) {
    case BlockType::kChange:
      if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;
      sub_weight(txn, info->representative, info->balance);
      add_weight(txn, b.representative, info->balance);
      next.representative = b.representative;
      break;
    case BlockType::kSend: {
      if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;
      if (info->balance < b.balance) return BlockStatus::kNegativeSpend;
      const Amount amount = info->balance - b.balance;
      sub_weight(txn, info->representative, amount);
      txn.put_pending(PendingKey{b.link, hash}, PendingInfo{account, amount, Epoch::k0});
      next.balance = b.balance;
      break;
    }
    case BlockType::kReceive: {
      if (!txn.block_exists(b.link)) return BlockStatus::kGapSource;
      const PendingKey key{account, b.link};
      const std::optional<PendingInfo> pending = txn.pending(key);
      if (!pending) return BlockStatus::kUnreceivable;
      if (pending->epoch != Epoch::k0) return BlockStatus::kUnreceivable;  // state-only send
      if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;
      txn.del_pending(key);
      add_weight(txn, info->representative, pending->amount);
      next.balance = info->balance + pending->amount;
      break;
    }
    default:
      return BlockStatus::kBlockPosition;  // not reached: open and state go elsewhere
  }
  txn.put_block(
      hash,
      StoredBlock{
          b, Sideband{account, next.block_count, now_s, next.balance, details, Epoch::k0}, {}});
  txn.set_successor(b.previous, hash);
  txn.put_account(account, next);
  return BlockStatus::kProgress;
}

BlockStatus Ledger::process_open(WriteTxn& txn, const Block& b, const BlockHash& hash,
                                 uint64_t now_s) const {
  if (txn.block_exists(hash)) return BlockStatus::kOld;
  if (!signed_by(b.account, hash, b.signature)) return BlockStatus::kBadSignature;
  if (!txn.block_exists(b.link)) return BlockStatus::kGapSource;
  if (txn.account(b.account)) return BlockStatus::kFork;
  const PendingKey key{b.account, b.link};
  const std::optional<PendingInfo> pending = txn.pending(key);
  if (!pending) return BlockStatus::kUnreceivable;
  if (b.account == kZero) return BlockStatus::kOpenedBurnAccount;
  if (pending->epoch != Epoch::k0) return BlockStatus::kUnreceivable;
  const BlockDetails details{};
  if (difficulty(b) < work_threshold(details)) return BlockStatus::kInsufficientWork;
  txn.del_pending(key);
  txn.put_block(
      hash, StoredBlock{b, Sideband{b.account, 1, now_s, pending->amount, details, Epoch::k0}, {}});
  txn.put_account(b.account,
                  AccountInfo{hash, b.representative, hash, pending->amount, now_s, 1, Epoch::k0});
  add_weight(txn, b.representative, pending->amount);
  return BlockStatus::kProgress;
}

PublicKey Ledger::representative_at(ReadTxn& txn, const BlockHash& start) {
  BlockHash hash = start;
  for (;;) {
    const std::optional<StoredBlock> b = txn.block(hash);
    if (!b) return {};
    switch (b->block.type) {
      case BlockType::kState:
      case BlockType::kOpen:
      case BlockType::kChange:
        return b->block.representative;
      case BlockType::kSend:
      case BlockType::kReceive:
        hash = b->block.previous;
        break;
    }
  }
}

Amount Ledger::amount_of(ReadTxn& txn, const StoredBlock& b) {
  Amount before = 0;
  if (b.block.previous != kZero) {
    auto previous = txn.block(b.block.previous);
    if (previous) before = previous->sideband.balance;
  }
  const Amount after = b.sideband.balance;
  return after > before ? after - before : before - after;
}

}  // namespace chorus::nano

namespace chorus::nano {

bool claim_final_vote(WriteTxn& txn, const QualifiedRoot& root, const BlockHash& hash) {
  const std::optional<BlockHash> given = txn.final_vote(root);
  if (given) return *given == hash;
  txn.put_final_vote(root, hash);
  return true;
}

}  // namespace chorus::nano
