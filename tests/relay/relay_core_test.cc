// The WSRelay core without I/O (relay_core.h), and its pieces: INMs,
// channel passwords, traffic statistics, health, host statistics. Every
// test drives the core directly with its own clock.
#include "chorus/relay/relay_core.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chorus/relay/channel_password.h"
#include "chorus/relay/health.h"
#include "chorus/relay/host_stats.h"
#include "chorus/relay/inm.h"
#include "chorus/relay/traffic_stats.h"

namespace chorus::relay {
namespace {

using nlohmann::json;

// A rate that never limits, unless a test says otherwise.
RelayCoreConfig test_config() {
  RelayCoreConfig c;
  c.name = "a";
  c.client_rate = 1e6;
  c.client_burst = 1e6;
  return c;
}

template <typename T>
std::vector<T> only(const std::vector<RelayAction>& actions) {
  std::vector<T> out;
  for (const auto& a : actions)
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  return out;
}

// The frames to one client, parsed.
std::vector<json> frames_to(const std::vector<RelayAction>& actions, ClientId client) {
  std::vector<json> out;
  for (const ToClient& t : only<ToClient>(actions))
    if (t.client == client) out.push_back(json::parse(t.text));
  return out;
}

std::vector<json> of_type(const std::vector<json>& frames, const std::string& type) {
  std::vector<json> out;
  for (const json& f : frames)
    if (f.value("type", "") == type) out.push_back(f);
  return out;
}

// The one response to `client` among `actions` (null when there is not
// exactly one).
json response_to(const std::vector<RelayAction>& actions, ClientId client) {
  auto r = of_type(frames_to(actions, client), "response");
  EXPECT_EQ(r.size(), 1u) << "responses to client " << client;
  return r.size() == 1 ? r[0] : json(nullptr);
}

bool ok(const json& response) {
  return response.is_object() && response["data"].value("ok", false);
}
std::string reason(const json& response) {
  return response.is_object() ? response["data"].value("reason", "") : "";
}

// The message frames to `client`: their "message" values, in order.
std::vector<json> messages_to(const std::vector<RelayAction>& actions, ClientId client) {
  std::vector<json> out;
  for (const json& f : of_type(frames_to(actions, client), "message"))
    out.push_back(f["data"]["message"]);
  return out;
}

Inm message_inm(const std::string& source, uint64_t seq, const std::string& channel, json message) {
  Inm m;
  m.source = source;
  m.destination = std::string(kEveryNode);
  m.type = "message";
  m.nonce = source + ":" + std::to_string(seq);
  m.data = {{"channel", channel}, {"message", std::move(message)}, {"seq", seq}};
  return m;
}

Inm command_inm(const std::string& source, json data) {
  Inm m;
  m.source = source;
  m.destination = std::string(kEveryNode);
  m.type = "command";
  m.nonce = source + "#1";
  m.data = std::move(data);
  return m;
}

// A RelayCore on a clock the test moves.
struct Relay {
  explicit Relay(RelayCoreConfig c = test_config()) : core(std::move(c)) {}

  void open(ClientId c) { core.client_opened(c, now); }
  std::vector<RelayAction> raw(ClientId c, std::string_view text) {
    core.client_message(c, text, now);
    return core.take_actions();
  }
  std::vector<RelayAction> request(ClientId c, const std::string& command,
                                   json data = json::object(), json nonce = 1) {
    json j = {{"command", command}, {"data", std::move(data)}, {"nonce", std::move(nonce)}};
    return raw(c, j.dump());
  }
  std::vector<RelayAction> subscribe(ClientId c, const std::string& topic,
                                     const std::string& password = {}) {
    json data = {{"topic", topic}};
    if (!password.empty()) data["password"] = password;
    return request(c, "subscribe", std::move(data), "sub-" + std::to_string(c));
  }
  std::vector<RelayAction> send(ClientId c, const std::string& channel, json message) {
    return request(c, "send", {{"channel", channel}, {"message", std::move(message)}},
                   "send-" + std::to_string(c));
  }
  // The driver's answer to OpenChannel: the channel is reserved by `owner`.
  std::vector<RelayAction> known(const std::string& channel, const std::string& password = {},
                                 uint64_t token = 1, const std::string& owner = "b") {
    core.channel_known(channel, hash_password(channel, password), token, owner, now);
    return core.take_actions();
  }
  std::vector<RelayAction> inm(const Inm& m) {
    EXPECT_TRUE(core.inm_received(m, now));
    return core.take_actions();
  }
  std::vector<RelayAction> tick(int64_t advance_ms) {
    now += advance_ms;
    core.tick(now);
    return core.take_actions();
  }

  RelayCore core;
  int64_t now = 1'000'000;
};

// ---------------------------------------------------------------------------
// Subscribing

TEST(RelayCoreSubscribe, UnknownChannelIsOpenedOnceForAllWaitingClients) {
  Relay r;
  for (ClientId c : {1, 2, 3}) r.open(c);
  auto a1 = r.subscribe(1, "lobby");
  auto a2 = r.subscribe(2, "lobby");
  auto a3 = r.subscribe(3, "lobby");
  auto opens = only<OpenChannel>(a1);
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0].channel, "lobby");
  EXPECT_EQ(opens[0].hash, hash_password("lobby", ""));
  EXPECT_TRUE(only<OpenChannel>(a2).empty());
  EXPECT_TRUE(only<OpenChannel>(a3).empty());
  // No answer while the driver looks the channel up.
  for (const auto* a : {&a1, &a2, &a3}) EXPECT_TRUE(only<ToClient>(*a).empty());

  auto done = r.known("lobby");
  for (ClientId c : {1, 2, 3}) {
    json resp = response_to(done, c);
    EXPECT_TRUE(ok(resp)) << resp.dump();
    EXPECT_EQ(resp["nonce"], "sub-" + std::to_string(c));
  }
  ASSERT_EQ(r.core.channels().count("lobby"), 1u);
  EXPECT_EQ(r.core.channels().at("lobby").local_subscribers, 3u);
  EXPECT_EQ(r.core.channels().at("lobby").owner, "b");
  EXPECT_EQ(r.core.local_channels(), std::vector<std::string>{"lobby"});
}

TEST(RelayCoreSubscribe, OpenChannelCarriesTheFirstSubscribersPasswordHash) {
  Relay r;
  r.open(1);
  r.open(2);
  auto a = r.subscribe(1, "club", "hunter2");
  auto opens = only<OpenChannel>(a);
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0].hash, hash_password("club", "hunter2"));
  r.subscribe(2, "club", "guess");
  auto done = r.known("club", "hunter2");
  EXPECT_TRUE(ok(response_to(done, 1)));
  json refused = response_to(done, 2);
  EXPECT_FALSE(ok(refused));
  EXPECT_EQ(reason(refused), "invalid password");
  EXPECT_EQ(r.core.channels().at("club").local_subscribers, 1u);
}

