#!/usr/bin/env bash
# chorus-nano's contract: a good command prints exactly one JSON object on
# stdout and exits 0; a bad one exits non-zero, prints a message on stderr
# and nothing on stdout. Known vectors are the live genesis block and the
# zero seed's first key.
set -uo pipefail
NANO=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

GENESIS_PUB=E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA
GENESIS_ACC=nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3
GENESIS_XRB=xrb_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3
GENESIS_SIG=9F0C933C8ADE004D808EA1985FA746A7E95BA2A38F867640F53EC8F180BDFE9E2C1268DEAD7C2664F356E37ABA362BC58E46DBA03E523A7B5A19E4B6EB12BB02
GENESIS='{"type":"open","source":"'$GENESIS_PUB'","representative":"'$GENESIS_XRB'","account":"'$GENESIS_XRB'","work":"62f05417dd3fb691","signature":"'$GENESIS_SIG'"}'
ZERO=0000000000000000000000000000000000000000000000000000000000000000
PRV0=9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F
ACC0=nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7

# ok <expected stdout> <stdin> <args...>
ok() {
  local want=$1 input=$2; shift 2
  local rc=0
  printf '%s' "$input" | "$NANO" "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  local got
  got=$(cat "$dir/out")
  if [ "$rc" -ne 0 ] || [ "$got" != "$want" ] || [ "$(wc -l <"$dir/out")" -ne 1 ]; then
    echo "FAIL: $* -> rc=$rc"; echo "  want: $want"; echo "  got:  $got"; cat "$dir/err"; fail=1
  fi
}

# bad <stdin> <args...>
bad() {
  local input=$1; shift
  local rc=0
  printf '%s' "$input" | "$NANO" "$@" >"$dir/out" 2>"$dir/err" || rc=$?
  if [ "$rc" -eq 0 ] || [ -s "$dir/out" ] || [ ! -s "$dir/err" ]; then
    echo "FAIL (bad input accepted or contract broken): $* -> rc=$rc"; cat "$dir/out"; fail=1
  fi
}

ok '{"private":"'$PRV0'","public":"C008B814A7D269A1FA3C6528B19201A24D797912DB9996FF02A1FF356E45552B","account":"'$ACC0'"}' \
  '' key --seed $ZERO --index 0
ok '{"account":"'$GENESIS_ACC'"}' '' account --public $GENESIS_PUB
ok '{"account":"'$GENESIS_ACC'"}' '' account --public "$(echo $GENESIS_PUB | tr A-F a-f)"
ok '{"public":"'$GENESIS_PUB'"}' '' account --account $GENESIS_ACC
ok '{"public":"'$GENESIS_PUB'"}' '' account --account $GENESIS_XRB
ok '{"hash":"991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948"}' "$GENESIS" block hash
ok '{"valid":true}' "$GENESIS" block verify
ok '{"valid":false}' "${GENESIS/9F0C933C/9F0C933D}" block verify
ok '{"valid":true,"difficulty":"fffffff4000d3dac"}' '' \
  work validate --root $GENESIS_PUB --work 62f05417dd3fb691 --difficulty ffffffc000000000
ok '{"valid":false,"difficulty":"fffffff4000d3dac"}' '' \
  work validate --root $GENESIS_PUB --work 62f05417dd3fb691 --difficulty fffffff800000000

# The state block of the node RPC documentation (block_info example).
DOCS='{"type":"state","account":"nano_1ipx847tk8o46pwxt5qjdbncjqcbwcc1rrmqnkztrfjy5k7z4imsrata9est","previous":"CE898C131AAEE25E05362F247760F8A3ACF34A9796A5AE0D9204E86B0637965E","representative":"nano_1stofnrxuz3cai7ze75o174bpm7scwj9jn3nxsn8ntzg784jf1gzn1jjdkou","balance":"5606157000000000000000000000000000000","link":"5D1AA8A45F8736519D707FCB375976A7F9AF795091021D7E9C7548D6F45DD8D5","signature":"82D41BC16F313E4B2243D14DFFA2FB04679C540C2095FEE7EAE0F2F26880AD56DD48D87A7CC5DD760C5B2D76EE2C205506AA557BF00B60D8DEE312EC7343A501","work":"8a142e07a10996d5"}'
ok '{"hash":"87434F8041869A01C8F6F263B87972D7BA443A72E0A97D7A3FD0CCC2358FD6F9"}' "$DOCS" block hash
ok '{"valid":true}' "$DOCS" block verify

