// Scenario files: parsing, validation with line numbers, bounds, and the
// timeline model.
#include "chorus/swarm/scenario.h"

#include <gtest/gtest.h>

#include <string>

namespace chorus::swarm {
namespace {

constexpr const char* kGood = R"(
[scenario]
name = "mixed"
duration_s = 30
seed = 7

[nodes]
count = 100
start = 90
initiate_only = 0.2
apps = ["test", "dht"]

[topology]
bootstrap = 4
degree = 3

[link]
latency_ms = 5
jitter_ms = 20
jitter = "exponential"
loss = 0.01
bandwidth_mbps = 80

[[timeline]]
at_s = 2
action = "shout"
rate = 10
duration_s = 5
payload = 300

[[timeline]]
at_s = 1
action = "join"
count = 10

[[timeline]]
at_s = 3
action = "dht_put"
rate = 4
duration_s = 2.5

[[timeline]]
at_s = 8
action = "dht_get"
rate = 2
duration_s = 2

[[timeline]]
at_s = 10
action = "partition"
groups = [0.5, 0.25]

[[timeline]]
at_s = 12
action = "heal"

[[timeline]]
at_s = 13
action = "crash"
fraction = 0.1

[[timeline]]
at_s = 14
action = "dht_lock"
rate = 1
duration_s = 3
keys = 2
lease_ms = 500

[assert]
delivery_ratio_min = 0.99
lookup_success_min = 0.9
lock_violations_max = 0
)";

std::string error_of(const std::string& text) {
  auto r = parse_scenario(text, "t.toml");
  if (r) return "";
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  return r.error().message();
}

// A minimal valid header to which a test appends one piece.
std::string with(const std::string& extra) {
  return "[scenario]\nduration_s = 10\n[nodes]\ncount = 10\napps = [\"test\", \"dht\"]\n" + extra;
}

TEST(Scenario, ParsesEverySection) {
  auto r = parse_scenario(kGood, "good.toml");
  ASSERT_TRUE(r) << r.error().message();
  const Scenario& s = *r;
  EXPECT_EQ(s.name, "mixed");
  EXPECT_EQ(s.duration_us, 30'000'000);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.node_count, 100u);
  EXPECT_EQ(s.start_nodes, 90u);
  EXPECT_DOUBLE_EQ(s.initiate_only, 0.2);
  EXPECT_TRUE(s.app_test);
  EXPECT_TRUE(s.app_dht);
  EXPECT_EQ(s.bootstrap_nodes, 4u);
  EXPECT_EQ(s.link.latency_base_us, 5'000);
  EXPECT_EQ(s.link.latency_jitter_us, 20'000);
  EXPECT_TRUE(s.link.exponential_jitter);
  EXPECT_DOUBLE_EQ(s.link.loss, 0.01);
  EXPECT_DOUBLE_EQ(s.link.bandwidth_bytes_per_s, 10e6);
  ASSERT_EQ(s.timeline.size(), 8u);
  // Sorted by time: the join (at 1 s, written second) comes first.
  EXPECT_EQ(s.timeline[0].kind, ActionKind::kJoin);
  EXPECT_EQ(s.timeline[0].count, 10u);
  EXPECT_EQ(s.timeline[1].kind, ActionKind::kShout);
  EXPECT_EQ(s.timeline[1].payload_bytes, 300u);
  EXPECT_EQ(s.timeline[1].steps(), 50u);
  EXPECT_EQ(s.timeline[2].steps(), 10u);  // 4/s for 2.5 s
  EXPECT_EQ(s.timeline[2].keys, 10u);     // a put per key by default
  EXPECT_EQ(s.timeline[4].groups.size(), 2u);
  EXPECT_EQ(s.timeline[6].kind, ActionKind::kCrash);
  EXPECT_EQ(s.timeline[6].count, 10u);  // 0.1 of 100
  EXPECT_EQ(s.timeline[7].keys, 2u);
  EXPECT_EQ(s.timeline[7].lease_ms, 500);
  EXPECT_EQ(*s.asserts.delivery_ratio_min, 0.99);
  EXPECT_EQ(*s.asserts.lock_violations_max, 0u);
  EXPECT_FALSE(s.asserts.cas_one_winner.has_value());
}

TEST(Scenario, DefaultsAreSane) {
  auto r = parse_scenario("[scenario]\nduration_s = 5\n[nodes]\ncount = 4\n");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->start_nodes, 4u);
  EXPECT_TRUE(r->app_test);
  EXPECT_FALSE(r->app_dht);
  EXPECT_EQ(r->seed, 1u);
  EXPECT_TRUE(r->timeline.empty());
  EXPECT_TRUE(r->asserts.empty());
}

TEST(Scenario, TimelineExpandsRatesEvenlyInTimeOrder) {
  auto r = parse_scenario(kGood, "good.toml");
  ASSERT_TRUE(r);
  auto steps = expand_timeline(*r);
  size_t total = 0;
  for (const auto& a : r->timeline) total += a.steps();
  ASSERT_EQ(steps.size(), total);
  for (size_t i = 1; i < steps.size(); ++i) EXPECT_LE(steps[i - 1].at_us, steps[i].at_us);
  // The SHOUTs: 10 per second from 2 s on.
  std::vector<int64_t> shouts;
  for (const auto& st : steps)
    if (r->timeline[st.action].kind == ActionKind::kShout) shouts.push_back(st.at_us);
  ASSERT_EQ(shouts.size(), 50u);
  EXPECT_EQ(shouts.front(), 2'000'000);
  EXPECT_EQ(shouts[1], 2'100'000);
  EXPECT_EQ(shouts.back(), 6'900'000);
  // Same scenario, same timeline.
  auto again = expand_timeline(*r);
  ASSERT_EQ(again.size(), steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(again[i].at_us, steps[i].at_us);
    EXPECT_EQ(again[i].action, steps[i].action);
  }
}

TEST(Scenario, SyntaxErrorNamesTheLine) {
  auto e = error_of("[scenario]\nduration_s = 10\n[nodes\ncount = 3\n");
  EXPECT_EQ(e.rfind("t.toml:3:", 0), 0u) << e;
}

TEST(Scenario, UnknownKeyIsAnErrorWithItsLine) {
  auto e = error_of(with("[link]\nlatency_ms = 5\nlatncy_ms = 6\n"));
  EXPECT_EQ(e.rfind("t.toml:8:", 0), 0u) << e;
  EXPECT_NE(e.find("unknown key 'latncy_ms' in [link]"), std::string::npos) << e;
}

TEST(Scenario, UnknownTopLevelTableIsAnError) {
  EXPECT_NE(error_of(with("[asserts]\ncas_one_winner = true\n")).find("unknown key 'asserts'"),
            std::string::npos);
}

TEST(Scenario, UnknownActionIsAnError) {
  auto e = error_of(with("[[timeline]]\nat_s = 1\naction = \"shoot\"\n"));
  EXPECT_NE(e.find("unknown action 'shoot'"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("t.toml:8:", 0), 0u) << e;
}

TEST(Scenario, KeyOfAnotherActionIsAnError) {
  auto e = error_of(with("[[timeline]]\nat_s = 1\naction = \"crash\"\ncount = 1\nrate = 3\n"));
  EXPECT_NE(e.find("unknown key 'rate'"), std::string::npos) << e;
}

TEST(Scenario, WrongTypesAreErrors) {
  EXPECT_NE(
      error_of("[scenario]\nduration_s = \"ten\"\n[nodes]\ncount = 3\n").find("must be a number"),
      std::string::npos);
  EXPECT_NE(
      error_of("[scenario]\nduration_s = 10\n[nodes]\ncount = 3.5\n").find("must be an integer"),
      std::string::npos);
  EXPECT_NE(error_of("scenario = 3\n").find("must be a table"), std::string::npos);
  EXPECT_NE(error_of(with("[assert]\ncas_one_winner = 1\n")).find("true or false"),
            std::string::npos);
}

TEST(Scenario, MissingRequiredPiecesAreErrors) {
  EXPECT_NE(error_of("").find("missing [scenario]"), std::string::npos);
  EXPECT_NE(error_of("[scenario]\nduration_s = 1\n").find("missing [nodes]"), std::string::npos);
  EXPECT_NE(error_of("[scenario]\n[nodes]\ncount = 3\n").find("missing 'duration_s'"),
            std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\naction = \"heal\"\n")).find("missing 'at_s'"),
            std::string::npos);
  EXPECT_NE(
      error_of(with("[[timeline]]\nat_s = 1\naction = \"crash\"\n")).find("'count' or 'fraction'"),
      std::string::npos);
}

