"""/metrics on a cluster of three local broker processes (the Cluster of
test_transactions_cluster.py with HTTP ports): exactly one broker reports
itself the active controller, every member names it the quorum's leader and
it times its commits; a follower killed -9 shrinks its partition's
ISR (counted by the leader, which then reports the partition under-replicated
and under min.insync.replicas), and its restart expands the ISR again."""

import time
import urllib.error

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from test_metrics import scrape, sample
from test_transactions_cluster import Cluster, start_cluster

DEADLINE_S = 60
TOPIC = "isr-watched"


def scrapes(cluster) -> dict:
    """Each running broker's metrics; one still starting (port not open yet) is left out."""
    out = {}
    for i, n in cluster.nodes.items():
        if i in cluster.procs:
            try:
                out[i] = scrape(n["http"])
            except urllib.error.URLError:
                pass
    return out


def wait_for(what: str, cluster, check) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        m = scrapes(cluster)
        if check(m):
            return m
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {DEADLINE_S}s:\n{cluster.log_tail()}")
        time.sleep(0.3)


def test_isr_shrinks_and_expands_and_one_active_controller(tmp_path):
    cluster = Cluster(str(tmp_path), overrides=("replica.lag.time.max.ms=1500",), http=True)
    start_cluster(cluster)
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        topic = NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "3"})
        admin.create_topics([topic])[TOPIC].result(timeout=30)

        def controllers(m):
            return sum(sample(s, "kafka_controller_kafkacontroller_activecontrollercount") for s in m.values())

        m = wait_for(
            "one active controller", cluster, lambda m: len(m) == 3 and controllers(m) == 1
        )
        assert all(sample(s, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0 for s in m.values())
        # Every member names the same quorum leader: the active controller,
        # which timed the commits of the topic's creation.
        active = next(i for i, s in m.items() if sample(s, "kafka_controller_kafkacontroller_activecontrollercount") == 1)
        assert {sample(s, "kafka_server_raftmetrics_current_leader") for s in m.values()} == {active}
        assert all(sample(s, "kafka_server_raftmetrics_current_epoch") >= 1 for s in m.values())
        assert sample(m[active], "kafka_server_raftmetrics_commit_latency_ms", "_count") > 0
        assert all(sample(s, "kafka_server_raftmetrics_last_applied_offset") > 0 for s in m.values())
        deadline = time.monotonic() + DEADLINE_S
        while True:
            part = admin.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions[0]
            if part.leader > 0 and len(part.isrs) == 3:
                break
            assert time.monotonic() < deadline, "the partition never got a full ISR"
            time.sleep(0.2)
        leader = part.leader
        follower = next(r for r in part.replicas if r != leader)
        before = sample(scrape(cluster.nodes[leader]["http"]), "kafka_server_replicamanager_isrshrinks", "_total")

        cluster.kill(follower)
        m = wait_for(
            "the leader counts the ISR shrink", cluster,
            lambda m: sample(m[leader], "kafka_server_replicamanager_isrshrinks", "_total") > before,
        )
        assert sample(m[leader], "kafka_server_replicamanager_underreplicatedpartitions") >= 1
        assert sample(m[leader], "kafka_server_replicamanager_underminisrpartitioncount") == 1
        # Records the dead follower misses are its lag, as the leader sees it.
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "1"})
        for i in range(10):
            producer.produce(TOPIC, value=f"while-down-{i}".encode(), partition=0)
        assert producer.flush(30) == 0
        wait_for(
            "the leader sees the follower's lag", cluster,
            lambda m: sample(m[leader], "weir_partition_max_follower_lag", topic=TOPIC, partition="0") >= 10,
        )

        expands = sample(m[leader], "kafka_server_replicamanager_isrexpands", "_total")
        cluster.start(follower)
        wait_for(
            "the leader counts the ISR expansion", cluster,
            lambda m: follower in m
            and sample(m[leader], "kafka_server_replicamanager_isrexpands", "_total") > expands
            and sample(m[leader], "kafka_server_replicamanager_underminisrpartitioncount") == 0,
        )
    finally:
        cluster.stop_all()
