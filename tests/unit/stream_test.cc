// Streams (spec/overlay.md, "Streams"): the STREAM message layout and its
// vectors, and NodeCore running streams between cores on a virtual clock:
// flow control, cancellation from either side, idle timeouts, the bounds on
// streams, a peer that sends beyond its credit, and links that close under
// open streams. Every stream must end exactly once on each side.
#include <gtest/gtest.h>

#include "core_net.h"

namespace chorus::overlay {
namespace {

// ---------------------------------------------------------------- messages

StreamMsg stream_msg(StreamKind kind, uint32_t stream) {
  StreamMsg s;
  s.app = kApp;
  s.kind = kind;
  s.stream = stream;
  return s;
}

Bytes encode(const StreamMsg& s) {
  return encode_message(Message{0, s});
}

TEST(StreamMessage, EveryKindRoundTrips) {
  std::vector<StreamMsg> all;
  StreamMsg open = stream_msg(StreamKind::kOpen, 1);
  open.credit = 16;
  open.payload = bytes_of("blocks from 1000");
  all.push_back(open);
  StreamMsg credit = stream_msg(StreamKind::kCredit, 2);
  credit.credit = 8;
  all.push_back(credit);
  StreamMsg cancel = stream_msg(StreamKind::kCancel, 3);
  cancel.code = 5;
  cancel.reason = "enough";
  all.push_back(cancel);
  StreamMsg data = stream_msg(StreamKind::kData, 4);
  data.payload = bytes_of("block");
  all.push_back(data);
  all.push_back(stream_msg(StreamKind::kEnd, 0xfffffffe));
  for (const auto& s : all) {
    const Bytes b = encode(s);
    EXPECT_EQ(b[0], static_cast<uint8_t>(Opcode::kStream));
    auto m = decode_message(b);
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    auto* back = std::get_if<StreamMsg>(&m->body);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(back->app, s.app);
    EXPECT_EQ(back->kind, s.kind);
    EXPECT_EQ(back->stream, s.stream);
    EXPECT_EQ(back->credit, s.credit);
    EXPECT_EQ(back->code, s.code);
    EXPECT_EQ(back->reason, s.reason);
    EXPECT_EQ(back->payload, s.payload);
    EXPECT_EQ(encode_message(*m), b);
  }
}

TEST(StreamMessage, BadInputIsMalformed) {
  auto malformed = [](const Bytes& b) {
    auto m = decode_message(b);
    return !m.ok() && m.error().code() == ErrorCode::kMalformed;
  };
  // header: opcode 14, id 0, app 7, then kind, stream
  const Bytes head = {14, 0, 0, 0, 0, 0, 7};
  auto with = [&](std::initializer_list<uint8_t> rest) {
    Bytes b = head;
    b.insert(b.end(), rest);
    return b;
  };
  EXPECT_TRUE(malformed(with({})));                               // no kind
  EXPECT_TRUE(malformed(with({3, 0, 0, 0})));                     // stream cut short
  EXPECT_TRUE(malformed(with({5, 0, 0, 0, 1})));                  // kind 5 unknown
  EXPECT_TRUE(malformed(with({0xff, 0, 0, 0, 1})));               // kind 255 unknown
  EXPECT_TRUE(malformed(with({0, 0, 0, 0, 1, 0, 0})));            // OPEN without its credit
  EXPECT_TRUE(malformed(with({1, 0, 0, 0, 1, 0, 0, 0, 1, 9})));   // CREDIT + trailing byte
  EXPECT_TRUE(malformed(with({1, 0, 0, 0, 1, 0, 0, 1})));         // CREDIT cut short
  EXPECT_TRUE(malformed(with({2, 0, 0, 0, 1, 5, 3, 'a', 'b'})));  // reason longer than input
  EXPECT_TRUE(malformed(with({4, 0, 0, 0, 1, 0, 1, 'a', 'b'})));  // END + trailing byte
  EXPECT_TRUE(malformed(with({4, 0, 0, 0, 1, 0})));               // END without reason_len
  EXPECT_FALSE(malformed(with({3, 0, 0, 0, 1})));                 // empty DATA is fine
  EXPECT_FALSE(malformed(with({0, 0, 0, 0, 1, 0, 0, 0, 0})));     // OPEN with no request
  EXPECT_STREQ(opcode_name(14), "STREAM");
}

TEST(StreamMessage, VectorsEncodeByteForByte) {
  const auto& v = vectors()["streams"];
  ASSERT_EQ(v.size(), 5u);
  for (const auto& s : v) {
    SCOPED_TRACE(s["name"].get<std::string>());
    const auto& f = s["fields"];
    StreamMsg m;
    m.app = f["app"].get<AppId>();
    m.kind = static_cast<StreamKind>(f["kind"].get<int>());
    m.stream = f["stream"].get<uint32_t>();
    if (f.contains("credit")) m.credit = f["credit"].get<uint32_t>();
    if (f.contains("code")) m.code = f["code"].get<uint8_t>();
    if (f.contains("reason")) m.reason = f["reason"].get<std::string>();
    if (f.contains("payload")) m.payload = hex_bytes(f["payload"]);
    EXPECT_EQ(hex(encode_message(Message{0, m})), s["encoding"]);
    auto back = decode_message(hex_bytes(s["encoding"]));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(encode_message(*back), hex_bytes(s["encoding"]));
  }
}

TEST(StreamConfig, BoundsMustBePositive) {
  for (int i = 0; i < 4; ++i) {
    OverlayConfig c;
    if (i == 0) c.max_inbound_streams_per_peer = 0;
    if (i == 1) c.max_outbound_streams = 0;
    if (i == 2) c.max_stream_window = 0;
    if (i == 3) c.stream_idle_timeout_ms = 0;
    auto r = c.validate();
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(OverlayConfig().validate().ok());
}

// ---------------------------------------------------------------- two cores

// Node 0 opens streams to node 1, which registers kApp. `seen` counters let
// a test walk each node's events once.
class Streams : public ::testing::Test {
 protected:
  void start(OverlayConfig opener = test_config(0), OverlayConfig responder = test_config(0)) {
    net.add(opener);
    net.add(responder);
    net.core(1).register_app(kApp);
    net.dial(0, 1);
    net.run(100 * kMs);
    ASSERT_TRUE(net.linked(0, 1));
    net.events(0).clear();
    net.events(1).clear();
  }
  NodeCore& opener() { return net.core(0); }
  NodeCore& responder() { return net.core(1); }
  Result<StreamId> open(uint32_t window, AppId app = kApp, bool manual = false) {
    auto id = opener().open_stream(app, net.key(1), bytes_of("give me blocks"), window, net.now_us,
                                   manual);
    net.drain(0);
    return id;
  }
  // The responder's handles from the StreamOpenEvents so far.
  std::vector<StreamOpenEvent> opens() { return events_of<StreamOpenEvent>(net.events(1)); }
  template <class T>
  std::vector<T> ends_at(size_t node) {
    return events_of<T>(net.events(node));
  }

  Net net;
};

Bytes numbered(size_t i) {
  Bytes b(64, static_cast<uint8_t>(i));
  for (int k = 0; k < 8; ++k) b[static_cast<size_t>(k)] = static_cast<uint8_t>(i >> (8 * k));
  return b;
}

TEST_F(Streams, LongStreamNeverExceedsItsWindowAndArrivesInOrder) {
  start();
  constexpr size_t kCount = 5000;
  constexpr uint32_t kWindow = 16;
  auto id = open(kWindow);
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  StreamHandle h = 0;
  size_t written = 0, received = 0, seen0 = 0, seen1 = 0, max_in_flight = 0;
  uint32_t max_credit = 0;
  std::optional<Result<void>> ended;
  bool end_sent = false;
  for (int step = 0; step < 100'000 && !ended; ++step) {
    net.run(100);  // 0.1 ms; one-way latency is 0.5 ms
    for (; seen0 < net.events(0).size(); ++seen0) {
      Event& e = net.events(0)[seen0];
      if (auto* d = std::get_if<StreamDataEvent>(&e)) {
        ASSERT_EQ(d->id, *id);
        ASSERT_EQ(d->payload, numbered(received)) << "out of order at " << received;
        ++received;
      } else if (auto* end = std::get_if<StreamEndEvent>(&e)) {
        ASSERT_FALSE(ended) << "second end";
        ended = end->result;
      }
    }
    for (; seen1 < net.events(1).size(); ++seen1)
      if (auto* o = std::get_if<StreamOpenEvent>(&net.events(1)[seen1])) h = o->handle;
    if (h == 0) continue;
    // The responder writes whenever it may; its credit is the bound on
    // DATA queued or in flight.
    max_credit = std::max(max_credit, responder().stream_credit(h));
    while (written < kCount && responder().stream_credit(h) > 0) {
      ASSERT_TRUE(responder().stream_write(h, numbered(written), net.now_us).ok());
      ++written;
      max_in_flight = std::max(max_in_flight, written - received);
    }
    if (written < kCount) {
      auto r = responder().stream_write(h, numbered(written), net.now_us);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
    } else if (!end_sent) {
      ASSERT_TRUE(responder().stream_end(h, kStreamFinished, "", net.now_us).ok());
      end_sent = true;
    }
    net.drain(1);
  }
  ASSERT_TRUE(ended.has_value());
  EXPECT_TRUE(ended->ok());
  EXPECT_EQ(received, kCount);
  EXPECT_LE(max_in_flight, kWindow);
  EXPECT_LE(max_credit, kWindow);
  EXPECT_GT(max_in_flight, kWindow / 2) << "credit came back in time to keep the window busy";
  net.run(10 * kMs);
  auto closed = ends_at<StreamClosedEvent>(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_TRUE(closed[0].result.ok());
  EXPECT_EQ(opener().stream_count(), 0u);
  EXPECT_EQ(responder().stream_count(), 0u);
}

TEST_F(Streams, OpenerCancelReachesTheResponderAndItsWritesFail) {
  start();
  auto id = open(8);
  ASSERT_TRUE(id.ok());
  net.run(5 * kMs);
  ASSERT_EQ(opens().size(), 1u);
  const StreamOpenEvent o = opens()[0];
  EXPECT_EQ(o.app, kApp);
  EXPECT_EQ(o.from, net.key(0));
  EXPECT_EQ(o.payload, bytes_of("give me blocks"));
  EXPECT_EQ(o.credit, 8u);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(responder().stream_write(o.handle, numbered(i), net.now_us).ok());
  ASSERT_TRUE(
      opener().stream_cancel(*id, NackCode::kUnspecified, "have it already", net.now_us).ok());
  EXPECT_EQ(opener().stream_cancel(*id, NackCode::kUnspecified, "again", net.now_us).error().code(),
            ErrorCode::kNotFound);
  net.drain(0);
  net.drain(1);
  net.run(5 * kMs);
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kCancelled);
  // The DATA written before the CANCEL arrived is dropped, not delivered.
  EXPECT_TRUE(ends_at<StreamDataEvent>(0).empty());
  auto closed = ends_at<StreamClosedEvent>(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].handle, o.handle);
  EXPECT_EQ(closed[0].result.error().code(), ErrorCode::kCancelled);
  EXPECT_NE(closed[0].result.error().message().find("have it already"), std::string::npos);
  auto w = responder().stream_write(o.handle, numbered(9), net.now_us);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(opener().stream_count() + responder().stream_count(), 0u);
}

TEST_F(Streams, ResponderEndsWithAnErrorTheOpenerSees) {
  start();
  auto id = open(8);
  net.run(5 * kMs);
  ASSERT_EQ(opens().size(), 1u);
  const StreamHandle h = opens()[0].handle;
  ASSERT_TRUE(responder().stream_write(h, numbered(0), net.now_us).ok());
  ASSERT_TRUE(responder().stream_end(h, NackCode::kNoResponse, "ledger pruned", net.now_us).ok());
  net.drain(1);
  net.run(5 * kMs);
  ASSERT_EQ(ends_at<StreamDataEvent>(0).size(), 1u);
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].id, *id);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kRefused);
  EXPECT_NE(ends[0].result.error().message().find("ledger pruned"), std::string::npos);
  auto closed = ends_at<StreamClosedEvent>(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_FALSE(closed[0].result.ok());
  EXPECT_EQ(opener().stream_cancel(*id, NackCode::kUnspecified, "late", net.now_us).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(Streams, IdleStreamsTimeOutOnBothSides) {
  OverlayConfig c = test_config(0);
  c.stream_idle_timeout_ms = 2000;
  start(c, c);
  auto id = open(4);
  ASSERT_TRUE(id.ok());
  net.run(1500 * kMs);
  ASSERT_EQ(opens().size(), 1u);
  EXPECT_TRUE(ends_at<StreamEndEvent>(0).empty());
  EXPECT_TRUE(ends_at<StreamClosedEvent>(1).empty());
  net.run(1000 * kMs);  // the responder never wrote: no progress for 2 s
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kTimeout);
  auto closed = ends_at<StreamClosedEvent>(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].result.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(opener().stream_count() + responder().stream_count(), 0u);
  EXPECT_TRUE(net.linked(0, 1)) << "a timed-out stream costs the link nothing";
}

TEST_F(Streams, AStreamWithProgressDoesNotTimeOut) {
  OverlayConfig c = test_config(0);
  c.stream_idle_timeout_ms = 1000;
  start(c, c);
  auto id = open(4);
  net.run(5 * kMs);
  ASSERT_EQ(opens().size(), 1u);
  const StreamHandle h = opens()[0].handle;
  for (int i = 0; i < 10; ++i) {  // one DATA every 600 ms for 6 s
    ASSERT_TRUE(responder().stream_write(h, numbered(i), net.now_us).ok()) << i;
    net.drain(1);
    net.run(600 * kMs);
  }
  EXPECT_TRUE(ends_at<StreamEndEvent>(0).empty());
  EXPECT_EQ(ends_at<StreamDataEvent>(0).size(), 10u);
  EXPECT_EQ(opener().stream_count(), 1u);
  ASSERT_TRUE(opener().stream_cancel(*id, NackCode::kUnspecified, "done", net.now_us).ok());
}

TEST_F(Streams, TooManyStreamsFromOnePeerAreRefusedWithLimit) {
  OverlayConfig o = test_config(0), r = test_config(0);
  o.max_outbound_streams = 4;
  r.max_inbound_streams_per_peer = 2;
  start(o, r);
  std::vector<StreamId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(*open(4));
  auto fifth = open(4);
  ASSERT_FALSE(fifth.ok());
  EXPECT_EQ(fifth.error().code(), ErrorCode::kLimit);
  net.run(5 * kMs);
  EXPECT_EQ(opens().size(), 2u);
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 2u);
  for (const auto& e : ends) {
    EXPECT_TRUE(e.id == ids[2] || e.id == ids[3]);
    EXPECT_EQ(e.result.error().code(), ErrorCode::kLimit);
  }
  // A slot freed is a slot the peer may use again.
  ASSERT_TRUE(responder().stream_end(opens()[0].handle, kStreamFinished, "", net.now_us).ok());
  net.drain(1);
  net.run(5 * kMs);
  ASSERT_TRUE(open(4).ok());
  net.run(5 * kMs);
  EXPECT_EQ(opens().size(), 3u);
}

