"""Kafka transactions (KIP-98) against Weir with confluent-kafka's transactional
Producer (librdkafka) and kafka-python's, asserting what Apache Kafka 3.9 does:

  * a committed transaction's records are read by read_committed consumers,
    exactly once and in per-partition order; an aborted one's never are, though
    read_uncommitted consumers see them (they stay in the log);
  * records of an open transaction are held back from read_committed until the
    commit, and the last stable offset (what ListOffsets answers a
    read_committed consumer for "latest") stops at the open transaction's first
    offset, while the high watermark does not;
  * a second producer with the same transactional.id fences the first: its open
    transaction is aborted and its commit fails fatally;
  * a transaction left open past transaction.timeout.ms is aborted by the broker;
  * consume-transform-produce with send_offsets_to_transaction commits the
    input offsets and the output atomically, also across an aborted batch.

Every transaction marker takes an offset (a control batch of one record), as in
Kafka; read_committed consumers never see markers nor aborted records.
"""

import threading
import time
import uuid

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

# A single broker: the transaction state topic takes replication factor 1 (as
# Kafka's own config/server.properties sets for one node) and few partitions.
TXN_BROKER_ARGS = (
    "--override", "transaction.state.log.num.partitions=4",
    "--override", "transaction.state.log.replication.factor=1",
)
API_TIMEOUT_S = 30          # each transactional API call
READ_DEADLINE_S = 60        # reading back what is expected
SETTLE_S = 1.0              # after the expected count, how long more records are awaited
# Kafka checks for timed-out transactions every
# transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s by default;
# the timeout test's broker checks every 500 ms). The bound covers either.
TIMEOUT_ABORT_DEADLINE_S = 25
TIMEOUT_CHECK_ARGS = ("--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500")
FENCED_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


@pytest.fixture
def txn_broker(broker_factory):
    return broker_factory(*TXN_BROKER_ARGS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def txn_producer(bootstrap: str, txn_id: str, **extra) -> Producer:
    return Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id,
        "linger.ms": 5,
        **extra,
    })


class Delivered:
    """Delivery reports: value -> (partition, offset), and any errors."""

    def __init__(self):
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.errors = []

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append(err)
        else:
            self.acked[msg.value()] = (msg.partition(), msg.offset())


def produce(producer: Producer, topic: str, values: list[bytes], partition: int | None = None,
            keys: int = 17) -> Delivered:
    """Produces `values` (keyed by index % keys, or all to `partition`) and
    flushes; returns their delivery reports."""
    delivered = Delivered()
    for i, value in enumerate(values):
        kwargs = {"partition": partition} if partition is not None else {}
        while True:
            try:
                producer.produce(topic, key=b"k%d" % (i % keys), value=value,
                                 on_delivery=delivered, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(API_TIMEOUT_S) == 0, "records left undelivered"
    assert not delivered.errors, delivered.errors[:5]
    assert len(delivered.acked) == len(values)
    return delivered


def values(tag: str, count: int) -> list[bytes]:
    return [b"%s-%05d" % (tag.encode(), i) for i in range(count)]


def reader(bootstrap: str, isolation: str) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("reader"),
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "fetch.wait.max.ms": 100,
    })


def poll_into(consumer: Consumer, got: dict[int, list[tuple[int, bytes]]], timeout: float) -> int:
    n = 0
    for msg in consumer.consume(num_messages=1000, timeout=timeout):
        if msg.error():
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            continue
        got.setdefault(msg.partition(), []).append((msg.offset(), msg.value()))
        n += 1
    return n


