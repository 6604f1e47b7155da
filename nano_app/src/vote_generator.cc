#include "chorus/nano/vote_generator.h"

#include <algorithm>

#include "chorus/nano/keys.h"

namespace chorus::nano {

namespace {
constexpr uint8_t kNormalVoteDurationBits = 9;  // 8192 ms, as nano-node's representatives
}  // namespace

VoteGenerator::VoteGenerator(std::vector<PrivateKey> representatives, VoteGeneratorConfig config)
    : keys_(std::move(representatives)), config_(config) {
  for (const PrivateKey& k : keys_) public_keys_.push_back(public_key(k));
}

void VoteGenerator::forget_old_spacing(int64_t now_ms) {
  // Entries past their spacing decide nothing: drop them, which also bounds
  // the map by the requests of the last spacing_ms.
  for (auto it = spacing_.begin(); it != spacing_.end();)
    it = now_ms - it->second.last_ms >= config_.spacing_ms ? spacing_.erase(it) : std::next(it);
}

bool VoteGenerator::add(const QualifiedRoot& root, const BlockHash& hash, bool final,
                        int64_t now_ms) {
  if (keys_.empty() || queued() >= config_.max_queued) return false;
  if (spacing_.size() >= config_.max_queued) forget_old_spacing(now_ms);
  auto s = spacing_.find(root);
  if (s != spacing_.end() && s->second.hash != hash &&
      now_ms - s->second.last_ms < config_.spacing_ms)
    return false;
  spacing_[root] = Spaced{hash, now_ms};
  Batch& b = final ? final_ : normal_;
  if (std::find(b.hashes.begin(), b.hashes.end(), hash) != b.hashes.end()) return true;
  if (b.hashes.empty()) b.first_ms = now_ms;
  b.hashes.push_back(hash);
  return true;
}

void VoteGenerator::sign_batch(Batch& b, uint64_t timestamp, std::vector<Vote>& out) {
  while (!b.hashes.empty()) {
    const size_t n = std::min(b.hashes.size(), config_.max_hashes);
    std::vector<BlockHash> hashes(b.hashes.begin(),
                                  b.hashes.begin() + static_cast<std::ptrdiff_t>(n));
    b.hashes.erase(b.hashes.begin(), b.hashes.begin() + static_cast<std::ptrdiff_t>(n));
    for (size_t i = 0; i < keys_.size(); ++i) {
      Vote v;
      v.account = public_keys_[i];
      v.timestamp = timestamp;
      v.hashes = hashes;
      const BlockHash h = vote_hash(v);
      v.signature = sign(keys_[i], ByteView(h.data(), h.size()));
      out.push_back(std::move(v));
    }
  }
}

std::vector<Vote> VoteGenerator::sign_now(const std::vector<BlockHash>& hashes, bool final,
                                          uint64_t wall_ms) {
  std::vector<Vote> out;
  Batch b;
  b.hashes = hashes;
  sign_batch(b, final ? kFinalVoteTimestamp : pack_vote_timestamp(wall_ms, kNormalVoteDurationBits),
             out);
  return out;
}

std::vector<Vote> VoteGenerator::take_due(int64_t now_ms, uint64_t wall_ms) {
  std::vector<Vote> out;
  auto due = [&](const Batch& b) {
    return !b.hashes.empty() &&
           (b.hashes.size() >= config_.max_hashes || now_ms - b.first_ms >= config_.delay_ms);
  };
  if (due(normal_)) sign_batch(normal_, pack_vote_timestamp(wall_ms, kNormalVoteDurationBits), out);
  if (due(final_)) sign_batch(final_, kFinalVoteTimestamp, out);
  return out;
}

}  // namespace chorus::nano
