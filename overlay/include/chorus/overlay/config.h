// OverlayConfig: every bound and timer of a node, with its default.
// Units are in the names. All of these are read by the core; the driver
// reads only the listen settings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/compression/method.h"
#include "chorus/overlay/app_priority.h"

namespace chorus::overlay {

struct SocketAddress {
  std::string host;  // numeric IPv4 or IPv6
  uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const SocketAddress&) const = default;
  auto operator<=>(const SocketAddress&) const = default;
};

// "HOST:PORT" or "[V6]:PORT". kMalformed with the reason otherwise.
Result<SocketAddress> parse_socket_address(const std::string& text);

struct OverlayConfig {
  // Links. ℓ self-initiated links; more inbound ones are refused.
  size_t max_outbound_links = 8;
  size_t max_inbound_links = 64;
  std::vector<SocketAddress> bootstrap;
  // Port announced to peers so they can dial us (0 = initiate-only).
  uint16_t listen_port = 0;
  // The application's network (any bytes; empty = the default "chorus"
  // network). Carried in HELLO as a hash and covered by the handshake
  // signature: nodes of different networks (an app's test and live ones)
  // never link; both ends close with "handshake: network id mismatch".
  std::string network_id;

  // Framing and queues.
  size_t max_frame_bytes = 1 << 20;  // length prefix bound (ciphertext)
  // Offer AES-256-GCM for frames when the CPU has AES-NI (used only if the
  // peer offers it too; ChaCha20-Poly1305 otherwise).
  bool allow_aes_gcm = true;
  // Which library seals and opens frames: "" (measured at start, the
  // faster), "libsodium" or "openssl". The wire is the same either way;
  // set it to compare them or to rule one out.
  std::string frame_aead_library;
  size_t max_send_queue_bytes = 32u << 20;  // unwritten bytes per link before it is closed
  // Fair sending (spec/overlay.md, "Fair sending"): a link hands its socket
  // at most this many unwritten bytes; app messages beyond it wait in
  // per-app queues and go by priority (AppPriority) and turn. Smaller: a
  // high-priority message waits less behind bulk traffic; larger: more
  // throughput on links with a long round trip (it bounds bytes in flight).
  size_t link_write_window_bytes = 1u << 20;
  // What one app may have waiting on one link. Past it the app's message is
  // refused (kLimit for commands; a relayed SHOUT is dropped and counted),
  // so one app's backlog cannot make the link close for every other app.
  size_t max_app_queue_bytes = 8u << 20;
  size_t max_pending_requests = 4096;  // un-answered PING/WHISPER/SPEAK-ACK, per node

  // Timers.
  int64_t handshake_timeout_ms = 5000;
  int64_t ping_interval_ms = 5000;
  int64_t ping_timeout_ms = 15000;  // no answer to a PING for this long: peer is dead
  int64_t request_timeout_ms = 10000;
  int64_t reconnect_base_ms = 200;
  int64_t reconnect_max_ms = 30000;
  int64_t peer_exchange_interval_ms = 10000;
  int64_t rotate_interval_ms = 60000;  // 0 turns random link replacement off
  // When a second link to a peer wins the duplicate tie-break, the first
  // stays open this long for answers to requests already sent on it.
  int64_t duplicate_link_grace_ms = 2000;

  // Compression (spec/compression.md). The methods we offer each peer, in
  // our order of preference; empty turns compression off. Frames to a peer
  // use its preferred method if both ACKed it, else the first of ours both
  // ACKed. Default snappy alone, from `chorus bench compression`: on
  // incompressible traffic it costs nothing measurable, and batched small
  // messages go faster with it; the deflate family, lzma and bz2 cap a link
  // at 5-40 MB/s per core, worth it only on slow links, so they are opt-in.
  std::vector<compression::Method> compression = {compression::Method::kSnappy};
  std::optional<compression::Method> preferred_compression;  // what we want to receive
  size_t compression_threshold_bytes = 256;  // frames with fewer record bytes go plain
  size_t max_decompressed_bytes = 0;         // per frame; 0 = max_frame_bytes

