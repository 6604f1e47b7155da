// The client protocol of WS /connect in the relay core (relay_core.h):
// subscribing, sending, rate and strikes, every bad request, network
// commands. Every test drives the core directly with its own clock.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay_core_fixture.h"

namespace chorus::relay {
namespace {

using namespace testing;  // NOLINT: the core's test fixture

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
  Relay r = listening(2);
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
  Relay r = listening(2);
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

}  // namespace
}  // namespace chorus::relay
