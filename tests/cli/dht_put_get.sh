#!/usr/bin/env bash
# Three `chorus node --dht` processes on loopback (ephemeral ports); a value
# put through one node is read back through another with `chorus dht`.
set -euo pipefail
CHORUS=$1
source "$(dirname "$0")/node_lib.sh"

start_node 0 --listen 127.0.0.1:0
first=$dht_addr
start_node 1 --listen 127.0.0.1:0 --bootstrap "$first"
second=$dht_addr
start_node 2 --listen 127.0.0.1:0 --bootstrap "$first"
third=$dht_addr

value="hello-$RANDOM"
timeout 30 "$CHORUS" dht put --bootstrap "$second" --timeout 10 cli/key "$value" --json \
  >"$dir/put" || { echo "put failed:"; cat "$dir/put"; exit 1; }
grep -q '"ok":true' "$dir/put" || { echo "put not ok:"; cat "$dir/put"; exit 1; }
timeout 30 "$CHORUS" dht get --bootstrap "$third" --timeout 10 cli/key >"$dir/get" ||
  { echo "get failed:"; cat "$dir/get"; exit 1; }
grep -qx "$value" "$dir/get" || { echo "get returned:"; cat "$dir/get"; exit 1; }
timeout 30 "$CHORUS" dht get --bootstrap "$first" --timeout 10 cli/key --json >"$dir/getj"
grep -q "\"values\":\[\"$value\"\]" "$dir/getj" || { echo "get --json returned:"; cat "$dir/getj"; exit 1; }
# A key nobody stored: exit 1, not a hang.
if timeout 30 "$CHORUS" dht get --bootstrap "$first" --timeout 10 cli/none >/dev/null 2>&1; then
  echo "get of a missing key succeeded"; exit 1
fi
echo "dht put/get ok ($value via $second, read via $third)"
