// DhtCore, running operations: the lookup every operation starts with, the
// replica set it settles on, the write phases, and the end. What an
// operation does between those steps is its own class (operations.h).
#include <algorithm>

#include "chorus/dht/dht_core.h"
#include "chorus/dht/peer_tokens.h"
#include "operations.h"
#include "rpc_table.h"

namespace chorus::dht {

// ------------------------------------------------------------------ OpHost

const DhtConfig& OpHost::config() const {
  return core_.config_;
}

ValueStore& OpHost::store() {
  return core_.store_;
}

const overlay::Identity& OpHost::identity() const {
  return core_.identity_;
}

Contact OpHost::me() const {
  return make_contact(core_.identity_.public_key(), core_.self_);
}

Republisher& OpHost::republisher() {
  return *core_.republisher_;
}

void OpHost::send_store(Operation& op, const Contact& to, StoreBody body, bool tracked,
                        int64_t now_ms) {
  core_.send_store(op, to, std::move(body), tracked, now_ms);
}

void OpHost::start_phase(Operation& op, Phase phase, const std::vector<Contact>& to,
                         const std::function<StoreBody(const Contact&)>& body, int64_t now_ms) {
  core_.start_phase(op, phase, to, body, now_ms);
}

void OpHost::fetch(Operation& op, const Contact& from, int64_t now_ms) {
  ++op.rpcs;
  core_.send_request(from, FindValueReq{op.key}, op.token, Purpose::kFetch, now_ms);
}

void OpHost::finish(Operation& op, Result<OpResult> result, uint64_t current_version) {
  core_.finish(op, std::move(result), current_version);
}

void OpHost::emit(DhtEvent event) {
  core_.events_.push_back(std::move(event));
}

// ------------------------------------------------------------------ the lookup

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

std::vector<ListenOp*> DhtCore::listens_on(const Key& key) {
  std::vector<ListenOp*> out;
  for (auto& [token, op] : ops_)
    if (ListenOp* l = op->as_listen(); l && l->key == key) out.push_back(l);
  return out;
}

void DhtCore::begin_lookup(Operation& op, const std::vector<Contact>& extra_seeds, int64_t now_ms) {
  std::vector<Contact> seeds = table_.closest(op.key, config_.k);
  seeds.insert(seeds.end(), extra_seeds.begin(), extra_seeds.end());
  op.phase = Phase::kLookup;
  op.unanswered.clear();
  op.lookup.emplace(op.key, seeds, LookupConfig{config_.k, config_.alpha, config_.max_candidates});
  op.lookup_started_ms = now_ms;
  op.early.clear();
  lookup_deadlines_.emplace(now_ms + config_.lookup_deadline_ms, op.token);
  pump(op, now_ms);
}

void DhtCore::pump(Operation& op, int64_t now_ms) {
  if (op.phase != Phase::kLookup || !op.lookup) return;
  // Once the lookup has converged, the k closest it knows are the replicas,
  // barring a closer one named late (who then gets the same). A put writes
  // to them now instead of after the lookup: those that answered get their
  // STORE at once, and one whose token we kept from before gets the STORE
  // in place of its query, its answer standing for both. Every replica then
  // costs one round trip after convergence, not two or three. A contact
  // that turns out not to be among the k closest keeps a spare copy.
  const bool write_now = op.writes_during_lookup() && op.lookup->converged();
  if (write_now) {
    for (const Contact& c : op.lookup->closest_answered()) {
      auto token = op.tokens.find(c.id);
      if (token != op.tokens.end() && !op.early.contains(c.id))
        send_early_store(op, c, token->second, now_ms);
    }
  }
  while (auto c = op.lookup->next_to_query()) {
    if (write_now) {
      if (auto token = peer_tokens_->fresh(c->id, now_ms)) {
        send_early_store(op, *c, *token, now_ms);
        continue;
      }
    }
    ++op.rpcs;
    Body body = op.find_value ? Body{FindValueReq{op.key}} : Body{FindNodeReq{op.key}};
    send_request(*c, std::move(body), op.token, Purpose::kLookup, now_ms);
  }
  if (op.lookup->done()) lookup_done(op, now_ms);
}

void DhtCore::send_early_store(Operation& op, const Contact& to, const WriteToken& token,
                               int64_t now_ms) {
  ++op.rpcs;
  ++stats_.lookup_stores;
  op.early[to.id] = Operation::EarlyStore{};
  send_request(to, StoreReq{token, op.key, op.store_body(config_)}, op.token, Purpose::kLookupStore,
               now_ms);
}

void DhtCore::lookup_done(Operation& op, int64_t now_ms) {
  ++stats_.operations_done;
  Replicas replicas;
  replicas.closest = op.lookup->closest_answered();
  // Stalled queries count as unanswered: in the replica set, not written to.
  for (const Contact& c : op.lookup->stalled()) op.unanswered.push_back(c);
  const std::vector<Contact>& closest = replicas.closest;
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
  std::vector<Contact>& settled = replicas.settled;
  settled = closest;
  for (const Contact& c : op.unanswered) settled.push_back(c);
  if (!config_.read_only) settled.push_back(me);
  std::sort(settled.begin(), settled.end(),
            [&](const Contact& x, const Contact& y) { return closer(op.key, x.id, y.id); });
  settled.erase(std::unique(settled.begin(), settled.end(),
                            [](const Contact& x, const Contact& y) { return x.id == y.id; }),
                settled.end());
  if (settled.size() > config_.k) settled.resize(config_.k);
  for (const Contact& c : settled)
    if (c.key == me.key) replicas.self_replica = true;
  op.replica_set = settled.size();
  if (replicas.self_replica && op.find_value) {
    Snapshot s = store_.get(op.key, now_ms);
    for (const Value& v : s.values) op.merge(v);
    for (const SignedValue& sv : s.signed_values) op.merge(sv);
    if (s.versioned) op.merge(*s.versioned);
  }
  OpHost host(*this);
  op.on_lookup_done(host, replicas, now_ms);
}

// ------------------------------------------------------------------ write phases

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
    send_request(to, std::move(req), 0, Purpose::kFireAndForget, now_ms);
    return;
  }
  ++op.rpcs;
  send_request(to, std::move(req), op.token, Purpose::kWrite, now_ms);
}

