#!/usr/bin/env bash
# chorus-relay as an operator runs it: one node from flags, one from a TOML
# config that joins it, both asked for GET /health with curl until the
# second has a peer; SIGTERM stops each within 1 s with exit 0; bad configs
# and flags are refused with a message and exit 2, nothing on stdout.
set -uo pipefail
RELAY=$1
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.err; do [ -f "$f" ] && tail -5 "$f"; done; exit 1; }

source "$(dirname "$0")/../wait_for_line.sh"
health() { curl -s --max-time 5 "http://$1/health"; }

"$RELAY" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --name alpha >"$dir/a.out" 2>"$dir/a.err" &
pids+=($!)
wait_for_line "$dir/a.out" '^ws ' || fail "no ws line from alpha"
grep -q '^name alpha$' "$dir/a.out" || fail "no name line"
a_listen=$(sed -n 's/^listen //p' "$dir/a.out")
a_ws=$(sed -n 's/^ws //p' "$dir/a.out")
[ "$(health "$a_ws")" = '{"healthy":"good","reason":"healthy"}' ] ||
  fail "alone, no peers configured: $(health "$a_ws")"

cat >"$dir/b.toml" <<TOML
name = "beta"
listen = "127.0.0.1:0"
ws = "127.0.0.1:0"
bootstrap = ["$a_listen"]
max_clients = 100
client_rate = 50.0
TOML
"$RELAY" --config "$dir/b.toml" >"$dir/b.out" 2>"$dir/b.err" &
pids+=($!)
wait_for_line "$dir/b.out" '^ws ' || fail "no ws line from beta"
b_ws=$(sed -n 's/^ws //p' "$dir/b.out")
good=""
for _ in $(seq 1 100); do
  [ "$(health "$b_ws")" = '{"healthy":"good","reason":"healthy"}' ] && { good=1; break; }
  sleep 0.1
done
[ -n "$good" ] || fail "beta never joined alpha: $(health "$b_ws")"
# Whole bodies into variables: with pipefail, `curl | grep -q` fails when
# grep stops reading before curl has written everything (SIGPIPE).
page=$(curl -s --max-time 5 "http://$b_ws/")
grep -q '<title>' <<<"$page" || fail "GET / is not the chat page"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$b_ws/nothing")" = 404 ] || fail "404"

for i in 1 0; do
  start=$(date +%s%N)
  kill -TERM "${pids[$i]}"
  wait "${pids[$i]}"
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$rc" -eq 0 ] || fail "exit code $rc after SIGTERM"
  [ "$ms" -le 1000 ] || fail "took $ms ms to stop"
  echo "stopped in ${ms} ms"
done
pids=()

# TLS on the ws address: https for /health, with a certificate made here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -days 1 -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null || fail "openssl req"
"$RELAY" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" \
  >"$dir/t.out" 2>"$dir/t.err" &
pids+=($!)
wait_for_line "$dir/t.out" '^ws ' || fail "no ws line from the TLS node"
t_ws=$(sed -n 's/^ws //p' "$dir/t.out")
[ "$(curl -s --max-time 5 --cacert "$dir/cert.pem" "https://$t_ws/health")" = \
  '{"healthy":"good","reason":"healthy"}' ] || fail "https /health"
plain=$(curl -s --max-time 5 "http://$t_ws/health")
grep -q healthy <<<"$plain" && fail "plain http on the TLS port"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "TLS node exit code"
pids=()

refused() {  # $1 message to expect on stderr; the rest: arguments
  local want=$1
  shift
  "$RELAY" "$@" >"$dir/r.out" 2>"$dir/r.err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, want 2"
  [ -s "$dir/r.out" ] && fail "'$*' wrote to stdout"
  grep -qF -- "$want" "$dir/r.err" || fail "'$*': want '$want', got: $(cat "$dir/r.err")"
}
printf 'listen = 5\n' >"$dir/bad.toml"
refused "listen: want a string" --config "$dir/bad.toml"
printf 'lisen = "127.0.0.1:0"\n' >"$dir/typo.toml"
refused "unknown key 'lisen'" --config "$dir/typo.toml"
printf 'name = "x\n' >"$dir/broken.toml"
refused "broken.toml:1" --config "$dir/broken.toml"
refused "cannot read" --config "$dir/missing.toml"
refused "--ws: required" --listen 127.0.0.1:0
refused "--listen" --listen nowhere --ws 127.0.0.1:0
refused "give both or neither" --listen 127.0.0.1:0 --ws 127.0.0.1:0 --tls-cert "$dir/cert.pem"
echo "ok: two nodes, health, chat page, SIGTERM, TLS, bad configs"
