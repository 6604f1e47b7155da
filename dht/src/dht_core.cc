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

struct DhtCore::Rpc {
  Contact to;
  Op op = Op::kPing;
  Token owner = 0;
  Purpose purpose = Purpose::kFireAndForget;
  int64_t deadline_ms = 0;
  bool key_unknown = false;
  std::optional<Contact> newcomer;  // kEvict
};

struct DhtCore::Operation {
  Token token = 0;
  OpKind kind = OpKind::kGet;
  Key key{};
  bool internal = false;  // no DoneEvent (refresh, republish)
  enum class Phase : uint8_t {
    kBoot,
    kLookup,
    kWrite,
    kRaise,
    kFetch,
    kRepair,
    kIdle
  } phase = Phase::kLookup;
  std::optional<Lookup> lookup;
  bool find_value = false;
  std::map<NodeId, WriteToken> tokens;  // write tokens by replica
  std::vector<Contact> unanswered;      // lookup queries that failed
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
  size_t silent = 0;
  int64_t sent_ms = 0;
  uint64_t raise_to = 0;
  size_t confirmed = 0;          // lock: replicas known to hold a token ≥ raise_to
  size_t repaired = 0;           // diff: replicas that took the whole value
  std::vector<Contact> missing;  // diff: replicas without the base
  OpResult result;

  // Listen.
  std::set<std::pair<uint64_t, Hash256>> seen_values;
  std::map<PublicKey, uint64_t> seen_signed;
  uint64_t seen_version = 0;
  int64_t next_refresh_ms = 0;
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

// ------------------------------------------------------------------ inputs

void DhtCore::on_datagram(const Address& from, ByteView bytes, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  ++stats_.datagrams_in;
  stats_.bytes_in += bytes.size();
  auto opened = codec_.open(bytes, now_ms_);
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
    if (it->second->phase == Operation::Phase::kLookup &&
        it->second->lookup_started_ms + config_.lookup_deadline_ms <= now_ms_)
      lookup_done(*it->second, now_ms_);
  }
  if (now_ms_ >= next_housekeeping_ms_) housekeeping(now_ms_);
}

std::optional<int64_t> DhtCore::next_timer_us() const {
  int64_t at = next_housekeeping_ms_;
  if (!deadlines_.empty()) at = std::min(at, deadlines_.top().first);
  if (!lookup_deadlines_.empty()) at = std::min(at, lookup_deadlines_.top().first);
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
  } else if (key_unknown) {
    send_bytes(to.address, codec_.sign(bytes, now_ms));
  } else {
    send_bytes(to.address, codec_.seal(to.key, bytes, now_ms));
  }
  deadlines_.emplace(rpc.deadline_ms, txid);
  rpcs_.emplace(txid, std::move(rpc));
  return txid;
}

