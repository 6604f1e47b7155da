#!/usr/bin/env bash
# Three chat processes on loopback: alice listens, bob and carol are
# initiate-only clients of hers. Everyone hears everyone's room lines
# (SHOUT, relayed by alice), and direct messages (WHISPER) arrive and are ACKed.
# Usage: chat_3_nodes.sh PATH/TO/chat
set -euo pipefail
chat=$1
. "$(dirname "$0")/lib.sh"

start alice "$chat" alice --listen 127.0.0.1:0
wait_for alice '^\* listening on '
address=$(listen_address_of alice)
start bob "$chat" bob --no-listen --peer "$address"
start carol "$chat" carol --no-listen --peer "$address"
wait_for alice '^\* linked ' 2
wait_for bob '^\* linked '
wait_for carol '^\* linked '

tell alice "hello from alice"
tell bob "hello from bob"
tell carol "hello from carol"
for pair in "alice bob" "alice carol" "bob alice" "bob carol" "carol alice" "carol bob"; do
  read -r listener speaker <<<"$pair"
  wait_for "$listener" "^<$speaker> hello from $speaker\$"
done

# Names are known now (learned from the room lines): direct messages.
tell bob "/msg alice psst from bob"
tell alice "/msg carol psst from alice"
wait_for alice '^\[dm\] <bob> psst from bob$'
wait_for bob '^\* alice got it$'
wait_for carol '^\[dm\] <alice> psst from alice$'
wait_for alice '^\* carol got it$'
tell carol "/msg nobody are you there"
wait_for carol '^! who is nobody\?'

for n in alice bob carol; do tell "$n" "/quit"; done
for n in alice bob carol; do expect_exit "$n"; done
# Nobody hears their own line back from the room.
for n in alice bob carol; do
  if grep -q "^<$n> " "$WORK/$n.log"; then echo "FAIL: $n heard itself" >&2; show_logs; exit 1; fi
done
echo "chat: 3 nodes, 6 room lines and 2 direct messages delivered"
