#!/usr/bin/env bash
# The IPC (spec/ipc.md) of a real chorus-nano node through the chorus-nano
# ipc client: a genesis send made by the CLI and processed over IPC, then,
# over the Unix socket and loopback TCP alike, account_info, block_info,
# work_generate/validate, peers, telemetry, representatives_online; errors
# (an unknown account, a bad request, no node there) on stderr with a
# non-zero exit; then `stop` ends the node.
set -uo pipefail
NANO=$1
dir=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$dir/err" ] && tail -5 "$dir/err"; exit 1; }

source "$(dirname "$0")/../wait_for_line.sh"

GENESIS_PRV=34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4
GENESIS_HASH=04270D7F11C4B2B472F2854C5A59F2A7E84226CE9ED799DE75744BD7D85FC9D9
GENESIS_ACC=nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo
DEST=nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7
AFTER=340282366920938463463374607431768210455  # MAX - 1000
(umask 077 && echo "$GENESIS_PRV" >"$dir/genesis.key")

# A file that is no socket is not the node's to take; a socket left by a
# process that died (bound, never unlinked) is replaced.
touch "$dir/ipc.sock"
"$NANO" node --data "$dir/d0" --ipc-socket "$dir/ipc.sock" >/dev/null 2>"$dir/e" &&
  fail "a node took a plain file as its socket"
grep -q "is not a socket" "$dir/e" || fail "plain file: $(cat "$dir/e")"
rm "$dir/ipc.sock"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$dir/ipc.sock"
[ -S "$dir/ipc.sock" ] || fail "no stale socket made"

"$NANO" node --data "$dir/d" --rpc 127.0.0.1:0 --ipc-socket "$dir/ipc.sock" \
  --ipc-tcp 127.0.0.1:0 --rep-key "$dir/genesis.key" >"$dir/out" 2>"$dir/err" &
pid=$!
wait_for_line "$dir/out" '^rpc ' || fail "no rpc line"
grep -q "^ipc-socket $dir/ipc.sock\$" "$dir/out" || fail "no ipc-socket line: $(cat "$dir/out")"
grep -q '^ipc-tcp 127.0.0.1:[1-9]' "$dir/out" || fail "no ipc-tcp line"
tcp=$(sed -n 's/^ipc-tcp //p' "$dir/out")
[ "$(stat -c %a "$dir/ipc.sock")" = 600 ] || fail "the socket is not mode 0600"

# A genesis send, its work and signature made by the CLI, processed over
# IPC; the node votes with the genesis key and so confirms it by itself
# (asked every 50 ms, for at most 10 s).
work=$("$NANO" work generate --root $GENESIS_HASH --difficulty ffc0000000000000 |
  sed 's/.*"work":"\([0-9a-f]*\)".*/\1/')
unsigned='{"type":"state","account":"'$GENESIS_ACC'","previous":"'$GENESIS_HASH'","representative":"'$GENESIS_ACC'","balance":"'$AFTER'","link":"'$DEST'","work":"'$work'"}'
signed=$(printf '%s' "$unsigned" | "$NANO" block sign --private $GENESIS_PRV) || fail "block sign"
hash=$(printf '%s' "$signed" | sed 's/.*"hash":"\([0-9A-F]*\)".*/\1/')
block=$(printf '%s' "$signed" | sed 's/,"hash":"[0-9A-F]*"//')  # Block has no hash field
out=$("$NANO" ipc process --args '{"block":'"$block"',"subtype":"send"}' --socket "$dir/ipc.sock") ||
  fail "process"
[ "$out" = '{"hash":"'$hash'","started":false}' ] || fail "process: $out"
"$NANO" ipc process --args '{"block":'"$block"'}' --socket "$dir/ipc.sock" 2>"$dir/e" &&
  fail "the same block twice"
grep -q 'ERROR_CODE_REQUEST_FAILED: Old block' "$dir/e" || fail "old block: $(cat "$dir/e")"
out=""
for _ in $(seq 1 200); do
  out=$("$NANO" ipc block_info --args '{"hash":"'$hash'"}' --socket "$dir/ipc.sock")
  case "$out" in *'"confirmed":true'*) break ;; esac
  sleep 0.05
