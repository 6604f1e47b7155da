// Broadcast: SHOUT and content-addressed SHOUT, in and out; the per-link
// rate limit, duplicates, validate-before-forward verdicts, and the glue to
// the epidemic broadcast tree (BroadcastTree) or flooding.
#include <algorithm>

#include "node_core_internal.h"
#include "shout_verdicts.h"

namespace chorus::overlay {
using namespace detail;

bool NodeCore::take_shout_token(Link& l, int64_t now_us) {
  if (l.shout_tokens.try_take(now_us)) return true;
  ++stats_.shouts_rate_limited;
  return false;
}

void NodeCore::shout_duplicate(Link& l, AppId app, int64_t now_us) {
  ++stats_.duplicates_dropped;
  // A second eager copy: this link is not needed in the tree.
  if (tree_mode(app)) {
    tree_.on_duplicate(l.id);
    drain_tree(now_us);
  }
}

bool NodeCore::must_hold_full(AppId app) {
  if (!verdicts_->full_for(app)) return false;
  // The newest is dropped, unforwarded and not remembered as seen: a later
  // copy (or a GRAFT) may bring it again once there is room.
  ++stats_.shout_verdicts_overflow;
  return true;
}

void NodeCore::on_shout(Link& l, ShoutMsg&& s, int64_t now_us) {
  if (!take_shout_token(l, now_us)) return;
  SeenKey key = make_seen_key(s.origin, s.shout_id);
  if (s.origin == identity_.public_key() || seen_.contains(key)) {
    shout_duplicate(l, s.app, now_us);
    return;
  }
  Signature sig = s.signature;
  if (!verify_signature(s.origin, shout_signing_bytes(s.app, s.origin, s.shout_id, s.payload),
                        sig)) {
    ++stats_.bad_signatures;
    misbehaved(l, kScoreBadShout, "SHOUT with a bad signature", now_us);
    return;
  }
  if (must_hold_full(s.app)) return;
  seen_.insert(key, now_us);
  ShoutMsg fwd = s;
  fwd.hops_left = static_cast<uint8_t>(s.hops_left > 0 ? s.hops_left - 1 : 0);
  accept_shout(l, Message{0, std::move(fwd)}, key, s.hops_left > 1,
               ShoutEvent{s.app, s.origin, s.shout_id, l.peer, std::move(s.payload)}, now_us);
}

// A content-addressed SHOUT: named by the hash of its payload, no signature
// to check (the app checks the payload, which authenticates itself).
void NodeCore::on_content_shout(Link& l, ContentShoutMsg&& c, int64_t now_us) {
  if (!l.content) settle_content(l, true, now_us);  // sending one proves the peer speaks the form
  if (!take_shout_token(l, now_us)) return;
  const Hash256 cid = content_id_of(c.payload);
  const SeenKey key = content_shout_key(c.app, cid);
  if (seen_.contains(key)) {
    shout_duplicate(l, c.app, now_us);
    return;
  }
  if (must_hold_full(c.app)) return;
  seen_.insert(key, now_us);
  ContentShoutMsg fwd = c;
  fwd.hops_left = static_cast<uint8_t>(c.hops_left > 0 ? c.hops_left - 1 : 0);
  ShoutEvent ev{c.app, PublicKey{}, 0, l.peer, std::move(c.payload)};
  ev.content_addressed = true;
  ev.content_id = cid;
  accept_shout(l, Message{0, std::move(fwd)}, key, c.hops_left > 1, std::move(ev), now_us);
}

// A new SHOUT (seen now, verified if signed). An app that validates gets it
// first and it waits for the verdict: not forwarded, not announced, not kept
// for GRAFTs. Otherwise it goes on at once, as before.
void NodeCore::accept_shout(Link& l, Message fwd, const SeenKey& key, bool forward,
                            ShoutEvent event, int64_t now_us) {
  const bool deliver = apps_.count(event.app) != 0;
  if (deliver && verdicts_->validates(event.app)) {
    if (tree_mode(event.app)) {
      // It came: end a wait for it (no GRAFT), but store nothing yet.
      tree_.on_message(key, l.id, nullptr, now_us);
      drain_tree(now_us);
    }
    const uint64_t id = verdicts_->hold(std::move(fwd), key, l.id, forward, now_us);
    ++stats_.shouts_held;
    event.verdict = id;
  } else {
    pass_on(std::move(fwd), key, l.id, forward, now_us);
  }
  if (deliver) {
    ++stats_.shouts_delivered;
    events_.push_back(std::move(event));
  }
}

// A SHOUT goes on to the next hops: the tree for tree apps, else flooding
// (every link but the one it came on and a link to its origin).
void NodeCore::pass_on(Message fwd, const SeenKey& key, LinkId from, bool forward, int64_t now_us) {
  const AppId app = std::holds_alternative<ShoutMsg>(fwd.body)
                        ? std::get<ShoutMsg>(fwd.body).app
                        : std::get<ContentShoutMsg>(fwd.body).app;
  if (tree_mode(app)) {
    tree_forward(std::move(fwd), key, from, forward, now_us);
  } else if (forward) {
    const auto* s = std::get_if<ShoutMsg>(&fwd.body);
    broadcast(fwd, {from}, s ? &s->origin : nullptr, now_us);
  }
}

Result<void> NodeCore::shout_verdict(uint64_t verdict, ShoutDecision decision, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (decision == ShoutDecision::kLater) return invalid_argument("kLater is not a verdict");
  std::optional<ShoutVerdicts::Held> held = verdicts_->take(verdict);
  if (!held) {
    return not_found("no SHOUT waits for verdict " + std::to_string(verdict) +
                     " (given already, or timed out)");
  }
  ShoutVerdicts::Held& h = *held;
  switch (decision) {
    case ShoutDecision::kForward:
      ++stats_.shout_verdicts_forwarded;
      pass_on(std::move(h.fwd), h.key, h.from, h.forward, now_us);
      break;
    case ShoutDecision::kPenalize: {
      ++stats_.shout_verdicts_penalized;
      const auto* s = std::get_if<ShoutMsg>(&h.fwd.body);
      penalize_shout_sender(h.from, s ? s->app : std::get<ContentShoutMsg>(h.fwd.body).app, now_us);
      break;
    }
    default:
      ++stats_.shout_verdicts_dropped;
      break;
  }
  return {};
}

void NodeCore::expire_verdicts(int64_t now_us) {
  stats_.shout_verdicts_timed_out += verdicts_->expire(now_us);
}

// Kept small and separate so an explicit penalty/ban table can take over.
void NodeCore::penalize_shout_sender(LinkId from, AppId app, int64_t now_us) {
  Link* l = find(from);
  if (!l) return;  // gone meanwhile
  misbehaved(*l, kScoreBadShout, "SHOUT rejected as invalid by app " + std::to_string(app), now_us);
}

// While our content offer on `l` is unanswered, a CONTENT_SHOUT for it
// waits (at most kMaxContentWait records or bytes of a frame): a block
// published in the first round trip of a link is not lost to that peer.
bool NodeCore::send_content(Link& l, const Bytes& record, int64_t now_us) {
  if (l.content) return enqueue(l, record, now_us);
  if (l.content_wait.size() >= kMaxContentWaitRecords ||
      l.content_wait_bytes + record.size() > config_.max_frame_bytes) {
    ++stats_.content_shouts_wait_dropped;
    return false;
  }
  l.content_wait.push_back(record);
  l.content_wait_bytes += record.size();
  ++stats_.content_shouts_waited;
  return true;
}

// The content option is settled on `l`: the peer speaks CONTENT_SHOUT (its
// ACK, its offer, or one it sent) or not (a NACK). What waited goes or is
// dropped.
void NodeCore::settle_content(Link& l, bool speaks, int64_t now_us) {
  l.content_offer_id = 0;
  std::vector<Bytes> waiting = std::move(l.content_wait);
  l.content_wait.clear();
  l.content_wait_bytes = 0;
  if (!speaks) {
    stats_.content_shouts_wait_dropped += waiting.size();
    return;
  }
  l.content = true;
  for (const Bytes& r : waiting) enqueue(l, r, now_us);
}

bool NodeCore::content_mode(AppId app) const {
  const auto& apps = config_.content_shout_apps;
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

bool NodeCore::tree_mode(AppId app) const {
  const auto& apps = config_.tree_shout_apps;
  return std::find(apps.begin(), apps.end(), app) != apps.end();
}

// A new tree-mode SHOUT (from `from`, or ours when 0), `fwd` as it goes to
// the next hop. Eager tree links and links to peers without the tree
// opcodes get it in full, lazy tree links an IHAVE (at the next flush);
// never the link it came on nor a link to its origin. With `forward` false
// (the hop limit) it goes nowhere, and is not kept to answer GRAFTs.
void NodeCore::tree_forward(Message fwd, const SeenKey& key, LinkId from, bool forward,
                            int64_t now_us) {
  if (!forward) {
    tree_.on_message(key, from, nullptr, now_us);
    drain_tree(now_us);
    return;
  }
  // A content-addressed SHOUT has no origin, and goes (in full or as an
  // announcement) only to peers that speak its form.
  const auto* signed_shout = std::get_if<ShoutMsg>(&fwd.body);
  const std::optional<PublicKey> origin =
      signed_shout ? std::optional<PublicKey>(signed_shout->origin) : std::nullopt;
  Bytes encoded;
  encode_message(fwd, encoded);
  auto record = std::make_shared<const Bytes>(std::move(encoded));
  tree_.on_message(key, from, record, now_us);
  size_t pushed = 0;
  for (auto& [id, l] : links_) {
    if (id == from || !routable(*l) || (origin && l->peer == *origin)) continue;
    if (!origin && !l->content_possible()) continue;
    if (!origin && !l->content) {
      send_content(*l, *record, now_us);  // waits for the option's answer
      ++pushed;
    } else if (tree_.eager(id)) {
      enqueue(*l, *record, now_us);
      ++pushed;
    } else {
      tree_.announce(id, key);
    }
  }
  stats_.shouts_sent += pushed;
  stats_.shout_bytes_sent += pushed * record->size();
  drain_tree(now_us);
}

void NodeCore::on_tree_control(Link& l, Message&& m, int64_t now_us) {
  if (!routable(l)) return;  // a superseded link carries no broadcast
  // Sending these proves the peer speaks them, offered or not.
  tree_.add_link(l.id, now_us);
  if (auto* ihave = std::get_if<IhaveMsg>(&m.body)) {
    tree_.on_ihave(
        l.id, ihave->ids, [&](const ShoutKey& id) { return seen_.contains(id); }, now_us);
  } else if (auto* graft = std::get_if<GraftMsg>(&m.body)) {
    const uint64_t refused = tree_.stats().grafts_refused;
    tree_.on_graft(l.id, graft->ids, now_us);
    stats_.grafts_refused += tree_.stats().grafts_refused - refused;
  } else {
    tree_.on_prune(l.id);
  }
  drain_tree(now_us);
}

// Sends what the tree asked for.
void NodeCore::drain_tree(int64_t now_us) {
  BroadcastTree::Output o;
  while (tree_.poll(o)) {
    Link* l = find(o.link);
    if (!l || !routable(*l)) continue;
    switch (o.kind) {
      case BroadcastTree::Output::Kind::kMessage:
        if (!o.record->empty() && (*o.record)[0] == static_cast<uint8_t>(Opcode::kContentShout) &&
            !l->content) {
          break;  // never to a peer that does not speak the form
        }
        if (enqueue(*l, *o.record, now_us)) {
          ++stats_.shouts_sent;
          stats_.shout_bytes_sent += o.record->size();
          ++stats_.grafts_answered;
        }
        break;
      case BroadcastTree::Output::Kind::kIhave:
        send(*l, Message{0, IhaveMsg{std::move(o.ids)}}, now_us);
        break;
      case BroadcastTree::Output::Kind::kGraft:
        send(*l, Message{0, GraftMsg{std::move(o.ids)}}, now_us);
        break;
      case BroadcastTree::Output::Kind::kPrune:
        send(*l, Message{0, PruneMsg{}}, now_us);
        break;
    }
  }
}

void NodeCore::broadcast(const Message& m, std::initializer_list<LinkId> except,
                         const PublicKey* skip_key, int64_t now_us) {
  scratch_.clear();
  encode_message(m, scratch_);
  Bytes record = std::move(scratch_);
  const bool content = std::holds_alternative<ContentShoutMsg>(m.body);
  std::vector<Link*> targets;
  for (auto& [id, l] : links_) {
    if (!routable(*l)) continue;
    if (content && !l->content_possible()) continue;  // not its form
    if (std::find(except.begin(), except.end(), id) != except.end()) continue;
    if (skip_key && l->peer == *skip_key) continue;
    targets.push_back(l.get());
  }
  for (Link* t : targets) {
    if (content) {
      send_content(*t, record, now_us);
    } else {
      enqueue(*t, record, now_us);
    }
  }
  if (content || std::holds_alternative<ShoutMsg>(m.body)) {
    stats_.shouts_sent += targets.size();
    stats_.shout_bytes_sent += targets.size() * record.size();
  }
  scratch_ = std::move(record);
}

Result<void> NodeCore::shout(AppId app, ByteView payload, int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("SHOUT payload too large");
  if (content_mode(app)) {
    ContentShoutMsg c;
    c.app = app;
    c.hops_left = config_.shout_hop_limit;
    c.payload.assign(payload.begin(), payload.end());
    const SeenKey key = content_shout_key(app, content_id_of(payload));
    seen_.insert(key, now_us);
    pass_on(Message{0, std::move(c)}, key, 0, true, now_us);
    return {};
  }
  ShoutMsg s;
  s.app = app;
  s.hops_left = config_.shout_hop_limit;
  s.origin = identity_.public_key();
  s.shout_id = random_.next_u64();
  s.signature = identity_.sign(shout_signing_bytes(app, s.origin, s.shout_id, payload));
  s.payload.assign(payload.begin(), payload.end());
  const SeenKey key = make_seen_key(s.origin, s.shout_id);
  seen_.insert(key, now_us);
  if (tree_mode(app)) {
    tree_forward(Message{0, std::move(s)}, key, 0, true, now_us);
  } else {
    broadcast(Message{0, std::move(s)}, {}, nullptr, now_us);
  }
  return {};
}

}  // namespace chorus::overlay
