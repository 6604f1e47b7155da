// The block processor: batches in one transaction, blocks that wait for
// what they depend on and are freed when it arrives, and its bounds.
#include "chorus/nano/block_processor.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "block_maker.h"
#include "chorus/nano/ledger_check.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers

class BlockProcessorTest : public ::testing::TestWithParam<std::string>, protected BlockMaker {
 protected:
  BlockProcessorTest() : ledger_(net_), store_(make_test_store(GetParam(), dir_)) {
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
  }

  // Runs batches until nothing is queued; every result, in order.
  std::vector<ProcessedBlock> drain(BlockProcessor& p, size_t max_batches = 100) {
    std::vector<ProcessedBlock> all;
    for (size_t i = 0; i < max_batches && p.queued() != 0; ++i) {
      auto batch = p.run_batch(kNow);
      EXPECT_TRUE(batch.ok()) << batch.error().message();
      if (!batch.ok()) break;
      all.insert(all.end(), batch->begin(), batch->end());
    }
    EXPECT_EQ(p.queued(), 0u);
    return all;
  }
  static size_t count(const std::vector<ProcessedBlock>& r, BlockStatus s) {
    return static_cast<size_t>(
        std::count_if(r.begin(), r.end(), [s](const auto& x) { return x.status == s; }));
  }
  void expect_valid_ledger() {
    auto r = store_->begin_read();
    const LedgerCheckReport report = check_ledger(*r, net_);
    EXPECT_TRUE(report.ok()) << report.problems.front();
  }
  uint64_t block_count() { return store_->begin_read()->block_count(); }

  // Genesis sends `n` times to `to`, 1 raw each; the sends in chain order.
  std::vector<Block> sends(const PublicKey& to, int n) {
    std::vector<Block> out;
    BlockHash prev = net_.genesis_hash;
    Amount balance = net_.genesis_amount;
    for (int i = 0; i < n; ++i) {
      out.push_back(state(g_, prev, g_.pub, --balance, to));
      prev = block_hash(out.back());
    }
    return out;
  }

  TempDir dir_;
  Ledger ledger_;
  std::unique_ptr<LedgerStore> store_;
};

TEST_P(BlockProcessorTest, AChainSentNewestFirstEndsUpWhole) {
  const Key a = key_of(1);
  auto chain = sends(a.pub, 5);
  const Block open = state(a, kZero, a.pub, 1, block_hash(chain[0]));
  const Block receive = state(a, block_hash(open), a.pub, 2, block_hash(chain[1]));
  BlockProcessor p(ledger_, *store_);
  // The receiver's blocks first, then the sends newest first: every block
  // but the first send waits for something when it arrives.
  ASSERT_TRUE(p.add(receive, BlockSource::kLive, 7).ok());
  ASSERT_TRUE(p.add(open, BlockSource::kLive, 7).ok());
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    ASSERT_TRUE(p.add(*it, BlockSource::kBootstrap).ok());
  auto results = drain(p);
  EXPECT_EQ(count(results, BlockStatus::kProgress), 7u);
  EXPECT_EQ(p.unchecked().size(), 0u);
  EXPECT_EQ(block_count(), 8u);
  auto info = store_->begin_read()->account(a.pub);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->balance, 2);
  EXPECT_EQ(info->head, block_hash(receive));
  // Tags and sources come back with the block they were given with.
  for (const auto& r : results) {
    if (r.hash == block_hash(receive) && r.status == BlockStatus::kProgress) {
      EXPECT_EQ(r.tag, 7u);
      EXPECT_EQ(r.source, BlockSource::kLive);
    }
  }
  expect_valid_ledger();
}

TEST_P(BlockProcessorTest, AnEpochOpenWaitsForASendToItsAccount) {
  const Key a = key_of(2);
  const Block epoch_open = epoch_block(a.pub, kZero, kZero, 0, Epoch::k1);
  BlockProcessor p(ledger_, *store_);
  ASSERT_TRUE(p.add(epoch_open, BlockSource::kLive).ok());
  auto first = drain(p);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].status, BlockStatus::kGapEpochOpenPending);
  EXPECT_TRUE(p.unchecked().contains(block_hash(epoch_open)));
  ASSERT_TRUE(p.add(sends(a.pub, 1)[0], BlockSource::kLive).ok());
  auto second = drain(p);
  EXPECT_EQ(count(second, BlockStatus::kProgress), 2u);
  EXPECT_TRUE(store_->begin_read()->account(a.pub).has_value());
  expect_valid_ledger();
}

