#!/usr/bin/env bash
# Installs dependencies, builds Chorus, runs a swarm scenario in the
# simulator and writes its report (JSON + HTML with plots), then runs a local
# swarm: real nodes on 127.0.0.1 (a quarter of them initiate-only) that
# connect into an overlay and broadcast SHOUTs, with a progress display and a
# summary at the end.
#   SCENARIO=swarm/scenarios/dht_partition_locks.toml scripts/demo.sh   # another scenario
#   scripts/demo.sh                       # 48 nodes, 300 SHOUTs at 100/s, a quarter initiate-only
#   scripts/demo.sh --nodes 100 --shouts 500 --compression none   # any `chorus swarm` flags
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target chorus -j "$(nproc)"

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
