// Pending requests: commands that wait for a peer's answer (PING, SPEAK
// with ACK, WHISPER ACKs and request responses), how answers are matched
// and how each command completes exactly once. And SPEAK itself.
#include <algorithm>

#include "node_core_internal.h"
#include "pending_table.h"

namespace chorus::overlay {
using namespace detail;

void NodeCore::on_ack(Link& l, uint32_t id, uint8_t acked, Result<Bytes> result, int64_t now_us) {
  if (acked == static_cast<uint8_t>(Opcode::kSetConnectionOpt)) {
    on_option_answer(l, id, result, now_us);
    return;
  }
  if (acked == static_cast<uint8_t>(Opcode::kPing) && id != 0 && id == l.ping_id) {
    l.ping_id = 0;
    l.rtt_us = now_us - l.ping_sent_us;
    wake_at(l.last_ping_us + ms_to_us(config_.ping_interval_ms));  // the next PING
    return;
  }
  PendingTable::Entry* found = pending_->find(l.id, id);
  if (!found || PendingTable::acked_opcode(found->kind) != acked) return;  // late or stray
  const PendingTable::Entry p = *found;
  if (!result) {
    pending_->erase(l.id, id);
    complete(p.token, result.error());
    return;
  }
  switch (p.kind) {
    case PendingTable::kPingCommand:
      pending_->erase(l.id, id);
      l.rtt_us = now_us - p.sent_us;
      complete(p.token, Bytes{}, now_us - p.sent_us);
      break;
    case PendingTable::kWhisperAck:
      pending_->erase(l.id, id);
      if (result->size() != p.expect.size() ||
          !std::equal(p.expect.begin(), p.expect.end(), result->begin())) {
        complete(p.token, protocol_error("WHISPER ACK carries the wrong hash"));
      } else {
        complete(p.token, std::move(*result));
      }
      break;
    case PendingTable::kRequest:
      break;  // delivered; the response completes it
    case PendingTable::kSpeakAck:
      pending_->erase(l.id, id);
      complete(p.token, Bytes{});
      break;
  }
}

void NodeCore::on_speak(Link& l, uint32_t id, SpeakMsg&& s, int64_t now_us) {
  const bool want_ack = s.flags & kSpeakAckRequested;
  if (s.app == kOverlayApp) {
    on_peer_exchange(l, s.payload, now_us);
    if (!l.closed && want_ack) send_ack(l, id, Opcode::kSpeak, {}, now_us);
    return;
  }
  if (!apps_.count(s.app)) {
    if (want_ack) {
      send_nack(l, id, static_cast<uint8_t>(Opcode::kSpeak), NackCode::kUnknownApp,
                "no app " + std::to_string(s.app) + " on this node", {}, now_us);
    }
    return;
  }
  if (!speak_seen_.insert(make_seen_key(s.origin, s.speak_id), now_us)) {
    ++stats_.duplicates_dropped;
    if (want_ack) send_ack(l, id, Opcode::kSpeak, {}, now_us);
    return;
  }
  if (want_ack) send_ack(l, id, Opcode::kSpeak, {}, now_us);
  events_.push_back(SpeakEvent{l.peer, l.id, std::move(s)});
}

void NodeCore::forward_speak(const SpeakEvent& event, int64_t now_us) {
  if (event.msg.hops_left <= 1) return;
  SpeakMsg fwd = event.msg;
  fwd.hops_left = static_cast<uint8_t>(fwd.hops_left - 1);
  fwd.flags &= static_cast<uint8_t>(~kSpeakAckRequested);
  broadcast(Message{0, std::move(fwd)}, {event.link}, &event.msg.origin, now_us);
}

void NodeCore::complete(Token token, Result<Bytes> result, int64_t rtt_us) {
  if (!pending_->settle(token, result.ok())) return;
  events_.push_back(CompletionEvent{token, std::move(result), rtt_us});
}

// ---------------------------------------------------------------- commands

Result<Token> NodeCore::add_pending(Link& l, uint32_t id, int kind, Token token,
                                    int64_t deadline_us, Hash256 expect,
                                    std::optional<PublicKey> relayed_to) {
  if (!pending_->has_room()) {
    return limit_exceeded("too many requests in flight (max_pending_requests)");
  }
  PendingTable::Entry p;
  p.token = token;
  p.kind = kind;
  p.link = l.id;
  p.sent_us = deadline_us - ms_to_us(config_.request_timeout_ms);
  p.deadline_us = deadline_us;
  p.expect = expect;
  p.relayed_to = relayed_to;
  pending_->put(l.id, id, p);
  wake_at(deadline_us);
  return token;
}

Result<Token> NodeCore::speak(AppId app, ByteView payload, std::optional<PublicKey> to, bool ack,
                              int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("SPEAK payload too large");
  std::vector<Link*> targets;
  if (to) {
    auto it = by_key_.find(*to);
    if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(*to));
    targets.push_back(links_[it->second].get());
  } else {
    for (auto& [id, l] : links_)
      if (routable(*l)) targets.push_back(l.get());
  }
  Token token = ack ? next_token() : 0;
  if (ack && !pending_->has_room(targets.size())) {
    return limit_exceeded("too many requests in flight (max_pending_requests)");
  }
  SpeakMsg s;
  s.app = app;
  s.flags = ack ? kSpeakAckRequested : 0;
  s.hops_left = config_.shout_hop_limit;
  s.origin = identity_.public_key();
  s.speak_id = random_.next_u64();
  s.payload.assign(payload.begin(), payload.end());
  if (ack) {
    if (targets.empty()) {
      events_.push_back(CompletionEvent{token, Bytes{}, 0});
      return token;
    }
    pending_->start_group(token, targets.size());
  }
  Message m{0, std::move(s)};
  for (Link* l : targets) {
    if (ack) {
      m.id = l->take_id();
      (void)add_pending(*l, m.id, PendingTable::kSpeakAck, token,
                        now_us + ms_to_us(config_.request_timeout_ms));
    }
    send(*l, m, now_us);
  }
  return token;
}

Result<void> NodeCore::cancel(Token token, const std::string& reason, int64_t /*now_us*/) {
  bool owed = pending_->remove_token(token);
  for (size_t i = 0; i < connect_waits_.size();) {
    if (connect_waits_[i].token == token) {
      connect_waits_[i] = connect_waits_.back();
      connect_waits_.pop_back();
      owed = true;
    } else {
      ++i;
    }
  }
  if (!owed) return not_found("no command waits under that token");
  events_.push_back(CompletionEvent{token, cancelled(reason), 0});
  return {};
}

Result<Token> NodeCore::ping(const PublicKey& to, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  auto it = by_key_.find(to);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(to));
  Link& l = *links_[it->second];
  uint32_t id = l.take_id();
  auto token = add_pending(l, id, PendingTable::kPingCommand, next_token(),
                           now_us + ms_to_us(config_.request_timeout_ms));
  if (!token) return token;
  pending_->find(l.id, id)->sent_us = now_us;
  send(l, Message{id, PingMsg{}}, now_us);
  return token;
}
}  // namespace chorus::overlay
