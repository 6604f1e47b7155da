#include "chorus/web/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace chorus::web {
namespace {

TEST(MetricsText, WritesHelpAndTypeOncePerFamilyThenItsSamples) {
  MetricsText m;
  m.counter("x_total", "Things.", 3, {{"dir", "in"}});
  m.counter("x_total", "", 4, {{"dir", "out"}});
  m.gauge("y", "A level.", 0.5);
  EXPECT_EQ(m.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{dir=\"in\"} 3\nx_total{dir=\"out\"} 4\n"
            "# HELP y A level.\n# TYPE y gauge\ny 0.5\n");
}

TEST(MetricsText, EscapesLabelValuesAndHelp) {
  MetricsText m;
  m.gauge("g", "line one\nback\\slash", 1, {{"reason", "a \"quoted\"\\ \nvalue"}});
  EXPECT_EQ(m.text(),
            "# HELP g line one\\nback\\\\slash\n# TYPE g gauge\n"
            "g{reason=\"a \\\"quoted\\\"\\\\ \\nvalue\"} 1\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsText m;
  m.histogram("rpc_seconds", "Latency.", {0.01, 0.1}, {2, 3, 1}, 0.42, {{"action", "a"}});
  EXPECT_EQ(m.text(),
            "# HELP rpc_seconds Latency.\n# TYPE rpc_seconds histogram\n"
            "rpc_seconds_bucket{action=\"a\",le=\"0.01\"} 2\n"
            "rpc_seconds_bucket{action=\"a\",le=\"0.10000000000000001\"} 5\n"
            "rpc_seconds_bucket{action=\"a\",le=\"+Inf\"} 6\n"
            "rpc_seconds_sum{action=\"a\"} 0.41999999999999998\n"
            "rpc_seconds_count{action=\"a\"} 6\n");
}

TEST(MetricsText, LargeCountersStayExactAndSpecialValuesAreSpelledOut) {
  MetricsText m;
  m.counter("big_total", "", 4294967296.0 * 1000);
  m.gauge("inf", "", 1.0 / 0.0);
  EXPECT_NE(m.text().find("big_total 4294967296000\n"), std::string::npos);
  EXPECT_NE(m.text().find("inf +Inf\n"), std::string::npos);
}

TEST(MetricsTextDeathTest, AFamilySplitByAnotherOrABadNameIsAProgrammingError) {
  EXPECT_DEATH(
      {
        MetricsText m;
        m.counter("a_total", "", 1);
        m.gauge("b", "", 1);
        m.counter("a_total", "", 2);
      },
      "");
  EXPECT_DEATH(
      {
        MetricsText m;
        m.gauge("9starts_with_digit", "", 1);
      },
      "");
}

TEST(MetricsText, ProcessFiguresArePresentAndPlausible) {
  MetricsText m;
  append_process_metrics(m);
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_open_fds ", "process_start_time_seconds "}) {
    EXPECT_NE(m.text().find(std::string("\n") + name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace chorus::web
