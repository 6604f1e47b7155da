// Timers: on_timer, the housekeeping pass (handshake, PING and request
// timeouts, expiry, peer exchange, rotation, dialling) and when it runs next.
#include "ban_table.h"
#include "node_core_internal.h"
#include "pending_table.h"
#include "relay_table.h"

namespace chorus::overlay {
using namespace detail;

void NodeCore::on_timer(int64_t now_us) {
  if (shut_down_) return;
  tree_.on_timer(now_us);  // GRAFTs for announced SHOUTs that did not come
  drain_tree(now_us);
  expire_verdicts(now_us);
  stream_timer(now_us);
  if (now_us < next_maintain_us_) return;
  maintain(now_us);
}

void NodeCore::maintain(int64_t now_us) {
  next_maintain_us_ = now_us + kMaintainIntervalUs;
  input_now_us_ = now_us;
  std::vector<Link*> all;
  for (auto& [id, l] : links_)
    if (!l->closed) all.push_back(l.get());
  for (Link* l : all) {
    if (l->state != Link::State::kEstablished) {
      if (now_us - l->created_us > ms_to_us(config_.handshake_timeout_ms)) {
        close_link(*l,
                   std::string(l->state == Link::State::kConnecting ? "connect" : "handshake") +
                       " not finished within " + std::to_string(config_.handshake_timeout_ms) +
                       " ms",
                   true, now_us);
      }
      continue;
    }
    if (l->superseded_us) {
      if (now_us - *l->superseded_us >= ms_to_us(config_.duplicate_link_grace_ms)) {
        close_link(*l, "duplicate link to peer (kept the other)", true, now_us);
      }
      continue;
    }
    if (l->ping_id != 0 && now_us - l->ping_sent_us > ms_to_us(config_.ping_timeout_ms)) {
      close_link(*l,
                 "peer unresponsive: no PING answer within " +
                     std::to_string(config_.ping_timeout_ms) + " ms",
                 true, now_us);
      continue;
    }
    if (l->ping_id == 0 && now_us - l->last_ping_us >= ms_to_us(config_.ping_interval_ms)) {
      l->ping_id = l->take_id();
      l->ping_sent_us = now_us;
      l->last_ping_us = now_us;
      send(*l, Message{l->ping_id, PingMsg{}}, now_us);
    }
  }
  pending_->remove_expired(now_us, [&](const PendingTable::Entry& p) {
    complete(p.token, timed_out(std::string("no answer to ") +
                                opcode_name(PendingTable::acked_opcode(p.kind)) + " in time"));
  });
  expire_relays(now_us);
  seen_.expire(now_us);
  speak_seen_.expire(now_us);
  bans_->expire(now_us);
  relay_seen_.expire(now_us);
  if (now_us >= next_exchange_us_) {
    next_exchange_us_ =
        now_us +
        static_cast<int64_t>(static_cast<double>(ms_to_us(config_.peer_exchange_interval_ms)) *
                             (kExchangeJitterBase + kExchangeJitterSpan * random_.unit()));
    for (auto& [id, l] : links_)
      if (routable(*l)) send_peer_exchange(*l, now_us);
  }
  if (config_.rotate_interval_ms > 0 && now_us >= next_rotate_us_) {
    next_rotate_us_ =
        now_us + static_cast<int64_t>(static_cast<double>(ms_to_us(config_.rotate_interval_ms)) *
                                      (kRotateJitterBase + kRotateJitterSpan * random_.unit()));
    rotate(now_us);
  }
  dial(now_us);
  schedule_maintain(now_us);
}

// The next maintain() runs at the earliest deadline it serves, or after
// kMaintainIntervalUs. Inputs between two runs that add an earlier deadline
// move it forward with wake_at().
void NodeCore::schedule_maintain(int64_t now_us) {
  int64_t next = now_us + kMaintainIntervalUs;
  auto at = [&next, now_us](int64_t t) { next = std::min(next, std::max(t, now_us + 1)); };
  size_t outbound = 0;
  for (auto& [id, l] : links_) {
    if (l->closed) continue;
    if (l->outbound) ++outbound;
    if (l->state != Link::State::kEstablished) {
      at(l->created_us + ms_to_us(config_.handshake_timeout_ms) + 1);
    } else if (l->superseded_us) {
      at(*l->superseded_us + ms_to_us(config_.duplicate_link_grace_ms));
    } else if (l->ping_id != 0) {
      at(l->ping_sent_us + ms_to_us(config_.ping_timeout_ms) + 1);
    } else {
      at(l->last_ping_us + ms_to_us(config_.ping_interval_ms));
    }
  }
  if (auto t = pending_->earliest_deadline()) at(*t);
  if (auto t = relays_->earliest_deadline()) at(*t);
  at(next_exchange_us_);
  if (config_.rotate_interval_ms > 0) at(next_rotate_us_);
  if (outbound < config_.max_outbound_links) {  // when a backoff or a ban ends
    if (auto t = book_.next_due_after_us(now_us)) at(*t);
    if (auto t = bans_->next_end_after(now_us)) at(*t);
  }
  next_maintain_us_ = next;
}

}  // namespace chorus::overlay
