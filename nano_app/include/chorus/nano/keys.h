// NANO keys and signatures: Ed25519 with BLAKE2b-512 in place of SHA-512
// (spec/nano.md §Keys and §Signatures).
//
// Signing touches secrets and is built only from libsodium's constant-time
// primitives. Verification is consensus-critical: it accepts exactly what
// nano-node's single-signature check (ed25519-donna `ed25519_sign_open`)
// accepts, including its non-strict rules (S only checked below 2^253,
// non-canonical and small-order public keys accepted, cofactorless equation,
// R compared as bytes). All functions are thread-safe; `sodium_init()` must
// have succeeded first (`init_crypto`).
#pragma once

#include <string>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

// Calls sodium_init(); false if libsodium cannot start. Idempotent.
bool init_crypto();

// private = BLAKE2b-256(seed ‖ index as u32 big-endian).
PrivateKey derive_private_key(const Seed& seed, uint32_t index);

// A = [clamp(BLAKE2b-512(private)[0..32])]B, encoded.
PublicKey public_key(const PrivateKey& key);

// Deterministic Ed25519-BLAKE2b signature of `message` (nano signs the
// 32-byte block or vote hash).
Signature sign(const PrivateKey& key, ByteView message);

// The reference verification, composed from libsodium's public API: slow
// (two scalar multiplications with subgroup checks) but a direct transcription
// of the rules in spec/nano.md.
bool verify_reference(const PublicKey& key, ByteView message, const Signature& sig);

// The verification used by everything else: a variable-time implementation
// of the same rules (about as fast as libsodium's Ed25519 verify), checked
// against verify_reference by vectors, differential tests and fuzzing.
bool verify(const PublicKey& key, ByteView message, const Signature& sig);

// A representative's private key from a file, as nano-node's key_create
// prints it: 64 hex digits (either case), surrounding whitespace allowed.
// The file must be a regular file readable by its owner only (no group or
// other permission bits): kInvalidArgument otherwise, naming the problem;
// kIo when it cannot be read. The key never appears in an error.
Result<PrivateKey> read_private_key_file(const std::string& path);

}  // namespace chorus::nano
