// The plain types that chorus::overlay::Node's API and the sans-IO NodeCore
// share: the verdict an app gives on a SHOUT, what a node says about its
// links and its counters. Apps get them through node.h; this header exists so
// that node.h need not include the core (node_core.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"

namespace chorus::overlay {

// What an app that validates SHOUTs before they go on (register_app with
// validate_shouts) says about one: pass it on, drop it, or drop it and
// penalize the neighbour it came from (its misbehaviour score). kLater is
// for handlers only: "I answer later" (shout_verdict); the core refuses it.
enum class ShoutDecision : uint8_t { kForward, kDrop, kPenalize, kLater };

// One established link, as Node::peers() and NodeCore::peers() list it.
struct PeerInfo {
  PublicKey key;
  SocketAddress remote;
  bool outbound;
  uint16_t listen_port;  // the port it listens on (0: initiate-only)
  int64_t rtt_us;        // last PING round trip (0: none yet)
  size_t queued_bytes;   // waiting to be written to it
  // Content-addressed SHOUTs travel on the link (the connection option is
  // settled). Those made before wait (bounded) for the peer's answer and go
  // when it ACKs; a peer that NACKs never gets them.
  bool content_shouts = false;
};

// Counters of one node since it started (Node::stats(), NodeCore::stats()).
struct NodeStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t shouts_delivered = 0;
  uint64_t shouts_sent = 0;       // SHOUT messages queued to peers (origin and relays)
  uint64_t shout_bytes_sent = 0;  // their encoded bytes (before framing)
  uint64_t duplicates_dropped = 0;
  uint64_t shouts_rate_limited = 0;
  uint64_t bad_signatures = 0;
  uint64_t links_refused = 0;
  uint64_t banned_refused = 0;  // handshakes refused because the peer's key is banned
  uint64_t bans = 0;            // bans placed (misbehaviour and ban())
  uint64_t frames_compressed = 0;
  uint64_t bytes_before_compression = 0;  // of the frames that were compressed
  uint64_t bytes_after_compression = 0;
  // Relaying (as the relay): WHISPERs passed on, their carried bytes
  // (always ciphertext), and refusals.
  uint64_t relays_forwarded = 0;
  uint64_t relay_bytes_forwarded = 0;
  uint64_t relays_refused = 0;
  // As the target: relayed WHISPERs delivered, and replays dropped.
  uint64_t relayed_received = 0;
  uint64_t relayed_replays = 0;
  // Broadcast tree (spec/overlay.md, "Broadcast tree"): control messages
  // queued to peers and their encoded bytes. SHOUTs sent in answer to a
  // GRAFT are in shouts_sent / shout_bytes_sent too.
  uint64_t ihaves_sent = 0;
  uint64_t ihave_bytes_sent = 0;
  uint64_t grafts_sent = 0;
  uint64_t graft_bytes_sent = 0;
  uint64_t prunes_sent = 0;
  uint64_t prune_bytes_sent = 0;
  uint64_t grafts_answered = 0;  // SHOUTs sent because a peer GRAFTed
  uint64_t grafts_refused = 0;   // GRAFTed ids not held, sent before, or over the rate
  // Validate before forward: SHOUTs held for an app's verdict, and how they
  // ended (forwarded, dropped or penalized by the app, timed out, or not
  // held at all because max_pending_shout_verdicts were waiting).
  uint64_t shouts_held = 0;
  uint64_t shout_verdicts_forwarded = 0;
  uint64_t shout_verdicts_dropped = 0;
  uint64_t shout_verdicts_penalized = 0;
  uint64_t shout_verdicts_timed_out = 0;
  uint64_t shout_verdicts_overflow = 0;
  // Content-addressed SHOUTs that waited for a link's content option to be
  // answered, and those dropped from that wait (a NACK, or the wait full).
  uint64_t content_shouts_waited = 0;
  uint64_t content_shouts_wait_dropped = 0;
  // Fair sending: app messages that waited in a link's per-app queue (the
  // write window was full), and those refused because their app's queue on
  // that link was full (max_app_queue_bytes).
  uint64_t messages_queued = 0;
  uint64_t app_queue_refused = 0;
  // DIRECT messages sent and delivered, and those dropped on arrival
  // because no app of theirs is registered here.
  uint64_t directs_sent = 0;
  uint64_t directs_received = 0;
  uint64_t directs_unknown_app = 0;
};

}  // namespace chorus::overlay
