"""`chorus node --metrics` and `--log-format json`, checked from outside.

Two real nodes link on loopback (with their DHTs); the metrics of each are
scraped over HTTP and parsed by prometheus_client's own parser (Debian's
python3-prometheus-client), an implementation of the format that is not
ours. Then the JSON log lines are parsed one by one.

Usage: /usr/bin/python3 metrics_scrape_test.py PATH/TO/chorus
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

CHORUS = sys.argv[1]
DEADLINE_S = 30


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def start(tmp, name, extra):
    out = open(os.path.join(tmp, name + ".out"), "w+")
    err = open(os.path.join(tmp, name + ".err"), "w+")
    p = subprocess.Popen(
        [CHORUS, "node", "--key", os.path.join(tmp, name + ".key"), "--listen", "127.0.0.1:0",
         "--dht", "--metrics", "127.0.0.1:0", "--log-format", "json"] + extra,
        stdout=out, stderr=err)
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
        finally:
            for p in (a, b):
                p.send_signal(signal.SIGTERM)
            for p in (a, b):
                try:
                    p.wait(timeout=DEADLINE_S)
                except subprocess.TimeoutExpired:
                    p.kill()
                    fail("a node did not stop on SIGTERM")
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
                if list(obj)[:4] != ["time", "level", "component", "event"]:
                    fail(f"{name}: fields {list(obj)}")
                if not obj["time"].endswith("Z") or obj["level"] not in (
                        "trace", "debug", "info", "warning", "error", "critical"):
                    fail(f"{name}: {obj}")
            if not any("started" in json.loads(l)["event"] for l in lines):
                fail(f"{name}: no start event in {lines}")
    print("metrics scrape: ok")


main()
