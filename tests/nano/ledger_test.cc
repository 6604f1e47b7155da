// The ledger's rules, scenario by scenario, after nano-node's own ledger
// tests (nano/core_test/ledger.cpp): every block status is reached, on the
// dev network's real genesis, with real signatures and real work.
#include "chorus/nano/ledger.h"

#include <gtest/gtest.h>

#include <map>

#include "block_maker.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/memory_store.h"
#include "chorus/nano/work.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers

class LedgerTest : public ::testing::TestWithParam<std::string>, protected test::BlockMaker {
 protected:
  LedgerTest() : ledger_(net_), store_(make_test_store(GetParam(), dir_)) {
    EXPECT_TRUE(init_crypto());
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
  }

  BlockStatus process(const Block& b) {
    auto txn = store_->begin_write();
    const BlockStatus s = ledger_.process(*txn, b, kNow);
    EXPECT_TRUE(txn->commit().ok());
    return s;
  }
  BlockStatus process_ok(const Block& b) {
    const BlockStatus s = process(b);
    EXPECT_EQ(block_status_name(s), "progress");
    return s;
  }
  AccountInfo info(const PublicKey& a) {
    auto r = store_->begin_read();
    auto i = r->account(a);
    EXPECT_TRUE(i.has_value());
    return i.value_or(AccountInfo{});
  }
  Amount weight(const PublicKey& rep) { return store_->begin_read()->weight(rep); }
  BlockHash head(const PublicKey& a) { return info(a).head; }
  std::optional<PendingInfo> pending(const PublicKey& a, const BlockHash& send) {
    return store_->begin_read()->pending(PendingKey{a, send});
  }

  // What must hold in any state of the ledger: every raw is in exactly one
  // account or receivable entry (receivable entries are summed over
  // receivers_), weights sum to the balances, each head's height is the
  // account's block count.
  void expect_consistent() {
    auto r = store_->begin_read();
    Amount balances = 0, weights = 0;
    std::map<PublicKey, Amount> by_rep;
    for (auto& [account, i] : r->accounts_from(PublicKey{}, 1'000'000)) {
      balances += i.balance;
      by_rep[i.representative] += i.balance;
      auto h = r->block(i.head);
      ASSERT_TRUE(h.has_value());
      EXPECT_EQ(h->sideband.height, i.block_count);
      EXPECT_EQ(h->sideband.balance, i.balance);
      EXPECT_EQ(h->successor, kZero);
    }
    for (auto& [rep, w] : r->weights()) {
      weights += w;
      EXPECT_EQ(w, by_rep[rep]) << "weight of a representative";
    }
    EXPECT_EQ(balances + total_pending(*r), net_.genesis_amount);
    EXPECT_EQ(weights, balances);
    // The library's own check must agree with this independent one.
    const LedgerCheckReport report = check_ledger(*r, net_);
    EXPECT_TRUE(report.ok()) << report.problems.front();
  }
  Amount total_pending(ReadTxn& r) {
    Amount sum = 0;
    for (const PublicKey& a : receivers_) {
      for (auto& [k, p] : r.pending_of(a, 1'000'000)) sum += p.amount;
    }
    return sum;
  }

  test::TempDir dir_;  // before store_: the store lives in it
  Ledger ledger_;
  std::unique_ptr<LedgerStore> store_;
  std::vector<PublicKey> receivers_;  // accounts sends went to, for expect_consistent
};

TEST_P(LedgerTest, DevGenesisIsNanoNodesAndItsLedgerStartsFromIt) {
  EXPECT_EQ(to_hex_upper(net_.genesis_account),
            "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0");
  EXPECT_EQ(g_.pub, net_.genesis_account) << "the dev genesis key signs for the genesis account";
  const BlockHash h = net_.genesis_hash;
  EXPECT_TRUE(verify(net_.genesis_account, ByteView(h.data(), 32), net_.genesis.signature));
  EXPECT_GE(Ledger::difficulty(net_.genesis), net_.work.epoch_1);
  EXPECT_EQ(net_.magic[0], 'R');
  EXPECT_EQ(net_.magic[1], 'A');
  const AccountInfo i = info(g_.pub);
  EXPECT_EQ(i.head, h);
  EXPECT_EQ(i.open_block, h);
  EXPECT_EQ(i.balance, kAmountMax);
  EXPECT_EQ(i.block_count, 1u);
  EXPECT_EQ(weight(g_.pub), kAmountMax);
  EXPECT_EQ(store_->begin_read()->confirmation_height(g_.pub).height, 1u);
  // A second initialize leaves a ledger that has blocks alone.
  auto txn = store_->begin_write();
  ledger_.initialize(*txn, kNow + 5);
  EXPECT_EQ(txn->block_count(), 1u);
}

