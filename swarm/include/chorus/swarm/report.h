// Report plots: small, dependency-free SVG charts and a self-contained HTML
// page (inline SVG and CSS, no scripts, nothing fetched), for the reports of
// `chorus swarm --scenario`.
//
// Every function is pure: data in, text out. Plots have a title, labelled
// axes with ticks, and a "no data" note when there is nothing to draw.
// Element classes are stable so tests (and readers) can find things:
// `bar` (one `<rect>` per histogram bin), `series` (one `<polyline>` per line),
// `x-label` / `y-label` (axis titles), `tick` (tick labels).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::swarm::report {

struct PlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 560;
  int height = 300;
  bool integer_x = false;  // x ticks on whole numbers only (counts such as hops)
};

struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in order
};

struct Bin {
  double lo = 0, hi = 0;  // [lo, hi)
  uint64_t count = 0;
};

// Text for HTML/SVG: & < > " ' escaped.
std::string escape(std::string_view text);

// Lines through each series' points (a `<polyline class="series">` per
// non-empty series, with a legend when there are two or more).
std::string line_plot(const PlotOptions& options, const std::vector<Series>& series);

// The empirical CDF of `samples`: a step line from (min, 0) to (max, 1),
// at most `max_points` points (evenly spaced quantiles beyond that).
std::vector<std::pair<double, double>> cdf_points(std::vector<double> samples,
                                                  size_t max_points = 400);
std::string cdf_plot(const PlotOptions& options, std::vector<double> samples);

// Up to `max_bins` equal-width bins over [min, max]. With `integers`, bins
// are centred on whole numbers (edges at k ± 0.5) and
// have integer edges and width ≥ 1 (for counts like hops).
std::vector<Bin> histogram(const std::vector<double>& samples, size_t max_bins, bool integers);
// One `<rect class="bar">` per bin.
std::string bar_plot(const PlotOptions& options, const std::vector<Bin>& bins);

// A row of the page's summary table. A row that is a check's outcome says
// so in `verdict` (shown red or green), never through its text.
enum class Verdict : uint8_t { kNone, kPass, kFail };
struct SummaryRow {
  SummaryRow(std::string name_, std::string value_, Verdict verdict_ = Verdict::kNone)
      : name(std::move(name_)), value(std::move(value_)), verdict(verdict_) {}
  std::string name;
  std::string value;
  Verdict verdict;
};

// A whole page: title, the summary table, then each section's heading, note
// and SVG.
struct Section {
  std::string heading;
  std::string note;
  std::string svg;
};
std::string html_page(const std::string& title, const std::vector<SummaryRow>& summary,
                      const std::vector<Section>& sections);

}  // namespace chorus::swarm::report
