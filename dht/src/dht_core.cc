#include "chorus/dht/dht_core.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "chorus/overlay/wire.h"

namespace chorus::dht {
namespace {

int64_t to_ms(int64_t us) {
  return us / 1000;
}

// Readers trust no replica: a signed value counts only if its owner signed
// it for this key (a replica could hand out anything).
bool signature_ok(const Key& key, const SignedValue& v) {
  return overlay::verify_signature(v.owner, signed_value_message(key, v.seq, v.ttl_s, v.data),
                                   v.signature);
}

// Encoded sizes (spec §3): Value = u64 id ‖ u32 ttl ‖ bytes; SignedValue =
// owner ‖ u64 seq ‖ u32 ttl ‖ bytes ‖ signature.
size_t encoded_size(const Value& v) {
  return 8 + 4 + 4 + v.data.size();
}
size_t encoded_size(const SignedValue& v) {
  return 32 + 8 + 4 + 4 + v.data.size() + 64;
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

enum class DhtCore::OpKind : uint8_t {
  kBootstrap,
  kJoin,
  kFindNode,
  kPut,
  kPutSigned,
  kGet,
  kLock,
  kRenew,
  kRelease,
  kCas,
  kDiff,
  kListen,
  kRefresh,
  kRepublish,
};

// Why an RPC was sent, so its answer (or silence) goes to the right place.
enum class Purpose : uint8_t {
  kLookup,  // a FIND_NODE / FIND_VALUE of an operation's lookup
  kWrite,   // a STORE of an operation's write phase (also raise, repair)
  kFetch,   // diff: the whole new value from a replica that took the patch
  kBoot,    // the signed first request of bootstrap
  kEvict,   // PING of a least-recently-seen contact; `newcomer` waits
  kFireAndForget,
};

enum class DhtCore::Phase : uint8_t { kBoot, kLookup, kWrite, kRaise, kFetch, kRepair, kIdle };

struct DhtCore::Rpc {
  Contact to;
  Op op = Op::kPing;
  Token owner = 0;
  Purpose purpose = Purpose::kFireAndForget;
  int64_t deadline_ms = 0;
  bool key_unknown = false;
  // Never sent: our own max_pending_rpcs was reached. It fails like a
  // timeout for its operation but says nothing about the peer.
  bool refused_locally = false;
  std::optional<Contact> newcomer;  // kEvict
};

struct DhtCore::Operation {
  Token token = 0;
  OpKind kind = OpKind::kGet;
  Key key{};
  bool internal = false;  // no DoneEvent (refresh, republish, holds)
  Token hold = 0;         // the hold whose lock or renewal this is
  Phase phase = Phase::kLookup;
  std::optional<Lookup> lookup;
  bool find_value = false;
  std::map<NodeId, WriteToken> tokens;  // write tokens by replica
  std::vector<Contact> unanswered;      // lookup queries that failed (or never left)
  size_t replica_set = 0;               // answered or not, for quorums
  int64_t lookup_started_ms = 0;
  size_t rpcs = 0;

  // Arguments.
  Value value;
  SignedValue signed_value;
  uint64_t owner_tag = 0;
  int64_t lease_ms = 0;
  uint64_t token_arg = 0;  // renew/release: our token; CAS: expected; diff: base
  Bytes data;              // CAS data, diff patch
  Hash256 result_hash{};
  uint32_t ttl_s = 0;
  Snapshot republish;  // republish: what to push

  // Results gathered.
  std::map<uint64_t, Value> values;
  std::map<PublicKey, SignedValue> signed_values;
  // (version, hash) → (count, value)
  std::map<std::pair<uint64_t, Hash256>, std::pair<size_t, VersionedValue>> versions;
  int first_data_depth = 0;

  // Write phase.
  std::vector<Contact> targets;
  size_t outstanding = 0;
  std::vector<std::pair<Contact, StoreReply>> acks;
  std::vector<std::pair<Contact, Nack>> nacks;
  std::optional<Body> local_reply;  // our own answer, held until the phase is sent
  size_t silent = 0;
  int64_t sent_ms = 0;
  uint64_t raise_to = 0;
  size_t confirmed = 0;          // lock: replicas known to hold a token ≥ raise_to
  std::vector<int64_t> granted;  // lock: lease each of those replicas granted
  std::vector<std::pair<Contact, uint64_t>> holding;  // lock: replica → token it holds for us
  std::vector<Contact> applied;                       // diff: replicas that took the patch
  std::vector<Contact> missing;                       // diff: replicas without the base
  OpResult result;

  // Listen.
  std::set<std::pair<uint64_t, Hash256>> seen_values;
  std::map<PublicKey, uint64_t> seen_signed;
  uint64_t seen_version = 0;
  int64_t next_refresh_ms = 0;
  // Nodes we sent LISTEN to, and until when they may NOTIFY us (at most k
  // per renewal; expired ones are dropped at each renewal).
  std::map<PublicKey, int64_t> listening_at;

  // Republish: what each replica reported holding, so only what it lacks
  // is pushed (a PUT must not overwrite a value someone replaced since).
  struct Held {
    std::set<uint64_t> ids;
    uint64_t own_seq = 0;
    bool has_own_signed = false;
  };
  std::map<NodeId, Held> held;
  std::set<uint64_t> replaced;  // our value ids a replica holds other data under
};

DhtCore::DhtCore(const overlay::Identity& identity, Address self, DhtConfig config, int64_t now_us)
    : identity_(identity),
      self_(std::move(self)),
      config_(config),
      random_(config.seed),
      table_(overlay::dht_id(identity.public_key()), config.k),
      store_(config.store),
      codec_(identity_, config.datagram, random_),
      started_ms_(to_ms(now_us)),
      now_ms_(to_ms(now_us)) {
  for (auto& s : token_secret_) random_.fill(s.data(), s.size());
  token_rotated_ms_ = now_ms_;
  next_housekeeping_ms_ = now_ms_ + config_.housekeeping_ms;
  next_republish_ms_ = now_ms_ + config_.republish_interval_ms;
}

DhtCore::~DhtCore() = default;

void DhtCore::set_wall_clock(int64_t unix_ms, int64_t now_us) {
  wall_offset_ms_ = unix_ms - to_ms(now_us);
}

// ------------------------------------------------------------------ inputs

void DhtCore::on_datagram(const Address& from, ByteView bytes, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  ++stats_.datagrams_in;
  stats_.bytes_in += bytes.size();
  auto opened = codec_.open(bytes, wall_ms(now_ms_));
  if (!opened.ok()) {
    ++stats_.dropped_bad;
    return;
  }
  if (!opened.value()) return;  // a fragment, or a replay dropped quietly
  const Opened& o = *opened.value();
  if (o.sender == identity_.public_key()) {
    ++stats_.dropped_bad;
    return;
  }
  auto head = peek_head(o.message);
  if (!head.ok()) {
    ++stats_.dropped_bad;
    return;
  }
  if (head.value().op == Op::kAck || head.value().op == Op::kNack) {
    on_reply(from, o.sender, o.message, now_ms_);
    run_holds(now_ms_);
    return;
  }
  auto m = decode_message(o.message, std::nullopt);
  if (!m.ok()) {
    ++stats_.dropped_bad;
    // A request we cannot read still gets a NACK, so the asker does not wait.
    send_reply(from, o.sender, head.value().txid, Nack{Refusal::kMalformed, 0, 0}, now_ms_);
    return;
  }
  serve(from, o.sender, m.value(), now_ms_);
}

void DhtCore::on_timer(int64_t now_us) {
  now_ms_ = to_ms(now_us);
  while (!deadlines_.empty() && deadlines_.top().first <= now_ms_) {
    uint64_t txid = deadlines_.top().second;
    deadlines_.pop();
    auto it = rpcs_.find(txid);
    if (it != rpcs_.end() && it->second.deadline_ms <= now_ms_) on_rpc_failed(txid, now_ms_);
  }
  while (!lookup_deadlines_.empty() && lookup_deadlines_.top().first <= now_ms_) {
    Token token = lookup_deadlines_.top().second;
    lookup_deadlines_.pop();
    auto it = ops_.find(token);
    if (it == ops_.end() || !it->second->lookup) continue;
    if (it->second->phase == Phase::kLookup &&
        it->second->lookup_started_ms + config_.lookup_deadline_ms <= now_ms_)
      lookup_done(*it->second, now_ms_);
  }
  if (now_ms_ >= next_housekeeping_ms_) housekeeping(now_ms_);
  run_holds(now_ms_);
}

std::optional<int64_t> DhtCore::next_timer_us() const {
  int64_t at = next_housekeeping_ms_;
  if (!deadlines_.empty()) at = std::min(at, deadlines_.top().first);
  if (!lookup_deadlines_.empty()) at = std::min(at, lookup_deadlines_.top().first);
  if (auto h = next_hold_ms()) at = std::min(at, *h);
  return at * 1000;
}

bool DhtCore::poll_action(SendDatagram& out) {
  if (actions_.empty()) return false;
  out = std::move(actions_.front());
  actions_.pop_front();
  return true;
}

bool DhtCore::poll_event(DhtEvent& out) {
  if (events_.empty()) return false;
  out = std::move(events_.front());
  events_.pop_front();
  return true;
}

// ------------------------------------------------------------------ sending

void DhtCore::send_bytes(const Address& to, const Result<std::vector<Bytes>>& datagrams) {
  if (!datagrams.ok()) return;
  for (const Bytes& d : datagrams.value()) {
    ++stats_.datagrams_out;
    stats_.bytes_out += d.size();
    actions_.push_back(SendDatagram{to, d});
  }
}

uint64_t DhtCore::send_request(const Contact& to, Body body, Token op, int64_t now_ms,
                               bool key_unknown) {
  Rpc rpc;
  rpc.to = to;
  rpc.op = op_of(body);
  rpc.owner = op;
  rpc.deadline_ms = now_ms + config_.rpc_timeout_ms;
  rpc.key_unknown = key_unknown;
  uint64_t txid = 0;
  do {
    txid = random_.next_u64();
  } while (txid == 0 || rpcs_.count(txid));
  Message m{txid, static_cast<uint8_t>(config_.read_only ? kFlagReadOnly : 0), std::move(body)};
  Bytes bytes = encode_message(m);
  ++stats_.rpcs_sent;
  if (rpcs_.size() >= config_.max_pending_rpcs) {
    // Over the bound: the RPC fails at once (on the next timer), nothing is sent.
    rpc.deadline_ms = now_ms;
    rpc.refused_locally = true;
    ++stats_.rpcs_refused_locally;
  } else if (key_unknown) {
    send_bytes(to.address, codec_.sign(bytes, wall_ms(now_ms)));
  } else {
    send_bytes(to.address, codec_.seal(to.key, bytes, wall_ms(now_ms)));
  }
  deadlines_.emplace(rpc.deadline_ms, txid);
  rpcs_.emplace(txid, std::move(rpc));
  return txid;
}

void DhtCore::send_reply(const Address& to, const PublicKey& key, uint64_t txid, Body body,
                         int64_t now_ms) {
  Message m{txid, 0, std::move(body)};
  send_bytes(to, codec_.seal(key, encode_message(m), wall_ms(now_ms)));
}

void DhtCore::observe(const Contact& c, int64_t now_ms) {
  if (c.key == identity_.public_key()) return;
  auto r = table_.observe(c, now_ms);
  if (!r.ping) return;
  // Only one eviction PING per contact at a time.
  for (const auto& [txid, rpc] : rpcs_)
    if (rpc.purpose == Purpose::kEvict && rpc.to.id == r.ping->id) return;
  uint64_t txid = send_request(*r.ping, PingReq{}, 0, now_ms);
  rpcs_[txid].purpose = Purpose::kEvict;
  rpcs_[txid].newcomer = c;
}

// ------------------------------------------------------------------ serving

WriteToken DhtCore::token_for(const PublicKey& sender, const Address& from, int generation) const {
  // BEP 5's idea: a keyed hash of who asked and from where, so only someone
  // who can receive at that address can STORE with it.
  WriteToken t{};
  crypto_generichash_state st;
  const auto& secret = token_secret_[generation];
  crypto_generichash_init(&st, secret.data(), secret.size(), t.size());
  crypto_generichash_update(&st, sender.data(), sender.size());
  std::string addr = from.to_string();
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(addr.data()), addr.size());
  crypto_generichash_final(&st, t.data(), t.size());
  return t;
}

bool DhtCore::token_valid(const PublicKey& sender, const Address& from, const WriteToken& t) const {
  for (int g = 0; g < 2; ++g) {
    WriteToken want = token_for(sender, from, g);
    if (sodium_memcmp(want.data(), t.data(), t.size()) == 0) return true;
  }
  return false;
}

void DhtCore::serve(const Address& from, const PublicKey& sender, const Message& m,
                    int64_t now_ms) {
  ++stats_.requests_served;
  Contact asker = make_contact(sender, from);
  if (!(m.flags & kFlagReadOnly)) observe(asker, now_ms);
  auto found = [&](const Key& target) {
    FoundReply r;
    for (auto& c : table_.closest(target, config_.k))
      if (c.key != sender) r.contacts.push_back(std::move(c));
    r.token = token_for(sender, from, 0);
    return r;
  };
  if (std::holds_alternative<PingReq>(m.body)) {
    send_reply(from, sender, m.txid, EmptyReply{}, now_ms);
  } else if (auto* fn = std::get_if<FindNodeReq>(&m.body)) {
    send_reply(from, sender, m.txid, found(fn->target), now_ms);
  } else if (auto* fv = std::get_if<FindValueReq>(&m.body)) {
    FoundReply r = found(fv->key);
    Snapshot s = store_.get(fv->key, now_ms);
    r.values = std::move(s.values);
    r.signed_values = std::move(s.signed_values);
    r.versioned = std::move(s.versioned);
    r.lock = s.lock;
    // A reply above max_message_bytes could not be sent at all: send the
    // values that fit instead (spec §7.2), so the reader still gets some.
    std::vector<Value> values = std::move(r.values);
    std::vector<SignedValue> signed_values = std::move(r.signed_values);
    r.values.clear();
    r.signed_values.clear();
    size_t fixed = encode_message(Message{m.txid, 0, r}).size();
    size_t limit = config_.datagram.max_message_bytes;
    if (trim_values(limit > fixed ? limit - fixed : 0, values, signed_values))
      ++stats_.replies_trimmed;
    r.values = std::move(values);
    r.signed_values = std::move(signed_values);
    send_reply(from, sender, m.txid, std::move(r), now_ms);
  } else if (auto* st = std::get_if<StoreReq>(&m.body)) {
    Message reply = serve_store(from, sender, *st, now_ms);
    send_reply(from, sender, m.txid, std::move(reply.body), now_ms);
  } else if (auto* n = std::get_if<NotifyReq>(&m.body)) {
    send_reply(from, sender, m.txid, EmptyReply{}, now_ms);
    std::vector<SignedValue> good;
    for (const SignedValue& v : n->signed_values) {
      if (signature_ok(n->key, v))
        good.push_back(v);
      else
        ++stats_.bad_signed_dropped;
    }
    for (auto& [token, op] : ops_) {
      if (op->kind != OpKind::kListen || op->key != n->key) continue;
      // Only a node we asked to LISTEN may tell us about the key; anyone
      // else could feed the listener whatever it likes.
      auto at = op->listening_at.find(sender);
      if (at == op->listening_at.end() || at->second < now_ms) {
        ++stats_.notifies_ignored;
        continue;
      }
      if (n->values.empty() && good.empty() && !n->versioned) continue;
      deliver_listen(*op, n->key, n->values, good, n->versioned);
    }
  } else {
    send_reply(from, sender, m.txid, Nack{Refusal::kMalformed, 0, 0}, now_ms);
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
  if (!local && !token_valid(sender, from, req.token)) return refuse(Refusal::kBadToken);
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
    r = store_.listen(key, make_contact(sender, from), int64_t{li->duration_s} * 1000, now_ms);
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
      for (auto& [token, op] : ops_)
        if (op->kind == OpKind::kListen && op->key == key)
          deliver_listen(*op, key, s.values, s.signed_values, s.versioned);
      continue;
    }
    send_request(l.contact, notify, 0, now_ms);
  }
}

// ------------------------------------------------------------------ replies

void DhtCore::on_reply(const Address& from, const PublicKey& sender, ByteView bytes,
                       int64_t now_ms) {
  auto head = peek_head(bytes);
  auto it = rpcs_.find(head.value().txid);
  if (it == rpcs_.end()) {
    ++stats_.dropped_unexpected;
    return;
  }
  Rpc& rpc = it->second;
  if (!rpc.key_unknown && rpc.to.key != sender) {
    ++stats_.dropped_unexpected;  // someone else answering for it
    return;
  }
  auto m = decode_message(bytes, rpc.op);
  if (!m.ok()) {
    ++stats_.dropped_bad;
    return;  // it times out like silence would
  }
  Rpc done = std::move(rpc);
  rpcs_.erase(it);
  ++stats_.rpcs_answered;
  Contact who = make_contact(sender, done.key_unknown ? from : done.to.address);
  observe(who, now_ms);

  if (done.purpose == Purpose::kEvict || done.purpose == Purpose::kFireAndForget) return;
  auto op_it = ops_.find(done.owner);
  if (op_it == ops_.end()) return;
  Operation& op = *op_it->second;
  const Body& body = m.value().body;

  switch (done.purpose) {
    case Purpose::kBoot: {
      // Contacts it names seed our lookup; they enter the table only once
      // they answer themselves.
      std::vector<Contact> named;
      if (auto* f = std::get_if<FoundReply>(&body))
        for (const Contact& c : f->contacts)
          if (c.key != identity_.public_key()) named.push_back(c);
      begin_lookup(op, named, now_ms);
      return;
    }
    case Purpose::kLookup: {
      if (!op.lookup) return;
      auto* f = std::get_if<FoundReply>(&body);
      if (!f) {
        op.lookup->on_failure(who.id);
        pump(op, now_ms);
        return;
      }
      std::vector<Contact> named;
      named.reserve(f->contacts.size());
      for (const Contact& c : f->contacts)
        if (c.key != identity_.public_key()) named.push_back(c);
      op.tokens[who.id] = f->token;
      std::vector<const SignedValue*> good;
      for (const SignedValue& s : f->signed_values) {
        if (signature_ok(op.key, s))
          good.push_back(&s);
        else
          ++stats_.bad_signed_dropped;
      }
      bool has_data = !f->values.empty() || !good.empty() || f->versioned;
      if (has_data && op.first_data_depth == 0)
        op.first_data_depth = std::max(1, op.lookup->depth_of(who.id));
      if (op.kind == OpKind::kRepublish) {
        Operation::Held& h = op.held[who.id];
        auto own = own_.find(op.key);
        for (const Value& v : f->values) {
          h.ids.insert(v.id);
          // Someone put other data under our id since: ours was replaced.
          if (own == own_.end()) continue;
          auto mine = own->second.values.find(v.id);
          if (mine != own->second.values.end() && mine->second.first.data != v.data)
            op.replaced.insert(v.id);
        }
        for (const SignedValue* s : good) {
          if (s->owner != identity_.public_key()) continue;
          h.has_own_signed = true;
          h.own_seq = std::max(h.own_seq, s->seq);
        }
      }
      for (const Value& v : f->values) op.values.emplace(v.id, v);
      for (const SignedValue* s : good) {
        auto [sit, fresh] = op.signed_values.emplace(s->owner, *s);
        if (!fresh && s->seq > sit->second.seq) sit->second = *s;
      }
      if (f->versioned) {
        auto key = std::make_pair(f->versioned->version, overlay::blake2b_256(f->versioned->data));
        auto& slot = op.versions[key];
        if (slot.first++ == 0) slot.second = *f->versioned;
      }
      op.lookup->on_reply(who.id, named);
      pump(op, now_ms);
      return;
    }
    case Purpose::kWrite:
      store_reply(op, who, &body, now_ms);
      return;
    case Purpose::kFetch: {
      auto* f = std::get_if<FoundReply>(&body);
      bool good = f && f->versioned && f->versioned->version == op.token_arg + 1 &&
                  overlay::blake2b_256(f->versioned->data) == op.result_hash;
      if (!good) {
        abort_applied(op, now_ms);
        finish(op, refused("diff: the replica that took the patch has no matching value"));
        return;
      }
      repair_missing(op, *f->versioned, now_ms);
      return;
    }
    default:
      return;
  }
}

void DhtCore::on_rpc_failed(uint64_t txid, int64_t now_ms) {
  auto it = rpcs_.find(txid);
  Rpc rpc = std::move(it->second);
  rpcs_.erase(it);
  // A contact that keeps failing gives way, but only to a newcomer waiting
  // in its bucket: the buckets near us (never full) keep what they know, so
  // a partition does not make a minority forget the replicas it cannot reach.
  // An RPC we never sent (our own bound) says nothing about the peer.
  if (!rpc.refused_locally) {
    ++stats_.rpcs_timed_out;
    if (!rpc.key_unknown && table_.failed(rpc.to.id) >= 2 &&
        table_.has_replacement(table_.bucket_of(rpc.to.id)))
      table_.evict(rpc.to.id);
  }
  if (rpc.purpose == Purpose::kEvict) {
    if (rpc.refused_locally) return;  // the newcomer keeps waiting
    table_.evict(rpc.to.id);
    if (rpc.newcomer) table_.observe(*rpc.newcomer, now_ms);
    return;
  }
  auto op_it = ops_.find(rpc.owner);
  if (op_it == ops_.end()) return;
  Operation& op = *op_it->second;
  switch (rpc.purpose) {
    case Purpose::kBoot:
      finish(op, timed_out("bootstrap node " + rpc.to.address.to_string() + " did not answer"));
      return;
    case Purpose::kLookup:
      if (op.lookup) {
        op.unanswered.push_back(rpc.to);
        op.lookup->on_failure(rpc.to.id);
        pump(op, now_ms);
      }
      return;
    case Purpose::kWrite:
      store_reply(op, rpc.to, nullptr, now_ms);
      return;
    case Purpose::kFetch:
      abort_applied(op, now_ms);
      finish(op, timed_out("diff: fetching the new value timed out"));
      return;
    default:
      return;
  }
}

// ------------------------------------------------------------------ commands

Token DhtCore::start(std::unique_ptr<Operation> op, int64_t now_ms) {
  Token token = next_token_++;
  op->token = token;
  Operation& ref = *op;
  if (ops_.size() >= config_.max_operations) {
    if (!op->internal)
      events_.push_back(DoneEvent{token, limit_exceeded("too many DHT operations in progress")});
    return token;
  }
  ops_.emplace(token, std::move(op));
  ++stats_.lookups;
  if (ref.phase == Phase::kBoot) return token;
  begin_lookup(ref, {}, now_ms);
  return token;
}

void DhtCore::begin_lookup(Operation& op, const std::vector<Contact>& extra_seeds, int64_t now_ms) {
  std::vector<Contact> seeds = table_.closest(op.key, config_.k);
  seeds.insert(seeds.end(), extra_seeds.begin(), extra_seeds.end());
  op.phase = Phase::kLookup;
  op.unanswered.clear();
  op.lookup.emplace(op.key, seeds, LookupConfig{config_.k, config_.alpha, config_.max_candidates});
  op.lookup_started_ms = now_ms;
  lookup_deadlines_.emplace(now_ms + config_.lookup_deadline_ms, op.token);
  pump(op, now_ms);
}

#define CHORUS_NEW_OP(kind_, key_)         \
  auto op = std::make_unique<Operation>(); \
  op->kind = OpKind::kind_;                \
  op->key = key_

Token DhtCore::bootstrap(const Address& address, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kBootstrap, table_.self());
  op->phase = Phase::kBoot;
  Token token = start(std::move(op), now_ms_);
  auto it = ops_.find(token);
  if (it == ops_.end()) return token;
  Contact unknown;
  unknown.address = address;
  ++it->second->rpcs;
  uint64_t txid = send_request(unknown, FindNodeReq{table_.self()}, token, now_ms_, true);
  rpcs_[txid].purpose = Purpose::kBoot;
  return token;
}

