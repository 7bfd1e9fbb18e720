#!/usr/bin/env python3
"""What transactions cost, against one local weir-broker (release build, its
own temp data dir and port on 127.0.0.1; clients and broker share this
machine's cores, so compare the figures as ratios):

  * produce throughput of 100 B records with librdkafka (confluent-kafka):
    (a) idempotent producer (enable.idempotence=true);
    (b) transactional, 1,000 records per transaction;
    (c) transactional, 10 records per transaction (fewer records: each
        transaction is a few round trips to the coordinator and a marker per
        partition);
    records/s, MB/s, and each one's ratio to (a);
  * consume throughput of (b)'s topic (and (c)'s) from the beginning, by
    assignment, with isolation.level=read_committed against read_uncommitted
    (librdkafka consumers with fetch.queue.backoff.ms=0 and
    queued.min.messages=1000000), records/s and their ratio. Without a
    transactional run (a broker without transactions) it reads (a)'s topic.

  python3 scripts/txn_bench.py                       # 300k for (a)/(b), 30k for (c)
  python3 scripts/txn_bench.py --records 1000000 --small-records 50000
  python3 scripts/txn_bench.py --broker-override transaction.state.log.num.partitions=4

Prints a line per figure and a JSON line. Every loop is bounded in count and
in time (--max-seconds per run).
"""

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
BROKER = Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker"))
START_TIMEOUT_S = 30
TXN_API_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(binary: Path, root: Path, overrides: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", str(root / "data")]
    for o in overrides:
        args += ["--override", o]
    log = open(root / "broker.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (root / "broker.log").read_text(errors="replace").splitlines()[-20:]
            raise SystemExit(f"broker exited with {proc.returncode}:\n" + "\n".join(tail))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"broker did not listen within {START_TIMEOUT_S} s")


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def producer_config(bootstrap: str) -> dict:
    # The same batching for every run; only idempotence/transactions differ.
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
    }


def figures(records: int, seconds: float, size: int) -> dict:
    seconds = max(seconds, 1e-9)
    return {
        "records": records,
        "seconds": round(seconds, 3),
        "records_per_sec": round(records / seconds),
        "mb_per_sec": round(records * size / seconds / 1e6, 1),
    }


def produce_run(bootstrap: str, topic: str, records: int, size: int, per_txn: int | None,
                max_seconds: float) -> dict:
    """Produces `records` values of `size` bytes (no key: librdkafka spreads
    them over the partitions), idempotently or in transactions of `per_txn`
    records; the clock runs from the first produce to the last ack/commit."""
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    conf = producer_config(bootstrap)
    if per_txn:
        conf["transactional.id"] = f"txn-bench-{uuid.uuid4().hex[:8]}"
    p = Producer(conf)
    if per_txn:
        try:
            p.init_transactions(TXN_API_TIMEOUT_S)
        except KafkaException as e:
            raise RuntimeError(f"init_transactions: {e}") from None
    value = b"x" * size
    deadline = time.monotonic() + max_seconds
    start = time.monotonic()
    sent = 0
    transactions = 0
    while sent < records:
        if time.monotonic() > deadline:
            raise RuntimeError(f"produce to {topic} not done within {max_seconds} s ({sent} sent)")
        batch = min(per_txn or records, records - sent)
        if per_txn:
            p.begin_transaction()
        for _ in range(batch):
            while True:
                try:
                    p.produce(topic, value, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.01)
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"produce to {topic} stuck on a full queue") from None
            sent += 1
            if sent % 10_000 == 0:
                p.poll(0)
        if per_txn:
            p.commit_transaction(TXN_API_TIMEOUT_S)  # flushes the transaction's records first
            transactions += 1
    remaining = p.flush(max(1.0, deadline - time.monotonic()))
    took = time.monotonic() - start
    if remaining:
        raise RuntimeError(f"{remaining} records to {topic} left undelivered")
    if errors:
        raise RuntimeError(f"{len(errors)} delivery errors on {topic}, e.g. {errors[:3]}")
    result = figures(records, took, size)
    if per_txn:
        result["transactions"] = transactions
        result["records_per_txn"] = per_txn
    return result


