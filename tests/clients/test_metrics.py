"""The broker's /metrics (Prometheus text on the HTTP port) after confluent-kafka
produces and consumes a known workload."""

import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port

RECORDS = 500
VALUE_BYTES = 100
TOPIC = "metrics-topic"
DEADLINE_S = 60


def scrape(http: str) -> dict:
    """Family name -> family, from one GET of /metrics."""
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(families: dict, family: str, suffix: str = "", **labels) -> float:
    """The value of the one sample of `family` (name + suffix) with `labels`."""
    matches = [
        s.value
        for s in families[family].samples
        if s.name == family + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, (family, suffix, labels, families[family].samples)
    return matches[0]


def test_metrics_count_a_known_workload(broker_factory):
    http = f"127.0.0.1:{free_port()}"
    broker = broker_factory("--override", f"http.listener={http}")

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(timeout=30)

    errors = []
    producer = Producer({
        "bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True,
    })
    for i in range(RECORDS):
        value = f"{i:08d}".encode().ljust(VALUE_BYTES, b"x")
        producer.produce(TOPIC, value=value, on_delivery=lambda err, _m: err and errors.append(err))
    assert producer.flush(30) == 0
    assert not errors, errors[:5]

    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "metrics-reader",
        "enable.auto.commit": False,
    })
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    read = 0
    deadline = time.monotonic() + DEADLINE_S
    while read < RECORDS and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=1.0):
            assert not msg.error(), msg.error()
            read += 1
    # The group stops half-way: its lag is what it left unread.
    consumer.commit(offsets=[TopicPartition(TOPIC, 0, RECORDS // 2)], asynchronous=False)
    consumer.close()
    assert read == RECORDS

    m = scrape(http)
    assert sample(m, "kafka_server_brokertopicmetrics_messagesin", "_total", topic=TOPIC) == RECORDS
    assert sample(m, "kafka_server_brokertopicmetrics_bytesin", "_total", topic=TOPIC) >= RECORDS * VALUE_BYTES
    assert sample(m, "kafka_server_brokertopicmetrics_bytesout", "_total", topic=TOPIC) >= RECORDS * VALUE_BYTES
    assert sample(m, "weir_brokertopicmetrics_messagesout", "_total", topic=TOPIC) >= RECORDS
    assert sample(m, "weir_partition_producer_ids", topic=TOPIC, partition="0") == 1
    # A leader without followers has none behind it.
    assert sample(m, "weir_partition_max_follower_lag", topic=TOPIC, partition="0") == 0
    assert sample(m, "kafka_network_requestmetrics_requests", "_total", request="Produce") > 0
    assert sample(m, "kafka_network_requestmetrics_requestbytes", "_total", request="Produce") >= RECORDS * VALUE_BYTES
    assert sample(m, "kafka_network_requestmetrics_totaltimems", "_count", request="Produce") > 0
    assert sample(m, "kafka_network_requestmetrics_totaltimems", "_count", request="Fetch") > 0
    assert m["kafka_network_requestmetrics_totaltimems"].type == "histogram"
    assert sample(m, "kafka_log_log_logendoffset", topic=TOPIC, partition="0") == RECORDS
    assert sample(m, "kafka_log_log_logstartoffset", topic=TOPIC, partition="0") == 0
    assert sample(m, "kafka_cluster_partition_highwatermark", topic=TOPIC, partition="0") == RECORDS
    assert sample(m, "kafka_log_log_size", topic=TOPIC, partition="0") >= RECORDS * VALUE_BYTES
    assert sample(m, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    # acks=all under the default fsync policy waits for the flusher.
    assert sample(m, "kafka_log_logflushstats_logflushrateandtimems", "_count") > 0
    assert sample(m, "kafka_coordinator_group_groupmetadatamanager_numgroups", state="Stable") >= 0
    group = {"group": "metrics-reader", "topic": TOPIC, "partition": "0"}
    assert sample(m, "kafka_consumergroup_committed_offset", **group) == RECORDS // 2
    assert sample(m, "kafka_consumergroup_lag", **group) == RECORDS - RECORDS // 2
    # The admin client may still be connected; the closed consumer is not.
    assert sample(m, "kafka_server_socketservermetrics_connection_count") >= 0


def test_partition_series_can_be_turned_off(broker_factory):
    http = f"127.0.0.1:{free_port()}"
    broker = broker_factory(
        "--override", f"http.listener={http}",
        "--override", "http.metrics.partition.series=false",
    )
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("auto-created", value=b"v")
    assert producer.flush(30) == 0
    m = scrape(http)
    assert "kafka_log_log_logendoffset" not in m
    assert "kafka_consumergroup_lag" not in m
    assert sample(m, "kafka_server_brokertopicmetrics_messagesin", "_total", topic="auto-created") == 1


def test_slow_requests_are_logged_with_client_and_api(broker_factory):
    """A request slower than request.slow.threshold.ms is a warning naming the
    client id, the API and the latency (JSON logs: one object per line)."""
    import json

    broker = broker_factory(
        "--log-format", "json",
        "--override", "request.slow.threshold.ms=1",
    )
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "client.id": "slow-probe"})
    # Creating a topic commits to the metadata log and starts a partition: > 1 ms.
    admin.create_topics([NewTopic("slow-topic", 3, 1)])["slow-topic"].result(timeout=30)
    deadline = time.monotonic() + DEADLINE_S
    slow = []
    while not slow and time.monotonic() < deadline:
        for line in broker.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            fields = entry.get("fields", entry)
            if fields.get("message") == "slow request" and fields.get("api") == "CreateTopics":
                slow.append(fields)
        time.sleep(0.1)
    assert slow, broker.log_tail()
    assert slow[0]["client_id"] == "slow-probe"
    assert slow[0]["latency_ms"] > 1
    assert entry_level(broker, "slow request") == "WARN"


def entry_level(broker, message: str) -> str:
    """The level of the first JSON log line with `message`."""
    import json

    for line in broker.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("fields", {}).get("message") == message:
            return entry.get("level")
    return ""


def test_group_api_errors_are_counted_by_kafka_name(broker_factory):
    """A heartbeat for a member the group does not know is UNKNOWN_MEMBER_ID,
    counted under Heartbeat by Kafka's error name."""
    import kafka_wire as kw

    http = f"127.0.0.1:{free_port()}"
    broker = broker_factory("--override", f"http.listener={http}")
    cur = kw.simple_call(broker.bootstrap, kw.HEARTBEAT, 0, kw.heartbeat_v0("no-such-group", 1, "ghost"))
    assert cur is not None
    assert kw.parse_heartbeat_v0(cur) == 25  # UNKNOWN_MEMBER_ID
    m = scrape(http)
    assert sample(
        m, "kafka_network_requestmetrics_errors", "_total", request="Heartbeat", error="UNKNOWN_MEMBER_ID",
    ) == 1
