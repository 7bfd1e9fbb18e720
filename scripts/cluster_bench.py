#!/usr/bin/env python3
"""Cluster benchmark: three local weir-broker processes on 127.0.0.1.

Measures, in one run on this machine (clients and brokers share its cores):
  * librdkafka produce throughput of 100 B records with acks=all to an RF=1
    topic and to an RF=3 topic (min.insync.replicas=2), and their ratio;
  * p50/p99 produce latency on the RF=3 topic at about half that rate;
  * failover: kill -9 of the leader of a partition while a producer writes to
    it with acks=all, time from the kill to the first acknowledged write (on
    the new leader), over KILLS kills (the broker is restarted and rejoins the
    ISR between kills);
  * controlled shutdown: SIGTERM of a leader until its process exits;
  * replication lag under that steady half-rate load: how far each follower's
    log of a partition is behind the leader's, sampled every 50 ms from the
    segment files' sizes (followers copy the leader's batches byte for byte),
    in bytes and in ms of that partition's write rate;
  * metadata under load: CreateTopics round trips (each one a Raft commit)
    idle and while the full-speed RF=3 produce runs, to show Raft does not
    queue behind replication (it has its own CONTROLLER link);

  python3 scripts/cluster_bench.py          # BENCH_RECORDS (3000000), BENCH_KILLS (20)

Needs librdkafka-dev (gcc builds bench/rdkafka_bench.c) and confluent-kafka.
Every wait is bounded.
"""

import functools
import glob
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROKER = os.path.join(ROOT, "target", "release", "weir-broker")
BENCH = os.path.join(ROOT, "target", "bench", "rdkafka_bench")
RECORDS = int(os.environ.get("BENCH_RECORDS", "3000000"))
KILLS = int(os.environ.get("BENCH_KILLS", "20"))
SETTLE_S = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, count, root):
        self.root = root
        self.nodes = [
            {"id": i + 1, "port": free_port(), "internal": free_port(), "controller": free_port()}
            for i in range(count)
        ]
        self.voters = ",".join(f"{n['id']}@127.0.0.1:{n['controller']}" for n in self.nodes)
        self.procs = {}
        for n in self.nodes:
            self.start(n["id"])

    def bootstrap(self):
        return ",".join(f"127.0.0.1:{n['port']}" for n in self.nodes)

    def start(self, node_id):
        n = self.nodes[node_id - 1]
        data = os.path.join(self.root, f"broker-{node_id}")
        os.makedirs(data, exist_ok=True)
        log = open(os.path.join(self.root, f"broker-{node_id}.log"), "ab")
        self.procs[node_id] = subprocess.Popen(
            [
                BROKER, "--node-id", str(node_id), "--data-dir", data,
                "--listen",
                f"PLAINTEXT://127.0.0.1:{n['port']},INTERNAL://127.0.0.1:{n['internal']},"
                f"CONTROLLER://127.0.0.1:{n['controller']}",
                "--override", f"controller.quorum.voters={self.voters}",
                "--override", "inter.broker.listener.name=INTERNAL",
            ],
            stdout=subprocess.DEVNULL, stderr=log,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", n["port"]), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"broker {node_id} did not listen")

    def kill(self, node_id, sig=signal.SIGKILL):
        p = self.procs.pop(node_id)
        p.send_signal(sig)
        p.wait(timeout=30)

    def stop_all(self):
        for node_id in list(self.procs):
            self.kill(node_id)


def partition_state(admin, topic, partition):
    md = admin.list_topics(topic, timeout=10)
    p = md.topics[topic].partitions[partition]
    return p.leader, list(p.replicas), list(p.isrs)


def wait(what, check):
    deadline = time.time() + SETTLE_S
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - brokers come and go here
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not reached within {SETTLE_S} s")


def controller_segments(cluster):
    """TCP segments sent so far on the brokers' CONTROLLER links (Raft,
    heartbeats and the link's pings all ride them), from `ss -tin`."""
    ports = {str(n["controller"]) for n in cluster.nodes}
    out = subprocess.run(["ss", "-tin"], capture_output=True, text=True, check=True).stdout
    total, on_link = 0, False
    for line in out.splitlines():
        if line and not line[0].isspace():
            cols = line.split()
            on_link = len(cols) >= 5 and any(
                c.rsplit(":", 1)[-1] in ports for c in cols[3:5])
        elif on_link:
            for field in line.split():
                if field.startswith("segs_out:"):
                    total += int(field.split(":")[1])
    return total


def log_bytes(cluster, topic_partition):
    """Bytes of `topic_partition`'s segment files per broker id."""
    sizes = {}
    for n in cluster.nodes:
        pattern = os.path.join(cluster.root, f"broker-{n['id']}", "**", topic_partition, "*.log")
        total = 0
        for path in glob.glob(pattern, recursive=True):
            try:
                total += os.path.getsize(path)
            except OSError:
                pass
        sizes[n["id"]] = total
    return sizes


def with_replication_lag(cluster, admin, topic, run):
    """Runs `run()`, sampling every 50 ms how many bytes each follower's log
    of `topic`-0 is behind the leader's; returns run's result, the lags in
    bytes, and the leader's write rate in bytes/ms over the run."""
    leader = partition_state(admin, topic, 0)[0]
    samples, stop = [], threading.Event()
    start_bytes, start_at = log_bytes(cluster, f"{topic}-0")[leader], time.monotonic()

    def sample():
        while not stop.is_set():
            sizes = log_bytes(cluster, f"{topic}-0")
            samples.extend(max(0, sizes[leader] - b) for node, b in sizes.items() if node != leader)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run()
    finally:
        stop.set()
        sampler.join()
    grown = log_bytes(cluster, f"{topic}-0")[leader] - start_bytes
    rate = grown / max(1.0, (time.monotonic() - start_at) * 1000)
    return result, samples, rate


def create_topic_times(admin, prefix, count):
    """Seconds per CreateTopics (one partition, RF=3: a Raft commit each)."""
    times = []
    for i in range(count):
        name = f"{prefix}-{i}"
        start = time.monotonic()
        admin.create_topics([NewTopic(name, 1, 3)])[name].result(timeout=30)
        times.append(time.monotonic() - start)
    return times


def quantiles(values):
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))]  # noqa: E731
    return pick(0.5), pick(0.99), ordered[-1]


