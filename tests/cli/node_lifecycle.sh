#!/usr/bin/env bash
# `chorus node` creates its key file with mode 0600, keeps the same address
# across restarts, and exits 0 on SIGTERM and on SIGINT.
set -euo pipefail
CHORUS=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run_until_address() {  # $1: signal to stop with; prints the address
  "$CHORUS" node --listen 127.0.0.1:0 --key "$dir/node.key" >"$dir/out" 2>"$dir/err" &
  local pid=$!
  for _ in $(seq 1 100); do  # bounded: 10 s
    grep -q '^address ' "$dir/out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^address ' "$dir/out" || { echo "node printed no address"; cat "$dir/err"; exit 1; }
  kill -"$1" "$pid"
  local rc=0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then echo "node did not stop on $1"; kill -9 "$pid"; exit 1; fi
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || { echo "node exited $rc on $1"; cat "$dir/err"; exit 1; }
  sed -n 's/^address //p' "$dir/out"
}

first=$(run_until_address TERM)
mode=$(stat -c %a "$dir/node.key")
[ "$mode" = "600" ] || { echo "key file mode $mode, want 600"; exit 1; }
second=$(run_until_address INT)
[ "$first" = "$second" ] || { echo "address changed across restart: $first vs $second"; exit 1; }

chmod 644 "$dir/node.key"
if "$CHORUS" node --listen 127.0.0.1:0 --key "$dir/node.key" >/dev/null 2>"$dir/err"; then
  echo "node accepted a world-readable key file"; exit 1
fi
grep -q 'readable by group or others' "$dir/err" || { echo "no reason given:"; cat "$dir/err"; exit 1; }
echo "node lifecycle ok ($first)"
