// The link handshake: a sans-IO state machine for one connection.
//
// Both sides send HELLO at once (static Ed25519 key, ephemeral X25519 key,
// version, listen port), then AUTH: a signature by the static key over the
// hash of both HELLOs and the signer's role. Session keys come from the
// ephemeral keys (crypto_kx), so recorded traffic stays secret after a static
// key leaks. Layout: spec/overlay.md, "Handshake".
//
// Use: construct, send take_output(), feed received bytes to on_bytes() and
// send take_output() again after each call, until done() (or an error, after
// which the link must be closed with the error's message as the reason).
#pragma once

#include <array>
#include <cstdint>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace chorus::overlay {

inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kHelloBytes = 72;
inline constexpr size_t kAuthBytes = 64;

enum class Role : uint8_t { kInitiator = 'I', kResponder = 'R' };

// HELLO flags.
inline constexpr uint8_t kHelloAesGcm = 1;  // the sender can seal frames with AES-256-GCM

struct SessionKeys {
  std::array<uint8_t, 32> rx{};  // opens what the peer seals
  std::array<uint8_t, 32> tx{};  // seals what we send
};

struct Hello {
  uint8_t version = kProtocolVersion;
  uint8_t flags = 0;
  PublicKey static_key{};
  std::array<uint8_t, 32> ephemeral_key{};
  uint16_t listen_port = 0;  // 0: the sender does not listen (initiate-only)
};

Bytes encode_hello(const Hello& h);
// kMalformed for a wrong magic or size; the version is checked by Handshake.
Result<Hello> decode_hello(ByteView in);

class Handshake {
 public:
  // `flags`: HELLO flags we announce (kHelloAesGcm where the CPU has it).
  Handshake(const Identity& self, Role role, uint16_t listen_port, Random& random,
            uint8_t flags = 0);
  ~Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // Bytes to send now; empty when there is nothing new.
  Bytes take_output();

  // Consumes handshake bytes from the front of `in` and returns how many it
  // used; bytes after the handshake are left for the frame layer. Errors:
  // kMalformed (not a Chorus peer), kProtocol (wrong version, connection to
  // self, weak ephemeral key), kAuthFailed (bad signature).
  Result<size_t> on_bytes(ByteView in);

  bool done() const { return state_ == State::kDone; }
  Role role() const { return role_; }
  // Valid once the peer's HELLO was read.
  const Hello& peer_hello() const { return peer_hello_; }
  // Valid once done().
  const SessionKeys& keys() const { return keys_; }
  // Valid once done(): AES-256-GCM when both HELLOs carry kHelloAesGcm.
  Cipher cipher() const;

 private:
  enum class State { kWaitHello, kWaitAuth, kDone };
  Result<void> on_hello(ByteView bytes);
  Result<void> on_auth(ByteView bytes);
  Bytes auth_message(Role signer) const;

  const Identity& self_;
  Role role_;
  State state_ = State::kWaitHello;
  std::array<uint8_t, 32> eph_secret_{};
  uint8_t own_flags_ = 0;
  Bytes own_hello_;
  Bytes pending_;  // a partly received HELLO or AUTH
  Bytes peer_hello_raw_;
  Hello peer_hello_;
  Hash256 transcript_{};
  SessionKeys keys_;
  Bytes output_;
};

}  // namespace chorus::overlay
