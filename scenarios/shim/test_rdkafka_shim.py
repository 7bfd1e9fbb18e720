"""The librdkafka shim against a real release broker, driven as the scenario driver does.

Run explicitly (it is not part of tests/clients):

    python3 -m pytest -q -p no:cacheprovider scenarios/shim

The broker binary comes from WEIR_BROKER_BIN or target/release/weir-broker.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).resolve().parent / "rdkafka_shim.py"
START_TIMEOUT_S = 30
WAIT_S = 60  # The longest any single step of a test may take.
PARTITIONS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory) -> Iterator[str]:
    """One broker for the module; each test uses its own topics and groups."""
    binary = Path(os.environ.get("WEIR_BROKER_BIN", ROOT / "target" / "release" / "weir-broker"))
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p weir-broker` first")
    tmp = tmp_path_factory.mktemp("broker")
    port = free_port()
    log_path = tmp / "broker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp / "data")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info")),
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"broker exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"broker did not listen within {START_TIMEOUT_S}s"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


class Shim:
    """One shim process: commands in, parsed events out (on a reader thread)."""

    def __init__(self, mode: str, bootstrap: str, topic: str, *args: str):
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, str(SHIM), mode, "--bootstrap", bootstrap, "--topic", topic, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # Diagnostics go to the test's stderr (shown on failure).
        )
        self.events: "queue.Queue[Optional[dict[str, Any]]]" = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            # Every stdout line must be one JSON object: a stray line fails the test.
            event = json.loads(raw)
            assert isinstance(event, dict), raw
            self.events.put(event)
        self.events.put(None)  # End of output.

    def command(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def next_event(self, timeout: float) -> Optional[dict[str, Any]]:
        """The next event, or None at end of output; raises queue.Empty on timeout."""
        event = self.events.get(timeout=timeout)
        if event is not None:
            self.seen.append(event)
        return event

    def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{self.mode}: no matching event within {timeout}s; last: {self.seen[-5:]}"
            event = self.next_event(timeout=left)
            assert event is not None, f"{self.mode} ended early (rc={self.proc.poll()}); last: {self.seen[-5:]}"
            if done(event):
                return event

    def rest(self, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        """Every event up to the end of output, then the exit code must be 0."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{self.mode} did not end within {timeout}s"
            event = self.next_event(timeout=left)
            if event is None:
                break
            out.append(event)
        assert self.proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, f"{self.mode} failed"
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def shims() -> Iterator[Callable[..., Shim]]:
    started: list[Shim] = []

    def start(*args: str) -> Shim:
        shim = Shim(*args)
        started.append(shim)
        return shim

    yield start
    for shim in started:
        shim.kill()


