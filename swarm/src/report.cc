#include "chorus/swarm/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace chorus::swarm::report {
namespace {

constexpr int kMarginLeft = 64, kMarginRight = 16, kMarginTop = 30, kMarginBottom = 46;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

std::string num(double v) {
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e12) {  // whole numbers in full: 60000, not 6e+04
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", v);
  }
  return buf;
}

// Coordinates with one decimal: small files, enough precision.
std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// About `count` round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi, int count, bool integers = false) {
  if (!(hi > lo)) return {lo};
  const double raw = integers ? std::max(1.0, (hi - lo) / count) : (hi - lo) / count;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9 && out.size() < 50; t += step)
    out.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return out;
}

struct Frame {
  const PlotOptions& o;
  double x0, x1, y0, y1;
  double left() const { return kMarginLeft; }
  double right() const { return o.width - kMarginRight; }
  double top() const { return kMarginTop; }
  double bottom() const { return o.height - kMarginBottom; }
  double px(double x) const { return left() + (x - x0) / (x1 - x0) * (right() - left()); }
  double py(double y) const { return bottom() - (y - y0) / (y1 - y0) * (bottom() - top()); }
};

// The <svg> opening, title, axes with ticks and their labels.
void open_frame(std::ostringstream& s, const Frame& f) {
  const PlotOptions& o = f.o;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
    << "\" viewBox=\"0 0 " << o.width << " " << o.height
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s << "<rect x=\"0\" y=\"0\" width=\"" << o.width << "\" height=\"" << o.height
    << "\" fill=\"#fff\"/>\n";
  s << "<text class=\"title\" x=\"" << o.width / 2 << "\" y=\"18\" text-anchor=\"middle\" "
    << "font-size=\"13\" font-weight=\"bold\">" << escape(o.title) << "</text>\n";
  for (double t : ticks(f.x0, f.x1, 6, o.integer_x)) {
    const std::string x = coord(f.px(t));
    s << "<line x1=\"" << x << "\" y1=\"" << coord(f.top()) << "\" x2=\"" << x << "\" y2=\""
      << coord(f.bottom()) << "\" stroke=\"#eee\"/>\n";
    s << "<text class=\"tick\" x=\"" << x << "\" y=\"" << coord(f.bottom() + 14)
      << "\" text-anchor=\"middle\">" << num(t) << "</text>\n";
  }
  for (double t : ticks(f.y0, f.y1, 5)) {
    const std::string y = coord(f.py(t));
    s << "<line x1=\"" << coord(f.left()) << "\" y1=\"" << y << "\" x2=\"" << coord(f.right())
      << "\" y2=\"" << y << "\" stroke=\"#eee\"/>\n";
    s << "<text class=\"tick\" x=\"" << coord(f.left() - 4) << "\" y=\"" << coord(f.py(t) + 4)
      << "\" text-anchor=\"end\">" << num(t) << "</text>\n";
  }
  s << "<line class=\"axis\" x1=\"" << coord(f.left()) << "\" y1=\"" << coord(f.bottom())
    << "\" x2=\"" << coord(f.right()) << "\" y2=\"" << coord(f.bottom())
    << "\" stroke=\"#333\"/>\n";
  s << "<line class=\"axis\" x1=\"" << coord(f.left()) << "\" y1=\"" << coord(f.top()) << "\" x2=\""
    << coord(f.left()) << "\" y2=\"" << coord(f.bottom()) << "\" stroke=\"#333\"/>\n";
  s << "<text class=\"x-label\" x=\"" << coord((f.left() + f.right()) / 2) << "\" y=\""
    << o.height - 10 << "\" text-anchor=\"middle\">" << escape(o.x_label) << "</text>\n";
  s << "<text class=\"y-label\" x=\"14\" y=\"" << coord((f.top() + f.bottom()) / 2)
    << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 " << coord((f.top() + f.bottom()) / 2)
    << ")\">" << escape(o.y_label) << "</text>\n";
}

std::string no_data(const PlotOptions& o) {
  Frame f{o, 0, 1, 0, 1};
  std::ostringstream s;
  open_frame(s, f);
  s << "<text class=\"no-data\" x=\"" << o.width / 2 << "\" y=\"" << o.height / 2
    << "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n</svg>\n";
  return s.str();
}