void DhtCore::add_contact(const Contact& contact, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  observe(contact, now_ms_);
}

Token DhtCore::join(int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kJoin, table_.self());
  return start(std::move(op), now_ms_);
}

Token DhtCore::find_node(const NodeId& target, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kFindNode, target);
  return start(std::move(op), now_ms_);
}

Token DhtCore::put(const Key& key, Value value, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kPut, key);
  op->value = std::move(value);
  remember_put(key, op->value, now_ms_);
  return start(std::move(op), now_ms_);
}

Token DhtCore::put_signed(const Key& key, Bytes data, uint64_t seq, uint32_t ttl_s,
                          int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kPutSigned, key);
  SignedValue& v = op->signed_value;
  v.owner = identity_.public_key();
  v.seq = seq;
  v.ttl_s = ttl_s;
  v.data = std::move(data);
  v.signature = identity_.sign(signed_value_message(key, seq, ttl_s, v.data));
  remember_signed(key, v, now_ms_);
  return start(std::move(op), now_ms_);
}

Token DhtCore::get(const Key& key, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kGet, key);
  op->find_value = true;
  return start(std::move(op), now_ms_);
}

Token DhtCore::lock(const Key& key, int64_t lease_ms, uint64_t owner_tag, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kLock, key);
  op->lease_ms = lease_ms;
  op->owner_tag = owner_tag;
  return start(std::move(op), now_ms_);
}