done
case "$out" in *'"confirmed":true'*'"subtype":"send"'*) ;; *) fail "not confirmed: $out" ;; esac

for via in "--socket $dir/ipc.sock" "--tcp $tcp"; do
  # shellcheck disable=SC2086  # $via is two words on purpose
  ipc() { "$NANO" ipc "$@" $via; }
  out=$(ipc account_info --args '{"account":"'$GENESIS_ACC'","representative":true}') ||
    fail "account_info ($via)"
  case "$out" in *'"frontier":"'$hash'","open_block":"'$GENESIS_HASH'"'*'"balance":"'$AFTER'"'*) ;;
    *) fail "account_info ($via): $out" ;; esac
  case "$out" in *'"block_count":"2"'*'"representative":"'$GENESIS_ACC'"'*) ;;
    *) fail "account_info fields ($via): $out" ;; esac

  out=$(ipc block_info --args '{"hash":"'$GENESIS_HASH'"}') || fail "block_info ($via)"
  case "$out" in *'"block_account":"'$GENESIS_ACC'"'*'"confirmed":true'*'"type":"open"'*) ;;
    *) fail "block_info ($via): $out" ;; esac

  out=$(ipc work_generate --args '{"hash":"'$GENESIS_HASH'","difficulty":"ffc0000000000000"}') ||
    fail "work_generate ($via)"
  work=$(printf '%s' "$out" | sed -n 's/.*"work":"\([0-9a-f]\{16\}\)".*/\1/p')
  [ -n "$work" ] || fail "work_generate ($via): $out"
  out=$(ipc work_validate \
    --args '{"hash":"'$GENESIS_HASH'","work":"'$work'","difficulty":"ffc0000000000000"}') ||
    fail "work_validate ($via)"
  case "$out" in *'"valid":true'*) ;; *) fail "work_validate ($via): $out" ;; esac
  out=$(ipc work_validate \
    --args '{"hash":"'$GENESIS_HASH'","work":"'$work'","difficulty":"ffffffffffffffff"}')
  case "$out" in *'"valid":false'*) ;; *) fail "work_validate too hard ($via): $out" ;; esac

  out=$(ipc peers) || fail "peers ($via)"
  [ "$out" = '{"peers":[]}' ] || fail "peers of a node with no network ($via): $out"

  out=$(ipc telemetry) || fail "telemetry ($via)"
  case "$out" in *'"block_count":"2","cemented_count":"2"'*'"genesis_block":"'$GENESIS_HASH'"'*) ;;
    *) fail "telemetry ($via): $out" ;; esac

  # The node voted for the send with the genesis key: it is online.
  out=$(ipc representatives_online --args '{"weight":true}') || fail "representatives_online"
  case "$out" in *'"account":"'$GENESIS_ACC'","weight":"'$AFTER'"'*) ;;
    *) fail "representatives_online ($via): $out" ;; esac

  # Errors: the node's words on stderr, nothing on stdout, exit 1.
  ipc account_info --args '{"account":"nano_1111111111111111111111111111111111111111111111111111hifc8npp"}' \
    >"$dir/o" 2>"$dir/e" && fail "an unknown account answered ($via)"
  [ -s "$dir/o" ] && fail "stdout on error ($via)"
  grep -q 'ERROR_CODE_REQUEST_FAILED: Account not found' "$dir/e" ||
    fail "account not found ($via): $(cat "$dir/e")"
done

# Refused by the client itself: exit 2.
"$NANO" ipc account_info --args '{"acount":"x"}' --socket "$dir/ipc.sock" 2>"$dir/e"
[ $? -eq 2 ] && grep -q -- '--args' "$dir/e" || fail "a misspelt field: $(cat "$dir/e")"
"$NANO" ipc nonsense --socket "$dir/ipc.sock" 2>"$dir/e"
[ $? -eq 2 ] && grep -q "unknown request 'nonsense'" "$dir/e" || fail "unknown request"
"$NANO" ipc telemetry 2>"$dir/e"
[ $? -eq 2 ] || fail "no transport given"
"$NANO" ipc telemetry --socket "$dir/none.sock" 2>"$dir/e" && fail "no node there answered"
grep -q "cannot connect" "$dir/e" || fail "no node there: $(cat "$dir/e")"

