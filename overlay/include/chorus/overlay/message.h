// Overlay messages: the records carried inside sealed frames.
//
// Every message starts with `opcode u8 | id u32`; the body depends on the
// opcode. Byte layouts are in spec/overlay.md. Decoding is total: any input
// gives a Message or an Error, never a crash; an opcode we do not know
// decodes to UnknownMsg so the receiver can NACK it and keep the link.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/identity.h"

namespace chorus::overlay {

enum class Opcode : uint8_t {
  kAck = 0,
  kNack = 1,
  kPing = 2,
  kSetConnectionOpt = 3,
  kShout = 4,
  kSpeak = 5,
  kWhisper = 6,
  // 7 FIND_NODE, 8 FIND_VALUE, 9 STORE: reserved for the DHT.
  // Broadcast tree (spec/overlay.md, "Broadcast tree"); sent only on links
  // where SET_CONNECTION_OPT option 2 was offered or ACKed.
  kIhave = 10,
  kGraft = 11,
  kPrune = 12,
  // Content-addressed SHOUT (spec/overlay.md, "Content-addressed SHOUT");
  // sent only on links where SET_CONNECTION_OPT option 3 was offered or ACKed.
  kContentShout = 13,
  // Streams (spec/overlay.md, "Streams"): a request answered by a series of
  // messages under credit; sent only on links where the peer offered
  // SET_CONNECTION_OPT option 4.
  kStream = 14,
  // An app message to one direct peer with no ACK and no reply (spec/overlay.md,
  // "DIRECT"): the smallest header, for high-rate traffic the app makes
  // reliable itself or can afford to lose.
  kDirect = 15,
};

const char* opcode_name(uint8_t opcode);

// Application protocol id. 0 is the overlay's own (peer exchange).
using AppId = uint16_t;
inline constexpr AppId kOverlayApp = 0;

// Why a NACK was sent.
enum class NackCode : uint8_t {
  kUnspecified = 0,
  kUnknownOpcode = 1,
  kUnknownApp = 2,
  kUnsupportedOption = 3,
  kDecryptFailed = 4,
  kLimit = 5,
  // Relaying (spec/overlay.md, "Relay"):
  kRelayOff = 6,      // this node does not relay (switched off), or not this message
  kNoRoute = 7,       // the target is not a direct peer of the relay (or its link went away)
  kRelayTimeout = 8,  // the target did not answer the relay in time
  // The app dropped a request without answering it (its Responder was
  // destroyed): the requester fails now instead of at its timeout.
  kNoResponse = 9,
  // A stream saw no progress within stream_idle_timeout_ms (END, CANCEL).
  kIdleTimeout = 10,
  // The responder's app ended a stream with an error of its own (END; the
  // reason says which).
  kAppError = 11,
};

// The code of a stream END that finished normally (any other is an error).
inline constexpr NackCode kStreamFinished = NackCode::kUnspecified;

struct AckMsg {
  uint8_t acked = 0;  // opcode being acknowledged
  Bytes data;         // PING: empty; WHISPER: 32-byte hash; SET_CONNECTION_OPT: option, setting
};

struct NackMsg {
  uint8_t acked = 0;
  NackCode code = NackCode::kUnspecified;
  std::string reason;  // at most 255 bytes
  Bytes data;          // as for ACK
};

struct PingMsg {};

struct SetConnectionOptMsg {
  uint8_t option = 0;
  uint8_t setting = 0;
};

struct ShoutMsg {
  AppId app = 0;
  uint8_t hops_left = 0;  // not signed: each hop decrements it
  PublicKey origin{};
  uint64_t shout_id = 0;  // chosen by the origin; (origin, shout_id) is unique
  Signature signature{};  // by origin over shout_signing_bytes()
  Bytes payload;
};

// A SHOUT whose payload authenticates itself (a signed block or vote): no
// origin, no signature, no origin-chosen id. Its name is the BLAKE2b-256 of
// the payload (content_shout_key), so the same payload published by two
// nodes is one broadcast.
struct ContentShoutMsg {
  AppId app = 0;
  uint8_t hops_left = 0;
  Bytes payload;
};

inline constexpr uint8_t kSpeakAckRequested = 1;

struct SpeakMsg {
  AppId app = 0;
  uint8_t flags = 0;
  uint8_t hops_left = 0;
  PublicKey origin{};     // the node that first spoke it (unsigned)
  uint64_t speak_id = 0;  // with origin: the dedup key when apps forward
  Bytes payload;
};

inline constexpr uint8_t kWhisperEncrypted = 1;  // payload = nonce(24) ‖ crypto_box
inline constexpr uint8_t kWhisperRequest = 2;    // the sender waits for a response
inline constexpr uint8_t kWhisperResponse = 4;   // answers request `reply_to`
// Relaying through a common peer (always with kWhisperEncrypted):
//   origin -> relay: payload = to[32] ‖ nonce ‖ box        (kWhisperRelay)
//   relay -> target: payload = origin[32] ‖ nonce ‖ box    (kWhisperRelayed)
// The box is sealed by the origin to the target; the relay cannot open it.
inline constexpr uint8_t kWhisperRelay = 8;
inline constexpr uint8_t kWhisperRelayed = 16;

struct WhisperMsg {
  AppId app = 0;
  uint8_t flags = 0;
  uint32_t reply_to = 0;
  Bytes payload;
};

// A SHOUT's name: origin[32] ‖ shout_id u64 (the seen-cache key layout).
using ShoutKey = std::array<uint8_t, 40>;

// Announces SHOUTs the sender holds: "ask me (GRAFT) if you miss one".
// At most 255 ids (the encoder sends the first 255).
struct IhaveMsg {
  std::vector<ShoutKey> ids;
};

// "Push to me eagerly from now on, and send me these SHOUTs if you hold
// them." No ids: only the first part. At most 255 ids.
struct GraftMsg {
  std::vector<ShoutKey> ids;
};

// "Stop pushing SHOUTs to me eagerly; announce them (IHAVE) instead."
struct PruneMsg {};

// STREAM (opcode 14): one stream's traffic. `stream` is chosen by the
// opener, unique among its open streams on this link; OPEN, CREDIT and
// CANCEL go from opener to responder, DATA and END back. Which fields a
// kind carries (the others stay zero/empty):
//   OPEN    credit u32 ‖ payload (rest)   the request; DATA the responder may send
//   CREDIT  credit u32 (exactly)          adds to what the responder may send
//   CANCEL  code u8 ‖ reason_len u8 ‖ reason (exactly)
//   DATA    payload (rest)
//   END     code u8 ‖ reason_len u8 ‖ reason (exactly); code 0 = finished
// An unknown kind is malformed.
enum class StreamKind : uint8_t { kOpen = 0, kCredit = 1, kCancel = 2, kData = 3, kEnd = 4 };

struct StreamMsg {
  AppId app = 0;
  StreamKind kind = StreamKind::kOpen;
  uint32_t stream = 0;
  uint32_t credit = 0;  // OPEN, CREDIT
  uint8_t code = 0;     // CANCEL, END: kStreamFinished (0) or a NackCode
  std::string reason;   // CANCEL, END; at most 255 bytes (the encoder cuts it)
  Bytes payload;        // OPEN, DATA
};

// DIRECT: app u16 ‖ payload. Its message id is always 0: nothing answers it.
struct DirectMsg {
  AppId app = 0;
  Bytes payload;
};

struct UnknownMsg {
  uint8_t opcode = 0;
};

using MessageBody =
    std::variant<AckMsg, NackMsg, PingMsg, SetConnectionOptMsg, ShoutMsg, SpeakMsg, WhisperMsg,
                 IhaveMsg, GraftMsg, PruneMsg, ContentShoutMsg, StreamMsg, DirectMsg, UnknownMsg>;

struct Message {
  uint32_t id = 0;  // request id for ACK/NACK matching; ACK/NACK carry the id they answer
  MessageBody body;
};

uint8_t opcode_of(const Message& m);

// Appends the encoding of `m` to `out`.
void encode_message(const Message& m, Bytes& out);
Bytes encode_message(const Message& m);

// Parses one message (the whole of `in`). kMalformed on truncation, trailing
// bytes where the layout has none, or an oversized field.
Result<Message> decode_message(ByteView in);

// What a SHOUT's origin signs: "chorus/shout/v1" ‖ app ‖ origin ‖ shout_id ‖ payload.
Bytes shout_signing_bytes(AppId app, const PublicKey& origin, uint64_t shout_id, ByteView payload);

// BLAKE2b-256 of a content-addressed SHOUT's payload: its content id.
std::array<uint8_t, 32> content_id_of(ByteView payload);
// The 40-byte name of a content-addressed SHOUT in the seen cache and in
// IHAVE/GRAFT: content_id[32] ‖ app u16 ‖ ff ff ff ff ff ff.
ShoutKey content_shout_key(AppId app, const std::array<uint8_t, 32>& content_id);

}  // namespace chorus::overlay
