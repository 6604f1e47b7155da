// Simulated scenario runs: replayable from the seed, and the figures the
// assertions read are the ones the run made.
#include <gtest/gtest.h>

#include "chorus/swarm/scenario.h"
#include "chorus/swarm/scenario_run.h"

namespace chorus::swarm {
namespace {

constexpr const char* kMixed = R"(
[scenario]
name = "replay"
duration_s = 8
[nodes]
count = 40
start = 36
apps = ["test", "dht"]
[link]
latency_ms = 5
jitter_ms = 10
loss = 0.01
[[timeline]]
at_s = 1
action = "shout"
rate = 5
duration_s = 4
[[timeline]]
at_s = 1
action = "whisper"
rate = 10
duration_s = 4
[[timeline]]
at_s = 2
action = "join"
count = 4
[[timeline]]
at_s = 3
action = "crash"
count = 3
[[timeline]]
at_s = 1
action = "dht_put"
rate = 10
duration_s = 1
[[timeline]]
at_s = 3
action = "dht_get"
rate = 10
duration_s = 2
[[timeline]]
at_s = 2
action = "dht_cas"
rate = 2
duration_s = 3
[[timeline]]
at_s = 2
action = "dht_lock"
rate = 2
duration_s = 4
lease_ms = 1000
[assert]
delivery_ratio_min = 0.95
lookup_success_min = 0.9
lock_violations_max = 0
cas_one_winner = true
)";

nlohmann::json run(const Scenario& s, uint64_t seed) {
  SimRunOptions o;
  o.seed = seed;
  auto f = run_scenario_sim(s, o);
  EXPECT_TRUE(f) << f.error().message();
  if (!f) return {};
  auto j = report_json(s, *f, check_assertions(s, *f));
  j.erase("host");
  return j;
}

TEST(ScenarioRun, SameSeedSameReport) {
  auto s = parse_scenario(kMixed);
  ASSERT_TRUE(s) << s.error().message();
  auto a = run(*s, 11);
  auto b = run(*s, 11);
  EXPECT_EQ(a.dump(), b.dump());
  auto c = run(*s, 12);
  EXPECT_NE(a.dump(), c.dump());
}

TEST(ScenarioRun, FiguresAddUpAndAssertionsPass) {
  auto s = parse_scenario(kMixed);
  ASSERT_TRUE(s);
  SimRunOptions o;
  o.seed = 5;
  size_t progress_calls = 0;
  o.progress = [&](const SimProgress& p) {
    ++progress_calls;
    EXPECT_LE(p.now_us, p.end_us);
  };
  auto f = run_scenario_sim(*s, o);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->shout.sent, 20u);
  EXPECT_EQ(f->whisper.sent, 40u);
  EXPECT_EQ(f->joins, 4u);
  EXPECT_EQ(f->crashes, 3u);
  EXPECT_EQ(f->puts, 10u);
  EXPECT_EQ(f->gets, 20u);
  EXPECT_GT(f->shout.expected, 0u);
  EXPECT_LE(f->shout.delivered, f->shout.expected);
  EXPECT_EQ(f->frames_per_node.size(), 40u);
  EXPECT_FALSE(f->links_over_time.empty());
  EXPECT_GE(progress_calls, 8u);
  for (const auto& a : check_assertions(*s, *f))
    EXPECT_TRUE(a.pass) << a.name << " " << a.want << " got " << a.value;
  const std::string html = report_html(*s, *f, check_assertions(*s, *f));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_GE(std::count(html.begin(), html.end(), '<') > 0, true);
}

}  // namespace
}  // namespace chorus::swarm
