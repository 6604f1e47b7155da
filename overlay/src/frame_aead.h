// The AEAD under sealed frames, from either library (frame_codec.h says why
// there are two). One object per direction of one link: it holds the key,
// and for OpenSSL a cipher context keyed once, so a frame costs only a new
// nonce and the pass over its bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "chorus/overlay/frame_codec.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace chorus::overlay {

inline constexpr size_t kFrameNonceBytes = 12;

class FrameAead {
 public:
  enum class Direction : uint8_t { kSeal, kOpen };
  FrameAead(const std::array<uint8_t, 32>& key, Cipher cipher, AeadLibrary library,
            Direction direction);
  ~FrameAead();
  FrameAead(const FrameAead&) = delete;
  FrameAead& operator=(const FrameAead&) = delete;

  // Writes plaintext_len + kFrameTagBytes bytes at `out` (ciphertext, then
  // the tag). `out` may equal `plaintext`.
  void seal(const uint8_t* nonce, const uint8_t* ad, size_t ad_len, const uint8_t* plaintext,
            size_t plaintext_len, uint8_t* out);
  // Opens `len` bytes (ciphertext and tag) in place; false when they do not
  // authenticate, and then no unauthenticated plaintext is left behind.
  bool open(const uint8_t* nonce, const uint8_t* ad, size_t ad_len, uint8_t* data, size_t len);

  AeadLibrary library() const { return library_; }

 private:
  std::array<uint8_t, 32> key_;
  Cipher cipher_;
  AeadLibrary library_;
  EVP_CIPHER_CTX* ctx_ = nullptr;  // OpenSSL only
};

}  // namespace chorus::overlay
