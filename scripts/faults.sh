#!/usr/bin/env bash
# Fault suite: real `chorus node` processes as separate hosts on one machine.
#
#   scripts/faults.sh [BIN_DIR] [SCENARIO...]     # BIN_DIR default: build/bin
#   FAULTS_BIN=/x/bin scripts/faults.sh lock-safety
#   FAULTS_KEEP=1 scripts/faults.sh               # keep the logs, print where
#   scripts/faults.sh --list
#
# Each host is a network namespace with one veth onto a bridge; the bridges
# live in a "hub" namespace this script creates, so no traffic and no
# configuration touch the root namespace beyond creating and deleting
# namespaces. Hosts sit on one of two bridges joined by a trunk veth: taking
# the trunk down splits the network in two halves that still work inside;
# taking a host's own veth down isolates that host. Every host's uplink is
# shaped with a tbf qdisc (skipped, with a message, where the kernel has no
# tbf). A host that needs another clock runs its node in a time namespace
# (unshare --time): those offset CLOCK_MONOTONIC and CLOCK_BOOTTIME only;
# CLOCK_REALTIME has no namespace, so a "clock step" here is a node
# restarted with its monotonic clock a day ahead (see docs/faults.md).
#
# One verdict line per scenario; exit 0 when all pass, 1 when one fails,
# 77 (ctest's skip) when this machine cannot run the suite, 2 on bad usage.

# Functions run from traps and through "scenario_$name" look unreachable.
# shellcheck disable=SC2317
set -euo pipefail

readonly SKIP=77
readonly ALL_SCENARIOS=(dht-replicas whisper-ack relay-failover partition-heal-shout lock-safety)

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  echo "scenarios: ${ALL_SCENARIOS[*]}"
}

# ---------------------------------------------------------------- arguments

bin_dir=${FAULTS_BIN:-}
wanted=()
for a in "$@"; do
  case $a in
    -h | --help) usage; exit 0 ;;
    --list) printf '%s\n' "${ALL_SCENARIOS[@]}"; exit 0 ;;
    -*) echo "faults: unknown option $a" >&2; usage >&2; exit 2 ;;
    *)
      if [ -z "$bin_dir" ] && [ -d "$a" ]; then bin_dir=$a; else wanted+=("$a"); fi ;;
  esac
done
bin_dir=${bin_dir:-build/bin}
[ ${#wanted[@]} -gt 0 ] || wanted=("${ALL_SCENARIOS[@]}")
for s in "${wanted[@]}"; do
  [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] ||
    { echo "faults: no scenario '$s' (have: ${ALL_SCENARIOS[*]})" >&2; exit 2; }
done
CHORUS=$(cd "$bin_dir" 2>/dev/null && pwd)/chorus
RELAY=$(dirname "$CHORUS")/chorus-relay
RELAY_CLIENT=$(cd "$(dirname "$0")" && pwd)/faults/relay_client.js
[ -x "$CHORUS" ] || { echo "faults: no chorus binary in '$bin_dir'" >&2; exit 2; }

# ------------------------------------------------------- can this machine?

skip() { echo "faults: SKIP: $*"; exit "$SKIP"; }

# Everything below needs root's network and time namespaces; say which part
# is missing instead of failing halfway through a scenario.
check_machine() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, veth, tc)"
  command -v ip >/dev/null || skip "no 'ip' command (iproute2)"
  command -v unshare >/dev/null || skip "no 'unshare' command (util-linux)"
  command -v timeout >/dev/null || skip "no 'timeout' command (coreutils)"
  local probe="${P}-probe"
  ip netns add "$probe" 2>/dev/null || skip "'ip netns add' refused (no CAP_SYS_ADMIN?)"
  if ! ip -n "$probe" link add b0 type bridge 2>/dev/null; then
    ip netns del "$probe"
    skip "cannot create a bridge in a namespace"
  fi
  if ! ip -n "$probe" link add v0 type veth peer name v1 2>/dev/null; then
    ip netns del "$probe"
    skip "cannot create veth pairs"
  fi
  ip -n "$probe" link set v0 up 2>/dev/null
  if ip netns exec "$probe" tc qdisc add dev v0 root tbf rate 50mbit burst 64kb latency 50ms \
    2>/dev/null; then
    have_tbf=1
  else
    have_tbf=0
  fi
  ip netns del "$probe"
  unshare --time --monotonic 1 --fork true 2>/dev/null ||
    skip "unshare --time refused (kernel without time namespaces, or no CAP_SYS_ADMIN)"
}

