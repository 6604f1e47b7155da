// ValueStore: what one DHT node keeps for others, with every rule a storing
// node enforces (spec/dht.md §5). No I/O; time comes in as milliseconds.
//
// Per key it holds
//   * plain values (several, by value id) each with its own expiry;
//   * signed values, one per owner, replaced only by a higher sequence;
//   * one versioned value (CAS and diffs) and the version before it, so a
//     failed write can be undone and a diff against the previous base seen;
//   * one lock: holder, fencing token (only grows), lease expiry; a free
//     lock is forgotten with its key, its token kept in one store-wide floor
//     that every later grant exceeds, so memory stays bounded;
//   * listeners (who to NOTIFY on change), bounded.
// Bounds: value size, values per key, total bytes, bytes per source key,
// listeners per key, leases held at once. A full store refuses new data (kFull); it never drops
// what it already accepted before that data expires.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "chorus/dht/config.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

// The outcome of one write: refusal kNone on success. `number` is the new
// version (CAS, diff, repair), the fencing token (lock) or, on kConflict /
// kMissingBase, our current version; `remaining_ms` the lease left.
struct StoreOutcome {
  Refusal refusal = Refusal::kNone;
  uint64_t number = 0;
  int64_t remaining_ms = 0;
  bool changed = false;  // listeners should be told
  bool ok() const { return refusal == Refusal::kNone; }
};

// Everything stored under one key, as FIND_VALUE returns it.
struct Snapshot {
  std::vector<Value> values;  // ttl_s = what is left
  std::vector<SignedValue> signed_values;
  std::optional<VersionedValue> versioned;
  std::optional<LockState> lock;
  bool empty() const { return values.empty() && signed_values.empty() && !versioned && !lock; }
};

struct Listener {
  Contact contact;
  int64_t expires_ms = 0;
};

class ValueStore {
 public:
  explicit ValueStore(StoreLimits limits);
  ~ValueStore();
  ValueStore(ValueStore&&) noexcept;
  ValueStore& operator=(ValueStore&&) noexcept;

  // `source` is the authenticated sender (for the per-source quota).
  StoreOutcome put(const Key& key, const Value& value, const PublicKey& source, int64_t now_ms);
  // Verifies the signature (kBadSignature) before anything else.
  StoreOutcome put_signed(const Key& key, const SignedValue& value, int64_t now_ms);

  // Acquire (free or expired lease: a new token, max(last + 1, min_token),
  // where last is the larger of the key's last token and lock_floor()),
  // renew (same owner, unexpired: expiry moves, token kept unless
  // min_token is larger) or refuse with kLockHeld and the time left.
  StoreOutcome lock(const Key& key, const Owner& owner, int64_t lease_ms, uint64_t min_token,
                    int64_t now_ms);
  // Releases when owner and token match (kNotHolder otherwise). The next
  // holder's token is still larger: the key's counter, or once the key is
  // dropped the floor, remembers this one.
  StoreOutcome unlock(const Key& key, const Owner& owner, uint64_t token, int64_t now_ms);

  StoreOutcome compare_and_set(const Key& key, const Owner& writer, uint64_t expected_version,
                               ByteView data, uint32_t ttl_s, const PublicKey& source,
                               int64_t now_ms);
  // kMissingBase when we do not hold base_version (number = our version),
  // kConflict when our version is past it, kBadHash when the result does not
  // hash (BLAKE2b-256) to result_hash, kMalformed for a bad patch.
  StoreOutcome apply_diff(const Key& key, const Owner& writer, uint64_t base_version,
                          ByteView patch, const Hash256& result_hash, uint32_t ttl_s,
                          const PublicKey& source, int64_t now_ms);
  // Keeps `value` if its version is above ours (read repair, republish).
  StoreOutcome repair(const Key& key, const VersionedValue& value, const PublicKey& source,
                      int64_t now_ms);
  // Undoes our current version if it is `version` written by `writer`.
  StoreOutcome abort(const Key& key, const Owner& writer, uint64_t version, int64_t now_ms);

  // duration 0 removes the listener.
  StoreOutcome listen(const Key& key, const Contact& who, int64_t duration_ms, int64_t now_ms);
  std::vector<Listener> listeners(const Key& key, int64_t now_ms) const;

  Snapshot get(const Key& key, int64_t now_ms) const;
  // Keys holding data (for republish).
  std::vector<Key> keys() const;

  // Drops expired values, leases and listeners; frees their bytes.
  void expire(int64_t now_ms);

  size_t bytes_used() const { return bytes_used_; }
  size_t key_count() const { return entries_.size(); }
  size_t held_locks() const { return held_locks_; }
  // The largest token of any dropped key: every new grant is above it.
  uint64_t lock_floor() const { return lock_floor_; }
  const StoreLimits& limits() const { return limits_; }

 private:
  struct Entry;
  friend class ValueStoreAccess;
  StoreLimits limits_;
  std::map<Key, std::unique_ptr<Entry>> entries_;
  // Ordered, not hashed: sources pick their keys, so a hash table's buckets
  // would be theirs to collide.
  std::map<PublicKey, size_t> bytes_by_source_;
  size_t bytes_used_ = 0;
  size_t held_locks_ = 0;
  uint64_t lock_floor_ = 0;
  int64_t last_sweep_ms_ = std::numeric_limits<int64_t>::min();
};

}  // namespace chorus::dht
