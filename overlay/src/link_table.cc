// Link table and link lifecycle: a link from dial or accept through the
// handshake to established (duplicate tie-break, connect() waits) and close.
#include "node_core_internal.h"
#include "pending_table.h"

namespace chorus::overlay {
using namespace detail;

bool NodeCore::routable(const Link& l) const {
  if (l.closed || l.state != Link::State::kEstablished || l.superseded_us) return false;
  auto it = by_key_.find(l.peer);
  return it != by_key_.end() && it->second == l.id;
}

NodeCore::Link* NodeCore::find(LinkId id) {
  auto it = links_.find(id);
  if (it == links_.end() || it->second->closed) return nullptr;
  return it->second.get();
}

LinkId NodeCore::new_link(bool outbound, const SocketAddress& remote, int64_t now_us) {
  auto l = std::make_unique<Link>();
  l->id = ++last_link_;
  l->outbound = outbound;
  l->remote = remote;
  l->created_us = now_us;
  wake_at(now_us + ms_to_us(config_.handshake_timeout_ms) + 1);  // handshake timeout
  l->shout_tokens = TokenBucket(config_.shout_rate_per_s, config_.shout_burst, now_us);
  l->relay_tokens = TokenBucket(config_.relay_rate_per_s, config_.relay_burst, now_us);
  LinkId id = l->id;
  links_.emplace(id, std::move(l));
  return id;
}

void NodeCore::start_handshake(Link& l) {
  l.state = Link::State::kHandshaking;
  l.handshake = std::make_unique<Handshake>(
      identity_, l.outbound ? Role::kInitiator : Role::kResponder, config_.listen_port, random_,
      config_.allow_aes_gcm && aes_gcm_available() ? kHelloAesGcm : 0, network_,
      [this](const PublicKey& peer) { return check_peer(peer); });
  Bytes hello = l.handshake->take_output();
  l.out.insert(l.out.end(), hello.begin(), hello.end());
  mark_dirty(l);
}

void NodeCore::established(Link& l, int64_t now_us) {
  const Hello& hello = l.handshake->peer_hello();
  if (is_banned(hello.static_key, now_us)) {  // banned between its HELLO and its AUTH
    ++stats_.banned_refused;
    l.penalize_on_close = false;
    close_link(l, "peer is banned", true, now_us);
    return;
  }
  l.peer = hello.static_key;
  l.peer_listen_port = hello.listen_port;
  auto dup = by_key_.find(l.peer);
  bool replacing = false, losing = false;
  if (dup != by_key_.end()) {
    // Both ends apply the same rule, so both keep the same link: the one
    // opened by the smaller key; between two opened by one side, the older.
    // The losing link is not cut at once: the peer may already have sent
    // requests on it (it may have been established first over there). It
    // takes no new traffic and closes duplicate_link_grace_ms later, and the
    // app sees the peer stay up throughout.
    Link& old = *links_[dup->second];
    const PublicKey& self = identity_.public_key();
    const PublicKey& new_init = l.outbound ? self : l.peer;
    const PublicKey& old_init = old.outbound ? self : old.peer;
    const bool keep_new = new_init != old_init && new_init < old_init;
    Link& loser = keep_new ? old : l;
    loser.penalize_on_close = false;
    loser.superseded_us = now_us;
    wake_at(now_us + ms_to_us(config_.duplicate_link_grace_ms));
    replacing = keep_new;
    losing = !keep_new;
  }
  const Cipher cipher = l.handshake->cipher();
  std::optional<AeadLibrary> library;
  if (config_.frame_aead_library == "libsodium") library = AeadLibrary::kLibsodium;
  if (config_.frame_aead_library == "openssl") library = AeadLibrary::kOpenSsl;
  l.sealer = std::make_unique<FrameSealer>(l.handshake->keys().tx, cipher, library);
  l.opener = std::make_unique<FrameOpener>(l.handshake->keys().rx, config_.max_frame_bytes, cipher,
                                           library);
  l.handshake.reset();
  l.state = Link::State::kEstablished;
  l.last_ping_us = now_us;
  wake_at(now_us + ms_to_us(config_.ping_interval_ms));
  // connect() callers: this peer is reachable now (over this link or the
  // one it lost to); a dialled address that answered with another key fails.
  for (size_t i = 0; i < connect_waits_.size();) {
    ConnectWait& w = connect_waits_[i];
    if (w.key == l.peer) {
      complete(w.token, Bytes{});
    } else if (w.link == l.id) {
      complete(w.token,
               auth_failed("dialled " + address_to_text(w.key) + " at " + l.remote.to_string() +
                           " but found " + address_to_text(l.peer)));
    } else {
      ++i;
      continue;
    }
    connect_waits_[i] = connect_waits_.back();
    connect_waits_.pop_back();
  }
  if (losing) return;
  by_key_[l.peer] = l.id;
  if (l.outbound) {
    book_.on_success(l.remote, l.peer);
  } else if (l.peer_listen_port != 0) {
    book_.add({l.remote.host, l.peer_listen_port}, l.peer, false, random_);
  }
  if (!replacing) events_.push_back(PeerEvent{l.peer, true, ""});
  offer_options(l, now_us);
  offer_streams(l, l.take_id(), now_us);
  send_peer_exchange(l, now_us);
}

void NodeCore::close_link(Link& l, const std::string& reason, bool emit_close, int64_t now_us) {
  if (l.closed) return;
  l.closed = true;
  swept_closed_ = true;
  if (emit_close) actions_.push_back(CloseAction{l.id, reason});
  auto k = by_key_.find(l.peer);
  bool was_up = l.state == Link::State::kEstablished && k != by_key_.end() && k->second == l.id;
  if (was_up) {
    by_key_.erase(k);
    events_.push_back(PeerEvent{l.peer, false, reason});
  }
  if (l.outbound && l.penalize_on_close) book_.on_failure(l.remote, now_us, random_);
  wake_at(now_us + kRedialDelayUs);  // room for another outbound link
  l.handshake.reset();
  l.rx.clear();
  l.rx.shrink_to_fit();
  l.plain.clear();
  l.out.clear();
  tree_.remove_link(l.id);
  end_relays_of(l.id, reason, now_us);
  end_streams_of(l.id, reason, now_us);
  end_connect_waits(l, reason, now_us);
  pending_->remove_link(l.id, [&](const PendingTable::Entry& p) {
    complete(p.token, cancelled("link closed: " + reason));
  });
}

Result<Token> NodeCore::connect(const SocketAddress& address, const PublicKey& key,
                                int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (key == identity_.public_key()) return invalid_argument("cannot connect to ourselves");
  if (is_banned(key, now_us)) return refused("peer is banned");
  if (connect_waits_.size() >= config_.max_pending_requests) {
    return limit_exceeded("too many connects in flight (max_pending_requests)");
  }
  Token token = next_token();
  if (by_key_.count(key)) {
    events_.push_back(CompletionEvent{token, Bytes{}, 0});
    return token;
  }
  LinkId link = 0;
  for (auto& [id, l] : links_) {
    if (!l->closed && l->outbound && l->remote == address &&
        l->state != Link::State::kEstablished) {
      link = id;  // already dialling it: wait for that link
      break;
    }
  }
  if (link == 0) {
    link = new_link(true, address, now_us);
    actions_.push_back(ConnectAction{link, address});
  }
  connect_waits_.push_back(ConnectWait{token, key, link});
  return token;
}

void NodeCore::end_connect_waits(Link& l, const std::string& reason, int64_t now_us) {
  for (size_t i = 0; i < connect_waits_.size();) {
    ConnectWait& w = connect_waits_[i];
    if (w.link != l.id) {
      ++i;
      continue;
    }
    // By key, the peer may still come up over another link (an inbound
    // one, or the winner of a duplicate tie-break).
    if (by_key_.count(w.key)) {
      complete(w.token, Bytes{});
    } else if (l.state != Link::State::kEstablished &&
               now_us - l.created_us > ms_to_us(config_.handshake_timeout_ms)) {
      complete(w.token, timed_out("no link to " + address_to_text(w.key) + " at " +
                                  l.remote.to_string() + ": " + reason));
    } else {
      complete(w.token, io_error("no link to " + address_to_text(w.key) + " at " +
                                 l.remote.to_string() + ": " + reason));
    }
    connect_waits_[i] = connect_waits_.back();
    connect_waits_.pop_back();
  }
}

}  // namespace chorus::overlay
