// Node::run_work on real nodes: CPU work off the loop, results back on it.
// Every wait is bounded (futures with kWait; gates that open on their own).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

#include "harness.h"

namespace chorus::itest {
namespace {

class WorkTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

// A gate the jobs wait on; it opens by itself after kWait so that a broken
// node cannot hang the suite.
struct Gate {
  std::promise<void> p;
  std::shared_future<void> f = p.get_future().share();
  void open() { p.set_value(); }
  void wait() const { f.wait_for(kWait); }
};

// The work runs off the loop thread, `done` on it, once, with ok.
TEST_F(WorkTest, ResultComesBackOnTheLoopThread) {
  TestNode a = start_node(fast_config());
  struct Seen {
    std::thread::id work_thread;
    bool done_on_loop = false;
    Result<void> result;
  };
  auto seen = std::make_shared<Seen>();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  std::atomic<int> calls{0};
  a->run_work([seen] { seen->work_thread = std::this_thread::get_id(); },
              [&, seen, p, node = a.node.get()](Result<void> r) {
                seen->done_on_loop = node->on_loop_thread();
                seen->result = r;
                if (++calls == 1) p->set_value();
              });
  await(f, kWait, "run_work's done");
  EXPECT_TRUE(seen->result.ok());
  EXPECT_TRUE(seen->done_on_loop);
  EXPECT_NE(seen->work_thread, std::thread::id{});
  EXPECT_NE(seen->work_thread, std::this_thread::get_id());
  const auto loop_thread = on_loop(*a, [] { return std::this_thread::get_id(); });
  EXPECT_NE(seen->work_thread, loop_thread);
  a->stop();
  EXPECT_EQ(calls.load(), 1);
}

// max_work_jobs jobs running: the next gets kLimit at once, on the loop
// thread and after run_work returned; the running ones still finish ok.
TEST_F(WorkTest, BoundGivesLimitAtOnceOnTheLoop) {
  NodeOptions o;
  o.overlay = fast_config();
  o.max_work_jobs = 2;
  TestNode a = start_node(o);
  Gate gate;
  std::atomic<int> ok{0};
  auto both = std::make_shared<std::promise<void>>();
  auto both_f = both->get_future();
  for (int i = 0; i < 2; ++i) {
    a->run_work([&gate] { gate.wait(); },
                [&ok, both](Result<void> r) {
                  if (r.ok() && ++ok == 2) both->set_value();
                });
  }
  struct Third {
    bool returned = false;  // run_work had returned when `done` ran
    bool on_loop = false;
    Result<void> result;
  };
  auto third = std::make_shared<Third>();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  // From the loop thread, so "never inside the call" is observable.
  on_loop(*a, [&a, third, p] {
    Node* node = a.node.get();
    node->run_work([] { ADD_FAILURE() << "work beyond the bound ran"; },
                   [third, p, node](Result<void> r) {
                     third->on_loop = node->on_loop_thread();
                     third->result = r;
                     p->set_value();
                   });
    third->returned = true;
  });
  await(f, kWait, "the refused job's done");
  EXPECT_TRUE(third->returned);
  EXPECT_TRUE(third->on_loop);
  ASSERT_FALSE(third->result.ok());
  EXPECT_EQ(third->result.error().code(), ErrorCode::kLimit);
  EXPECT_EQ(ok.load(), 0);  // the first two are still waiting
  gate.open();
  await(both_f, kWait, "the running jobs' done");
  EXPECT_EQ(ok.load(), 2);
}

// stop() with jobs queued behind busy pool threads: every `done` runs
// exactly once; the ones that started end ok (stop waited for them), the
// rest kCancelled without running.
TEST_F(WorkTest, StopCompletesEveryQueuedJobExactlyOnce) {
  TestNode a = start_node(fast_config());
  constexpr int kJobs = 64;  // far more than pool threads (UV_THREADPOOL_SIZE)
  Gate gate;
  std::atomic<int> started{0}, finished{0};
  std::array<std::atomic<int>, kJobs> calls{};
  std::array<std::atomic<int>, kJobs> codes{};  // -1 ok, else ErrorCode
  for (int i = 0; i < kJobs; ++i) {
    a->run_work(
        [&] {
          ++started;
          gate.wait();
          ++finished;
        },
        [&, i](Result<void> r) {
          codes[i] = r.ok() ? -1 : static_cast<int>(r.error().code());
          ++calls[i];
        });
  }
  // Wait until the pool is busy (some jobs started, the rest queued).
  const auto until = Clock::now() + kWait;
  while (started.load() == 0 && Clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_GT(started.load(), 0);
  std::atomic<bool> opened{false};
  std::thread opener([&] {
    std::this_thread::sleep_for(200ms);
    opened = true;
    gate.open();
  });
  a->stop();
  // stop() returned only after the running jobs finished.
  EXPECT_TRUE(opened.load());
  EXPECT_EQ(finished.load(), started.load());
  opener.join();
  int ok = 0, cancelled_n = 0;
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(calls[i].load(), 1) << "job " << i;
    if (codes[i] == -1) {
      ++ok;
    } else {
      EXPECT_EQ(codes[i].load(), static_cast<int>(ErrorCode::kCancelled)) << "job " << i;
      ++cancelled_n;
    }
  }
  EXPECT_EQ(ok, started.load());
  EXPECT_EQ(ok + cancelled_n, kJobs);
  EXPECT_GT(cancelled_n, 0);
  // After stop: kCancelled at once, still exactly once.
  std::atomic<int> late{0};
  a->run_work([] { ADD_FAILURE() << "work ran after stop"; },
              [&](Result<void> r) {
                EXPECT_FALSE(r.ok());
                if (!r.ok()) {
                  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
                }
                ++late;
              });
  EXPECT_EQ(late.load(), 1);
  EXPECT_EQ(started.load(), finished.load());
}

// While a job runs, the loop keeps serving: a PING to the node is answered.
TEST_F(WorkTest, LoopServesPingWhileWorkRuns) {
  TestNode a = start_node(fast_config());
  TestNode b = start_node(fast_config());
  b->add_peer(a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  Gate gate;
  std::atomic<bool> running{false};
  auto p = std::make_shared<std::promise<Result<void>>>();
  auto f = p->get_future();
  a->run_work(
      [&] {
        running = true;
        gate.wait();
      },
      [p](Result<void> r) { p->set_value(r); });
  const auto until = Clock::now() + kWait;
  while (!running.load() && Clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(running.load());
  auto rtt = ping(*b, a.key());  // a answers from its loop
  EXPECT_TRUE(rtt.ok()) << (rtt.ok() ? "" : rtt.error().to_string());
  auto back = ping(*a, b.key());  // and a's own commands run
  EXPECT_TRUE(back.ok());
  EXPECT_EQ(f.wait_for(0ms), std::future_status::timeout);  // the job is still running
  gate.open();
  EXPECT_TRUE(await(f, kWait, "the job's done").ok());
}

}  // namespace
}  // namespace chorus::itest
