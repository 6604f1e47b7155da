// WHISPER to a direct peer: prepared (checked, sealed end to end when
// encrypted), sent, received, and answered (respond, reject).
#include "node_core_internal.h"
#include "pending_table.h"
#include "whisper_box.h"

namespace chorus::overlay {
using namespace detail;

void NodeCore::on_whisper(Link& l, uint32_t id, WhisperMsg&& w, int64_t now_us) {
  if (w.flags & kWhisperRelay) return on_relay_request(l, id, std::move(w), now_us);
  if (w.flags & kWhisperRelayed) return on_relayed(l, id, std::move(w), now_us);
  Hash256 hash = blake2b_256(w.payload);
  const bool encrypted = w.flags & kWhisperEncrypted;
  if (w.flags & kWhisperResponse) {
    send_ack(l, id, Opcode::kWhisper, Bytes(hash.begin(), hash.end()), now_us);
    const PendingTable::Entry* p = pending_->find(l.id, w.reply_to);
    // A request we sent through this peer as a relay is answered only by
    // its target, relayed: the relay cannot answer in its name.
    if (!p || p->kind != PendingTable::kRequest || p->relayed_to) return;
    const Token token = p->token;
    pending_->erase(l.id, w.reply_to);
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
      add_pending(l, id, PendingTable::kWhisperAck, next_token(),
                  now_us + ms_to_us(config_.request_timeout_ms), blake2b_256(out->msg.payload));
  if (!token) return token;
  send(l, Message{id, std::move(out->msg)}, now_us);
  return token;
}

Result<Token> NodeCore::request(AppId app, const PublicKey& to, ByteView payload, bool encrypt,
                                int64_t timeout_ms, int64_t now_us) {
  if (timeout_ms <= 0) return invalid_argument("request timeout must be positive");
  auto out = prepare_whisper(app, to, payload, encrypt, kWhisperRequest);
  if (!out) return out.error();
  Link& l = *out->link;
  uint32_t id = l.take_id();
  auto token =
      add_pending(l, id, PendingTable::kRequest, next_token(), now_us + ms_to_us(timeout_ms));
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

Result<Bytes> NodeCore::seal_whisper(const PublicKey& to, ByteView payload, bool encrypt) {
  return box_->seal(to, payload, encrypt, random_);
}

Result<Bytes> NodeCore::open_whisper(const PublicKey& from, ByteView payload) {
  return box_->open(from, payload);
}

// ---------------------------------------------------------------- WhisperBox

WhisperBox::WhisperBox(const Identity& identity) : secret_(identity.x25519_secret()) {}

WhisperBox::~WhisperBox() {
  sodium_memzero(secret_.data(), secret_.size());
}

Result<Bytes> WhisperBox::seal(const PublicKey& to, ByteView payload, bool encrypt,
                               Random& random) const {
  if (!encrypt) return Bytes(payload.begin(), payload.end());
  auto pk = Identity::x25519_public(to);
  if (!pk) return pk.error();
  Bytes out(kBoxOverhead + payload.size());
  random.fill(out.data(), crypto_box_NONCEBYTES);
  if (crypto_box_easy(out.data() + crypto_box_NONCEBYTES, payload.data(), payload.size(),
                      out.data(), pk->data(), secret_.data()) != 0) {
    return invalid_argument("cannot encrypt to this key");
  }
  return out;
}

Result<Bytes> WhisperBox::open(const PublicKey& from, ByteView payload) const {
  if (payload.size() < kBoxOverhead) return malformed("encrypted WHISPER shorter than its box");
  auto pk = Identity::x25519_public(from);
  if (!pk) return pk.error();
  Bytes out(payload.size() - kBoxOverhead);
  if (crypto_box_open_easy(out.data(), payload.data() + crypto_box_NONCEBYTES,
                           payload.size() - crypto_box_NONCEBYTES, payload.data(), pk->data(),
                           secret_.data()) != 0) {
    return auth_failed("encrypted WHISPER did not open (wrong key or tampered)");
  }
  return out;
}

}  // namespace chorus::overlay
