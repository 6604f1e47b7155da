// Streams and DIRECT through the Node API, between real nodes on loopback
// TCP: a long answer arrives whole and in order without the responder ever
// holding more credit than the window; the opener stops a stream early; a
// dropped or failed writer and an app without a stream handler end the
// opener at once; stop() ends what is open; DIRECT reaches the app.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "harness.h"

namespace chorus::itest {
namespace {

constexpr AppId kApp = 9;

class NodeStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }

  // B serves `handlers`; A (no apps of its own) is linked to it.
  void start_pair(AppHandlers handlers) {
    b = start_node(fast_config(), true, {{kApp, std::move(handlers)}});
    a = start_node(fast_config());
    a->add_peer(b.addr());
    ASSERT_TRUE(a.watch->wait_up(b.key()));
    ASSERT_TRUE(b.watch->wait_up(a.key()));
  }

  TestNode a, b;
};

// What an opener saw: the DATA in order and its single end.
struct Opened {
  std::mutex mu;
  std::vector<std::string> data;
  int ends = 0;
  std::optional<Result<void>> end;
  std::promise<Result<void>> ended;
  size_t stop_after = SIZE_MAX;  // on_data returns false at this count

  StreamCallbacks callbacks(std::shared_ptr<Opened> self) {
    StreamCallbacks cb;
    cb.on_data = [self](ByteView p) {
      std::lock_guard<std::mutex> g(self->mu);
      self->data.emplace_back(p.begin(), p.end());
      return self->data.size() < self->stop_after;
    };
    cb.on_end = [self](Result<void> r) {
      std::lock_guard<std::mutex> g(self->mu);
      if (++self->ends == 1) self->ended.set_value(r);
    };
    return cb;
  }
};

// Writes "0", "1", ... up to `total` (unbounded for SIZE_MAX) while the
// writer has credit; records the largest credit it saw and how it ended.
struct Counter : std::enable_shared_from_this<Counter> {
  size_t total = 0;
  size_t next = 0;
  std::atomic<uint32_t> max_credit{0};
  std::atomic<bool> stopped{false};  // a write said the stream is over
  std::promise<ErrorCode> write_failed;

  void pump(StreamWriter w) {
    for (uint32_t c = w.credit(); c > 0 && next < total; c = w.credit()) {
      if (c > max_credit) max_credit = c;
      auto r = w.write(text(std::to_string(next)));
      if (!r) return fail(r.error().code());
      ++next;
    }
    if (next == total) {
      (void)w.finish();
      return;
    }
    if (w.credit() == 0) {
      // Credit back, or the end: then the write below says so.
      auto r = w.write(text("probe"));
      if (r) return fail(ErrorCode::kProtocol);  // wrote beyond the credit
      if (r.error().code() != ErrorCode::kLimit) return fail(r.error().code());
    }
    w.when_credit([self = shared_from_this(), w] { self->pump(w); });
  }
  void fail(ErrorCode code) {
    if (!stopped.exchange(true)) write_failed.set_value(code);
  }
};

TEST_F(NodeStreamTest, LongAnswerArrivesInOrderWithinTheWindow) {
  constexpr size_t kTotal = 5000;
  constexpr uint32_t kWindow = 16;
  auto counter = std::make_shared<Counter>();
  counter->total = kTotal;
  AppHandlers h;
  h.on_stream = [counter](const StreamRequest& req, StreamWriter w) {
    EXPECT_EQ(std::string(req.payload.begin(), req.payload.end()), "count");
    counter->pump(std::move(w));
  };
  start_pair(std::move(h));

  auto got = std::make_shared<Opened>();
  a->open_stream(kApp, b.key(), text("count"), got->callbacks(got), StreamOptions{kWindow});
  auto f = got->ended.get_future();
  auto r = await(f, kWait, "the stream's end");
  ASSERT_TRUE(r) << r.error().to_string();
  std::lock_guard<std::mutex> g(got->mu);
  ASSERT_EQ(got->data.size(), kTotal);
  for (size_t i = 0; i < kTotal; ++i) ASSERT_EQ(got->data[i], std::to_string(i)) << i;
  EXPECT_LE(counter->max_credit.load(), kWindow) << "the responder held more than the window";
  EXPECT_GT(counter->max_credit.load(), 0u);
  EXPECT_FALSE(counter->stopped.load());
}

