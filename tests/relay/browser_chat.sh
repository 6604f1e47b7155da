#!/usr/bin/env bash
# The relay chat page (GET /) in a real browser: two chorus-relay nodes (B
# bootstraps to A), a headless Chromium page on each, one channel with a
# password (tests/relay/browser/chat_pages.mjs, playwright-core pinned in
# tests/relay/browser/package-lock.json).
#
#   browser_chat.sh path/to/chorus-relay
set -uo pipefail
RELAY=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
logs() {
  for n in a b; do
    [ -s "$dir/$n.err" ] || continue
    echo "--- node $n stderr (last 30 lines)"
    tail -n 30 "$dir/$n.err"
  done
}
fail() {
  echo "FAIL: $*"
  logs
  exit 1
}

command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (scripts/deps.sh installs them)"
# The real binary: /usr/bin/chromium is Debian's launcher script.
chromium=${CHROMIUM:-/usr/lib/chromium/chromium}
[ -x "$chromium" ] || fail "no Chromium at $chromium (scripts/deps.sh installs the chromium package; or set CHROMIUM)"
[ -x "$RELAY" ] || fail "no chorus-relay at '$RELAY'"

cp "$here/browser/package.json" "$here/browser/package-lock.json" "$here/browser/chat_pages.mjs" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --silent) || fail "npm ci (playwright-core)"

# Starts a node; its stdout goes to $dir/NAME.out.
start() {
  local name=$1
  shift
  "$RELAY" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --name "browser-$name" "$@" >"$dir/$name.out" 2>"$dir/$name.err" &
  pids+=($!)
}
# Waits (bounded) for the node's "ws" line, the last one it prints when ready.
ready() {
  local name=$1
  for _ in $(seq 1 100); do
    grep -q '^ws ' "$dir/$name.out" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  fail "node $name printed no ready lines within 10 s: $(cat "$dir/$name.out")"
}
field() { sed -n "s/^$2 //p" "$dir/$1.out"; }

start a
ready a
listen_a=$(field a listen)
ws_a=$(field a ws)
start b --bootstrap "$listen_a"
ready b
ws_b=$(field b ws)
[ -n "$listen_a" ] && [ -n "$ws_a" ] && [ -n "$ws_b" ] || fail "bad ready lines: a: $(cat "$dir/a.out") b: $(cat "$dir/b.out")"

for ws in "$ws_a" "$ws_b"; do
  ok=""
  for _ in $(seq 1 100); do
    curl -fs --max-time 2 -o /dev/null "http://$ws/health" && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || fail "GET http://$ws/health did not answer within 10 s"
done

# Messages cross from A to B only once B has its overlay peer.
ok=""
for _ in $(seq 1 150); do
  h=$(curl -fs --max-time 2 "http://$ws_b/health") && [[ $h != *"no peers"* ]] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "node b has no peers after 15 s (GET /health: ${h:-no answer})"

# The mjs prints its own FAIL: line.
(cd "$dir" && CHROMIUM="$chromium" timeout 120 node chat_pages.mjs "$ws_a" "$ws_b")
rc=$?
if [ "$rc" -ne 0 ]; then
  [ "$rc" -eq 124 ] && echo "FAIL: chat_pages.mjs timed out after 120 s"
  logs
  exit 1
fi
