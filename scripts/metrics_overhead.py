#!/usr/bin/env python3
"""What the HTTP port costs: produce and consume throughput against a broker
with the HTTP port off (`http.listener = ""`) and against one with it on and
/metrics scraped every second (per-partition and per-group series included),
in the same run, rounds alternating between the two so machine noise falls on
both. Each broker is a release weir-broker with its own temp data dir and
port on 127.0.0.1; the load is `weir perf produce` / `weir perf consume`
(100 B records, acks=1, 6 partitions).

  python3 scripts/metrics_overhead.py                 # 3 rounds of 1M records
  python3 scripts/metrics_overhead.py --rounds 5 --records 2000000

Prints each run, the medians, and on/off ratios (1.00 = no overhead), then a
JSON line. Every loop is bounded in count and time.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROKER = Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker"))
WEIR = Path(os.environ.get("WEIR_BIN", ROOT / "target" / "release" / "weir"))
START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(root: Path, http: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [str(BROKER), "--listen", f"127.0.0.1:{port}", "--data-dir", str(root / "data"),
            "--override", f"http.listener={http}"]
    log = open(root / "broker.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"broker did not listen within {START_TIMEOUT_S}s")


def scrape_every_second(http: str, stop: threading.Event, counts: list) -> None:
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://{http}/metrics", timeout=5) as r:
                r.read()
                counts[0] += 1
        except OSError:
            pass


def perf(bootstrap: str, mode: str, topic: str, records: int) -> float:
    args = [str(WEIR), "-b", bootstrap, "perf", mode, "--topic", topic, "--records", str(records), "--json"]
    if mode == "produce":
        args += ["--partitions", "6", "--acks", "1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["records_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    opts = parser.parse_args()
    roots = [Path(tempfile.mkdtemp(prefix="weir-overhead-")) for _ in range(2)]
    http = f"127.0.0.1:{free_port()}"
    off, off_bootstrap = start_broker(roots[0], "")
    on, on_bootstrap = start_broker(roots[1], http)
    stop, scrapes = threading.Event(), [0]
    scraper = threading.Thread(target=scrape_every_second, args=(http, stop, scrapes), daemon=True)
    scraper.start()
    results = {"off": {"produce": [], "consume": []}, "on": {"produce": [], "consume": []}}
    try:
        for round_ in range(opts.rounds):
            for name, bootstrap in [("off", off_bootstrap), ("on", on_bootstrap)][:: 1 if round_ % 2 == 0 else -1]:
                topic = f"overhead-{round_}"
                for mode in ("produce", "consume"):
                    rate = perf(bootstrap, mode, topic, opts.records)
                    results[name][mode].append(rate)
                    print(f"round {round_} {name:>3} {mode:<8} {rate:>12,.0f} records/s", flush=True)
    finally:
        stop.set()
        for proc in (off, on):
            proc.terminate()
            proc.wait(timeout=30)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    summary = {"records": opts.records, "rounds": opts.rounds, "scrapes": scrapes[0]}
    for mode in ("produce", "consume"):
        off_median = statistics.median(results["off"][mode])
        on_median = statistics.median(results["on"][mode])
        ratio = on_median / off_median
        summary[mode] = {"off": off_median, "on": on_median, "ratio": round(ratio, 3)}
        print(f"{mode:<8} median off {off_median:>12,.0f}  on {on_median:>12,.0f}  on/off {ratio:.3f}")
    print(f"/metrics scraped {scrapes[0]} times")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
