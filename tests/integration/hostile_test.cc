// Hostile and broken peers against a real node: raw TCP clients that send
// garbage, stall, lie about sizes or never read, and a node that floods.
// Each time the node must drop the offender and keep serving honest peers.
#include <gtest/gtest.h>

#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/message.h"
#include "harness.h"
#include "inbox.h"

namespace chorus::itest {
namespace {

constexpr AppId kApp = 7;

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }

  // A listening node A (running kApp) and an honest B linked to it.
  void start_pair(OverlayConfig config) {
    a_in = std::make_shared<Inbox>();
    a = start_node(config, true, {{kApp, recording_handlers(a_in)}});
    OverlayConfig cb = config;
    cb.bootstrap = {a.addr()};
    b = start_node(cb, false);
    ASSERT_TRUE(a.watch->wait_up(b.key()));
  }

  // A and B still talk both ways.
  void expect_healthy() {
    Bytes payload = random_bytes(1000);
    auto h = whisper(*b, kApp, a.key(), payload);
    ASSERT_TRUE(h) << h.error().to_string();
    EXPECT_EQ(*h, blake2b_256(payload));
    EXPECT_TRUE(a_in->wait_payload(payload));
    auto p = ping(*a, b.key());
    EXPECT_TRUE(p) << p.error().to_string();
  }

  std::shared_ptr<Inbox> a_in;
  TestNode a, b;
};

// Timers long enough that a quick close proves the node reacted to the input,
// not to a timeout.
OverlayConfig patient_config() {
  OverlayConfig c = fast_config();
  c.handshake_timeout_ms = 5000;
  c.ping_interval_ms = 60000;
  c.ping_timeout_ms = 60000;
  return c;
}

Bytes valid_hello(uint8_t version = kProtocolVersion) {
  Hello h;
  h.version = version;
  h.static_key = Identity::generate().public_key();
  h.ephemeral_key = Identity::generate().public_key();  // any 32 bytes will do here
  return encode_hello(h);
}

