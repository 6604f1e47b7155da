#include "chorus/dht/patch.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "chorus/overlay/wire.h"

namespace chorus::dht {
namespace {

Bytes random_bytes(std::mt19937& rng, size_t n) {
  Bytes b(n);
  // A small alphabet makes shared prefixes and suffixes likely.
  for (auto& c : b) c = static_cast<uint8_t>(rng() % 4);
  return b;
}

Bytes apply_ok(ByteView base, ByteView patch, size_t max = 1 << 20) {
  auto r = apply_patch(base, patch, max);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : Bytes{};
}

// Builds a patch by hand: header then raw op bytes.
Bytes hand_patch(uint8_t format, uint32_t result_length, uint16_t ops, ByteView body) {
  Bytes out;
  overlay::ByteWriter w(out);
  w.u8(format);
  w.u32(result_length);
  w.u16(ops);
  w.bytes(body);
  return out;
}

Bytes copy_op(uint32_t offset, uint32_t length) {
  Bytes out;
  overlay::ByteWriter w(out);
  w.u8(0);
  w.u32(offset);
  w.u32(length);
  return out;
}

Bytes insert_op(ByteView bytes, std::optional<uint32_t> claimed = std::nullopt) {
  Bytes out;
  overlay::ByteWriter w(out);
  w.u8(1);
  w.u32(claimed.value_or(static_cast<uint32_t>(bytes.size())));
  w.bytes(bytes);
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ErrorCode apply_error(ByteView base, ByteView patch, size_t max = 1 << 20) {
  auto r = apply_patch(base, patch, max);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return ErrorCode::kExists;  // anything but the expected codes
  EXPECT_NE(r.error().message().find("dht patch"), std::string::npos) << r.error().message();
  return r.error().code();
}

TEST(Patch, RoundTripsRandomEdits) {
  std::mt19937 rng(20240611);
  for (int i = 0; i < 2000; ++i) {
    Bytes base = random_bytes(rng, rng() % 200);
    Bytes result = base;
    switch (rng() % 5) {
      case 0: {  // insert
        size_t at = result.empty() ? 0 : rng() % (result.size() + 1);
        Bytes add = random_bytes(rng, rng() % 20);
        result.insert(result.begin() + static_cast<long>(at), add.begin(), add.end());
        break;
      }
      case 1:  // delete
        if (!result.empty()) {
          size_t at = rng() % result.size();
          size_t n = rng() % (result.size() - at + 1);
          result.erase(result.begin() + static_cast<long>(at),
                       result.begin() + static_cast<long>(at + n));
        }
        break;
      case 2: {  // append
        Bytes add = random_bytes(rng, rng() % 20);
        result.insert(result.end(), add.begin(), add.end());
        break;
      }
      case 3:  // truncate
        result.resize(result.empty() ? 0 : rng() % result.size());
        break;
      default:  // unrelated
        result = random_bytes(rng, rng() % 200);
    }
    Bytes patch = make_patch(base, result);
    ASSERT_EQ(apply_ok(base, patch), result) << "iteration " << i;
  }
}

TEST(Patch, SmallEditGivesSmallPatch) {
  Bytes base(10000, 'a');
  Bytes result = base;
  result[5000] = 'b';
  Bytes patch = make_patch(base, result);
  EXPECT_LT(patch.size(), 40u);
  EXPECT_EQ(apply_ok(base, patch), result);
}

TEST(Patch, ShapeIsCopyInsertCopyWithoutEmptyOps) {
  const Bytes base = {1, 2, 3, 4, 5};
  // Identical: one COPY of everything.
  EXPECT_EQ(make_patch(base, base), hand_patch(1, 5, 1, copy_op(0, 5)));
  // Both empty: no ops at all.
  EXPECT_EQ(make_patch({}, {}), hand_patch(1, 0, 0, {}));
  // From nothing: one INSERT.
  EXPECT_EQ(make_patch({}, base), hand_patch(1, 5, 1, insert_op(base)));
  // Middle edit: prefix, insert, suffix.
  const Bytes edited = {1, 2, 9, 4, 5};
  EXPECT_EQ(make_patch(base, edited),
            hand_patch(1, 5, 3, cat({copy_op(0, 2), insert_op(Bytes{9}), copy_op(3, 2)})));
  // Append of a repeated byte: prefix and insert, no overlapping suffix.
  const Bytes aa = {7, 7}, aaa = {7, 7, 7};
  EXPECT_EQ(apply_ok(aa, make_patch(aa, aaa)), aaa);
  EXPECT_EQ(apply_ok(aaa, make_patch(aaa, aa)), aa);
}

TEST(Patch, EmptyResultNeedsNoOps) {
  EXPECT_EQ(apply_ok(Bytes{1, 2}, hand_patch(1, 0, 0, {})), Bytes{});
}

TEST(Patch, RefusesUnknownFormat) {
  EXPECT_EQ(apply_error({}, hand_patch(2, 0, 0, {})), ErrorCode::kMalformed);
  EXPECT_EQ(apply_error({}, hand_patch(0, 0, 0, {})), ErrorCode::kMalformed);
}

TEST(Patch, RefusesUnknownOp) {
  EXPECT_EQ(apply_error(Bytes{1}, hand_patch(1, 1, 1, Bytes{2, 0, 0, 0, 0})),
            ErrorCode::kMalformed);
}

TEST(Patch, RefusesEveryTruncation) {
  const Bytes base = {1, 2, 3, 4, 5, 6};
  const Bytes result = {1, 2, 9, 9, 5, 6};
  Bytes patch = make_patch(base, result);
  ASSERT_EQ(apply_ok(base, patch), result);
  for (size_t n = 0; n < patch.size(); ++n) {
    auto r = apply_patch(base, ByteView(patch.data(), n), 1 << 20);
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes";
  }
}

TEST(Patch, RefusesTrailingBytes) {
  Bytes patch = make_patch(Bytes{1}, Bytes{1, 2});
  patch.push_back(0);
  EXPECT_EQ(apply_error(Bytes{1}, patch), ErrorCode::kMalformed);
}

TEST(Patch, HugeResultLengthIsALimitBeforeAnyAllocation) {
  // 4 GiB claimed with nothing behind it: must fail on the claim alone.
  EXPECT_EQ(apply_error({}, hand_patch(1, 0xffffffffu, 1, insert_op({}, 0xffffffffu)), 1024),
            ErrorCode::kLimit);
  EXPECT_EQ(apply_error({}, hand_patch(1, 1025, 0, {}), 1024), ErrorCode::kLimit);
  // Exactly at the limit is fine.
  Bytes data(1024, 3);
  EXPECT_EQ(apply_ok({}, make_patch({}, data), 1024), data);
}

TEST(Patch, RefusesZeroOpsWithALength) {
  EXPECT_EQ(apply_error({}, hand_patch(1, 5, 0, {})), ErrorCode::kMalformed);
}

TEST(Patch, RefusesCopyOutsideBase) {
  const Bytes base(10, 1);
  EXPECT_EQ(apply_error(base, hand_patch(1, 5, 1, copy_op(6, 5))), ErrorCode::kMalformed);
  EXPECT_EQ(apply_error(base, hand_patch(1, 1, 1, copy_op(10, 1))), ErrorCode::kMalformed);
  // offset + length wraps a u32 to a small number.
  EXPECT_EQ(apply_error(base, hand_patch(1, 1, 1, copy_op(0xffffffffu, 2))), ErrorCode::kMalformed);
  EXPECT_EQ(apply_error(base, hand_patch(1, 10, 1, copy_op(0xfffffff6u, 10))),
            ErrorCode::kMalformed);
  // An empty copy at the very end is in range.
  EXPECT_EQ(apply_ok(base, hand_patch(1, 0, 1, copy_op(10, 0))), Bytes{});
}

TEST(Patch, RefusesOutputPastResultLength) {
  const Bytes base(10, 1);
  EXPECT_EQ(apply_error(base, hand_patch(1, 4, 1, copy_op(0, 5))), ErrorCode::kMalformed);
  EXPECT_EQ(apply_error(base, hand_patch(1, 4, 2, cat({copy_op(0, 3), copy_op(0, 3)}))),
            ErrorCode::kMalformed);
  EXPECT_EQ(apply_error(base, hand_patch(1, 2, 1, insert_op(Bytes{1, 2, 3}))),
            ErrorCode::kMalformed);
}

TEST(Patch, RefusesOutputShortOfResultLength) {
  const Bytes base(10, 1);
  EXPECT_EQ(apply_error(base, hand_patch(1, 6, 1, copy_op(0, 5))), ErrorCode::kMalformed);
}

TEST(Patch, RefusesInsertRunningPastThePatch) {
  // Claims 100 bytes, carries 3.
  EXPECT_EQ(apply_error({}, hand_patch(1, 100, 1, insert_op(Bytes{1, 2, 3}, 100))),
            ErrorCode::kMalformed);
}

TEST(Patch, RefusesMoreOpsThanPresent) {
  EXPECT_EQ(apply_error(Bytes{1, 2}, hand_patch(1, 2, 3, copy_op(0, 2))), ErrorCode::kMalformed);
}

TEST(Patch, HostileRandomPatchesNeverExceedTheLimit) {
  std::mt19937 rng(7);
  const Bytes base = random_bytes(rng, 64);
  for (int i = 0; i < 20000; ++i) {
    Bytes patch = random_bytes(rng, rng() % 40);
    for (auto& c : patch) c = static_cast<uint8_t>(rng());
    if (!patch.empty() && rng() % 2) patch[0] = 1;
    auto r = apply_patch(base, patch, 256);
    if (r.ok()) {
      EXPECT_LE(r->size(), 256u);
    }
  }
}

}  // namespace
}  // namespace chorus::dht
