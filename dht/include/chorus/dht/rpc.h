// DHT RPC messages and their byte layout (spec/dht.md §3).
//
// A message is what travels inside one sealed datagram (see datagram.h):
//
//   u8 op | u64 txid | u8 flags | op-specific body
//
// Requests: PING (2), FIND_NODE (7), FIND_VALUE (8), STORE (9), and NOTIFY
// (10, pushed to listeners, answered by ACK). Replies: ACK (0) and NACK (1),
// which echo the txid of the request. Everything is big-endian; lists carry
// a u16 count and byte strings a u32 length. decode_message never reads past
// its input and refuses trailing bytes, unknown ops and unknown STORE kinds.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

enum class Op : uint8_t {
  kAck = 0,
  kNack = 1,
  kPing = 2,
  kFindNode = 7,
  kFindValue = 8,
  kStore = 9,
  kNotify = 10,
};

// flags bit 0: the sender is read-only (initiate-only or behind a NAT): do
// not put it in routing tables. Other bits must be zero.
inline constexpr uint8_t kFlagReadOnly = 1;

// ---- requests
struct PingReq {};
struct FindNodeReq {
  NodeId target{};
};
struct FindValueReq {
  Key key{};
};

enum class StoreKind : uint8_t {
  kPut = 0,        // plain value
  kPutSigned = 1,  // signed value
  kLock = 2,       // acquire, renew or raise a lease
  kUnlock = 3,     // release
  kCas = 4,        // compare_and_set
  kDiff = 5,       // apply_diff
  kRepair = 6,     // a whole versioned value, kept if newer than ours
  kAbort = 7,      // undo a CAS/diff that failed to reach a majority
  kListen = 8,     // subscribe to changes of the key
};

struct PutBody {
  Value value;
};
struct PutSignedBody {
  SignedValue value;
};
struct LockBody {
  uint64_t owner_tag = 0;
  uint64_t lease_ms = 0;
  uint64_t min_token = 0;  // grant a token at least this large
};
struct UnlockBody {
  uint64_t owner_tag = 0;
  uint64_t token = 0;
};
struct CasBody {
  uint64_t owner_tag = 0;
  uint64_t expected_version = 0;
  uint32_t ttl_s = 0;
  Bytes data;
};
struct DiffBody {
  uint64_t owner_tag = 0;
  uint64_t base_version = 0;
  uint32_t ttl_s = 0;
  Bytes patch;
  Hash256 result_hash{};
};
struct RepairBody {
  VersionedValue value;
};
struct AbortBody {
  uint64_t owner_tag = 0;
  uint64_t version = 0;
};
struct ListenBody {
  uint32_t duration_s = 0;  // 0 cancels
};
// Structs deriving from their variants (rather than aliases) so that
// dht_core.h can name them without including this internal header.
using StoreBodyVariant = std::variant<PutBody, PutSignedBody, LockBody, UnlockBody, CasBody,
                                      DiffBody, RepairBody, AbortBody, ListenBody>;
struct StoreBody : StoreBodyVariant {
  using Variant = StoreBodyVariant;
  using Variant::Variant;
};

struct StoreReq {
  WriteToken token{};
  Key key{};
  StoreBody body;
};

// What a storing node pushes to a listener when the key changes.
struct NotifyReq {
  Key key{};
  std::vector<Value> values;
  std::vector<SignedValue> signed_values;
  std::optional<VersionedValue> versioned;
};

// ---- replies
// ACK to FIND_NODE / FIND_VALUE: the closest contacts the node knows and a
// write token for STORE; FIND_VALUE adds what is stored under the key.
struct FoundReply {
  std::vector<Contact> contacts;
  WriteToken token{};
  std::vector<Value> values;
  std::vector<SignedValue> signed_values;
  std::optional<VersionedValue> versioned;
  std::optional<LockState> lock;
};
// ACK to STORE: `number` is the fencing token (LOCK), the new version
// (CAS, DIFF, REPAIR) or 0; `remaining_ms` the lease left (LOCK).
struct StoreReply {
  uint64_t number = 0;
  int64_t remaining_ms = 0;
};
// ACK to PING and NOTIFY.
struct EmptyReply {};

struct Nack {
  Refusal reason = Refusal::kUnknown;
  uint64_t number = 0;       // the current version (kConflict, kMissingBase) or lock token
  int64_t remaining_ms = 0;  // kLockHeld: how long the holder's lease still runs
};

using BodyVariant = std::variant<PingReq, FindNodeReq, FindValueReq, StoreReq, NotifyReq,
                                 FoundReply, StoreReply, EmptyReply, Nack>;
struct Body : BodyVariant {
  using Variant = BodyVariant;
  using Variant::Variant;
};

struct Message {
  uint64_t txid = 0;
  uint8_t flags = 0;
  Body body;
};

// The op a body travels as (ACK for the three reply types, NACK for Nack).
Op op_of(const Body& body);
bool is_request(const Body& body);

// Replies need to know what they answer to decode (ACK bodies differ per
// request). `answering` is the op of the request with that txid; pass
// nullopt for requests.
Bytes encode_message(const Message& m);
Result<Message> decode_message(ByteView bytes, std::optional<Op> answering);

// Peeks at op and txid without decoding the rest (kMalformed if too short).
struct MessageHead {
  Op op;
  uint64_t txid;
};
Result<MessageHead> peek_head(ByteView bytes);

// Limits the decoder enforces (a message above them is malformed).
inline constexpr size_t kMaxContactsPerReply = 64;
inline constexpr size_t kMaxValuesPerReply = 1024;
inline constexpr size_t kMaxBytesField = 1u << 20;

}  // namespace chorus::dht
