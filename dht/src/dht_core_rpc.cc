// DhtCore, the asking side: sending requests, and routing each answer (or
// its silence, at the deadline) to the operation that asked (rpc_table.h
// keeps what is in flight).
#include <algorithm>
#include <cmath>

#include "chorus/dht/datagram.h"
#include "chorus/dht/dht_core.h"
#include "chorus/dht/peer_tokens.h"
#include "operations.h"
#include "rpc_table.h"

namespace chorus::dht {
namespace {

// Contacts failing this many RPCs in a row give way to a newcomer waiting
// in their bucket.
constexpr int kFailuresBeforeEviction = 2;

}  // namespace

void DhtCore::send_bytes(const Address& to, const Result<std::vector<Bytes>>& datagrams) {
  if (!datagrams.ok()) return;
  for (const Bytes& d : datagrams.value()) {
    ++stats_.datagrams_out;
    stats_.bytes_out += d.size();
    actions_.push_back(SendDatagram{to, d});
  }
}

uint64_t DhtCore::send_request(const Contact& to, Body body, Token op, Purpose purpose,
                               int64_t now_ms, bool key_unknown) {
  Rpc rpc;
  rpc.to = to;
  rpc.op = op_of(body);
  rpc.owner = op;
  rpc.purpose = purpose;
  rpc.sent_ms = now_ms;
  rpc.deadline_ms = now_ms + config_.rpc_timeout_ms;
  if (purpose == Purpose::kLookup || purpose == Purpose::kLookupStore)
    rpc.stall_ms = now_ms + stall_after_ms();
  rpc.key_unknown = key_unknown;
  uint64_t txid = rpcs_->new_txid(random_);
  Message m{txid, static_cast<uint8_t>(config_.read_only ? kFlagReadOnly : 0), std::move(body)};
  Bytes bytes = encode_message(m);
  ++stats_.rpcs_sent;
  if (rpcs_->size() >= config_.max_pending_rpcs) {
    // Over the bound: the RPC fails at once (on the next timer), nothing is sent.
    rpc.deadline_ms = now_ms;
    rpc.refused_locally = true;
    ++stats_.rpcs_refused_locally;
  } else if (key_unknown) {
    send_bytes(to.address, codec_->sign(bytes, wall_ms(now_ms)));
  } else {
    send_bytes(to.address, codec_->seal(to.key, bytes, wall_ms(now_ms)));
  }
  rpcs_->add(txid, std::move(rpc));
  return txid;
}

void DhtCore::send_reply(const Address& to, const PublicKey& key, uint64_t txid, Body body,
                         int64_t now_ms) {
  Message m{txid, 0, std::move(body)};
  send_bytes(to, codec_->seal(key, encode_message(m), wall_ms(now_ms)));
}

void DhtCore::observe(const Contact& c, int64_t now_ms, std::optional<ContactPool::Handle> pooled) {
  if (c.key == identity_.public_key()) return;
  auto r = table_.observe(c, now_ms, pooled);
  if (!r.ping) return;
  // Only one eviction PING per contact at a time.
  if (rpcs_->pinging(r.ping->id)) return;
  uint64_t txid = send_request(*r.ping, PingReq{}, 0, Purpose::kEvict, now_ms);
  rpcs_->find(txid)->newcomer = c;
}

void DhtCore::on_reply(const Address& from, const PublicKey& sender, ByteView bytes,
                       int64_t now_ms) {
  auto head = peek_head(bytes);
  const uint64_t txid = head.value().txid;
  Rpc* rpc = rpcs_->find(txid);
  if (!rpc) {
    ++stats_.dropped_unexpected;
    return;
  }
  if (!rpc->key_unknown && rpc->to.key != sender) {
    ++stats_.dropped_unexpected;  // someone else answering for it
    return;
  }
  auto m = decode_message(bytes, rpc->op);
  if (!m.ok()) {
    ++stats_.dropped_bad;
    return;  // it times out like silence would
  }
  Rpc done = rpcs_->take(txid);
  ++stats_.rpcs_answered;
  const int64_t rtt_ms = std::max<int64_t>(0, now_ms - done.sent_ms);
  const size_t bucket =
      static_cast<size_t>(std::lower_bound(kRpcRttBoundsMs.begin(), kRpcRttBoundsMs.end(), rtt_ms) -
                          kRpcRttBoundsMs.begin());
  ++stats_.rpc_rtt[bucket];
  stats_.rpc_rtt_sum_ms += static_cast<uint64_t>(rtt_ms);
  note_rtt(rtt_ms);
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
      on_found(op, who, *f, now_ms);
      return;
    }
    case Purpose::kLookupStore:
      on_lookup_store(op, done.to, &body, now_ms);
      return;
    case Purpose::kWrite:
      store_reply(op, who, &body, now_ms);
      return;
    case Purpose::kFetch: {
      OpHost host(*this);
      op.on_fetched(host, &body, now_ms);
      return;
    }
    default:
      return;
  }
}

