// LedgerStore: where a ledger keeps its tables. An interface, so that a node
// runs on LMDB and a test on memory with the same Ledger code.
//
// All access goes through transactions. A WriteTxn sees its own writes; its
// writes become visible to others, all at once, when commit() succeeds, and
// are dropped when it is destroyed uncommitted (so a crash in the middle of
// a batch leaves the store as it was before the batch). At most one write
// transaction exists at a time; begin_write() blocks until the previous one
// ends. Read transactions see a consistent snapshot.
#pragma once

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/ledger_types.h"

namespace chorus::nano {

class ReadTxn {
 public:
  virtual ~ReadTxn() = default;

  virtual std::optional<StoredBlock> block(const BlockHash& hash) = 0;
  virtual bool block_exists(const BlockHash& hash) = 0;
  virtual uint64_t block_count() = 0;

  virtual std::optional<AccountInfo> account(const PublicKey& account) = 0;
  virtual uint64_t account_count() = 0;
  // Up to `limit` accounts in key order, starting at `start` (inclusive).
  virtual std::vector<std::pair<PublicKey, AccountInfo>> accounts_from(const PublicKey& start,
                                                                       size_t limit) = 0;

  virtual std::optional<PendingInfo> pending(const PendingKey& key) = 0;
  // Up to `limit` receivable entries of `account`, in send-hash order.
  virtual std::vector<std::pair<PendingKey, PendingInfo>> pending_of(const PublicKey& account,
                                                                     size_t limit) = 0;
  // Up to `limit` receivable entries of every account, in key order,
  // starting at `start` (inclusive): how a check walks them all.
  virtual std::vector<std::pair<PendingKey, PendingInfo>> pending_from(const PendingKey& start,
                                                                       size_t limit) = 0;
  virtual uint64_t pending_count() = 0;

  // Zero for a key that represents nothing.
  virtual Amount weight(const PublicKey& representative) = 0;
  virtual std::vector<std::pair<PublicKey, Amount>> weights() = 0;

  virtual ConfirmationHeight confirmation_height(const PublicKey& account) = 0;

  // The block this node's representatives gave a final vote at `root`.
  virtual std::optional<BlockHash> final_vote(const QualifiedRoot& root) = 0;
};

class WriteTxn : public ReadTxn {
 public:
  virtual void put_block(const BlockHash& hash, const StoredBlock& block) = 0;
  virtual void del_block(const BlockHash& hash) = 0;
  // Sets (or, with zero, clears) the successor of a block that is stored.
  virtual void set_successor(const BlockHash& hash, const BlockHash& successor) = 0;

  virtual void put_account(const PublicKey& account, const AccountInfo& info) = 0;
  virtual void del_account(const PublicKey& account) = 0;

  virtual void put_pending(const PendingKey& key, const PendingInfo& info) = 0;
  virtual void del_pending(const PendingKey& key) = 0;

  // A weight of zero removes the representative's entry.
  virtual void put_weight(const PublicKey& representative, Amount weight) = 0;

  virtual void put_confirmation_height(const PublicKey& account, const ConfirmationHeight& h) = 0;

  // Never removed: a final vote is a promise for good.
  virtual void put_final_vote(const QualifiedRoot& root, const BlockHash& hash) = 0;

  // Makes every write of this transaction durable and visible, or none of
  // them (kIo with the store's reason). The transaction is over either way:
  // the next writer may begin, and this object may only be destroyed.
  virtual Result<void> commit() = 0;
};

// Whether this node's representatives may give `hash` a final vote at
// `root`: yes when they gave none there, or gave it to this same block.
// Records the claim in `txn`; the caller commits before the vote leaves, so
// that no restart can make a representative vote final for two blocks on
// one root (spec/nano.md, "Local voting").
bool claim_final_vote(WriteTxn& txn, const QualifiedRoot& root, const BlockHash& hash);

class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  virtual std::unique_ptr<ReadTxn> begin_read() = 0;
  virtual std::unique_ptr<WriteTxn> begin_write() = 0;
};

}  // namespace chorus::nano
