// Peer manager: which peers we link to and keep. Peer exchange, dialling,
// link rotation, misbehaviour scores, bans, penalize and disconnect.
#include <arpa/inet.h>
#include "ban_table.h"
#include "node_core_internal.h"

namespace chorus::overlay {
using namespace detail;

// Peer exchange: SPEAK on app 0 with
//   count u8 ‖ count × (key[32] ‖ family u8 (4|6) ‖ address[4|16] ‖ port u16)
void NodeCore::send_peer_exchange(Link& l, int64_t now_us) {
  auto entries = book_.sample(config_.peer_exchange_entries + 1, random_);
  Bytes payload;
  ByteWriter w(payload);
  w.u8(0);
  uint8_t count = 0;
  for (const auto& e : entries) {
    if (count >= config_.peer_exchange_entries || *e.key == l.peer) continue;
    uint8_t addr[16];
    uint8_t family = 0;
    if (inet_pton(AF_INET, e.address.host.c_str(), addr) == 1) {
      family = 4;
    } else if (inet_pton(AF_INET6, e.address.host.c_str(), addr) == 1) {
      family = 6;
    } else {
      continue;
    }
    w.array(*e.key);
    w.u8(family);
    w.bytes(ByteView(addr, family == 4 ? 4 : 16));
    w.u16(e.address.port);
    ++count;
  }
  if (count == 0) return;
  payload[0] = count;
  SpeakMsg s;
  s.app = kOverlayApp;
  s.hops_left = 1;
  s.origin = identity_.public_key();
  s.speak_id = random_.next_u64();
  s.payload = std::move(payload);
  send(l, Message{0, std::move(s)}, now_us);
}

void NodeCore::on_peer_exchange(Link& l, ByteView payload, int64_t now_us) {
  ByteReader r(payload);
  uint8_t count = 0;
  if (!r.u8(count)) return misbehaved(l, kScoreMalformedMessage, "empty peer exchange", now_us);
  for (size_t i = 0; i < count && i < config_.peer_exchange_entries; ++i) {
    PublicKey key{};
    uint8_t family = 0;
    ByteView addr;
    uint16_t port = 0;
    if (!r.array(key) || !r.u8(family) || (family != 4 && family != 6) ||
        !r.bytes(family == 4 ? 4 : 16, addr) || !r.u16(port)) {
      return misbehaved(l, kScoreMalformedMessage, "malformed peer exchange", now_us);
    }
    if (key == identity_.public_key() || port == 0) continue;
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), text, sizeof text);
    book_.add({text, port}, key, false, random_);
    wake_at(now_us + kRedialDelayUs);  // a new address may be dialled
  }
}

void NodeCore::misbehaved(Link& l, int score, const std::string& why, int64_t now_us) {
  l.misbehaviour += score;
  if (l.misbehaviour >= config_.misbehaviour_limit) {
    // Keep away from it for a while: it may be hostile, not just broken.
    book_.defer(l.remote, now_us + ms_to_us(config_.reconnect_max_ms));
    // A score lives on its link; the ban outlives it, so reconnecting (even
    // from another address) does not wipe the slate. Only an authenticated
    // key is banned: misbehaviour is counted on established links alone.
    const bool authenticated = l.state == Link::State::kEstablished;
    close_link(l, why, true, now_us);  // first: the close reason is `why`
    if (authenticated) (void)ban(l.peer, config_.misbehaviour_ban_ms, why, now_us);
  }
}

Result<void> NodeCore::check_peer(const PublicKey& peer) const {
  if (is_banned(peer, input_now_us_)) return refused("peer is banned");
  return {};
}

bool NodeCore::is_banned(const PublicKey& peer, int64_t now_us) const {
  return bans_->is_banned(peer, now_us);
}

Result<void> NodeCore::ban(const PublicKey& peer, int64_t duration_ms, const std::string& reason,
                           int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (peer == identity_.public_key()) return invalid_argument("cannot ban our own key");
  if (duration_ms <= 0) return invalid_argument("ban duration must be positive");
  const int64_t until =
      duration_ms > (INT64_MAX - now_us) / 1000 ? INT64_MAX : now_us + ms_to_us(duration_ms);
  bans_->place(peer, until);
  ++stats_.bans;
  std::vector<Link*> victims;
  for (auto& [id, l] : links_) {
    if (!l->closed && l->state == Link::State::kEstablished && l->peer == peer) {
      victims.push_back(l.get());
    }
  }
  for (Link* l : victims) {
    l->penalize_on_close = false;
    if (l->outbound) book_.defer(l->remote, until);
    close_link(*l, "banned: " + reason, true, now_us);
  }
  return {};
}

Result<void> NodeCore::unban(const PublicKey& peer, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (!bans_->lift(peer, now_us)) return not_found("peer is not banned");
  wake_at(now_us + kRedialDelayUs);  // it may be dialled again
  return {};
}

Result<void> NodeCore::penalize(const PublicKey& peer, int score, const std::string& reason,
                                int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (score <= 0) return invalid_argument("penalty score must be positive");
  auto it = by_key_.find(peer);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(peer));
  misbehaved(*links_[it->second], score, reason, now_us);
  return {};
}

Result<void> NodeCore::disconnect(const PublicKey& peer, const std::string& reason,
                                  int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  std::vector<Link*> victims;
  for (auto& [id, l] : links_) {
    if (!l->closed && l->state == Link::State::kEstablished && l->peer == peer) {
      victims.push_back(l.get());
    }
  }
  if (victims.empty()) return not_found("no direct link to " + address_to_text(peer));
  for (Link* l : victims) {
    l->penalize_on_close = false;
    if (l->outbound) book_.defer(l->remote, now_us + ms_to_us(config_.reconnect_max_ms));
    close_link(*l, reason, true, now_us);
  }
  return {};
}

bool NodeCore::dial_candidate_busy(const PeerBook::Entry& e) const {
  if (e.key && (*e.key == identity_.public_key() || by_key_.count(*e.key))) return true;
  if (e.key && is_banned(*e.key, input_now_us_)) return true;
  for (auto& [id, l] : links_) {
    if (l->closed) continue;
    if (l->outbound && l->remote == e.address) return true;
    if (e.key && l->state == Link::State::kEstablished && l->peer == *e.key) return true;
  }
  return false;
}

void NodeCore::rotate(int64_t now_us) {
  std::vector<Link*> outbound;
  for (auto& [id, l] : links_)
    if (routable(*l) && l->outbound) outbound.push_back(l.get());
  if (outbound.size() < config_.max_outbound_links) return;
  auto fresh =
      book_.pick(now_us, random_, [&](const PeerBook::Entry& e) { return dial_candidate_busy(e); });
  if (!fresh) return;
  Link& victim = *outbound[random_.below(outbound.size())];
  victim.penalize_on_close = false;
  book_.defer(victim.remote, now_us + ms_to_us(config_.rotate_interval_ms));
  close_link(victim, "rotating link to keep the graph mixed", true, now_us);
}

void NodeCore::dial(int64_t now_us) {
  if (shut_down_) return;
  size_t outbound = 0;
  for (auto& [id, l] : links_)
    if (!l->closed && l->outbound) ++outbound;
  while (outbound < config_.max_outbound_links) {
    auto e = book_.pick(now_us, random_,
                        [&](const PeerBook::Entry& c) { return dial_candidate_busy(c); });
    if (!e) break;
    LinkId id = new_link(true, e->address, now_us);
    actions_.push_back(ConnectAction{id, e->address});
    ++outbound;
  }
}

}  // namespace chorus::overlay
