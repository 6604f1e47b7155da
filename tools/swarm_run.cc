// `chorus swarm` without --scenario (swarm_run.h): check the descriptors
// fit, start the nodes, wait until the overlay is connected, send the
// SHOUTs, then the DHT phase.
#include "swarm_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "chorus/dht/dht.h"
#include "chorus/dht/pair_key_cache.h"
#include "chorus/overlay/node.h"
#include "fd_limit.h"
#include "overlay_flags.h"
#include "progress.h"
#include "swarm_dht_phase.h"
#include "swarm_live.h"
#include "swarm_report.h"

namespace chorus::tools {

int run_swarm(const SwarmArgs& args) {
  auto codecs = parse_compression_list(args.compression);
  if (!codecs) {
    std::cerr << "chorus swarm: --compression: " << codecs.error().message() << "\n";
    return 2;
  }
  const size_t n = args.nodes;
  const size_t m = args.shouts;
  const bool with_dht = args.dht_puts > 0 || args.dht_gets > 0;
  std::mt19937_64 rng(args.seed);
  Progress progress(!args.json);
  const auto t0 = Clock::now();

  // Who listens: node 0 always; the rest by the requested fraction.
  size_t initiate_only = static_cast<size_t>(args.initiate_only * static_cast<double>(n) + 0.5);
  initiate_only = std::min(initiate_only, n - 1);
  std::vector<size_t> order(n - 1);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i + 1;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<SwarmNode> nodes(n);
  for (auto& sn : nodes) sn.listening = true;
  for (size_t i = 0; i < initiate_only; ++i) nodes[order[i]].listening = false;

  // Every node holds descriptors (loop, listener, DHT socket, links). Check
  // they fit before starting any, rather than fail at node 874 of 1024;
  // when the default links per node (ℓ) do not fit, fewer still make a
  // connected overlay, down to the degree the setup waits for.
  const size_t want_degree = std::min<size_t>(3, n - 1);
  NodeFdPlan fds{n, n - initiate_only, with_dht ? n : 0,
                 overlay::OverlayConfig{}.max_outbound_links};
  const size_t fds_default = descriptors_needed(fds);
  auto fd_limit = raise_descriptor_limit();
  if (!fd_limit) {
    std::cerr << "chorus swarm: " << fd_limit.error().to_string() << "\n";
    return 1;
  }
  while (fds.links_per_node > want_degree && descriptors_needed(fds) > *fd_limit)
    --fds.links_per_node;
  if (descriptors_needed(fds) > *fd_limit) {
    std::cerr << "chorus swarm: "
              << too_few_descriptors("a swarm of " + std::to_string(n) + " nodes",
                                     descriptors_needed(fds), *fd_limit)
                     .message()
              << "\n";
    return 1;
  }
  if (fds.links_per_node < overlay::OverlayConfig{}.max_outbound_links) {
    std::cerr << "chorus swarm: " << n << " nodes would need " << fds_default
              << " file descriptors and the open-files limit is " << *fd_limit
              << ": each node opens " << fds.links_per_node << " links instead of "
              << overlay::OverlayConfig{}.max_outbound_links << "\n";
  }

  std::atomic<uint64_t> delivered{0}, repeated{0};
  std::vector<overlay::SocketAddress> listeners;
  // Every node of the swarm is in this process: a pair of them computes the
  // key that seals its DHT datagrams once, not at both ends.
  auto pair_keys = std::make_shared<dht::PairKeyCache>();
  auto start_node = [&](size_t i) -> bool {
    SwarmNode& sn = nodes[i];
    sn.got.assign(m, 0);
    overlay::NodeOptions opts;
    opts.name = "n" + std::to_string(i);
    if (!sn.listening) opts.listen.reset();
    opts.overlay.compression = *codecs;
    opts.overlay.max_outbound_links = fds.links_per_node;
    std::vector<overlay::SocketAddress> pool = listeners;
    std::shuffle(pool.begin(), pool.end(), rng);
    for (size_t k = 0; k < pool.size() && k < 3; ++k) opts.overlay.bootstrap.push_back(pool[k]);
    auto node = overlay::Node::create(opts);
    if (!node) {
      std::cerr << "chorus swarm: " << node.error().to_string() << "\n";
      return false;
    }
    sn.node = std::move(*node);
    if (with_dht) {  // before start: the DHT hooks into the node's loop
      dht::DhtOptions d;
      d.bootstrap = opts.overlay.bootstrap;  // every listener runs a DHT on its port
      d.config.k = args.dht_k;
      d.config.pair_keys = pair_keys;
      auto created = dht::Dht::create(*sn.node, d);
      if (!created) {
        std::cerr << "chorus swarm: " << created.error().to_string() << "\n";
        return false;
      }
      sn.dht = std::move(*created);
    }
    SwarmNode* self = &sn;
    (void)sn.node->register_app(
        kSwarmApp, {.on_shout = [self, m, &delivered, &repeated](const overlay::ShoutInfo& s) {
          if (s.payload.size() < 12) return;
          uint32_t index = 0;
          int64_t sent = 0;
          std::memcpy(&index, s.payload.data(), 4);
          std::memcpy(&sent, s.payload.data() + 4, 8);
          if (index >= m) return;
          if (self->got[index]) {
            repeated.fetch_add(1, std::memory_order_relaxed);
            return;
          }
          self->got[index] = 1;
          self->latencies_ms.push_back(static_cast<double>(now_ns() - sent) / 1e6);
          delivered.fetch_add(1, std::memory_order_relaxed);
        }});
    if (auto r = sn.node->start(); !r) {
      std::cerr << "chorus swarm: node " << i << ": " << r.error().to_string() << "\n";
      return false;
    }
    if (sn.dht) {
      if (auto r = sn.dht->start(); !r) {
        std::cerr << "chorus swarm: node " << i << " dht: " << r.error().to_string() << "\n";
        return false;
      }
    }
    if (sn.listening) listeners.push_back(*sn.node->listen_address());
    return true;
  };
  // Listening nodes first, so everyone has someone to dial.
  for (size_t i = 0; i < n; ++i)
    if (nodes[i].listening && !start_node(i)) return 1;
  for (size_t i = 0; i < n; ++i)
    if (!nodes[i].listening && !start_node(i)) return 1;

  // Wait until the graph is connected and each node has a few links.
  using PeerList = std::vector<overlay::PublicKey>;
  std::map<overlay::PublicKey, size_t> index_of;
  for (size_t i = 0; i < n; ++i) index_of[nodes[i].node->key()] = i;
  size_t links = 0;
  bool connected = false;
  const auto setup_start = Clock::now();
  while (seconds_since(setup_start) < args.timeout_s) {
    auto lists = ask_all<PeerList>(nodes, [](overlay::Node& node) {
      PeerList out;
      for (auto& p : node.peers()) out.push_back(p.key);
      return out;
    });
    size_t degree_sum = 0, min_degree = n, up = 0;
    std::vector<std::vector<size_t>> adj(n);
    for (size_t i = 0; i < n; ++i) {
      degree_sum += lists[i].size();
      min_degree = std::min(min_degree, lists[i].size());
      if (!lists[i].empty()) ++up;
      for (auto& k : lists[i])
        if (index_of.count(k)) adj[i].push_back(index_of[k]);
    }
    std::vector<uint8_t> seen(n, 0);
    std::vector<size_t> stack{0};
    seen[0] = 1;
    size_t reached = 1;
    while (!stack.empty()) {
      size_t v = stack.back();
      stack.pop_back();
      for (size_t w : adj[v])
        if (!seen[w]) {
          seen[w] = 1;
          ++reached;
          stack.push_back(w);
        }
    }
    links = degree_sum / 2;
    connected = reached == n;
    progress.update("connecting | nodes up " + std::to_string(up) + "/" + std::to_string(n) +
                    " | links " + std::to_string(links) + " | reachable " +
                    std::to_string(reached) + "/" + std::to_string(n));
    if (connected && (min_degree >= want_degree || seconds_since(setup_start) > 10)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double setup_s = seconds_since(t0);
  progress.update("connected in " + std::to_string(setup_s).substr(0, 5) + " s | links " +
                      std::to_string(links),
                  true);
  progress.finish();
  if (!connected) {
    std::cerr << "chorus swarm: overlay not connected within " << args.timeout_s << " s\n";
  }

  auto totals = [&]() {
    return ask_all<overlay::NodeStats>(nodes, [](overlay::Node& node) { return node.stats(); });
  };
  auto before = totals();

  // SHOUT phase.
  const uint64_t expected = static_cast<uint64_t>(m) * (n - 1);
  const auto shout_start = Clock::now();
  for (size_t i = 0; i < m; ++i) {
    if (args.rate > 0) {  // pace the senders; latency then shows the overlay, not a queue
      std::this_thread::sleep_until(
          shout_start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / args.rate)));
    }
    size_t from = static_cast<size_t>(rng() % n);
    overlay::Node* node = nodes[from].node.get();
    node->post([node, i, size = args.payload_bytes] {
      Bytes payload(size, static_cast<uint8_t>(i));
      uint32_t index = static_cast<uint32_t>(i);
      int64_t sent = now_ns();
      std::memcpy(payload.data(), &index, 4);
      std::memcpy(payload.data() + 4, &sent, 8);
      node->shout(kSwarmApp, std::move(payload));
    });
  }
  while (delivered.load() < expected && seconds_since(shout_start) < args.timeout_s) {
    double s = seconds_since(shout_start);
    uint64_t d = delivered.load();
    double rate = s > 0 ? static_cast<double>(d) / s : 0;
    double eta = rate > 0 ? static_cast<double>(expected - d) / rate : 0;
    char line[200];
    std::snprintf(line, sizeof line,
                  "shouting | delivered %llu/%llu (%.1f%%) | %.0f deliveries/s | ETA %.1f s",
                  static_cast<unsigned long long>(d), static_cast<unsigned long long>(expected),
                  100.0 * static_cast<double>(d) / static_cast<double>(expected ? expected : 1),
                  rate, eta);
    progress.update(line);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double shout_s = seconds_since(shout_start);
  progress.update(
      "shouting | delivered " + std::to_string(delivered.load()) + "/" + std::to_string(expected),
      true);
  progress.finish();

  auto after = totals();
  const size_t links_at_setup = links;
  {
    auto degrees = ask_all<size_t>(nodes, [](overlay::Node& node) { return node.peers().size(); });
    size_t sum_degree = 0;
    for (size_t d : degrees) sum_degree += d;
    links = sum_degree / 2;
  }
  overlay::NodeStats sum;
  for (size_t i = 0; i < n; ++i) {
    sum.frames_sent += after[i].frames_sent - before[i].frames_sent;
    sum.bytes_sent += after[i].bytes_sent - before[i].bytes_sent;
    sum.duplicates_dropped += after[i].duplicates_dropped - before[i].duplicates_dropped;
    sum.shouts_rate_limited += after[i].shouts_rate_limited;
    sum.bad_signatures += after[i].bad_signatures;
  }
  DhtFigures dht_fig;
  if (with_dht) {
    dht_fig = run_dht_phase(nodes, args.dht_puts, args.dht_gets, args.dht_concurrency,
                            args.dht_leave, rng, args.timeout_s, progress);
  }
  for (auto& sn : nodes) {
    if (sn.dht) sn.dht->stop();
    sn.node->stop();
  }
  SwarmFigures f;
  for (auto& sn : nodes)
    f.latencies_ms.insert(f.latencies_ms.end(), sn.latencies_ms.begin(), sn.latencies_ms.end());
  f.nodes = n;
  f.shouts = m;
  f.initiate_only = initiate_only;
  f.links = links;
  f.links_at_setup = links_at_setup;
  f.links_per_node = fds.links_per_node;
  f.delivered = delivered.load();
  f.expected = expected;
  f.repeated = repeated.load();
  f.traffic = sum;
  f.setup_s = setup_s;
  f.shout_s = shout_s;
  f.compression = compression_list_text(*codecs);
  f.with_dht = with_dht;
  f.dht = std::move(dht_fig);
  return report_swarm(args, f) ? 0 : 1;
}

}  // namespace chorus::tools