TEST(Scenario, EveryCountHasABound) {
  EXPECT_NE(error_of("[scenario]\nduration_s = 10\n[nodes]\ncount = 100001\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of("[scenario]\nduration_s = 100000\n[nodes]\ncount = 3\n").find("out of range"),
            std::string::npos);
  EXPECT_NE(
      error_of(with("[[timeline]]\nat_s = 1\naction = \"shout\"\nrate = 1e9\nduration_s = 1\n"))
          .find("out of range"),
      std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 1\naction = \"shout\"\nrate = 5\nduration_s = 1\n"
                          "payload = 1000000\n"))
                .find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 1\naction = \"crash\"\ncount = 11\n"))
                .find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of(with("[link]\nloss = 0.9\n")).find("out of range"), std::string::npos);
  EXPECT_NE(error_of("[scenario]\nduration_s = nan\n[nodes]\ncount = 3\n").find("out of range"),
            std::string::npos);
}

TEST(Scenario, TimelineStepsAreBounded) {
  std::string t = "[scenario]\nduration_s = 3600\n[nodes]\ncount = 10\n";
  for (int i = 0; i < 4; ++i)
    t += "[[timeline]]\nat_s = 0\naction = \"shout\"\nrate = 100000\nduration_s = 3\n";
  EXPECT_NE(error_of(t).find("more than 1000000 steps"), std::string::npos) << error_of(t);
}

