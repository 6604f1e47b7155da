#include "chorus/web/metrics_parse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "chorus/web/metrics.h"

namespace chorus::web {
namespace {

TEST(ParseMetricsText, ReadsBackWhatMetricsTextWrites) {
  MetricsText m;
  m.counter("x_total", "Things.", 3, {{"dir", "in"}});
  m.counter("x_total", "", 4e15, {{"dir", "out"}});
  m.gauge("g", "help", 0.1, {{"why", "a \"quoted\"\\ \nvalue"}, {"b", ""}});
  m.gauge("inf", "", -1.0 / 0.0);
  m.histogram("h", "", {0.5}, {1, 2}, 0.75);
  auto r = parse_metrics_text(m.text());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 2u + 2u + 4u);  // the histogram: two buckets, sum, count
  EXPECT_EQ((*r)[0].name, "x_total");
  EXPECT_EQ((*r)[0].label("dir"), "in");
  EXPECT_EQ((*r)[0].value, 3);
  EXPECT_EQ((*r)[1].value, 4e15);
  EXPECT_EQ((*r)[2].label("why"), "a \"quoted\"\\ \nvalue");
  EXPECT_EQ((*r)[2].labels.size(), 2u);
  EXPECT_DOUBLE_EQ((*r)[2].value, 0.1);
  EXPECT_TRUE(std::isinf((*r)[3].value) && (*r)[3].value < 0);
  EXPECT_EQ((*r)[4].name, "h_bucket");
  EXPECT_EQ((*r)[4].label("le"), "0.5");
  EXPECT_EQ((*r)[5].label("le"), "+Inf");
  EXPECT_EQ((*r)[5].value, 3);
  EXPECT_EQ((*r)[7].name, "h_count");
  EXPECT_EQ((*r)[4].label("absent"), "");
}

TEST(ParseMetricsText, AcceptsWhatOtherExportersWrite) {
  auto r = parse_metrics_text(
      "# a comment\n\n  up 1 1700000000000\r\nb{} NaN\nc{x=\"1\",} +Inf\nd{ x = \"2\" }\t-3e-2\n");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].value, 1);
  EXPECT_TRUE(std::isnan((*r)[1].value));
  EXPECT_TRUE(std::isinf((*r)[2].value));
  EXPECT_EQ((*r)[2].label("x"), "1");
  EXPECT_DOUBLE_EQ((*r)[3].value, -0.03);
}

TEST(ParseMetricsText, ABadLineIsAnErrorThatNamesIt) {
  const char* bad[] = {
      "ok 1\n9starts 1\n",        // a name cannot start with a digit
      "ok 1\nx{a=\"1\" 2\n",      // no closing brace
      "ok 1\nx{a=1} 2\n",         // unquoted value
      "ok 1\nx{a=\"1\\q\"} 2\n",  // unknown escape
      "ok 1\nx{a=\"unterminated} 2\n",
      "ok 1\nx 1.2.3\n",      // not a number
      "ok 1\nx\n",            // no value
      "ok 1\nx 1 soon\n",     // a timestamp that is not one
      "ok 1\nx{=\"1\"} 2\n",  // no label name
  };
  for (const char* text : bad) {
    auto r = parse_metrics_text(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << text;
    EXPECT_NE(r.error().message().find("line 2"), std::string::npos) << r.error().message();
  }
}

TEST(ParseMetricsText, EveryBoundIsKept) {
  MetricsParseLimits limits;
  limits.max_bytes = 64;
  EXPECT_EQ(parse_metrics_text(std::string(65, '#'), limits).error().code(), ErrorCode::kLimit);
  limits = {};
  limits.max_samples = 2;
  EXPECT_TRUE(parse_metrics_text("a 1\nb 2\n", limits).ok());
  EXPECT_EQ(parse_metrics_text("a 1\nb 2\nc 3\n", limits).error().code(), ErrorCode::kLimit);
  limits = {};
  limits.max_labels = 2;
  EXPECT_TRUE(parse_metrics_text("a{x=\"1\",y=\"2\"} 1\n", limits).ok());
  EXPECT_EQ(parse_metrics_text("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", limits).error().code(),
            ErrorCode::kMalformed);
}

}  // namespace
}  // namespace chorus::web
