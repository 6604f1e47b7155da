// WorkPool: proof-of-work searches on threads of their own, for the
// work_generate RPC (and, later, a node's own blocks). Bounded: at most
// `max_queued` searches wait; each search can be cancelled by its root,
// and the pool's stop() cancels everything.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

struct WorkPoolConfig {
  unsigned threads = 1;    // searches that run at once
  size_t max_queued = 64;  // searches waiting
  uint64_t max_tries = 0;  // per search, 0 = none (the search stops at cancel)
};

class WorkPool {
 public:
  using Done = std::function<void(std::optional<uint64_t> work)>;

  explicit WorkPool(WorkPoolConfig config = {});
  ~WorkPool();  // stop()
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues a search; `done` runs on a pool thread with the nonce, or with
  // nullopt when cancelled, stopped or out of tries. kLimit when the queue
  // is full, kCancelled after stop().
  Result<void> generate(const Hash32& root, uint64_t difficulty, Done done);
  // Cancels every search (queued or running) for `root`.
  void cancel(const Hash32& root);
  // Cancels everything and joins the threads; every `done` has run.
  void stop();

 private:
  struct Job {
    Hash32 root;
    uint64_t difficulty;
    Done done;
    std::atomic<bool> cancel{false};
  };
  void run();

  WorkPoolConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::list<std::shared_ptr<Job>> running_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace chorus::nano
