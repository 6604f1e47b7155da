#include "chorus/overlay/peer_book.h"

#include <algorithm>

namespace chorus::overlay {

PeerBook::PeerBook(size_t max_entries, int64_t backoff_base_us, int64_t backoff_max_us)
    : max_entries_(max_entries), base_us_(backoff_base_us), max_us_(backoff_max_us) {}

void PeerBook::add(const SocketAddress& address, std::optional<PublicKey> key, bool bootstrap,
                   Random& random) {
  auto it = entries_.find(address);
  if (it != entries_.end()) {
    if (key) it->second.key = key;
    it->second.bootstrap |= bootstrap;
    return;
  }
  if (entries_.size() >= max_entries_) {
    // Evict a random non-bootstrap entry; if all are bootstrap, keep them.
    std::vector<const SocketAddress*> victims;
    for (auto& [a, e] : entries_)
      if (!e.bootstrap) victims.push_back(&a);
    if (victims.empty()) return;
    entries_.erase(*victims[random.below(victims.size())]);
  }
  Entry e;
  e.address = address;
  e.key = key;
  e.bootstrap = bootstrap;
  entries_.emplace(address, std::move(e));
}

void PeerBook::forbid(const SocketAddress& address) {
  auto it = entries_.find(address);
  if (it != entries_.end()) it->second.forbidden = true;
}

void PeerBook::on_failure(const SocketAddress& address, int64_t now_us, Random& random) {
  auto it = entries_.find(address);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.failures = std::min(e.failures + 1, 30);
  int64_t delay = base_us_;
  for (int i = 1; i < e.failures && delay < max_us_; ++i) delay *= 2;
  delay = std::min(delay, max_us_);
  e.next_try_us = now_us + static_cast<int64_t>(static_cast<double>(delay) * (0.5 + random.unit()));
}

void PeerBook::on_success(const SocketAddress& address, const PublicKey& key) {
  auto it = entries_.find(address);
  if (it == entries_.end()) return;
  it->second.failures = 0;
  it->second.next_try_us = 0;
  it->second.key = key;
}

void PeerBook::defer(const SocketAddress& address, int64_t until_us) {
  auto it = entries_.find(address);
  if (it != entries_.end()) it->second.next_try_us = std::max(it->second.next_try_us, until_us);
}

std::optional<PeerBook::Entry> PeerBook::pick(int64_t now_us, Random& random,
                                              const std::function<bool(const Entry&)>& skip) const {
  std::vector<const Entry*> due;
  for (auto& [a, e] : entries_)
    if (!e.forbidden && e.next_try_us <= now_us && !skip(e)) due.push_back(&e);
  if (due.empty()) return std::nullopt;
  return *due[random.below(due.size())];
}

std::optional<int64_t> PeerBook::next_due_us() const {
  std::optional<int64_t> best;
  for (auto& [a, e] : entries_)
    if (!e.forbidden && (!best || e.next_try_us < *best)) best = e.next_try_us;
  return best;
}

std::optional<int64_t> PeerBook::next_due_after_us(int64_t now_us) const {
  std::optional<int64_t> best;
  for (auto& [a, e] : entries_)
    if (!e.forbidden && e.next_try_us > now_us && (!best || e.next_try_us < *best))
      best = e.next_try_us;
  return best;
}

std::vector<PeerBook::Entry> PeerBook::sample(size_t n, Random& random) const {
  std::vector<const Entry*> known;
  for (auto& [a, e] : entries_)
    if (e.key && !e.forbidden && e.failures == 0) known.push_back(&e);
  std::vector<Entry> out;
  while (!known.empty() && out.size() < n) {
    size_t i = random.below(known.size());
    out.push_back(*known[i]);
    known[i] = known.back();
    known.pop_back();
  }
  return out;
}

const PeerBook::Entry* PeerBook::find(const SocketAddress& address) const {
  auto it = entries_.find(address);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace chorus::overlay
