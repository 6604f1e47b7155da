// LoopThread: posted functions run on its thread in order, the queue of
// them is bounded, and nothing runs once it stops.
#include "chorus/web/loop_thread.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <vector>

namespace chorus::web {
namespace {

using namespace std::chrono_literals;

TEST(LoopThreadTest, PostsRunInOrderAndTheQueueIsBounded) {
  auto t = LoopThread::start("test", /*max_queued=*/3);
  ASSERT_TRUE(t.ok());
  std::promise<void> entered, release;
  auto gate = release.get_future().share();
  // The first job holds the loop thread, so the next ones wait in the queue.
  ASSERT_TRUE((*t)->post([&, gate](uv_loop_s*) {
    entered.set_value();
    gate.wait();
  }));
  ASSERT_EQ(entered.get_future().wait_for(10s), std::future_status::ready);
  std::vector<int> ran;  // written on the loop thread only
  bool on_thread = true;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE((*t)->post([&, i, lt = t->get()](uv_loop_s*) {
      on_thread = on_thread && lt->on_loop_thread();
      ran.push_back(i);
    }));
  EXPECT_FALSE((*t)->post([&](uv_loop_s*) { ran.push_back(99); })) << "over max_queued";
  release.set_value();
  std::promise<void> drained;
  auto drained_f = drained.get_future();
  // Room again once the loop has taken the queue.
  for (int tries = 0; !(*t)->post([&](uv_loop_s*) { drained.set_value(); }); ++tries) {
    ASSERT_LT(tries, 100000);
    std::this_thread::yield();
  }
  ASSERT_EQ(drained_f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(on_thread);
  EXPECT_FALSE((*t)->on_loop_thread());
  bool last_ran = false;
  (*t)->stop([&] { last_ran = true; });
  EXPECT_TRUE(last_ran);
  EXPECT_FALSE((*t)->post([&](uv_loop_s*) { ran.push_back(100); })) << "after stop";
  EXPECT_EQ(ran.size(), 3u);
}

}  // namespace
}  // namespace chorus::web