TEST_F(Streams, WindowAboveTheLimitIsRefused) {
  OverlayConfig r = test_config(0);
  r.max_stream_window = 8;
  start(test_config(0), r);
  auto bad = open(0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  auto big = open(opener().config().max_stream_window + 1);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kInvalidArgument);
  auto id = open(16);  // fine here, too much for the responder
  ASSERT_TRUE(id.ok());
  net.run(5 * kMs);
  EXPECT_TRUE(opens().empty());
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kLimit);
}

TEST_F(Streams, UnknownAppIsAnsweredUnknownApp) {
  start();
  auto id = open(4, /*app=*/99);
  ASSERT_TRUE(id.ok());
  net.run(5 * kMs);
  EXPECT_TRUE(opens().empty());
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kRefused);
  EXPECT_NE(ends[0].result.error().message().find("code 2"), std::string::npos)
      << ends[0].result.error().message();
  EXPECT_EQ(opener().stream_count(), 0u);
}

TEST_F(Streams, ManualCreditIsGrantedByTheApp) {
  start();
  auto id = open(4, kApp, /*manual=*/true);
  net.run(5 * kMs);
  ASSERT_EQ(opens().size(), 1u);
  const StreamHandle h = opens()[0].handle;
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(responder().stream_write(h, numbered(i), net.now_us).ok());
  EXPECT_EQ(responder().stream_write(h, numbered(4), net.now_us).error().code(), ErrorCode::kLimit);
  net.drain(1);
  net.run(5 * kMs);
  EXPECT_EQ(ends_at<StreamDataEvent>(0).size(), 4u);
  EXPECT_EQ(responder().stream_credit(h), 0u) << "no credit came back by itself";
  EXPECT_TRUE(ends_at<StreamCreditEvent>(1).empty());
  EXPECT_EQ(opener().stream_grant(*id, 5, net.now_us).error().code(), ErrorCode::kLimit);
  ASSERT_TRUE(opener().stream_grant(*id, 3, net.now_us).ok());
  net.drain(0);
  net.run(5 * kMs);
  auto credit = ends_at<StreamCreditEvent>(1);
  ASSERT_EQ(credit.size(), 1u);
  EXPECT_EQ(credit[0].handle, h);
  EXPECT_EQ(credit[0].credit, 3u);
  EXPECT_EQ(responder().stream_credit(h), 3u);
}

