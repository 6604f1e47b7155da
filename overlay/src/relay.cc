// Relay (spec/overlay.md, "Relay"): WHISPERs passed through a third node.
// As the origin: whisper_via / request_via. As the relay: on_relay_request,
// and answers going back (relay_answer). As the target: on_relayed.
#include <algorithm>

#include "node_core_internal.h"
#include "pending_table.h"
#include "relay_table.h"

namespace chorus::overlay {
using namespace detail;

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
  // The token is taken only once the request passes every check below.
  l.relay_tokens.refill(now_us);
  if (!l.relay_tokens.has_token()) return refuse(NackCode::kLimit, "rate limit");
  if (relays_->full()) return refuse(NackCode::kLimit, "too many relayed WHISPERs in flight");
  if (t.queued() > config_.max_send_queue_bytes / kRelayCongestionDivisor) {
    return refuse(NackCode::kLimit, "the link to the target is congested");
  }
  l.relay_tokens.take();
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
  relays_->put(t.id, fid,
               RelayTable::Entry{l.id, id, now_us + ms_to_us(config_.request_timeout_ms)});
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
  const std::optional<RelayTable::Entry> e = relays_->take(l.id, id);
  if (!e) return false;
  Link* from = find(e->from_link);
  if (!from || from->state != Link::State::kEstablished) return true;  // origin gone
  if (ack) {
    send_ack(*from, e->from_id, Opcode::kWhisper, ack->data, now_us);
  } else {
    send_nack(*from, e->from_id, whisper, nack->code, "target: " + nack->reason, {}, now_us);
  }
  return true;
}

// `link` closed: WHISPERs relayed to it fail back to their origins; those
// that came from it have nobody left to answer.
void NodeCore::end_relays_of(LinkId link, const std::string& reason, int64_t now_us) {
  if (relays_->empty()) return;
  for (const RelayTable::Entry& e : relays_->end_link(link)) {
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
    const PendingTable::Entry* p = pending_->find(l.id, w.reply_to);
    if (!p || p->kind != PendingTable::kRequest || p->relayed_to != origin) {
      return;  // late (or replayed), or not from the node we asked
    }
    const Token token = p->token;
    pending_->erase(l.id, w.reply_to);
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
  for (size_t i = 0; i < kRelayNonceHeadBytes; ++i) nonce_head = nonce_head << 8 | box[i];
  if (!relay_seen_.insert(make_seen_key(origin, nonce_head), now_us)) {
    ++stats_.relayed_replays;
    return;
  }
  ++stats_.relayed_received;
  events_.push_back(WhisperEvent{w.app, origin, std::move(*opened), true,
                                 (w.flags & kWhisperRequest) != 0, w.reply_to, l.id, l.peer});
}

Result<Token> NodeCore::whisper_via(AppId app, const PublicKey& relay, const PublicKey& to,
                                    ByteView payload, int64_t now_us) {
  auto out = prepare_whisper(app, to, payload, true, 0, 0, relay);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token = add_pending(l, id, PendingTable::kWhisperAck, next_token(),
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
  auto token = add_pending(l, id, PendingTable::kRequest, next_token(),
                           now_us + ms_to_us(timeout_ms), {}, to);
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
}

// Relayed WHISPERs whose target did not answer in time fail back to their
// origins.
void NodeCore::expire_relays(int64_t now_us) {
  for (const RelayTable::Entry& e : relays_->take_expired(now_us)) {
    if (Link* from = find(e.from_link)) {
      send_nack(*from, e.from_id, static_cast<uint8_t>(Opcode::kWhisper), NackCode::kRelayTimeout,
                "relay: the target did not answer in time", {}, now_us);
    }
  }
}

}  // namespace chorus::overlay
