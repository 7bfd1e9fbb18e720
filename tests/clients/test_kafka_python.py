"""kafka-python round trip."""

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

COUNT = 2_000


def test_kafka_python_round_trip(broker):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    futures = [producer.send("kp-topic", key=str(i).encode(), value=f"value-{i}".encode()) for i in range(COUNT)]
    producer.flush(timeout=60)
    offsets = [f.get(timeout=30).offset for f in futures]
    assert offsets == list(range(COUNT))
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=10_000)
    tp = TopicPartition("kp-topic", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = []
    deadline = time.monotonic() + 60
    while len(values) < COUNT and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(r.value for r in records)
    consumer.close()
    assert values == [f"value-{i}".encode() for i in range(COUNT)]
