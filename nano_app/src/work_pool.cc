#include "chorus/nano/work_pool.h"

#include "chorus/nano/work.h"

namespace chorus::nano {

WorkPool::WorkPool(WorkPoolConfig config) : config_(config) {
  const unsigned n = config_.threads == 0 ? 1 : config_.threads;
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
}

WorkPool::~WorkPool() {
  stop();
}

Result<void> WorkPool::generate(const Hash32& root, uint64_t difficulty, Done done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return cancelled("work pool stopped");
  if (queue_.size() >= config_.max_queued)
    return limit_exceeded("work queue full (" + std::to_string(config_.max_queued) + ")");
  auto job = std::make_shared<Job>();
  job->root = root;
  job->difficulty = difficulty;
  job->done = std::move(done);
  queue_.push_back(std::move(job));
  cv_.notify_one();
  return {};
}

void WorkPool::cancel(const Hash32& root) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& j : queue_) {
    if (j->root == root) j->cancel = true;
  }
  for (auto& j : running_) {
    if (j->root == root) j->cancel = true;
  }
}

void WorkPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& j : queue_) j->cancel = true;
    for (auto& j : running_) j->cancel = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void WorkPool::run() {
  for (;;) {
    std::shared_ptr<Job> job;
    std::list<std::shared_ptr<Job>>::iterator slot;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left to answer
      job = queue_.front();
      queue_.pop_front();
      slot = running_.insert(running_.end(), job);
    }
    std::optional<uint64_t> found;
    if (!job->cancel) {
      WorkOptions o;
      o.threads = 1;
      o.cancel = &job->cancel;
      o.max_tries = config_.max_tries;
      o.seed = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(job.get()));
      auto w = generate_work(job->root, job->difficulty, o);
      if (w.ok()) found = *w;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase(slot);
    }
    job->done(found);
  }
}

}  // namespace chorus::nano
