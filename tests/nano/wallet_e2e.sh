#!/usr/bin/env bash
# A real wallet end to end: nano-wallet-js (npm, pinned in
# tests/nano/wallet/package-lock.json) sends and receives between accounts
# through a real chorus-nano node's RPC on the dev network (LMDB in a temp
# directory). The node votes with the dev genesis key when it has
# elections (--rep-key), so that it confirms the blocks on its own; the
# wallet waits, bounded, for each send to show as receivable.
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
fail() { echo "FAIL: $*"; [ -f "$dir/err" ] && tail -5 "$dir/err"; exit 1; }

source "$here/../wait_for_line.sh"

command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (scripts/deps.sh installs them)"
cp "$here/wallet/package.json" "$here/wallet/package-lock.json" "$here/wallet/wallet_e2e.mjs" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --silent) || fail "npm ci"

# The dev genesis key (dev_genesis_private_key(), nano_app/src/network.cc),
# in a file only its owner reads, for a node that confirms by voting.
(umask 077 && printf '%s\n' 34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4 \
  >"$dir/genesis.key")

"$NANO" node --data "$dir/d" --rpc 127.0.0.1:0 --rep-key "$dir/genesis.key" >"$dir/out" 2>"$dir/err" &
pid=$!
wait_for_line "$dir/out" '^rpc ' || fail "the node printed no rpc line"
rpc=$(sed -n 's/^rpc //p' "$dir/out")
(cd "$dir" && timeout 240 node wallet_e2e.mjs "$rpc") || fail "wallet end to end"
kill -0 "$pid" 2>/dev/null || fail "the node is gone"
