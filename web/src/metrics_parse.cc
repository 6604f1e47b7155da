#include "chorus/web/metrics_parse.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace chorus::web {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}

// One line, consumed left to right; each step says what it wanted.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : s_(line) {}

  bool name(std::string& out) {
    if (at_end() || !name_start(s_[i_])) return false;
    const size_t start = i_;
    while (!at_end() && name_char(s_[i_])) ++i_;
    out.assign(s_.substr(start, i_ - start));
    return true;
  }
  bool eat(char c) {
    if (at_end() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  void spaces() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  // A quoted label value with \\, \" and \n escapes.
  bool quoted(std::string& out) {
    if (!eat('"')) return false;
    out.clear();
    while (!at_end()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return false;
      const char e = s_[i_++];
      if (e == 'n') {
        out += '\n';
      } else if (e == '\\' || e == '"') {
        out += e;
      } else {
        return false;
      }
    }
    return false;  // no closing quote
  }
  // A value: a float, +Inf, -Inf or NaN.
  bool number(double& out) {
    const size_t start = i_;
    while (!at_end() && s_[i_] != ' ' && s_[i_] != '\t') ++i_;
    std::string_view word = s_.substr(start, i_ - start);
    if (word == "+Inf" || word == "Inf") {
      out = std::numeric_limits<double>::infinity();
      return true;
    }
    if (word == "-Inf") {
      out = -std::numeric_limits<double>::infinity();
      return true;
    }
    if (word == "NaN") {
      out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    if (!word.empty() && word[0] == '+') word.remove_prefix(1);
    if (word.empty()) return false;
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), out);
    return ec == std::errc() && end == word.data() + word.size();
  }
  // An optional timestamp (integer milliseconds), then nothing.
  bool rest_is_timestamp() {
    spaces();
    if (at_end()) return true;
    const size_t start = i_;
    if (s_[i_] == '-') ++i_;
    while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    const bool digits = i_ > start + (s_[start] == '-' ? 1 : 0);
    spaces();
    return digits && at_end();
  }
  bool at_end() const { return i_ >= s_.size(); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string_view MetricSample::label(std::string_view label_name) const {
  for (const auto& [k, v] : labels)
    if (k == label_name) return v;
  return {};
}

Result<std::vector<MetricSample>> parse_metrics_text(std::string_view text,
                                                     const MetricsParseLimits& limits) {
  if (text.size() > limits.max_bytes)
    return limit_exceeded("metrics: over " + std::to_string(limits.max_bytes) + " bytes");
  std::vector<MetricSample> out;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    LineReader r(line);
    r.spaces();
    if (r.at_end() || r.eat('#')) continue;  // blank, HELP, TYPE or a comment
    auto bad = [&](const char* why) {
      return malformed("metrics: line " + std::to_string(line_no) + ": " + why);
    };
    if (out.size() >= limits.max_samples)
      return limit_exceeded("metrics: over " + std::to_string(limits.max_samples) + " samples");
    MetricSample s;
    if (!r.name(s.name)) return bad("want a metric name");
    r.spaces();
    if (r.eat('{')) {
      r.spaces();
      while (!r.eat('}')) {
        if (s.labels.size() >= limits.max_labels) return bad("too many labels");
        std::string key, value;
        if (!r.name(key)) return bad("want a label name");
        r.spaces();
        if (!r.eat('=')) return bad("want '=' after a label name");
        r.spaces();
        if (!r.quoted(value)) return bad("want a quoted label value");
        s.labels.emplace_back(std::move(key), std::move(value));
        r.spaces();
        if (r.eat(',')) {
          r.spaces();
          continue;
        }
        if (!r.eat('}')) return bad("want ',' or '}' after a label");
        break;
      }
      r.spaces();
    }
    if (!r.number(s.value)) return bad("want a value");
    if (!r.rest_is_timestamp()) return bad("want nothing or a timestamp after the value");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace chorus::web
