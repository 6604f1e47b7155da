#include "chorus/overlay/frame_codec.h"

#include <sodium.h>

#include <cstdlib>
#include <string>

#include "frame_aead.h"

namespace chorus::overlay {
namespace {

std::array<uint8_t, kFrameNonceBytes> nonce_for(uint64_t counter) {
  std::array<uint8_t, kFrameNonceBytes> n{};
  for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<uint8_t>(counter >> (56 - 8 * i));
  return n;
}

}  // namespace

bool aes_gcm_available() {
  static const bool available = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() == 1;
  return available;
}

FrameSealer::FrameSealer(const std::array<uint8_t, 32>& key, Cipher cipher,
                         std::optional<AeadLibrary> library)
    : aead_(std::make_unique<FrameAead>(key, cipher, library.value_or(fastest_aead_library(cipher)),
                                        FrameAead::Direction::kSeal)) {}
FrameSealer::~FrameSealer() = default;

AeadLibrary FrameSealer::library() const {
  return aead_->library();
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
  aead_->seal(nonce.data(), p, kFrameLengthBytes, plaintext.data(), plaintext.size(),
              p + kFrameLengthBytes);
}

FrameOpener::FrameOpener(const std::array<uint8_t, 32>& key, size_t max_frame_bytes, Cipher cipher,
                         std::optional<AeadLibrary> library)
    : aead_(std::make_unique<FrameAead>(key, cipher, library.value_or(fastest_aead_library(cipher)),
                                        FrameAead::Direction::kOpen)),
      max_frame_bytes_(max_frame_bytes) {}
FrameOpener::~FrameOpener() = default;

AeadLibrary FrameOpener::library() const {
  return aead_->library();
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
  auto nonce = nonce_for(counter_);
  if (!aead_->open(nonce.data(), buffer.data(), kFrameLengthBytes, c, len)) {
    return auth_failed("frame failed authentication (tampered, replayed or reordered)");
  }
  ++counter_;
  return std::optional<Opened>{Opened{*total, std::span<uint8_t>(c, len - kFrameTagBytes)}};
}

}  // namespace chorus::overlay