def read(bootstrap: str, topic: str, partitions: int, isolation: str, expected: int,
         settle_s: float = SETTLE_S) -> dict[int, list[tuple[int, bytes]]]:
    """Every partition from the beginning by assignment: until `expected`
    records came (bounded), then `settle_s` more for any beyond them.
    Returns partition -> [(offset, value)] in the order read."""
    c = reader(bootstrap, isolation)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    n = 0
    deadline = time.monotonic() + READ_DEADLINE_S
    while n < expected and time.monotonic() < deadline:
        n += poll_into(c, got, 0.5)
    settle = time.monotonic() + settle_s
    while time.monotonic() < settle:
        poll_into(c, got, 0.2)
    c.close()
    return got


def expected_by_partition(*deliveries: Delivered) -> dict[int, list[tuple[int, bytes]]]:
    """partition -> [(offset, value)] of the acknowledged records, by offset."""
    out: dict[int, list[tuple[int, bytes]]] = {}
    for d in deliveries:
        for value, (p, offset) in d.acked.items():
            out.setdefault(p, []).append((offset, value))
    for records in out.values():
        records.sort()
    return out


def assert_reads(got: dict[int, list[tuple[int, bytes]]], *deliveries: Delivered) -> None:
    """`got` holds exactly the records of `deliveries`, each at its acked
    partition and offset, in offset order per partition."""
    expected = expected_by_partition(*deliveries)
    for p in set(got) | set(expected):
        assert got.get(p, []) == expected.get(p, []), f"partition {p}"


def assert_produce_order(delivered: Delivered, produced: list[bytes]) -> None:
    """Within each partition, offsets follow the produce order."""
    index = {v: i for i, v in enumerate(produced)}
    for p, records in expected_by_partition(delivered).items():
        order = [index[v] for _, v in records]
        assert order == sorted(order), f"partition {p} out of produce order"


def watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """(low, high) by ListOffsets with the consumer's isolation level: for
    read_committed, Kafka answers "latest" with the last stable offset."""
    result = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    assert result is not None, "ListOffsets timed out"
    return result


def eventually_high(consumer: Consumer, topic: str, partition: int, want: int, within_s: float = 15) -> int:
    """Polls the high offset until it is `want` (markers are written after
    EndTxn answers, so the LSO may lag the commit briefly); returns the last."""
    deadline = time.monotonic() + within_s
    high = watermarks(consumer, topic, partition)[1]
    while high != want and time.monotonic() < deadline:
        time.sleep(0.1)
        high = watermarks(consumer, topic, partition)[1]
    return high


def kafka_error(exc: KafkaException) -> KafkaError:
    err = exc.args[0]
    assert isinstance(err, KafkaError), exc
    return err


# ---------------------------------------------------------------- commit/abort


def test_committed_transaction_is_read_once_in_partition_order(txn_broker):
    topic, partitions = unique("txn-commit"), 3
    create_topic(txn_broker.bootstrap, topic, partitions)
    p = txn_producer(txn_broker.bootstrap, unique("tid-commit"))
    p.init_transactions(API_TIMEOUT_S)
    p.begin_transaction()
    produced = values("c", 300)
    delivered = produce(p, topic, produced, keys=30)
    p.commit_transaction(API_TIMEOUT_S)
    assert_produce_order(delivered, produced)

    got = read(txn_broker.bootstrap, topic, partitions, "read_committed", len(produced))
    assert sum(len(r) for r in got.values()) == len(produced)
    assert_reads(got, delivered)
    counts = {p_: len(r) for p_, r in expected_by_partition(delivered).items()}
    assert len(counts) == partitions, "every partition took records"
    for p_, records in got.items():
        # One transaction alone in the log: its records from offset 0 on.
        assert [o for o, _ in records] == list(range(len(records))), f"partition {p_}"

    # The commit marker takes the offset after each partition's records; once
    # it is written the LSO reaches the high watermark.
    rc = reader(txn_broker.bootstrap, "read_committed")
    ru = reader(txn_broker.bootstrap, "read_uncommitted")
    for p_, count in counts.items():
        assert eventually_high(rc, topic, p_, count + 1) == count + 1, f"LSO of partition {p_}"
        assert watermarks(ru, topic, p_) == (0, count + 1), f"watermarks of partition {p_}"
    rc.close()
    ru.close()


