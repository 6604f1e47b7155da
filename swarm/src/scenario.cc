#include "chorus/swarm/scenario.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

namespace chorus::swarm {
namespace {

struct Kind {
  const char* name;
  ActionKind kind;
};
constexpr Kind kKinds[] = {
    {"join", ActionKind::kJoin},           {"leave", ActionKind::kLeave},
    {"crash", ActionKind::kCrash},         {"restart", ActionKind::kRestart},
    {"partition", ActionKind::kPartition}, {"heal", ActionKind::kHeal},
    {"shout", ActionKind::kShout},         {"speak", ActionKind::kSpeak},
    {"whisper", ActionKind::kWhisper},     {"dht_put", ActionKind::kDhtPut},
    {"dht_get", ActionKind::kDhtGet},      {"dht_lock", ActionKind::kDhtLock},
    {"dht_cas", ActionKind::kDhtCas},      {"dht_diff", ActionKind::kDhtDiff},
};

// Thrown inside this file only; parse_scenario turns it into an Error.
struct Failure {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const toml::source_region& at, const std::string& what) const {
    std::ostringstream s;
    s << source_ << ":" << at.begin.line << ":" << at.begin.column << ": " << what;
    throw Failure{s.str()};
  }

  // Every key of `t` must be in `known`.
  void check_keys(const toml::table& t, std::initializer_list<std::string_view> known,
                  const std::string& where) const {
    for (auto&& [key, value] : t) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      fail(key.source(),
           "unknown key '" + std::string(key.str()) + "' in " + where + " (known: " + list + ")");
    }
  }

  const toml::table* table(const toml::table& root, std::string_view key) const {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(n->source(), "'" + std::string(key) + "' must be a table");
    return n->as_table();
  }

  // A number (integer or float) in [lo, hi].
  std::optional<double> number(const toml::table& t, std::string_view key, double lo,
                               double hi) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    double v = 0;
    if (auto i = n->as_integer()) {
      v = static_cast<double>(i->get());
    } else if (auto f = n->as_floating_point()) {
      v = f->get();
    } else {
      fail(n->source(), "'" + std::string(key) + "' must be a number");
    }
    if (!std::isfinite(v) || v < lo || v > hi) {
      std::ostringstream s;
      s << "'" << key << "' = " << v << " is out of range [" << lo << ", " << hi << "]";
      fail(n->source(), s.str());
    }
    return v;
  }

  // An integer in [lo, hi].
  std::optional<int64_t> integer(const toml::table& t, std::string_view key, int64_t lo,
                                 int64_t hi) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto i = n->as_integer();
    if (!i) fail(n->source(), "'" + std::string(key) + "' must be an integer");
    int64_t v = i->get();
    if (v < lo || v > hi) {
      fail(n->source(), "'" + std::string(key) + "' = " + std::to_string(v) + " is out of range [" +
                            std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return v;
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key,
                                    size_t max_len = 4096) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto s = n->as_string();
    if (!s) fail(n->source(), "'" + std::string(key) + "' must be a string");
    if (s->get().size() > max_len) fail(n->source(), "'" + std::string(key) + "' is too long");
    return s->get();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto b = n->as_boolean();
    if (!b) fail(n->source(), "'" + std::string(key) + "' must be true or false");
    return b->get();
  }

  const toml::node& required(const toml::table& t, std::string_view key,
                             const std::string& where) const {
    const toml::node* n = t.get(key);
    if (!n) fail(t.source(), "missing '" + std::string(key) + "' in " + where);
    return *n;
  }

  Scenario parse(const toml::table& root) const;

 private:
  void parse_action(const toml::table& t, Scenario& s, size_t index) const;
  std::string source_;
};

int64_t to_us(double seconds) {
  return std::llround(seconds * 1e6);
}

