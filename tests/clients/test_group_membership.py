"""Consumer-group membership changes with real clients: members join, leave
gracefully and die, while records flow; partitions are always spread disjointly
over the live members and no acknowledged record is lost (at-least-once with
manual commits after processing)."""

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer, TopicPartition

from test_confluent import create_topic
from test_groups import group_consumer

DEADLINE_S = 60
STEPS_MAX = 5000  # every wait loop is bounded by this many iterations too


class Feeder:
    """Produces values `prefix00000`, `prefix00001`, ... (acks=all) a few per step,
    up to a target the test raises phase by phase; remembers where each landed."""

    def __init__(self, bootstrap: str, topic: str, prefix: str = "m", per_step: int = 40):
        self.topic, self.prefix, self.per_step = topic, prefix, per_step
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
        self.sent = 0
        self.target = 0
        self.acked: dict[str, tuple[int, int]] = {}
        self.errors: list = []

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(err)
        else:
            self.acked[msg.value().decode()] = (msg.partition(), msg.offset())

    def step(self) -> None:
        for _ in range(self.per_step):
            if self.sent >= self.target:
                break
            value = f"{self.prefix}{self.sent:05d}"
            try:
                self.producer.produce(self.topic, key=value.encode(), value=value.encode(),
                                      on_delivery=self._on_delivery)
            except BufferError:
                break
            self.sent += 1
        self.producer.poll(0)

    def finish(self) -> None:
        deadline = time.monotonic() + DEADLINE_S
        for _ in range(STEPS_MAX):
            if self.sent >= self.target or time.monotonic() > deadline:
                break
            self.step()
            time.sleep(0.01)
        assert self.producer.flush(DEADLINE_S) == 0, "records left undelivered"
        assert not self.errors, self.errors[:5]
        assert len(self.acked) == self.target


class Deliveries:
    """value -> [(who, partition, offset)] for every record any member handled."""

    def __init__(self):
        self.by_value: dict[str, list[tuple[str, int, int]]] = {}

    def add(self, who: str, value: str, partition: int, offset: int) -> None:
        self.by_value.setdefault(value, []).append((who, partition, offset))

    def count(self, who: str) -> int:
        return sum(1 for ds in self.by_value.values() for d in ds if d[0] == who)


class Member:
    """An in-process librdkafka member: consumes a batch, records it, then
    commits the batch's offsets synchronously."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, **extra):
        self.name, self.topic = name, topic
        self.consumer = group_consumer(bootstrap, group, **extra)
        self.assigns = self.revokes = 0
        self.commit_failures = 0
        self.closed = False

    def subscribe(self) -> None:
        def on_assign(_c, _parts):
            self.assigns += 1

        def on_revoke(_c, _parts):
            self.revokes += 1

        self.consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke,
                                on_lost=on_revoke)

    def pump(self, deliveries: Deliveries, timeout: float = 0.05) -> None:
        msgs = self.consumer.consume(num_messages=200, timeout=timeout)
        next_offsets: dict[int, int] = {}
        for m in msgs:
            if m.error():
                continue
            deliveries.add(self.name, m.value().decode(), m.partition(), m.offset())
            next_offsets[m.partition()] = max(next_offsets.get(m.partition(), 0), m.offset() + 1)
        if next_offsets:
            try:
                self.consumer.commit(offsets=[TopicPartition(self.topic, p, o)
                                              for p, o in sorted(next_offsets.items())],
                                     asynchronous=False)
            except KafkaException:
                # A rebalance got in between: the batch is redelivered to whoever
                # owns the partitions next (a duplicate, never a loss).
                self.commit_failures += 1

    def parts(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


CHILD_CONSUMER = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    bootstrap, group, topic, out_path = sys.argv[1:5]
    out = open(out_path, "a")
    pending = {}  # partition -> next offset, handled but not yet committed
    def log(line):
        out.write(line + "\\n")
        out.flush()
    def commit(c):
        if not pending:
            return
        offsets = [TopicPartition(topic, p, o) for p, o in sorted(pending.items())]
        try:
            c.commit(offsets=offsets, asynchronous=False)
            log("C " + ",".join(f"{p}:{o}" for p, o in sorted(pending.items())))
        except KafkaException as e:
            log("E " + str(e).replace("\\n", " "))  # redelivered to the next owner
        pending.clear()
    def on_assign(c, parts):
        log("A " + ",".join(str(p.partition) for p in parts))
    def on_revoke(c, parts):
        commit(c)
        log("A ")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    log("S")
    last_commit = time.monotonic()
    deadline = last_commit + 240  # the parent kills it long before
    while time.monotonic() < deadline:
        for m in c.consume(num_messages=200, timeout=0.1):
            if m.error():
                continue
            log(f"M {m.value().decode()} {m.partition()} {m.offset()}")
            pending[m.partition()] = max(pending.get(m.partition(), 0), m.offset() + 1)
        # Commits after processing, at most twice a second: so a kill may catch
        # it holding records it has handled but not committed.
        if time.monotonic() - last_commit >= 0.5:
            commit(c)
            last_commit = time.monotonic()
""")


