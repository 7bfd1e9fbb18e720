"""Tiny raw Kafka wire helpers for tests that must send bytes no client would."""

import socket
import struct

CRC32C_POLY = 0x82F63B78
_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ CRC32C_POLY if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def header(api_key: int, version: int, correlation_id: int, client_id: bytes = b"raw") -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


def frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def connect(bootstrap: str, timeout_s: float = 5.0) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout_s)
    s.settimeout(timeout_s)
    return s


def read_frame(s: socket.socket) -> bytes | None:
    """One response frame, or None when the broker closed the connection."""
    prefix = _read_exact(s, 4)
    if prefix is None:
        return None
    (length,) = struct.unpack(">i", prefix)
    return _read_exact(s, length)


def _read_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def api_versions_v0(bootstrap: str, correlation_id: int = 7) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Sends ApiVersions v0; returns (correlation id, error code, [(key, min, max)])."""
    with connect(bootstrap) as s:
        s.sendall(frame(header(18, 0, correlation_id)))
        resp = read_frame(s)
    assert resp is not None, "broker closed the connection on a valid ApiVersions"
    return parse_api_versions_v0(resp)


def parse_api_versions_v0(resp: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    corr, err, n = struct.unpack(">ihi", resp[:10])
    apis = [struct.unpack(">hhh", resp[10 + 6 * i: 16 + 6 * i]) for i in range(n)]
    return corr, err, apis


def record_batch(values: list[bytes], record_count: int | None = None) -> bytes:
    """An uncompressed RecordBatch v2 with a correct CRC (record_count may lie)."""
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + _varint(0) + _varint(i) + _varint(-1) + _varint(len(v)) + v + _varint(0)
        records += _varint(len(body)) + body
    count = len(values) if record_count is None else record_count
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 0, 0, -1, -1, -1, count) + records
    crc = crc32c(after_crc)
    head = struct.pack(">qiibI", 0, len(after_crc) + 9, 0, 2, crc)
    return head + after_crc


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = b""
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def produce_v3(topic: str, partition: int, records: bytes, acks: int = 1, correlation_id: int = 9) -> bytes:
    t = topic.encode()
    body = struct.pack(">hhi", -1, acks, 5000)  # null transactional id, acks, timeout
    body += struct.pack(">ih", 1, len(t)) + t + struct.pack(">ii", 1, partition)
    body += struct.pack(">i", len(records)) + records
    return frame(header(0, 3, correlation_id) + body)


def parse_produce_v3_error(resp: bytes) -> int:
    """The first partition's error code from a Produce v3 response."""
    pos = 4  # correlation id
    (n_topics,) = struct.unpack(">i", resp[pos:pos + 4]); pos += 4
    assert n_topics == 1
    (tlen,) = struct.unpack(">h", resp[pos:pos + 2]); pos += 2 + tlen
    (n_parts,) = struct.unpack(">i", resp[pos:pos + 4]); pos += 4
    assert n_parts == 1
    _index, error = struct.unpack(">ih", resp[pos:pos + 6])
    return error
