#include "chorus/dht/value_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "chorus/dht/patch.h"

namespace chorus::dht {

struct ValueStore::Entry {
  struct Plain {
    Value value;
    int64_t expires_ms = 0;
    PublicKey source{};
  };
  struct Signed {
    SignedValue value;
    int64_t expires_ms = 0;
  };
  struct Versioned {
    VersionedValue value;
    int64_t expires_ms = 0;
    PublicKey source{};
    // Empty for a repaired copy: only the writer of a CAS or diff may abort it.
    std::optional<Owner> writer;
  };
  struct Lock {
    Owner holder;
    uint64_t token = 0;  // the last token granted; never decreases
    int64_t expires_ms = 0;
    bool held = false;
  };

  std::map<uint64_t, Plain> values;
  std::map<PublicKey, Signed> signed_values;
  std::optional<Versioned> current;
  std::optional<Versioned> previous;
  Lock lock;
  std::map<PublicKey, Listener> listeners;

  size_t value_count() const { return values.size() + signed_values.size(); }
  uint64_t version() const { return current ? current->value.version : 0; }
  bool has_data() const { return !values.empty() || !signed_values.empty() || current; }
  // A free lock does not keep the entry: its last token goes into the
  // store's lock_floor_ when the entry is dropped, and every grant is above
  // that floor, so tokens under this key still only grow (spec §5.5).
  bool empty() const { return !has_data() && listeners.empty() && !lock.held; }
};

namespace {

StoreOutcome refuse(Refusal r, uint64_t number = 0, int64_t remaining_ms = 0) {
  StoreOutcome out;
  out.refusal = r;
  out.number = number;
  out.remaining_ms = remaining_ms;
  return out;
}

StoreOutcome accept(uint64_t number, bool changed) {
  StoreOutcome out;
  out.number = number;
  out.changed = changed;
  return out;
}

bool expired(int64_t expires_ms, int64_t now_ms) {
  return expires_ms <= now_ms;
}

// Rounded up, so a value that is still here never claims 0 seconds left.
uint32_t remaining_s(int64_t expires_ms, int64_t now_ms) {
  const int64_t left = expires_ms - now_ms;
  if (left <= 0) return 0;
  return static_cast<uint32_t>((left + 999) / 1000);
}

}  // namespace

ValueStore::ValueStore(StoreLimits limits) : limits_(limits) {}
ValueStore::~ValueStore() = default;
ValueStore::ValueStore(ValueStore&&) noexcept = default;
ValueStore& ValueStore::operator=(ValueStore&&) noexcept = default;

namespace {

int64_t expiry_for(uint32_t ttl_s, uint32_t max_ttl_s, int64_t now_ms) {
  return now_ms + int64_t{std::min(ttl_s, max_ttl_s)} * 1000;
}

}  // namespace

// The bookkeeping every write shares. Kept out of the header so the public
// class stays small.
class ValueStoreAccess {
 public:
  using Entry = ValueStore::Entry;

  static void charge(ValueStore& s, const PublicKey& source, size_t n) {
    if (n == 0) return;
    s.bytes_used_ += n;
    s.bytes_by_source_[source] += n;
  }
  static void release(ValueStore& s, const PublicKey& source, size_t n) {
    if (n == 0) return;
    s.bytes_used_ -= n;
    auto it = s.bytes_by_source_.find(source);
    it->second -= n;
    if (it->second == 0) s.bytes_by_source_.erase(it);
  }
  static size_t source_bytes(const ValueStore& s, const PublicKey& source) {
    auto it = s.bytes_by_source_.find(source);
    return it == s.bytes_by_source_.end() ? 0 : it->second;
  }
  // Whether `source` may add `add` bytes once `freed` bytes (of which
  // `freed_own` are its own) have been given back by the same write.
  static bool fits(const ValueStore& s, const PublicKey& source, size_t add, size_t freed,
                   size_t freed_own) {
    const size_t total = s.bytes_used_ - freed;
    const size_t own = source_bytes(s, source) - freed_own;
    return total + add <= s.limits_.max_total_bytes && own + add <= s.limits_.max_bytes_per_source;
  }

