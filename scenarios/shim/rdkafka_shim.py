#!/usr/bin/env python3
"""A librdkafka client (through confluent-kafka) driven over JSON lines.

The scenario driver (scenarios/src/backend/rdkafka.rs) spawns this script as a
subprocess so the same stories also run on a Kafka client no one here wrote:

    python3 rdkafka_shim.py <mode> --bootstrap HOST:PORT --topic T [flags]
                                   [--set librdkafka.key=value ...]

Commands arrive on stdin and events leave on stdout, one JSON object per line,
each flushed as soon as it is written. Nothing else is ever written to stdout:
diagnostics (including librdkafka's own logs) go to stderr. Every wait is
bounded. `--set` properties are applied after everything else.

Modes, their stdin commands and their stdout events:

produce   flags: --acks {0,1,all} --idempotent {true,false} --linger-ms N
                 --batch-size N --compression {none,gzip,snappy,lz4,zstd}
                 --delivery-timeout-ms N --request-timeout-ms N
  in   {"send": "<value>", "key": "<key>"|null, "headers": [["k","v"], ...],
        "partition": <int>|null}
       {"flush": true}
       EOF                         -> flush as above, then exit 0
  out  {"ok": "<value>", "partition": p, "offset": o}     (o is -1 if unknown, e.g. acks=0)
       {"err": "<value>", "code": c, "name": "<name>", "retriable": b, "fatal": b,
        "txn_requires_abort": b, "persisted": null|"not_persisted"}
       {"flushed": true, "outstanding": n}
  One "ok" or "err" per send. `code` is the Kafka error code; librdkafka's local
  codes are negative. `persisted` would carry librdkafka's message status, but
  confluent-kafka 2.16 does not expose rd_kafka_message_status(), so it is null
  for delivery reports. It is "not_persisted" only when produce() itself refused
  the record (it never entered librdkafka's queue, so it cannot have been sent).

consume   flags: --group G --delivery {at-least-once,at-most-once}
                 --session-timeout-ms N --heartbeat-interval-ms N
                 --max-poll-interval-ms N --assignor {range,roundrobin,cooperative-sticky}
                 --header-filter k=v --processing-delay-ms N --auto-offset-reset R
  in   {"close": true} or EOF      -> graceful close, exit 0
  out  {"assigned": [p, ...], "generation": n}   (the full assignment after the change)
       {"revoked": [p, ...]}
       {"lost": [p, ...]}
       {"delivered": "<value>", "partition": p, "offset": o, "generation": n}
       {"closed": true}            (or {"closed": false} and exit 1 if close hangs)
       {"fatal": "<error>"}        then exit 1
  `generation` counts this process's assignments (librdkafka hides the group's).

pipeline  flags: --group G --output T2 --transactional-id ID --batch N --abort-every N
                 --transaction-timeout-ms N --session-timeout-ms N --heartbeat-interval-ms N
  Exactly-once consume-transform-produce: a read_committed group member of G
  on --topic and a transactional producer (transactional.id ID). Each batch of
  at most N records is one transaction that writes, for each input record at
  p/o with id I (its value up to the first "|"), the value "<txn>/<p>/<o>/<I>|"
  with the input's key to T2, and commits the batch's next offsets for G
  (send_offsets_to_transaction). <txn> is "<ID>:<n>", n counting this
  process's transactions from 1. Every n-th transaction with --abort-every n
  (0: never) is flushed (so its records are in the log) and aborted. After any
  transaction that did not commit, the member seeks back to G's committed
  offsets; a producer that failed fatally is replaced by a new one with the
  same transactional.id (whose init_transactions fences it and completes or
  aborts its transaction).
  in   {"close": true} or EOF      -> close between transactions, exit 0
  out  {"assigned": [p, ...], "generation": n}, {"revoked": [...]}, {"lost": [...]}
       {"txn": "<txn>", "outcome": "committed"|"aborted"|"unknown",
        "outputs": [{"value": "<value id>", "partition": p, "offset": o}, ...],
        "offsets": [{"partition": p, "offset": o}, ...], "error": null|"<why>"}
       {"closed": true}, {"fatal": "<error>"} (then exit 1)
  "aborted": commit was never asked for, so it can never commit; "unknown":
  commit_transaction was called but did not return success. An output's
  partition and offset are -1 when no delivery report acknowledged it.

drain     flags: --partitions N --timeout-ms N --isolation {read_uncommitted,read_committed}
  out  {"drained": "<value>", "partition": p, "offset": o}   (offsets below the high watermark)
       {"done": true|false, "high_watermarks": {"0": hw, ...}}  (false: timed out, exit 1)
  With read_committed the "high watermarks" are the last stable offsets: the
  drain first waits (bounded by the timeout) until they reach the high
  watermarks, i.e. no transaction is open, and "done" also carries
  "stable": whether they did.

committed flags: --group G --partitions N
  out  {"committed": {"0": offset_or_-1, ...}}
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterator, NoReturn, Optional

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

# The protocol stream is a private duplicate of the original stdout; fd 1 and
# sys.stdout are pointed at stderr so that nothing else (a stray print, a C
# library writing to fd 1) can ever corrupt the driver's JSON lines.
_OUT = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
_OUT_LOCK = threading.Lock()

# Commands read from stdin and not yet taken (the reader thread waits beyond).
COMMANDS_QUEUED_MAX = 10_000
# How long produce() keeps retrying a full local queue before giving up on a record.
QUEUE_FULL_RETRY_S = 10.0
# Slack on top of the delivery timeout for the last delivery reports to arrive.
FLUSH_SLACK_S = 10.0
# How long a consumer's close() may take (the driver kills a member at 30 s).
CLOSE_TIMEOUT_S = 25.0
# Per-call timeout of metadata-like requests (watermarks, committed offsets).
REQUEST_TIMEOUT_S = 5.0
COMMITTED_TIMEOUT_S = 10.0
# Messages asked of one consume() call, and how long it may wait.
BATCH_MAX = 100
BATCH_WAIT_S = 0.2
# How often the same client-level error is logged again.
ERROR_REPEAT_S = 5.0
# Pipeline: one transactional API call's timeout, how long a transaction (or
# a producer's start, or a rewind) may keep retrying, the pause between
# retries, and how many producers a member may replace.
TXN_CALL_TIMEOUT_S = 5.0
TXN_DEADLINE_S = 60.0
TXN_RETRY_BACKOFF_S = 0.2
TXN_HANG_SLACK_S = 2.0
PRODUCERS_MAX = 50

EOF = object()  # What the stdin thread queues at end of input.


def emit(event: dict[str, Any]) -> None:
    """Writes one event line and flushes it; exits if the driver has gone."""
    line = json.dumps(event, separators=(",", ":"))
    with _OUT_LOCK:
        try:
            _OUT.write(line + "\n")
            _OUT.flush()
        except (BrokenPipeError, ValueError, OSError):
            # No one is reading any more: there is nothing useful left to do.
            os._exit(1)


def log(message: str) -> None:
    print(f"rdkafka_shim[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def text(raw: Optional[bytes]) -> str:
    # Values are utf-8 by construction; replace rather than fail on anything else
    # (lone surrogates from surrogateescape would not be valid JSON for serde).
    return "" if raw is None else raw.decode("utf-8", errors="replace")


def queued(commands: "queue.Queue[Any]") -> Iterator[Any]:
    """The commands already waiting, taken without blocking."""
    while True:
        try:
            yield commands.get_nowait()
        except queue.Empty:
            return


def start_stdin_reader() -> "queue.Queue[Any]":
    """Reads stdin on a daemon thread (blocking reads) into a queue of commands.

    The queue holds parsed JSON objects, then EOF. Unparseable lines are logged
    and skipped. A daemon thread never holds up the process's exit.
    """
    # Bounded, so a fast writer is held back by the pipe instead of filling memory.
    commands: "queue.Queue[Any]" = queue.Queue(maxsize=COMMANDS_QUEUED_MAX)

    def run() -> None:
        try:
            for raw in sys.stdin.buffer:
                line = raw.strip()
                if not line:
                    continue
                try:
                    command = json.loads(line)
                except ValueError as e:
                    log(f"ignoring a line that is not JSON ({e}): {line[:200]!r}")
                    continue
                if not isinstance(command, dict):
                    log(f"ignoring a command that is not an object: {line[:200]!r}")
                    continue
                commands.put(command)
        except (OSError, ValueError) as e:
            log(f"stdin: {e}")
        finally:
            commands.put(EOF)

    threading.Thread(target=run, name="stdin", daemon=True).start()
    return commands


def apply_overrides(config: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {setting!r}")
        config[key] = value
    return config


def error_logger(what: str) -> Callable[[KafkaError], None]:
    """An error_cb: librdkafka's client-level errors are informational (it retries).

    While a broker is down librdkafka reports every reconnect attempt, so a repeat
    of the same error is logged at most every ERROR_REPEAT_S.
    """
    last: dict[str, float] = {}

    def on_error(err: KafkaError) -> None:
        line = f"{what} error: {err}{' (fatal)' if err.fatal() else ''}"
        now = time.monotonic()
        if now - last.get(line, -ERROR_REPEAT_S) >= ERROR_REPEAT_S:
            last[line] = now
            log(line)

    return on_error


# --------------------------------------------------------------------------- produce


class ProducerShim:
    def __init__(self, args: argparse.Namespace):
        self.topic: str = args.topic
        self.delivery_timeout_s = args.delivery_timeout_ms / 1000
        config = {
            "bootstrap.servers": args.bootstrap,
            "acks": args.acks,
            "enable.idempotence": args.idempotent == "true",
            "linger.ms": args.linger_ms,
            "batch.size": args.batch_size,
            "compression.type": args.compression,
            "delivery.timeout.ms": args.delivery_timeout_ms,
            "request.timeout.ms": args.request_timeout_ms,
            "error_cb": error_logger("producer"),
        }
        self.producer = Producer(apply_overrides(config, args.set))
        # Sends whose delivery report has not been served yet (counted here rather
        # than with len(producer) so "outstanding" means "no event printed yet").
        self.outstanding = 0

    def on_delivery(self, value: str) -> Callable[[Optional[KafkaError], Message], None]:
        # The closure carries the caller's value, so identity never depends on
        # what librdkafka hands back.
        def report(err: Optional[KafkaError], msg: Message) -> None:
            self.outstanding -= 1
            if err is None:
                offset = msg.offset()
                emit({
                    "ok": value,
                    "partition": msg.partition(),
                    # acks=0 yields no offset (librdkafka reports OFFSET_INVALID).
                    "offset": offset if offset is not None and offset >= 0 else -1,
                })
            else:
                # confluent-kafka 2.16 does not wrap rd_kafka_message_status(), so
                # whether a failed record may still have been written is unknown here.
                self.report_error(value, err, persisted=None)

        return report

    @staticmethod
    def report_error(value: str, err: KafkaError, persisted: Optional[str]) -> None:
        emit({
            "err": value,
            "code": err.code(),
            "name": err.name(),
            "retriable": bool(err.retriable()),
            "fatal": bool(err.fatal()),
            "txn_requires_abort": bool(err.txn_requires_abort()),
            "persisted": persisted,
        })

    def send(self, command: dict[str, Any]) -> None:
        value = command["send"]
        if not isinstance(value, str):
            log(f"ignoring a send whose value is not a string: {command!r:.200}")
            return
        kwargs: dict[str, Any] = {"value": value.encode("utf-8"), "on_delivery": self.on_delivery(value)}
        key = command.get("key")
        if key is not None:
            kwargs["key"] = str(key).encode("utf-8")
        headers = command.get("headers") or []
        if headers:
            kwargs["headers"] = [(str(k), None if v is None else str(v).encode("utf-8")) for k, v in headers]
        partition = command.get("partition")
        if partition is not None:
            kwargs["partition"] = int(partition)

        deadline = time.monotonic() + QUEUE_FULL_RETRY_S
        while True:
            try:
                self.producer.produce(self.topic, **kwargs)
                self.outstanding += 1
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room.
                if time.monotonic() >= deadline:
                    self.report_error(value, KafkaError(KafkaError._QUEUE_FULL), persisted="not_persisted")
                    return
                self.producer.poll(0.1)
            except KafkaException as e:
                # Refused before it was queued (unknown partition, too large, fatal
                # state...): it was never sent, so it is certainly not persisted.
                err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else KafkaError(KafkaError._FAIL, str(e))
                self.report_error(value, err, persisted="not_persisted")
                return

    def flush(self) -> None:
        """Serves delivery reports until none are outstanding, or the bound passes."""
        deadline = time.monotonic() + self.delivery_timeout_s + FLUSH_SLACK_S
        while self.outstanding > 0 and time.monotonic() < deadline:
            self.producer.poll(0.1)
        if self.outstanding:
            log(f"flush gave up with {self.outstanding} delivery reports outstanding")

    def run(self) -> int:
        commands = start_stdin_reader()
        while True:
            # Feed everything queued so far into the producer, then serve callbacks.
            for command in queued(commands):
                if command is EOF:
                    self.flush()
                    return 0
                if "send" in command:
                    self.send(command)
                elif command.get("flush"):
                    self.flush()
                    emit({"flushed": True, "outstanding": self.outstanding})
                else:
                    log(f"ignoring an unknown command: {command!r:.200}")
            self.producer.poll(0.01)


# --------------------------------------------------------------------------- consume


class ConsumerShim:
    def __init__(self, args: argparse.Namespace):
        self.topic: str = args.topic
        self.at_most_once = args.delivery == "at-most-once"
        self.delay_s = args.processing_delay_ms / 1000
        self.filter: Optional[tuple[str, bytes]] = None
        if args.header_filter:
            key, sep, value = args.header_filter.partition("=")
            if not sep:
                raise SystemExit(f"--header-filter expects k=v, got {args.header_filter!r}")
            self.filter = (key, value.encode("utf-8"))
        self.generation = 0
        self.fatal: Optional[str] = None
        self.log_error = error_logger("consumer")

        config: dict[str, Any] = {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_interval_ms,
            "max.poll.interval.ms": args.max_poll_interval_ms,
            "partition.assignment.strategy": args.assignor,
            "auto.offset.reset": args.auto_offset_reset,
            "error_cb": self.on_error,
        }
        if self.at_most_once:
            # Offsets are committed by hand, synchronously, before delivery.
            config["enable.auto.commit"] = False
        else:
            # Only offsets stored after processing are committed (every 200 ms, on
            # rebalance and on close), so a crash can redeliver but never skip.
            config["enable.auto.commit"] = True
            config["enable.auto.offset.store"] = False
            config["auto.commit.interval.ms"] = 200
        config = apply_overrides(config, args.set)
        # confluent-kafka 2.16 has no rebalance_protocol(); librdkafka refuses to
        # mix eager and cooperative assignors, so the configured one decides.
        self.cooperative = "cooperative" in str(config["partition.assignment.strategy"])
        self.consumer = Consumer(config)

    def on_error(self, err: KafkaError) -> None:
        self.log_error(err)
        if err.fatal():
            self.fatal = str(err)

    def partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self.consumer.assignment() if tp.topic == self.topic)

    # Rebalance callbacks run inside poll()/consume()/close() on the calling thread.
    # Each applies the change itself (confluent-kafka then skips its automatic
    # assign), with the incremental calls the cooperative protocol requires.

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            if self.cooperative:
                consumer.incremental_assign(partitions)  # Only the added partitions.
            else:
                consumer.assign(partitions)  # The whole new assignment.
        except KafkaException as e:
            log(f"assign: {e}")
        self.generation += 1
        emit({"assigned": self.partitions(), "generation": self.generation})

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.give_up(consumer, partitions)
        emit({"revoked": sorted(tp.partition for tp in partitions)})

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.give_up(consumer, partitions)
        emit({"lost": sorted(tp.partition for tp in partitions)})

    def give_up(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            if self.cooperative:
                consumer.incremental_unassign(partitions)
            else:
                consumer.unassign()
        except KafkaException as e:
            # Unassigning during close can race librdkafka's own teardown.
            log(f"unassign: {e}")

    def passes(self, msg: Message) -> bool:
        if self.filter is None:
            return True
        key, want = self.filter
        have = None
        for k, v in msg.headers() or []:
            if k == key:
                have = v  # The last header with that key wins, as in a map.
        return have == want

    def deliver(self, msg: Message) -> None:
        emit({
            "delivered": text(msg.value()),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "generation": self.generation,
        })
        if self.delay_s:
            time.sleep(self.delay_s)  # Simulated work (can exceed max.poll.interval.ms).

    def usable(self, msg: Optional[Message]) -> bool:
        """Whether `msg` is a record; logs errors and notes fatal ones."""
        if msg is None:
            return False
        err = msg.error()
        if err is None:
            return True
        if err.fatal():
            self.fatal = str(err)
        elif err.code() != KafkaError._PARTITION_EOF:
            self.log_error(err)
        return False

    def step_at_least_once(self) -> None:
        # One record at a time, so a close request is seen between records.
        msg = self.consumer.poll(0.1)
        if not self.usable(msg):
            return
        if self.passes(msg):
            self.deliver(msg)
        # Stored only after processing; filtered-out records count as consumed too.
        try:
            self.consumer.store_offsets(message=msg)
        except KafkaException as e:
            # E.g. the partition was revoked meanwhile: the next owner redelivers.
            log(f"store_offsets p{msg.partition()}@{msg.offset()}: {e}")

    def step_at_most_once(self) -> None:
        batch = [m for m in self.consumer.consume(num_messages=BATCH_MAX, timeout=BATCH_WAIT_S) if self.usable(m)]
        if not batch:
            return
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for m in batch:
            first.setdefault(m.partition(), m.offset())
            last[m.partition()] = m.offset()
        # Commit before the application sees anything: a crash after this point
        # loses the batch rather than delivering it twice.
        committed: set[int] = set()
        try:
            result = self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o + 1) for p, o in last.items()],
                asynchronous=False,
            )
            for tp in result or []:
                if tp.error is None:
                    committed.add(tp.partition)
                else:
                    log(f"commit p{tp.partition}: {tp.error}")
        except KafkaException as e:
            log(f"commit: {e}")
        # Partitions whose commit failed are not delivered; rewind them so the
        # records are fetched, committed and delivered again later.
        for p in sorted(set(last) - committed):
            try:
                self.consumer.seek(TopicPartition(self.topic, p, first[p]))
            except KafkaException as e:
                # No longer assigned: the next owner starts from the committed offset.
                log(f"seek p{p} to {first[p]}: {e}")
        for m in batch:
            if m.partition() in committed and self.passes(m):
                self.deliver(m)

    def close(self) -> int:
        """consumer.close() (which commits stored offsets), bounded by a watchdog."""
        return close_consumer(self.consumer)

    def run(self) -> int:
        commands = start_stdin_reader()
        self.consumer.subscribe([self.topic], on_assign=self.on_assign, on_revoke=self.on_revoke, on_lost=self.on_lost)
        step = self.step_at_most_once if self.at_most_once else self.step_at_least_once
        while True:
            for command in queued(commands):
                if command is EOF or command.get("close"):
                    return self.close()
                log(f"ignoring an unknown command: {command!r:.200}")
            step()
            if self.fatal is not None:
                emit({"fatal": self.fatal})
                return 1


def close_consumer(consumer: Consumer) -> int:
    """consumer.close() bounded by a watchdog; emits "closed" and returns the exit code."""
    done = threading.Event()

    def run() -> None:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as e:
            log(f"close: {e}")
        finally:
            done.set()

    threading.Thread(target=run, name="close", daemon=True).start()
    if not done.wait(CLOSE_TIMEOUT_S):
        log(f"close did not finish within {CLOSE_TIMEOUT_S}s")
        emit({"closed": False})
        return 1
    emit({"closed": True})
    return 0


# --------------------------------------------------------------------------- pipeline


class Abort(Exception):
    """This transaction is to be aborted (--abort-every)."""


class Hung(Exception):
    """A librdkafka call did not return within its timeout and some slack."""


def bounded(what: str, fn: Callable[[], Any], timeout_s: float) -> Any:
    """fn() on a daemon thread; raises Hung if it has not returned within
    timeout_s (the thread is left to finish or block on its own)."""
    result: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            result["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name=what, daemon=True).start()
    if not done.wait(timeout_s):
        raise Hung(f"{what} did not return within {timeout_s:.0f} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def kafka_error(e: KafkaException) -> KafkaError:
    return e.args[0] if e.args and isinstance(e.args[0], KafkaError) else KafkaError(KafkaError._FAIL, str(e))


def describe(err: KafkaError) -> str:
    flags = [name for name, on in (("fatal", err.fatal()), ("retriable", err.retriable()),
                                   ("txn_requires_abort", err.txn_requires_abort())) if on]
    return f"{err.name()}: {err.str()}" + (f" ({', '.join(flags)})" if flags else "")


def record_id(raw: Optional[bytes]) -> str:
    """A record's id: its value up to the first '|' (as the driver's id_of)."""
    return text(raw).split("|", 1)[0]


class PipelineShim:
    def __init__(self, args: argparse.Namespace):
        self.input: str = args.topic
        self.output: str = args.output
        self.txn_id: str = args.transactional_id
        self.batch: int = args.batch
        self.abort_every: int = args.abort_every
        self.generation = 0
        self.seq = 0  # Transactions begun by this process.
        self.fatal: Optional[str] = None
        self.log_error = error_logger("pipeline consumer")
        consumer_config: dict[str, Any] = {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_interval_ms,
            "max.poll.interval.ms": args.max_poll_interval_ms,
            "error_cb": self.on_error,
        }
        self.consumer = Consumer(apply_overrides(consumer_config, args.set))
        self.producer_config = apply_overrides({
            "bootstrap.servers": args.bootstrap,
            "transactional.id": self.txn_id,
            "transaction.timeout.ms": args.transaction_timeout_ms,
            "linger.ms": 5,
            "error_cb": error_logger("pipeline producer"),
        }, args.set)
        self.producer: Optional[Producer] = None
        # Replaced producers, kept rather than destroyed: destroying one may wait
        # on requests to a broker that is down. Bounded by PRODUCERS_MAX.
        self.replaced: list[Producer] = []

    def on_error(self, err: KafkaError) -> None:
        self.log_error(err)
        if err.fatal():
            self.fatal = str(err)

    # Rebalances happen only inside consume(), between transactions.

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            consumer.assign(partitions)
        except KafkaException as e:
            log(f"assign: {e}")
        self.generation += 1
        emit({"assigned": sorted(tp.partition for tp in consumer.assignment() if tp.topic == self.input),
              "generation": self.generation})

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            consumer.unassign()
        except KafkaException as e:
            log(f"unassign: {e}")
        emit({"revoked": sorted(tp.partition for tp in partitions)})

    def on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:
            consumer.unassign()
        except KafkaException as e:
            log(f"unassign: {e}")
        emit({"lost": sorted(tp.partition for tp in partitions)})

    def call(self, what: str, fn: Callable[[float], Any], deadline: float) -> Any:
        """fn(timeout), called again while it fails with a retriable error (as
        librdkafka's transactional API asks), until `deadline`. Each attempt runs
        on a thread of its own and counts as hung once it overruns its timeout
        by TXN_HANG_SLACK_S: librdkafka's send_offsets_to_transaction() can
        block past its timeout when the group coordinator went away
        (confluentinc/librdkafka#5456, #5511). A hung call raises Hung, and the
        caller abandons that producer."""
        while True:
            left = deadline - time.monotonic()
            timeout = max(1.0, min(TXN_CALL_TIMEOUT_S, left))
            try:
                return bounded(what, lambda: fn(timeout), timeout + TXN_HANG_SLACK_S)
            except KafkaException as e:
                err = kafka_error(e)
                if not err.retriable() or time.monotonic() >= deadline:
                    raise
                log(f"{what}: {describe(err)}; retrying")
                time.sleep(TXN_RETRY_BACKOFF_S)

    def start_producer(self) -> None:
        """A new transactional producer, initialized. Its InitProducerId fences
        any earlier producer of the transactional.id and completes or aborts
        that producer's transaction before it returns."""
        deadline = time.monotonic() + TXN_DEADLINE_S
        while True:
            if self.producer is not None:
                self.replaced.append(self.producer)
                self.producer = None
            if len(self.replaced) >= PRODUCERS_MAX:
                raise RuntimeError(f"{len(self.replaced)} producers replaced")
            producer = Producer(self.producer_config)
            self.producer = producer
            try:
                self.call("init_transactions", producer.init_transactions, deadline)
                return
            except (KafkaException, Hung) as e:
                log(f"init_transactions: {describe(kafka_error(e)) if isinstance(e, KafkaException) else e}")
                if time.monotonic() >= deadline:
                    raise
                time.sleep(TXN_RETRY_BACKOFF_S)

    def produce(self, value: str, key: Optional[bytes], outputs: dict[str, list[int]]) -> None:
        assert self.producer is not None

        def report(err: Optional[KafkaError], msg: Message) -> None:
            if err is None:
                outputs[value] = [msg.partition(), msg.offset()]

        deadline = time.monotonic() + QUEUE_FULL_RETRY_S
        while True:
            try:
                self.producer.produce(self.output, key=key, value=(value + "|").encode("utf-8"), on_delivery=report)
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise KafkaException(KafkaError(KafkaError._QUEUE_FULL))
                self.producer.poll(0.1)

    def try_abort(self) -> bool:
        assert self.producer is not None
        try:
            self.call("abort_transaction", self.producer.abort_transaction, time.monotonic() + TXN_DEADLINE_S)
            return True
        except KafkaException as e:
            log(f"abort_transaction: {describe(kafka_error(e))}")
        except Hung as e:
            log(str(e))
        return False

    def transaction(self, records: list[Message]) -> None:
        assert self.producer is not None
        self.seq += 1
        label = f"{self.txn_id}:{self.seq}"
        abort = self.abort_every > 0 and self.seq % self.abort_every == 0
        offsets: dict[int, int] = {}
        for m in records:
            offsets[m.partition()] = max(offsets.get(m.partition(), 0), m.offset() + 1)
        order: list[str] = []
        outputs: dict[str, list[int]] = {}
        commit_asked = False
        error: Optional[str] = None
        deadline = time.monotonic() + TXN_DEADLINE_S
        try:
            self.producer.begin_transaction()
            for m in records:
                value = f"{label}/{m.partition()}/{m.offset()}/{record_id(m.value())}"
                order.append(value)
                outputs[value] = [-1, -1]
                self.produce(value, m.key(), outputs)
            positions = [TopicPartition(self.input, p, o) for p, o in sorted(offsets.items())]
            metadata = self.consumer.consumer_group_metadata()
            self.call("send_offsets_to_transaction",
                      lambda t: self.producer.send_offsets_to_transaction(positions, metadata, t), deadline)
            if abort:
                # Flushed first: an abort purges what librdkafka has not sent, and
                # the aborted records must be in the log for readers to skip.
                self.producer.flush(TXN_CALL_TIMEOUT_S)
                raise Abort()
            commit_asked = True
            self.call("commit_transaction", self.producer.commit_transaction, deadline)
            outcome = "committed"
        except Abort:
            error = f"every {self.abort_every}th transaction is aborted"
            if not self.try_abort():
                self.start_producer()
            outcome = "aborted"
        except Hung as e:
            # The producer is stuck in librdkafka: a new one fences it.
            error = str(e)
            log(f"transaction {label}: {error}")
            self.start_producer()
            outcome = "unknown" if commit_asked else "aborted"
        except KafkaException as e:
            err = kafka_error(e)
            error = describe(err)
            log(f"transaction {label}: {error}")
            aborted = err.txn_requires_abort() and not err.fatal() and self.try_abort()
            if not aborted:
                # A fatal error, or an abort that failed: a new producer fences this
                # one and settles its transaction.
                self.start_producer()
            # Without a commit request it can never commit; with one, it may have.
            outcome = "unknown" if commit_asked else "aborted"
        if self.producer is not None:
            self.producer.poll(0)  # Delivery reports not served yet.
        emit({
            "txn": label,
            "outcome": outcome,
            "outputs": [{"value": v, "partition": outputs[v][0], "offset": outputs[v][1]} for v in order],
            "offsets": [{"partition": p, "offset": o} for p, o in sorted(offsets.items())],
            "error": error,
        })
        if outcome != "committed":
            self.rewind()

    def rewind(self) -> None:
        """Seeks every assigned partition back to the group's committed offset
        (stable: librdkafka asks with require_stable under read_committed)."""
        deadline = time.monotonic() + TXN_DEADLINE_S
        while True:
            assignment = self.consumer.assignment()
            if not assignment:
                return
            try:
                committed = bounded("committed", lambda: self.consumer.committed(assignment, timeout=COMMITTED_TIMEOUT_S),
                                    COMMITTED_TIMEOUT_S + TXN_HANG_SLACK_S)
                for tp in committed:
                    if tp.error is not None:
                        raise KafkaException(tp.error)
                    offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                    self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
                return
            except KafkaException as e:
                if time.monotonic() >= deadline:
                    raise
                log(f"rewind: {describe(kafka_error(e))}; retrying")
                time.sleep(TXN_RETRY_BACKOFF_S)

    def usable(self, msg: Optional[Message]) -> bool:
        if msg is None:
            return False
        err = msg.error()
        if err is None:
            return True
        if err.fatal():
            self.fatal = str(err)
        elif err.code() != KafkaError._PARTITION_EOF:
            self.log_error(err)
        return False

    def run(self) -> int:
        commands = start_stdin_reader()
        # Before subscribing, so no rebalance waits on the producer's start.
        self.start_producer()
        self.consumer.subscribe([self.input], on_assign=self.on_assign, on_revoke=self.on_revoke,
                                on_lost=self.on_lost)
        while True:
            for command in queued(commands):
                if command is EOF or command.get("close"):
                    # No transaction is open between batches.
                    return close_consumer(self.consumer)
                log(f"ignoring an unknown command: {command!r:.200}")
            records = [m for m in self.consumer.consume(num_messages=self.batch, timeout=BATCH_WAIT_S)
                       if self.usable(m)]
            if self.fatal is not None:
                emit({"fatal": self.fatal})
                return 1
            if records:
                self.transaction(records)


# --------------------------------------------------------------------------- drain


def reader_config(args: argparse.Namespace, group: str, **extra: Any) -> dict[str, Any]:
    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "error_cb": error_logger("reader"),
        **extra,
    }
    return apply_overrides(config, args.set)


def watermarks(consumer: Consumer, topic: str, partitions: range, deadline: float) -> dict[int, int]:
    """The end offset of every partition (ListOffsets with the consumer's
    isolation level: the high watermark, or the last stable offset), retrying
    until `deadline` (the broker may have just restarted); partitions still
    unanswered by then are left out."""
    high: dict[int, int] = {}
    last_error: dict[int, str] = {}
    while len(high) < len(partitions) and time.monotonic() < deadline:
        for p in partitions:
            if p in high or time.monotonic() >= deadline:
                continue
            try:
                _, hw = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=REQUEST_TIMEOUT_S, cached=False
                )
                high[p] = hw
            except KafkaException as e:
                if last_error.get(p) != str(e):  # Log changes, not every retry.
                    log(f"watermarks p{p}: {e}")
                    last_error[p] = str(e)
        if len(high) < len(partitions):
            time.sleep(0.2)
    return high


