"""weir-client (through the `weir` CLI) side by side with clients no one here
wrote: the same keys land in the same partitions as librdkafka's Java-compatible
murmur2 partitioner; each side reads the other's batches in every codec; and
aiokafka joins the client matrix with a group round trip."""

import asyncio
import json
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import broker_binary

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def weir_binary() -> Path:
    return broker_binary().parent / "weir"


def weir(broker, *args, stdin: str | None = None, timeout: float = 60) -> str:
    out = subprocess.run(
        [str(weir_binary()), "-b", broker.bootstrap, *args],
        input=stdin, capture_output=True, text=True, timeout=timeout,
    )
    assert out.returncode == 0, f"weir {' '.join(args)} failed:\n{out.stderr}"
    return out.stdout


def create(broker, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def read_all(broker, topic: str, partitions: int, count: int) -> list:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"check-{topic}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, deadline = [], time.monotonic() + 60
    while len(got) < count and time.monotonic() < deadline:
        got += [m for m in consumer.consume(1000, timeout=0.5) if not m.error()]
    consumer.close()
    return got


@pytest.mark.parametrize("partitions", [6, 13])
def test_keys_land_where_librdkafka_murmur2_puts_them(broker, partitions):
    keys = [f"key-{i}" for i in range(500)] + ["", "a", "21", "foobar", "ключ"]
    create(broker, f"weir-keys-{partitions}", partitions)
    create(broker, f"rdk-keys-{partitions}", partitions)
    weir(broker, "produce", "-t", f"weir-keys-{partitions}", "-K", "\t",
         stdin="".join(f"{k}\tv\n" for k in keys))
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        producer.produce(f"rdk-keys-{partitions}", key=k.encode(), value=b"v")
    assert producer.flush(30) == 0

    def placement(topic):
        return {m.key().decode(): m.partition() for m in read_all(broker, topic, partitions, len(keys))}

    ours, theirs = placement(f"weir-keys-{partitions}"), placement(f"rdk-keys-{partitions}")
    assert len(ours) == len(keys) and len(theirs) == len(keys)
    assert ours == theirs
    assert len(set(ours.values())) == partitions, "keys spread over every partition"


@pytest.mark.parametrize("codec", CODECS)
def test_weir_reads_librdkafka_batches(broker, codec):
    topic = f"from-rdk-{codec}"
    create(broker, topic, 2)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec,
                         "linger.ms": 20, "enable.idempotence": True})
    for i in range(2000):
        producer.produce(topic, key=f"k{i % 10}".encode(), value=f"value-{i}".encode() * 3,
                         headers=[("i", str(i).encode())])
    assert producer.flush(30) == 0
    lines = weir(broker, "consume", "-t", topic, "-e", "--format", "json").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2000
    for r in records:
        i = int(r["headers"]["i"])
        assert r["value"] == f"value-{i}" * 3
        assert r["key"] == f"k{i % 10}"
    # Within a partition, offsets are consecutive from 0.
    for p in (0, 1):
        offsets = [r["offset"] for r in records if r["partition"] == p]
        assert offsets == list(range(len(offsets)))


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_reads_weir_batches(broker, codec):
    topic = f"from-weir-{codec}"
    create(broker, topic, 1)
    lines = [f"line {i} " + "y" * (i % 200) for i in range(3000)]
    weir(broker, "produce", "-t", topic, "--compression", codec, "-H", f"codec={codec}",
         stdin="\n".join(lines) + "\n")
    got = read_all(broker, topic, 1, len(lines))
    assert [m.value().decode() for m in got] == lines
    assert all(m.headers() == [("codec", codec.encode())] for m in got)
    assert [m.offset() for m in got] == list(range(len(lines)))


def test_aiokafka_round_trip_in_a_group(broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    count = 1000
    create(broker, "aio", 3)

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
        await producer.start()
        try:
            sent = await asyncio.gather(*[
                await producer.send("aio", key=f"k{i}".encode(), value=f"v{i}".encode())
                for i in range(count)
            ])
        finally:
            await producer.stop()
        acked = {(m.partition, m.offset) for m in sent}
        assert len(acked) == count

        consumer = AIOKafkaConsumer("aio", bootstrap_servers=broker.bootstrap, group_id="aio-group",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        seen = {}
        try:
            deadline = time.monotonic() + 60
            while len(seen) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, msgs in batches.items():
                    for m in msgs:
                        seen[(m.partition, m.offset)] = m.value
            await consumer.commit()
            assert set(consumer.assignment()) == {TopicPartitionAio("aio", p) for p in range(3)}
        finally:
            await consumer.stop()
        assert set(seen) == acked
        assert sorted(seen.values()) == sorted(f"v{i}".encode() for i in range(count))

        # The group's commit is what a fresh member resumes from: nothing left.
        again = AIOKafkaConsumer("aio", bootstrap_servers=broker.bootstrap, group_id="aio-group",
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        await again.start()
        try:
            rest = await again.getmany(timeout_ms=3000)
            assert sum(len(v) for v in rest.values()) == 0
        finally:
            await again.stop()

    from aiokafka.structs import TopicPartition as TopicPartitionAio
    asyncio.run(run())


def test_perf_tools_report_machine_readable_figures(broker, tmp_path):
    """`weir perf produce|consume|e2e --json` print one line with the figures
    the issue names, for the records really moved; `cluster status` names the
    broker."""
    svg = tmp_path / "latency.svg"
    line = weir(broker, "perf", "produce", "-t", "perf-json", "--records", "20000", "--size", "50",
                "--acks", "all", "--compression", "lz4", "--json", "--svg", str(svg))
    produced = json.loads(line)
    for field in ("records", "records_per_sec", "mb_per_sec", "p50_ms", "p99_ms"):
        assert field in produced, field
    assert produced["records"] == 20000 and produced["failed"] == "0"
    assert produced["records_per_sec"] > 0 and produced["p99_ms"] >= produced["p50_ms"]
    assert svg.read_text().lstrip().startswith("<svg")
    consumed = json.loads(weir(broker, "perf", "consume", "-t", "perf-json", "--records", "20000", "--json"))
    assert consumed["records"] == 20000
    assert consumed["mb_per_sec"] == pytest.approx(consumed["records_per_sec"] * 50 / 1e6, rel=1e-6)
    e2e = json.loads(weir(broker, "perf", "e2e", "-t", "perf-e2e", "--records", "5000", "--rate", "5000", "--json"))
    assert e2e["records"] == 5000 and e2e["p50_ms"] > 0
    status = weir(broker, "cluster", "status")
    assert f"broker 0  127.0.0.1:{broker.port}" in status
