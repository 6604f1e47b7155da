// listen (spec/dht.md §7.6): a FIND_VALUE lookup, then LISTEN at the
// replicas, renewed every listen_refresh_ms until cancelled. The replicas
// NOTIFY us of every change; only nodes we registered with are believed.
#include "chorus/overlay/wire.h"
#include "operations.h"

namespace chorus::dht {
namespace {

// A registration lasts this many refresh periods, so one renewal that
// fails or comes late does not let it lapse.
constexpr int64_t kListenPeriodsCovered = 2;

}  // namespace

StoreBody ListenOp::store_body(const DhtConfig& config) const {
  return ListenBody{
      static_cast<uint32_t>(kListenPeriodsCovered * config.listen_refresh_ms / kMsPerS + 1)};
}

void ListenOp::on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) {
  deliver(host, {}, {}, std::nullopt);
  if (!pick_targets(host, replicas)) return;
  // Only the nodes we register with may NOTIFY us, for as long as the
  // registration lasts (plus the time a NOTIFY may travel).
  for (auto it = listening_at_.begin(); it != listening_at_.end();)
    it = it->second < now_ms ? listening_at_.erase(it) : std::next(it);
  const DhtConfig& config = host.config();
  int64_t until = now_ms + int64_t{std::get<ListenBody>(store_body(config)).duration_s} * kMsPerS +
                  config.rpc_timeout_ms;
  const PublicKey& me = host.identity().public_key();
  for (const Contact& c : targets)
    if (c.key != me) listening_at_[c.key] = until;
  write_targets(host, now_ms);
}

void ListenOp::on_phase_done(OpHost& host, int64_t now_ms) {
  phase = Phase::kIdle;
  next_refresh_ms_ = now_ms + host.config().listen_refresh_ms;
}

bool ListenOp::listening_at(const PublicKey& sender, int64_t now_ms) const {
  auto at = listening_at_.find(sender);
  return at != listening_at_.end() && at->second >= now_ms;
}

void ListenOp::deliver(OpHost& host, const std::vector<Value>& new_values,
                       const std::vector<SignedValue>& new_signed,
                       const std::optional<VersionedValue>& new_versioned) {
  ListenEvent ev;
  ev.listen = token;
  ev.key = key;
  // The first call (from on_lookup_done) reports what the lookup gathered.
  std::vector<Value> all = new_values;
  std::vector<SignedValue> all_signed = new_signed;
  std::optional<VersionedValue> ver = new_versioned;
  if (new_values.empty() && new_signed.empty() && !new_versioned) {
    for (auto& [id, v] : values) all.push_back(v);
    for (auto& [o, v] : signed_values) all_signed.push_back(v);
    for (auto& [k, slot] : versions)
      if (!ver || k.first > ver->version) ver = slot.second;
  }
  for (const Value& v : all)
    if (seen_values_.emplace(v.id, overlay::blake2b_256(v.data)).second) ev.values.push_back(v);
  for (const SignedValue& v : all_signed) {
    auto [it, fresh] = seen_signed_.emplace(v.owner, v.seq);
    if (fresh || v.seq > it->second) {
      it->second = v.seq;
      ev.signed_values.push_back(v);
    }
  }
  if (ver && ver->version > seen_version_) {
    seen_version_ = ver->version;
    ev.versioned = ver;
  }
  if (ev.values.empty() && ev.signed_values.empty() && !ev.versioned) return;
  host.emit(std::move(ev));
}

}  // namespace chorus::dht