TEST_F(Streams, LinkClosedMidStreamEndsEveryStreamOnceOnBothSides) {
  start();
  auto a = open(8), b = open(8);
  net.run(5 * kMs);
  ASSERT_EQ(opens().size(), 2u);
  for (const auto& o : opens())
    ASSERT_TRUE(responder().stream_write(o.handle, numbered(1), net.now_us).ok());
  net.drain(1);
  ASSERT_TRUE(opener().disconnect(net.key(1), "going away", net.now_us).ok());
  net.drain(0);
  net.run(50 * kMs);
  auto ends = ends_at<StreamEndEvent>(0);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_NE(ends[0].id, ends[1].id);
  for (const auto& e : ends) {
    EXPECT_TRUE(e.id == *a || e.id == *b);
    EXPECT_EQ(e.result.error().code(), ErrorCode::kCancelled);
  }
  auto closed = ends_at<StreamClosedEvent>(1);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_NE(closed[0].handle, closed[1].handle);
  for (const auto& c : closed) EXPECT_EQ(c.result.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(opener().stream_count() + responder().stream_count(), 0u);
  net.run(60'000 * kMs);  // no timer fires a second end later
  EXPECT_EQ(ends_at<StreamEndEvent>(0).size(), 2u);
  EXPECT_EQ(ends_at<StreamClosedEvent>(1).size(), 2u);
}

TEST_F(Streams, OpenWithoutALinkIsNotFound) {
  start();
  auto r = opener().open_stream(kApp, identity_of(77).public_key(), {}, 4, net.now_us);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
}

// ---------------------------------------------------------------- hand-driven peers

// Core 0 opens a stream to a RawPeer that offered streams.
struct RawResponder {
  explicit RawResponder(OverlayConfig c)
      : core(identity_of(1), c, 1'000'000), raw(core, identity_of(2)) {}
  // The raw peer offers option 4 and the core opens a stream to it; returns the OPEN.
  std::optional<StreamMsg> offer_and_open(uint32_t window, bool manual) {
    raw.send(Message{1, SetConnectionOptMsg{4, 1}});
    id = core.open_stream(kApp, raw.key(), bytes_of("req"), window, 1'000'000, manual);
    if (!id.ok()) return std::nullopt;
    raw.send(Message{2, PingMsg{}});  // lets the core's queued bytes reach the raw peer
    for (auto& [mid, s] : raw.received_of<StreamMsg>())
      if (s.kind == StreamKind::kOpen) return s;
    return std::nullopt;
  }
  NodeCore core;
  RawPeer raw;
  Result<StreamId> id = StreamId{0};
};

TEST(StreamsRaw, DataBeyondCreditIsAViolationThatCostsThePeer) {
  OverlayConfig c = test_config(1);
  c.misbehaviour_limit = 20;  // one stream violation is enough to be banned
  RawResponder t(c);
  ASSERT_TRUE(t.raw.established());
  auto open = t.offer_and_open(2, /*manual=*/true);  // no credit comes back by itself
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->credit, 2u);
  for (int i = 0; i < 3; ++i) {
    StreamMsg d = stream_msg(StreamKind::kData, open->stream);
    d.payload = numbered(i);
    t.raw.send(Message{0, d});
  }
  EXPECT_EQ(events_of<StreamDataEvent>(t.raw.events()).size(), 2u);
  auto ends = events_of<StreamEndEvent>(t.raw.events());
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kProtocol);
  // At misbehaviour_limit the link closes (its queued CANCEL with it) and the key is banned.
  ASSERT_TRUE(t.raw.closed_reason().has_value());
  EXPECT_NE(t.raw.closed_reason()->find("beyond"), std::string::npos) << *t.raw.closed_reason();
  EXPECT_TRUE(t.core.is_banned(t.raw.key(), 1'000'000));
  EXPECT_EQ(t.core.stream_count(), 0u);
}

