#!/usr/bin/env bash
# Every command that runs a node until signalled (`chorus node`, with --dht,
# and with --dht --no-listen, which publishes its record through a relay)
# exits 0 within 1 s of SIGTERM and of SIGINT, with its key file saved: a
# restart with the same key file has the same address.
set -euo pipefail
CHORUS=$1
source "$(dirname "$0")/node_lib.sh"
limit_ms=1000

start_node 0 --listen 127.0.0.1:0  # a relay and bootstrap for the initiate-only run
relay_dht=$dht_addr

# $1: name, $2: signal, $3: line that says the node is ready, rest: flags.
# Starts the node, waits for the line, signals it and measures until exit.
run_and_stop() {
  local name=$1 sig=$2 ready=$3
  shift 3
  "$CHORUS" node --key "$dir/$name.key" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  local pid=$!
  pids+=("$pid")
  wait_for_line "$dir/$name.out" "$ready" ||
    { echo "$name: not ready (no '$ready')"; cat "$dir/$name.err"; exit 1; }
  # A bound, not a wait: `wait` below returns when the node exits.
  (sleep 10; kill -KILL "$pid") >/dev/null 2>&1 &
  local watchdog=$!
  local t0 rc=0
  t0=$(date +%s%N)
  kill -"$sig" "$pid"
  wait "$pid" || rc=$?
  local ms=$((($(date +%s%N) - t0) / 1000000))
  kill "$watchdog" 2>/dev/null || true
  echo "$name: SIG$sig -> exit $rc in $ms ms"
  [ "$rc" -eq 0 ] || { echo "$name: exit status $rc on SIG$sig"; cat "$dir/$name.err"; exit 1; }
  [ "$ms" -lt "$limit_ms" ] ||
    { echo "$name: took $ms ms to stop on SIG$sig (limit $limit_ms)"; cat "$dir/$name.err"; exit 1; }
  [ "$(stat -c %a "$dir/$name.key")" = 600 ] || { echo "$name: key file not saved"; exit 1; }
}

check_variant() {  # $1: name, $2: ready line, rest: flags
  local name=$1 ready=$2
  shift 2
  run_and_stop "$name" TERM "$ready" "$@"
  local first
  first=$(sed -n 's/^address //p' "$dir/$name.out")
  run_and_stop "$name" INT "$ready" "$@"
  [ "$first" = "$(sed -n 's/^address //p' "$dir/$name.out")" ] ||
    { echo "$name: address changed across restart"; exit 1; }
}

check_variant plain '^address ' --listen 127.0.0.1:0
check_variant dht '^dht ' --dht --listen 127.0.0.1:0 --bootstrap "$relay_dht"
check_variant dht_no_listen '^dht ' --dht --no-listen --bootstrap "$relay_dht"
echo "every node command stopped within $limit_ms ms"
