// BanTable: the keys this node refuses, each until a time (virtual, the
// core's clock), at most max_bans of them.
//
// Why it exists: a ban must outlive the link whose misbehaviour caused it
// (a score lives on its link; a banned peer must not reconnect and start
// afresh), so it is state of its own, keyed by the peer's public key, that
// the handshake (refusal at HELLO), the dialler and the timers consult.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "chorus/overlay/identity.h"

namespace chorus::overlay {

class BanTable {
 public:
  explicit BanTable(size_t max_bans) : max_(max_bans) {}

  bool is_banned(const PublicKey& key, int64_t now_us) const {
    auto it = bans_.find(key);
    return it != bans_.end() && it->second > now_us;
  }
  // When the ban on `key` ends (expired or not), if there is one.
  std::optional<int64_t> until(const PublicKey& key) const {
    auto it = bans_.find(key);
    if (it == bans_.end()) return std::nullopt;
    return it->second;
  }
  // Bans `key` until `until_us` (a new expiry for a key banned already).
  // When full, the ban that ends first makes room.
  void place(const PublicKey& key, int64_t until_us);
  // Lifts an unexpired ban; false when `key` is not banned at `now_us`.
  bool lift(const PublicKey& key, int64_t now_us);
  // Forgets bans that have ended.
  void expire(int64_t now_us);
  // The earliest end of a ban still running after `now_us`.
  std::optional<int64_t> next_end_after(int64_t now_us) const;
  size_t size() const { return bans_.size(); }

 private:
  struct KeyHash {
    size_t operator()(const PublicKey& k) const {
      size_t h;
      std::memcpy(&h, k.data(), sizeof h);
      return h;
    }
  };
  size_t max_;
  std::unordered_map<PublicKey, int64_t, KeyHash> bans_;
};

}  // namespace chorus::overlay
