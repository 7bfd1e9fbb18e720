"""confluent-kafka (librdkafka) against Weir: admin, acks=all production, reading back."""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RECORDS = 100_000
PARTITIONS = 3
READ_DEADLINE_S = 120


def create_topic(bootstrap: str, name: str, partitions: int, **configs) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=configs)])
    futures[name].result(timeout=30)


def produce_all(bootstrap: str, topic: str, count: int, acks: str = "all") -> dict[bytes, tuple[int, int]]:
    """Produces `count` keyed records; returns value -> (partition, offset) as acknowledged."""
    acked: dict[bytes, tuple[int, int]] = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())

    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5})
    for i in range(count):
        while True:
            try:
                p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "records left undelivered"
    assert not errors, errors[:5]
    return acked


def read_partitions(bootstrap: str, topic: str, partitions: int, expected: int) -> dict[int, list[tuple[int, bytes]]]:
    """Reads every partition from the beginning by assignment (librdkafka's default
    isolation level, read_committed)."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "weir-test-reader",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    n = 0
    deadline = time.monotonic() + READ_DEADLINE_S
    while n < expected and time.monotonic() < deadline:
        for msg in c.consume(num_messages=10_000, timeout=1.0):
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                continue
            got[msg.partition()].append((msg.offset(), msg.value()))
            n += 1
    c.close()
    return got


def test_admin_create_produce_100k_acks_all_read_back(broker):
    topic = "confluent-100k"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    acked = produce_all(broker.bootstrap, topic, RECORDS)
    assert len(acked) == RECORDS
    got = read_partitions(broker.bootstrap, topic, PARTITIONS, RECORDS)
    assert sum(len(v) for v in got.values()) == RECORDS
    for partition, records in got.items():
        offsets = [o for o, _ in records]
        assert offsets == list(range(len(offsets))), f"partition {partition} offsets not contiguous"
        for offset, value in records:
            assert acked[value] == (partition, offset)


def test_create_topic_errors(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create_topic(broker.bootstrap, "dup", 1)
    fut = admin.create_topics([NewTopic("dup", 1, 1)])["dup"]
    try:
        fut.result(timeout=30)
        raise AssertionError("duplicate create succeeded")
    except Exception as e:  # KafkaException wrapping TOPIC_ALREADY_EXISTS
        assert e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    fut = admin.create_topics([NewTopic("bad name!", 1, 1)])["bad name!"]
    try:
        fut.result(timeout=30)
        raise AssertionError("invalid name accepted")
    except Exception as e:
        assert e.args[0].code() == KafkaError.TOPIC_EXCEPTION


def test_delete_topic(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create_topic(broker.bootstrap, "doomed", 2)
    admin.delete_topics(["doomed"])["doomed"].result(timeout=30)
    md = admin.list_topics(timeout=10)
    assert "doomed" not in md.topics


def test_describe_topic_config(broker):
    from confluent_kafka.admin import ConfigResource
    create_topic(broker.bootstrap, "configured", 1, **{"retention.ms": "3600000"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, "configured")
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"
