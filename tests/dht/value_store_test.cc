#include "chorus/dht/value_store.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "chorus/dht/patch.h"

namespace chorus::dht {
namespace {

PublicKey pk(uint8_t b) {
  PublicKey k{};
  k.fill(b);
  return k;
}

Bytes bytes_of(size_t n, uint8_t fill = 0x5a) {
  return Bytes(n, fill);
}

Value value(uint64_t id, Bytes data, uint32_t ttl_s = 60) {
  Value v;
  v.id = id;
  v.data = std::move(data);
  v.ttl_s = ttl_s;
  return v;
}

overlay::Identity identity(uint8_t b) {
  std::array<uint8_t, 32> seed{};
  seed.fill(b);
  return overlay::Identity::from_seed(seed);
}

SignedValue signed_value(const overlay::Identity& id, const Key& key, uint64_t seq, Bytes data,
                         uint32_t ttl_s = 60) {
  SignedValue v;
  v.owner = id.public_key();
  v.seq = seq;
  v.ttl_s = ttl_s;
  v.data = std::move(data);
  v.signature = id.sign(signed_value_message(key, seq, ttl_s, v.data));
  return v;
}

Contact contact(uint8_t b) {
  return make_contact(pk(b), Address{"127.0.0.1", 4000});
}

const Owner kAlice{pk(0xa1), 1};
const Owner kBob{pk(0xb0), 1};
const PublicKey kSrcA = pk(1);
const PublicKey kSrcB = pk(2);

class ValueStoreTest : public ::testing::Test {
 protected:
  StoreLimits limits() {
    StoreLimits l;
    l.max_value_bytes = 1000;
    l.max_values_per_key = 4;
    l.max_total_bytes = 5000;
    l.max_bytes_per_source = 3000;
    l.max_listeners_per_key = 3;
    l.max_ttl_s = 3600;
    l.max_lease_ms = 10'000;
    return l;
  }
  ValueStore store{limits()};
  Key key = key_for("room/42");
};

// ---- plain values ----------------------------------------------------------

TEST_F(ValueStoreTest, PutThenGetReportsTheTtlLeft) {
  auto out = store.put(key, value(1, bytes_of(10), 60), kSrcA, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out.changed);
  Snapshot s = store.get(key, 20'500);
  ASSERT_EQ(s.values.size(), 1u);
  EXPECT_EQ(s.values[0].id, 1u);
  EXPECT_EQ(s.values[0].data, bytes_of(10));
  EXPECT_EQ(s.values[0].ttl_s, 40u);  // 39.5 s left, rounded up
  EXPECT_TRUE(store.get(key, 60'000).empty());
  EXPECT_EQ(store.bytes_used(), 10u);
}

TEST_F(ValueStoreTest, TtlIsClampedToTheMaximum) {
  ASSERT_TRUE(store.put(key, value(1, bytes_of(1), 1'000'000), kSrcA, 0).ok());
  EXPECT_EQ(store.get(key, 0).values.at(0).ttl_s, 3600u);
  EXPECT_TRUE(store.get(key, 3600'000).empty());
}

TEST_F(ValueStoreTest, TooLargeIsRefused) {
  EXPECT_EQ(store.put(key, value(1, bytes_of(1001)), kSrcA, 0).refusal, Refusal::kTooLarge);
  EXPECT_TRUE(store.put(key, value(1, bytes_of(1000)), kSrcA, 0).ok());
}

TEST_F(ValueStoreTest, SameIdReplacesAndAdjustsBytes) {
  ASSERT_TRUE(store.put(key, value(7, bytes_of(100)), kSrcA, 0).ok());
  auto same = store.put(key, value(7, bytes_of(100)), kSrcA, 1);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same.changed);
  auto smaller = store.put(key, value(7, bytes_of(40, 1)), kSrcA, 2);
  ASSERT_TRUE(smaller.ok());
  EXPECT_TRUE(smaller.changed);
  EXPECT_EQ(store.bytes_used(), 40u);
  EXPECT_EQ(store.get(key, 3).values.size(), 1u);
  EXPECT_EQ(store.get(key, 3).values[0].data, bytes_of(40, 1));
}

TEST_F(ValueStoreTest, TooManyValuesPerKeyIsFull) {
  for (uint64_t id = 0; id < 4; ++id) ASSERT_TRUE(store.put(key, value(id, {1}), kSrcA, 0).ok());
  EXPECT_EQ(store.put(key, value(9, {1}), kSrcA, 0).refusal, Refusal::kFull);
  // Replacing an existing id is still fine, and other keys are unaffected.
  EXPECT_TRUE(store.put(key, value(3, {2}), kSrcA, 0).ok());
  EXPECT_TRUE(store.put(key_for("other"), value(9, {1}), kSrcA, 0).ok());
}

TEST_F(ValueStoreTest, PerSourceQuotaIsFull) {
  for (uint64_t id = 0; id < 3; ++id)
    ASSERT_TRUE(
        store.put(key_for("k" + std::to_string(id)), value(id, bytes_of(1000)), kSrcA, 0).ok());
  EXPECT_EQ(store.put(key_for("k9"), value(9, bytes_of(1)), kSrcA, 0).refusal, Refusal::kFull);
  // Another source still has room.
  EXPECT_TRUE(store.put(key_for("k9"), value(9, bytes_of(1000)), kSrcB, 0).ok());
  // A source at its quota may still replace its own value by one no larger.
  EXPECT_TRUE(store.put(key_for("k0"), value(0, bytes_of(1000, 7)), kSrcA, 0).ok());
  EXPECT_EQ(store.bytes_used(), 4000u);
}

TEST_F(ValueStoreTest, TotalQuotaIsFull) {
  for (uint8_t s = 0; s < 5; ++s)
    ASSERT_TRUE(
        store.put(key_for("k" + std::to_string(s)), value(1, bytes_of(1000)), pk(10 + s), 0).ok());
  EXPECT_EQ(store.bytes_used(), 5000u);
  auto out = store.put(key_for("k9"), value(1, bytes_of(1)), pk(20), 0);
  EXPECT_EQ(out.refusal, Refusal::kFull);
  // The refusal did not leave an empty entry behind.
  EXPECT_EQ(store.key_count(), 5u);
  // Nothing accepted is dropped to make room; expiry frees it.
  store.expire(60'000);
  EXPECT_EQ(store.bytes_used(), 0u);
  EXPECT_TRUE(store.put(key_for("k9"), value(1, bytes_of(1)), pk(20), 60'000).ok());
}

TEST_F(ValueStoreTest, ExpiredValuesFreeTheirSourceQuota) {
  ASSERT_TRUE(store.put(key, value(1, bytes_of(1000), 10), kSrcA, 0).ok());
  ASSERT_TRUE(store.put(key, value(2, bytes_of(1000), 10), kSrcA, 0).ok());
  ASSERT_TRUE(store.put(key, value(3, bytes_of(1000), 100), kSrcA, 0).ok());
  EXPECT_EQ(store.put(key, value(4, bytes_of(1000)), kSrcA, 0).refusal, Refusal::kFull);
  // Without an explicit expire() the write itself sees the expired values go.
  EXPECT_TRUE(store.put(key, value(4, bytes_of(1000)), kSrcA, 10'000).ok());
  EXPECT_EQ(store.bytes_used(), 2000u);
}

TEST_F(ValueStoreTest, ReplacingAnotherSourcesValueMovesTheCharge) {
  ASSERT_TRUE(store.put(key, value(1, bytes_of(1000)), kSrcA, 0).ok());
  ASSERT_TRUE(store.put(key, value(1, bytes_of(500)), kSrcB, 0).ok());
  // A's 1000 bytes were given back, so A can store 3000 again.
  for (uint64_t id = 10; id < 13; ++id)
    ASSERT_TRUE(
        store.put(key_for("a" + std::to_string(id)), value(id, bytes_of(1000)), kSrcA, 0).ok());
  EXPECT_EQ(store.bytes_used(), 3500u);
}

// ---- signed values ---------------------------------------------------------

TEST_F(ValueStoreTest, SignedValueAcceptedAndVerifiableByReaders) {
  auto alice = identity(1);
  auto v = signed_value(alice, key, 5, {1, 2, 3}, 60);
  auto out = store.put_signed(key, v, 1'000);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out.changed);
  Snapshot s = store.get(key, 30'000);
  ASSERT_EQ(s.signed_values.size(), 1u);
  const SignedValue& got = s.signed_values[0];
  // The signed ttl is reported unchanged, so the signature still verifies.
  EXPECT_EQ(got, v);
  EXPECT_TRUE(overlay::verify_signature(
      got.owner, signed_value_message(key, got.seq, got.ttl_s, got.data), got.signature));
  EXPECT_TRUE(store.get(key, 61'000).signed_values.empty());
  EXPECT_EQ(store.bytes_used(), 3u);
}

TEST_F(ValueStoreTest, ForgedSignaturesAreRefused) {
  auto alice = identity(1);
  auto mallory = identity(2);
  auto v = signed_value(alice, key, 1, {1, 2, 3});

  auto tampered = v;
  tampered.data[0] ^= 1;
  EXPECT_EQ(store.put_signed(key, tampered, 0).refusal, Refusal::kBadSignature);

  auto higher = v;
  higher.seq = 2;  // sequence bumped without re-signing
  EXPECT_EQ(store.put_signed(key, higher, 0).refusal, Refusal::kBadSignature);

  auto stolen = signed_value(mallory, key, 1, {1, 2, 3});
  stolen.owner = alice.public_key();  // Mallory's signature under Alice's name
  EXPECT_EQ(store.put_signed(key, stolen, 0).refusal, Refusal::kBadSignature);

  // Signed for another key.
  EXPECT_EQ(store.put_signed(key, signed_value(alice, key_for("elsewhere"), 1, {1}), 0).refusal,
            Refusal::kBadSignature);

  auto bad_sig = v;
  bad_sig.signature[10] ^= 0x40;
  EXPECT_EQ(store.put_signed(key, bad_sig, 0).refusal, Refusal::kBadSignature);

  // Checked first: an oversized forgery is a bad signature, not too large.
  auto big = v;
  big.data = bytes_of(5000);
  EXPECT_EQ(store.put_signed(key, big, 0).refusal, Refusal::kBadSignature);

  EXPECT_TRUE(store.get(key, 0).empty());
  EXPECT_EQ(store.key_count(), 0u);
  EXPECT_TRUE(store.put_signed(key, v, 0).ok());
}

TEST_F(ValueStoreTest, SignedSequenceRules) {
  auto alice = identity(1);
  ASSERT_TRUE(store.put_signed(key, signed_value(alice, key, 5, {5}), 0).ok());
  auto lower = store.put_signed(key, signed_value(alice, key, 4, {4}), 0);
  EXPECT_EQ(lower.refusal, Refusal::kStale);
  EXPECT_EQ(store.put_signed(key, signed_value(alice, key, 5, {6}), 0).refusal, Refusal::kStale);
  auto same = store.put_signed(key, signed_value(alice, key, 5, {5}), 0);
  EXPECT_TRUE(same.ok());
  EXPECT_FALSE(same.changed);
  auto higher = store.put_signed(key, signed_value(alice, key, 6, {6, 6}), 0);
  EXPECT_TRUE(higher.ok());
  EXPECT_TRUE(higher.changed);
  Snapshot s = store.get(key, 0);
  ASSERT_EQ(s.signed_values.size(), 1u);
  EXPECT_EQ(s.signed_values[0].seq, 6u);
  EXPECT_EQ(s.signed_values[0].data, (Bytes{6, 6}));
  EXPECT_EQ(store.bytes_used(), 2u);
}

TEST_F(ValueStoreTest, SignedOneSlotPerOwner) {
  auto alice = identity(1);
  auto bob = identity(2);
  ASSERT_TRUE(store.put_signed(key, signed_value(alice, key, 1, {1}), 0).ok());
  ASSERT_TRUE(store.put_signed(key, signed_value(bob, key, 1, {2}), 0).ok());
  EXPECT_EQ(store.get(key, 0).signed_values.size(), 2u);
}

TEST_F(ValueStoreTest, SignedTooLargeAfterAValidSignature) {
  auto alice = identity(1);
  EXPECT_EQ(store.put_signed(key, signed_value(alice, key, 1, bytes_of(1001)), 0).refusal,
            Refusal::kTooLarge);
}

TEST_F(ValueStoreTest, SignedValuesCountAgainstTheOwnersQuota) {
  auto alice = identity(1);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        store
            .put_signed(key_for("s" + std::to_string(i)),
                        signed_value(alice, key_for("s" + std::to_string(i)), 1, bytes_of(1000)), 0)
            .ok());
  EXPECT_EQ(store.put_signed(key, signed_value(alice, key, 1, bytes_of(1)), 0).refusal,
            Refusal::kFull);
}

// ---- locks -----------------------------------------------------------------

TEST_F(ValueStoreTest, LockAcquireRenewAndHeld) {
  auto a = store.lock(key, kAlice, 5'000, 0, 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.number, 1u);
  EXPECT_EQ(a.remaining_ms, 5'000);
  EXPECT_TRUE(a.changed);

  auto held = store.lock(key, kBob, 5'000, 0, 1'000);
  EXPECT_EQ(held.refusal, Refusal::kLockHeld);
  EXPECT_EQ(held.number, 1u);
  EXPECT_EQ(held.remaining_ms, 4'000);

  // Same key, other tag: a different owner.
  EXPECT_EQ(store.lock(key, Owner{kAlice.key, 2}, 5'000, 0, 1'000).refusal, Refusal::kLockHeld);

  auto renew = store.lock(key, kAlice, 5'000, 0, 2'000);
  ASSERT_TRUE(renew.ok());
  EXPECT_EQ(renew.number, 1u);
  EXPECT_EQ(store.get(key, 2'000).lock->remaining_ms, 5'000);

  auto raised = store.lock(key, kAlice, 5'000, 10, 3'000);
  ASSERT_TRUE(raised.ok());
  EXPECT_EQ(raised.number, 10u);

  Snapshot s = store.get(key, 4'000);
  ASSERT_TRUE(s.lock);
  EXPECT_EQ(s.lock->holder, kAlice);
  EXPECT_EQ(s.lock->token, 10u);
  EXPECT_EQ(s.lock->remaining_ms, 4'000);
  // Locks are not data to republish.
  EXPECT_TRUE(store.keys().empty());
}

TEST_F(ValueStoreTest, LockLeaseClampedAndValidated) {
  EXPECT_EQ(store.lock(key, kAlice, 0, 0, 0).refusal, Refusal::kMalformed);
  EXPECT_EQ(store.lock(key, kAlice, -5, 0, 0).refusal, Refusal::kMalformed);
  EXPECT_EQ(store.key_count(), 0u);
  auto out = store.lock(key, kAlice, 1'000'000, 0, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.remaining_ms, 10'000);
  EXPECT_TRUE(store.lock(key, kBob, 1'000, 0, 10'000).ok());
}

TEST_F(ValueStoreTest, LockExpiresAndTheNextTokenIsLarger) {
  ASSERT_EQ(store.lock(key, kAlice, 1'000, 0, 0).number, 1u);
  auto bob = store.lock(key, kBob, 1'000, 0, 1'000);
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob.number, 2u);
  // An expired lease with nothing else under the key is forgotten; its
  // token lives on in the floor, so the next one is still larger.
  store.expire(5'000);
  EXPECT_FALSE(store.get(key, 5'000).lock);
  EXPECT_EQ(store.key_count(), 0u);
  EXPECT_EQ(store.lock_floor(), 2u);
  EXPECT_EQ(store.lock(key, kAlice, 1'000, 0, 5'000).number, 3u);
  // min_token wins when it is larger than the counter.
  store.expire(7'000);
  EXPECT_EQ(store.lock(key, kBob, 1'000, 100, 7'000).number, 100u);
}

TEST_F(ValueStoreTest, UnlockNeedsHolderAndToken) {
  EXPECT_EQ(store.unlock(key, kAlice, 1, 0).refusal, Refusal::kNotHolder);
  EXPECT_EQ(store.key_count(), 0u);
  ASSERT_EQ(store.lock(key, kAlice, 5'000, 0, 0).number, 1u);
  EXPECT_EQ(store.unlock(key, kBob, 1, 0).refusal, Refusal::kNotHolder);
  EXPECT_EQ(store.unlock(key, kAlice, 2, 0).refusal, Refusal::kNotHolder);
  auto out = store.unlock(key, kAlice, 1, 100);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(store.get(key, 100).lock->remaining_ms, 0);
  EXPECT_EQ(store.unlock(key, kAlice, 1, 100).refusal, Refusal::kNotHolder);
  auto bob = store.lock(key, kBob, 5'000, 0, 200);
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob.number, 2u);
}

TEST_F(ValueStoreTest, TokensNeverDecrease) {
  std::mt19937 rng(99);
  const Owner owners[] = {kAlice, kBob, Owner{pk(0xc0), 0}};
  uint64_t last = 0;
  std::optional<std::pair<Owner, uint64_t>> holder;
  int64_t now = 0;
  int grants = 0;
  for (int i = 0; i < 3000; ++i) {
    now += static_cast<int64_t>(rng() % 3000);
    const Owner& who = owners[rng() % 3];
    switch (rng() % 4) {
      case 0:
      case 1: {
        uint64_t min_token = rng() % 8 == 0 ? last + rng() % 5 : 0;
        auto out = store.lock(key, who, 1 + static_cast<int64_t>(rng() % 4000), min_token, now);
        if (out.ok()) {
          EXPECT_GE(out.number, last);
          EXPECT_GE(out.number, min_token);
          last = out.number;
          holder = {who, out.number};
          ++grants;
        } else {
          EXPECT_EQ(out.refusal, Refusal::kLockHeld);
          EXPECT_EQ(out.number, last);
          EXPECT_GT(out.remaining_ms, 0);
        }
        break;
      }
      case 2:
        if (holder) (void)store.unlock(key, holder->first, holder->second, now);
        break;
      default:
        store.expire(now);
    }
    auto s = store.get(key, now);
    if (s.lock) {
      EXPECT_EQ(s.lock->token, last);
    }
  }
  EXPECT_GT(grants, 100);
}

TEST_F(ValueStoreTest, NewAcquisitionsGetStrictlyLargerTokens) {
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    const int64_t now = i * 10'000;
    auto out = store.lock(key, i % 2 ? kAlice : kBob, 1'000, 0, now);
    ASSERT_TRUE(out.ok());
    EXPECT_GT(out.number, last);
    last = out.number;
    if (i % 3 == 0) {
      ASSERT_TRUE(store.unlock(key, i % 2 ? kAlice : kBob, last, now + 1).ok());
    }
    if (i % 5 == 0) store.expire(now + 5'000);
  }
}

// ---- versioned values ------------------------------------------------------

TEST_F(ValueStoreTest, CasCreatesAndAdvances) {
  auto first = store.compare_and_set(key, kAlice, 0, Bytes{1}, 60, kSrcA, 0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.number, 1u);
  EXPECT_TRUE(first.changed);
  auto second = store.compare_and_set(key, kAlice, 1, Bytes{2, 2}, 60, kSrcA, 1'000);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.number, 2u);
  Snapshot s = store.get(key, 1'000);
  ASSERT_TRUE(s.versioned);
  EXPECT_EQ(s.versioned->version, 2u);
  EXPECT_EQ(s.versioned->data, (Bytes{2, 2}));
  EXPECT_EQ(s.versioned->ttl_s, 60u);
  // Current and the one kept for abort.
  EXPECT_EQ(store.bytes_used(), 3u);
  EXPECT_EQ(store.keys(), std::vector<Key>{key});
}

TEST_F(ValueStoreTest, CasHasExactlyOneWinner) {
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, Bytes{0}, 60, kSrcA, 0).ok());
  auto a = store.compare_and_set(key, kAlice, 1, Bytes{'a'}, 60, kSrcA, 10);
  auto b = store.compare_and_set(key, kBob, 1, Bytes{'b'}, 60, kSrcB, 10);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.number, 2u);
  EXPECT_EQ(b.refusal, Refusal::kConflict);
  EXPECT_EQ(b.number, 2u);
  EXPECT_EQ(store.get(key, 10).versioned->data, Bytes{'a'});
  // Ahead of us is a conflict too.
  EXPECT_EQ(store.compare_and_set(key, kBob, 7, Bytes{'b'}, 60, kSrcB, 10).refusal,
            Refusal::kConflict);
}

TEST_F(ValueStoreTest, CasSizeAndQuota) {
  EXPECT_EQ(store.compare_and_set(key, kAlice, 0, bytes_of(1001), 60, kSrcA, 0).refusal,
            Refusal::kTooLarge);
  EXPECT_EQ(store.key_count(), 0u);
  ASSERT_TRUE(store.put(key_for("x"), value(1, bytes_of(1000)), kSrcA, 0).ok());
  ASSERT_TRUE(store.put(key_for("y"), value(1, bytes_of(1000)), kSrcA, 0).ok());
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, bytes_of(900), 60, kSrcA, 0).ok());
  // Current (900) stays as previous: 2900 + 200 > 3000.
  auto out = store.compare_and_set(key, kAlice, 1, bytes_of(200), 60, kSrcA, 0);
  EXPECT_EQ(out.refusal, Refusal::kFull);
  EXPECT_EQ(out.number, 1u);
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 1, bytes_of(100), 60, kSrcA, 0).ok());
  // Now the previous (900) is dropped by the next write, which makes room.
  EXPECT_TRUE(store.compare_and_set(key, kAlice, 2, bytes_of(900), 60, kSrcA, 0).ok());
  EXPECT_EQ(store.bytes_used(), 3000u);
}

TEST_F(ValueStoreTest, VersionedWritesOnAFullStoreLeaveNoEntry) {
  for (uint64_t id = 0; id < 3; ++id)
    ASSERT_TRUE(
        store.put(key_for("k" + std::to_string(id)), value(id, bytes_of(1000)), kSrcA, 0).ok());
  auto cas = store.compare_and_set(key, kAlice, 0, Bytes{1}, 60, kSrcA, 0);
  EXPECT_EQ(cas.refusal, Refusal::kFull);
  EXPECT_EQ(cas.number, 0u);
  auto rep = store.repair(key, VersionedValue{4, Bytes{1}, 60}, kSrcA, 0);
  EXPECT_EQ(rep.refusal, Refusal::kFull);
  EXPECT_EQ(rep.number, 0u);
  EXPECT_EQ(store.key_count(), 3u);
}

TEST_F(ValueStoreTest, DiffAppliesAgainstTheCurrentVersion) {
  const Bytes v1 = {'h', 'e', 'l', 'l', 'o'};
  const Bytes v2 = {'h', 'e', 'l', 'p', ' ', 'm', 'e'};
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, v1, 60, kSrcA, 0).ok());
  auto out =
      store.apply_diff(key, kBob, 1, make_patch(v1, v2), overlay::blake2b_256(v2), 60, kSrcB, 0);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.number, 2u);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(store.get(key, 0).versioned->data, v2);
  EXPECT_EQ(store.bytes_used(), v1.size() + v2.size());
}

TEST_F(ValueStoreTest, DiffRefusals) {
  const Bytes v1 = {1, 2, 3}, v2 = {1, 2, 3, 4};
  const Bytes patch = make_patch(v1, v2);
  const Hash256 hash = overlay::blake2b_256(v2);

  auto none = store.apply_diff(key, kAlice, 1, patch, hash, 60, kSrcA, 0);
  EXPECT_EQ(none.refusal, Refusal::kMissingBase);
  EXPECT_EQ(none.number, 0u);
  EXPECT_EQ(store.key_count(), 0u);

  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, v1, 60, kSrcA, 0).ok());
  auto ahead = store.apply_diff(key, kAlice, 3, patch, hash, 60, kSrcA, 0);
  EXPECT_EQ(ahead.refusal, Refusal::kMissingBase);
  EXPECT_EQ(ahead.number, 1u);

  ASSERT_TRUE(store.compare_and_set(key, kAlice, 1, v1, 60, kSrcA, 0).ok());
  auto behind = store.apply_diff(key, kAlice, 1, patch, hash, 60, kSrcA, 0);
  EXPECT_EQ(behind.refusal, Refusal::kConflict);
  EXPECT_EQ(behind.number, 2u);

  auto bad_hash = store.apply_diff(key, kAlice, 2, patch, overlay::blake2b_256(v1), 60, kSrcA, 0);
  EXPECT_EQ(bad_hash.refusal, Refusal::kBadHash);

  Bytes broken = patch;
  broken[0] = 9;
  EXPECT_EQ(store.apply_diff(key, kAlice, 2, broken, hash, 60, kSrcA, 0).refusal,
            Refusal::kMalformed);

  const Bytes big = bytes_of(1001);
  EXPECT_EQ(
      store.apply_diff(key, kAlice, 2, make_patch(v1, big), overlay::blake2b_256(big), 60, kSrcA, 0)
          .refusal,
      Refusal::kTooLarge);

  // None of that changed anything.
  EXPECT_EQ(store.get(key, 0).versioned->version, 2u);
  EXPECT_EQ(store.bytes_used(), 2 * v1.size());
}

TEST_F(ValueStoreTest, RepairKeepsOnlyNewerVersions) {
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, Bytes{1}, 60, kSrcA, 0).ok());
  auto newer = store.repair(key, VersionedValue{5, Bytes{5, 5}, 60}, kSrcB, 0);
  ASSERT_TRUE(newer.ok());
  EXPECT_TRUE(newer.changed);
  EXPECT_EQ(newer.number, 5u);
  EXPECT_EQ(store.get(key, 0).versioned->data, (Bytes{5, 5}));

  auto older = store.repair(key, VersionedValue{3, Bytes{3}, 60}, kSrcB, 0);
  ASSERT_TRUE(older.ok());
  EXPECT_FALSE(older.changed);
  EXPECT_EQ(older.number, 5u);
  auto same = store.repair(key, VersionedValue{5, Bytes{9}, 60}, kSrcB, 0);
  EXPECT_FALSE(same.changed);
  EXPECT_EQ(store.get(key, 0).versioned->data, (Bytes{5, 5}));
  EXPECT_EQ(store.bytes_used(), 3u);  // the repaired value and the CAS one before it

  EXPECT_EQ(store.repair(key, VersionedValue{9, bytes_of(1001), 60}, kSrcB, 0).refusal,
            Refusal::kTooLarge);
  // A repaired copy belongs to no writer, so nobody can abort it.
  EXPECT_FALSE(store.abort(key, Owner{}, 5, 0).changed);
  EXPECT_EQ(store.get(key, 0).versioned->version, 5u);
  // Versions continue from the repaired one.
  EXPECT_EQ(store.compare_and_set(key, kAlice, 5, Bytes{6}, 60, kSrcA, 0).number, 6u);
}

TEST_F(ValueStoreTest, AbortRestoresThePreviousVersion) {
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, Bytes{1}, 60, kSrcA, 0).ok());
  ASSERT_TRUE(store.compare_and_set(key, kBob, 1, Bytes{2, 2}, 60, kSrcB, 0).ok());
  // Wrong writer or version: nothing happens.
  auto wrong = store.abort(key, kAlice, 2, 0);
  EXPECT_TRUE(wrong.ok());
  EXPECT_FALSE(wrong.changed);
  EXPECT_FALSE(store.abort(key, kBob, 1, 0).changed);
  EXPECT_EQ(store.get(key, 0).versioned->version, 2u);

  auto undone = store.abort(key, kBob, 2, 0);
  ASSERT_TRUE(undone.ok());
  EXPECT_TRUE(undone.changed);
  EXPECT_EQ(undone.number, 1u);
  EXPECT_EQ(store.get(key, 0).versioned->data, Bytes{1});
  EXPECT_EQ(store.bytes_used(), 1u);

  // Undoing version 1 leaves no value at all.
  ASSERT_TRUE(store.abort(key, kAlice, 1, 0).changed);
  EXPECT_FALSE(store.get(key, 0).versioned);
  EXPECT_EQ(store.bytes_used(), 0u);
  EXPECT_EQ(store.key_count(), 0u);
  EXPECT_TRUE(store.abort(key, kAlice, 1, 0).ok());
  EXPECT_EQ(store.compare_and_set(key, kAlice, 0, Bytes{3}, 60, kSrcA, 0).number, 1u);
}

TEST_F(ValueStoreTest, VersionedValueExpires) {
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, Bytes{1}, 10, kSrcA, 0).ok());
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 1, Bytes{2}, 20, kSrcA, 0).ok());
  EXPECT_EQ(store.get(key, 15'000).versioned->ttl_s, 5u);
  store.expire(15'000);
  EXPECT_EQ(store.bytes_used(), 1u);  // the previous one is gone
  store.expire(20'000);
  EXPECT_FALSE(store.get(key, 20'000).versioned);
  EXPECT_EQ(store.bytes_used(), 0u);
  EXPECT_EQ(store.compare_and_set(key, kAlice, 0, Bytes{3}, 20, kSrcA, 20'000).number, 1u);
}

// ---- listeners -------------------------------------------------------------

TEST_F(ValueStoreTest, AbortAfterThePreviousExpiredLeavesNothing) {
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 0, Bytes{1}, 10, kSrcA, 0).ok());
  ASSERT_TRUE(store.compare_and_set(key, kAlice, 1, Bytes{2}, 20, kSrcA, 0).ok());
  auto out = store.abort(key, kAlice, 2, 15'000);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.number, 0u);
  EXPECT_FALSE(store.get(key, 15'000).versioned);
  EXPECT_EQ(store.bytes_used(), 0u);
}

TEST_F(ValueStoreTest, ListenersAddRefreshRemoveAndBound) {
  ASSERT_TRUE(store.listen(key, contact(1), 10'000, 0).ok());
  ASSERT_TRUE(store.listen(key, contact(1), 20'000, 5'000).ok());
  auto ls = store.listeners(key, 5'000);
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0].contact, contact(1));
  EXPECT_EQ(ls[0].expires_ms, 25'000);

  ASSERT_TRUE(store.listen(key, contact(2), 10'000, 5'000).ok());
  ASSERT_TRUE(store.listen(key, contact(3), 10'000, 5'000).ok());
  EXPECT_EQ(store.listen(key, contact(4), 10'000, 5'000).refusal, Refusal::kFull);
  // Refreshing an existing one is fine when full.
  EXPECT_TRUE(store.listen(key, contact(3), 10'000, 5'000).ok());

  ASSERT_TRUE(store.listen(key, contact(2), 0, 6'000).ok());
  EXPECT_EQ(store.listeners(key, 6'000).size(), 2u);
  EXPECT_TRUE(store.listen(key, contact(4), 10'000, 6'000).ok());

  // Expired ones are not listed, and free their slots.
  EXPECT_EQ(store.listeners(key, 16'000).size(), 1u);
  EXPECT_TRUE(store.listen(key, contact(5), 1'000, 16'000).ok());
  store.expire(30'000);
  EXPECT_TRUE(store.listeners(key, 30'000).empty());
  EXPECT_EQ(store.key_count(), 0u);
  EXPECT_EQ(store.listen(key, contact(1), -1, 0).refusal, Refusal::kMalformed);
}

// ---- accounting ------------------------------------------------------------

TEST_F(ValueStoreTest, EverythingExpiredLeavesNoBytes) {
  std::mt19937 rng(5);
  auto alice = identity(1);
  for (int i = 0; i < 300; ++i) {
    const Key k = key_for("key" + std::to_string(rng() % 20));
    const PublicKey src = pk(static_cast<uint8_t>(rng() % 4));
    const uint32_t ttl = 1 + rng() % 100;
    const int64_t now = i * 100;
    switch (rng() % 6) {
      case 0:
        (void)store.put(k, value(rng() % 6, bytes_of(rng() % 400), ttl), src, now);
        break;
      case 1:
        (void)store.put_signed(k, signed_value(alice, k, rng() % 10, bytes_of(rng() % 300), ttl),
                               now);
        break;
      case 2: {
        uint64_t v = store.get(k, now).versioned ? store.get(k, now).versioned->version : 0;
        (void)store.compare_and_set(k, kAlice, v, bytes_of(rng() % 500), ttl, src, now);
        break;
      }
      case 3:
        (void)store.repair(k, VersionedValue{rng() % 20, bytes_of(rng() % 500), ttl}, src, now);
        break;
      case 4: {
        uint64_t v = store.get(k, now).versioned ? store.get(k, now).versioned->version : 0;
        (void)store.abort(k, kAlice, v, now);
        break;
      }
      default:
        store.expire(now);
    }
    EXPECT_LE(store.bytes_used(), 5000u);
  }
  EXPECT_GT(store.key_count(), 0u);
  store.expire(1'000'000);
  EXPECT_EQ(store.bytes_used(), 0u);
  EXPECT_EQ(store.key_count(), 0u);
  // Every source has its whole quota back.
  for (uint8_t s = 0; s < 3; ++s)
    EXPECT_TRUE(
        store.put(key_for("after" + std::to_string(s)), value(1, bytes_of(1000)), pk(s), 1'000'000)
            .ok());
}

TEST_F(ValueStoreTest, ExpireFreesEverythingOnceNothingIsLeft) {
  ASSERT_TRUE(store.put(key, value(1, bytes_of(10), 1), kSrcA, 0).ok());
  ASSERT_TRUE(store.lock(key, kAlice, 1'000, 0, 0).ok());
  ASSERT_TRUE(store.listen(key, contact(1), 1'000, 0).ok());
  store.expire(10'000);
  EXPECT_EQ(store.bytes_used(), 0u);
  EXPECT_EQ(store.key_count(), 0u);
  EXPECT_EQ(store.held_locks(), 0u);
  EXPECT_TRUE(store.keys().empty());
}

TEST_F(ValueStoreTest, FreeLocksAreForgottenYetEveryKeysTokensStillGrow) {
  // Many keys locked and released: memory comes back, tokens keep rising.
  std::map<Key, uint64_t> last;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 500; ++i) {
      Key k = key_for("lock/" + std::to_string(i));
      int64_t now = round * 100'000 + i;
      auto out = store.lock(k, kAlice, 1'000, 0, now);
      ASSERT_TRUE(out.ok());
      EXPECT_GT(out.number, last[k]) << "round " << round << " key " << i;
      last[k] = out.number;
      if (i % 2 == 0) {
        ASSERT_TRUE(store.unlock(k, kAlice, out.number, now).ok());
      }
    }
    store.expire(round * 100'000 + 50'000);  // the other half simply runs out
    EXPECT_EQ(store.key_count(), 0u);
    EXPECT_EQ(store.held_locks(), 0u);
  }
}

TEST_F(ValueStoreTest, LeasesHeldAtOnceAreBounded) {
  StoreLimits l = limits();
  l.max_held_locks = 2;
  ValueStore small(l);
  ASSERT_TRUE(small.lock(key_for("a"), kAlice, 1'000, 0, 0).ok());
  ASSERT_TRUE(small.lock(key_for("b"), kAlice, 1'000, 0, 0).ok());
  EXPECT_EQ(small.lock(key_for("c"), kAlice, 1'000, 0, 0).refusal, Refusal::kFull);
  EXPECT_EQ(small.key_count(), 2u);
  // Renewing one already held is not a new lease.
  EXPECT_TRUE(small.lock(key_for("a"), kAlice, 1'000, 0, 500).ok());
  // Once one runs out there is room again.
  EXPECT_TRUE(small.lock(key_for("c"), kAlice, 1'000, 0, 1'200).ok());
}

TEST_F(ValueStoreTest, MovesKeepTheContents) {
  ASSERT_TRUE(store.put(key, value(1, bytes_of(10)), kSrcA, 0).ok());
  ValueStore moved(std::move(store));
  EXPECT_EQ(moved.bytes_used(), 10u);
  EXPECT_EQ(moved.get(key, 0).values.size(), 1u);
}

}  // namespace
}  // namespace chorus::dht