TEST(LedgerNetworks, LiveConstantsAreData) {
  const NetworkParams& live = live_network();
  EXPECT_EQ(to_hex_upper(live.genesis_hash),
            "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948");
  EXPECT_EQ(live.magic[1], 'C');
  EXPECT_EQ(live.work.epoch_1, 0xffffffc000000000ULL);
  EXPECT_EQ(live.work.epoch_2, 0xfffffff800000000ULL);
  EXPECT_EQ(live.work.epoch_2_receive, 0xfffffe0000000000ULL);
  EXPECT_NE(live.epoch_info(Epoch::k2).signer, live.genesis_account);
  EXPECT_EQ(network_by_name("dev"), &dev_network());
  EXPECT_EQ(network_by_name("beta"), nullptr);
  EXPECT_NE(live.overlay_network_id(), dev_network().overlay_network_id());
}

TEST_P(LedgerTest, StateSendThenOpenMovesBalanceWeightAndReceivable) {
  const Key a = key_of(1);
  receivers_.push_back(a.pub);
  const Amount amount = 1000;
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - amount, a.pub);
  process_ok(send);
  const BlockHash send_hash = block_hash(send);
  auto p = pending(a.pub, send_hash);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->amount, amount);
  EXPECT_EQ(p->source, g_.pub);
  EXPECT_EQ(weight(g_.pub), kAmountMax - amount);
  const Block open = state(a, kZero, a.pub, amount, send_hash);
  process_ok(open);
  EXPECT_FALSE(pending(a.pub, send_hash).has_value());
  EXPECT_EQ(info(a.pub).balance, amount);
  EXPECT_EQ(info(a.pub).open_block, block_hash(open));
  EXPECT_EQ(weight(a.pub), amount);
  auto r = store_->begin_read();
  auto stored = r->block(block_hash(open));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->sideband.account, a.pub);
  EXPECT_EQ(stored->sideband.height, 1u);
  EXPECT_TRUE(stored->sideband.details.is_receive);
  EXPECT_FALSE(stored->sideband.details.is_send);
  EXPECT_EQ(r->block(send_hash)->sideband.height, 2u);
  EXPECT_TRUE(r->block(send_hash)->sideband.details.is_send);
  EXPECT_EQ(r->block(net_.genesis_hash)->successor, send_hash);
  EXPECT_EQ(Ledger::amount_of(*r, *r->block(send_hash)), amount);
  r.reset();
  expect_consistent();
}

TEST_P(LedgerTest, TheSameBlockTwiceIsOld) {
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 1, key_of(1).pub);
  process_ok(send);
  EXPECT_EQ(process(send), BlockStatus::kOld);
}

TEST_P(LedgerTest, ASignatureByAnotherKeyIsBadSignature) {
  Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 1, key_of(1).pub);
  send = finish(send, key_of(2).priv, send.work);
  EXPECT_EQ(process(send), BlockStatus::kBadSignature);
  // Signature is checked before the previous block is looked at.
  Block gap = state(g_, key_of(9).pub, g_.pub, 5, key_of(1).pub);
  gap = finish(gap, key_of(2).priv, gap.work);
  EXPECT_EQ(process(gap), BlockStatus::kBadSignature);
}

TEST_P(LedgerTest, ForksOnEveryStateBlockKind) {
  const Key a = key_of(1);
  const Block send1 = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  const Block send2 = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 20, a.pub);
  process_ok(send1);
  EXPECT_EQ(process(send2), BlockStatus::kFork);
  const Block change_fork = state(g_, net_.genesis_hash, a.pub, kAmountMax, kZero);
  EXPECT_EQ(process(change_fork), BlockStatus::kFork);
  // An open (previous zero) for an account that is open already.
  const Block open1 = state(a, kZero, a.pub, 10, block_hash(send1));
  process_ok(open1);
  const Block open2 = state(a, kZero, g_.pub, 10, block_hash(send1));
  EXPECT_EQ(process(open2), BlockStatus::kFork);
}

