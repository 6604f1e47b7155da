// The ledger stores: transactions all-or-nothing on both, and what only the
// LMDB store has (files that outlive the process, a format version, a size
// bound, snapshots for readers).
#include <gtest/gtest.h>
#include <lmdb.h>

#include "block_maker.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/ledger_check.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  StoreTest() : store_(make_test_store(GetParam(), dir_)) {}
  TempDir dir_;
  std::unique_ptr<LedgerStore> store_;
};

TEST_P(StoreTest, AnUncommittedWriteIsUndoneInFull) {
  Ledger ledger(dev_network());
  {
    auto txn = store_->begin_write();
    ledger.initialize(*txn, kNow);
    txn->put_pending(PendingKey{{1}, {2}}, PendingInfo{{3}, 4, Epoch::k1});
    txn->put_weight({9}, 77);
    EXPECT_EQ(txn->block_count(), 1u) << "a transaction sees its own writes";
    EXPECT_EQ(txn->weight({9}), 77);
  }
  auto r = store_->begin_read();
  EXPECT_EQ(r->block_count(), 0u);
  EXPECT_EQ(r->account_count(), 0u);
  EXPECT_EQ(r->pending_count(), 0u);
  EXPECT_EQ(r->weight({9}), 0);
  EXPECT_TRUE(r->weights().empty());
}

TEST_P(StoreTest, EveryRecordReadsBackAsWritten) {
  StoredBlock sb;
  sb.block.type = BlockType::kState;
  sb.block.account = {1, 2, 3};
  sb.block.previous = {4};
  sb.block.representative = {5};
  sb.block.balance = kAmountMax - 3;
  sb.block.link = {6};
  sb.block.signature = {7, 8};
  sb.block.work = 0x0123456789abcdefULL;
  sb.sideband = {{1, 2, 3}, 42, kNow, kAmountMax - 3, {Epoch::k2, true, false, false}, Epoch::k1};
  sb.successor = {9};
  StoredBlock legacy = sb;
  legacy.block = Block{};
  legacy.block.type = BlockType::kReceive;
  legacy.block.previous = {10};
  legacy.block.link = {11};
  legacy.sideband.details = {Epoch::k0, false, true, false};
  legacy.successor = {};
  const AccountInfo info{{1}, {2}, {3}, Amount{1} << 100, kNow, 77, Epoch::k1};
  const PendingKey pk{{4}, {5}};
  const PendingInfo pi{{6}, 12345, Epoch::k2};
  const ConfirmationHeight ch{9, {8}};
  {
    auto txn = store_->begin_write();
    txn->put_block({1}, sb);
    txn->put_block({2}, legacy);
    txn->put_account({3}, info);
    txn->put_pending(pk, pi);
    txn->put_pending({{4}, {6}}, pi);
    txn->put_pending({{5}, {1}}, pi);
    txn->put_weight({7}, kAmountMax);
    txn->put_confirmation_height({3}, ch);
    txn->set_successor({2}, {12});
    ASSERT_TRUE(txn->commit().ok());
  }
  auto r = store_->begin_read();
  EXPECT_EQ(r->block({1}), sb);
  legacy.successor = {12};
  EXPECT_EQ(r->block({2}), legacy);
  EXPECT_EQ(r->account({3}), info);
  EXPECT_EQ(r->pending(pk), pi);
  EXPECT_EQ(r->pending_of({4}, 10).size(), 2u);
  EXPECT_EQ(r->pending_of({4}, 1).size(), 1u);
  EXPECT_EQ(r->pending_from({{4}, {6}}, 10).size(), 2u) << "from {4}/{6}: it and {5}/{1}";
  EXPECT_EQ(r->weight({7}), kAmountMax);
  EXPECT_EQ(r->confirmation_height({3}), ch);
  EXPECT_EQ(r->confirmation_height({4}), ConfirmationHeight{});
  EXPECT_EQ(r->accounts_from({}, 10).size(), 1u);
  EXPECT_FALSE(r->block({3}).has_value());
}

