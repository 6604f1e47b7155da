// The real-node run of a scenario. Nodes are overlay::Node (one libuv loop
// thread each, TCP on 127.0.0.1) with a dht::Dht on the same port when the
// scenario asks for the "dht" app. The timeline runs on the wall clock from
// the moment the initial overlay is connected.
//
// What real mode does: join (start more nodes), leave (stop a node: its
// links close), restart (a left node comes back with the same identity on a
// new port), SHOUT / SPEAK / WHISPER traffic, dht_put / dht_get.
// What it refuses, rather than fake: a [link] model (loopback has none, and
// the driver does not shape traffic), crash (an in-process node cannot die
// without closing its sockets), partition / heal (nodes do not filter links
// by group), dht_lock / dht_cas / dht_diff (their checks need the virtual
// clock's global view), more than kMaxRealNodes nodes.
#include "scenario_real.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "chorus/dht/dht.h"
#include "chorus/dht/pair_key_cache.h"
#include "chorus/overlay/node.h"
#include "fd_limit.h"
#include "run_stats.h"

namespace chorus::tools {
namespace {

using Clock = std::chrono::steady_clock;
constexpr overlay::AppId kTestApp = 7;
constexpr size_t kMaxRealNodes = 64;
constexpr int64_t kWindowUs = 3'000'000;
constexpr int64_t kSampleUs = 500'000;

struct RealNode {
  std::unique_ptr<overlay::Node> node;
  std::unique_ptr<dht::Dht> dht;  // after node: destroyed first
  bool listening = true;
  bool up = false;
  std::optional<overlay::Identity> identity;
};

struct Message {
  int64_t at_us;
  uint32_t from;
  swarm::ActionKind kind;
  std::vector<uint32_t> to;
};

class RealRun {
 public:
  RealRun(const swarm::Scenario& s, uint64_t seed, Progress& p)
      : s_(s), rng_(seed), progress_(p), nodes_(s.node_count) {
    f_.mode = "real";
    f_.seed = seed;
  }

  Result<swarm::RunFigures> run();

 private:
  int64_t now_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count();
  }
  Result<void> start(uint32_t i);
  void stop(uint32_t i);
  template <typename T>
  T ask(uint32_t i, std::function<T(overlay::Node&)> fn) {
    auto p = std::make_shared<std::promise<T>>();
    auto fut = p->get_future();
    overlay::Node* n = nodes_[i].node.get();
    n->post([p, n, fn] { p->set_value(fn(*n)); });
    if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return T{};
    return fut.get();
  }
  void sample();
  void wait_until(int64_t at_us, const std::string& phase);
  std::optional<uint32_t> random_up();
  void traffic(const swarm::ScenarioAction& a);
  void dht_op(const swarm::ScenarioAction& a, uint32_t action, uint32_t index);
  void finish();

