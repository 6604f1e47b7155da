// WhisperBox: end-to-end sealing of WHISPER payloads (crypto_box:
// X25519 from the Ed25519 keys, XSalsa20-Poly1305, random nonce first).
//
// Why it exists: it is the one holder of this node's X25519 secret, which
// no other part of the core needs to see; it wipes it when it goes.
#pragma once

#include <array>
#include <cstdint>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace chorus::overlay {

class WhisperBox {
 public:
  explicit WhisperBox(const Identity& identity);
  ~WhisperBox();
  WhisperBox(const WhisperBox&) = delete;
  WhisperBox& operator=(const WhisperBox&) = delete;

  // nonce ‖ box of `payload` sealed to `to`; `payload` as is when !encrypt.
  Result<Bytes> seal(const PublicKey& to, ByteView payload, bool encrypt, Random& random) const;
  // Opens nonce ‖ box sealed to us by `from`.
  Result<Bytes> open(const PublicKey& from, ByteView payload) const;

 private:
  std::array<uint8_t, 32> secret_{};
};

}  // namespace chorus::overlay
