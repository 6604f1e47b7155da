// chorus::dht::Dht — the DHT of one overlay node, on that node's loop.
//
//   auto node = overlay::Node::create(node_options);
//   auto dht = dht::Dht::create(**node, dht_options);   // before node->start()
//   (*node)->start();
//   (*dht)->start();                                     // binds UDP, bootstraps
//   (*dht)->put(dht::key_for("room/42"), {1, bytes, 600}, [](auto r) { ... });
//   (*dht)->stop();                                      // or let the destructor do it
//   (*node)->stop();
//
// What it is. A libuv driver around a DhtCore (dht_core.h, which holds every
// protocol decision): one UDP socket and one timer on the overlay node's
// loop thread, added through overlay::LoopHooks, so a node and its DHT share
// one thread and one key pair. The DHT's UDP port is the node's TCP listen
// port by default, so a peer's overlay listen address is also its DHT
// address.
//
// Ownership. The Dht borrows the Node: create it after the node and destroy
// it before. It may outlive a node's stop(): stopping the node stops the DHT
// too (its pending callbacks get kCancelled), after which every command
// fails with kCancelled.
//
// Threads. Commands may be called from any thread, including the loop
// thread (from inside a callback). Each callback runs exactly once, on the
// node's loop thread, never inside the call that started it — with one
// exception: a command issued after the node's loop has exited is cancelled
// on the calling thread. Callbacks must not block the loop. stats(),
// table_size() and driver_stats() are for the loop thread only (use
// node.post). start(), stop() and the destructor must not be called on the
// loop thread.
//
// Errors. Results use chorus::Result: kCancelled when stopped first,
// kTimeout when no replica answered, kRefused with the replica's reason
// (lock held, stale sequence, version conflict, ...), kNotFound for a get
// with nothing under the key, kLimit when too many operations are running
// (DhtConfig::max_operations).
//
// Locks and versioned writes belong to (this node's key, owner_tag()). The
// tag is drawn at random when the Dht is created (or set in DhtOptions) and
// stays for the Dht's lifetime, so two Dht instances on one key, or one
// process restarted with the same key file, never pass for each other's
// lock holder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/config.h"
#include "chorus/dht/events.h"
#include "chorus/dht/types.h"
#include "chorus/overlay/node.h"

namespace chorus::dht {

struct DhtOptions {
  DhtConfig config;
  // Where the UDP socket binds. nullopt: the overlay node's listen host and
  // port (same number, UDP); for an initiate-only node an ephemeral port on
  // 127.0.0.1 (0.0.0.0 when a bootstrap address is not loopback) and then
  // config.read_only is forced on (nobody could reach us to ask).
  std::optional<Address> listen;
  // UDP addresses of DHT nodes to bootstrap from at start() (for nodes run
  // by this library: the same host:port as their overlay listener).
  std::vector<Address> bootstrap;
  // Overlay peers that listen become DHT contacts (their key, their remote
  // host and the listen port they announced), as they come up.
  bool learn_from_overlay = true;
  // nullopt: random (see the header comment).
  std::optional<uint64_t> owner_tag;
};

// Counters of the UDP plumbing (the protocol's own are in DhtStats).
struct DhtDriverStats {
  uint64_t send_queued = 0;      // datagrams that waited for uv_udp_send
  uint64_t send_dropped = 0;     // over max_queued_send_bytes: dropped
  uint64_t send_errors = 0;      // the OS refused the datagram
  uint64_t recv_errors = 0;      // recv callback errors
  uint64_t recv_truncated = 0;   // larger than the 64 KiB buffer: dropped
  size_t queued_send_bytes = 0;  // now
};

using Callback = std::function<void(Result<OpResult>)>;
// On kRefused (conflict, missing base), `current_version` is the newest
// version a replica reported; 0 otherwise.
using CasCallback = std::function<void(Result<OpResult>, uint64_t current_version)>;
using ListenCallback = std::function<void(const ListenEvent&)>;
using ListenHandle = uint64_t;  // 0 = none
using HoldHandle = uint64_t;    // 0 = none
// A hold's lock, as granted.
struct HoldGrant {
  uint64_t fencing_token = 0;  // larger than any earlier holder's
  int64_t remaining_ms = 0;    // how long the lease can be trusted, as granted
};

class Dht {
 public:
  // Beyond this many bytes waiting for the socket, datagrams are dropped
  // (and counted): the protocol retries, memory stays bounded.
  static constexpr size_t kMaxQueuedSendBytes = 4u << 20;