  const swarm::Scenario& s_;
  std::mt19937_64 rng_;
  Progress& progress_;
  std::vector<RealNode> nodes_;
  // The nodes are all in this process: each pair seals with a key computed once.
  std::shared_ptr<dht::PairKeyCache> pair_keys_ = std::make_shared<dht::PairKeyCache>();
  Clock::time_point t0_ = Clock::now();
  int64_t next_sample_ = 0;
  size_t started_ = 0;
  std::map<overlay::PublicKey, uint32_t> by_key_;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> up_;
  // Guarded by mu_ (callbacks on loop threads).
  std::mutex mu_;
  std::vector<Message> messages_;
  std::set<std::pair<uint32_t, uint32_t>> got_;  // (message, node)
  uint64_t deliveries_ = 0;
  std::vector<double> frames_base_;
  std::map<std::pair<uint32_t, size_t>, std::pair<dht::Key, Bytes>> put_keys_;
  std::vector<std::pair<dht::Key, Bytes>> stored_;  // puts that succeeded
  size_t dht_pending_ = 0;
  swarm::RunFigures f_;
};

Result<void> refuse(const swarm::Scenario& s, size_t line, const std::string& what) {
  return invalid_argument(s.source + ":" + std::to_string(line) + ":1: --mode real cannot " + what +
                          " (use --mode sim; see swarm/README.md)");
}

Result<void> check_real(const swarm::Scenario& s) {
  if (s.node_count > kMaxRealNodes)
    return invalid_argument(s.source + ": --mode real runs at most " +
                            std::to_string(kMaxRealNodes) + " nodes (this scenario has " +
                            std::to_string(s.node_count) + "; use --mode sim)");
  if (s.link_given)
    return invalid_argument(s.source +
                            ": --mode real cannot apply a [link] model: loopback has no "
                            "latency, loss or bandwidth limit and the driver does not shape "
                            "traffic (remove [link] or use --mode sim)");
  for (const auto& a : s.timeline) {
    using K = swarm::ActionKind;
    switch (a.kind) {
      case K::kCrash:
        return refuse(s, a.line, "crash a node: an in-process node always closes its sockets");
      case K::kPartition:
      case K::kHeal:
        return refuse(s, a.line, "partition or heal: the nodes do not filter links by group");
      case K::kDhtLock:
      case K::kDhtCas:
      case K::kDhtDiff:
        return refuse(s, a.line,
                      std::string("check ") + swarm::action_name(a.kind) +
                          ": its safety check needs the simulator's global clock");
      default:
        break;
    }
  }
  return {};
}

Result<void> RealRun::start(uint32_t i) {
  RealNode& rn = nodes_[i];
  overlay::NodeOptions opts;
  opts.name = "s" + std::to_string(i);
  if (!rn.listening) opts.listen.reset();
  // Made here, not read back from the node (which keeps its secret): a
  // restarted node comes back under the same key.
  if (!rn.identity) rn.identity = overlay::Identity::generate();
  opts.identity = rn.identity;
  std::vector<overlay::SocketAddress> pool;
  for (uint32_t j = 0; j < started_; ++j)
    if (j != i && nodes_[j].up && nodes_[j].listening && nodes_[j].node)
      if (auto a = nodes_[j].node->listen_address()) pool.push_back(*a);
  if (!pool.empty()) {
    const size_t first = std::min(pool.size(), s_.bootstrap_nodes);
    opts.overlay.bootstrap.push_back(pool[rng_() % first]);
    std::shuffle(pool.begin(), pool.end(), rng_);
    for (const auto& a : pool) {
      if (opts.overlay.bootstrap.size() >= s_.degree) break;
      if (std::find(opts.overlay.bootstrap.begin(), opts.overlay.bootstrap.end(), a) ==
          opts.overlay.bootstrap.end())
        opts.overlay.bootstrap.push_back(a);
    }
  }
  auto node = overlay::Node::create(opts);
  if (!node) return node.error();
  rn.node = std::move(*node);
  if (s_.app_dht) {
    dht::DhtOptions d;
    d.bootstrap = opts.overlay.bootstrap;
    d.config.pair_keys = pair_keys_;
    auto created = dht::Dht::create(*rn.node, d);
    if (!created) return created.error();
    rn.dht = std::move(*created);
  }
  (void)rn.node->register_app(
      kTestApp,
      {.on_shout =
           [this, i](const overlay::ShoutInfo& sh) {
             if (auto t = swarm::payload_tag(sh.payload)) {
               std::lock_guard<std::mutex> g(mu_);
               if (*t < messages_.size() && got_.insert({*t, i}).second) {
                 ++deliveries_;
                 f_.latency_ms.push_back(static_cast<double>(now_us() - messages_[*t].at_us) / 1e3);
               }
             }
           },
       .on_speak =
           [this, i](const overlay::SpeakInfo& sp) {
             if (auto t = swarm::payload_tag(sp.payload)) {
               std::lock_guard<std::mutex> g(mu_);
               if (*t < messages_.size() && got_.insert({*t, i}).second) {
                 ++deliveries_;
                 f_.latency_ms.push_back(static_cast<double>(now_us() - messages_[*t].at_us) / 1e3);
               }
             }
             return overlay::SpeakDecision::kKeep;
           },
       .on_whisper =
           [this, i](const overlay::WhisperInfo& w, overlay::Responder) {
             if (auto t = swarm::payload_tag(w.payload)) {
               std::lock_guard<std::mutex> g(mu_);
               if (*t < messages_.size() && got_.insert({*t, i}).second) {
                 ++deliveries_;
                 f_.latency_ms.push_back(static_cast<double>(now_us() - messages_[*t].at_us) / 1e3);
               }
             }
           }});
  if (auto r = rn.node->start(); !r) return r.error();
  if (rn.dht)
    if (auto r = rn.dht->start(); !r) return r.error();
  rn.up = true;
  by_key_[rn.node->key()] = i;
  up_[i].push_back({now_us(), INT64_MAX});
  started_ = std::max<size_t>(started_, i + 1);
  return {};
}

void RealRun::stop(uint32_t i) {
  RealNode& rn = nodes_[i];
  if (!rn.up) return;
  frames_base_[i] += static_cast<double>(
      ask<overlay::NodeStats>(i, [](overlay::Node& n) { return n.stats(); }).frames_sent);
  rn.up = false;
  up_[i].back().second = now_us();
  if (rn.dht) rn.dht->stop();
  rn.node->stop();
}

std::optional<uint32_t> RealRun::random_up() {
  std::vector<uint32_t> up;
  for (uint32_t i = 0; i < started_; ++i)
    if (nodes_[i].up) up.push_back(i);
  if (up.empty()) return std::nullopt;
  return up[rng_() % up.size()];
}

void RealRun::sample() {
  size_t links = 0, up = 0;
  for (uint32_t i = 0; i < started_; ++i) {
    if (!nodes_[i].up) continue;
    ++up;
    links += ask<size_t>(i, [](overlay::Node& n) { return n.peers().size(); });
  }
  const double t = static_cast<double>(now_us()) / 1e6;
  f_.links_over_time.emplace_back(t, static_cast<double>(links) / 2);
  f_.nodes_up_over_time.emplace_back(t, static_cast<double>(up));
}

void RealRun::wait_until(int64_t at_us, const std::string& phase) {
  for (;;) {
    const int64_t now = now_us();
    if (now >= next_sample_) {
      sample();
      next_sample_ = now + kSampleUs;
    }
    uint64_t d;
    {
      std::lock_guard<std::mutex> g(mu_);
      d = deliveries_;
    }
    const double end = static_cast<double>(s_.duration_us + kWindowUs) / 1e6;
    char line[200];
    std::snprintf(
        line, sizeof line, "real %.1f/%.0f s | nodes up %zu | %llu deliveries | %s | ETA %.0f s",
        static_cast<double>(now) / 1e6, end,
        static_cast<size_t>(f_.nodes_up_over_time.empty() ? 0
                                                          : f_.nodes_up_over_time.back().second),
        static_cast<unsigned long long>(d), phase.c_str(),
        std::max(0.0, end - static_cast<double>(now) / 1e6));
    progress_.update(line);
    if (now >= at_us) return;
    const int64_t until = std::min(at_us, next_sample_);
    std::this_thread::sleep_for(std::chrono::microseconds(std::max<int64_t>(until - now, 0)));
  }
}

void RealRun::traffic(const swarm::ScenarioAction& a) {
  auto from = random_up();
  if (!from) return;
  std::vector<uint32_t> peers;
  for (const auto& k : ask<std::vector<overlay::PublicKey>>(*from, [](overlay::Node& n) {
         std::vector<overlay::PublicKey> out;
         for (const auto& p : n.peers()) out.push_back(p.key);
         return out;
       }))
    if (auto it = by_key_.find(k); it != by_key_.end()) peers.push_back(it->second);
  uint32_t tag;
  std::optional<overlay::PublicKey> to;
  {
    std::lock_guard<std::mutex> g(mu_);
    tag = static_cast<uint32_t>(messages_.size());
    Message m{now_us(), *from, a.kind, {}};
    if (a.kind == swarm::ActionKind::kSpeak) m.to = peers;
    if (a.kind == swarm::ActionKind::kWhisper && !peers.empty()) {
      m.to = {peers[rng_() % peers.size()]};
      to = nodes_[m.to[0]].node->key();
    }
    messages_.push_back(std::move(m));
  }
  overlay::Node* n = nodes_[*from].node.get();
  Bytes payload = swarm::tagged_payload(tag, a.payload_bytes);
  if (a.kind == swarm::ActionKind::kShout) {
    ++f_.shout.sent;
    n->shout(kTestApp, std::move(payload));
  } else if (a.kind == swarm::ActionKind::kSpeak) {
    ++f_.speak.sent;
    n->speak(kTestApp, std::move(payload));
  } else {
    ++f_.whisper.sent;
    if (to) n->whisper(kTestApp, *to, std::move(payload));
  }
}

void RealRun::dht_op(const swarm::ScenarioAction& a, uint32_t action, uint32_t index) {
  auto from = random_up();
  if (!from || !nodes_[*from].dht) return;
  dht::Dht* d = nodes_[*from].dht.get();
  const int64_t t = now_us();
  if (a.kind == swarm::ActionKind::kDhtPut) {
    const size_t k = index % a.keys;
    auto key = dht::key_for("scenario/" + std::to_string(action) + "/" + std::to_string(k));
    Bytes data = swarm::tagged_payload(index, a.payload_bytes);
    {
      std::lock_guard<std::mutex> g(mu_);
      ++f_.puts;
      ++dht_pending_;
    }
    d->put(key, dht::Value{index, data, 3600}, [this, key, data](Result<dht::OpResult> r) {
      std::lock_guard<std::mutex> g2(mu_);
      --dht_pending_;
      if (r) {
        ++f_.puts_ok;
        stored_.emplace_back(key, data);
      }
    });
  } else if (a.kind == swarm::ActionKind::kDhtGet) {
    dht::Key key;
    Bytes want;
    {
      std::lock_guard<std::mutex> g(mu_);
      ++f_.gets;
      if (stored_.empty()) {
        ++f_.gets_failed;
        return;
      }
      std::tie(key, want) = stored_[rng_() % stored_.size()];
      ++dht_pending_;
    }
    d->get(key, [this, want, t](Result<dht::OpResult> r) {
      std::lock_guard<std::mutex> g2(mu_);
      --dht_pending_;
      bool right = false;
      if (r) {
        for (const auto& v : r->values) right |= v.data == want;
        f_.lookup_hops.push_back(r->hops);
      }
      ++(right ? f_.gets_ok : f_.gets_failed);
      if (right) f_.dht_latency_ms.push_back(static_cast<double>(now_us() - t) / 1e3);
    });
  }
}

void RealRun::finish() {
  std::lock_guard<std::mutex> g(mu_);
  for (uint32_t tag = 0; tag < messages_.size(); ++tag) {
    const Message& m = messages_[tag];
    const int64_t t1 = m.at_us + kWindowUs;
    auto stayed = [&](uint32_t r) {
      for (const auto& [a, b] : up_[r])
        if (a <= m.at_us && b > t1) return true;
      return false;
    };
    swarm::TrafficFigures& tf = m.kind == swarm::ActionKind::kShout   ? f_.shout
                                : m.kind == swarm::ActionKind::kSpeak ? f_.speak
                                                                      : f_.whisper;
    auto count = [&](uint32_t r) {
      if (r == m.from || !stayed(r)) return;
      ++tf.expected;
      if (got_.count({tag, r})) ++tf.delivered;
    };
    if (m.kind == swarm::ActionKind::kShout) {
      for (uint32_t r = 0; r < started_; ++r) count(r);
    } else if (m.kind == swarm::ActionKind::kWhisper && m.to.empty()) {
      ++tf.expected;  // the sender had no peer to whisper to: owed and not delivered
    } else {
      for (uint32_t r : m.to) count(r);
    }
  }
}

Result<swarm::RunFigures> RealRun::run() {
  if (auto r = check_real(s_); !r) return r.error();
  // Fail before the first node, not when node k cannot open its loop.
  const NodeFdPlan fds{s_.node_count, s_.node_count, s_.app_dht ? s_.node_count : 0,
                       overlay::OverlayConfig{}.max_outbound_links};
  auto fd_limit = raise_descriptor_limit();
  if (!fd_limit) return fd_limit.error();
  if (descriptors_needed(fds) > *fd_limit) {
    return too_few_descriptors("--mode real with " + std::to_string(s_.node_count) + " nodes",
                               descriptors_needed(fds), *fd_limit);
  }
  const auto wall0 = Clock::now();
  up_.resize(s_.node_count);
  frames_base_.assign(s_.node_count, 0);
  {
    std::vector<uint32_t> order;
    for (uint32_t i = 1; i < s_.node_count; ++i) order.push_back(i);
    std::shuffle(order.begin(), order.end(), rng_);
    const size_t k =
        std::min(s_.node_count - 1,
                 static_cast<size_t>(s_.initiate_only * static_cast<double>(s_.node_count) + 0.5));
    for (size_t i = 0; i < k; ++i) nodes_[order[i]].listening = false;
  }
  // Listening nodes first so that everyone has someone to dial.
  for (int pass = 0; pass < 2; ++pass)
    for (uint32_t i = 0; i < s_.start_nodes; ++i)
      if (nodes_[i].listening == (pass == 0))
        if (auto r = start(i); !r) return r.error();
  started_ = s_.start_nodes;
  // Setup: until every node has a peer (bounded).
  const auto setup0 = Clock::now();
  for (;;) {
    size_t ready = 0;
    for (uint32_t i = 0; i < started_; ++i)
      ready += ask<size_t>(i, [](overlay::Node& n) { return n.peers().size(); }) > 0;
    progress_.update("real setup | nodes with peers " + std::to_string(ready) + "/" +
                     std::to_string(started_));
    if (ready == started_) break;
    if (Clock::now() - setup0 > std::chrono::seconds(20)) {
      f_.notes.push_back("real: setup ended after 20 s with some nodes still alone");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - setup0).count();
  char note[160];
  std::snprintf(note, sizeof note,
                "real: libuv nodes on 127.0.0.1; t=0 is when the initial overlay was up "
                "(setup %.2f s)",
                setup_s);
  f_.notes.push_back(note);
  t0_ = Clock::now();
  for (auto& v : up_)
    for (auto& iv : v) iv.first = 0;
  next_sample_ = 0;

  for (const auto& st : swarm::expand_timeline(s_)) {
    const auto& a = s_.timeline[st.action];
    wait_until(st.at_us, swarm::action_name(a.kind));
    using K = swarm::ActionKind;
    switch (a.kind) {
      case K::kJoin:
        for (size_t k = 0; k < a.count && started_ < s_.node_count; ++k) {
          if (auto r = start(static_cast<uint32_t>(started_)); !r) return r.error();
          ++f_.joins;
        }
        break;
      case K::kLeave: {
        std::vector<uint32_t> up;
        for (uint32_t i = 0; i < started_; ++i)
          if (nodes_[i].up) up.push_back(i);
        std::shuffle(up.begin(), up.end(), rng_);
        for (size_t k = 0; k < a.count && k < up.size(); ++k) {
          stop(up[k]);
          ++f_.leaves;
        }
        break;
      }
      case K::kRestart: {
        size_t done = 0;
        for (uint32_t i = 0; i < started_ && done < a.count; ++i) {
          if (nodes_[i].up || !nodes_[i].node) continue;
          nodes_[i].dht.reset();
          nodes_[i].node.reset();
          if (auto r = start(i); !r) return r.error();
          ++done;
          ++f_.restarts;
        }
        break;
      }
      case K::kShout:
      case K::kSpeak:
      case K::kWhisper:
        traffic(a);
        break;
      default:
        dht_op(a, st.action, st.index);
    }
  }
  wait_until(s_.duration_us + kWindowUs, "settling");
  for (int i = 0; i < 100; ++i) {  // DHT operations still running (bounded)
    {
      std::lock_guard<std::mutex> g(mu_);
      if (dht_pending_ == 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sample();
  f_.run_us = now_us();
  f_.frames_per_node = frames_base_;
  for (uint32_t i = 0; i < started_; ++i) {
    if (!nodes_[i].up) continue;
    auto st = ask<overlay::NodeStats>(i, [](overlay::Node& n) { return n.stats(); });
    f_.frames_per_node[i] += static_cast<double>(st.frames_sent);
    const size_t seen = ask<size_t>(i, [](overlay::Node& n) { return n.seen_cache_size(); });
    double bytes = 64.0 * static_cast<double>(seen);
    if (nodes_[i].dht) bytes += 128.0 * static_cast<double>(nodes_[i].dht->table_size());
    f_.state_bytes_per_node.push_back(bytes);
  }
  f_.frames_per_node.resize(started_);
  f_.notes.push_back(
      "real: state per node = seen-cache entries x 64 B + DHT contacts x 128 B "
      "(the DHT store size is not exposed by dht::Dht); messages per node = overlay frames only");
  for (uint32_t i = 0; i < started_; ++i) {
    if (!nodes_[i].up) continue;
    if (nodes_[i].dht) nodes_[i].dht->stop();
    nodes_[i].node->stop();
  }
  finish();
  f_.wall_s = std::chrono::duration<double>(Clock::now() - wall0).count();
  f_.rss_mb = rss_mb();
  return std::move(f_);
}

}  // namespace

Result<swarm::RunFigures> run_scenario_real(const swarm::Scenario& s, uint64_t seed,
                                            Progress& progress) {
  RealRun run(s, seed, progress);
  return run.run();
}

}  // namespace chorus::tools
