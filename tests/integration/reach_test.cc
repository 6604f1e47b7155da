// dht::Reach on real loopback nodes: WHISPER and request to nodes that are
// not direct peers — a listening one found through the DHT, and an
// initiate-only one through the relay it is linked to, which sees only
// ciphertext.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "chorus/dht/dht.h"
#include "chorus/dht/node_record.h"
#include "chorus/dht/reach.h"
#include "harness.h"
#include "inbox.h"

namespace chorus::itest {
namespace {

using dht::Dht;
using dht::Reach;

constexpr AppId kApp = 9;

struct ReachNode {
  std::shared_ptr<PeerWatch> watch = std::make_shared<PeerWatch>();
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  // Responders of "silent" requests, kept unanswered: a dropped Responder
  // would refuse the request at once (NACK 9), and the tests need it pending.
  // Loop thread only until the node is gone.
  std::shared_ptr<std::vector<Responder>> unanswered = std::make_shared<std::vector<Responder>>();
  std::unique_ptr<Node> node;  // destroyed last
  std::unique_ptr<Dht> dht;
  std::unique_ptr<Reach> reach;  // destroyed first

  const PublicKey& key() const { return node->key(); }
  NodeStats stats() const {
    return on_loop(*node, [n = node.get()] { return n->stats(); });
  }
};

// A node with a DHT and Reach. Requests are answered "re:" + payload, except
// "silent", which is kept pending (never answered, never refused).
ReachNode start_reach_node(bool listen, const std::optional<SocketAddress>& via,
                           bool start_reach = true) {
  ReachNode n;
  NodeOptions no;
  no.overlay = fast_config();
  no.overlay.max_outbound_links = 1;  // exact topologies: one link out
  if (via) no.overlay.bootstrap = {*via};
  if (!listen) no.listen = std::nullopt;
  auto created = Node::create(std::move(no));
  if (!created) throw std::runtime_error("Node::create: " + created.error().to_string());
  n.node = std::move(*created);
  AppHandlers h = recording_handlers(n.inbox);
  h.on_whisper = [inbox = n.inbox, unanswered = n.unanswered](const WhisperInfo& w, Responder r) {
    Bytes payload(w.payload.begin(), w.payload.end());
    inbox->add({w.from, w.from, payload, w.encrypted, w.is_request});
    if (w.is_request && payload == text("silent")) unanswered->push_back(std::move(r));
    if (!w.is_request || payload == text("silent")) return;
    Bytes answer = text("re:");
    answer.insert(answer.end(), payload.begin(), payload.end());
    EXPECT_TRUE(r.reply(std::move(answer), true).ok());
  };
  if (auto r = n.node->register_app(kApp, std::move(h)); !r) throw std::runtime_error("app");
  dht::DhtOptions d;
  if (via) d.bootstrap = {*via};  // the DHT's UDP port is the overlay listen port
  auto dh = Dht::create(*n.node, std::move(d));
  if (!dh) throw std::runtime_error("Dht::create: " + dh.error().to_string());
  n.dht = std::move(*dh);
  auto re = Reach::create(*n.node, *n.dht);
  if (!re) throw std::runtime_error("Reach::create: " + re.error().to_string());
  n.reach = std::move(*re);
  n.watch->attach(*n.node);
  if (auto r = n.node->start(); !r) throw std::runtime_error("start: " + r.error().to_string());
  if (auto r = n.dht->start(); !r) throw std::runtime_error("Dht: " + r.error().to_string());
  if (!start_reach) return n;
  if (auto r = n.reach->start(); !r) throw std::runtime_error("Reach: " + r.error().to_string());
  return n;
}

// Publishes `n`'s record; a put can fail while the DHT is still filling its
// table, so it is retried a bounded number of times.
Result<void> publish(ReachNode& n) {
  Result<void> last = timed_out("not published");
  for (int attempt = 0; attempt < 5 && !last; ++attempt) {
    auto p = std::make_shared<std::promise<Result<void>>>();
    auto f = p->get_future();
    n.reach->publish([p](Result<void> r) { p->set_value(std::move(r)); });
    last = await(f, kWait, "publishing a node record");
  }
  return last;
}

Result<Bytes> request(ReachNode& from, const PublicKey& to, Bytes payload) {
  auto p = std::make_shared<std::promise<Result<Bytes>>>();
  auto f = p->get_future();
  from.reach->request(kApp, to, std::move(payload), 5000,
                      [p](Result<Bytes> r) { p->set_value(std::move(r)); });
  return await(f, kWait, "Reach::request");
}

Result<Hash256> whisper(ReachNode& from, const PublicKey& to, Bytes payload) {
  auto p = std::make_shared<std::promise<Result<Hash256>>>();
  auto f = p->get_future();
  from.reach->whisper(kApp, to, std::move(payload),
                      [p](Result<Hash256> r) { p->set_value(std::move(r)); });
  return await(f, kWait, "Reach::whisper");
}

TEST(Reach, WhispersToAListeningStrangerAndToAnInitiateOnlyNodeThroughItsRelay) {
  quiet_logs();
  // A star of five listening nodes around `hub`; `hidden` is initiate-only
  // and linked to `relay` alone.
  std::vector<ReachNode> nodes;
  nodes.push_back(start_reach_node(true, std::nullopt));
  const SocketAddress hub_addr = *nodes[0].node->listen_address();
  for (int i = 1; i < 5; ++i) nodes.push_back(start_reach_node(true, hub_addr));
  ReachNode& a = nodes[1];
  ReachNode& relay = nodes[2];
  ReachNode& b = nodes[4];
  ReachNode hidden = start_reach_node(false, *relay.node->listen_address());
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(nodes[i].watch->wait_up(nodes[0].key()));
  ASSERT_TRUE(hidden.watch->wait_up(relay.key()));
  ASSERT_FALSE(a.node->listen_address() == std::nullopt);
  ASSERT_FALSE(hidden.node->listen_address().has_value());

  ASSERT_TRUE(publish(b).ok());
  auto published = publish(hidden);  // names `relay`, the one peer it has
  ASSERT_TRUE(published.ok()) << published.error().to_string();
  ASSERT_FALSE(a.watch->wait_up(b.key(), std::chrono::milliseconds(1)));
  ASSERT_FALSE(a.watch->wait_up(hidden.key(), std::chrono::milliseconds(1)));

  // A listening node A has no link to: its record gives the address, A
  // dials it and asks directly.
  auto rb = request(a, b.key(), text("hello b"));
  ASSERT_TRUE(rb.ok()) << rb.error().to_string();
  EXPECT_EQ(*rb, text("re:hello b"));
  EXPECT_TRUE(a.watch->wait_up(b.key()));

  // The initiate-only node: through its relay, both ways.
  const Bytes secret = text("for the hidden node only");
  auto rc = request(a, hidden.key(), secret);
  ASSERT_TRUE(rc.ok()) << rc.error().to_string();
  Bytes expected = text("re:");
  expected.insert(expected.end(), secret.begin(), secret.end());
  EXPECT_EQ(*rc, expected);
  const Bytes note = text("a plain whisper, relayed");
  auto wc = whisper(a, hidden.key(), note);
  ASSERT_TRUE(wc.ok()) << wc.error().to_string();
  ASSERT_TRUE(hidden.inbox->wait_payload(note));
  for (const auto& got : hidden.inbox->items()) {
    EXPECT_EQ(got.from, a.key());  // the origin, authenticated by its box
    EXPECT_TRUE(got.encrypted);
  }
  EXPECT_EQ(hidden.inbox->count(secret), 1u);
  EXPECT_FALSE(a.watch->wait_up(hidden.key(), std::chrono::milliseconds(1)));

  // The relay passed three messages (request, response, whisper) and could
  // read none: its app saw nothing, and what it forwarded was boxes.
  EXPECT_EQ(relay.inbox->size(), 0u);
  const NodeStats rs = relay.stats();
  EXPECT_EQ(rs.relays_forwarded, 3u);
  const size_t box = 40;  // nonce + MAC around each plaintext
  EXPECT_EQ(rs.relay_bytes_forwarded,
            secret.size() + box + expected.size() + box + note.size() + box);
  EXPECT_EQ(hidden.stats().relayed_received, 2u);
}

TEST(Reach, UnknownKeyIsNotFound) {
  quiet_logs();
  ReachNode hub = start_reach_node(true, std::nullopt);
  ReachNode a = start_reach_node(true, *hub.node->listen_address());
  ASSERT_TRUE(a.watch->wait_up(hub.key()));
  const PublicKey nobody = Identity::generate().public_key();
  auto r = whisper(a, nobody, text("anyone?"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << r.error().to_string();
  auto self = whisper(a, a.key(), text("me"));
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Reach, RelayThatSwitchedRelayingOffRefuses) {
  quiet_logs();
  ReachNode hub = start_reach_node(true, std::nullopt);
  ReachNode a = start_reach_node(true, *hub.node->listen_address());
  ASSERT_TRUE(a.watch->wait_up(hub.key()));
  // An initiate-only node behind a relay that does not relay.
  NodeOptions no;
  no.overlay = fast_config();
  no.overlay.relay_enabled = false;
  no.overlay.bootstrap = {*hub.node->listen_address()};
  TestNode strict = start_node(no);
  ASSERT_TRUE(hub.watch->wait_up(strict.key()));
  NodeOptions hidden_opts;
  hidden_opts.overlay = fast_config();
  hidden_opts.overlay.max_outbound_links = 1;
  hidden_opts.overlay.bootstrap = {strict.addr()};
  hidden_opts.listen = std::nullopt;
  TestNode hidden = start_node(hidden_opts);
  ASSERT_TRUE(hidden.watch->wait_up(strict.key()));
  auto p = std::make_shared<std::promise<Result<Hash256>>>();
  auto f = p->get_future();
  // Straight through the overlay API: the relay is a peer of a.
  auto connected = std::make_shared<std::promise<Result<void>>>();
  auto cf = connected->get_future();
  a.node->connect(strict.addr(), strict.key(),
                  [connected](Result<void> r) { connected->set_value(std::move(r)); });
  ASSERT_TRUE(await(cf, kWait, "connect").ok());
  a.node->whisper_via(kApp, strict.key(), hidden.key(), text("x"),
                      [p](Result<Hash256> r) { p->set_value(std::move(r)); });
  auto r = await(f, kWait, "whisper_via");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kRefused);
  EXPECT_NE(r.error().message().find("relaying is switched off"), std::string::npos)
      << r.error().message();
}

// Issue: a send before Reach::start() failed, but decremented an operation
// counter it had never incremented; the counter wrapped and every later
// send failed with kLimit.
TEST(Reach, SendBeforeStartFailsOnceAndLaterSendsStillWork) {
  quiet_logs();
  ReachNode hub = start_reach_node(true, std::nullopt);
  ReachNode a = start_reach_node(true, *hub.node->listen_address(), /*start_reach=*/false);
  ASSERT_TRUE(a.watch->wait_up(hub.key()));
  auto early = whisper(a, hub.key(), text("too early"));
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code(), ErrorCode::kCancelled) << early.error().to_string();
  ASSERT_TRUE(a.reach->start().ok());
  for (int i = 0; i < 3; ++i) {
    auto r = request(a, hub.key(), text("now"));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, text("re:now"));
  }
}

// Issue: after stop, posted sends were dropped and their callbacks never
// fired. Every send must complete exactly once: pending ones and new ones
// with kCancelled, whether Reach or the whole node stopped.
TEST(Reach, AfterStopEverySendCompletesOnceWithCancelled) {
  quiet_logs();
  ReachNode hub = start_reach_node(true, std::nullopt);
  ReachNode a = start_reach_node(true, *hub.node->listen_address());
  ASSERT_TRUE(a.watch->wait_up(hub.key()));
  struct Count {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ErrorCode> codes;  // one per callback run (kNone-like: ok)
    int ok = 0;
    void add(bool success, ErrorCode code) {
      std::lock_guard<std::mutex> g(mu);
      if (success)
        ++ok;
      else
        codes.push_back(code);
      cv.notify_all();
    }
    bool wait(size_t n) {
      std::unique_lock<std::mutex> g(mu);
      return cv.wait_for(g, kWait, [&] { return codes.size() + static_cast<size_t>(ok) >= n; });
    }
  };
  auto count = std::make_shared<Count>();
  auto on_reply = [count](Result<Bytes> r) {
    count->add(r.ok(), r ? ErrorCode::kIo : r.error().code());
  };
  auto on_ack = [count](Result<Hash256> r) {
    count->add(r.ok(), r ? ErrorCode::kIo : r.error().code());
  };

  // Pending: the hub never answers "silent" (and would take 60 s to time out).
  a.reach->request(kApp, hub.key(), text("silent"), 60'000, on_reply);
  ASSERT_TRUE(hub.inbox->wait_payload(text("silent")));
  a.reach->stop();
  ASSERT_TRUE(count->wait(1));  // completed by stop, not by the timeout
  a.reach->whisper(kApp, hub.key(), text("after Reach stop"), on_ack);
  ASSERT_TRUE(count->wait(2));
  a.node->stop();  // now even posting to the loop is refused
  a.reach->whisper(kApp, hub.key(), text("after node stop"), on_ack);
  a.reach->request(kApp, hub.key(), text("after node stop"), 1000, on_reply);
  auto published = std::make_shared<std::promise<Result<void>>>();
  auto pf = published->get_future();
  a.reach->publish([published](Result<void> r) { published->set_value(std::move(r)); });
  ASSERT_TRUE(count->wait(4));
  auto pr = await(pf, kWait, "publish after stop");
  ASSERT_FALSE(pr.ok());
  EXPECT_EQ(pr.error().code(), ErrorCode::kCancelled);
  a.reach.reset();
  a.dht.reset();
  a.node.reset();  // nothing left that could fire a callback a second time
  std::lock_guard<std::mutex> g(count->mu);
  EXPECT_EQ(count->ok, 0);
  ASSERT_EQ(count->codes.size(), 4u);
  for (ErrorCode c : count->codes) EXPECT_EQ(c, ErrorCode::kCancelled) << error_code_name(c);
}

// ---------------------------------------------------------------------------
// Node records (pure; here because this binary links the DHT)

dht::NodeRecord relayed_record(std::initializer_list<uint8_t> seeds) {
  dht::NodeRecord r;
  r.kind = dht::NodeRecord::Kind::kRelayed;
  uint16_t port = 7100;
  for (uint8_t s : seeds) {
    std::array<uint8_t, 32> seed{};
    seed.fill(s);
    r.entries.push_back(dht::make_contact(Identity::from_seed(seed).public_key(),
                                          {s % 2 ? "127.0.0.1" : "::1", port++}));
  }
  return r;
}

dht::SignedValue signed_record(const Identity& owner, uint64_t seq, const Bytes& data) {
  dht::SignedValue v;
  v.owner = owner.public_key();
  v.seq = seq;
  v.ttl_s = 600;
  v.data = data;
  v.signature = owner.sign(
      dht::signed_value_message(dht::node_record_key(owner.public_key()), seq, v.ttl_s, data));
  return v;
}

TEST(NodeRecord, EncodesAndDecodesBothKinds) {
  const Identity me = Identity::generate();
  dht::NodeRecord listening;
  listening.entries.push_back(dht::make_contact(me.public_key(), {"127.0.0.1", 4242}));
  auto l = dht::encode_node_record(listening);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->size(), 3u + 32 + 1 + 4 + 2);
  EXPECT_EQ((*l)[0], 1);  // version
  EXPECT_EQ((*l)[1], 1);  // listening
  EXPECT_EQ(dht::decode_node_record(*l).value(), listening);
  const dht::NodeRecord relayed = relayed_record({1, 2, 3});
  auto r = dht::encode_node_record(relayed);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(dht::decode_node_record(*r).value(), relayed);
}

TEST(NodeRecord, MalformedRecordsAreRefused) {
  auto good = dht::encode_node_record(relayed_record({1})).value();
  auto broken = [&](size_t at, uint8_t v) {
    Bytes b = good;
    b[at] = v;
    return dht::decode_node_record(b);
  };
  EXPECT_EQ(broken(0, 2).error().code(), ErrorCode::kMalformed);   // version
  EXPECT_EQ(broken(1, 3).error().code(), ErrorCode::kMalformed);   // kind
  EXPECT_EQ(broken(2, 0).error().code(), ErrorCode::kMalformed);   // no relay
  EXPECT_EQ(broken(2, 9).error().code(), ErrorCode::kMalformed);   // too many
  EXPECT_EQ(broken(35, 5).error().code(), ErrorCode::kMalformed);  // family
  Bytes port0 = good;
  port0[port0.size() - 1] = 0;
  port0[port0.size() - 2] = 0;
  EXPECT_FALSE(dht::decode_node_record(port0).ok());
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(dht::decode_node_record(trailing).ok());
  EXPECT_FALSE(dht::decode_node_record(ByteView(good).first(good.size() - 1)).ok());
  EXPECT_FALSE(dht::encode_node_record(relayed_record({})).ok());
}

TEST(NodeRecord, OnlyTheOwnersNewestValidSignatureCounts) {
  const Identity owner = Identity::generate(), other = Identity::generate();
  const Bytes old_rec = dht::encode_node_record(relayed_record({1})).value();
  const Bytes new_rec = dht::encode_node_record(relayed_record({2})).value();
  std::vector<dht::SignedValue> values = {signed_record(owner, 5, old_rec),
                                          signed_record(owner, 9, new_rec)};
  // A higher sequence with a forged signature, and another owner's record.
  dht::SignedValue forged = signed_record(owner, 50, old_rec);
  forged.signature[0] ^= 1;
  values.push_back(forged);
  values.push_back(signed_record(other, 99, old_rec));
  auto picked = dht::pick_node_record(owner.public_key(), values);
  ASSERT_TRUE(picked.ok());
  EXPECT_EQ(*picked, relayed_record({2}));
  EXPECT_EQ(dht::pick_node_record(Identity::generate().public_key(), values).error().code(),
            ErrorCode::kNotFound);
  // A listening record must name its owner.
  dht::NodeRecord impostor;
  impostor.entries.push_back(dht::make_contact(other.public_key(), {"127.0.0.1", 1}));
  EXPECT_FALSE(
      dht::pick_node_record(owner.public_key(),
                            {signed_record(owner, 1, dht::encode_node_record(impostor).value())})
          .ok());
}

TEST(NodeRecord, RoutesPreferLinkedRelaysAndSkipSelfAndTarget) {
  const dht::NodeRecord rec = relayed_record({1, 2, 3});
  const PublicKey self = rec.entries[0].key;
  const PublicKey linked = rec.entries[2].key;
  const PublicKey target = Identity::generate().public_key();
  auto routes =
      dht::routes_from(rec, target, self, [&](const PublicKey& k) { return k == linked; });
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].dial_key, linked);
  EXPECT_EQ(*routes[0].relay, linked);
  EXPECT_EQ(routes[1].dial_key, rec.entries[1].key);
}

}  // namespace
}  // namespace chorus::itest
