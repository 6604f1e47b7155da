#!/usr/bin/env bash
# `chorus compress | chorus decompress` restores the input for every method;
# the system tools read `chorus compress` output and vice versa; a bomb and
# garbage make `chorus decompress` exit non-zero with one line on stderr.
set -euo pipefail
CHORUS=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Deterministic input: text with repeats plus some binary.
{ seq 1 20000; head -c 50000 "$CHORUS"; } >"$dir/in"

for m in bz2 gzip lzma zlib snappy; do
  "$CHORUS" compress --method "$m" <"$dir/in" >"$dir/in.$m"
  [ "$(stat -c %s "$dir/in.$m")" -lt "$(stat -c %s "$dir/in")" ] || { echo "$m did not shrink"; exit 1; }
  "$CHORUS" decompress --method "$m" <"$dir/in.$m" | cmp - "$dir/in" || { echo "$m round trip differs"; exit 1; }
  # Empty input round trips too.
  "$CHORUS" compress --method "$m" </dev/null | "$CHORUS" decompress --method "$m" | cmp - /dev/null
done

# Byte compatibility through the CLI.
gzip -d -c <"$dir/in.gzip" | cmp - "$dir/in"
bzip2 -d -c <"$dir/in.bz2" | cmp - "$dir/in"
xz -d -c <"$dir/in.lzma" | cmp - "$dir/in"
gzip -c <"$dir/in" | "$CHORUS" decompress --method gzip | cmp - "$dir/in"
bzip2 -c <"$dir/in" | "$CHORUS" decompress --method bz2 | cmp - "$dir/in"
xz -c <"$dir/in" | "$CHORUS" decompress --method lzma | cmp - "$dir/in"

expect_failure() {  # $1: method, $2: what; stdin: the stream; extra args follow
  local m=$1 what=$2
  shift 2
  if "$CHORUS" decompress --method "$m" "$@" >"$dir/out" 2>"$dir/err"; then
    echo "$m: $what accepted"; exit 1
  fi
  [ "$(wc -l <"$dir/err")" -eq 1 ] || { echo "$m: $what: want one line on stderr:"; cat "$dir/err"; exit 1; }
  grep -q "$m: " "$dir/err" || { echo "$m: $what: message does not name the codec:"; cat "$dir/err"; exit 1; }
}

# A bomb: 100 MB of zeros against a 1000-byte limit.
for m in bz2 gzip lzma zlib snappy; do
  head -c 100000000 /dev/zero | "$CHORUS" compress --method "$m" --level 1 >"$dir/bomb.$m" 2>/dev/null ||
    head -c 100000000 /dev/zero | "$CHORUS" compress --method "$m" >"$dir/bomb.$m"
  expect_failure "$m" "a bomb" --max-size 1000 <"$dir/bomb.$m"
  grep -q "exceeds the limit of 1000 bytes" "$dir/err" || { cat "$dir/err"; exit 1; }
  [ "$(stat -c %s "$dir/out")" -eq 0 ] || { echo "$m: partial output written"; exit 1; }
  # Garbage and truncation.
  echo "not a compressed stream" | expect_failure "$m" "garbage"
  head -c 1000 "$dir/in.$m" | expect_failure "$m" "a truncated stream"
done

# Bad arguments are refused.
if "$CHORUS" compress --method zstd </dev/null >/dev/null 2>&1; then echo "unknown method accepted"; exit 1; fi
if "$CHORUS" compress --method gzip --level 12 </dev/null >/dev/null 2>&1; then echo "bad level accepted"; exit 1; fi
echo "compress cli ok"