TEST(RelayCoreSubscribe, KnownChannelAnswersAtOnceAgainstItsPassword) {
  Relay r;
  r.known("club", "pw");
  for (ClientId c : {1, 2, 3}) r.open(c);
  auto good = r.subscribe(1, "club", "pw");
  EXPECT_TRUE(only<OpenChannel>(good).empty()) << "a known channel is not looked up again";
  EXPECT_TRUE(ok(response_to(good, 1)));
  json wrong = response_to(r.subscribe(2, "club", "PW"), 2);
  EXPECT_FALSE(ok(wrong));
  EXPECT_EQ(reason(wrong), "invalid password");
  json none = response_to(r.subscribe(3, "club"), 3);
  EXPECT_EQ(reason(none), "invalid password");
  EXPECT_EQ(r.core.channels().at("club").local_subscribers, 1u);
}

TEST(RelayCoreSubscribe, ChannelWithoutPasswordTakesNullPasswordButRefusesAnyOther) {
  Relay r;
  r.known("open");
  r.open(1);
  r.open(2);
  EXPECT_TRUE(
      ok(response_to(r.request(1, "subscribe", {{"topic", "open"}, {"password", nullptr}}), 1)));
  EXPECT_EQ(reason(response_to(r.subscribe(2, "open", "x"), 2)), "invalid password");
}

TEST(RelayCoreSubscribe, FailedLookupRefusesEveryWaitingClient) {
  Relay r;
  r.open(1);
  r.open(2);
  r.subscribe(1, "lobby");
  r.subscribe(2, "lobby");
  r.core.channel_failed("lobby", "dht down");
  auto a = r.core.take_actions();
  for (ClientId c : {1, 2}) {
    json resp = response_to(a, c);
    EXPECT_FALSE(ok(resp));
    EXPECT_EQ(reason(resp), "channel unavailable: dht down");
    EXPECT_EQ(resp["nonce"], "sub-" + std::to_string(c));
  }
  EXPECT_EQ(r.core.channels().count("lobby"), 0u);
  // The next subscribe tries again.
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "lobby")).size(), 1u);
}

TEST(RelayCoreSubscribe, DriverReasonThatIsNotUtf8StillMakesAJsonResponse) {
  Relay r;
  r.open(1);
  r.subscribe(1, "lobby");
  r.core.channel_failed("lobby", "bad \xff\xc3 bytes");
  auto texts = only<ToClient>(r.core.take_actions());
  ASSERT_EQ(texts.size(), 1u);
  json resp = json::parse(texts[0].text, nullptr, false);
  ASSERT_FALSE(resp.is_discarded()) << texts[0].text;
  EXPECT_FALSE(ok(resp));
  EXPECT_EQ(reason(resp).rfind("channel unavailable: bad ", 0), 0u);
}

TEST(RelayCoreSubscribe, LookupInFlightIsNotRepeatedAfterItsWaitersLeft) {
  Relay r;
  r.open(1);
  r.open(2);
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "lobby")).size(), 1u);
  r.core.client_closed(1, r.now);
  EXPECT_TRUE(only<OpenChannel>(r.subscribe(2, "lobby")).empty())
      << "the first lookup's answer is still to come";
  auto done = r.known("lobby");
  EXPECT_TRUE(ok(response_to(done, 2)));
  EXPECT_TRUE(frames_to(done, 1).empty()) << "nothing for a closed client";
}

TEST(RelayCoreSubscribe, SubscribingTwiceIsOk) {
  Relay r;
  r.known("lobby");
  r.open(1);
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "lobby"), 1)));
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "lobby"), 1)));
  EXPECT_EQ(r.core.channels().at("lobby").local_subscribers, 1u);
}

TEST(RelayCoreSubscribe, UnsubscribeLeavesTheChannel) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.open(2);
  r.subscribe(1, "lobby");
  r.subscribe(2, "lobby");
  EXPECT_TRUE(ok(response_to(r.request(1, "unsubscribe", {{"topic", "lobby"}}), 1)));
  EXPECT_EQ(r.core.channels().at("lobby").local_subscribers, 1u);
  EXPECT_TRUE(messages_to(r.send(2, "lobby", "hi"), 1).empty());
  json again = response_to(r.request(1, "unsubscribe", {{"topic", "lobby"}}), 1);
  EXPECT_FALSE(ok(again));
  EXPECT_EQ(reason(again), "not subscribed");
  EXPECT_EQ(reason(response_to(r.request(1, "unsubscribe", json::object()), 1)), "missing topic");
}

TEST(RelayCoreSubscribe, ListShowsKnownAndSubscribedChannels) {
  Relay r;
  r.known("lobby");
  r.known("other");
  r.open(1);
  r.subscribe(1, "lobby");
  json resp = response_to(r.request(1, "list"), 1);
  ASSERT_TRUE(ok(resp));
  EXPECT_EQ(resp["data"]["channels"], json({"lobby", "other"}));
  EXPECT_EQ(resp["data"]["subscribed"], json({"lobby"}));
}

// ---------------------------------------------------------------------------
// Sending

TEST(RelayCoreSend, SenderGetsOkOtherLocalSubscribersGetTheMessage) {
  Relay r;
  r.known("lobby");
  for (ClientId c : {1, 2, 3, 4}) r.open(c);
  for (ClientId c : {1, 2, 3}) r.subscribe(c, "lobby");
  auto a = r.send(1, "lobby", {{"text", "hi"}});
  json resp = response_to(a, 1);
  EXPECT_TRUE(ok(resp));
  EXPECT_EQ(resp["nonce"], "send-1");
  EXPECT_TRUE(messages_to(a, 1).empty()) << "the sender does not get its own message";
  for (ClientId c : {2, 3}) {
    auto frames = of_type(frames_to(a, c), "message");
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0]["data"]["channel"], "lobby");
    EXPECT_EQ(frames[0]["data"]["message"], json({{"text", "hi"}}));
    EXPECT_EQ(frames[0]["nonce"], "send-1");
  }
  EXPECT_TRUE(frames_to(a, 4).empty()) << "not subscribed";
  EXPECT_EQ(r.core.stats().delivered_local, 2u);
}

TEST(RelayCoreSend, EachSendIsOneShoutWithTheNextSequenceNumber) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.subscribe(1, "lobby");
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto inms = only<SendInm>(r.send(1, "lobby", "m" + std::to_string(seq)));
    ASSERT_EQ(inms.size(), 1u);
    const Inm& m = inms[0].inm;
    EXPECT_EQ(m.source, "a");
    EXPECT_EQ(m.destination, "*");
    EXPECT_EQ(m.type, "message");
    EXPECT_EQ(m.nonce, "a:" + std::to_string(seq));
    EXPECT_EQ(m.data["seq"], seq);
    EXPECT_EQ(m.data["channel"], "lobby");
    EXPECT_EQ(m.data["message"], "m" + std::to_string(seq));
    EXPECT_EQ(m.data["nonce"], "send-1");
  }
}

TEST(RelayCoreSend, SendWithoutSubscriptionIsRefusedAndGoesNowhere) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.open(2);
  r.subscribe(2, "lobby");
  auto a = r.send(1, "lobby", "hi");
  json resp = response_to(a, 1);
  EXPECT_FALSE(ok(resp));
  EXPECT_EQ(reason(resp), "not subscribed");
  EXPECT_TRUE(frames_to(a, 2).empty());
  EXPECT_TRUE(only<SendInm>(a).empty());
}