// Widens an empty or degenerate range so that it can be drawn.
void pad_range(double& lo, double& hi) {
  if (hi > lo) return;
  const double d = lo == 0 ? 1 : std::fabs(lo) * 0.1;
  lo -= d;
  hi += d;
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string line_plot(const PlotOptions& o, const std::vector<Series>& series) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = -INFINITY;
  size_t drawn = 0;
  for (const Series& se : series) {
    if (se.points.empty()) continue;
    ++drawn;
    for (auto [x, y] : se.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  if (drawn == 0 || !std::isfinite(x0) || !std::isfinite(y1)) return no_data(o);
  pad_range(x0, x1);
  pad_range(y0, y1);
  Frame f{o, x0, x1, y0, y1};
  std::ostringstream s;
  open_frame(s, f);
  size_t color = 0;
  for (const Series& se : series) {
    if (se.points.empty()) {  // keeps its colour, so a series looks the same in every report
      ++color;
      continue;
    }
    s << "<polyline class=\"series\" fill=\"none\" stroke-width=\"1.8\" stroke=\""
      << kColors[color % std::size(kColors)] << "\" points=\"";
    bool first = true;
    for (auto [x, y] : se.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      s << (first ? "" : " ") << coord(f.px(x)) << "," << coord(f.py(y));
      first = false;
    }
    s << "\"><title>" << escape(se.label) << "</title></polyline>\n";
    if (series.size() > 1) {  // a legend whenever there could be two lines
      const double ly = f.top() + 4 + 14.0 * static_cast<double>(color);
      s << "<rect class=\"legend\" x=\"" << coord(f.right() - 120) << "\" y=\"" << coord(ly)
        << "\" width=\"10\" height=\"10\" fill=\"" << kColors[color % std::size(kColors)]
        << "\"/><text x=\"" << coord(f.right() - 106) << "\" y=\"" << coord(ly + 9) << "\">"
        << escape(se.label) << "</text>\n";
    }
    ++color;
  }
  s << "</svg>\n";
  return s.str();
}

std::vector<std::pair<double, double>> cdf_points(std::vector<double> samples, size_t max_points) {
  samples.erase(
      std::remove_if(samples.begin(), samples.end(), [](double v) { return !std::isfinite(v); }),
      samples.end());
  std::vector<std::pair<double, double>> out;
  if (samples.empty() || max_points < 2) return out;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  out.emplace_back(samples.front(), 0.0);
  const size_t steps = std::min(n, max_points - 1);
  for (size_t k = 1; k <= steps; ++k) {
    // The k-th of `steps` evenly spaced ranks (all of them when n is small).
    const size_t rank = (k * n + steps - 1) / steps;  // 1..n
    out.emplace_back(samples[rank - 1], static_cast<double>(rank) / static_cast<double>(n));
  }
  return out;
}

std::string cdf_plot(const PlotOptions& o, std::vector<double> samples) {
  return line_plot(o, {Series{"CDF", cdf_points(std::move(samples))}});
}

std::vector<Bin> histogram(const std::vector<double>& samples, size_t max_bins, bool integers) {
  std::vector<Bin> bins;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : samples) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo) || max_bins == 0) return bins;
  double width = 0;
  size_t count = 0;
  if (integers) {
    lo = std::floor(lo) - 0.5;
    hi = std::floor(hi) + 0.5;
    width = std::max(1.0, std::ceil((hi - lo) / static_cast<double>(max_bins)));
    count = static_cast<size_t>(std::ceil((hi - lo) / width));
  } else {
    if (hi == lo) hi = lo + 1;
    count = max_bins;
    width = (hi - lo) / static_cast<double>(count);
  }
  count = std::clamp<size_t>(count, 1, max_bins);
  for (size_t i = 0; i < count; ++i)
    bins.push_back(
        Bin{lo + width * static_cast<double>(i), lo + width * static_cast<double>(i + 1), 0});
  for (double v : samples) {
    if (!std::isfinite(v)) continue;
    auto i = static_cast<size_t>(std::floor((v - lo) / width));
    bins[std::min(i, count - 1)].count++;
  }
  return bins;
}

std::string bar_plot(const PlotOptions& o, const std::vector<Bin>& bins) {
  if (bins.empty()) return no_data(o);
  uint64_t top = 0;
  for (const Bin& b : bins) top = std::max(top, b.count);
  double x0 = bins.front().lo, x1 = bins.back().hi, y1 = static_cast<double>(top);
  pad_range(x0, x1);
  if (y1 <= 0) y1 = 1;
  Frame f{o, x0, x1, 0, y1 * 1.05};
  std::ostringstream s;
  open_frame(s, f);
  for (const Bin& b : bins) {
    const double left = f.px(b.lo), right = f.px(b.hi), y = f.py(static_cast<double>(b.count));
    s << "<rect class=\"bar\" x=\"" << coord(left + 0.5) << "\" y=\"" << coord(y) << "\" width=\""
      << coord(std::max(0.5, right - left - 1)) << "\" height=\"" << coord(f.bottom() - y)
      << "\" fill=\"#4c78a8\"><title>[" << num(b.lo) << ", " << num(b.hi) << "): " << b.count
      << "</title></rect>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string html_page(const std::string& title, const std::vector<SummaryRow>& summary,
                      const std::vector<Section>& sections) {
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
    << escape(title) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}\n"
    << "table{border-collapse:collapse;margin-bottom:16px}\n"
    << "td{border:1px solid #ddd;padding:3px 10px;font-size:13px}\n"
    << "td:first-child{color:#555}\n"
    << ".plots{display:flex;flex-wrap:wrap;gap:16px}\n"
    << ".plot{border:1px solid #ddd;padding:8px}\n.plot h2{font-size:14px;margin:0 0 4px}\n"
    << ".plot p{font-size:12px;color:#555;margin:0 0 6px;max-width:560px}\n"
    << ".fail{color:#b00;font-weight:bold}.pass{color:#070;font-weight:bold}\n"
    << "</style>\n</head>\n<body>\n<h1>" << escape(title) << "</h1>\n<table>\n";
  for (const SummaryRow& row : summary) {
    const char* cls = row.verdict == Verdict::kFail   ? " class=\"fail\""
                      : row.verdict == Verdict::kPass ? " class=\"pass\""
                                                      : "";
    s << "<tr><td>" << escape(row.name) << "</td><td" << cls << ">" << escape(row.value)
      << "</td></tr>\n";
  }
  s << "</table>\n<div class=\"plots\">\n";
  for (const Section& sec : sections) {
    s << "<div class=\"plot\">\n<h2>" << escape(sec.heading) << "</h2>\n";
    if (!sec.note.empty()) s << "<p>" << escape(sec.note) << "</p>\n";
    s << sec.svg << "</div>\n";
  }
  s << "</div>\n</body>\n</html>\n";
  return s.str();
}

}  // namespace chorus::swarm::report
