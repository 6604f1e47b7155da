// Relay nodes on real sockets (overlay TCP, DHT UDP, WebSocket clients on
// /connect and /node), in one process: the flows of spec/relay.md.
#include "chorus/relay/relay_node.h"

#include <gtest/gtest.h>

#include <thread>

#include "chorus/web/http_client.h"
#include "relay_test_client.h"

namespace chorus::relay {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::RelayClient;

// Waits (bounded) for `pred`, polling.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

class RelayNetwork {
 public:
  std::unique_ptr<RelayNode> add(const std::string& name, bool join = true) {
    RelayNodeOptions o;
    o.name = name;
    o.reservation_lease_ms = 1500;  // and so the replicas' start-up grace
    o.announce_interval_ms = 1000;  // and so the owner's release checks
    if (join && !nodes_.empty()) o.bootstrap = {nodes_.front()->listen_address()};
    auto n = RelayNode::start(o);
    EXPECT_TRUE(n.ok()) << n.error().message();
    return std::move(*n);
  }
  RelayNode& start(const std::string& name, bool join = true) {
    nodes_.push_back(add(name, join));
    return *nodes_.back();
  }
  // Every node knows every other one by name.
  bool meshed() {
    for (auto& n : nodes_)
      if (n->status()["nodes"].size() + 1 < nodes_.size()) return false;
    return true;
  }
  std::vector<std::unique_ptr<RelayNode>> nodes_;
};

// Two nodes that know each other by name, and a WebSocket client.
class TwoRelays : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = &net.start("a");
    b_ = &net.start("b");
    ASSERT_TRUE(eventually([&] { return net.meshed(); }));
    ws = web::WebSocketClient::start().value();
  }
  void TearDown() override { ws.reset(); }

  RelayNetwork net;
  RelayNode* a_ = nullptr;
  RelayNode* b_ = nullptr;
  std::unique_ptr<web::WebSocketClient> ws;
};

json health(RelayNode& n) {
  web::HttpClient http;
  auto r = http.get("http://" + n.ws_address().to_string() + "/health");
  if (!r.ok()) return nullptr;
  return json::parse(r->body, nullptr, false);
}

TEST(RelayNodeTest, NewClientOnOneNodeTalksToAnotherOnTheSameNode) {
  RelayNetwork net;
  RelayNode& a = net.start("a");
  auto ws = web::WebSocketClient::start().value();
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  RelayClient bob(*ws, "127.0.0.1", a.ws_address().port);
  ASSERT_TRUE(alice.connected()) << alice.error();
  json first = alice.call("subscribe", {{"topic", "lobby"}});
  EXPECT_EQ(first["ok"], true) << first.dump();
  EXPECT_EQ(bob.call("subscribe", {{"topic", "lobby"}})["ok"], true);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(
        alice.call("send", {{"channel", "lobby"}, {"message", "m" + std::to_string(i)}})["ok"],
        true);
  for (int i = 0; i < 20; ++i) {
    json m = bob.next();
    ASSERT_EQ(m.value("type", ""), "message") << m.dump();
    EXPECT_EQ(m["data"]["channel"], "lobby");
    EXPECT_EQ(m["data"]["message"], "m" + std::to_string(i));
  }
  EXPECT_TRUE(alice.next(300ms).is_null()) << "the sender does not get its own message";
  json list = bob.call("list");
  EXPECT_EQ(list["subscribed"], json::array({"lobby"}));
}

