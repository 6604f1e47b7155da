#include "chorus/overlay/node_core.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "chorus/compression/codec.h"
#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/handshake.h"
#include "chorus/overlay/wire.h"
#include "send_queue.h"

namespace chorus::overlay {
namespace {

// The longest maintain() waits when no deadline is nearer: expiry of the
// seen caches and bans (memory only; lookups check the time themselves).
constexpr int64_t kMaintainIntervalUs = 1'000'000;
// After a link closes (or an address or unban makes one dialable), dial
// this much later, as the old 200 ms poll did at most: a peer that just
// closed us is not redialled within the same breath.
constexpr int64_t kRedialDelayUs = 200'000;
constexpr size_t kSealAtBytes = 64 * 1024;  // seal a frame once this much is queued
constexpr size_t kRecordLengthBytes = 4;
constexpr uint8_t kCodecNone = 0;
constexpr uint8_t kOptionCompression = 0;
constexpr uint8_t kOptionPreferredCompression = 1;
// Option 2: "I speak IHAVE/GRAFT/PRUNE", setting = the tree protocol version.
constexpr uint8_t kOptionBroadcastTree = 2;
constexpr uint8_t kBroadcastTreeVersion = 1;
// Option 3: "I speak CONTENT_SHOUT", setting = its version.
constexpr uint8_t kOptionContentShout = 3;
constexpr uint8_t kContentShoutVersion = 1;
constexpr size_t kBoxOverhead = crypto_box_NONCEBYTES + crypto_box_MACBYTES;
constexpr size_t kKeyBytes = 32;             // an Ed25519 public key: a node's address
constexpr size_t kMaxMessageOverhead = 256;  // header + largest fixed body + box, rounded up
// Misbehaviour points (spec/overlay.md, "Links"), against misbehaviour_limit
// (default 100). An unknown opcode may be a newer peer: it takes 100 of them
// to close the link. A malformed relay or peer-exchange message is a broken
// or hostile peer: 20 of them.
constexpr int kScoreUnknownOpcode = 1;
constexpr int kScoreMalformedMessage = 5;
// A SHOUT whose signature fails, or that its app rejected as invalid: the
// neighbour passed on what it should have checked itself (10 of them).
constexpr int kScoreBadShout = 10;
// group_left_: the top bit marks a SPEAK-to-all that already completed with a failure.
constexpr size_t kGroupFailed = size_t{1} << (sizeof(size_t) * 8 - 1);

// DIRECT: opcode u8 ‖ id u32 (0) ‖ app u16, then the payload.
constexpr size_t kDirectHeaderBytes = 7;

// The app an encoded message is sent for, which decides its queue (fair
// sending); nullopt for the overlay's control messages, which never wait
// behind apps. Every app message's body starts with its app u16.
std::optional<AppId> app_of_record(ByteView record) {
  constexpr size_t kAppAt = 5;  // opcode u8 ‖ id u32 ‖ app u16
  if (record.size() < kAppAt + 2) return std::nullopt;
  switch (static_cast<Opcode>(record[0])) {
    case Opcode::kShout:
    case Opcode::kSpeak:
    case Opcode::kWhisper:
    case Opcode::kContentShout:
    case Opcode::kDirect:
      return static_cast<AppId>(record[kAppAt] << 8 | record[kAppAt + 1]);
    default:
      return std::nullopt;
  }
}

enum PendingKind : int { kPingCommand, kWhisperAck, kRequest, kSpeakAck };

uint8_t acked_opcode(int kind) {
  switch (kind) {
    case kPingCommand:
      return static_cast<uint8_t>(Opcode::kPing);
    case kSpeakAck:
      return static_cast<uint8_t>(Opcode::kSpeak);
    default:
      return static_cast<uint8_t>(Opcode::kWhisper);
  }
}

uint64_t pending_key(LinkId link, uint32_t id) {
  return link << 32 | id;
}

int64_t ms_to_us(int64_t ms) {
  return ms * 1000;
}

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

struct NodeCore::Link {
  enum class State { kConnecting, kHandshaking, kEstablished };
  LinkId id = 0;
  bool outbound = false;
  SocketAddress remote;
  State state = State::kConnecting;
  int64_t created_us = 0;
  std::unique_ptr<Handshake> handshake;
  std::unique_ptr<FrameSealer> sealer;
  std::unique_ptr<FrameOpener> opener;
  Bytes rx;              // received bytes not yet forming a whole frame
  Bytes plain;           // records waiting to be sealed (first byte: codec)
  Bytes out;             // sealed bytes waiting for flush()
  SendQueue sendq;       // app messages waiting for room in the write window
  size_t in_flight = 0;  // handed to the driver, not yet written
  PublicKey peer{};
  uint16_t peer_listen_port = 0;
  uint32_t next_id = 1;
  uint32_t ping_id = 0;  // outstanding liveness PING
  int64_t ping_sent_us = 0;
  int64_t last_ping_us = 0;
  int64_t rtt_us = -1;
  double shout_tokens = 0;
  int64_t tokens_us = 0;
  double relay_tokens = 0;  // relay requests arriving on this link
  int64_t relay_tokens_us = 0;
  int misbehaviour = 0;
  bool dirty = false;
  bool closed = false;
  bool penalize_on_close = true;
  bool content = false;  // the peer speaks CONTENT_SHOUT (option 3 offered or ACKed)
  // Replaced by a newer link to the same peer (duplicate tie-break): no new
  // traffic goes here, but answers to requests already sent still arrive
  // until it closes, duplicate_link_grace_ms after this time.
  std::optional<int64_t> superseded_us;
  // Compression (spec/compression.md): bit s = setting s.
  uint8_t compress_we_acked = 0;    // the peer offered it and we ACKed: we accept it
  uint8_t compress_peer_acked = 0;  // we offered it and the peer ACKed
  std::optional<uint8_t> peer_preferred;
  std::optional<compression::Method> tx_codec;  // what we compress with now
  int incompressible_streak = 0;
  int skip_compression = 0;  // frames to send plain before trying again

