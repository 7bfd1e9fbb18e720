#!/usr/bin/env python3
"""Cluster operations benchmark, in one run on this machine (clients and
brokers share its cores; compare the figures as ratios):

  * produce throughput of the three-broker docker cluster (docker/compose.yml,
    reached through its published host ports) against the same three brokers
    as local processes: librdkafka, 100 B records, acks=all, a 3-partition
    RF=3 topic with min.insync.replicas=2, then the same with acks=1;
  * reassignment throughput: a one-partition topic filled on one broker is
    moved to the two others (`weir topic reassign`, replicas added, caught up,
    the old one dropped) while a producer keeps writing to it at a paced rate;
    MB moved (the partition's size at the end) per second from the request to
    the end of the reassignment, and what the producer achieved meanwhile.

  python3 scripts/cluster_ops_bench.py     # BENCH_RECORDS (2000000), BENCH_MOVE_MB (200)
  BENCH_SKIP_DOCKER=1 python3 scripts/cluster_ops_bench.py   # processes only

Needs librdkafka-dev (gcc builds bench/rdkafka_bench.c), confluent-kafka and,
for the docker half, a Docker engine. Every wait is bounded.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka.admin import AdminClient, NewTopic

from cluster_bench import ROOT, Cluster, build_tools, log_bytes, rdkafka_produce, wait

RECORDS = int(os.environ.get("BENCH_RECORDS", "2000000"))
MOVE_MB = int(os.environ.get("BENCH_MOVE_MB", "200"))
WEIR = os.path.join(ROOT, "target", "release", "weir")
DOCKER_PROJECT = "weir-bench"
DOCKER_PORTS = (39092, 39192, 39292)


def produce_runs(bootstrap, label):
    """acks=all and acks=1 throughput on a fresh RF=3 topic of `bootstrap`."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait(f"{label}: three brokers", lambda: len(admin.list_topics(timeout=5).brokers) == 3)
    topic = NewTopic("ops-bench", 3, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([topic])["ops-bench"].result(timeout=30)
    wait(f"{label}: whole ISRs", lambda: all(
        len(p.isrs) == 3 for p in admin.list_topics("ops-bench", timeout=5)
        .topics["ops-bench"].partitions.values()))
    runs = {}
    for acks in ("-1", "1"):
        r = rdkafka_produce(bootstrap, "ops-bench", RECORDS, acks)
        runs[acks] = r
        print(f"{label} RF=3 acks={'all' if acks == '-1' else acks}: "
              f"{r['records_per_sec']:.0f} records/s, {r['mb_per_sec']} MB/s, "
              f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms", flush=True)
    return runs


def reassignment_under_load(cluster):
    """Moves a filled one-partition RF=1 topic from its broker to the two
    others while a paced acks=all producer writes to it; returns MB/s."""
    bootstrap = cluster.bootstrap()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("moving", 1, 1)])["moving"].result(timeout=30)
    wait("moving led", lambda: admin.list_topics("moving", timeout=5)
         .topics["moving"].partitions[0].leader > 0)
    home = admin.list_topics("moving", timeout=5).topics["moving"].partitions[0].leader
    target = [n["id"] for n in cluster.nodes if n["id"] != home]
    fill = MOVE_MB * 1_000_000 // 100
    rdkafka_produce(bootstrap, "moving", fill, "1")
    before = log_bytes(cluster, "moving-0")[home]
    rate = 20_000
    load = {}
    loader = threading.Thread(target=lambda: load.update(
        rdkafka_produce(bootstrap, "moving", rate * 20, "-1", rate)))
    loader.start()
    time.sleep(2.0)
    started = time.monotonic()
    subprocess.run(
        [WEIR, "-b", bootstrap, "topic", "reassign", "moving", "--replicas", "0:" + ",".join(map(str, target)),
         "--timeout-secs", "600"],
        check=True, stdout=subprocess.DEVNULL, timeout=660,
    )
    took = time.monotonic() - started
    sizes = log_bytes(cluster, "moving-0")
    moved = min(sizes[b] for b in target)
    loader.join(timeout=300)
    print(f"reassignment of moving-0 [{home}] -> {target}: {before / 1e6:.0f} MB at the request, "
          f"{moved / 1e6:.0f} MB on each new replica at its end, {took:.1f} s from the request: "
          f"{moved / 1e6 / took:.0f} MB/s per new replica "
          f"({sizes[home] / 1e6:.0f} MB left on broker {home}, which deletes its copy)", flush=True)
    if load:
        print(f"  the producer meanwhile (acks=all, paced at {rate} records/s): "
              f"{load['records_per_sec']:.0f} records/s, p50 {load['p50_ms']} ms, "
              f"p99 {load['p99_ms']} ms", flush=True)
    return moved / 1e6 / took


def docker_cluster():
    env = dict(os.environ, WEIR_COMPOSE_PROJECT=DOCKER_PROJECT,
               **{f"WEIR_PORT_{i + 1}": str(p) for i, p in enumerate(DOCKER_PORTS)})
    subprocess.run(["bash", "scripts/run_cluster.sh"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=1200)
    return env, ",".join(f"127.0.0.1:{p}" for p in DOCKER_PORTS)


def main():
    build_tools()
    subprocess.run(["cargo", "build", "--release", "-p", "weir-client", "--bin", "weir"],
                   cwd=ROOT, check=True)
    root = tempfile.mkdtemp(prefix="weir-ops-bench-")
    cluster = Cluster(3, root)
    try:
        local = produce_runs(cluster.bootstrap(), "local processes")
        reassignment_under_load(cluster)
    finally:
        cluster.stop_all()
    if os.environ.get("BENCH_SKIP_DOCKER"):
        return 0
    env, bootstrap = docker_cluster()
    try:
        docker = produce_runs(bootstrap, "docker cluster")
    finally:
        subprocess.run(["bash", "scripts/stop_cluster.sh", "--volumes"], cwd=ROOT, env=env,
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for acks, name in (("-1", "acks=all"), ("1", "acks=1")):
        ratio = docker[acks]["records_per_sec"] / local[acks]["records_per_sec"]
        print(f"docker / local processes, {name}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