# A state block signed by the zero seed's key verifies; changed, it does not.
STATE='{"type":"state","account":"'$ACC0'","previous":"991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948","representative":"'$GENESIS_ACC'","balance":"1000000000000000000000000000000","link":"'$GENESIS_PUB'"}'
"$NANO" block sign --private $PRV0 <<<"$STATE" >"$dir/signed" || { echo "FAIL: sign"; fail=1; }
ok '{"valid":true}' "$(cat "$dir/signed")" block verify
ok '{"valid":false}' "$(sed 's/"balance":"1000000000000000000000000000000"/"balance":"1000000000000000000000000000001"/' "$dir/signed")" block verify
grep -q '"hash":"' "$dir/signed" || { echo "FAIL: signed block has no hash"; fail=1; }

# Work generation meets the difficulty asked for, on 1 and 2 threads.
for t in 1 2; do
  w=$("$NANO" work generate --root $GENESIS_PUB --difficulty fff0000000000000 --threads $t |
      sed -n 's/^{"work":"\([0-9a-f]\{16\}\)"}$/\1/p')
  [ -n "$w" ] || { echo "FAIL: work generate --threads $t"; fail=1; continue; }
  "$NANO" work validate --root $GENESIS_PUB --work "$w" --difficulty fff0000000000000 |
    grep -q '^{"valid":true,"difficulty":"fff' || { echo "FAIL: generated work $w invalid"; fail=1; }
done

# Bad input: lengths, hex, checksums, ranges, missing fields, empty input.
bad '' key --seed 00 --index 0
bad '' key --seed ${ZERO}00 --index 0
bad '' key --seed ${ZERO:1}g --index 0
bad '' key --seed $ZERO --index -1
bad '' key --seed $ZERO --index 4294967296
bad '' key --seed $ZERO --index 1x
bad '' key --seed $ZERO
bad '' account
bad '' account --public $GENESIS_PUB --account $GENESIS_ACC
bad '' account --public ${GENESIS_PUB:2}
bad '' account --account ${GENESIS_ACC%3}4
bad '' account --account ban_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3
bad '' block hash
bad 'not json' block hash
bad '[]' block hash
bad '{"type":"state"}' block hash
bad "${STATE/1000000000000000000000000000000/340282366920938463463374607431768211456}" block hash
bad "${STATE/1000000000000000000000000000000/-1}" block hash
bad "${STATE/1000000000000000000000000000000/12abc}" block hash
bad "$STATE" block verify
bad "$STATE" block sign --private 00
bad "$STATE" block sign
bad "${GENESIS/open/bogus}" block hash
bad '' work validate --root $GENESIS_PUB --work 62f05417dd3fb69 --difficulty ffffffc000000000
bad '' work validate --root $GENESIS_PUB --work 62f05417dd3fb691 --difficulty xfffffc000000000
bad '' work validate --root 00 --work 62f05417dd3fb691 --difficulty ffffffc000000000
bad '' work generate --root $GENESIS_PUB --difficulty fff0000000000000 --threads 0
bad '' work generate --root $GENESIS_PUB
bad '' work generate --root $GENESIS_PUB --difficulty ffffffffffffffff --timeout 0.5
bad '' nonsense
bad ''

# 50 MB on stdin is refused without reading it all.
rc=0
head -c 50000000 /dev/zero | tr '\0' ' ' | "$NANO" block hash >"$dir/out" 2>"$dir/err" || rc=$?
if [ "$rc" -eq 0 ] || [ -s "$dir/out" ] || ! grep -q 'more than' "$dir/err"; then
  echo "FAIL: 50 MB input"; fail=1
fi

[ "$fail" -eq 0 ] && echo "chorus-nano contract ok"
exit "$fail"
