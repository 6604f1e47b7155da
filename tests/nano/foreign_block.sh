#!/usr/bin/env bash
# A block made by another NANO tool (nanocurrency-js from npm, pinned in
# tests/nano/js/package-lock.json) through a real chorus-nano node's RPC.
set -uo pipefail
NANO=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "FAIL: node and npm are needed (scripts/deps.sh installs them)"; exit 1; }
cp "$here/js/package.json" "$here/js/package-lock.json" "$here/js/foreign_block.mjs" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --silent) || { echo "FAIL: npm ci"; exit 1; }

"$NANO" node --data "$dir/d" --rpc 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q '^rpc ' "$dir/out" && break; sleep 0.1; done
rpc=$(sed -n 's/^rpc //p' "$dir/out")
[ -n "$rpc" ] || { echo "FAIL: the node printed no rpc line"; cat "$dir/err"; exit 1; }
(cd "$dir" && timeout 60 node foreign_block.mjs "$rpc")