  // Registers with `node` (which must not be started yet: kInvalidArgument
  // otherwise). Nothing is bound until start().
  static Result<std::unique_ptr<Dht>> create(overlay::Node& node, DhtOptions options);
  // Stops (see stop()).
  ~Dht();
  Dht(const Dht&) = delete;
  Dht& operator=(const Dht&) = delete;

  // After node.start(): binds the UDP socket (kIo with the OS's reason),
  // then bootstraps from options.bootstrap and the overlay's current peers
  // in the background. kInvalidArgument when already started or stopped;
  // kTimeout when the node's loop does not run it within 10 s (the node was
  // not started).
  Result<void> start();
  // Idempotent. Cancels every pending callback (kCancelled), ends listens,
  // closes the socket; waits for the loop to have done so.
  void stop();

  // The bound UDP address (port resolved) once started.
  std::optional<Address> address() const;
  uint64_t owner_tag() const;

  // Asks a DHT node whose key we do not know, then looks up our own id
  // through it. Ok with the closest nodes found.
  void bootstrap(const Address& address, Callback done);
  // A lookup: ok with the k closest nodes to `target` (OpResult::closest).
  void find_node(const NodeId& target, Callback done);

  // Stores `value` at the k nodes closest to `key` (a value with the same
  // id replaces the old one); ok when at least one took it.
  void put(const Key& key, Value value, Callback done);
  // A value signed by this node; replicas keep the highest `seq` per owner
  // (kRefused "stale" for a lower one).
  void put_signed(const Key& key, Bytes data, uint64_t seq, uint32_t ttl_s, Callback done);
  // Everything under `key` (values, signed values, the versioned value);
  // kNotFound when there is nothing.
  void get(const Key& key, Callback done);

  // A lease of `lease_ms` held by a majority of the replicas. Ok with the
  // fencing token (OpResult::number, larger than any earlier holder's) and
  // valid_until_us (by this process's uv_hrtime clock, in microseconds) and
  // remaining_ms (the same as time left when the callback was called).
  void lock(const Key& key, int64_t lease_ms, Callback done);
  void renew(const Key& key, int64_t lease_ms, uint64_t token, Callback done);
  void release(const Key& key, uint64_t token, Callback done);

  // A lock held until release_hold(): renewed in the background before its
  // lease runs out, for as long as the replicas keep granting it (a relay
  // reserving a channel holds it for hours). `acquired` runs once: ok with
  // the fencing token, or the lock's error (then `lost` never runs). After
  // an ok, `lost` runs at most once: kRefused when a renewal was refused
  // (the replicas no longer hold our token), kTimeout when the trusted
  // lease ran out before a renewal reached a majority, kCancelled when the
  // Dht stopped (the lease then runs out at the replicas; release_hold()
  // before stop() frees it at once). Never after release_hold(). kLimit
  // beyond DhtConfig::max_holds.
  HoldHandle hold(const Key& key, int64_t lease_ms, std::function<void(Result<HoldGrant>)> acquired,
                  std::function<void(Error)> lost);
  // Stops renewing and releases the lock; `done` (optional) runs once the
  // replicas let go (as for release()), or at once with ok when there was
  // nothing to let go yet (a lock still being granted is released, silently,
  // when it is). Called on the loop thread, no callback of the hold runs
  // after it; from another thread it is posted, so one already under way
  // may still run. kNotFound for a handle that is not (or no longer) held.
  void release_hold(HoldHandle handle, Callback done = {});

  // Versioned value: ok (OpResult::number = the new version) only when a
  // majority held `expected_version` (0: no value yet).
  void compare_and_set(const Key& key, uint64_t expected_version, Bytes data, uint32_t ttl_s,
                       CasCallback done);
  // The same with a patch (patch.h) against `base_version`; replicas check
  // the result against `result_hash` (BLAKE2b-256 of the whole new value).
  void apply_diff(const Key& key, uint64_t base_version, Bytes patch, const Hash256& result_hash,
                  uint32_t ttl_s, CasCallback done);

  // Reports what is under `key` now, then every change, until cancel() or
  // stop(). `ended` (optional) runs once when the listen ends: kCancelled
  // after cancel()/stop(), or the reason it failed.
  ListenHandle listen(const Key& key, ListenCallback on_change,
                      std::function<void(Error)> ended = {});
  void cancel(ListenHandle handle);

  // Loop thread only.
  DhtStats stats() const;
  DhtDriverStats driver_stats() const;
  size_t table_size() const;

 private:
  struct Impl;
  explicit Dht(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with the node's hooks
};

}  // namespace chorus::dht
