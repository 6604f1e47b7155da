// Scenario: a swarm test described in a TOML file, parsed, validated and
// turned into a timeline of discrete steps.
//
// This is the mode-independent core of `chorus swarm --scenario FILE`: it
// reads text, never files or clocks (load_scenario is the one helper that
// opens a file), and the timeline it builds is a pure function of the
// scenario. The runners (simulated and real) decide which nodes an action
// hits, with their own seeded randomness.
//
// The format, every key optional unless marked (swarm/README.md has it with
// examples; swarm/scenarios/ holds working files):
//
//   [scenario]  name, description, duration_s (required, 1..3600), seed
//   [nodes]     count (required, 2..100000), start (nodes up at t=0, default
//               count), initiate_only (0..0.9), apps (["test", "dht"])
//   [topology]  bootstrap (1..64, default 8), degree (1..32, default 3)
//   [link]      latency_ms, jitter_ms, jitter ("uniform"|"exponential"),
//               loss (0..0.5), bandwidth_mbps (0 = unlimited)
//   [[timeline]] at_s (required), action (required), then per action:
//               join|leave|crash|restart: count or fraction (of nodes.count)
//               partition: groups = [fractions] (each a share of the nodes,
//                          sum ≤ 1; the rest form one more group); heal
//               shout|speak|whisper: rate (per s), duration_s, payload (bytes)
//               dht_put|dht_get|dht_lock|dht_cas|dht_diff: rate, duration_s,
//                          keys, payload; dht_lock: lease_ms
//   [assert]    delivery_ratio_min, lookup_success_min, lock_violations_max,
//               cas_one_winner
//
// Errors: any problem (TOML syntax, an unknown key or action, a wrong type, a
// value out of its bound) is an invalid-argument Error whose message starts
// with "SOURCE:LINE:COLUMN: ". Unknown keys are errors so that a typo cannot
// pass silently. Every count, rate and duration has a bound, and so does the
// number of steps the timeline expands to (kMaxTimelineOps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/base/result.h"

namespace chorus::swarm {

// Bounds of a scenario, the same for both modes (a runner may ask for less).
inline constexpr size_t kMaxScenarioNodes = 100'000;
inline constexpr size_t kMaxTimelineActions = 1'000;
inline constexpr size_t kMaxTimelineOps = 1'000'000;  // expanded steps
inline constexpr int64_t kMaxScenarioDurationS = 3'600;
inline constexpr double kMaxRatePerS = 100'000;
inline constexpr size_t kMaxPayloadBytes = 64 << 10;
inline constexpr size_t kMaxPartitionGroups = 16;
inline constexpr size_t kMaxDhtKeys = 100'000;
inline constexpr size_t kMaxScenarioTextBytes = 1 << 20;

enum class ActionKind : uint8_t {
  kJoin,     // start nodes that have not run yet
  kLeave,    // stop nodes gracefully (links closed); they may restart
  kCrash,    // stop nodes abruptly (state lost)
  kRestart,  // start stopped nodes again, same identity
  kPartition,
  kHeal,
  kShout,  // traffic of the test app
  kSpeak,
  kWhisper,
  kDhtPut,
  kDhtGet,
  kDhtLock,
  kDhtCas,
  kDhtDiff,
};
// The action's name in scenario files ("join", "dht_put", ...).
const char* action_name(ActionKind kind);
bool is_traffic(ActionKind kind);     // shout, speak, whisper
bool is_dht(ActionKind kind);         // dht_*
bool is_membership(ActionKind kind);  // join, leave, crash, restart

struct ScenarioAction {
  ActionKind kind = ActionKind::kJoin;
  int64_t at_us = 0;
  size_t line = 0;  // in the scenario text, for messages
  // join/leave/crash/restart: how many nodes (a fraction is resolved
  // against nodes.count when parsed, at least 1).
  size_t count = 0;
  // partition: the share of the nodes in each group; the rest form one more.
  std::vector<double> groups;
  // traffic and dht: `rate_per_s` steps spread evenly over `duration_us`.
  double rate_per_s = 0;
  int64_t duration_us = 0;
  size_t payload_bytes = 0;
  size_t keys = 0;       // dht: distinct keys used by this action
  int64_t lease_ms = 0;  // dht_lock
  size_t steps() const;  // messages or operations this action makes (1 for others)
};

struct ScenarioLink {
  int64_t latency_base_us = 10'000;
  int64_t latency_jitter_us = 10'000;
  bool exponential_jitter = false;
  double loss = 0;                   // per datagram (DHT); TCP links hide loss
  double bandwidth_bytes_per_s = 0;  // per link direction; 0 = unlimited
  bool is_ideal() const;             // no latency, jitter, loss or bandwidth limit asked for
};

struct ScenarioAssertions {
  std::optional<double> delivery_ratio_min;
  std::optional<double> lookup_success_min;
  std::optional<uint64_t> lock_violations_max;
  std::optional<bool> cas_one_winner;
  bool empty() const;
};

struct Scenario {
  std::string source;  // file name or label, for messages
  std::string name;
  std::string description;
  int64_t duration_us = 0;
  uint64_t seed = 1;
  size_t node_count = 0;
  size_t start_nodes = 0;
  double initiate_only = 0;
  bool app_test = true;
  bool app_dht = false;
  size_t bootstrap_nodes = 8;
  size_t degree = 3;
  ScenarioLink link;
  bool link_given = false;               // the file has a [link] table
  std::vector<ScenarioAction> timeline;  // sorted by at_us, file order among equals
  ScenarioAssertions asserts;

  bool uses(ActionKind kind) const;
};

// Parses and validates. `source` names the text in error messages.
Result<Scenario> parse_scenario(std::string_view text, std::string_view source = "scenario");
// Reads a file (at most kMaxScenarioTextBytes) and parses it.
Result<Scenario> load_scenario(const std::string& path);

// One discrete step of the timeline: the `index`-th step of `action`.
struct TimelineStep {
  int64_t at_us = 0;
  uint32_t action = 0;  // index into Scenario::timeline
  uint32_t index = 0;
};
// Every step in time order (equal times: action order, then index). A
// rate action with rate r and duration d makes floor(r·d) steps at
// at + i/r; other actions one step. Bounded by kMaxTimelineOps (the parser
// refuses scenarios beyond it).
std::vector<TimelineStep> expand_timeline(const Scenario& scenario);

}  // namespace chorus::swarm
