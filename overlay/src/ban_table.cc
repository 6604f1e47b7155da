#include "ban_table.h"

#include <algorithm>

namespace chorus::overlay {

void BanTable::place(const PublicKey& key, int64_t until_us) {
  auto it = bans_.find(key);
  if (it == bans_.end() && bans_.size() >= max_) {
    // Full: the ban that would end first makes room (expired ones first of all).
    auto first = std::min_element(bans_.begin(), bans_.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
    bans_.erase(first);
  }
  bans_[key] = until_us;
}

bool BanTable::lift(const PublicKey& key, int64_t now_us) {
  auto it = bans_.find(key);
  if (it == bans_.end() || it->second <= now_us) return false;
  bans_.erase(it);
  return true;
}

void BanTable::expire(int64_t now_us) {
  std::erase_if(bans_, [now_us](const auto& b) { return b.second <= now_us; });
}

std::optional<int64_t> BanTable::next_end_after(int64_t now_us) const {
  std::optional<int64_t> next;
  for (const auto& [key, until] : bans_) {
    if (until > now_us && (!next || until < *next)) next = until;
  }
  return next;
}

}  // namespace chorus::overlay
