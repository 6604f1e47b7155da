// The DHT's settings: every bound, interval and timeout, with its default.
//
// DhtConfig is what an application passes (through DhtOptions, dht.h) to
// tune its node; the defaults suit a public network of thousands of nodes.
// StoreLimits bound what this node stores for others, DatagramLimits the
// UDP datagrams it accepts (spec/dht.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace chorus::dht {

struct DatagramLimits {
  size_t max_datagram_bytes = 1400;       // fragment above this
  size_t max_message_bytes = 96 * 1024;   // a message larger is refused both ways
  size_t max_reassembly_bytes = 4 << 20;  // partial messages held at once
  int64_t reassembly_timeout_ms = 5000;
  int64_t replay_window_ms = 30'000;
  size_t max_seen_nonces = 1 << 16;
  size_t shared_key_cache = 256;
};

struct StoreLimits {
  size_t max_value_bytes = 64 * 1024;
  size_t max_values_per_key = 64;
  size_t max_total_bytes = 64u << 20;
  size_t max_bytes_per_source = 8u << 20;
  size_t max_listeners_per_key = 32;
  uint32_t max_ttl_s = 24 * 3600;
  int64_t max_lease_ms = 60'000;
  size_t max_held_locks = 65'536;  // unexpired leases at once; beyond, kFull
};

class ContactPool;
class PairKeyCache;

struct DhtConfig {
  size_t k = 20;
  size_t alpha = 3;
  int64_t rpc_timeout_ms = 1000;
  // A lookup stops waiting for a query once it has taken the usual round
  // trip plus four deviations (RFC 6298's estimator over every answered
  // RPC), but never sooner than this nor later than rpc_timeout_ms: a node
  // that left costs a lookup about a round trip, not the whole timeout. Its
  // answer still counts if it comes while the lookup runs.
  int64_t stall_floor_ms = 50;
  // A lookup ends with what it has after this long, however many named
  // contacts are still left to try (a hostile peer can name 64 dead ones).
  int64_t lookup_deadline_ms = 8000;
  size_t max_pending_rpcs = 4096;  // beyond, a new RPC fails at once
  size_t max_operations = 1024;    // commands in progress; beyond, kLimit
  // Maintenance.
  int64_t housekeeping_ms = 5000;             // expiry, token rotation, due work
  int64_t refresh_interval_ms = 15 * 60'000;  // lookup in buckets idle this long
  // Republish: every interval, our own puts still alive are pushed again to
  // the replicas that lack them, at most republish_per_tick lookups started
  // per housekeeping tick and only while fewer than half of max_operations
  // and of max_pending_rpcs are in use. At most max_republished_keys keys are
  // remembered; puts beyond are not republished.
  int64_t republish_interval_ms = 60 * 60'000;
  size_t republish_per_tick = 16;
  size_t max_republished_keys = 4096;
  int64_t token_rotate_ms = 5 * 60'000;  // tokens stay valid for two periods
  // Write tokens other nodes gave us, kept so that a put can STORE to a
  // replica in its lookup's last round instead of asking it FIND_NODE first
  // (peer_tokens.h). 0: none kept; every put waits for its lookup.
  size_t peer_tokens = 1024;
  // Locks: a node refuses grants this long after it started, so a restart
  // that forgot leases cannot grant a lease someone still holds.
  int64_t lock_grace_after_start_ms = 60'000;
  // A holder treats its lease as ended this fraction earlier than granted,
  // to absorb clock-rate differences and delay.
  double lease_safety = 0.1;
  // Lock, CAS and diff are refused by nodes that know k nodes closer to the
  // key than themselves (so a partitioned minority cannot form a majority of
  // strangers).
  bool check_responsible = true;
  int64_t listen_refresh_ms = 30'000;
  // Holds (hold()): at most this many at once (beyond, kLimit). A held lock
  // is renewed once half of the time it can still be trusted has passed, so
  // a renewal that times out has the other half to be retried in.
  size_t max_holds = 256;
  // Read-only: never put into other nodes' routing tables (initiate-only
  // nodes, NATed clients). It still asks questions and gets answers.
  bool read_only = false;
  StoreLimits store{};
  DatagramLimits datagram{};
  size_t max_candidates = 256;  // per lookup
  // Randomness: nullopt = OS, a value = reproducible (tests, simulator).
  std::optional<uint64_t> seed;
  // The routing table's contacts, shared with the other cores of one thread
  // (a simulator: one copy of each contact for all its tables). Null: the
  // core keeps its own.
  std::shared_ptr<ContactPool> contact_pool;
  // Sealing keys of pairs of identities, shared with the other cores of this
  // process so that two local nodes compute theirs once (pair_key_cache.h).
  // Null: each core computes its own.
  std::shared_ptr<PairKeyCache> pair_keys;
};

}  // namespace chorus::dht
