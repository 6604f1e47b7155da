#!/usr/bin/env bash
# Builds the .deb packages with CPack, checks their metadata, unpacks them
# into a temporary root with `dpkg -x` (no root needed), then builds the chat
# example against the unpacked /usr and runs it with 3 nodes.
# Usage: deb_test.sh BUILD_DIR EXAMPLES_SRC TESTS_DIR
set -euo pipefail
build_dir=$1 examples_src=$2 tests_dir=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-deb-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

cpack --config "$build_dir/CPackConfig.cmake" -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; exit 1; }
runtime=$(find "$work/pkg" -maxdepth 1 -name 'chorus_*.deb' | head -n 1)
dev=$(find "$work/pkg" -maxdepth 1 -name 'chorus-dev_*.deb' | head -n 1)
[ -n "$runtime" ] && [ -n "$dev" ] || { echo "FAIL: expected chorus and chorus-dev .debs" >&2; ls "$work/pkg" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }
depends=$(dpkg-deb -f "$runtime" Depends)
echo "chorus Depends: $depends"
# What the binaries link, as Debian runtime packages (dpkg-shlibdeps).
for pkg in libc6 libstdc++6 libsodium23 libuv1 zlib1g libbz2-1.0 liblzma5 libsnappy1v5; do
  [[ ", $depends," == *", $pkg "* || ", $depends," == *", $pkg,"* ]] || fail "chorus does not depend on $pkg"
done
[[ "$depends" != *"-dev"* ]] || fail "the runtime package depends on a -dev package"
dev_depends=$(dpkg-deb -f "$dev" Depends)
echo "chorus-dev Depends: $dev_depends"
version=$(dpkg-deb -f "$runtime" Version)
[[ "$dev_depends" == *"chorus (= $version)"* ]] || fail "chorus-dev does not pin chorus (= $version)"
# Every dependency of chorus-dev is a package this machine knows about.
for pkg in $(echo "$dev_depends" | tr ',' '\n' | sed 's/(.*)//; s/ //g' | grep -v '^chorus$'); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || fail "chorus-dev needs $pkg, which is not installed"
done
# The shared libraries are in the runtime package, their link-time names in -dev.
runtime_files=$(dpkg-deb -c "$runtime" | awk '{print $6}')
dev_files=$(dpkg-deb -c "$dev" | awk '{print $6}')
grep -q 'usr/bin/chorus$' <<<"$runtime_files" || fail "no usr/bin/chorus"
grep -q 'usr/bin/chorus-nano$' <<<"$runtime_files" || fail "no usr/bin/chorus-nano"
grep -q 'usr/bin/chorus-relay$' <<<"$runtime_files" || fail "no usr/bin/chorus-relay"
grep -Eq 'libchorus_overlay\.so\.[0-9.]+$' <<<"$runtime_files" || fail "no libchorus_overlay.so.*"
! grep -q '\.h$\|\.a$' <<<"$runtime_files" || fail "headers or static libraries in the runtime package"
grep -q 'ChorusConfig.cmake$' <<<"$dev_files" || fail "no ChorusConfig.cmake"
grep -q 'pkgconfig/chorus.pc$' <<<"$dev_files" || fail "no chorus.pc"
grep -q 'libchorus_overlay\.a$' <<<"$dev_files" || fail "no static libchorus_overlay.a"
grep -q 'chorus/overlay/node.h$' <<<"$dev_files" || fail "no headers"
if grep -v '^\./usr/' <<<"$runtime_files"$'\n'"$dev_files" | grep -v '^\./$'; then
  fail "files outside /usr"
fi

root=$work/root
dpkg -x "$runtime" "$root"
dpkg -x "$dev" "$root"
"$root/usr/bin/chorus" --help >/dev/null || fail "the packaged chorus does not run"
bash "$tests_dir/build_examples.sh" "$root/usr" "$examples_src" "$work/examples" chat
bash "$tests_dir/chat_3_nodes.sh" "$work/examples/chat/chat"
echo "deb: $(basename "$runtime") and $(basename "$dev") install and build the chat example"