Token DhtCore::renew(const Key& key, int64_t lease_ms, uint64_t owner_tag, uint64_t token,
                     int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kRenew, key);
  op->lease_ms = lease_ms;
  op->owner_tag = owner_tag;
  op->token_arg = token;
  return start(std::move(op), now_ms_);
}

Token DhtCore::release(const Key& key, uint64_t owner_tag, uint64_t token, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kRelease, key);
  op->owner_tag = owner_tag;
  op->token_arg = token;
  return start(std::move(op), now_ms_);
}

Token DhtCore::start_hold_op(Token hold, Hold& h, bool release, int64_t now_ms) {
  auto op = std::make_unique<Operation>();
  op->kind = release ? OpKind::kRelease : h.acquired ? OpKind::kRenew : OpKind::kLock;
  op->key = h.key;
  op->token_arg = h.acquired ? h.fencing_token : 0;
  op->lease_ms = h.lease_ms;
  op->owner_tag = h.owner_tag;
  op->internal = true;
  if (release) return start(std::move(op), now_ms);  // nobody waits for it
  op->hold = hold;
  // The token start() gives it, so a result that comes at once finds it.
  h.op = next_token_;
  h.done.reset();
  Token t = start(std::move(op), now_ms);
  if (!ops_.count(t) && !h.done)
    h.done = Result<OpResult>(limit_exceeded("too many DHT operations in progress"));
  return t;
}

