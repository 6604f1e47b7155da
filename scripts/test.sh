#!/usr/bin/env bash
# Installs dependencies, builds Chorus with warnings as errors, runs every
# test; then the unit and simulator tests again under ASan + UBSan, and every
# fuzz target over its seed corpus.
#   scripts/test.sh            # build in ./build (and ./build-asan, ./build-fuzz)
#   BUILD_DIR=out scripts/test.sh
#   CHORUS_SANITIZE_STAGE=0 / CHORUS_FUZZ_STAGE=0 scripts/test.sh   # skip a stage
#   CHORUS_FUZZ_SECONDS=10 scripts/test.sh                          # fuzz, not just replay
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash scripts/deps.sh

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
stage() { echo "== test.sh: $* ($(date +%T))"; }

stage "build and run every test in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHORUS_WERROR=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 300)
# The fault suite (label faults) needs root and namespaces; when ctest
# skipped it, say why here rather than leave it in the log.
if grep -q '^faults: SKIP' "$BUILD_DIR/Testing/Temporary/LastTest.log" 2>/dev/null; then
  echo "== test.sh: the fault suite was skipped: $(grep -m1 '^faults: SKIP' "$BUILD_DIR/Testing/Temporary/LastTest.log")"
fi

# ASan + UBSan over the unit and simulator tests (ctest labels unit, sim,
# compression-unit, nano-unit, web-unit, relay-unit: gtest_discover_tests cannot give a
# test two labels): only those test executables are built. Any report fails the test.
if [ "${CHORUS_SANITIZE_STAGE:-1}" = 1 ]; then
  ASAN_DIR=${ASAN_BUILD_DIR:-build-asan}
  stage "unit and sim tests under ASan + UBSan in $ASAN_DIR"
  cmake -S . -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHORUS_WERROR=ON \
    -DCHORUS_SANITIZE=ON -DCHORUS_BENCH=OFF
  cmake --build "$ASAN_DIR" -j "$JOBS" --target overlay_unit_tests compression_tests nano_tests nano_ipc_tests web_tests \
    dht_unit_tests swarm_tests scenario_tests scenario_run_tests relay_core_tests
  (cd "$ASAN_DIR" &&
    ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --output-on-failure -j "$JOBS" --timeout 600 -L '^(unit|sim|[a-z]+-unit)$' --no-tests=error)
fi

# Every fuzz target over its seeds (spec/vectors): the parsers' round trips
# hold on known-good bytes under clang's ASan + UBSan. Set
# CHORUS_FUZZ_SECONDS to also fuzz each target for that long.
if [ "${CHORUS_FUZZ_STAGE:-1}" = 1 ]; then
  stage "fuzz targets"
  if [ -n "${CHORUS_FUZZ_SECONDS:-}" ]; then
    SKIP_DEPS=1 bash scripts/fuzz.sh "$CHORUS_FUZZ_SECONDS"
  else
    SKIP_DEPS=1 FUZZ_SMOKE=1 bash scripts/fuzz.sh
  fi
fi
stage "done"
