#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each one.
#   scripts/fuzz.sh [SECONDS]        # default 60 s per target
#   FUZZ_TARGETS="overlay_core_fuzz dht_rpc_fuzz" scripts/fuzz.sh 30
#   FUZZ_SMOKE=1 scripts/fuzz.sh     # only replay the seed corpora (CI)
# Seeds come from spec/vectors (build-fuzz/seeds, regenerated every run);
# what a fuzzer learns is kept in build-fuzz/corpus/<target>, crashes go to
# build-fuzz/crashes/. Prints executions per target; exits non-zero when any
# target crashes, leaks, times out or breaks a round-trip property.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}

[ "${SKIP_DEPS:-0}" = 1 ] || bash scripts/deps.sh

CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCHORUS_FUZZ=ON -DCHORUS_WERROR=ON -DCHORUS_TESTS=OFF -DCHORUS_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target fuzz_all

rm -rf "$BUILD_DIR/seeds"
"$BUILD_DIR/bin/fuzz_seeds" spec "$BUILD_DIR/seeds"
mkdir -p "$BUILD_DIR/crashes" "$BUILD_DIR/logs"

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
printf '%-24s %10s %8s %8s  %s\n' target executions exec/s seconds result
for t in "${targets[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  seeds="$BUILD_DIR/seeds/$t"
  mkdir -p "$corpus" "$seeds"
  # Inputs that once crashed a target (tests/fuzz/regressions/TARGET) are
  # replayed with its seeds, every run.
  regressions=()
  [ -d "tests/fuzz/regressions/$t" ] && regressions=("tests/fuzz/regressions/$t")
  log="$BUILD_DIR/logs/$t.log"
  args=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1
        "-artifact_prefix=$BUILD_DIR/crashes/$t-")
  start=$(date +%s)
  if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
    args+=(-runs=0 "$seeds" "${regressions[@]}")  # replay the seeds only
  else
    args+=("-max_total_time=$SECONDS_PER_TARGET" "$corpus" "$seeds" "${regressions[@]}")
  fi
  if "$BUILD_DIR/bin/$t" "${args[@]}" >"$log" 2>&1; then result=ok; else
    result="FAILED (log: $log)"
    failed+=("$t")
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-24s %10s %8s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "$(($(date +%s) - start))" "$result"
  if [ "$result" != ok ]; then grep -E "ERROR|property failed|SUMMARY" "$log" | head -5 || true; fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}; reproduce with $BUILD_DIR/bin/<target> $BUILD_DIR/crashes/<file>" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran clean"
