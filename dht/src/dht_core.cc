// DhtCore, the facade: inputs, the drain, commands and housekeeping. The
// work itself is in the pieces it owns (see the private section of
// dht_core.h) and in the sibling files dht_core_*.cc.
#include "chorus/dht/dht_core.h"
#include "chorus/dht/peer_tokens.h"

#include <algorithm>

#include "chorus/dht/datagram.h"
#include "chorus/dht/rpc.h"
#include "operations.h"
#include "republisher.h"
#include "rpc_table.h"
#include "write_tokens.h"

namespace chorus::dht {

DhtCore::DhtCore(const overlay::Identity& identity, Address self, DhtConfig config, int64_t now_us)
    : identity_(identity),
      self_(std::move(self)),
      config_(config),
      random_(config.seed),
      table_(overlay::dht_id(identity.public_key()), config.k, RoutingTable::kDefaultReplacements,
             RoutingTable::kDefaultGoodForMs, config.contact_pool),
      store_(config.store),
      codec_(std::make_unique<DatagramCodec>(identity_, config.datagram, random_)),
      started_ms_(to_ms(now_us)),
      now_ms_(to_ms(now_us)) {
  codec_->share_pair_keys(config.pair_keys);
  tokens_ = std::make_unique<WriteTokens>(random_, now_ms_);
  // Half a period: a token issued just before its issuer rotated is still
  // good for one whole period, so half leaves room for clocks that differ
  // in rate, and for peers configured with a shorter period.
  peer_tokens_ = std::make_unique<PeerTokens>(config_.peer_tokens, config_.token_rotate_ms / 2);
  rpcs_ = std::make_unique<RpcTable>();
  republisher_ = std::make_unique<Republisher>(config_, now_ms_);
  next_housekeeping_ms_ = now_ms_ + config_.housekeeping_ms;
}

DhtCore::~DhtCore() = default;

const DatagramStats& DhtCore::codec_stats() const {
  return codec_->stats();
}

size_t DhtCore::pending_rpcs() const {
  return rpcs_->size();
}

void DhtCore::set_wall_clock(int64_t unix_ms, int64_t now_us) {
  wall_offset_ms_ = unix_ms - to_ms(now_us);
}

// ------------------------------------------------------------------ inputs

void DhtCore::on_datagram(const Address& from, ByteView bytes, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  ++stats_.datagrams_in;
  stats_.bytes_in += bytes.size();
  auto opened = codec_->open(bytes, wall_ms(now_ms_));
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
  while (auto txid = rpcs_->pop_stalled(now_ms_)) on_rpc_stalled(*txid, now_ms_);
  while (auto txid = rpcs_->pop_expired(now_ms_)) on_rpc_failed(*txid, now_ms_);
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
  if (auto d = rpcs_->next_deadline_ms()) at = std::min(at, *d);
  if (!lookup_deadlines_.empty()) at = std::min(at, lookup_deadlines_.top().first);
  if (auto h = next_hold_ms()) at = std::min(at, *h);
  return at * kUsPerMs;
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

// ------------------------------------------------------------------ commands

Token DhtCore::bootstrap(const Address& address, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  auto op = std::make_unique<FindNodeOp>(table_.self(), true);
  op->phase = Phase::kBoot;
  Token token = start(std::move(op), now_ms_);
  auto it = ops_.find(token);
  if (it == ops_.end()) return token;
  Contact unknown;
  unknown.address = address;
  ++it->second->rpcs;
  send_request(unknown, FindNodeReq{table_.self()}, token, Purpose::kBoot, now_ms_, true);
  return token;
}

void DhtCore::add_contact(const Contact& contact, int64_t now_us,
                          std::optional<ContactPool::Handle> pooled) {
  now_ms_ = to_ms(now_us);
  observe(contact, now_ms_, pooled);
}

Token DhtCore::join(int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<FindNodeOp>(table_.self(), false), now_ms_);
}

Token DhtCore::find_node(const NodeId& target, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<FindNodeOp>(target, false), now_ms_);
}

Token DhtCore::put(const Key& key, Value value, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  auto op = std::make_unique<PutOp>(key, std::move(value));
  republisher_->remember_put(key, op->value(), now_ms_);
  return start(std::move(op), now_ms_);
}

