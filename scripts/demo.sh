#!/usr/bin/env bash
# Installs dependencies, builds Chorus, and runs a local swarm: real nodes on
# 127.0.0.1 (a quarter of them initiate-only) that connect into an overlay and
# broadcast SHOUTs, with a progress display and a summary at the end.
#   scripts/demo.sh                       # 48 nodes, 300 SHOUTs at 100/s, a quarter initiate-only
#   scripts/demo.sh --nodes 100 --shouts 500 --compression none   # any `chorus swarm` flags
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target chorus -j "$(nproc)"

if [ "$#" -eq 0 ]; then set -- --nodes 48 --shouts 300 --initiate-only 0.25 --rate 100; fi
echo
echo "== chorus swarm $* : real nodes on 127.0.0.1, SHOUTs from random nodes =="
"$BUILD_DIR/bin/chorus" swarm "$@"