TEST_P(LedgerTest, UnknownPreviousIsGapPreviousAndUnknownSourceIsGapSource) {
  const Key a = key_of(1);
  EXPECT_EQ(process(state(g_, key_of(7).pub, g_.pub, 1, a.pub)), BlockStatus::kGapPrevious);
  // A first block must have previous zero (a) and a link to receive (b).
  EXPECT_EQ(process(state(a, key_of(7).pub, a.pub, 1, key_of(8).pub)), BlockStatus::kGapPrevious);
  EXPECT_EQ(process(state(a, kZero, a.pub, 1, kZero)), BlockStatus::kGapSource);
  EXPECT_EQ(process(state(a, kZero, a.pub, 1, key_of(8).pub)), BlockStatus::kGapSource);
}

TEST_P(LedgerTest, ReceivingTwiceOrWhatWasNotSentIsUnreceivable) {
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  process_ok(send);
  // B tries to receive what was sent to A.
  const Key b = key_of(2);
  EXPECT_EQ(process(state(b, kZero, b.pub, 10, block_hash(send))), BlockStatus::kUnreceivable);
  const Block open = state(a, kZero, a.pub, 10, block_hash(send));
  process_ok(open);
  EXPECT_EQ(process(state(a, block_hash(open), a.pub, 20, block_hash(send))),
            BlockStatus::kUnreceivable);
}

TEST_P(LedgerTest, AmountsThatDoNotAddUpAreBalanceMismatch) {
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  process_ok(send);
  EXPECT_EQ(process(state(a, kZero, a.pub, 11, block_hash(send))), BlockStatus::kBalanceMismatch);
  // No link: a change of representative only; more balance is a mismatch.
  const Block open = state(a, kZero, a.pub, 10, block_hash(send));
  process_ok(open);
  EXPECT_EQ(process(state(a, block_hash(open), g_.pub, 15, kZero)), BlockStatus::kBalanceMismatch);
  process_ok(state(a, block_hash(open), g_.pub, 10, kZero));
  EXPECT_EQ(weight(g_.pub), kAmountMax);
  EXPECT_EQ(weight(a.pub), 0);
}

TEST_P(LedgerTest, LegacyChainsSendReceiveOpenChangeAndNegativeSpend) {
  const Key a = key_of(1);
  receivers_.push_back(a.pub);
  receivers_.push_back(g_.pub);
  // Genesis is a legacy open block, so its chain may go on with legacy blocks.
  const Block send = legacy(BlockType::kSend, g_, net_.genesis_hash, a.pub, kAmountMax - 100);
  process_ok(send);
  const Block open = legacy(BlockType::kOpen, a, kZero, block_hash(send), 0, a.pub);
  process_ok(open);
  EXPECT_EQ(info(a.pub).balance, 100);
  EXPECT_EQ(weight(a.pub), 100);
  EXPECT_EQ(process(legacy(BlockType::kOpen, a, kZero, block_hash(send), 0, g_.pub)),
            BlockStatus::kFork);
  // Sending more than the balance: negative spend (checked after work).
  EXPECT_EQ(process(legacy(BlockType::kSend, a, block_hash(open), g_.pub, 101)),
            BlockStatus::kNegativeSpend);
  const Block back = legacy(BlockType::kSend, a, block_hash(open), g_.pub, 60);
  process_ok(back);
  const Block receive = legacy(BlockType::kReceive, g_, block_hash(send), block_hash(back));
  process_ok(receive);
  EXPECT_EQ(info(g_.pub).balance, kAmountMax - 60);
  // The same send again, on the next block: nothing left to receive.
  EXPECT_EQ(process(legacy(BlockType::kReceive, g_, block_hash(receive), block_hash(back))),
            BlockStatus::kUnreceivable);
  const Block change = legacy(BlockType::kChange, a, block_hash(back), kZero, 0, g_.pub);
  process_ok(change);
  EXPECT_EQ(weight(a.pub), 0);
  EXPECT_EQ(weight(g_.pub), kAmountMax);
  // Forks of each legacy kind.
  EXPECT_EQ(process(legacy(BlockType::kSend, a, block_hash(back), g_.pub, 1)), BlockStatus::kFork);
  EXPECT_EQ(process(legacy(BlockType::kChange, a, block_hash(open), kZero, 0, a.pub)),
            BlockStatus::kFork);
  EXPECT_EQ(process(legacy(BlockType::kReceive, g_, block_hash(send), block_hash(back))),
            BlockStatus::kOld);
  // A receive on a block that is not the head forks before its source is
  // looked at.
  EXPECT_EQ(process(legacy(BlockType::kReceive, g_, block_hash(send), key_of(9).pub)),
            BlockStatus::kFork);
  expect_consistent();
}

