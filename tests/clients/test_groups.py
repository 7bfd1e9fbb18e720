"""Consumer groups with confluent-kafka (librdkafka): assignment and committed offsets."""

import time

from confluent_kafka import Consumer, Producer

from test_confluent import create_topic

DEADLINE_S = 60


def group_consumer(bootstrap: str, group: str, **extra) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **extra,
    })


def wait_for_assignments(consumers, want_total: int) -> list[set[int]]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.1)
        parts = [{tp.partition for tp in c.assignment()} for c in consumers]
        if sum(len(p) for p in parts) == want_total and all(parts):
            return parts
    raise AssertionError(f"assignments never settled: {[c.assignment() for c in consumers]}")


def test_three_consumers_share_six_partitions(broker):
    create_topic(broker.bootstrap, "grouped", 6)
    consumers = [group_consumer(broker.bootstrap, "g-three") for _ in range(3)]
    for c in consumers:
        c.subscribe(["grouped"])
    parts = wait_for_assignments(consumers, 6)
    assert set().union(*parts) == set(range(6)), parts
    assert sum(len(p) for p in parts) == 6, "assignments are disjoint"
    for c in consumers:
        c.close()


def test_committed_offsets_survive_kill_9_and_the_group_resumes_there(broker_factory):
    broker = broker_factory("--fsync", "always")
    create_topic(broker.bootstrap, "resume", 1)
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(100):
        p.produce("resume", value=f"r{i}".encode())
    assert p.flush(30) == 0
    c = group_consumer(broker.bootstrap, "g-resume")
    c.subscribe(["resume"])
    seen = []
    deadline = time.monotonic() + DEADLINE_S
    while len(seen) < 40 and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            seen.append(msg.value())
    assert len(seen) >= 40
    last = c.position(c.assignment())[0].offset
    c.commit(asynchronous=False)
    c.close()
    broker.kill()
    broker.start()
    c = group_consumer(broker.bootstrap, "g-resume")
    c.subscribe(["resume"])
    first = None
    deadline = time.monotonic() + DEADLINE_S
    while first is None and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            first = msg
    c.close()
    assert first is not None
    assert first.offset() == last, f"resumed at {first.offset()}, committed {last}"


def test_kafka_python_group_consumer_commits_and_resumes(broker):
    from kafka import KafkaConsumer, KafkaProducer
    create_topic(broker.bootstrap, "kp-group", 2)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    for i in range(50):
        producer.send("kp-group", value=f"k{i}".encode(), partition=i % 2)
    producer.flush(timeout=30)
    producer.close()

    def consume(n):
        c = KafkaConsumer("kp-group", bootstrap_servers=broker.bootstrap, group_id="kp-g",
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=6000, heartbeat_interval_ms=500)
        got = []
        deadline = time.monotonic() + DEADLINE_S
        while len(got) < n and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500, max_records=n - len(got)).values():
                got.extend(r.value for r in records)
        c.commit()
        c.close()
        return got

    first = consume(20)
    rest = consume(30)
    assert len(first) == 20 and len(rest) == 30
    assert sorted(first + rest) == sorted(f"k{i}".encode() for i in range(50)), "nothing lost, nothing twice"


def test_kcat_balanced_consumer(broker):
    import subprocess
    from conftest import require_tool
    kcat = require_tool("kcat")
    subprocess.run([kcat, "-b", broker.bootstrap, "-t", "kcat-g", "-P"], input="one\ntwo\nthree\n",
                   text=True, check=True, timeout=60)
    out = subprocess.run([kcat, "-b", broker.bootstrap, "-G", "kcat-group", "-o", "beginning", "-e", "kcat-g"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["one", "two", "three"], out.stderr[-2000:]