TEST(RelayCoreSend, SendNeedsChannelAndMessage) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.subscribe(1, "lobby");
  EXPECT_EQ(reason(response_to(r.request(1, "send", {{"message", "hi"}}), 1)), "missing channel");
  EXPECT_EQ(reason(response_to(r.request(1, "send", {{"channel", 5}, {"message", "hi"}}), 1)),
            "missing channel");
  EXPECT_EQ(reason(response_to(r.request(1, "send", {{"channel", "lobby"}}), 1)),
            "missing message");
}

TEST(RelayCoreSend, MessagesFromAnotherNodeReachEveryLocalSubscriber) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.open(2);
  r.subscribe(1, "lobby");
  r.subscribe(2, "lobby");
  auto a = r.inm(message_inm("b", 1, "lobby", "from b"));
  EXPECT_EQ(messages_to(a, 1), std::vector<json>{"from b"});
  EXPECT_EQ(messages_to(a, 2), std::vector<json>{"from b"});
  EXPECT_TRUE(only<SendInm>(a).empty()) << "an INM is not relayed on by the core";
}

TEST(RelayCoreSend, OwnShoutLoopedBackIsNotDeliveredAgain) {
  Relay r;
  r.known("lobby");
  r.open(1);
  r.subscribe(1, "lobby");
  EXPECT_TRUE(r.inm(message_inm("a", 1, "lobby", "mine")).empty());
}

// ---------------------------------------------------------------------------
// Order of INMs from one source

// Subscribes client 1 to "lobby" and returns the relay.
Relay one_listener(RelayCoreConfig c = test_config()) {
  Relay r(std::move(c));
  r.known("lobby");
  r.open(1);
  r.subscribe(1, "lobby");
  return r;
}

std::vector<json> feed(Relay& r, const std::string& source, std::vector<uint64_t> seqs) {
  std::vector<json> out;
  for (uint64_t s : seqs)
    for (json& m : messages_to(r.inm(message_inm(source, s, "lobby", s)), 1))
      out.push_back(std::move(m));
  return out;
}

TEST(RelayCoreOrder, OutOfOrderMessagesAreDeliveredInSequence) {
  Relay r = one_listener();
  EXPECT_EQ(feed(r, "b", {1}), std::vector<json>{1});
  EXPECT_TRUE(feed(r, "b", {3, 5, 4}).empty()) << "held for 2";
  EXPECT_EQ(feed(r, "b", {2}), (std::vector<json>{2, 3, 4, 5}));
  EXPECT_EQ(feed(r, "b", {6}), std::vector<json>{6});
  EXPECT_EQ(r.core.stats().inm_reordered, 3u);
  EXPECT_EQ(r.core.stats().inm_skipped, 0u);
}

TEST(RelayCoreOrder, DuplicatesAreDeliveredOnce) {
  Relay r = one_listener();
  EXPECT_EQ(feed(r, "b", {1, 2, 2, 1, 4, 4}), (std::vector<json>{1, 2}));
  EXPECT_EQ(feed(r, "b", {3, 3, 4}), (std::vector<json>{3, 4}));
  EXPECT_EQ(r.core.stats().inm_duplicates, 5u);
  EXPECT_EQ(r.core.stats().inm_messages_in, 9u);
}

TEST(RelayCoreOrder, SourcesHaveTheirOwnSequences) {
  Relay r = one_listener();
  EXPECT_EQ(feed(r, "b", {1, 2}), (std::vector<json>{1, 2}));
  EXPECT_EQ(feed(r, "c", {1, 2}), (std::vector<json>{1, 2}));
}

TEST(RelayCoreOrder, FirstMessageFromASourceSetsItsSequence) {
  // A node met mid-stream: its first message is delivered at once.
  Relay r = one_listener();
  EXPECT_EQ(feed(r, "b", {500, 501}), (std::vector<json>{500, 501}));
}

TEST(RelayCoreOrder, AJustStartedSourceIsReadFromOneSoOvertakenMessagesCount) {
  Relay r = one_listener();
  EXPECT_TRUE(feed(r, "b", {3}).empty()) << "held for 1 and 2";
  EXPECT_EQ(feed(r, "b", {1, 2}), (std::vector<json>{1, 2, 3}));
}

TEST(RelayCoreOrder, ARestartedSourceStartsANewSequence) {
  Relay r = one_listener();
  auto from = [&](uint64_t session, uint64_t seq) {
    Inm m =
        message_inm("b", seq, "lobby", json(std::to_string(session) + "/" + std::to_string(seq)));
    m.data["session"] = session;
    return messages_to(r.inm(m), 1);
  };
  EXPECT_EQ(from(7, 1), std::vector<json>{"7/1"});
  EXPECT_EQ(from(7, 2), std::vector<json>{"7/2"});
  EXPECT_EQ(from(7, 3), std::vector<json>{"7/3"});
  // b restarted (session 9) and numbers from 1 again: not duplicates.
  EXPECT_EQ(from(9, 1), std::vector<json>{"9/1"});
  EXPECT_EQ(from(9, 2), std::vector<json>{"9/2"});
  // A message of the old run still on its way is dropped, and does not
  // reset the new run.
  EXPECT_TRUE(from(7, 4).empty());
  EXPECT_EQ(from(9, 3), std::vector<json>{"9/3"});
  // Nor does one of any earlier run, after several restarts.
  EXPECT_EQ(from(11, 1), std::vector<json>{"11/1"});
  EXPECT_TRUE(from(7, 5).empty());
  EXPECT_TRUE(from(9, 4).empty());
  EXPECT_EQ(from(11, 2), std::vector<json>{"11/2"});
}