def consume_run(bootstrap: str, topic: str, partitions: int, records: int, isolation: str,
                size: int, max_seconds: float) -> dict:
    """Reads `records` records of `topic` from the beginning; the rate counts
    the records after the first batch, over the time from that batch to the
    last (leaving out connecting and the first fetch)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"txn-bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "fetch.queue.backoff.ms": 0,
        "queued.min.messages": 1_000_000,
    })
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    n = 0
    first = last = None
    in_first = 0  # records of the first batch, which arrived before the clock started
    deadline = time.monotonic() + max_seconds
    try:
        while n < records and time.monotonic() < deadline:
            for msg in c.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(msg.error())
                    continue
                n += 1
            now = time.monotonic()
            if n and first is None:
                first, in_first = now, n
            last = now
    finally:
        c.close()
    if n < records:
        raise RuntimeError(f"{isolation} read {n} of {records} records of {topic} within {max_seconds} s")
    if n > records:
        raise RuntimeError(f"{isolation} read {n} records of {topic}, more than the {records} written")
    timed = n - in_first
    result = figures(timed, (last - first) if timed else 0.0, size)
    result["records"] = n
    result["isolation"] = isolation
    return result


def line(label: str, r: dict, base: dict | None = None) -> str:
    text = (f"{label:<40} {r['records']:>9} records in {r['seconds']:7.2f} s: "
            f"{r['records_per_sec']:>9} records/s, {r['mb_per_sec']:6.1f} MB/s")
    if base:
        text += f"  ({r['records_per_sec'] / max(1, base['records_per_sec']):.2f} of idempotent)"
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=BROKER)
    ap.add_argument("--build", action="store_true", help="cargo build --release -p weir-broker first")
    ap.add_argument("--records", type=int, default=300_000, help="records for (a) and (b)")
    ap.add_argument("--small-records", type=int, default=30_000, help="records for (c)")
    ap.add_argument("--txn-size", type=int, default=1_000, help="records per transaction in (b)")
    ap.add_argument("--small-txn-size", type=int, default=10, help="records per transaction in (c)")
    ap.add_argument("--size", type=int, default=100, help="bytes per record value")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=600, help="bound on each produce or consume run")
    ap.add_argument("--broker-override", action="append", default=[], metavar="NAME=VALUE",
                    help="a broker property (passed as --override); repeat for several")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data and broker.log)")
    args = ap.parse_args()

    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]), flush=True)
    if args.build:
        subprocess.run(["cargo", "build", "--release", "-p", "weir-broker"], cwd=ROOT, check=True)
    if not args.binary.exists():
        raise SystemExit(f"{args.binary} is missing: cargo build --release -p weir-broker (or --build)")

    root = Path(tempfile.mkdtemp(prefix="weir-txn-bench-"))
    proc, bootstrap = start_broker(args.binary, root, args.broker_override)
    result: dict = {"records": args.records, "small_records": args.small_records, "size": args.size,
                    "partitions": args.partitions}
    failures = 0
    try:
        print(f"one weir-broker at {bootstrap} (data in {root}), {args.partitions} partitions, "
              f"{args.size} B records", flush=True)
        runs = [
            ("idempotent", args.records, None),
            (f"transactional, {args.txn_size}/txn", args.records, args.txn_size),
            (f"transactional, {args.small_txn_size}/txn", args.small_records, args.small_txn_size),
        ]
        produced: dict[str, tuple[str, int]] = {}
        base = None
        txn_failed = None
        for i, (label, records, per_txn) in enumerate(runs):
            key = "abc"[i]
            if per_txn and txn_failed:
                failures += 1
                print(f"({key}) {label}: skipped (the previous transactional run failed)", flush=True)
                result[f"produce_{key}"] = {"error": f"skipped after: {txn_failed}"}
                continue
            topic = f"txn-bench-{key}"
            create_topic(bootstrap, topic, args.partitions)
            try:
                r = produce_run(bootstrap, topic, records, args.size, per_txn, args.max_seconds)
            except (KafkaException, RuntimeError) as e:
                failures += 1
                if per_txn:
                    txn_failed = str(e)
                print(f"({key}) {label}: FAILED: {e}", flush=True)
                result[f"produce_{key}"] = {"error": str(e)}
                continue
            if base is None:
                base = r
            else:
                r["ratio_to_idempotent"] = round(r["records_per_sec"] / max(1, base["records_per_sec"]), 3)
            result[f"produce_{key}"] = r
            produced[key] = (topic, records)
            print(line(f"({key}) {label}:", r, base if per_txn else None), flush=True)

        # Consume what was written in transactions; without any, (a)'s topic.
        to_read = [k for k in ("b", "c") if k in produced] or [k for k in ("a",) if k in produced]
        for key in to_read:
            topic, records = produced[key]
            by_level = {}
            for isolation in ("read_uncommitted", "read_committed"):
                try:
                    r = consume_run(bootstrap, topic, args.partitions, records, isolation, args.size,
                                    args.max_seconds)
                except (KafkaException, RuntimeError) as e:
                    failures += 1
                    print(f"consume ({key}) {isolation}: FAILED: {e}", flush=True)
                    continue
                by_level[isolation] = r
                print(line(f"consume ({key}'s topic) {isolation}:", r), flush=True)
            if len(by_level) == 2:
                ratio = (by_level["read_committed"]["records_per_sec"]
                         / max(1, by_level["read_uncommitted"]["records_per_sec"]))
                by_level["ratio_committed_to_uncommitted"] = round(ratio, 3)
                print(f"consume ({key}'s topic) read_committed / read_uncommitted: {ratio:.2f}", flush=True)
            result[f"consume_{key}"] = by_level
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
