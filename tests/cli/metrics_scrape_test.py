"""`--metrics` of every long-running binary, checked from outside.

node: two real `chorus node`s link on loopback (with their DHTs); the
metrics of each are scraped over HTTP and parsed by prometheus_client's own
parser (Debian's python3-prometheus-client), an implementation of the format
that is not ours. Then the JSON log lines (`--log-format json`) are parsed
one by one.
relay: a `chorus-relay` with a WebSocket client: the relay's, the overlay's
and the HTTP server's families.
nano: a `chorus-nano node` asked over its JSON RPC: the latency histograms by
action (unknown actions folded into one series), the ledger's figures.

Usage: /usr/bin/python3 metrics_scrape_test.py node PATH/TO/chorus
       /usr/bin/python3 metrics_scrape_test.py relay PATH/TO/chorus-relay
       /usr/bin/python3 metrics_scrape_test.py nano PATH/TO/chorus-nano
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

MODE = sys.argv[1]
BINARY = sys.argv[2]
DEADLINE_S = 30


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def start(tmp, name, extra, argv=None):
    out = open(os.path.join(tmp, name + ".out"), "w+")
    err = open(os.path.join(tmp, name + ".err"), "w+")
    if argv is None:
        argv = [BINARY, "node", "--key", os.path.join(tmp, name + ".key"), "--listen",
                "127.0.0.1:0", "--dht", "--metrics", "127.0.0.1:0", "--log-format", "json"]
    p = subprocess.Popen(argv + extra, stdout=out, stderr=err)
    lines = {}
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end and "metrics" not in lines:
        if p.poll() is not None:
            err.seek(0)
            fail(f"{name} exited {p.returncode}: {err.read()}")
        out.seek(0)
        for line in out.read().splitlines():
            key, _, value = line.partition(" ")
            lines[key] = value
        time.sleep(0.05)
    if "metrics" not in lines:
        fail(f"{name} printed no metrics line")
    return p, lines, err


def scrape(address, path="/metrics"):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as r:
        return r.headers.get("Content-Type"), r.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, family, sample_name, **labels):
    for s in fams[family].samples:
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    fail(f"no sample {sample_name}{labels} in {family}")


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("a process did not stop on SIGTERM")


def check_types(fams, expect):
    # prometheus_client strips _total from counter family names.
    for name, kind in expect.items():
        if name not in fams:
            fail(f"family {name} missing")
        if fams[name].type != kind:
            fail(f"{name} is {fams[name].type}, not {kind}")


def relay_main():
    import socket
    import base64
    with tempfile.TemporaryDirectory() as tmp:
        r, lines, _ = start(tmp, "relay", [], [BINARY, "--listen", "127.0.0.1:0", "--ws",
                                               "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        try:
            # One WebSocket client, by hand (the handshake is all we need).
            host, port = lines["ws"].rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=5)
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /connect HTTP/1.1\r\nHost: {lines['ws']}\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                         .encode())
            if b" 101 " not in sock.recv(4096):
                fail("the relay refused the WebSocket upgrade")
            end = time.monotonic() + DEADLINE_S
            while True:
                _, text = scrape(lines["metrics"])
                fams = families(text)
                if value(fams, "chorus_relay_clients", "chorus_relay_clients") == 1:
                    break
                if time.monotonic() > end:
                    fail("the relay never counted its client")
                time.sleep(0.05)
            check_types(fams, {
                "chorus_relay_health": "gauge",
                "chorus_relay_clients": "gauge",
                "chorus_relay_inm": "counter",
                "chorus_websocket_open": "gauge",
                "chorus_http_requests": "counter",
                "chorus_overlay_links": "gauge",
                "chorus_dht_datagrams": "counter",
                "process_open_fds": "gauge",
            })
            if value(fams, "chorus_websocket_open", "chorus_websocket_open", server="ws") != 1:
                fail("chorus_websocket_open is not 1")
            states = {s.labels["state"]: s.value for s in fams["chorus_relay_health"].samples}
            if sorted(states) != ["bad", "degraded", "good"] or sum(states.values()) != 1:
                fail(f"health states {states}")
            sock.close()
        finally:
            stop([r])
    print("relay metrics scrape: ok")


def nano_main():
    with tempfile.TemporaryDirectory() as tmp:
        n, lines, _ = start(tmp, "nano", [], [
            BINARY, "node", "--data", os.path.join(tmp, "data"), "--listen", "127.0.0.1:0",
            "--rpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        try:
            rpc = f"http://{lines['rpc']}/"

            def ask(body):
                req = urllib.request.Request(rpc, data=body.encode(), method="POST")
                with urllib.request.urlopen(req, timeout=5) as r:
                    return json.loads(r.read())

            for _ in range(5):
                if "count" not in ask('{"action":"block_count"}'):
                    fail("block_count did not answer a count")
            ask('{"action":"version"}')
            for i in range(50):  # made-up actions must not make series of their own
                ask(json.dumps({"action": f"made_up_{i}"}))
            ask("not json")
            _, text = scrape(lines["metrics"])
            fams = families(text)
            check_types(fams, {
                "chorus_nano_rpc_seconds": "histogram",
                "chorus_nano_blocks": "gauge",
                "chorus_nano_accounts": "gauge",
                "chorus_nano_bootstrap_sessions": "counter",
                "chorus_overlay_links": "gauge",
                "process_resident_memory_bytes": "gauge",
            })
            count = lambda a: value(fams, "chorus_nano_rpc_seconds",
                                    "chorus_nano_rpc_seconds_count", action=a)
            if count("block_count") != 5 or count("version") != 1 or count("unknown") != 51:
                fail(f"rpc counts {count('block_count')} {count('version')} {count('unknown')}")
            actions = {s.labels["action"] for s in fams["chorus_nano_rpc_seconds"].samples}
            if actions != {"block_count", "version", "unknown"}:
                fail(f"series {actions}")
            inf = value(fams, "chorus_nano_rpc_seconds", "chorus_nano_rpc_seconds_bucket",
                        action="block_count", le="+Inf")
            if inf != 5:
                fail(f"+Inf bucket {inf}")
            if value(fams, "chorus_nano_blocks", "chorus_nano_blocks") < 1:
                fail("no genesis block counted")
        finally:
            stop([n])
    print("nano metrics scrape: ok")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        a, a_lines, a_err = start(tmp, "a", [])
        dht_a = a_lines["dht"]
        b, b_lines, b_err = start(tmp, "b", ["--bootstrap", dht_a])
        try:
            # Wait, bounded, for the link and some traffic on it.
            end = time.monotonic() + DEADLINE_S
            while True:
                ctype, text = scrape(a_lines["metrics"])
                fams = families(text)
                links = sum(s.value for s in fams["chorus_overlay_links"].samples)
                frames_in = value(fams, "chorus_overlay_frames", "chorus_overlay_frames_total",
                                  direction="in")
                if links >= 1 and frames_in > 0:
                    break
                if time.monotonic() > end:
                    fail(f"no link after {DEADLINE_S}s: links={links} frames_in={frames_in}")
                time.sleep(0.1)
            if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
                fail(f"content type {ctype!r}")
            # Types as declared; prometheus_client strips _total from counter names.
            expect = {
                "chorus_overlay_links": "gauge",
                "chorus_overlay_frames": "counter",
                "chorus_overlay_dropped": "counter",
                "chorus_dht_datagrams": "counter",
                "chorus_dht_routing_table_nodes": "gauge",
                "chorus_dht_operations": "counter",
                "chorus_dht_rpc_rtt_seconds": "histogram",
                "process_cpu_seconds": "counter",
                "process_resident_memory_bytes": "gauge",
                "process_open_fds": "gauge",
                "process_start_time_seconds": "gauge",
            }
            for name, kind in expect.items():
                if name not in fams:
                    fail(f"family {name} missing")
                if fams[name].type != kind:
                    fail(f"{name} is {fams[name].type}, not {kind}")
            rss = value(fams, "process_resident_memory_bytes", "process_resident_memory_bytes")
            if not 1 << 20 < rss < 1 << 32:
                fail(f"resident memory {rss}")
            started = value(fams, "process_start_time_seconds", "process_start_time_seconds")
            if abs(started - time.time()) > 120:
                fail(f"start time {started} is not about now ({time.time()})")
            kinds = {(s.labels["kind"], s.labels["result"])
                     for s in fams["chorus_dht_operations"].samples}
            if not {("put", "ok"), ("get", "failed"), ("find_node", "ok")} <= kinds:
                fail(f"operation kinds {sorted(kinds)}")
            # b joined through a: its bootstrap lookup counts as a find_node.
            end = time.monotonic() + DEADLINE_S
            while value(families(scrape(b_lines["metrics"])[1]), "chorus_dht_operations",
                        "chorus_dht_operations_total", kind="find_node", result="ok") < 1:
                if time.monotonic() > end:
                    fail("b counted no finished find_node")
                time.sleep(0.1)
            reasons = {s.labels["reason"] for s in fams["chorus_overlay_dropped"].samples}
            if not {"duplicate", "bad_signature", "app_queue_full"} <= reasons:
                fail(f"drop reasons {reasons}")
            # Counters only grow between scrapes.
            before = value(fams, "chorus_overlay_frames", "chorus_overlay_frames_total",
                           direction="out")
            _, text2 = scrape(b_lines["metrics"])
            fams_b = families(text2)
            if sum(s.value for s in fams_b["chorus_overlay_links"].samples) < 1:
                fail("b reports no link")
            _, text3 = scrape(a_lines["metrics"])
            after = value(families(text3), "chorus_overlay_frames", "chorus_overlay_frames_total",
                          direction="out")
            if after < before:
                fail(f"frames out went back from {before} to {after}")
            # Anything but GET /metrics is refused.
            try:
                scrape(a_lines["metrics"], "/other")
                fail("/other answered 200")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    fail(f"/other answered {e.code}")
            # `chorus top` reads the same endpoint: two frames, the second with
            # rates; the link a has shows at a glance.
            top = subprocess.run([BINARY, "top", a_lines["metrics"], "--count", "2", "--interval",
                                  "0.2", "--plain"], capture_output=True, text=True,
                                 timeout=DEADLINE_S)
            if top.returncode != 0:
                fail(f"chorus top exited {top.returncode}: {top.stderr}")
            frames = top.stdout.split("chorus top ")[1:]
            if len(frames) != 2 or "rates over" not in frames[1]:
                fail(f"chorus top frames: {top.stdout!r}")
            glance = [l for l in frames[1].splitlines() if l.startswith("links ")]
            if not glance or " 0 out, 0 in" in glance[0]:
                fail(f"chorus top shows no link: {glance}")
            row = [l.split() for l in frames[1].splitlines()
                   if l.strip().startswith("chorus_overlay_frames_total{direction=in}")]
            if not row or row[0][1] == "-" or float(row[0][2].rstrip("kMG")) <= 0:
                fail(f"chorus top frame row: {row}")
            dead = subprocess.run([BINARY, "top", "127.0.0.1:1", "--count", "1"],
                                  capture_output=True, text=True, timeout=DEADLINE_S)
            if dead.returncode != 1 or "127.0.0.1:1" not in dead.stdout:
                fail(f"chorus top of nothing: rc {dead.returncode}, {dead.stdout!r}")
            # b leaves: a logs the peer going down, with peer and reason as
            # fields of their own.
            stop([b])
            end = time.monotonic() + DEADLINE_S
            while True:
                a_err.seek(0)
                downs = [json.loads(l) for l in a_err.read().splitlines()
                         if l.strip() and json.loads(l)["event"] == "peer down"]
                if downs:
                    break
                if time.monotonic() > end:
                    fail("a logged no peer down after b stopped")
                time.sleep(0.05)
            if not downs[0]["peer"] or not downs[0]["reason"]:
                fail(f"peer down without peer or reason: {downs[0]}")
        finally:
            stop([p for p in (a, b) if p.poll() is None])
        # JSON logs: every stderr line an object with the stable fields.
        for name, err in (("a", a_err), ("b", b_err)):
            err.seek(0)
            lines = [l for l in err.read().splitlines() if l.strip()]
            if not lines:
                fail(f"{name} logged nothing")
            for line in lines:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    fail(f"{name}: not JSON: {line!r}")
                if list(obj) != ["time", "level", "component", "peer", "event", "reason"]:
                    fail(f"{name}: fields {list(obj)}")
                if not obj["time"].endswith("Z") or obj["level"] not in (
                        "trace", "debug", "info", "warning", "error", "critical"):
                    fail(f"{name}: {obj}")
            if not any("started" in json.loads(l)["event"] for l in lines):
                fail(f"{name}: no start event in {lines}")
    print("metrics scrape: ok")


{"node": main, "relay": relay_main, "nano": nano_main}[MODE]()
