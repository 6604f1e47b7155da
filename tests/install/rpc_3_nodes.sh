#!/usr/bin/env bash
# textd on loopback: one server, two initiate-only clients. Each client's
# four requests get the right responses (three ops and an unknown one, which
# the protocol answers with a status, not a timeout); the server answered 8.
# Usage: rpc_3_nodes.sh PATH/TO/textd
set -euo pipefail
textd=$1
. "$(dirname "$0")/lib.sh"

start server "$textd" server --listen 127.0.0.1:0 --serve 8
wait_for server '^\* listening on '
address=$(listen_address_of server)
start c1 "$textd" c1 --no-listen --peer "$address" --ask "hello chorus world"
start c2 "$textd" c2 --no-listen --peer "$address" --ask "three little words"
for n in server c1 c2; do hang_up "$n"; done

for n in c1 c2 server; do expect_exit "$n"; done
has c1 '^UPPER -> status 0: HELLO CHORUS WORLD$'
has c1 '^WORDS -> status 0: 3$'
has c1 '^REVERSE -> status 0: dlrow surohc olleh$'
has c1 '^op\? -> status 1: unknown op 42$'
has c2 '^UPPER -> status 0: THREE LITTLE WORDS$'
has c2 '^REVERSE -> status 0: sdrow elttil eerht$'
has c2 '^op\? -> status 1: unknown op 42$'
test "$(grep -c '^served ' "$WORK/server.log")" -eq 8 || { show_logs; exit 1; }
echo "rpc: 8 requests answered across 3 nodes"