  static void purge(ValueStore& s, Entry& e, int64_t now_ms) {
    for (auto it = e.values.begin(); it != e.values.end();) {
      if (expired(it->second.expires_ms, now_ms)) {
        release(s, it->second.source, it->second.value.data.size());
        it = e.values.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = e.signed_values.begin(); it != e.signed_values.end();) {
      if (expired(it->second.expires_ms, now_ms)) {
        release(s, it->second.value.owner, it->second.value.data.size());
        it = e.signed_values.erase(it);
      } else {
        ++it;
      }
    }
    // Without a current value there is nothing to undo back to.
    if (e.current && expired(e.current->expires_ms, now_ms)) {
      drop(s, e.current);
      drop(s, e.previous);
    }
    if (e.previous && expired(e.previous->expires_ms, now_ms)) drop(s, e.previous);
    if (e.lock.held && expired(e.lock.expires_ms, now_ms)) {
      e.lock.held = false;
      --s.held_locks_;
    }
    for (auto it = e.listeners.begin(); it != e.listeners.end();) {
      if (expired(it->second.expires_ms, now_ms))
        it = e.listeners.erase(it);
      else
        ++it;
    }
  }
  static void drop(ValueStore& s, std::optional<Entry::Versioned>& v) {
    if (!v) return;
    release(s, v->source, v->value.data.size());
    v.reset();
  }

  // The entry for `key` with everything expired by `now_ms` already gone.
  static Entry& open(ValueStore& s, const Key& key, int64_t now_ms) {
    auto& slot = s.entries_[key];
    if (!slot) slot = std::make_unique<Entry>();
    purge(s, *slot, now_ms);
    return *slot;
  }
  // Refused requests must not leave empty entries behind.
  static void close(ValueStore& s, const Key& key) {
    auto it = s.entries_.find(key);
    if (it != s.entries_.end() && it->second->empty()) erase(s, it);
  }
  // Drops an empty entry; its lock counter lives on in the floor.
  static std::map<Key, std::unique_ptr<Entry>>::iterator erase(
      ValueStore& s, std::map<Key, std::unique_ptr<Entry>>::iterator it) {
    s.lock_floor_ = std::max(s.lock_floor_, it->second->lock.token);
    return s.entries_.erase(it);
  }

  // Makes `data` the new current version, keeping the old one for abort.
  static StoreOutcome write_version(ValueStore& s, const Key& key, Entry& e, uint64_t version,
                                    Bytes data, uint32_t ttl_s, std::optional<Owner> writer,
                                    const PublicKey& source, int64_t now_ms) {
    const size_t freed = e.previous ? e.previous->value.data.size() : 0;
    const size_t freed_own = e.previous && e.previous->source == source ? freed : 0;
    if (!fits(s, source, data.size(), freed, freed_own)) {
      const uint64_t current = e.version();
      close(s, key);  // may free `e`
      return refuse(Refusal::kFull, current);
    }
    drop(s, e.previous);
    e.previous = std::move(e.current);
    charge(s, source, data.size());
    Entry::Versioned v;
    v.value.version = version;
    v.value.data = std::move(data);
    v.value.ttl_s = std::min(ttl_s, s.limits_.max_ttl_s);
    v.expires_ms = expiry_for(ttl_s, s.limits_.max_ttl_s, now_ms);
    v.source = source;
    v.writer = writer;
    e.current = std::move(v);
    return accept(version, true);
  }
};

StoreOutcome ValueStore::put(const Key& key, const Value& value, const PublicKey& source,
                             int64_t now_ms) {
  using A = ValueStoreAccess;
  if (value.data.size() > limits_.max_value_bytes) return refuse(Refusal::kTooLarge);
  Entry& e = A::open(*this, key, now_ms);
  auto it = e.values.find(value.id);
  size_t freed = 0, freed_own = 0;
  if (it == e.values.end()) {
    if (e.value_count() >= limits_.max_values_per_key) {
      A::close(*this, key);
      return refuse(Refusal::kFull);
    }
  } else {
    freed = it->second.value.data.size();
    freed_own = it->second.source == source ? freed : 0;
  }
  if (!A::fits(*this, source, value.data.size(), freed, freed_own)) {
    A::close(*this, key);
    return refuse(Refusal::kFull);
  }
  const bool changed = it == e.values.end() || it->second.value.data != value.data;
  if (it != e.values.end()) A::release(*this, it->second.source, freed);
  A::charge(*this, source, value.data.size());
  Entry::Plain& slot = e.values[value.id];
  slot.value = value;
  slot.value.ttl_s = std::min(value.ttl_s, limits_.max_ttl_s);
  slot.expires_ms = expiry_for(value.ttl_s, limits_.max_ttl_s, now_ms);
  slot.source = source;
  return accept(0, changed);
}

StoreOutcome ValueStore::put_signed(const Key& key, const SignedValue& value, int64_t now_ms) {
  using A = ValueStoreAccess;
  if (!overlay::verify_signature(value.owner,
                                 signed_value_message(key, value.seq, value.ttl_s, value.data),
                                 value.signature))
    return refuse(Refusal::kBadSignature);
  if (value.data.size() > limits_.max_value_bytes) return refuse(Refusal::kTooLarge);
  Entry& e = A::open(*this, key, now_ms);
  const int64_t expires_ms = expiry_for(value.ttl_s, limits_.max_ttl_s, now_ms);
  auto it = e.signed_values.find(value.owner);
  size_t freed = 0;
  if (it != e.signed_values.end()) {
    const SignedValue& stored = it->second.value;
    if (value.seq < stored.seq) return refuse(Refusal::kStale, stored.seq);
    if (value.seq == stored.seq) {
      if (value.data != stored.data) return refuse(Refusal::kStale, stored.seq);
      // A republished copy keeps the value alive without changing it.
      it->second.expires_ms = std::max(it->second.expires_ms, expires_ms);
      return accept(stored.seq, false);
    }
    freed = stored.data.size();
  } else if (e.value_count() >= limits_.max_values_per_key) {
    A::close(*this, key);
    return refuse(Refusal::kFull);
  }
  // Signed values are charged to their owner: it is who chose to store them.
  if (!A::fits(*this, value.owner, value.data.size(), freed, freed)) {
    A::close(*this, key);
    return refuse(Refusal::kFull);
  }
  if (it != e.signed_values.end()) A::release(*this, value.owner, freed);
  A::charge(*this, value.owner, value.data.size());
  Entry::Signed& slot = e.signed_values[value.owner];
  // ttl_s stays as signed, or the signature would no longer verify for readers.
  slot.value = value;
  slot.expires_ms = expires_ms;
  return accept(value.seq, true);
}

StoreOutcome ValueStore::lock(const Key& key, const Owner& owner, int64_t lease_ms,
                              uint64_t min_token, int64_t now_ms) {
  using A = ValueStoreAccess;
  if (lease_ms <= 0) return refuse(Refusal::kMalformed);
  lease_ms = std::min(lease_ms, limits_.max_lease_ms);
  if (held_locks_ >= limits_.max_held_locks && now_ms > last_sweep_ms_) {
    // Leases run out without anyone touching their keys: count them out
    // before refusing (at most one sweep per millisecond of our clock).
    last_sweep_ms_ = now_ms;
    expire(now_ms);
  }
  Entry& e = A::open(*this, key, now_ms);
  Entry::Lock& l = e.lock;
  if (l.held && !(l.holder == owner))
    return refuse(Refusal::kLockHeld, l.token, l.expires_ms - now_ms);
  if (l.held) {
    const bool raised = min_token > l.token;
    if (raised) l.token = min_token;
    l.expires_ms = now_ms + lease_ms;
    StoreOutcome out = accept(l.token, raised);
    out.remaining_ms = lease_ms;
    return out;
  }
  const uint64_t last = std::max(l.token, lock_floor_);
  if (last == std::numeric_limits<uint64_t>::max()) {
    // Wrapping to a small token would let a stale holder through the fence.
    A::close(*this, key);
    return refuse(Refusal::kMalformed, last);
  }
  if (held_locks_ >= limits_.max_held_locks) {
    A::close(*this, key);  // may free `l`
    return refuse(Refusal::kFull, last);
  }
  // Above the floor too: this key's counter may have been dropped with its
  // entry, and the floor is at least every token so dropped.
  l.token = std::max(last + 1, min_token);
  l.holder = owner;
  l.expires_ms = now_ms + lease_ms;
  l.held = true;
  ++held_locks_;
  StoreOutcome out = accept(l.token, true);
  out.remaining_ms = lease_ms;
  return out;
}

StoreOutcome ValueStore::unlock(const Key& key, const Owner& owner, uint64_t token,
                                int64_t now_ms) {
  using A = ValueStoreAccess;
  auto found = entries_.find(key);
  if (found == entries_.end()) return refuse(Refusal::kNotHolder);
  Entry& e = A::open(*this, key, now_ms);
  Entry::Lock& l = e.lock;
  if (!l.held || !(l.holder == owner) || l.token != token) {
    const uint64_t current = l.token;
    A::close(*this, key);
    return refuse(Refusal::kNotHolder, current);
  }
  l.held = false;
  l.expires_ms = now_ms;
  --held_locks_;
  return accept(l.token, true);
}

StoreOutcome ValueStore::compare_and_set(const Key& key, const Owner& writer,
                                         uint64_t expected_version, ByteView data, uint32_t ttl_s,
                                         const PublicKey& source, int64_t now_ms) {
  using A = ValueStoreAccess;
  if (data.size() > limits_.max_value_bytes) return refuse(Refusal::kTooLarge);
  Entry& e = A::open(*this, key, now_ms);
  const uint64_t version = e.version();
  if (version != expected_version) {
    A::close(*this, key);
    return refuse(Refusal::kConflict, version);
  }
  if (version == std::numeric_limits<uint64_t>::max()) return refuse(Refusal::kMalformed, version);
  return A::write_version(*this, key, e, version + 1, Bytes(data.begin(), data.end()), ttl_s,
                          writer, source, now_ms);
}

StoreOutcome ValueStore::apply_diff(const Key& key, const Owner& writer, uint64_t base_version,
                                    ByteView patch, const Hash256& result_hash, uint32_t ttl_s,
                                    const PublicKey& source, int64_t now_ms) {
  using A = ValueStoreAccess;
  Entry& e = A::open(*this, key, now_ms);
  const uint64_t version = e.version();
  if (!e.current || version < base_version) {
    A::close(*this, key);
    return refuse(Refusal::kMissingBase, version);
  }
  if (version > base_version) return refuse(Refusal::kConflict, version);
  if (version == std::numeric_limits<uint64_t>::max()) return refuse(Refusal::kMalformed, version);
  auto result = apply_patch(e.current->value.data, patch, limits_.max_value_bytes);
  if (!result.ok())
    return refuse(
        result.error().code() == ErrorCode::kLimit ? Refusal::kTooLarge : Refusal::kMalformed,
        version);
  if (overlay::blake2b_256(*result) != result_hash) return refuse(Refusal::kBadHash, version);
  return A::write_version(*this, key, e, version + 1, std::move(result).value(), ttl_s, writer,
                          source, now_ms);
}

StoreOutcome ValueStore::repair(const Key& key, const VersionedValue& value,
                                const PublicKey& source, int64_t now_ms) {
  using A = ValueStoreAccess;
  if (value.data.size() > limits_.max_value_bytes) return refuse(Refusal::kTooLarge);
  Entry& e = A::open(*this, key, now_ms);
  const uint64_t version = e.version();
  if (value.version <= version) {
    A::close(*this, key);
    return accept(version, false);
  }
  return A::write_version(*this, key, e, value.version, value.data, value.ttl_s, std::nullopt,
                          source, now_ms);
}

StoreOutcome ValueStore::abort(const Key& key, const Owner& writer, uint64_t version,
                               int64_t now_ms) {
  using A = ValueStoreAccess;
  auto found = entries_.find(key);
  if (found == entries_.end()) return accept(0, false);
  Entry& e = A::open(*this, key, now_ms);
  if (!e.current || e.current->value.version != version || e.current->writer != writer) {
    const uint64_t current = e.version();
    A::close(*this, key);
    return accept(current, false);
  }
  A::drop(*this, e.current);
  e.current = std::move(e.previous);
  e.previous.reset();
  const uint64_t restored = e.version();
  A::close(*this, key);
  return accept(restored, true);
}

StoreOutcome ValueStore::listen(const Key& key, const Contact& who, int64_t duration_ms,
                                int64_t now_ms) {
  using A = ValueStoreAccess;
  if (duration_ms < 0) return refuse(Refusal::kMalformed);
  if (duration_ms == 0) {
    auto found = entries_.find(key);
    if (found == entries_.end()) return accept(0, false);
    Entry& e = A::open(*this, key, now_ms);
    e.listeners.erase(who.key);
    A::close(*this, key);
    return accept(0, false);
  }
  // A listener lives no longer than a value could.
  duration_ms = std::min(duration_ms, int64_t{limits_.max_ttl_s} * 1000);
  Entry& e = A::open(*this, key, now_ms);
  auto it = e.listeners.find(who.key);
  if (it == e.listeners.end() && e.listeners.size() >= limits_.max_listeners_per_key) {
    A::close(*this, key);
    return refuse(Refusal::kFull);
  }
  e.listeners[who.key] = Listener{who, now_ms + duration_ms};
  return accept(0, false);
}

std::vector<Listener> ValueStore::listeners(const Key& key, int64_t now_ms) const {
  std::vector<Listener> out;
  auto found = entries_.find(key);
  if (found == entries_.end()) return out;
  for (const auto& [id, l] : found->second->listeners)
    if (!expired(l.expires_ms, now_ms)) out.push_back(l);
  return out;
}

Snapshot ValueStore::get(const Key& key, int64_t now_ms) const {
  Snapshot snap;
  auto found = entries_.find(key);
  if (found == entries_.end()) return snap;
  const Entry& e = *found->second;
  for (const auto& [id, v] : e.values) {
    if (expired(v.expires_ms, now_ms)) continue;
    snap.values.push_back(v.value);
    snap.values.back().ttl_s = remaining_s(v.expires_ms, now_ms);
  }
  for (const auto& [owner, v] : e.signed_values)
    if (!expired(v.expires_ms, now_ms)) snap.signed_values.push_back(v.value);
  if (e.current && !expired(e.current->expires_ms, now_ms)) {
    snap.versioned = e.current->value;
    snap.versioned->ttl_s = remaining_s(e.current->expires_ms, now_ms);
  }
  const bool held = e.lock.held && !expired(e.lock.expires_ms, now_ms);
  if (held || e.lock.token > 0)
    snap.lock = LockState{e.lock.holder, e.lock.token, held ? e.lock.expires_ms - now_ms : 0};
  return snap;
}

std::vector<Key> ValueStore::keys() const {
  std::vector<Key> out;
  for (const auto& [key, e] : entries_)
    if (e->has_data()) out.push_back(key);
  return out;
}

void ValueStore::expire(int64_t now_ms) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    ValueStoreAccess::purge(*this, *it->second, now_ms);
    if (it->second->empty())
      it = ValueStoreAccess::erase(*this, it);
    else
      ++it;
  }
}

}  // namespace chorus::dht