// One answer of an operation's lookup: its write token, the values it
// holds (signed ones only when their signature holds) and the nodes it
// names, which the lookup asks next.
void DhtCore::on_found(Operation& op, const Contact& who, const FoundReply& f, int64_t now_ms) {
  std::vector<Contact> named;
  named.reserve(f.contacts.size());
  for (const Contact& c : f.contacts)
    if (c.key != identity_.public_key()) named.push_back(c);
  op.tokens[who.id] = f.token;
  peer_tokens_->put(who.id, f.token, now_ms);
  std::vector<const SignedValue*> good;
  for (const SignedValue& s : f.signed_values) {
    if (signature_ok(op.key, s))
      good.push_back(&s);
    else
      ++stats_.bad_signed_dropped;
  }
  bool has_data = !f.values.empty() || !good.empty() || f.versioned;
  if (has_data && op.first_data_depth == 0)
    op.first_data_depth = std::max(1, op.lookup->depth_of(who.id));
  OpHost host(*this);
  op.on_found(host, who.id, f, good);
  for (const Value& v : f.values) op.merge(v);
  for (const SignedValue* s : good) op.merge(*s);
  if (f.versioned) op.merge(*f.versioned);
  op.lookup->on_reply(who.id, named);
  pump(op, now_ms);
}

// The answer to a STORE sent during the lookup (pump), or its silence
// (nullptr). Once the write phase waits for it, it goes to the tally.
// Before, it is kept for the write phase and, when it stood in place of a
// lookup query, answers the lookup too (naming nobody; silence fails the
// query). A kept token gone stale (the replica rotated its secret or
// restarted) is forgotten and that query becomes the usual FIND_NODE.
void DhtCore::on_lookup_store(Operation& op, const Contact& to, const Body* body, int64_t now_ms) {
  auto early = op.early.find(to.id);
  if (early == op.early.end()) return;  // not a replica after all
  const auto* nack = body ? std::get_if<Nack>(body) : nullptr;
  if (!nack && body && !std::holds_alternative<StoreReply>(*body)) body = nullptr;
  const bool queried = op.lookup && op.lookup->awaits(to.id);
  if (queried && nack && nack->reason == Refusal::kBadToken) {
    ++stats_.lookup_stores_stale;
    peer_tokens_->drop(to.id);
    op.early.erase(early);
    ++op.rpcs;
    send_request(to, FindNodeReq{op.key}, op.token, Purpose::kLookup, now_ms);
    return;
  }
  if (early->second.state == Operation::EarlyStore::State::kAwaited) {
    op.early.erase(early);
    store_reply(op, to, body, now_ms);
    return;
  }
  early->second.state = Operation::EarlyStore::State::kAnswered;
  if (body) early->second.reply = *body;
  if (!queried) return;
  if (body) {
    op.lookup->on_reply(to.id, {});
  } else {
    op.unanswered.push_back(to);
    op.lookup->on_failure(to.id);
  }
  pump(op, now_ms);
}

// RFC 6298 §2, in milliseconds: one estimate for all peers, since a
// lookup asks many different ones once each.
void DhtCore::note_rtt(int64_t rtt_ms) {
  const auto r = static_cast<double>(rtt_ms);
  if (!rtt_known_) {
    srtt_ms_ = r;
    rttvar_ms_ = r / 2;
    rtt_known_ = true;
    return;
  }
  rttvar_ms_ = 0.75 * rttvar_ms_ + 0.25 * std::abs(srtt_ms_ - r);
  srtt_ms_ = 0.875 * srtt_ms_ + 0.125 * r;
}

int64_t DhtCore::stall_after_ms() const {
  if (!rtt_known_) return config_.rpc_timeout_ms;
  const auto after = static_cast<int64_t>(std::ceil(srtt_ms_ + 4 * rttvar_ms_));
  return std::clamp(after, config_.stall_floor_ms, config_.rpc_timeout_ms);
}

void DhtCore::on_rpc_stalled(uint64_t txid, int64_t now_ms) {
  const Rpc* rpc = rpcs_->find(txid);
  if (!rpc || (rpc->purpose != Purpose::kLookup && rpc->purpose != Purpose::kLookupStore)) return;
  auto op_it = ops_.find(rpc->owner);
  if (op_it == ops_.end() || !op_it->second->lookup) return;
  Operation& op = *op_it->second;
  ++stats_.lookup_stalls;
  op.lookup->on_stalled(rpc->to.id);
  pump(op, now_ms);
}

void DhtCore::on_rpc_failed(uint64_t txid, int64_t now_ms) {
  Rpc rpc = rpcs_->take(txid);
  // A contact that keeps failing gives way, but only to a newcomer waiting
  // in its bucket: the buckets near us (never full) keep what they know, so
  // a partition does not make a minority forget the replicas it cannot reach.
  // An RPC we never sent (our own bound) says nothing about the peer.
  if (!rpc.refused_locally) {
    ++stats_.rpcs_timed_out;
    if (!rpc.key_unknown && table_.failed(rpc.to.id) >= kFailuresBeforeEviction &&
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
    case Purpose::kBoot: {
      OpHost host(*this);
      host.finish(op,
                  timed_out("bootstrap node " + rpc.to.address.to_string() + " did not answer"));
      return;
    }
    case Purpose::kLookupStore:
      on_lookup_store(op, rpc.to, nullptr, now_ms);
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
    case Purpose::kFetch: {
      OpHost host(*this);
      op.on_fetched(host, nullptr, now_ms);
      return;
    }
    default:
      return;
  }
}

}  // namespace chorus::dht