Token DhtCore::put_signed(const Key& key, Bytes data, uint64_t seq, uint32_t ttl_s,
                          int64_t now_us) {
  now_ms_ = to_ms(now_us);
  SignedValue v;
  v.owner = identity_.public_key();
  v.seq = seq;
  v.ttl_s = ttl_s;
  v.data = std::move(data);
  v.signature = identity_.sign(signed_value_message(key, seq, ttl_s, v.data));
  republisher_->remember_signed(key, v, now_ms_);
  return start(std::make_unique<PutSignedOp>(key, std::move(v)), now_ms_);
}

Token DhtCore::get(const Key& key, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<GetOp>(key), now_ms_);
}

Token DhtCore::lock(const Key& key, int64_t lease_ms, uint64_t owner_tag, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<LockOp>(key, LockArgs{owner_tag, lease_ms, 0}), now_ms_);
}

Token DhtCore::renew(const Key& key, int64_t lease_ms, uint64_t owner_tag, uint64_t token,
                     int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<RenewOp>(key, LockArgs{owner_tag, lease_ms, token}), now_ms_);
}

Token DhtCore::release(const Key& key, uint64_t owner_tag, uint64_t token, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<ReleaseOp>(key, LockArgs{owner_tag, 0, token}), now_ms_);
}

Token DhtCore::compare_and_set(const Key& key, uint64_t expected_version, Bytes data,
                               uint32_t ttl_s, uint64_t owner_tag, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  VersionedArgs args{owner_tag, expected_version, std::move(data), ttl_s, {}};
  return start(std::make_unique<CasOp>(key, std::move(args)), now_ms_);
}

Token DhtCore::apply_diff(const Key& key, uint64_t base_version, Bytes patch,
                          const Hash256& result_hash, uint32_t ttl_s, uint64_t owner_tag,
                          int64_t now_us) {
  now_ms_ = to_ms(now_us);
  VersionedArgs args{owner_tag, base_version, std::move(patch), ttl_s, result_hash};
  return start(std::make_unique<DiffOp>(key, std::move(args)), now_ms_);
}

Token DhtCore::listen(const Key& key, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  return start(std::make_unique<ListenOp>(key), now_ms_);
}

void DhtCore::cancel_listen(Token listen, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  auto it = ops_.find(listen);
  if (it == ops_.end() || !it->second->as_listen()) return;
  Operation& op = *it->second;
  // Tell the replicas to stop; nobody waits for their answers.
  for (const Contact& c : op.targets) send_store(op, c, ListenBody{0}, false, now_ms_);
  ops_.erase(it);
}

// ------------------------------------------------------------------ maintenance

void DhtCore::housekeeping(int64_t now_ms) {
  next_housekeeping_ms_ = now_ms + config_.housekeeping_ms;
  store_.expire(now_ms);
  codec_->expire(wall_ms(now_ms));
  tokens_->rotate_if_due(now_ms, config_.token_rotate_ms);
  // Every listen due for renewal runs its lookup again: a registration lasts
  // two refresh periods, so renewing a few per tick would let the rest lapse.
  std::vector<Token> due;
  for (auto& [token, op] : ops_)
    if (ListenOp* l = op->as_listen(); l && l->due(now_ms)) due.push_back(token);
  for (Token token : due) {
    auto it = ops_.find(token);  // an earlier renewal may have ended (erased) it
    if (it != ops_.end()) begin_lookup(*it->second, {}, now_ms);
  }
  // Buckets nobody looked into for a while get a lookup of a random id.
  if (table_.size() > 0) {
    for (int b : table_.stale_buckets(now_ms, config_.refresh_interval_ms)) {
      std::array<uint8_t, sizeof(NodeId)> rnd{};
      random_.fill(rnd.data(), rnd.size());
      table_.touched(b, now_ms);
      auto op = std::make_unique<FindNodeOp>(table_.id_in_bucket(b, rnd), false);
      op->internal = true;
      start(std::move(op), now_ms);
    }
  }
  republish_due(now_ms);
}

// Republish lookups start a few per tick, and only while the node has room
// for them: fewer than half of max_operations and of max_pending_rpcs in use.
void DhtCore::republish_due(int64_t now_ms) {
  constexpr size_t kRoomShare = 2;  // republish uses at most 1/kRoomShare of each bound
  republisher_->begin_interval_if_due(now_ms);
  size_t started = 0;
  while (started < republisher_->per_tick() && ops_.size() < config_.max_operations / kRoomShare &&
         rpcs_->size() < config_.max_pending_rpcs / kRoomShare) {
    auto key = republisher_->next_due();
    if (!key) break;
    auto op = std::make_unique<RepublishOp>(*key);
    op->internal = true;
    ++started;
    ++stats_.republished;
    start(std::move(op), now_ms);
  }
}

}  // namespace chorus::dht