// codec byte ‖ (length u32 ‖ record)*, as the node seals them.
Bytes frame_plaintext(const std::vector<Message>& messages) {
  Bytes plain{0};
  for (const auto& m : messages) {
    Bytes rec = encode_message(m);
    uint32_t n = static_cast<uint32_t>(rec.size());
    plain.insert(plain.end(), {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                               static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    plain.insert(plain.end(), rec.begin(), rec.end());
  }
  return plain;
}

// Reads sealed frames until a message satisfies `pred`; throws on timeout.
Message read_message_until(RawClient& c, FrameOpener& opener, Bytes& rx,
                           const std::function<bool(const Message&)>& pred) {
  auto deadline = Clock::now() + kWait;
  for (;;) {
    for (;;) {
      auto r = opener.open(std::span<uint8_t>(rx));
      if (!r) throw std::runtime_error("raw client: bad frame: " + r.error().to_string());
      if (!*r) break;
      auto plain = (*r)->plaintext;
      size_t consumed = (*r)->consumed;
      for (size_t off = 1; off + 4 <= plain.size();) {
        size_t len = size_t{plain[off]} << 24 | size_t{plain[off + 1]} << 16 |
                     size_t{plain[off + 2]} << 8 | size_t{plain[off + 3]};
        auto m = decode_message(ByteView(plain.data() + off + 4, len));
        off += 4 + len;
        if (m && pred(*m)) {
          rx.erase(rx.begin(), rx.begin() + static_cast<std::ptrdiff_t>(consumed));
          return *m;
        }
      }
      rx.erase(rx.begin(), rx.begin() + static_cast<std::ptrdiff_t>(consumed));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error("raw client: no such message in time");
    Bytes more = c.read_some(left);
    if (more.empty()) throw std::runtime_error("raw client: closed or silent");
    rx.insert(rx.end(), more.begin(), more.end());
  }
}

TEST_F(HostileTest, RawClientThatShakesHandsCorrectlyIsServed) {
  // The control for the attacks below: the test's own handshake and framing work.
  start_pair(patient_config());
  Identity me = Identity::generate();
  RawClient c(a.addr());
  Bytes rx;
  SessionKeys keys = c.handshake(me, &rx);
  ASSERT_TRUE(a.watch->wait_up(me.public_key()));
  FrameSealer sealer(keys.tx);
  FrameOpener opener(keys.rx, 1 << 20);
  Bytes out;
  sealer.seal(frame_plaintext({Message{42, PingMsg{}}}), out);
  ASSERT_TRUE(c.send_all(out));
  Message ack = read_message_until(c, opener, rx, [](const Message& m) {
    return m.id == 42 && std::holds_alternative<AckMsg>(m.body);
  });
  EXPECT_EQ(std::get<AckMsg>(ack.body).acked, static_cast<uint8_t>(Opcode::kPing));
}

// A raw client past the handshake that speaks sealed messages to the node.
struct RawPeer {
  Identity id = Identity::generate();
  RawClient sock;
  Bytes rx;
  SessionKeys keys;
  FrameSealer sealer;
  FrameOpener opener;

  explicit RawPeer(const SocketAddress& to)
      : sock(to), keys(sock.handshake(id, &rx)), sealer(keys.tx), opener(keys.rx, 1 << 20) {}
  const PublicKey& key() const { return id.public_key(); }
  bool send(const std::vector<Message>& messages) {
    Bytes out;
    sealer.seal(frame_plaintext(messages), out);
    return sock.send_all(out);
  }
  Message read_until(const std::function<bool(const Message&)>& pred) {
    return read_message_until(sock, opener, rx, pred);
  }
  Message answer_to(uint32_t msg_id) {
    return read_until([msg_id](const Message& m) {
      return m.id == msg_id &&
             (std::holds_alternative<AckMsg>(m.body) || std::holds_alternative<NackMsg>(m.body));
    });
  }
  // A PING answered: the node has handled everything sent before it.
  void round_trip(uint32_t msg_id) {
    ASSERT_TRUE(send({Message{msg_id, PingMsg{}}}));
    Message m = answer_to(msg_id);
    ASSERT_TRUE(std::holds_alternative<AckMsg>(m.body));
  }
};

TEST_F(HostileTest, UnknownOpcodeAndOptionsAreNackedAndTheLinkStays) {
  start_pair(patient_config());
  RawPeer raw(a.addr());
  ASSERT_TRUE(a.watch->wait_up(raw.key()));

  ASSERT_TRUE(raw.send({Message{7, UnknownMsg{200}}}));
  Message n1 = raw.answer_to(7);
  ASSERT_TRUE(std::holds_alternative<NackMsg>(n1.body));
  EXPECT_EQ(std::get<NackMsg>(n1.body).acked, 200);
  EXPECT_EQ(std::get<NackMsg>(n1.body).code, NackCode::kUnknownOpcode);

  ASSERT_TRUE(raw.send({Message{8, SetConnectionOptMsg{9, 4}}}));  // no option 9
  Message n2 = raw.answer_to(8);
  ASSERT_TRUE(std::holds_alternative<NackMsg>(n2.body));
  EXPECT_EQ(std::get<NackMsg>(n2.body).data, (Bytes{9, 4}));

  raw.round_trip(9);
  EXPECT_EQ(a.watch->downs(raw.key()), 0);
  expect_healthy();
}

TEST_F(HostileTest, ShoutsAreCheckedRelayedOnceAndBadOnesDropped) {
  auto b_in = std::make_shared<Inbox>();
  OverlayConfig config = patient_config();
  a_in = std::make_shared<Inbox>();
  a = start_node(config, true, {{kApp, recording_handlers(a_in)}});
  OverlayConfig cb = config;
  cb.bootstrap = {a.addr()};
  b = start_node(cb, false, {{kApp, recording_handlers(b_in)}});
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  RawPeer raw(a.addr());
  ASSERT_TRUE(a.watch->wait_up(raw.key()));

  auto shout = [&](uint64_t id, Bytes payload, bool sign_well) {
    ShoutMsg s;
    s.app = kApp;
    s.hops_left = 8;
    s.origin = raw.key();
    s.shout_id = id;
    s.payload = payload;
    s.signature = raw.id.sign(shout_signing_bytes(kApp, s.origin, id, payload));
    if (!sign_well) s.signature[5] ^= 1;
    return Message{0, s};
  };
  Bytes good = text("signed by its origin"), bad = text("forged");
  // The good one twice (a duplicate), the forged one once.
  ASSERT_TRUE(raw.send({shout(1, good, true), shout(1, good, true), shout(2, bad, false)}));
  raw.round_trip(10);
  ASSERT_TRUE(b_in->wait_payload(good));
  ASSERT_TRUE(ping(*a, b.key()));  // anything A relayed has reached B now
  on_loop(*b, [] {});
  EXPECT_EQ(a_in->count(good), 1u);
  EXPECT_EQ(b_in->count(good), 1u);
  EXPECT_EQ(a_in->count(bad), 0u);
  EXPECT_EQ(b_in->count(bad), 0u);
  auto st = on_loop(*a, [&] { return a->stats(); });
  EXPECT_EQ(st.bad_signatures, 1u);
  EXPECT_GE(st.duplicates_dropped, 1u);
  // One forgery is not yet enough to be disconnected.
  EXPECT_EQ(a.watch->downs(raw.key()), 0);
}

TEST_F(HostileTest, WhisperAckWithTheWrongHashFailsTheWhisper) {
  start_pair(patient_config());
  RawPeer raw(a.addr());
  ASSERT_TRUE(a.watch->wait_up(raw.key()));

  auto done = std::make_shared<std::promise<Result<Hash256>>>();
  auto f = done->get_future();
  a->whisper(kApp, raw.key(), text("check my hash"), false,
             [done](Result<Hash256> r) { done->set_value(std::move(r)); });
  Message w =
      raw.read_until([](const Message& m) { return std::holds_alternative<WhisperMsg>(m.body); });
  EXPECT_EQ(std::get<WhisperMsg>(w.body).payload, text("check my hash"));
  ASSERT_TRUE(
      raw.send({Message{w.id, AckMsg{static_cast<uint8_t>(Opcode::kWhisper), Bytes(32, 0x5a)}}}));
  auto r = await(f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol) << r.error().to_string();
  expect_healthy();
}

TEST_F(HostileTest, PeerThatNeverAnswersPingsIsDropped) {
  OverlayConfig c = fast_config();
  c.ping_timeout_ms = 1000;  // PING every 200 ms, dead after 1 s without an answer
  start_pair(c);
  RawPeer raw(a.addr());
  ASSERT_TRUE(a.watch->wait_up(raw.key()));
  auto start = Clock::now();
  EXPECT_TRUE(raw.sock.wait_closed(5s));  // reads everything, answers nothing
  EXPECT_GE(Clock::now() - start, 900ms);
  std::string reason;
  ASSERT_TRUE(a.watch->wait_down(raw.key(), kWait, &reason));
  EXPECT_NE(reason.find("unresponsive"), std::string::npos) << reason;
  expect_healthy();
}

TEST_F(HostileTest, RandomBytesAreRefusedAndTheNodeKeepsWorking) {
  start_pair(patient_config());
  for (int i = 0; i < 3; ++i) {
    RawClient c(a.addr());
    Bytes junk = random_bytes(4096);
    junk[0] = 'X';  // never the HELLO magic
    c.send_all(junk);
    EXPECT_TRUE(c.wait_closed(3s)) << "the node kept a link that sent garbage";
  }
  EXPECT_GE(on_loop(*a, [&] { return a->stats().links_refused; }), 3u);
  expect_healthy();
}

TEST_F(HostileTest, HalfAHelloThenSilenceIsClosedByTheHandshakeTimeout) {
  start_pair(fast_config());  // handshake_timeout_ms = 500
  RawClient c(a.addr());
  auto start = Clock::now();
  Bytes hello = valid_hello();
  ASSERT_TRUE(c.send_all(ByteView(hello.data(), 30)));
  EXPECT_TRUE(c.wait_closed(5s));
  auto took = Clock::now() - start;
  EXPECT_GE(took, 450ms) << "closed before the handshake timeout";
  expect_healthy();
}

TEST_F(HostileTest, StalledHandshakeIsClosedAfterTheTimeout) {
  start_pair(fast_config());
  RawClient c(a.addr());
  auto start = Clock::now();
  Bytes hello = c.read_exact(kHelloBytes);  // the node speaks first, then waits
  EXPECT_TRUE(decode_hello(hello));
  EXPECT_TRUE(c.wait_closed(5s));
  EXPECT_GE(Clock::now() - start, 450ms);
  expect_healthy();
}

TEST_F(HostileTest, HelloWithAWrongVersionIsClosedAtOnce) {
  start_pair(patient_config());  // handshake timeout 5 s: a close before it is a refusal
  RawClient c(a.addr());
  auto start = Clock::now();
  ASSERT_TRUE(c.send_all(valid_hello(kProtocolVersion + 1)));
  EXPECT_TRUE(c.wait_closed(3s));
  EXPECT_LT(Clock::now() - start, 3s);
  expect_healthy();
}

// After a completed handshake: frames the node must refuse by closing the link.
TEST_F(HostileTest, BadFramesAfterTheHandshakeCloseTheLink) {
  start_pair(patient_config());
  struct Case {
    const char* name;
    std::function<Bytes(FrameSealer&)> bytes;
    const char* reason;  // part of the close reason
  };
  const std::vector<Case> cases = {
      {"4 GiB length prefix", [](FrameSealer&) { return Bytes{0xff, 0xff, 0xff, 0xff, 1, 2}; },
       "above maximum"},
      {"length below the tag", [](FrameSealer&) { return Bytes{0, 0, 0, 3, 1, 2, 3}; },
       "shorter than"},
      {"tampered frame",
       [](FrameSealer& s) {
         Bytes out;
         s.seal(frame_plaintext({Message{1, PingMsg{}}}), out);
         out.back() ^= 1;
         return out;
       },
       "authentication"},
      {"replayed frame",
       [](FrameSealer& s) {
         Bytes one;
         s.seal(frame_plaintext({Message{1, PingMsg{}}}), one);
         Bytes out = one;
         out.insert(out.end(), one.begin(), one.end());
         return out;
       },
       "authentication"},
      {"codec not negotiated",
       [](FrameSealer& s) {
         Bytes plain = frame_plaintext({Message{1, PingMsg{}}});
         plain[0] = 4;
         Bytes out;
         s.seal(plain, out);
         return out;
       },
       "codec"},
      {"record longer than its frame",
       [](FrameSealer& s) {
         Bytes plain{0, 0, 0, 1, 0, 2};
         Bytes out;
         s.seal(plain, out);
         return out;
       },
       "record"},
      {"malformed message",
       [](FrameSealer& s) {
         Bytes plain{0, 0, 0, 0, 2, 4, 0};  // a SHOUT of two bytes
         Bytes out;
         s.seal(plain, out);
         return out;
       },
       "malformed"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    Identity me = Identity::generate();
    RawClient c(a.addr());
    SessionKeys keys = c.handshake(me);
    ASSERT_TRUE(a.watch->wait_up(me.public_key()));
    FrameSealer sealer(keys.tx);
    auto start = Clock::now();
    c.send_all(tc.bytes(sealer));
    EXPECT_TRUE(c.wait_closed(3s)) << "link kept open";
    EXPECT_LT(Clock::now() - start, 3s);
    std::string reason;
    ASSERT_TRUE(a.watch->wait_down(me.public_key(), kWait, &reason));
    EXPECT_NE(reason.find(tc.reason), std::string::npos) << reason;
  }
  expect_healthy();
}

TEST_F(HostileTest, ShoutFloodLeavesTheOtherNodesWorking) {
  OverlayConfig honest = fast_config();
  honest.seen_cache_entries = 1000;
  honest.shout_rate_per_s = 2000;
  honest.shout_burst = 1000;
  start_pair(honest);
  auto c_in = std::make_shared<Inbox>();
  OverlayConfig cc = honest;
  cc.bootstrap = {a.addr()};
  TestNode c = start_node(cc, true, {{kApp, recording_handlers(c_in)}});
  ASSERT_TRUE(a.watch->wait_up(c.key()));

  OverlayConfig evil_config = fast_config();
  evil_config.bootstrap = {a.addr()};
  evil_config.max_outbound_links = 1;
  TestNode evil = start_node(evil_config, false);
  ASSERT_TRUE(a.watch->wait_up(evil.key()));

  constexpr int kFlood = 20000;
  evil->post([n = evil.node.get()] {
    Bytes payload(64, 0xab);
    for (int i = 0; i < kFlood; ++i) {
      payload[0] = static_cast<uint8_t>(i);
      n->shout(kApp, payload);
    }
  });
  // The PING goes after every SHOUT on the same link: once it is answered,
  // A has handled the whole flood.
  auto p = ping(*evil, a.key());
  ASSERT_TRUE(p) << p.error().to_string();

  NodeStats st = on_loop(*a, [&] { return a->stats(); });
  size_t delivered = a_in->size();
  EXPECT_GT(st.shouts_rate_limited, 0u);
  EXPECT_GT(delivered, 0u);
  EXPECT_GE(delivered + st.shouts_rate_limited, static_cast<size_t>(kFlood))
      << "every SHOUT from the flooder is either delivered or dropped by the rate limit";
  for (TestNode* n : {&a, &b, &c}) {
    size_t seen = on_loop(**n, [n] { return (*n)->seen_cache_size(); });
    EXPECT_LE(seen, honest.seen_cache_entries);
  }
  expect_healthy();
  auto pc = ping(*c, a.key());
  EXPECT_TRUE(pc) << pc.error().to_string();
  auto pe = ping(*a, evil.key());
  EXPECT_TRUE(pe) << "a flood within the rate limit is not misbehaviour";
}

TEST_F(HostileTest, PeerThatNeverReadsIsDroppedWhenItsQueueOverflows) {
  OverlayConfig config = patient_config();  // no PING timeout: only the queue may close it
  config.max_send_queue_bytes = 2u << 20;
  config.max_frame_bytes = 64u << 10;
  // An app's own queue holds less than the link's bound, but the write
  // window on top of it does not fit: the link, not the app, overflows.
  config.link_write_window_bytes = 1u << 20;
  config.max_app_queue_bytes = 2u << 20;
  start_pair(config);

  Identity me = Identity::generate();
  RawClient lazy(a.addr(), /*rcvbuf=*/4096);
  lazy.handshake(me);
  ASSERT_TRUE(a.watch->wait_up(me.public_key()));

  // A keeps speaking to it at its own pace; the client reads nothing.
  SpeakOptions to_lazy;
  to_lazy.to = me.public_key();
  Bytes chunk = random_bytes(60000);
  size_t sent = 0;
  auto deadline = Clock::now() + 20s;
  while (a.watch->downs(me.public_key()) == 0 && Clock::now() < deadline) {
    bool linked = on_loop(*a, [&] {
      if (!a->peers().empty() && a->queued_bytes(me.public_key()) == 0 && sent > (64u << 20)) {
        return false;  // the kernel swallows everything: give up
      }
      for (int i = 0; i < 4; ++i) a->speak(kApp, chunk, to_lazy);
      return true;
    });
    sent += 4 * chunk.size();
    if (!linked) break;
  }
  std::string reason;
  ASSERT_TRUE(a.watch->wait_down(me.public_key(), kWait, &reason)) << "sent " << sent;
  EXPECT_NE(reason.find("send queue"), std::string::npos) << reason;
  EXPECT_LT(sent, size_t{64} << 20);
  // The honest link is untouched and the node answers.
  expect_healthy();
  auto pr = ping(*b, a.key());
  EXPECT_TRUE(pr);
}

}  // namespace
}  // namespace chorus::itest
