# wait_for_line FILE PATTERN: returns 0 once a line of FILE matches PATTERN
# (grep), 1 after 10 s. For tests that wait for a process's ready line.
wait_for_line() {
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
