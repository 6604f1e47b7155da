// DhtSim's Reach layer: runs dht::ReachCore on simulated nodes, over a model
// of overlay links (dial, direct and relayed sends), with node records put
// in and read from the simulated DHT. See dht_sim.h.
#include <algorithm>

#include "chorus/dht/node_record.h"
#include "chorus/swarm/dht_sim.h"

namespace chorus::swarm {
namespace {

constexpr size_t kSimMaxRelays = 4;  // as ReachOptions::max_relays

Bytes reply_to(const Bytes& payload) {
  Bytes out{'r', 'e', ':'};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace

void DhtSim::enable_reach(SimNode n, bool listening, dht::ReachCoreOptions options) {
  Node& node = nodes_[n];
  node.reach_enabled = true;
  node.listening = listening;
  node.reach_options = options;
  if (is_up(n) && !node.reach) start_reach(n);
}

void DhtSim::start_reach(SimNode n) {
  Node& node = nodes_[n];
  node.reach = std::make_unique<dht::ReachCore>(node.identity.public_key(), node.reach_options);
  node.reach_timer_at = -1;
  node.reach_tokens.clear();
  (void)node.reach->start(local_us(n, now_us_));
  drain(n);
}

void DhtSim::stop_reach(SimNode n) {
  Node& node = nodes_[n];
  if (!node.reach) return;
  unlink_all(n);
  node.reach->stop(local_us(n, now_us_));  // its callers hear kCancelled
  (void)drain_reach(n);
  node.reach.reset();
  node.reach_tokens.clear();
  node.reach_timer_at = -1;
}

bool DhtSim::reach_command(SimNode n, const std::function<void(dht::ReachCore&, int64_t)>& fn) {
  if (!is_up(n) || !nodes_[n].reach) return false;
  fn(*nodes_[n].reach, local_us(n, now_us_));
  drain(n);
  return true;
}

// ------------------------------------------------------------ links

void DhtSim::link(SimNode a, SimNode b) {
  if (a == b || !nodes_[a].reach || !nodes_[b].reach || linked(a, b)) return;
  nodes_[a].links.insert(b);
  nodes_[b].links.insert(a);
  nodes_[a].reach->on_peer(nodes_[b].identity.public_key(), true, local_us(a, now_us_));
  nodes_[b].reach->on_peer(nodes_[a].identity.public_key(), true, local_us(b, now_us_));
  relays_changed(a);
  relays_changed(b);
  drain(a);
  drain(b);
}

void DhtSim::unlink_all(SimNode n) {
  const std::set<SimNode> links = std::move(nodes_[n].links);
  nodes_[n].links.clear();
  for (SimNode m : links) {
    nodes_[m].links.erase(n);
    if (!nodes_[m].reach) continue;
    nodes_[m].reach->on_peer(nodes_[n].identity.public_key(), false, local_us(m, now_us_));
    relays_changed(m);
    drain(m);
  }
}

// What an initiate-only node's record names: its linked listening peers,
// sorted by key, at most kSimMaxRelays.
std::vector<dht::Contact> DhtSim::relays_of(SimNode n) const {
  std::vector<dht::Contact> out;
  for (SimNode m : nodes_[n].links)
    if (nodes_[m].listening) out.push_back(nodes_[m].contact);
  std::sort(out.begin(), out.end(),
            [](const dht::Contact& a, const dht::Contact& b) { return a.key < b.key; });
  if (out.size() > kSimMaxRelays) out.resize(kSimMaxRelays);
  return out;
}

void DhtSim::relays_changed(SimNode n) {
  Node& node = nodes_[n];
  if (!node.reach || node.listening) return;
  std::vector<dht::PublicKey> keys;
  for (const dht::Contact& c : relays_of(n)) keys.push_back(c.key);
  node.reach->set_relays(std::move(keys), local_us(n, now_us_));
}

int64_t DhtSim::hop_delay() {
  int64_t d = config_.latency_base_us;
  if (config_.latency_jitter_us > 0)
    d += std::uniform_int_distribution<int64_t>(0, config_.latency_jitter_us - 1)(rng_);
  return d;
}

// ------------------------------------------------------------ draining

bool DhtSim::reach_event(SimNode n, dht::DhtEvent& event) {
  Node& node = nodes_[n];
  auto* done = std::get_if<dht::DoneEvent>(&event);
  if (!done || !node.reach) return false;
  auto it = node.reach_tokens.find(done->token);
  if (it == node.reach_tokens.end()) return false;
  const auto [op, waits] = it->second;
  node.reach_tokens.erase(it);
  const int64_t now = local_us(n, now_us_);
  switch (waits) {
    case Node::Waits::kRecord:
      node.reach->on_record(op, std::move(done->result), now);
      break;
    case Node::Waits::kContacts:
      node.reach->on_contacts(op, std::move(done->result), now);
      break;
    case Node::Waits::kPublish:
      node.reach->on_published(
          op, done->result ? Result<void>() : Result<void>(done->result.error()), now);
      break;
  }
  return true;
}

bool DhtSim::drain_reach(SimNode n) {
  bool dht_commands = false;
  dht::ReachAction a;
  while (nodes_[n].reach && nodes_[n].reach->poll_action(a)) {
    dht_commands |= std::holds_alternative<dht::GetRecord>(a) ||
                    std::holds_alternative<dht::FindNode>(a) ||
                    std::holds_alternative<dht::PublishRecord>(a);
    reach_action(n, a);
  }
  return dht_commands;
}

void DhtSim::reach_action(SimNode n, dht::ReachAction& action) {
  Node& node = nodes_[n];
  const int64_t local = local_us(n, now_us_);
  const uint32_t inc = node.incarnation;
  // Runs fn later, only if n is still the same incarnation with Reach.
  auto later = [this, n, inc](int64_t delay, std::function<void(dht::ReachCore&, int64_t)> fn) {
    at(now_us_ + delay, [this, n, inc, fn = std::move(fn)] {
      if (nodes_[n].incarnation != inc || !nodes_[n].reach) return;
      reach_command(n, fn);
    });
  };

  if (auto* get = std::get_if<dht::GetRecord>(&action)) {
    if (!node.core) return;
    node.reach_tokens[node.core->get(dht::node_record_key(get->target), local)] = {
        get->op, Node::Waits::kRecord};
  } else if (auto* find = std::get_if<dht::FindNode>(&action)) {
    if (!node.core) return;
    node.reach_tokens[node.core->find_node(dht::make_contact(find->target, {}).id, local)] = {
        find->op, Node::Waits::kContacts};
  } else if (auto* pub = std::get_if<dht::PublishRecord>(&action)) {
    if (!node.core) return;
    dht::NodeRecord rec;
    if (node.listening) {
      rec = {dht::NodeRecord::Kind::kListening, {node.contact}};
    } else {
      rec = {dht::NodeRecord::Kind::kRelayed, relays_of(n)};
    }
    auto bytes = dht::encode_node_record(rec);
    if (!bytes) {
      later(0, [op = pub->op, e = bytes.error()](dht::ReachCore& r, int64_t now) {
        r.on_published(op, e, now);
      });
      return;
    }
    node.reach_tokens[node.core->put_signed(dht::node_record_key(node.identity.public_key()),
                                            std::move(*bytes), pub->seq, pub->ttl_s, local)] = {
        pub->op, Node::Waits::kPublish};
  } else if (auto* dial = std::get_if<dht::Dial>(&action)) {
    ++reach_stats_.dials;
    // A round trip; then the link is up if the node there listens, is up,
    // has the key we expect and is on our side of any partition.
    const int64_t rtt = hop_delay() + hop_delay();
    at(now_us_ + rtt, [this, n, inc, op = dial->op, address = dial->address, key = dial->key] {
      if (nodes_[n].incarnation != inc || !nodes_[n].reach) return;
      auto it = by_host_.find(address.host);
      Result<void> r;
      if (it == by_host_.end() || !is_up(it->second) || !nodes_[it->second].reach ||
          !nodes_[it->second].listening || !same_group(n, it->second)) {
        r = io_error("connection refused");
      } else if (nodes_[it->second].identity.public_key() != key) {
        r = auth_failed("another key answered");
      } else {
        link(n, it->second);
      }
      if (!r) ++reach_stats_.dials_failed;
      reach_command(n, [op, r](dht::ReachCore& core, int64_t now) { core.on_dialled(op, r, now); });
    });
  } else if (auto* send = std::get_if<dht::Send>(&action)) {
    ++reach_stats_.sends;
    if (send->relay) ++reach_stats_.relayed_sends;
    dht::Send s = std::move(*send);
    auto key_of = [this](const dht::PublicKey& k) -> std::optional<SimNode> {
      for (SimNode m = 0; m < nodes_.size(); ++m)
        if (nodes_[m].identity.public_key() == k) return m;
      return std::nullopt;
    };
    auto finish = [s](dht::ReachCore& core, int64_t now, std::optional<Error> e) {
      if (s.request) {
        core.on_request_done(s.op, e ? Result<Bytes>(*e) : Result<Bytes>(reply_to(s.payload)), now);
      } else {
        core.on_whisper_done(
            s.op,
            e ? Result<dht::Hash256>(*e) : Result<dht::Hash256>(overlay::blake2b_256(s.payload)),
            now);
      }
    };
    const auto to = key_of(s.to);
    const auto first = s.relay ? key_of(*s.relay) : to;
    if (!to || !first || !linked(n, *first)) {
      ++reach_stats_.sends_failed;
      later(0, [finish](dht::ReachCore& core, int64_t now) {
        finish(core, now, not_found("not a direct peer"));
      });
      return;
    }
    const int64_t out = hop_delay() + (s.relay ? hop_delay() : 0);
    const int64_t back = hop_delay() + (s.relay ? hop_delay() : 0);
    at(now_us_ + out, [this, n, inc, s, to = *to, first = *first, back, finish, later] {
      if (nodes_[n].incarnation != inc || !nodes_[n].reach) return;
      std::optional<Error> e;
      const bool relayed = s.relay.has_value();
      if (relayed && !nodes_[first].relaying) {
        e = refused("relaying is switched off");
      } else if (!is_up(to) || !nodes_[to].reach || !linked(n, first) ||
                 (relayed && !linked(first, to))) {
        e = relayed ? refused("target not linked to the relay") : io_error("link lost");
      } else {
        ++reach_stats_.delivered;
        if (on_deliver) on_deliver(to, n, s.app, s.payload, relayed);
      }
      if (e) ++reach_stats_.sends_failed;
      later(back, [finish, e](dht::ReachCore& core, int64_t now) { finish(core, now, e); });
    });
  } else if (auto* timer = std::get_if<dht::SetTimer>(&action)) {
    if (timer->at_us < 0) {
      node.reach_timer_at = -1;
      return;
    }
    push_timer(n, Kind::kReachTimer, timer->at_us, node.reach_timer_at);
  } else if (auto* done = std::get_if<dht::Completed>(&action)) {
    if (on_reach_done) on_reach_done(n, *done);
  }
}

}  // namespace chorus::swarm
