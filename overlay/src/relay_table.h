// RelayTable: as a relay, the WHISPERs this node passed on and still owes
// an answer for: keyed by the link to the target and the id we gave the
// message there, each says where the ACK or NACK goes back (the origin's
// link and its id) and until when we wait. At most max_relay_pending.
//
// Why it exists: a relay keeps no other state about what it carries; this
// table is all of it, and the only thing that ties an answer on one link to
// a message on another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "chorus/overlay/node_core.h"

namespace chorus::overlay {

class RelayTable {
 public:
  struct Entry {
    LinkId from_link = 0;
    uint32_t from_id = 0;
    int64_t deadline_us = 0;
  };

  explicit RelayTable(size_t max_entries) : max_(max_entries) {}

  bool empty() const { return entries_.empty(); }
  bool full() const { return entries_.size() >= max_; }
  // Message `to_id` on link `to_link` carries a WHISPER relayed for `e`.
  void put(LinkId to_link, uint32_t to_id, const Entry& e);
  // Removes and returns the entry that message `id` on `link` answers.
  std::optional<Entry> take(LinkId link, uint32_t id);
  // `link` closed: forgets entries to and from it; returns those relayed to
  // it (their origins wait for an answer).
  std::vector<Entry> end_link(LinkId link);
  // Removes and returns the entries whose deadline passed.
  std::vector<Entry> take_expired(int64_t now_us);
  std::optional<int64_t> earliest_deadline() const;

 private:
  size_t max_;
  std::unordered_map<uint64_t, Entry> entries_;  // (target link << 32 | id on it)
};

}  // namespace chorus::overlay