def test_aborted_transaction_is_never_read_committed(txn_broker):
    topic, partitions = unique("txn-abort"), 3
    create_topic(txn_broker.bootstrap, topic, partitions)
    p = txn_producer(txn_broker.bootstrap, unique("tid-abort"))
    p.init_transactions(API_TIMEOUT_S)

    p.begin_transaction()
    aborted = produce(p, topic, values("a", 150))
    p.abort_transaction(API_TIMEOUT_S)

    p.begin_transaction()
    committed = produce(p, topic, values("c", 150))
    p.commit_transaction(API_TIMEOUT_S)

    # read_committed: only the later committed transaction, at its offsets.
    got = read(txn_broker.bootstrap, topic, partitions, "read_committed", 150)
    assert_reads(got, committed)
    # read_uncommitted: both, the aborted records first in each partition.
    got = read(txn_broker.bootstrap, topic, partitions, "read_uncommitted", 300)
    assert_reads(got, aborted, committed)
    for p_, records in got.items():
        tags = [v[:1] for _, v in records]
        assert tags == sorted(tags), f"partition {p_}: aborted records come before committed ones"


def test_committed_aborted_committed_interleaved(txn_broker):
    topic, partitions = unique("txn-interleave"), 3
    create_topic(txn_broker.bootstrap, topic, partitions)
    p = txn_producer(txn_broker.bootstrap, unique("tid-interleave"))
    p.init_transactions(API_TIMEOUT_S)
    runs = []
    for tag, commit in (("x", True), ("y", False), ("z", True)):
        p.begin_transaction()
        runs.append(produce(p, topic, values(tag, 100)))
        if commit:
            p.commit_transaction(API_TIMEOUT_S)
        else:
            p.abort_transaction(API_TIMEOUT_S)
    first, aborted, last = runs

    got = read(txn_broker.bootstrap, topic, partitions, "read_committed", 200)
    assert_reads(got, first, last)
    got = read(txn_broker.bootstrap, topic, partitions, "read_uncommitted", 300)
    assert_reads(got, first, aborted, last)
    # Each marker took one offset: the aborted run starts one past the first
    # run's end in every partition it shares with it.
    firsts = expected_by_partition(first)
    for p_, records in expected_by_partition(aborted).items():
        if firsts.get(p_):
            assert records[0][0] == firsts[p_][-1][0] + 2, f"partition {p_}: one marker between"


def test_open_transaction_is_held_back_until_commit(txn_broker):
    topic = unique("txn-open")
    create_topic(txn_broker.bootstrap, topic, 1)
    p = txn_producer(txn_broker.bootstrap, unique("tid-open"))
    p.init_transactions(API_TIMEOUT_S)
    p.begin_transaction()
    produced = values("o", 20)
    delivered = produce(p, topic, produced, partition=0)
    assert sorted(o for _, o in delivered.acked.values()) == list(range(20))

    rc = reader(txn_broker.bootstrap, "read_committed")
    ru = reader(txn_broker.bootstrap, "read_uncommitted")
    # High watermark past the open transaction; last stable offset at its start.
    assert watermarks(ru, topic, 0) == (0, 20)
    assert watermarks(rc, topic, 0) == (0, 0)

    # read_uncommitted reads the open transaction's records ...
    got_ru: dict[int, list[tuple[int, bytes]]] = {}
    ru.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + READ_DEADLINE_S
    while len(got_ru.get(0, [])) < 20 and time.monotonic() < deadline:
        poll_into(ru, got_ru, 0.5)
    assert_reads(got_ru, delivered)
    # ... read_committed does not, for as long as it stays open.
    got_rc: dict[int, list[tuple[int, bytes]]] = {}
    rc.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    held = time.monotonic() + 3
    while time.monotonic() < held:
        poll_into(rc, got_rc, 0.3)
    assert not got_rc.get(0), f"read_committed saw {len(got_rc[0])} records of an open transaction"

    p.commit_transaction(API_TIMEOUT_S)
    # The same read_committed consumer now gets them all, in order.
    deadline = time.monotonic() + READ_DEADLINE_S
    while len(got_rc.get(0, [])) < 20 and time.monotonic() < deadline:
        poll_into(rc, got_rc, 0.5)
    settle = time.monotonic() + SETTLE_S
    while time.monotonic() < settle:
        poll_into(rc, got_rc, 0.2)
    assert_reads(got_rc, delivered)
    # The commit marker is at offset 20; the LSO reaches the high watermark.
    assert eventually_high(rc, topic, 0, 21) == 21
    assert watermarks(ru, topic, 0) == (0, 21)
    rc.close()
    ru.close()