TEST(Scenario, TimesMustFitTheDuration) {
  EXPECT_NE(
      error_of(with("[[timeline]]\nat_s = 10\naction = \"heal\"\n")).find("before duration_s"),
      std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 8\naction = \"shout\"\nrate = 5\nduration_s = 3\n"))
                .find("goes past"),
            std::string::npos);
}

TEST(Scenario, JoinNeedsNodesNotYetStarted) {
  auto e = error_of(
      "[scenario]\nduration_s = 10\n[nodes]\ncount = 10\nstart = 8\n"
      "[[timeline]]\nat_s = 1\naction = \"join\"\ncount = 3\n");
  EXPECT_NE(e.find("only 2 nodes"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("t.toml:6:", 0), 0u) << e;
}

TEST(Scenario, ActionsNeedTheirApps) {
  auto e = error_of(
      "[scenario]\nduration_s = 10\n[nodes]\ncount = 10\napps = [\"test\"]\n"
      "[[timeline]]\nat_s = 1\naction = \"dht_put\"\nrate = 1\nduration_s = 1\n");
  EXPECT_NE(e.find("needs the \"dht\" app"), std::string::npos) << e;
  EXPECT_NE(error_of("[scenario]\nduration_s = 1\n[nodes]\ncount = 3\napps = [\"nano\"]\n")
                .find("unknown app 'nano'"),
            std::string::npos);
}

TEST(Scenario, GetNeedsAPutBefore) {
  EXPECT_NE(
      error_of(with("[[timeline]]\nat_s = 1\naction = \"dht_get\"\nrate = 1\nduration_s = 1\n"))
          .find("put some values"),
      std::string::npos);
}

TEST(Scenario, PartitionGroupsAreFractions) {
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 1\naction = \"partition\"\ngroups = [0.7, 0.6]\n"))
                .find("more than 1"),
            std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 1\naction = \"partition\"\ngroups = [1.5]\n"))
                .find("fraction in (0, 1)"),
            std::string::npos);
  EXPECT_NE(error_of(with("[[timeline]]\nat_s = 1\naction = \"partition\"\ngroups = []\n"))
                .find("list of 1..16"),
            std::string::npos);
}

TEST(Scenario, AssertionThatChecksNothingIsAnError) {
  EXPECT_NE(error_of(with("[assert]\ncas_one_winner = true\n")).find("checks nothing"),
            std::string::npos);
}

TEST(Scenario, TimelineMustBeTables) {
  EXPECT_NE(error_of("timeline = 3\n" + with("")).find("[[timeline]]"), std::string::npos);
  EXPECT_NE(error_of("timeline = [1, 2]\n" + with("")).find("must be a table"), std::string::npos);
}

TEST(Scenario, GarbageNeverCrashes) {
  const std::string inputs[] = {
      "\x01\x02\xff",       "[[[", "a = ", "= 3", "[scenario]\n[scenario]\n", "\"\\u0000\"",
      std::string(100, '[')};
  for (const std::string& in : inputs) EXPECT_FALSE(parse_scenario(in)) << in;
  EXPECT_FALSE(parse_scenario(std::string((1 << 20) + 1, '#')));
}

// toml++ 3.3.0 reaches __builtin_unreachable on some non-ASCII code points
// (found by scenario_fuzz); they are refused before it sees them.
TEST(Scenario, CodePointsTomlppMishandlesAreRefused) {
  auto e = error_of("[scenario]\nname \xc4\x8f= 1\n");  // U+010F after a key
  EXPECT_EQ(e.rfind("t.toml:2:6: character U+010F", 0), 0u) << e;
  EXPECT_NE(error_of("s = \"\"\"\\\n\xc2\xa7\"\"\"\n").find("U+00A7"), std::string::npos);
  EXPECT_NE(error_of("x = \"\xef\xac\xb0\"").find("U+FB30"), std::string::npos);  // range 63
  EXPECT_NE(error_of("a = 1\n\xff").find("t.toml:2:1: the text is not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(error_of("a = \"\xc0\x80\"").find("not valid UTF-8"), std::string::npos);  // overlong
  // Other non-ASCII text is fine, and escapes always are.
  auto ok = parse_scenario(
      "[scenario]\nduration_s = 1\ndescription = \"ok \xe2\x9c\x93 caf\\u00e9\"\n"
      "[nodes]\ncount = 2\n");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->description, "ok \xe2\x9c\x93 caf\xc3\xa9");
}

TEST(Scenario, LoadReportsAMissingFile) {
  auto r = load_scenario("/nonexistent/x.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace chorus::swarm
