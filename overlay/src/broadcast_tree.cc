#include "chorus/overlay/broadcast_tree.h"

#include <algorithm>
#include <cstring>

namespace chorus::overlay {

size_t BroadcastTree::KeyHash::operator()(const ShoutKey& k) const {
  // The first 32 bytes are the origin, shared by all its SHOUTs; the last 8
  // are its random shout_id.
  uint64_t a = 0, b = 0;
  std::memcpy(&a, k.data(), sizeof a);
  std::memcpy(&b, k.data() + 32, sizeof b);
  return static_cast<size_t>(a * 0x9e3779b97f4a7c15ULL ^ b);
}

BroadcastTree::BroadcastTree(BroadcastTreeConfig config) : config_(config) {
  config_.ihave_batch = std::clamp<size_t>(config_.ihave_batch, 1, 255);
  config_.max_announcers = std::max<size_t>(config_.max_announcers, 1);
  config_.graft_timeout_us = std::max<int64_t>(config_.graft_timeout_us, 1);
  config_.graft_retry_us = std::max<int64_t>(config_.graft_retry_us, 1);
}

// ---------------------------------------------------------------- links

void BroadcastTree::add_link(LinkId link, int64_t now_us) {
  if (links_.count(link)) return;
  Link l;
  l.ihave_tokens = TokenBucket(config_.ihave_rate_per_s, config_.ihave_burst, now_us);
  l.graft_tokens = TokenBucket(config_.graft_rate_per_s, config_.graft_burst, now_us);
  links_.emplace(link, std::move(l));
}

void BroadcastTree::remove_link(LinkId link) {
  // Announcer lists and queued_links_ may still name it: both are checked
  // against links_ when used.
  links_.erase(link);
}

bool BroadcastTree::eager(LinkId link) const {
  auto it = links_.find(link);
  return it == links_.end() || it->second.eager;
}

size_t BroadcastTree::admit_ihave(LinkId link, size_t ids, int64_t now_us) {
  auto it = links_.find(link);
  if (it == links_.end()) return 0;
  return it->second.ihave_tokens.take_up_to(ids, now_us);
}

void BroadcastTree::make_eager(LinkId link, bool send_graft) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  it->second.eager = true;
  if (send_graft) out_.push_back(Output{Output::Kind::kGraft, link, {}, nullptr});
}

// ---------------------------------------------------------------- inputs

void BroadcastTree::on_message(const ShoutKey& id, LinkId from, std::shared_ptr<const Bytes> record,
                               int64_t now_us) {
  auto m = missing_.find(id);
  if (m != missing_.end()) {
    // Announced before it came. Much before: the announcer is on a faster
    // path than the eager link it came on, so swap the two.
    if (config_.swap_after_us > 0 && from != 0 && links_.count(from) &&
        now_us - m->second.first_us >= config_.swap_after_us) {
      for (LinkId a : m->second.announcers) {
        if (a == from || !links_.count(a)) continue;
        make_eager(a, true);
        links_[from].eager = false;
        out_.push_back(Output{Output::Kind::kPrune, from, {}, nullptr});
        ++stats_.swaps;
        break;
      }
    }
    forget_missing(id);
  }
  if (record) store(id, std::move(record), now_us);
}

void BroadcastTree::announce(LinkId link, const ShoutKey& id) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  Link& l = it->second;
  if (l.queued.size() >= config_.max_queued_announcements) {
    ++stats_.announcements_dropped;
    return;
  }
  if (l.queued.empty()) queued_links_.push_back(link);
  l.queued.push_back(id);
}

void BroadcastTree::on_duplicate(LinkId link) {
  auto it = links_.find(link);
  if (it == links_.end()) return;  // a flood-only peer: nothing to prune
  if (it->second.eager) {
    it->second.eager = false;
    ++stats_.prunes;
  }
  // Also when it is lazy here already: the peer still pushes, so it has not
  // seen (or did not heed) an earlier PRUNE.
  out_.push_back(Output{Output::Kind::kPrune, link, {}, nullptr});
}

void BroadcastTree::missing(LinkId link, const ShoutKey& id, int64_t now_us) {
  auto it = missing_.find(id);
  if (it != missing_.end()) {
    auto& a = it->second.announcers;
    if (a.size() < config_.max_announcers && std::find(a.begin(), a.end(), link) == a.end()) {
      a.push_back(link);
    }
    return;
  }
  if (missing_.size() >= config_.max_missing) {
    ++stats_.ihave_ignored;
    return;
  }
  Missing m;
  m.first_us = now_us;
  m.deadline_us = now_us + config_.graft_timeout_us;
  m.announcers.push_back(link);
  timers_.emplace(m.deadline_us, id);
  missing_.emplace(id, std::move(m));
}

