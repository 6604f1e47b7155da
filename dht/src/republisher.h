// Republisher (spec/dht.md §7.7): keeps alive what this node itself put,
// not what it stores for others (that would revive replaced values and
// keep signed values alive forever).
//
// Every republish_interval_ms the keys of our own puts still alive are
// queued; DhtCore starts a RepublishOp for a few of them per housekeeping
// tick, only while it has room. A RepublishOp is a FIND_VALUE lookup that
// notes what each replica holds, then pushes only what a replica lacks: a
// value id a replica holds may have been replaced by someone since we put
// it, and must not be overwritten.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "operation.h"

namespace chorus::dht {

class Republisher {
 public:
  explicit Republisher(const DhtConfig& config, int64_t now_ms);

  // Our own puts, remembered (within max_republished_keys and, per key,
  // store.max_values_per_key) until their TTL runs out.
  void remember_put(const Key& key, const Value& value, int64_t now_ms);
  void remember_signed(const Key& key, const SignedValue& value, int64_t now_ms);

  // Queues every key we own once an interval has passed.
  void begin_interval_if_due(int64_t now_ms);
  // How many republish lookups may start this tick.
  size_t per_tick() const { return per_tick_; }
  // The next queued key we still own; nullopt when the queue is empty.
  std::optional<Key> next_due();

 private:
  friend class RepublishOp;
  // What we put ourselves and still want kept.
  struct OwnPut {
    std::map<uint64_t, std::pair<Value, int64_t>> values;  // id → (value, expires_ms)
    std::optional<std::pair<SignedValue, int64_t>> signed_value;
  };
  void prune(int64_t now_ms);
  OwnPut* slot(const Key& key, int64_t now_ms);
  OwnPut* find(const Key& key);

  const DhtConfig& config_;
  std::map<Key, OwnPut> own_;
  std::deque<Key> queue_;  // keys due, drained a few per tick
  size_t per_tick_ = 0;    // for this interval's queue
  int64_t next_interval_ms_ = 0;
};

class RepublishOp final : public Operation {
 public:
  // FIND_VALUE, to see what each replica already holds.
  explicit RepublishOp(const Key& target) : Operation(target, true) {}
  OpKind kind() const override { return OpKind::kRepublish; }
  void on_found(OpHost& host, const NodeId& from, const FoundReply& reply,
                const std::vector<const SignedValue*>& good) override;
  void on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) override;

 private:
  // What each replica reported holding.
  struct Held {
    std::set<uint64_t> ids;
    uint64_t own_seq = 0;
    bool has_own_signed = false;
  };
  std::map<NodeId, Held> held_;
  std::set<uint64_t> replaced_;  // our value ids a replica holds other data under
};

}  // namespace chorus::dht
