// PeerTokens: the write tokens other nodes gave us, kept to write again.
//
// A write token (spec/dht.md §5.3) names who asked and from which address,
// not a key, and its issuer accepts it for at least one rotation period. So
// a put that already holds a replica's token can send it the STORE in place
// of the FIND_NODE of its lookup's last round: one RPC where there were two
// (DhtCore::pump). A token is used for half a rotation period after
// it arrived; one refused as stale is dropped, and that replica is asked the
// usual way. Bounded: when full, the oldest token makes room. Not
// thread-safe (one per core).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

#include "chorus/dht/types.h"

namespace chorus::dht {

class PeerTokens {
 public:
  // Keeps at most `capacity` tokens (0: none), each usable for fresh_ms.
  PeerTokens(size_t capacity, int64_t fresh_ms);

  // The token `id` gave us at now_ms, replacing any older one.
  void put(const NodeId& id, const WriteToken& token, int64_t now_ms);
  // Its token, while still fresh.
  std::optional<WriteToken> fresh(const NodeId& id, int64_t now_ms) const;
  // Forgets its token (it was refused).
  void drop(const NodeId& id);
  size_t size() const { return tokens_.size(); }

 private:
  struct Entry {
    WriteToken token;
    int64_t got_ms;
  };
  size_t capacity_;
  int64_t fresh_ms_;
  std::map<NodeId, Entry> tokens_;
};

}  // namespace chorus::dht
