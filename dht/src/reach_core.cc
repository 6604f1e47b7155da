#include "chorus/dht/reach_core.h"

#include <algorithm>

namespace chorus::dht {
namespace {

// A send that failed this way cannot have been delivered, so another route
// (or a fresh lookup) may still get it there.
bool undelivered(const Route& route, const Error& e) {
  if (route.relay) {
    return e.code() == ErrorCode::kRefused || e.code() == ErrorCode::kNotFound ||
           e.code() == ErrorCode::kIo;
  }
  return e.code() == ErrorCode::kNotFound || e.code() == ErrorCode::kIo;
}

std::string text(const PublicKey& key) {
  return overlay::address_to_text(key);
}

}  // namespace

ReachCore::ReachCore(const PublicKey& self, ReachCoreOptions options)
    : self_(self), options_(options), cache_(options.route_cache) {}

// ------------------------------------------------------------ commands

Result<void> ReachCore::start(int64_t now_us) {
  if (stopped_) return cancelled("Reach is stopped");
  if (running_) return invalid_argument("Reach already started");
  running_ = true;
  if (options_.publish) {
    next_republish_us_ = now_us + options_.republish_interval_ms * 1000;
    republish(now_us);
  }
  arm();
  return {};
}

void ReachCore::stop(int64_t) {
  running_ = false;
  stopped_ = true;
  next_republish_us_ = -1;
  publishing_.reset();
  cache_.clear();
  std::vector<ReachOp> ids;
  for (const auto& [id, op] : ops_) ids.push_back(id);
  for (ReachOp id : ids) complete(id, cancelled("Reach stopped"));
  arm();
}

ReachOp ReachCore::whisper(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t now_us) {
  return send(Kind::kWhisper, app, to, std::move(payload), 0, now_us);
}

ReachOp ReachCore::request(overlay::AppId app, const PublicKey& to, Bytes payload,
                           int64_t timeout_ms, int64_t now_us) {
  return send(Kind::kRequest, app, to, std::move(payload), timeout_ms, now_us);
}

ReachOp ReachCore::send(Kind kind, overlay::AppId app, const PublicKey& to, Bytes payload,
                        int64_t timeout_ms, int64_t now_us) {
  ++stats_.sends;
  const ReachOp id = next_op_++;
  Op& op = ops_[id];
  op.kind = kind;
  op.app = app;
  op.to = to;
  op.payload = std::move(payload);
  op.timeout_ms = std::max<int64_t>(timeout_ms, 0);
  op.deadline_us = now_us + (options_.operation_deadline_ms + op.timeout_ms) * 1000;
  // The op is in ops_ from here, so the checks below complete it like any
  // other: no counter to get out of step (an early failure used to
  // decrement one it had never incremented).
  if (!running_) {
    complete(id, cancelled(stopped_ ? "Reach is stopped" : "Reach is not started"));
  } else if (ops_.size() > options_.max_operations) {
    complete(id, limit_exceeded("too many sends in progress (max_operations)"));
  } else if (to == self_) {
    complete(id, invalid_argument("cannot reach ourselves"));
  } else {
    begin(id, op, now_us);
  }
  arm();
  return id;
}

ReachOp ReachCore::publish(int64_t now_us) {
  const ReachOp id = next_op_++;
  Op& op = ops_[id];
  op.kind = Kind::kPublish;
  op.stage = Stage::kPublish;
  op.deadline_us = now_us + options_.operation_deadline_ms * 1000;
  if (!running_) {
    complete(id, cancelled("Reach is not running"));
  } else if (ops_.size() > options_.max_operations) {
    complete(id, limit_exceeded("too many operations in progress (max_operations)"));
  } else {
    publish_now(id, true, now_us);
  }
  arm();
  return id;
}

// ------------------------------------------------------------ facts

void ReachCore::on_peer(const PublicKey& peer, bool up, int64_t) {
  if (!up) {
    peers_.erase(peer);
  } else if (peers_.size() < options_.max_peers) {
    peers_.insert(peer);
  }
}

void ReachCore::set_relays(std::vector<PublicKey> relays, int64_t now_us) {
  wanted_relays_ = std::move(relays);
  if (running_ && options_.publish && wanted_relays_ != published_relays_) republish(now_us);
  arm();
}

void ReachCore::observe_record(const PublicKey& node, const std::vector<SignedValue>& signed_values,
                               int64_t now_us) {
  uint64_t seq = 0;
  auto rec = pick_node_record(node, signed_values, &seq);
  if (rec && cache_.observe(node, *rec, seq, now_us)) ++stats_.cache_invalidated;
}

// ------------------------------------------------------------ sending

void ReachCore::begin(ReachOp id, Op& op, int64_t now_us) {
  if (is_peer(op.to)) {
    op.routes = {Route{op.to, {}, std::nullopt}};
    op.from_cache = true;  // if the link is gone after all: one lookup, as for a stale route
    return try_next(id, op, now_us);
  }
  if (const RouteCache::Entry* e = cache_.find(op.to, now_us)) {
    op.routes =
        routes_from(e->record, op.to, self_, [this](const PublicKey& k) { return is_peer(k); });
    if (!op.routes.empty()) {
      ++stats_.cache_hits;
      op.from_cache = true;
      return try_next(id, op, now_us);
    }
  }
  lookup(id, op);
}

void ReachCore::lookup(ReachOp id, Op& op) {
  op.stage = Stage::kRecord;
  op.routes.clear();
  op.next = 0;
  ++stats_.record_gets;
  actions_.push_back(GetRecord{id, op.to});
}

ReachCore::Op* ReachCore::find(ReachOp id, Stage stage) {
  auto it = ops_.find(id);
  if (it == ops_.end() || it->second.stage != stage) return nullptr;  // done, or not asked
  return &it->second;
}

void ReachCore::on_record(ReachOp id, Result<OpResult> result, int64_t now_us) {
  Op* op = find(id, Stage::kRecord);
  if (!op) return;
  if (!result && result.error().code() == ErrorCode::kCancelled) {
    complete(id, result.error());
    return arm();
  }
  if (result) {
    uint64_t seq = 0;
    if (auto rec = pick_node_record(op->to, result->signed_values, &seq)) {
      op->routes =
          routes_from(*rec, op->to, self_, [this](const PublicKey& k) { return is_peer(k); });
      if (!op->routes.empty()) {
        cache_.put(op->to, std::move(*rec), seq, now_us);
        try_next(id, *op, now_us);
        return arm();
      }
    }
  }
  // No usable record: a listening node may still be in the DHT itself.
  op->stage = Stage::kContacts;
  ++stats_.find_nodes;
  actions_.push_back(FindNode{id, op->to});
  arm();
}

void ReachCore::on_contacts(ReachOp id, Result<OpResult> result, int64_t now_us) {
  Op* op = find(id, Stage::kContacts);
  if (!op) return;
  if (!result && result.error().code() == ErrorCode::kCancelled) {
    complete(id, result.error());
    return arm();
  }
  if (result) {
    for (const Contact& c : result->closest) {
      if (c.key != op->to || c.address.port == 0) continue;
      NodeRecord rec{NodeRecord::Kind::kListening, {c}};
      op->routes = {Route{op->to, c.address, std::nullopt}};
      cache_.put(op->to, std::move(rec), 0, now_us);
      try_next(id, *op, now_us);
      return arm();
    }
  }
  complete(id,
           op->last.value_or(not_found("no node record and no DHT contact for " + text(op->to))));
  arm();
}

void ReachCore::try_next(ReachOp id, Op& op, int64_t now_us) {
  if (op.next >= op.routes.size()) {
    if (op.from_cache && !op.refreshed) {
      // Every cached route failed: the record may have moved on. One fresh
      // lookup, then give up.
      ++stats_.retries;
      op.from_cache = false;
      op.refreshed = true;
      return lookup(id, op);
    }
    return complete(id, op.last.value_or(not_found("no route to " + text(op.to))));
  }
  (void)now_us;
  const Route route = op.routes[op.next++];
  op.route = route;
  if (is_peer(route.dial_key)) return send_on(id, op, route);
  op.stage = Stage::kDial;
  ++stats_.dials;
  actions_.push_back(Dial{id, route.address, route.dial_key});
}

void ReachCore::on_dialled(ReachOp id, Result<void> result, int64_t now_us) {
  Op* op = find(id, Stage::kDial);
  if (!op) return;
  if (!result) {
    if (result.error().code() == ErrorCode::kCancelled) {
      complete(id, result.error());
    } else {
      route_failed(*op, result.error());
      try_next(id, *op, now_us);
    }
    return arm();
  }
  send_on(id, *op, *op->route);
  arm();
}

void ReachCore::send_on(ReachOp id, Op& op, const Route& route) {
  op.stage = Stage::kSend;
  actions_.push_back(
      Send{id, op.app, op.to, route.relay, op.payload, op.kind == Kind::kRequest, op.timeout_ms});
}

void ReachCore::route_failed(Op& op, Error e) {
  op.last = std::move(e);
  if (op.from_cache && cache_.erase(op.to)) ++stats_.cache_invalidated;
}

void ReachCore::on_whisper_done(ReachOp id, Result<Hash256> result, int64_t now_us) {
  std::optional<Error> e;
  if (!result) e = result.error();
  sent(id, std::move(e), std::move(result), now_us);
}

void ReachCore::on_request_done(ReachOp id, Result<Bytes> result, int64_t now_us) {
  std::optional<Error> e;
  if (!result) e = result.error();
  sent(id, std::move(e), std::move(result), now_us);
}

void ReachCore::sent(ReachOp id, std::optional<Error> error,
                     std::variant<Result<Hash256>, Result<Bytes>, Result<void>> result,
                     int64_t now_us) {
  Op* op = find(id, Stage::kSend);
  if (!op) return;
  if (error && running_ && op->route && undelivered(*op->route, *error)) {
    // Not linked after all (the driver's peer events lag): dial next time.
    if (!op->route->relay && error->code() == ErrorCode::kNotFound) peers_.erase(op->to);
    route_failed(*op, *error);
    try_next(id, *op, now_us);
    return arm();
  }
  complete(id, std::move(result));
  arm();
}

// ------------------------------------------------------------ completion

void ReachCore::complete(ReachOp id, Error e) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  switch (it->second.kind) {
    case Kind::kWhisper:
      return complete(id, Result<Hash256>(std::move(e)));
    case Kind::kRequest:
      return complete(id, Result<Bytes>(std::move(e)));
    case Kind::kPublish:
      return complete(id, Result<void>(std::move(e)));
  }
}

