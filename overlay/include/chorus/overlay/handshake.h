// The link handshake: a sans-IO state machine for one connection.
//
// Both sides send HELLO at once (static Ed25519 key, ephemeral X25519 key,
// version, listen port, network tag), then AUTH: a signature by the static
// key over the hash of both HELLOs and the signer's role. Session keys come from the
// ephemeral keys (crypto_kx), so recorded traffic stays secret after a static
// key leaks. Layout: spec/overlay.md, "Handshake".
//
// Use: construct, send take_output(), feed received bytes to on_bytes() and
// send take_output() again after each call, until done() (or an error, after
// which the link must be closed with the error's message as the reason).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace chorus::overlay {

// Version 2 added the network tag to HELLO (spec/overlay.md, "HELLO").
inline constexpr uint8_t kProtocolVersion = 2;
inline constexpr size_t kHelloBytes = 104;
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
  Hash256 network{};         // network_tag() of the sender's network id
};

// The 32 bytes a HELLO carries for the application's network id (any bytes;
// empty = the default "chorus" network): BLAKE2b-256("chorus/network/v1" ‖
// network_id). Nodes whose tags differ never finish a handshake.
Hash256 network_tag(std::string_view network_id);

Bytes encode_hello(const Hello& h);
// kMalformed for a wrong magic or size; the version is checked by Handshake.
Result<Hello> decode_hello(ByteView in);

// Why a handshake refused the peer, for callers that act on it (never parse
// the error message for this).
enum class Refusal : uint8_t {
  kNone,             // not refused (or not yet)
  kSelf,             // the peer's static key is ours
  kNetworkMismatch,  // the peer's HELLO names another network
  kPeerCheck,        // the PeerCheck refused the peer's key (a ban)
  kOther,            // anything else: magic, version, weak key, signature
};

class Handshake {
 public:
  // Asked once the peer's HELLO is read, before our AUTH is signed: an
  // error refuses the peer there, so a refused peer never gets our AUTH and
  // the handshake never completes. The key is as claimed, not yet proven.
  using PeerCheck = std::function<Result<void>(const PublicKey& peer)>;

  // `flags`: HELLO flags we announce (kHelloAesGcm where the CPU has it).
  // `network`: our network_tag(); a peer whose HELLO carries another is
  // refused (kProtocol, "network id mismatch").
  Handshake(const Identity& self, Role role, uint16_t listen_port, Random& random,
            uint8_t flags = 0, const Hash256& network = network_tag({}), PeerCheck check = nullptr);
  ~Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // Bytes to send now; empty when there is nothing new.
  Bytes take_output();

  // Consumes handshake bytes from the front of `in` and returns how many it
  // used; bytes after the handshake are left for the frame layer. Errors:
  // kMalformed (not a Chorus peer), kProtocol (wrong version, connection to
  // self, network id mismatch, weak ephemeral key), kAuthFailed (bad
  // signature), or the PeerCheck's error. refusal() then says which.
  Result<size_t> on_bytes(ByteView in);
  Refusal refusal() const { return refusal_; }

  bool done() const { return state_ == State::kDone; }
  Role role() const { return role_; }
  // Valid once the peer's HELLO was read (also when it was then refused for
  // its key or network).
  const Hello& peer_hello() const { return peer_hello_; }
  // Valid once done().
  const SessionKeys& keys() const { return keys_; }
  // Valid once done(): AES-256-GCM when both HELLOs carry kHelloAesGcm.
  Cipher cipher() const;

 private:
  enum class State { kWaitHello, kWaitAuth, kDone };
  Result<size_t> consume(ByteView in);
  static Error wrong_version(uint8_t theirs);
  Result<void> on_hello(ByteView bytes);
  Result<void> on_auth(ByteView bytes);
  Bytes auth_message(Role signer) const;

  const Identity& self_;
  Role role_;
  State state_ = State::kWaitHello;
  std::array<uint8_t, 32> eph_secret_{};
  uint8_t own_flags_ = 0;
  Hash256 network_{};
  PeerCheck check_;
  Refusal refusal_ = Refusal::kNone;
  Bytes own_hello_;
  Bytes pending_;  // a partly received HELLO or AUTH
  Bytes peer_hello_raw_;
  Hello peer_hello_;
  Hash256 transcript_{};
  SessionKeys keys_;
  Bytes output_;
};

}  // namespace chorus::overlay
