#include "chorus/dht/peer_tokens.h"

#include <algorithm>

namespace chorus::dht {

PeerTokens::PeerTokens(size_t capacity, int64_t fresh_ms)
    : capacity_(capacity), fresh_ms_(fresh_ms) {}

void PeerTokens::put(const NodeId& id, const WriteToken& token, int64_t now_ms) {
  if (capacity_ == 0) return;
  auto it = tokens_.find(id);
  if (it != tokens_.end()) {
    it->second = Entry{token, now_ms};
    return;
  }
  if (tokens_.size() >= capacity_) {
    // A linear scan, only when a new peer arrives at a full table: cheaper
    // than keeping a second index in step for a few hundred entries.
    auto oldest = std::min_element(
        tokens_.begin(), tokens_.end(),
        [](const auto& a, const auto& b) { return a.second.got_ms < b.second.got_ms; });
    tokens_.erase(oldest);
  }
  tokens_.emplace(id, Entry{token, now_ms});
}

std::optional<WriteToken> PeerTokens::fresh(const NodeId& id, int64_t now_ms) const {
  auto it = tokens_.find(id);
  if (it == tokens_.end() || now_ms - it->second.got_ms >= fresh_ms_) return std::nullopt;
  return it->second.token;
}

void PeerTokens::drop(const NodeId& id) {
  tokens_.erase(id);
}

}  // namespace chorus::dht
