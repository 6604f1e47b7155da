// LedgerService: the ledger of a running node. Blocks from anywhere are
// submitted here; one thread of its own runs the block processor's batches
// (one write transaction each) and tells each submitter its block's status
// and every subscriber each accepted block. Readers use the store directly
// (read transactions are snapshots and never wait for the writer).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/nano/block_processor.h"
#include "chorus/nano/ledger.h"

namespace chorus::nano {

struct LedgerServiceStats {
  uint64_t processed = 0;  // blocks through the ledger (any status)
  uint64_t accepted = 0;   // kProgress
  uint64_t batches = 0;
  uint64_t failed_commits = 0;
};

class LedgerService {
 public:
  // The block's first status, or nullopt when it never reached the ledger
  // (the service stopped, or its batch failed to commit).
  using Done = std::function<void(std::optional<BlockStatus>)>;
  using Subscriber = std::function<void(const ProcessedBlock&)>;

  // `now_s` gives seconds since the Unix epoch (a block's local timestamp);
  // tests hand in a fixed clock.
  LedgerService(const NetworkParams& network, LedgerStore& store, BlockProcessorConfig config,
                std::function<uint64_t()> now_s);
  ~LedgerService();  // stop()
  LedgerService(const LedgerService&) = delete;
  LedgerService& operator=(const LedgerService&) = delete;

  // Before start(): called on the ledger thread for every block accepted,
  // in the order they were written, after their batch committed.
  void subscribe(Subscriber s);

  // Writes the genesis into an empty store and starts the ledger thread.
  Result<void> start();
  // Finishes the batch under way, answers what is still queued with
  // nullopt and joins the thread.
  void stop();

  // Queues `block`. `done` (optional) runs on the ledger thread with its
  // first status: kProgress, a gap (the block then waits in unchecked), or
  // why it was refused. kLimit when the queue is full, kCancelled when the
  // service is not running.
  Result<void> submit(const Block& block, BlockSource source, Done done = {});

  // Runs `job` on the ledger thread, between batches, in a write
  // transaction of its own that commits when the job succeeds and is
  // dropped when it fails (so a job leaves all or nothing). `done` hears
  // the job's error, the commit's, or success. For the writes that are not
  // new blocks: cementing, replacing the loser of a fork by its winner.
  // kLimit when max_jobs wait already.
  using Job = std::function<Result<void>(WriteTxn&)>;
  Result<void> write(Job job, std::function<void(Result<void>)> done = {});

  const Ledger& ledger() const { return ledger_; }
  LedgerStore& store() { return store_; }
  size_t unchecked_count() const;
  size_t queued() const;
  LedgerServiceStats stats() const;

 private:
  void run();

  Ledger ledger_;
  LedgerStore& store_;
  std::function<uint64_t()> now_s_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t max_intake_;
  std::deque<std::pair<Block, BlockSource>> intake_;                    // under mu_
  std::deque<Done> intake_done_;                                        // under mu_, beside intake_
  std::deque<std::pair<Job, std::function<void(Result<void>)>>> jobs_;  // under mu_
  BlockProcessor processor_;                                            // the ledger thread's only
  std::map<uint64_t, Done> waiting_;                                    // the ledger thread's only
  size_t unchecked_ = 0;                                                // under mu_, for readers
  uint64_t next_tag_ = 1;
  std::vector<Subscriber> subscribers_;
  LedgerServiceStats stats_;
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace chorus::nano
