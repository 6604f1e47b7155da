// `chorus sim broadcast`: N simulated nodes (the production NodeCore on the
// swarm::Simulator's virtual clock) build an overlay, send W warm-up SHOUTs
// (in tree mode they prune the flood down to a tree), then B measured SHOUTs
// go out from random nodes while a fraction of the nodes crash and restart.
// Counts deliveries at the nodes that stayed up the whole broadcast window.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "chorus/swarm/simulator.h"
#include "commands.h"
#include "run_stats.h"

namespace chorus::tools {
namespace {

using swarm::NodeId;
constexpr overlay::AppId kSimApp = 1;
constexpr int64_t kMs = 1000;
constexpr int64_t kSecond = 1'000'000;
constexpr size_t kBootstrapNodes = 8;  // every node dials one of these ...
constexpr size_t kDialsPerNode = 3;    // ... and other random earlier nodes, this many in all

overlay::NodeStats total_stats(swarm::Simulator& sim) {
  using swarm::operator+=;
  overlay::NodeStats t = sim.retired_stats();
  for (NodeId i = 0; i < sim.size(); ++i)
    if (sim.core(i)) t += sim.core(i)->stats();
  return t;
}

// Every node reachable from node 0 over established links.
bool connected(swarm::Simulator& sim, const std::map<overlay::PublicKey, NodeId>& by_key) {
  std::vector<uint8_t> seen(sim.size(), 0);
  std::deque<NodeId> todo{0};
  seen[0] = 1;
  size_t count = 1;
  while (!todo.empty()) {
    NodeId at = todo.front();
    todo.pop_front();
    if (!sim.core(at)) continue;
    for (const auto& p : sim.core(at)->peers()) {
      auto it = by_key.find(p.key);
      if (it == by_key.end() || seen[it->second]) continue;
      seen[it->second] = 1;
      ++count;
      todo.push_back(it->second);
    }
  }
  return count == sim.size();
}

}  // namespace

Runner add_sim_broadcast_command(CLI::App& cmd) {
  struct Args {
    size_t nodes = 0;
    std::string mode = "flood";
    double churn = 0;
    size_t payload_bytes = 1024;
    size_t broadcasts = 10;
    size_t warmup = 5;
    uint64_t seed = 1;
    int64_t interval_ms = 100;
    int64_t connect_limit_s = 300;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--nodes", args->nodes, "number of simulated nodes")
      ->required()
      ->check(CLI::Range(size_t{2}, size_t{1'000'000}));
  cmd.add_option("--mode", args->mode,
                 "broadcast mode: flood (every link), or tree (epidemic broadcast tree: full "
                 "copies on tree links, id announcements on the others)")
      ->check(CLI::IsMember({"flood", "tree"}))
      ->capture_default_str();
  cmd.add_option("--churn", args->churn,
                 "fraction of nodes that crash and restart during the broadcast window")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd.add_option("--payload", args->payload_bytes, "bytes per SHOUT (at least 4)")
      ->check(CLI::Range(size_t{4}, size_t{256} << 10))
      ->capture_default_str();
  cmd.add_option("--broadcasts", args->broadcasts, "SHOUTs to send, each from a random node")
      ->check(CLI::Range(size_t{1}, size_t{100'000}))
      ->capture_default_str();
  cmd.add_option("--warmup", args->warmup,
                 "SHOUTs sent before the measured ones (and before churn), not counted")
      ->check(CLI::Range(size_t{0}, size_t{10'000}))
      ->capture_default_str();
  cmd.add_option("--seed", args->seed, "simulation seed; a run replays exactly from it")
      ->capture_default_str();
  cmd.add_option("--interval-ms", args->interval_ms, "virtual time between two SHOUTs")
      ->check(CLI::Range(int64_t{1}, int64_t{60'000}))
      ->capture_default_str();
  cmd.add_option("--connect-limit-s", args->connect_limit_s,
                 "virtual seconds allowed for the overlay to become connected")
      ->capture_default_str();
  cmd.add_flag("--json", args->json, "print one JSON line instead of text");
  cmd.footer(
      "Output: delivered_ratio = deliveries / (broadcasts x (nodes up for the whole window - 1));\n"
      "over the measured broadcasts (after --warmup ones): payload_frames_per_broadcast = SHOUT\n"
      "messages sent (origin, relays, GRAFT answers); bytes_per_broadcast = encoded bytes of\n"
      "every SHOUT, IHAVE, GRAFT and PRUNE sent plus their 4-byte record prefixes (frame\n"
      "headers and tags not included: wire_bytes_per_broadcast is every byte sent in the\n"
      "window, pings and churn handshakes too); frames_per_node = all frames sent in the\n"
      "window / nodes. warmup.* is the same for the warm-up broadcasts. Exit 1 when\n"
      "delivered_ratio < 1.");

  return [args]() -> int {
    const Args& a = *args;
    const auto wall_start = std::chrono::steady_clock::now();
    const size_t n = a.nodes;
    const size_t b = a.broadcasts;
    swarm::SimConfig sc;
    sc.seed = a.seed;
    swarm::Simulator sim(sc);
    auto& rng = sim.rng();

    // Topology: each node dials one bootstrap node and other earlier nodes.
    overlay::OverlayConfig base;
    base.rotate_interval_ms = 0;  // keep the graph as built; churn moves it enough
    if (a.mode == "tree") base.tree_shout_apps = {kSimApp};
    std::vector<int64_t> sent_at(b, -1);
    std::vector<uint8_t> churned(n, 0);
    std::vector<std::vector<uint8_t>> got(n);  // per live-throughout node: per broadcast
    std::vector<double> latency_ms;
    uint64_t deliveries = 0;
    sim.on_start = [](NodeId, overlay::NodeCore& core) { core.register_app(kSimApp); };
    sim.on_event = [&](NodeId node, overlay::Event& e) {
      auto* s = std::get_if<overlay::ShoutEvent>(&e);
      if (!s || s->app != kSimApp || s->payload.size() < 4 || churned[node]) return;
      const uint32_t tag = uint32_t{s->payload[0]} << 24 | uint32_t{s->payload[1]} << 16 |
                           uint32_t{s->payload[2]} << 8 | s->payload[3];
      if (tag >= b || sent_at[tag] < 0 || got[node].empty() || got[node][tag]) return;
      got[node][tag] = 1;
      ++deliveries;
      latency_ms.push_back(static_cast<double>(sim.now_us() - sent_at[tag]) / kMs);
    };
    for (size_t i = 0; i < n; ++i) {
      overlay::OverlayConfig c = base;
      if (i > 0) {
        std::vector<size_t> picks{rng() % std::min(i, kBootstrapNodes)};
        for (size_t tries = 0; picks.size() < std::min(i, kDialsPerNode) && tries < 32; ++tries) {
          size_t j = rng() % i;
          if (std::find(picks.begin(), picks.end(), j) == picks.end()) picks.push_back(j);
        }
        for (size_t j : picks) c.bootstrap.push_back(sim.address(static_cast<NodeId>(j)));
      }
      got[i].assign(b, 0);
      sim.add_node(std::move(c));
    }
    std::map<overlay::PublicKey, NodeId> by_key;
    for (NodeId i = 0; i < n; ++i) by_key[sim.key(i)] = i;
    const double rss_after_build = rss_mb();

    // Phase 1: until the overlay is one connected graph.
    while (!connected(sim, by_key)) {
      if (sim.now_us() >= a.connect_limit_s * kSecond || !sim.run_until(sim.now_us() + kSecond)) {
        std::cerr << "chorus sim broadcast: overlay not connected after " << sim.now_us() / kSecond
                  << " virtual seconds\n";
        return 1;
      }
    }
    const int64_t connected_at = sim.now_us();
    sim.run_until(sim.now_us() + 2 * kSecond);  // let peer exchange settle

    // Warm-up: SHOUTs that are not measured (their tags are >= b, so no
    // delivery counts them). In tree mode the first ones flood and prune.
    Bytes warm_payload(a.payload_bytes, 0);
    for (auto& c : warm_payload) c = static_cast<uint8_t>(rng());
    const overlay::NodeStats warm_before = total_stats(sim);
    const int64_t warm_t0 = sim.now_us();
    for (size_t k = 0; k < a.warmup; ++k) {
      const NodeId from = static_cast<NodeId>(rng() % n);
      sim.at(warm_t0 + static_cast<int64_t>(k) * a.interval_ms * kMs, [&, from, k] {
        Bytes p = warm_payload;  // random like the measured ones, so as incompressible
        p[0] = 0xff;             // tag >= b: never counted as a delivery
        p[3] = static_cast<uint8_t>(k);
        p[2] = static_cast<uint8_t>(k >> 8);
        sim.command(from, [&p](overlay::NodeCore& core, int64_t now) {
          (void)core.shout(kSimApp, p, now);
        });
      });
    }
    if (a.warmup > 0) {
      sim.run_until(warm_t0 + static_cast<int64_t>(a.warmup) * a.interval_ms * kMs + 3 * kSecond);
    }
    const overlay::NodeStats warm_after = total_stats(sim);

    // Phase 2: the broadcast window, with churn.
    const int64_t t0 = sim.now_us() + kSecond;
    const int64_t window =
        std::max<int64_t>(static_cast<int64_t>(b) * a.interval_ms * kMs, 2 * kSecond);
    std::vector<NodeId> order(n);
    for (NodeId i = 0; i < n; ++i) order[i] = i;
    for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    const size_t churn_count =
        std::min(n - 2, static_cast<size_t>(a.churn * static_cast<double>(n) + 0.5));
    for (size_t k = 0; k < churn_count; ++k) {
      const NodeId victim = order[k];
      churned[victim] = 1;
      got[victim].clear();
      const int64_t down = t0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(window / 2));
      const int64_t up =
          down + window / 4 + static_cast<int64_t>(rng() % static_cast<uint64_t>(window / 4));
      sim.at(down, [&sim, victim] { sim.crash(victim); });
      sim.at(up, [&sim, victim] { sim.restart(victim); });
    }
    const size_t live = n - churn_count;
    Bytes payload(a.payload_bytes, 0);
    for (size_t i = 4; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(rng());
    for (size_t k = 0; k < b; ++k) {
      const NodeId from = order[churn_count + rng() % live];
      sim.at(t0 + static_cast<int64_t>(k) * a.interval_ms * kMs, [&, from, k] {
        Bytes p = payload;
        for (int s = 0; s < 4; ++s)
          p[static_cast<size_t>(s)] = static_cast<uint8_t>(k >> (24 - 8 * s));
        sent_at[k] = sim.now_us();
        got[from][k] = 1;  // the sender does not count
        sim.command(from, [&p](overlay::NodeCore& core, int64_t now) {
          auto r = core.shout(kSimApp, p, now);
          if (!r.ok()) std::cerr << "shout failed: " << r.error().to_string() << "\n";
        });
      });
    }
    sim.run_until(t0 - 1);
    const overlay::NodeStats before = total_stats(sim);
    const uint64_t expected = static_cast<uint64_t>(b) * (live - 1);
    const int64_t give_up = t0 + window + 30 * kSecond;
    bool bounded = sim.run_until(t0 + window);
    while (bounded && deliveries < expected && sim.now_us() < give_up) {
      bounded = sim.run_until(sim.now_us() + 500 * kMs);
    }
    const overlay::NodeStats after = total_stats(sim);

    const double ratio = static_cast<double>(deliveries) / static_cast<double>(expected);
    const double p50 = percentile(latency_ms, 0.50), p99 = percentile(latency_ms, 0.99);
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    const double rss = rss_mb();
    const double bd = static_cast<double>(b);
    // Everything sent for broadcasts between two snapshots, per broadcast.
    auto costs = [n](const overlay::NodeStats& x, const overlay::NodeStats& y, double count) {
      const uint64_t messages = (y.shouts_sent - x.shouts_sent) + (y.ihaves_sent - x.ihaves_sent) +
                                (y.grafts_sent - x.grafts_sent) + (y.prunes_sent - x.prunes_sent);
      const uint64_t bytes = (y.shout_bytes_sent - x.shout_bytes_sent) +
                             (y.ihave_bytes_sent - x.ihave_bytes_sent) +
                             (y.graft_bytes_sent - x.graft_bytes_sent) +
                             (y.prune_bytes_sent - x.prune_bytes_sent) + 4 * messages;
      auto per = [count](uint64_t v) { return static_cast<double>(v) / count; };
      nlohmann::json c;
      c["payload_frames_per_broadcast"] = per(y.shouts_sent - x.shouts_sent);
      c["bytes_per_broadcast"] = per(bytes);
      c["frames_per_node"] =
          static_cast<double>(y.frames_sent - x.frames_sent) / static_cast<double>(n);
      c["wire_bytes_per_broadcast"] = per(y.bytes_sent - x.bytes_sent);
      c["ihaves_per_broadcast"] = per(y.ihaves_sent - x.ihaves_sent);
      c["grafts_per_broadcast"] = per(y.grafts_sent - x.grafts_sent);
      c["prunes_per_broadcast"] = per(y.prunes_sent - x.prunes_sent);
      c["graft_answers_per_broadcast"] = per(y.grafts_answered - x.grafts_answered);
      return c;
    };
    nlohmann::json j;
    j["nodes"] = n;
    j["mode"] = a.mode;
    j["delivered_ratio"] = ratio;
    j.update(costs(before, after, bd));
    j["payload_frames_per_node_per_broadcast"] =
        j["payload_frames_per_broadcast"].get<double>() / static_cast<double>(n);
    j["bytes_per_node_per_broadcast"] =
        j["bytes_per_broadcast"].get<double>() / static_cast<double>(n);
    j["latency_ms"] = {{"p50", p50}, {"p99", p99}};
    j["measured"] = "the --broadcasts SHOUTs after the warm-up, under churn";
    if (a.warmup > 0) {
      j["warmup"] = costs(warm_before, warm_after, static_cast<double>(a.warmup));
      j["warmup"]["broadcasts"] = a.warmup;
    }
    j["virtual_s"] = static_cast<double>(sim.now_us()) / kSecond;
    j["wall_s"] = wall_s;
    j["rss_mb"] = rss;
    j["seed"] = a.seed;
    j["broadcasts"] = b;
    j["churned"] = churn_count;
    j["deliveries"] = deliveries;
    j["expected"] = expected;
    j["connected_virtual_s"] = static_cast<double>(connected_at) / kSecond;
    j["rss_kb_per_node"] = rss * 1024.0 / static_cast<double>(n);
    j["rss_after_build_mb"] = rss_after_build;
    j["events"] = sim.stats().events;
    if (!bounded) j["stopped_by_bound"] = true;
    if (a.json) {
      std::cout << j.dump() << std::endl;
    } else {
      std::cout << j.dump(2) << std::endl;
    }
    return bounded && deliveries == expected ? 0 : 1;
  };
}

}  // namespace chorus::tools
