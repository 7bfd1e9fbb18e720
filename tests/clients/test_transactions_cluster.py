"""Kafka transactions on a cluster of three local broker processes, with
confluent-kafka (librdkafka) and kafka-python's admin:

  * a transaction spanning partitions led by every broker commits and aborts:
    its coordinator writes the markers to the other leaders with
    WriteTxnMarkers over the inter-broker listener;
  * the coordinator of an open transaction is killed -9: the transaction
    state (`__transaction_state`, three replicas) moves with the partition's
    leadership, a new producer instance fences the old one and its open
    transaction is aborted, and read_committed readers never see it.
"""

import os
import signal
import subprocess
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import broker_binary, free_port
from test_transactions import API_TIMEOUT_S, assert_reads, produce, read, txn_producer, unique, values

BROKERS = 3
START_DEADLINE_S = 30


class Cluster:
    """Three brokers on 127.0.0.1, each a voter, with their own ports and data."""

    def __init__(self, root, overrides: tuple[str, ...] = (), http: bool = False):
        self.root = root
        self.overrides = overrides
        self.nodes = {
            i: {
                "port": free_port(), "internal": free_port(), "controller": free_port(),
                "http": f"127.0.0.1:{free_port()}" if http else "",
            }
            for i in range(1, BROKERS + 1)
        }
        self.voters = ",".join(f"{i}@127.0.0.1:{n['controller']}" for i, n in self.nodes.items())
        self.procs = {}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n['port']}" for n in self.nodes.values())

    def start(self, node_id: int) -> None:
        n = self.nodes[node_id]
        data = os.path.join(self.root, f"broker-{node_id}")
        os.makedirs(data, exist_ok=True)
        log = open(os.path.join(self.root, f"broker-{node_id}.log"), "ab")
        self.procs[node_id] = subprocess.Popen(
            [
                str(broker_binary()), "--node-id", str(node_id), "--data-dir", data,
                "--listen",
                f"PLAINTEXT://127.0.0.1:{n['port']},INTERNAL://127.0.0.1:{n['internal']},"
                f"CONTROLLER://127.0.0.1:{n['controller']}",
                "--override", f"controller.quorum.voters={self.voters}",
                "--override", "inter.broker.listener.name=INTERNAL",
                "--override", f"http.listener={n['http']}",
                "--override", "transaction.state.log.num.partitions=4",
                "--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
                *[arg for o in self.overrides for arg in ("--override", o)],
            ],
            stdout=subprocess.DEVNULL, stderr=log,
        )

    def kill(self, node_id: int) -> None:
        p = self.procs.pop(node_id)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)

    def stop_all(self) -> None:
        for node_id in list(self.procs):
            self.kill(node_id)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for i in self.nodes:
            path = os.path.join(self.root, f"broker-{i}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- broker {i}\n" + "".join(f.readlines()[-lines:]))
        return "\n".join(out)


def start_cluster(c: "Cluster"):
    """Starts every broker of `c` and waits for all to be registered."""
    for i in c.nodes:
        c.start(i)
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if len(admin.list_topics(timeout=2).brokers) == BROKERS:
                break
        except KafkaException:
            pass
        time.sleep(0.2)
    else:
        c.stop_all()
        pytest.fail("the cluster did not form:\n" + c.log_tail())


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    start_cluster(c)
    yield c
    c.stop_all()


def create_spread_topic(bootstrap: str, name: str) -> dict[int, int]:
    """A topic of three partitions, three replicas each; returns partition ->
    leader once every partition has one, asserting the leaders differ."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 3, 3)])[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics[name]
        leaders = {p: m.leader for p, m in meta.partitions.items()}
        if len(leaders) == 3 and all(l > 0 for l in leaders.values()):
            assert len(set(leaders.values())) == 3, f"leaders spread over the brokers: {leaders}"
            return leaders
        time.sleep(0.2)
    pytest.fail(f"{name} has no leaders")


def test_a_transaction_over_every_broker_commits_and_aborts(cluster):
    topic = unique("txn-spread")
    create_spread_topic(cluster.bootstrap, topic)
    p = txn_producer(cluster.bootstrap, unique("tid-spread"))
    p.init_transactions(API_TIMEOUT_S)
    p.begin_transaction()
    committed = produce(p, topic, values("c", 300), keys=60)
    assert {part for part, _ in committed.acked.values()} == {0, 1, 2}
    p.commit_transaction(API_TIMEOUT_S)
    p.begin_transaction()
    aborted = produce(p, topic, values("a", 300), keys=60)
    p.abort_transaction(API_TIMEOUT_S)
    p.begin_transaction()
    last = produce(p, topic, values("z", 300), keys=60)
    p.commit_transaction(API_TIMEOUT_S)

    assert_reads(read(cluster.bootstrap, topic, 3, "read_committed", 600), committed, last)
    assert_reads(read(cluster.bootstrap, topic, 3, "read_uncommitted", 900), committed, aborted, last)


def test_killing_the_coordinator_of_an_open_transaction_aborts_it(cluster):
    from kafka.admin import KafkaAdminClient

    topic = unique("txn-failover")
    create_spread_topic(cluster.bootstrap, topic)
    tid = unique("tid-failover")
    zombie = txn_producer(cluster.bootstrap, tid)
    zombie.init_transactions(API_TIMEOUT_S)
    zombie.begin_transaction()
    produce(zombie, topic, values("open", 150), keys=30)

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=10_000)
    try:
        coordinator = admin.describe_transactions([tid])[tid].coordinator_id
    finally:
        admin.close()
    cluster.kill(coordinator)

    # A new instance finds the new coordinator, which replayed the id's
    # state: the open transaction is aborted and the old instance fenced.
    survivors = ",".join(
        f"127.0.0.1:{n['port']}" for i, n in cluster.nodes.items() if i != coordinator)
    p = txn_producer(survivors, tid)
    p.init_transactions(API_TIMEOUT_S)
    p.begin_transaction()
    after = produce(p, topic, values("after", 150), keys=30)
    p.commit_transaction(API_TIMEOUT_S)
    with pytest.raises(KafkaException) as fenced:
        zombie.commit_transaction(API_TIMEOUT_S)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].code() in (
        KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)

    got = read(survivors, topic, 3, "read_committed", 150)
    assert_reads(got, after)