void BroadcastTree::forget_missing(const ShoutKey& id) {
  auto it = missing_.find(id);
  if (it == missing_.end()) return;
  timers_.erase({it->second.deadline_us, id});
  missing_.erase(it);
}

void BroadcastTree::on_graft(LinkId link, std::span<const ShoutKey> ids, int64_t now_us) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  Link& l = it->second;
  l.eager = true;
  l.graft_tokens.refill(now_us);
  for (const ShoutKey& id : ids) {
    auto s = store_.find(id);
    if (s == store_.end() || !l.graft_tokens.has_token()) {
      ++stats_.grafts_refused;
      continue;
    }
    auto& sent = s->second.grafted_to;
    if (std::find(sent.begin(), sent.end(), link) != sent.end()) {
      ++stats_.grafts_refused;
      continue;
    }
    l.graft_tokens.take();
    sent.push_back(link);
    ++stats_.grafts_answered;
    out_.push_back(Output{Output::Kind::kMessage, link, {}, s->second.record});
  }
}

void BroadcastTree::on_prune(LinkId link) {
  auto it = links_.find(link);
  if (it != links_.end()) it->second.eager = false;
}

void BroadcastTree::on_timer(int64_t now_us) {
  expire(now_us);
  while (!timers_.empty() && timers_.begin()->first <= now_us) {
    const ShoutKey id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Missing& m = missing_.at(id);
    // Each announcer is asked once: an announcer that never answers (or
    // announces again) costs at most max_announcers GRAFTs per id.
    while (m.next < m.announcers.size() && !links_.count(m.announcers[m.next])) ++m.next;
    if (m.next == m.announcers.size()) {
      ++stats_.missing_given_up;
      missing_.erase(id);
      continue;
    }
    const LinkId link = m.announcers[m.next++];
    make_eager(link, false);
    out_.push_back(Output{Output::Kind::kGraft, link, {id}, nullptr});
    ++stats_.grafts;
    m.deadline_us = now_us + config_.graft_retry_us;
    timers_.emplace(m.deadline_us, id);
  }
}

// ---------------------------------------------------------------- store

void BroadcastTree::store(const ShoutKey& id, std::shared_ptr<const Bytes> record, int64_t now_us) {
  if (record->size() > config_.store_bytes || config_.store_entries == 0 || store_.count(id)) {
    return;
  }
  store_bytes_ += record->size();
  store_.emplace(id, Stored{std::move(record), now_us, {}});
  store_order_.push_back(id);
  while (store_.size() > config_.store_entries || store_bytes_ > config_.store_bytes) {
    auto s = store_.find(store_order_.front());
    store_bytes_ -= s->second.record->size();
    store_.erase(s);
    store_order_.pop_front();
  }
}

void BroadcastTree::expire(int64_t now_us) {
  while (!store_order_.empty()) {
    auto s = store_.find(store_order_.front());
    if (now_us - s->second.stored_us <= config_.store_age_us) break;
    store_bytes_ -= s->second.record->size();
    store_.erase(s);
    store_order_.pop_front();
  }
}

// ---------------------------------------------------------------- outputs

void BroadcastTree::flush_announcements() {
  for (LinkId link : queued_links_) {
    auto it = links_.find(link);
    if (it == links_.end()) continue;
    auto& q = it->second.queued;
    for (size_t at = 0; at < q.size(); at += config_.ihave_batch) {
      const size_t end = std::min(q.size(), at + config_.ihave_batch);
      Output o{Output::Kind::kIhave, link, {}, nullptr};
      o.ids.assign(q.begin() + static_cast<std::ptrdiff_t>(at),
                   q.begin() + static_cast<std::ptrdiff_t>(end));
      out_.push_back(std::move(o));
    }
    q.clear();
  }
  queued_links_.clear();
}

bool BroadcastTree::poll(Output& out) {
  if (out_.empty()) return false;
  out = std::move(out_.front());
  out_.pop_front();
  return true;
}

std::optional<int64_t> BroadcastTree::next_timer_us() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

}  // namespace chorus::overlay
