// Sealed frames: the byte stream after the handshake.
//
//   frame     = length u32 (big-endian) ‖ ciphertext
//   ciphertext = AEAD(key, nonce = 0^4 ‖ counter u64 BE,
//                     ad = the 4 length bytes, plaintext)
//
// AEAD is ChaCha20-Poly1305-IETF, or AES-256-GCM when both ends said in
// their HELLO that they have AES hardware (faster there, and constant time
// only with it).
//
// Either library may seal or open a frame: the bytes are the same (a test
// opens each one's frames with the other). libsodium is the default for
// crypto in Chorus; OpenSSL's libcrypto seals bulk data two to three times
// faster on CPUs with wide vector units, and link frames are all the bulk
// data there is. So each process measures both once and links use the
// faster (fastest_aead_library). Keys, the handshake, signatures and
// WHISPER boxes stay with libsodium.
//
// Each direction has its own key and counter starting at 0, so a frame that
// is tampered with, replayed, dropped or reordered fails to open: the
// receiver's counter no longer matches the sender's. Layout: spec/overlay.md.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"

namespace chorus::overlay {

inline constexpr size_t kFrameLengthBytes = 4;
inline constexpr size_t kFrameTagBytes = 16;

enum class Cipher : uint8_t { kChaCha20Poly1305 = 0, kAes256Gcm = 1 };

// True when this CPU runs libsodium's AES-256-GCM (AES-NI and PCLMUL).
bool aes_gcm_available();

enum class AeadLibrary : uint8_t { kLibsodium = 0, kOpenSsl = 1 };

// The library that seals `cipher` faster on this machine, measured on first
// call (about 2 ms per cipher) and then fixed for the process. It is
// libsodium whenever the two disagree on a probe frame.
AeadLibrary fastest_aead_library(Cipher cipher);
const char* aead_library_name(AeadLibrary library);

class FrameAead;

class FrameSealer {
 public:
  // `library`: unset, the measured fastest.
  explicit FrameSealer(const std::array<uint8_t, 32>& key,
                       Cipher cipher = Cipher::kChaCha20Poly1305,
                       std::optional<AeadLibrary> library = std::nullopt);
  ~FrameSealer();
  // Appends one sealed frame carrying `plaintext` to `out`.
  void seal(ByteView plaintext, Bytes& out);
  uint64_t frames_sealed() const { return counter_; }
  AeadLibrary library() const;

 private:
  std::unique_ptr<FrameAead> aead_;
  uint64_t counter_ = 0;
};

class FrameOpener {
 public:
  // `max_frame_bytes` bounds the length prefix (ciphertext incl. tag).
  FrameOpener(const std::array<uint8_t, 32>& key, size_t max_frame_bytes,
              Cipher cipher = Cipher::kChaCha20Poly1305,
              std::optional<AeadLibrary> library = std::nullopt);
  ~FrameOpener();

  // Looks at the front of `buffer`. Returns nullopt when a whole frame is not
  // there yet; otherwise opens it in place and returns {bytes consumed,
  // plaintext view into `buffer`}. Errors (the link must close): kLimit for a
  // length above the maximum, kMalformed for one below the tag size,
  // kAuthFailed for a frame that is tampered, replayed or reordered.
  struct Opened {
    size_t consumed;
    std::span<uint8_t> plaintext;
  };
  Result<std::optional<Opened>> open(std::span<uint8_t> buffer);

  // Length the next frame needs in total, once its prefix is visible.
  static std::optional<size_t> peek_length(ByteView buffer);
  AeadLibrary library() const;

 private:
  std::unique_ptr<FrameAead> aead_;
  size_t max_frame_bytes_;
  uint64_t counter_ = 0;
};

}  // namespace chorus::overlay
