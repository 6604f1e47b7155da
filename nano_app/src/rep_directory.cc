#include "chorus/nano/rep_directory.h"

#include <algorithm>
#include <set>

namespace chorus::nano {

RepDirectory::RepDirectory(RepDirectoryConfig config) : config_(config) {}

std::vector<PublicKey> RepDirectory::due(const std::vector<PublicKey>& by_weight, int64_t now_ms) {
  const size_t followed = std::min(by_weight.size(), config_.max_reps);
  const std::set<PublicKey> keep(by_weight.begin(), by_weight.begin() + followed);
  std::erase_if(entries_, [&](const auto& e) { return keep.count(e.first) == 0; });
  std::vector<PublicKey> out;
  for (size_t i = 0; i < followed && out.size() < config_.max_lookups; ++i) {
    Entry& e = entries_[by_weight[i]];
    if (e.next_lookup_ms > now_ms) continue;
    e.next_lookup_ms = now_ms + config_.retry_ms;
    out.push_back(by_weight[i]);
  }
  return out;
}

void RepDirectory::found(const PublicKey& account, const std::vector<RepRecord>& records,
                         int64_t now_ms) {
  auto it = entries_.find(account);
  if (it == entries_.end()) return;  // no longer followed
  Entry& e = it->second;
  for (const RepRecord& r : records) {
    if (r.account != account) continue;
    if (!e.record || r.seq > e.record->seq) e.record = r;
  }
  e.next_lookup_ms = now_ms + (e.record ? config_.refresh_ms : config_.retry_ms);
}

std::optional<PublicKey> RepDirectory::host_of(const PublicKey& account) const {
  auto it = entries_.find(account);
  if (it == entries_.end() || !it->second.record) return std::nullopt;
  return it->second.record->node;
}

std::vector<PublicKey> RepDirectory::hosts(const std::vector<PublicKey>& by_weight,
                                           size_t n) const {
  std::vector<PublicKey> out;
  for (const PublicKey& rep : by_weight) {
    if (out.size() >= n) break;
    auto host = host_of(rep);
    if (host && std::find(out.begin(), out.end(), *host) == out.end()) out.push_back(*host);
  }
  return out;
}

}  // namespace chorus::nano