def produce(start: Callable[..., Shim], bootstrap: str, topic: str, sends: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Sends everything, flushes, ends input; returns value -> (partition, offset)."""
    producer = start("produce", bootstrap, topic)
    for send in sends:
        producer.command(send)
    producer.command({"flush": True})
    acked: dict[str, tuple[int, int]] = {}
    flushed = producer.until(lambda e: "flushed" in e or "err" in e)
    assert flushed == {"flushed": True, "outstanding": 0}, flushed
    for event in producer.seen:
        if "ok" in event:
            assert set(event) == {"ok", "partition", "offset"}, event
            assert event["ok"] not in acked, f"two outcomes for {event['ok']}"
            acked[event["ok"]] = (event["partition"], event["offset"])
    producer.end_input()
    assert producer.rest() == []  # Nothing outstanding: EOF flushes nothing more.
    assert len(set(acked.values())) == len(acked), "distinct (partition, offset) per record"
    return acked


def high_watermarks(acked: dict[str, tuple[int, int]]) -> dict[str, int]:
    high = {str(p): 0 for p in range(PARTITIONS)}
    for p, o in acked.values():
        high[str(p)] = max(high[str(p)], o + 1)
    return high


def consume_until(members: list[Shim], want: set[str], timeout: float = WAIT_S) -> list[dict[str, Any]]:
    """Polls every member's events until `want` has been delivered; returns the deliveries."""
    deadline = time.monotonic() + timeout
    delivered: list[dict[str, Any]] = []
    while not want <= {e["delivered"] for e in delivered}:
        assert time.monotonic() < deadline, (
            f"missing after {timeout}s: {sorted(want - {e['delivered'] for e in delivered})[:10]}"
        )
        for member in members:
            try:
                while (event := member.next_event(timeout=0.05)) is not None:
                    if "delivered" in event:
                        delivered.append(event)
                    assert "fatal" not in event, event
            except queue.Empty:
                pass
    return delivered


def close_all(members: list[Shim]) -> None:
    for member in members:
        member.command({"close": True})
    for member in members:
        rest = member.rest()
        assert rest and rest[-1] == {"closed": True}, rest[-3:]


def check_assignments(members: list[Shim]) -> None:
    for member in members:
        assigned = [e for e in member.seen if "assigned" in e]
        assert assigned, f"{member.mode} was never assigned"
        generations = [e["generation"] for e in assigned]
        assert generations == list(range(1, len(generations) + 1)), generations


def test_produce_group_committed_drain(bootstrap, shims):
    topic = "shim-main"
    create_topic(bootstrap, topic)
    values = [f"v{i}" for i in range(300)]
    acked = produce(shims, bootstrap, topic, [
        {"send": v, "key": f"k{i % 17}", "headers": [], "partition": None} for i, v in enumerate(values)
    ])
    assert set(acked) == set(values)

    group = ["consume", bootstrap, topic, "--group", "g-alo", "--delivery", "at-least-once"]
    members = [shims(*group), shims(*group)]
    delivered = consume_until(members, set(values))
    for e in delivered:
        assert (e["partition"], e["offset"]) == acked[e["delivered"]], e
        assert e["generation"] >= 1
    close_all(members)
    check_assignments(members)

    high = high_watermarks(acked)
    committed = shims("committed", bootstrap, topic, "--group", "g-alo", "--partitions", str(PARTITIONS))
    committed.end_input()
    assert committed.rest() == [{"committed": high}]

    drain = shims("drain", bootstrap, topic, "--partitions", str(PARTITIONS), "--timeout-ms", "30000")
    events = drain.rest()
    assert events[-1] == {"done": True, "high_watermarks": high}
    drained = [e for e in events[:-1]]
    assert all(set(e) == {"drained", "partition", "offset"} for e in drained), drained[:3]
    assert len(drained) == len(values)
    assert {e["drained"]: (e["partition"], e["offset"]) for e in drained} == acked


def test_at_most_once_with_a_header_filter(bootstrap, shims):
    topic = "shim-filtered"
    create_topic(bootstrap, topic)
    sends = []
    for i in range(200):
        # Half carry source=a; of the rest, some carry another source and some none.
        headers = [["source", "a"]] if i % 2 == 0 else ([["source", "b"]] if i % 4 == 1 else [])
        sends.append({"send": f"m{i}", "key": None, "headers": headers, "partition": i % PARTITIONS})
    acked = produce(shims, bootstrap, topic, sends)
    assert all(acked[f"m{i}"][0] == i % PARTITIONS for i in range(200)), "explicit partitions honoured"
    want = {f"m{i}" for i in range(0, 200, 2)}

    group = [
        "consume", bootstrap, topic, "--group", "g-amo", "--delivery", "at-most-once",
        "--header-filter", "source=a", "--assignor", "cooperative-sticky",
    ]
    members = [shims(*group), shims(*group)]
    consume_until(members, want)
    close_all(members)
    # Every delivery either member reported, including any up to its close.
    delivered = [e for m in members for e in m.seen if "delivered" in e]
    values = [e["delivered"] for e in delivered]
    assert len(values) == len(set(values)), "at-most-once delivered something twice"
    assert set(values) == want
    check_assignments(members)

    committed = shims("committed", bootstrap, topic, "--group", "g-amo", "--partitions", str(PARTITIONS))
    committed.end_input()
    # Filtered-out records count as consumed: the commits reach the high watermarks.
    assert committed.rest() == [{"committed": high_watermarks(acked)}]


def test_refused_and_failed_sends_are_reported(bootstrap, shims):
    topic = "shim-errors"
    create_topic(bootstrap, topic)
    producer = shims("produce", bootstrap, topic, "--acks", "1", "--idempotent", "false")
    producer.command({"send": "fine", "key": None, "headers": [], "partition": 0})
    producer.command({"send": "nowhere", "key": None, "headers": [], "partition": 7})
    producer.end_input()
    events = {("ok" in e and e["ok"]) or e["err"]: e for e in producer.rest()}
    assert events["fine"] == {"ok": "fine", "partition": 0, "offset": 0}
    err = events["nowhere"]
    assert set(err) == {"err", "code", "name", "retriable", "fatal", "txn_requires_abort", "persisted"}, err
    assert err["name"] == "_UNKNOWN_PARTITION" and err["code"] < 0, err
    assert err["fatal"] is False and err["txn_requires_abort"] is False
    # Whether refused by produce() ("not_persisted") or by its delivery report (null).
    assert err["persisted"] in (None, "not_persisted"), err

    committed = shims("committed", bootstrap, topic, "--group", "never-committed", "--partitions", "2")
    committed.end_input()
    assert committed.rest() == [{"committed": {"0": -1, "1": -1}}]


def test_pipeline_moves_every_record_once(bootstrap, shims):
    source, sink, group = "shim-pipe-in", "shim-pipe-out", "g-pipe"
    create_topic(bootstrap, source)
    create_topic(bootstrap, sink)
    values = [f"in-{i}" for i in range(240)]
    acked = produce(shims, bootstrap, source, [
        {"send": f"{v}|pad", "key": f"k{i % 13}", "headers": [], "partition": None} for i, v in enumerate(values)
    ])
    high = high_watermarks(acked)

    members = [
        shims("pipeline", bootstrap, source, "--group", group, "--output", sink,
              "--transactional-id", f"pipe-{n}", "--batch", "20", "--abort-every", "3")
        for n in range(2)
    ]
    # Until the transactions that committed cover the input's end offsets.
    committed_to: dict[int, int] = {}
    txns: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while any(committed_to.get(p, 0) < hw for p, hw in ((int(p), hw) for p, hw in high.items())):
        assert time.monotonic() < deadline, f"committed {committed_to}, high {high}"
        for member in members:
            try:
                while (event := member.next_event(timeout=0.05)) is not None:
                    assert "fatal" not in event, event
                    if "txn" in event:
                        txns.append(event)
                        if event["outcome"] == "committed":
                            for o in event["offsets"]:
                                committed_to[o["partition"]] = max(committed_to.get(o["partition"], 0), o["offset"])
            except queue.Empty:
                pass
    close_all(members)
    txns += [e for m in members for e in m.seen if "txn" in e and e not in txns]

    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for t in txns:
        assert set(t) == {"txn", "outcome", "outputs", "offsets", "error"}, t
        by_outcome.setdefault(t["outcome"], []).append(t)
        name, _, seq = t["txn"].rpartition(":")
        assert name in ("pipe-0", "pipe-1") and int(seq) >= 1, t
        for out in t["outputs"]:
            txn, partition, offset, source_id = out["value"].split("/", 3)
            assert txn == t["txn"] and source_id.startswith("in-"), out
            assert acked[f"{source_id}|pad"] == (int(partition), int(offset)), out
    assert by_outcome.get("aborted"), "every third transaction is aborted"
    assert "unknown" not in by_outcome, by_outcome["unknown"][:1]
    aborted = {o["value"] for t in by_outcome["aborted"] for o in t["outputs"]}
    # Aborted outputs were flushed before the abort: they are in the log.
    assert all(o["offset"] >= 0 for t in by_outcome["aborted"] for o in t["outputs"])

    committed = shims("committed", bootstrap, source, "--group", group, "--partitions", str(PARTITIONS))
    committed.end_input()
    assert committed.rest() == [{"committed": high}]

    # read_committed: each input exactly once, nothing aborted.
    reader = shims("drain", bootstrap, sink, "--partitions", str(PARTITIONS), "--timeout-ms", "30000",
                   "--isolation", "read_committed")
    events = reader.rest()
    assert events[-1]["done"] is True and events[-1]["stable"] is True, events[-1]
    read = [e["drained"].split("|", 1)[0] for e in events[:-1]]
    assert not aborted & set(read), sorted(aborted & set(read))[:5]
    sources = sorted(v.split("/", 3)[3] for v in read)
    assert sources == sorted(values), "every input exactly once"
    # read_uncommitted sees the aborted outputs too.
    everything = shims("drain", bootstrap, sink, "--partitions", str(PARTITIONS), "--timeout-ms", "30000")
    logged = {e["drained"].split("|", 1)[0] for e in everything.rest()[:-1]}
    assert aborted <= logged and set(read) <= logged
