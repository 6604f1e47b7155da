#!/usr/bin/env bash
# chorus-nano node and ledger, as an operator uses them: a node with an LMDB
# directory, its RPC asked with curl, a block made and signed by the CLI and
# processed through the RPC, SIGTERM (stopped within 1 s, exit 0), then the
# ledger read offline and checked; bad configs and missing ledgers refused.
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
MAX=340282366920938463463374607431768211455
AFTER=340282366920938463463374607431768210455  # MAX - 1000

# A representative's key as key_create prints it; not readable by others.
echo "$GENESIS_PRV" >"$dir/rep.key"
chmod 0644 "$dir/rep.key"
"$NANO" node --data "$dir/d" --rep-key "$dir/rep.key" >"$dir/out" 2>"$dir/err"
[ $? -eq 2 ] && grep -q -- '--rep-key' "$dir/err" || fail "a key file others can read is refused"
chmod 0600 "$dir/rep.key"

"$NANO" node --data "$dir/d" --listen 127.0.0.1:0 --rpc 127.0.0.1:0 --rep-key "$dir/rep.key" \
  >"$dir/out" 2>"$dir/err" &
pid=$!
wait_for_line "$dir/out" '^rpc ' || fail "no rpc line"
grep -q "^representative $GENESIS_ACC\$" "$dir/out" || fail "no representative line"
grep -q '^listen 127.0.0.1:' "$dir/out" || fail "no listen line"
rpc=$(sed -n 's/^rpc //p' "$dir/out")
ask() { curl -s --max-time 10 -d "$1" "http://$rpc/"; }

ask '{"action":"version"}' | grep -q '"network":"dev"' || fail "version"
ask '{"action":"block_count"}' | grep -q '"count":"1"' || fail "block_count on a new ledger"
[ "$(ask '{"action":"nonsense"}')" = '{"error":"Unknown command"}' ] || fail "unknown action"
[ "$(ask 'not json')" = '{"error":"Unable to parse JSON"}' ] || fail "malformed body"

# A genesis send, its work and signature made by the CLI.
work=$("$NANO" work generate --root $GENESIS_HASH --difficulty ffc0000000000000 |
  sed 's/.*"work":"\([0-9a-f]*\)".*/\1/')
unsigned='{"type":"state","account":"'$GENESIS_ACC'","previous":"'$GENESIS_HASH'","representative":"'$GENESIS_ACC'","balance":"'$AFTER'","link":"'$DEST'","work":"'$work'"}'
signed=$(printf '%s' "$unsigned" | "$NANO" block sign --private $GENESIS_PRV) || fail "block sign"
hash=$(printf '%s' "$signed" | sed 's/.*"hash":"\([0-9A-F]*\)".*/\1/')
answer=$(ask '{"action":"process","json_block":"true","subtype":"send","block":'"$signed"'}')
[ "$answer" = '{"hash":"'$hash'"}' ] || fail "process: $answer"
ask '{"action":"process","json_block":true,"block":'"$signed"'}' | grep -q '"Old block"' ||
  fail "the same block again is old"
# The genesis representative holds all the weight: its votes confirm it
# (asked every 50 ms, for at most 10 s).
count=""
for _ in $(seq 1 200); do
  count=$(ask '{"action":"block_count"}')
  case "$count" in *'"cemented":"2"'*) break ;; esac
  sleep 0.05
done
case "$count" in *'"cemented":"2"'*) ;; *) fail "the send was not cemented: $count" ;; esac
ask '{"action":"block_info","hash":"'$hash'"}' | grep -q '"confirmed":"true"' ||
  fail "block_info says confirmed"
ask '{"action":"account_balance","account":"'$DEST'"}' | grep -q '"receivable":"1000"' ||
  fail "receivable of the destination"

start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
pid=""
[ "$rc" -eq 0 ] || fail "node exit code $rc after SIGTERM"
[ "$ms" -le 1000 ] || fail "node took $ms ms to stop"

"$NANO" ledger check --data "$dir/d" | grep -q '"ok":true,"accounts":1,"blocks":2,"pending":1' ||
  fail "ledger check"
"$NANO" ledger account --data "$dir/d" --account $GENESIS_ACC | grep -q '"balance":"'$AFTER'"' ||
  fail "ledger account"
"$NANO" ledger block --data "$dir/d" --hash "$hash" | grep -q '"subtype":"send"' ||
  fail "ledger block"
"$NANO" ledger frontiers --data "$dir/d" | grep -q "\"$GENESIS_ACC\":\"$hash\"" ||
  fail "ledger frontiers"

# Refusals: no ledger, wrong network, bad config; nothing on stdout.
mkdir "$dir/empty"
"$NANO" ledger check --data "$dir/empty" >"$dir/o2" 2>"$dir/e2" && fail "check of no ledger"
[ -s "$dir/o2" ] && fail "stdout on error"
[ -e "$dir/empty/data.mdb" ] && fail "reading created a ledger"
"$NANO" ledger check --data "$dir/d" --network live >/dev/null 2>&1 && fail "dev ledger read as live"
printf 'network = "dev"\nlisten = 5\n' >"$dir/bad.toml"
"$NANO" node --config "$dir/bad.toml" --data "$dir/d" >/dev/null 2>"$dir/e3" && fail "bad config ran"
grep -q "listen: want a string" "$dir/e3" || fail "bad config message: $(cat "$dir/e3")"
printf 'netwrok = "dev"\n' >"$dir/typo.toml"
"$NANO" node --config "$dir/typo.toml" --data "$dir/d" >/dev/null 2>"$dir/e4" && fail "typo ran"
grep -q "unknown key 'netwrok'" "$dir/e4" || fail "typo message"
echo "ok: node, rpc, process, stop in ${ms} ms, ledger check"