TEST(StreamsRaw, APeerThatRefusesTheOptionNeverGetsAStreamMessage) {
  RawResponder t(test_config(1));
  // No offer from the raw peer: the OPEN waits for one.
  auto id = t.core.open_stream(kApp, t.raw.key(), bytes_of("req"), 4, 1'000'000);
  ASSERT_TRUE(id.ok());
  t.raw.send(Message{2, PingMsg{}});
  uint32_t offer_id = 0;
  for (auto& [mid, o] : t.raw.received_of<SetConnectionOptMsg>())
    if (o.option == 4) offer_id = mid;
  ASSERT_NE(offer_id, 0u) << "the core offers option 4 on every link";
  // An older node answers the offer NACK(unknown option).
  t.raw.send(
      Message{offer_id, NackMsg{3, NackCode::kUnsupportedOption, "unknown option 4", {4, 1}}});
  auto ends = events_of<StreamEndEvent>(t.raw.events());
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].id, *id);
  EXPECT_EQ(ends[0].result.error().code(), ErrorCode::kRefused);
  auto again = t.core.open_stream(kApp, t.raw.key(), bytes_of("req"), 4, 1'000'000);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kRefused);
  t.raw.send(Message{3, PingMsg{}});
  EXPECT_TRUE(t.raw.received_of<StreamMsg>().empty());
}

