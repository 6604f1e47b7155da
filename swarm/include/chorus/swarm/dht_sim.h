// DhtSim: the deterministic simulator driver for DhtCore.
//
// N DhtCores in one process exchange datagrams through an event queue on a
// virtual clock — the same cores the libuv dht::Dht runs, only the plumbing
// differs. A run is a pure function of its seed and the calls made on it.
//
// What is simulated:
//   * datagrams: one-way delay = base + uniform jitter drawn per datagram
//     (so they may reorder, like UDP), independent loss with probability
//     `loss`, no duplication;
//   * bandwidth: with `uplink_bytes_per_s`, each node's uplink is a FIFO —
//     a datagram (plus 28 bytes of IP/UDP header) leaves once the ones
//     queued before it have, then takes its latency; a datagram that would
//     wait longer than `max_uplink_backlog_us` is dropped, as a full socket
//     buffer drops it (counted in datagrams_uplink_dropped);
//   * partitions: datagrams across groups are dropped;
//   * crash (the core and everything it stored is gone; datagrams to it are
//     lost) and restart (a fresh core, same identity and address, empty
//     store — it has to join again);
//   * clocks: each node's monotonic clock may be offset and run at its own
//     rate (local = virtual × (1 + drift) + offset), so leases see skew and
//     hosts booted at different times (offsets of hours or days) are
//     modelled; its wall clock (what datagram nonces carry) is virtual time
//     plus a small skew of its own (set_wall_skew), as NTP-synced hosts have.
// Not simulated: CPU time (a core's work takes no virtual time), MTU.
//
// Reach (optional, dht_sim_reach.cc): enable_reach gives a node a
// dht::ReachCore — the same core the libuv dht::Reach runs — over a model
// of overlay links: a node is listening (others may dial it) or
// initiate-only (it only dials out); a dial to a listening, up node in the
// same group links both ends after a round trip; a send travels over the
// link (or over two, through a relay that relays), one latency draw per
// hop each way; the addressee's app acks a WHISPER with the BLAKE2b-256 of
// the payload and answers a request "re:" + payload. Node records are put
// in the simulated DHT by the ReachCores themselves.
//
// Not thread-safe; one thread drives a simulator.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "chorus/dht/dht_core.h"
#include "chorus/dht/reach_core.h"

namespace chorus::swarm {

using SimNode = uint32_t;

struct DhtSimConfig {
  uint64_t seed = 1;
  int64_t latency_base_us = 10'000;
  int64_t latency_jitter_us = 40'000;  // uniform in [0, jitter)
  double loss = 0.0;
  uint64_t uplink_bytes_per_s = 0;            // per node; 0: unlimited
  int64_t max_uplink_backlog_us = 1'000'000;  // longer waits are dropped
  dht::DhtConfig dht{};                       // every node's config (seed set per node)
  size_t max_events_pending = 50'000'000;     // beyond, run_until stops
};

struct ReachSimStats {
  uint64_t dials = 0, dials_failed = 0;
  uint64_t sends = 0, relayed_sends = 0, sends_failed = 0;
  uint64_t delivered = 0;  // to the addressee's app
};

struct DhtSimStats {
  uint64_t events = 0;
  uint64_t datagrams = 0;
  uint64_t datagrams_lost = 0;            // loss model
  uint64_t datagrams_partitioned = 0;     // dropped across groups
  uint64_t datagrams_to_down = 0;         // destination crashed
  uint64_t datagrams_uplink_dropped = 0;  // sender's uplink backlog too long
  bool event_cap_hit = false;
};

class DhtSim {
 public:
  explicit DhtSim(DhtSimConfig config);
  ~DhtSim();
  DhtSim(const DhtSim&) = delete;
  DhtSim& operator=(const DhtSim&) = delete;

  // Adds and starts a node now. Its identity comes from the seed and index.
  SimNode add_node();
  size_t size() const { return nodes_.size(); }

  // Fills every up node's routing table from global knowledge, as if each
  // had joined long ago: each bucket gets up to `per_bucket` random members
  // of its subtree. Costs no messages (a large simulation would otherwise
  // spend most of its time joining). Keep per_bucket ≤ k, or full buckets
  // send eviction PINGs.
  void warm_start(size_t per_bucket = 20);

  bool is_up(SimNode n) const { return nodes_[n].core != nullptr; }
  dht::DhtCore* core(SimNode n) { return nodes_[n].core.get(); }
  const dht::Contact& contact(SimNode n) const { return nodes_[n].contact; }
  const overlay::Identity& identity(SimNode n) const { return nodes_[n].identity; }

  int64_t now_us() const { return now_us_; }
  // A node's own clock at virtual time t, and back.
  int64_t local_us(SimNode n, int64_t virtual_us) const;
  int64_t virtual_us(SimNode n, int64_t local_us) const;
  void set_clock(SimNode n, int64_t offset_us, double drift);
  // The node's wall clock runs `skew_us` ahead of virtual time (negative:
  // behind). Default 0.
  void set_wall_skew(SimNode n, int64_t skew_us);

  // Runs fn(core, local_now_us) on an up node, then drains it. False if down.
  bool command(SimNode n, const std::function<void(dht::DhtCore&, int64_t)>& fn);

