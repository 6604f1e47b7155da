// `chorus sim dht` and `chorus sim locks`: the production DhtCore on the
// DhtSim's virtual clock.
//
// sim dht: N nodes with warm routing tables store some values, then L gets
// of those values start from random live nodes while a fraction of the nodes
// crash (and come back empty, joining again). A get succeeds when it returns
// the value that was stored.
//
// sim locks: C clients take turns on a few keys through lock / release, on
// nodes whose clocks are offset and drift, optionally with the network cut
// in two halves now and then. Every lease a client believed it held is
// recorded in virtual time; two overlapping leases on one key, or a token
// not above the previous holder's, is a violation.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "chorus/overlay/identity.h"
#include "chorus/swarm/dht_sim.h"
#include "commands.h"
#include "run_stats.h"

namespace chorus::tools {
namespace {

constexpr int64_t kMs = 1000;
constexpr int64_t kSecond = 1'000'000;

Bytes value_for(size_t i) {
  std::string s = "sim-value-" + std::to_string(i) + "-";
  s.resize(128, static_cast<char>('a' + i % 26));
  return Bytes(s.begin(), s.end());
}

}  // namespace

Runner add_sim_dht_command(CLI::App& cmd) {
  struct Args {
    size_t nodes = 0;
    size_t lookups = 0;
    size_t keys = 0;
    double churn = 0;
    double loss = 0;
    uint64_t uplink = 0;
    uint64_t seed = 1;
    int64_t window_s = 30;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--nodes", args->nodes, "number of simulated DHT nodes")
      ->required()
      ->check(CLI::Range(size_t{2}, size_t{1'000'000}));
  cmd.add_option("--lookups", args->lookups, "gets of stored values, from random live nodes")
      ->required()
      ->check(CLI::Range(size_t{1}, size_t{10'000'000}));
  cmd.add_option("--keys", args->keys,
                 "values stored before the gets (default lookups/10, 1..1000)");
  cmd.add_option("--churn", args->churn,
                 "fraction of nodes that crash during the lookup window (each comes back "
                 "empty 5 s later and joins again)")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd.add_option("--loss", args->loss, "probability that a datagram is lost")
      ->check(CLI::Range(0.0, 0.5))
      ->capture_default_str();
  cmd.add_option("--uplink", args->uplink,
                 "each node's uplink in bytes/s (0: unlimited); a datagram waiting over 1 s "
                 "for it is dropped")
      ->capture_default_str();
  cmd.add_option("--seed", args->seed, "simulation seed; a run replays exactly from it")
      ->capture_default_str();
  cmd.add_option("--window-s", args->window_s, "virtual seconds over which the gets start")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}))
      ->capture_default_str();
  cmd.add_flag("--json", args->json, "print one JSON line instead of text");
  cmd.footer(
      "Output: success = gets that returned the stored value / gets that finished (gets whose\n"
      "own node crashed first are reported as aborted); hops = depth in the lookup of the\n"
      "first node that answered with the value; rpcs_per_lookup = RPCs a get sent;\n"
      "virtual_ms = get latency in simulated time; phase_wall_s = wall seconds spent making\n"
      "the nodes, filling their tables, storing and getting. Exit 1 when success < 0.99.");

  return [args]() -> int {
    const Args& a = *args;
    const auto wall_start = std::chrono::steady_clock::now();
    swarm::DhtSimConfig sc;
    sc.seed = a.seed;
    sc.loss = a.loss;
    sc.uplink_bytes_per_s = a.uplink;
    swarm::DhtSim sim(sc);
    auto& rng = sim.rng();
    // Every node meets the same keys: convert each once.
    overlay::Identity::set_x25519_cache_capacity(std::max<size_t>(a.nodes, 4096));
    // Where the wall time goes, phase by phase: at a million nodes the
    // set-up is most of it.
    auto seconds_since = [](std::chrono::steady_clock::time_point t0) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    nlohmann::json phases;
    auto phase_start = std::chrono::steady_clock::now();
    auto end_phase = [&](const char* name) {
      phases[name] = seconds_since(phase_start);
      phase_start = std::chrono::steady_clock::now();
    };
    for (size_t i = 0; i < a.nodes; ++i) sim.add_node();
    end_phase("nodes");
    sim.warm_start(sc.dht.k);
    end_phase("tables");
    auto pick_up = [&]() {
      for (;;) {
        auto n =
            static_cast<swarm::SimNode>(std::uniform_int_distribution<size_t>(0, a.nodes - 1)(rng));
        if (sim.is_up(n)) return n;
      }
    };

    // Phase 1: values go in.
    size_t keys = a.keys ? a.keys : std::clamp<size_t>(a.lookups / 10, 1, 1000);
    std::map<std::pair<swarm::SimNode, dht::Token>, size_t> put_of;
    size_t puts_ok = 0, puts_done = 0;
    struct Get {
      size_t key;
      swarm::SimNode node;
      int64_t started_us;
    };
    std::map<std::pair<swarm::SimNode, dht::Token>, Get> gets;
    std::vector<double> hops, virt_ms, rpcs;
    size_t found = 0, finished = 0, aborted = 0;
    sim.on_event = [&](swarm::SimNode n, dht::DhtEvent& e) {
      auto* d = std::get_if<dht::DoneEvent>(&e);
      if (!d) return;
      if (auto it = put_of.find({n, d->token}); it != put_of.end()) {
        ++puts_done;
        if (d->result.ok()) ++puts_ok;
        put_of.erase(it);
        return;
      }
      auto it = gets.find({n, d->token});
      if (it == gets.end()) return;
      ++finished;
      const Get& g = it->second;
      bool ok = false;
      if (d->result.ok()) {
        for (const auto& v : d->result.value().values)
          if (v.id == g.key && v.data == value_for(g.key)) ok = true;
        hops.push_back(d->result.value().hops);
        rpcs.push_back(static_cast<double>(d->result.value().rpcs));
      }
      if (ok) {
        ++found;
        virt_ms.push_back(static_cast<double>(sim.now_us() - g.started_us) / kMs);
      }
      gets.erase(it);
    };
    for (size_t i = 0; i < keys; ++i) {
      auto n = pick_up();
      sim.command(n, [&](dht::DhtCore& core, int64_t now) {
        dht::Value v;
        v.id = i;
        v.data = value_for(i);
        v.ttl_s = 3600;
        put_of[{n, core.put(dht::key_for("sim/" + std::to_string(i)), std::move(v), now)}] = i;
      });
    }
    int64_t t = sim.now_us();
    while (puts_done < keys && sim.now_us() < t + 120 * kSecond)
      sim.run_until(sim.now_us() + kSecond);
    end_phase("puts");

    // Phase 2: gets spread over the window, churn during it.
    const int64_t start = sim.now_us();
    const int64_t window = a.window_s * kSecond;
    for (size_t i = 0; i < a.lookups; ++i) {
      int64_t at = start + std::uniform_int_distribution<int64_t>(0, window)(rng);
      size_t key = std::uniform_int_distribution<size_t>(0, keys - 1)(rng);
      sim.at(at, [&, key]() {
        auto n = pick_up();
        sim.command(n, [&](dht::DhtCore& core, int64_t now) {
          gets[{n, core.get(dht::key_for("sim/" + std::to_string(key)), now)}] =
              Get{key, n, sim.now_us()};
        });
      });
    }
    size_t churned = 0;
    const size_t crashes = static_cast<size_t>(a.churn * static_cast<double>(a.nodes));
    for (size_t i = 0; i < crashes; ++i) {
      int64_t at = start + std::uniform_int_distribution<int64_t>(0, window)(rng);
      sim.at(at, [&]() {
        auto n = pick_up();
        // Gets that started there die with it.
        for (auto it = gets.begin(); it != gets.end();) {
          if (it->first.first == n) {
            ++aborted;
            it = gets.erase(it);
          } else {
            ++it;
          }
        }
        sim.crash(n);
        ++churned;
        sim.at(sim.now_us() + 5 * kSecond, [&, n]() {
          sim.restart(n);
          sim.command(n, [&](dht::DhtCore& core, int64_t now) {
            for (int j = 0; j < 3; ++j) core.add_contact(sim.contact(pick_up()), now);
            core.join(now);
          });
        });
      });
    }
    while ((finished + aborted < a.lookups) && sim.now_us() < start + window + 120 * kSecond)
      if (!sim.run_until(sim.now_us() + kSecond)) break;
    end_phase("gets");

    const double wall = seconds_since(wall_start);
    const double success =
        finished ? static_cast<double>(found) / static_cast<double>(finished) : 0;
    double mean_rpcs = 0;
    for (double r : rpcs) mean_rpcs += r;
    if (!rpcs.empty()) mean_rpcs /= static_cast<double>(rpcs.size());
    auto totals = sim.total_core_stats();
    nlohmann::json j;
    j["nodes"] = a.nodes;
    j["lookups"] = a.lookups;
    j["success"] = success;
    j["hops"] = {{"p50", percentile(hops, 0.5)}, {"p99", percentile(hops, 0.99)}};
    j["rpcs_per_lookup"] = mean_rpcs;
    j["virtual_ms"] = {{"p50", percentile(virt_ms, 0.5)}, {"p99", percentile(virt_ms, 0.99)}};
    j["wall_s"] = wall;
    j["phase_wall_s"] = phases;
    j["rss_mb"] = rss_mb();
    j["keys"] = keys;
    j["puts_ok"] = puts_ok;
    j["finished"] = finished;
    j["aborted"] = aborted;
    j["churned"] = churned;
    j["churn"] = a.churn;
    j["loss"] = a.loss;
    j["seed"] = a.seed;
    j["datagrams"] = sim.stats().datagrams;
    j["datagrams_uplink_dropped"] = sim.stats().datagrams_uplink_dropped;
    j["rpc_timeouts"] = totals.rpcs_timed_out;
    if (a.json) {
      std::cout << j.dump() << "\n";
    } else {
      std::cout << j.dump(2) << "\n";
    }
    // The process ends here. Taking a million cores apart one by one took
    // 35 s (hundreds of millions of releases and frees); the OS takes the
    // memory back at once.
    std::cout.flush();
    std::exit(success >= 0.99 ? 0 : 1);
  };
}