TEST_F(TwoRelays, ClientsOnDifferentNodesNeedTheRightPasswordThenTalkBothWays) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  RelayClient bob(*ws, "127.0.0.1", b.ws_address().port);
  EXPECT_EQ(alice.call("subscribe", {{"topic", "secret"}, {"password", "hunter2"}})["ok"], true);
  json wrong = bob.call("subscribe", {{"topic", "secret"}, {"password", "hunter3"}});
  EXPECT_EQ(wrong["ok"], false);
  EXPECT_EQ(wrong["reason"], "invalid password");
  json none = bob.call("subscribe", {{"topic", "secret"}});
  EXPECT_EQ(none["reason"], "invalid password");
  EXPECT_EQ(bob.call("send", {{"channel", "secret"}, {"message", "x"}})["reason"],
            "not subscribed");
  EXPECT_EQ(bob.call("subscribe", {{"topic", "secret"}, {"password", "hunter2"}})["ok"], true);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(alice.call("send", {{"channel", "secret"}, {"message", i}})["ok"], true);
    ASSERT_EQ(bob.call("send", {{"channel", "secret"}, {"message", 100 + i}})["ok"], true);
  }
  for (int i = 0; i < 30; ++i) {
    json m = bob.next();
    ASSERT_EQ(m.value("type", ""), "message") << m.dump();
    EXPECT_EQ(m["data"]["message"], i) << "in the order alice sent them";
    json n = alice.next();
    ASSERT_EQ(n.value("type", ""), "message") << n.dump();
    EXPECT_EQ(n["data"]["message"], 100 + i);
  }
  EXPECT_TRUE(bob.next(300ms).is_null()) << "each message once, none of bob's own";
  EXPECT_TRUE(alice.next(100ms).is_null());
}

TEST(RelayNodeTest, ALateNodeLearnsReservedChannelsAndTheirPasswordsFromTheDht) {
  RelayNetwork net;
  RelayNode& a = net.start("a");
  net.start("b");
  ASSERT_TRUE(eventually([&] { return net.meshed(); }));
  auto ws = web::WebSocketClient::start().value();
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  ASSERT_EQ(alice.call("subscribe", {{"topic", "ops"}, {"password", "pw"}})["ok"], true);
  ASSERT_EQ(alice.call("subscribe", {{"topic", "open"}})["ok"], true);
  // A node that joins now never saw the reserve-channel SHOUTs.
  RelayNode& c = net.start("c");
  ASSERT_TRUE(eventually([&] {
    json ch = c.status()["channels"];
    return ch.contains("ops") && ch.contains("open");
  })) << c.status().dump();
  RelayClient carol(*ws, "127.0.0.1", c.ws_address().port);
  json reserved = carol.call("list-reserved-channels");
  ASSERT_EQ(reserved["ok"], true);
  EXPECT_EQ(reserved["channels"]["ops"]["owner"], "a");
  EXPECT_FALSE(reserved["channels"]["ops"].contains("hash")) << "hashes stay between nodes";
  EXPECT_EQ(carol.call("subscribe", {{"topic", "ops"}, {"password", "nope"}})["reason"],
            "invalid password");
  EXPECT_EQ(carol.call("subscribe", {{"topic", "ops"}, {"password", "pw"}})["ok"], true);
  ASSERT_EQ(carol.call("send", {{"channel", "ops"}, {"message", "hello from c"}})["ok"], true);
  json m = alice.next();
  EXPECT_EQ(m["data"]["message"], "hello from c") << m.dump();
}

TEST_F(TwoRelays, TwoNodesOpeningOneChannelAtOnceAgreeOnOneOwnerAndPassword) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  RelayClient bob(*ws, "127.0.0.1", b.ws_address().port);
  // Both subscribes leave before either answer comes back.
  const json sa = {{"command", "subscribe"},
                   {"data", {{"topic", "race"}, {"password", "from-a"}}},
                   {"nonce", "ra"}};
  const json sb = {{"command", "subscribe"},
                   {"data", {{"topic", "race"}, {"password", "from-b"}}},
                   {"nonce", "rb"}};
  ASSERT_TRUE(alice.socket().send(sa.dump()).ok());
  ASSERT_TRUE(bob.socket().send(sb.dump()).ok());
  json ra = alice.wait_response("ra", 10s);
  json rb = bob.wait_response("rb", 10s);
  ASSERT_FALSE(ra.is_null());
  ASSERT_FALSE(rb.is_null());
  EXPECT_NE(ra["ok"], rb["ok"]) << "one wins, the other's password is wrong: " << ra.dump()
                                << rb.dump();
  const std::string winner = ra["ok"] == true ? "a" : "b";
  const std::string password = ra["ok"] == true ? "from-a" : "from-b";
  ASSERT_TRUE(eventually([&] {
    return a.status()["channels"]["race"].value("owner", "") == winner &&
           b.status()["channels"]["race"].value("owner", "") == winner;
  }));
  RelayClient& loser = ra["ok"] == true ? bob : alice;
  EXPECT_EQ(loser.call("subscribe", {{"topic", "race"}, {"password", password}})["ok"], true);
}