TEST_F(NodeStreamTest, OpenerStopsAnEndlessStream) {
  auto counter = std::make_shared<Counter>();
  counter->total = SIZE_MAX;
  AppHandlers h;
  h.on_stream = [counter](const StreamRequest&, StreamWriter w) { counter->pump(std::move(w)); };
  start_pair(std::move(h));

  auto got = std::make_shared<Opened>();
  got->stop_after = 100;
  a->open_stream(kApp, b.key(), text("all"), got->callbacks(got), StreamOptions{8});
  auto f = got->ended.get_future();
  auto r = await(f, kWait, "the stream's end");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
  // The responder learns it: its next write after the CANCEL finds no stream.
  auto wf = counter->write_failed.get_future();
  EXPECT_EQ(await(wf, kWait, "the responder to notice"), ErrorCode::kNotFound);
  std::lock_guard<std::mutex> g(got->mu);
  EXPECT_GE(got->data.size(), 100u);
  EXPECT_EQ(got->ends, 1);
}

TEST_F(NodeStreamTest, DroppedWriterFailedWriterAndNoHandlerEndTheOpenerAtOnce) {
  AppHandlers h;
  h.on_stream = [](const StreamRequest& req, StreamWriter w) {
    const std::string what(req.payload.begin(), req.payload.end());
    if (what == "fail") (void)w.fail("no such ledger");
    // "drop": the writer goes out of scope unfinished.
  };
  start_pair(std::move(h));

  auto ask = [&](AppId app, const char* what) {
    auto got = std::make_shared<Opened>();
    a->open_stream(app, b.key(), text(what), got->callbacks(got));
    auto f = got->ended.get_future();
    // Far below stream_idle_timeout_ms: the answer is an END, not a timeout.
    return await(f, kWait, "the stream's end");
  };
  auto dropped = ask(kApp, "drop");
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error().code(), ErrorCode::kRefused);
  EXPECT_NE(dropped.error().message().find("dropped unfinished"), std::string::npos)
      << dropped.error().to_string();

  auto failed = ask(kApp, "fail");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kRefused);
  EXPECT_NE(failed.error().message().find("no such ledger"), std::string::npos)
      << failed.error().to_string();

  auto unknown = ask(kApp + 1, "anything");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kRefused);
}

TEST_F(NodeStreamTest, NoLinkAndZeroWindowFailWithoutWaiting) {
  start_pair(AppHandlers{});
  TestNode lonely = start_node(fast_config());
  auto got = std::make_shared<Opened>();
  a->open_stream(kApp, lonely.key(), text("x"), got->callbacks(got));
  auto f = got->ended.get_future();
  auto r = await(f, kWait, "the stream's end");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);

  auto zero = std::make_shared<Opened>();
  a->open_stream(kApp, b.key(), text("x"), zero->callbacks(zero), StreamOptions{0});
  auto fz = zero->ended.get_future();
  auto rz = await(fz, kWait, "the stream's end");
  ASSERT_FALSE(rz);
  EXPECT_EQ(rz.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(NodeStreamTest, StopEndsOpenStreamsOnceAndWritersAnswerCancelled) {
  auto held = std::make_shared<std::promise<void>>();
  auto writer = std::make_shared<StreamWriter>();
  AppHandlers h;
  h.on_stream = [held, writer](const StreamRequest&, StreamWriter w) {
    *writer = std::move(w);  // kept, never written
    held->set_value();
  };
  start_pair(std::move(h));
  auto got = std::make_shared<Opened>();
  a->open_stream(kApp, b.key(), text("hold"), got->callbacks(got));
  auto fh = held->get_future();
  await(fh, kWait, "the responder to hold the stream");

  a->stop();
  auto f = got->ended.get_future();
  auto r = await(f, kWait, "the stream's end");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(got->ends, 1);

  b->stop();
  auto w = writer->write(text("late"));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), ErrorCode::kInvalidArgument)
      << "off the loop thread (and the node stopped): " << w.error().to_string();
}

TEST_F(NodeStreamTest, DirectReachesTheAppOfADirectPeer) {
  auto got = std::make_shared<std::promise<std::pair<PublicKey, std::string>>>();
  AppHandlers h;
  h.priority = AppPriority::kHigh;
  h.on_direct = [got](const DirectInfo& d) {
    got->set_value({d.from, std::string(d.payload.begin(), d.payload.end())});
  };
  start_pair(std::move(h));

  auto sent = std::make_shared<std::promise<Result<void>>>();
  a->send(kApp, b.key(), text("vote"), [sent](Result<void> r) { sent->set_value(r); });
  auto fs = sent->get_future();
  EXPECT_TRUE(await(fs, kWait, "send's completion"));
  auto f = got->get_future();
  auto [from, payload] = await(f, kWait, "the DIRECT");
  EXPECT_EQ(from, a.key());
  EXPECT_EQ(payload, "vote");

  TestNode lonely = start_node(fast_config());
  auto no_link = std::make_shared<std::promise<Result<void>>>();
  a->send(kApp, lonely.key(), text("x"), [no_link](Result<void> r) { no_link->set_value(r); });
  auto fn = no_link->get_future();
  auto r = await(fn, kWait, "send's completion");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace chorus::itest
