// Simulator: the deterministic discrete-event driver for NodeCore.
//
// It runs the same sans-IO NodeCore as production (the libuv Node) on a
// virtual clock, with N nodes in one process and links made of nothing but
// queued events. A run is a pure function of its seed and the calls made on
// the simulator: one event queue ordered by (time, sequence number), one
// std::mt19937_64, node seeds derived from the simulator seed.
//
// What is simulated (see swarm/README.md for more):
//   * TCP-like links: a per-link one-way latency drawn once (base + uniform or
//     exponential jitter), FIFO per direction, bandwidth per direction (a send
//     of S bytes occupies its direction for S / bandwidth, then arrives one
//     latency later; on_sent fires when it has left), connect latency;
//   * partitions: a connect across groups fails, links across groups are cut
//     (on_closed on both sides, in-flight bytes lost);
//   * crash (state lost, peers see a reset one latency later) and restart (a
//     fresh NodeCore with the same identity and config).
// What is not: packet loss inside a link (TCP hides it; a lossy link is a
// slower one), reordering, half-open connections, clock skew, CPU time (a
// core's work takes zero virtual time), real sockets (addresses are labels
// in 127.1.0.0/16; nothing is ever sent).
//
// The driver holds no protocol logic: it feeds inputs, drains the core in the
// order node_core.h asks (flush, actions, events, next timer) and carries the
// bytes. Not thread-safe; one thread drives a simulator.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "chorus/overlay/node_core.h"

namespace chorus::swarm {

using NodeId = uint32_t;

struct LinkModel {
  // One-way latency of a link, drawn when it is made: base + jitter, where
  // jitter is uniform in [0, jitter_us) or exponential with mean jitter_us.
  int64_t latency_base_us = 10'000;
  int64_t latency_jitter_us = 20'000;
  bool exponential_jitter = false;
  // Bytes per second in each direction of each link; 0 = unlimited.
  double bandwidth_bytes_per_s = 12.5e6;
  // From ConnectAction to the target's on_accepted; the dialler's
  // on_connected (or on_connect_failed) comes one link latency later.
  int64_t connect_latency_us = 10'000;
};

struct SimConfig {
  uint64_t seed = 1;
  LinkModel link{};
  // Bounds, so that a bug cannot run away.
  uint64_t max_events = 4'000'000'000;      // run_until stops once this many ran
  size_t max_node_queue_bytes = 64u << 20;  // unsent bytes one node may have in links;
                                            // a send beyond it resets that link
  size_t max_events_pending = 50'000'000;   // queued events; beyond, run_until stops
};

struct SimStats {
  uint64_t events = 0;                // events processed
  uint64_t bytes_delivered = 0;       // on_bytes payload
  uint64_t connects = 0;              // ConnectActions seen
  uint64_t connects_failed = 0;       // refused, partitioned or target down
  uint64_t links_cut = 0;             // by partitions and crashes
  uint64_t links_reset_overflow = 0;  // by max_node_queue_bytes
  bool event_cap_hit = false;
};

class Simulator {
 public:
  explicit Simulator(SimConfig config);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Adds and starts a node at the current time. `config.seed` and
  // `config.listen_port` are set by the simulator (seed derived from the
  // simulator seed, the node id and its incarnation); the identity comes from
  // a derived seed too. `on_start` runs on its new core.
  NodeId add_node(overlay::OverlayConfig config);

  size_t size() const { return nodes_.size(); }
  int64_t now_us() const { return now_us_; }
  std::mt19937_64& rng() { return rng_; }
  const SimStats& stats() const { return stats_; }
  const overlay::SocketAddress& address(NodeId n) const { return nodes_[n].address; }
  const overlay::PublicKey& key(NodeId n) const { return nodes_[n].identity.public_key(); }
  bool is_up(NodeId n) const { return nodes_[n].core != nullptr; }
  // Null while the node is down. Use command() to call into it.
  overlay::NodeCore* core(NodeId n) { return nodes_[n].core.get(); }
  // Stats of every incarnation of the node that has ended (crashed), summed.
  overlay::NodeStats retired_stats() const { return retired_; }
  // True when every node is reachable from node 0 over the links the up
  // nodes report (a crashed node counts while a live one still lists it).
  // What a test waits for before it broadcasts.
  bool connected() const;