TEST_P(LedgerTest, LegacyAfterStateIsBlockPosition) {
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  process_ok(send);
  EXPECT_EQ(process(legacy(BlockType::kSend, g_, block_hash(send), a.pub, kAmountMax - 20)),
            BlockStatus::kBlockPosition);
  EXPECT_EQ(process(legacy(BlockType::kChange, g_, block_hash(send), kZero, 0, a.pub)),
            BlockStatus::kBlockPosition);
  EXPECT_EQ(process(legacy(BlockType::kReceive, g_, block_hash(send), block_hash(send))),
            BlockStatus::kBlockPosition);
}

TEST_P(LedgerTest, EpochUpgradesInOrderKeepBalanceAndRepresentative) {
  const Block e1 = epoch_block(g_.pub, net_.genesis_hash, g_.pub, kAmountMax, Epoch::k1);
  // Epoch 2 before epoch 1 is out of order.
  EXPECT_EQ(process(epoch_block(g_.pub, net_.genesis_hash, g_.pub, kAmountMax, Epoch::k2)),
            BlockStatus::kBlockPosition);
  // Changing the representative in an epoch block is not allowed.
  EXPECT_EQ(process(epoch_block(g_.pub, net_.genesis_hash, key_of(3).pub, kAmountMax, Epoch::k1)),
            BlockStatus::kRepresentativeMismatch);
  process_ok(e1);
  EXPECT_EQ(info(g_.pub).epoch, Epoch::k1);
  EXPECT_EQ(process(epoch_block(g_.pub, block_hash(e1), g_.pub, kAmountMax, Epoch::k1)),
            BlockStatus::kBlockPosition);
  // On the dev network the genesis key is also the epoch signer, so a
  // stranger's signature stands for a wrong one.
  Block bad = epoch_block(g_.pub, block_hash(e1), g_.pub, kAmountMax, Epoch::k2);
  bad = finish(bad, key_of(4).priv, bad.work);
  EXPECT_EQ(process(bad), BlockStatus::kBadSignature);
  const Block e2 = epoch_block(g_.pub, block_hash(e1), g_.pub, kAmountMax, Epoch::k2);
  process_ok(e2);
  EXPECT_EQ(info(g_.pub).epoch, Epoch::k2);
  EXPECT_EQ(weight(g_.pub), kAmountMax);
  auto r = store_->begin_read();
  EXPECT_TRUE(r->block(block_hash(e2))->sideband.details.is_epoch);
}

TEST_P(LedgerTest, EpochOpensNeedSomethingReceivableAndNeverTheBurnAccount) {
  const Key a = key_of(1);
  EXPECT_EQ(process(epoch_block(a.pub, kZero, kZero, 0, Epoch::k1)),
            BlockStatus::kGapEpochOpenPending);
  EXPECT_EQ(process(epoch_block(a.pub, kZero, g_.pub, 0, Epoch::k1)),
            BlockStatus::kRepresentativeMismatch);
  EXPECT_EQ(process(epoch_block(kZero, kZero, kZero, 0, Epoch::k1)),
            BlockStatus::kOpenedBurnAccount);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  process_ok(send);
  // With a balance of its own, an epoch link is an ordinary state block,
  // which the account did not sign.
  EXPECT_EQ(process(epoch_block(a.pub, kZero, kZero, 5, Epoch::k1)), BlockStatus::kBadSignature);
  const Block open = epoch_block(a.pub, kZero, kZero, 0, Epoch::k2);  // straight to epoch 2
  process_ok(open);
  EXPECT_EQ(info(a.pub).epoch, Epoch::k2);
  EXPECT_EQ(info(a.pub).balance, 0);
  // The receive that follows keeps epoch 2 and takes the amount.
  process_ok(state(a, block_hash(open), a.pub, 10, block_hash(send)));
  EXPECT_EQ(info(a.pub).balance, 10);
}