void ReachCore::complete(ReachOp id,
                         std::variant<Result<Hash256>, Result<Bytes>, Result<void>> result) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  const bool notify = it->second.notify;
  ops_.erase(it);
  if (publishing_ == id) publishing_.reset();
  if (notify) actions_.push_back(Completed{id, std::move(result)});
}

// ------------------------------------------------------------ publishing

void ReachCore::publish_now(ReachOp id, bool notify, int64_t now_us) {
  Op& op = ops_[id];
  op.kind = Kind::kPublish;
  op.stage = Stage::kPublish;
  op.notify = notify;
  op.deadline_us = now_us + options_.operation_deadline_ms * 1000;
  publishing_ = id;
  dirty_ = false;  // this put carries the newest state
  published_relays_ = wanted_relays_;
  last_seq_ = std::max(last_seq_ + 1, static_cast<uint64_t>(std::max<int64_t>(now_us, 0)));
  ++stats_.publishes;
  actions_.push_back(PublishRecord{id, last_seq_, options_.record_ttl_s});
}

// Publishes unless a put is already in flight (then once it is done).
void ReachCore::republish(int64_t now_us) {
  if (!running_ || !options_.publish) return;
  if (publishing_) {
    dirty_ = true;
    return;
  }
  if (ops_.size() >= options_.max_operations) return;  // the next tick tries again
  publish_now(next_op_++, false, now_us);
}