TEST_F(TwoRelays, ANodeJoinsOverWebSocketWithAOneTimeToken) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  RelayClient admin(*ws, "127.0.0.1", a.ws_address().port);
  // Ask a for b's connection, then for a token on b.
  json where = admin.call("get-node-connection", {{"node", "b"}});
  ASSERT_EQ(where["ok"], true) << where.dump();
  EXPECT_EQ(where["url"], "ws://" + b.ws_address().to_string() + "/node");
  json token = admin.call("get-connection-token", {{"node", "b"}, {"name", "native-1"}});
  ASSERT_EQ(token["ok"], true) << token.dump();
  const std::string t = token["token"];

  web::WebSocketConnectOptions bad;
  bad.headers = {{"Authentication", "not-a-token"}};
  auto refused = ws->connect("127.0.0.1", b.ws_address().port, "/node", bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message(), "HTTP 403");

  web::WebSocketConnectOptions good;
  good.headers = {{"Authentication", t}};
  RelayClient native(*ws, "127.0.0.1", b.ws_address().port, "/node", good);
  ASSERT_TRUE(native.connected()) << native.error();
  json hello = native.call("handshake", {{"name", "native-1"}});
  ASSERT_EQ(hello["ok"], true) << hello.dump();
  EXPECT_EQ(hello["name"], "b");
  // The token was used: a second connection with it is refused.
  auto again = ws->connect("127.0.0.1", b.ws_address().port, "/node", good);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message(), "HTTP 403");
  // The native node speaks INMs: it asks a (across the overlay) for its nodes.
  Inm ask;
  ask.source = "native-1";
  ask.destination = "a";
  ask.type = "command";
  ask.nonce = "n1";
  ask.data = {{"command", "list-nodes"}};
  ASSERT_TRUE(native.socket().send(ask.to_json()).ok());
  json answer;
  ASSERT_TRUE(eventually([&] {
    json f = native.next(200ms);
    if (f.is_object() && f.value("type", "") == "response" && f.value("nonce", "") == "n1")
      answer = f;
    return !answer.is_null();
  }));
  EXPECT_EQ(answer["source"], "a");
  EXPECT_EQ(answer["data"]["ok"], true);
  // And it hears channel traffic: a message sent on a reaches it as an INM.
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  ASSERT_EQ(alice.call("subscribe", {{"topic", "feed"}})["ok"], true);
  ASSERT_EQ(alice.call("send", {{"channel", "feed"}, {"message", "to natives"}})["ok"], true);
  json inm;
  ASSERT_TRUE(eventually([&] {
    json f = native.next(200ms);
    if (f.is_object() && f.value("type", "") == "message") inm = f;
    return !inm.is_null();
  }));
  EXPECT_EQ(inm["data"]["message"], "to natives");
  EXPECT_EQ(inm["source"], "a");
  // A wrong name for a token: refused, and the token is wiped.
  json t2 = admin.call("get-connection-token", {{"node", "b"}, {"name", "native-2"}});
  web::WebSocketConnectOptions o2;
  o2.headers = {{"Authentication", t2["token"].get<std::string>()}};
  RelayClient impostor(*ws, "127.0.0.1", b.ws_address().port, "/node", o2);
  ASSERT_TRUE(impostor.connected());
  EXPECT_EQ(impostor.call("handshake", {{"name", "someone-else"}})["reason"],
            "bad name/token pair");
  EXPECT_EQ(impostor.socket().wait_closed(5s).value_or(-1), 1008);
  auto wiped = ws->connect("127.0.0.1", b.ws_address().port, "/node", o2);
  EXPECT_FALSE(wiped.ok());
}

