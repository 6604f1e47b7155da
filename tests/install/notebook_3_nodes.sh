#!/usr/bin/env bash
# Three notebook processes on loopback write one line each to the same DHT
# notebook at once. The DHT lock serialises them and the diffs build on each
# other, so every node ends with all three lines at version 3 (no lost update).
# Usage: notebook_3_nodes.sh PATH/TO/notebook
set -euo pipefail
notebook=$1
. "$(dirname "$0")/lib.sh"

# Every node is new, so the lock grace period after a restart can be 0.
common=(--expect 3 --timeout-s 45 --lock-grace-ms 0 --book "test-$$")
start alice "$notebook" alice --listen 127.0.0.1:0 --peers 2 --set alice=first "${common[@]}"
wait_for alice '^\* listening on '
address=$(listen_address_of alice)
start bob "$notebook" bob --peer "$address" --set bob=second "${common[@]}"
start carol "$notebook" carol --peer "$address" --set carol=third "${common[@]}"
for n in alice bob carol; do hang_up "$n"; done

for n in alice bob carol; do expect_exit "$n"; done
for n in alice bob carol; do
  has "$n" '^\* wrote version [123] (whole|by diff)'
  has "$n" '^notebook version 3:$'
  has "$n" '^  alice=first$'
  has "$n" '^  bob=second$'
  has "$n" '^  carol=third$'
done
# The first version is written whole; later writers send diffs.
test "$(cat "$WORK"/*.log | grep -c '^\* wrote version [23] by diff')" -ge 1 || { echo "FAIL: no diff" >&2; show_logs; exit 1; }
echo "notebook: 3 writers, one version each, every node saw all three lines"
