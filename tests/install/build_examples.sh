#!/usr/bin/env bash
# Configures and builds examples/ as projects outside the tree against an
# installed Chorus, and checks find_package took it from that prefix (not
# from the build tree or a package registry).
# Usage: build_examples.sh [--install BUILD_DIR] PREFIX EXAMPLES_SRC OUT_DIR [EXAMPLE...]
set -euo pipefail
if [ "$1" = "--install" ]; then
  build_dir=$2
  shift 2
else
  build_dir=""
fi
prefix=$1 examples_src=$2 out=$3
shift 3
examples=("$@")
[ "${#examples[@]}" -gt 0 ] || examples=(chat notebook rpc)

rm -rf "$out"
mkdir -p "$out"
prefix=$(realpath -m "$prefix")
if [ -n "$build_dir" ]; then
  cmake --install "$build_dir" --prefix "$prefix" >"$out/install.log"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
for ex in "${examples[@]}"; do
  cmake -S "$examples_src/$ex" -B "$out/$ex" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" >"$out/$ex.configure.log"
  chorus_dir=$(sed -n 's/^Chorus_DIR:PATH=//p' "$out/$ex/CMakeCache.txt")
  case "$chorus_dir" in
    "$prefix"/*) ;;
    *) echo "FAIL: $ex found Chorus in '$chorus_dir', not under $prefix" >&2; exit 1 ;;
  esac
  cmake --build "$out/$ex"
done
echo "built ${examples[*]} against $prefix"
