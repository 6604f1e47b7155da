// PairKeyCache: the sealing key of a pair of identities, computed once for
// both ends when both live in one process.
//
// A DHT datagram is sealed with crypto_box under the X25519 key of sender
// and recipient, and that key is the same at both ends. In a simulator or a
// swarm of thousands of nodes in one process, nearly every RPC is a new
// pair, so each end paid for the same scalar multiplication (tens of
// microseconds, the largest cost of a simulated lookup). The first end now
// leaves the key here and the second takes it.
//
// Only codecs of local identities read or write it, and a codec asks only
// for pairs that include its own key, so it learns nothing it could not
// compute itself. Bounded, first in first out; keys are wiped when they
// leave. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "chorus/dht/types.h"

namespace chorus::dht {

class PairKeyCache {
 public:
  using SharedKey = std::array<uint8_t, 32>;

  explicit PairKeyCache(size_t capacity = 1 << 16);
  ~PairKeyCache();
  PairKeyCache(const PairKeyCache&) = delete;
  PairKeyCache& operator=(const PairKeyCache&) = delete;

  // The key of {self, peer} if either end left it here.
  std::optional<SharedKey> find(const PublicKey& self, const PublicKey& peer) const;
  // Leaves the key of {self, peer}; the oldest pair goes when full.
  void insert(const PublicKey& self, const PublicKey& peer, const SharedKey& key);

  size_t size() const;
  size_t capacity() const { return capacity_; }
  uint64_t hits() const;

 private:
  struct Table;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unique_ptr<Table> table_;
  mutable uint64_t hits_ = 0;
};

}  // namespace chorus::dht