void ReachCore::on_published(ReachOp id, Result<void> result, int64_t now_us) {
  if (!find(id, Stage::kPublish)) return;
  complete(id, std::move(result));
  if (dirty_ && running_) republish(now_us);
  arm();
}

// ------------------------------------------------------------ time

void ReachCore::on_timer(int64_t now_us) {
  std::vector<ReachOp> late;
  for (const auto& [id, op] : ops_)
    if (op.deadline_us <= now_us) late.push_back(id);
  for (ReachOp id : late) complete(id, timed_out("Reach operation deadline passed"));
  if (running_ && next_republish_us_ >= 0 && now_us >= next_republish_us_) {
    next_republish_us_ = now_us + options_.republish_interval_ms * 1000;
    republish(now_us);
  }
  arm();
}

void ReachCore::arm() {
  int64_t at = running_ ? next_republish_us_ : -1;
  for (const auto& [id, op] : ops_)
    if (at < 0 || op.deadline_us < at) at = op.deadline_us;
  if (at == timer_at_) return;
  timer_at_ = at;
  actions_.push_back(SetTimer{at});
}

// ------------------------------------------------------------ drain

bool ReachCore::poll_action(ReachAction& out) {
  if (actions_.empty()) return false;
  out = std::move(actions_.front());
  actions_.pop_front();
  return true;
}

}  // namespace chorus::dht