TEST(RelayNodeTest, HealthGoesThroughEachState) {
  RelayNetwork net;
  RelayNode& a = net.start("a");
  EXPECT_EQ(health(a), json({{"healthy", "good"}, {"reason", "healthy"}})) << "no peers configured";
  // b is told of a peer that is not there.
  RelayNodeOptions lonely;
  lonely.name = "lonely";
  lonely.reservation_lease_ms = 1500;
  lonely.bootstrap = {{"127.0.0.1", 1}};
  auto b = RelayNode::start(lonely).value();
  EXPECT_EQ(health(*b), json({{"healthy", "degraded"}, {"reason", "no peers"}}));
  auto ws = web::WebSocketClient::start().value();
  std::vector<std::unique_ptr<RelayClient>> idle;
  for (int i = 0; i < 4; ++i)
    idle.push_back(std::make_unique<RelayClient>(*ws, "127.0.0.1", a.ws_address().port));
  ASSERT_TRUE(eventually([&] { return health(a)["reason"] == "clients no channels"; }));
  EXPECT_EQ(health(a)["healthy"], "degraded");
  // a owns a channel whose subscriber on c stays after a's clients leave.
  RelayNode& c = net.start("c");
  ASSERT_TRUE(eventually([&] { return net.meshed(); }));
  ASSERT_EQ(idle[0]->call("subscribe", {{"topic", "kept"}})["ok"], true);
  EXPECT_EQ(health(a)["reason"], "healthy");
  RelayClient carol(*ws, "127.0.0.1", c.ws_address().port);
  ASSERT_EQ(carol.call("subscribe", {{"topic", "kept"}})["ok"], true);
  idle.clear();
  ASSERT_TRUE(eventually([&] {
    return health(a) == json({{"healthy", "bad"}, {"reason", "channels no clients"}});
  })) << health(a).dump();
  EXPECT_EQ(a.status()["owned"], 1) << "kept: c still has a subscriber";
}

TEST_F(TwoRelays, AnEmptiedChannelIsReleasedAndCanBeOpenedWithANewPassword) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  {
    RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
    ASSERT_EQ(alice.call("subscribe", {{"topic", "temp"}, {"password", "one"}})["ok"], true);
    ASSERT_TRUE(eventually([&] { return b.status()["channels"].contains("temp"); }));
  }
  ASSERT_TRUE(eventually([&] {
    return a.status()["owned"] == 0 && !b.status()["channels"].contains("temp");
  })) << a.status().dump()
      << b.status().dump();
  RelayClient bob(*ws, "127.0.0.1", b.ws_address().port);
  EXPECT_EQ(bob.call("subscribe", {{"topic", "temp"}, {"password", "two"}})["ok"], true);
  EXPECT_TRUE(eventually([&] { return a.status()["channels"]["temp"].value("owner", "") == "b"; }));
}

TEST_F(TwoRelays, TheOwnerReleasesAChannelWhoseLastSubscriberLeftOnAnotherNode) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  auto bob = std::make_unique<RelayClient>(*ws, "127.0.0.1", b.ws_address().port);
  {
    RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
    ASSERT_EQ(alice.call("subscribe", {{"topic", "shared"}})["ok"], true);
    ASSERT_EQ(bob->call("subscribe", {{"topic", "shared"}})["ok"], true);
  }
  // alice left; bob still listens on b: a keeps the reservation.
  ASSERT_TRUE(eventually([&] { return a.status()["clients"] == 0; }));
  EXPECT_EQ(a.status()["owned"], 1);
  bob.reset();
  EXPECT_TRUE(eventually([&] {
    return a.status()["owned"] == 0 && !b.status()["channels"].contains("shared");
  })) << a.status().dump();
}

