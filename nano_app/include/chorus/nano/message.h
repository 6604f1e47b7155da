// The NANO realtime and bootstrap message codec (spec/nano.md §Messages).
//
// A message is an 8-byte header then a payload whose length the header
// determines (the protocol has no length field). parse_message takes exactly
// one whole message; message_payload_size tells a stream reader how many
// bytes follow a header. Parsing is strict: wrong sizes, unknown or
// unsupported types, counts of zero, and a magic other than 'R' are
// kMalformed. Serialization derives the header's extension bits from the
// payload. Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/nano/block.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

enum class MessageType : uint8_t {
  kKeepalive = 0x02,
  kPublish = 0x03,
  kConfirmReq = 0x04,
  kConfirmAck = 0x05,
  kBulkPull = 0x06,
  kBulkPush = 0x07,
  kFrontierReq = 0x08,
  kNodeIdHandshake = 0x0a,
  kBulkPullAccount = 0x0b,
  kTelemetryReq = 0x0c,
  kTelemetryAck = 0x0d,
  // 0x0e asc_pull_req and 0x0f asc_pull_ack are not implemented yet: refused.
};

// Network ids, written big-endian: the first byte is the magic 'R'.
inline constexpr uint16_t kNetworkDev = 0x5241;   // "RA"
inline constexpr uint16_t kNetworkBeta = 0x5242;  // "RB"
inline constexpr uint16_t kNetworkLive = 0x5243;  // "RC"
inline constexpr uint16_t kNetworkTest = 0x5258;  // "RX"

// The overlay network id (OverlayConfig::network_id) a NANO node on
// `network` uses, so that dev, beta, live and test nodes never link
// (spec/overlay.md, HELLO): "nano/" and the two id bytes ("nano/RC" for
// live), distinct for every network id.
inline std::string overlay_network_id(uint16_t network) {
  return std::string("nano/") + static_cast<char>(network >> 8) + static_cast<char>(network & 0xff);
}

inline constexpr size_t kHeaderSize = 8;

struct Header {
  uint16_t network = kNetworkLive;
  uint8_t version_max = 0;
  uint8_t version_using = 0;
  uint8_t version_min = 0;
  MessageType type = MessageType::kKeepalive;
  uint16_t extensions = 0;  // filled in by serialize_message
  bool operator==(const Header&) const = default;
};

struct Endpoint {
  std::array<uint8_t, 16> address{};  // IPv6 (IPv4 as an IPv4-mapped IPv6 address)
  uint16_t port = 0;                  // little-endian on the wire
  bool operator==(const Endpoint&) const = default;
};

struct Keepalive {
  std::array<Endpoint, 8> peers{};
  bool operator==(const Keepalive&) const = default;
};

struct Publish {
  Block block;
  bool originator = false;  // extension bit 2
  bool operator==(const Publish&) const = default;
};

struct ConfirmReq {
  struct Pair {
    BlockHash hash{};
    Hash32 root{};
    bool operator==(const Pair&) const = default;
  };
  std::vector<Pair> pairs;  // 1..255, neither half of a pair all zero
  bool operator==(const ConfirmReq&) const = default;
};

struct Vote {
  PublicKey account{};
  Signature signature{};
  uint64_t timestamp = 0;         // low 4 bits: duration; all ones: final vote
  std::vector<BlockHash> hashes;  // 1..255
  bool operator==(const Vote&) const = default;
};
// What the representative signs: BLAKE2b-32("vote " ‖ hashes ‖ timestamp LE).
BlockHash vote_hash(const Vote& v);

struct ConfirmAck {
  Vote vote;
  bool rebroadcasted = false;  // extension bit 2
  bool operator==(const ConfirmAck&) const = default;
};

struct BulkPull {
  Hash32 start{};  // account or block hash
  BlockHash end{};
  uint32_t count = 0;  // 0 = no limit (no extended parameters on the wire)
  bool ascending = false;
  bool operator==(const BulkPull&) const = default;
};

struct BulkPush {
  bool operator==(const BulkPush&) const = default;
};

struct FrontierReq {
  PublicKey start{};
  uint32_t age = 0;
  uint32_t count = 0;
  bool only_confirmed = false;  // extension bit 1
  bool operator==(const FrontierReq&) const = default;
};

struct BulkPullAccount {
  PublicKey account{};
  Amount minimum_amount = 0;  // big-endian
  uint8_t flags = 0;          // 0 hash+amount, 1 address only, 2 hash+amount+address
  bool operator==(const BulkPullAccount&) const = default;
};

struct NodeIdHandshake {
  struct Response {
    PublicKey node_id{};
    Signature signature{};
    // v2: the response also carries a salt and the genesis hash, and signs
    // cookie ‖ salt ‖ genesis instead of the cookie alone.
    struct V2 {
      Hash32 salt{};
      BlockHash genesis{};
      bool operator==(const V2&) const = default;
    };
    std::optional<V2> v2;
    bool operator==(const Response&) const = default;
  };
  std::optional<Hash32> query_cookie;
  std::optional<Response> response;  // at least one of the two is present
  bool advertise_v2 = true;          // bit 2 on a query-only message
  bool operator==(const NodeIdHandshake&) const = default;
};

struct TelemetryReq {
  bool operator==(const TelemetryReq&) const = default;
};

struct TelemetryData {
  Signature signature{};
  PublicKey node_id{};
  uint64_t block_count = 0, cemented_count = 0, unchecked_count = 0, account_count = 0,
           bandwidth_cap = 0;
  uint32_t peer_count = 0;
  uint8_t protocol_version = 0;
  uint64_t uptime = 0;
  BlockHash genesis_block{};
  uint8_t major_version = 0, minor_version = 0, patch_version = 0, pre_release_version = 0;
  uint8_t maker = 0;
  uint64_t timestamp_ms = 0;
  uint64_t active_difficulty = 0;
  uint8_t database_backend = 0;
  uint8_t database_version_major = 0, database_version_minor = 0, database_version_patch = 0;
  Bytes unknown;  // fields of later versions, kept so the signature still checks
  bool operator==(const TelemetryData&) const = default;
};
inline constexpr size_t kTelemetrySize = 206;  // without `unknown`; at most 1023 in total

struct TelemetryAck {
  std::optional<TelemetryData> data;  // nullopt: the empty answer
  bool operator==(const TelemetryAck&) const = default;
};

using Payload =
    std::variant<Keepalive, Publish, ConfirmReq, ConfirmAck, BulkPull, BulkPush, FrontierReq,
                 NodeIdHandshake, BulkPullAccount, TelemetryReq, TelemetryAck>;

struct Message {
  Header header;  // type and extensions are taken from the payload when serializing
  Payload payload;
  bool operator==(const Message&) const = default;
};

Result<Header> parse_header(ByteView eight_bytes);
// Bytes that follow this header; kMalformed for an unknown type or bad
// extension bits (zero counts, an invalid block type, telemetry size).
Result<size_t> message_payload_size(const Header& h);

Result<Message> parse_message(ByteView bytes);  // exactly header + payload
// kInvalidArgument when the payload cannot be represented (0 or > 255
// hashes or pairs, a handshake with neither part, telemetry above 1023 bytes).
Result<Bytes> serialize_message(const Message& m);

}  // namespace chorus::nano
