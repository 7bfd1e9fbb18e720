"""Hostile bytes get an error or a closed connection; the broker keeps serving."""

import os
import random
import struct
import time

from confluent_kafka.admin import AdminClient

import kafka_wire as kw


def assert_still_serving(broker):
    corr, err, apis = kw.api_versions_v0(broker.bootstrap)
    assert (corr, err) == (7, 0) and apis
    assert broker.alive()


def send_and_expect_close(broker, data: bytes):
    with kw.connect(broker.bootstrap) as s:
        s.sendall(data)
        try:
            while kw.read_frame(s) is not None:
                pass  # an error response may come first; the close must follow
        except OSError:
            pass
    assert_still_serving(broker)


def test_metadata_v0_hostile_array_count(broker):
    send_and_expect_close(broker, kw.frame(kw.header(3, 0, 1) + b"\x7f\xff\xff\xff"))


def test_truncated_headers(broker):
    for body in [b"", b"\x00", b"\x00\x03", b"\x00\x03\x00", b"\x00\x03\x00\x00\x00\x00\x00\x01\x00"]:
        send_and_expect_close(broker, struct.pack(">i", len(body)) + body)


def test_huge_length_prefix(broker):
    send_and_expect_close(broker, b"\x7f\xff\xff\xff" + b"\x00" * 16)
    send_and_expect_close(broker, b"\xff\xff\xff\xff")


def test_random_garbage(broker):
    seed = int(os.environ.get("WEIR_TEST_SEED", random.randrange(1 << 32)))
    print(f"WEIR_TEST_SEED={seed}")
    rng = random.Random(seed)
    for _ in range(20):
        send_and_expect_close(broker, rng.randbytes(rng.randrange(1, 4096)))


def test_record_count_max_with_valid_crc_is_corrupt(broker):
    batch = kw.record_batch([b"hello"], record_count=2**31 - 1)
    with kw.connect(broker.bootstrap) as s:
        s.sendall(kw.produce_v3("hostile", 0, batch))
        resp = kw.read_frame(s)
    assert resp is not None
    # CORRUPT_MESSAGE (2) or, while the auto-created topic loads, a retriable error.
    assert kw.parse_produce_v3_error(resp) in (2, 3, 5, 6)
    with kw.connect(broker.bootstrap) as s:
        for _ in range(50):
            s.sendall(kw.produce_v3("hostile", 0, batch))
            resp = kw.read_frame(s)
            if kw.parse_produce_v3_error(resp) == 2:
                break
            time.sleep(0.1)  # the auto-created topic is still coming online
        assert kw.parse_produce_v3_error(resp) == 2
    assert_still_serving(broker)


def test_bad_crc_is_corrupt_and_good_batch_still_appends(broker):
    good = kw.record_batch([b"a", b"b"])
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    with kw.connect(broker.bootstrap) as s:
        codes = []
        for _ in range(50):
            s.sendall(kw.produce_v3("crc", 0, bytes(bad)))
            codes.append(kw.parse_produce_v3_error(kw.read_frame(s)))
            if codes[-1] == 2:
                break
            time.sleep(0.1)  # the auto-created topic is still coming online
        assert codes[-1] == 2, codes
        s.sendall(kw.produce_v3("crc", 0, good))
        assert kw.parse_produce_v3_error(kw.read_frame(s)) == 0


def test_unsupported_api_versions_version_gets_v0_table(broker):
    with kw.connect(broker.bootstrap) as s:
        s.sendall(kw.frame(kw.header(18, 99, 5)))
        resp = kw.read_frame(s)
    corr, err, apis = kw.parse_api_versions_v0(resp)
    assert (corr, err) == (5, 35)
    assert (18, 0, 3) in apis


def test_other_clients_unaffected_by_garbage(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with kw.connect(broker.bootstrap) as s:
        s.sendall(b"\x00\x00\x00\x20" + b"\xee" * 32)
        assert kw.read_frame(s) is None
    md = admin.list_topics(timeout=10)
    assert md.brokers


def test_acks_0_gets_no_response_and_a_failure_closes_the_connection(broker):
    good = kw.record_batch([b"quiet"])
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    # Make sure the topic exists first (acks=1 until it is online).
    with kw.connect(broker.bootstrap) as s:
        for _ in range(50):
            s.sendall(kw.produce_v3("acks0", 0, good))
            if kw.parse_produce_v3_error(kw.read_frame(s)) == 0:
                break
            time.sleep(0.1)
    with kw.connect(broker.bootstrap, timeout_s=1.0) as s:
        s.sendall(kw.produce_v3("acks0", 0, good, acks=0))
        # No response for acks=0: the next response on the wire is the ApiVersions one.
        s.sendall(kw.frame(kw.header(18, 0, 77)))
        corr, err, _ = kw.parse_api_versions_v0(kw.read_frame(s))
        assert (corr, err) == (77, 0)
        s.sendall(kw.produce_v3("acks0", 0, bytes(bad), acks=0))
        assert kw.read_frame(s) is None, "a failed acks=0 produce closes the connection"
    assert_still_serving(broker)
