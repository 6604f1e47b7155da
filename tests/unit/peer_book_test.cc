#include "chorus/overlay/peer_book.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace chorus::overlay {
namespace {

constexpr int64_t kBaseUs = 200'000;
constexpr int64_t kMaxUs = 30'000'000;

SocketAddress addr(uint16_t port) {
  return {"127.0.0.1", port};
}

PublicKey key(uint8_t b) {
  PublicKey k{};
  k.fill(b);
  return k;
}

TEST(PeerBook, BackoffDoublesPerFailureAndIsCapped) {
  PeerBook book(16, kBaseUs, kMaxUs);
  Random rnd(42);
  book.add(addr(1), std::nullopt, false, rnd);
  const int64_t now = 1'000'000;
  for (int n = 1; n <= 20; ++n) {
    book.on_failure(addr(1), now, rnd);
    const auto* e = book.find(addr(1));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->failures, n);
    int64_t nominal = kBaseUs;
    for (int i = 1; i < n; ++i) nominal = std::min(nominal * 2, kMaxUs);
    const int64_t delay = e->next_try_us - now;
    EXPECT_GE(delay, nominal / 2) << "failure " << n;
    EXPECT_LT(delay, nominal + nominal / 2) << "failure " << n;
    EXPECT_LT(delay, kMaxUs + kMaxUs / 2);
  }
}

TEST(PeerBook, FailureCountSaturatesWithoutOverflow) {
  PeerBook book(4, kBaseUs, kMaxUs);
  Random rnd(1);
  book.add(addr(1), std::nullopt, false, rnd);
  for (int n = 0; n < 100; ++n) book.on_failure(addr(1), 0, rnd);
  EXPECT_EQ(book.find(addr(1))->failures, 30);
  EXPECT_LT(book.find(addr(1))->next_try_us, kMaxUs + kMaxUs / 2);
}

TEST(PeerBook, JitterStaysWithinHalfToOneAndAHalf) {
  Random rnd(7);
  double lo = 2, hi = 0;
  for (uint16_t p = 1; p <= 500; ++p) {
    PeerBook book(4, kBaseUs, kMaxUs);
    book.add(addr(p), std::nullopt, false, rnd);
    book.on_failure(addr(p), 0, rnd);
    double f = static_cast<double>(book.find(addr(p))->next_try_us) / kBaseUs;
    lo = std::min(lo, f);
    hi = std::max(hi, f);
  }
  EXPECT_GE(lo, 0.5);
  EXPECT_LT(hi, 1.5);
  // Spread out, not a constant factor.
  EXPECT_LT(lo, 0.6);
  EXPECT_GT(hi, 1.4);
}

TEST(PeerBook, SuccessResetsTheBackoffAndLearnsTheKey) {
  PeerBook book(4, kBaseUs, kMaxUs);
  Random rnd(3);
  book.add(addr(1), std::nullopt, false, rnd);
  book.on_failure(addr(1), 0, rnd);
  book.on_failure(addr(1), 0, rnd);
  book.on_success(addr(1), key(9));
  const auto* e = book.find(addr(1));
  EXPECT_EQ(e->failures, 0);
  EXPECT_EQ(e->next_try_us, 0);
  EXPECT_EQ(e->key, key(9));
}

TEST(PeerBook, BoundedSizeEvictsOnlyNonBootstrapEntries) {
  PeerBook book(4, kBaseUs, kMaxUs);
  Random rnd(5);
  book.add(addr(1), std::nullopt, true, rnd);
  book.add(addr(2), std::nullopt, true, rnd);
  for (uint16_t p = 100; p < 200; ++p) {
    book.add(addr(p), key(static_cast<uint8_t>(p)), false, rnd);
    EXPECT_LE(book.size(), 4u);
    ASSERT_NE(book.find(addr(1)), nullptr);
    ASSERT_NE(book.find(addr(2)), nullptr);
  }
  EXPECT_EQ(book.size(), 4u);
  EXPECT_NE(book.find(addr(199)), nullptr);  // the newest is always admitted
}

TEST(PeerBook, FullOfBootstrapEntriesRefusesNewOnes) {
  PeerBook book(2, kBaseUs, kMaxUs);
  Random rnd(5);
  book.add(addr(1), std::nullopt, true, rnd);
  book.add(addr(2), std::nullopt, true, rnd);
  book.add(addr(3), key(3), false, rnd);
  EXPECT_EQ(book.size(), 2u);
  EXPECT_EQ(book.find(addr(3)), nullptr);
  EXPECT_NE(book.find(addr(1)), nullptr);
}

TEST(PeerBook, AddingAgainKeepsTheKnownKeyAndMayMarkBootstrap) {
  PeerBook book(4, kBaseUs, kMaxUs);
  Random rnd(5);
  book.add(addr(1), key(1), false, rnd);
  book.add(addr(1), std::nullopt, true, rnd);
  EXPECT_EQ(book.find(addr(1))->key, key(1));
  EXPECT_TRUE(book.find(addr(1))->bootstrap);
  book.add(addr(1), key(2), false, rnd);
  EXPECT_EQ(book.find(addr(1))->key, key(2));
  EXPECT_TRUE(book.find(addr(1))->bootstrap);
}

TEST(PeerBook, PickSkipsEntriesNotDueForbiddenOrRejected) {
  PeerBook book(8, kBaseUs, kMaxUs);
  Random rnd(9);
  book.add(addr(1), std::nullopt, false, rnd);
  book.add(addr(2), std::nullopt, false, rnd);
  book.add(addr(3), std::nullopt, false, rnd);
  book.on_failure(addr(1), 0, rnd);  // due at >= 100 ms
  book.forbid(addr(2));
  auto none = [](const PeerBook::Entry&) { return false; };
  for (int i = 0; i < 20; ++i) {
    auto e = book.pick(0, rnd, none);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->address, addr(3));
  }
  EXPECT_FALSE(
      book.pick(0, rnd, [](const PeerBook::Entry& e) { return e.address == addr(3); }).has_value());
  EXPECT_EQ(book.next_due_us(), std::optional<int64_t>(0));
  book.defer(addr(3), 5'000'000);
  EXPECT_EQ(book.next_due_us(), book.find(addr(1))->next_try_us);
  EXPECT_TRUE(book.pick(kMaxUs * 2, rnd, none).has_value());
}

TEST(PeerBook, SampleReturnsOnlyHealthyEntriesWithKnownKeys) {
  PeerBook book(16, kBaseUs, kMaxUs);
  Random rnd(11);
  book.add(addr(1), key(1), false, rnd);
  book.add(addr(2), std::nullopt, false, rnd);
  book.add(addr(3), key(3), false, rnd);
  book.on_failure(addr(3), 0, rnd);
  book.add(addr(4), key(4), false, rnd);
  book.forbid(addr(4));
  book.add(addr(5), key(5), false, rnd);
  auto s = book.sample(10, rnd);
  ASSERT_EQ(s.size(), 2u);
  for (const auto& e : s) EXPECT_TRUE(e.address == addr(1) || e.address == addr(5));
  EXPECT_EQ(book.sample(1, rnd).size(), 1u);
}

}  // namespace
}  // namespace chorus::overlay
