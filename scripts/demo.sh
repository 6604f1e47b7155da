#!/usr/bin/env bash
# Installs dependencies, builds Chorus, runs a swarm scenario in the
# simulator and writes its report (JSON + HTML with plots), then runs a local
# swarm: real nodes on 127.0.0.1 (a quarter of them initiate-only) that
# connect into an overlay and broadcast SHOUTs, with a progress display and a
# summary at the end; last a NANO devnet: 8 node processes, 4
# representatives voting, 2,000 random blocks and 20 double spends, all
# confirmed, with its figures and plots in a report of its own.
#   SCENARIO=swarm/scenarios/dht_partition_locks.toml scripts/demo.sh   # another scenario
#   scripts/demo.sh                       # 48 nodes, 300 SHOUTs at 100/s, a quarter initiate-only
#   scripts/demo.sh --nodes 100 --shouts 500 --compression none   # any `chorus swarm` flags
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target chorus chorus-nano -j "$(nproc)"

SCENARIO=${SCENARIO:-swarm/scenarios/whisper_mixed.toml}
REPORT_DIR=${REPORT_DIR:-$BUILD_DIR/swarm-report}
echo
echo "== chorus swarm --scenario $SCENARIO : deterministic simulation, report in $REPORT_DIR =="
# A failed assertion is shown in the summary and the report; the demo goes on.
"$BUILD_DIR/bin/chorus" swarm --scenario "$SCENARIO" --mode sim --report "$REPORT_DIR" || true
echo "report: $(cd "$REPORT_DIR" && pwd)/report.html (open it in a browser) and report.json"

if [ "$#" -eq 0 ]; then set -- --nodes 48 --shouts 300 --initiate-only 0.25 --rate 100; fi
echo
echo "== chorus swarm $* : real nodes on 127.0.0.1, SHOUTs from random nodes =="
"$BUILD_DIR/bin/chorus" swarm "$@"

NANO_REPORT=$REPORT_DIR/nano
echo
echo "== chorus-nano devnet: 8 nodes, 4 representatives, 2000 blocks, 20 double spends =="
"$BUILD_DIR/bin/chorus-nano" devnet --nodes 8 --reps 4 --accounts 50 --blocks 2000 --forks 20 \
  --report "$NANO_REPORT" || true
echo "report: $(cd "$NANO_REPORT" && pwd)/report.html and report.json"