void Parser::parse_action(const toml::table& t, Scenario& s, size_t index) const {
  const std::string where = "[[timeline]] #" + std::to_string(index + 1);
  ScenarioAction a;
  a.line = t.source().begin.line;
  const toml::node& action_node = required(t, "action", where);
  auto action_name_v = string(t, "action", 64);
  const Kind* kind = nullptr;
  for (const Kind& k : kKinds)
    if (*action_name_v == k.name) kind = &k;
  if (!kind) {
    std::string list;
    for (const Kind& k : kKinds) list += (list.empty() ? "" : ", ") + std::string(k.name);
    fail(action_node.source(), "unknown action '" + *action_name_v + "' (known: " + list + ")");
  }
  a.kind = kind->kind;
  const double duration_s = static_cast<double>(s.duration_us) / 1e6;
  (void)required(t, "at_s", where);
  const double at_s = *number(t, "at_s", 0, duration_s);
  a.at_us = to_us(at_s);
  if (a.at_us >= s.duration_us) fail(t.get("at_s")->source(), "'at_s' must be before duration_s");

  if (is_membership(a.kind)) {
    check_keys(t, {"at_s", "action", "count", "fraction"}, where + " (" + kind->name + ")");
    auto count = integer(t, "count", 1, static_cast<int64_t>(s.node_count));
    auto fraction = number(t, "fraction", 0, 1);
    if (count.has_value() == fraction.has_value())
      fail(t.source(), where + " (" + kind->name + ") needs one of 'count' or 'fraction'");
    a.count = count ? static_cast<size_t>(*count)
                    : std::max<size_t>(1, static_cast<size_t>(std::llround(
                                              *fraction * static_cast<double>(s.node_count))));
  } else if (a.kind == ActionKind::kPartition) {
    check_keys(t, {"at_s", "action", "groups"}, where + " (partition)");
    const toml::node& g = required(t, "groups", where);
    auto arr = g.as_array();
    if (!arr || arr->empty() || arr->size() > kMaxPartitionGroups)
      fail(g.source(), "'groups' must be a list of 1.." + std::to_string(kMaxPartitionGroups) +
                           " fractions of the nodes");
    double sum = 0;
    for (const toml::node& e : *arr) {
      double v = 0;
      if (auto i = e.as_integer()) {
        v = static_cast<double>(i->get());
      } else if (auto f = e.as_floating_point()) {
        v = f->get();
      } else {
        fail(e.source(), "a group must be a fraction of the nodes");
      }
      if (!(v > 0 && v < 1)) fail(e.source(), "a group must be a fraction in (0, 1)");
      sum += v;
      a.groups.push_back(v);
    }
    if (sum > 1 + 1e-9) fail(g.source(), "the groups add up to more than 1");
  } else if (a.kind == ActionKind::kHeal) {
    check_keys(t, {"at_s", "action"}, where + " (heal)");
  } else {
    const bool dht = is_dht(a.kind);
    if (a.kind == ActionKind::kDhtLock) {
      check_keys(t, {"at_s", "action", "rate", "duration_s", "keys", "payload", "lease_ms"},
                 where + " (" + kind->name + ")");
    } else if (dht) {
      check_keys(t, {"at_s", "action", "rate", "duration_s", "keys", "payload"},
                 where + " (" + kind->name + ")");
    } else {
      check_keys(t, {"at_s", "action", "rate", "duration_s", "payload"},
                 where + " (" + kind->name + ")");
    }
    (void)required(t, "rate", where);
    (void)required(t, "duration_s", where);
    a.rate_per_s = *number(t, "rate", 0.001, kMaxRatePerS);
    const double d = *number(t, "duration_s", 0.001, duration_s);
    a.duration_us = to_us(d);
    if (a.at_us + a.duration_us > s.duration_us)
      fail(t.get("duration_s")->source(), "at_s + duration_s goes past the scenario's duration_s");
    const double steps = std::floor(a.rate_per_s * d + 1e-9);
    if (steps < 1) fail(t.get("rate")->source(), "rate × duration_s makes no step at all");
    a.payload_bytes = static_cast<size_t>(
        integer(t, "payload", dht ? 1 : 16, static_cast<int64_t>(kMaxPayloadBytes))
            .value_or(dht ? 128 : 256));
    if (dht) {
      const size_t default_keys = a.kind == ActionKind::kDhtLock || a.kind == ActionKind::kDhtCas ||
                                          a.kind == ActionKind::kDhtDiff
                                      ? 1
                                      : std::min<size_t>(static_cast<size_t>(steps), kMaxDhtKeys);
      a.keys = static_cast<size_t>(integer(t, "keys", 1, static_cast<int64_t>(kMaxDhtKeys))
                                       .value_or(static_cast<int64_t>(default_keys)));
      if (a.kind == ActionKind::kDhtLock)
        a.lease_ms = integer(t, "lease_ms", 100, 60'000).value_or(2'000);
    }
  }
  s.timeline.push_back(std::move(a));
}