Token DhtCore::compare_and_set(const Key& key, uint64_t expected_version, Bytes data,
                               uint32_t ttl_s, uint64_t owner_tag, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kCas, key);
  op->token_arg = expected_version;
  op->data = std::move(data);
  op->ttl_s = ttl_s;
  op->owner_tag = owner_tag;
  return start(std::move(op), now_ms_);
}

Token DhtCore::apply_diff(const Key& key, uint64_t base_version, Bytes patch,
                          const Hash256& result_hash, uint32_t ttl_s, uint64_t owner_tag,
                          int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kDiff, key);
  op->token_arg = base_version;
  op->data = std::move(patch);
  op->result_hash = result_hash;
  op->ttl_s = ttl_s;
  op->owner_tag = owner_tag;
  return start(std::move(op), now_ms_);
}

Token DhtCore::listen(const Key& key, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  CHORUS_NEW_OP(kListen, key);
  op->find_value = true;
  return start(std::move(op), now_ms_);
}

void DhtCore::cancel_listen(Token listen, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  auto it = ops_.find(listen);
  if (it == ops_.end() || it->second->kind != OpKind::kListen) return;
  Operation& op = *it->second;
  // Tell the replicas to stop; nobody waits for their answers.
  for (const Contact& c : op.targets) send_store(op, c, ListenBody{0}, false, now_ms_);
  ops_.erase(it);
}

