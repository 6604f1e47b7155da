#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then configures, builds and
# runs a project outside the tree against it (find_package and pkg-config).
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail
build_dir=$1
consumer_src=$2

work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build_dir" --prefix "$prefix"

# pkg-config: chorus.pc resolves (with its Requires) from the temporary prefix.
pc_dir=$(dirname "$(find "$prefix" -name chorus.pc -print -quit)")
PKG_CONFIG_PATH=$pc_dir pkg-config --exists --print-errors chorus
# The same consumer, built by hand from chorus.pc alone: against the shared
# libraries (what -lchorus_* picks when both are there), and fully from the
# static ones (--static adds their private dependencies).
read -r -a pc_flags <<<"$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs chorus)"
"${CXX:-c++}" -std=c++20 -o "$work/app-pc" "$consumer_src/main.cc" "${pc_flags[@]}"
read -r -a pc_static <<<"$(PKG_CONFIG_PATH=$pc_dir pkg-config --static --cflags --libs chorus)"
"${CXX:-c++}" -std=c++20 -o "$work/app-pc-static" "$consumer_src/main.cc" \
  $(printf '%s\n' "${pc_static[@]}" | grep -v '^-lchorus_') \
  -Wl,-Bstatic $(printf '%s\n' "${pc_static[@]}" | grep '^-lchorus_') -Wl,-Bdynamic \
  $(printf '%s\n' "${pc_static[@]}" | grep '^-l' | grep -v '^-lchorus_')
if ldd "$work/app-pc-static" | grep -q libchorus_; then
  echo "FAIL: app-pc-static links a shared libchorus" >&2
  exit 1
fi
test -x "$prefix/bin/chorus" && test -x "$prefix/bin/chorus-nano" && test -x "$prefix/bin/chorus-relay"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$consumer_src" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/build"
"$work/build/app"
LD_LIBRARY_PATH=$(PKG_CONFIG_PATH=$pc_dir pkg-config --variable=libdir chorus) "$work/app-pc"
"$work/app-pc-static"