class ChildMember:
    """A librdkafka member in its own process, to be SIGKILLed. It appends what
    it is assigned and every record it handled (before committing it) to a file,
    which the parent tails."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str, out: Path):
        self.name, self.out = name, out
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD_CONSUMER, bootstrap, group, topic, str(out)],
            stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".stderr"), "wb"))
        self._pos = 0
        self._partial = b""
        self.assignment: set[int] = set()
        self.started = False
        self.commits = 0
        self.uncommitted = 0  # records logged since the last commit (or failed one)

    def read(self, deliveries: Deliveries) -> None:
        if not self.out.exists():
            return
        with open(self.out, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        self._pos += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")  # a torn last line waits
        for raw in lines:
            line = raw.decode()
            kind, _, rest = line.partition(" ")
            if kind == "S":
                self.started = True
            elif kind == "A":
                self.assignment = {int(p) for p in rest.split(",") if p}
            elif kind == "M":
                value, partition, offset = rest.split()
                deliveries.add(self.name, value, int(partition), int(offset))
                self.uncommitted += 1
            elif kind in ("C", "E"):
                self.commits += kind == "C"
                self.uncommitted = 0

    def parts(self) -> set[int]:
        return self.assignment

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stderr_tail(self) -> str:
        try:
            return self.out.with_suffix(".stderr").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def spread_ok(assignments: list[set[int]], partitions: int) -> bool:
    """Disjoint, covering every partition, nobody idle."""
    return (all(assignments)
            and sum(len(a) for a in assignments) == partitions
            and set().union(*assignments) == set(range(partitions)))


def pump_until(members, feeder, deliveries, done, what: str, child=None, hold_s: float = 1.0) -> None:
    """Pumps every member (and the feeder) until `done()` has held for `hold_s`,
    or fails after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    since = None
    for _ in range(STEPS_MAX):
        for m in members:
            m.pump(deliveries)
        if child is not None:
            child.read(deliveries)
        if feeder is not None:
            feeder.step()
        if done():
            since = since or time.monotonic()
            if time.monotonic() - since >= hold_s:
                return
        else:
            since = None
        if time.monotonic() > deadline:
            break
    state = [(m.name, sorted(m.parts())) for m in members]
    if child is not None:
        state.append((child.name, sorted(child.parts())))
        state.append(("child stderr", child.stderr_tail()))
    raise AssertionError(f"{what}: never happened; members: {state}")


def assert_at_least_once(acked: dict[str, tuple[int, int]], deliveries: Deliveries) -> None:
    """Every acknowledged value was consumed, each time at the partition and
    offset its produce was acknowledged with; nothing else was consumed."""
    missing = sorted(v for v in acked if v not in deliveries.by_value)
    assert not missing, f"{len(missing)} acknowledged records never consumed: {missing[:10]}"
    stray = sorted(v for v in deliveries.by_value if v not in acked)
    assert not stray, f"consumed records nobody produced: {stray[:10]}"
    moved = [(v, acked[v], d) for v, ds in deliveries.by_value.items() for d in ds
             if (d[1], d[2]) != acked[v]]
    assert not moved, f"records consumed at another partition/offset than acked: {moved[:5]}"


