#include "chorus/nano/ledger_service.h"

namespace chorus::nano {

LedgerService::LedgerService(const NetworkParams& network, LedgerStore& store,
                             BlockProcessorConfig config, std::function<uint64_t()> now_s)
    : ledger_(network),
      store_(store),
      now_s_(std::move(now_s)),
      max_intake_(config.max_queue),
      processor_(ledger_, store, config) {}

LedgerService::~LedgerService() {
  stop();
}

void LedgerService::subscribe(Subscriber s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!running_) subscribers_.push_back(std::move(s));
}

Result<void> LedgerService::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ || stopping_) return invalid_argument("ledger service: already started");
  auto txn = store_.begin_write();
  ledger_.initialize(*txn, now_s_());
  auto committed = txn->commit();
  if (!committed.ok()) return committed.error();
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return {};
}

void LedgerService::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::deque<Done> dropped;
  std::deque<std::pair<Job, std::function<void(Result<void>)>>> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    intake_.clear();
    dropped.swap(intake_done_);
    jobs.swap(jobs_);
  }
  for (auto& d : dropped) {
    if (d) d(std::nullopt);
  }
  for (auto& [job, done] : jobs) {
    if (done) done(cancelled("ledger service stopped"));
  }
  for (auto& [tag, d] : waiting_) {
    if (d) d(std::nullopt);
  }
  waiting_.clear();
}

Result<void> LedgerService::submit(const Block& block, BlockSource source, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_ || stopping_) return cancelled("ledger service not running");
    if (intake_.size() >= max_intake_)
      return limit_exceeded("ledger queue full (" + std::to_string(max_intake_) + " blocks)");
    intake_.emplace_back(block, source);
    intake_done_.push_back(std::move(done));
  }
  cv_.notify_one();
  return {};
}

Result<void> LedgerService::write(Job job, std::function<void(Result<void>)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_ || stopping_) return cancelled("ledger service not running");
    if (jobs_.size() >= max_intake_)
      return limit_exceeded("ledger write queue full (" + std::to_string(max_intake_) + " jobs)");
    jobs_.emplace_back(std::move(job), std::move(done));
  }
  cv_.notify_one();
  return {};
}

size_t LedgerService::unchecked_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unchecked_;
}

size_t LedgerService::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return intake_.size();
}

LedgerServiceStats LedgerService::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void LedgerService::run() {
  for (;;) {
    std::deque<std::pair<Block, BlockSource>> blocks;
    std::deque<Done> dones;
    std::deque<std::pair<Job, std::function<void(Result<void>)>>> jobs;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] {
        return stopping_ || !intake_.empty() || !jobs_.empty() || processor_.queued() != 0;
      });
      if (stopping_) return;
      blocks.swap(intake_);
      dones.swap(intake_done_);
      jobs.swap(jobs_);
    }
    for (auto& [job, done] : jobs) {
      auto txn = store_.begin_write();
      Result<void> r = job(*txn);
      if (r.ok()) r = txn->commit();
      txn.reset();  // dropped uncommitted on an error
      if (done) done(r);
    }
    for (size_t i = 0; i < blocks.size(); ++i) {
      const uint64_t tag = next_tag_++;
      // The processor's own bound is the intake's, so this cannot fail
      // while it is drained below; a refusal still answers the submitter.
      if (!processor_.add(blocks[i].first, blocks[i].second, tag).ok()) {
        if (dones[i]) dones[i](std::nullopt);
        continue;
      }
      if (dones[i]) waiting_.emplace(tag, std::move(dones[i]));
    }
    while (processor_.queued() != 0) {
      auto batch = processor_.run_batch(now_s_());
      if (!batch.ok()) {
        // Nothing of the batch is in the ledger and the processor does not
        // say which blocks it held: every submitter still waiting hears
        // nullopt (a block still queued may yet be accepted, unannounced).
        for (auto& [tag, d] : waiting_) d(std::nullopt);
        waiting_.clear();
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.failed_commits;
        if (stopping_) break;
        continue;
      }
      uint64_t accepted = 0;
      for (const ProcessedBlock& r : *batch) {
        auto it = waiting_.find(r.tag);
        if (it != waiting_.end()) {
          Done d = std::move(it->second);
          waiting_.erase(it);
          d(r.status);
        }
        if (r.status == BlockStatus::kProgress) {
          ++accepted;
          for (auto& s : subscribers_) s(r);
        }
      }
      std::lock_guard<std::mutex> lock(mu_);
      stats_.processed += batch->size();
      stats_.accepted += accepted;
      ++stats_.batches;
      unchecked_ = processor_.unchecked().size();
      if (stopping_) break;
    }
  }
}

}  // namespace chorus::nano
