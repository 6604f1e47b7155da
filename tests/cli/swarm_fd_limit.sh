#!/usr/bin/env bash
# Commands that run many nodes fit them to the open-files limit or refuse
# up front (they used to crash when node k could not open its loop):
#  - a soft limit below the need is raised to the hard limit, and the run works;
#  - a hard limit a little short: fewer links per node (ℓ), and the run works;
#  - far too few: a clear "needs N file descriptors" error and a nonzero exit,
#    from `chorus swarm` and from a scenario in real mode.
set -euo pipefail
CHORUS=$1
SCENARIO=$2  # a scenario real mode can run
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() { echo "$1"; cat "$out"; exit 1; }

# $1: soft limit, $2: hard limit, rest: command; sets rc.
run_limited() {
  local soft=$1 hard=$2
  shift 2
  rc=0
  (ulimit -Sn "$soft" && ulimit -Hn "$hard" && exec "$CHORUS" "$@") >"$out" 2>&1 || rc=$?
}

# 16 nodes need about 420 descriptors: the soft limit of 64 is raised.
run_limited 64 4096 swarm --nodes 16 --shouts 10 --json --timeout 60
[ "$rc" -eq 0 ] || fail "swarm with soft limit 64, hard 4096: exit $rc"
grep -q '"links_per_node":8' "$out" || fail "swarm lowered ℓ although the hard limit sufficed"

# 400 is short of what 8 links each need, enough for 7.
run_limited 400 400 swarm --nodes 16 --shouts 10 --json --timeout 60
[ "$rc" -eq 0 ] || fail "swarm with limit 400: exit $rc"
grep -q '"links_per_node":7' "$out" || fail "swarm did not fit ℓ to the limit 400"
grep -q 'each node opens 7 links instead of 8' "$out" || fail "no note that ℓ was lowered"

run_limited 64 64 swarm --nodes 64 --shouts 10 --dht-puts 10 --json
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "swarm under limit 64: exit $rc, want a clean failure"
grep -Eq 'needs [0-9]+ file descriptors, but the open-files limit is 64' "$out" ||
  fail "swarm under limit 64 did not say what it needs"

run_limited 64 64 swarm --scenario "$SCENARIO" --mode real --json
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "scenario real under limit 64: exit $rc"
grep -Eq 'needs [0-9]+ file descriptors, but the open-files limit is 64' "$out" ||
  fail "scenario real under limit 64 did not say what it needs"
echo "swarm and scenario real fit the open-files limit or refuse clearly"
