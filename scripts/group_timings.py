#!/usr/bin/env python3
"""Consumer-group timings against a weir-broker this script starts itself.

Measures with confluent-kafka (librdkafka; session.timeout.ms=6000,
heartbeat.interval.ms=500, other settings default):

  first join        subscribe -> first assignment, median over fresh groups
  rebalance, join   a second member's subscribe -> both hold a disjoint,
                    complete assignment
  rebalance, leave  close() (LeaveGroup) -> the survivor owns every partition
  rebalance, kill   SIGKILL of a member in a subprocess -> the survivor owns
                    every partition (mostly the 6 s session timeout)
  commits/s         one consumer committing explicit offsets: synchronously in
                    a loop, and asynchronously (acknowledged commits per second)

Prints a table, then one JSON line. Every loop is bounded by a count and a
deadline. Usage: scripts/group_timings.py [--binary PATH] [--fsync POLICY]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
TOPIC = "timings"
DEADLINE_S = 60
STEPS_MAX = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(binary: Path, data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    bootstrap = f"127.0.0.1:{free_port()}"
    log = open(data_dir.parent / "broker.log", "ab")
    proc = subprocess.Popen([str(binary), "--listen", bootstrap, "--data-dir", str(data_dir), *extra],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"broker exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", int(bootstrap.rsplit(":", 1)[1])), timeout=0.2):
                return proc, bootstrap
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("broker did not listen within 30 s")


# Client session settings; `--client-defaults` empties this (librdkafka's own:
# session.timeout.ms=45000, heartbeat.interval.ms=3000).
CLIENT_TIMEOUTS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


def consumer(bootstrap: str, group: str, **extra) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        **CLIENT_TIMEOUTS,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **extra,
    })


def parts(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def spread_ok(assignments: list[set[int]]) -> bool:
    return (all(assignments) and sum(len(a) for a in assignments) == PARTITIONS
            and set().union(*assignments) == set(range(PARTITIONS)))


def poll_until(consumers, done, what: str, extra_poll=None) -> float:
    """Polls until done(); returns the monotonic time it first held."""
    deadline = time.monotonic() + DEADLINE_S
    for _ in range(STEPS_MAX):
        for c in consumers:
            c.poll(0.01)
        if extra_poll is not None:
            extra_poll()
        if done():
            return time.monotonic()
        if time.monotonic() > deadline:
            break
    raise SystemExit(f"timed out waiting for: {what}")


_group_seq = iter(range(1_000_000))


def new_group(kind: str) -> str:
    return f"timings-{kind}-{next(_group_seq)}"


def first_join(bootstrap: str) -> float:
    c = consumer(bootstrap, new_group("first"))
    try:
        t0 = time.monotonic()
        c.subscribe([TOPIC])
        return poll_until([c], lambda: parts(c) == set(range(PARTITIONS)), "first assignment") - t0
    finally:
        c.close()


def join_then_leave(bootstrap: str) -> tuple[float, float, float]:
    """(second member's join -> settled, close() duration, close -> survivor owns all)."""
    group = new_group("join")
    c1, c2 = consumer(bootstrap, group), consumer(bootstrap, group)
    try:
        c1.subscribe([TOPIC])
        poll_until([c1], lambda: parts(c1) == set(range(PARTITIONS)), "first member assigned")
        t0 = time.monotonic()
        c2.subscribe([TOPIC])
        joined = poll_until([c1, c2], lambda: spread_ok([parts(c1), parts(c2)]), "two members settled") - t0
        t1 = time.monotonic()
        c2.close()
        closed = time.monotonic() - t1
        left = poll_until([c1], lambda: parts(c1) == set(range(PARTITIONS)), "survivor owns all") - t1
        return joined, closed, left
    finally:
        c1.close()


CHILD = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer
    bootstrap, group, topic = sys.argv[1:4]
    def report(parts):
        sys.stdout.write("A " + ",".join(str(p.partition) for p in parts) + "\\n")
        sys.stdout.flush()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([topic], on_assign=lambda c, p: report(p), on_revoke=lambda c, p: report([]))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        c.poll(0.1)
""")


def kill_member(bootstrap: str) -> float:
    """A subprocess member is SIGKILLed; time until the survivor owns all."""
    import selectors
    group = new_group("kill")
    child = subprocess.Popen([sys.executable, "-c", CHILD, bootstrap, group, TOPIC],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(child.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(child.stdout, selectors.EVENT_READ)
    child_parts: set[int] = set()
    buf = b""

    def read_child():
        nonlocal buf, child_parts
        while sel.select(timeout=0):
            chunk = child.stdout.read()
            if not chunk:
                break
            buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.startswith(b"A "):
                child_parts = {int(p) for p in line[2:].decode().split(",") if p}

    c = consumer(bootstrap, group)
    try:
        c.subscribe([TOPIC])
        poll_until([c], lambda: spread_ok([parts(c), child_parts]), "member and child settled", read_child)
        t0 = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        return poll_until([c], lambda: parts(c) == set(range(PARTITIONS)), "survivor owns all after kill") - t0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        c.close()


def commit_rates(bootstrap: str, window_s: float) -> dict:
    acked = {"ok": 0, "failed": 0, "last": 0.0}

    def on_commit(err, _partitions):
        if err is None:
            acked["ok"] += 1
        else:
            acked["failed"] += 1
        acked["last"] = time.monotonic()

    c = consumer(bootstrap, new_group("commit"), on_commit=on_commit)
    try:
        c.subscribe([TOPIC])
        poll_until([c], lambda: parts(c) == set(range(PARTITIONS)), "committer assigned")
        # Synchronous: one commit in flight at a time.
        n = 0
        t0 = time.monotonic()
        for n in range(1, 1_000_000):
            c.commit(offsets=[TopicPartition(TOPIC, n % PARTITIONS, n)], asynchronous=False)
            if time.monotonic() - t0 >= window_s:
                break
        sync_elapsed = time.monotonic() - t0
        sync_rate = n / sync_elapsed
        c.poll(0)
        acked.update(ok=0, failed=0)
        # Asynchronous: keep up to 1000 unacknowledged commits queued.
        issued = 0
        t0 = time.monotonic()
        for _ in range(10_000_000):
            if time.monotonic() - t0 >= window_s:
                break
            if issued - acked["ok"] - acked["failed"] < 1000:
                issued += 1
                c.commit(offsets=[TopicPartition(TOPIC, issued % PARTITIONS, 1_000_000 + issued)],
                         asynchronous=True)
            else:
                c.poll(0.001)
            if issued % 50 == 0:
                c.poll(0)
        drain_deadline = time.monotonic() + DEADLINE_S
        while acked["ok"] + acked["failed"] < issued and time.monotonic() < drain_deadline:
            c.poll(0.05)
        async_elapsed = max(acked["last"], t0 + 1e-9) - t0
        return {
            "sync_commits": n,
            "sync_commits_per_s": round(sync_rate, 1),
            "sync_commit_ms": round(1000 * sync_elapsed / max(n, 1), 3),
            "async_issued": issued,
            "async_acked": acked["ok"],
            "async_failed": acked["failed"],
            "async_commits_per_s": round(acked["ok"] / async_elapsed, 1),
        }
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path,
                    default=Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker")))
    ap.add_argument("--fsync", help="broker --fsync policy (default: the broker's default)")
    ap.add_argument("--first-join-runs", type=int, default=5)
    ap.add_argument("--rebalance-runs", type=int, default=3)
    ap.add_argument("--kill-runs", type=int, default=1)
    ap.add_argument("--commit-window-s", type=float, default=5.0)
    ap.add_argument("--client-defaults", action="store_true",
                    help="use librdkafka's default session/heartbeat settings (no kill runs)")
    args = ap.parse_args()
    if args.client_defaults:
        CLIENT_TIMEOUTS.clear()
        args.kill_runs = 0

    tmp = Path(tempfile.mkdtemp(prefix="weir-group-timings-"))
    extra = ["--fsync", args.fsync] if args.fsync else []
    proc, bootstrap = start_broker(args.binary, tmp / "data", extra)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(timeout=30)

        first = [first_join(bootstrap) for _ in range(args.first_join_runs)]
        rebalances = [join_then_leave(bootstrap) for _ in range(args.rebalance_runs)]
        kills = [kill_member(bootstrap) for _ in range(args.kill_runs)]
        commits = commit_rates(bootstrap, args.commit_window_s)
        assert proc.poll() is None, "broker died during the measurements"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    med = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    result = {
        "first_join_s_median": med(first),
        "first_join_s": [round(x, 3) for x in first],
        "rebalance_join_s_median": med([r[0] for r in rebalances]),
        "close_s_median": med([r[1] for r in rebalances]),
        "rebalance_leave_s_median": med([r[2] for r in rebalances]),
        "rebalance_kill_s_median": med(kills) if kills else None,
        "rebalance_kill_s": [round(x, 3) for x in kills],
        **commits,
        "fsync": args.fsync or "default",
        "client_timeouts": CLIENT_TIMEOUTS or "librdkafka defaults",
    }
    rows = [
        ("first join (subscribe -> assignment)", f"{result['first_join_s_median']:.3f} s",
         f"median of {len(first)}: {result['first_join_s']}"),
        ("rebalance after a join", f"{result['rebalance_join_s_median']:.3f} s",
         f"median of {len(rebalances)}: {[round(r[0], 3) for r in rebalances]}"),
        ("close() incl. LeaveGroup", f"{result['close_s_median']:.3f} s",
         f"median of {len(rebalances)}: {[round(r[1], 3) for r in rebalances]}"),
        ("rebalance after a leave", f"{result['rebalance_leave_s_median']:.3f} s",
         f"median of {len(rebalances)}: {[round(r[2], 3) for r in rebalances]}"),
        ("rebalance after a kill", f"{result['rebalance_kill_s_median'] or 0:.3f} s",
         f"median of {len(kills)}: {result['rebalance_kill_s']} (session.timeout.ms=6000)"),
        ("sync commits/s", f"{result['sync_commits_per_s']:.1f}",
         f"{result['sync_commits']} commits, {result['sync_commit_ms']} ms each"),
        ("async commits/s (acked)", f"{result['async_commits_per_s']:.1f}",
         f"{result['async_issued']} issued, {result['async_acked']} acked, {result['async_failed']} failed"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"weir-broker consumer-group timings (fsync={result['fsync']})")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