TEST_F(TwoRelays, AStoppingOwnerHandsItsChannelsToNodesWithSubscribers) {
  RelayNode& a = *a_;
  RelayNode& b = *b_;
  RelayClient alice(*ws, "127.0.0.1", a.ws_address().port);
  RelayClient bob(*ws, "127.0.0.1", b.ws_address().port);
  ASSERT_EQ(alice.call("subscribe", {{"topic", "handover"}, {"password", "pw"}})["ok"], true);
  ASSERT_EQ(bob.call("subscribe", {{"topic", "handover"}, {"password", "pw"}})["ok"], true);
  net.nodes_.front()->stop();
  ASSERT_TRUE(eventually([&] {
    return b.status()["channels"]["handover"].value("owner", "") == "b";
  })) << b.status().dump();
  EXPECT_EQ(b.status()["owned"], 1);
  RelayClient carol(*ws, "127.0.0.1", b.ws_address().port);
  EXPECT_EQ(carol.call("subscribe", {{"topic", "handover"}, {"password", "wrong"}})["reason"],
            "invalid password")
      << "the same password hash";
  EXPECT_EQ(carol.call("subscribe", {{"topic", "handover"}, {"password", "pw"}})["ok"], true);
}

TEST(RelayNodeTest, BadInputGetsErrorsThenACloseWhileOthersAreServed) {
  RelayNodeOptions o;
  o.name = "solo";
  o.reservation_lease_ms = 1500;
  o.max_frame_bytes = 4096;
  o.core.max_strikes = 5;
  auto a = RelayNode::start(o).value();
  const uint16_t port = a->ws_address().port;
  auto ws = web::WebSocketClient::start().value();
  RelayClient good(*ws, "127.0.0.1", port);
  ASSERT_EQ(good.call("subscribe", {{"topic", "t"}})["ok"], true);

  RelayClient bad(*ws, "127.0.0.1", port);
  auto reason_of = [&](const std::string& raw) {
    EXPECT_TRUE(bad.socket().send(raw).ok());
    json f = bad.next(5s);
    return f.is_object() ? f["data"].value("reason", "(none)") : std::string("(nothing)");
  };
  EXPECT_EQ(reason_of("{not json"), "malformed JSON");
  EXPECT_EQ(reason_of(R"({"data":{},"nonce":1})"), "missing command");
  EXPECT_EQ(reason_of(R"({"command":"fly","nonce":2})"), "unknown command: fly");
  EXPECT_EQ(reason_of(R"({"command":"subscribe","data":{},"nonce":3})"), "missing topic");
  EXPECT_TRUE(good.call("list")["ok"] == true) << "the others are served meanwhile";
  EXPECT_EQ(reason_of(R"({"command":"send","data":{"channel":"t"},"nonce":4})"), "missing message");
  EXPECT_EQ(bad.socket().wait_closed(5s).value_or(-1), 1008) << "five strikes";

  RelayClient big(*ws, "127.0.0.1", port);
  ASSERT_TRUE(big.socket().send(std::string(10000, 'x')).ok());
  EXPECT_EQ(big.socket().wait_closed(5s).value_or(-1), 1009);

  RelayClient flood(*ws, "127.0.0.1", port);
  for (int i = 0; i < 2000; ++i) (void)flood.socket().send(R"({"command":"list","nonce":0})");
  EXPECT_EQ(flood.socket().wait_closed(10s).value_or(-1), 1008) << "past the rate, then closed";
  EXPECT_TRUE(good.call("list")["ok"] == true);
  EXPECT_EQ(a->status()["clients"], 1);
}

}  // namespace
}  // namespace chorus::relay
