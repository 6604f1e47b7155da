#!/usr/bin/env bash
# `chorus sim dht` end to end: a small churned run exits 0 (every finished get
# found its value), and its JSON line says what a reader of the figures needs:
# counts that add up and where the wall time went, phase by phase.
set -euo pipefail
chorus="$1"
out=$("$chorus" sim dht --nodes 500 --lookups 200 --churn 0.1 --json)
echo "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
j = json.loads(sys.argv[1])
assert j["nodes"] == 500 and j["lookups"] == 200, j
assert j["finished"] + j["aborted"] == 200, "every get finished or was aborted by its node's crash"
assert j["success"] >= 0.99, j["success"]
assert j["puts_ok"] == j["keys"] == 20, j
assert j["churned"] == 50, j
phases = j["phase_wall_s"]
assert sorted(phases) == ["gets", "nodes", "puts", "tables"], phases
assert all(v >= 0 for v in phases.values()), phases
assert sum(phases.values()) <= j["wall_s"] + 1e-6, (phases, j["wall_s"])
print("sim dht: ok")
PY
