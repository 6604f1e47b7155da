// The relay core (relay_core.h) between nodes: the order of INMs from each
// source, and reservations other nodes announce. Every test drives the core
// directly with its own clock.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay_core_fixture.h"

namespace chorus::relay {
namespace {

using namespace testing;  // NOLINT: the core's test fixture

// ---------------------------------------------------------------------------
// Order of INMs from one source

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

}  // namespace
}  // namespace chorus::relay
