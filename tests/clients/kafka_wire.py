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


# --- Consumer-group APIs by hand -------------------------------------------
# Encoders return request bodies (no header); `call` frames, sends and reads.
# Parsers take the response frame after the correlation id (and, for flexible
# versions, after the response header's tagged fields), as `call` returns it.

JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP, OFFSET_COMMIT = 11, 14, 12, 13, 8

# Kafka error codes the group tests name.
NONE = 0
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
ILLEGAL_GENERATION = 22
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81


def kstring(s: str | bytes | None) -> bytes:
    """A (nullable) STRING: i16 length, -1 for null."""
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">h", len(b)) + b


def kbytes(b: bytes) -> bytes:
    """BYTES: i32 length."""
    return struct.pack(">i", len(b)) + b


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def compact_string(s: str | bytes | None) -> bytes:
    """A (nullable) COMPACT_STRING: uvarint length+1, 0 for null."""
    if s is None:
        return b"\x00"
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def compact_bytes(b: bytes) -> bytes:
    return uvarint(len(b) + 1) + b


def header_v2(api_key: int, version: int, correlation_id: int, client_id: bytes = b"raw") -> bytes:
    """Request header v2 (flexible versions): header v1 plus empty tagged fields."""
    return header(api_key, version, correlation_id, client_id) + b"\x00"