TEST(RelayCoreOrder, GapIsSkippedAfterTheReorderWait) {
  RelayCoreConfig c = test_config();
  c.reorder_wait_ms = 2000;
  Relay r = one_listener(c);
  EXPECT_EQ(feed(r, "b", {1, 3, 4}), std::vector<json>{1});
  EXPECT_TRUE(messages_to(r.tick(1999), 1).empty()) << "still waiting for 2";
  EXPECT_EQ(messages_to(r.tick(1), 1), (std::vector<json>{3, 4}));
  EXPECT_EQ(r.core.stats().inm_skipped, 1u);
  EXPECT_TRUE(feed(r, "b", {2}).empty()) << "too late: given up on";
  EXPECT_EQ(feed(r, "b", {5}), std::vector<json>{5});
  EXPECT_TRUE(r.tick(10'000).empty());
}

TEST(RelayCoreOrder, EachNewGapGetsTheWholeWait) {
  RelayCoreConfig c = test_config();
  c.reorder_wait_ms = 1000;
  Relay r = one_listener(c);
  EXPECT_EQ(feed(r, "b", {1, 3}), std::vector<json>{1});
  r.tick(900);
  // 2 arrives, releasing 3; 5 opens a new gap (4), which waits its own second.
  EXPECT_EQ(feed(r, "b", {2, 5}), (std::vector<json>{2, 3}));
  EXPECT_TRUE(messages_to(r.tick(900), 1).empty());
  EXPECT_EQ(messages_to(r.tick(100), 1), std::vector<json>{5});
}

TEST(RelayCoreOrder, ReorderWindowBoundsWhatIsHeld) {
  RelayCoreConfig c = test_config();
  c.reorder_window = 4;
  c.reorder_wait_ms = 1'000'000;
  Relay r = one_listener(c);
  EXPECT_EQ(feed(r, "b", {1}), std::vector<json>{1});
  EXPECT_TRUE(feed(r, "b", {3, 4, 5, 6}).empty()) << "four held: the window";
  // A fifth held message is one too many: the gap is given up at once.
  EXPECT_EQ(feed(r, "b", {7}), (std::vector<json>{3, 4, 5, 6, 7}));
  EXPECT_EQ(r.core.stats().inm_skipped, 1u);
  // Each message held beyond the window gives up the oldest gap.
  EXPECT_TRUE(feed(r, "b", {10, 12, 14, 16}).empty());
  EXPECT_EQ(feed(r, "b", {18}), (std::vector<json>{10}));
  EXPECT_EQ(feed(r, "b", {11}), (std::vector<json>{11, 12}));
}

TEST(RelayCoreOrder, MalformedMessageInmsAreDropped) {
  Relay r = one_listener();
  Inm bad = message_inm("b", 1, "lobby", "x");
  for (json seq : {json(-1), json("1"), json(1.5), json(nullptr)}) {
    bad.data["seq"] = seq;
    EXPECT_TRUE(r.inm(bad).empty()) << seq.dump();
  }
  Inm no_channel = message_inm("b", 1, "lobby", "x");
  no_channel.data.erase("channel");
  EXPECT_TRUE(r.inm(no_channel).empty());
  Inm no_message = message_inm("b", 1, "lobby", "x");
  no_message.data.erase("message");
  EXPECT_TRUE(r.inm(no_message).empty());
  EXPECT_EQ(r.core.stats().inm_messages_in, 0u);
  // The source's sequence did not start on them.
  EXPECT_EQ(feed(r, "b", {1}), std::vector<json>{1});
}

// ---------------------------------------------------------------------------
// Rate and strikes

RelayCoreConfig limited_config() {
  RelayCoreConfig c = test_config();
  c.client_rate = 10;  // one request per 100 ms
  c.client_burst = 2;
  c.max_strikes = 3;
  return c;
}

TEST(RelayCoreRate, RequestsOverTheBurstAreRefused) {
  Relay r(limited_config());
  r.open(1);
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  json limited = response_to(r.request(1, "list"), 1);
  EXPECT_FALSE(ok(limited));
  EXPECT_EQ(reason(limited), "rate limit: over 10 requests per second");
  r.now += 99;  // 0.99 of a request
  EXPECT_FALSE(ok(response_to(r.request(1, "list"), 1)));
}

TEST(RelayCoreRate, SubscribesCostTheirPasswordCheck) {
  RelayCoreConfig c = test_config();
  c.client_rate = 10;
  c.client_burst = 35;
  c.password_check_cost = 10;
  Relay r(c);
  r.open(1);
  // 35 tokens: three subscribes; the fourth finds 5, not 10.
  for (int i = 0; i < 3; ++i) {
    const std::string ch = "ch" + std::to_string(i);
    r.known(ch);
    EXPECT_TRUE(ok(response_to(r.subscribe(1, ch), 1))) << i;
  }
  r.known("lobby");
  json refused = response_to(r.subscribe(1, "lobby"), 1);
  EXPECT_FALSE(ok(refused));
  EXPECT_EQ(reason(refused), "rate limit: a subscribe costs 10 requests");
  r.now += 1000;  // 10 more tokens
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "lobby"), 1)));
}

TEST(RelayCoreRate, TokensRefillWithTime) {
  Relay r(limited_config());
  r.open(1);
  r.request(1, "list");
  r.request(1, "list");
  r.now += 100;
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  EXPECT_FALSE(ok(response_to(r.request(1, "list"), 1)));
  r.now += 10'000;  // refilled, but never beyond the burst
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  EXPECT_FALSE(ok(response_to(r.request(1, "list"), 1)));
}

TEST(RelayCoreRate, MaxStrikesInARowCloseTheClientWithPolicy) {
  Relay r(limited_config());
  r.open(1);
  r.open(2);
  r.request(1, "list");
  r.request(1, "list");
  EXPECT_TRUE(only<CloseClient>(r.request(1, "list")).empty());  // strike 1
  EXPECT_TRUE(only<CloseClient>(r.request(1, "list")).empty());  // strike 2
  auto a = r.request(1, "list");                                 // strike 3
  EXPECT_EQ(reason(response_to(a, 1)), "rate limit: over 10 requests per second");
  auto closes = only<CloseClient>(a);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].client, 1u);
  EXPECT_EQ(closes[0].code, 1008);
  EXPECT_EQ(closes[0].reason, "too many bad requests: 3");
  EXPECT_EQ(r.core.stats().clients_closed, 1u);
  // A closing client is not heard any more; the others are.
  r.now += 10'000;
  EXPECT_TRUE(r.request(1, "list").empty());
  EXPECT_TRUE(ok(response_to(r.request(2, "list"), 2)));
}

TEST(RelayCoreRate, BadRequestsCountAsStrikesAndGoodOnesResetThem) {
  RelayCoreConfig c = test_config();
  c.max_strikes = 3;
  Relay r(c);
  r.open(1);
  r.raw(1, "nonsense");
  r.raw(1, "nonsense");
  EXPECT_TRUE(ok(response_to(r.request(1, "list"), 1)));
  EXPECT_TRUE(only<CloseClient>(r.raw(1, "nonsense")).empty());
  EXPECT_TRUE(only<CloseClient>(r.raw(1, "nonsense")).empty());
  auto closes = only<CloseClient>(r.raw(1, "nonsense"));
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 1008);
}

// ---------------------------------------------------------------------------
// Bad requests: each gets an error response with a reason, and the nonce
// when there is one.

TEST(RelayCoreBadInput, UnparsableRequestsAreRefusedWithoutANonce) {
  Relay r;
  r.open(1);
  for (auto [text, why] :
       std::vector<std::pair<std::string, std::string>>{{"{", "malformed JSON"},
                                                        {"", "malformed JSON"},
                                                        {"\xff", "malformed JSON"},
                                                        {"[1,2]", "want a JSON object"},
                                                        {"\"subscribe\"", "want a JSON object"},
                                                        {"42", "want a JSON object"}}) {
    json resp = response_to(r.raw(1, text), 1);
    EXPECT_EQ(resp.value("type", ""), "response");
    EXPECT_FALSE(ok(resp)) << text;
    EXPECT_EQ(reason(resp), why) << text;
    EXPECT_TRUE(resp["nonce"].is_null());
  }
  EXPECT_EQ(r.core.stats().client_errors, 6u);
}