  // Broadcast.
  uint8_t shout_hop_limit = 16;
  size_t seen_cache_entries = 1 << 16;
  int64_t seen_cache_age_ms = 10 * 60 * 1000;
  double shout_rate_per_s = 5000;  // per link, token bucket; excess SHOUTs are dropped
  double shout_burst = 20000;
  // Apps whose SHOUTs go on the epidemic broadcast tree (spec/overlay.md,
  // "Broadcast tree") instead of flooding: in steady state one full copy per
  // node instead of one per link, plus small id announcements on the other
  // links. Empty: every app floods (and the node offers the tree opcodes to
  // nobody, though it still answers peers that use them). Nodes with other
  // modes mix safely: links to peers without the tree opcodes always carry
  // full SHOUTs. Every node of a network should list the same apps, or the
  // flooding ones carry the duplicates the tree saves.
  std::vector<uint16_t> tree_shout_apps;
  // An announced SHOUT not received this long after the announcement: ask
  // the announcer for it (GRAFT). Above the spread of link latencies, or the
  // tree grafts copies that were on their way; it adds to the delivery time
  // only where a link of the tree broke.
  int64_t tree_graft_timeout_ms = 400;
  int64_t tree_graft_retry_ms = 200;  // then the next announcer, after this
  // A SHOUT announced this much before its full copy came: the announcer's
  // link joins the tree and the slow one leaves it. 0 = never.
  int64_t tree_swap_after_ms = 0;
  size_t tree_max_missing = 4096;         // announced, not yet received ids
  size_t tree_store_entries = 4096;       // SHOUTs kept to answer GRAFTs ...
  size_t tree_store_bytes = 16u << 20;    // ... at most this many bytes of them ...
  int64_t tree_store_age_ms = 60 * 1000;  // ... for at most this long
  double tree_graft_rate_per_s = 200;     // SHOUTs sent per link in answer to GRAFTs
  double tree_graft_burst = 400;

  // Content-addressed broadcast (spec/overlay.md, "Content-addressed
  // SHOUT"): apps whose payloads authenticate themselves (a signed block or
  // vote). Their SHOUTs carry no origin, signature or id; they are named by
  // the BLAKE2b-256 of the payload, so the same payload published by two
  // nodes is delivered once per node, and no hop checks a signature. They
  // travel only on links where both ends speak the form (option 3, offered
  // by nodes that list at least one such app); a node without it neither
  // receives nor relays them. Every node of a network should list the same
  // apps. The app must check what it gets (on_shout_verdict).
  std::vector<uint16_t> content_shout_apps;

  // Validate before forward (apps registered with a verdict handler): a
  // SHOUT waits, neither forwarded nor announced, until the app's verdict.
  // At most this many wait per node (more are dropped unforwarded and
  // counted in shout_verdicts_overflow) ...
  size_t max_pending_shout_verdicts = 4096;
  // ... and a verdict not given within this long counts as drop.
  int64_t shout_verdict_timeout_ms = 5000;

  // Relaying (spec/overlay.md, "Relay"): passing end-to-end encrypted
  // WHISPERs from one direct peer to another, so that initiate-only nodes
  // (which nobody can dial) are reachable through the nodes they link to.
  // The relay sees only ciphertext, forwards one hop at most, and refuses
  // (NACK) when switched off, when the target is not its peer, or past the
  // bounds below.
  bool relay_enabled = true;
  size_t max_relay_pending = 1024;  // relayed messages awaiting the target's answer, per node
  double relay_rate_per_s = 200;    // per arriving link, token bucket; excess is NACKed
  double relay_burst = 400;
  // Relayed WHISPERs a target remembers (origin, nonce) of, so a relay
  // replaying one cannot deliver it twice.
  size_t relay_seen_entries = 1 << 14;

  // Streams (spec/overlay.md, "Streams"): requests answered by a series of
  // DATA messages under credit. Each bound keeps what one peer can make us
  // hold small: an inbound stream costs a few dozen bytes plus what its app
  // keeps; the window bounds DATA queued or in flight per stream.
  // Streams a peer may have open to us on one link; one more is answered
  // END kLimit at once.
  size_t max_inbound_streams_per_peer = 16;
  // Streams this node may have open (opened by it), over all links.
  size_t max_outbound_streams = 256;
  // Most credit one stream may hold: the largest window open_stream takes,
  // and what a peer's OPEN and CREDIT may grant us (more is refused / a
  // protocol violation). Every node of a network should use the same.
  uint32_t max_stream_window = 256;
  // A stream with no DATA, CREDIT or other progress for this long ends on
  // both sides (kIdleTimeout): a stalled peer or app frees its slot.
  int64_t stream_idle_timeout_ms = 30'000;

  // Peers.
  size_t peer_book_entries = 2048;
  size_t peer_exchange_entries = 16;
  // Misbehaviour points a link may collect (spec/overlay.md, "Links"); at
  // this score the peer is disconnected and its key banned.
  int misbehaviour_limit = 100;
  // How long a key that reached misbehaviour_limit stays banned: refused at
  // its HELLO and never dialled. Long enough that a hostile peer's reconnect
  // loop costs it a handshake per attempt and us nothing more; short enough
  // that a peer that was merely buggy comes back after an upgrade.
  int64_t misbehaviour_ban_ms = 10 * 60 * 1000;
  // Banned keys remembered (misbehaviour and the app's ban()). When full, a
  // new ban replaces the one that expires first.
  size_t max_bans = 4096;

  // Seeded randomness for tests and simulations; nullopt in production.
  std::optional<uint64_t> seed;

  // kInvalidArgument naming the first field that makes no sense.
  Result<void> validate() const;
};

}  // namespace chorus::overlay
