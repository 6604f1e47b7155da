#!/usr/bin/env bash
# Installs dependencies, builds chorus-relay and runs WSRelay's main job on
# this machine: 3 relay node processes on 127.0.0.1, 300 WebSocket clients
# on 30 channels spread over the nodes, 100 messages a second for 20 s, with
# a progress line and a summary (every message to every subscriber once and
# in order, latency, CPU per node). Then, with CHAT=1, two nodes stay up and
# their chat pages are printed for a browser until Ctrl-C.
#   scripts/demo-relay.sh
#   scripts/demo-relay.sh --nodes 5 --clients 1000 --rate 500   # any `chorus-relay bench` flags
#   CHAT=1 scripts/demo-relay.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target chorus-relay -j "$(nproc)"
RELAY="$BUILD_DIR/bin/chorus-relay"

if [ "$#" -eq 0 ]; then set -- --nodes 3 --clients 300 --channels 30 --rate 100 --seconds 20; fi
echo
echo "== chorus-relay bench $* : relay nodes and WebSocket clients on 127.0.0.1 =="
"$RELAY" bench "$@" 2> >(grep --line-buffered -v '^\[' >&2)

[ "${CHAT:-0}" = 1 ] || exit 0
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait; rm -rf "$dir"' EXIT
"$RELAY" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --name chat-a >"$dir/a" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^ws ' "$dir/a" && break; sleep 0.1; done
a_listen=$(sed -n 's/^listen //p' "$dir/a")
"$RELAY" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --name chat-b --bootstrap "$a_listen" >"$dir/b" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^ws ' "$dir/b" && break; sleep 0.1; done
echo
echo "== two relay nodes: open one page in each, join the same channel =="
echo "  http://$(sed -n 's/^ws //p' "$dir/a")/"
echo "  http://$(sed -n 's/^ws //p' "$dir/b")/"
echo "Ctrl-C stops them."
wait
