#!/usr/bin/env bash
# `chorus dht send` reaches nodes it has no link to, by address alone: a
# listening node (its node record names its address) and an initiate-only
# node (its record names the relay it is linked to; the text crosses the
# relay sealed). Both answer "echo: TEXT" and print who sent it.
set -euo pipefail
CHORUS=$1
source "$(dirname "$0")/node_lib.sh"

start_node 0 --listen 127.0.0.1:0
first=$dht_addr
start_node 1 --listen 127.0.0.1:0 --bootstrap "$first"
second=$dht_addr
start_node 2 --listen 127.0.0.1:0 --bootstrap "$first"
listening=$node_addr
start_node 3 --no-listen --bootstrap "$first"
hidden=$node_addr

# Sends until the target's record is in the DHT (an initiate-only node
# publishes once its relay link is up): at most 10 tries.
send_until_echo() {  # $1: address, $2: text, $3: output file
  for _ in $(seq 1 10); do
    if timeout 30 "$CHORUS" dht send --bootstrap "$second" --timeout 5 "$1" "$2" >"$3" 2>&1 &&
      grep -qx "echo: $2" "$3"; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

send_until_echo "$listening" "hello-listening" "$dir/send2" ||
  { echo "send to the listening node failed:"; cat "$dir/send2"; exit 1; }
grep -q ": hello-listening$" "$dir/out2" || { echo "node 2 did not print the text"; cat "$dir/out2"; exit 1; }

send_until_echo "$hidden" "hello-hidden" "$dir/send3" ||
  { echo "send to the initiate-only node failed:"; cat "$dir/send3"; cat "$dir/err3"; exit 1; }
grep -q " via ch[a-z0-9]*: hello-hidden$" "$dir/out3" ||
  { echo "node 3 did not get the text through a relay:"; cat "$dir/out3"; exit 1; }

# A key no node has: exit 1 (not found), not a hang and not a usage error.
nobody=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
rc=0
timeout 30 "$CHORUS" dht send --bootstrap "$second" --timeout 5 "$nobody" x >"$dir/none" 2>&1 || rc=$?
[ "$rc" = 1 ] || { echo "send to an unknown key: exit $rc"; cat "$dir/none"; exit 1; }
echo "dht send ok (listening $listening, initiate-only $hidden)"