def drain(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout_ms / 1000
    committed_only = args.isolation == "read_committed"

    def reader(isolation: str) -> Consumer:
        return Consumer(reader_config(
            args,
            # librdkafka insists on a group.id even though this reader never joins it.
            group=f"weir-shim-drain-{uuid.uuid4()}",
            **{
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                # read_uncommitted: the log as written, up to the high watermark.
                "isolation.level": isolation,
            },
        ))

    consumer = reader(args.isolation)
    partitions = range(args.partitions)
    high = watermarks(consumer, args.topic, partitions, deadline)
    stable = True
    if committed_only:
        # Wait until no transaction is open: the last stable offsets reach the
        # high watermarks (an open transaction is committed, aborted or timed out).
        uncommitted = reader("read_uncommitted")
        stable = False
        while not stable and time.monotonic() < deadline:
            hws = watermarks(uncommitted, args.topic, partitions, deadline)
            high = watermarks(consumer, args.topic, partitions, deadline)
            stable = len(hws) == len(partitions) and all(high.get(p) == hws[p] for p in partitions)
            if not stable:
                time.sleep(0.2)
        if not stable:
            log(f"last stable offsets {high} never reached the high watermarks: a transaction stayed open")
        try:
            uncommitted.close()
        except (KafkaException, RuntimeError) as e:
            log(f"close: {e}")

    def finish(done: bool) -> int:
        event: dict[str, Any] = {"done": done, "high_watermarks": {str(p): high.get(p, -1) for p in partitions}}
        if committed_only:
            event["stable"] = stable
        emit(event)
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as e:
            log(f"close: {e}")
        return 0 if done else 1

    if len(high) < len(partitions):
        return finish(False)

    # A partition is finished once its position reaches the watermark, seen
    # either as a record at hw-1 or as an end-of-partition event at or past hw.
    pending = {p for p in partitions if high[p] > 0}
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=500, timeout=BATCH_WAIT_S):
            p = msg.partition()
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= high.get(p, 0):
                        pending.discard(p)
                else:
                    log(f"drain p{p}: {err}")
                continue
            # Records appended after the watermarks were read are not part of this drain.
            if msg.offset() >= high[p]:
                pending.discard(p)
                continue
            emit({"drained": text(msg.value()), "partition": p, "offset": msg.offset()})
            if msg.offset() + 1 >= high[p]:
                pending.discard(p)
    if pending:
        log(f"drain timed out; partitions {sorted(pending)} did not reach their watermarks")
    return finish(not pending)


