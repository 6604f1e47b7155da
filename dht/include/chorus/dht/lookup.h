// Lookup: one α-parallel iterative lookup (Kademlia §2.3), with no I/O.
//
//   Lookup l(target, seeds, {k, alpha});
//   while (auto c = l.next_to_query()) send FIND_NODE/FIND_VALUE to *c;
//   l.on_reply(id, contacts) / l.on_failure(id)  as answers come or time out;
//   ... next_to_query() again; stop when l.done().
//
// At most α queries are in flight until the closest contact known has
// answered without naming anyone closer; then the rest of the k closest are
// asked at once (at most k in flight). Every contact learned is remembered with
// its depth (seeds are depth 1; contacts named by a depth-d node are d + 1),
// so a caller can report hops. The lookup is done when the k closest
// contacts it knows have all answered, or when nothing is left to ask.
// Contacts that fail are never asked again; a contact listing itself or
// repeating contacts gains nothing (duplicates are merged).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "chorus/dht/types.h"

namespace chorus::dht {

struct LookupConfig {
  size_t k = 20;
  size_t alpha = 3;
  size_t max_candidates = 256;  // bound on contacts remembered per lookup
};

class Lookup {
 public:
  Lookup(const Key& target, const std::vector<Contact>& seeds, LookupConfig config);

  // The next contact to query, or nullopt (α in flight, k once converged,
  // or none left).
  // Marks it in flight.
  std::optional<Contact> next_to_query();

  // Its answer, with the contacts it named (ourselves excluded by the
  // caller). Ignored for an id that is not in flight.
  void on_reply(const NodeId& from, const std::vector<Contact>& contacts);
  void on_failure(const NodeId& from);
  // A query has taken longer than its peers usually do: it no longer holds
  // one of the α places, and done() stops waiting for it once k others
  // answered (with fewer left to ask, it still waits). Its answer is still
  // taken if it comes while the lookup runs.
  void on_stalled(const NodeId& from);
  // The contacts stalled and not heard from since.
  std::vector<Contact> stalled() const;

  bool done() const;
  // True while a query to `id` is in flight or stalled: its answer or
  // failure would still count.
  bool awaits(const NodeId& id) const;
  size_t in_flight() const { return in_flight_; }
  // True once the lookup asks the rest of the k closest at once.
  bool converged() const { return converged_; }

  // The closest contacts that answered, closest first (at most k).
  std::vector<Contact> closest_answered() const;
  // Depth of a contact (1 for seeds), 0 when unknown.
  int depth_of(const NodeId& id) const;
  // How many queries were sent, answered and failed.
  size_t queried() const { return queried_; }
  size_t answered() const { return answered_; }
  size_t failed() const { return failed_; }
  size_t stalled_count() const { return stalled_; }
  const Key& target() const { return target_; }
  // How many contacts the lookup remembers (never above max_candidates).
  size_t candidates() const { return candidates_.size(); }

 private:
  enum class State : uint8_t { kNew, kInFlight, kStalled, kAnswered, kFailed };
  // Failed, or stalled: the lookup goes on without it.
  static bool gone(State s) { return s == State::kFailed || s == State::kStalled; }
  struct Candidate {
    Contact contact;
    State state = State::kNew;
    int depth = 1;
  };
  void add(const Contact& c, int depth);
  void note_convergence();
  std::vector<Candidate>::iterator locate(const NodeId& id);
  std::vector<Candidate>::const_iterator locate(const NodeId& id) const;

  Key target_;
  LookupConfig config_;
  std::vector<Candidate> candidates_;  // sorted closest first
  // Once a queried contact is dropped for room, nothing as far may return,
  // so it can never be asked twice.
  std::optional<NodeId> horizon_;
  // The closest known contact answered without naming anyone closer.
  bool converged_ = false;
  size_t in_flight_ = 0;
  size_t queried_ = 0, answered_ = 0, failed_ = 0, stalled_ = 0;
};

}  // namespace chorus::dht
