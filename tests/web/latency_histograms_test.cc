#include "chorus/web/latency_histograms.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace chorus::web {
namespace {

TEST(LatencyHistograms, CountsEachKeyInItsBucketAndUnlistedKeysAsOther) {
  LatencyHistograms h({"b", "a", "a"}, "other", {0.001, 0.01});
  h.record("a", 0.0005);
  h.record("a", 0.001);  // on the bound: in that bucket (le is "at or below")
  h.record("a", 0.5);
  h.record("surprise", 0.002);
  h.record("", -1);  // negative counts as 0
  EXPECT_EQ(h.count("a"), 3u);
  EXPECT_EQ(h.count("b"), 0u);
  EXPECT_EQ(h.count("surprise"), 2u);  // both unlisted ones are "other"
  MetricsText m;
  h.append(m, "rpc_seconds", "Latency.", "action");
  EXPECT_EQ(m.text(),
            "# HELP rpc_seconds Latency.\n# TYPE rpc_seconds histogram\n"
            "rpc_seconds_bucket{action=\"a\",le=\"0.001\"} 2\n"
            "rpc_seconds_bucket{action=\"a\",le=\"0.01\"} 2\n"
            "rpc_seconds_bucket{action=\"a\",le=\"+Inf\"} 3\n"
            "rpc_seconds_sum{action=\"a\"} 0.5015\n"
            "rpc_seconds_count{action=\"a\"} 3\n"
            "rpc_seconds_bucket{action=\"other\",le=\"0.001\"} 1\n"
            "rpc_seconds_bucket{action=\"other\",le=\"0.01\"} 2\n"
            "rpc_seconds_bucket{action=\"other\",le=\"+Inf\"} 2\n"
            "rpc_seconds_sum{action=\"other\"} 0.002\n"
            "rpc_seconds_count{action=\"other\"} 2\n");
}

TEST(LatencyHistograms, NothingRecordedWritesNothing) {
  LatencyHistograms h({"a"});
  MetricsText m;
  h.append(m, "rpc_seconds", "Latency.", "action");
  EXPECT_EQ(m.text(), "");
}

TEST(LatencyHistograms, RecordsFromManyThreadsAreAllCounted) {
  LatencyHistograms h({"x", "y"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.record(t % 2 ? "x" : "y", 1e-4 * (i % 7));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.count("x"), 20000u);
  EXPECT_EQ(h.count("y"), 20000u);
  MetricsText m;
  h.append(m, "s", "", "k");
  EXPECT_NE(m.text().find("s_count{k=\"x\"} 20000\n"), std::string::npos) << m.text();
}

TEST(LatencyHistograms, ClientChosenKeysCannotGrowTheSeries) {
  LatencyHistograms h({"known"});
  for (int i = 0; i < 1000; ++i) h.record("made_up_" + std::to_string(i), 0.001);
  MetricsText m;
  h.append(m, "s", "", "k");
  // One series: the fold, with its 17 default bounds, +Inf, sum and count.
  size_t lines = 0;
  for (char c : m.text()) lines += c == '\n';
  EXPECT_EQ(lines, 2u + LatencyHistograms::default_bounds_s().size() + 3u);
  EXPECT_EQ(h.count("anything"), 1000u);
}

}  // namespace
}  // namespace chorus::web
