# Shared by the CLI tests that run `chorus node --dht` processes on loopback:
# source it after setting CHORUS. Nodes are stopped and the scratch folder
# removed when the test exits, however it exits.
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

source "$(dirname "${BASH_SOURCE[0]}")/../wait_for_line.sh"

# $1: index, rest: extra flags (--listen 127.0.0.1:0 unless --no-listen);
# sets dht_addr (HOST:PORT of its DHT) and node_addr (its overlay address).
start_node() {
  "$CHORUS" node --dht --key "$dir/k$1" "${@:2}" >"$dir/out$1" 2>"$dir/err$1" &
  pids+=($!)
  wait_for_line "$dir/out$1" '^dht ' ||
    { echo "node $1 printed no dht address"; cat "$dir/err$1"; exit 1; }
  dht_addr=$(sed -n 's/^dht //p' "$dir/out$1")
  node_addr=$(sed -n 's/^address //p' "$dir/out$1")
}
