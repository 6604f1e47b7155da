// DhtCore, the serving side: answering other nodes' requests (spec/dht.md
// §5): PING, FIND_NODE, FIND_VALUE, STORE in all its kinds, and NOTIFY for
// our listens; and telling our listeners when a value we store changes.
#include <algorithm>

#include "chorus/dht/dht_core.h"
#include "operations.h"
#include "rpc_table.h"
#include "write_tokens.h"

namespace chorus::dht {
namespace {

// Encoded sizes (spec §3): Value = u64 id ‖ u32 ttl ‖ bytes; SignedValue =
// owner ‖ u64 seq ‖ u32 ttl ‖ bytes ‖ signature (bytes with a u32 length).
constexpr size_t kValueFixedBytes = 8 + 4 + 4;
constexpr size_t kSignedValueFixedBytes = 32 + 8 + 4 + 4 + 64;

size_t encoded_size(const Value& v) {
  return kValueFixedBytes + v.data.size();
}
size_t encoded_size(const SignedValue& v) {
  return kSignedValueFixedBytes + v.data.size();
}

// Keeps whole values until `room` bytes are used: signed values first (they
// are authenticated), then plain values with the most time left (the most
// recently stored, for equal TTLs). Values that do not fit are skipped, so
// smaller ones after them may still go. True when something was left out.
bool trim_values(size_t room, std::vector<Value>& values, std::vector<SignedValue>& signed_values) {
  size_t need = 0;
  for (const auto& v : values) need += encoded_size(v);
  for (const auto& v : signed_values) need += encoded_size(v);
  if (need <= room) return false;
  std::vector<SignedValue> keep_signed;
  for (auto& v : signed_values) {
    if (encoded_size(v) > room) continue;
    room -= encoded_size(v);
    keep_signed.push_back(std::move(v));
  }
  std::stable_sort(values.begin(), values.end(),
                   [](const Value& a, const Value& b) { return a.ttl_s > b.ttl_s; });
  std::vector<Value> keep;
  for (auto& v : values) {
    if (encoded_size(v) > room) continue;
    room -= encoded_size(v);
    keep.push_back(std::move(v));
  }
  values = std::move(keep);
  signed_values = std::move(keep_signed);
  return true;
}

}  // namespace

void DhtCore::serve(const Address& from, const PublicKey& sender, const Message& m,
                    int64_t now_ms) {
  ++stats_.requests_served;
  Contact asker = make_contact(sender, from);
  if (!(m.flags & kFlagReadOnly)) observe(asker, now_ms);
  auto found = [&](const Key& target) {
    FoundReply r;
    for (auto& c : table_.closest(target, config_.k))
      if (c.key != sender) r.contacts.push_back(std::move(c));
    r.token = tokens_->issue(sender, from);
    return r;
  };
  if (std::holds_alternative<PingReq>(m.body)) {
    send_reply(from, sender, m.txid, EmptyReply{}, now_ms);
  } else if (auto* fn = std::get_if<FindNodeReq>(&m.body)) {
    send_reply(from, sender, m.txid, found(fn->target), now_ms);
  } else if (auto* fv = std::get_if<FindValueReq>(&m.body)) {
    FoundReply r = found(fv->key);
    Snapshot s = store_.get(fv->key, now_ms);
    r.versioned = std::move(s.versioned);
    r.lock = s.lock;
    // A reply above max_message_bytes could not be sent at all: send the
    // values that fit instead (spec §7.2), so the reader still gets some.
    size_t fixed = encode_message(Message{m.txid, 0, r}).size();
    size_t limit = config_.datagram.max_message_bytes;
    if (trim_values(limit > fixed ? limit - fixed : 0, s.values, s.signed_values))
      ++stats_.replies_trimmed;
    r.values = std::move(s.values);
    r.signed_values = std::move(s.signed_values);
    send_reply(from, sender, m.txid, std::move(r), now_ms);
  } else if (auto* st = std::get_if<StoreReq>(&m.body)) {
    Message reply = serve_store(from, sender, *st, now_ms);
    send_reply(from, sender, m.txid, std::move(reply.body), now_ms);
  } else if (auto* n = std::get_if<NotifyReq>(&m.body)) {
    send_reply(from, sender, m.txid, EmptyReply{}, now_ms);
    serve_notify(sender, *n, now_ms);
  } else {
    send_reply(from, sender, m.txid, Nack{Refusal::kMalformed, 0, 0}, now_ms);
  }
}

void DhtCore::serve_notify(const PublicKey& sender, const NotifyReq& n, int64_t now_ms) {
  std::vector<SignedValue> good;
  for (const SignedValue& v : n.signed_values) {
    if (signature_ok(n.key, v))
      good.push_back(v);
    else
      ++stats_.bad_signed_dropped;
  }
  OpHost host(*this);
  for (ListenOp* listen : listens_on(n.key)) {
    // Only a node we asked to LISTEN may tell us about the key; anyone
    // else could feed the listener whatever it likes.
    if (!listen->listening_at(sender, now_ms)) {
      ++stats_.notifies_ignored;
      continue;
    }
    if (n.values.empty() && good.empty() && !n.versioned) continue;
    listen->deliver(host, n.values, good, n.versioned);
  }
}

Message DhtCore::serve_store(const Address& from, const PublicKey& sender, const StoreReq& req,
                             int64_t now_ms) {
  Message out;
  auto refuse = [&](Refusal r, uint64_t number = 0, int64_t remaining = 0) {
    ++stats_.stores_refused;
    out.body = Nack{r, number, remaining};
    return out;
  };
  bool local = sender == identity_.public_key();
  if (!local && !tokens_->valid(sender, from, req.token)) return refuse(Refusal::kBadToken);
  const Key& key = req.key;
  bool needs_responsibility = std::holds_alternative<LockBody>(req.body) ||
                              std::holds_alternative<CasBody>(req.body) ||
                              std::holds_alternative<DiffBody>(req.body);
  if (needs_responsibility && config_.check_responsible && !table_.among_closest(key, config_.k))
    return refuse(Refusal::kNotResponsible);

  StoreOutcome r;
  if (auto* p = std::get_if<PutBody>(&req.body)) {
    r = store_.put(key, p->value, sender, now_ms);
  } else if (auto* ps = std::get_if<PutSignedBody>(&req.body)) {
    r = store_.put_signed(key, ps->value, now_ms);
  } else if (auto* l = std::get_if<LockBody>(&req.body)) {
    if (now_ms - started_ms_ < config_.lock_grace_after_start_ms) return refuse(Refusal::kStarting);
    r = store_.lock(key, Owner{sender, l->owner_tag}, static_cast<int64_t>(l->lease_ms),
                    l->min_token, now_ms);
    if (r.ok()) ++stats_.lock_grants;
  } else if (auto* u = std::get_if<UnlockBody>(&req.body)) {
    r = store_.unlock(key, Owner{sender, u->owner_tag}, u->token, now_ms);
  } else if (auto* c = std::get_if<CasBody>(&req.body)) {
    r = store_.compare_and_set(key, Owner{sender, c->owner_tag}, c->expected_version, c->data,
                               c->ttl_s, sender, now_ms);
  } else if (auto* d = std::get_if<DiffBody>(&req.body)) {
    r = store_.apply_diff(key, Owner{sender, d->owner_tag}, d->base_version, d->patch,
                          d->result_hash, d->ttl_s, sender, now_ms);
  } else if (auto* rp = std::get_if<RepairBody>(&req.body)) {
    r = store_.repair(key, rp->value, sender, now_ms);
  } else if (auto* a = std::get_if<AbortBody>(&req.body)) {
    r = store_.abort(key, Owner{sender, a->owner_tag}, a->version, now_ms);
  } else if (auto* li = std::get_if<ListenBody>(&req.body)) {
    r = store_.listen(key, make_contact(sender, from), int64_t{li->duration_s} * kMsPerS, now_ms);
    r.changed = false;
  }
  if (!r.ok()) return refuse(r.refusal, r.number, r.remaining_ms);
  if (r.changed) notify_listeners(key, now_ms);
  out.body = StoreReply{r.number, r.remaining_ms};
  return out;
}

void DhtCore::notify_listeners(const Key& key, int64_t now_ms) {
  auto listeners = store_.listeners(key, now_ms);
  if (listeners.empty()) return;
  Snapshot s = store_.get(key, now_ms);
  // A snapshot too large for one message goes with the values that fit.
  NotifyReq notify{key, s.values, s.signed_values, s.versioned};
  size_t fixed = encode_message(Message{0, 0, NotifyReq{key, {}, {}, s.versioned}}).size();
  size_t limit = config_.datagram.max_message_bytes;
  if (trim_values(limit > fixed ? limit - fixed : 0, notify.values, notify.signed_values))
    ++stats_.replies_trimmed;
  for (const Listener& l : listeners) {
    if (l.contact.key == identity_.public_key()) {
      OpHost host(*this);
      for (ListenOp* listen : listens_on(key))
        listen->deliver(host, s.values, s.signed_values, s.versioned);
      continue;
    }
    send_request(l.contact, notify, 0, Purpose::kFireAndForget, now_ms);
  }
}

}  // namespace chorus::dht
