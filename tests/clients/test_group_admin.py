"""Group administration with real clients: ListGroups, DescribeGroups, DeleteGroups
(confluent-kafka's AdminClient) and OffsetDelete (kafka-python's admin), and that
groups and their deletion survive a kill -9."""

import time

from confluent_kafka import ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from test_confluent import create_topic
from test_groups import group_consumer

DEADLINE_S = 60


_ADMINS: dict[str, AdminClient] = {}


def admin(bootstrap: str) -> AdminClient:
    """One AdminClient per broker address, kept alive (a dropped client cancels its futures)."""
    if bootstrap not in _ADMINS:
        _ADMINS[bootstrap] = AdminClient({"bootstrap.servers": bootstrap})
    return _ADMINS[bootstrap]


def listed(bootstrap: str) -> dict[str, ConsumerGroupState]:
    result = admin(bootstrap).list_consumer_groups(request_timeout=30).result(timeout=30)
    assert not result.errors, result.errors
    return {g.group_id: g.state for g in result.valid}


def describe(bootstrap: str, group: str):
    return admin(bootstrap).describe_consumer_groups([group], request_timeout=30)[group].result(timeout=30)


def delete(bootstrap: str, group: str):
    return admin(bootstrap).delete_consumer_groups([group], request_timeout=30)[group].result(timeout=30)


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    result = admin(bootstrap).list_consumer_group_offsets([request])[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def consume_and_commit(bootstrap: str, group: str, topic: str, want: int):
    """A subscribed consumer that consumed `want` records and committed; left open."""
    c = group_consumer(bootstrap, group)
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + DEADLINE_S
    while got < want and time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            got += 1
    assert got == want, f"consumed {got} of {want}"
    c.commit(asynchronous=False)
    return c


def commit_async(bootstrap: str, group: str, topic: str, partitions: int, commits: int,
                 in_flight: int) -> dict[int, int]:
    """Commits offsets 1..=commits round-robin over the partitions, asynchronously
    with up to `in_flight` unanswered (librdkafka pipelines them on one
    connection); asserts every commit succeeded; returns the last per partition."""
    from confluent_kafka import Consumer
    done = {"n": 0, "failed": 0}

    def on_commit(err, _):
        done["n"] += 1
        done["failed"] += err is not None

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "on_commit": on_commit})
    last = {}
    for i in range(1, commits + 1):
        last[i % partitions] = i
        for _ in range(100_000):
            if i - done["n"] < in_flight:
                break
            c.poll(0.001)
        c.commit(offsets=[TopicPartition(topic, i % partitions, i)], asynchronous=True)
    deadline = time.monotonic() + DEADLINE_S
    while done["n"] < commits and time.monotonic() < deadline:
        c.poll(0.05)
    c.close()
    assert done == {"n": commits, "failed": 0}
    return last


def produce(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 2)
    assert p.flush(30) == 0


def test_list_describe_delete_with_confluent_admin(broker):
    b = broker.bootstrap
    create_topic(b, "adm", 2)
    produce(b, "adm", 20)
    c = consume_and_commit(b, "adm-g", "adm", 20)
    assert listed(b).get("adm-g") == ConsumerGroupState.STABLE
    d = describe(b, "adm-g")
    assert d.state == ConsumerGroupState.STABLE
    assert d.partition_assignor == "range"
    assert len(d.members) == 1
    assigned = {tp.partition for tp in d.members[0].assignment.topic_partitions}
    assert assigned == {0, 1}, d.members[0].assignment
    assert committed(b, "adm-g", "adm", 2) == {0: 10, 1: 10}

    try:
        delete(b, "adm-g")
        raise AssertionError("a group with members cannot be deleted")
    except KafkaException as e:
        assert e.args[0].name() == "NON_EMPTY_GROUP", e
    c.close()
    deadline = time.monotonic() + DEADLINE_S
    while describe(b, "adm-g").state != ConsumerGroupState.EMPTY and time.monotonic() < deadline:
        time.sleep(0.2)
    assert describe(b, "adm-g").state == ConsumerGroupState.EMPTY
    assert listed(b).get("adm-g") == ConsumerGroupState.EMPTY

    delete(b, "adm-g")
    assert "adm-g" not in listed(b)
    assert describe(b, "adm-g").state == ConsumerGroupState.DEAD
    assert committed(b, "adm-g", "adm", 2) == {0: -1001, 1: -1001}, "offsets are gone"
    try:
        delete(b, "adm-g")
        raise AssertionError("deleting a deleted group is an error")
    except KafkaException as e:
        assert e.args[0].name() == "GROUP_ID_NOT_FOUND", e