#undef CHORUS_NEW_OP

// ------------------------------------------------------------------ operations

void DhtCore::pump(Operation& op, int64_t now_ms) {
  if (op.phase != Phase::kLookup || !op.lookup) return;
  while (auto c = op.lookup->next_to_query()) {
    ++op.rpcs;
    Body body = op.find_value ? Body{FindValueReq{op.key}} : Body{FindNodeReq{op.key}};
    uint64_t txid = send_request(*c, std::move(body), op.token, now_ms);
    rpcs_[txid].purpose = Purpose::kLookup;
  }
  if (op.lookup->done()) lookup_done(op, now_ms);
}

StoreBody DhtCore::store_body_for(const Operation& op) const {
  switch (op.kind) {
    case OpKind::kPut:
      return PutBody{op.value};
    case OpKind::kPutSigned:
      return PutSignedBody{op.signed_value};
    case OpKind::kLock:
      return LockBody{op.owner_tag, static_cast<uint64_t>(op.lease_ms), op.raise_to};
    case OpKind::kRenew:
      return LockBody{op.owner_tag, static_cast<uint64_t>(op.lease_ms), op.token_arg};
    case OpKind::kRelease:
      return UnlockBody{op.owner_tag, op.token_arg};
    case OpKind::kCas:
      return CasBody{op.owner_tag, op.token_arg, op.ttl_s, op.data};
    case OpKind::kDiff:
      return DiffBody{op.owner_tag, op.token_arg, op.ttl_s, op.data, op.result_hash};
    case OpKind::kListen:
      return ListenBody{static_cast<uint32_t>(2 * config_.listen_refresh_ms / 1000 + 1)};
    default:
      return ListenBody{0};
  }
}

void DhtCore::lookup_done(Operation& op, int64_t now_ms) {
  ++stats_.operations_done;
  std::vector<Contact> closest = op.lookup->closest_answered();
  op.result.rpcs = op.rpcs;
  op.result.closest = closest;
  if (!closest.empty()) op.result.hops = std::max(1, op.lookup->depth_of(closest.front().id));
  for (const Contact& c : closest) table_.touched(table_.bucket_of(c.id), now_ms);
  op.lookup.reset();

  // The replica set: the k closest of those that answered *and* those that
  // did not. Counting the silent ones keeps a partitioned minority (or a
  // caller cut off from most replicas) from forming a majority of a smaller
  // set (spec/dht.md §7.1). We are a replica ourselves when we fall inside it.
  Contact me = make_contact(identity_.public_key(), self_);
  std::vector<Contact> settled = closest;
  for (const Contact& c : op.unanswered) settled.push_back(c);
  if (!config_.read_only) settled.push_back(me);
  std::sort(settled.begin(), settled.end(),
            [&](const Contact& x, const Contact& y) { return closer(op.key, x.id, y.id); });
  settled.erase(std::unique(settled.begin(), settled.end(),
                            [](const Contact& x, const Contact& y) { return x.id == y.id; }),
                settled.end());
  if (settled.size() > config_.k) settled.resize(config_.k);
  bool self_replica = false;
  for (const Contact& c : settled)
    if (c.key == me.key) self_replica = true;
  op.replica_set = settled.size();
  if (self_replica && op.find_value) {
    Snapshot s = store_.get(op.key, now_ms);
    for (Value& v : s.values) op.values.emplace(v.id, std::move(v));
    for (SignedValue& sv : s.signed_values) {
      auto [it, fresh] = op.signed_values.emplace(sv.owner, sv);
      if (!fresh && sv.seq > it->second.seq) it->second = sv;
    }
    if (s.versioned) {
      auto k = std::make_pair(s.versioned->version, overlay::blake2b_256(s.versioned->data));
      auto& slot = op.versions[k];
      if (slot.first++ == 0) slot.second = *s.versioned;
    }
  }

  switch (op.kind) {
    case OpKind::kBootstrap:
    case OpKind::kJoin:
    case OpKind::kFindNode:
    case OpKind::kRefresh:
      if (closest.empty() && op.kind == OpKind::kBootstrap) {
        finish(op, not_found("no DHT node answered"));
        return;
      }
      finish(op, std::move(op.result));
      return;
    case OpKind::kGet: {
      OpResult& r = op.result;
      for (auto& [id, v] : op.values) r.values.push_back(std::move(v));
      for (auto& [owner, v] : op.signed_values) r.signed_values.push_back(std::move(v));
      // The versioned value: the highest version; among several values at
      // that version (a failed CAS not yet undone), the one most replicas hold.
      const std::pair<size_t, VersionedValue>* best = nullptr;
      uint64_t best_version = 0;
      for (auto& [k, slot] : op.versions) {
        if (!best || k.first > best_version ||
            (k.first == best_version && slot.first > best->first)) {
          best = &slot;
          best_version = k.first;
        }
      }
      if (best) r.versioned = best->second;
      r.hops = op.first_data_depth ? op.first_data_depth : r.hops;
      if (r.values.empty() && r.signed_values.empty() && !r.versioned) {
        finish(op, not_found("no value under the key"));
        return;
      }
      finish(op, std::move(op.result));
      return;
    }
    case OpKind::kRepublish:
      republish_push(op, closest, now_ms);
      finish(op, OpResult{});
      return;
    default:
      break;
  }

  // A write (or listen registration) to the replicas.
  if (op.kind == OpKind::kListen) {
    deliver_listen(op, op.key, {}, {}, std::nullopt);
  }
  // Writes go to the replicas that answered; the silent ones count as "no".
  op.targets.clear();
  for (const Contact& c : settled) {
    if (c.key == me.key) continue;
    for (const Contact& a : closest)
      if (a.id == c.id) op.targets.push_back(a);
  }
  if (self_replica) op.targets.push_back(me);
  if (op.targets.empty()) {
    finish(op, not_found("no DHT node answered the lookup"));
    return;
  }
  op.result.replicas = op.replica_set;
  op.sent_ms = now_ms;
  if (op.kind == OpKind::kListen) {
    // Only the nodes we register with may NOTIFY us, for as long as the
    // registration lasts (plus the time a NOTIFY may travel).
    for (auto it = op.listening_at.begin(); it != op.listening_at.end();)
      it = it->second < now_ms ? op.listening_at.erase(it) : std::next(it);
    int64_t until = now_ms + int64_t{std::get<ListenBody>(store_body_for(op)).duration_s} * 1000 +
                    config_.rpc_timeout_ms;
    for (const Contact& c : op.targets)
      if (c.key != me.key) op.listening_at[c.key] = until;
  }
  start_phase(
      op, Phase::kWrite, op.targets, [&](const Contact&) { return store_body_for(op); }, now_ms);
}

void DhtCore::send_store(Operation& op, const Contact& to, StoreBody body, bool tracked,
                         int64_t now_ms) {
  auto t = op.tokens.find(to.id);
  StoreReq req{t == op.tokens.end() ? WriteToken{} : t->second, op.key, std::move(body)};
  if (to.key == identity_.public_key()) {
    // A datagram to our own address would be dropped as coming from us: our
    // own replica is served here, like any other, without a token check.
    Message reply = serve_store(self_, identity_.public_key(), req, now_ms);
    if (tracked) op.local_reply = std::move(reply.body);
    return;
  }
  if (!tracked) {
    send_request(to, std::move(req), 0, now_ms);
    return;
  }
  ++op.rpcs;
  uint64_t txid = send_request(to, std::move(req), op.token, now_ms);
  rpcs_[txid].purpose = Purpose::kWrite;
}