TEST(RelayCoreBadInput, RequestWithoutACommandIsRefusedEchoingTheNonce) {
  Relay r;
  r.open(1);
  json resp = response_to(r.raw(1, R"({"nonce":5})"), 1);
  EXPECT_EQ(reason(resp), "missing command");
  EXPECT_EQ(resp["nonce"], 5);
  EXPECT_EQ(reason(response_to(r.raw(1, R"({"command":7,"nonce":"n"})"), 1)), "missing command");
  json data = response_to(r.raw(1, R"({"command":"send","data":[1],"nonce":"n"})"), 1);
  EXPECT_EQ(reason(data), "data: want an object");
  EXPECT_EQ(data["nonce"], "n");
  EXPECT_EQ(reason(response_to(r.raw(1, R"({"command":"list","data":null})"), 1)),
            "data: want an object");
}

TEST(RelayCoreBadInput, UnknownCommandIsNamedInTheError) {
  Relay r;
  r.open(1);
  EXPECT_EQ(reason(response_to(r.request(1, "frobnicate"), 1)), "unknown command: frobnicate");
  // A long name is cut, and the error is still JSON even when the cut falls
  // inside a character of several bytes.
  const std::string name = std::string(63, 'x') + "\xc3\xa9" + std::string(100, 'y');
  auto a = r.request(1, name);
  auto texts = only<ToClient>(a);
  ASSERT_EQ(texts.size(), 1u);
  json resp = json::parse(texts[0].text, nullptr, false);
  ASSERT_FALSE(resp.is_discarded()) << texts[0].text;
  EXPECT_FALSE(ok(resp));
  EXPECT_EQ(reason(resp).rfind("unknown command: " + std::string(63, 'x'), 0), 0u) << reason(resp);
  EXPECT_LT(reason(resp).size(), 100u);
}

TEST(RelayCoreBadInput, TopicMustBePrintableAndBounded) {
  Relay r;
  r.open(1);
  const std::string why = "topic: want 1 to 128 printable bytes";
  for (json topic : {json(""), json(std::string(129, 't')), json("a\nb"), json("tab\there"),
                     json("del\x7f"), json(std::string("nul\0x", 5))}) {
    auto a = r.request(1, "subscribe", {{"topic", topic}});
    EXPECT_EQ(reason(response_to(a, 1)), why) << topic.dump();
    EXPECT_TRUE(only<OpenChannel>(a).empty());
  }
  EXPECT_EQ(reason(response_to(r.request(1, "subscribe", json::object()), 1)), "missing topic");
  EXPECT_EQ(reason(response_to(r.request(1, "subscribe", {{"topic", 5}}), 1)), "missing topic");
  // The bound itself is fine, and so is UTF-8.
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, std::string(128, 't'))).size(), 1u);
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "caf\xc3\xa9 lobby")).size(), 1u);
}

TEST(RelayCoreBadInput, PasswordMustBeABoundedString) {
  Relay r;
  r.open(1);
  EXPECT_EQ(reason(response_to(r.request(1, "subscribe", {{"topic", "t"}, {"password", 5}}), 1)),
            "password: want a string");
  EXPECT_EQ(
      reason(response_to(
          r.request(1, "subscribe", {{"topic", "t"}, {"password", std::string(257, 'p')}}), 1)),
      "password: over 256 bytes");
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "t", std::string(256, 'p'))).size(), 1u);
}

TEST(RelayCoreBadInput, TooManyChannelsForOneClient) {
  RelayCoreConfig c = test_config();
  c.max_channels_per_client = 2;
  Relay r(c);
  for (const char* ch : {"c1", "c2", "c3"}) r.known(ch);
  r.open(1);
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "c1"), 1)));
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "c2"), 1)));
  EXPECT_EQ(reason(response_to(r.subscribe(1, "c3"), 1)), "too many channels for one client");
  EXPECT_EQ(reason(response_to(r.subscribe(1, "unknown"), 1)), "too many channels for one client");
  r.request(1, "unsubscribe", {{"topic", "c1"}});
  EXPECT_TRUE(ok(response_to(r.subscribe(1, "c3"), 1)));
}

TEST(RelayCoreBadInput, TooManyClientsWaitingForOneChannel) {
  RelayCoreConfig c = test_config();
  c.max_waiting_per_channel = 2;
  Relay r(c);
  for (ClientId id : {1, 2, 3}) r.open(id);
  r.subscribe(1, "lobby");
  r.subscribe(2, "lobby");
  json busy = response_to(r.subscribe(3, "lobby"), 3);
  EXPECT_FALSE(ok(busy));
  EXPECT_EQ(reason(busy), "busy: try again");
  auto done = r.known("lobby");
  EXPECT_TRUE(ok(response_to(done, 1)));
  EXPECT_TRUE(ok(response_to(done, 2)));
  EXPECT_TRUE(frames_to(done, 3).empty());
}

TEST(RelayCoreBadInput, TooManyChannelsOnTheNode) {
  RelayCoreConfig c = test_config();
  c.max_channels = 2;
  Relay r(c);
  r.open(1);
  r.known("c1");
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "c2")).size(), 1u);
  auto a = r.subscribe(1, "c3");
  EXPECT_EQ(reason(response_to(a, 1)), "too many channels on this node");
  EXPECT_TRUE(only<OpenChannel>(a).empty());
  // A reservation learned from another node does not take the place of c2.
  r.inm(command_inm("b", {{"command", "reserve-channel"},
                          {"channel", "c4"},
                          {"hash", hash_to_hex(hash_password("c4", ""))},
                          {"token", 1}}));
  EXPECT_EQ(r.core.channels().count("c4"), 0u);
  EXPECT_LE(r.core.channels().size(), 2u);
}

TEST(RelayCoreBadInput, WaitingSubscriberIsAnsweredWhenOthersReservationsFillTheNode) {
  RelayCoreConfig c = test_config();
  c.max_channels = 3;
  Relay r(c);
  r.open(1);
  r.subscribe(1, "mine");
  for (const char* ch : {"x", "y", "z"}) r.known(ch);
  EXPECT_EQ(r.core.channels().size(), 2u) << "one place kept for the channel being opened";
  auto done = r.known("mine");
  EXPECT_TRUE(ok(response_to(done, 1)));
  EXPECT_EQ(r.core.channels().size(), 3u);
}

TEST(RelayCoreBadInput, RequestsFromUnknownClientsAreIgnored) {
  Relay r;
  EXPECT_TRUE(r.request(9, "list").empty());
  r.open(1);
  r.core.client_closed(1, r.now);
  EXPECT_TRUE(r.request(1, "list").empty());
  EXPECT_EQ(r.core.client_count(), 0u);
}

// ---------------------------------------------------------------------------
// Network commands: the driver answers

TEST(RelayCoreNetwork, NetworkCommandGoesToTheDriverAndItsAnswerToTheClient) {
  Relay r;
  r.open(1);
  auto a = r.request(1, "node-stats", {{"node", "b"}}, "n1");
  EXPECT_TRUE(only<ToClient>(a).empty());
  auto cmds = only<NetworkCommand>(a);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].client, 1u);
  EXPECT_EQ(cmds[0].command, "node-stats");
  EXPECT_EQ(cmds[0].nonce, "n1");
  EXPECT_EQ(cmds[0].data, json({{"node", "b"}}));
  r.core.answer_client(1, "n1", true, {{"packets", 3}});
  json resp = response_to(r.core.take_actions(), 1);
  EXPECT_TRUE(ok(resp));
  EXPECT_EQ(resp["nonce"], "n1");
  EXPECT_EQ(resp["data"]["packets"], 3);
  r.core.answer_client(1, "n2", false, json::object(), "no such node");
  EXPECT_EQ(reason(response_to(r.core.take_actions(), 1)), "no such node");
  // An answer for a client that left goes nowhere.
  r.core.client_closed(1, r.now);
  r.core.answer_client(1, "n3", true);
  EXPECT_TRUE(r.core.take_actions().empty());
}

