// Report plots: structure of the SVG (points, bars, labelled axes) and of
// the HTML page (self-contained: no scripts, nothing fetched).
#include "chorus/swarm/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace chorus::swarm::report {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

// The points="..." of the first polyline, counted.
size_t polyline_points(const std::string& svg) {
  auto at = svg.find("<polyline");
  if (at == std::string::npos) return 0;
  at = svg.find("points=\"", at) + 8;
  auto end = svg.find('"', at);
  std::string pts = svg.substr(at, end - at);
  return pts.empty() ? 0 : count(pts, " ") + 1;
}

const PlotOptions kOpts{"Title <x>", "latency (ms)", "fraction", 560, 300};

TEST(ReportPlot, LinePlotHasOnePointPerSampleAndLabelledAxes) {
  std::string svg = line_plot(kOpts, {{"links", {{0, 1}, {1, 3}, {2, 2}, {3, 5}}}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 1u);
  EXPECT_EQ(polyline_points(svg), 4u);
  EXPECT_NE(svg.find("class=\"x-label\""), std::string::npos);
  EXPECT_NE(svg.find(">latency (ms)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">fraction</text>"), std::string::npos);
  EXPECT_NE(svg.find("Title &lt;x&gt;"), std::string::npos);  // escaped
  EXPECT_GE(count(svg, "class=\"tick\""), 4u);
}

TEST(ReportPlot, WholeNumberTicksAreWrittenInFull) {
  std::string svg = line_plot(kOpts, {{"links", {{0, 0}, {10, 60000}}}});
  EXPECT_NE(svg.find(">60000</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("e+04"), std::string::npos);
}

TEST(ReportPlot, SeveralSeriesGetALegend) {
  std::string svg = line_plot(kOpts, {{"a", {{0, 1}, {1, 2}}}, {"b", {{0, 2}, {1, 1}}}});
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 2u);
  EXPECT_EQ(count(svg, "class=\"legend\""), 2u);
}

TEST(ReportPlot, CdfRisesFromZeroToOne) {
  auto pts = cdf_points({5, 1, 3, 2, 4});
  ASSERT_EQ(pts.size(), 6u);
  EXPECT_EQ(pts.front(), std::make_pair(1.0, 0.0));
  EXPECT_EQ(pts.back(), std::make_pair(5.0, 1.0));
  for (size_t i = 1; i < pts.size(); ++i) {
    EXPECT_LE(pts[i - 1].first, pts[i].first);
    EXPECT_LE(pts[i - 1].second, pts[i].second);
  }
  EXPECT_EQ(polyline_points(cdf_plot(kOpts, {5, 1, 3, 2, 4})), 6u);
}

TEST(ReportPlot, CdfOfManySamplesIsCapped) {
  std::vector<double> v(100'000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 997);
  auto pts = cdf_points(v, 400);
  EXPECT_EQ(pts.size(), 400u);
  EXPECT_EQ(pts.back().second, 1.0);
  EXPECT_EQ(pts.back().first, 996.0);
}

TEST(ReportPlot, HistogramOfIntegersHasUnitBins) {
  auto bins = histogram({1, 2, 2, 3, 3, 3, 5}, 20, true);
  ASSERT_EQ(bins.size(), 5u);  // centred on 1, 2, 3, 4, 5
  EXPECT_EQ(bins[0].count, 1u);
  EXPECT_EQ(bins[2].count, 3u);
  EXPECT_EQ(bins[3].count, 0u);
  EXPECT_EQ(bins[4].lo, 4.5);
  EXPECT_EQ(bins[4].hi, 5.5);
  uint64_t total = 0;
  for (auto& b : bins) total += b.count;
  EXPECT_EQ(total, 7u);
  PlotOptions o = kOpts;
  o.integer_x = true;
  std::string svg = bar_plot(o, bins);
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 5u);
  EXPECT_EQ(svg.find(">1.5<"), std::string::npos);  // whole-number ticks only
  EXPECT_NE(svg.find(">3<"), std::string::npos);
  EXPECT_NE(svg.find("class=\"y-label\""), std::string::npos);
}

TEST(ReportPlot, HistogramRespectsMaxBins) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(i * 0.37);
  auto bins = histogram(v, 12, false);
  EXPECT_EQ(bins.size(), 12u);
  uint64_t total = 0;
  for (auto& b : bins) total += b.count;
  EXPECT_EQ(total, 1000u);
  EXPECT_LE(histogram(v, 12, true).size(), 12u);
  EXPECT_EQ(histogram({7, 7, 7}, 10, false).size(), 10u);  // one value: still drawable
}

TEST(ReportPlot, EmptyDataSaysSo) {
  EXPECT_NE(line_plot(kOpts, {}).find("no data"), std::string::npos);
  EXPECT_NE(cdf_plot(kOpts, {}).find("no data"), std::string::npos);
  EXPECT_NE(bar_plot(kOpts, histogram({}, 10, true)).find("no data"), std::string::npos);
  EXPECT_NE(line_plot(kOpts, {{"x", {{0, NAN}}}}).find("no data"), std::string::npos);
}

TEST(ReportPage, IsSelfContained) {
  std::string page = html_page("swarm <report>",
                               {{"delivery ratio", "1"},
                                {"assert", "x", Verdict::kFail},
                                {"note", "FAIL: words are not a verdict"}},
                               {{"A", "note", line_plot(kOpts, {{"a", {{0, 1}, {1, 2}}}})},
                                {"B", "", bar_plot(kOpts, histogram({1, 2}, 4, true))}});
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(page, "<svg"), 2u);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("http://") == std::string::npos ||
                page.find("http://") == page.find("http://www.w3.org/2000/svg"),
            true);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_NE(page.find("swarm &lt;report&gt;"), std::string::npos);
  EXPECT_EQ(count(page, "class=\"fail\""), 1u);  // the verdict row only, not the note
  EXPECT_EQ(page.find("class=\"pass\""), std::string::npos);
}

}  // namespace
}  // namespace chorus::swarm::report