# ------------------------------------------------------------ the test bed

P="cf$$"                # namespace prefix: parallel runs do not collide
HUB="${P}-hub"
work=$(mktemp -d "${TMPDIR:-/tmp}/chorus-faults.XXXXXX")
declare -A npid=()      # host -> pid of its chorus node (the process we signal)
declare -A wpid=()      # host -> pid we started (unshare wrapper, or the node)
declare -A side=()      # host -> a | b (which bridge)
declare -A offset=()    # host -> seconds its monotonic clock runs ahead
declare -A extra=()     # host -> extra `chorus node` flags
have_tbf=0
dir=""                  # the current scenario's folder

kill_all_nodes() {
  local h
  for h in "${!npid[@]}"; do kill -KILL "${npid[$h]}" 2>/dev/null || true; done
  for h in "${!wpid[@]}"; do kill -KILL "${wpid[$h]}" 2>/dev/null || true; done
  for h in "${!wpid[@]}"; do wait "${wpid[$h]}" 2>/dev/null || true; done
  npid=()
  wpid=()
}

# Background jobs of a scenario (sender loops): ids kept so only they are ended.
jobs_started=()
kill_jobs() {
  local j
  for j in "${jobs_started[@]}"; do kill -KILL "$j" 2>/dev/null || true; done
  for j in "${jobs_started[@]}"; do wait "$j" 2>/dev/null || true; done
  jobs_started=()
}

net_down() {
  local ns p
  kill_jobs
  kill_all_nodes
  # Every namespace with our prefix is ours (the probe's too); anything still
  # inside one was started by this run (a client whose timeout has not
  # fired, a node a scenario lost track of when it was interrupted): end it
  # by pid, then delete the namespace.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${P}-" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  side=()
  offset=()
  extra=()
  cboot=()
}

scenario_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$scenario_pid" ]; then
    kill -TERM "$scenario_pid" 2>/dev/null || true
    wait "$scenario_pid" 2>/dev/null || true
  fi
  net_down
  if [ "${FAULTS_KEEP:-0}" = 1 ]; then
    echo "faults: logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "faults: interrupted"; exit 130' INT
trap 'echo "faults: terminated"; exit 143' TERM

ns_of() { echo "${P}-h$1"; }
ip_of() { echo "10.77.0.$((10 + $1))"; }
addr_of() { echo "$(ip_of "$1"):7400"; }

# net_up A B: hosts 1..A on bridge a, A+1..A+B on bridge b, trunk up.
net_up() {
  local na=$1 nb=$2 h
  ip netns add "$HUB"
  ip -n "$HUB" link add bra type bridge
  ip -n "$HUB" link add brb type bridge
  ip -n "$HUB" link add trunka type veth peer name trunkb
  ip -n "$HUB" link set trunka master bra
  ip -n "$HUB" link set trunkb master brb
  local l
  for l in bra brb trunka trunkb; do ip -n "$HUB" link set "$l" up; done
  for ((h = 1; h <= na + nb; h++)); do
    if ((h <= na)); then side[$h]=a; else side[$h]=b; fi
    add_host "$h"
  done
}

