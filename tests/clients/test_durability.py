"""Crash and restart: nothing acknowledged is lost."""

import threading
import time

from confluent_kafka import Producer

from test_confluent import create_topic, read_partitions

PARTITIONS = 2


def produce_until_stopped(bootstrap: str, topic: str, stop: threading.Event, acked: dict, errors: list):
    """acks=all, no retries (so nothing is written twice), until `stop` is set."""
    def on_delivery(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            errors.append(err)

    p = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
        "retries": 0, "enable.idempotence": False, "message.timeout.ms": 5000,
    })
    i = 0
    while not stop.is_set() and i < 2_000_000:
        try:
            p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), on_delivery=on_delivery)
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.flush(10)


def check_acked_survived(bootstrap: str, topic: str, acked: dict):
    total_expected = len(acked)
    got = read_partitions(bootstrap, topic, PARTITIONS, total_expected)
    found = {}
    for partition, records in got.items():
        offsets = [o for o, _ in records]
        assert offsets == list(range(len(offsets))), "offsets must stay contiguous after recovery"
        for offset, value in records:
            assert value not in found, f"{value!r} stored twice"
            found[value] = (partition, offset)
    lost = [v for v, where in acked.items() if found.get(v) != where]
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {lost[:5]}"


def run_crash(broker, stop_broker):
    topic = "durable"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    acked, errors, stop = {}, [], threading.Event()
    t = threading.Thread(target=produce_until_stopped, args=(broker.bootstrap, topic, stop, acked, errors))
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 20_000, f"only {len(acked)} acks before the crash; errors: {errors[:3]}"
    stop_broker()
    stop.set()
    t.join(timeout=30)
    broker.start()
    check_acked_survived(broker.bootstrap, topic, acked)
    return len(acked)


def test_kill_9_during_acks_all_production(broker):
    run_crash(broker, broker.kill)


def test_kill_9_with_fsync_always(broker_factory):
    broker = broker_factory("--fsync", "always")
    run_crash(broker, broker.kill)


def test_sigterm_restart_loses_nothing(broker):
    codes = []
    run_crash(broker, lambda: codes.append(broker.terminate()))
    assert codes == [0], "SIGTERM must shut down cleanly with exit code 0"