void DhtCore::start_phase(Operation& op, Phase phase, const std::vector<Contact>& to,
                          const std::function<StoreBody(const Contact&)>& body, int64_t now_ms) {
  op.phase = phase;
  op.acks.clear();
  op.nacks.clear();
  op.silent = 0;
  op.local_reply.reset();
  op.outstanding = to.size();
  if (to.empty()) {
    phase_done(op, now_ms);
    return;
  }
  for (const Contact& c : to) send_store(op, c, body(c), true, now_ms);
  // Our own answer counts last, so the operation cannot finish (and be
  // freed) while the loop above still uses it.
  if (op.local_reply) {
    Body reply = std::move(*op.local_reply);
    op.local_reply.reset();
    store_reply(op, make_contact(identity_.public_key(), self_), &reply, now_ms);
  }
}

void DhtCore::store_reply(Operation& op, const Contact& from, const Body* reply, int64_t now_ms) {
  if (op.outstanding == 0) return;
  if (!reply) {
    ++op.silent;
  } else if (auto* a = std::get_if<StoreReply>(reply)) {
    op.acks.emplace_back(from, *a);
  } else if (auto* n = std::get_if<Nack>(reply)) {
    op.nacks.emplace_back(from, *n);
  } else {
    ++op.silent;
  }
  if (--op.outstanding == 0) phase_done(op, now_ms);
}

// When a holder must stop trusting a lease the replicas granted for
// granted_ms, counted from sent_ms (before any of them received it): early
// by lease_safety, to absorb clock-rate differences and delay.
int64_t DhtCore::lease_end_us(int64_t sent_ms, int64_t granted_ms) const {
  return static_cast<int64_t>((static_cast<double>(sent_ms) +
                               static_cast<double>(granted_ms) * (1.0 - config_.lease_safety)) *
                              1000);
}

namespace {

// The lease a holder may count on: the quorum-th longest of the leases the
// replicas holding its token granted (once it runs out, fewer than a
// majority still hold it), never more than asked. A replica clamps to its
// own max_lease_ms, so what it granted, not what was asked, is what counts.
int64_t majority_lease(std::vector<int64_t> granted, size_t quorum, int64_t asked_ms) {
  if (quorum == 0 || granted.size() < quorum) return 0;
  std::sort(granted.begin(), granted.end(), std::greater<>());
  return std::clamp<int64_t>(granted[quorum - 1], 0, asked_ms);
}

}  // namespace

void DhtCore::abort_applied(Operation& op, int64_t now_ms) {
  for (const Contact& c : op.applied)
    send_store(op, c, AbortBody{op.owner_tag, op.token_arg + 1}, false, now_ms);
}

void DhtCore::repair_missing(Operation& op, const VersionedValue& value, int64_t now_ms) {
  const VersionedValue v = value;
  start_phase(
      op, Phase::kRepair, op.missing, [&](const Contact&) { return StoreBody{RepairBody{v}}; },
      now_ms);
}

