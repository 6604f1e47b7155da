"""The OpenDHT half of bench/dht_vs_opendht.sh: N OpenDHT nodes in this
process on loopback, then puts and gets one at a time from random nodes,
timed the way `chorus swarm --dht-*` times ours (from the call to its
completion callback). Prints one JSON line.

  /usr/bin/python3 bench/opendht_swarm.py --nodes 64 --puts 200 --gets 500
"""
import argparse
import json
import os
import random
import statistics
import sys
import threading
import time

import opendht as dht


def percentile(samples, p):
    if not samples:
        return 0.0
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--puts", type=int, default=200)
    ap.add_argument("--gets", type=int, default=500)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle-s", type=float, default=3.0,
                    help="time for routing tables to fill before the first put")
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    nodes = []
    t0 = time.monotonic()
    for i in range(args.nodes):
        r = dht.DhtRunner()
        r.run(port=0)  # the kernel picks the port; getBound() tells it
        if nodes:
            r.bootstrap("127.0.0.1", str(nodes[0].getBound().getPort()))
        nodes.append(r)
    setup_s = time.monotonic() - t0
    time.sleep(args.settle_s)

    def timed_put(node, key, value):
        done = threading.Event()
        ok = [False]

        def cb(success, _nodes):
            ok[0] = bool(success)
            done.set()

        start = time.perf_counter()
        node.put(key, value, done_cb=cb)
        if not done.wait(30):
            return None, False
        return (time.perf_counter() - start) * 1000, ok[0]

    def timed_get(node, key, expect):
        done = threading.Event()
        found = [False]

        def on_value(v):
            if v.data == expect:
                found[0] = True
            return True

        def on_done(_success, _nodes):
            done.set()

        start = time.perf_counter()
        node.get(key, get_cb=on_value, done_cb=on_done)
        if not done.wait(30):
            return None, False
        return (time.perf_counter() - start) * 1000, found[0]

    keys = []
    put_ms, puts_ok = [], 0
    t0 = time.monotonic()
    for i in range(args.puts):
        key = dht.InfoHash.get(f"bench-{args.seed}-{i}")
        data = os.urandom(args.value_bytes)
        ms, ok = timed_put(rnd.choice(nodes), key, dht.Value(data))
        if ms is not None:
            put_ms.append(ms)
        puts_ok += ok
        keys.append((key, data))
    puts_s = time.monotonic() - t0

    get_ms, gets_ok = [], 0
    t0 = time.monotonic()
    for i in range(args.gets):
        key, data = keys[rnd.randrange(len(keys))]
        ms, ok = timed_get(rnd.choice(nodes), key, data)
        if ms is not None:
            get_ms.append(ms)
        gets_ok += ok
    gets_s = time.monotonic() - t0

    print(json.dumps({
        "implementation": "opendht",
        "nodes": args.nodes,
        "setup_s": setup_s,
        "puts": args.puts,
        "put_success": puts_ok / max(1, args.puts),
        "put_ms": {"p50": percentile(put_ms, 50), "p99": percentile(put_ms, 99),
                   "mean": statistics.fmean(put_ms) if put_ms else 0.0},
        "puts_s": puts_s,
        "gets": args.gets,
        "get_success": gets_ok / max(1, args.gets),
        "get_ms": {"p50": percentile(get_ms, 50), "p99": percentile(get_ms, 99),
                   "mean": statistics.fmean(get_ms) if get_ms else 0.0},
        "gets_s": gets_s,
    }), flush=True)
    for r in nodes:
        r.shutdown()
    # The binding's threads may linger after shutdown: exit without joining.
    os._exit(0)


main()
