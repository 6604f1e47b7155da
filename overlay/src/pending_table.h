// PendingTable: the commands of NodeCore that wait for an answer from a
// peer (PING, WHISPER ACK, request response, SPEAK ACK), by the link and
// message id the answer will name; and the SPEAK-to-all groups whose one
// completion waits for several ACKs.
//
// Why it exists: matching answers, bounding what is in flight
// (max_pending_requests), timing out and failing everything on a closed
// link are one concern, apart from the protocol code that sends and
// receives. It emits nothing itself: callers turn what it returns into
// completions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "chorus/overlay/node_core.h"

namespace chorus::overlay {

class PendingTable {
 public:
  enum Kind : int { kPingCommand, kWhisperAck, kRequest, kSpeakAck };
  struct Entry {
    Token token = 0;
    int kind = 0;
    LinkId link = 0;
    int64_t sent_us = 0;
    int64_t deadline_us = 0;
    Hash256 expect{};
    // A request sent through a relay: only a response sealed by this key,
    // arriving relayed, completes it.
    std::optional<PublicKey> relayed_to;
  };

  explicit PendingTable(size_t max_entries) : max_(max_entries) {}

  size_t size() const { return entries_.size(); }
  // Room for `more` entries within max_pending_requests.
  bool has_room(size_t more = 1) const { return entries_.size() + more <= max_; }
  // Adds or replaces the entry for message `id` on `link` (the caller
  // checked has_room()).
  void put(LinkId link, uint32_t id, const Entry& e);
  // The entry answered by message `id` on `link`, or null.
  Entry* find(LinkId link, uint32_t id);
  void erase(LinkId link, uint32_t id);
  // Removes every entry on `link`, calling f(entry) for each.
  template <class F>
  void remove_link(LinkId link, F&& f);
  // Removes every entry whose deadline passed, calling f(entry) for each.
  template <class F>
  void remove_expired(int64_t now_us, F&& f);
  std::optional<int64_t> earliest_deadline() const;

  // The opcode an answer to an entry of `kind` acknowledges.
  static uint8_t acked_opcode(int kind);

  // Removes every entry of `token` (a command the app cancelled). True when
  // its completion is still owed: something was pending and it has not
  // completed already (a SPEAK-to-all that failed keeps entries to swallow
  // late answers, but completed at its first failure).
  bool remove_token(Token token);

  // ---- SPEAK-to-all: one token, `addressees` ACKs
  void start_group(Token token, size_t addressees) { group_left_[token] = addressees; }
  // One answer to `token` came, ok or not. True when the token completes
  // now: a token outside any group at once (unless 0), a group on its first
  // failure or its last ACK, never twice.
  bool settle(Token token, bool ok);

 private:
  // group_left_: the top bit marks a group that already completed with a failure.
  static constexpr size_t kGroupFailed = size_t{1} << (sizeof(size_t) * 8 - 1);

  size_t max_;
  std::unordered_map<uint64_t, Entry> entries_;   // (link << 32 | id)
  std::unordered_map<Token, size_t> group_left_;  // SPEAK-to-all ACKs still owed
};

template <class F>
void PendingTable::remove_link(LinkId link, F&& f) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.link == link) {
      f(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

template <class F>
void PendingTable::remove_expired(int64_t now_us, F&& f) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.deadline_us <= now_us) {
      f(it->second);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace chorus::overlay