TEST_P(LedgerTest, SendsFromAnUpgradedAccountNeedAStateReceive) {
  const Key a = key_of(1);
  const Block e1 = epoch_block(g_.pub, net_.genesis_hash, g_.pub, kAmountMax, Epoch::k1);
  process_ok(e1);
  const Block send = state(g_, block_hash(e1), g_.pub, kAmountMax - 10, a.pub);
  process_ok(send);
  EXPECT_EQ(pending(a.pub, block_hash(send))->epoch, Epoch::k1);
  EXPECT_EQ(process(legacy(BlockType::kOpen, a, kZero, block_hash(send), 0, a.pub)),
            BlockStatus::kUnreceivable);
  const Block open = state(a, kZero, a.pub, 10, block_hash(send));
  process_ok(open);
  EXPECT_EQ(info(a.pub).epoch, Epoch::k1) << "an open takes its source's epoch";
  auto r = store_->begin_read();
  EXPECT_EQ(r->block(block_hash(open))->sideband.source_epoch, Epoch::k1);
}

TEST_P(LedgerTest, WorkJustBelowEachThresholdIsInsufficient) {
  const Key a = key_of(1);
  const WorkThresholds& w = net_.work;
  // Epoch 0: everything needs epoch_1.
  Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 10, a.pub);
  EXPECT_EQ(process(finish(send, g_.priv, work_between(block_root(send), 0, w.epoch_1))),
            BlockStatus::kInsufficientWork);
  send = finish(send, g_.priv, work_between(block_root(send), w.epoch_1, w.epoch_2));
  process_ok(send);
  // Upgrade both accounts to epoch 2 (epoch blocks need only epoch_2_receive).
  Block e1 = epoch_block(g_.pub, block_hash(send), g_.pub, kAmountMax - 10, Epoch::k1);
  process_ok(e1);
  Block e2 = epoch_block(g_.pub, block_hash(e1), g_.pub, kAmountMax - 10, Epoch::k2);
  e2 = finish(e2, g_.priv, work_between(block_root(e2), 0, w.epoch_2_receive));
  EXPECT_EQ(process(e2), BlockStatus::kInsufficientWork);
  e2 = finish(e2, g_.priv, work_between(block_root(e2), w.epoch_2_receive, w.epoch_2));
  process_ok(e2);
  // Epoch 2 send: epoch_2_receive is not enough, epoch_2 is.
  Block send2 = state(g_, block_hash(e2), g_.pub, kAmountMax - 30, a.pub);
  EXPECT_EQ(process(finish(send2, g_.priv,
                           work_between(block_root(send2), w.epoch_2_receive, w.epoch_2))),
            BlockStatus::kInsufficientWork);
  send2 = finish(send2, g_.priv, work_between(block_root(send2), w.epoch_2));
  process_ok(send2);
  // An open receiving an epoch 2 send is epoch 2 and needs only epoch_2_receive.
  Block open = state(a, kZero, a.pub, 20, block_hash(send2));
  EXPECT_EQ(process(finish(open, a.priv, work_between(block_root(open), 0, w.epoch_2_receive))),
            BlockStatus::kInsufficientWork);
  open = finish(open, a.priv, work_between(block_root(open), w.epoch_2_receive, w.epoch_2));
  process_ok(open);
  EXPECT_EQ(info(a.pub).epoch, Epoch::k2);
}

TEST_P(LedgerTest, LegacyWorkJustBelowEpoch1IsInsufficient) {
  const Key a = key_of(1);
  Block send = legacy(BlockType::kSend, g_, net_.genesis_hash, a.pub, kAmountMax - 5);
  EXPECT_EQ(process(finish(send, g_.priv, work_between(block_root(send), 0, net_.work.epoch_1))),
            BlockStatus::kInsufficientWork);
  send = finish(send, g_.priv, work_between(block_root(send), net_.work.epoch_1));
  process_ok(send);
  Block open = legacy(BlockType::kOpen, a, kZero, block_hash(send), 0, a.pub);
  EXPECT_EQ(process(finish(open, a.priv, work_between(block_root(open), 0, net_.work.epoch_1))),
            BlockStatus::kInsufficientWork);
}

