#include "relay_table.h"

#include "node_core_internal.h"

namespace chorus::overlay {

void RelayTable::put(LinkId to_link, uint32_t to_id, const Entry& e) {
  entries_[detail::link_msg_key(to_link, to_id)] = e;
}

std::optional<RelayTable::Entry> RelayTable::take(LinkId link, uint32_t id) {
  auto it = entries_.find(detail::link_msg_key(link, id));
  if (it == entries_.end()) return std::nullopt;
  Entry e = it->second;
  entries_.erase(it);
  return e;
}

std::vector<RelayTable::Entry> RelayTable::end_link(LinkId link) {
  std::vector<Entry> failed;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool to_it = (it->first >> 32) == link;
    if (to_it) failed.push_back(it->second);
    if (to_it || it->second.from_link == link) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return failed;
}

std::vector<RelayTable::Entry> RelayTable::take_expired(int64_t now_us) {
  std::vector<Entry> late;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.deadline_us <= now_us) {
      late.push_back(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return late;
}

std::optional<int64_t> RelayTable::earliest_deadline() const {
  std::optional<int64_t> first;
  for (const auto& [k, e] : entries_) {
    if (!first || e.deadline_us < *first) first = e.deadline_us;
  }
  return first;
}

}  // namespace chorus::overlay
