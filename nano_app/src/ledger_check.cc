#include "chorus/nano/ledger_check.h"

#include <map>

#include "chorus/nano/ledger.h"
#include "next_key.h"

namespace chorus::nano {
namespace {

constexpr size_t kPage = 1024;

class Checker {
 public:
  Checker(ReadTxn& txn, const NetworkParams& net, size_t max) : txn_(txn), net_(net), max_(max) {}

  LedgerCheckReport run() {
    if (!txn_.block_exists(net_.genesis_hash)) problem("the genesis block is missing");
    accounts();
    pending();
    weights();
    const uint64_t stored = txn_.block_count();
    if (stored != chained_)
      problem(std::to_string(stored) + " blocks stored but " + std::to_string(chained_) +
              " on account chains");
    report_.blocks = stored;
    if (balances_ + receivable_ != net_.genesis_amount)
      problem("balances " + amount_to_string(balances_) + " + receivable " +
              amount_to_string(receivable_) + " != genesis amount " +
              amount_to_string(net_.genesis_amount));
    return std::move(report_);
  }

 private:
  void problem(std::string what) {
    if (report_.problems.size() < max_) report_.problems.push_back(std::move(what));
  }

  void accounts() {
    PublicKey start{};
    for (;;) {
      auto page = txn_.accounts_from(start, kPage);
      for (auto& [account, info] : page) chain(account, info);
      report_.accounts += page.size();
      if (page.size() < kPage) break;
      start = page.back().first;
      if (!next_key(start)) break;
    }
  }

  // Walks the chain from its head down to the open block.
  void chain(const PublicKey& account, const AccountInfo& info) {
    const std::string who = "account " + to_hex_upper(account);
    balances_ += info.balance;
    by_rep_[info.representative] += info.balance;
    if (info.block_count == 0) {
      problem(who + " has no blocks");
      return;
    }
    BlockHash hash = info.head;
    BlockHash successor{};
    for (uint64_t height = info.block_count; height >= 1; --height) {
      auto b = txn_.block(hash);
      if (!b) {
        problem(who + ": block " + to_hex_upper(hash) + " at height " + std::to_string(height) +
                " is missing");
        return;
      }
      ++chained_;
      if (b->sideband.account != account)
        problem(who + ": block " + to_hex_upper(hash) + " is another's");
      if (b->sideband.height != height)
        problem(who + ": block " + to_hex_upper(hash) + " has height " +
                std::to_string(b->sideband.height) + ", expected " + std::to_string(height));
      if (b->successor != successor)
        problem(who + ": block " + to_hex_upper(hash) + " has the wrong successor");
      if (height == info.block_count && b->sideband.balance != info.balance)
        problem(who + ": head balance differs from the account's");
      if (height == 1) {
        if (hash != info.open_block) problem(who + ": chain does not end at its open block");
        if (b->block.previous != BlockHash{}) problem(who + ": open block has a previous");
        break;
      }
      successor = hash;
      hash = b->block.previous;
    }
    if (Ledger::representative_at(txn_, info.head) != info.representative)
      problem(who + ": representative differs from its chain's");
    const ConfirmationHeight ch = txn_.confirmation_height(account);
    if (ch.height > info.block_count) problem(who + ": confirmation height above its block count");
  }

  void pending() {
    PendingKey start{};
    for (;;) {
      auto page = txn_.pending_from(start, kPage);
      for (auto& [key, info] : page) entry(key, info);
      report_.pending += page.size();
      if (page.size() < kPage) break;
      start = page.back().first;
      if (!next_key(start.hash) && !next_key(start.account)) break;
    }
  }

  void entry(const PendingKey& key, const PendingInfo& info) {
    receivable_ += info.amount;
    auto send = txn_.block(key.hash);
    const std::string what = "receivable " + to_hex_upper(key.hash);
    if (!send) {
      problem(what + ": its send is missing");
      return;
    }
    if (send->sideband.account != info.source) problem(what + ": source is not the sender");
    if (Ledger::amount_of(txn_, *send) != info.amount)
      problem(what + ": amount differs from what the send moved");
  }

  void weights() {
    auto stored = txn_.weights();
    report_.representatives = stored.size();
    std::map<PublicKey, Amount> seen;
    for (auto& [rep, w] : stored) {
      seen[rep] = w;
      auto it = by_rep_.find(rep);
      const Amount expected = it == by_rep_.end() ? 0 : it->second;
      if (w != expected)
        problem("weight of " + to_hex_upper(rep) + " is " + amount_to_string(w) +
                ", balances give " + amount_to_string(expected));
    }
    for (auto& [rep, sum] : by_rep_) {
      if (sum != 0 && seen.count(rep) == 0)
        problem("representative " + to_hex_upper(rep) + " has no weight entry");
    }
  }

  ReadTxn& txn_;
  const NetworkParams& net_;
  size_t max_;
  LedgerCheckReport report_;
  std::map<PublicKey, Amount> by_rep_;
  Amount balances_ = 0;
  Amount receivable_ = 0;
  uint64_t chained_ = 0;
};

}  // namespace

LedgerCheckReport check_ledger(ReadTxn& txn, const NetworkParams& network, size_t max_problems) {
  return Checker(txn, network, max_problems).run();
}

}  // namespace chorus::nano
