#!/usr/bin/env bash
# Installs dependencies, builds Chorus, and runs a local swarm: real nodes on
# 127.0.0.1 (a quarter of them initiate-only) that connect into an overlay and
# broadcast SHOUTs, with a progress display and a summary at the end.
#   scripts/demo.sh [--nodes N] [--shouts M] ...   (extra flags go to `chorus swarm`)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target chorus -j "$(nproc)"

echo
echo "== chorus swarm: 48 nodes on loopback, 300 SHOUTs from random nodes =="
"$BUILD_DIR/bin/chorus" swarm --nodes 48 --shouts 300 --initiate-only 0.25 "$@"
