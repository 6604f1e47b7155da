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

TEST(MetricsText, HelpGivenWithEverySampleIsWrittenOnce) {
  MetricsText m;
  for (const char* dir : {"in", "out"}) m.counter("x_total", "Things.", 1, {{"dir", dir}});
  EXPECT_EQ(m.text(),
            "# HELP x_total Things.\n# TYPE x_total counter\n"
            "x_total{dir=\"in\"} 1\nx_total{dir=\"out\"} 1\n");
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
            "rpc_seconds_bucket{action=\"a\",le=\"0.1\"} 5\n"
            "rpc_seconds_bucket{action=\"a\",le=\"+Inf\"} 6\n"
            "rpc_seconds_sum{action=\"a\"} 0.42\n"
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

TEST(MetricsText, AppendMergesWhatAnotherCollected) {
  MetricsText mine;
  mine.gauge("a", "A.", 1);
  MetricsText theirs;
  theirs.counter("b_total", "B.", 2, {{"k", "v"}});
  mine.append(theirs);
  mine.gauge("c", "C.", 3);
  EXPECT_EQ(mine.text(),
            "# HELP a A.\n# TYPE a gauge\na 1\n"
            "# HELP b_total B.\n# TYPE b_total counter\nb_total{k=\"v\"} 2\n"
            "# HELP c C.\n# TYPE c gauge\nc 3\n");
}

TEST(MetricsTextDeathTest, AppendingAFamilyBothWroteIsAProgrammingError) {
  EXPECT_DEATH(
      {
        MetricsText mine;
        mine.gauge("a", "", 1);
        MetricsText theirs;
        theirs.gauge("a", "", 2);
        mine.append(theirs);
      },
      "");
}

TEST(MetricsText, HttpServersShareEachFamilyUnderTheirOwnLabel) {
  HttpServerStats rpc;
  rpc.requests = 7;
  rpc.refused_busy = 1;
  HttpServerStats ws;
  ws.ws_open = 3;
  ws.ws_closed_slow = 2;
  MetricsText m;
  append_http_metrics(m, {{"rpc", rpc}, {"ws", ws}});
  const std::string& t = m.text();
  EXPECT_NE(t.find("chorus_http_requests_total{server=\"rpc\"} 7\n"
                   "chorus_http_requests_total{server=\"ws\"} 0\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("chorus_http_refused_total{server=\"rpc\",reason=\"busy\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("chorus_websocket_open{server=\"ws\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("chorus_websocket_closed_total{server=\"ws\",reason=\"slow\"} 2\n"),
            std::string::npos);
  // Each family's HELP once: both servers' samples sit together.
  size_t helps = 0;
  for (size_t at = 0; (at = t.find("# HELP chorus_http_requests_total", at)) != std::string::npos;
       ++at)
    ++helps;
  EXPECT_EQ(helps, 1u);
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
