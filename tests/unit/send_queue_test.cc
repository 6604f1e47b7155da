// SendQueue: the per-link queue that decides which app's message goes next
// when the write window is full (fair sending).
#include "send_queue.h"

#include <gtest/gtest.h>

#include <map>

namespace chorus::overlay {
namespace {

// A record: its app in the first two bytes, a sequence number in the next
// four, then filler up to `size`.
Bytes record(AppId app, uint32_t seq, size_t size) {
  Bytes b(std::max<size_t>(size, 6), 0xab);
  b[0] = static_cast<uint8_t>(app >> 8);
  b[1] = static_cast<uint8_t>(app);
  for (int i = 0; i < 4; ++i) b[2 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  return b;
}
AppId app_of(ByteView r) {
  return static_cast<AppId>(r[0] << 8 | r[1]);
}
uint32_t seq_of(ByteView r) {
  return uint32_t{r[2]} << 24 | uint32_t{r[3]} << 16 | uint32_t{r[4]} << 8 | r[5];
}

TEST(SendQueue, OneAppComesOutInOrderWithItsBytesCounted) {
  SendQueue q;
  EXPECT_TRUE(q.empty());
  for (uint32_t i = 0; i < 1000; ++i) q.push(AppPriority::kNormal, 3, record(3, i, 100 + i % 7));
  EXPECT_EQ(q.records(), 1000u);
  const size_t total = q.bytes();
  EXPECT_EQ(q.app_bytes(3), total);
  EXPECT_EQ(q.app_bytes(4), 0u);
  size_t seen = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_FALSE(q.empty());
    ByteView r = q.front();
    EXPECT_EQ(seq_of(r), i);
    EXPECT_EQ(r.size(), 100 + i % 7);
    seen += r.size();
    q.pop();
  }
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(seen, total);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(SendQueue, AHigherPriorityOvertakesWhatWasQueuedBeforeIt) {
  SendQueue q;
  for (uint32_t i = 0; i < 50; ++i) q.push(AppPriority::kBulk, 1, record(1, i, 4000));
  for (uint32_t i = 0; i < 50; ++i) q.push(AppPriority::kNormal, 2, record(2, i, 4000));
  q.push(AppPriority::kHigh, 9, record(9, 0, 200));
  // Vote first, then every normal message, then the bulk ones.
  EXPECT_EQ(app_of(q.front()), 9);
  q.pop();
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(app_of(q.front()), 2);
    q.pop();
  }
  // A high-priority message arriving mid-bulk still goes next.
  EXPECT_EQ(app_of(q.front()), 1);
  q.pop();
  q.push(AppPriority::kHigh, 9, record(9, 1, 200));
  EXPECT_EQ(app_of(q.front()), 9);
  q.pop();
  size_t bulk = 0;
  while (!q.empty()) {
    EXPECT_EQ(app_of(q.front()), 1);
    q.pop();
    ++bulk;
  }
  EXPECT_EQ(bulk, 49u);
}

TEST(SendQueue, AppsOfOnePriorityShareByBytesNotByMessages) {
  // App 1 sends 500-byte messages, app 2 30,000-byte ones: by message count
  // app 2 would get 60 times the bandwidth; by bytes they get the same.
  SendQueue q;
  for (uint32_t i = 0; i < 4000; ++i) q.push(AppPriority::kBulk, 1, record(1, i, 500));
  for (uint32_t i = 0; i < 70; ++i) q.push(AppPriority::kBulk, 2, record(2, i, 30000));
  std::map<AppId, size_t> sent;
  std::map<AppId, uint32_t> next_seq;
  while (sent[1] + sent[2] < 1'500'000) {
    ByteView r = q.front();
    const AppId a = app_of(r);
    EXPECT_EQ(seq_of(r), next_seq[a]++) << "app " << a << " out of order";
    sent[a] += r.size();
    q.pop();
  }
  const double ratio = static_cast<double>(sent[1]) / static_cast<double>(sent[2]);
  EXPECT_GT(ratio, 0.9) << sent[1] << " vs " << sent[2];
  EXPECT_LT(ratio, 1.1) << sent[1] << " vs " << sent[2];
}

TEST(SendQueue, ARecordLargerThanAQuantumStillGoes) {
  SendQueue q;
  for (uint32_t i = 0; i < 200; ++i) q.push(AppPriority::kNormal, 1, record(1, i, 100));
  q.push(AppPriority::kNormal, 2, record(2, 0, 10 * SendQueue::kQuantumBytes));
  for (uint32_t i = 200; i < 2000; ++i) q.push(AppPriority::kNormal, 1, record(1, i, 100));
  // The big record waits about ten turns (while app 1 sends about ten
  // quanta), then goes: neither side starves.
  size_t before = 0;
  while (app_of(q.front()) == 1) {
    q.pop();
    ++before;
  }
  EXPECT_EQ(q.front().size(), 10 * SendQueue::kQuantumBytes);
  EXPECT_GT(before * 100, 8 * SendQueue::kQuantumBytes);
  EXPECT_LT(before * 100, 12 * SendQueue::kQuantumBytes);
}

TEST(SendQueue, EmptyingAndClearingForgetEverything) {
  SendQueue q;
  for (int round = 0; round < 3; ++round) {
    for (uint32_t i = 0; i < 3000; ++i) q.push(AppPriority::kNormal, 5, record(5, i, 64));
    for (uint32_t i = 0; i < 3000; ++i) {
      EXPECT_EQ(seq_of(q.front()), i);
      q.pop();
    }
    EXPECT_TRUE(q.empty());
  }
  q.push(AppPriority::kHigh, 1, record(1, 0, 10));
  q.push(AppPriority::kBulk, 2, record(2, 0, 10));
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.app_bytes(1), 0u);
  q.pop();  // harmless when empty
  q.push(AppPriority::kBulk, 2, record(2, 7, 10));
  EXPECT_EQ(seq_of(q.front()), 7u);
}

}  // namespace
}  // namespace chorus::overlay
