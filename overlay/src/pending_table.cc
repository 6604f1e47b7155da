#include "pending_table.h"

#include <algorithm>

#include "chorus/overlay/message.h"
#include "node_core_internal.h"

namespace chorus::overlay {

void PendingTable::put(LinkId link, uint32_t id, const Entry& e) {
  entries_[detail::link_msg_key(link, id)] = e;
}

PendingTable::Entry* PendingTable::find(LinkId link, uint32_t id) {
  auto it = entries_.find(detail::link_msg_key(link, id));
  return it == entries_.end() ? nullptr : &it->second;
}

void PendingTable::erase(LinkId link, uint32_t id) {
  entries_.erase(detail::link_msg_key(link, id));
}

std::optional<int64_t> PendingTable::earliest_deadline() const {
  std::optional<int64_t> first;
  for (const auto& [k, e] : entries_) {
    if (!first || e.deadline_us < *first) first = e.deadline_us;
  }
  return first;
}

uint8_t PendingTable::acked_opcode(int kind) {
  switch (kind) {
    case kPingCommand:
      return static_cast<uint8_t>(Opcode::kPing);
    case kSpeakAck:
      return static_cast<uint8_t>(Opcode::kSpeak);
    default:
      return static_cast<uint8_t>(Opcode::kWhisper);
  }
}

bool PendingTable::remove_token(Token token) {
  if (token == 0) return false;
  size_t removed = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.token == token) {
      it = entries_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  auto g = group_left_.find(token);
  const bool completed = g != group_left_.end() && (g->second & kGroupFailed) != 0;
  if (g != group_left_.end()) group_left_.erase(g);
  return removed > 0 && !completed;
}

bool PendingTable::settle(Token token, bool ok) {
  auto g = group_left_.find(token);
  if (g == group_left_.end()) return token != 0;
  // A SPEAK-to-all completes once: on its first failure or its last ACK.
  // Its entry stays, marked failed, until every addressee has answered, so
  // answers after a failure are swallowed instead of completing it again.
  const bool failed_before = (g->second & kGroupFailed) != 0;
  const size_t left = (g->second & ~kGroupFailed) - 1;
  if (left == 0) {
    group_left_.erase(g);
  } else {
    g->second = left | (failed_before || !ok ? kGroupFailed : 0);
  }
  return !(failed_before || (ok && left > 0));
}

}  // namespace chorus::overlay