TEST_P(BlockProcessorTest, BadBlocksGetTheirCodeAndAreNotKept) {
  const Key a = key_of(3);
  Block forged = sends(a.pub, 1)[0];
  forged.signature[5] ^= 1;
  Block poor = sends(a.pub, 1)[0];
  poor.work = work_between(block_root(poor), 0, net_.work.epoch_1);
  BlockProcessor p(ledger_, *store_);
  ASSERT_TRUE(p.add(forged, BlockSource::kLive, 1).ok());
  ASSERT_TRUE(p.add(poor, BlockSource::kLive, 2).ok());
  auto r = drain(p);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, BlockStatus::kBadSignature);
  EXPECT_EQ(r[0].tag, 1u);
  EXPECT_EQ(r[1].status, BlockStatus::kInsufficientWork);
  EXPECT_EQ(r[1].tag, 2u);
  EXPECT_EQ(p.unchecked().size(), 0u);
  EXPECT_EQ(block_count(), 1u);
}

TEST_P(BlockProcessorTest, BatchesHoldAtMostMaxBatchBlocks) {
  BlockProcessorConfig c;
  c.max_batch = 2;
  BlockProcessor p(ledger_, *store_, c);
  for (const Block& b : sends(key_of(4).pub, 5)) ASSERT_TRUE(p.add(b, BlockSource::kLive).ok());
  std::vector<size_t> sizes;
  while (p.queued() != 0) {
    auto batch = p.run_batch(kNow);
    ASSERT_TRUE(batch.ok());
    sizes.push_back(batch->size());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(block_count(), 6u);
  auto empty = p.run_batch(kNow);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_P(BlockProcessorTest, TheQueueAndTheUncheckedSetAreBounded) {
  BlockProcessorConfig c;
  c.max_queue = 3;
  c.max_unchecked = 2;
  BlockProcessor p(ledger_, *store_, c);
  auto chain = sends(key_of(5).pub, 4);
  // Three blocks whose previous is missing fill the queue; a fourth is refused.
  for (int i = 3; i >= 1; --i) ASSERT_TRUE(p.add(chain[i], BlockSource::kLive).ok());
  auto refused = p.add(chain[0], BlockSource::kLive);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kLimit);
  drain(p);
  // Three gaps into a set of two: the oldest (chain[3]) was dropped.
  EXPECT_EQ(p.unchecked().size(), 2u);
  EXPECT_EQ(p.unchecked().evicted(), 1u);
  EXPECT_FALSE(p.unchecked().contains(block_hash(chain[3])));
  ASSERT_TRUE(p.add(chain[0], BlockSource::kLive).ok());
  auto r = drain(p);
  EXPECT_EQ(count(r, BlockStatus::kProgress), 3u);
  EXPECT_EQ(block_count(), 4u);
  expect_valid_ledger();
}

TEST_P(BlockProcessorTest, AFailedCommitLeavesNothingOfTheBatch) {
  if (GetParam() != "lmdb") GTEST_SKIP() << "only a file can fill up";
  // A store too small for the batch: its commit fails, the ledger keeps
  // what it had, and the processor goes on with later blocks.
  TempDir small_dir;
  LmdbOptions o;
  o.directory = small_dir.path();
  o.map_size_bytes = 64 << 10;
  o.sync = false;
  auto small = open_lmdb_store(o);
  ASSERT_TRUE(small.ok()) << small.error().message();
  {
    auto txn = (*small)->begin_write();
    ledger_.initialize(*txn, kNow);
    ASSERT_TRUE(txn->commit().ok());
  }
  BlockProcessorConfig c;
  c.max_batch = 400;
  BlockProcessor p(ledger_, **small, c);
  for (const Block& b : sends(key_of(6).pub, 400)) ASSERT_TRUE(p.add(b, BlockSource::kLive).ok());
  auto batch = p.run_batch(kNow);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.error().code(), ErrorCode::kLimit) << batch.error().message();
  EXPECT_EQ((*small)->begin_read()->block_count(), 1u);
  auto r = (*small)->begin_read();
  EXPECT_TRUE(check_ledger(*r, net_).ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, BlockProcessorTest, ::testing::Values("memory", "lmdb"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace chorus::nano
