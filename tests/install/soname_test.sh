#!/usr/bin/env bash
# Every shared library is libchorus_<name>.so.VERSION with soname
# libchorus_<name>.so.SOVERSION (docs/versioning.md) and both symlinks exist.
# Usage: soname_test.sh LIB_DIR VERSION SOVERSION
set -euo pipefail
lib_dir=$1 version=$2 soversion=$3
count=0
for lib in "$lib_dir"/libchorus_*.so."$version"; do
  [ -e "$lib" ] || { echo "FAIL: no libchorus_*.so.$version in $lib_dir" >&2; exit 1; }
  base=$(basename "$lib" ".$version")
  soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ "$soname" = "$base.$soversion" ] || { echo "FAIL: $lib has soname '$soname', want $base.$soversion" >&2; exit 1; }
  [ "$(readlink "$lib_dir/$base.$soversion")" = "$(basename "$lib")" ] || { echo "FAIL: $base.$soversion link" >&2; exit 1; }
  [ -L "$lib_dir/$base" ] || { echo "FAIL: no $base link" >&2; exit 1; }
  count=$((count + 1))
done
[ "$count" -ge 7 ] || { echo "FAIL: $count shared libraries, want 7" >&2; exit 1; }
echo "$count shared libraries, soname .so.$soversion"
