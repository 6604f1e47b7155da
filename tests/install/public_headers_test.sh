#!/usr/bin/env bash
# The installed include tree is the public API and nothing else (issue 12).
#  1. `cmake --install` (component development) into a temporary prefix; the
#     files under include/ must be exactly the ones EXPECTED lists, and none
#     of the ones it marks `!` (internal for good).
#  2. Each installed header compiles on its own, included twice, against the
#     prefix alone: a public header that includes a header that is not
#     installed fails here, and so does one that found a chorus header
#     anywhere but in the prefix (e.g. an older install in /usr/local).
# EXPECTED: one path under include/ per line (chorus/overlay/node.h); `#`
# starts a comment; `!path` names a header that must not be installed.
# Usage: public_headers_test.sh BUILD_DIR EXPECTED CXX
set -euo pipefail
build_dir=$1 expected=$2 cxx=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-headers-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build_dir" --prefix "$prefix" --component development >"$work/install.log" ||
  { cat "$work/install.log" >&2; fail "cmake --install"; }
include=$prefix/include
[ -d "$include" ] || fail "nothing installed under $include"

sed 's/#.*//; s/[[:space:]]*$//; s/^[[:space:]]*//' "$expected" | grep -v '^$' >"$work/entries" || true
grep -v '^!' "$work/entries" | sort >"$work/want"
grep '^!' "$work/entries" | sed 's/^!//' | sort >"$work/never" || true
(cd "$include" && find . -type f -o -type l) | sed 's|^\./||' | sort >"$work/got"

if ! diff -u --label "expected ($expected)" --label "installed ($include)" "$work/want" "$work/got"; then
  fail "the installed headers differ from $(basename "$expected") (- expected, + installed);" \
    "a library's chorus_public_headers() list and that file must agree"
fi
if [ -s "$work/never" ] && comm -12 "$work/never" "$work/got" | grep .; then
  fail "internal headers installed (marked ! in $(basename "$expected"))"
fi

# Standalone compile, two at a time (the machine is shared); -MD records
# every header each one really read.
compile_one() {
  local header=$1 tu
  tu=$work/tu/$(echo "$header" | tr '/.' '__').cc
  mkdir -p "$work/tu"
  printf '#include <%s>\n#include <%s>\n' "$header" "$header" >"$tu"
  if ! "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I"$include" \
      -MD -MF "$tu.d" "$tu" >"$tu.log" 2>&1; then
    echo "FAIL: $header does not compile on its own against the installed headers:" >&2
    sed 's/^/  | /' "$tu.log" | head -n 30 >&2
    return 1
  fi
  # Every chorus header it read must come from the prefix.
  local stray
  stray=$(tr ' \\' '\n\n' <"$tu.d" | grep '/chorus/.*\.h$' | grep -v "^$include/" || true)
  if [ -n "$stray" ]; then
    echo "FAIL: $header read chorus headers from outside the prefix:" >&2
    echo "$stray" | sed 's/^/  | /' >&2
    return 1
  fi
}
export -f compile_one
export work include cxx
grep '\.h$' "$work/got" | xargs -P 2 -I{} bash -c 'compile_one "$1"' _ {} ||
  fail "some installed headers do not stand alone (above)"
echo "$(wc -l <"$work/got") public headers installed, as listed, each compiles alone"