  // Runs `fn(core, now_us)` on an up node's core, then drains it. Returns
  // false when the node is down. Do not call from inside on_event.
  bool command(NodeId n, const std::function<void(overlay::NodeCore&, int64_t)>& fn);

  // Faults. crash: the core is dropped; peers see on_closed one latency later;
  // bytes in flight to it are lost. restart: a fresh core, same identity and
  // config (its config seed moves on, so it does not replay its random draws).
  void crash(NodeId n);
  void restart(NodeId n);
  // Every node listed goes into its group; nodes not listed form group 0
  // (so groups are numbered from 1). Links across groups are cut now.
  void partition(const std::vector<std::vector<NodeId>>& groups);
  void heal();

  // Runs `fn` at virtual time `at_us` (not before now).
  void at(int64_t at_us, std::function<void()> fn);

  // Processes every event due up to `until_us`, then sets the clock there.
  // False when a bound stopped it (stats().event_cap_hit).
  bool run_until(int64_t until_us);

  // Hooks. on_start: a core was made (add_node, restart): register apps here.
  // on_event: an event polled from node n's core (in drain order). It may
  // call that core's shout_verdict (validate before forward); what that
  // sends goes out in the same drain.
  std::function<void(NodeId, overlay::NodeCore&)> on_start;
  std::function<void(NodeId, overlay::Event&)> on_event;

 private:
  struct Node {
    std::unique_ptr<overlay::NodeCore> core;  // null while down
    overlay::Identity identity;
    overlay::OverlayConfig config;
    overlay::SocketAddress address;
    uint32_t incarnation = 0;
    std::unordered_map<overlay::LinkId, uint32_t> pipes;  // link → pipe
    std::vector<overlay::LinkId> connecting;              // ConnectActions not yet answered
    std::optional<int64_t> timer_at;                      // the live timer event
    size_t queued_bytes = 0;                              // sent, not yet left the node
  };
  // A connection: two sides, each a node's link.
  struct Pipe {
    struct Side {
      NodeId node = 0;
      overlay::LinkId link = 0;
      bool open = false;
      int64_t busy_until_us = 0;  // the direction away from this side is busy until then
      size_t queued_bytes = 0;
    };
    Side side[2];
    int64_t latency_us = 0;
    uint32_t generation = 0;  // bumped when freed; stale events carry the old one
  };
  enum class Kind : uint8_t {
    kTimer,
    kConnect,
    kConnected,
    kConnectFailed,
    kBytes,
    kSent,
    kClosed,
    kScript
  };
  struct Ev {
    int64_t at = 0;
    uint64_t seq = 0;
    Kind kind = Kind::kTimer;
    uint8_t side = 0;
    NodeId node = 0;
    uint32_t incarnation = 0;
    uint32_t pipe = 0;  // kConnect: the target node (or kNone)
    uint32_t generation = 0;
    overlay::LinkId link = 0;
    uint64_t size = 0;  // kSent: bytes; kScript: script index; kClosed/kConnectFailed: reason
    chorus::Bytes bytes;
  };

  void start(NodeId n);
  void drain(NodeId n);
  void push(Ev ev);
  void handle(Ev& ev);
  void close_side(uint32_t pipe, int side);
  void closed_later(NodeId n, overlay::LinkId link, int64_t at_us, uint64_t reason);
  uint32_t new_pipe();
  int64_t draw_latency();
  std::optional<NodeId> node_at(const overlay::SocketAddress& a) const;
  bool same_group(NodeId a, NodeId b) const;

  SimConfig config_;
  std::mt19937_64 rng_;
  int64_t now_us_ = 0;
  uint64_t seq_ = 0;
  std::vector<Node> nodes_;
  std::vector<Pipe> pipes_;
  std::vector<uint32_t> free_pipes_;
  std::vector<std::function<void()>> scripts_;
  std::vector<uint32_t> free_scripts_;
  std::vector<Ev> queue_;        // a min-heap on (at, seq)
  std::vector<uint16_t> group_;  // per node; empty = no partition
  overlay::NodeStats retired_;
  SimStats stats_;
  uint16_t next_ephemeral_port_ = 0;
};

// The sum of every field of two NodeStats.
overlay::NodeStats& operator+=(overlay::NodeStats& a, const overlay::NodeStats& b);

}  // namespace chorus::swarm