def test_members_join_leave_and_die_without_losing_records(broker, tmp_path):
    topic, group, partitions = "membership", "g-membership", 6
    create_topic(broker.bootstrap, topic, partitions)
    feeder = Feeder(broker.bootstrap, topic)
    deliveries = Deliveries()
    a = Member("a", broker.bootstrap, group, topic)
    b = Member("b", broker.bootstrap, group, topic)
    c = Member("c", broker.bootstrap, group, topic)
    k = ChildMember("k", broker.bootstrap, group, topic, tmp_path / "child-k.log")
    phases = []  # (phase, seconds since the test started), for the printed summary
    t0 = time.monotonic()

    def mark(phase: str) -> None:
        phases.append((phase, round(time.monotonic() - t0, 1)))

    try:
        # Three members, records flowing from the start.
        feeder.target = 600
        a.subscribe()
        b.subscribe()
        pump_until([a, b], feeder, deliveries,
                   lambda: spread_ok([a.parts(), b.parts(), k.parts()], partitions),
                   "three members spread over six partitions", child=k)
        mark("three members spread over six partitions")

        # A fourth joins: everyone gets at least one partition, still disjoint.
        feeder.target = 1200
        c.subscribe()
        pump_until([a, b, c], feeder, deliveries,
                   lambda: spread_ok([a.parts(), b.parts(), c.parts(), k.parts()], partitions),
                   "four members spread over six partitions", child=k)
        mark("four members spread over six partitions")

        # One leaves gracefully (LeaveGroup): the other three take its partitions.
        feeder.target = 1800
        c.close()
        pump_until([a, b], feeder, deliveries,
                   lambda: spread_ok([a.parts(), b.parts(), k.parts()], partitions),
                   "three members after a LeaveGroup", child=k)
        mark("three members after a LeaveGroup")

        # One dies (SIGKILL, no LeaveGroup) while it holds records it handled
        # but did not commit: its session times out, and the two left own
        # everything, resuming the dead one's partitions where it last committed.
        feeder.target = 2400
        pump_until([a, b], feeder, deliveries, lambda: k.uncommitted > 0,
                   "the child member holding uncommitted records", child=k, hold_s=0)
        k.kill()
        mark("killed")
        k.read(deliveries)
        pump_until([a, b], feeder, deliveries,
                   lambda: spread_ok([a.parts(), b.parts()], partitions),
                   "two survivors owning all six partitions")
        mark("two survivors owning all six partitions")

        feeder.target = 3000
        feeder.finish()
        pump_until([a, b], None, deliveries,
                   lambda: all(v in deliveries.by_value for v in feeder.acked),
                   "every acknowledged record consumed")
        mark("every acknowledged record consumed")
        assert spread_ok([a.parts(), b.parts()], partitions)
    finally:
        k.kill()
        for m in (a, b, c):
            m.close()

    dupes = sum(len(ds) - 1 for ds in deliveries.by_value.values())
    print(f"membership: {len(feeder.acked)} acked, {dupes} redelivered, per member "
          f"{ {w: deliveries.count(w) for w in 'abck'} }, child commits {k.commits}, "
          f"commit failures {[m.commit_failures for m in (a, b, c)]}, phases {phases}")
    assert len(feeder.acked) == 3000
    assert_at_least_once(feeder.acked, deliveries)
    assert deliveries.count("k") > 0 and deliveries.count("a") > 0 and deliveries.count("b") > 0


class KafkaPythonMember(threading.Thread):
    """A kafka-python group member polled by a thread of its own.

    One thread per consumer, not alternate polling in one thread: kafka-python
    3.0.12 drops a JoinGroup/SyncGroup round that completes while no poll() of
    that consumer is waiting on it (`join_group_async` sees the finished task as
    stale and sends a fresh JoinGroup). When that member is the leader, the
    fresh JoinGroup starts another rebalance, as Kafka would, so alternate polling
    could rebalance in a loop for many seconds."""

    def __init__(self, name: str, make_consumer, deliveries: Deliveries, lock: threading.Lock):
        super().__init__(name=f"kp-{name}", daemon=True)
        self.member_name, self.make_consumer = name, make_consumer
        self.deliveries, self.lock = deliveries, lock
        self.stop = threading.Event()
        self.parts: set[int] = set()
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def run(self) -> None:
        from kafka.errors import KafkaError
        consumer = None
        try:
            consumer = self.make_consumer()
            deadline = time.monotonic() + 3 * DEADLINE_S
            for _ in range(10 * STEPS_MAX):
                if self.stop.is_set() or time.monotonic() > deadline:
                    break
                batch = consumer.poll(timeout_ms=100, max_records=100)
                with self.lock:
                    for records in batch.values():
                        for r in records:
                            self.deliveries.add(self.member_name, r.value.decode(), r.partition, r.offset)
                if batch:
                    try:
                        consumer.commit()  # the positions just past what was handled
                    except KafkaError:
                        pass  # rebalancing: the batch is redelivered, never lost
                self.parts = {tp.partition for tp in consumer.assignment()}
        except BaseException as e:  # reported by the test thread
            self.error = e
        finally:
            if consumer is not None:
                consumer.close()  # LeaveGroup
            self.parts = set()
            self.finished.set()


