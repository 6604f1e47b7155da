#!/usr/bin/env bash
# A scenario's HTML report is a page people open: run a scenario in the
# simulator with --report, then load report.html in headless Chromium
# (tests/swarm/browser/report_page.mjs, playwright-core pinned in its
# package-lock.json) and check every plot renders with no console error.
#
#   report_browser.sh path/to/chorus path/to/scenario.toml EXPECTED_PLOTS
set -uo pipefail
CHORUS=$1
SCENARIO=$2
PLOTS=$3
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
  echo "FAIL: $*"
  exit 1
}

command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (scripts/deps.sh installs them)"
# The real binary: /usr/bin/chromium is Debian's launcher script.
chromium=${CHROMIUM:-/usr/lib/chromium/chromium}
[ -x "$chromium" ] || fail "no Chromium at $chromium (scripts/deps.sh installs the chromium package; or set CHROMIUM)"

"$CHORUS" swarm --scenario "$SCENARIO" --mode sim --report "$dir/report" --json >"$dir/run.json" ||
  fail "the scenario run failed: $(cat "$dir/run.json")"
[ -s "$dir/report/report.html" ] || fail "no report.html written"

cp "$here/browser/package.json" "$here/browser/package-lock.json" "$here/browser/report_page.mjs" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --silent) || fail "npm ci (playwright-core)"
CHROMIUM=$chromium timeout -s KILL 60 node "$dir/report_page.mjs" "$dir/report/report.html" "$PLOTS"
