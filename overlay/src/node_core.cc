// NodeCore: the facade. Construction, the driver's inputs, the outputs it
// drains, and introspection; each concept lives in its own file (see
// node_core_internal.h for the list).
#include "chorus/overlay/node_core.h"

#include <cstring>

#include "ban_table.h"
#include "node_core_internal.h"
#include "pending_table.h"
#include "relay_table.h"
#include "shout_verdicts.h"
#include "stream_table.h"
#include "whisper_box.h"

namespace chorus::overlay {
using namespace detail;
namespace {

BroadcastTreeConfig tree_config(const OverlayConfig& c) {
  BroadcastTreeConfig t;
  t.graft_timeout_us = ms_to_us(c.tree_graft_timeout_ms);
  t.graft_retry_us = ms_to_us(c.tree_graft_retry_ms);
  t.swap_after_us = ms_to_us(c.tree_swap_after_ms);
  t.max_missing = c.tree_max_missing;
  t.store_entries = c.tree_store_entries;
  t.store_bytes = c.tree_store_bytes;
  t.store_age_us = ms_to_us(c.tree_store_age_ms);
  // IHAVE ids arrive at most as fast as the SHOUTs they announce.
  t.ihave_rate_per_s = c.shout_rate_per_s;
  t.ihave_burst = c.shout_burst;
  t.graft_rate_per_s = c.tree_graft_rate_per_s;
  t.graft_burst = c.tree_graft_burst;
  return t;
}

}  // namespace

size_t NodeCore::KeyHash::operator()(const PublicKey& k) const {
  size_t h;
  std::memcpy(&h, k.data(), sizeof h);
  return h;
}

NodeCore::NodeCore(Identity identity, OverlayConfig config, int64_t now_us)
    : identity_(std::move(identity)),
      config_(std::move(config)),
      random_(config_.seed),
      book_(config_.peer_book_entries, ms_to_us(config_.reconnect_base_ms),
            ms_to_us(config_.reconnect_max_ms)),
      seen_(config_.seen_cache_entries, ms_to_us(config_.seen_cache_age_ms)),
      tree_(tree_config(config_)),
      speak_seen_(config_.seen_cache_entries, ms_to_us(config_.seen_cache_age_ms)),
      pending_(std::make_unique<PendingTable>(config_.max_pending_requests)),
      relays_(std::make_unique<RelayTable>(config_.max_relay_pending)),
      relay_seen_(config_.relay_seen_entries, ms_to_us(config_.seen_cache_age_ms)),
      verdicts_(std::make_unique<ShoutVerdicts>(config_.max_pending_shout_verdicts,
                                                ms_to_us(config_.shout_verdict_timeout_ms))),
      bans_(std::make_unique<BanTable>(config_.max_bans)) {
  if (sodium_init() < 0) std::abort();
  box_ = std::make_unique<WhisperBox>(identity_);
  network_ = network_tag(config_.network_id);
  for (const auto& a : config_.bootstrap) book_.add(a, std::nullopt, true, random_);
  next_maintain_us_ = now_us;
  next_exchange_us_ = now_us + ms_to_us(config_.peer_exchange_interval_ms);
  next_rotate_us_ = now_us + ms_to_us(config_.rotate_interval_ms);
  streams_ = std::make_unique<StreamTable>(stream_limits(config_, max_payload_bytes()));
}

NodeCore::~NodeCore() = default;

void NodeCore::register_app(AppId app, bool validate_shouts) {
  apps_.insert(app);
  verdicts_->set_validating(app, validate_shouts);
}

void NodeCore::unregister_app(AppId app) {
  apps_.erase(app);
  verdicts_->set_validating(app, false);
}

// ---------------------------------------------------------------- inputs

LinkId NodeCore::on_accepted(const SocketAddress& remote, int64_t now_us) {
  size_t inbound = 0;
  for (auto& [id, l] : links_)
    if (!l->closed && !l->outbound) ++inbound;
  LinkId id = new_link(false, remote, now_us);
  Link& l = *links_[id];
  if (shut_down_ || inbound >= config_.max_inbound_links) {
    ++stats_.links_refused;
    close_link(l, shut_down_ ? "node is shutting down" : "inbound link cap reached", true, now_us);
    return id;
  }
  start_handshake(l);
  return id;
}

void NodeCore::on_connected(LinkId link, int64_t /*now_us*/) {
  Link* l = find(link);
  if (!l || l->state != Link::State::kConnecting) return;
  start_handshake(*l);
}

void NodeCore::on_connect_failed(LinkId link, const std::string& reason, int64_t now_us) {
  Link* l = find(link);
  if (!l) return;
  close_link(*l, "connect failed: " + reason, false, now_us);
}

void NodeCore::on_closed(LinkId link, const std::string& reason, int64_t now_us) {
  Link* l = find(link);
  if (!l) return;
  close_link(*l, reason, false, now_us);
}

void NodeCore::on_sent(LinkId link, size_t bytes, int64_t /*now_us*/) {
  auto it = links_.find(link);
  if (it == links_.end()) return;
  Link& l = *it->second;
  l.in_flight -= std::min(l.in_flight, bytes);
  if (!l.sendq.empty()) mark_dirty(l);  // the window has room: flush() takes more
}

void NodeCore::recycle_buffer(Bytes&& buffer) {
  // Enough for every link's buffer in flight between flushes on a busy
  // node; bigger ones (a full write window) are rare and go back to malloc.
  constexpr size_t kMaxSpareBuffers = 8;
  constexpr size_t kMaxSpareCapacity = 4u << 20;
  if (spare_buffers_.size() >= kMaxSpareBuffers || buffer.capacity() > kMaxSpareCapacity) return;
  buffer.clear();
  spare_buffers_.push_back(std::move(buffer));
}

void NodeCore::on_bytes(LinkId link, std::span<uint8_t> data, int64_t now_us) {
  Link* l = find(link);
  if (!l || l->state == Link::State::kConnecting) return;
  if (l->state == Link::State::kHandshaking) {
    input_now_us_ = now_us;
    auto used = l->handshake->on_bytes(data);
    Bytes reply = l->handshake->take_output();
    if (!reply.empty()) {
      l->out.insert(l->out.end(), reply.begin(), reply.end());
      mark_dirty(*l);
    }
    if (!used) {
      ++stats_.links_refused;
      switch (l->handshake->refusal()) {
        case Refusal::kSelf:
          book_.forbid(l->remote);
          break;
        case Refusal::kPeerCheck:
          // A banned key: no redial of this address until its ban ends.
          ++stats_.banned_refused;
          if (l->outbound) {
            l->penalize_on_close = false;
            if (auto until = bans_->until(l->handshake->peer_hello().static_key)) {
              book_.defer(l->remote, *until);
            }
          }
          break;
        default:
          break;
      }
      close_link(*l, "handshake: " + used.error().message(), true, now_us);
      return;
    }
    if (!l->handshake->done()) return;
    data = data.subspan(*used);
    established(*l, now_us);
    if (l->closed) return;
  }
  process_frames(*l, data, now_us);
}

void NodeCore::handle_message(Link& l, Message&& m, int64_t now_us) {
  const uint32_t id = m.id;
  if (!relays_->empty() && relay_answer(l, id, m, now_us)) return;
  if (auto* ack = std::get_if<AckMsg>(&m.body)) {
    on_ack(l, id, ack->acked, Result<Bytes>(std::move(ack->data)), now_us);
  } else if (auto* nack = std::get_if<NackMsg>(&m.body)) {
    streams_nacked(l.id, *nack, now_us);
    on_ack(l, id, nack->acked,
           Result<Bytes>(refused(std::string("peer answered NACK ") + opcode_name(nack->acked) +
                                 ": " + nack->reason)),
           now_us);
  } else if (std::holds_alternative<PingMsg>(m.body)) {
    send_ack(l, id, Opcode::kPing, {}, now_us);
  } else if (auto* opt = std::get_if<SetConnectionOptMsg>(&m.body)) {
    on_connection_opt(l, id, *opt, now_us);
  } else if (auto* shout = std::get_if<ShoutMsg>(&m.body)) {
    on_shout(l, std::move(*shout), now_us);
  } else if (auto* cshout = std::get_if<ContentShoutMsg>(&m.body)) {
    on_content_shout(l, std::move(*cshout), now_us);
  } else if (auto* speak = std::get_if<SpeakMsg>(&m.body)) {
    on_speak(l, id, std::move(*speak), now_us);
  } else if (auto* whisper = std::get_if<WhisperMsg>(&m.body)) {
    on_whisper(l, id, std::move(*whisper), now_us);
  } else if (std::holds_alternative<IhaveMsg>(m.body) || std::holds_alternative<GraftMsg>(m.body) ||
             std::holds_alternative<PruneMsg>(m.body)) {
    on_tree_control(l, std::move(m), now_us);
  } else if (auto* stream = std::get_if<StreamMsg>(&m.body)) {
    on_stream(l.id, l.peer, std::move(*stream), now_us);
  } else if (auto* direct = std::get_if<DirectMsg>(&m.body)) {
    // Nothing answers a DIRECT (id 0 matches no request): for an app not
    // registered here it is dropped and counted, not NACKed.
    if (apps_.count(direct->app)) {
      ++stats_.directs_received;
      events_.push_back(DirectEvent{direct->app, l.peer, std::move(direct->payload)});
    } else {
      ++stats_.directs_unknown_app;
    }
  } else if (auto* unknown = std::get_if<UnknownMsg>(&m.body)) {
    send_nack(l, id, unknown->opcode, NackCode::kUnknownOpcode,
              "unknown opcode " + std::to_string(unknown->opcode), {}, now_us);
    misbehaved(l, kScoreUnknownOpcode, "unknown opcode", now_us);
  }
}

bool NodeCore::poll_action(Action& out) {
  if (actions_.empty()) return false;
  out = std::move(actions_.front());
  actions_.pop_front();
  return true;
}

bool NodeCore::poll_event(Event& out) {
  if (events_.empty()) return false;
  out = std::move(events_.front());
  events_.pop_front();
  return true;
}

std::optional<int64_t> NodeCore::next_timer_us() const {
  if (shut_down_) return std::nullopt;
  int64_t next = next_maintain_us_;
  if (auto t = tree_.next_timer_us()) next = std::min(*t, next);
  if (auto t = verdicts_->next_deadline()) next = std::min(*t, next);
  if (auto t = stream_deadline_us()) next = std::min(*t, next);
  return next;
}

size_t NodeCore::max_payload_bytes() const {
  return config_.max_frame_bytes - kFrameTagBytes - 1 - kRecordLengthBytes - kMaxMessageOverhead;
}

void NodeCore::add_peer_address(const SocketAddress& address, std::optional<PublicKey> key) {
  book_.add(address, key, false, random_);
  wake_at(0);  // dialled on the next timer
}

void NodeCore::shutdown(const std::string& reason) {
  if (shut_down_) return;
  for (auto& [id, l] : links_) close_link(*l, reason, true, 0);
  shut_down_ = true;
}

// ---------------------------------------------------------------- introspection

std::vector<PeerInfo> NodeCore::peers() const {
  std::vector<PeerInfo> out;
  for (auto& [key, id] : by_key_) {
    const Link& l = *links_.at(id);
    out.push_back(PeerInfo{l.peer, l.remote, l.outbound, l.peer_listen_port, l.rtt_us, l.queued(),
                           l.content});
  }
  return out;
}

size_t NodeCore::ban_count() const {
  return bans_->size();
}

size_t NodeCore::pending_shout_verdicts() const {
  return verdicts_->size();
}

size_t NodeCore::queued_bytes(const PublicKey& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? 0 : links_.at(it->second)->queued();
}

}  // namespace chorus::overlay