def test_kafka_python_members_share_then_one_takes_over(broker):
    from kafka import KafkaConsumer, KafkaProducer

    topic, group, partitions = "kp-members", "kp-members-g", 4
    create_topic(broker.bootstrap, topic, partitions)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    acked: dict[str, tuple[int, int]] = {}

    def produce(start: int, count: int) -> None:
        futures = [(f"k{i:04d}", producer.send(topic, key=f"k{i:04d}".encode(),
                                               value=f"k{i:04d}".encode()))
                   for i in range(start, start + count)]
        producer.flush(timeout=DEADLINE_S)
        for value, fut in futures:
            md = fut.get(timeout=DEADLINE_S)
            acked[value] = (md.partition, md.offset)

    def make_consumer() -> KafkaConsumer:
        c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                          enable_auto_commit=False, auto_offset_reset="earliest",
                          session_timeout_ms=6000, heartbeat_interval_ms=500,
                          max_poll_interval_ms=30000)
        c.subscribe([topic])
        return c

    deliveries = Deliveries()
    lock = threading.Lock()
    one = KafkaPythonMember("one", make_consumer, deliveries, lock)
    two = KafkaPythonMember("two", make_consumer, deliveries, lock)
    t0 = time.monotonic()
    phases = []  # (phase, seconds since start), for the printed summary

    def wait(done, what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        for _ in range(STEPS_MAX):
            for m in (one, two):
                assert m.error is None, f"member {m.member_name}: {m.error!r}"
            with lock:
                if done():
                    phases.append((what, round(time.monotonic() - t0, 1)))
                    return
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError(f"{what}: never happened: one {sorted(one.parts)}, two {sorted(two.parts)}")

    try:
        produce(0, 200)
        one.start()
        two.start()
        wait(lambda: spread_ok([one.parts, two.parts], partitions), "two members share four partitions")
        produce(200, 100)
        wait(lambda: deliveries.count("one") > 0 and deliveries.count("two") > 0, "both members consuming")
        one.stop.set()  # its thread closes it: LeaveGroup
        assert one.finished.wait(DEADLINE_S), "member one never closed"
        produce(300, 100)
        wait(lambda: two.parts == set(range(partitions)), "member two owns all partitions")
        wait(lambda: all(v in deliveries.by_value for v in acked), "every acknowledged record consumed")
    finally:
        producer.close()
        for m in (one, two):
            m.stop.set()
        for m in (one, two):
            if m.is_alive():
                m.join(timeout=DEADLINE_S)
    assert one.error is None and two.error is None, (one.error, two.error)

    dupes = sum(len(ds) - 1 for ds in deliveries.by_value.values())
    print(f"kafka-python: {len(acked)} acked, {dupes} redelivered, per member "
          f"{ {w: deliveries.count(w) for w in ('one', 'two')} }, phases {phases}")
    assert len(acked) == 400
    assert_at_least_once(acked, deliveries)


def test_static_member_rejoins_without_a_rebalance(broker):
    """A static member (group.instance.id) that closes sends no LeaveGroup; a new
    incarnation with the same instance id gets the same partitions back, and the
    other member sees no rebalance at all."""
    topic, group, partitions = "static-t", "g-static", 4
    create_topic(broker.bootstrap, topic, partitions)
    deliveries = Deliveries()
    # A longer session for the static member: its replacement must arrive before
    # the old incarnation's session runs out, even on a slow machine.
    static_conf = {"group.instance.id": "static-1", "session.timeout.ms": 30000}
    other = Member("other", broker.bootstrap, group, topic)
    first = Member("static", broker.bootstrap, group, topic, **static_conf)
    second = None
    try:
        other.subscribe()
        first.subscribe()
        pump_until([other, first], None, deliveries,
                   lambda: spread_ok([other.parts(), first.parts()], partitions),
                   "two members share four partitions")
        static_parts, other_parts = first.parts(), other.parts()
        other_events = (other.assigns, other.revokes)
        first.close()

        second = Member("static-again", broker.bootstrap, group, topic, **static_conf)
        second.subscribe()
        pump_until([other, second], None, deliveries,
                   lambda: second.parts() == static_parts,
                   "the new incarnation gets the old one's partitions")
        # A few more heartbeat intervals: still no rebalance for anyone.
        deadline = time.monotonic() + 3
        for _ in range(STEPS_MAX):
            if time.monotonic() > deadline:
                break
            other.pump(deliveries)
            second.pump(deliveries)
        assert second.parts() == static_parts
        assert other.parts() == other_parts
        assert (other.assigns, other.revokes) == other_events, "the other member was rebalanced"
        assert (second.assigns, second.revokes) == (1, 0)
    finally:
        other.close()
        first.close()
        if second is not None:
            second.close()
