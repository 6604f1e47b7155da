#!/usr/bin/env bash
# Runs a Node.js client from tests/nano/js (other NANO tools and clients
# from npm, pinned in tests/nano/js/package-lock.json) against a real
# chorus-nano node (LMDB in a temporary directory) with its RPC and
# WebSocket API on loopback.
#
# Usage: js_client.sh CHORUS_NANO SCRIPT.mjs [--genesis-rep]
#   --genesis-rep: the node votes with the dev genesis key, so it confirms
#   blocks on its own.
# The script gets the RPC and WebSocket addresses as its arguments.
set -uo pipefail
NANO=$1
script=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$dir/err" ] && tail -5 "$dir/err"; exit 1; }
source "$here/../wait_for_line.sh"

command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (scripts/deps.sh installs them)"
cp "$here/js/package.json" "$here/js/package-lock.json" "$here/js/$script" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --silent) || fail "npm ci"

args=(--data "$dir/d" --rpc 127.0.0.1:0 --websocket 127.0.0.1:0)
if [ "${3:-}" = "--genesis-rep" ]; then
  # The dev genesis key (dev_genesis_private_key(), nano_app/src/network.cc),
  # in a file only its owner reads.
  (umask 077 && printf '%s\n' 34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4 \
    >"$dir/genesis.key")
  args+=(--rep-key "$dir/genesis.key")
fi
"$NANO" node "${args[@]}" >"$dir/out" 2>"$dir/err" &
pid=$!
wait_for_line "$dir/out" '^websocket ' || fail "the node printed no websocket line"
rpc=$(sed -n 's/^rpc //p' "$dir/out")
ws=$(sed -n 's/^websocket //p' "$dir/out")
(cd "$dir" && timeout 240 node "$script" "$rpc" "$ws") || fail "$script"
kill -0 "$pid" 2>/dev/null || fail "the node is gone"
