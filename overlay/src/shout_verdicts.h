// ShoutVerdicts: validate before forward. SHOUTs for an app registered
// with validate_shouts wait here, by verdict id, until the app says
// forward, drop or penalize (NodeCore::shout_verdict), or until
// shout_verdict_timeout_ms passes (then they count as dropped). At most
// max_pending_shout_verdicts wait.
//
// Why it exists: holding a SHOUT back is what keeps an invalid block or vote
// from flooding the overlay before its app has looked at it; the held
// messages, their bound and their timeouts are one piece of state, apart
// from the SHOUT path that feeds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_set>

#include "chorus/overlay/message.h"
#include "chorus/overlay/node_core.h"
#include "chorus/overlay/seen_cache.h"

namespace chorus::overlay {

class ShoutVerdicts {
 public:
  struct Held {
    Message fwd;  // as it goes to the next hop (hops_left lowered)
    SeenKey key;
    LinkId from = 0;
    bool forward = false;  // hops left to pass it on
    int64_t deadline_us = 0;
  };

  ShoutVerdicts(size_t max_held, int64_t timeout_us) : max_(max_held), timeout_us_(timeout_us) {}

  // Which apps validate (register_app with validate_shouts).
  void set_validating(AppId app, bool validating) {
    if (validating) {
      validating_.insert(app);
    } else {
      validating_.erase(app);
    }
  }
  bool validates(AppId app) const { return validating_.count(app) != 0; }
  // A SHOUT for `app` could not be held: the app validates and the table is full.
  bool full_for(AppId app) const { return validates(app) && held_.size() >= max_; }

  // Holds a SHOUT until its verdict; returns the verdict id.
  uint64_t hold(Message fwd, const SeenKey& key, LinkId from, bool forward, int64_t now_us) {
    const uint64_t id = ++last_;
    held_.emplace(id, Held{std::move(fwd), key, from, forward, now_us + timeout_us_});
    return id;
  }
  // Removes and returns the SHOUT waiting for verdict `id`.
  std::optional<Held> take(uint64_t id) {
    auto it = held_.find(id);
    if (it == held_.end()) return std::nullopt;
    Held h = std::move(it->second);
    held_.erase(it);
    return h;
  }
  // Forgets the SHOUTs whose verdict is late; returns how many.
  size_t expire(int64_t now_us) {
    size_t n = 0;
    while (!held_.empty() && held_.begin()->second.deadline_us <= now_us) {
      held_.erase(held_.begin());
      ++n;
    }
    return n;
  }
  // Ids rise and the timeout is one constant, so the first entry times out first.
  std::optional<int64_t> next_deadline() const {
    if (held_.empty()) return std::nullopt;
    return held_.begin()->second.deadline_us;
  }
  size_t size() const { return held_.size(); }

 private:
  size_t max_;
  int64_t timeout_us_;
  std::unordered_set<AppId> validating_;
  std::map<uint64_t, Held> held_;
  uint64_t last_ = 0;
};

}  // namespace chorus::overlay
