// `chorus swarm`: N real nodes (libuv, TCP on 127.0.0.1, one loop thread
// each) in this process. Waits until the overlay is connected, sends M SHOUTs
// from random nodes and counts distinct deliveries at every other node.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "chorus/overlay/node.h"
#include "commands.h"
#include "run_stats.h"
#include "overlay_flags.h"
#include "progress.h"

namespace chorus::tools {
namespace {

using Clock = std::chrono::steady_clock;
constexpr overlay::AppId kSwarmApp = 1;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct SwarmNode {
  std::unique_ptr<overlay::Node> node;
  bool listening = false;
  std::vector<uint8_t> got;          // per SHOUT index; loop thread only
  std::vector<double> latencies_ms;  // loop thread only
};

// Runs `fn` on every node's loop thread and waits for all (bounded).
template <typename T>
std::vector<T> ask_all(std::vector<SwarmNode>& nodes, const std::function<T(overlay::Node&)>& fn) {
  std::vector<std::future<T>> futures;
  for (auto& n : nodes) {
    auto p = std::make_shared<std::promise<T>>();
    futures.push_back(p->get_future());
    overlay::Node* node = n.node.get();
    node->post([p, node, fn] { p->set_value(fn(*node)); });
  }
  std::vector<T> out;
  for (auto& f : futures) {
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      out.push_back(T{});
      continue;
    }
    out.push_back(f.get());
  }
  return out;
}

}  // namespace