TEST(RelayCoreNetwork, AnswerHasAReasonExactlyWhenItIsNotOk) {
  // As another node's answer may come: a refusal without a reason, an ok
  // with one.
  Relay r;
  r.open(1);
  r.core.answer_client(1, "n1", false, json::object(), "");
  json refused = response_to(r.core.take_actions(), 1);
  EXPECT_FALSE(ok(refused));
  EXPECT_EQ(reason(refused), "no reason given");
  r.core.answer_client(1, "n2", true, {{"reason", "stale"}, {"nodes", 2}}, "stale too");
  json fine = response_to(r.core.take_actions(), 1);
  EXPECT_TRUE(ok(fine));
  EXPECT_FALSE(fine["data"].contains("reason")) << fine.dump();
  EXPECT_EQ(fine["data"]["nodes"], 2);
}

// ---------------------------------------------------------------------------
// Reservations from other nodes

Inm reserve(const std::string& from, const std::string& channel, const std::string& password,
            uint64_t token) {
  return command_inm(from, {{"command", "reserve-channel"},
                            {"channel", channel},
                            {"hash", hash_to_hex(hash_password(channel, password))},
                            {"token", token}});
}
Inm unreserve(const std::string& from, const std::string& channel, uint64_t token) {
  return command_inm(from,
                     {{"command", "unreserve-channel"}, {"channel", channel}, {"token", token}});
}

TEST(RelayCoreReservation, ReserveChannelMakesTheChannelKnown) {
  Relay r;
  r.inm(reserve("b", "club", "pw", 5));
  ASSERT_EQ(r.core.channels().count("club"), 1u);
  const ChannelInfo& info = r.core.channels().at("club");
  EXPECT_EQ(info.token, 5u);
  EXPECT_EQ(info.owner, "b");
  EXPECT_EQ(info.hash, hash_password("club", "pw"));
  r.open(1);
  auto a = r.subscribe(1, "club", "pw");
  EXPECT_TRUE(only<OpenChannel>(a).empty());
  EXPECT_TRUE(ok(response_to(a, 1)));
}

TEST(RelayCoreReservation, HigherTokenWinsAndAnOlderOneIsIgnored) {
  Relay r;
  r.inm(reserve("b", "club", "first", 5));
  r.inm(reserve("c", "club", "older", 3));
  EXPECT_EQ(r.core.channels().at("club").token, 5u);
  EXPECT_EQ(r.core.channels().at("club").owner, "b");
  EXPECT_EQ(r.core.channels().at("club").hash, hash_password("club", "first"));
  r.inm(reserve("c", "club", "newer", 7));
  EXPECT_EQ(r.core.channels().at("club").token, 7u);
  EXPECT_EQ(r.core.channels().at("club").owner, "c");
  EXPECT_EQ(r.core.channels().at("club").hash, hash_password("club", "newer"));
}

TEST(RelayCoreReservation, ReserveChannelAnswersWaitingSubscribers) {
  Relay r;
  r.open(1);
  r.subscribe(1, "club", "pw");
  EXPECT_TRUE(ok(response_to(r.inm(reserve("b", "club", "pw", 2)), 1)));
}

TEST(RelayCoreReservation, MalformedReservationsAreIgnored) {
  Relay r;
  const std::string hex = hash_to_hex(hash_password("club", ""));
  for (json data : {json{{"command", "reserve-channel"}, {"channel", "club"}, {"hash", "zz"}},
                    json{{"command", "reserve-channel"}, {"channel", "club"}},
                    json{{"command", "reserve-channel"}, {"channel", "club"}, {"hash", 5}},
                    json{{"command", "reserve-channel"}, {"channel", ""}, {"hash", hex}},
                    json{{"command", "reserve-channel"}, {"channel", "a\nb"}, {"hash", hex}},
                    json{{"command", "reserve-channel"}, {"channel", 7}, {"hash", hex}},
                    json{{"command", "reserve-channel"}, {"hash", hex}}}) {
    EXPECT_TRUE(r.core.inm_received(command_inm("b", data), r.now)) << data.dump();
    EXPECT_TRUE(r.core.channels().empty()) << data.dump();
  }
  // Fields of the wrong type neither throw nor count.
  EXPECT_TRUE(r.core.inm_received(
      command_inm("b", {{"command", "unreserve-channel"}, {"channel", 1}, {"token", "x"}}), r.now));
  EXPECT_FALSE(r.core.inm_received(command_inm("b", {{"command", 5}}), r.now));
  EXPECT_TRUE(r.core.take_actions().empty());
}

TEST(RelayCoreReservation, UnreserveForgetsAChannelWithoutLocalSubscribers) {
  Relay r;
  r.inm(reserve("b", "club", "pw", 5));
  EXPECT_TRUE(r.inm(unreserve("b", "club", 4)).empty());
  EXPECT_EQ(r.core.channels().count("club"), 1u) << "an older release is ignored";
  EXPECT_TRUE(r.inm(unreserve("b", "club", 5)).empty());
  EXPECT_EQ(r.core.channels().count("club"), 0u);
  // The next subscriber looks it up again.
  r.open(1);
  EXPECT_EQ(only<OpenChannel>(r.subscribe(1, "club", "pw")).size(), 1u);
}

TEST(RelayCoreReservation, UnreserveWithLocalSubscribersReservesAgainWithTheSameHash) {
  Relay r;
  r.inm(reserve("b", "club", "pw", 5));
  r.open(1);
  r.subscribe(1, "club", "pw");
  auto opens = only<OpenChannel>(r.inm(unreserve("b", "club", 5)));
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0].channel, "club");
  EXPECT_EQ(opens[0].hash, hash_password("club", "pw"));
  EXPECT_EQ(opens[0].released_token, 5u) << "the released reservation is not live";
  EXPECT_EQ(r.core.channels().count("club"), 1u);
  // Its subscriber stays and still gets the channel's messages.
  EXPECT_EQ(messages_to(r.inm(message_inm("b", 1, "club", "still here")), 1),
            std::vector<json>{"still here"});
}