def rdkafka_produce(bootstrap, topic, records, acks, rate=0):
    env = dict(os.environ, BENCH_RATE=str(rate))
    out = subprocess.run(
        [BENCH, "produce", bootstrap, topic, str(records), "100", acks],
        check=True, capture_output=True, text=True, env=env, timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def failover(cluster, admin, topic):
    """Kill -9 the leader of partition 0 while producing; seconds to the
    first acknowledged write after the kill, per kill."""
    times = []
    for i in range(KILLS):
        wait("a full ISR", lambda: len(partition_state(admin, topic, 0)[2]) == 3)
        leader, _, _ = partition_state(admin, topic, 0)
        acked_after = []
        killed_at = [None]
        stop = threading.Event()

        def on_delivery(sent_at, err, msg):
            # Only a write sent after the kill proves the new leader took it.
            sent_after = killed_at[0] is not None and sent_at > killed_at[0]
            if err is None and sent_after and not acked_after:
                acked_after.append(time.monotonic())

        producer = Producer({
            "bootstrap.servers": cluster.bootstrap(), "acks": "all",
            "enable.idempotence": True, "linger.ms": 1,
            "topic.metadata.refresh.interval.ms": 500, "log_level": 3,
        })

        def produce_loop():
            while not stop.is_set():
                callback = functools.partial(on_delivery, time.monotonic())
                producer.produce(topic, b"x" * 100, partition=0, on_delivery=callback)
                producer.poll(0.002)

        t = threading.Thread(target=produce_loop)
        t.start()
        time.sleep(1.0)
        killed_at[0] = time.monotonic()
        cluster.kill(leader)
        deadline = time.monotonic() + SETTLE_S
        while not acked_after and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        t.join()
        producer.flush(30)
        if not acked_after:
            raise RuntimeError(f"kill {i}: no write acknowledged within {SETTLE_S} s")
        times.append(acked_after[0] - killed_at[0])
        print(f"  kill {i + 1}: broker {leader}, first ack after {times[-1]:.2f} s", flush=True)
        cluster.start(leader)
    return times


def controlled_shutdown(cluster, admin, topic):
    leader, _, _ = partition_state(admin, topic, 0)
    wait("a full ISR", lambda: len(partition_state(admin, topic, 0)[2]) == 3)
    start = time.monotonic()
    cluster.kill(leader, signal.SIGTERM)
    took = time.monotonic() - start
    new_leader, _, _ = partition_state(admin, topic, 0)
    cluster.start(leader)
    return took, leader, new_leader


def build_tools():
    """The release broker and the librdkafka load generator."""
    subprocess.run(["cargo", "build", "--release", "-p", "weir-broker"], cwd=ROOT, check=True)
    os.makedirs(os.path.dirname(BENCH), exist_ok=True)
    subprocess.run(
        ["gcc", "-O2", "-o", BENCH, os.path.join(ROOT, "bench", "rdkafka_bench.c"), "-lrdkafka"],
        check=True,
    )


def main():
    build_tools()
    root = tempfile.mkdtemp(prefix="weir-cluster-bench-")
    cluster = Cluster(3, root)
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        wait("three brokers", lambda: len(admin.list_topics(timeout=5).brokers) == 3)
        topics = [
            NewTopic("bench-rf1", 3, 1),
            NewTopic("bench-rf3", 3, 3, config={"min.insync.replicas": "2"}),
            NewTopic("failover", 1, 3, config={"min.insync.replicas": "2"}),
        ]
        for f in admin.create_topics(topics).values():
            f.result(timeout=30)
        print(f"cluster of 3 at {cluster.bootstrap()} (logs in {root})", flush=True)
        time.sleep(2)
        before = controller_segments(cluster)
        time.sleep(10)
        idle = (controller_segments(cluster) - before) / 10
        print(f"idle: {idle:.0f} TCP segments/s on the CONTROLLER links, all brokers together "
              f"(Raft heartbeats every 250 ms, lease heartbeats every 500 ms)", flush=True)
        rf1 = rdkafka_produce(cluster.bootstrap(), "bench-rf1", RECORDS, "-1")
        rf3 = rdkafka_produce(cluster.bootstrap(), "bench-rf3", RECORDS, "-1")
        print(f"RF=1 acks=all: {rf1['records_per_sec']:.0f} records/s, {rf1['mb_per_sec']} MB/s, "
              f"p50 {rf1['p50_ms']} ms, p99 {rf1['p99_ms']} ms")
        print(f"RF=3 acks=all: {rf3['records_per_sec']:.0f} records/s, {rf3['mb_per_sec']} MB/s, "
              f"p50 {rf3['p50_ms']} ms, p99 {rf3['p99_ms']} ms")
        print(f"RF=3 / RF=1: {rf3['records_per_sec'] / rf1['records_per_sec']:.2f}")
        half = int(rf3["records_per_sec"] / 2)
        paced, lags, rate = with_replication_lag(
            cluster, admin, "bench-rf3",
            lambda: rdkafka_produce(cluster.bootstrap(), "bench-rf3", min(RECORDS, half * 10), "-1", half))
        print(f"RF=3 acks=all at {half} records/s: p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms "
              f"(achieved {paced['records_per_sec']:.0f} records/s)", flush=True)
        p50, p99, top = quantiles(lags)
        print(f"replication lag of bench-rf3-0's followers at that load ({len(lags)} samples): "
              f"p50 {p50} B ({p50 / rate:.1f} ms), p99 {p99} B ({p99 / rate:.1f} ms), "
              f"max {top} B ({top / rate:.1f} ms) at {rate * 1000 / 1e6:.1f} MB/s into the partition",
              flush=True)
        idle_creates = create_topic_times(admin, "idle-create", 10)
        loaded = {}
        load = threading.Thread(target=lambda: loaded.update(
            rdkafka_produce(cluster.bootstrap(), "bench-rf3", RECORDS, "-1")))
        load.start()
        time.sleep(1.0)
        busy_creates = create_topic_times(admin, "busy-create", 10)
        load.join()
        for label, times in (("idle", idle_creates), ("under full RF=3 load", busy_creates)):
            p50, _, top = quantiles(times)
            print(f"CreateTopics (a Raft commit) {label}: p50 {p50 * 1000:.0f} ms, max {top * 1000:.0f} ms")
        print(f"  (the load meanwhile: {loaded.get('records_per_sec', 0):.0f} records/s)", flush=True)
        took, old, new = controlled_shutdown(cluster, admin, "failover")
        print(f"controlled shutdown (SIGTERM of leader {old} to exit): {took:.2f} s; new leader {new}")
        print(f"failover over {KILLS} leader kills (kill -9 to the first acknowledged write):", flush=True)
        times = failover(cluster, admin, "failover")
        ordered = sorted(times)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        print(f"failover s: min {ordered[0]:.2f}  p50 {statistics.median(ordered):.2f}  "
              f"p90 {p90:.2f}  max {ordered[-1]:.2f}  all {[round(t, 2) for t in times]}")
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    sys.exit(main())
