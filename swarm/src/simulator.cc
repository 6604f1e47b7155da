#include "chorus/swarm/simulator.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>

namespace chorus::swarm {
namespace {

using chorus::Bytes;
using overlay::Action;
using overlay::CloseAction;
using overlay::ConnectAction;
using overlay::LinkId;
using overlay::SendAction;
using overlay::SocketAddress;

constexpr uint32_t kNone = UINT32_MAX;
constexpr uint16_t kPort = 7000;
// What a slow link delivers at a time of a large send (about a TCP window).
constexpr size_t kSegmentBytes = 16 * 1024;

// Reasons carried by events as small numbers (no string per event).
enum Reason : uint64_t {
  kRefused,
  kPartitioned,
  kTargetDown,
  kPeerClosed,
  kReset,
  kCut,
  kOverflow
};
const char* reason_text(uint64_t r) {
  switch (r) {
    case kRefused:
      return "connection refused";
    case kPartitioned:
      return "connection timed out (partitioned)";
    case kTargetDown:
      return "connection refused (node down)";
    case kPeerClosed:
      return "peer closed the connection";
    case kReset:
      return "connection reset by peer";
    case kCut:
      return "network unreachable (partitioned)";
    default:
      return "simulated reset: node send queue above max_node_queue_bytes";
  }
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t derive(uint64_t seed, uint64_t node, uint64_t what) {
  return splitmix64(splitmix64(splitmix64(seed) ^ node) ^ what);
}

// 127.(1 + n/65536).(n/256 % 256).(n % 256): loopback labels, never dialled for real.
std::string host_of(NodeId n) {
  return "127." + std::to_string(1 + (n >> 16)) + "." + std::to_string((n >> 8) & 255) + "." +
         std::to_string(n & 255);
}

}  // namespace

overlay::NodeStats& operator+=(overlay::NodeStats& a, const overlay::NodeStats& b) {
  a.frames_sent += b.frames_sent;
  a.frames_received += b.frames_received;
  a.bytes_sent += b.bytes_sent;
  a.messages_sent += b.messages_sent;
  a.messages_received += b.messages_received;
  a.shouts_delivered += b.shouts_delivered;
  a.shouts_sent += b.shouts_sent;
  a.shout_bytes_sent += b.shout_bytes_sent;
  a.duplicates_dropped += b.duplicates_dropped;
  a.shouts_rate_limited += b.shouts_rate_limited;
  a.bad_signatures += b.bad_signatures;
  a.links_refused += b.links_refused;
  a.banned_refused += b.banned_refused;
  a.bans += b.bans;
  a.frames_compressed += b.frames_compressed;
  a.bytes_before_compression += b.bytes_before_compression;
  a.bytes_after_compression += b.bytes_after_compression;
  a.relays_forwarded += b.relays_forwarded;
  a.relay_bytes_forwarded += b.relay_bytes_forwarded;
  a.relays_refused += b.relays_refused;
  a.relayed_received += b.relayed_received;
  a.relayed_replays += b.relayed_replays;
  a.ihaves_sent += b.ihaves_sent;
  a.ihave_bytes_sent += b.ihave_bytes_sent;
  a.grafts_sent += b.grafts_sent;
  a.graft_bytes_sent += b.graft_bytes_sent;
  a.prunes_sent += b.prunes_sent;
  a.prune_bytes_sent += b.prune_bytes_sent;
  a.grafts_answered += b.grafts_answered;
  a.grafts_refused += b.grafts_refused;
  a.shouts_held += b.shouts_held;
  a.shout_verdicts_forwarded += b.shout_verdicts_forwarded;
  a.shout_verdicts_dropped += b.shout_verdicts_dropped;
  a.shout_verdicts_penalized += b.shout_verdicts_penalized;
  a.shout_verdicts_timed_out += b.shout_verdicts_timed_out;
  a.shout_verdicts_overflow += b.shout_verdicts_overflow;
  a.content_shouts_waited += b.content_shouts_waited;
  a.content_shouts_wait_dropped += b.content_shouts_wait_dropped;
  a.messages_queued += b.messages_queued;
  a.app_queue_refused += b.app_queue_refused;
  a.directs_sent += b.directs_sent;
  a.directs_received += b.directs_received;
  a.directs_unknown_app += b.directs_unknown_app;
  return a;
}

Simulator::Simulator(SimConfig config) : config_(std::move(config)), rng_(config_.seed) {}
Simulator::~Simulator() = default;

NodeId Simulator::add_node(overlay::OverlayConfig config) {
  const NodeId n = static_cast<NodeId>(nodes_.size());
  assert(n < (NodeId{254} << 16));
  std::array<uint8_t, 32> id_seed{};
  for (size_t i = 0; i < 4; ++i) {
    uint64_t v = derive(config_.seed, n, 0x1d00 + i);
    for (size_t b = 0; b < 8; ++b) id_seed[i * 8 + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  config.listen_port = kPort;
  nodes_.push_back(Node{.core = nullptr,
                        .identity = overlay::Identity::from_seed(id_seed),
                        .config = std::move(config),
                        .address = SocketAddress{host_of(n), kPort},
                        .incarnation = 0,
                        .pipes = {},
                        .connecting = {},
                        .timer_at = std::nullopt,
                        .queued_bytes = 0});
  if (!group_.empty()) group_.push_back(0);
  start(n);
  return n;
}

void Simulator::start(NodeId n) {
  Node& node = nodes_[n];
  overlay::OverlayConfig cfg = node.config;
  cfg.seed = derive(config_.seed, n, 0xc0de0000ULL + node.incarnation);
  // ChaCha20-Poly1305 everywhere: AES-GCM is chosen only on CPUs with AES-NI,
  // and a replay must give the same bytes on every machine.
  cfg.allow_aes_gcm = false;
  node.core = std::make_unique<overlay::NodeCore>(node.identity, std::move(cfg), now_us_);
  if (on_start) on_start(n, *node.core);
  drain(n);
}

bool Simulator::command(NodeId n, const std::function<void(overlay::NodeCore&, int64_t)>& fn) {
  if (!nodes_[n].core) return false;
  fn(*nodes_[n].core, now_us_);
  drain(n);
  return true;
}

int64_t Simulator::draw_latency() {
  const LinkModel& m = config_.link;
  int64_t jitter = 0;
  if (m.latency_jitter_us > 0) {
    if (m.exponential_jitter) {
      const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1)
      jitter = static_cast<int64_t>(-static_cast<double>(m.latency_jitter_us) * std::log1p(-u));
    } else {
      jitter = static_cast<int64_t>(rng_() % static_cast<uint64_t>(m.latency_jitter_us));
    }
  }
  return m.latency_base_us + jitter;
}

std::optional<NodeId> Simulator::node_at(const SocketAddress& a) const {
  unsigned o1 = 0, o2 = 0, o3 = 0, o4 = 0;
  char tail = 0;
  if (a.port != kPort) return std::nullopt;
  if (std::sscanf(a.host.c_str(), "%u.%u.%u.%u%c", &o1, &o2, &o3, &o4, &tail) != 4) {
    return std::nullopt;
  }
  if (o1 != 127 || o2 < 1 || o2 > 255 || o3 > 255 || o4 > 255) return std::nullopt;
  const uint64_t n = (uint64_t{o2 - 1} << 16) | (o3 << 8) | o4;
  if (n >= nodes_.size()) return std::nullopt;
  return static_cast<NodeId>(n);
}

bool Simulator::same_group(NodeId a, NodeId b) const {
  return group_.empty() || group_[a] == group_[b];
}

void Simulator::push(Ev ev) {
  ev.seq = ++seq_;
  queue_.push_back(std::move(ev));
  std::push_heap(queue_.begin(), queue_.end(), [](const Ev& x, const Ev& y) {
    return x.at != y.at ? x.at > y.at : x.seq > y.seq;
  });
}

void Simulator::at(int64_t at_us, std::function<void()> fn) {
  uint32_t slot;
  if (!free_scripts_.empty()) {
    slot = free_scripts_.back();
    free_scripts_.pop_back();
    scripts_[slot] = std::move(fn);
  } else {
    slot = static_cast<uint32_t>(scripts_.size());
    scripts_.push_back(std::move(fn));
  }
  Ev ev;
  ev.at = std::max(at_us, now_us_);
  ev.kind = Kind::kScript;
  ev.size = slot;
  push(std::move(ev));
}

uint32_t Simulator::new_pipe() {
  if (!free_pipes_.empty()) {
    uint32_t p = free_pipes_.back();
    free_pipes_.pop_back();
    return p;
  }
  pipes_.emplace_back();
  return static_cast<uint32_t>(pipes_.size() - 1);
}

// One side stops: its node forgets the link and its unsent bytes. The pipe is
// freed once both sides stopped.
void Simulator::close_side(uint32_t p, int s) {
  Pipe::Side& side = pipes_[p].side[s];
  if (!side.open) return;
  side.open = false;
  Node& node = nodes_[side.node];
  node.pipes.erase(side.link);
  node.queued_bytes -= std::min(node.queued_bytes, side.queued_bytes);
  side.queued_bytes = 0;
  if (!pipes_[p].side[1 - s].open) {
    Pipe& pipe = pipes_[p];
    uint32_t gen = pipe.generation + 1;
    pipe = Pipe{};
    pipe.generation = gen;
    free_pipes_.push_back(p);
  }
}

void Simulator::closed_later(NodeId n, LinkId link, int64_t at_us, uint64_t reason) {
  Ev ev;
  ev.at = at_us;
  ev.kind = Kind::kClosed;
  ev.node = n;
  ev.incarnation = nodes_[n].incarnation;
  ev.link = link;
  ev.size = reason;
  push(std::move(ev));
}

void Simulator::drain(NodeId n) {
  Node& node = nodes_[n];
  overlay::NodeCore& core = *node.core;
  core.flush(now_us_);
  Action a;
  while (core.poll_action(a)) {
    if (auto* c = std::get_if<ConnectAction>(&a)) {
      ++stats_.connects;
      node.connecting.push_back(c->link);
      auto target = node_at(c->to);
      Ev ev;
      ev.at = now_us_ + config_.link.connect_latency_us;
      ev.kind = Kind::kConnect;
      ev.node = n;
      ev.incarnation = node.incarnation;
      ev.link = c->link;
      ev.pipe = target ? *target : kNone;
      push(std::move(ev));
    } else if (auto* snd = std::get_if<SendAction>(&a)) {
      auto it = node.pipes.find(snd->link);
      if (it == node.pipes.end()) continue;  // cut under it; on_closed is on its way
      const uint32_t p = it->second;
      Pipe& pipe = pipes_[p];
      const int s = pipe.side[0].node == n && pipe.side[0].link == snd->link ? 0 : 1;
      const size_t size = snd->bytes.size();
      if (node.queued_bytes + size > config_.max_node_queue_bytes) {
        ++stats_.links_reset_overflow;
        const Pipe::Side other = pipe.side[1 - s];
        close_side(p, s);
        closed_later(n, snd->link, now_us_, kOverflow);
        if (other.open) closed_later(other.node, other.link, now_us_ + pipe.latency_us, kReset);
        continue;
      }
      Pipe::Side& side = pipe.side[s];
      const int64_t begin = std::max(now_us_, side.busy_until_us);
      const double bandwidth = config_.link.bandwidth_bytes_per_s;
      auto carried_at = [&](size_t bytes) {
        return bandwidth > 0 ? begin + static_cast<int64_t>(
                                           std::ceil(static_cast<double>(bytes) * 1e6 / bandwidth))
                             : begin;
      };
      const int64_t done = carried_at(size);
      side.busy_until_us = done;
      side.queued_bytes += size;
      node.queued_bytes += size;
      Ev sent;
      sent.at = done;
      sent.kind = Kind::kSent;
      sent.side = static_cast<uint8_t>(s);
      sent.node = n;
      sent.pipe = p;
      sent.generation = pipe.generation;
      sent.link = snd->link;
      sent.size = size;
      push(std::move(sent));
      Ev arrive;
      arrive.kind = Kind::kBytes;
      arrive.side = static_cast<uint8_t>(1 - s);
      arrive.node = pipe.side[1 - s].node;
      arrive.pipe = p;
      arrive.generation = pipe.generation;
      arrive.link = pipe.side[1 - s].link;
      // A large send on a slow link arrives as a stream does, segment by
      // segment as the bandwidth carries it, so a small frame at its front
      // is not held back until the last byte.
      size_t offset = 0;
      while (bandwidth > 0 && size - offset > kSegmentBytes) {
        Ev segment = arrive;
        segment.bytes.assign(snd->bytes.begin() + static_cast<ptrdiff_t>(offset),
                             snd->bytes.begin() + static_cast<ptrdiff_t>(offset + kSegmentBytes));
        offset += kSegmentBytes;
        segment.at = carried_at(offset) + pipe.latency_us;
        push(std::move(segment));
      }
      if (offset > 0)
        snd->bytes.erase(snd->bytes.begin(), snd->bytes.begin() + static_cast<ptrdiff_t>(offset));
      arrive.at = done + pipe.latency_us;
      arrive.bytes = std::move(snd->bytes);
      push(std::move(arrive));
    } else if (auto* cl = std::get_if<CloseAction>(&a)) {
      auto& pending = node.connecting;
      pending.erase(std::remove(pending.begin(), pending.end(), cl->link), pending.end());
      auto it = node.pipes.find(cl->link);
      if (it == node.pipes.end()) continue;
      const uint32_t p = it->second;
      Pipe& pipe = pipes_[p];
      const int s = pipe.side[0].node == n && pipe.side[0].link == cl->link ? 0 : 1;
      // The FIN follows the bytes already on their way.
      const int64_t fin_at = std::max(now_us_, pipe.side[s].busy_until_us) + pipe.latency_us;
      const Pipe::Side other = pipe.side[1 - s];
      close_side(p, s);
      if (other.open) closed_later(other.node, other.link, fin_at, kPeerClosed);
    }
  }
  overlay::Event e;
  bool any = false;
  while (core.poll_event(e)) {
    any = true;
    if (on_event) on_event(n, e);
  }
  // A hook may have given the core a SHOUT verdict: what that queued goes
  // out (and the timer is set) in another round. Without verdicts the next
  // round finds nothing, so runs replay as before.
  if (any) return drain(n);
  auto t = core.next_timer_us();
  if (!t) {
    node.timer_at.reset();
  } else if (t != node.timer_at) {
    node.timer_at = std::max(*t, now_us_);
    Ev ev;
    ev.at = *node.timer_at;
    ev.kind = Kind::kTimer;
    ev.node = n;
    ev.incarnation = node.incarnation;
    push(std::move(ev));
  }
}

void Simulator::handle(Ev& ev) {
  switch (ev.kind) {
    case Kind::kScript: {
      std::function<void()> fn = std::move(scripts_[ev.size]);
      scripts_[ev.size] = nullptr;
      free_scripts_.push_back(static_cast<uint32_t>(ev.size));
      fn();
      return;
    }
    case Kind::kTimer: {
      Node& node = nodes_[ev.node];
      if (!node.core || node.incarnation != ev.incarnation || node.timer_at != ev.at) return;
      node.timer_at.reset();
      node.core->on_timer(now_us_);
      drain(ev.node);
      return;
    }
    case Kind::kConnect: {
      Node& node = nodes_[ev.node];
      if (!node.core || node.incarnation != ev.incarnation) return;
      auto& pending = node.connecting;
      auto pos = std::find(pending.begin(), pending.end(), ev.link);
      if (pos == pending.end()) return;  // the dialler gave up already
      pending.erase(pos);
      const int64_t latency = draw_latency();
      uint64_t refusal = kRefused;
      if (ev.pipe != kNone && !nodes_[ev.pipe].core) refusal = kTargetDown;
      if (ev.pipe != kNone && nodes_[ev.pipe].core && !same_group(ev.node, ev.pipe)) {
        refusal = kPartitioned;
      }
      if (ev.pipe == kNone || refusal != kRefused) {
        ++stats_.connects_failed;
        Ev fail;
        fail.at = now_us_ + latency;
        fail.kind = Kind::kConnectFailed;
        fail.node = ev.node;
        fail.incarnation = ev.incarnation;
        fail.link = ev.link;
        fail.size = refusal;
        push(std::move(fail));
        return;
      }
      const NodeId to = ev.pipe;
      SocketAddress remote{node.address.host, static_cast<uint16_t>(40000 + next_ephemeral_port_)};
      next_ephemeral_port_ = static_cast<uint16_t>((next_ephemeral_port_ + 1) % 20000);
      const LinkId accepted = nodes_[to].core->on_accepted(remote, now_us_);
      const uint32_t p = new_pipe();
      Pipe& pipe = pipes_[p];
      pipe.latency_us = latency;
      pipe.side[0] = Pipe::Side{ev.node, ev.link, true, now_us_, 0};
      pipe.side[1] = Pipe::Side{to, accepted, true, now_us_, 0};
      node.pipes[ev.link] = p;
      nodes_[to].pipes[accepted] = p;
      Ev ok;
      ok.at = now_us_ + latency;
      ok.kind = Kind::kConnected;
      ok.node = ev.node;
      ok.pipe = p;
      ok.generation = pipe.generation;
      ok.link = ev.link;
      push(std::move(ok));
      drain(to);
      return;
    }
    case Kind::kConnected: {
      const Pipe& pipe = pipes_[ev.pipe];
      if (pipe.generation != ev.generation || !pipe.side[0].open) return;
      nodes_[ev.node].core->on_connected(ev.link, now_us_);
      drain(ev.node);
      return;
    }
    case Kind::kConnectFailed: {
      Node& node = nodes_[ev.node];
      if (!node.core || node.incarnation != ev.incarnation) return;
      node.core->on_connect_failed(ev.link, reason_text(ev.size), now_us_);
      drain(ev.node);
      return;
    }
    case Kind::kBytes: {
      const Pipe& pipe = pipes_[ev.pipe];
      if (pipe.generation != ev.generation || !pipe.side[ev.side].open) return;
      stats_.bytes_delivered += ev.bytes.size();
      nodes_[ev.node].core->on_bytes(ev.link, std::span<uint8_t>(ev.bytes), now_us_);
      drain(ev.node);
      return;
    }
    case Kind::kSent: {
      Pipe& pipe = pipes_[ev.pipe];
      if (pipe.generation != ev.generation || !pipe.side[ev.side].open) return;
      Pipe::Side& side = pipe.side[ev.side];
      Node& node = nodes_[ev.node];
      side.queued_bytes -= std::min<size_t>(side.queued_bytes, ev.size);
      node.queued_bytes -= std::min<size_t>(node.queued_bytes, ev.size);
      node.core->on_sent(ev.link, ev.size, now_us_);
      drain(ev.node);
      return;
    }
    case Kind::kClosed: {
      Node& node = nodes_[ev.node];
      if (!node.core || node.incarnation != ev.incarnation) return;
      auto it = node.pipes.find(ev.link);
      if (it != node.pipes.end()) {
        const uint32_t p = it->second;
        close_side(p,
                   pipes_[p].side[0].node == ev.node && pipes_[p].side[0].link == ev.link ? 0 : 1);
      }
      node.core->on_closed(ev.link, reason_text(ev.size), now_us_);
      drain(ev.node);
      return;
    }
  }
}

void Simulator::crash(NodeId n) {
  Node& node = nodes_[n];
  if (!node.core) return;
  retired_ += node.core->stats();
  std::vector<std::pair<LinkId, uint32_t>> links(node.pipes.begin(), node.pipes.end());
  std::sort(links.begin(), links.end());  // a fixed order, whatever the hash map's
  for (auto [link, p] : links) {
    Pipe& pipe = pipes_[p];
    const int s = pipe.side[0].node == n && pipe.side[0].link == link ? 0 : 1;
    const Pipe::Side other = pipe.side[1 - s];
    const int64_t latency = pipe.latency_us;
    close_side(p, s);
    if (other.open) {
      ++stats_.links_cut;
      closed_later(other.node, other.link, now_us_ + latency, kReset);
    }
  }
  node.core.reset();
  node.pipes.clear();
  node.connecting.clear();
  node.timer_at.reset();
  node.queued_bytes = 0;
  ++node.incarnation;
}

void Simulator::restart(NodeId n) {
  if (nodes_[n].core) return;
  start(n);
}

void Simulator::partition(const std::vector<std::vector<NodeId>>& groups) {
  group_.assign(nodes_.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    for (NodeId n : groups[g]) group_[n] = static_cast<uint16_t>(g + 1);
  for (uint32_t p = 0; p < pipes_.size(); ++p) {
    const Pipe::Side a = pipes_[p].side[0];
    const Pipe::Side b = pipes_[p].side[1];
    if (!a.open && !b.open) continue;
    if (group_[a.node] == group_[b.node]) continue;
    ++stats_.links_cut;
    if (a.open) {
      close_side(p, 0);
      closed_later(a.node, a.link, now_us_, kCut);
    }
    if (b.open) {
      close_side(p, 1);
      closed_later(b.node, b.link, now_us_, kCut);
    }
  }
}

void Simulator::heal() {
  group_.clear();
}

bool Simulator::run_until(int64_t until_us) {
  auto later = [](const Ev& x, const Ev& y) { return x.at != y.at ? x.at > y.at : x.seq > y.seq; };
  while (!queue_.empty() && queue_.front().at <= until_us) {
    if (stats_.events >= config_.max_events || queue_.size() > config_.max_events_pending) {
      stats_.event_cap_hit = true;
      return false;
    }
    std::pop_heap(queue_.begin(), queue_.end(), later);
    Ev ev = std::move(queue_.back());
    queue_.pop_back();
    ++stats_.events;
    now_us_ = std::max(now_us_, ev.at);
    handle(ev);
  }
  now_us_ = std::max(now_us_, until_us);
  return true;
}

bool Simulator::connected() const {
  if (nodes_.empty()) return true;
  std::map<overlay::PublicKey, NodeId> by_key;
  for (NodeId i = 0; i < nodes_.size(); ++i) by_key[key(i)] = i;
  std::vector<bool> seen(nodes_.size(), false);
  std::deque<NodeId> todo{0};
  seen[0] = true;
  size_t count = 1;
  while (!todo.empty()) {
    const NodeId at = todo.front();
    todo.pop_front();
    if (!nodes_[at].core) continue;
    for (const auto& p : nodes_[at].core->peers()) {
      auto j = by_key.find(p.key);
      if (j == by_key.end() || seen[j->second]) continue;
      seen[j->second] = true;
      ++count;
      todo.push_back(j->second);
    }
  }
  return count == nodes_.size();
}

}  // namespace chorus::swarm
