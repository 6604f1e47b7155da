// Holds: a lock that DhtCore keeps renewing until the caller releases it or
// it is lost (DhtCore::hold). The lock and each renewal are ordinary lock
// and renew operations (op_lock.cc) marked as the hold's, so their results
// come here instead of becoming DoneEvents.
//
// Timing. A lock result says until when the lease can be trusted
// (valid_until, already shortened by lease_safety). The next renewal starts
// once half of what is left has passed, so a renewal that times out has the
// other half to be retried in; the hold is lost the moment the trusted
// lease ends without a successful renewal, or at once when the replicas
// refuse the renewal (they no longer hold our token: someone else may).
#include <algorithm>
#include <limits>

#include "chorus/dht/dht_core.h"
#include "operations.h"

namespace chorus::dht {

Token DhtCore::hold(const Key& key, int64_t lease_ms, uint64_t owner_tag, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  const Token token = next_token_++;
  auto fail = [&](Error e) {
    HoldEvent ev;
    ev.hold = token;
    ev.kind = HoldEvent::Kind::kLost;
    ev.reason = std::move(e);
    events_.push_back(std::move(ev));
    return token;
  };
  if (lease_ms <= 0) return fail(invalid_argument("hold: the lease must be positive"));
  if (holds_.size() >= config_.max_holds)
    return fail(limit_exceeded("hold: " + std::to_string(config_.max_holds) + " holds already"));
  Hold& h = holds_[token];
  h.key = key;
  h.lease_ms = lease_ms;
  h.owner_tag = owner_tag;
  start_hold_op(token, h, false, now_ms_);
  return token;
}

Token DhtCore::release_hold(Token token, int64_t now_us) {
  now_ms_ = to_ms(now_us);
  auto it = holds_.find(token);
  if (it == holds_.end() || it->second.released) return 0;
  Hold& h = it->second;
  if (!h.acquired) {
    // The lock is still being granted: kept (silent) until its result, so
    // a lock granted after all is released rather than left to run out.
    h.released = true;
    return 0;
  }
  const Token op = release(h.key, h.owner_tag, h.fencing_token, now_us);
  holds_.erase(it);
  return op;
}

void DhtCore::end_hold(Token token, Error reason, int64_t now_ms) {
  auto it = holds_.find(token);
  if (it == holds_.end()) return;
  // Replicas that still hold our token would block the next owner until
  // their lease runs out.
  if (it->second.acquired) start_hold_op(token, it->second, true, now_ms);
  HoldEvent ev;
  ev.hold = token;
  ev.kind = HoldEvent::Kind::kLost;
  ev.fencing_token = it->second.fencing_token;
  ev.reason = std::move(reason);
  events_.push_back(std::move(ev));
  holds_.erase(it);
}

void DhtCore::hold_step(Token token, Hold& h, int64_t now_ms) {
  if (h.done && h.released) {
    // released while its lock was in flight: let go of what was granted.
    const bool granted = h.done->ok();
    if (granted) {
      h.acquired = true;
      h.fencing_token = h.done->value().number;
      start_hold_op(token, h, true, now_ms);
    }
    holds_.erase(token);
    return;
  }
  if (h.done) {
    Result<OpResult> r = std::move(*h.done);
    h.done.reset();
    h.op = 0;
    if (!r.ok()) {
      // A lock that was never granted, or a renewal the replicas refused:
      // nothing left to keep.
      if (!h.acquired || r.error().code() == ErrorCode::kRefused)
        return end_hold(token, std::move(r).error(), now_ms);
      // A renewal that found no majority in time: try again while the lease
      // still runs (the check below ends the hold when it does not).
      h.renew_at_ms = now_ms + std::max((h.valid_until_ms - now_ms) / 2, config_.rpc_timeout_ms);
    } else {
      const bool first = !h.acquired;
      h.acquired = true;
      if (first) h.fencing_token = r.value().number;
      h.valid_until_ms = r.value().valid_until_us / kUsPerMs;
      h.renew_at_ms = now_ms + std::max<int64_t>((h.valid_until_ms - now_ms) / 2, 0);
      if (first) {
        HoldEvent ev;
        ev.hold = token;
        ev.kind = HoldEvent::Kind::kAcquired;
        ev.fencing_token = h.fencing_token;
        ev.valid_until_us = r.value().valid_until_us;
        ev.remaining_ms = r.value().remaining_ms;
        events_.push_back(std::move(ev));
      }
    }
  }
  if (!h.acquired) return;
  if (now_ms >= h.valid_until_ms)
    return end_hold(token, timed_out("hold: the lease ran out before a renewal reached a majority"),
                    now_ms);
  if (h.op == 0 && h.renew_at_ms >= 0 && now_ms >= h.renew_at_ms) {
    h.renew_at_ms = -1;
    start_hold_op(token, h, false, now_ms);
  }
}

void DhtCore::run_holds(int64_t now_ms) {
  if (holds_.empty()) return;
  std::vector<Token> tokens;
  tokens.reserve(holds_.size());
  for (auto& [t, h] : holds_) tokens.push_back(t);
  for (Token t : tokens) {
    auto it = holds_.find(t);
    if (it != holds_.end()) hold_step(t, it->second, now_ms);
  }
}

std::optional<int64_t> DhtCore::next_hold_ms() const {
  int64_t at = std::numeric_limits<int64_t>::max();
  for (auto& [t, h] : holds_) {
    if (h.done) return now_ms_;
    if (!h.acquired) continue;
    at = std::min(at, h.valid_until_ms);
    if (h.op == 0 && h.renew_at_ms >= 0) at = std::min(at, h.renew_at_ms);
  }
  if (at == std::numeric_limits<int64_t>::max()) return std::nullopt;
  return at;
}

Token DhtCore::start_hold_op(Token hold, Hold& h, bool release, int64_t now_ms) {
  LockArgs args{h.owner_tag, h.lease_ms, h.acquired ? h.fencing_token : 0};
  std::unique_ptr<Operation> op;
  if (release) {
    op = std::make_unique<ReleaseOp>(h.key, args);
  } else if (h.acquired) {
    op = std::make_unique<RenewOp>(h.key, args);
  } else {
    op = std::make_unique<LockOp>(h.key, args);
  }
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

}  // namespace chorus::dht
