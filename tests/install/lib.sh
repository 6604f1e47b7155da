# Helpers for the example tests: start programs, wait for their output.
# Waits are on events (tail -F wakes on each write) and bounded by a timeout;
# nothing sleeps hoping something happened.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chorus-example.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME CMD...: runs CMD in the background, output in $WORK/NAME.log,
# stdin from the fifo $WORK/NAME.in (write to it with `tell NAME LINE`).
# Every program is bounded by `timeout` so a hang fails instead of stalling.
declare -A PID_OF FD_OF
start() {
  local name=$1 fd
  shift
  mkfifo "$WORK/$name.in"
  timeout 60 "$@" <"$WORK/$name.in" >"$WORK/$name.log" 2>&1 &
  PID_OF[$name]=$!
  PIDS+=($!)
  exec {fd}>"$WORK/$name.in"
  FD_OF[$name]=$fd
}

tell() { printf '%s\n' "$2" >&"${FD_OF[$1]}"; }
hang_up() { exec {FD_OF[$1]}>&-; }

show_logs() {
  local f
  for f in "$WORK"/*.log; do
    echo "---- $(basename "$f")" >&2
    sed 's/^/  | /' "$f" >&2
  done
}

# wait_for NAME REGEX [COUNT] [SECONDS]: returns once COUNT lines (default 1)
# of NAME's output match the extended REGEX; fails after SECONDS (default 20).
wait_for() {
  local name=$1 pattern=$2 count=${3:-1} secs=${4:-20} fd tail_pid rc=0
  # --pid: tail ends when the program does, so a crash fails at once.
  exec {fd}< <(exec tail -n +1 -F --pid="${PID_OF[$name]}" "$WORK/$name.log" 2>/dev/null)
  tail_pid=$!
  # (-c into a file: with stdout on /dev/null, grep 3.8 did not stop at -m 2.)
  timeout "$secs" grep -c -m "$count" -E -- "$pattern" <&"$fd" >"$WORK/.count" || rc=$?
  kill "$tail_pid" 2>/dev/null || true
  exec {fd}<&-
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: $name did not print $count line(s) matching /$pattern/ within ${secs}s" >&2
    show_logs
    return 1
  fi
}

# expect_exit NAME: waits for NAME to exit (its timeout bounds this) and
# fails unless it exited 0.
expect_exit() {
  local rc=0
  wait "${PID_OF[$1]}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAIL: $1 exited with $rc" >&2
    show_logs
    return 1
  fi
}

# has NAME REGEX: NAME's output (so far) has a line matching REGEX.
has() {
  if ! grep -q -E -- "$2" "$WORK/$1.log"; then
    echo "FAIL: $1 never printed /$2/" >&2
    show_logs
    return 1
  fi
}

listen_address_of() { sed -n 's/^\* listening on //p' "$WORK/$1.log" | head -n 1; }
