"""Topic and group administration against Weir.

confluent-kafka's AdminClient: CreatePartitions, IncrementalAlterConfigs and
AlterConfigs then DescribeConfigs, config changes taking effect live (retention
deleting segments, max.message.bytes refusing a produce), DeleteRecords moving
the low watermark. Then the `weir` CLI end to end: topics, configs, produce and
consume, delete records, and consumer groups (describe, lag, offset resets).
"""

import json
import os
import struct
import subprocess
import time
from pathlib import Path

import kafka_wire
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30
WAIT_S = 30


def weir_binary() -> Path:
    path = Path(os.environ.get("WEIR_BIN", ROOT / "target" / "release" / "weir"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run `cargo build --release --workspace --bins` first")
    return path


def admin_for(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_topic(admin: AdminClient, name: str, partitions: int, **configs) -> None:
    admin.create_topics([NewTopic(name, partitions, 1, config=configs)])[name].result(timeout=TIMEOUT_S)


def error_code(fut) -> int:
    """The Kafka error code a failed admin future carries (fails if it succeeded)."""
    try:
        fut.result(timeout=TIMEOUT_S)
    except Exception as e:  # KafkaException wrapping a KafkaError
        return e.args[0].code()
    raise AssertionError("the call succeeded")


def source(entry: ConfigEntry) -> ConfigSource:
    return ConfigSource(entry.source)


def topic_resource(name: str, **kwargs) -> ConfigResource:
    return ConfigResource(ConfigResource.Type.TOPIC, name, **kwargs)


def describe(admin: AdminClient, topic: str) -> dict:
    res = topic_resource(topic)
    return admin.describe_configs([res])[res].result(timeout=TIMEOUT_S)


def incremental(admin: AdminClient, topic: str, *ops: tuple[str, str | None, AlterConfigOpType]):
    entries = [ConfigEntry(name, value, incremental_operation=op) for name, value, op in ops]
    res = topic_resource(topic, incremental_configs=entries)
    return admin.incremental_alter_configs([res])[res]


def produce(bootstrap: str, topic: str, values: list[bytes], partition: int = 0,
            one_batch_each: bool = False, **conf) -> list:
    """Produces `values` to one partition (with `one_batch_each`, each in a
    batch of its own); returns the delivery errors (None when delivered)."""
    results = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, **conf})
    for value in values:
        p.produce(topic, value=value, partition=partition,
                  on_delivery=lambda err, msg: results.append(err))
        if one_batch_each:
            assert p.flush(TIMEOUT_S) == 0, "record left undelivered"
        p.poll(0)
    assert p.flush(TIMEOUT_S) == 0, "records left undelivered"
    assert len(results) == len(values)
    return results


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "weir-watermarks"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT_S)
    finally:
        c.close()