TEST_P(LedgerTest, RollingBackAReceivedSendRollsBackTheReceiverFirst) {
  const Key a = key_of(1), b = key_of(2);
  receivers_ = {a.pub, b.pub, g_.pub};
  const Block send_a = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 100, a.pub);
  process_ok(send_a);
  const Block open_a = state(a, kZero, a.pub, 100, block_hash(send_a));
  process_ok(open_a);
  const Block send_b = state(a, block_hash(open_a), a.pub, 40, b.pub);
  process_ok(send_b);
  const Block open_b = state(b, kZero, b.pub, 60, block_hash(send_b));
  process_ok(open_b);
  expect_consistent();

  auto txn = store_->begin_write();
  auto removed = ledger_.rollback(*txn, block_hash(send_a), kNow + 1);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  ASSERT_TRUE(txn->commit().ok());
  // B's open had to go before A's send, A's send before A's open, A's open
  // before genesis's send.
  ASSERT_EQ(removed->size(), 4u);
  EXPECT_EQ((*removed)[0], open_b);
  EXPECT_EQ((*removed)[1], send_b);
  EXPECT_EQ((*removed)[2], open_a);
  EXPECT_EQ((*removed)[3], send_a);
  auto r = store_->begin_read();
  EXPECT_FALSE(r->account(a.pub).has_value());
  EXPECT_FALSE(r->account(b.pub).has_value());
  EXPECT_EQ(r->block_count(), 1u);
  EXPECT_EQ(r->pending_count(), 0u);
  EXPECT_EQ(r->block(net_.genesis_hash)->successor, kZero);
  r.reset();
  EXPECT_EQ(info(g_.pub).balance, kAmountMax);
  EXPECT_EQ(weight(g_.pub), kAmountMax);
  expect_consistent();
  // And the same blocks apply again.
  process_ok(send_a);
  process_ok(open_a);
}

TEST_P(LedgerTest, RollbackOfAReceiveMakesItReceivableAgain) {
  const Key a = key_of(1);
  receivers_ = {a.pub};
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 100, a.pub);
  process_ok(send);
  const Block open = state(a, kZero, a.pub, 100, block_hash(send));
  process_ok(open);
  const Block change = state(a, block_hash(open), g_.pub, 100, kZero);
  process_ok(change);
  EXPECT_EQ(weight(a.pub), 0);
  auto txn = store_->begin_write();
  auto removed = ledger_.rollback(*txn, block_hash(change), kNow);
  ASSERT_TRUE(removed.ok());
  ASSERT_TRUE(txn->commit().ok());
  EXPECT_EQ(weight(a.pub), 100);
  EXPECT_EQ(info(a.pub).head, block_hash(open));
  txn = store_->begin_write();
  ASSERT_TRUE(ledger_.rollback(*txn, block_hash(open), kNow).ok());
  ASSERT_TRUE(txn->commit().ok());
  auto p = pending(a.pub, block_hash(send));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->amount, 100);
  EXPECT_EQ(p->source, g_.pub);
  expect_consistent();
}

TEST_P(LedgerTest, RollbackStopsAtTheConfirmationHeightAndAnAbortLeavesNoTrace) {
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 100, a.pub);
  process_ok(send);
  const Block open = state(a, kZero, a.pub, 100, block_hash(send));
  process_ok(open);
  {
    auto txn = store_->begin_write();
    txn->put_confirmation_height(a.pub, ConfirmationHeight{1, block_hash(open)});
    ASSERT_TRUE(txn->commit().ok());
  }
  auto txn = store_->begin_write();
  // Genesis's send is not confirmed, but rolling it back needs A's open,
  // which is.
  auto removed = ledger_.rollback(*txn, block_hash(send), kNow);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.error().code(), ErrorCode::kRefused);
  txn.reset();  // aborted
  EXPECT_EQ(info(g_.pub).head, block_hash(send));
  EXPECT_EQ(info(a.pub).head, block_hash(open));
  EXPECT_EQ(store_->begin_read()->block_count(), 3u);
  txn = store_->begin_write();
  auto genesis = ledger_.rollback(*txn, net_.genesis_hash, kNow);
  EXPECT_FALSE(genesis.ok()) << "genesis is confirmed from the start";
  txn.reset();
  txn = store_->begin_write();
  EXPECT_EQ(ledger_.rollback(*txn, key_of(5).pub, kNow).error().code(), ErrorCode::kNotFound);
}

