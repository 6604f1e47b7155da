// `chorus swarm`: N real nodes (libuv, TCP on 127.0.0.1, one loop thread
// each) in this process. Waits until the overlay is connected, sends M SHOUTs
// from random nodes and counts distinct deliveries at every other node.
// With --dht-puts/--dht-gets every node also runs a DHT on its overlay port
// and the run ends with timed puts and gets of random keys from random nodes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "chorus/dht/dht.h"
#include "chorus/overlay/node.h"
#include "commands.h"
#include "fd_limit.h"
#include "overlay_flags.h"
#include "progress.h"
#include "run_stats.h"
#include "scenario_command.h"

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
  std::unique_ptr<dht::Dht> dht;  // after `node`: destroyed first
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

// Runs `fn(i)` on node i's loop thread and waits (bounded).
template <typename T>
T ask_node(SwarmNode& sn, std::function<T()> fn) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  sn.node->post([p, fn] { p->set_value(fn()); });
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return T{};
  return f.get();
}

// At most `limit` operations in flight; each slot is handed back by the
// operation's callback (on some node's loop thread).
class InFlight {
 public:
  explicit InFlight(size_t limit) : limit_(limit) {}
  bool acquire(Clock::time_point deadline) {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_until(g, deadline, [&] { return busy_ < limit_; })) return false;
    ++busy_;
    return true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> g(mu_);
      --busy_;
    }
    cv_.notify_all();
  }
  bool wait_idle(Clock::time_point deadline) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_until(g, deadline, [&] { return busy_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t limit_;
  size_t busy_ = 0;
};

struct DhtFigures {
  std::vector<double> put_ms, get_ms;  // of every operation, failed or not
  size_t puts_ok = 0, gets_right = 0, gets_missing = 0, gets_failed = 0;
  std::string first_error;
  double warmup_s = 0, puts_s = 0, gets_s = 0;
};

// P puts of distinct keys (128-byte values) from random nodes, then G gets
// of random put keys from random nodes, `concurrency` in flight, each timed
// from the call to its callback.
DhtFigures run_dht_phase(std::vector<SwarmNode>& nodes, size_t puts, size_t gets,
                         size_t concurrency, std::mt19937_64& rng, double timeout_s,
                         Progress& progress) {
  const size_t n = nodes.size();
  // Bootstraps run in the background; wait until every DHT knows a few
  // nodes (bounded), so the figures measure lookups, not cold tables.
  const auto warm = Clock::now();
  const size_t want = std::min<size_t>(8, n - 1);
  while (seconds_since(warm) < std::min(timeout_s, 20.0)) {
    size_t ready = 0;
    for (auto& sn : nodes) {
      dht::Dht* d = sn.dht.get();
      if (ask_node<size_t>(sn, [d] { return d->table_size(); }) >= want) ++ready;
    }
    progress.update("dht warm-up | tables ready " + std::to_string(ready) + "/" +
                    std::to_string(n));
    if (ready == n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Callbacks may outlive this function (a wait that timed out), so what
  // they touch is shared, not on this stack.
  struct Shared {
    std::mutex mu;  // guards fig and first_error inside callbacks
    InFlight slots;
    DhtFigures fig;
    std::vector<Bytes> values;
    explicit Shared(size_t c) : slots(c) {}
  };
  auto sh = std::make_shared<Shared>(concurrency);
  sh->fig.warmup_s = seconds_since(warm);
  const auto deadline = [&] {
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  };
  auto note_error = [](Shared& x, const Error& e) {
    if (x.fig.first_error.empty()) x.fig.first_error = e.to_string();
  };

  std::vector<dht::Key> keys(puts);
  sh->values.resize(puts);
  for (size_t i = 0; i < puts; ++i) {
    keys[i] = dht::key_for("swarm/dht/" + std::to_string(rng()) + "/" + std::to_string(i));
    sh->values[i].resize(128);
    for (auto& b : sh->values[i]) b = static_cast<uint8_t>(rng());
  }

  auto phase_start = Clock::now();
  for (size_t i = 0; i < puts; ++i) {
    if (!sh->slots.acquire(deadline())) break;
    SwarmNode& sn = nodes[rng() % n];
    auto t0 = Clock::now();
    sn.dht->put(keys[i], dht::Value{1, sh->values[i], 3600},
                [sh, t0, note_error](Result<dht::OpResult> r) {
                  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                  {
                    std::lock_guard<std::mutex> g(sh->mu);
                    sh->fig.put_ms.push_back(ms);
                    if (r) {
                      ++sh->fig.puts_ok;
                    } else {
                      note_error(*sh, r.error());
                    }
                  }
                  sh->slots.release();
                });
    if (i % 16 == 0)
      progress.update("dht puts | " + std::to_string(i) + "/" + std::to_string(puts));
  }
  sh->slots.wait_idle(deadline());
  {
    std::lock_guard<std::mutex> g(sh->mu);
    sh->fig.puts_s = seconds_since(phase_start);
  }

  phase_start = Clock::now();
  for (size_t i = 0; i < gets && puts > 0; ++i) {
    if (!sh->slots.acquire(deadline())) break;
    size_t k = rng() % puts;
    SwarmNode& sn = nodes[rng() % n];
    auto t0 = Clock::now();
    sn.dht->get(keys[k], [sh, t0, k, note_error](Result<dht::OpResult> r) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> g(sh->mu);
        sh->fig.get_ms.push_back(ms);
        if (!r) {
          ++sh->fig.gets_failed;
          note_error(*sh, r.error());
        } else {
          bool right = false;
          for (const auto& v : r->values) right |= v.data == sh->values[k];
          ++(right ? sh->fig.gets_right : sh->fig.gets_missing);
        }
      }
      sh->slots.release();
    });
    if (i % 16 == 0)
      progress.update("dht gets | " + std::to_string(i) + "/" + std::to_string(gets));
  }
  sh->slots.wait_idle(deadline());
  std::lock_guard<std::mutex> g(sh->mu);  // late callbacks keep counting in their own copy
  sh->fig.gets_s = seconds_since(phase_start);
  progress.update("dht | " + std::to_string(sh->fig.puts_ok) + "/" + std::to_string(puts) +
                      " puts, " + std::to_string(sh->fig.gets_right) + "/" + std::to_string(gets) +
                      " gets right",
                  true);
  progress.finish();
  return sh->fig;
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
    size_t dht_puts = 0;
    size_t dht_gets = 0;
    size_t dht_concurrency = 64;
    ScenarioArgs scenario;
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
  auto* seed_opt = cmd.add_option("--seed", args->seed,
                                  "seed for topology and senders (with --scenario: default the "
                                  "scenario's [scenario] seed)")
                       ->capture_default_str();
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
  cmd.add_option("--dht-puts", args->dht_puts,
                 "run a DHT on every node; after the SHOUTs, this many puts of 128-byte values "
                 "from random nodes")
      ->capture_default_str();
  cmd.add_option("--dht-gets", args->dht_gets, "then this many gets of random put keys")
      ->capture_default_str();
  cmd.add_option("--dht-concurrency", args->dht_concurrency, "DHT operations in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd.add_flag("--json", args->json, "print one JSON line and no progress display");
  auto* scenario_opt =
      cmd.add_option("--scenario", args->scenario.path,
                     "run a scenario file (TOML, see swarm/README.md and swarm/scenarios/); the "
                     "options above other than --seed and --json do not apply then")
          ->check(CLI::ExistingFile);
  cmd.add_option("--mode", args->scenario.mode,
                 "with --scenario: sim (deterministic simulator, virtual time) or real (libuv "
                 "nodes on loopback)")
      ->check(CLI::IsMember({"sim", "real"}))
      ->capture_default_str();
  cmd.add_option("--report", args->scenario.report_dir,
                 "with --scenario: write report.json and report.html into this directory");

  return [args, seed_opt, scenario_opt]() -> int {
    if (scenario_opt->count() > 0) {
      args->scenario.json = args->json;
      if (seed_opt->count() > 0) args->scenario.seed = args->seed;
      return run_scenario_command(args->scenario);
    }
    auto codecs = parse_compression_list(args->compression);
    if (!codecs) {
      std::cerr << "chorus swarm: --compression: " << codecs.error().message() << "\n";
      return 2;
    }
    const size_t n = args->nodes;
    const size_t m = args->shouts;
    const bool with_dht = args->dht_puts > 0 || args->dht_gets > 0;
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
    DhtFigures dht_fig;
    if (with_dht) {
      dht_fig = run_dht_phase(nodes, args->dht_puts, args->dht_gets, args->dht_concurrency, rng,
                              args->timeout_s, progress);
    }
    for (auto& sn : nodes) {
      if (sn.dht) sn.dht->stop();
      sn.node->stop();
    }
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
    j["links_per_node"] = fds.links_per_node;  // ℓ, lowered when descriptors are short
    j["latency_ms"] = {{"p50", p50}, {"p99", p99}};
    j["setup_s"] = setup_s;
    j["shout_s"] = shout_s;
    j["initiate_only"] = initiate_only;
    j["repeated_deliveries"] = repeated.load();
    j["rate_limited"] = sum.shouts_rate_limited;
    j["seed"] = args->seed;
    j["compression"] = compression_list_text(*codecs);
    j["rate"] = args->rate;
    const double put_success =
        args->dht_puts ? static_cast<double>(dht_fig.puts_ok) / static_cast<double>(args->dht_puts)
                       : 0.0;
    const double get_success = args->dht_gets ? static_cast<double>(dht_fig.gets_right) /
                                                    static_cast<double>(args->dht_gets)
                                              : 0.0;
    if (with_dht) {
      j["dht"] = {
          {"puts", args->dht_puts},
          {"gets", args->dht_gets},
          {"concurrency", args->dht_concurrency},
          {"put_ms",
           {{"p50", percentile(dht_fig.put_ms, 0.5)}, {"p99", percentile(dht_fig.put_ms, 0.99)}}},
          {"get_ms",
           {{"p50", percentile(dht_fig.get_ms, 0.5)}, {"p99", percentile(dht_fig.get_ms, 0.99)}}},
          {"put_success", put_success},
          {"get_success", get_success},
          {"gets_missing_value", dht_fig.gets_missing},
          {"gets_failed", dht_fig.gets_failed},
          {"warmup_s", dht_fig.warmup_s},
          {"puts_s", dht_fig.puts_s},
          {"gets_s", dht_fig.gets_s},
      };
      if (!dht_fig.first_error.empty()) j["dht"]["first_error"] = dht_fig.first_error;
    }
    const bool dht_ok = !with_dht || ((args->dht_puts == 0 || put_success == 1.0) &&
                                      (args->dht_gets == 0 || get_success == 1.0));
    const bool ok = delivered.load() == expected && repeated.load() == 0 && dht_ok;
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
      if (with_dht) {
        std::printf(
            "  dht puts         %zu, %.1f%% ok, p50 %.2f ms, p99 %.2f ms\n"
            "  dht gets         %zu, %.1f%% right value, p50 %.2f ms, p99 %.2f ms\n",
            args->dht_puts, 100 * put_success, percentile(dht_fig.put_ms, 0.5),
            percentile(dht_fig.put_ms, 0.99), args->dht_gets, 100 * get_success,
            percentile(dht_fig.get_ms, 0.5), percentile(dht_fig.get_ms, 0.99));
        if (!dht_fig.first_error.empty())
          std::printf("  dht first error  %s\n", dht_fig.first_error.c_str());
      }
    }
    return ok ? 0 : 1;
  };
}

}  // namespace chorus::tools