void DhtCore::start_phase(Operation& op, Phase phase, const std::vector<Contact>& to,
                          const std::function<StoreBody(const Contact&)>& body, int64_t now_ms) {
  op.phase = phase;
  op.tally.reset(to.size());
  op.local_reply.reset();
  if (to.empty()) {
    OpHost host(*this);
    op.on_phase_done(host, now_ms);
    return;
  }
  // Replicas written during the lookup are not written again: answers in
  // hand count below, answers still to come go to the tally when they
  // arrive. Those count after the loop, with our own, so the operation
  // cannot finish (and be freed) while the loop still uses it.
  using Early = Operation::EarlyStore;
  std::vector<std::pair<Contact, std::optional<Body>>> answered;
  for (const Contact& c : to) {
    auto early = phase == Phase::kWrite ? op.early.find(c.id) : op.early.end();
    if (early == op.early.end()) {
      send_store(op, c, body(c), true, now_ms);
    } else if (early->second.state == Early::State::kAnswered) {
      answered.emplace_back(c, std::move(early->second.reply));
      op.early.erase(early);
    } else {
      early->second.state = Early::State::kAwaited;
    }
  }
  // The rest were not replicas after all: their answers no longer count.
  std::erase_if(op.early, [](const auto& e) { return e.second.state != Early::State::kAwaited; });
  if (op.local_reply) {
    answered.emplace_back(make_contact(identity_.public_key(), self_), std::move(op.local_reply));
    op.local_reply.reset();
  }
  for (auto& [from, reply] : answered) {
    if (!op.tally.add(from, reply ? &*reply : nullptr)) continue;
    OpHost host(*this);
    op.on_phase_done(host, now_ms);
    return;
  }
}

void DhtCore::store_reply(Operation& op, const Contact& from, const Body* reply, int64_t now_ms) {
  if (!op.tally.add(from, reply)) return;
  OpHost host(*this);
  op.on_phase_done(host, now_ms);
}

// ------------------------------------------------------------------ the end

const char* op_kind_name(OpKind kind) {
  static constexpr const char* kNames[kOpKinds] = {"find_node", "get",    "put",      "put_signed",
                                                   "lock",      "renew",  "release",  "cas",
                                                   "diff",      "listen", "republish"};
  const auto i = static_cast<size_t>(kind);
  return i < kOpKinds ? kNames[i] : "unknown";
}

void DhtCore::finish(Operation& op, Result<OpResult> result, uint64_t current_version) {
  ++stats_.operations[static_cast<size_t>(op.kind())][result.ok() ? 0 : 1];
  if (result.ok()) result.value().rpcs = op.rpcs;  // the lookup's and the writes'
  if (result.ok() && result.value().valid_until_us != 0)
    result.value().remaining_ms =
        std::max<int64_t>(0, result.value().valid_until_us / kUsPerMs - now_ms_);
  if (op.hold != 0) {
    auto h = holds_.find(op.hold);
    if (h != holds_.end() && h->second.op == op.token) h->second.done = std::move(result);
  } else if (!op.internal) {
    events_.push_back(DoneEvent{op.token, std::move(result), current_version});
  }
  ops_.erase(op.token);
}

}  // namespace chorus::dht
