// The DHT phase of `chorus swarm` (swarm_dht_phase.h).
#include "swarm_dht_phase.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace chorus::tools {
namespace {

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

}  // namespace

DhtFigures run_dht_phase(std::vector<SwarmNode>& nodes, size_t puts, size_t gets,
                         size_t concurrency, double leave, std::mt19937_64& rng, double timeout_s,
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

  // G gets of random put keys from random nodes of `from` into `out`.
  auto run_gets = [&](const std::vector<size_t>& from, GetFigures DhtFigures::*out,
                      const std::string& label) {
    const auto start = Clock::now();
    for (size_t i = 0; i < gets && puts > 0 && !from.empty(); ++i) {
      if (!sh->slots.acquire(deadline())) break;
      size_t k = rng() % puts;
      SwarmNode& sn = nodes[from[rng() % from.size()]];
      auto t0 = Clock::now();
      sn.dht->get(keys[k], [sh, t0, k, out, note_error](Result<dht::OpResult> r) {
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        {
          std::lock_guard<std::mutex> g(sh->mu);
          GetFigures& f = sh->fig.*out;
          f.ms.push_back(ms);
          if (!r) {
            ++f.failed;
            note_error(*sh, r.error());
          } else {
            bool right = false;
            for (const auto& v : r->values) right |= v.data == sh->values[k];
            ++(right ? f.right : f.missing);
          }
        }
        sh->slots.release();
      });
      if (i % 16 == 0)
        progress.update(label + " | " + std::to_string(i) + "/" + std::to_string(gets));
    }
    sh->slots.wait_idle(deadline());
    std::lock_guard<std::mutex> g(sh->mu);
    (sh->fig.*out).seconds = seconds_since(start);
  };
  std::vector<size_t> live(n);
  for (size_t i = 0; i < n; ++i) live[i] = i;
  run_gets(live, &DhtFigures::gets, "dht gets");

  // Leave: the chosen nodes stop as a crash would look to the others (no
  // goodbye); two stay at least, so there is someone to ask.
  const size_t left = std::min(n - 2, static_cast<size_t>(leave * static_cast<double>(n) + 0.5));
  if (left > 0) {
    std::shuffle(live.begin(), live.end(), rng);
    for (size_t i = 0; i < left; ++i) {
      SwarmNode& sn = nodes[live[n - 1 - i]];
      sn.dht->stop();
      sn.node->stop();
      if (i % 16 == 0)
        progress.update("dht leave | " + std::to_string(i) + "/" + std::to_string(left));
    }
    live.resize(n - left);
    {
      std::lock_guard<std::mutex> g(sh->mu);
      sh->fig.left = left;
    }
    run_gets(live, &DhtFigures::gets_after_leave, "dht gets after leave");
  }
  std::lock_guard<std::mutex> g(sh->mu);  // late callbacks keep counting in their own copy
  progress.update("dht | " + std::to_string(sh->fig.puts_ok) + "/" + std::to_string(puts) +
                      " puts, " + std::to_string(sh->fig.gets.right) + "/" + std::to_string(gets) +
                      " gets right",
                  true);
  progress.finish();
  return sh->fig;
}

}  // namespace chorus::tools