TEST_P(StoreTest, AFinalVoteIsClaimedForOneBlockPerRootOnly) {
  const QualifiedRoot root{7};
  const QualifiedRoot other{8};
  const BlockHash first{1};
  const BlockHash fork{2};
  {
    auto txn = store_->begin_write();
    EXPECT_TRUE(claim_final_vote(*txn, root, first));
    EXPECT_TRUE(claim_final_vote(*txn, root, first)) << "the same block again";
    EXPECT_FALSE(claim_final_vote(*txn, root, fork)) << "never a second block on one root";
    EXPECT_TRUE(claim_final_vote(*txn, other, fork));
    // Not committed: the claims are undone with the transaction.
  }
  EXPECT_FALSE(store_->begin_read()->final_vote(root).has_value());
  {
    auto txn = store_->begin_write();
    ASSERT_TRUE(claim_final_vote(*txn, root, fork));
    ASSERT_TRUE(txn->commit().ok());
  }
  auto txn = store_->begin_write();
  EXPECT_FALSE(claim_final_vote(*txn, root, first));
  EXPECT_EQ(txn->final_vote(root).value_or(BlockHash{}), fork);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("memory", "lmdb"),
                         [](const auto& p) { return p.param; });

// A ledger with a few accounts, built through the processor's rules.
class LmdbStoreTest : public ::testing::Test, protected BlockMaker {
 protected:
  LmdbOptions options() const {
    LmdbOptions o;
    o.directory = dir_.path();
    o.map_size_bytes = uint64_t{64} << 20;
    return o;
  }
  std::unique_ptr<LedgerStore> open() {
    auto s = open_lmdb_store(options());
    EXPECT_TRUE(s.ok()) << s.error().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  TempDir dir_;
};

TEST_F(LmdbStoreTest, ALedgerOutlivesItsProcessAndReopensWhole) {
  Ledger ledger(net_);
  const Key a = key_of(1);
  const Block send = state(g_, net_.genesis_hash, g_.pub, net_.genesis_amount - 5, a.pub);
  {
    auto store = open();
    ASSERT_TRUE(store);
    auto txn = store->begin_write();
    ledger.initialize(*txn, kNow);
    ASSERT_EQ(ledger.process(*txn, send, kNow), BlockStatus::kProgress);
    ASSERT_TRUE(txn->commit().ok());
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto r = store->begin_read();
  EXPECT_EQ(r->block_count(), 2u);
  EXPECT_EQ(r->pending(PendingKey{a.pub, block_hash(send)})->amount, 5);
  EXPECT_TRUE(check_ledger(*r, net_).ok());
}

TEST_F(LmdbStoreTest, AFinalVoteClaimSurvivesARestart) {
  const QualifiedRoot root{3};
  {
    auto store = open();
    ASSERT_TRUE(store);
    auto txn = store->begin_write();
    ASSERT_TRUE(claim_final_vote(*txn, root, BlockHash{1}));
    ASSERT_TRUE(txn->commit().ok());
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto txn = store->begin_write();
  EXPECT_FALSE(claim_final_vote(*txn, root, BlockHash{2})) << "the promise outlives the process";
  EXPECT_TRUE(claim_final_vote(*txn, root, BlockHash{1}));
}

TEST_F(LmdbStoreTest, AReaderKeepsItsSnapshotWhileAWriterCommits) {
  auto store = open();
  ASSERT_TRUE(store);
  Ledger ledger(net_);
  auto before = store->begin_read();
  auto txn = store->begin_write();
  ledger.initialize(*txn, kNow);
  ASSERT_TRUE(txn->commit().ok());
  EXPECT_EQ(before->block_count(), 0u);
  EXPECT_EQ(store->begin_read()->block_count(), 1u);
}

TEST_F(LmdbStoreTest, ANewerFormatIsRefusedAndAMissingDirectoryIsAnIoError) {
  { ASSERT_TRUE(open()); }
  // Stamp the store as written by a later version, through LMDB itself.
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  ASSERT_EQ(mdb_env_open(env, dir_.path().c_str(), 0, 0600), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi meta;
  ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  char key[] = "version";
  uint8_t later[8] = {0, 0, 0, 0, 0, 0, 0, kLmdbStoreVersion + 1};
  MDB_val k{7, key}, v{8, later};
  ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);

  auto refused = open_lmdb_store(options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kRefused);
  EXPECT_NE(refused.error().message().find("version"), std::string::npos);

  LmdbOptions missing = options();
  missing.directory += "/not-there";
  auto io = open_lmdb_store(missing);
  ASSERT_FALSE(io.ok());
  EXPECT_EQ(io.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace chorus::nano