  void crash(SimNode n);
  void restart(SimNode n);
  // Nodes listed go into groups 1, 2, ...; the rest form group 0.
  void partition(const std::vector<std::vector<SimNode>>& groups);
  void heal();

  // Runs fn at virtual time at_us (not before now).
  void at(int64_t at_us, std::function<void()> fn);
  // Processes events due up to until_us, then sets the clock there. False
  // when a bound stopped it.
  bool run_until(int64_t until_us);

  // Events polled from node n's core, in drain order. Do not call command()
  // from here (the core is being drained); schedule follow-ups with at().
  std::function<void(SimNode, dht::DhtEvent&)> on_event;

  // ---- Reach (see the top of this file)
  // Gives node n a ReachCore, started now (and again after each restart).
  void enable_reach(SimNode n, bool listening, dht::ReachCoreOptions options = {});
  dht::ReachCore* reach(SimNode n) { return nodes_[n].reach.get(); }
  // An overlay link between a and b now (topology set-up; a dial takes a
  // round trip instead). Both must be up with Reach enabled.
  void link(SimNode a, SimNode b);
  bool linked(SimNode a, SimNode b) const { return nodes_[a].links.contains(b); }
  void set_relaying(SimNode n, bool on) { nodes_[n].relaying = on; }
  // Runs fn(reach, local_now_us) on an up node with Reach, then drains it.
  bool reach_command(SimNode n, const std::function<void(dht::ReachCore&, int64_t)>& fn);
  // A send finished (Completed from node n's ReachCore).
  std::function<void(SimNode, const dht::Completed&)> on_reach_done;
  // A WHISPER or request reached node `to`'s app.
  std::function<void(SimNode to, SimNode from, overlay::AppId, const Bytes&, bool relayed)>
      on_deliver;
  const ReachSimStats& reach_stats() const { return reach_stats_; }

  std::mt19937_64& rng() { return rng_; }
  const DhtSimStats& stats() const { return stats_; }
  // Sum of every up core's stats.
  dht::DhtStats total_core_stats() const;

 private:
  struct Node {
    std::unique_ptr<dht::DhtCore> core;
    overlay::Identity identity;
    dht::Contact contact;
    dht::ContactPool::Handle pooled = 0;  // our reference to `contact` in the shared pool
    uint32_t incarnation = 0;
    int64_t timer_at = -1;
    int64_t uplink_free_us = 0;  // when the uplink has sent what is queued
    int64_t clock_offset_us = 0;
    double clock_drift = 0;
    int64_t wall_skew_us = 0;
    // Reach
    bool reach_enabled = false;
    bool listening = true;
    bool relaying = true;
    dht::ReachCoreOptions reach_options{};
    std::unique_ptr<dht::ReachCore> reach{};
    std::set<SimNode> links{};
    int64_t reach_timer_at = -1;  // virtual
    enum class Waits : uint8_t { kRecord, kContacts, kPublish };
    std::map<dht::Token, std::pair<dht::ReachOp, Waits>> reach_tokens{};
  };
  enum class Kind : uint8_t { kDatagram, kTimer, kScript, kReachTimer };
  struct Ev {
    int64_t at = 0;
    uint64_t seq = 0;
    Kind kind = Kind::kTimer;
    SimNode node = 0;
    SimNode from = 0;
    uint32_t incarnation = 0;
    size_t script = 0;
    Bytes bytes;
  };
  struct Later {
    bool operator()(const Ev& a, const Ev& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  void start(SimNode n);
  void drain(SimNode n);
  void push(Ev ev);
  // Arms a timer event of `kind` for node n at `local_at_us` by n's clock
  // (a core's or ReachCore's deadline), remembered in `armed_at` (virtual
  // time) so the handler can tell the latest arming from stale ones. An
  // arming at the time already armed adds no event.
  void push_timer(SimNode n, Kind kind, int64_t local_at_us, int64_t& armed_at);
  void handle(Ev& ev);
  bool same_group(SimNode a, SimNode b) const;
  // Reach (dht_sim_reach.cc)
  void start_reach(SimNode n);
  void stop_reach(SimNode n);
  bool reach_event(SimNode n, dht::DhtEvent& event);  // true: it was Reach's
  bool drain_reach(SimNode n);                        // true: DHT commands issued
  void reach_action(SimNode n, dht::ReachAction& action);
  void unlink_all(SimNode n);
  void relays_changed(SimNode n);
  int64_t hop_delay();
  std::vector<dht::Contact> relays_of(SimNode n) const;

  DhtSimConfig config_;
  std::mt19937_64 rng_;
  int64_t now_us_ = 0;
  // Tells node n's core its wall clock and returns its local (monotonic)
  // time: what every input to a core is given.
  int64_t feed_clock(SimNode n);
  uint64_t seq_ = 0;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, SimNode> by_host_;
  std::vector<Ev> queue_;  // min-heap by (at, seq)
  std::vector<std::function<void()>> scripts_;
  std::vector<uint16_t> group_;
  DhtSimStats stats_;
  ReachSimStats reach_stats_;
};

}  // namespace chorus::swarm
