#include "quorum.h"

#include <algorithm>
#include <functional>

namespace chorus::dht {

size_t quorum_of(size_t replica_set) {
  return replica_set / 2 + 1;  // more than half
}

void Tally::reset(size_t expected) {
  acks.clear();
  nacks.clear();
  silent = 0;
  outstanding = expected;
}

bool Tally::add(const Contact& from, const Body* reply) {
  if (outstanding == 0) return false;
  if (!reply) {
    ++silent;
  } else if (auto* a = std::get_if<StoreReply>(reply)) {
    acks.emplace_back(from, *a);
  } else if (auto* n = std::get_if<Nack>(reply)) {
    nacks.emplace_back(from, *n);
  } else {
    ++silent;
  }
  return --outstanding == 0;
}

Refusal Tally::first_refusal() const {
  for (auto& [c, n] : nacks)
    if (n.reason != Refusal::kBadToken) return n.reason;
  return nacks.empty() ? Refusal::kNone : nacks.front().second.reason;
}

size_t Tally::refusing() const {
  size_t count = 0;
  for (auto& [c, n] : nacks)
    if (n.reason != Refusal::kBadToken) ++count;
  return count;
}

uint64_t Tally::max_version() const {
  uint64_t v = 0;
  for (auto& [c, n] : nacks)
    if (n.reason == Refusal::kConflict || n.reason == Refusal::kMissingBase)
      v = std::max(v, n.number);
  return v;
}

Error Tally::none_accepted(const std::string& what, size_t asked) const {
  Refusal r = first_refusal();
  if (r == Refusal::kNone) return timed_out(what + ": no replica answered");
  return refused(what + ": " + refusal_name(r) + " (" + std::to_string(acks.size()) + " of " +
                 std::to_string(asked) + " replicas accepted)");
}

Error Tally::no_quorum(const std::string& what, size_t accepted, size_t replica_set) const {
  const size_t quorum = quorum_of(replica_set);
  const size_t said_no = refusing();
  size_t quiet = replica_set > accepted + said_no ? replica_set - accepted - said_no : 0;
  std::string counts = " (" + std::to_string(accepted) + " of " + std::to_string(replica_set) +
                       " replicas accepted, " + std::to_string(said_no) + " refused, " +
                       std::to_string(quiet) + " did not answer; " + std::to_string(quorum) +
                       " needed)";
  if (said_no > 0 && accepted + quiet < quorum)
    return refused(what + ": " + refusal_name(first_refusal()) + counts);
  return timed_out(what + ": no majority answered" + counts);
}

int64_t majority_lease(std::vector<int64_t> granted, size_t quorum, int64_t asked_ms) {
  if (quorum == 0 || granted.size() < quorum) return 0;
  std::sort(granted.begin(), granted.end(), std::greater<>());
  return std::clamp<int64_t>(granted[quorum - 1], 0, asked_ms);
}

int64_t lease_end_us(int64_t sent_ms, int64_t granted_ms, double lease_safety) {
  constexpr double kUsPerMs = 1000;
  return static_cast<int64_t>(
      (static_cast<double>(sent_ms) + static_cast<double>(granted_ms) * (1.0 - lease_safety)) *
      kUsPerMs);
}

}  // namespace chorus::dht
