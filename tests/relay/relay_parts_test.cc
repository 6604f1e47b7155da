// The relay core's pieces: INMs, channel passwords, traffic statistics,
// health and host statistics.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chorus/relay/channel_password.h"
#include "chorus/relay/health.h"
#include "chorus/relay/host_stats.h"
#include "chorus/relay/inm.h"
#include "chorus/relay/traffic_stats.h"
#include "relay_core_fixture.h"

namespace chorus::relay {
namespace {

using namespace testing;  // NOLINT: the core's test fixture

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
  Relay r = listening(3);
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