class Cursor:
    """Reads a response body field by field."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def _unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"response truncated at {self.pos} reading {fmt}")
        (v,) = struct.unpack(fmt, self.data[self.pos:self.pos + size])
        self.pos += size
        return v

    def i16(self) -> int:
        return self._unpack(">h")

    def i32(self) -> int:
        return self._unpack(">i")

    def i64(self) -> int:
        return self._unpack(">q")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"bad length {n} at {self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self) -> str | None:
        n = self.i16()
        return None if n == -1 else self.take(n).decode()

    def bytes_(self) -> bytes | None:
        n = self.i32()
        return None if n == -1 else self.take(n)

    def uvarint(self) -> int:
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def compact_bytes(self) -> bytes | None:
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1)

    def tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())


def request_frame(api_key: int, version: int, correlation_id: int, body: bytes,
                  flexible: bool = False, client_id: bytes = b"raw") -> bytes:
    head = (header_v2 if flexible else header)(api_key, version, correlation_id, client_id)
    return frame(head + body)


def read_response(s: socket.socket, correlation_id: int, flexible: bool = False) -> Cursor | None:
    """The next response on `s` as a cursor at its body, or None when the
    broker closed the connection (or said nothing before the socket timeout)."""
    resp = read_frame(s)
    if resp is None:
        return None
    cur = Cursor(resp)
    corr = cur.i32()
    assert corr == correlation_id, f"correlation id {corr}, expected {correlation_id}"
    if flexible:
        cur.tagged_fields()
    return cur


def call(s: socket.socket, api_key: int, version: int, body: bytes, correlation_id: int = 1,
         flexible: bool = False, client_id: bytes = b"raw") -> Cursor | None:
    """Sends one request on `s` and returns its response (see `read_response`)."""
    s.sendall(request_frame(api_key, version, correlation_id, body, flexible, client_id))
    return read_response(s, correlation_id, flexible)


def join_group_v0(group_id: str | bytes, member_id: str = "", session_timeout_ms: int = 6000,
                  protocol_type: str = "consumer",
                  protocols: tuple = (("range", b""),)) -> bytes:
    body = kstring(group_id) + struct.pack(">i", session_timeout_ms) + kstring(member_id)
    body += kstring(protocol_type) + struct.pack(">i", len(protocols))
    for name, metadata in protocols:
        body += kstring(name) + kbytes(metadata)
    return body


def parse_join_group_v0(cur: Cursor) -> dict:
    out = {
        "error_code": cur.i16(),
        "generation_id": cur.i32(),
        "protocol_name": cur.string(),
        "leader": cur.string(),
        "member_id": cur.string(),
    }
    out["members"] = [(cur.string(), cur.bytes_()) for _ in range(cur.i32())]
    return out


def join_group_v6(group_id: str | bytes, member_id: str = "", session_timeout_ms: int = 6000,
                  rebalance_timeout_ms: int = 6000, group_instance_id: str | None = None,
                  protocol_type: str = "consumer",
                  protocols: tuple = (("range", b""),)) -> bytes:
    """JoinGroup v6 body (flexible: send with `flexible=True`)."""
    body = compact_string(group_id) + struct.pack(">ii", session_timeout_ms, rebalance_timeout_ms)
    body += compact_string(member_id) + compact_string(group_instance_id)
    body += compact_string(protocol_type) + uvarint(len(protocols) + 1)
    for name, metadata in protocols:
        body += compact_string(name) + compact_bytes(metadata) + b"\x00"
    return body + b"\x00"


def parse_join_group_v6(cur: Cursor) -> dict:
    out = {
        "throttle_time_ms": cur.i32(),
        "error_code": cur.i16(),
        "generation_id": cur.i32(),
        "protocol_name": cur.compact_string(),
        "leader": cur.compact_string(),
        "member_id": cur.compact_string(),
    }
    members = []
    for _ in range(cur.uvarint() - 1):
        member = (cur.compact_string(), cur.compact_string(), cur.compact_bytes())
        cur.tagged_fields()
        members.append(member)
    out["members"] = members
    cur.tagged_fields()
    return out


def sync_group_v0(group_id: str | bytes, generation_id: int, member_id: str,
                  assignments: tuple = ()) -> bytes:
    body = kstring(group_id) + struct.pack(">i", generation_id) + kstring(member_id)
    body += struct.pack(">i", len(assignments))
    for mid, assignment in assignments:
        body += kstring(mid) + kbytes(assignment)
    return body


def parse_sync_group_v0(cur: Cursor) -> tuple[int, bytes | None]:
    return cur.i16(), cur.bytes_()


def heartbeat_v0(group_id: str | bytes, generation_id: int, member_id: str) -> bytes:
    return kstring(group_id) + struct.pack(">i", generation_id) + kstring(member_id)


def parse_heartbeat_v0(cur: Cursor) -> int:
    return cur.i16()


def heartbeat_v4(group_id: str | bytes, generation_id: int, member_id: str,
                 group_instance_id: str | None = None) -> bytes:
    """Heartbeat v4 body (flexible)."""
    return (compact_string(group_id) + struct.pack(">i", generation_id) + compact_string(member_id)
            + compact_string(group_instance_id) + b"\x00")


def parse_heartbeat_v4(cur: Cursor) -> tuple[int, int]:
    """(throttle_time_ms, error_code)."""
    throttle, code = cur.i32(), cur.i16()
    cur.tagged_fields()
    return throttle, code


def leave_group_v0(group_id: str | bytes, member_id: str) -> bytes:
    return kstring(group_id) + kstring(member_id)


def parse_leave_group_v0(cur: Cursor) -> int:
    return cur.i16()


def offset_commit_v2(group_id: str | bytes, generation_id: int, member_id: str,
                     offsets: dict, retention_time_ms: int = -1) -> bytes:
    """OffsetCommit v2 body; `offsets` maps topic -> [(partition, offset)]."""
    body = kstring(group_id) + struct.pack(">i", generation_id) + kstring(member_id)
    body += struct.pack(">qi", retention_time_ms, len(offsets))
    for topic, parts in offsets.items():
        body += kstring(topic) + struct.pack(">i", len(parts))
        for partition, offset in parts:
            body += struct.pack(">iq", partition, offset) + kstring(None)
    return body


def parse_offset_commit_v2(cur: Cursor) -> dict[tuple[str, int], int]:
    """(topic, partition) -> error code (v2 has no throttle time)."""
    out = {}
    for _ in range(cur.i32()):
        topic = cur.string()
        for _ in range(cur.i32()):
            partition, code = cur.i32(), cur.i16()
            out[(topic, partition)] = code
    return out


def join_v0(bootstrap: str, group_id: str, member_id: str = "", session_timeout_ms: int = 6000,
            client_id: bytes = b"raw", timeout_s: float = 30.0, attempts: int = 50) -> dict:
    """JoinGroup v0 on a fresh connection, retried (bounded) while the coordinator
    loads; the answer may be parked until the rebalance completes."""
    import time
    for _ in range(attempts):
        with connect(bootstrap, timeout_s) as s:
            cur = call(s, JOIN_GROUP, 0, join_group_v0(group_id, member_id, session_timeout_ms),
                       client_id=client_id)
        assert cur is not None, "broker closed the connection on a JoinGroup v0"
        joined = parse_join_group_v0(cur)
        if joined["error_code"] not in (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE):
            return joined
        time.sleep(0.2)
    raise AssertionError(f"coordinator of {group_id!r} never became available: {joined}")


def simple_call(bootstrap: str, api_key: int, version: int, body: bytes, flexible: bool = False,
                timeout_s: float = 10.0) -> Cursor | None:
    """One request on a fresh connection; its response cursor, or None if closed."""
    with connect(bootstrap, timeout_s) as s:
        return call(s, api_key, version, body, flexible=flexible)


def join_and_sync_v0(bootstrap: str, group_id: str, client_id: bytes = b"raw") -> tuple[int, str]:
    """Makes a single new member of `group_id` (JoinGroup v0 then SyncGroup v0, as
    leader assigning itself nothing); returns (generation id, member id)."""
    joined = join_v0(bootstrap, group_id, client_id=client_id)
    assert joined["error_code"] == NONE, joined
    gen, me = joined["generation_id"], joined["member_id"]
    assignments = tuple((mid, b"") for mid, _ in joined["members"]) if joined["leader"] == me else ()
    code, _ = parse_sync_group_v0(simple_call(bootstrap, SYNC_GROUP, 0,
                                              sync_group_v0(group_id, gen, me, assignments)))
    assert code == NONE, f"SyncGroup v0 -> {code}"
    return gen, me
