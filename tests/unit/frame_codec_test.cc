#include "chorus/overlay/frame_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "vectors.h"

namespace chorus::overlay {
namespace {

using testing::hex;
using testing::hex_array;
using testing::hex_bytes;
using testing::vectors;

constexpr size_t kMax = 1 << 20;

const nlohmann::json& fv() {
  return vectors()["frames"];
}

std::array<uint8_t, 32> key() {
  return hex_array<32>(fv()["key"]);
}

Bytes sealed(FrameSealer& s, ByteView plain) {
  Bytes out;
  s.seal(plain, out);
  return out;
}

// Opens exactly one whole frame held in `b`.
Result<std::optional<FrameOpener::Opened>> open_all(FrameOpener& o, Bytes& b) {
  return o.open(std::span<uint8_t>(b));
}

TEST(FrameCodec, VectorFramesSealByteForByte) {
  FrameSealer s(key());
  ASSERT_EQ(fv()["frames"].size(), 3u);
  for (const auto& f : fv()["frames"]) {
    EXPECT_EQ(s.frames_sealed(), f["counter"].get<uint64_t>());
    EXPECT_EQ(hex(sealed(s, hex_bytes(f["plaintext"]))), f["sealed"]);
  }
}

TEST(FrameCodec, VectorFramesOpenInOrder) {
  FrameOpener o(key(), kMax);
  for (const auto& f : fv()["frames"]) {
    Bytes b = hex_bytes(f["sealed"]);
    auto r = open_all(o, b);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->consumed, b.size());
    EXPECT_EQ(hex(ByteView((*r)->plaintext.data(), (*r)->plaintext.size())), f["plaintext"]);
  }
}

TEST(FrameCodec, AesGcmVectorFramesSealAndOpen) {
  if (!aes_gcm_available()) GTEST_SKIP() << "no AES-256-GCM on this CPU";
  FrameSealer s(key(), Cipher::kAes256Gcm);
  FrameOpener o(key(), kMax, Cipher::kAes256Gcm);
  ASSERT_EQ(fv()["aes256gcm_frames"].size(), 3u);
  for (const auto& f : fv()["aes256gcm_frames"]) {
    EXPECT_EQ(hex(sealed(s, hex_bytes(f["plaintext"]))), f["sealed"]);
    Bytes b = hex_bytes(f["sealed"]);
    auto r = open_all(o, b);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(hex(ByteView((*r)->plaintext.data(), (*r)->plaintext.size())), f["plaintext"]);
  }
}

// Either library seals the vectors byte for byte and opens the other's
// frames: a link whose two ends measured different libraries still works.
class FrameCodecLibraries : public ::testing::TestWithParam<std::tuple<Cipher, AeadLibrary>> {};

TEST_P(FrameCodecLibraries, SealsTheVectorsByteForByte) {
  const auto [cipher, library] = GetParam();
  if (cipher == Cipher::kAes256Gcm && !aes_gcm_available()) GTEST_SKIP() << "no AES-NI";
  const char* name = cipher == Cipher::kAes256Gcm ? "aes256gcm_frames" : "frames";
  FrameSealer s(key(), cipher, library);
  EXPECT_EQ(s.library(), library);
  for (const auto& f : fv()[name]) {
    EXPECT_EQ(hex(sealed(s, hex_bytes(f["plaintext"]))), f["sealed"]);
  }
}

TEST_P(FrameCodecLibraries, OpensWhatTheOtherLibrarySealed) {
  const auto [cipher, library] = GetParam();
  if (cipher == Cipher::kAes256Gcm && !aes_gcm_available()) GTEST_SKIP() << "no AES-NI";
  const AeadLibrary other =
      library == AeadLibrary::kOpenSsl ? AeadLibrary::kLibsodium : AeadLibrary::kOpenSsl;
  FrameSealer s(key(), cipher, other);
  FrameOpener o(key(), kMax, cipher, library);
  // Sizes around the block and vector widths of both libraries, and empty.
  for (size_t size : {0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1000, 4096, 65536, 100001}) {
    Bytes plain(size);
    for (size_t i = 0; i < size; ++i) plain[i] = static_cast<uint8_t>(i * 31 + size);
    Bytes f = sealed(s, plain);
    auto r = open_all(o, f);
    ASSERT_TRUE(r.ok()) << size << ": " << r.error().to_string();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(Bytes((*r)->plaintext.begin(), (*r)->plaintext.end()), plain) << size;
  }
}

TEST_P(FrameCodecLibraries, RefusesATamperedFrameAndKeepsNoPlaintext) {
  const auto [cipher, library] = GetParam();
  if (cipher == Cipher::kAes256Gcm && !aes_gcm_available()) GTEST_SKIP() << "no AES-NI";
  FrameSealer s(key(), cipher, library);
  FrameOpener o(key(), kMax, cipher, library);
  const Bytes plain(300, 0x41);
  Bytes f = sealed(s, plain);
  f[kFrameLengthBytes + 10] ^= 0x01;
  EXPECT_EQ(open_all(o, f).error().code(), ErrorCode::kAuthFailed);
  // Nothing that decrypts the tampered bytes is left in the buffer.
  EXPECT_EQ(std::search(f.begin(), f.end(), plain.begin(), plain.begin() + 32), f.end());
}

INSTANTIATE_TEST_SUITE_P(
    BothLibraries, FrameCodecLibraries,
    ::testing::Combine(::testing::Values(Cipher::kChaCha20Poly1305, Cipher::kAes256Gcm),
                       ::testing::Values(AeadLibrary::kLibsodium, AeadLibrary::kOpenSsl)),
    [](const auto& param_info) {
      return std::string(std::get<0>(param_info.param) == Cipher::kAes256Gcm ? "AesGcm"
                                                                             : "ChaCha") +
             (std::get<1>(param_info.param) == AeadLibrary::kOpenSsl ? "OpenSsl" : "Libsodium");
    });

TEST(FrameCodec, TheMeasuredLibraryIsOneOfTheTwoAndStaysFixed) {
  const AeadLibrary first = fastest_aead_library(Cipher::kChaCha20Poly1305);
  EXPECT_TRUE(first == AeadLibrary::kLibsodium || first == AeadLibrary::kOpenSsl);
  EXPECT_EQ(fastest_aead_library(Cipher::kChaCha20Poly1305), first);
  EXPECT_EQ(FrameSealer(key()).library(), first);
  EXPECT_EQ(FrameOpener(key(), kMax).library(), first);
}

TEST(FrameCodec, CiphersDoNotOpenEachOthersFrames) {
  if (!aes_gcm_available()) GTEST_SKIP() << "no AES-256-GCM on this CPU";
  FrameSealer s(key(), Cipher::kAes256Gcm);
  FrameOpener o(key(), kMax, Cipher::kChaCha20Poly1305);
  Bytes f = sealed(s, Bytes{1, 2, 3});
  EXPECT_EQ(open_all(o, f).error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, VectorPlaintextIsCodecByteThenLengthPrefixedRecords) {
  Bytes p = hex_bytes(fv()["frames"][1]["plaintext"]);
  Bytes expect = {0};
  for (const auto& r : fv()["records"]) {
    Bytes m = hex_bytes(r);
    uint32_t n = static_cast<uint32_t>(m.size());
    expect.insert(expect.end(), {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                                 static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    expect.insert(expect.end(), m.begin(), m.end());
  }
  EXPECT_EQ(p, expect);
}

TEST(FrameCodec, RoundTripsManyFramesInOneBuffer) {
  FrameSealer s(key());
  FrameOpener o(key(), kMax);
  Bytes stream;
  for (int i = 0; i < 10; ++i)
    s.seal(Bytes(static_cast<size_t>(i * 100), static_cast<uint8_t>(i)), stream);
  std::span<uint8_t> rest(stream);
  for (int i = 0; i < 10; ++i) {
    auto r = o.open(rest);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ((*r)->plaintext.size(), static_cast<size_t>(i * 100));
    for (uint8_t c : (*r)->plaintext) ASSERT_EQ(c, i);
    rest = rest.subspan((*r)->consumed);
  }
  EXPECT_TRUE(rest.empty());
}

TEST(FrameCodec, FrameLengthIsCiphertextWithTag) {
  FrameSealer s(key());
  Bytes b = sealed(s, Bytes(5, 1));
  ASSERT_EQ(b.size(), 4u + 5u + kFrameTagBytes);
  EXPECT_EQ(FrameOpener::peek_length(b), std::optional<size_t>(b.size()));
  EXPECT_EQ(FrameOpener::peek_length(ByteView(b.data(), 3)), std::nullopt);
}

TEST(FrameCodec, TamperedByteFailsAuthentication) {
  FrameSealer s(key());
  const Bytes good = sealed(s, Bytes(40, 7));
  for (size_t i = 0; i < good.size(); ++i) {
    if (i < 4) continue;  // a changed length is a different frame, tested below
    Bytes b = good;
    b[i] ^= 0x80;
    FrameOpener o(key(), kMax);
    auto r = open_all(o, b);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
  }
}

TEST(FrameCodec, ChangedLengthPrefixFailsAuthentication) {
  // The length is the AEAD's associated data: shortening it by one cuts the
  // tag and the prefix no longer matches what was sealed.
  FrameSealer s(key());
  Bytes b = sealed(s, Bytes(40, 7));
  b[3] = static_cast<uint8_t>(b[3] - 1);
  FrameOpener o(key(), kMax);
  auto r = open_all(o, b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, ReplayedFrameFailsAuthentication) {
  FrameSealer s(key());
  FrameOpener o(key(), kMax);
  Bytes f0 = sealed(s, Bytes{1, 2, 3});
  Bytes copy = f0;
  ASSERT_TRUE(open_all(o, f0).ok());
  auto r = open_all(o, copy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, ReorderedFramesFailAuthentication) {
  FrameSealer s(key());
  FrameOpener o(key(), kMax);
  Bytes f0 = sealed(s, Bytes{1});
  Bytes f1 = sealed(s, Bytes{2});
  auto r = open_all(o, f1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, DroppedFrameFailsTheNextOne) {
  FrameSealer s(key());
  FrameOpener o(key(), kMax);
  Bytes f0 = sealed(s, Bytes{1});
  Bytes f1 = sealed(s, Bytes{2});
  Bytes f2 = sealed(s, Bytes{3});
  ASSERT_TRUE(open_all(o, f0).ok());
  EXPECT_EQ(open_all(o, f2).error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, WrongKeyOrDirectionFailsAuthentication) {
  auto other = key();
  other[0] ^= 1;
  FrameSealer s(key());
  FrameOpener o(other, kMax);
  Bytes f = sealed(s, Bytes{1});
  EXPECT_EQ(open_all(o, f).error().code(), ErrorCode::kAuthFailed);
}

TEST(FrameCodec, LengthAboveMaximumIsALimitWithoutTheBody) {
  FrameOpener o(key(), kMax);
  Bytes b = {0xff, 0xff, 0xff, 0xff};  // 4 GiB announced, nothing else sent
  auto r = open_all(o, b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  // One above the bound is refused too; exactly the bound waits for the body.
  const size_t over = kMax + 1;
  Bytes c = {static_cast<uint8_t>(over >> 24), static_cast<uint8_t>(over >> 16),
             static_cast<uint8_t>(over >> 8), static_cast<uint8_t>(over)};
  EXPECT_EQ(open_all(o, c).error().code(), ErrorCode::kLimit);
  Bytes d = {static_cast<uint8_t>(kMax >> 24), static_cast<uint8_t>(kMax >> 16),
             static_cast<uint8_t>(kMax >> 8), static_cast<uint8_t>(kMax)};
  auto w = open_all(o, d);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->has_value());
}

TEST(FrameCodec, LengthBelowTagSizeIsMalformed) {
  for (uint8_t len = 0; len < kFrameTagBytes; ++len) {
    FrameOpener o(key(), kMax);
    Bytes b = {0, 0, 0, len};
    auto r = open_all(o, b);
    ASSERT_FALSE(r.ok()) << int{len};
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(FrameCodec, PartialFrameWaitsAndThenOpens) {
  FrameSealer s(key());
  Bytes f = sealed(s, Bytes(100, 9));
  FrameOpener o(key(), kMax);
  for (size_t n = 0; n < f.size(); ++n) {
    Bytes part(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = o.open(std::span<uint8_t>(part));
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_FALSE(r->has_value()) << n;
  }
  auto r = open_all(o, f);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->plaintext.size(), 100u);
}

TEST(FrameCodec, EmptyPlaintextSealsToATagOnlyFrame) {
  FrameSealer s(key());
  FrameOpener o(key(), kMax);
  Bytes f = sealed(s, {});
  EXPECT_EQ(f.size(), 4u + kFrameTagBytes);
  auto r = open_all(o, f);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_TRUE((*r)->plaintext.empty());
}

}  // namespace
}  // namespace chorus::overlay