def test_offset_delete_with_kafka_python_admin(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.structs import TopicPartition as KTP
    b = broker.bootstrap
    create_topic(b, "od-used", 2)
    create_topic(b, "od-old", 2)
    produce(b, "od-used", 10)
    produce(b, "od-old", 10)
    old = consume_and_commit(b, "od-g", "od-old", 10)
    old.close()
    c = consume_and_commit(b, "od-g", "od-used", 10)
    ka = KafkaAdminClient(bootstrap_servers=b)
    try:
        result = ka.delete_group_offsets("od-g", [KTP("od-old", 0), KTP("od-old", 1), KTP("od-used", 0)])
        errors = {(tp.topic, tp.partition): err.__name__ if isinstance(err, type) else type(err).__name__
                  for tp, err in result.items()}
        assert errors[("od-used", 0)] == "GroupSubscribedToTopicError", errors
        assert errors[("od-old", 0)] == "NoError" and errors[("od-old", 1)] == "NoError", errors
    finally:
        ka.close()
        c.close()
    assert committed(b, "od-g", "od-old", 2) == {0: -1001, 1: -1001}
    assert committed(b, "od-g", "od-used", 2) == {0: 5, 1: 5}


def test_groups_and_their_deletion_survive_kill_9(broker_factory):
    broker = broker_factory("--fsync", "always")
    b = broker.bootstrap
    create_topic(b, "surv", 2)
    produce(b, "surv", 20)
    for group in ("keep-g", "drop-g"):
        consume_and_commit(b, group, "surv", 20).close()
    broker.kill()
    broker.start()
    _ADMINS.clear()
    deadline = time.monotonic() + DEADLINE_S
    while not {"keep-g", "drop-g"} <= set(listed(b)) and time.monotonic() < deadline:
        time.sleep(0.2)
    groups = listed(b)
    assert groups.get("keep-g") == ConsumerGroupState.EMPTY, groups
    assert committed(b, "keep-g", "surv", 2) == {0: 10, 1: 10}
    delete(b, "drop-g")
    broker.kill()
    broker.start()
    _ADMINS.clear()
    deadline = time.monotonic() + DEADLINE_S
    while "keep-g" not in listed(b) and time.monotonic() < deadline:
        time.sleep(0.2)
    groups = listed(b)
    assert "keep-g" in groups and "drop-g" not in groups, groups
    assert committed(b, "drop-g", "surv", 2) == {0: -1001, 1: -1001}
    assert committed(b, "keep-g", "surv", 2) == {0: 10, 1: 10}


def test_pipelined_async_commits_keep_the_last_one_across_kill_9(broker_factory):
    """librdkafka pipelines async commits on one connection: the broker must apply
    them in request order, so the last commit per partition is what is read back,
    before and after a kill -9 (acknowledged commits are durable)."""
    broker = broker_factory("--fsync", "always")
    b = broker.bootstrap
    partitions = 8
    create_topic(b, "pipelined", partitions)
    last = commit_async(b, "pipe-g", "pipelined", partitions, commits=50_000, in_flight=2000)
    assert committed(b, "pipe-g", "pipelined", partitions) == last
    broker.kill()
    broker.start()
    _ADMINS.clear()
    assert committed(b, "pipe-g", "pipelined", partitions) == last


def test_offsets_topic_is_compacted_and_still_serves_the_last_commits(broker_factory, tmp_path):
    """Auto-commit writes forever: `__consumer_offsets` is compacted (small
    segments here so it happens within the test) and the latest offsets survive
    compaction and a kill -9."""
    config = tmp_path / "weir.toml"
    config.write_text('"offsets.topic.segment.bytes" = 65536\n"log.retention.check.interval.ms" = 200\n')
    broker = broker_factory("--config", str(config))
    b = broker.bootstrap
    partitions = 4
    create_topic(b, "compacted", partitions)
    commits = 20_000
    last = commit_async(b, "compact-g", "compacted", partitions, commits=commits, in_flight=500)

    def offsets_bytes() -> int:
        return sum(f.stat().st_size for f in broker.data_dir.glob("__consumer_offsets-*/*.log"))

    # Each commit was a batch of its own: at least a 61-byte header. Compaction may
    # already have run by now, so the bound comes from the count, not a reading.
    written = commits * 61
    deadline = time.monotonic() + DEADLINE_S
    while offsets_bytes() > written // 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert offsets_bytes() <= written // 4, f"offsets log {offsets_bytes()} bytes of >= {written} written"
    assert committed(b, "compact-g", "compacted", partitions) == last
    broker.kill()
    broker.start()
    _ADMINS.clear()
    assert committed(b, "compact-g", "compacted", partitions) == last
