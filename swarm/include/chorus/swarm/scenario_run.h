// Running a scenario: the figures a run collects (either mode), the
// deterministic simulated run, the assertions, and the JSON and HTML reports.
//
// run_scenario_sim drives one timeline on two deterministic simulators in
// lock-step: the overlay Simulator (NodeCore; SHOUT/SPEAK/WHISPER traffic)
// and the DhtSim (DhtCore; DHT operations). Node i is the same logical node
// in both: a join, leave, crash, restart or partition hits it in each. The
// two simulators do not share links: the overlay's are TCP-like pipes, the
// DHT's datagrams (so [link] loss applies to the DHT only, bandwidth to the
// overlay only). A run is a pure function of (scenario, seed): the report
// JSON without its "host" part is identical for the same seed.
//
// Definitions (also in swarm/README.md):
//   delivery ratio  deliveries / expected, where a message's expected
//                   recipients are the nodes (SHOUT: all others; SPEAK: the
//                   sender's peers at send time; WHISPER: the one peer it
//                   went to; a WHISPER from a node without peers is owed
//                   and missed) that stayed up and in the sender's partition
//                   group from the send until `delivery_window_us` later.
//   lookup success  dht_gets that returned the value last put / gets done.
//   lock violations two holdings of one lock that overlap in virtual time.
//   cas one winner  no (key, expected version) had two successful CAS.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/swarm/scenario.h"

namespace chorus::swarm {

struct TrafficFigures {
  uint64_t sent = 0;       // messages the senders handed to their node
  uint64_t expected = 0;   // deliveries owed (see the definition above)
  uint64_t delivered = 0;  // of those, made
};

struct RunFigures {
  std::string mode;  // "sim" or "real"
  uint64_t seed = 0;
  int64_t run_us = 0;  // virtual (sim) or wall (real) time the run took
  TrafficFigures shout, speak, whisper;
  std::vector<double> latency_ms;       // one per counted delivery
  std::vector<double> frames_per_node;  // overlay frames + DHT datagrams sent, all lives
  std::vector<std::pair<double, double>> links_over_time;     // (s, links)
  std::vector<std::pair<double, double>> nodes_up_over_time;  // (s, nodes)
  std::vector<double> state_bytes_per_node;                   // estimate, see notes
  // DHT.
  uint64_t puts = 0, puts_ok = 0;
  uint64_t gets = 0, gets_ok = 0, gets_failed = 0;  // failed: error or wrong value
  std::vector<double> lookup_hops;                  // of gets that finished
  std::vector<double> dht_latency_ms;               // gets
  uint64_t lock_attempts = 0, locks_acquired = 0, lock_violations = 0;
  uint64_t cas_attempts = 0, cas_wins = 0, cas_versions_with_two_winners = 0;
  uint64_t diffs = 0, diffs_ok = 0;
  // Membership.
  uint64_t joins = 0, leaves = 0, crashes = 0, restarts = 0, partitions = 0;
  // Host (not part of the deterministic report).
  double wall_s = 0;
  double rss_mb = 0;
  std::vector<std::string> notes;  // what this mode approximated or left out

  double delivery_ratio() const;  // over all three kinds; 1 when nothing was owed
  double lookup_success() const;  // 1 when no get ran
};

// Traffic payloads in a scenario run start with their send's tag (u32,
// big-endian) and are padded to `size` (at least 4), so a receiver can tell
// which send it got — the same in sim and real mode.
Bytes tagged_payload(uint32_t tag, size_t size);
// The tag of a payload made by tagged_payload; nullopt when shorter than 4.
std::optional<uint32_t> payload_tag(ByteView payload);

struct AssertionResult {
  std::string name;
  std::string want;  // e.g. ">= 0.99"
  double value = 0;
  bool pass = false;
};
std::vector<AssertionResult> check_assertions(const Scenario& s, const RunFigures& f);

struct SimProgress {
  int64_t now_us = 0;
  int64_t end_us = 0;
  size_t nodes_up = 0;
  uint64_t deliveries = 0;
  uint64_t dht_ops_done = 0;
  std::string phase;  // the timeline actions active now
};

struct SimRunOptions {
  uint64_t seed = 1;
  int64_t delivery_window_us = 3'000'000;  // also the settle time after duration_s
  int64_t sample_interval_us = 0;          // links/nodes samples; 0 = duration / 200, ≥ 100 ms
  std::function<void(const SimProgress&)> progress;  // about once per virtual second
};

// Runs the scenario on the simulators. Fails (invalid-argument) when the
// scenario asks for what the simulators cannot do.
Result<RunFigures> run_scenario_sim(const Scenario& s, const SimRunOptions& options);

// The JSON report: scenario summary, figures, assertions, notes; "host"
// holds the non-deterministic part (wall time, RSS).
nlohmann::json report_json(const Scenario& s, const RunFigures& f,
                           const std::vector<AssertionResult>& asserts);
// The self-contained HTML report with the plots.
std::string report_html(const Scenario& s, const RunFigures& f,
                        const std::vector<AssertionResult>& asserts);

}  // namespace chorus::swarm
