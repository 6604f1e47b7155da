// The vocabulary of the DHT: keys, contacts, values and refusals.
//
// Keys and node ids share one 256-bit space (τ = 256): a node's id is
// BLAKE2b-256 of its public key, a key is any 32 bytes (usually BLAKE2b-256
// of a name, see key_for). "Close" means a small XOR distance.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"

namespace chorus::dht {

using Key = overlay::Hash256;
using NodeId = overlay::NodeId;
using PublicKey = overlay::PublicKey;
using Signature = overlay::Signature;
using Hash256 = overlay::Hash256;
using Address = overlay::SocketAddress;
using WriteToken = std::array<uint8_t, 16>;

// BLAKE2b-256 of a name: the usual way to turn "room/42" into a key.
Key key_for(std::string_view name);

// How many leading bits a and b share (256 when equal).
int common_prefix_bits(const NodeId& a, const NodeId& b);

// True when a is strictly closer to target than b (XOR metric).
bool closer(const Key& target, const NodeId& a, const NodeId& b);

// A node as the DHT knows it: its key, id (derived from the key) and the UDP
// address its DHT socket answers on.
struct Contact {
  PublicKey key{};
  NodeId id{};
  Address address;
  bool operator==(const Contact&) const = default;
};

// Builds a contact, deriving the id from the key.
Contact make_contact(const PublicKey& key, Address address);

// A plain value: several may live under one key, told apart by `id`
// (a put with an existing id replaces that value).
struct Value {
  uint64_t id = 0;
  Bytes data;
  uint32_t ttl_s = 600;
  bool operator==(const Value&) const = default;
};

// A value only its owner may replace: one slot per (key, owner); a higher
// `seq` wins; the signature covers key ‖ seq ‖ ttl ‖ data (spec/dht.md).
struct SignedValue {
  PublicKey owner{};
  uint64_t seq = 0;
  uint32_t ttl_s = 600;
  Bytes data;
  Signature signature{};
  bool operator==(const SignedValue&) const = default;
};

// The bytes a SignedValue's signature covers.
Bytes signed_value_message(const Key& key, uint64_t seq, uint32_t ttl_s, ByteView data);

// The single versioned value of a key, written by compare_and_set and
// apply_diff. Version 0 means "no value yet"; every accepted change is +1.
struct VersionedValue {
  uint64_t version = 0;
  Bytes data;
  uint32_t ttl_s = 600;
  bool operator==(const VersionedValue&) const = default;
};

// Who a lock or versioned write belongs to: the sender's key plus a tag the
// application picks, so several users inside one node stay apart.
struct Owner {
  PublicKey key{};
  uint64_t tag = 0;
  bool operator==(const Owner&) const = default;
};

// What one storing node says about a lock.
struct LockState {
  Owner holder;
  uint64_t token = 0;        // fencing token of the current (or last) lease
  int64_t remaining_ms = 0;  // 0 when free
};

// Why a storing node said no. Travels in NACKs as one byte.
enum class Refusal : uint8_t {
  kNone = 0,
  kMalformed = 1,        // the request did not parse
  kTooLarge = 2,         // value above max_value_bytes
  kFull = 3,             // storage quota reached (node or per-source)
  kBadSignature = 4,     // signed value whose signature does not verify
  kStale = 5,            // signed value with a sequence not above the stored one
  kConflict = 6,         // CAS/diff whose expected version is not current
  kMissingBase = 7,      // diff against a version this node does not hold
  kBadHash = 8,          // diff result does not hash to result_hash
  kLockHeld = 9,         // another owner holds an unexpired lease
  kNotHolder = 10,       // renew/release by someone who does not hold it
  kBadToken = 11,        // STORE without a valid write token
  kNotResponsible = 12,  // this node is not among the k closest it knows
  kStarting = 13,        // restarted too recently to grant locks safely
  kUnknown = 14,         // any other reason
};
const char* refusal_name(Refusal r);

}  // namespace chorus::dht
