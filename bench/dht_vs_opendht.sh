#!/usr/bin/env bash
# Chorus's DHT against OpenDHT on this machine, side by side: N nodes on
# loopback, puts then gets of ~100-byte values one at a time from random
# nodes, latency from the call to its completion. Runs Chorus twice, with
# its default of k = 20 replicas and with OpenDHT's 8 (`--dht-k 8`, the same
# datagrams per operation), then OpenDHT, REPEATS times, and prints each run
# and the median p50s with their ratios.
#
#   bench/dht_vs_opendht.sh [CHORUS_BIN] [REPEATS]      (default build/bin/chorus, 3)
#   NODES=64 PUTS=200 GETS=500 bench/dht_vs_opendht.sh
#
# OpenDHT is Debian's python3-opendht (2.4.12 on bookworm; it loads under
# /usr/bin/python3 only). Without it the script says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
CHORUS=${1:-build/bin/chorus}
REPEATS=${2:-3}
NODES=${NODES:-64}
PUTS=${PUTS:-200}
GETS=${GETS:-500}

if ! /usr/bin/python3 -c 'import opendht' 2>/dev/null; then
  echo "dht_vs_opendht: skipped: python3-opendht is not installed (scripts/deps.sh --bench installs it)"
  exit 0
fi
[ -x "$CHORUS" ] || { echo "dht_vs_opendht: no chorus binary at $CHORUS" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for ((i = 1; i <= REPEATS; i++)); do
  timeout 600 "$CHORUS" swarm --nodes "$NODES" --shouts 0 --dht-puts "$PUTS" --dht-gets "$GETS" \
    --dht-concurrency 1 --seed "$i" --json >"$out/chorus.$i.json"
  # The same with OpenDHT's replica count (its TARGET_NODES, 8): equal work.
  timeout 600 "$CHORUS" swarm --nodes "$NODES" --shouts 0 --dht-puts "$PUTS" --dht-gets "$GETS" \
    --dht-concurrency 1 --dht-k 8 --seed "$i" --json >"$out/chorus-k8.$i.json"
  timeout 600 /usr/bin/python3 bench/opendht_swarm.py --nodes "$NODES" --puts "$PUTS" \
    --gets "$GETS" --seed "$i" >"$out/opendht.$i.json"
done

/usr/bin/python3 - "$out" "$REPEATS" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
impls = ("chorus", "chorus-k8", "opendht")
rows = {impl: [] for impl in impls}
for i in range(1, n + 1):
    for impl in impls:
        r = json.load(open(f"{out}/{impl}.{i}.json"))
        rows[impl].append(r["dht"] if impl != "opendht" else r)
print(f"{'run':>4} {'impl':>9} {'put p50':>9} {'put p99':>9} {'get p50':>9} {'get p99':>9} {'put ok':>7} {'get ok':>7}   (ms)")
for i in range(n):
    for impl in impls:
        r = rows[impl][i]
        print(f"{i + 1:>4} {impl:>9} {r['put_ms']['p50']:>9.3f} {r['put_ms']['p99']:>9.3f} "
              f"{r['get_ms']['p50']:>9.3f} {r['get_ms']['p99']:>9.3f} {r['put_success']:>7.3f} {r['get_success']:>7.3f}")
med = {impl: {op: statistics.median(r[f"{op}_ms"]["p50"] for r in rows[impl]) for op in ("put", "get")}
       for impl in impls}
summary = {
    "chorus": med["chorus"], "chorus_k8": med["chorus-k8"], "opendht": med["opendht"],
    # Above 1: Chorus is faster. k20: Chorus's default of 20 replicas; k8:
    # OpenDHT's 8, the same number of datagrams per operation.
    "put_speedup": med["opendht"]["put"] / med["chorus"]["put"],
    "get_speedup": med["opendht"]["get"] / med["chorus"]["get"],
    "put_speedup_k8": med["opendht"]["put"] / med["chorus-k8"]["put"],
    "get_speedup_k8": med["opendht"]["get"] / med["chorus-k8"]["get"],
    "chorus_get_success": min(r["get_success"] for impl in ("chorus", "chorus-k8") for r in rows[impl]),
}
print("median p50 (ms): chorus (k 20) put %.3f get %.3f; chorus (k 8) put %.3f get %.3f; "
      "opendht (8) put %.3f get %.3f" % (
    med["chorus"]["put"], med["chorus"]["get"], med["chorus-k8"]["put"], med["chorus-k8"]["get"],
    med["opendht"]["put"], med["opendht"]["get"]))
print(json.dumps(summary))
PY
