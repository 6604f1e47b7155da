// run_scenario_sim: one scenario timeline on the overlay Simulator and the
// DhtSim in lock-step (see scenario_run.h).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <unordered_set>

#include "chorus/dht/patch.h"
#include "chorus/overlay/identity.h"
#include "chorus/swarm/dht_sim.h"
#include "chorus/swarm/scenario_run.h"
#include "chorus/swarm/simulator.h"

namespace chorus::swarm {
namespace {

constexpr overlay::AppId kTestApp = 7;
constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
constexpr size_t kCasContenders = 3;  // nodes racing for each CAS step

enum class State : uint8_t { kNotStarted, kUp, kLeft, kCrashed };

struct Message {
  int64_t at_us;
  uint32_t from;
  ActionKind kind;
  std::vector<uint32_t> to;  // SPEAK / WHISPER: the addressees; SHOUT: everyone
};

struct Holding {
  int64_t from_us, to_us;
};

struct Pending {
  ActionKind kind = ActionKind::kDhtPut;
  size_t key = 0;  // index into keys_
  int64_t started_us = 0;
  uint64_t expected_version = 0;
  Bytes data;
  bool diff_as_create = false;
  size_t holding = 0;
  uint64_t owner = 0;
  Pending() = default;
  Pending(ActionKind k, size_t key_index) : kind(k), key(key_index) {}
};

class SimRun {
 public:
  SimRun(const Scenario& s, const SimRunOptions& o)
      : s_(s), o_(o), rng_(o.seed * 0x9e3779b97f4a7c15ULL + 0x5ce9a110ULL) {}

  Result<RunFigures> run();

 private:
  void start_node(uint32_t n, bool initial);
  void stop_node(uint32_t n, State how);
  void restart_node(uint32_t n);
  void advance_to(int64_t t);
  void sample();
  void step(const TimelineStep& st);
  void traffic(const ScenarioAction& a, uint32_t index);
  void dht_op(const ScenarioAction& a, uint32_t action, uint32_t index);
  void on_dht_done(SimNode n, dht::DoneEvent& d);
  std::optional<uint32_t> random_up();
  std::vector<uint32_t> pick(State from, size_t count);
  bool stayed(uint32_t n, int64_t t0, int64_t t1) const;
  uint16_t group_at(uint32_t n, int64_t t) const;
  void finish();
  std::string phase(int64_t t) const;