# --------------------------------------------------------------------- fencing


def test_second_producer_with_same_transactional_id_fences_the_first(txn_broker):
    topic, partitions = unique("txn-fence"), 3
    create_topic(txn_broker.bootstrap, topic, partitions)
    txn_id = unique("tid-fence")

    zombie = txn_producer(txn_broker.bootstrap, txn_id)
    zombie.init_transactions(API_TIMEOUT_S)
    zombie.begin_transaction()
    zombie_records = produce(zombie, topic, values("zombie", 60))

    # The new instance's InitProducerId bumps the epoch and aborts the open transaction.
    successor = txn_producer(txn_broker.bootstrap, txn_id)
    successor.init_transactions(API_TIMEOUT_S)

    with pytest.raises(KafkaException) as raised:
        zombie.commit_transaction(API_TIMEOUT_S)
    err = kafka_error(raised.value)
    assert err.fatal(), f"fencing is fatal, got {err}"
    assert err.code() in FENCED_CODES, err

    successor.begin_transaction()
    fresh = produce(successor, topic, values("fresh", 60))
    successor.commit_transaction(API_TIMEOUT_S)

    got = read(txn_broker.bootstrap, topic, partitions, "read_committed", 60)
    assert_reads(got, fresh)
    # The zombie's records are in the log, aborted.
    got = read(txn_broker.bootstrap, topic, partitions, "read_uncommitted", 120)
    assert_reads(got, zombie_records, fresh)


# --------------------------------------------------------------------- timeout


def test_broker_aborts_a_transaction_past_its_timeout(broker_factory):
    txn_broker = broker_factory(*TXN_BROKER_ARGS, *TIMEOUT_CHECK_ARGS)
    topic = unique("txn-timeout")
    create_topic(txn_broker.bootstrap, topic, 1)
    txn_id = unique("tid-timeout")
    # transaction.max.timeout.ms (Kafka: 15 min) allows 2 s.
    p = txn_producer(txn_broker.bootstrap, txn_id, **{"transaction.timeout.ms": 2000})
    p.init_transactions(API_TIMEOUT_S)
    started = time.monotonic()
    p.begin_transaction()
    stale = produce(p, topic, values("stale", 10), partition=0)

    # The broker aborts it: an abort marker at offset 10, and the LSO moves
    # past the transaction to the high watermark.
    rc = reader(txn_broker.bootstrap, "read_committed")
    ru = reader(txn_broker.bootstrap, "read_uncommitted")
    assert watermarks(rc, topic, 0)[1] == 0, "open: the LSO is at its first offset"
    deadline = time.monotonic() + TIMEOUT_ABORT_DEADLINE_S
    lso = hw = None
    while time.monotonic() < deadline:
        lso, hw = watermarks(rc, topic, 0)[1], watermarks(ru, topic, 0)[1]
        if lso == hw == 11:
            break
        time.sleep(0.2)
    aborted_after = time.monotonic() - started
    assert (lso, hw) == (11, 11), f"not aborted within {TIMEOUT_ABORT_DEADLINE_S} s: LSO {lso}, HW {hw}"
    assert aborted_after >= 1.8, f"aborted {aborted_after:.1f} s in, before its 2 s timeout"

    # The producer learns it on commit: its epoch was bumped (fatal, as
    # librdkafka treats INVALID_PRODUCER_EPOCH / PRODUCER_FENCED from EndTxn),
    # or at least the transaction must be aborted.
    with pytest.raises(KafkaException) as raised:
        p.commit_transaction(API_TIMEOUT_S)
    err = kafka_error(raised.value)
    assert err.fatal() or err.txn_requires_abort(), f"commit after the timeout: {err}"

    # A new instance of the same transactional.id works; the stale records
    # never become visible to read_committed.
    again = txn_producer(txn_broker.bootstrap, txn_id)
    again.init_transactions(API_TIMEOUT_S)
    again.begin_transaction()
    fresh = produce(again, topic, values("fresh", 10), partition=0)
    again.commit_transaction(API_TIMEOUT_S)
    got = read(txn_broker.bootstrap, topic, 1, "read_committed", 10)
    assert_reads(got, fresh)
    got = read(txn_broker.bootstrap, topic, 1, "read_uncommitted", 20)
    assert_reads(got, stale, fresh)
    rc.close()
    ru.close()


