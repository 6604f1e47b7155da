// PING, WHISPER, request/response, SHOUT and SPEAK between real nodes on
// loopback TCP, including nodes that only initiate connections.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>

#include "harness.h"
#include "inbox.h"

namespace chorus::itest {
namespace {

constexpr AppId kApp = 7;

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

OverlayConfig boot(const TestNode& to) {
  OverlayConfig c = fast_config();
  c.bootstrap = {to.addr()};
  return c;
}

TEST_F(RoutingTest, NodesIncludingInitiateOnlyOnesFindTheirBootstrapPeers) {
  TestNode a = start_node(fast_config());
  TestNode b = start_node(boot(a));
  TestNode c = start_node(boot(a), /*listen=*/false);
  TestNode d = start_node(boot(b), /*listen=*/false);
  EXPECT_FALSE(c->listen_address().has_value());
  EXPECT_FALSE(d->listen_address().has_value());

  ASSERT_TRUE(a.watch->wait_up(b.key()));
  ASSERT_TRUE(a.watch->wait_up(c.key()));
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(b.watch->wait_up(d.key()));
  ASSERT_TRUE(c.watch->wait_up(a.key()));
  ASSERT_TRUE(d.watch->wait_up(b.key()));

  // What A knows of its peers: B dialled in and listens, C dialled in and does not.
  auto infos = on_loop(*a, [&] { return a->peers(); });
  bool saw_b = false, saw_c = false;
  for (const auto& p : infos) {
    if (p.key == b.key()) {
      saw_b = true;
      EXPECT_FALSE(p.outbound);
      EXPECT_EQ(p.listen_port, b.addr().port);
    }
    if (p.key == c.key()) {
      saw_c = true;
      EXPECT_FALSE(p.outbound);
      EXPECT_EQ(p.listen_port, 0);
    }
  }
  EXPECT_TRUE(saw_b);
  EXPECT_TRUE(saw_c);
  auto from_c = on_loop(*c, [&] { return c->peers(); });
  for (const auto& p : from_c) EXPECT_TRUE(p.outbound) << "an initiate-only node only dials";

  // Nobody can dial an initiate-only node, so C and D are never linked.
  EXPECT_FALSE(c.linked_to(d));
}

TEST_F(RoutingTest, PingReportsAPositiveRoundTrip) {
  TestNode a = start_node(fast_config());
  TestNode b = start_node(boot(a), /*listen=*/false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(a.watch->wait_up(b.key()));

  auto rtt = ping(*b, a.key());
  ASSERT_TRUE(rtt) << rtt.error().to_string();
  EXPECT_GT(*rtt, 0);
  auto back = ping(*a, b.key());  // to the initiate-only node, over the link it opened
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_GT(*back, 0);
  EXPECT_LT(*back, 5'000'000);

  auto infos = on_loop(*a, [&] { return a->peers(); });
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_GT(infos[0].rtt_us, 0);

  // No link, no ping: it fails at once rather than waiting for a timeout.
  auto stranger = ping(*a, Identity::generate().public_key());
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code(), ErrorCode::kNotFound);
}

TEST_F(RoutingTest, WhisperAckCarriesTheBlake2bOfThePayload) {
  auto inbox_b = std::make_shared<Inbox>();
  auto inbox_c = std::make_shared<Inbox>();
  TestNode a = start_node(fast_config());
  TestNode b = start_node(boot(a), true, {{kApp, recording_handlers(inbox_b)}});
  TestNode c = start_node(boot(a), false, {{kApp, recording_handlers(inbox_c)}});
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  ASSERT_TRUE(a.watch->wait_up(c.key()));

  Bytes payload = random_bytes(10'000);
  auto hash = whisper(*a, kApp, b.key(), payload);
  ASSERT_TRUE(hash) << hash.error().to_string();
  EXPECT_EQ(*hash, blake2b_256(payload));
  ASSERT_TRUE(inbox_b->wait_payload(payload));
  auto got = inbox_b->items();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from, a.key());
  EXPECT_FALSE(got[0].encrypted);
  EXPECT_FALSE(got[0].is_request);

  // To the initiate-only node, over the link it opened.
  Bytes small = text("to the node that never listens");
  auto h2 = whisper(*a, kApp, c.key(), small);
  ASSERT_TRUE(h2) << h2.error().to_string();
  EXPECT_EQ(*h2, blake2b_256(small));
  EXPECT_TRUE(inbox_c->wait_payload(small));

  // An app the receiver does not run is refused with a NACK.
  auto nack = whisper(*a, kApp + 1, b.key(), text("nobody home"));
  ASSERT_FALSE(nack);
  EXPECT_EQ(nack.error().code(), ErrorCode::kRefused);
}

TEST_F(RoutingTest, EncryptedWhisperIsDeliveredAsPlaintext) {
  auto inbox = std::make_shared<Inbox>();
  TestNode a = start_node(fast_config(), true, {{kApp, recording_handlers(inbox)}});
  TestNode b = start_node(boot(a), false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  Bytes secret = text("attack at dawn");
  auto hash = whisper(*b, kApp, a.key(), secret, /*encrypt=*/true);
  ASSERT_TRUE(hash) << hash.error().to_string();
  ASSERT_TRUE(inbox->wait_size(1));
  auto got = inbox->items();
  EXPECT_TRUE(got[0].encrypted);
  EXPECT_EQ(got[0].payload, secret);
  EXPECT_EQ(got[0].from, b.key());
}

TEST_F(RoutingTest, RequestRoundTripsThroughTheResponder) {
  constexpr AppId kEcho = 7, kLater = 9;
  AppHandlers echo;
  echo.on_whisper = [](const WhisperInfo& w, Responder r) {
    if (!w.is_request) return;
    Bytes reversed(w.payload.rbegin(), w.payload.rend());
    EXPECT_TRUE(r.reply(std::move(reversed), /*encrypt=*/w.encrypted).ok());
  };
  // Keeps the Responder and answers later from another thread.
  auto kept = std::make_shared<std::promise<Responder>>();
  AppHandlers later;
  later.on_whisper = [kept](const WhisperInfo& w, Responder r) {
    if (w.is_request) kept->set_value(std::move(r));
  };
  TestNode a = start_node(fast_config(), true, {{kEcho, echo}, {kLater, later}});
  TestNode b = start_node(boot(a), false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  auto r1 = request(*b, kEcho, a.key(), text("abc"));
  ASSERT_TRUE(r1) << r1.error().to_string();
  EXPECT_EQ(*r1, text("cba"));

  RequestOptions enc;
  enc.encrypt = true;
  auto r2 = request(*b, kEcho, a.key(), text("secret"), enc);
  ASSERT_TRUE(r2) << r2.error().to_string();
  EXPECT_EQ(*r2, text("terces"));

  // The other way: a listening node asks the initiate-only one.
  TestNode c = start_node(boot(a), false, {{kEcho, echo}});
  ASSERT_TRUE(a.watch->wait_up(c.key()));
  auto r3 = request(*a, kEcho, c.key(), text("xyz"));
  ASSERT_TRUE(r3) << r3.error().to_string();
  EXPECT_EQ(*r3, text("zyx"));

  auto pending = std::make_shared<std::promise<Result<Bytes>>>();
  auto fut = pending->get_future();
  b->request(kLater, a.key(), text("q"), {},
             [pending](Result<Bytes> r) { pending->set_value(std::move(r)); });
  auto kept_future = kept->get_future();
  Responder responder = await(kept_future, kWait, "the request at the handler");
  ASSERT_TRUE(responder.valid());
  Result<void> sent = cancelled("not run");
  std::thread([&sent, r = std::move(responder)]() mutable {
    sent = r.reply(text("answered later"));
  }).join();
  EXPECT_TRUE(sent.ok()) << sent.error().to_string();
  auto r4 = await(fut, kWait, "the late response");
  ASSERT_TRUE(r4) << r4.error().to_string();
  EXPECT_EQ(*r4, text("answered later"));
}

TEST_F(RoutingTest, RequestNobodyAnswersTimesOut) {
  AppHandlers silent;
  // Keeps the Responders unanswered (dropping one would refuse the request).
  auto kept = std::make_shared<std::vector<Responder>>();
  silent.on_whisper = [kept](const WhisperInfo&, Responder r) { kept->push_back(std::move(r)); };
  TestNode a = start_node(fast_config(), true, {{kApp, silent}});
  TestNode b = start_node(boot(a), false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  RequestOptions o;
  o.timeout_ms = 300;
  auto start = Clock::now();
  auto r = request(*b, kApp, a.key(), text("hello?"), o);
  auto took = Clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout) << r.error().to_string();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  // The link is still fine afterwards.
  EXPECT_TRUE(ping(*b, a.key()));
}

TEST_F(RoutingTest, ShoutReachesEveryNodeExactlyOnce) {
  constexpr size_t kNodes = 5;
  std::vector<std::shared_ptr<Inbox>> inbox;
  for (size_t i = 0; i < kNodes; ++i) inbox.push_back(std::make_shared<Inbox>());
  auto apps = [&](size_t i) {
    return std::map<AppId, AppHandlers>{{kApp, recording_handlers(inbox[i])}};
  };
  // A; B, C dial A; D dials B; E (initiate-only) dials C: a tree at least.
  std::vector<TestNode> n;
  n.push_back(start_node(fast_config(), true, apps(0)));
  n.push_back(start_node(boot(n[0]), true, apps(1)));
  n.push_back(start_node(boot(n[0]), true, apps(2)));
  n.push_back(start_node(boot(n[1]), true, apps(3)));
  n.push_back(start_node(boot(n[2]), false, apps(4)));
  ASSERT_TRUE(n[0].watch->wait_up(n[1].key()));
  ASSERT_TRUE(n[0].watch->wait_up(n[2].key()));
  ASSERT_TRUE(n[1].watch->wait_up(n[3].key()));
  ASSERT_TRUE(n[2].watch->wait_up(n[4].key()));

  auto payload = [](const char* tag, size_t i) { return text(tag + std::to_string(i)); };
  for (size_t i = 0; i < kNodes; ++i) n[i]->shout(kApp, payload("shout-", i));
  for (size_t i = 0; i < kNodes; ++i) {
    for (size_t j = 0; j < kNodes; ++j) {
      if (i == j) continue;
      ASSERT_TRUE(inbox[j]->wait_payload(payload("shout-", i)))
          << "node " << j << " did not get the shout of node " << i;
    }
  }
  // A second round as a fence: duplicates of the first would have had time.
  for (size_t i = 0; i < kNodes; ++i) n[i]->shout(kApp, payload("fence-", i));
  for (size_t j = 0; j < kNodes; ++j) {
    ASSERT_TRUE(inbox[j]->wait_size(2 * (kNodes - 1))) << "node " << j;
  }
  for (size_t j = 0; j < kNodes; ++j) {
    auto got = inbox[j]->items();
    EXPECT_EQ(got.size(), 2 * (kNodes - 1)) << "node " << j << " got duplicates";
    for (size_t i = 0; i < kNodes; ++i) {
      EXPECT_EQ(inbox[j]->count(payload("shout-", i)), i == j ? 0u : 1u)
          << "node " << j << ", shout of node " << i;
    }
    for (const auto& r : got) {
      // The origin is the shouter, whatever path it took.
      std::string s(r.payload.begin(), r.payload.end());
      size_t idx = static_cast<size_t>(s.back() - '0');
      EXPECT_EQ(r.origin, n[idx].key());
    }
  }
}

TEST_F(RoutingTest, LargestPayloadsTravelWholeAndLargerOnesAreRefused) {
  OverlayConfig config = fast_config();
  config.max_frame_bytes = 64u << 10;
  // What one frame leaves for a payload: tag, codec byte, record length and
  // the message overhead the core reserves (NodeCore::max_payload_bytes).
  const size_t max_payload = config.max_frame_bytes - 16 - 1 - 4 - 256;
  auto a_in = std::make_shared<Inbox>();
  auto b_in = std::make_shared<Inbox>();
  AppHandlers echo = recording_handlers(b_in);
  echo.on_whisper = [b_in](const WhisperInfo& w, Responder r) {
    b_in->add(
        {w.from, w.from, Bytes(w.payload.begin(), w.payload.end()), w.encrypted, w.is_request});
    if (w.is_request) {
      EXPECT_TRUE(r.reply(Bytes(w.payload.begin(), w.payload.end()), w.encrypted).ok());
    }
  };
  TestNode a = start_node(config, true, {{kApp, recording_handlers(a_in)}});
  OverlayConfig cb = config;
  cb.bootstrap = {a.addr()};
  TestNode b = start_node(cb, false, {{kApp, echo}});
  ASSERT_TRUE(a.watch->wait_up(b.key()));

  Bytes big = random_bytes(max_payload);
  auto h = whisper(*a, kApp, b.key(), big, /*encrypt=*/true);
  ASSERT_TRUE(h) << h.error().to_string();
  ASSERT_TRUE(b_in->wait_payload(big));

  RequestOptions enc;
  enc.encrypt = true;
  auto r = request(*a, kApp, b.key(), big, enc);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(*r, big);

  Bytes shout = random_bytes(max_payload);
  auto done = std::make_shared<std::promise<Result<void>>>();
  auto f = done->get_future();
  b->shout(kApp, shout, [done](Result<void> x) { done->set_value(x); });
  EXPECT_TRUE(await(f));
  EXPECT_TRUE(a_in->wait_payload(shout));
  SpeakOptions ack;
  ack.ack = true;
  EXPECT_TRUE(speak(*a, kApp, random_bytes(max_payload), ack));

  Bytes too_big(max_payload + 1);
  auto w2 = whisper(*a, kApp, b.key(), too_big);
  ASSERT_FALSE(w2);
  EXPECT_EQ(w2.error().code(), ErrorCode::kLimit);
  auto s2 = speak(*a, kApp, too_big, ack);
  ASSERT_FALSE(s2);
  EXPECT_EQ(s2.error().code(), ErrorCode::kLimit);
  EXPECT_TRUE(ping(*a, b.key()));
}

TEST_F(RoutingTest, CommandsFromManyThreadsEachCompleteOnce) {
  auto inbox = std::make_shared<Inbox>();
  TestNode a = start_node(fast_config(), true, {{kApp, recording_handlers(inbox)}});
  TestNode b = start_node(boot(a), false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  constexpr int kThreads = 4, kEach = 250;
  std::atomic<int> ok{0}, calls{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Bytes p = text("t" + std::to_string(t) + "-" + std::to_string(i));
        auto done = [&](bool good) {
          ok += good;
          {
            std::lock_guard<std::mutex> g(mu);
            ++calls;
          }
          cv.notify_all();
        };
        if (i % 2) {
          b->whisper(kApp, a.key(), p, i % 4 == 1, [done](Result<Hash256> r) { done(r.ok()); });
        } else {
          b->ping(a.key(), [done](Result<int64_t> r) { done(r.ok() && *r > 0); });
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::unique_lock<std::mutex> g(mu);
  ASSERT_TRUE(cv.wait_for(g, kWait, [&] { return calls.load() >= kThreads * kEach; }));
  g.unlock();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  ASSERT_TRUE(inbox->wait_size(kThreads * kEach / 2));
  EXPECT_TRUE(ping(*a, b.key()));
  EXPECT_EQ(calls.load(), kThreads * kEach) << "a completion fired twice";
}

TEST_F(RoutingTest, HandlersMayIssueCommandsOnTheLoopThread) {
  // B answers each WHISPER with a WHISPER back, from inside its handler; A
  // does the same until the count runs out: a ping-pong of 200 messages.
  constexpr int kRounds = 100;
  auto finished = std::make_shared<std::promise<int>>();
  std::unique_ptr<Node>* a_node = nullptr;
  std::unique_ptr<Node>* b_node = nullptr;
  auto bounce = [](std::unique_ptr<Node>** self, std::shared_ptr<std::promise<int>> fin) {
    AppHandlers h;
    h.on_whisper = [self, fin](const WhisperInfo& w, Responder) {
      int n = std::stoi(std::string(w.payload.begin(), w.payload.end()));
      Node& me = ***self;
      EXPECT_TRUE(me.on_loop_thread());
      if (n >= kRounds) {
        fin->set_value(n);
        return;
      }
      me.whisper(kApp, w.from, text(std::to_string(n + 1)), n % 2 == 0,
                 [fin](Result<Hash256> r) { EXPECT_TRUE(r) << r.error().to_string(); });
    };
    return h;
  };
  TestNode a = start_node(fast_config(), true, {{kApp, bounce(&a_node, finished)}});
  a_node = &a.node;
  TestNode b = start_node(boot(a), false, {{kApp, bounce(&b_node, finished)}});
  b_node = &b.node;
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  b->whisper(kApp, a.key(), text("1"));
  auto f = finished->get_future();
  EXPECT_EQ(await(f), kRounds);
}

// A line A - B - C: C is initiate-only and may open one link (to B); A has
// no one to dial but B, to whom it is linked already. So A and C never link.
struct Line {
  std::shared_ptr<Inbox> a_in = std::make_shared<Inbox>();
  std::shared_ptr<Inbox> b_in = std::make_shared<Inbox>();
  std::shared_ptr<Inbox> c_in = std::make_shared<Inbox>();
  TestNode a, b, c;
  static constexpr AppId kForwarded = 7, kKept = 8;

  Line() {
    auto apps = [](std::shared_ptr<Inbox> in) {
      return std::map<AppId, AppHandlers>{
          {kForwarded, recording_handlers(in, SpeakDecision::kForward)},
          {kKept, recording_handlers(in, SpeakDecision::kKeep)}};
    };
    OverlayConfig one = fast_config();
    one.max_outbound_links = 1;
    a = start_node(one, true, apps(a_in));
    OverlayConfig cb = one;
    cb.bootstrap = {a.addr()};
    b = start_node(cb, true, apps(b_in));
    OverlayConfig cc = one;
    cc.bootstrap = {b.addr()};
    c = start_node(cc, false, apps(c_in));
  }
};

TEST_F(RoutingTest, SpeakIsForwardedOnlyWhenTheAppSaysSo) {
  Line l;
  ASSERT_TRUE(l.b.watch->wait_up(l.a.key()));
  ASSERT_TRUE(l.b.watch->wait_up(l.c.key()));
  ASSERT_FALSE(l.a.linked_to(l.c)) << "the test needs A and C not to be linked";

  // kForward at B: C hears A's SPEAK, with A as its origin and B as the sender.
  Bytes fwd = text("pass it on");
  l.a->speak(Line::kForwarded, fwd);
  ASSERT_TRUE(l.c_in->wait_payload(fwd));
  auto got = l.c_in->items();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].origin, l.a.key());
  EXPECT_EQ(got[0].from, l.b.key());
  ASSERT_TRUE(l.b_in->wait_payload(fwd));

  // kKeep at B: C does not hear it. B's decision is made before B pings C,
  // and the link keeps order, so once the PING is answered and C's loop has
  // run past it, a forwarded SPEAK would have arrived.
  Bytes kept = text("keep it");
  l.a->speak(Line::kKept, kept);
  ASSERT_TRUE(l.b_in->wait_payload(kept));
  ASSERT_TRUE(on_loop(*l.b, [] { return true; }));  // B's handler has returned
  ASSERT_TRUE(ping(*l.b, l.c.key()));
  on_loop(*l.c, [] {});
  EXPECT_EQ(l.c_in->count(kept), 0u);
  EXPECT_EQ(l.c_in->size(), 1u);
  // A never hears its own SPEAK back.
  EXPECT_EQ(l.a_in->size(), 0u);
}

TEST_F(RoutingTest, SpeakWithAckCompletes) {
  Line l;
  ASSERT_TRUE(l.b.watch->wait_up(l.a.key()));
  ASSERT_TRUE(l.b.watch->wait_up(l.c.key()));

  SpeakOptions all;
  all.ack = true;
  auto r = speak(*l.b, Line::kKept, text("to both"), all);  // B's peers: A and C
  EXPECT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(l.a_in->wait_payload(text("to both")));
  EXPECT_TRUE(l.c_in->wait_payload(text("to both")));

  SpeakOptions one;
  one.ack = true;
  one.to = l.c.key();
  auto r1 = speak(*l.b, Line::kKept, text("to C"), one);
  EXPECT_TRUE(r1) << r1.error().to_string();
  EXPECT_TRUE(l.c_in->wait_payload(text("to C")));
  EXPECT_EQ(l.a_in->count(text("to C")), 0u);

  // No direct link to the addressee, or no such app there.
  SpeakOptions far;
  far.ack = true;
  far.to = l.c.key();
  auto r2 = speak(*l.a, Line::kKept, text("x"), far);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), ErrorCode::kNotFound);
  one.to = l.a.key();
  auto r3 = speak(*l.b, 99, text("x"), one);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), ErrorCode::kRefused);

  // Without ACK the completion still fires (at once, successfully).
  auto r4 = speak(*l.a, Line::kKept, text("fire and forget"), {});
  EXPECT_TRUE(r4);
}

}  // namespace
}  // namespace chorus::itest