void DhtCore::phase_done(Operation& op, int64_t now_ms) {
  size_t quorum = op.replica_set / 2 + 1;
  auto first_refusal = [&]() {
    for (auto& [c, n] : op.nacks)
      if (n.reason != Refusal::kBadToken) return n.reason;
    return op.nacks.empty() ? Refusal::kNone : op.nacks.front().second.reason;
  };
  // put: no replica took it.
  auto refusal_error = [&](const std::string& what) {
    Refusal r = first_refusal();
    if (r == Refusal::kNone) return timed_out(what + ": no replica answered");
    return refused(what + ": " + refusal_name(r) + " (" + std::to_string(op.acks.size()) + " of " +
                   std::to_string(op.targets.size()) + " replicas accepted)");
  };
  // A quorum write without a majority (spec §7): kRefused when the replicas
  // that said no leave no majority possible, so the same request would fail
  // again; kTimeout when the replicas that did not answer (or only lacked a
  // fresh write token) could have made one, so trying again may succeed.
  auto quorum_error = [&](const std::string& what, size_t accepted) {
    size_t refusing = 0;
    for (auto& [c, n] : op.nacks)
      if (n.reason != Refusal::kBadToken) ++refusing;
    size_t silent = op.replica_set > accepted + refusing ? op.replica_set - accepted - refusing : 0;
    std::string counts = " (" + std::to_string(accepted) + " of " + std::to_string(op.replica_set) +
                         " replicas accepted, " + std::to_string(refusing) + " refused, " +
                         std::to_string(silent) + " did not answer; " + std::to_string(quorum) +
                         " needed)";
    if (refusing > 0 && accepted + silent < quorum)
      return refused(what + ": " + refusal_name(first_refusal()) + counts);
    return timed_out(what + ": no majority answered" + counts);
  };
  auto max_version = [&]() {
    uint64_t v = 0;
    for (auto& [c, n] : op.nacks)
      if (n.reason == Refusal::kConflict || n.reason == Refusal::kMissingBase)
        v = std::max(v, n.number);
    return v;
  };
  OpResult& r = op.result;

  switch (op.kind) {
    case OpKind::kPut:
    case OpKind::kPutSigned:
      r.acks = op.acks.size();
      if (op.acks.empty()) return finish(op, refusal_error("put"));
      return finish(op, std::move(r));

    case OpKind::kListen:
      op.phase = Phase::kIdle;
      op.next_refresh_ms = now_ms + config_.listen_refresh_ms;
      return;

    case OpKind::kRelease:
      r.acks = op.acks.size();
      return finish(op, std::move(r));

    case OpKind::kRenew: {
      size_t held = 0;
      std::vector<int64_t> granted;
      for (auto& [c, a] : op.acks) {
        if (a.number != op.token_arg) continue;
        ++held;
        granted.push_back(a.remaining_ms);
      }
      r.acks = held;
      r.number = op.token_arg;
      if (held < quorum) {
        // The lock is lost: let go of every lease the replicas still hold for
        // us, so the next owner does not wait for them to run out.
        for (auto& [c, a] : op.acks)
          send_store(op, c, UnlockBody{op.owner_tag, a.number}, false, now_ms);
        return finish(op, refused("renew: the lease was lost (" + std::to_string(held) + " of " +
                                  std::to_string(op.replica_set) + " replicas still hold it, " +
                                  std::to_string(quorum) + " needed)"));
      }
      // A replica where our lease had lapsed granted a fresh one under a new
      // token: no part of this lock, so it is released rather than left to
      // block others until it runs out.
      for (auto& [c, a] : op.acks)
        if (a.number != op.token_arg)
          send_store(op, c, UnlockBody{op.owner_tag, a.number}, false, now_ms);
      r.valid_until_us = lease_end_us(op.sent_ms, majority_lease(granted, quorum, op.lease_ms));
      return finish(op, std::move(r));
    }

    case OpKind::kLock: {
      if (op.phase == Phase::kWrite) {
        if (op.acks.size() < quorum) {
          for (auto& [c, a] : op.acks)
            send_store(op, c, UnlockBody{op.owner_tag, a.number}, false, now_ms);
          Error e = quorum_error("lock", op.acks.size());
          if (e.code() != ErrorCode::kRefused || first_refusal() != Refusal::kLockHeld)
            return finish(op, std::move(e));
          int64_t wait = 0;
          for (auto& [c, n] : op.nacks)
            if (n.reason == Refusal::kLockHeld) wait = std::max(wait, n.remaining_ms);
          return finish(op, refused("lock: held by another owner (about " + std::to_string(wait) +
                                    " ms left)"));
        }
        uint64_t top = 0;
        for (auto& [c, a] : op.acks) top = std::max(top, a.number);
        op.raise_to = top;
        op.confirmed = 0;
        op.granted.clear();
        op.holding.clear();
        std::vector<Contact> low;
        for (auto& [c, a] : op.acks) {
          op.holding.emplace_back(c, a.number);
          if (a.number == top) {
            ++op.confirmed;
            op.granted.push_back(a.remaining_ms);
          } else {
            low.push_back(c);
          }
        }
        if (low.empty()) {
          r.number = top;
          r.acks = op.confirmed;
          r.valid_until_us =
              lease_end_us(op.sent_ms, majority_lease(op.granted, quorum, op.lease_ms));
          return finish(op, std::move(r));
        }
        // Raise the replicas that granted less, so that a majority holds the
        // top token before anyone relies on it: the next holder's majority
        // then meets one of them and gets a larger token (spec/dht.md §7.3).
        start_phase(
            op, Phase::kRaise, low, [&](const Contact&) { return store_body_for(op); }, now_ms);
        return;
      }
      // Raise phase done. A raised replica's lease restarted when it got the
      // raise, after sent_ms, so counting what it granted from sent_ms is safe.
      for (auto& [c, a] : op.acks) {
        if (a.number < op.raise_to) continue;
        ++op.confirmed;
        op.granted.push_back(a.remaining_ms);
        for (auto& h : op.holding)
          if (h.first.id == c.id) h.second = a.number;
      }
      if (op.confirmed < quorum) {
        for (auto& [c, token] : op.holding)
          send_store(op, c, UnlockBody{op.owner_tag, token}, false, now_ms);
        return finish(op, timed_out("lock: could not raise a majority to the fencing token"));
      }
      r.number = op.raise_to;
      r.acks = op.confirmed;
      r.valid_until_us = lease_end_us(op.sent_ms, majority_lease(op.granted, quorum, op.lease_ms));
      return finish(op, std::move(r));
    }

    case OpKind::kCas: {
      r.acks = op.acks.size();
      if (op.acks.size() >= quorum) {
        r.number = op.token_arg + 1;
        return finish(op, std::move(r));
      }
      for (auto& [c, a] : op.acks)
        send_store(op, c, AbortBody{op.owner_tag, op.token_arg + 1}, false, now_ms);
      return finish(op, quorum_error("compare_and_set", op.acks.size()), max_version());
    }

    case OpKind::kDiff: {
      if (op.phase == Phase::kWrite) {
        op.missing.clear();
        op.applied.clear();
        for (auto& [c, n] : op.nacks)
          if (n.reason == Refusal::kMissingBase) op.missing.push_back(c);
        for (auto& [c, a] : op.acks) op.applied.push_back(c);
        r.acks = op.acks.size();
        if (op.acks.size() >= quorum && op.missing.empty()) {
          r.number = op.token_arg + 1;
          return finish(op, std::move(r));
        }
        if (op.acks.empty() || op.acks.size() + op.missing.size() < quorum) {
          abort_applied(op, now_ms);
          return finish(op, quorum_error("apply_diff", op.acks.size()), max_version());
        }
        // Replicas without the base get the whole new value, fetched from
        // one that applied the patch (and checked against result_hash).
        const Contact source = op.applied.front();
        if (source.key == identity_.public_key()) {
          Snapshot s = store_.get(op.key, now_ms);
          if (!s.versioned || s.versioned->version != op.token_arg + 1 ||
              overlay::blake2b_256(s.versioned->data) != op.result_hash) {
            abort_applied(op, now_ms);
            return finish(op, refused("diff: our own replica lost the value it took"));
          }
          return repair_missing(op, *s.versioned, now_ms);
        }
        op.phase = Phase::kFetch;
        ++op.rpcs;
        uint64_t txid = send_request(source, FindValueReq{op.key}, op.token, now_ms);
        rpcs_[txid].purpose = Purpose::kFetch;
        return;
      }
      // Repair phase done: acks holds the repaired replicas.
      size_t repaired = 0;
      for (auto& [c, a] : op.acks)
        if (a.number == op.token_arg + 1) ++repaired;
      r.acks = op.applied.size() + repaired;
      if (r.acks < quorum) {
        // Undo the patch where it was applied. Replicas already repaired keep
        // the value (a REPAIR has no writer, so no ABORT undoes it).
        abort_applied(op, now_ms);
        std::string msg = "apply_diff: only " + std::to_string(r.acks) + " of " +
                          std::to_string(op.replica_set) + " replicas hold the new version (" +
                          std::to_string(quorum) + " needed)";
        if (op.silent > 0) return finish(op, timed_out(msg), max_version());
        return finish(op, refused(msg), max_version());
      }
      r.number = op.token_arg + 1;
      return finish(op, std::move(r));
    }
    default:
      return finish(op, std::move(r));
  }
}

void DhtCore::finish(Operation& op, Result<OpResult> result, uint64_t current_version) {
  if (result.ok() && result.value().valid_until_us != 0)
    result.value().remaining_ms =
        std::max<int64_t>(0, result.value().valid_until_us / 1000 - now_ms_);
  if (op.hold != 0) {
    auto h = holds_.find(op.hold);
    if (h != holds_.end() && h->second.op == op.token) h->second.done = std::move(result);
  } else if (!op.internal) {
    events_.push_back(DoneEvent{op.token, std::move(result), current_version});
  }
  ops_.erase(op.token);
}

void DhtCore::deliver_listen(Operation& op, const Key& key, const std::vector<Value>& values,
                             const std::vector<SignedValue>& signed_values,
                             const std::optional<VersionedValue>& versioned) {
  ListenEvent ev;
  ev.listen = op.token;
  ev.key = key;
  // The first call (from lookup_done) reports what the lookup gathered.
  std::vector<Value> all = values;
  std::vector<SignedValue> all_signed = signed_values;
  std::optional<VersionedValue> ver = versioned;
  if (values.empty() && signed_values.empty() && !versioned) {
    for (auto& [id, v] : op.values) all.push_back(v);
    for (auto& [o, v] : op.signed_values) all_signed.push_back(v);
    for (auto& [k, slot] : op.versions)
      if (!ver || k.first > ver->version) ver = slot.second;
  }
  for (const Value& v : all)
    if (op.seen_values.emplace(v.id, overlay::blake2b_256(v.data)).second) ev.values.push_back(v);
  for (const SignedValue& v : all_signed) {
    auto [it, fresh] = op.seen_signed.emplace(v.owner, v.seq);
    if (fresh || v.seq > it->second) {
      it->second = v.seq;
      ev.signed_values.push_back(v);
    }
  }
  if (ver && ver->version > op.seen_version) {
    op.seen_version = ver->version;
    ev.versioned = ver;
  }
  if (ev.values.empty() && ev.signed_values.empty() && !ev.versioned) return;
  events_.push_back(std::move(ev));
}

