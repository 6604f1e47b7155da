#include "chorus/swarm/dht_sim.h"

#include <algorithm>

#include "chorus/dht/contact_pool.h"
#include "chorus/dht/pair_key_cache.h"

namespace chorus::swarm {
namespace {

std::string host_of(SimNode n) {
  return "10." + std::to_string((n >> 16) & 255) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

}  // namespace

DhtSim::DhtSim(DhtSimConfig config) : config_(std::move(config)), rng_(config_.seed) {
  // One thread runs every core: their tables share one copy of each contact.
  if (!config_.dht.contact_pool) config_.dht.contact_pool = std::make_shared<dht::ContactPool>();
  // Nearly every RPC is a new pair of nodes, and both ends are here.
  if (!config_.dht.pair_keys) config_.dht.pair_keys = std::make_shared<dht::PairKeyCache>();
}

DhtSim::~DhtSim() {
  // Our references; the cores give theirs back as they go.
  for (const Node& node : nodes_) config_.dht.contact_pool->release(node.pooled);
}

SimNode DhtSim::add_node() {
  SimNode n = static_cast<SimNode>(nodes_.size());
  // Identities derive from the seed and the index, so a run replays exactly.
  ByteView tag = as_bytes("chorus-dht-sim");
  Bytes material(tag.begin(), tag.end());
  for (int i = 0; i < 8; ++i) material.push_back(static_cast<uint8_t>(config_.seed >> (8 * i)));
  for (int i = 0; i < 4; ++i) material.push_back(static_cast<uint8_t>(n >> (8 * i)));
  Node node{nullptr, overlay::Identity::from_seed(overlay::blake2b_256(material)), {}, 0, 0, -1, 0,
            0};
  node.contact = dht::make_contact(node.identity.public_key(), dht::Address{host_of(n), 4000});
  // Held for the simulation's life: warm_start hands tables this handle.
  node.pooled = config_.dht.contact_pool->acquire(node.contact);
  nodes_.push_back(std::move(node));
  by_host_.emplace(nodes_.back().contact.address.host, n);
  if (!group_.empty()) group_.push_back(0);
  start(n);
  return n;
}

void DhtSim::start(SimNode n) {
  Node& node = nodes_[n];
  dht::DhtConfig cfg = config_.dht;
  cfg.seed = config_.seed * 0x9E3779B97F4A7C15ull + n * 1000003ull + node.incarnation;
  node.core = std::make_unique<dht::DhtCore>(node.identity, node.contact.address, cfg,
                                             local_us(n, now_us_));
  feed_clock(n);
  node.timer_at = -1;
  drain(n);
  if (node.reach_enabled) start_reach(n);
}

void DhtSim::warm_start(size_t per_bucket) {
  // Ids sorted: every subtree of the id space is a contiguous range, and the
  // subtree one bit deeper is one side of a split found by testing that bit.
  // Walking down from the whole range, bucket i's subtree is the side of
  // split i that this id is not on: one bit test per step of a binary
  // search, where comparing whole ids from the top cost 4 x 20 memcmps a
  // bucket (a fifth of the set-up at a million nodes).
  std::vector<std::pair<dht::NodeId, SimNode>> sorted;
  for (SimNode n = 0; n < nodes_.size(); ++n)
    if (is_up(n)) sorted.emplace_back(nodes_[n].contact.id, n);
  std::sort(sorted.begin(), sorted.end());
  auto bit = [](const dht::NodeId& id, int i) { return (id[i / 8] >> (7 - i % 8)) & 1; };
  std::vector<size_t> picks;
  for (auto& [id, n] : sorted) {
    dht::DhtCore& core = *nodes_[n].core;
    int64_t local = local_us(n, now_us_);
    auto lo = sorted.begin(), hi = sorted.end();  // ids sharing our first i bits
    for (int i = 0; i < 256 && hi - lo > 1; ++i) {
      auto split =
          std::partition_point(lo, hi, [&](const auto& e) { return bit(e.first, i) == 0; });
      // Our side of the split narrows our range; the other side is bucket i.
      const bool ours_is_one = bit(id, i) == 1;
      auto [sub_lo, sub_hi] = ours_is_one ? std::pair{lo, split} : std::pair{split, hi};
      (ours_is_one ? lo : hi) = split;
      size_t count = static_cast<size_t>(sub_hi - sub_lo);
      if (count <= per_bucket) {
        for (auto it = sub_lo; it != sub_hi; ++it)
          core.add_contact(nodes_[it->second].contact, local, nodes_[it->second].pooled);
        continue;
      }
      // A random sample of the subtree, without repeats.
      picks.clear();
      while (picks.size() < per_bucket) {
        size_t p = std::uniform_int_distribution<size_t>(0, count - 1)(rng_);
        if (std::find(picks.begin(), picks.end(), p) == picks.end()) picks.push_back(p);
      }
      for (size_t p : picks) {
        const Node& member = nodes_[(sub_lo + static_cast<long>(p))->second];
        core.add_contact(member.contact, local, member.pooled);
      }
    }
    drain(n);
  }
}

int64_t DhtSim::local_us(SimNode n, int64_t v) const {
  const Node& node = nodes_[n];
  return v + static_cast<int64_t>(static_cast<double>(v) * node.clock_drift) + node.clock_offset_us;
}

int64_t DhtSim::virtual_us(SimNode n, int64_t local) const {
  const Node& node = nodes_[n];
  return static_cast<int64_t>(static_cast<double>(local - node.clock_offset_us) /
                              (1.0 + node.clock_drift));
}

void DhtSim::set_clock(SimNode n, int64_t offset_us, double drift) {
  nodes_[n].clock_offset_us = offset_us;
  nodes_[n].clock_drift = drift;
  if (is_up(n)) {
    nodes_[n].timer_at = -1;  // re-arm against the new clock
    drain(n);
  }
}

void DhtSim::set_wall_skew(SimNode n, int64_t skew_us) {
  nodes_[n].wall_skew_us = skew_us;
}

int64_t DhtSim::feed_clock(SimNode n) {
  Node& node = nodes_[n];
  const int64_t local = local_us(n, now_us_);
  node.core->set_wall_clock((now_us_ + node.wall_skew_us) / 1000, local);
  return local;
}

bool DhtSim::command(SimNode n, const std::function<void(dht::DhtCore&, int64_t)>& fn) {
  if (!is_up(n)) return false;
  fn(*nodes_[n].core, feed_clock(n));
  drain(n);
  return true;
}

void DhtSim::drain(SimNode n) {
  Node& node = nodes_[n];
  if (!node.core) return;
  dht::SendDatagram out;
  while (node.core->poll_action(out)) {
    ++stats_.datagrams;
    auto it = by_host_.find(out.to.host);
    if (it == by_host_.end()) {
      ++stats_.datagrams_to_down;
      continue;
    }
    SimNode to = it->second;
    if (!same_group(n, to)) {
      ++stats_.datagrams_partitioned;
      continue;
    }
    if (config_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < config_.loss) {
      ++stats_.datagrams_lost;
      continue;
    }
    int64_t departs = now_us_;
    if (config_.uplink_bytes_per_s > 0) {
      constexpr uint64_t kIpUdpHeader = 28;  // bytes of IPv4 + UDP header per datagram
      constexpr uint64_t kUsPerSecond = 1'000'000;
      const int64_t start = std::max(now_us_, node.uplink_free_us);
      if (start - now_us_ > config_.max_uplink_backlog_us) {
        ++stats_.datagrams_uplink_dropped;
        continue;
      }
      departs = start + static_cast<int64_t>((out.bytes.size() + kIpUdpHeader) * kUsPerSecond /
                                             config_.uplink_bytes_per_s);
      node.uplink_free_us = departs;
    }
    Ev ev;
    ev.at = departs + hop_delay();
    ev.kind = Kind::kDatagram;
    ev.node = to;
    ev.from = n;
    ev.incarnation = nodes_[to].incarnation;
    ev.bytes = std::move(out.bytes);
    push(std::move(ev));
  }
  dht::DhtEvent event;
  while (node.core && node.core->poll_event(event))
    if (!reach_event(n, event) && on_event) on_event(n, event);
  if (!node.core) return;
  if (drain_reach(n)) return drain(n);  // Reach started DHT operations
  if (auto t = node.core->next_timer_us()) push_timer(n, Kind::kTimer, *t, node.timer_at);
}

void DhtSim::push(Ev ev) {
  ev.seq = seq_++;
  queue_.push_back(std::move(ev));
  std::push_heap(queue_.begin(), queue_.end(), Later{});
}

void DhtSim::push_timer(SimNode n, Kind kind, int64_t local_at_us, int64_t& armed_at) {
  // One microsecond past the deadline, so the core, rounding to ms, sees it due.
  const int64_t at = std::max(now_us_, virtual_us(n, local_at_us) + 1);
  if (at == armed_at) return;
  armed_at = at;
  Ev ev;
  ev.at = at;
  ev.kind = kind;
  ev.node = n;
  ev.incarnation = nodes_[n].incarnation;
  push(std::move(ev));
}

void DhtSim::crash(SimNode n) {
  if (!is_up(n)) return;
  stop_reach(n);
  nodes_[n].core.reset();
  ++nodes_[n].incarnation;  // events already queued for it are dropped
  nodes_[n].timer_at = -1;
  nodes_[n].uplink_free_us = 0;  // its socket buffer died with it
}

void DhtSim::restart(SimNode n) {
  if (is_up(n)) return;
  start(n);
}

void DhtSim::partition(const std::vector<std::vector<SimNode>>& groups) {
  group_.assign(nodes_.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    for (SimNode n : groups[g]) group_[n] = static_cast<uint16_t>(g + 1);
}

void DhtSim::heal() {
  group_.clear();
}

bool DhtSim::same_group(SimNode a, SimNode b) const {
  return group_.empty() || group_[a] == group_[b];
}

void DhtSim::at(int64_t at_us, std::function<void()> fn) {
  Ev ev;
  ev.at = std::max(at_us, now_us_);
  ev.kind = Kind::kScript;
  ev.script = scripts_.size();
  scripts_.push_back(std::move(fn));
  push(std::move(ev));
}

void DhtSim::handle(Ev& ev) {
  switch (ev.kind) {
    case Kind::kScript: {
      auto fn = std::move(scripts_[ev.script]);
      scripts_[ev.script] = nullptr;
      if (fn) fn();
      return;
    }
    case Kind::kTimer: {
      Node& node = nodes_[ev.node];
      if (!node.core || ev.incarnation != node.incarnation || ev.at != node.timer_at) return;
      node.timer_at = -1;
      node.core->on_timer(feed_clock(ev.node));
      drain(ev.node);
      return;
    }
    case Kind::kReachTimer: {
      Node& node = nodes_[ev.node];
      if (!node.reach || ev.incarnation != node.incarnation || ev.at != node.reach_timer_at) return;
      node.reach_timer_at = -1;
      node.reach->on_timer(local_us(ev.node, now_us_));
      drain(ev.node);
      return;
    }
    case Kind::kDatagram: {
      Node& node = nodes_[ev.node];
      if (!node.core || ev.incarnation != node.incarnation) {
        ++stats_.datagrams_to_down;
        return;
      }
      // Partitions made after the send still drop it on arrival.
      if (!same_group(ev.from, ev.node)) {
        ++stats_.datagrams_partitioned;
        return;
      }
      node.core->on_datagram(nodes_[ev.from].contact.address, ev.bytes, feed_clock(ev.node));
      drain(ev.node);
      return;
    }
  }
}

bool DhtSim::run_until(int64_t until_us) {
  while (!queue_.empty() && queue_.front().at <= until_us) {
    if (queue_.size() > config_.max_events_pending) {
      stats_.event_cap_hit = true;
      return false;
    }
    std::pop_heap(queue_.begin(), queue_.end(), Later{});
    Ev ev = std::move(queue_.back());
    queue_.pop_back();
    now_us_ = std::max(now_us_, ev.at);
    ++stats_.events;
    handle(ev);
  }
  now_us_ = std::max(now_us_, until_us);
  // Scripts that ran are gone; keep the table from growing without bound.
  if (queue_.empty()) scripts_.clear();
  return true;
}

dht::DhtStats DhtSim::total_core_stats() const {
  dht::DhtStats t;
  for (const Node& n : nodes_) {
    if (!n.core) continue;
    const auto& s = n.core->stats();
    t.datagrams_in += s.datagrams_in;
    t.datagrams_out += s.datagrams_out;
    t.bytes_in += s.bytes_in;
    t.bytes_out += s.bytes_out;
    t.rpcs_sent += s.rpcs_sent;
    t.rpcs_answered += s.rpcs_answered;
    t.rpcs_timed_out += s.rpcs_timed_out;
    t.requests_served += s.requests_served;
    t.dropped_bad += s.dropped_bad;
    t.dropped_unexpected += s.dropped_unexpected;
    t.stores_refused += s.stores_refused;
    t.lookups += s.lookups;
    t.operations_done += s.operations_done;
    t.lock_grants += s.lock_grants;
    t.rpcs_refused_locally += s.rpcs_refused_locally;
    t.replies_trimmed += s.replies_trimmed;
    t.bad_signed_dropped += s.bad_signed_dropped;
    t.notifies_ignored += s.notifies_ignored;
    t.republished += s.republished;
    t.lookup_stalls += s.lookup_stalls;
    t.lookup_stores += s.lookup_stores;
    t.lookup_stores_stale += s.lookup_stores_stale;
  }
  return t;
}

}  // namespace chorus::swarm
