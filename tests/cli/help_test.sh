#!/usr/bin/env bash
# Every command and subcommand of a program answers --help with exit 0 and a
# description for each option, and docs/cli.md documents exactly the options
# the program has (both directions), command by command.
# Usage: help_test.sh PROGRAM DOC
#   PROGRAM  path to chorus or chorus-nano (its basename names it in DOC)
#   DOC      docs/cli.md: a "## `PROG SUB...`" heading per command, options
#            written as `--long` or `-s` in backticks below it.
set -euo pipefail
program=$1 doc=$2
name=$(basename "$program")
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Options of one --help text: the first column of the lines under "Options:".
help_options() {
  awk '/^[A-Za-z ]+:$/ { in_opts = ($0 == "Options:") ; next }
       in_opts && /^  +-/ {
         sub(/^ +/, ""); split($0, cols, /  +/); n = split(cols[1], names, ",")
         for (i = 1; i <= n; i++) { split(names[i], w, " "); if (w[1] ~ /^-/) print w[1] }
       }' | sort -u
}
# Option lines without a description (on the line or the continuation line
# CLI11 uses when the option column is long).
undescribed() {
  awk 'function flush() { if (pending != "") print pending; pending = "" }
       /^[A-Za-z ]+:$/ { flush(); in_opts = ($0 == "Options:"); next }
       !in_opts { next }
       /^  +-/ { flush(); line = $0; sub(/^ +/, "", line); if (split(line, cols, /  +/) < 2) pending = line; next }
       /^    +[^ -]/ { pending = ""; next }
       { flush() }
       END { flush() }'
}
subcommands() {
  awk '/^[A-Za-z ]+:$/ { in_subs = ($0 == "Subcommands:"); next }
       in_subs && /^  +[a-z]/ { print $1 }'
}
# Options documented under the heading for "$1" in DOC.
doc_options() {
  awk -v want="## \`$1\`" '
    /^## / { in_sec = ($0 == want); next }
    in_sec { while (match($0, /`-[-a-zA-Z0-9]+/)) { print substr($0, RSTART + 1, RLENGTH - 1); $0 = substr($0, RSTART + RLENGTH) } }' "$doc" | sort -u
}

commands=()
walk() {  # walk "sub words..." : checks this command, then its subcommands
  local path=("$@") out rc=0
  out=$("$program" "${path[@]}" --help 2>&1) || rc=$?
  local label="$name${path[*]:+ ${path[*]}}"
  commands+=("$label")
  if [ "$rc" -ne 0 ]; then fail "'$label --help' exited $rc"; return; fi
  grep -q "^Usage: " <<<"$out" || fail "'$label --help' prints no usage line"
  local bare
  bare=$(undescribed <<<"$out")
  [ -z "$bare" ] || fail "'$label --help': options without a description: $bare"
  if ! grep -qx "## \`$label\`" "$doc"; then
    fail "$doc has no section '## \`$label\`': add one with its options (see '$label --help')"
  else
    local have want
    have=$(help_options <<<"$out" | grep -vx -- '-h\|--help' || true)
    want=$(doc_options "$label")
    for o in $want; do grep -qx -- "$o" <<<"$have" || fail "$doc documents $o for '$label', which --help does not list"; done
    for o in $have; do
      grep -qx -- "$o" <<<"$want" ||
        fail "'$label --help' lists $o, which $doc does not document: add a line like
  - \`$o\`: <its --help text>
under ## \`$label\` (its --help: $(grep -m1 -- "$o" <<<"$out" | sed 's/^ *//'))"
    done
  fi
  local sub
  for sub in $(subcommands <<<"$out"); do walk "${path[@]}" "$sub"; done
}
walk

# No section in DOC for a command that does not exist.
while read -r heading; do
  label=${heading#"## \`"}
  label=${label%\`}
  # A here-string, not a pipe: grep -q exits at the first match, and under
  # pipefail printf's SIGPIPE would fail the check at random.
  grep -qxF -- "$label" <<<"$(printf '%s\n' "${commands[@]}")" || fail "$doc documents '$label', which $name does not have"
done < <(grep -E "^## \`$name( |\`)" "$doc")

echo "$name: ${#commands[@]} commands checked"
[ "$failures" -eq 0 ]