add_host() {
  local h=$1 ns
  ns=$(ns_of "$h")
  ip netns add "$ns"
  # Created straight inside the two namespaces: never in the root one.
  ip link add "v$h" netns "$HUB" type veth peer name eth0 netns "$ns"
  ip -n "$HUB" link set "v$h" master "br${side[$h]}" up
  ip -n "$ns" addr add "$(ip_of "$h")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  if [ "$have_tbf" = 1 ]; then
    # 50 Mbit/s per host: a LAN-ish uplink, enough that shaping is exercised
    # without making the runs slow.
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate 50mbit burst 64kb latency 50ms
  fi
}

partition() { ip -n "$HUB" link set trunka down; }
heal() { ip -n "$HUB" link set trunka up; }
isolate() { ip -n "$HUB" link set "v$1" down; }
reconnect() { ip -n "$HUB" link set "v$1" up; }

# ------------------------------------------------------------ waiting

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# json_field NAME: a number or bare field from one line of `--json` output.
json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }

# wait_count FILE PATTERN N SECONDS: until N lines of FILE match PATTERN.
wait_count() {
  local deadline=$(($(now_ms) + $4 * 1000)) c
  while :; do
    c=$(grep -c -- "$2" "$1" 2>/dev/null || true)
    [ "${c:-0}" -ge "$3" ] && return 0
    [ "$(now_ms)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# ------------------------------------------------------------ nodes

# start_node H: runs `chorus node --dht` for host H in its namespace (and in
# a time namespace when offset[H] is set), key file kept across restarts,
# output appended; returns once the node printed its dht line.
start_node() {
  local h=$1 ns before
  ns=$(ns_of "$h")
  before=$(grep -c '^address ' "$dir/out$h" 2>/dev/null || true)
  local listen=(--listen "$(addr_of "$h")")
  # shellcheck disable=SC2206  # extra flags are words on purpose
  local flags=(${extra[$h]:-})
  [[ " ${flags[*]} " == *" --no-listen "* ]] && listen=()
  local cmd=("$CHORUS" node --dht --key "$dir/key$h" "${listen[@]}" "${flags[@]}")
  if [ -n "${offset[$h]:-}" ]; then
    # unshare forks the node into the new time namespace and waits for it;
    # --kill-child ends the node should the wrapper die first.
    ip netns exec "$ns" unshare --time --monotonic "${offset[$h]}" --boottime "${offset[$h]}" \
      --fork --kill-child=SIGKILL -- "${cmd[@]}" >>"$dir/out$h" 2>>"$dir/err$h" &
  else
    ip netns exec "$ns" "${cmd[@]}" >>"$dir/out$h" 2>>"$dir/err$h" &
  fi
  wpid[$h]=$!
  if ! wait_count "$dir/out$h" '^address ' $((${before:-0} + 1)) 15; then
    echo "host $h: node printed no address"
    tail -5 "$dir/err$h"
    return 1
  fi
  if [ -n "${offset[$h]:-}" ]; then
    npid[$h]=$(pgrep -P "${wpid[$h]}" | head -1)
  else
    npid[$h]=${wpid[$h]}
  fi
}

# The node's overlay address (the last one it printed: the key is kept, so
# every run prints the same one).
address_of() { sed -n 's/^address //p' "$dir/out$1" | tail -1; }

crash() {  # SIGKILL: no goodbye, no flush beyond what was written
  kill -KILL "${npid[$1]}" 2>/dev/null || true
  wait "${wpid[$1]}" 2>/dev/null || true
  unset "npid[$1]" "wpid[$1]"
}
freeze() { kill -STOP "${npid[$1]}"; }
thaw() { kill -CONT "${npid[$1]}"; }

# bootstrap flags for a node or client: the given hosts' addresses.
boot() {
  local h
  for h in "$@"; do printf -- '--bootstrap %s ' "$(addr_of "$h")"; done
}

# client H TIMEOUT OP ARGS...: `chorus dht OP ARGS` run on host H (in its
# namespace), bootstrapping from the nodes in cboot[H] (default: H's own),
# killed after TIMEOUT+5 s whatever happens.
declare -A cboot=()
client() {
  local h=$1 t=$2 op=$3
  shift 3
  local hosts
  read -r -a hosts <<<"${cboot[$h]:-$h}"
  # shellcheck disable=SC2046  # boot prints flags meant to be split
  timeout -s KILL $((t + 5)) ip netns exec "$(ns_of "$h")" "$CHORUS" dht "$op" $(boot "${hosts[@]}") --timeout "$t" "$@"
}

# A `chorus dht` client on one host must reach a node on another: clients
# once bound their UDP socket to 127.0.0.1 (DhtNode picks 0.0.0.0 only from
# DhtOptions::bootstrap, which the client left empty; tools/dht_command.cc
# now sets the bind address). Checked first, since every scenario relies on it.
probe_client_bind() {
  dir="$work/probe"
  mkdir -p "$dir"
  net_up 1 1
  start_node 1
  local out rc=0
  # shellcheck disable=SC2046  # boot prints flags meant to be split
  out=$(timeout -s KILL 10 ip netns exec "$(ns_of 2)" "$CHORUS" dht get $(boot 1) --timeout 3 \
    faults/probe 2>&1) || rc=$?
  net_down
  if [ "$rc" = 1 ] && ! grep -q 'bootstrap failed' <<<"$out"; then return 0; fi
  echo "faults: FAIL: a chorus dht client on host 2 cannot reach host 1's node (exit $rc): $out"
  exit 1
}

# ------------------------------------------------------------ verdicts

# verdict NAME PASS|FAIL DETAIL: the scenario's one line; returns nonzero
# on FAIL so the scenario's exit status says it too.
verdict() {
  local secs
  secs=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
  echo "faults: $1 $2 ($3) [${secs}s]"
  [ "$2" = PASS ]
}

# note: progress for whoever reads the scenario's log.
note() { echo "  [$scenario $(date +%T)] $*"; }

# ============================================================ scenarios

# (b) Values put on a replica set survive the crash of fewer than half of
# those replicas (SIGKILL, and one more frozen with SIGSTOP), and are read
# again once the crashed hosts come back with the same keys.
scenario_dht_replicas() {
  local n=7 h keys=6 i
  net_up 4 3
  start_node 1
  for ((h = 2; h <= n; h++)); do extra[$h]="$(boot 1 2)"; start_node "$h"; done
  # Puts through host 1; each reports how many replicas stored it.
  local replicas=0 out
  for ((i = 1; i <= keys; i++)); do
    out=$(client 1 10 put "faults/v$i" "value-$i" --json) || { echo "put $i: $out"; return 1; }
    grep -q '"ok":true' <<<"$out" || { echo "put $i: $out"; return 1; }
    replicas=$(json_field replicas <<<"$out")
    # Every replica must hold it, or a crash below could take the only copies.
    [ "$(json_field acks <<<"$out")" = "$replicas" ] || { echo "put $i not on all replicas: $out"; return 1; }
    note "put $i: $out"
  done
  # k = 20 > n, so every node is a replica: crash fewer than half of them.
  local down=$(((replicas - 1) / 2))
  ((down >= 1)) || { echo "only $replicas replicas"; return 1; }
  local victims=() frozen=$((n))
  for ((h = 2; h <= down; h++)); do victims+=("$h"); done
  for h in "${victims[@]}"; do crash "$h"; done
  freeze "$frozen"
  note "crashed ${victims[*]}, froze $frozen ($down of $replicas replicas out)"
  local got=0
  for ((i = 1; i <= keys; i++)); do
    # A get from the far side of the bridge (host 5): a fresh client with
    # dead and frozen contacts in the routing tables it is handed.
    if client 5 10 get "faults/v$i" 2>>"$dir/client.err" | grep -qx "value-$i"; then
      got=$((got + 1))
    fi
  done
  thaw "$frozen"
  for h in "${victims[@]}"; do start_node "$h"; done
  # Through a restarted host: it must rejoin and find the survivors.
  local again=0
  for ((i = 1; i <= keys; i++)); do
    if client "${victims[0]}" 10 get "faults/v$i" 2>>"$dir/client.err" | grep -qx "value-$i"; then
      again=$((again + 1))
    fi
  done
  local detail="$got/$keys values read with $down of $replicas replicas down, $again/$keys after restart"
  if ((got == keys && again == keys)); then
    verdict "$scenario" PASS "$detail"
  else
    verdict "$scenario" FAIL "$detail"
  fi
}

# (d) A WHISPER that was acknowledged is never lost. A sender on host 1
# sends numbered texts one after another to host 4's node by its address
# (`chorus dht send`: the target prints the text, then answers it) while the
# suite freezes the target, kills and restarts it with the same key, takes
# its link down and partitions the network. Every text whose answer came
# back must be in the target's output; after each fault the sends must be
# answered again (liveness, bounded).
scenario_whisper_ack() {
  local target=4 h
  net_up 3 2
  start_node 1
  for h in 2 3 4 5; do extra[$h]="$(boot 1)"; start_node "$h"; done
  cboot[1]="1 2"
  local addr
  addr=$(address_of "$target")
  whisper_sender "$addr" &
  jobs_started+=($!)
  local acked=0
  expect_acks() {  # wait for 2 more answered sends after a fault
    acked=$(($(grep -c '^ok ' "$dir/sent" 2>/dev/null || true) + 2))
    wait_count "$dir/sent" '^ok ' "$acked" 45 || { echo "no answers after $1"; return 1; }
    note "answered again after $1"
  }
  expect_acks "start"
  freeze "$target"; note "froze $target"; sleep 4; thaw "$target"
  expect_acks "SIGSTOP/SIGCONT"
  crash "$target"; note "killed $target"; sleep 1; start_node "$target"
  expect_acks "SIGKILL and restart"
  isolate "$target"; note "link of $target down"; sleep 5; reconnect "$target"
  expect_acks "link down/up"
  partition; note "partition"; sleep 5; heal
  expect_acks "partition heal"
  touch "$dir/stop"
  wait_count "$dir/sent" '^end' 1 20 || { echo "sender did not stop"; return 1; }
  local sent ok lost=0 i
  sent=$(grep -c -E '^(ok|fail) ' "$dir/sent")
  ok=$(grep -c '^ok ' "$dir/sent")
  while read -r i; do
    grep -q ": msg-$i\$" "$dir/out$target" || { lost=$((lost + 1)); echo "answered, not delivered: msg-$i"; }
  done < <(sed -n 's/^ok //p' "$dir/sent")
  local detail="$ok of $sent sends answered across 4 faults, $lost answered ones missing at the target"
  if ((lost == 0 && ok > 0)); then
    verdict "$scenario" PASS "$detail"
  else
    verdict "$scenario" FAIL "$detail"
  fi
}

# Sends msg-1, msg-2, ... to $1 from host 1 until $dir/stop exists; one
# line per send in $dir/sent: "ok N" (answered "echo: msg-N") or "fail N".
whisper_sender() {
  local i=0 out
  while [ ! -e "$dir/stop" ]; do
    i=$((i + 1))
    if out=$(client 1 3 send "$1" "msg-$i" 2>&1) && [ "$out" = "echo: msg-$i" ]; then
      echo "ok $i" >>"$dir/sent"
    else
      echo "fail $i" >>"$dir/sent"
      sleep 0.2
    fi
  done
  echo "end" >>"$dir/sent"
}

# (e) An initiate-only node (`--no-listen`) is reached through the relays
# it linked to. Kill the relay a text came through: the node must be
# reachable again through another relay within a bound; then kill that one
# too.
scenario_relay_failover() {
  local hidden=6 h
  net_up 3 3
  start_node 1
  for h in 2 3 4 5; do extra[$h]="$(boot 1)"; start_node "$h"; done
  extra[$hidden]="--no-listen $(boot 1)"
  start_node "$hidden"
  local addr alive=(1 2 3 4 5) times=() killed=()
  addr=$(address_of "$hidden")
  local round via relay t
  for round in 0 1 2; do
    cboot[5]="${alive[*]}"
    t=$(now_ms)
    via=$(send_until_via "$addr" "round-$round" 60) || { echo "no answer through a relay in round $round"; return 1; }
    times+=("$(( ($(now_ms) - t) / 1000 ))s")
    relay=$(host_of_address "$via")
    note "round $round: answered via host $relay ($via) after ${times[-1]}"
    [ -n "$relay" ] || { echo "relay $via is none of our hosts"; return 1; }
    for h in "${killed[@]}"; do
      [ "$h" != "$relay" ] || { echo "answered via killed host $h"; return 1; }
    done
    [ "$round" = 2 ] && break
    crash "$relay"
    killed+=("$relay")
    note "killed relay host $relay"
    local next=()
    for h in "${alive[@]}"; do [ "$h" = "$relay" ] || next+=("$h"); done
    alive=("${next[@]}")
  done
  verdict "$scenario" PASS "relays ${killed[*]} killed in turn; reachable again after ${times[1]}, ${times[2]}"
}

# send_until_via ADDRESS TEXT SECONDS: sends from host 5 until answered and
# printed by the target as relayed; prints the relay's address.
send_until_via() {
  local deadline=$(($(now_ms) + $3 * 1000)) n=0 out
  while [ "$(now_ms)" -lt "$deadline" ]; do
    n=$((n + 1))
    if out=$(client 5 3 send "$1" "$2-$n" 2>&1) && [ "$out" = "echo: $2-$n" ]; then
      sed -n "s/^text from .* via \([a-z0-9]*\): $2-$n\$/\1/p" "$dir/out$hidden" | tail -1
      return 0
    fi
    sleep 0.5
  done
  return 1
}

host_of_address() {
  local h
  for h in "${!wpid[@]}"; do
    [ "$(address_of "$h")" = "$1" ] && { echo "$h"; return 0; }
  done
  return 0
}

# (c) Locks stay safe: never two holders, tokens only grow. Five nodes
# split 3 | 2. After the start grace (a node grants no lock for as long as
# its longest lease, --dht-max-lease-ms 30000 here, after it starts), with the network partitioned: the minority side cannot take
# the lock; the majority side can. While that lease runs: nobody else gets
# it, also after a majority node is killed and restarted with its
# monotonic clock a day ahead (the "clock step"), and after the partition
# heals; once the lease is over, the other side gets it with a larger
# fencing token, never before the holder's lease ended.
scenario_lock_safety() {
  local h lease=20000 max_lease="--dht-max-lease-ms 30000"
  net_up 3 2
  extra[1]=$max_lease
  start_node 1
  for h in 2 3 4 5; do extra[$h]="$(boot 1) $max_lease"; start_node "$h"; done
  cboot[1]="1 2"; cboot[2]="2 1"; cboot[4]="4 5"; cboot[5]="5 4"
  # The start grace: poll a throwaway key until a lock is granted.
  local deadline=$(($(now_ms) + 100000)) out
  until out=$(client 1 5 lock faults/warmup --lease-ms 1 --json 2>&1); do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "no lock granted after 100 s: $out"; return 1; }
    sleep 2
  done
  note "grace over: $out"

  partition
  note "partitioned 1 2 3 | 4 5"
  local refused=0
  for h in 4 5; do
    if out=$(client "$h" 5 lock faults/lock --lease-ms "$lease" --json 2>&1); then
      echo "minority host $h got the lock: $out"
      return 1
    fi
    refused=$((refused + 1))
    note "minority host $h refused: $out"
  done
  local t1 token1
  t1=$(now_ms)
  out=$(client 1 5 lock faults/lock --lease-ms "$lease" --json 2>&1) ||
    { echo "majority could not lock: $out"; return 1; }
  token1=$(json_field token <<<"$out")
  note "majority holder: $out"
  local holder_end=$((t1 + lease * 9 / 10))

  contend_refused() {  # HOST WHY: a lock attempt that must fail
    if out=$(client "$1" 5 lock faults/lock --lease-ms "$lease" --json 2>&1); then
      if [ "$(now_ms)" -lt "$holder_end" ]; then
        echo "second holder ($2) on host $1 while the first lease runs: $out"
        return 1
      fi
    fi
    refused=$((refused + 1))
    note "host $1 ($2): $out"
  }
  contend_refused 2 "majority side, lease held"
  crash 3
  offset[3]=86400
  start_node 3
  note "host 3 killed and restarted with its monotonic clock a day ahead"
  contend_refused 2 "after the clock step"
  heal
  note "healed"
  contend_refused 4 "minority side after the heal"

  # Until the lease is over every attempt fails; then one must succeed.
  local t2="" token2="" tries=0
  deadline=$(($(now_ms) + lease + 40000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    tries=$((tries + 1))
    if out=$(client 4 5 lock faults/lock --lease-ms 5000 --json 2>&1); then
      t2=$(now_ms)
      token2=$(json_field token <<<"$out")
      note "second owner: $out"
      break
    fi
    sleep 1
  done
  [ -n "$t2" ] || { echo "nobody got the lock after the lease ended"; return 1; }
  local early=$((holder_end - t2))
  if ((t2 < holder_end)); then
    verdict "$scenario" FAIL "second holder ${early} ms before the first lease ended"
  elif ((token2 <= token1)); then
    verdict "$scenario" FAIL "token went from $token1 to $token2"
  else
    verdict "$scenario" PASS "$refused attempts refused while held or in minority; token $token1 -> $token2 after the lease, $tries tries"
  fi
}

# (a) SHOUT reaches every live node after a partition heals. `chorus node`
# can neither originate a SHOUT nor show one, so this scenario runs WSRelay
# nodes (`chorus-relay`, spec/relay.md): a client's message on a channel
# goes to the other nodes as one overlay SHOUT, and every node hands it to
# its subscribers. Six relays, one subscriber on each; the network is
# partitioned until the links across are declared dead (PING timeout), a
# relay on the far side is killed, the partition heals; then a message
# must reach the subscribers of every live node.
scenario_partition_heal_shout() {
  local h n=6 topic=faults
  [ -x "$RELAY" ] || { verdict "$scenario" FAIL "no chorus-relay next to chorus"; return 1; }
  command -v node >/dev/null || { verdict "$scenario" FAIL "no node.js for the WebSocket client"; return 1; }
  net_up 3 3
  for ((h = 1; h <= n; h++)); do start_relay "$h"; done
  for ((h = 1; h <= n; h++)); do
    ip netns exec "$(ns_of "$h")" node --experimental-websocket "$RELAY_CLIENT" \
      "$(ip_of "$h"):7401" "$topic" </dev/null >>"$dir/sub$h" 2>>"$dir/sub$h.err" &
    jobs_started+=($!)
  done
  # The sender is another client on host 1, fed through a FIFO.
  mkfifo "$dir/say"
  ip netns exec "$(ns_of 1)" node --experimental-websocket "$RELAY_CLIENT" \
    "$(ip_of 1):7401" "$topic" <"$dir/say" >>"$dir/sender" 2>>"$dir/sender.err" &
  jobs_started+=($!)
  exec 7>"$dir/say"
  # A new channel is reserved through a DHT lock: the first subscribe waits
  # out the relays' start grace (10 s).
  for ((h = 1; h <= n; h++)); do
    wait_count "$dir/sub$h" '^subscribed' 1 40 || { echo "host $h never subscribed"; return 1; }
  done
  wait_count "$dir/sender" '^subscribed' 1 40 || { echo "sender never subscribed"; return 1; }
  note "all subscribed"
  say before
  for ((h = 1; h <= n; h++)); do
    wait_count "$dir/sub$h" '^got before$' 1 15 || { echo "host $h: no delivery before the partition"; return 1; }
  done

  partition
  note "partitioned 1 2 3 | 4 5 6"
  say during
  # Hold the partition until the far side has declared a link across dead.
  wait_count "$dir/err4" 'no PING answer' 1 40 || { echo "no link across declared dead"; return 1; }
  crash 6
  note "links across dead; relay 6 killed"
  heal
  local t_heal
  t_heal=$(now_ms)
  note "healed"
  # Probe until every live node delivered one: the links across come back
  # with the overlay's reconnect backoff.
  local live=(1 2 3 4 5) k=0 all deadline=$(($(now_ms) + 60000))
  while :; do
    k=$((k + 1))
    say "probe-$k"
    sleep 1
    all=1
    for h in "${live[@]}"; do grep -q '^got probe-' "$dir/sub$h" || all=0; done
    ((all)) && break
    [ "$(now_ms)" -lt "$deadline" ] || { echo "after 60 s some live node still gets no probe"; return 1; }
  done
  local relinked=$(( ($(now_ms) - t_heal) / 1000 ))
  say after
  local got=0
  for h in "${live[@]}"; do
    if wait_count "$dir/sub$h" '^got after$' 1 10; then got=$((got + 1)); else echo "host $h missed 'after'"; fi
  done
  exec 7>&-
  local detail="$got/${#live[@]} live nodes delivered after the heal (relinked in ${relinked}s, $k probes)"
  if ((got == ${#live[@]})); then
    verdict "$scenario" PASS "$detail"
  else
    verdict "$scenario" FAIL "$detail"
  fi
}

say() { echo "$1" >&7; }

# start_relay H: `chorus-relay` for host H (overlay and DHT on :7400,
# WebSocket on :7401), bootstrapping from host 1.
start_relay() {
  local h=$1 ns flags=()
  ns=$(ns_of "$h")
  [ "$h" = 1 ] || flags=(--bootstrap "$(addr_of 1)")
  ip netns exec "$ns" "$RELAY" --listen "$(addr_of "$h")" --ws "$(ip_of "$h"):7401" \
    --key "$dir/key$h" --name "host$h" "${flags[@]}" >>"$dir/out$h" 2>>"$dir/err$h" &
  wpid[$h]=$!
  npid[$h]=$!
  wait_count "$dir/out$h" '^ws ' 1 15 || { echo "relay $h printed no ws line"; tail -5 "$dir/err$h"; return 1; }
}

# ============================================================ main

# run_scenario NAME: the scenario in a subshell of its own, so `set -e`
# holds inside it (it would not in a function called under `||`) and an
# interrupted scenario still tears its hosts down (its EXIT trap).
run_scenario() {
  trap net_down EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  "scenario_${1//-/_}"
}

check_machine
probe_client_bind
[ "$have_tbf" = 1 ] || echo "faults: note: no tbf qdisc here, links are not shaped"
failed=0
for scenario in "${wanted[@]}"; do
  dir="$work/$scenario"
  mkdir -p "$dir"
  t0=$(now_ms)
  rc=0
  run_scenario "$scenario" >"$dir/scenario.log" 2>&1 &
  scenario_pid=$!
  wait "$scenario_pid" || rc=$?
  scenario_pid=""
  net_down
  # The verdict line is in the log with the scenario's notes; show it, and
  # the log's tail when it failed.
  grep "^faults: $scenario " "$dir/scenario.log" ||
    echo "faults: $scenario FAIL (did not finish: exit $rc) [$(( ($(now_ms) - t0) / 1000 ))s]"
  if [ "$rc" != 0 ]; then
    failed=1
    echo "--- $scenario: last lines of its log"
    tail -25 "$dir/scenario.log" | sed 's/^/    /'
  fi
done
exit "$failed"