# ----------------------------------------------------- consume-transform-produce

CTP_RECORDS = 100
CTP_BATCH = 15
CTP_DEADLINE_S = 120


def consume_transform_produce(bootstrap: str, in_topic: str, out_topic: str, group: str,
                              abort_batch: int | None = None) -> tuple[list[bytes], list[bytes], dict[int, int]]:
    """Reads `in_topic` in group `group` (read_committed, no auto commit) and
    writes each record's value prefixed with b"out-" to `out_topic`, one
    transaction per batch that also commits the batch's input offsets. The
    batch numbered `abort_batch` is aborted instead and the consumer rewound
    to the group's committed offsets. Returns the input values whose batches
    committed (in order), those of the aborted batch, and the group's
    committed offset per input partition at the end."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([in_topic])
    producer = txn_producer(bootstrap, unique("tid-ctp"))
    producer.init_transactions(API_TIMEOUT_S)
    committed_inputs: list[bytes] = []
    aborted_inputs: list[bytes] = []
    batch = 0
    deadline = time.monotonic() + CTP_DEADLINE_S
    try:
        while len(committed_inputs) < CTP_RECORDS and time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=CTP_BATCH, timeout=1.0)
            for m in msgs:
                assert not m.error(), m.error()
            if not msgs:
                continue
            producer.begin_transaction()
            for m in msgs:
                producer.produce(out_topic, key=m.key(), value=b"out-" + m.value())
            assignment = consumer.assignment()
            producer.send_offsets_to_transaction(
                consumer.position(assignment), consumer.consumer_group_metadata(), API_TIMEOUT_S)
            if batch == abort_batch:
                # Flushed first: an abort purges records librdkafka has not
                # sent yet, and read_uncommitted must find them in the log.
                assert producer.flush(API_TIMEOUT_S) == 0
                producer.abort_transaction(API_TIMEOUT_S)
                aborted_inputs += [m.value() for m in msgs]
                # Rewind to what the group committed (the aborted offsets never were).
                for tp in consumer.committed(assignment, timeout=API_TIMEOUT_S):
                    offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                    consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            else:
                producer.commit_transaction(API_TIMEOUT_S)
                committed_inputs += [m.value() for m in msgs]
            batch += 1
        # What the group committed, read as a consumer of it reads them.
        end = {tp.partition: tp.offset for tp in consumer.committed(
            [TopicPartition(in_topic, p) for p in range(3)], timeout=API_TIMEOUT_S)}
    finally:
        consumer.close()
    return committed_inputs, aborted_inputs, end


def ctp_setup(bootstrap: str, tag: str) -> tuple[str, str, list[bytes], dict[int, int]]:
    in_topic, out_topic = unique(f"{tag}-in"), unique(f"{tag}-out")
    create_topic(bootstrap, in_topic, 3)
    create_topic(bootstrap, out_topic, 3)
    plain = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    inputs = values("in", CTP_RECORDS)
    delivered = produce(plain, in_topic, inputs)
    ends: dict[int, int] = {p: 0 for p in range(3)}
    for p, offset in delivered.acked.values():
        ends[p] = max(ends[p], offset + 1)
    assert all(ends.values()), f"every input partition took records: {ends}"
    return in_topic, out_topic, inputs, ends


def assert_output(bootstrap: str, out_topic: str, inputs: list[bytes], aborted: list[bytes]) -> None:
    got = read(bootstrap, out_topic, 3, "read_committed", len(inputs))
    outs = [v for records in got.values() for _, v in records]
    assert len(outs) == len(inputs), f"{len(outs)} records in the output, not {len(inputs)}"
    assert sorted(outs) == sorted(b"out-" + v for v in inputs), "each input transformed exactly once"
    got = read(bootstrap, out_topic, 3, "read_uncommitted", len(inputs) + len(aborted))
    outs = [v for records in got.values() for _, v in records]
    assert sorted(outs) == sorted([b"out-" + v for v in inputs] + [b"out-" + v for v in aborted])


def test_consume_transform_produce_commits_offsets_with_output(txn_broker):
    in_topic, out_topic, inputs, ends = ctp_setup(txn_broker.bootstrap, "ctp")
    group = unique("ctp-group")
    committed, aborted, end = consume_transform_produce(txn_broker.bootstrap, in_topic, out_topic, group)
    assert not aborted
    assert sorted(committed) == sorted(inputs), "every input processed once"
    assert end == ends, "the group's committed offsets are the input's end offsets"
    assert_output(txn_broker.bootstrap, out_topic, inputs, [])

    # A fresh member of the group has nothing left to read.
    c = Consumer({
        "bootstrap.servers": txn_broker.bootstrap, "group.id": group,
        "enable.auto.commit": False, "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(in_topic, p) for p in range(3)])  # from the committed offsets
    leftover: dict[int, list[tuple[int, bytes]]] = {}
    settle = time.monotonic() + 3
    while time.monotonic() < settle:
        poll_into(c, leftover, 0.3)
    c.close()
    assert not any(leftover.values()), f"read again after commit: {leftover}"


def test_consume_transform_produce_aborted_batch_is_rewound(txn_broker):
    in_topic, out_topic, inputs, ends = ctp_setup(txn_broker.bootstrap, "ctp-abort")
    committed, aborted, end = consume_transform_produce(
        txn_broker.bootstrap, in_topic, out_topic, unique("ctp-abort-group"), abort_batch=1)
    assert aborted, "a batch was aborted"
    assert sorted(committed) == sorted(inputs), "every input committed exactly once, the aborted batch again"
    assert set(aborted) <= set(committed)
    assert end == ends
    assert_output(txn_broker.bootstrap, out_topic, inputs, aborted)


# ---------------------------------------------------------------- kafka-python


def bounded(what: str, fn, timeout_s: float = API_TIMEOUT_S):
    """Runs `fn` (kafka-python's commit/abort wait without a timeout) in a
    thread; fails if it does not return within `timeout_s`."""
    result: dict = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    assert not t.is_alive(), f"{what} did not return within {timeout_s} s"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_kafka_python_transactional_producer_commit_and_abort(txn_broker):
    from kafka import KafkaProducer

    topic, partitions = unique("txn-kp"), 3
    create_topic(txn_broker.bootstrap, topic, partitions)
    p = KafkaProducer(
        bootstrap_servers=txn_broker.bootstrap,
        transactional_id=unique("tid-kp"),
        max_block_ms=API_TIMEOUT_S * 1000,
        request_timeout_ms=API_TIMEOUT_S * 1000,
    )
    try:
        p.init_transactions()  # bounded by max_block_ms
        runs = []
        for tag, commit in (("kc1", True), ("ka", False), ("kc2", True)):
            p.begin_transaction()
            batch = values(tag, 50)
            futures = [p.send(topic, key=b"k%d" % (i % 11), value=v) for i, v in enumerate(batch)]
            p.flush(timeout=API_TIMEOUT_S)
            delivered = Delivered()
            for v, f in zip(batch, futures):
                md = f.get(timeout=API_TIMEOUT_S)
                delivered.acked[v] = (md.partition, md.offset)
            runs.append(delivered)
            if commit:
                bounded("kafka-python commit_transaction", p.commit_transaction)
            else:
                bounded("kafka-python abort_transaction", p.abort_transaction)
    finally:
        p.close(timeout=10)
    first, aborted, last = runs

    got = read(txn_broker.bootstrap, topic, partitions, "read_committed", 100)
    assert_reads(got, first, last)
    got = read(txn_broker.bootstrap, topic, partitions, "read_uncommitted", 150)
    assert_reads(got, first, aborted, last)


# ------------------------------------------------- admin: list, describe, abort


def test_kafka_python_admin_lists_describes_and_aborts_a_hanging_transaction(txn_broker):
    """kafka-python's transaction admin (ListTransactions, DescribeTransactions,
    DescribeProducers, and an administrative abort by WriteTxnMarkers, as
    kafka-transactions.sh does) against an open transaction."""
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.admin import AbortTransactionSpec

    topic = unique("txn-admin")
    create_topic(txn_broker.bootstrap, topic, 1)
    tid = unique("tid-admin")
    p = txn_producer(txn_broker.bootstrap, tid)
    p.init_transactions(API_TIMEOUT_S)
    p.begin_transaction()
    produce(p, topic, values("h", 10), partition=0)
    admin = KafkaAdminClient(bootstrap_servers=txn_broker.bootstrap, request_timeout_ms=10_000)
    try:
        listed = [t for ts in admin.list_transactions().values() for t in ts]
        mine = [t for t in listed if t.transactional_id == tid]
        assert len(mine) == 1, listed
        assert str(mine[0].state.value) == "Ongoing"
        ongoing = admin.list_transactions(state_filters=["Ongoing"])
        assert any(t.transactional_id == tid for ts in ongoing.values() for t in ts)

        described = admin.describe_transactions([tid])[tid]
        assert str(described.state.value) == "Ongoing"
        assert described.producer_id == mine[0].producer_id
        assert described.topic_partitions == {KTopicPartition(topic, 0)}
        assert described.transaction_start_time_ms > 0

        tp = KTopicPartition(topic, 0)
        producers = admin.describe_producers([tp])[tp].active_producers
        (state,) = [s for s in producers if s.producer_id == described.producer_id]
        assert state.current_transaction_start_offset == 0, "the transaction began at offset 0"
        assert state.last_sequence == 9

        # The operator aborts it on the partition (a hanging transaction):
        # read_committed readers get past it at once.
        admin.abort_transaction(AbortTransactionSpec(
            topic_partition=tp, producer_id=described.producer_id,
            producer_epoch=described.producer_epoch, coordinator_epoch=-1))
        c = reader(txn_broker.bootstrap, "read_committed")
        assert eventually_high(c, topic, 0, 11) == 11, "the LSO passed the abort marker"
        c.close()
        assert not read(txn_broker.bootstrap, topic, 1, "read_committed", 0, settle_s=1.0)[0]
        producers = admin.describe_producers([tp])[tp].active_producers
        (state,) = [s for s in producers if s.producer_id == described.producer_id]
        assert state.current_transaction_start_offset == -1
    finally:
        admin.close()