TEST_P(LedgerTest, CementingAReceiveCementsItsSendAndEverythingBelowFirst) {
  const Key a = key_of(1), b = key_of(2);
  const Block send_a = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 100, a.pub);
  process_ok(send_a);
  const Block send_b = state(g_, block_hash(send_a), g_.pub, kAmountMax - 150, b.pub);
  process_ok(send_b);
  const Block open_a = state(a, kZero, a.pub, 100, block_hash(send_a));
  process_ok(open_a);
  const Block send_ab = state(a, block_hash(open_a), a.pub, 70, b.pub);
  process_ok(send_ab);
  const Block open_b = state(b, kZero, b.pub, 30, block_hash(send_ab));
  process_ok(open_b);
  const Block recv_b = state(b, block_hash(open_b), b.pub, 80, block_hash(send_b));
  process_ok(recv_b);

  auto txn = store_->begin_write();
  std::vector<CementedBlock> cemented;
  auto ok = ledger_.confirm(*txn, block_hash(recv_b), cemented);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  ASSERT_TRUE(txn->commit().ok());
  // B's open receives A's send, which needs A's open, which receives the
  // genesis's first send; B's receive takes the genesis's second send.
  std::vector<BlockHash> order;
  for (const CementedBlock& c : cemented) order.push_back(c.hash);
  const std::vector<BlockHash> want{block_hash(send_a), block_hash(open_a), block_hash(send_ab),
                                    block_hash(open_b), block_hash(send_b), block_hash(recv_b)};
  EXPECT_EQ(order, want);
  EXPECT_EQ(cemented[2].amount, 30);
  auto r = store_->begin_read();
  EXPECT_EQ(r->confirmation_height(g_.pub), (ConfirmationHeight{3, block_hash(send_b)}));
  EXPECT_EQ(r->confirmation_height(a.pub), (ConfirmationHeight{2, block_hash(send_ab)}));
  EXPECT_EQ(r->confirmation_height(b.pub), (ConfirmationHeight{2, block_hash(recv_b)}));
  for (const BlockHash& h : want) EXPECT_TRUE(Ledger::confirmed(*r, h));
  r.reset();

  // Cemented is for good: a second time does nothing, and no rollback
  // reaches below it.
  txn = store_->begin_write();
  std::vector<CementedBlock> again;
  ASSERT_TRUE(ledger_.confirm(*txn, block_hash(open_a), again).ok());
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(ledger_.rollback(*txn, block_hash(send_ab), kNow).error().code(), ErrorCode::kRefused);
  txn.reset();
  txn = store_->begin_write();
  EXPECT_EQ(ledger_.confirm(*txn, key_of(9).pub, again).error().code(), ErrorCode::kNotFound);
}

TEST_P(LedgerTest, CementingStopsAtItsBoundHavingCementedOnlyWhatItReports) {
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, kAmountMax - 100, a.pub);
  process_ok(send);
  const Block open = state(a, kZero, a.pub, 100, block_hash(send));
  process_ok(open);
  auto txn = store_->begin_write();
  std::vector<CementedBlock> out;
  auto r = ledger_.confirm(*txn, block_hash(open), out, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].hash, block_hash(send));
  ASSERT_TRUE(txn->commit().ok());  // what was reported is consistent
  auto read = store_->begin_read();
  EXPECT_TRUE(Ledger::confirmed(*read, block_hash(send)));
  EXPECT_FALSE(Ledger::confirmed(*read, block_hash(open)));
}

INSTANTIATE_TEST_SUITE_P(Stores, LedgerTest, ::testing::Values("memory", "lmdb"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace chorus::nano