# --------------------------------------------------------------------------- committed


def committed(args: argparse.Namespace) -> int:
    consumer = Consumer(reader_config(args, group=args.group))
    try:
        # Not subscribing: asking the coordinator never joins (or disturbs) the group.
        result = consumer.committed(
            [TopicPartition(args.topic, p) for p in range(args.partitions)], timeout=COMMITTED_TIMEOUT_S
        )
    except KafkaException as e:
        log(f"committed: {e}")
        return 1
    finally:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as e:
            log(f"close: {e}")
    offsets: dict[str, int] = {}
    for tp in result:
        if tp.error is not None:
            log(f"committed p{tp.partition}: {tp.error}")
            return 1
        # No committed offset comes back as OFFSET_INVALID (-1001).
        offsets[str(tp.partition)] = tp.offset if tp.offset >= 0 else -1
    emit({"committed": offsets})
    return 0


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", required=True, help="HOST:PORT")
    common.add_argument("--topic", required=True)
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra librdkafka property, applied last (repeatable)")

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = parser.add_subparsers(dest="mode", required=True)

    p = modes.add_parser("produce", parents=[common])
    p.add_argument("--acks", choices=["0", "1", "all"], default="all")
    p.add_argument("--idempotent", choices=["true", "false"], default="true")
    p.add_argument("--linger-ms", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1_000_000)
    p.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"], default="none")
    p.add_argument("--delivery-timeout-ms", type=int, default=30_000)
    p.add_argument("--request-timeout-ms", type=int, default=5_000)

    c = modes.add_parser("consume", parents=[common])
    c.add_argument("--group", required=True)
    c.add_argument("--delivery", choices=["at-least-once", "at-most-once"], default="at-least-once")
    c.add_argument("--session-timeout-ms", type=int, default=6_000)
    c.add_argument("--heartbeat-interval-ms", type=int, default=500)
    c.add_argument("--max-poll-interval-ms", type=int, default=30_000)
    c.add_argument("--assignor", choices=["range", "roundrobin", "cooperative-sticky"], default="range")
    c.add_argument("--header-filter", metavar="K=V")
    c.add_argument("--processing-delay-ms", type=int, default=0)
    c.add_argument("--auto-offset-reset", default="earliest")

    d = modes.add_parser("drain", parents=[common])
    d.add_argument("--partitions", type=int, required=True)
    d.add_argument("--timeout-ms", type=int, default=30_000)
    d.add_argument("--isolation", choices=["read_uncommitted", "read_committed"], default="read_uncommitted")

    x = modes.add_parser("pipeline", parents=[common])
    x.add_argument("--group", required=True)
    x.add_argument("--output", required=True)
    x.add_argument("--transactional-id", required=True)
    x.add_argument("--batch", type=int, default=50)
    x.add_argument("--abort-every", type=int, default=0)
    x.add_argument("--transaction-timeout-ms", type=int, default=10_000)
    x.add_argument("--session-timeout-ms", type=int, default=6_000)
    x.add_argument("--heartbeat-interval-ms", type=int, default=1_000)
    x.add_argument("--max-poll-interval-ms", type=int, default=120_000)

    k = modes.add_parser("committed", parents=[common])
    k.add_argument("--group", required=True)
    k.add_argument("--partitions", type=int, required=True)

    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    # `kill -USR1 <pid>` prints every thread's Python stack to the log (a hang's
    # whereabouts).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    args = parse_args(argv)
    try:
        if args.mode == "produce":
            return ProducerShim(args).run()
        if args.mode == "consume":
            return ConsumerShim(args).run()
        if args.mode == "drain":
            return drain(args)
        if args.mode == "pipeline":
            return PipelineShim(args).run()
        return committed(args)
    except KafkaException as e:
        # Typically a configuration librdkafka refuses (e.g. acks=1 with idempotence).
        log(f"{args.mode}: {e}")
        return 2


def exit_now(code: int) -> NoReturn:
    # os._exit: the stdin thread may still be blocked in a read, and librdkafka's
    # handles were closed (or are abandoned on purpose after a bounded wait).
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