def first_offset_from_beginning(bootstrap: str, topic: str, partition: int) -> int:
    """The offset of the first record a consumer starting at the beginning gets."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "weir-from-beginning",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    try:
        c.assign([TopicPartition(topic, partition, -2)])  # OFFSET_BEGINNING
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            return msg.offset()
        raise AssertionError("no record read")
    finally:
        c.close()


def test_create_partitions_grows_a_topic(broker):
    admin = admin_for(broker)
    create_topic(admin, "grown", 1)
    admin.create_partitions([NewPartitions("grown", 3)])["grown"].result(timeout=TIMEOUT_S)
    md = admin.list_topics("grown", timeout=10)
    assert sorted(md.topics["grown"].partitions) == [0, 1, 2]
    # The new partitions are online when the call returns.
    assert produce(broker.bootstrap, "grown", [b"in-two"], partition=2) == [None]
    assert first_offset_from_beginning(broker.bootstrap, "grown", 2) == 0

    assert error_code(admin.create_partitions([NewPartitions("grown", 3)])["grown"]) == KafkaError.INVALID_PARTITIONS
    assert error_code(admin.create_partitions([NewPartitions("grown", 2)])["grown"]) == KafkaError.INVALID_PARTITIONS
    assert error_code(admin.create_partitions([NewPartitions("nope", 2)])["nope"]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    admin.create_partitions([NewPartitions("grown", 5)], validate_only=True)["grown"].result(timeout=TIMEOUT_S)
    assert len(admin.list_topics("grown", timeout=10).topics["grown"].partitions) == 3


def test_broker_partition_limit_applies_to_growth(tmp_path, broker_factory):
    config = tmp_path / "weir.toml"
    # __consumer_offsets takes 10 of them.
    config.write_text("max.partitions = 14\n")
    broker = broker_factory("--config", str(config))
    admin = admin_for(broker)
    create_topic(admin, "capped", 2)
    deadline = time.monotonic() + WAIT_S
    while "__consumer_offsets" not in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "offsets topic never created"
        time.sleep(0.1)
    assert error_code(admin.create_partitions([NewPartitions("capped", 5)])["capped"]) == KafkaError.INVALID_PARTITIONS
    admin.create_partitions([NewPartitions("capped", 4)])["capped"].result(timeout=TIMEOUT_S)


def test_alter_configs_then_describe_shows_them(broker):
    admin = admin_for(broker)
    create_topic(admin, "configured", 1)
    incremental(admin, "configured",
                ("retention.ms", "123456", AlterConfigOpType.SET),
                ("cleanup.policy", "compact", AlterConfigOpType.APPEND)).result(timeout=TIMEOUT_S)
    configs = describe(admin, "configured")
    assert configs["retention.ms"].value == "123456"
    assert source(configs["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert set(configs["cleanup.policy"].value.split(",")) == {"compact", "delete"}
    assert source(configs["segment.bytes"]) == ConfigSource.DEFAULT_CONFIG

    incremental(admin, "configured",
                ("retention.ms", None, AlterConfigOpType.DELETE),
                ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)).result(timeout=TIMEOUT_S)
    configs = describe(admin, "configured")
    assert source(configs["retention.ms"]) == ConfigSource.DEFAULT_CONFIG
    assert configs["retention.ms"].value == str(7 * 24 * 3600 * 1000)
    assert configs["cleanup.policy"].value == "compact"

    # validate_only changes nothing.
    entries = [ConfigEntry("retention.ms", "999", incremental_operation=AlterConfigOpType.SET)]
    res = topic_resource("configured", incremental_configs=entries)
    admin.incremental_alter_configs([res], validate_only=True)[res].result(timeout=TIMEOUT_S)
    assert describe(admin, "configured")["retention.ms"].value != "999"

    # Refusals: unknown name, bad value, APPEND on a non-list config, unknown topic.
    assert error_code(incremental(admin, "configured", ("no.such.config", "1", AlterConfigOpType.SET))) == KafkaError.INVALID_CONFIG
    assert error_code(incremental(admin, "configured", ("segment.bytes", "12", AlterConfigOpType.SET))) == KafkaError.INVALID_CONFIG
    assert error_code(incremental(admin, "configured", ("retention.ms", "5", AlterConfigOpType.APPEND))) == KafkaError.INVALID_CONFIG
    assert error_code(incremental(admin, "missing", ("retention.ms", "5", AlterConfigOpType.SET))) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Broker configs are static on Weir.
    entries = [ConfigEntry("log.retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)]
    res = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=entries)
    assert error_code(admin.incremental_alter_configs([res])[res]) == KafkaError.INVALID_CONFIG

    # Legacy AlterConfigs replaces the whole override set.
    incremental(admin, "configured", ("retention.ms", "5000", AlterConfigOpType.SET)).result(timeout=TIMEOUT_S)
    res = topic_resource("configured", set_config={"segment.bytes": "4096"})
    admin.alter_configs([res])[res].result(timeout=TIMEOUT_S)
    configs = describe(admin, "configured")
    assert configs["segment.bytes"].value == "4096"
    assert source(configs["segment.bytes"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert source(configs["retention.ms"]) == ConfigSource.DEFAULT_CONFIG
    assert configs["cleanup.policy"].value == "delete"
    res = topic_resource("configured", set_config={"retention.ms": "soon"})
    assert error_code(admin.alter_configs([res])[res]) == KafkaError.INVALID_CONFIG


def test_lowered_retention_deletes_old_segments(tmp_path, broker_factory):
    config = tmp_path / "weir.toml"
    config.write_text("log.retention.check.interval.ms = 200\n")
    broker = broker_factory("--config", str(config))
    admin = admin_for(broker)
    create_topic(admin, "expiring", 1)
    incremental(admin, "expiring", ("segment.bytes", "1024", AlterConfigOpType.SET)).result(timeout=TIMEOUT_S)
    values = [b"%04d" % i + b"x" * 200 for i in range(40)]
    delivered = produce(broker.bootstrap, "expiring", values, one_batch_each=True, acks="all")
    assert delivered == [None] * len(values)
    segments = lambda: sorted((broker.data_dir / "expiring-0").glob("*.log"))
    assert len(segments()) > 3, "segment.bytes=1024 rolled small segments"
    time.sleep(0.6)  # three retention checks under the default 7 days
    assert watermarks(broker.bootstrap, "expiring", 0) == (0, len(values))

    incremental(admin, "expiring", ("retention.ms", "100", AlterConfigOpType.SET)).result(timeout=TIMEOUT_S)
    deadline = time.monotonic() + WAIT_S
    low = 0
    while time.monotonic() < deadline:
        low, high = watermarks(broker.bootstrap, "expiring", 0)
        if low > 0:
            break
        time.sleep(0.2)
    assert 0 < low < len(values), "retention deleted the sealed segments, not the active one"
    assert high == len(values)
    assert len(segments()) < 3
    assert first_offset_from_beginning(broker.bootstrap, "expiring", 0) == low


def raw_delete_records(bootstrap: str, topic: str, partition: int, offset: int) -> tuple[int, int]:
    """DeleteRecords v1 by hand: (error code, low watermark) of the one partition."""
    body = (struct.pack(">i", 1) + kafka_wire.kstring(topic)
            + struct.pack(">iiq", 1, partition, offset) + struct.pack(">i", 5000))
    with kafka_wire.connect(bootstrap) as s:
        cur = kafka_wire.call(s, 21, 1, body)
    assert cur is not None, "the broker answered"
    cur.i32()  # throttle
    assert cur.i32() == 1 and cur.string() == topic and cur.i32() == 1
    assert cur.i32() == partition
    low_watermark = cur.i64()
    return cur.i16(), low_watermark


def test_delete_records_moves_the_low_watermark(broker):
    admin = admin_for(broker)
    create_topic(admin, "trimmed", 2)
    assert produce(broker.bootstrap, "trimmed", [b"r%d" % i for i in range(20)]) == [None] * 20
    tp = TopicPartition("trimmed", 0, 12)
    deleted = admin.delete_records([tp])[tp].result(timeout=TIMEOUT_S)
    assert deleted.low_watermark == 12
    assert watermarks(broker.bootstrap, "trimmed", 0) == (12, 20)
    assert first_offset_from_beginning(broker.bootstrap, "trimmed", 0) == 12

    beyond = TopicPartition("trimmed", 0, 21)
    assert error_code(admin.delete_records([beyond])[beyond]) == KafkaError.OFFSET_OUT_OF_RANGE
    # librdkafka refuses an unknown partition itself; ask the broker directly.
    assert raw_delete_records(broker.bootstrap, "trimmed", 7, 1) == (KafkaError.UNKNOWN_TOPIC_OR_PART, -1)
    assert raw_delete_records(broker.bootstrap, "trimmed", 1, 0) == (0, 0)
    # The groups' committed offsets cannot be deleted.
    assert raw_delete_records(broker.bootstrap, "__consumer_offsets", 0, 0)[0] == KafkaError.TOPIC_EXCEPTION
    everything = TopicPartition("trimmed", 0, -1)  # OFFSET_END: up to the high watermark
    assert admin.delete_records([everything])[everything].result(timeout=TIMEOUT_S).low_watermark == 20
    assert watermarks(broker.bootstrap, "trimmed", 0) == (20, 20)


def test_lowered_max_message_bytes_refuses_bigger_batches(broker):
    admin = admin_for(broker)
    create_topic(admin, "capped-size", 1)
    big = b"y" * 5000
    assert produce(broker.bootstrap, "capped-size", [big]) == [None]
    incremental(admin, "capped-size", ("max.message.bytes", "1000", AlterConfigOpType.SET)).result(timeout=TIMEOUT_S)
    [err] = produce(broker.bootstrap, "capped-size", [big], retries=0)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce(broker.bootstrap, "capped-size", [b"small"]) == [None]
    assert watermarks(broker.bootstrap, "capped-size", 0) == (0, 2)


def weir(broker, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    # No settings file of the user's: a HOME of its own and no WEIR_* variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    env.update(HOME=str(broker.data_dir.parent), XDG_CONFIG_HOME=str(broker.data_dir.parent), RUST_BACKTRACE="0")
    proc = subprocess.run(
        [str(weir_binary()), "-b", broker.bootstrap, *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=env,
    )
    if check:
        assert proc.returncode == 0, f"weir {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def lag_rows(out: str) -> dict[tuple[str, int], tuple[str, str, str]]:
    """`weir group lag` rows: (topic, partition) -> (current, log end, lag)."""
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[1].isdigit():
            rows[(fields[0], int(fields[1]))] = (fields[2], fields[3], fields[4])
    return rows


def test_weir_cli_end_to_end(broker):
    topic, group = "cli-topic", "cli-group"
    weir(broker, "topic", "create", topic, "-p", "1")
    assert "now has 3 partitions" in weir(broker, "topic", "add-partitions", topic, "--count", "3").stdout
    failed = weir(broker, "topic", "add-partitions", topic, "--count", "2", check=False)
    assert failed.returncode != 0 and "InvalidPartitions" in failed.stderr
    weir(broker, "topic", "alter", topic, "--config", "retention.ms=3600000", "--config", "segment.bytes=1048576")
    weir(broker, "topic", "alter", topic, "--delete-config", "segment.bytes")
    described = weir(broker, "topic", "describe", topic).stdout
    assert "partitions 3" in described
    assert "retention.ms=3600000  DYNAMIC_TOPIC_CONFIG" in described
    assert "segment.bytes=1073741824  DEFAULT_CONFIG" in described
    bad = weir(broker, "topic", "alter", topic, "--config", "no.such=1", check=False)
    assert bad.returncode != 0 and "InvalidConfig" in bad.stderr

    lines = [f"line-{i}" for i in range(10)]
    weir(broker, "produce", "-t", topic, stdin="\n".join(lines) + "\n")
    consumed = weir(broker, "consume", "-t", topic, "-e", "--format", "json").stdout.splitlines()
    records = [json.loads(line) for line in consumed]
    assert sorted(r["value"] for r in records) == sorted(lines)
    by_partition: dict[int, list[int]] = {}
    for r in records:
        by_partition.setdefault(r["partition"], []).append(r["offset"])
    p, offsets = max(by_partition.items(), key=lambda kv: len(kv[1]))
    assert sorted(offsets) == list(range(len(offsets)))
    count = len(offsets)
    assert count >= 4, by_partition  # one produce call: few batches, few partitions

    deleted = weir(broker, "topic", "delete-records", topic, "--partition", str(p), "--offset", "2").stdout
    assert f"{topic}-{p} low watermark 2" in deleted
    rest = weir(broker, "consume", "-t", topic, "-p", str(p), "-e").stdout.splitlines()
    assert len(rest) == count - 2
    beyond = weir(broker, "topic", "delete-records", topic, "--partition", str(p), "--offset", "999", check=False)
    assert beyond.returncode != 0 and "OffsetOutOfRange" in beyond.stderr

    # A group member consumes everything, commits and leaves.
    c = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + WAIT_S
    while got < len(lines) - 2 and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and msg.error() is None:
            got += 1
    assert got == len(lines) - 2
    c.commit(asynchronous=False)

    # While it is a member, the group's offsets cannot be reset.
    active = weir(broker, "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute", check=False)
    assert active.returncode != 0 and "active members" in active.stderr, active.stderr
    c.close()

    # Five more records on the committed partition: the lag.
    weir(broker, "produce", "-t", topic, "-p", str(p), stdin="".join(f"more-{i}\n" for i in range(5)))
    assert group in weir(broker, "group", "list").stdout
    described = weir(broker, "group", "describe", group).stdout
    assert f"group {group}  state Empty" in described
    lag = weir(broker, "group", "lag", group).stdout
    rows = lag_rows(lag)
    assert rows[(topic, p)] == (str(count), str(count + 5), "5"), lag
    assert "total lag 5" in lag

    # Dry run: a plan, nothing committed; then --execute commits the earliest offsets.
    plan = weir(broker, "group", "reset-offsets", group, "--topic", topic, "--to-earliest").stdout
    assert "dry run" in plan
    assert lag_rows(weir(broker, "group", "lag", group).stdout)[(topic, p)][0] == str(count)
    executed = weir(broker, "group", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute").stdout
    assert "committed new offsets of 3 partitions" in executed

    checker = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        committed = checker.committed([TopicPartition(topic, q) for q in range(3)], timeout=TIMEOUT_S)
    finally:
        checker.close()
    offsets = {tp.partition: tp.offset for tp in committed}
    assert offsets[p] == 2, offsets  # the low watermark after delete-records
    assert all(offsets[q] == 0 for q in range(3) if q != p), offsets
    assert lag_rows(weir(broker, "group", "lag", group).stdout)[(topic, p)] == ("2", str(count + 5), str(count + 3))

    # An explicit offset, clamped to the partition's range.
    weir(broker, "group", "reset-offsets", group, "--topic", topic, "--to-offset", "4", "--execute")
    rows = lag_rows(weir(broker, "group", "lag", group).stdout)
    assert rows[(topic, p)][0] == "4"
    assert all(rows[(topic, q)][0] == "0" for q in range(3) if q != p), rows


def test_elect_leaders_answers_per_partition(broker):
    """ElectLeaders through confluent-kafka: a single broker's partitions are led
    by their preferred (only) replica, so each answers ELECTION_NOT_NEEDED (84),
    for a preferred and an unclean election alike; an unknown partition answers
    UNKNOWN_TOPIC_OR_PARTITION (3)."""
    from confluent_kafka import ElectionType

    admin = admin_for(broker)
    create_topic(admin, "elect", 2)
    asked = [TopicPartition("elect", 0), TopicPartition("elect", 1), TopicPartition("elect", 9)]
    for kind in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        results = admin.elect_leaders(kind, asked).result(timeout=TIMEOUT_S)
        codes = {tp.partition: (err.code() if err is not None else 0) for tp, err in results.items()}
        assert codes == {0: 84, 1: 84, 9: 3}, (kind, results)
