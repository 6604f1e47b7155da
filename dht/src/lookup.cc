#include "chorus/dht/lookup.h"

#include <algorithm>
#include <utility>

namespace chorus::dht {

Lookup::Lookup(const Key& target, const std::vector<Contact>& seeds, LookupConfig config)
    : target_(target), config_(config) {
  config_.k = std::max<size_t>(config_.k, 1);
  config_.alpha = std::max<size_t>(config_.alpha, 1);
  // Room beyond the in-flight ones guarantees there is always something
  // droppable, so an answer in flight is never forgotten.
  config_.max_candidates = std::max(config_.max_candidates, config_.alpha + 1);
  candidates_.reserve(std::min(config_.max_candidates, seeds.size() + config_.k));
  for (const Contact& c : seeds) add(c, 1);
}

// Distinct ids have distinct XOR distances to the target, so the sorted
// order doubles as an index by id.
std::vector<Lookup::Candidate>::const_iterator Lookup::locate(const NodeId& id) const {
  auto it = std::lower_bound(
      candidates_.begin(), candidates_.end(), id,
      [&](const Candidate& c, const NodeId& x) { return closer(target_, c.contact.id, x); });
  return it != candidates_.end() && it->contact.id == id ? it : candidates_.end();
}

std::vector<Lookup::Candidate>::iterator Lookup::locate(const NodeId& id) {
  auto it = std::as_const(*this).locate(id);
  return candidates_.begin() + (it - candidates_.cbegin());
}

void Lookup::add(const Contact& c, int depth) {
  if (horizon_ && !closer(target_, c.id, *horizon_)) return;
  auto pos = std::lower_bound(
      candidates_.begin(), candidates_.end(), c.id,
      [&](const Candidate& x, const NodeId& id) { return closer(target_, x.contact.id, id); });
  if (pos != candidates_.end() && pos->contact.id == c.id) {
    pos->depth = std::min(pos->depth, depth);
    return;
  }
  if (candidates_.size() >= config_.max_candidates) {
    if (pos == candidates_.end()) return;  // farther than all we keep
  }
  candidates_.insert(pos, Candidate{c, State::kNew, depth});
  if (candidates_.size() <= config_.max_candidates) return;
  // Drop the farthest one not in flight (there is one: the contact just
  // inserted, at worst).
  auto victim = candidates_.end() - 1;
  while (victim->state == State::kInFlight) --victim;
  if (victim->state == State::kStalled) --stalled_;  // its late answer will be ignored
  if (victim->state != State::kNew &&
      (!horizon_ || closer(target_, victim->contact.id, *horizon_))) {
    horizon_ = victim->contact.id;
  }
  candidates_.erase(victim);
}

std::optional<Contact> Lookup::next_to_query() {
  if (in_flight_ >= (converged_ ? config_.k : config_.alpha)) return std::nullopt;
  // Only the k closest live candidates are worth asking: anything farther
  // cannot change the result unless one of those fails, which widens this
  // window. That also bounds the queries a flood of far junk can cause.
  size_t live = 0;
  for (Candidate& c : candidates_) {
    if (gone(c.state)) continue;
    if (live++ >= config_.k) break;
    if (c.state == State::kNew) {
      c.state = State::kInFlight;
      ++in_flight_;
      ++queried_;
      return c.contact;
    }
  }
  return std::nullopt;
}

void Lookup::on_reply(const NodeId& from, const std::vector<Contact>& contacts) {
  auto it = locate(from);
  if (it == candidates_.end()) return;
  if (it->state == State::kStalled) {
    --stalled_;
  } else if (it->state == State::kInFlight) {
    --in_flight_;
  } else {
    return;
  }
  it->state = State::kAnswered;
  const int depth = it->depth + 1;
  ++answered_;
  // `it` is invalidated by the inserts below; depth was copied out.
  for (const Contact& c : contacts) add(c, depth);
  note_convergence();
}

// Kademlia's last round (§2.3): once the closest contact we know has
// answered without naming anyone closer, more hops will not get nearer, so
// the rest of the k closest are asked at once instead of α at a time. It
// stays so: a closer contact named later is then asked at once too, still
// never more than k in flight. In a small network this is most of the
// lookup, and it saves the ~k/α round trips a put's lookup used to wait.
void Lookup::note_convergence() {
  if (converged_) return;
  for (const Candidate& c : candidates_) {
    if (gone(c.state)) continue;
    converged_ = c.state == State::kAnswered;
    return;
  }
}

void Lookup::on_failure(const NodeId& from) {
  auto it = locate(from);
  if (it == candidates_.end()) return;
  if (it->state == State::kStalled) {
    --stalled_;
  } else if (it->state == State::kInFlight) {
    --in_flight_;
  } else {
    return;
  }
  it->state = State::kFailed;
  ++failed_;
  note_convergence();
}

void Lookup::on_stalled(const NodeId& from) {
  auto it = locate(from);
  if (it == candidates_.end() || it->state != State::kInFlight) return;
  it->state = State::kStalled;
  --in_flight_;
  ++stalled_;
  note_convergence();
}

std::vector<Contact> Lookup::stalled() const {
  std::vector<Contact> out;
  for (const Candidate& c : candidates_)
    if (c.state == State::kStalled) out.push_back(c.contact);
  return out;
}

bool Lookup::done() const {
  size_t live = 0;
  for (const Candidate& c : candidates_) {
    if (gone(c.state)) continue;
    if (c.state != State::kAnswered) return false;
    if (++live >= config_.k) return true;
  }
  // Nothing left to ask: a slow query is then worth its whole timeout (when
  // every peer slows down at once, stalling them all would end the lookup
  // with nobody heard).
  return stalled_ == 0;
}

bool Lookup::awaits(const NodeId& id) const {
  auto it = locate(id);
  return it != candidates_.end() && (it->state == State::kInFlight || it->state == State::kStalled);
}

std::vector<Contact> Lookup::closest_answered() const {
  std::vector<Contact> out;
  for (const Candidate& c : candidates_) {
    if (out.size() >= config_.k) break;
    if (c.state == State::kAnswered) out.push_back(c.contact);
  }
  return out;
}

int Lookup::depth_of(const NodeId& id) const {
  auto it = locate(id);
  return it == candidates_.end() ? 0 : it->depth;
}

}  // namespace chorus::dht