TEST(RelayCoreReservation, ChannelEmptyWhenTheLastLocalSubscriberOfAnOwnedChannelLeaves) {
  Relay r;
  r.known("mine", "", 1, "a");  // reserved by this node
  r.known("theirs", "", 1, "b");
  for (ClientId c : {1, 2}) {
    r.open(c);
    r.subscribe(c, "mine");
    r.subscribe(c, "theirs");
  }
  EXPECT_TRUE(only<ChannelEmpty>(r.request(1, "unsubscribe", {{"topic", "mine"}})).empty());
  r.core.client_closed(1, r.now);
  EXPECT_TRUE(only<ChannelEmpty>(r.core.take_actions()).empty());
  r.core.client_closed(2, r.now);
  auto empties = only<ChannelEmpty>(r.core.take_actions());
  ASSERT_EQ(empties.size(), 1u) << "only for the channel this node owns";
  EXPECT_EQ(empties[0].channel, "mine");
  EXPECT_EQ(r.core.channels().at("mine").local_subscribers, 0u);
  EXPECT_TRUE(r.core.local_channels().empty());
}

TEST(RelayCoreReservation, CommandsTheCoreDoesNotHandleGoBackToTheDriver) {
  Relay r;
  EXPECT_FALSE(r.core.inm_received(command_inm("b", {{"command", "hello"}}), r.now));
  Inm resp = command_inm("b", {{"ok", true}});
  resp.type = "response";
  EXPECT_FALSE(r.core.inm_received(resp, r.now));
}

// ---------------------------------------------------------------------------
// Inm

TEST(RelayInm, RoundTripsThroughJson) {
  Inm m = message_inm("relay-a", 17, "lobby", {{"text", "hi"}, {"n", {1, 2}}});
  auto back = Inm::parse(m.to_json());
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->source, m.source);
  EXPECT_EQ(back->destination, m.destination);
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->nonce, m.nonce);
  EXPECT_EQ(back->data, m.data);
  for (const char* type : {"command", "response"}) {
    m.type = type;
    auto again = Inm::parse(m.to_json());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->type, type);
  }
}

TEST(RelayInm, ParseRejectsEveryMalformedForm) {
  const json good = {{"source", "a"},
                     {"destination", "*"},
                     {"type", "message"},
                     {"nonce", "a:1"},
                     {"data", json::object()}};
  ASSERT_TRUE(Inm::parse(good.dump()).ok());
  std::vector<std::string> bad = {"", "{", "[]", "\"inm\"", "null", "{}"};
  for (const char* field : {"source", "destination", "type", "nonce", "data"}) {
    json missing = good;
    missing.erase(field);
    bad.push_back(missing.dump());
    for (json wrong : {json(5), json(nullptr), json::array(), json(true)}) {
      json mistyped = good;
      mistyped[field] = wrong;
      bad.push_back(mistyped.dump());
    }
  }
  for (json data : {json("x"), json(json::array())}) {
    json d = good;
    d["data"] = data;
    bad.push_back(d.dump());
  }
  for (const char* type : {"MESSAGE", "shout", ""}) {
    json t = good;
    t["type"] = type;
    bad.push_back(t.dump());
  }
  for (const char* field : {"source", "destination"}) {
    json empty = good;
    empty[field] = "";
    bad.push_back(empty.dump());
  }
  for (const std::string& text : bad) {
    auto r = Inm::parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << text;
  }
}