Runner add_swarm_command(CLI::App& cmd) {
  struct Args {
    size_t nodes = 16;
    size_t shouts = 100;
    double initiate_only = 0.0;
    uint64_t seed = 1;
    bool json = false;
    double timeout_s = 60;
    size_t payload_bytes = 200;
    std::string compression = "default";
    double rate = 0;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--nodes", args->nodes, "number of nodes")
      ->capture_default_str()
      ->check(CLI::Range(2, 2000));
  cmd.add_option("--shouts", args->shouts, "SHOUTs to send, each from a random node")
      ->capture_default_str();
  cmd.add_option("--initiate-only", args->initiate_only,
                 "fraction of nodes that never listen (they only dial out)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  cmd.add_option("--seed", args->seed, "seed for topology and senders")->capture_default_str();
  cmd.add_option("--payload", args->payload_bytes, "bytes per SHOUT (at least 12)")
      ->capture_default_str()
      ->check(CLI::Range(12, 65536));
  cmd.add_option("--timeout", args->timeout_s, "seconds allowed for setup and for delivery each")
      ->capture_default_str();
  cmd.add_option("--compression", args->compression,
                 "codecs every node offers (e.g. snappy,zlib), 'none' or 'default'")
      ->capture_default_str();
  cmd.add_option("--rate", args->rate,
                 "SHOUTs per second across the swarm (0: all at once, a burst)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd.add_flag("--json", args->json, "print one JSON line and no progress display");

  return [args]() -> int {
    auto codecs = parse_compression_list(args->compression);
    if (!codecs) {
      std::cerr << "chorus swarm: --compression: " << codecs.error().message() << "\n";
      return 2;
    }
    const size_t n = args->nodes;
    const size_t m = args->shouts;
    std::mt19937_64 rng(args->seed);
    Progress progress(!args->json);
    const auto t0 = Clock::now();

    // Who listens: node 0 always; the rest by the requested fraction.
    size_t initiate_only = static_cast<size_t>(args->initiate_only * static_cast<double>(n) + 0.5);
    initiate_only = std::min(initiate_only, n - 1);
    std::vector<size_t> order(n - 1);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i + 1;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<SwarmNode> nodes(n);
    for (auto& sn : nodes) sn.listening = true;
    for (size_t i = 0; i < initiate_only; ++i) nodes[order[i]].listening = false;

    std::atomic<uint64_t> delivered{0}, repeated{0};
    std::vector<overlay::SocketAddress> listeners;
    auto start_node = [&](size_t i) -> bool {
      SwarmNode& sn = nodes[i];
      sn.got.assign(m, 0);
      overlay::NodeOptions opts;
      opts.name = "n" + std::to_string(i);
      if (!sn.listening) opts.listen.reset();
      opts.overlay.compression = *codecs;
      std::vector<overlay::SocketAddress> pool = listeners;
      std::shuffle(pool.begin(), pool.end(), rng);
      for (size_t k = 0; k < pool.size() && k < 3; ++k) opts.overlay.bootstrap.push_back(pool[k]);
      auto node = overlay::Node::create(opts);
      if (!node) {
        std::cerr << "chorus swarm: " << node.error().to_string() << "\n";
        return false;
      }
      sn.node = std::move(*node);
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
    const size_t want_degree = std::min<size_t>(3, n - 1);
    size_t links = 0;
    bool connected = false;
    const auto setup_start = Clock::now();
    while (seconds_since(setup_start) < args->timeout_s) {
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
      std::cerr << "chorus swarm: overlay not connected within " << args->timeout_s << " s\n";
    }

    auto totals = [&]() {
      return ask_all<overlay::NodeStats>(nodes, [](overlay::Node& node) { return node.stats(); });
    };
    auto before = totals();

    // SHOUT phase.
    const uint64_t expected = static_cast<uint64_t>(m) * (n - 1);
    const auto shout_start = Clock::now();
    for (size_t i = 0; i < m; ++i) {
      if (args->rate > 0) {  // pace the senders; latency then shows the overlay, not a queue
        std::this_thread::sleep_until(
            shout_start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(i) / args->rate)));
      }
      size_t from = static_cast<size_t>(rng() % n);
      overlay::Node* node = nodes[from].node.get();
      node->post([node, i, size = args->payload_bytes] {
        Bytes payload(size, static_cast<uint8_t>(i));
        uint32_t index = static_cast<uint32_t>(i);
        int64_t sent = now_ns();
        std::memcpy(payload.data(), &index, 4);
        std::memcpy(payload.data() + 4, &sent, 8);
        node->shout(kSwarmApp, std::move(payload));
      });
    }
    while (delivered.load() < expected && seconds_since(shout_start) < args->timeout_s) {
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
      auto degrees =
          ask_all<size_t>(nodes, [](overlay::Node& node) { return node.peers().size(); });
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
    for (auto& sn : nodes) sn.node->stop();
    std::vector<double> lat;
    for (auto& sn : nodes) lat.insert(lat.end(), sn.latencies_ms.begin(), sn.latencies_ms.end());
    double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);

    nlohmann::json j;
    j["nodes"] = n;
    j["shouts"] = m;
    j["delivered"] = delivered.load();
    j["expected"] = expected;
    j["duplicates_dropped"] = sum.duplicates_dropped;
    j["frames_sent"] = sum.frames_sent;
    j["bytes_sent"] = sum.bytes_sent;
    j["links"] = links;  // at the end; nodes keep dialling up to their link target
    j["links_at_setup"] = links_at_setup;
    j["latency_ms"] = {{"p50", p50}, {"p99", p99}};
    j["setup_s"] = setup_s;
    j["shout_s"] = shout_s;
    j["initiate_only"] = initiate_only;
    j["repeated_deliveries"] = repeated.load();
    j["rate_limited"] = sum.shouts_rate_limited;
    j["seed"] = args->seed;
    j["compression"] = compression_list_text(*codecs);
    j["rate"] = args->rate;
    const bool ok = delivered.load() == expected && repeated.load() == 0;
    if (args->json) {
      std::cout << j.dump() << std::endl;
    } else {
      std::printf(
          "\nswarm summary\n"
          "  nodes            %zu (%zu initiate-only), %zu links\n"
          "  setup            %.2f s\n"
          "  shouts           %zu, delivered %llu of %llu%s\n"
          "  latency          p50 %.2f ms, p99 %.2f ms\n"
          "  traffic          %llu frames, %.1f KiB, %llu duplicates dropped\n",
          n, initiate_only, links, setup_s, m, static_cast<unsigned long long>(delivered.load()),
          static_cast<unsigned long long>(expected), ok ? " (all)" : " (INCOMPLETE)", p50, p99,
          static_cast<unsigned long long>(sum.frames_sent),
          static_cast<double>(sum.bytes_sent) / 1024.0,
          static_cast<unsigned long long>(sum.duplicates_dropped));
    }
    return ok ? 0 : 1;
  };
}

}  // namespace chorus::tools
