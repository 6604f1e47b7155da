// chorus::dht::Reach — WHISPER to any node by its key, not only to direct
// peers (issue 5).
//
//   auto node = overlay::Node::create(...);
//   auto dht = dht::Dht::create(**node, {});
//   auto reach = dht::Reach::create(**node, **dht);   // before node->start()
//   (*node)->start(); (*dht)->start(); (*reach)->start();
//   (*reach)->request(7, someone, payload, 10000, [](Result<Bytes> reply) { ... });
//
// Publishing. Each node publishes a node record (node_record.h) in the DHT,
// signed with its key: its listen address, or — initiate-only — the relays
// (listening peers) it is linked to. It is republished every
// republish_interval_ms (before the TTL ends) and, for an initiate-only
// node, whenever its set of relays changes.
//
// Sending. whisper / request to `to` (the decisions are ReachCore's,
// reach_core.h; this class is its libuv driver):
//   1. a direct peer: sent at once (end-to-end encrypted);
//   2. a route cached from an earlier send (RouteCacheOptions: bounded, with
//      a TTL; dropped when a newer record is seen or a send over it fails,
//      then one fresh lookup and retry): no DHT get;
//   3. otherwise the record under node_record_key(to) (signature checked):
//      a listening node is dialled (Node::connect) and sent to directly; an
//      initiate-only node is reached through one of its relays (relays we
//      are already linked to first; on a refusal the next one is tried);
//   4. no record: a DHT lookup of to's id; a contact with that key (DHT
//      port = overlay listen port) is dialled directly.
// Everything is sealed to `to` (crypto_box): a relay sees only ciphertext.
//
// Errors. kNotFound: no record and no contact for `to`; kTimeout: a request
// got no response in time, or a link did not come up in time; kRefused:
// the relay or the target refused (the reason says which and why: relaying
// off, target gone, limits, unknown app); kIo: no route could be dialled;
// kCancelled: Reach not started yet, or Reach, the node or the DHT stopped;
// kLimit: max_operations in progress; kTimeout also when a send outlived
// operation_deadline_ms; kInvalidArgument: `to` is us.
//
// Threads and lifetime: as dht::Dht (dht.h). Commands from any thread.
// Every callback fires exactly once: on the node's loop thread, never
// inside the call — except once the node is stopping or stopped, when
// there is no loop left to run it: then it fires with kCancelled on the
// calling thread (as Node's own commands do). stop() completes the sends in
// progress with kCancelled. Create before the node starts, start() after
// the Dht's start(), destroy before the node and the Dht.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "chorus/base/result.h"
#include "chorus/dht/dht.h"
#include "chorus/dht/node_record.h"
#include "chorus/dht/route_cache.h"
#include "chorus/overlay/node.h"

namespace chorus::dht {

struct ReachOptions {
  bool publish = true;                      // publish our own record
  uint32_t record_ttl_s = 600;              // how long replicas keep it
  int64_t republish_interval_ms = 300'000;  // well before the TTL ends
  size_t max_relays = 4;                    // relays an initiate-only node names (<= 8)
  size_t max_operations = 256;              // sends in progress; beyond, kLimit
  int64_t operation_deadline_ms = 60'000;   // a send's whole life (+ a request's timeout)
  RouteCacheOptions route_cache{};          // resolved routes: bound and TTL
};

class Reach {
 public:
  // Before node.start() (kInvalidArgument after): registers loop hooks.
  static Result<std::unique_ptr<Reach>> create(overlay::Node& node, Dht& dht,
                                               ReachOptions options = {});
  ~Reach();
  Reach(const Reach&) = delete;
  Reach& operator=(const Reach&) = delete;

  // After dht.start(): starts publishing. kInvalidArgument when already
  // started or on the loop thread.
  Result<void> start();
  // Idempotent; sends in progress complete with kCancelled, and so do
  // later ones.
  void stop();

  // Publishes our record now and reports the put's result (kNotFound when
  // there is nothing to publish yet: initiate-only and no relay linked).
  void publish(std::function<void(Result<void>)> done);

  void whisper(overlay::AppId app, const PublicKey& to, Bytes payload,
               overlay::WhisperCallback done);
  void request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
               overlay::ReplyCallback done);

 private:
  struct Impl;
  explicit Reach(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::dht