  uint32_t take_id() {
    uint32_t v = next_id++;
    if (next_id == 0) next_id = 1;
    return v;
  }
  // Bytes on their way to the socket: what the write window bounds.
  size_t unwritten() const { return in_flight + out.size() + plain.size(); }
  size_t queued() const { return unwritten() + sendq.bytes(); }
};

struct NodeCore::Pending {
  Token token = 0;
  int kind = 0;
  LinkId link = 0;
  int64_t sent_us = 0;
  int64_t deadline_us = 0;
  Hash256 expect{};
  // A request sent through a relay: only a response sealed by this key,
  // arriving relayed, completes it.
  std::optional<PublicKey> relayed_to;
};

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
      relay_seen_(config_.relay_seen_entries, ms_to_us(config_.seen_cache_age_ms)) {
  if (sodium_init() < 0) std::abort();
  x25519_secret_ = identity_.x25519_secret();
  network_ = network_tag(config_.network_id);
  for (const auto& a : config_.bootstrap) book_.add(a, std::nullopt, true, random_);
  next_maintain_us_ = now_us;
  next_exchange_us_ = now_us + ms_to_us(config_.peer_exchange_interval_ms);
  next_rotate_us_ = now_us + ms_to_us(config_.rotate_interval_ms);
}

NodeCore::~NodeCore() {
  sodium_memzero(x25519_secret_.data(), x25519_secret_.size());
}

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
  l->shout_tokens = config_.shout_burst;
  l->tokens_us = now_us;
  l->relay_tokens = config_.relay_burst;
  l->relay_tokens_us = now_us;
  LinkId id = l->id;
  links_.emplace(id, std::move(l));
  return id;
}

void NodeCore::register_app(AppId app, bool validate_shouts) {
  apps_.insert(app);
  if (validate_shouts) {
    validating_apps_.insert(app);
  } else {
    validating_apps_.erase(app);
  }
}
void NodeCore::unregister_app(AppId app) {
  apps_.erase(app);
  validating_apps_.erase(app);
}

void NodeCore::set_app_priority(AppId app, AppPriority priority) {
  if (priority == AppPriority::kNormal) {
    priorities_.erase(app);
  } else {
    priorities_[app] = priority;
  }
}

AppPriority NodeCore::app_priority(AppId app) const {
  if (priorities_.empty()) return AppPriority::kNormal;
  auto it = priorities_.find(app);
  return it == priorities_.end() ? AppPriority::kNormal : it->second;
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

void NodeCore::mark_dirty(Link& l) {
  if (!l.dirty) {
    l.dirty = true;
    dirty_.push_back(l.id);
  }
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
            auto ban = bans_.find(l->handshake->peer_hello().static_key);
            if (ban != bans_.end()) book_.defer(l->remote, ban->second);
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
  l.sealer = std::make_unique<FrameSealer>(l.handshake->keys().tx, cipher);
  l.opener = std::make_unique<FrameOpener>(l.handshake->keys().rx, config_.max_frame_bytes, cipher);
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
  offer_compression(l, now_us);
  if (!config_.tree_shout_apps.empty()) {
    send(l, Message{l.take_id(), SetConnectionOptMsg{kOptionBroadcastTree, kBroadcastTreeVersion}},
         now_us);
  }
  if (!config_.content_shout_apps.empty()) {
    send(l, Message{l.take_id(), SetConnectionOptMsg{kOptionContentShout, kContentShoutVersion}},
         now_us);
  }
  send_peer_exchange(l, now_us);
}

void NodeCore::process_frames(Link& l, std::span<uint8_t> data, int64_t now_us) {
  // Frames are opened in place. Only a frame split across reads is copied
  // (into l.rx, bounded by max_frame_bytes); whole frames are opened straight
  // from the driver's buffer.
  auto open_one = [&](std::span<uint8_t> buf) -> std::optional<size_t> {
    auto r = l.opener->open(buf);
    if (!r) {
      misbehaved(l, config_.misbehaviour_limit, r.error().message(), now_us);
      return std::nullopt;
    }
    if (!*r) return size_t{0};
    ++stats_.frames_received;
    if (!handle_plaintext(l, (*r)->plaintext, now_us)) return std::nullopt;
    return (*r)->consumed;
  };
  while (!data.empty() && !l.closed) {
    if (!l.rx.empty()) {
      // Complete the frame that began in an earlier read.
      // First the length prefix alone, so that open() checks it against the
      // maximum before any body is buffered for it; then the rest.
      size_t want = kFrameLengthBytes;
      if (auto total = FrameOpener::peek_length(l.rx)) want = *total;
      size_t take = std::min(want - l.rx.size(), data.size());
      l.rx.insert(l.rx.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
      data = data.subspan(take);
      auto used = open_one(std::span<uint8_t>(l.rx));
      if (!used) return;
      if (*used > 0) l.rx.clear();
      continue;
    }
    auto used = open_one(data);
    if (!used) return;
    if (*used == 0) {
      l.rx.assign(data.begin(), data.end());
      return;
    }
    data = data.subspan(*used);
  }
}

bool NodeCore::handle_plaintext(Link& l, std::span<uint8_t> plain, int64_t now_us) {
  if (plain.empty()) {
    misbehaved(l, config_.misbehaviour_limit, "empty frame", now_us);
    return false;
  }
  // The first byte marks the codec (spec/compression.md): 0 = none, else
  // 1 + the setting of a method we ACKed when the peer offered it.
  const uint8_t mark = plain[0];
  Bytes inflated;
  if (mark != kCodecNone) {
    const uint8_t setting = static_cast<uint8_t>(mark - 1);
    auto method = compression::method_from_setting(setting);
    if (!method || !(l.compress_we_acked & (1u << setting))) {
      misbehaved(l, config_.misbehaviour_limit,
                 "frame marked with codec " + std::to_string(mark) + " that was not negotiated",
                 now_us);
      return false;
    }
    auto out =
        compression::codec_for(*method).decompress(plain.subspan(1), max_decompressed_bytes());
    if (!out) {
      misbehaved(l, config_.misbehaviour_limit,
                 "frame did not decompress: " + out.error().message(), now_us);
      return false;
    }
    inflated = std::move(*out);
    plain = std::span<uint8_t>(inflated);
  } else {
    plain = plain.subspan(1);
  }
  size_t off = 0;
  while (off < plain.size()) {
    if (plain.size() - off < kRecordLengthBytes) {
      misbehaved(l, config_.misbehaviour_limit, "truncated record length", now_us);
      return false;
    }
    size_t len = size_t{plain[off]} << 24 | size_t{plain[off + 1]} << 16 |
                 size_t{plain[off + 2]} << 8 | size_t{plain[off + 3]};
    off += kRecordLengthBytes;
    if (len > plain.size() - off) {
      misbehaved(l, config_.misbehaviour_limit, "record longer than its frame", now_us);
      return false;
    }
    auto m = decode_message(plain.subspan(off, len));
    off += len;
    if (!m) {
      misbehaved(l, config_.misbehaviour_limit, "malformed message: " + m.error().message(),
                 now_us);
      return false;
    }
    ++stats_.messages_received;
    handle_message(l, std::move(*m), now_us);
    if (l.closed) return false;
  }
  return true;
}

void NodeCore::handle_message(Link& l, Message&& m, int64_t now_us) {
  const uint32_t id = m.id;
  if (!relays_.empty() && relay_answer(l, id, m, now_us)) return;
  if (auto* ack = std::get_if<AckMsg>(&m.body)) {
    on_ack(l, id, ack->acked, Result<Bytes>(std::move(ack->data)), now_us);
  } else if (auto* nack = std::get_if<NackMsg>(&m.body)) {
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

void NodeCore::on_ack(Link& l, uint32_t id, uint8_t acked, Result<Bytes> result, int64_t now_us) {
  if (acked == static_cast<uint8_t>(Opcode::kSetConnectionOpt)) {
    // Our broadcast-tree offer ACKed: the peer speaks the tree opcodes. A
    // NACK (an older node) leaves the link out of the tree: full SHOUTs.
    if (result && result->size() == 2 && (*result)[0] == kOptionBroadcastTree &&
        (*result)[1] == kBroadcastTreeVersion && routable(l)) {
      tree_.add_link(l.id, now_us);
      return;
    }
    if (result && result->size() == 2 && (*result)[0] == kOptionContentShout &&
        (*result)[1] == kContentShoutVersion) {
      l.content = true;
      return;
    }
    // ACK echoes option and setting; a NACK leaves the option off.
    if (result && result->size() == 2 && (*result)[0] == kOptionCompression &&
        compression::method_from_setting((*result)[1]) && offered((*result)[1])) {
      l.compress_peer_acked |= static_cast<uint8_t>(1u << (*result)[1]);
      choose_codec(l);
    }
    return;
  }
  if (acked == static_cast<uint8_t>(Opcode::kPing) && id != 0 && id == l.ping_id) {
    l.ping_id = 0;
    l.rtt_us = now_us - l.ping_sent_us;
    wake_at(l.last_ping_us + ms_to_us(config_.ping_interval_ms));  // the next PING
    return;
  }
  auto it = pending_.find(pending_key(l.id, id));
  if (it == pending_.end() || acked_opcode(it->second.kind) != acked) return;  // late or stray
  Pending p = it->second;
  if (!result) {
    pending_.erase(it);
    complete(p.token, result.error());
    return;
  }
  switch (p.kind) {
    case kPingCommand:
      pending_.erase(it);
      l.rtt_us = now_us - p.sent_us;
      complete(p.token, Bytes{}, now_us - p.sent_us);
      break;
    case kWhisperAck:
      pending_.erase(it);
      if (result->size() != p.expect.size() ||
          !std::equal(p.expect.begin(), p.expect.end(), result->begin())) {
        complete(p.token, protocol_error("WHISPER ACK carries the wrong hash"));
      } else {
        complete(p.token, std::move(*result));
      }
      break;
    case kRequest:
      break;  // delivered; the response completes it
    case kSpeakAck:
      pending_.erase(it);
      complete(p.token, Bytes{});
      break;
  }
}

bool NodeCore::take_shout_token(Link& l, int64_t now_us) {
  l.shout_tokens =
      std::min(config_.shout_burst, l.shout_tokens + static_cast<double>(now_us - l.tokens_us) *
                                                         config_.shout_rate_per_s / 1e6);
  l.tokens_us = now_us;
  if (l.shout_tokens < 1) {
    ++stats_.shouts_rate_limited;
    return false;
  }
  l.shout_tokens -= 1;
  return true;
}

void NodeCore::shout_duplicate(Link& l, AppId app, int64_t now_us) {
  ++stats_.duplicates_dropped;
  // A second eager copy: this link is not needed in the tree.
  if (tree_mode(app)) {
    tree_.on_duplicate(l.id);
    drain_tree(now_us);
  }
}

bool NodeCore::must_hold_full(AppId app) {
  if (!validating_apps_.count(app) || held_.size() < config_.max_pending_shout_verdicts) {
    return false;
  }
  // The newest is dropped, unforwarded and not remembered as seen: a later
  // copy (or a GRAFT) may bring it again once there is room.
  ++stats_.shout_verdicts_overflow;
  return true;
}

void NodeCore::on_shout(Link& l, ShoutMsg&& s, int64_t now_us) {
  if (!take_shout_token(l, now_us)) return;
  SeenKey key = make_seen_key(s.origin, s.shout_id);
  if (s.origin == identity_.public_key() || seen_.contains(key)) {
    shout_duplicate(l, s.app, now_us);
    return;
  }
  Signature sig = s.signature;
  if (!verify_signature(s.origin, shout_signing_bytes(s.app, s.origin, s.shout_id, s.payload),
                        sig)) {
    ++stats_.bad_signatures;
    misbehaved(l, kScoreBadShout, "SHOUT with a bad signature", now_us);
    return;
  }
  if (must_hold_full(s.app)) return;
  seen_.insert(key, now_us);
  ShoutMsg fwd = s;
  fwd.hops_left = static_cast<uint8_t>(s.hops_left > 0 ? s.hops_left - 1 : 0);
  accept_shout(l, Message{0, std::move(fwd)}, key, s.hops_left > 1,
               ShoutEvent{s.app, s.origin, s.shout_id, l.peer, std::move(s.payload)}, now_us);
}

// A content-addressed SHOUT: named by the hash of its payload, no signature
// to check (the app checks the payload, which authenticates itself).
void NodeCore::on_content_shout(Link& l, ContentShoutMsg&& c, int64_t now_us) {
  l.content = true;  // sending one proves the peer speaks the form
  if (!take_shout_token(l, now_us)) return;
  const Hash256 cid = content_id_of(c.payload);
  const SeenKey key = content_shout_key(c.app, cid);
  if (seen_.contains(key)) {
    shout_duplicate(l, c.app, now_us);
    return;
  }
  if (must_hold_full(c.app)) return;
  seen_.insert(key, now_us);
  ContentShoutMsg fwd = c;
  fwd.hops_left = static_cast<uint8_t>(c.hops_left > 0 ? c.hops_left - 1 : 0);
  ShoutEvent ev{c.app, PublicKey{}, 0, l.peer, std::move(c.payload)};
  ev.content_addressed = true;
  ev.content_id = cid;
  accept_shout(l, Message{0, std::move(fwd)}, key, c.hops_left > 1, std::move(ev), now_us);
}

// A new SHOUT (seen now, verified if signed). An app that validates gets it
// first and it waits for the verdict: not forwarded, not announced, not kept
// for GRAFTs. Otherwise it goes on at once, as before.
void NodeCore::accept_shout(Link& l, Message fwd, const SeenKey& key, bool forward,
                            ShoutEvent event, int64_t now_us) {
  const bool deliver = apps_.count(event.app) != 0;
  if (deliver && validating_apps_.count(event.app)) {
    if (tree_mode(event.app)) {
      // It came: end a wait for it (no GRAFT), but store nothing yet.
      tree_.on_message(key, l.id, nullptr, now_us);
      drain_tree(now_us);
    }
    const uint64_t id = ++last_verdict_;
    held_.emplace(id, Held{std::move(fwd), key, l.id, forward,
                           now_us + ms_to_us(config_.shout_verdict_timeout_ms)});
    ++stats_.shouts_held;
    event.verdict = id;
  } else {
    pass_on(std::move(fwd), key, l.id, forward, now_us);
  }
  if (deliver) {
    ++stats_.shouts_delivered;
    events_.push_back(std::move(event));
  }
}

// A SHOUT goes on to the next hops: the tree for tree apps, else flooding
// (every link but the one it came on and a link to its origin).
void NodeCore::pass_on(Message fwd, const SeenKey& key, LinkId from, bool forward, int64_t now_us) {
  const AppId app = std::holds_alternative<ShoutMsg>(fwd.body)
                        ? std::get<ShoutMsg>(fwd.body).app
                        : std::get<ContentShoutMsg>(fwd.body).app;
  if (tree_mode(app)) {
    tree_forward(std::move(fwd), key, from, forward, now_us);
  } else if (forward) {
    const auto* s = std::get_if<ShoutMsg>(&fwd.body);
    broadcast(fwd, {from}, s ? &s->origin : nullptr, now_us);
  }
}

Result<void> NodeCore::shout_verdict(uint64_t verdict, ShoutDecision decision, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (decision == ShoutDecision::kLater) return invalid_argument("kLater is not a verdict");
  auto it = held_.find(verdict);
  if (it == held_.end()) {
    return not_found("no SHOUT waits for verdict " + std::to_string(verdict) +
                     " (given already, or timed out)");
  }
  Held h = std::move(it->second);
  held_.erase(it);
  switch (decision) {
    case ShoutDecision::kForward:
      ++stats_.shout_verdicts_forwarded;
      pass_on(std::move(h.fwd), h.key, h.from, h.forward, now_us);
      break;
    case ShoutDecision::kPenalize: {
      ++stats_.shout_verdicts_penalized;
      const auto* s = std::get_if<ShoutMsg>(&h.fwd.body);
      penalize_shout_sender(h.from, s ? s->app : std::get<ContentShoutMsg>(h.fwd.body).app, now_us);
      break;
    }
    default:
      ++stats_.shout_verdicts_dropped;
      break;
  }
  return {};
}

void NodeCore::expire_verdicts(int64_t now_us) {
  while (!held_.empty() && held_.begin()->second.deadline_us <= now_us) {
    ++stats_.shout_verdicts_timed_out;
    held_.erase(held_.begin());
  }
}

// Kept small and separate so an explicit penalty/ban table can take over.
void NodeCore::penalize_shout_sender(LinkId from, AppId app, int64_t now_us) {
  Link* l = find(from);
  if (!l) return;  // gone meanwhile
  misbehaved(*l, kScoreBadShout, "SHOUT rejected as invalid by app " + std::to_string(app), now_us);
}

bool NodeCore::content_mode(AppId app) const {
  const auto& apps = config_.content_shout_apps;
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

bool NodeCore::tree_mode(AppId app) const {
  const auto& apps = config_.tree_shout_apps;
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

// A new tree-mode SHOUT (from `from`, or ours when 0), `fwd` as it goes to
// the next hop. Eager tree links and links to peers without the tree
// opcodes get it in full, lazy tree links an IHAVE (at the next flush);
// never the link it came on nor a link to its origin. With `forward` false
// (the hop limit) it goes nowhere, and is not kept to answer GRAFTs.
void NodeCore::tree_forward(Message fwd, const SeenKey& key, LinkId from, bool forward,
                            int64_t now_us) {
  if (!forward) {
    tree_.on_message(key, from, nullptr, now_us);
    drain_tree(now_us);
    return;
  }
  // A content-addressed SHOUT has no origin, and goes (in full or as an
  // announcement) only to peers that speak its form.
  const auto* signed_shout = std::get_if<ShoutMsg>(&fwd.body);
  const std::optional<PublicKey> origin =
      signed_shout ? std::optional<PublicKey>(signed_shout->origin) : std::nullopt;
  Bytes encoded;
  encode_message(fwd, encoded);
  auto record = std::make_shared<const Bytes>(std::move(encoded));
  tree_.on_message(key, from, record, now_us);
  size_t pushed = 0;
  for (auto& [id, l] : links_) {
    if (id == from || !routable(*l) || (origin && l->peer == *origin)) continue;
    if (!origin && !l->content) continue;
    if (tree_.eager(id)) {
      enqueue(*l, *record, now_us);
      ++pushed;
    } else {
      tree_.announce(id, key);
    }
  }
  stats_.shouts_sent += pushed;
  stats_.shout_bytes_sent += pushed * record->size();
  drain_tree(now_us);
}

void NodeCore::on_tree_control(Link& l, Message&& m, int64_t now_us) {
  if (!routable(l)) return;  // a superseded link carries no broadcast
  // Sending these proves the peer speaks them, offered or not.
  tree_.add_link(l.id, now_us);
  if (auto* ihave = std::get_if<IhaveMsg>(&m.body)) {
    tree_.on_ihave(
        l.id, ihave->ids, [&](const ShoutKey& id) { return seen_.contains(id); }, now_us);
  } else if (auto* graft = std::get_if<GraftMsg>(&m.body)) {
    const uint64_t refused = tree_.stats().grafts_refused;
    tree_.on_graft(l.id, graft->ids, now_us);
    stats_.grafts_refused += tree_.stats().grafts_refused - refused;
  } else {
    tree_.on_prune(l.id);
  }
  drain_tree(now_us);
}

// Sends what the tree asked for.
void NodeCore::drain_tree(int64_t now_us) {
  BroadcastTree::Output o;
  while (tree_.poll(o)) {
    Link* l = find(o.link);
    if (!l || !routable(*l)) continue;
    switch (o.kind) {
      case BroadcastTree::Output::Kind::kMessage:
        if (!o.record->empty() && (*o.record)[0] == static_cast<uint8_t>(Opcode::kContentShout) &&
            !l->content) {
          break;  // never to a peer that does not speak the form
        }
        if (enqueue(*l, *o.record, now_us)) {
          ++stats_.shouts_sent;
          stats_.shout_bytes_sent += o.record->size();
          ++stats_.grafts_answered;
        }
        break;
      case BroadcastTree::Output::Kind::kIhave:
        send(*l, Message{0, IhaveMsg{std::move(o.ids)}}, now_us);
        break;
      case BroadcastTree::Output::Kind::kGraft:
        send(*l, Message{0, GraftMsg{std::move(o.ids)}}, now_us);
        break;
      case BroadcastTree::Output::Kind::kPrune:
        send(*l, Message{0, PruneMsg{}}, now_us);
        break;
    }
  }
}

void NodeCore::broadcast(const Message& m, std::initializer_list<LinkId> except,
                         const PublicKey* skip_key, int64_t now_us) {
  scratch_.clear();
  encode_message(m, scratch_);
  Bytes record = std::move(scratch_);
  const bool content = std::holds_alternative<ContentShoutMsg>(m.body);
  std::vector<Link*> targets;
  for (auto& [id, l] : links_) {
    if (!routable(*l)) continue;
    if (content && !l->content) continue;  // it does not speak the form
    if (std::find(except.begin(), except.end(), id) != except.end()) continue;
    if (skip_key && l->peer == *skip_key) continue;
    targets.push_back(l.get());
  }
  for (Link* t : targets) enqueue(*t, record, now_us);
  if (content || std::holds_alternative<ShoutMsg>(m.body)) {
    stats_.shouts_sent += targets.size();
    stats_.shout_bytes_sent += targets.size() * record.size();
  }
  scratch_ = std::move(record);
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

void NodeCore::on_whisper(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us) {
  if (w.flags & kWhisperRelay) return on_relay_request(l, id, std::move(w), now_us);
  if (w.flags & kWhisperRelayed) return on_relayed(l, id, std::move(w), now_us);
  Hash256 hash = blake2b_256(w.payload);
  const bool encrypted = w.flags & kWhisperEncrypted;
  if (w.flags & kWhisperResponse) {
    send_ack(l, id, Opcode::kWhisper, Bytes(hash.begin(), hash.end()), now_us);
    auto it = pending_.find(pending_key(l.id, w.reply_to));
    // A request we sent through this peer as a relay is answered only by
    // its target, relayed: the relay cannot answer in its name.
    if (it == pending_.end() || it->second.kind != kRequest || it->second.relayed_to) return;
    Token token = it->second.token;
    pending_.erase(it);
    if (encrypted) {
      complete(token, open_whisper(l.peer, w.payload));
    } else {
      complete(token, std::move(w.payload));
    }
    return;
  }
  if (!apps_.count(w.app)) {
    send_nack(l, id, static_cast<uint8_t>(Opcode::kWhisper), NackCode::kUnknownApp,
              "no app " + std::to_string(w.app) + " on this node", {}, now_us);
    return;
  }
  Bytes payload;
  if (encrypted) {
    auto opened = open_whisper(l.peer, w.payload);
    if (!opened) {
      send_nack(l, id, static_cast<uint8_t>(Opcode::kWhisper), NackCode::kDecryptFailed,
                opened.error().message(), {}, now_us);
      return;
    }
    payload = std::move(*opened);
  } else {
    payload = std::move(w.payload);
  }
  send_ack(l, id, Opcode::kWhisper, Bytes(hash.begin(), hash.end()), now_us);
  events_.push_back(WhisperEvent{w.app, l.peer, std::move(payload), encrypted,
                                 (w.flags & kWhisperRequest) != 0, id, l.id, std::nullopt});
}

// ---------------------------------------------------------------- relaying

// As the relay: `l`'s peer (the origin) asks us to pass `w` to our direct
// peer `to`. We never open it (it is sealed to `to`), never send it further
// than `to`, and remember only where the answer goes back.
void NodeCore::on_relay_request(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us) {
  auto refuse = [&](NackCode code, const std::string& why) {
    ++stats_.relays_refused;
    send_nack(l, id, static_cast<uint8_t>(Opcode::kWhisper), code, "relay: " + why, {}, now_us);
  };
  if (!config_.relay_enabled) return refuse(NackCode::kRelayOff, "relaying is switched off");
  if (w.flags & kWhisperRelayed) {
    return refuse(NackCode::kRelayOff, "a relayed WHISPER is never relayed again");
  }
  if (!(w.flags & kWhisperEncrypted)) {
    return refuse(NackCode::kRelayOff, "only end-to-end encrypted WHISPERs are relayed");
  }
  if (w.payload.size() < kKeyBytes + kBoxOverhead) {
    misbehaved(l, kScoreMalformedMessage, "malformed relay WHISPER", now_us);
    if (l.closed) return;
    return refuse(NackCode::kUnspecified, "malformed: shorter than a key and a box");
  }
  if (w.payload.size() - kKeyBytes > max_payload_bytes() + kBoxOverhead) {
    return refuse(NackCode::kLimit, "payload too large");
  }
  PublicKey to;
  std::copy_n(w.payload.begin(), kKeyBytes, to.begin());
  if (to == l.peer || to == identity_.public_key()) {
    return refuse(NackCode::kRelayOff, "loop: the target is the sender or the relay");
  }
  auto it = by_key_.find(to);
  if (it == by_key_.end()) {
    return refuse(NackCode::kNoRoute, "the target " + address_to_text(to) + " is not a peer");
  }
  Link& t = *links_[it->second];
  l.relay_tokens = std::min(config_.relay_burst,
                            l.relay_tokens + static_cast<double>(now_us - l.relay_tokens_us) *
                                                 config_.relay_rate_per_s / 1e6);
  l.relay_tokens_us = now_us;
  if (l.relay_tokens < 1) return refuse(NackCode::kLimit, "rate limit");
  if (relays_.size() >= config_.max_relay_pending) {
    return refuse(NackCode::kLimit, "too many relayed WHISPERs in flight");
  }
  if (t.queued() > config_.max_send_queue_bytes / 2) {
    return refuse(NackCode::kLimit, "the link to the target is congested");
  }
  l.relay_tokens -= 1;
  WhisperMsg fwd;
  fwd.app = w.app;
  fwd.flags = static_cast<uint8_t>(
      (w.flags & (kWhisperEncrypted | kWhisperRequest | kWhisperResponse)) | kWhisperRelayed);
  // A relayed request names the origin's id on its link to us: the target
  // answers with it, and the origin matches the response on that link.
  fwd.reply_to = (w.flags & kWhisperRequest) ? id : w.reply_to;
  fwd.payload = std::move(w.payload);
  std::copy(l.peer.begin(), l.peer.end(), fwd.payload.begin());  // to -> origin
  const uint32_t fid = t.take_id();
  relays_[pending_key(t.id, fid)] =
      RelayEntry{l.id, id, now_us + ms_to_us(config_.request_timeout_ms)};
  wake_at(now_us + ms_to_us(config_.request_timeout_ms));
  ++stats_.relays_forwarded;
  stats_.relay_bytes_forwarded += fwd.payload.size() - kKeyBytes;
  send(t, Message{fid, std::move(fwd)}, now_us);
}

bool NodeCore::relay_answer(Link& l, uint32_t id, const Message& answer, int64_t now_us) {
  const uint8_t whisper = static_cast<uint8_t>(Opcode::kWhisper);
  const auto* ack = std::get_if<AckMsg>(&answer.body);
  const auto* nack = std::get_if<NackMsg>(&answer.body);
  if (!(ack && ack->acked == whisper) && !(nack && nack->acked == whisper)) return false;
  auto it = relays_.find(pending_key(l.id, id));
  if (it == relays_.end()) return false;
  RelayEntry e = it->second;
  relays_.erase(it);
  Link* from = find(e.from_link);
  if (!from || from->state != Link::State::kEstablished) return true;  // origin gone
  if (ack) {
    send_ack(*from, e.from_id, Opcode::kWhisper, ack->data, now_us);
  } else {
    send_nack(*from, e.from_id, whisper, nack->code, "target: " + nack->reason, {}, now_us);
  }
  return true;
}

// `link` closed: WHISPERs relayed to it fail back to their origins; those
// that came from it have nobody left to answer.
void NodeCore::end_relays_of(LinkId link, const std::string& reason, int64_t now_us) {
  std::vector<RelayEntry> failed;
  for (auto it = relays_.begin(); it != relays_.end();) {
    const bool to_it = (it->first >> 32) == link;
    if (to_it) failed.push_back(it->second);
    if (to_it || it->second.from_link == link) {
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
  for (const RelayEntry& e : failed) {
    Link* from = find(e.from_link);
    if (!from || from->state != Link::State::kEstablished) continue;
    send_nack(*from, e.from_id, static_cast<uint8_t>(Opcode::kWhisper), NackCode::kNoRoute,
              "relay: the link to the target closed: " + reason, {}, now_us);
  }
}

// As the target: `l`'s peer relays a WHISPER sealed to us by the origin
// named in its first 32 bytes.
void NodeCore::on_relayed(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us) {
  const uint8_t whisper = static_cast<uint8_t>(Opcode::kWhisper);
  if (!(w.flags & kWhisperEncrypted) || w.payload.size() < kKeyBytes + kBoxOverhead) {
    misbehaved(l, kScoreMalformedMessage, "malformed relayed WHISPER", now_us);
    if (l.closed) return;
    send_nack(l, id, whisper, NackCode::kUnspecified,
              "malformed relayed WHISPER (not encrypted, or shorter than a key and a box)", {},
              now_us);
    return;
  }
  PublicKey origin;
  std::copy_n(w.payload.begin(), kKeyBytes, origin.begin());
  const ByteView box = ByteView(w.payload).subspan(kKeyBytes);
  const Hash256 hash = blake2b_256(box);
  auto opened = open_whisper(origin, box);
  if (!opened) {
    send_nack(l, id, whisper, NackCode::kDecryptFailed, opened.error().message(), {}, now_us);
    return;
  }
  if (w.flags & kWhisperResponse) {
    send_ack(l, id, Opcode::kWhisper, Bytes(hash.begin(), hash.end()), now_us);
    auto it = pending_.find(pending_key(l.id, w.reply_to));
    if (it == pending_.end() || it->second.kind != kRequest || it->second.relayed_to != origin) {
      return;  // late (or replayed), or not from the node we asked
    }
    Token token = it->second.token;
    pending_.erase(it);
    complete(token, std::move(*opened));
    return;
  }
  if (!apps_.count(w.app)) {
    send_nack(l, id, whisper, NackCode::kUnknownApp,
              "no app " + std::to_string(w.app) + " on this node", {}, now_us);
    return;
  }
  send_ack(l, id, Opcode::kWhisper, Bytes(hash.begin(), hash.end()), now_us);
  // The origin's random nonce names the message: a relay that sends it
  // twice gets the ACK again but the app sees it once.
  uint64_t nonce_head = 0;
  for (size_t i = 0; i < 8; ++i) nonce_head = nonce_head << 8 | box[i];
  if (!relay_seen_.insert(make_seen_key(origin, nonce_head), now_us)) {
    ++stats_.relayed_replays;
    return;
  }
  ++stats_.relayed_received;
  events_.push_back(WhisperEvent{w.app, origin, std::move(*opened), true,
                                 (w.flags & kWhisperRequest) != 0, w.reply_to, l.id, l.peer});
}

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

// ---------------------------------------------------------------- sending

bool NodeCore::send(Link& l, const Message& m, int64_t now_us) {
  scratch_.clear();
  encode_message(m, scratch_);
  const bool queued = enqueue(l, scratch_, now_us);
  if (queued) {
    switch (static_cast<Opcode>(opcode_of(m))) {
      case Opcode::kIhave:
        ++stats_.ihaves_sent;
        stats_.ihave_bytes_sent += scratch_.size();
        break;
      case Opcode::kGraft:
        ++stats_.grafts_sent;
        stats_.graft_bytes_sent += scratch_.size();
        break;
      case Opcode::kPrune:
        ++stats_.prunes_sent;
        stats_.prune_bytes_sent += scratch_.size();
        break;
      default:
        break;
    }
  }
  return queued;
}

// ---------------------------------------------------------------- connection options

bool NodeCore::offered(uint8_t setting) const {
  for (auto m : config_.compression)
    if (compression::setting_of(m) == setting) return true;
  return false;
}

size_t NodeCore::max_decompressed_bytes() const {
  return config_.max_decompressed_bytes ? config_.max_decompressed_bytes : config_.max_frame_bytes;
}

void NodeCore::offer_compression(Link& l, int64_t now_us) {
  for (auto m : config_.compression) {
    send(l,
         Message{l.take_id(), SetConnectionOptMsg{kOptionCompression, compression::setting_of(m)}},
         now_us);
  }
  if (config_.preferred_compression) {
    send(l,
         Message{l.take_id(),
                 SetConnectionOptMsg{kOptionPreferredCompression,
                                     compression::setting_of(*config_.preferred_compression)}},
         now_us);
  }
}

void NodeCore::on_connection_opt(Link& l, uint32_t id, const SetConnectionOptMsg& opt,
                                 int64_t now_us) {
  const Bytes echo{opt.option, opt.setting};
  const uint8_t acked = static_cast<uint8_t>(Opcode::kSetConnectionOpt);
  if (opt.option == kOptionBroadcastTree) {
    if (opt.setting != kBroadcastTreeVersion) {
      send_nack(l, id, acked, NackCode::kUnsupportedOption,
                "unknown broadcast tree version " + std::to_string(opt.setting), echo, now_us);
      return;
    }
    // The peer speaks the tree opcodes and so do we, whatever our own apps'
    // modes: the link joins the tree (eager until a duplicate prunes it).
    if (routable(l)) tree_.add_link(l.id, now_us);
    send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
    return;
  }
  if (opt.option == kOptionContentShout) {
    if (opt.setting != kContentShoutVersion) {
      send_nack(l, id, acked, NackCode::kUnsupportedOption,
                "unknown content-addressed SHOUT version " + std::to_string(opt.setting), echo,
                now_us);
      return;
    }
    // We speak it, whatever our own apps' modes: we relay such SHOUTs.
    l.content = true;
    send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
    return;
  }
  if (opt.option != kOptionCompression && opt.option != kOptionPreferredCompression) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              "unknown option " + std::to_string(opt.option), echo, now_us);
    return;
  }
  auto method = compression::method_from_setting(opt.setting);
  if (!method) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              "unknown compression setting " + std::to_string(opt.setting), echo, now_us);
    return;
  }
  if (!offered(opt.setting)) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              std::string("compression ") + compression::method_name(*method) + " is disabled",
              echo, now_us);
    return;
  }
  if (opt.option == kOptionCompression) {
    l.compress_we_acked |= static_cast<uint8_t>(1u << opt.setting);
  } else {
    l.peer_preferred = opt.setting;
  }
  send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
  choose_codec(l);
}

// The receiver's preferred codec if both sides ACKed it, else the first in
// our own order that both ACKed, else none.
void NodeCore::choose_codec(Link& l) {
  auto usable = [&](uint8_t setting) {
    const uint8_t bit = static_cast<uint8_t>(1u << setting);
    return (l.compress_we_acked & bit) && (l.compress_peer_acked & bit);
  };
  l.tx_codec.reset();
  if (l.peer_preferred && usable(*l.peer_preferred)) {
    l.tx_codec = compression::method_from_setting(*l.peer_preferred);
    return;
  }
  for (auto m : config_.compression) {
    if (usable(compression::setting_of(m))) {
      l.tx_codec = m;
      return;
    }
  }
}

std::optional<compression::Method> NodeCore::link_codec(const PublicKey& peer) const {
  auto it = by_key_.find(peer);
  if (it == by_key_.end()) return std::nullopt;
  return links_.at(it->second)->tx_codec;
}

void NodeCore::send_ack(Link& l, uint32_t id, Opcode acked, Bytes data, int64_t now_us) {
  send(l, Message{id, AckMsg{static_cast<uint8_t>(acked), std::move(data)}}, now_us);
}

void NodeCore::send_nack(Link& l, uint32_t id, uint8_t acked, NackCode code, std::string reason,
                         Bytes data, int64_t now_us) {
  send(l, Message{id, NackMsg{acked, code, std::move(reason), std::move(data)}}, now_us);
}

bool NodeCore::enqueue(Link& l, ByteView record, int64_t now_us) {
  if (l.closed || l.state != Link::State::kEstablished) return false;
  const size_t frame_payload_max = config_.max_frame_bytes - kFrameTagBytes;
  if (1 + kRecordLengthBytes + record.size() > frame_payload_max) return false;  // fits no frame
  // Straight into the frame while the window has room and nothing waits
  // (the common case, and the cheap one); otherwise into the app's queue.
  const std::optional<AppId> app =
      l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes ? std::nullopt
                                                                         : app_of_record(record);
  if (!app) {
    append_record(l, record);
  } else {
    if (!room_for(l, *app, record.size())) {
      ++stats_.app_queue_refused;
      return false;
    }
    l.sendq.push(app_priority(*app), *app, record);
    ++stats_.messages_queued;
  }
  ++stats_.messages_sent;
  mark_dirty(l);
  if (l.queued() > config_.max_send_queue_bytes) {
    close_link(l,
               "send queue above " + std::to_string(config_.max_send_queue_bytes) +
                   " bytes (peer not reading)",
               true, now_us);
    return false;
  }
  return true;
}

void NodeCore::append_record(Link& l, ByteView record) {
  const size_t frame_payload_max = config_.max_frame_bytes - kFrameTagBytes;
  const size_t need = kRecordLengthBytes + record.size();
  if (l.plain.size() + need > frame_payload_max) seal_pending(l);
  if (l.plain.empty()) l.plain.push_back(kCodecNone);
  const uint32_t len = static_cast<uint32_t>(record.size());
  const uint8_t prefix[kRecordLengthBytes] = {
      static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
      static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  l.plain.insert(l.plain.end(), prefix, prefix + kRecordLengthBytes);
  l.plain.insert(l.plain.end(), record.begin(), record.end());
  if (l.plain.size() >= kSealAtBytes) seal_pending(l);
}

void NodeCore::drain_send_queue(Link& l) {
  while (!l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes) {
    append_record(l, l.sendq.front());
    l.sendq.pop();
  }
}

bool NodeCore::room_for(const Link& l, AppId app, size_t bytes) const {
  if (l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes) return true;
  return l.sendq.app_bytes(app) + bytes <= config_.max_app_queue_bytes;
}

void NodeCore::seal_pending(Link& l) {
  if (l.plain.size() <= 1) return;
  ++stats_.frames_sent;
  if (l.tx_codec && l.plain.size() - 1 >= config_.compression_threshold_bytes) {
    if (l.skip_compression > 0) {
      --l.skip_compression;
    } else {
      const ByteView records = ByteView(l.plain).subspan(1);
      // Snappy gives up on incompressible data at memory speed; the other
      // codecs cost 50-500x more. Let it judge first: if it cannot save an
      // eighth, the slow codec is not tried on this frame.
      bool worth_it = true;
      if (*l.tx_codec != compression::Method::kSnappy) {
        auto probe = compression::codec_for(compression::Method::kSnappy).compress(records);
        worth_it = probe && probe->size() <= records.size() - records.size() / 8;
      }
      Result<Bytes> packed = worth_it ? compression::codec_for(*l.tx_codec).compress(records)
                                      : Result<Bytes>(limit_exceeded("incompressible"));
      if (packed && packed->size() < records.size()) {
        l.incompressible_streak = 0;
        stats_.bytes_before_compression += records.size();
        stats_.bytes_after_compression += packed->size();
        ++stats_.frames_compressed;
        packed->insert(packed->begin(),
                       static_cast<uint8_t>(1 + compression::setting_of(*l.tx_codec)));
        l.sealer->seal(*packed, l.out);
        l.plain.clear();
        return;
      }
      // It did not shrink: skip the next 1, 3, 7 .. 63 frames before trying
      // again, so incompressible traffic costs a compression attempt only
      // now and then instead of on every frame.
      l.incompressible_streak = std::min(l.incompressible_streak + 1, 6);
      l.skip_compression = (1 << l.incompressible_streak) - 1;
    }
  }
  l.sealer->seal(l.plain, l.out);
  l.plain.clear();
}

void NodeCore::flush(int64_t now_us) {
  // What this input announced goes out as one IHAVE per lazy link.
  tree_.flush_announcements();
  drain_tree(now_us);
  std::vector<LinkId> dirty;
  dirty.swap(dirty_);
  for (LinkId id : dirty) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;
    Link& l = *it->second;
    l.dirty = false;
    if (l.closed) continue;
    if (l.state == Link::State::kEstablished) {
      drain_send_queue(l);
      seal_pending(l);
    }
    if (l.out.empty()) continue;
    l.in_flight += l.out.size();
    stats_.bytes_sent += l.out.size();
    actions_.push_back(SendAction{l.id, std::move(l.out)});
    l.out = Bytes();
    if (l.in_flight > config_.max_send_queue_bytes) {
      close_link(l,
                 "send queue above " + std::to_string(config_.max_send_queue_bytes) +
                     " bytes (peer not reading)",
                 true, now_us);
    }
  }
  // Closed links leave once nothing can point at them any more. Only a close
  // makes this sweep necessary, so it does not cost every flush a scan.
  if (!swept_closed_) return;
  swept_closed_ = false;
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second->closed && !it->second->dirty) {
      it = links_.erase(it);
    } else {
      if (it->second->closed) swept_closed_ = true;  // still referenced: next time
      ++it;
    }
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
  if (!held_.empty()) next = std::min(held_.begin()->second.deadline_us, next);
  return next;
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
  end_connect_waits(l, reason, now_us);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.link == l.id) {
      complete(it->second.token, cancelled("link closed: " + reason));
      it = pending_.erase(it);
    } else {
      ++it;
    }
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
  auto it = bans_.find(peer);
  return it != bans_.end() && it->second > now_us;
}

Result<void> NodeCore::ban(const PublicKey& peer, int64_t duration_ms, const std::string& reason,
                           int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (peer == identity_.public_key()) return invalid_argument("cannot ban our own key");
  if (duration_ms <= 0) return invalid_argument("ban duration must be positive");
  const int64_t until =
      duration_ms > (INT64_MAX - now_us) / 1000 ? INT64_MAX : now_us + ms_to_us(duration_ms);
  auto it = bans_.find(peer);
  if (it == bans_.end() && bans_.size() >= config_.max_bans) {
    // Full: the ban that would end first makes room (expired ones first of all).
    auto first = std::min_element(bans_.begin(), bans_.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
    bans_.erase(first);
  }
  bans_[peer] = until;
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
  auto it = bans_.find(peer);
  if (it == bans_.end() || it->second <= now_us) return not_found("peer is not banned");
  bans_.erase(it);
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

void NodeCore::complete(Token token, Result<Bytes> result, int64_t rtt_us) {
  auto g = group_left_.find(token);
  if (g != group_left_.end()) {
    // A SPEAK-to-all completes once: on its first failure or its last ACK.
    // Its entry stays, marked failed, until every addressee has answered, so
    // answers after a failure are swallowed instead of completing it again.
    const bool failed_before = (g->second & kGroupFailed) != 0;
    const size_t left = (g->second & ~kGroupFailed) - 1;
    if (left == 0) {
      group_left_.erase(g);
    } else {
      g->second = left | (failed_before || !result ? kGroupFailed : 0);
    }
    if (failed_before || (result && left > 0)) return;
  } else if (token == 0) {
    return;
  }
  events_.push_back(CompletionEvent{token, std::move(result), rtt_us});
}

// ---------------------------------------------------------------- commands

size_t NodeCore::max_payload_bytes() const {
  return config_.max_frame_bytes - kFrameTagBytes - 1 - kRecordLengthBytes - kMaxMessageOverhead;
}

Result<Token> NodeCore::add_pending(Link& l, uint32_t id, int kind, Token token,
                                    int64_t deadline_us, Hash256 expect,
                                    std::optional<PublicKey> relayed_to) {
  if (pending_.size() >= config_.max_pending_requests) {
    return limit_exceeded("too many requests in flight (max_pending_requests)");
  }
  Pending p;
  p.token = token;
  p.kind = kind;
  p.link = l.id;
  p.sent_us = deadline_us - ms_to_us(config_.request_timeout_ms);
  p.deadline_us = deadline_us;
  p.expect = expect;
  p.relayed_to = relayed_to;
  pending_[pending_key(l.id, id)] = p;
  wake_at(deadline_us);
  return token;
}

Result<void> NodeCore::shout(AppId app, ByteView payload, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("SHOUT payload too large");
  if (content_mode(app)) {
    ContentShoutMsg c;
    c.app = app;
    c.hops_left = config_.shout_hop_limit;
    c.payload.assign(payload.begin(), payload.end());
    const SeenKey key = content_shout_key(app, content_id_of(payload));
    seen_.insert(key, now_us);
    pass_on(Message{0, std::move(c)}, key, 0, true, now_us);
    return {};
  }
  ShoutMsg s;
  s.app = app;
  s.hops_left = config_.shout_hop_limit;
  s.origin = identity_.public_key();
  s.shout_id = random_.next_u64();
  s.signature = identity_.sign(shout_signing_bytes(app, s.origin, s.shout_id, payload));
  s.payload.assign(payload.begin(), payload.end());
  const SeenKey key = make_seen_key(s.origin, s.shout_id);
  seen_.insert(key, now_us);
  if (tree_mode(app)) {
    tree_forward(Message{0, std::move(s)}, key, 0, true, now_us);
  } else {
    broadcast(Message{0, std::move(s)}, {}, nullptr, now_us);
  }
  return {};
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
  if (ack && pending_.size() + targets.size() > config_.max_pending_requests) {
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
    group_left_[token] = targets.size();
  }
  Message m{0, std::move(s)};
  for (Link* l : targets) {
    if (ack) {
      m.id = l->take_id();
      (void)add_pending(*l, m.id, kSpeakAck, token, now_us + ms_to_us(config_.request_timeout_ms));
    }
    send(*l, m, now_us);
  }
  return token;
}

Result<NodeCore::Outgoing> NodeCore::prepare_whisper(AppId app, const PublicKey& to,
                                                     ByteView payload, bool encrypt, uint8_t flags,
                                                     LinkId via, std::optional<PublicKey> relay) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("WHISPER payload too large");
  const PublicKey& next = relay ? *relay : to;
  if (relay) {
    if (to == identity_.public_key() || to == *relay || *relay == identity_.public_key()) {
      return invalid_argument("a relay must be a third node");
    }
    encrypt = true;  // the relay must see only ciphertext
    flags |= kWhisperRelay;
  }
  auto it = by_key_.find(next);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(next));
  auto sealed = seal_whisper(to, payload, encrypt);
  if (!sealed) return sealed.error();
  Outgoing out;
  out.link = links_[it->second].get();
  // A superseded link still carries answers to what arrived on it.
  if (Link* v = via ? find(via) : nullptr;
      v && v->state == Link::State::kEstablished && v->peer == next) {
    out.link = v;
  }
  if (!room_for(*out.link, app, payload.size() + kMaxMessageOverhead)) {
    ++stats_.app_queue_refused;
    return limit_exceeded("app " + std::to_string(app) + " has max_app_queue_bytes queued to " +
                          address_to_text(next));
  }
  out.msg.app = app;
  out.msg.flags = static_cast<uint8_t>(flags | (encrypt ? kWhisperEncrypted : 0));
  if (relay) {
    out.msg.payload.reserve(to.size() + sealed->size());
    out.msg.payload.assign(to.begin(), to.end());
    out.msg.payload.insert(out.msg.payload.end(), sealed->begin(), sealed->end());
  } else {
    out.msg.payload = std::move(*sealed);
  }
  return out;
}

Hash256 NodeCore::ack_hash_of(const WhisperMsg& msg) {
  if (msg.flags & (kWhisperRelay | kWhisperRelayed)) {
    return blake2b_256(ByteView(msg.payload).subspan(kKeyBytes));
  }
  return blake2b_256(msg.payload);
}

Result<Token> NodeCore::whisper(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                                int64_t now_us) {
  auto out = prepare_whisper(app, to, payload, encrypt, 0);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token =
      add_pending(l, id, kWhisperAck, next_token(), now_us + ms_to_us(config_.request_timeout_ms),
                  blake2b_256(out->msg.payload));
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
}

Result<Token> NodeCore::whisper_via(AppId app, const PublicKey& relay, const PublicKey& to,
                                    ByteView payload, int64_t now_us) {
  auto out = prepare_whisper(app, to, payload, true, 0, 0, relay);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token = add_pending(l, id, kWhisperAck, next_token(),
                           now_us + ms_to_us(config_.request_timeout_ms), ack_hash_of(out->msg));
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
}

Result<Token> NodeCore::request_via(AppId app, const PublicKey& relay, const PublicKey& to,
                                    ByteView payload, int64_t timeout_ms, int64_t now_us) {
  if (timeout_ms <= 0) return invalid_argument("request timeout must be positive");
  auto out = prepare_whisper(app, to, payload, true, kWhisperRequest, 0, relay);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token = add_pending(l, id, kRequest, next_token(), now_us + ms_to_us(timeout_ms), {}, to);
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
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

Result<Token> NodeCore::request(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                                int64_t timeout_ms, int64_t now_us) {
  if (timeout_ms <= 0) return invalid_argument("request timeout must be positive");
  auto out = prepare_whisper(app, to, payload, encrypt, kWhisperRequest);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token = add_pending(l, id, kRequest, next_token(), now_us + ms_to_us(timeout_ms));
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
}

Result<void> NodeCore::respond(AppId app, const PublicKey& to, uint32_t request_id,
                               ByteView payload, bool encrypt, int64_t now_us, LinkId via) {
  // A request that came through a relay goes back through it: the origin
  // waits for the response on its link to that relay.
  std::optional<PublicKey> relay;
  if (Link* v = via ? find(via) : nullptr;
      v && v->state == Link::State::kEstablished && v->peer != to) {
    relay = v->peer;
  }
  auto out = prepare_whisper(app, to, payload, encrypt, kWhisperResponse, via, relay);
  if (!out) return out.error();
  out->msg.reply_to = request_id;
  send(*out->link, Message{out->link->take_id(), std::move(out->msg)}, now_us);
  return {};
}

Result<void> NodeCore::reject(const PublicKey& to, uint32_t request_id, LinkId via, NackCode code,
                              const std::string& reason, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  Link* l = via ? find(via) : nullptr;
  if (!l || l->state != Link::State::kEstablished) {
    return not_found("the link the request came on is closed");
  }
  if (l->peer != to) {
    return invalid_argument("a relayed request cannot be refused; it times out at its origin");
  }
  send_nack(*l, request_id, static_cast<uint8_t>(Opcode::kWhisper), code, reason, {}, now_us);
  return {};
}

Result<void> NodeCore::send_direct(AppId app, const PublicKey& to, ByteView payload,
                                   int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("DIRECT payload too large");
  auto it = by_key_.find(to);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(to));
  Link& l = *links_[it->second];
  if (!room_for(l, app, kDirectHeaderBytes + payload.size())) {
    ++stats_.app_queue_refused;
    return limit_exceeded("app " + std::to_string(app) + " has max_app_queue_bytes queued to " +
                          address_to_text(to));
  }
  // Encoded here rather than through DirectMsg: one copy of the payload.
  scratch_.clear();
  ByteWriter w(scratch_);
  w.u8(static_cast<uint8_t>(Opcode::kDirect));
  w.u32(0);
  w.u16(app);
  w.bytes(payload);
  if (!enqueue(l, scratch_, now_us)) {
    return io_error("link to " + address_to_text(to) + " closed");
  }
  ++stats_.directs_sent;
  return {};
}

Result<Token> NodeCore::ping(const PublicKey& to, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  auto it = by_key_.find(to);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(to));
  Link& l = *links_[it->second];
  uint32_t id = l.take_id();
  auto token =
      add_pending(l, id, kPingCommand, next_token(), now_us + ms_to_us(config_.request_timeout_ms));
  if (!token) return token;
  pending_[pending_key(l.id, id)].sent_us = now_us;
  send(l, Message{id, PingMsg{}}, now_us);
  return token;
}

Result<Bytes> NodeCore::seal_whisper(const PublicKey& to, ByteView payload, bool encrypt) {
  if (!encrypt) return Bytes(payload.begin(), payload.end());
  auto pk = Identity::x25519_public(to);
  if (!pk) return pk.error();
  Bytes out(kBoxOverhead + payload.size());
  random_.fill(out.data(), crypto_box_NONCEBYTES);
  if (crypto_box_easy(out.data() + crypto_box_NONCEBYTES, payload.data(), payload.size(),
                      out.data(), pk->data(), x25519_secret_.data()) != 0) {
    return invalid_argument("cannot encrypt to this key");
  }
  return out;
}

Result<Bytes> NodeCore::open_whisper(const PublicKey& from, ByteView payload) {
  if (payload.size() < kBoxOverhead) return malformed("encrypted WHISPER shorter than its box");
  auto pk = Identity::x25519_public(from);
  if (!pk) return pk.error();
  Bytes out(payload.size() - kBoxOverhead);
  if (crypto_box_open_easy(out.data(), payload.data() + crypto_box_NONCEBYTES,
                           payload.size() - crypto_box_NONCEBYTES, payload.data(), pk->data(),
                           x25519_secret_.data()) != 0) {
    return auth_failed("encrypted WHISPER did not open (wrong key or tampered)");
  }
  return out;
}

// ---------------------------------------------------------------- timers

void NodeCore::on_timer(int64_t now_us) {
  if (shut_down_) return;
  tree_.on_timer(now_us);  // GRAFTs for announced SHOUTs that did not come
  drain_tree(now_us);
  expire_verdicts(now_us);
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
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_us <= now_us) {
      complete(it->second.token,
               timed_out(std::string("no answer to ") + opcode_name(acked_opcode(it->second.kind)) +
                         " in time"));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<RelayEntry> late;
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (it->second.deadline_us <= now_us) {
      late.push_back(it->second);
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
  for (const RelayEntry& e : late) {
    if (Link* from = find(e.from_link)) {
      send_nack(*from, e.from_id, static_cast<uint8_t>(Opcode::kWhisper), NackCode::kRelayTimeout,
                "relay: the target did not answer in time", {}, now_us);
    }
  }
  seen_.expire(now_us);
  speak_seen_.expire(now_us);
  std::erase_if(bans_, [now_us](const auto& b) { return b.second <= now_us; });
  relay_seen_.expire(now_us);
  if (now_us >= next_exchange_us_) {
    next_exchange_us_ =
        now_us +
        static_cast<int64_t>(static_cast<double>(ms_to_us(config_.peer_exchange_interval_ms)) *
                             (0.75 + 0.5 * random_.unit()));
    for (auto& [id, l] : links_)
      if (routable(*l)) send_peer_exchange(*l, now_us);
  }
  if (config_.rotate_interval_ms > 0 && now_us >= next_rotate_us_) {
    next_rotate_us_ =
        now_us + static_cast<int64_t>(static_cast<double>(ms_to_us(config_.rotate_interval_ms)) *
                                      (0.5 + random_.unit()));
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
  for (auto& [k, p] : pending_) at(p.deadline_us);
  for (auto& [k, r] : relays_) at(r.deadline_us);
  at(next_exchange_us_);
  if (config_.rotate_interval_ms > 0) at(next_rotate_us_);
  if (outbound < config_.max_outbound_links) {  // when a backoff or a ban ends
    if (auto t = book_.next_due_after_us(now_us)) at(*t);
    for (auto& [key, until] : bans_)
      if (until > now_us) at(until);
  }
  next_maintain_us_ = next;
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
    out.push_back(PeerInfo{l.peer, l.remote, l.outbound, l.peer_listen_port, l.rtt_us, l.queued()});
  }
  return out;
}

size_t NodeCore::queued_bytes(const PublicKey& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? 0 : links_.at(it->second)->queued();
}

}  // namespace chorus::overlay
