"""Idempotent producing through a proxy that keeps cutting connections, often
by swallowing a response the broker already sent (so the append happened but
the producer never heard): the producer retries, the broker answers retried
batches with their original offsets, and the log holds every acknowledged
record exactly once, in order."""

import socket
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import free_port

RECORDS = 30_000
PARTITIONS = 3


class DroppingProxy:
    """Forwards 127.0.0.1:port to the broker. While `dropping` is set it closes
    every live connection each `interval_s`, and cuts the connection instead of
    forwarding every `swallow_every`th chunk of broker responses (a bounded
    number of times each)."""

    def __init__(self, port: int, target_port: int, interval_s: float = 0.25, max_drops: int = 40):
        self.port = port
        self.target_port = target_port
        self.interval_s = interval_s
        self.max_drops = max_drops
        self.dropping = threading.Event()
        self.stopped = threading.Event()
        self.drops = 0
        self.swallowed = 0
        self.swallow_every = 10
        self.response_chunks = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.live: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._cut, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += 1
                self.live += [client, upstream]
            for a, b, responses in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, responses), daemon=True).start()

    def _swallow(self) -> bool:
        with self.lock:
            if not self.dropping.is_set() or self.swallowed >= self.max_drops:
                return False
            self.response_chunks += 1
            if self.response_chunks % self.swallow_every:
                return False
            self.swallowed += 1
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, responses: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or (responses and self._swallow()):
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self) -> None:
        while not self.stopped.is_set() and self.drops < self.max_drops:
            time.sleep(self.interval_s)
            if not self.dropping.is_set():
                continue
            with self.lock:
                live, self.live = self.live, []
            if live:
                self.drops += 1
            for s in live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


def test_librdkafka_idempotent_producer_through_connection_drops(broker_factory):
    # The broker advertises the proxy, so every connection after bootstrap
    # goes through it too.
    proxy_port = free_port()
    broker = broker_factory("--advertised-port", str(proxy_port))
    proxy = DroppingProxy(proxy_port, broker.port)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic("idem", PARTITIONS, 1)])["idem"].result(timeout=30)

        acked: dict[bytes, tuple[int, int]] = {}
        failed = []

        def on_delivery(err, msg):
            if err is None:
                acked[msg.value()] = (msg.partition(), msg.offset())
            else:
                failed.append(err)

        producer = Producer({
            "bootstrap.servers": f"127.0.0.1:{proxy_port}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.num.messages": 500,
            "message.timeout.ms": 120_000,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 20,
        })
        proxy.dropping.set()
        deadline = time.monotonic() + 120
        for i in range(RECORDS):
            while True:
                try:
                    producer.produce("idem", value=b"v%06d" % i, key=b"k%d" % (i % 97), on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 1000 == 0:
                producer.poll(0)
                time.sleep(0.02)  # spread the run over several drops
            assert time.monotonic() < deadline
        remaining = producer.flush(120)
        proxy.dropping.clear()
        assert remaining == 0, f"{remaining} records still queued"
        assert not failed, failed[:5]
        assert len(acked) == RECORDS
        assert proxy.drops >= 3, f"only {proxy.drops} drops happened"
        assert proxy.swallowed >= 3, f"only {proxy.swallowed} responses were swallowed"
        assert proxy.connections > 3, "the producer reconnected"

        # Read every partition back directly (not through the proxy).
        consumer = Consumer({
            "bootstrap.servers": broker.bootstrap,
            "group.id": "idem-check",
            "enable.auto.commit": False,
        })
        consumer.assign([TopicPartition("idem", p, 0) for p in range(PARTITIONS)])
        seen: dict[bytes, tuple[int, int]] = {}
        duplicates = []
        deadline = time.monotonic() + 60
        while len(seen) + len(duplicates) < RECORDS and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error():
                    continue
                if msg.value() in seen:
                    duplicates.append(msg.value())
                seen[msg.value()] = (msg.partition(), msg.offset())
        # Nothing more than what was produced.
        for msg in consumer.consume(1000, timeout=1.0):
            if not msg.error():
                duplicates.append(msg.value())
        consumer.close()
        assert not duplicates, f"{len(duplicates)} duplicates, e.g. {duplicates[:5]}"
        assert seen == acked, "every record at the partition and offset it was acked with"
        # Per key (one partition each), values keep their produce order.
        per_partition: dict[int, list[int]] = {}
        for value, (p, offset) in sorted(seen.items(), key=lambda kv: kv[1]):
            per_partition.setdefault(p, []).append(int(value[1:]))
        for p, values in per_partition.items():
            keyed: dict[int, list[int]] = {}
            for v in values:
                keyed.setdefault(v % 97, []).append(v)
            for k, vs in keyed.items():
                assert vs == sorted(vs), f"partition {p} key {k} out of order"
    finally:
        proxy.close()