// ------------------------------------------------------------------ maintenance

void DhtCore::housekeeping(int64_t now_ms) {
  next_housekeeping_ms_ = now_ms + config_.housekeeping_ms;
  store_.expire(now_ms);
  codec_.expire(wall_ms(now_ms));
  if (now_ms - token_rotated_ms_ >= config_.token_rotate_ms) {
    token_secret_[1] = token_secret_[0];
    random_.fill(token_secret_[0].data(), token_secret_[0].size());
    token_rotated_ms_ = now_ms;
  }
  // Every listen due for renewal runs its lookup again: a registration lasts
  // two refresh periods, so renewing a few per tick would let the rest lapse.
  std::vector<Token> due;
  for (auto& [token, op] : ops_)
    if (op->kind == OpKind::kListen && op->phase == Phase::kIdle && now_ms >= op->next_refresh_ms)
      due.push_back(token);
  for (Token token : due) {
    auto it = ops_.find(token);  // an earlier renewal may have ended (erased) it
    if (it != ops_.end()) begin_lookup(*it->second, {}, now_ms);
  }
  // Buckets nobody looked into for a while get a lookup of a random id.
  if (table_.size() > 0) {
    for (int b : table_.stale_buckets(now_ms, config_.refresh_interval_ms)) {
      std::array<uint8_t, 32> rnd{};
      random_.fill(rnd.data(), rnd.size());
      table_.touched(b, now_ms);
      auto op = std::make_unique<Operation>();
      op->kind = OpKind::kRefresh;
      op->key = table_.id_in_bucket(b, rnd);
      op->internal = true;
      start(std::move(op), now_ms);
    }
  }
  republish_due(now_ms);
}

void DhtCore::prune_own(int64_t now_ms) {
  for (auto it = own_.begin(); it != own_.end();) {
    auto& values = it->second.values;
    for (auto v = values.begin(); v != values.end();)
      v = v->second.second <= now_ms ? values.erase(v) : std::next(v);
    auto& sv = it->second.signed_value;
    if (sv && sv->second <= now_ms) sv.reset();
    it = values.empty() && !sv ? own_.erase(it) : std::next(it);
  }
}

DhtCore::OwnPut* DhtCore::own_slot(const Key& key, int64_t now_ms) {
  auto it = own_.find(key);
  if (it != own_.end()) return &it->second;
  if (own_.size() >= config_.max_republished_keys) prune_own(now_ms);
  if (own_.size() >= config_.max_republished_keys) return nullptr;  // not republished
  return &own_[key];
}

void DhtCore::remember_put(const Key& key, const Value& value, int64_t now_ms) {
  OwnPut* own = own_slot(key, now_ms);
  if (!own) return;
  if (!own->values.count(value.id) && own->values.size() >= config_.store.max_values_per_key)
    return;
  int64_t expires = now_ms + int64_t{std::min(value.ttl_s, config_.store.max_ttl_s)} * 1000;
  own->values[value.id] = {value, expires};
}

void DhtCore::remember_signed(const Key& key, const SignedValue& value, int64_t now_ms) {
  OwnPut* own = own_slot(key, now_ms);
  if (!own) return;
  if (own->signed_value && own->signed_value->first.seq > value.seq) return;
  int64_t expires = now_ms + int64_t{std::min(value.ttl_s, config_.store.max_ttl_s)} * 1000;
  own->signed_value = std::make_pair(value, expires);
}

// Republish (spec §7.7): what the node itself put and still wants kept, not
// what it stores for others (that would revive replaced values and keep
// signed values alive forever). The keys due are queued once an interval
// and started a few per tick, only while the node has room for them.
void DhtCore::republish_due(int64_t now_ms) {
  if (now_ms >= next_republish_ms_) {
    next_republish_ms_ = now_ms + config_.republish_interval_ms;
    prune_own(now_ms);
    republish_queue_.clear();
    for (const auto& [key, own] : own_) republish_queue_.push_back(key);
    // Spread over the interval, but all of it within one interval.
    int64_t ticks = std::max<int64_t>(1, config_.republish_interval_ms / config_.housekeeping_ms);
    republish_per_tick_ = std::max(
        config_.republish_per_tick,
        (republish_queue_.size() + static_cast<size_t>(ticks) - 1) / static_cast<size_t>(ticks));
  }
  size_t started = 0;
  while (!republish_queue_.empty() && started < republish_per_tick_ &&
         ops_.size() < config_.max_operations / 2 && rpcs_.size() < config_.max_pending_rpcs / 2) {
    Key key = republish_queue_.front();
    republish_queue_.pop_front();
    if (!own_.count(key)) continue;
    auto op = std::make_unique<Operation>();
    op->kind = OpKind::kRepublish;
    op->key = key;
    op->find_value = true;  // to see what each replica already holds
    op->internal = true;
    ++started;
    ++stats_.republished;
    start(std::move(op), now_ms);
  }
}

void DhtCore::republish_push(Operation& op, const std::vector<Contact>& closest, int64_t now_ms) {
  auto own = own_.find(op.key);
  if (own == own_.end()) return;
  // A value someone replaced is no longer ours to keep alive: pushing it to
  // a replica that lost the replacement would bring the old one back.
  for (uint64_t id : op.replaced) own->second.values.erase(id);
  // Each value goes with the whole seconds we still want it kept, so a
  // republish never lengthens its life.
  std::vector<Value> values;
  for (const auto& [id, slot] : own->second.values) {
    int64_t left_s = (slot.second - now_ms) / 1000;
    if (left_s <= 0) continue;
    values.push_back(slot.first);
    values.back().ttl_s = static_cast<uint32_t>(left_s);
  }
  std::optional<SignedValue> sv;
  if (own->second.signed_value) {
    int64_t left_s = (own->second.signed_value->second - now_ms) / 1000;
    if (left_s > 0) {
      // Signed anew with the seconds left (same seq, same data): a replica
      // that lacks it lets it go when we would; one that holds it keeps it.
      sv = own->second.signed_value->first;
      sv->ttl_s = static_cast<uint32_t>(left_s);
      sv->signature = identity_.sign(signed_value_message(op.key, sv->seq, sv->ttl_s, sv->data));
    }
  }
  // Only to replicas that lack it: a value id they hold may have been
  // replaced by someone since we put it, and must not be overwritten.
  for (const Contact& c : closest) {
    auto h = op.held.find(c.id);
    if (h == op.held.end()) continue;
    for (const Value& v : values)
      if (!h->second.ids.count(v.id)) send_store(op, c, PutBody{v}, false, now_ms);
    if (sv && (!h->second.has_own_signed || h->second.own_seq < sv->seq))
      send_store(op, c, PutSignedBody{*sv}, false, now_ms);
  }
}

}  // namespace chorus::dht
