// Node::post on real nodes: every post ends in exactly one of its two
// functions, once: `fn` on the loop thread, or `if_dropped` when the node
// stops first. Every wait is bounded (futures with kWait).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "harness.h"

namespace chorus::itest {
namespace {

class PostTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

struct Outcome {
  std::atomic<int> ran{0};
  std::atomic<int> dropped{0};
  std::atomic<bool> ran_on_loop{false};
};

TEST_F(PostTest, RunsOnceOnTheLoopThreadAndIsNotDropped) {
  TestNode a = start_node(fast_config());
  auto out = std::make_shared<Outcome>();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  a->post(
      [out, p, node = a.node.get()] {
        out->ran_on_loop = node->on_loop_thread();
        if (++out->ran == 1) p->set_value();
      },
      [out] { ++out->dropped; });
  await(f, kWait, "the posted function");
  a->stop();
  EXPECT_EQ(out->ran.load(), 1);
  EXPECT_EQ(out->dropped.load(), 0);
  EXPECT_TRUE(out->ran_on_loop.load());
}

// Posted from the loop thread, `fn` waits for the caller to return.
TEST_F(PostTest, OnTheLoopThreadRunsAfterTheCallerReturns) {
  TestNode a = start_node(fast_config());
  struct State {
    bool returned = false;  // loop thread only
    bool ran_after_return = false;
  };
  auto st = std::make_shared<State>();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  on_loop(*a, [st, p, node = a.node.get()] {
    node->post([st, p] {
      st->ran_after_return = st->returned;
      p->set_value();
    });
    st->returned = true;
    return 0;
  });
  await(f, kWait, "the posted function");
  EXPECT_TRUE(on_loop(*a, [st] { return st->ran_after_return; }));
}

TEST_F(PostTest, PostedBeforeStartRunsOnceStarted) {
  NodeOptions o;
  o.overlay = fast_config();
  auto created = Node::create(o);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<Node> node = std::move(*created);
  auto out = std::make_shared<Outcome>();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  node->post(
      [out, p] {
        if (++out->ran == 1) p->set_value();
      },
      [out] { ++out->dropped; });
  ASSERT_TRUE(node->start().ok());
  await(f, kWait, "the function posted before start");
  node->stop();
  EXPECT_EQ(out->ran.load(), 1);
  EXPECT_EQ(out->dropped.load(), 0);
}

// After stop(), if_dropped runs on the caller's thread before post returns;
// it may call the node (its command fails with the node stopped, and its
// completion still fires).
TEST_F(PostTest, AfterStopOnlyIfDroppedRunsBeforePostReturns) {
  constexpr AppId kApp = 7;
  TestNode a = start_node(fast_config(), true, {{kApp, AppHandlers{}}});
  a->stop();
  auto out = std::make_shared<Outcome>();
  std::atomic<int> shout_done{0};
  std::thread::id dropped_on{};
  a->post([out] { ++out->ran; },
          [&, out, node = a.node.get()] {
            dropped_on = std::this_thread::get_id();
            ++out->dropped;
            node->shout(kApp, text("late"), [&](Result<void> r) {
              EXPECT_FALSE(r.ok());
              ++shout_done;
            });
          });
  EXPECT_EQ(out->dropped.load(), 1);
  EXPECT_EQ(out->ran.load(), 0);
  EXPECT_EQ(dropped_on, std::this_thread::get_id());
  EXPECT_EQ(shout_done.load(), 1);
  a->post([out] { ++out->ran; });  // no if_dropped: just destroyed
  EXPECT_EQ(out->ran.load(), 0);
}

// A node that never started drops what was posted when it is destroyed.
TEST_F(PostTest, NeverStartedNodeDropsPostsOnDestruction) {
  NodeOptions o;
  o.overlay = fast_config();
  auto created = Node::create(o);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<Node> node = std::move(*created);
  auto out = std::make_shared<Outcome>();
  node->post([out] { ++out->ran; }, [out] { ++out->dropped; });
  EXPECT_EQ(out->dropped.load(), 0);  // may still start
  node.reset();
  EXPECT_EQ(out->ran.load(), 0);
  EXPECT_EQ(out->dropped.load(), 1);
}

// Posts from another thread racing stop(): each ends exactly once, one way
// or the other, and none is lost.
TEST_F(PostTest, PostsRacingStopEachEndExactlyOnce) {
  constexpr int kPosts = 5000;
  TestNode a = start_node(fast_config());
  auto ran = std::make_shared<std::array<std::atomic<int>, kPosts>>();
  auto dropped = std::make_shared<std::array<std::atomic<int>, kPosts>>();
  auto first = std::make_shared<std::promise<void>>();
  auto first_f = first->get_future();
  std::thread poster([&, node = a.node.get()] {
    for (int i = 0; i < kPosts; ++i) {
      node->post(
          [ran, first, i] {
            if (++(*ran)[i] == 1 && i == 0) first->set_value();
          },
          [dropped, i] { ++(*dropped)[i]; });
    }
  });
  await(first_f, kWait, "the first post");
  a->stop();
  poster.join();
  int ran_total = 0;
  for (int i = 0; i < kPosts; ++i) {
    ASSERT_EQ((*ran)[i].load() + (*dropped)[i].load(), 1) << "post " << i;
    ran_total += (*ran)[i].load();
  }
  EXPECT_GE(ran_total, 1);
}

}  // namespace
}  // namespace chorus::itest