Scenario Parser::parse(const toml::table& root) const {
  check_keys(root, {"scenario", "nodes", "topology", "link", "timeline", "assert"},
             "the top level");
  Scenario s;
  s.source = source_;

  const toml::table* sc = table(root, "scenario");
  if (!sc) fail(root.source(), "missing [scenario] (with at least duration_s)");
  check_keys(*sc, {"name", "description", "duration_s", "seed"}, "[scenario]");
  s.name = string(*sc, "name", 200).value_or("");
  s.description = string(*sc, "description").value_or("");
  (void)required(*sc, "duration_s", "[scenario]");
  s.duration_us = to_us(*number(*sc, "duration_s", 0.001, kMaxScenarioDurationS));
  s.seed = static_cast<uint64_t>(
      integer(*sc, "seed", 0, std::numeric_limits<int64_t>::max()).value_or(1));

  const toml::table* nodes = table(root, "nodes");
  if (!nodes) fail(root.source(), "missing [nodes] (with at least count)");
  check_keys(*nodes, {"count", "start", "initiate_only", "apps"}, "[nodes]");
  (void)required(*nodes, "count", "[nodes]");
  s.node_count =
      static_cast<size_t>(*integer(*nodes, "count", 2, static_cast<int64_t>(kMaxScenarioNodes)));
  s.start_nodes =
      static_cast<size_t>(integer(*nodes, "start", 2, static_cast<int64_t>(s.node_count))
                              .value_or(static_cast<int64_t>(s.node_count)));
  s.initiate_only = number(*nodes, "initiate_only", 0, 0.9).value_or(0);
  if (const toml::node* apps = nodes->get("apps")) {
    auto arr = apps->as_array();
    if (!arr || arr->empty() || arr->size() > 8)
      fail(apps->source(), "'apps' must be a list of app names (\"test\", \"dht\")");
    s.app_test = false;
    for (const toml::node& e : *arr) {
      auto str = e.as_string();
      if (!str) fail(e.source(), "an app must be a string");
      if (str->get() == "test") {
        s.app_test = true;
      } else if (str->get() == "dht") {
        s.app_dht = true;
      } else {
        fail(e.source(), "unknown app '" + str->get().substr(0, 64) + "' (known: test, dht)");
      }
    }
  }

  if (const toml::table* topo = table(root, "topology")) {
    check_keys(*topo, {"bootstrap", "degree"}, "[topology]");
    s.bootstrap_nodes = static_cast<size_t>(integer(*topo, "bootstrap", 1, 64).value_or(8));
    s.degree = static_cast<size_t>(integer(*topo, "degree", 1, 32).value_or(3));
  }

  if (const toml::table* link = table(root, "link")) {
    s.link_given = true;
    check_keys(*link, {"latency_ms", "jitter_ms", "jitter", "loss", "bandwidth_mbps"}, "[link]");
    s.link.latency_base_us = to_us(number(*link, "latency_ms", 0, 10'000).value_or(10) / 1e3);
    s.link.latency_jitter_us = to_us(number(*link, "jitter_ms", 0, 10'000).value_or(10) / 1e3);
    if (auto j = string(*link, "jitter", 32)) {
      if (*j == "exponential") {
        s.link.exponential_jitter = true;
      } else if (*j != "uniform") {
        fail(link->get("jitter")->source(), "'jitter' must be \"uniform\" or \"exponential\"");
      }
    }
    s.link.loss = number(*link, "loss", 0, 0.5).value_or(0);
    s.link.bandwidth_bytes_per_s =
        number(*link, "bandwidth_mbps", 0, 100'000).value_or(0) * 1e6 / 8;
  }

  if (const toml::node* tl = root.get("timeline")) {
    auto arr = tl->as_array();
    if (!arr) fail(tl->source(), "'timeline' must be written as [[timeline]] tables");
    if (arr->size() > kMaxTimelineActions)
      fail(tl->source(), "more than " + std::to_string(kMaxTimelineActions) + " timeline actions");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = (*arr)[i];
      if (!e.is_table()) fail(e.source(), "a timeline entry must be a table ([[timeline]])");
      parse_action(*e.as_table(), s, i);
    }
  }
  std::stable_sort(
      s.timeline.begin(), s.timeline.end(),
      [](const ScenarioAction& x, const ScenarioAction& y) { return x.at_us < y.at_us; });

  // Whole-timeline checks.
  size_t steps = 0, joins = 0;
  bool put_seen = false;
  auto at_line = [&](const ScenarioAction& a, const std::string& what) {
    throw Failure{source_ + ":" + std::to_string(a.line) + ":1: " + what};
  };
  for (const ScenarioAction& a : s.timeline) {
    steps += a.steps();
    if (steps > kMaxTimelineOps)
      at_line(a, "the timeline expands to more than " + std::to_string(kMaxTimelineOps) +
                     " steps (lower a rate or a duration)");
    if (a.kind == ActionKind::kJoin) {
      joins += a.count;
      if (joins > s.node_count - s.start_nodes)
        at_line(a, "join: only " + std::to_string(s.node_count - s.start_nodes) +
                       " nodes are not started at t=0 (nodes.count - nodes.start)");
    }
    if (is_traffic(a.kind) && !s.app_test)
      at_line(a, std::string(action_name(a.kind)) + " needs the \"test\" app in nodes.apps");
    if (is_dht(a.kind) && !s.app_dht)
      at_line(a, std::string(action_name(a.kind)) + " needs the \"dht\" app in nodes.apps");
    if (a.kind == ActionKind::kDhtPut) put_seen = true;
    if (a.kind == ActionKind::kDhtGet && !put_seen)
      at_line(a, "dht_get reads what a dht_put stored: put some values before it");
  }

  if (const toml::table* as = table(root, "assert")) {
    check_keys(
        *as, {"delivery_ratio_min", "lookup_success_min", "lock_violations_max", "cas_one_winner"},
        "[assert]");
    s.asserts.delivery_ratio_min = number(*as, "delivery_ratio_min", 0, 1);
    s.asserts.lookup_success_min = number(*as, "lookup_success_min", 0, 1);
    if (auto v = integer(*as, "lock_violations_max", 0, 1'000'000))
      s.asserts.lock_violations_max = static_cast<uint64_t>(*v);
    s.asserts.cas_one_winner = boolean(*as, "cas_one_winner");
    auto needs = [&](bool present, std::string_view key, ActionKind k1, ActionKind k2,
                     ActionKind k3) {
      if (present && !s.uses(k1) && !s.uses(k2) && !s.uses(k3))
        fail(as->get(key)->source(), "'" + std::string(key) +
                                         "' checks nothing: the timeline has no " +
                                         action_name(k1) + " action");
    };
    needs(s.asserts.delivery_ratio_min.has_value(), "delivery_ratio_min", ActionKind::kShout,
          ActionKind::kSpeak, ActionKind::kWhisper);
    needs(s.asserts.lookup_success_min.has_value(), "lookup_success_min", ActionKind::kDhtGet,
          ActionKind::kDhtGet, ActionKind::kDhtGet);
    needs(s.asserts.lock_violations_max.has_value(), "lock_violations_max", ActionKind::kDhtLock,
          ActionKind::kDhtLock, ActionKind::kDhtLock);
    needs(s.asserts.cas_one_winner.has_value(), "cas_one_winner", ActionKind::kDhtCas,
          ActionKind::kDhtCas, ActionKind::kDhtCas);
  }
  return s;
}

// toml++ 3.3.0 (Debian bookworm) reaches __builtin_unreachable — undefined
// behaviour — when it asks whether some non-ASCII code points are
// whitespace (marzer/tomlplusplus#190, #295; fixed upstream after 3.3.0).
// This mirrors its is_non_ascii_horizontal_whitespace() and names the code
// points that take that path, so that they are refused before toml++ sees
// them. Found by scenario_fuzz.
bool toml_unsafe(char32_t c) {
  if (c < 0xA1 || c > 0xFEFE) return false;
  const uint64_t child = (static_cast<uint64_t>(c) - 0xA0) / 0x3FA;
  if ((uint64_t{1} << child) & 0x7FFFFFFFFFFFF75EULL) return false;
  if (c == 0x3000) return false;
  return child != 5 && child != 7;
}

// Valid UTF-8 without those code points, or an error naming the position.
std::optional<std::string> check_text(std::string_view text, std::string_view source) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<uint8_t>(text[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t c = len == 1 ? b : len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    bool ok = len != 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cb = static_cast<uint8_t>(text[i + k]);
      ok = (cb & 0xC0) == 0x80;
      c = (c << 6) | (cb & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && c >= kMin[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    auto where = [&] {
      return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
    };
    if (!ok) return where() + "the text is not valid UTF-8";
    if (toml_unsafe(c)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(c));
      return where() + "character " + hex +
             " is not accepted in scenario files (toml++ 3.3.0 mishandles it: "
             "marzer/tomlplusplus#295); write it as an escape in a string";
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace

const char* action_name(ActionKind kind) {
  for (const Kind& k : kKinds)
    if (k.kind == kind) return k.name;
  return "?";
}

bool is_traffic(ActionKind k) {
  return k == ActionKind::kShout || k == ActionKind::kSpeak || k == ActionKind::kWhisper;
}
bool is_dht(ActionKind k) {
  return k == ActionKind::kDhtPut || k == ActionKind::kDhtGet || k == ActionKind::kDhtLock ||
         k == ActionKind::kDhtCas || k == ActionKind::kDhtDiff;
}
bool is_membership(ActionKind k) {
  return k == ActionKind::kJoin || k == ActionKind::kLeave || k == ActionKind::kCrash ||
         k == ActionKind::kRestart;
}

size_t ScenarioAction::steps() const {
  if (!is_traffic(kind) && !is_dht(kind)) return 1;
  return static_cast<size_t>(
      std::floor(rate_per_s * static_cast<double>(duration_us) / 1e6 + 1e-9));
}

bool ScenarioLink::is_ideal() const {
  return latency_base_us == 0 && latency_jitter_us == 0 && loss == 0 && bandwidth_bytes_per_s == 0;
}

bool ScenarioAssertions::empty() const {
  return !delivery_ratio_min && !lookup_success_min && !lock_violations_max && !cas_one_winner;
}

bool Scenario::uses(ActionKind kind) const {
  return std::any_of(timeline.begin(), timeline.end(),
                     [kind](const ScenarioAction& a) { return a.kind == kind; });
}

Result<Scenario> parse_scenario(std::string_view text, std::string_view source) {
  if (text.size() > kMaxScenarioTextBytes)
    return invalid_argument(std::string(source) + ":1:1: scenario text over " +
                            std::to_string(kMaxScenarioTextBytes) + " bytes");
  if (auto bad = check_text(text, source)) return invalid_argument(*bad);
  try {
    toml::table root = toml::parse(text, source);
    return Parser(source).parse(root);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
      << e.description();
    return invalid_argument(s.str());
  } catch (const Failure& f) {
    return invalid_argument(f.message);
  }
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(path + ": cannot open the scenario file");
  std::string text(kMaxScenarioTextBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_scenario(text, path);
}

std::vector<TimelineStep> expand_timeline(const Scenario& scenario) {
  std::vector<TimelineStep> out;
  for (size_t i = 0; i < scenario.timeline.size(); ++i) {
    const ScenarioAction& a = scenario.timeline[i];
    const size_t n = std::min(a.steps(), kMaxTimelineOps - std::min(out.size(), kMaxTimelineOps));
    for (size_t k = 0; k < n; ++k) {
      int64_t at = a.at_us;
      if (n > 1 || is_traffic(a.kind) || is_dht(a.kind))
        at += static_cast<int64_t>(std::llround(static_cast<double>(k) * 1e6 / a.rate_per_s));
      out.push_back({at, static_cast<uint32_t>(i), static_cast<uint32_t>(k)});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TimelineStep& x, const TimelineStep& y) {
    return x.at_us != y.at_us ? x.at_us < y.at_us
                              : (x.action != y.action ? x.action < y.action : x.index < y.index);
  });
  return out;
}

}  // namespace chorus::swarm