void DhtCore::send_reply(const Address& to, const PublicKey& key, uint64_t txid, Body body,
                         int64_t now_ms) {
  Message m{txid, 0, std::move(body)};
  send_bytes(to, codec_.seal(key, encode_message(m), now_ms));
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
    send_reply(from, sender, m.txid, std::move(r), now_ms);
  } else if (auto* st = std::get_if<StoreReq>(&m.body)) {
    Message reply = serve_store(from, sender, *st, now_ms);
    send_reply(from, sender, m.txid, std::move(reply.body), now_ms);
  } else if (auto* n = std::get_if<NotifyReq>(&m.body)) {
    send_reply(from, sender, m.txid, EmptyReply{}, now_ms);
    for (auto& [token, op] : ops_) {
      if (op->kind != OpKind::kListen || op->key != n->key) continue;
      deliver_listen(*op, n->key, n->values, n->signed_values, n->versioned);
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
  for (const Listener& l : listeners) {
    if (l.contact.key == identity_.public_key()) {
      for (auto& [token, op] : ops_)
        if (op->kind == OpKind::kListen && op->key == key)
          deliver_listen(*op, key, s.values, s.signed_values, s.versioned);
      continue;
    }
    NotifyReq n{key, s.values, s.signed_values, s.versioned};
    send_request(l.contact, std::move(n), 0, now_ms);
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
      bool has_data = !f->values.empty() || !f->signed_values.empty() || f->versioned;
      if (has_data && op.first_data_depth == 0)
        op.first_data_depth = std::max(1, op.lookup->depth_of(who.id));
      for (const Value& v : f->values) op.values.emplace(v.id, v);
      for (const SignedValue& s : f->signed_values) {
        auto [sit, fresh] = op.signed_values.emplace(s.owner, s);
        if (!fresh && s.seq > sit->second.seq) sit->second = s;
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
        finish(op, refused("diff: the replica that took the patch has no matching value"));
        return;
      }
      op.phase = Operation::Phase::kRepair;
      op.outstanding = 0;
      for (const Contact& c : op.missing) {
        auto t = op.tokens.find(c.id);
        StoreReq req{t == op.tokens.end() ? WriteToken{} : t->second, op.key,
                     RepairBody{*f->versioned}};
        ++op.outstanding;
        ++op.rpcs;
        uint64_t txid = send_request(c, std::move(req), op.token, now_ms);
        rpcs_[txid].purpose = Purpose::kWrite;
      }
      if (op.outstanding == 0) phase_done(op, now_ms);
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
  ++stats_.rpcs_timed_out;
  // A contact that keeps failing gives way, but only to a newcomer waiting
  // in its bucket: the buckets near us (never full) keep what they know, so
  // a partition does not make a minority forget the replicas it cannot reach.
  if (!rpc.key_unknown && table_.failed(rpc.to.id) >= 2 &&
      table_.has_replacement(table_.bucket_of(rpc.to.id)))
    table_.evict(rpc.to.id);
  if (rpc.purpose == Purpose::kEvict) {
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
  if (ref.phase == Operation::Phase::kBoot) return token;
  begin_lookup(ref, {}, now_ms);
  return token;
}

void DhtCore::begin_lookup(Operation& op, const std::vector<Contact>& extra_seeds, int64_t now_ms) {
  std::vector<Contact> seeds = table_.closest(op.key, config_.k);
  seeds.insert(seeds.end(), extra_seeds.begin(), extra_seeds.end());
  op.phase = Operation::Phase::kLookup;
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
  op->phase = Operation::Phase::kBoot;
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
  for (const Contact& c : op.targets) {
    if (c.key == identity_.public_key()) {
      store_.listen(op.key, c, 0, now_ms_);
      continue;
    }
    auto t = op.tokens.find(c.id);
    if (t == op.tokens.end()) continue;
    send_request(c, StoreReq{t->second, op.key, ListenBody{0}}, 0, now_ms_);
  }
  ops_.erase(it);
}

#undef CHORUS_NEW_OP

// ------------------------------------------------------------------ operations

void DhtCore::pump(Operation& op, int64_t now_ms) {
  if (op.phase != Operation::Phase::kLookup || !op.lookup) return;
  while (auto c = op.lookup->next_to_query()) {
    ++op.rpcs;
    Body body = op.find_value ? Body{FindValueReq{op.key}} : Body{FindNodeReq{op.key}};
    uint64_t txid = send_request(*c, std::move(body), op.token, now_ms);
    rpcs_[txid].purpose = Purpose::kLookup;
  }
  if (op.lookup->done()) lookup_done(op, now_ms);
}

Body DhtCore::store_body_for(const Operation& op, const Contact& to) const {
  auto t = op.tokens.find(to.id);
  WriteToken token = t == op.tokens.end() ? WriteToken{} : t->second;
  StoreBody body;
  switch (op.kind) {
    case OpKind::kPut:
      body = PutBody{op.value};
      break;
    case OpKind::kPutSigned:
      body = PutSignedBody{op.signed_value};
      break;
    case OpKind::kLock:
      body = LockBody{op.owner_tag, static_cast<uint64_t>(op.lease_ms), op.raise_to};
      break;
    case OpKind::kRenew:
      body = LockBody{op.owner_tag, static_cast<uint64_t>(op.lease_ms), op.token_arg};
      break;
    case OpKind::kRelease:
      body = UnlockBody{op.owner_tag, op.token_arg};
      break;
    case OpKind::kCas:
      body = CasBody{op.owner_tag, op.token_arg, op.ttl_s, op.data};
      break;
    case OpKind::kDiff:
      body = DiffBody{op.owner_tag, op.token_arg, op.ttl_s, op.data, op.result_hash};
      break;
    case OpKind::kListen:
      body = ListenBody{static_cast<uint32_t>(2 * config_.listen_refresh_ms / 1000 + 1)};
      break;
    default:
      body = ListenBody{0};
      break;
  }
  return StoreReq{token, op.key, std::move(body)};
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
  // set (spec/dht.md §6). We are a replica ourselves when we fall inside it.
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
    case OpKind::kRepublish: {
      // Push every piece we hold to the replicas we found; answers are not
      // needed (the republish runs again next period).
      for (const Contact& c : closest) {
        auto t = op.tokens.find(c.id);
        if (t == op.tokens.end()) continue;
        for (const Value& v : op.republish.values)
          send_request(c, StoreReq{t->second, op.key, PutBody{v}}, 0, now_ms);
        for (const SignedValue& v : op.republish.signed_values)
          send_request(c, StoreReq{t->second, op.key, PutSignedBody{v}}, 0, now_ms);
        if (op.republish.versioned)
          send_request(c, StoreReq{t->second, op.key, RepairBody{*op.republish.versioned}}, 0,
                       now_ms);
      }
      finish(op, OpResult{});
      return;
    }
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
  op.phase = Operation::Phase::kWrite;
  op.acks.clear();
  op.nacks.clear();
  op.silent = 0;
  op.sent_ms = now_ms;
  op.outstanding = op.targets.size();
  bool has_self = false;
  for (const Contact& c : op.targets) {
    if (c.key == identity_.public_key()) {
      has_self = true;
      continue;
    }
    ++op.rpcs;
    uint64_t txid = send_request(c, store_body_for(op, c), op.token, now_ms);
    rpcs_[txid].purpose = Purpose::kWrite;
  }
  if (has_self) {
    // Our own replica answers synchronously, like any other.
    Body req = store_body_for(op, me);
    Message reply = serve_store(self_, identity_.public_key(), std::get<StoreReq>(req), now_ms);
    store_reply(op, me, &reply.body, now_ms);
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

// When a holder must stop trusting a lease it asked for at sent_ms: early by
// lease_safety, to absorb clock-rate differences and delay.
int64_t DhtCore::lease_end_us(int64_t sent_ms, int64_t lease_ms) const {
  return static_cast<int64_t>((static_cast<double>(sent_ms) +
                               static_cast<double>(lease_ms) * (1.0 - config_.lease_safety)) *
                              1000);
}

void DhtCore::phase_done(Operation& op, int64_t now_ms) {
  size_t quorum = op.replica_set / 2 + 1;
  auto first_refusal = [&]() {
    for (auto& [c, n] : op.nacks)
      if (n.reason != Refusal::kBadToken) return n.reason;
    return op.nacks.empty() ? Refusal::kNone : op.nacks.front().second.reason;
  };
  auto refusal_error = [&](const std::string& what) {
    Refusal r = first_refusal();
    if (r == Refusal::kNone) return timed_out(what + ": no replica answered");
    return refused(what + ": " + refusal_name(r) + " (" + std::to_string(op.acks.size()) + " of " +
                   std::to_string(op.targets.size()) + " replicas accepted)");
  };
  auto max_version = [&]() {
    uint64_t v = 0;
    for (auto& [c, n] : op.nacks)
      if (n.reason == Refusal::kConflict || n.reason == Refusal::kMissingBase)
        v = std::max(v, n.number);
    return v;
  };
  auto send_to = [&](const Contact& c, StoreBody body) {
    if (c.key == identity_.public_key()) {
      serve_store(self_, identity_.public_key(), StoreReq{WriteToken{}, op.key, std::move(body)},
                  now_ms);
      return;
    }
    auto t = op.tokens.find(c.id);
    send_request(c,
                 StoreReq{t == op.tokens.end() ? WriteToken{} : t->second, op.key, std::move(body)},
                 0, now_ms);
  };
  OpResult& r = op.result;

  switch (op.kind) {
    case OpKind::kPut:
    case OpKind::kPutSigned:
      r.acks = op.acks.size();
      if (op.acks.empty()) return finish(op, refusal_error("put"));
      return finish(op, std::move(r));

    case OpKind::kListen:
      op.phase = Operation::Phase::kIdle;
      op.next_refresh_ms = now_ms + config_.listen_refresh_ms;
      return;

    case OpKind::kRelease:
      r.acks = op.acks.size();
      return finish(op, std::move(r));

    case OpKind::kRenew: {
      size_t held = 0;
      for (auto& [c, a] : op.acks)
        if (a.number == op.token_arg) ++held;
      r.acks = held;
      r.number = op.token_arg;
      if (held < quorum) return finish(op, refused("renew: the lease was lost"));
      r.valid_until_us = lease_end_us(op.sent_ms, op.lease_ms);
      return finish(op, std::move(r));
    }

    case OpKind::kLock: {
      if (op.phase == Operation::Phase::kWrite) {
        if (op.acks.size() < quorum) {
          for (auto& [c, a] : op.acks) send_to(c, UnlockBody{op.owner_tag, a.number});
          int64_t wait = 0;
          for (auto& [c, n] : op.nacks)
            if (n.reason == Refusal::kLockHeld) wait = std::max(wait, n.remaining_ms);
          std::string msg = "lock: held by another owner";
          if (first_refusal() != Refusal::kLockHeld) return finish(op, refusal_error("lock"));
          return finish(op, refused(msg + " (about " + std::to_string(wait) + " ms left)"));
        }
        uint64_t top = 0;
        for (auto& [c, a] : op.acks) top = std::max(top, a.number);
        op.raise_to = top;
        op.confirmed = 0;
        std::vector<Contact> low;
        for (auto& [c, a] : op.acks) {
          if (a.number == top)
            ++op.confirmed;
          else
            low.push_back(c);
        }
        if (low.empty()) {
          r.number = top;
          r.acks = op.confirmed;
          r.valid_until_us = lease_end_us(op.sent_ms, op.lease_ms);
          return finish(op, std::move(r));
        }
        // Raise the replicas that granted less, so that a majority holds the
        // top token before anyone relies on it: the next holder's majority
        // then meets one of them and gets a larger token (spec/dht.md §6).
        op.phase = Operation::Phase::kRaise;
        op.acks.clear();
        op.nacks.clear();
        op.outstanding = low.size();
        for (const Contact& c : low) {
          if (c.key == identity_.public_key()) {
            Message reply = serve_store(self_, identity_.public_key(),
                                        std::get<StoreReq>(store_body_for(op, c)), now_ms);
            store_reply(op, c, &reply.body, now_ms);
            continue;
          }
          ++op.rpcs;
          uint64_t txid = send_request(c, store_body_for(op, c), op.token, now_ms);
          rpcs_[txid].purpose = Purpose::kWrite;
        }
        return;
      }
      // Raise phase done.
      for (auto& [c, a] : op.acks)
        if (a.number >= op.raise_to) ++op.confirmed;
      if (op.confirmed < quorum) {
        for (const Contact& c : op.targets) send_to(c, UnlockBody{op.owner_tag, op.raise_to});
        return finish(op, refused("lock: could not raise a majority to the fencing token"));
      }
      r.number = op.raise_to;
      r.acks = op.confirmed;
      r.valid_until_us = lease_end_us(op.sent_ms, op.lease_ms);
      return finish(op, std::move(r));
    }

    case OpKind::kCas: {
      r.acks = op.acks.size();
      if (op.acks.size() >= quorum) {
        r.number = op.token_arg + 1;
        return finish(op, std::move(r));
      }
      for (auto& [c, a] : op.acks) send_to(c, AbortBody{op.owner_tag, op.token_arg + 1});
      return finish(op, refusal_error("compare_and_set"), max_version());
    }

    case OpKind::kDiff: {
      if (op.phase == Operation::Phase::kWrite) {
        op.missing.clear();
        for (auto& [c, n] : op.nacks)
          if (n.reason == Refusal::kMissingBase) op.missing.push_back(c);
        r.acks = op.acks.size();
        if (op.acks.size() >= quorum && op.missing.empty()) {
          r.number = op.token_arg + 1;
          return finish(op, std::move(r));
        }
        if (op.acks.empty() || op.acks.size() + op.missing.size() < quorum) {
          for (auto& [c, a] : op.acks) send_to(c, AbortBody{op.owner_tag, op.token_arg + 1});
          return finish(op, refusal_error("apply_diff"), max_version());
        }
        // Replicas without the base get the whole new value, fetched from
        // one that applied the patch (and checked against result_hash).
        const Contact& source = op.acks.front().first;
        op.phase = Operation::Phase::kFetch;
        op.repaired = 0;
        if (source.key == identity_.public_key()) {
          Snapshot s = store_.get(op.key, now_ms);
          op.phase = Operation::Phase::kRepair;
          op.outstanding = 0;
          for (const Contact& c : op.missing) {
            if (!s.versioned) break;
            ++op.outstanding;
            ++op.rpcs;
            auto t = op.tokens.find(c.id);
            uint64_t txid = send_request(c,
                                         StoreReq{t == op.tokens.end() ? WriteToken{} : t->second,
                                                  op.key, RepairBody{*s.versioned}},
                                         op.token, now_ms);
            rpcs_[txid].purpose = Purpose::kWrite;
          }
          if (op.outstanding == 0) phase_done(op, now_ms);
          return;
        }
        ++op.rpcs;
        uint64_t txid = send_request(source, FindValueReq{op.key}, op.token, now_ms);
        rpcs_[txid].purpose = Purpose::kFetch;
        return;
      }
      // Repair phase done: acks now holds the repaired replicas.
      size_t applied = r.acks;
      size_t repaired = 0;
      for (auto& [c, a] : op.acks)
        if (a.number == op.token_arg + 1) ++repaired;
      r.acks = applied + repaired;
      if (r.acks < quorum) return finish(op, refusal_error("apply_diff"), max_version());
      r.number = op.token_arg + 1;
      return finish(op, std::move(r));
    }
    default:
      return finish(op, std::move(r));
  }
}

void DhtCore::finish(Operation& op, Result<OpResult> result, uint64_t current_version) {
  if (!op.internal) events_.push_back(DoneEvent{op.token, std::move(result), current_version});
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
  codec_.expire(now_ms);
  if (now_ms - token_rotated_ms_ >= config_.token_rotate_ms) {
    token_secret_[1] = token_secret_[0];
    random_.fill(token_secret_[0].data(), token_secret_[0].size());
    token_rotated_ms_ = now_ms;
  }
  // Listens due for renewal run their lookup again.
  for (auto& [token, op] : ops_) {
    if (op->kind != OpKind::kListen || op->phase != Operation::Phase::kIdle) continue;
    if (now_ms < op->next_refresh_ms) continue;
    begin_lookup(*op, {}, now_ms);
    break;  // pump may finish (erase) ops; one per tick is plenty
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
  if (now_ms >= next_republish_ms_) republish(now_ms);
}

void DhtCore::republish(int64_t now_ms) {
  next_republish_ms_ = now_ms + config_.republish_interval_ms;
  for (const Key& key : store_.keys()) {
    Snapshot s = store_.get(key, now_ms);
    if (s.values.empty() && s.signed_values.empty() && !s.versioned) continue;
    auto op = std::make_unique<Operation>();
    op->kind = OpKind::kRepublish;
    op->key = key;
    op->internal = true;
    op->republish = std::move(s);
    start(std::move(op), now_ms);
  }
}

}  // namespace chorus::dht
