// What the files of NodeCore share (private to overlay/src): the link record,
// the wire constants of the overlay protocol, and the named bounds.
//
// Why it exists: NodeCore is split into one file per concept (link table,
// framing, connection options, requests, relay, WHISPER sealing, broadcast,
// peer manager, timers). They all work on the same Link, so it is defined
// once here instead of in the public header.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "chorus/compression/codec.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/handshake.h"
#include "chorus/overlay/node_core.h"
#include "chorus/overlay/token_bucket.h"
#include "chorus/overlay/wire.h"
#include "send_queue.h"

namespace chorus::overlay::detail {

// ---- timing
// The longest maintain() waits when no deadline is nearer: expiry of the
// seen caches and bans (memory only; lookups check the time themselves).
inline constexpr int64_t kMaintainIntervalUs = 1'000'000;
// After a link closes (or an address or unban makes one dialable), dial
// this much later, as the old 200 ms poll did at most: a peer that just
// closed us is not redialled within the same breath.
inline constexpr int64_t kRedialDelayUs = 200'000;
// Peer exchange runs every peer_exchange_interval_ms × [0.75, 1.25), link
// rotation every rotate_interval_ms × [0.5, 1.5): jitter keeps nodes that
// started together from acting in lockstep.
inline constexpr double kExchangeJitterBase = 0.75;
inline constexpr double kExchangeJitterSpan = 0.5;
inline constexpr double kRotateJitterBase = 0.5;
inline constexpr double kRotateJitterSpan = 1.0;

// ---- framing (spec/overlay.md, "Frames"; spec/compression.md)
// CONTENT_SHOUTs one link holds while its content option is unanswered
// (and at most max_frame_bytes of them).
inline constexpr size_t kMaxContentWaitRecords = 256;
inline constexpr size_t kSealAtBytes = 64 * 1024;  // seal a frame once this much is queued
inline constexpr size_t kRecordLengthBytes = 4;
inline constexpr uint8_t kCodecNone = 0;  // first plaintext byte: frame not compressed
// A codec other than Snappy is tried only when Snappy saves at least
// 1/kWorthCompressingDivisor of the frame.
inline constexpr size_t kWorthCompressingDivisor = 8;
// After frames that did not shrink, skip 2^streak - 1 frames (up to 63).
inline constexpr int kMaxIncompressibleStreak = 6;

// ---- connection options (SET_CONNECTION_OPT)
inline constexpr uint8_t kOptionCompression = 0;
inline constexpr uint8_t kOptionPreferredCompression = 1;
// Option 2: "I speak IHAVE/GRAFT/PRUNE", setting = the tree protocol version.
inline constexpr uint8_t kOptionBroadcastTree = 2;
inline constexpr uint8_t kBroadcastTreeVersion = 1;
// Option 3: "I speak CONTENT_SHOUT", setting = its version.
inline constexpr uint8_t kOptionContentShout = 3;
inline constexpr uint8_t kContentShoutVersion = 1;

// ---- WHISPER and relay
inline constexpr size_t kBoxOverhead = crypto_box_NONCEBYTES + crypto_box_MACBYTES;
inline constexpr size_t kKeyBytes = 32;             // an Ed25519 public key: a node's address
inline constexpr size_t kMaxMessageOverhead = 256;  // header + largest fixed body + box, rounded up
// A relayed WHISPER is named, for replay detection, by the first bytes of
// the origin's random nonce.
inline constexpr size_t kRelayNonceHeadBytes = 8;
// The relay refuses when its link to the target holds more than
// max_send_queue_bytes / kRelayCongestionDivisor queued bytes.
inline constexpr size_t kRelayCongestionDivisor = 2;

// ---- misbehaviour points (spec/overlay.md, "Links"), against
// misbehaviour_limit (default 100). An unknown opcode may be a newer peer:
// it takes 100 of them to close the link. A malformed relay or
// peer-exchange message is a broken or hostile peer: 20 of them.
inline constexpr int kScoreUnknownOpcode = 1;
inline constexpr int kScoreMalformedMessage = 5;
// A SHOUT whose signature fails, or that its app rejected as invalid: the
// neighbour passed on what it should have checked itself (10 of them).
inline constexpr int kScoreBadShout = 10;

inline int64_t ms_to_us(int64_t ms) {
  return ms * 1000;
}

// (link, message id) as one key: the id space is per link.
inline uint64_t link_msg_key(LinkId link, uint32_t id) {
  return link << 32 | id;
}

}  // namespace chorus::overlay::detail

namespace chorus::overlay {

// One connection to a peer, from dial or accept to close.
struct NodeCore::Link {
  enum class State { kConnecting, kHandshaking, kEstablished };
  LinkId id = 0;
  bool outbound = false;
  SocketAddress remote;
  State state = State::kConnecting;
  int64_t created_us = 0;
  std::unique_ptr<Handshake> handshake;
  std::unique_ptr<FrameSealer> sealer;
  std::unique_ptr<FrameOpener> opener;
  Bytes rx;              // received bytes not yet forming a whole frame
  Bytes plain;           // records waiting to be sealed (first byte: codec)
  Bytes out;             // sealed bytes waiting for flush()
  SendQueue sendq;       // app messages waiting for room in the write window
  size_t in_flight = 0;  // handed to the driver, not yet written
  PublicKey peer{};
  uint16_t peer_listen_port = 0;
  uint32_t next_id = 1;
  uint32_t ping_id = 0;  // outstanding liveness PING
  int64_t ping_sent_us = 0;
  int64_t last_ping_us = 0;
  int64_t rtt_us = -1;
  TokenBucket shout_tokens;  // SHOUTs arriving on this link
  TokenBucket relay_tokens;  // relay requests arriving on this link
  int misbehaviour = 0;
  bool dirty = false;
  bool closed = false;
  bool penalize_on_close = true;
  bool content = false;  // the peer speaks CONTENT_SHOUT (option 3 offered or ACKed)
  // Our content offer, while its answer is awaited (0: none). CONTENT_SHOUT
  // records meant for the link wait in content_wait until the answer: sent
  // on ACK, dropped on NACK (the peer will never take them).
  uint32_t content_offer_id = 0;
  std::vector<Bytes> content_wait;
  size_t content_wait_bytes = 0;
  // CONTENT_SHOUT may go here: the peer speaks it, or may once it answers.
  bool content_possible() const { return content || content_offer_id != 0; }
  // Replaced by a newer link to the same peer (duplicate tie-break): no new
  // traffic goes here, but answers to requests already sent still arrive
  // until it closes, duplicate_link_grace_ms after this time.
  std::optional<int64_t> superseded_us;
  // Compression (spec/compression.md): bit s = setting s.
  uint8_t compress_we_acked = 0;    // the peer offered it and we ACKed: we accept it
  uint8_t compress_peer_acked = 0;  // we offered it and the peer ACKed
  std::optional<uint8_t> peer_preferred;
  std::optional<compression::Method> tx_codec;  // what we compress with now
  int incompressible_streak = 0;
  int skip_compression = 0;  // frames to send plain before trying again

  uint32_t take_id() {
    uint32_t v = next_id++;
    if (next_id == 0) next_id = 1;
    return v;
  }
  // Bytes on their way to the socket: what the write window bounds.
  size_t unwritten() const { return in_flight + out.size() + plain.size(); }
  size_t queued() const { return unwritten() + sendq.bytes(); }
};

}  // namespace chorus::overlay
