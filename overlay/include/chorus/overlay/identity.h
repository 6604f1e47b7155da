// Node identity: an Ed25519 key pair, its text address and its DHT id.
//
// The public key *is* the node's address. Its text form is checksummed so a
// mistyped address is caught before it is dialled; plain hex is accepted too.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"

namespace chorus::overlay {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;
using Hash256 = std::array<uint8_t, 32>;
using NodeId = Hash256;  // BLAKE2b-256(public key)

// Checksummed text form: "ch" + base32 (RFC 4648 alphabet, lower case, no
// padding) of key ‖ BLAKE2b-32(key). 60 characters. See spec/overlay.md.
std::string address_to_text(const PublicKey& key);

// Accepts the checksummed form or 64 hex digits. Fails with kMalformed on a
// bad character or length, and on a checksum mismatch.
Result<PublicKey> parse_address(std::string_view text);

// The key's DHT id: BLAKE2b-256 of the 32 public-key bytes.
NodeId dht_id(const PublicKey& key);

// BLAKE2b-256 of `data`.
Hash256 blake2b_256(ByteView data);

// Ed25519 verification (libsodium's strict rules).
bool verify_signature(const PublicKey& key, ByteView message, const Signature& sig);

// An Ed25519 key pair. Copyable; the secret is wiped on destruction.
// Thread-compatible: const methods may be called from any thread.
class Identity {
 public:
  // A fresh random key pair.
  static Identity generate();
  // Deterministic key pair from a 32-byte seed (tests, simulations).
  static Identity from_seed(const std::array<uint8_t, 32>& seed);
  // Reads the key file at `path`, or creates it (mode 0600) with a fresh key
  // when it does not exist. Refuses a file readable by group or others, a
  // file that does not parse, and I/O errors, each with a message naming it.
  static Result<Identity> load_or_create(const std::string& path);

  Identity(const Identity&);
  Identity& operator=(const Identity&);
  ~Identity();

  const PublicKey& public_key() const { return public_key_; }
  Signature sign(ByteView message) const;

  // X25519 forms of the key pair, for end-to-end encryption (crypto_box).
  std::array<uint8_t, 32> x25519_secret() const;
  // kInvalidArgument when `key` is not a valid Ed25519 point. Converting a
  // key costs more than the X25519 exchange that follows (its subgroup check
  // is a full scalar multiplication), and every DHT node and WHISPER of a
  // process converts the same peers' keys, so the last conversions are
  // remembered process-wide (public data only; thread-safe).
  static Result<std::array<uint8_t, 32>> x25519_public(const PublicKey& key);
  // How many conversions are remembered (default 4096); 0 remembers none.
  // A simulation of N nodes in one process wants about N.
  static void set_x25519_cache_capacity(size_t entries);

  const std::array<uint8_t, 32>& seed() const { return seed_; }

 private:
  Identity() = default;
  std::array<uint8_t, 32> seed_{};
  std::array<uint8_t, 64> secret_{};
  PublicKey public_key_{};
};

}  // namespace chorus::overlay