# Not IPC at all: the node answers an error and closes, and lives on.
if command -v python3 >/dev/null; then
  python3 - "$dir/ipc.sock" <<'PY' || fail "a bad preamble"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.1\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
assert data[:2] == b"N\x01", data
assert b"not an IPC frame" in data, data
PY
fi
"$NANO" ipc telemetry --socket "$dir/ipc.sock" >/dev/null || fail "the node after a bad client"

# A subscription through the client hears of a second send as it is
# confirmed: one JSON line, then exit 0 (--count 1).
"$NANO" ipc subscribe_confirmations --args '{"accounts":["'$DEST'"]}' --count 1 \
  --timeout 20 --socket "$dir/ipc.sock" >"$dir/events" 2>"$dir/sub.err" &
sub=$!
wait_for_line "$dir/sub.err" 'subscribed' || fail "no subscription: $(cat "$dir/sub.err")"
AFTER2=340282366920938463463374607431768209455  # MAX - 2000
work2=$("$NANO" ipc work_generate --args '{"hash":"'$hash'","difficulty":"ffc0000000000000"}' \
  --socket "$dir/ipc.sock" | sed 's/.*"work":"\([0-9a-f]*\)".*/\1/')
unsigned2='{"type":"state","account":"'$GENESIS_ACC'","previous":"'$hash'","representative":"'$GENESIS_ACC'","balance":"'$AFTER2'","link":"'$DEST'","work":"'$work2'"}'
signed2=$(printf '%s' "$unsigned2" | "$NANO" block sign --private $GENESIS_PRV) || fail "sign 2"
hash2=$(printf '%s' "$signed2" | sed 's/.*"hash":"\([0-9A-F]*\)".*/\1/')
"$NANO" ipc process --args '{"block":'"$(printf '%s' "$signed2" | sed 's/,"hash":"[0-9A-F]*"//')"'}' \
  --tcp "$tcp" >/dev/null || fail "process 2"
wait "$sub" || fail "the subscriber: $(cat "$dir/sub.err")"
[ "$(wc -l <"$dir/events")" -eq 1 ] || fail "events: $(cat "$dir/events")"
case "$(cat "$dir/events")" in
  *'"confirmation":{'*'"account":"'$GENESIS_ACC'","amount":"1000","hash":"'$hash2'"'*) ;;
  *) fail "event: $(cat "$dir/events")" ;;
esac

# A second node may not take the live node's socket, nor listen off
# loopback.
"$NANO" node --data "$dir/d2" --ipc-socket "$dir/ipc.sock" >/dev/null 2>"$dir/e" &&
  fail "a second node took the socket"
grep -q "in use" "$dir/e" || fail "socket in use: $(cat "$dir/e")"
"$NANO" node --data "$dir/d2" --ipc-tcp 0.0.0.0:0 >/dev/null 2>"$dir/e" &&
  fail "IPC off loopback"
grep -q "loopback" "$dir/e" || fail "off loopback: $(cat "$dir/e")"
printf 'ipc_tcp = "0.0.0.0:0"\n' >"$dir/ipc.toml"  # the config key is read too
"$NANO" node --config "$dir/ipc.toml" --data "$dir/d2" >/dev/null 2>"$dir/e" &&
  fail "IPC off loopback from the config"
grep -q "loopback" "$dir/e" || fail "config ipc_tcp: $(cat "$dir/e")"

# stop: answered, then the node ends (exit 0) and removes its socket.
out=$("$NANO" ipc stop --tcp "$tcp") || fail "stop"
[ "$out" = '{}' ] || fail "stop answer: $out"
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the node did not stop within 10 s"
wait "$pid"
rc=$?
pid=""
[ "$rc" -eq 0 ] || fail "node exit code $rc after stop"
[ -e "$dir/ipc.sock" ] && fail "the socket file was left behind"
echo "ok: ipc over the socket and TCP, errors, stop"