Runner add_sim_locks_command(CLI::App& cmd) {
  struct Args {
    size_t nodes = 0;
    size_t clients = 0;
    int64_t seconds = 60;
    size_t keys = 2;
    bool partition = false;
    uint64_t seed = 1;
    int64_t lease_ms = 3000;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd.add_option("--nodes", args->nodes, "number of simulated DHT nodes")
      ->required()
      ->check(CLI::Range(size_t{3}, size_t{1'000'000}));
  cmd.add_option("--clients", args->clients, "nodes that compete for the locks")
      ->required()
      ->check(CLI::Range(size_t{1}, size_t{100'000}));
  cmd.add_option("--seconds", args->seconds, "virtual seconds of competition")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400}))
      ->capture_default_str();
  cmd.add_option("--keys", args->keys, "locks competed for")
      ->check(CLI::Range(size_t{1}, size_t{10'000}))
      ->capture_default_str();
  cmd.add_flag("--partition", args->partition,
               "every 60 s, cut the network into two random halves for 20 s");
  cmd.add_option("--lease-ms", args->lease_ms, "lease asked for by each lock")
      ->check(CLI::Range(int64_t{100}, int64_t{60'000}))
      ->capture_default_str();
  cmd.add_option("--seed", args->seed, "simulation seed; a run replays exactly from it")
      ->capture_default_str();
  cmd.add_flag("--json", args->json, "print one JSON line instead of text");
  cmd.footer(
      "Every node's clock is offset by up to ±2 s and drifts by up to ±100 ppm. A client holds\n"
      "from the moment lock() completes until it releases or its lease (by its own clock)\n"
      "ends. violations = pairs of holdings of one key that overlap in virtual time;\n"
      "tokens_monotonic = each key's fencing tokens rise strictly in order of acquisition.\n"
      "Exit 1 on any violation.");

  return [args]() -> int {
    const Args& a = *args;
    if (a.clients > a.nodes) {
      std::cerr << "chorus sim locks: --clients must not exceed --nodes\n";
      return 2;
    }
    const auto wall_start = std::chrono::steady_clock::now();
    swarm::DhtSimConfig sc;
    sc.seed = a.seed;
    sc.dht.store.max_lease_ms = std::max<int64_t>(a.lease_ms, 1000);
    sc.dht.lock_grace_after_start_ms = sc.dht.store.max_lease_ms;
    swarm::DhtSim sim(sc);
    auto& rng = sim.rng();
    overlay::Identity::set_x25519_cache_capacity(std::max<size_t>(a.nodes, 4096));
    for (size_t i = 0; i < a.nodes; ++i) {
      auto n = sim.add_node();
      int64_t offset = std::uniform_int_distribution<int64_t>(-2 * kSecond, 2 * kSecond)(rng);
      double drift = std::uniform_real_distribution<double>(-100e-6, 100e-6)(rng);
      sim.set_clock(n, offset, drift);
    }
    sim.warm_start(sc.dht.k);

    struct Holding {
      size_t client;
      uint64_t token;
      int64_t from_us, to_us;
    };
    std::vector<std::vector<Holding>> held(a.keys);
    std::vector<swarm::SimNode> client_node(a.clients);
    {
      std::vector<swarm::SimNode> all(a.nodes);
      for (size_t i = 0; i < a.nodes; ++i) all[i] = static_cast<swarm::SimNode>(i);
      std::shuffle(all.begin(), all.end(), rng);
      for (size_t c = 0; c < a.clients; ++c) client_node[c] = all[c];
    }
    struct Client {
      enum class State { kIdle, kLocking, kHolding, kReleasing } state = State::kIdle;
      size_t key = 0;
      dht::Token op = 0;
      uint64_t token = 0;
      int64_t valid_until_virtual = 0;
      size_t holding = 0;  // index into held[key]
    };
    std::vector<Client> clients(a.clients);
    std::map<swarm::SimNode, size_t> client_of;
    for (size_t c = 0; c < a.clients; ++c) client_of[client_node[c]] = c;
    size_t attempts = 0, acquired = 0, refused = 0, released = 0;
    const int64_t begin = sim.now_us() + sc.dht.lock_grace_after_start_ms * kMs + 3 * kSecond;
    const int64_t end = begin + a.seconds * kSecond;
    auto key_of = [](size_t k) { return dht::key_for("sim-lock/" + std::to_string(k)); };

    std::function<void(size_t)> try_lock;
    auto later = [&](size_t c, int64_t lo_ms, int64_t hi_ms) {
      int64_t wait = std::uniform_int_distribution<int64_t>(lo_ms, hi_ms)(rng) * kMs;
      sim.at(sim.now_us() + wait, [&, c]() { try_lock(c); });
    };
    auto release = [&](size_t c) {
      Client& cl = clients[c];
      if (cl.state != Client::State::kHolding) return;
      Holding& h = held[cl.key][cl.holding];
      h.to_us = std::min(sim.now_us(), cl.valid_until_virtual);
      cl.state = Client::State::kReleasing;
      sim.command(client_node[c], [&](dht::DhtCore& core, int64_t now) {
        cl.op = core.release(key_of(cl.key), c, cl.token, now);
      });
    };
    try_lock = [&](size_t c) {
      Client& cl = clients[c];
      if (sim.now_us() >= end || cl.state != Client::State::kIdle) return;
      cl.key = std::uniform_int_distribution<size_t>(0, a.keys - 1)(rng);
      cl.state = Client::State::kLocking;
      ++attempts;
      sim.command(client_node[c], [&](dht::DhtCore& core, int64_t now) {
        cl.op = core.lock(key_of(cl.key), a.lease_ms, c, now);
      });
    };
    sim.on_event = [&](swarm::SimNode n, dht::DhtEvent& e) {
      auto* d = std::get_if<dht::DoneEvent>(&e);
      auto ci = client_of.find(n);
      if (!d || ci == client_of.end()) return;
      size_t c = ci->second;
      Client& cl = clients[c];
      if (d->token != cl.op) return;
      if (cl.state == Client::State::kLocking) {
        if (!d->result.ok()) {
          ++refused;
          cl.state = Client::State::kIdle;
          later(c, 100, 1000);
          return;
        }
        ++acquired;
        cl.state = Client::State::kHolding;
        cl.token = d->result.value().number;
        cl.valid_until_virtual = sim.virtual_us(n, d->result.value().valid_until_us);
        cl.holding = held[cl.key].size();
        held[cl.key].push_back(Holding{c, cl.token, sim.now_us(), cl.valid_until_virtual});
        // Hold for a while, sometimes past the lease (then it simply ends).
        int64_t hold = std::uniform_int_distribution<int64_t>(a.lease_ms / 10, a.lease_ms)(rng);
        sim.at(sim.now_us() + hold * kMs, [&, c]() { release(c); });
      } else if (cl.state == Client::State::kReleasing) {
        ++released;
        cl.state = Client::State::kIdle;
        later(c, 0, 500);
      }
    };
    for (size_t c = 0; c < a.clients; ++c)
      sim.at(begin + std::uniform_int_distribution<int64_t>(0, 1000)(rng) * kMs,
             [&, c]() { try_lock(c); });
    size_t partitions = 0;
    if (a.partition) {
      for (int64_t t = begin + 30 * kSecond; t < end; t += 60 * kSecond) {
        sim.at(t, [&]() {
          std::vector<swarm::SimNode> half;
          for (size_t i = 0; i < a.nodes; ++i)
            if (rng() & 1) half.push_back(static_cast<swarm::SimNode>(i));
          sim.partition({half});
          ++partitions;
        });
        sim.at(t + 20 * kSecond, [&]() { sim.heal(); });
      }
    }
    while (sim.now_us() < end + 10 * kSecond)
      if (!sim.run_until(sim.now_us() + kSecond)) break;

    // Holdings still open end with their lease.
    size_t violations = 0;
    bool monotonic = true;
    uint64_t max_token = 0;
    for (auto& list : held) {
      std::sort(list.begin(), list.end(),
                [](const Holding& x, const Holding& y) { return x.from_us < y.from_us; });
      int64_t busy_until = INT64_MIN;
      uint64_t last_token = 0;
      for (const Holding& h : list) {
        if (h.from_us < busy_until) ++violations;
        busy_until = std::max(busy_until, h.to_us);
        if (h.token <= last_token) monotonic = false;
        last_token = h.token;
        max_token = std::max(max_token, h.token);
      }
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    nlohmann::json j;
    j["nodes"] = a.nodes;
    j["clients"] = a.clients;
    j["seconds"] = a.seconds;
    j["keys"] = a.keys;
    j["acquired"] = acquired;
    j["violations"] = violations;
    j["tokens_monotonic"] = monotonic;
    j["attempts"] = attempts;
    j["refused"] = refused;
    j["released"] = released;
    j["max_token"] = max_token;
    j["partitions"] = partitions;
    j["seed"] = a.seed;
    j["wall_s"] = wall;
    j["rss_mb"] = rss_mb();
    std::cout << (a.json ? j.dump() : j.dump(2)) << "\n";
    return violations == 0 && monotonic ? 0 : 1;
  };
}

}  // namespace chorus::tools
