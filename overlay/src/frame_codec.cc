#include "chorus/overlay/frame_codec.h"

#include <sodium.h>

#include <cstdlib>
#include <string>

namespace chorus::overlay {
namespace {

std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> nonce_for(uint64_t counter) {
  std::array<uint8_t, crypto_aead_chacha20poly1305_IETF_NPUBBYTES> n{};
  for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
  return n;
}

static_assert(crypto_aead_aes256gcm_NPUBBYTES == crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
static_assert(crypto_aead_aes256gcm_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_chacha20poly1305_IETF_ABYTES == kFrameTagBytes);

}  // namespace

bool aes_gcm_available() {
  static const bool available = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() == 1;
  return available;
}

// sodium_init() picks the fast (SIMD) implementations; without it libsodium
// runs its portable code, several times slower.
FrameSealer::FrameSealer(const std::array<uint8_t, 32>& key, Cipher cipher)
    : key_(key), cipher_(cipher) {
  if (sodium_init() < 0) std::abort();
}
FrameSealer::~FrameSealer() {
  sodium_memzero(key_.data(), key_.size());
}

void FrameSealer::seal(ByteView plaintext, Bytes& out) {
  const size_t len = plaintext.size() + kFrameTagBytes;
  const size_t at = out.size();
  out.resize(at + kFrameLengthBytes + len);
  uint8_t* p = out.data() + at;
  p[0] = static_cast<uint8_t>(len >> 24);
  p[1] = static_cast<uint8_t>(len >> 16);
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  auto nonce = nonce_for(counter_++);
  if (cipher_ == Cipher::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt(p + kFrameLengthBytes, nullptr, plaintext.data(),
                                  plaintext.size(), p, kFrameLengthBytes, nullptr, nonce.data(),
                                  key_.data());
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt(p + kFrameLengthBytes, nullptr, plaintext.data(),
                                              plaintext.size(), p, kFrameLengthBytes, nullptr,
                                              nonce.data(), key_.data());
  }
}

FrameOpener::FrameOpener(const std::array<uint8_t, 32>& key, size_t max_frame_bytes, Cipher cipher)
    : key_(key), cipher_(cipher), max_frame_bytes_(max_frame_bytes) {
  if (sodium_init() < 0) std::abort();
}
FrameOpener::~FrameOpener() {
  sodium_memzero(key_.data(), key_.size());
}

std::optional<size_t> FrameOpener::peek_length(ByteView buffer) {
  if (buffer.size() < kFrameLengthBytes) return std::nullopt;
  return (size_t{buffer[0]} << 24 | size_t{buffer[1]} << 16 | size_t{buffer[2]} << 8 |
          size_t{buffer[3]}) +
         kFrameLengthBytes;
}

Result<std::optional<FrameOpener::Opened>> FrameOpener::open(std::span<uint8_t> buffer) {
  auto total = peek_length(buffer);
  if (!total) return std::optional<Opened>{};
  const size_t len = *total - kFrameLengthBytes;
  if (len > max_frame_bytes_) {
    return limit_exceeded("frame length " + std::to_string(len) + " above maximum " +
                          std::to_string(max_frame_bytes_));
  }
  if (len < kFrameTagBytes) return malformed("frame shorter than its authentication tag");
  if (buffer.size() < *total) return std::optional<Opened>{};
  uint8_t* c = buffer.data() + kFrameLengthBytes;
  unsigned long long plain_len = 0;
  auto nonce = nonce_for(counter_);
  const int rc =
      cipher_ == Cipher::kAes256Gcm
          ? crypto_aead_aes256gcm_decrypt(c, &plain_len, nullptr, c, len, buffer.data(),
                                          kFrameLengthBytes, nonce.data(), key_.data())
          : crypto_aead_chacha20poly1305_ietf_decrypt(c, &plain_len, nullptr, c, len, buffer.data(),
                                                      kFrameLengthBytes, nonce.data(), key_.data());
  if (rc != 0) {
    return auth_failed("frame failed authentication (tampered, replayed or reordered)");
  }
  ++counter_;
  return std::optional<Opened>{Opened{*total, std::span<uint8_t>(c, plain_len)}};
}

}  // namespace chorus::overlay