TEST(RelayInm, ParseBoundsTheSize) {
  json j = {{"source", "a"}, {"destination", "*"}, {"type", "message"}, {"nonce", "a:1"}};
  j["data"] = {{"pad", ""}};
  const size_t envelope = j.dump().size();
  j["data"]["pad"] = std::string(kMaxInmBytes - envelope, 'x');
  ASSERT_EQ(j.dump().size(), kMaxInmBytes);
  EXPECT_TRUE(Inm::parse(j.dump()).ok());
  j["data"]["pad"] = std::string(kMaxInmBytes - envelope + 1, 'x');
  auto r = Inm::parse(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
}

TEST(RelayInm, ResponseSwapsEndsAndEchoesTheNonce) {
  Inm cmd = command_inm("b", {{"command", "node-stats"}});
  cmd.destination = "a";
  Inm yes = cmd.response("a", true, {{"packets", 4}});
  EXPECT_EQ(yes.source, "a");
  EXPECT_EQ(yes.destination, "b");
  EXPECT_EQ(yes.type, "response");
  EXPECT_EQ(yes.nonce, cmd.nonce);
  EXPECT_EQ(yes.data, json({{"ok", true}, {"packets", 4}}));
  Inm no = cmd.response("a", false);
  EXPECT_EQ(no.data, json({{"ok", false}}));
  EXPECT_EQ(cmd.response("a", true, "not an object").data, json({{"ok", true}}));
  EXPECT_TRUE(Inm::parse(no.to_json()).ok());
}

// ---------------------------------------------------------------------------
// Passwords

TEST(RelayInm, CutsNeverSplitACharacterAndBadUtf8StillSerializes) {
  const std::string e_acute = "\xc3\xa9";
  EXPECT_EQ(utf8_prefix("ab" + e_acute, 3), "ab") << "not half of the two-byte character";
  EXPECT_EQ(utf8_prefix("ab" + e_acute, 4), "ab" + e_acute);
  EXPECT_EQ(utf8_prefix("abc", 64), "abc");
  Inm inm;
  inm.source = "a";
  inm.destination = "b";
  inm.type = "response";
  inm.nonce = "n";
  inm.data = {{"reason", "cut \xc3"}};
  std::string text;
  ASSERT_NO_THROW(text = inm.to_json());
  auto back = Inm::parse(text);
  ASSERT_TRUE(back.ok()) << text;
  EXPECT_EQ(string_field(back->data, "reason"), "cut \xef\xbf\xbd") << "U+FFFD";
}

TEST(RelayInm, FieldsOfTheWrongTypeReadAsTheFallback) {
  const json j = {{"command", 1}, {"token", -3}, {"ok", "yes"}, {"name", "x"}, {"n", 7}};
  EXPECT_EQ(string_field(j, "command", "none"), "none");
  EXPECT_EQ(string_field(j, "name"), "x");
  EXPECT_EQ(uint_field(j, "token", 9), 9u);
  EXPECT_EQ(uint_field(j, "n"), 7u);
  EXPECT_FALSE(bool_field(j, "ok"));
  EXPECT_EQ(string_field(json::array({1}), "command", "none"), "none") << "not an object";
}

TEST(RelayPassword, HashIsPbkdf2Sha256SaltedWithTheChannelName) {
  // python3: hashlib.pbkdf2_hmac('sha256', b'hunter2', b'secret', 32768).hex()
  EXPECT_EQ(hash_to_hex(hash_password("secret", "hunter2")),
            "4e3f19f251f03a7ed33f07b07d8befc523b1f47f294123c8b98c1afa0ec59098");
  // hashlib.pbkdf2_hmac('sha256', b'', b'lobby', 32768).hex(): no password.
  EXPECT_EQ(hash_to_hex(hash_password("lobby", "")),
            "8a8cc19848ba39042655c7b6436254f58fdd31ec831a078e7ff96f1aab7f38e9");
  EXPECT_NE(hash_password("other", "hunter2"), hash_password("secret", "hunter2"));
}

TEST(RelayPassword, MatchesOnlyTheSamePasswordOnTheSameChannel) {
  const PasswordHash stored = hash_password("club", "pw");
  EXPECT_TRUE(password_matches(stored, "club", "pw"));
  EXPECT_FALSE(password_matches(stored, "club", "pW"));
  EXPECT_FALSE(password_matches(stored, "club", ""));
  EXPECT_FALSE(password_matches(stored, "club2", "pw"));
  EXPECT_TRUE(password_matches(hash_password("club", ""), "club", ""));
}

TEST(RelayPassword, HexRoundTripsAndRejectsAnythingElse) {
  const PasswordHash h = hash_password("club", "pw");
  const std::string hex = hash_to_hex(h);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  auto back = hash_from_hex(hex);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  for (const std::string& bad :
       {std::string(), hex.substr(0, 63), hex.substr(0, 62), hex + "00", hex + "0",
        "zz" + hex.substr(2), " " + hex.substr(1), hex.substr(0, 63) + "g"}) {
    EXPECT_FALSE(hash_from_hex(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------
// Traffic

TEST(RelayTraffic, CountsPacketsAndBytesOverOneFifteenAndSixtySeconds) {
  TrafficStats t;
  const int64_t base = 1'000'000;        // ms
  t.record("lobby", 10, base - 30'000);  // 30 s ago
  t.record("lobby", 20, base - 10'000);  // 10 s ago
  t.record("lobby", 40, base - 500);     // the second before
  t.record("lobby", 80, base + 999);
  t.record("lobby", 160, base - 60'000);  // 60 s ago: out of every window
  TrafficStats::Summary s = t.overall(base + 999);
  EXPECT_EQ(s.last_1s.packets, 1u);
  EXPECT_EQ(s.last_1s.bytes, 80u);
  EXPECT_EQ(s.last_15s.packets, 3u);
  EXPECT_EQ(s.last_15s.bytes, 140u);
  EXPECT_EQ(s.last_60s.packets, 4u);
  EXPECT_EQ(s.last_60s.bytes, 150u);
}

TEST(RelayTraffic, KeepsEachChannelApart) {
  TrafficStats t;
  const int64_t now = 500'000;
  t.record("a", 10, now);
  t.record("a", 10, now);
  t.record("b", 7, now);
  EXPECT_EQ(t.channel("a", now).last_1s.packets, 2u);
  EXPECT_EQ(t.channel("a", now).last_1s.bytes, 20u);
  EXPECT_EQ(t.channel("b", now).last_60s.bytes, 7u);
  EXPECT_EQ(t.channel("c", now).last_60s.packets, 0u);
  EXPECT_EQ(t.overall(now).last_1s.packets, 3u);
  json j = t.to_json(now);
  EXPECT_EQ(j["overall"]["1s"]["bytes"], 27);
  EXPECT_EQ(j["channels"]["a"]["15s"]["packets"], 2);
  EXPECT_EQ(j["channels"]["b"]["60s"]["bytes"], 7);
}

TEST(RelayTraffic, ForgetsEverythingOlderThanSixtySeconds) {
  TrafficStats t;
  t.record("old", 100, 1'000'000);
  EXPECT_EQ(t.overall(1'059'999).last_60s.bytes, 100u);
  EXPECT_EQ(t.overall(1'060'000).last_60s.bytes, 0u);
  // A new record a minute later does not find the old second in its bucket.
  t.record("new", 1, 1'060'000);
  EXPECT_EQ(t.overall(1'060'000).last_60s.packets, 1u);
  EXPECT_EQ(t.overall(1'060'000).last_60s.bytes, 1u);
  // ... and the channel idle for a minute is dropped.
  EXPECT_EQ(t.channels_tracked(), 1u);
  EXPECT_EQ(t.channel("old", 1'060'000).last_60s.packets, 0u);
  EXPECT_FALSE(t.to_json(1'060'000)["channels"].contains("old"));
  // Records older than the window are not counted.
  t.record("new", 1, 1'000'000);
  EXPECT_EQ(t.overall(1'060'000).last_60s.packets, 1u);
}

TEST(RelayTraffic, WorksInTheFirstMinuteOfTheClock) {
  TrafficStats t;
  t.record("a", 5, 0);
  t.record("a", 6, 30'000);
  t.record("a", 7, 59'999);
  EXPECT_EQ(t.overall(59'999).last_60s.bytes, 18u);
  EXPECT_EQ(t.overall(59'999).last_15s.bytes, 7u);
  EXPECT_EQ(t.channel("a", 60'000).last_60s.bytes, 13u);
}

TEST(RelayTraffic, CoreCountsFramesDeliveredToClients) {
  Relay r;
  r.known("lobby");
  for (ClientId c : {1, 2, 3}) {
    r.open(c);
    r.subscribe(c, "lobby");
  }
  auto a = r.send(1, "lobby", "hi");
  size_t bytes = 0;
  for (const ToClient& t : only<ToClient>(a))
    if (t.client != 1) bytes += t.text.size();
  EXPECT_EQ(r.core.traffic().channel("lobby", r.now).last_1s.packets, 2u);
  EXPECT_EQ(r.core.traffic().channel("lobby", r.now).last_1s.bytes, bytes);
}

// ---------------------------------------------------------------------------
// Health

TEST(RelayHealth, EachRuleInItsOrder) {
  HealthInputs in;
  auto is = [&](const char* state, const char* why) {
    Health h = evaluate_health(in);
    EXPECT_EQ(h.state, state);
    EXPECT_EQ(h.reason, why);
  };
  is("good", "healthy");
  in.peers_configured = true;
  is("degraded", "no peers");
  in.peers = 2;
  is("good", "healthy");
  in.max_peer_rtt_us = kHighLatencyUs;
  is("good", "healthy");
  in.max_peer_rtt_us = kHighLatencyUs + 1;
  is("degraded", "high latency");
  in.clients = 4;
  is("degraded", "clients no channels");
  in.clients = 3;
  is("degraded", "high latency");  // three clients without a channel are fine
  in.clients = 4;
  in.local_channels = 1;
  is("degraded", "high latency");
  in.peers = 0;
  in.clients = 5;
  in.local_channels = 0;
  is("degraded", "no peers");  // before "clients no channels"
  in.owned_channels = 1;
  is("degraded", "no peers");  // it has clients
  in.clients = 0;
  is("bad", "channels no clients");  // first of all
}

// ---------------------------------------------------------------------------
// Host

TEST(RelayHost, KeepsTheLastFourNetworkBucketsOldestFirst) {
  HostStats h({"/"});
  EXPECT_TRUE(h.to_json()["network"].empty());
  h.sample(15'000);
  EXPECT_TRUE(h.to_json()["network"].empty()) << "one sample is no interval yet";
  for (int64_t i = 2; i <= 7; ++i) h.sample(i * HostStats::kBucketMs);
  json j = h.to_json();
  ASSERT_EQ(j["network"].size(), HostStats::kBuckets);
  for (size_t i = 0; i < HostStats::kBuckets; ++i)
    EXPECT_EQ(j["network"][i]["end_ms"], static_cast<int64_t>(4 + i) * HostStats::kBucketMs);
  ASSERT_EQ(j["disks"].size(), 1u);
  EXPECT_EQ(j["disks"][0]["path"], "/");
  EXPECT_GT(j["disks"][0]["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["memory"]["total_bytes"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["load"].contains("1m"));
}

}  // namespace
}  // namespace chorus::relay