  const Scenario& s_;
  const SimRunOptions& o_;
  std::mt19937_64 rng_;
  std::unique_ptr<Simulator> ov_;
  std::unique_ptr<DhtSim> dht_;
  int64_t now_ = 0;
  int64_t next_sample_ = 0;
  int64_t next_progress_ = 0;
  int64_t sample_every_ = kSecond;
  std::vector<State> state_;
  std::vector<uint8_t> listening_;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> up_;       // per node: [from, to) intervals
  std::vector<std::pair<int64_t, std::vector<uint16_t>>> epochs_;  // partition history
  std::vector<uint16_t> group_;                                    // now
  size_t started_ = 0;
  std::map<overlay::PublicKey, uint32_t> by_key_;
  // Traffic.
  std::vector<Message> messages_;
  std::unordered_set<uint64_t> got_;  // message * node_count + node
  uint64_t deliveries_ = 0;
  std::vector<double> frames_base_;
  // DHT.
  std::map<std::pair<SimNode, dht::Token>, Pending> pending_;
  std::vector<dht::Key> keys_;
  std::map<std::pair<uint32_t, size_t>, size_t> key_index_;  // (action, key of it) → keys_
  std::vector<std::vector<Bytes>> key_values_ok_;            // per key: values put ok
  std::vector<size_t> keys_with_values_;
  std::vector<uint64_t> key_version_;
  std::vector<Bytes> key_data_;
  std::vector<std::vector<Holding>> holdings_;
  std::map<std::pair<size_t, uint64_t>, uint64_t> cas_winners_;
  uint64_t dht_done_ = 0;
  uint64_t next_owner_ = 1;
  RunFigures f_;
};

Result<RunFigures> SimRun::run() {
  const auto wall0 = std::chrono::steady_clock::now();
  const size_t n = s_.node_count;
  f_.mode = "sim";
  f_.seed = o_.seed;
  state_.assign(n, State::kNotStarted);
  listening_.assign(n, 1);
  up_.resize(n);
  frames_base_.assign(n, 0);
  {  // initiate-only nodes: a seeded choice among all but node 0
    std::vector<uint32_t> order;
    for (uint32_t i = 1; i < n; ++i) order.push_back(i);
    std::shuffle(order.begin(), order.end(), rng_);
    const size_t k =
        std::min(n - 1, static_cast<size_t>(s_.initiate_only * static_cast<double>(n) + 0.5));
    for (size_t i = 0; i < k; ++i) listening_[order[i]] = 0;
  }
  if (s_.app_test) {
    SimConfig sc;
    sc.seed = o_.seed;
    sc.link.latency_base_us = s_.link.latency_base_us;
    sc.link.latency_jitter_us = s_.link.latency_jitter_us;
    sc.link.exponential_jitter = s_.link.exponential_jitter;
    sc.link.bandwidth_bytes_per_s = s_.link.bandwidth_bytes_per_s;
    sc.link.connect_latency_us = s_.link.latency_base_us;
    ov_ = std::make_unique<Simulator>(sc);
    ov_->on_start = [](NodeId, overlay::NodeCore& core) { core.register_app(kTestApp); };
    ov_->on_event = [this](NodeId node, overlay::Event& e) {
      const Bytes* p = nullptr;
      if (auto* sh = std::get_if<overlay::ShoutEvent>(&e); sh && sh->app == kTestApp) {
        p = &sh->payload;
      } else if (auto* sp = std::get_if<overlay::SpeakEvent>(&e); sp && sp->msg.app == kTestApp) {
        p = &sp->msg.payload;
      } else if (auto* w = std::get_if<overlay::WhisperEvent>(&e); w && w->app == kTestApp) {
        p = &w->payload;
      }
      if (!p) return;
      auto tag = payload_tag(*p);
      if (!tag || *tag >= messages_.size()) return;
      if (!got_.insert(uint64_t{*tag} * s_.node_count + node).second) return;
      ++deliveries_;
      f_.latency_ms.push_back(static_cast<double>(ov_->now_us() - messages_[*tag].at_us) / 1e3);
    };
    if (s_.link.loss > 0)
      f_.notes.push_back(
          "sim: [link] loss applies to DHT datagrams; overlay links are TCP-like "
          "(loss shows as delay there, not modelled)");
    if (s_.initiate_only > 0)
      f_.notes.push_back(
          "sim: initiate-only nodes are never dialled at bootstrap, but the "
          "simulator gives every node an address, so peer exchange may still "
          "reach them");
  }
  if (s_.app_dht) {
    DhtSimConfig dc;
    dc.seed = o_.seed + 1;
    dc.latency_base_us = s_.link.latency_base_us;
    dc.latency_jitter_us = s_.link.latency_jitter_us;
    dc.loss = s_.link.loss;
    int64_t max_lease = 1000;
    for (const auto& a : s_.timeline)
      if (a.kind == ActionKind::kDhtLock) max_lease = std::max(max_lease, a.lease_ms);
    dc.dht.store.max_lease_ms = max_lease;
    dc.dht.lock_grace_after_start_ms = max_lease;
    dht_ = std::make_unique<DhtSim>(dc);
    dht_->on_event = [this](SimNode node, dht::DhtEvent& e) {
      if (auto* d = std::get_if<dht::DoneEvent>(&e)) on_dht_done(node, *d);
    };
    if (s_.link.bandwidth_bytes_per_s > 0 || s_.link.exponential_jitter)
      f_.notes.push_back("sim: DHT datagrams get uniform jitter and no bandwidth limit");
    if (s_.initiate_only > 0)
      f_.notes.push_back("sim: every DHT node answers (initiate-only is an overlay setting)");
  }
  if (!ov_ && !dht_) return invalid_argument(s_.source + ": no app to run");

  group_.clear();
  for (uint32_t i = 0; i < s_.start_nodes; ++i) start_node(i, true);
  if (dht_) dht_->warm_start(20);
  sample_every_ = o_.sample_interval_us
                      ? o_.sample_interval_us
                      : std::max<int64_t>(100'000, (s_.duration_us + o_.delivery_window_us) / 200);

  const auto steps = expand_timeline(s_);
  for (const TimelineStep& st : steps) {
    advance_to(st.at_us);
    step(st);
  }
  advance_to(s_.duration_us + o_.delivery_window_us);
  sample();
  finish();
  f_.run_us = now_;
  f_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  f_.rss_mb = static_cast<double>(u.ru_maxrss) / 1024.0;
  if ((ov_ && ov_->stats().event_cap_hit) || (dht_ && dht_->stats().event_cap_hit))
    f_.notes.push_back("sim: an event bound stopped a simulator early");
  return std::move(f_);
}

void SimRun::start_node(uint32_t n, bool initial) {
  state_[n] = State::kUp;
  up_[n].push_back({now_, kForever});
  started_ = std::max<size_t>(started_, n + 1);
  if (ov_) {
    overlay::OverlayConfig c;
    // Bootstrap: one of the first `bootstrap` listening nodes, then other
    // random listening nodes, `degree` in all; initially only earlier nodes.
    std::vector<uint32_t> pool;
    for (uint32_t j = 0; j < started_; ++j)
      if (j != n && listening_[j] && state_[j] == State::kUp && (!initial || j < n))
        pool.push_back(j);
    std::vector<uint32_t> picks;
    if (!pool.empty()) {
      const size_t first = std::min(pool.size(), s_.bootstrap_nodes);
      picks.push_back(pool[rng_() % first]);
      for (size_t tries = 0; picks.size() < std::min(pool.size(), s_.degree) && tries < 64;
           ++tries) {
        uint32_t j = pool[rng_() % pool.size()];
        if (std::find(picks.begin(), picks.end(), j) == picks.end()) picks.push_back(j);
      }
    }
    for (uint32_t j : picks) c.bootstrap.push_back(ov_->address(j));
    const NodeId id = ov_->add_node(std::move(c));
    (void)id;
    by_key_[ov_->key(n)] = n;
  }
  if (dht_) {
    dht_->add_node();
    if (!initial) {
      dht_->command(n, [&](dht::DhtCore& core, int64_t now) {
        for (int k = 0; k < 3; ++k)
          if (auto j = random_up(); j && *j != n) core.add_contact(dht_->contact(*j), now);
        core.join(now);
      });
    }
  }
  if (!group_.empty()) group_.push_back(0);
}

void SimRun::stop_node(uint32_t n, State how) {
  state_[n] = how;
  up_[n].back().second = now_;
  if (ov_ && ov_->core(n)) {
    frames_base_[n] += static_cast<double>(ov_->core(n)->stats().frames_sent);
    if (how == State::kLeft) {
      ov_->command(n, [](overlay::NodeCore& core, int64_t) { core.shutdown("leaving"); });
      ov_->at(now_ + 100'000, [this, n] {
        if (state_[n] == State::kLeft && ov_->core(n)) ov_->crash(n);
      });
    } else {
      ov_->crash(n);
    }
  }
  if (dht_ && dht_->is_up(n)) {
    frames_base_[n] += static_cast<double>(dht_->core(n)->stats().datagrams_out);
    // The DHT has no goodbye: a leaving node simply stops answering.
    for (auto it = pending_.begin(); it != pending_.end();)
      it = it->first.first == n ? pending_.erase(it) : std::next(it);
    dht_->crash(n);
  }
}

void SimRun::restart_node(uint32_t n) {
  state_[n] = State::kUp;
  up_[n].push_back({now_, kForever});
  if (ov_) {
    if (ov_->core(n)) ov_->crash(n);  // a leave still closing
    ov_->restart(n);
  }
  if (dht_) {
    dht_->restart(n);
    dht_->command(n, [&](dht::DhtCore& core, int64_t now) {
      for (int k = 0; k < 3; ++k)
        if (auto j = random_up(); j && *j != n) core.add_contact(dht_->contact(*j), now);
      core.join(now);
    });
  }
}

void SimRun::advance_to(int64_t t) {
  while (now_ < t) {
    const int64_t next = std::min({t, next_sample_, next_progress_});
    if (ov_) ov_->run_until(next);
    if (dht_) dht_->run_until(next);
    now_ = next;
    if (now_ >= next_sample_) {
      sample();
      next_sample_ += sample_every_;
    }
    if (now_ >= next_progress_) {
      next_progress_ += kSecond;
      if (o_.progress) {
        SimProgress p;
        p.now_us = now_;
        p.end_us = s_.duration_us + o_.delivery_window_us;
        for (State st : state_) p.nodes_up += st == State::kUp;
        p.deliveries = deliveries_;
        p.dht_ops_done = dht_done_;
        p.phase = phase(now_);
        o_.progress(p);
      }
    }
  }
}

std::string SimRun::phase(int64_t t) const {
  std::string out;
  std::vector<ActionKind> named;  // each kind once, by kind (not by its text)
  for (const auto& a : s_.timeline) {
    const int64_t end = a.at_us + std::max<int64_t>(a.duration_us, kSecond);
    if (a.at_us <= t && t < end && std::find(named.begin(), named.end(), a.kind) == named.end()) {
      named.push_back(a.kind);
      out += (out.empty() ? "" : "+") + std::string(action_name(a.kind));
    }
  }
  if (out.empty()) out = t >= s_.duration_us ? "settling" : "idle";
  return out;
}

void SimRun::sample() {
  const double t = static_cast<double>(now_) / 1e6;
  size_t up = 0, links = 0;
  for (uint32_t i = 0; i < state_.size(); ++i) {
    if (state_[i] != State::kUp) continue;
    ++up;
    if (ov_ && ov_->core(i)) links += ov_->core(i)->link_count();
  }
  if (!f_.nodes_up_over_time.empty() && f_.nodes_up_over_time.back().first == t) return;
  f_.nodes_up_over_time.emplace_back(t, static_cast<double>(up));
  if (ov_) f_.links_over_time.emplace_back(t, static_cast<double>(links) / 2);
}

std::optional<uint32_t> SimRun::random_up() {
  size_t up = 0;
  for (State st : state_) up += st == State::kUp;
  if (up == 0) return std::nullopt;
  size_t k = rng_() % up;
  for (uint32_t i = 0; i < state_.size(); ++i)
    if (state_[i] == State::kUp && k-- == 0) return i;
  return std::nullopt;
}

std::vector<uint32_t> SimRun::pick(State from, size_t count) {
  std::vector<uint32_t> c;
  for (uint32_t i = 0; i < state_.size(); ++i)
    if (state_[i] == from) c.push_back(i);
  std::shuffle(c.begin(), c.end(), rng_);
  c.resize(std::min(c.size(), count));
  std::sort(c.begin(), c.end());
  return c;
}

void SimRun::step(const TimelineStep& st) {
  const ScenarioAction& a = s_.timeline[st.action];
  switch (a.kind) {
    case ActionKind::kJoin:
      for (size_t k = 0; k < a.count && started_ < s_.node_count; ++k) {
        start_node(static_cast<uint32_t>(started_), false);
        ++f_.joins;
      }
      break;
    case ActionKind::kLeave:
    case ActionKind::kCrash: {
      const State how = a.kind == ActionKind::kLeave ? State::kLeft : State::kCrashed;
      for (uint32_t n : pick(State::kUp, a.count)) {
        stop_node(n, how);
        ++(how == State::kLeft ? f_.leaves : f_.crashes);
      }
      break;
    }
    case ActionKind::kRestart: {
      std::vector<uint32_t> down = pick(State::kCrashed, a.count);
      if (down.size() < a.count) {
        auto left = pick(State::kLeft, a.count - down.size());
        down.insert(down.end(), left.begin(), left.end());
      }
      for (uint32_t n : down) {
        restart_node(n);
        ++f_.restarts;
      }
      break;
    }
    case ActionKind::kPartition: {
      std::vector<uint32_t> all(s_.node_count);
      for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
      std::shuffle(all.begin(), all.end(), rng_);
      std::vector<std::vector<uint32_t>> groups;
      group_.assign(s_.node_count, 0);
      size_t at = 0;
      for (double share : a.groups) {
        const size_t k = std::min(
            all.size() - at, static_cast<size_t>(share * static_cast<double>(all.size()) + 0.5));
        groups.emplace_back(all.begin() + static_cast<std::ptrdiff_t>(at),
                            all.begin() + static_cast<std::ptrdiff_t>(at + k));
        for (size_t i = at; i < at + k; ++i) group_[all[i]] = static_cast<uint16_t>(groups.size());
        at += k;
      }
      if (ov_) ov_->partition(groups);
      if (dht_) dht_->partition(groups);
      epochs_.emplace_back(now_, group_);
      ++f_.partitions;
      break;
    }
    case ActionKind::kHeal:
      if (ov_) ov_->heal();
      if (dht_) dht_->heal();
      group_.clear();
      epochs_.emplace_back(now_, std::vector<uint16_t>{});
      break;
    case ActionKind::kShout:
    case ActionKind::kSpeak:
    case ActionKind::kWhisper:
      traffic(a, st.index);
      break;
    default:
      dht_op(a, st.action, st.index);
  }
}

void SimRun::traffic(const ScenarioAction& a, uint32_t) {
  auto from = random_up();
  if (!from || !ov_) return;
  const auto tag = static_cast<uint32_t>(messages_.size());
  Message m{now_, *from, a.kind, {}};
  Bytes payload = tagged_payload(tag, a.payload_bytes);
  overlay::NodeCore* core = ov_->core(*from);
  std::vector<uint32_t> peers;
  for (const auto& p : core->peers())
    if (auto it = by_key_.find(p.key); it != by_key_.end()) peers.push_back(it->second);
  std::sort(peers.begin(), peers.end());
  messages_.push_back(m);
  Message& msg = messages_.back();
  if (a.kind == ActionKind::kShout) {
    ++f_.shout.sent;
    ov_->command(*from,
                 [&](overlay::NodeCore& c, int64_t now) { (void)c.shout(kTestApp, payload, now); });
  } else if (a.kind == ActionKind::kSpeak) {
    ++f_.speak.sent;
    msg.to = peers;
    ov_->command(*from, [&](overlay::NodeCore& c, int64_t now) {
      (void)c.speak(kTestApp, payload, std::nullopt, false, now);
    });
  } else {
    ++f_.whisper.sent;
    if (peers.empty()) return;
    const uint32_t to = peers[rng_() % peers.size()];
    msg.to = {to};
    const overlay::PublicKey key = ov_->key(to);
    ov_->command(*from, [&](overlay::NodeCore& c, int64_t now) {
      (void)c.whisper(kTestApp, key, payload, false, now);
    });
  }
}

void SimRun::dht_op(const ScenarioAction& a, uint32_t action, uint32_t index) {
  if (!dht_) return;
  auto key_for_step = [&](size_t k) {
    auto [it, fresh] = key_index_.try_emplace({action, k}, keys_.size());
    if (fresh) {
      keys_.push_back(dht::key_for("scenario/" + std::to_string(action) + "/" + std::to_string(k)));
      key_values_ok_.emplace_back();
      key_version_.push_back(0);
      key_data_.emplace_back();
      holdings_.emplace_back();
    }
    return it->second;
  };
  const size_t key = key_for_step(index % a.keys);
  auto issue = [&](SimNode n, Pending p, auto&& fn) {
    p.started_us = now_;
    dht_->command(n, [&](dht::DhtCore& core, int64_t now) {
      pending_[{n, fn(core, now)}] = std::move(p);
    });
  };
  switch (a.kind) {
    case ActionKind::kDhtPut: {
      auto n = random_up();
      if (!n) return;
      ++f_.puts;
      Pending p{a.kind, key};
      p.data = tagged_payload(index, a.payload_bytes);
      p.data.push_back(static_cast<uint8_t>(action));
      Bytes data = p.data;
      issue(*n, std::move(p), [&](dht::DhtCore& core, int64_t now) {
        return core.put(keys_[key], dht::Value{index, data, 3600}, now);
      });
      break;
    }
    case ActionKind::kDhtGet: {
      ++f_.gets;
      auto n = random_up();
      if (!n || keys_with_values_.empty()) {
        ++f_.gets_failed;  // nothing to look up: every put failed so far
        return;
      }
      const size_t k = keys_with_values_[rng_() % keys_with_values_.size()];
      issue(*n, Pending{a.kind, k},
            [&](dht::DhtCore& core, int64_t now) { return core.get(keys_[k], now); });
      break;
    }
    case ActionKind::kDhtLock: {
      auto n = random_up();
      if (!n) return;
      ++f_.lock_attempts;
      Pending p{a.kind, key};
      p.owner = next_owner_++;
      const uint64_t owner = p.owner;
      issue(*n, std::move(p), [&](dht::DhtCore& core, int64_t now) {
        return core.lock(keys_[key], a.lease_ms, owner, now);
      });
      break;
    }
    case ActionKind::kDhtCas: {
      const uint64_t expected = key_version_[key];
      for (uint32_t c : pick(State::kUp, kCasContenders)) {
        ++f_.cas_attempts;
        Pending p{a.kind, key};
        p.expected_version = expected;
        p.owner = next_owner_++;
        p.data = tagged_payload(static_cast<uint32_t>(p.owner), a.payload_bytes);
        Bytes data = p.data;
        const uint64_t owner = p.owner;
        issue(c, std::move(p), [&](dht::DhtCore& core, int64_t now) {
          return core.compare_and_set(keys_[key], expected, data, 3600, owner, now);
        });
      }
      break;
    }
    case ActionKind::kDhtDiff: {
      auto n = random_up();
      if (!n) return;
      ++f_.diffs;
      Pending p{a.kind, key};
      p.owner = next_owner_++;
      const uint64_t owner = p.owner;
      if (key_version_[key] == 0) {  // no first version yet: CAS creates it
        p.diff_as_create = true;
        p.data = tagged_payload(index, a.payload_bytes);
        Bytes data = p.data;
        issue(*n, std::move(p), [&](dht::DhtCore& core, int64_t now) {
          return core.compare_and_set(keys_[key], 0, data, 3600, owner, now);
        });
      } else {
        const Bytes& base = key_data_[key];
        Bytes next = base;
        Bytes extra = tagged_payload(index, 16);
        next.insert(next.end(), extra.begin(), extra.end());
        if (next.size() > 32 * 1024) next.erase(next.begin(), next.begin() + 16);
        p.data = next;
        p.expected_version = key_version_[key];
        const uint64_t version = key_version_[key];
        Bytes patch = dht::make_patch(base, next);
        auto hash = overlay::blake2b_256(next);
        issue(*n, std::move(p), [&](dht::DhtCore& core, int64_t now) {
          return core.apply_diff(keys_[key], version, patch, hash, 3600, owner, now);
        });
      }
      break;
    }
    default:
      break;
  }
}

void SimRun::on_dht_done(SimNode n, dht::DoneEvent& d) {
  auto it = pending_.find({n, d.token});
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  ++dht_done_;
  const bool ok = d.result.ok();
  switch (p.kind) {
    case ActionKind::kDhtPut:
      if (ok) {
        ++f_.puts_ok;
        if (key_values_ok_[p.key].empty()) keys_with_values_.push_back(p.key);
        if (key_values_ok_[p.key].size() < 16) key_values_ok_[p.key].push_back(p.data);
      }
      break;
    case ActionKind::kDhtGet: {
      bool right = false;
      if (ok) {
        for (const auto& v : d.result.value().values)
          for (const auto& want : key_values_ok_[p.key]) right |= v.data == want;
        f_.lookup_hops.push_back(d.result.value().hops);
      }
      ++(right ? f_.gets_ok : f_.gets_failed);
      if (right)
        f_.dht_latency_ms.push_back(static_cast<double>(dht_->now_us() - p.started_us) / 1e3);
      break;
    }
    case ActionKind::kDhtLock:
      if (ok) {
        ++f_.locks_acquired;
        const int64_t now = dht_->now_us();
        const int64_t until = dht_->virtual_us(n, d.result.value().valid_until_us);
        holdings_[p.key].push_back({now, until});
        const size_t h = holdings_[p.key].size() - 1;
        const uint64_t token = d.result.value().number;
        // Hold for about half the lease, then release.
        const int64_t hold = std::max<int64_t>(1, (until - now) / 2);
        const size_t key = p.key;
        const uint64_t owner = p.owner;
        dht_->at(now + hold, [this, n, key, h, token, owner] {
          Holding& held = holdings_[key][h];
          held.to_us = std::min(held.to_us, dht_->now_us());
          dht_->command(n, [&](dht::DhtCore& core, int64_t t) {
            (void)core.release(keys_[key], owner, token, t);
          });
        });
      }
      break;
    case ActionKind::kDhtCas:
      if (ok) {
        ++f_.cas_wins;
        ++cas_winners_[{p.key, p.expected_version}];
        if (d.result.value().number > key_version_[p.key]) {
          key_version_[p.key] = d.result.value().number;
          key_data_[p.key] = p.data;
        }
      } else if (d.current_version > key_version_[p.key]) {
        key_version_[p.key] = d.current_version;  // data unknown: the next step reads on
      }
      break;
    case ActionKind::kDhtDiff:
      if (ok) {
        ++f_.diffs_ok;
        if (d.result.value().number > key_version_[p.key]) {
          key_version_[p.key] = d.result.value().number;
          key_data_[p.key] = p.data;
        }
      }
      break;
    default:
      break;
  }
}

bool SimRun::stayed(uint32_t n, int64_t t0, int64_t t1) const {
  for (const auto& [from, to] : up_[n])
    if (from <= t0 && to > t1) return true;
  return false;
}

uint16_t SimRun::group_at(uint32_t n, int64_t t) const {
  const std::vector<uint16_t>* g = nullptr;
  for (const auto& [at, groups] : epochs_) {
    if (at > t) break;
    g = &groups;
  }
  return g && n < g->size() ? (*g)[n] : 0;
}

void SimRun::finish() {
  const int64_t window = o_.delivery_window_us;
  const size_t n = s_.node_count;
  for (uint32_t tag = 0; tag < messages_.size(); ++tag) {
    const Message& m = messages_[tag];
    const int64_t t1 = m.at_us + window;
    // Partition epochs that start inside the window.
    std::vector<int64_t> checks{m.at_us};
    for (const auto& e : epochs_)
      if (e.first > m.at_us && e.first <= t1) checks.push_back(e.first);
    auto eligible = [&](uint32_t r) {
      if (r == m.from || !stayed(r, m.at_us, t1)) return false;
      for (int64_t t : checks)
        if (group_at(r, t) != group_at(m.from, t)) return false;
      return true;
    };
    TrafficFigures& tf = m.kind == ActionKind::kShout   ? f_.shout
                         : m.kind == ActionKind::kSpeak ? f_.speak
                                                        : f_.whisper;
    auto count = [&](uint32_t r) {
      if (!eligible(r)) return;
      ++tf.expected;
      if (got_.count(uint64_t{tag} * n + r)) ++tf.delivered;
    };
    if (m.kind == ActionKind::kShout) {
      for (uint32_t r = 0; r < n; ++r) count(r);
    } else if (m.kind == ActionKind::kWhisper && m.to.empty()) {
      ++tf.expected;  // the sender had no peer to whisper to: owed and not delivered
    } else {
      for (uint32_t r : m.to) count(r);
    }
  }
  // Lock holdings of one key must not overlap.
  for (auto& list : holdings_) {
    std::sort(list.begin(), list.end(),
              [](const Holding& a, const Holding& b) { return a.from_us < b.from_us; });
    int64_t busy_until = std::numeric_limits<int64_t>::min();
    for (const Holding& h : list) {
      if (h.from_us < busy_until) ++f_.lock_violations;
      busy_until = std::max(busy_until, h.to_us);
    }
  }
  for (const auto& [k, winners] : cas_winners_)
    if (winners > 1) ++f_.cas_versions_with_two_winners;
  f_.frames_per_node = frames_base_;
  f_.state_bytes_per_node.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    if (state_[i] != State::kUp) continue;
    if (ov_ && ov_->core(i)) {
      f_.frames_per_node[i] += static_cast<double>(ov_->core(i)->stats().frames_sent);
      f_.state_bytes_per_node[i] += 64.0 * static_cast<double>(ov_->core(i)->seen_cache_size());
    }
    if (dht_ && dht_->core(i)) {
      f_.frames_per_node[i] += static_cast<double>(dht_->core(i)->stats().datagrams_out);
      f_.state_bytes_per_node[i] += 128.0 * static_cast<double>(dht_->core(i)->table().size()) +
                                    static_cast<double>(dht_->core(i)->store().bytes_used());
    }
  }
  // Only nodes that ever ran belong in the per-node figures.
  f_.frames_per_node.resize(started_);
  std::vector<double> state;
  for (uint32_t i = 0; i < started_; ++i)
    if (state_[i] == State::kUp) state.push_back(f_.state_bytes_per_node[i]);
  f_.state_bytes_per_node = std::move(state);
}

}  // namespace

Bytes tagged_payload(uint32_t tag, size_t size) {
  Bytes p(std::max<size_t>(size, 4), static_cast<uint8_t>(tag * 31));
  p[0] = static_cast<uint8_t>(tag >> 24);
  p[1] = static_cast<uint8_t>(tag >> 16);
  p[2] = static_cast<uint8_t>(tag >> 8);
  p[3] = static_cast<uint8_t>(tag);
  return p;
}

std::optional<uint32_t> payload_tag(ByteView p) {
  if (p.size() < 4) return std::nullopt;
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

Result<RunFigures> run_scenario_sim(const Scenario& s, const SimRunOptions& options) {
  SimRun run(s, options);
  return run.run();
}

}  // namespace chorus::swarm
