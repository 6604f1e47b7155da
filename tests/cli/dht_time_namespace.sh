#!/usr/bin/env bash
# Two hosts booted a day apart: nodes in a time namespace whose monotonic
# and boot-time clocks run a day ahead of the others' (as on a host that has
# been up a day longer) join the same DHT, store and read each other's
# values, and reach each other with `chorus dht send`. Datagram nonces
# carry wall-clock time, so only the hosts' wall clocks need to agree.
# Exits 77 (skipped) where the kernel refuses time namespaces.
set -euo pipefail
CHORUS=$1
source "$(dirname "$0")/node_lib.sh"

ahead=(unshare --time --monotonic 86400 --boottime 86400 --fork --kill-child=SIGTERM --)
if ! "${ahead[@]}" true 2>"$dir/unshare"; then
  echo "SKIP: unshare --time is refused here: $(cat "$dir/unshare")"
  exit 77
fi
here_up=$(cut -d' ' -f1 /proc/uptime)
there_up=$("${ahead[@]}" cut -d' ' -f1 /proc/uptime)
echo "uptime here ${here_up}s, in the namespace ${there_up}s"

# $1: index, rest: flags. Like start_node, inside the day-ahead namespace.
start_ahead_node() {
  "${ahead[@]}" "$CHORUS" node --dht --key "$dir/k$1" "${@:2}" >"$dir/out$1" 2>"$dir/err$1" &
  local outer=$!
  wait_for_line "$dir/out$1" '^dht ' ||
    { echo "node $1 (a day ahead) printed no dht address"; cat "$dir/err$1"; kill "$outer"; exit 1; }
  # unshare blocks SIGTERM while it waits for its child: the cleanup signals
  # the node itself (before unshare, which then exits with it).
  pids+=($(pgrep -P "$outer") "$outer")
  dht_addr=$(sed -n 's/^dht //p' "$dir/out$1")
  node_addr=$(sed -n 's/^address //p' "$dir/out$1")
}

start_node 0 --listen 127.0.0.1:0
here=$dht_addr
here_node=$node_addr
start_ahead_node 1 --listen 127.0.0.1:0 --bootstrap "$here"
there=$dht_addr
there_node=$node_addr
start_node 2 --listen 127.0.0.1:0 --bootstrap "$there"
start_ahead_node 3 --listen 127.0.0.1:0 --bootstrap "$here"

# A value put by a client a day ahead is read by a client here, and back.
timeout 30 "${ahead[@]}" "$CHORUS" dht put --bootstrap "$there" --timeout 10 ns/ahead from-ahead \
  --json >"$dir/put1" || { echo "put from the namespace failed:"; cat "$dir/put1"; exit 1; }
grep -q '"ok":true' "$dir/put1" || { echo "put from the namespace not ok:"; cat "$dir/put1"; exit 1; }
timeout 30 "$CHORUS" dht get --bootstrap "$here" --timeout 10 ns/ahead >"$dir/get1" ||
  { echo "get here of the namespace's value failed:"; cat "$dir/get1"; exit 1; }
grep -qx from-ahead "$dir/get1" || { echo "get here returned:"; cat "$dir/get1"; exit 1; }

timeout 30 "$CHORUS" dht put --bootstrap "$here" --timeout 10 ns/here from-here --json \
  >"$dir/put2" || { echo "put here failed:"; cat "$dir/put2"; exit 1; }
timeout 30 "${ahead[@]}" "$CHORUS" dht get --bootstrap "$there" --timeout 10 ns/here >"$dir/get2" ||
  { echo "get in the namespace failed:"; cat "$dir/get2"; exit 1; }
grep -qx from-here "$dir/get2" || { echo "get in the namespace returned:"; cat "$dir/get2"; exit 1; }

# WHISPER by address both ways: the record lookup, the dial and the answer
# all cross the clock difference.
send_until_echo() {  # $1: bootstrap, $2: address, $3: text, $4: output, rest: prefix
  for _ in $(seq 1 10); do
    if timeout 30 "${@:5}" "$CHORUS" dht send --bootstrap "$1" --timeout 5 "$2" "$3" >"$4" 2>&1 &&
      grep -qx "echo: $3" "$4"; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}
send_until_echo "$here" "$there_node" to-ahead "$dir/send1" ||
  { echo "send to the node a day ahead failed:"; cat "$dir/send1"; exit 1; }
send_until_echo "$there" "$here_node" to-here "$dir/send2" "${ahead[@]}" ||
  { echo "send from the namespace failed:"; cat "$dir/send2"; exit 1; }
echo "dht across a day of uptime difference ok"