TEST(StreamsRaw, CreditAboveTheWindowIsAViolation) {
  OverlayConfig c = test_config(1);
  c.max_stream_window = 8;
  NodeCore core(identity_of(1), c, 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  StreamMsg open = stream_msg(StreamKind::kOpen, 7);
  open.credit = 8;
  raw.send(Message{0, open});
  auto opens = events_of<StreamOpenEvent>(raw.events());
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(core.stream_credit(opens[0].handle), 8u);
  StreamMsg credit = stream_msg(StreamKind::kCredit, 7);
  credit.credit = 1;
  raw.send(Message{0, credit});
  auto closed = events_of<StreamClosedEvent>(raw.events());
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].result.error().code(), ErrorCode::kProtocol);
  bool ended = false;
  for (auto& [mid, s] : raw.received_of<StreamMsg>())
    if (s.kind == StreamKind::kEnd && s.stream == 7 &&
        s.code == static_cast<uint8_t>(NackCode::kLimit))
      ended = true;
  EXPECT_TRUE(ended);
  // The same id may be opened again once ended; a second OPEN for an open id
  // is a violation and opens nothing.
  raw.send(Message{0, open});
  raw.send(Message{0, open});
  EXPECT_EQ(events_of<StreamOpenEvent>(raw.events()).size(), 2u);
  EXPECT_EQ(core.stream_count(), 1u);
}

}  // namespace
}  // namespace chorus::overlay
