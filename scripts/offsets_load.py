#!/usr/bin/env python3
"""How long a restarted broker takes to serve committed offsets after many commits.

Commits N offsets (asynchronously, one group, explicit offsets over P partitions)
to a fresh `weir-broker`, stops it (SIGTERM, or SIGKILL with --kill), starts it
again on the same data and port, and measures the time from process start until
the group's last committed offsets are read back (OffsetFetch through
confluent-kafka's admin client). Prints a table and one JSON line.

    python3 scripts/offsets_load.py --commits 1000000
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
TOPIC, GROUP = "load-topic", "load-group"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: Path, data: Path, port: int, extra: list[str]) -> subprocess.Popen:
    log = open(data.parent / "broker.log", "ab")
    proc = subprocess.Popen([str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", str(data), *extra],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info")))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.01)
    raise SystemExit("broker did not listen within 60 s")


def commit_many(bootstrap: str, commits: int, partitions: int) -> dict[int, int]:
    done = {"n": 0, "failed": 0}

    def on_commit(err, _):
        done["n"] += 1
        done["failed"] += err is not None

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False,
                  "on_commit": on_commit})
    last = {}
    for i in range(1, commits + 1):
        p = i % partitions
        last[p] = i
        for _ in range(100_000):
            if i - done["n"] < 2000:
                break
            c.poll(0.001)
        c.commit(offsets=[TopicPartition(TOPIC, p, i)], asynchronous=True)
    deadline = time.monotonic() + 120
    while done["n"] < commits and time.monotonic() < deadline:
        c.poll(0.05)
    c.close()
    assert done["n"] == commits and done["failed"] == 0, done
    return last


def fetch(admin: AdminClient, partitions: int, timeout_s: float) -> dict[int, int]:
    req = ConsumerGroupTopicPartitions(GROUP, [TopicPartition(TOPIC, p) for p in range(partitions)])
    result = admin.list_consumer_group_offsets([req], request_timeout=timeout_s)[GROUP].result(timeout=timeout_s)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path,
                    default=Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker")))
    ap.add_argument("--commits", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM before the restart")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="weir-offsets-load-"))
    data, port = tmp / "data", free_port()
    bootstrap = f"127.0.0.1:{port}"
    proc = start(args.binary, data, port, [])
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, args.partitions, 1)])[TOPIC].result(timeout=30)
        t0 = time.monotonic()
        last = commit_many(bootstrap, args.commits, args.partitions)
        commit_s = time.monotonic() - t0
        proc.send_signal(signal.SIGKILL if args.kill else signal.SIGTERM)
        proc.wait(timeout=60)
        offsets_bytes = sum(f.stat().st_size for f in data.glob("__consumer_offsets-*/*.log"))
        t0 = time.monotonic()
        proc = start(args.binary, data, port, [])
        listening_s = time.monotonic() - t0
        got = {}
        # A fresh client, as after any broker restart (the one above knew the old process).
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for _ in range(600):
            try:
                got = fetch(admin, args.partitions, 10)
                if got == last:
                    break
            except Exception:  # noqa: BLE001 - still loading; retry (bounded)
                pass
            time.sleep(0.01)
        served_s = time.monotonic() - t0
        assert got == last, f"offsets after restart {got} != committed {last}"
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if not os.environ.get("WEIR_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    result = {"commits": args.commits, "commit_s": round(commit_s, 2),
              "commits_per_s": round(args.commits / commit_s), "offsets_log_bytes": offsets_bytes,
              "restart_listening_s": round(listening_s, 3), "restart_offsets_served_s": round(served_s, 3),
              "stop": "SIGKILL" if args.kill else "SIGTERM"}
    print(f"{args.commits} commits in {commit_s:.1f} s ({result['commits_per_s']}/s), "
          f"offsets log {offsets_bytes / 1e6:.1f} MB; after {result['stop']} + restart: listening in "
          f"{listening_s:.3f} s, committed offsets served in {served_s:.3f} s")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
