"""Consumer-group requests a well-behaved client would not send, by hand on the
wire: each gets its exact Kafka error code, and the broker keeps serving other
groups afterwards."""

import collections
import itertools
import socket
import threading
import time

import kafka_wire as kw
from test_confluent import create_topic
from test_groups import group_consumer

DEADLINE_S = 60
_groups = itertools.count()


def assert_groups_still_served(broker, topic: str = "neg-live") -> None:
    """The broker is alive, answers ApiVersions, a raw member of a fresh group
    joins and heartbeats, and a real consumer in another fresh group gets the
    whole topic assigned."""
    assert broker.alive()
    corr, err, apis = kw.api_versions_v0(broker.bootstrap)
    assert (corr, err) == (7, 0) and apis
    n = next(_groups)
    gen, me = kw.join_and_sync_v0(broker.bootstrap, f"neg-healthy-raw-{n}")
    assert heartbeat(broker, f"neg-healthy-raw-{n}", gen, me) == kw.NONE
    if not getattr(broker, "neg_live_topic", False):
        create_topic(broker.bootstrap, topic, 2)
        broker.neg_live_topic = True
    c = group_consumer(broker.bootstrap, f"neg-healthy-{n}")
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_S
        parts = set()
        for _ in range(2000):
            if parts == {0, 1} or time.monotonic() > deadline:
                break
            c.poll(0.1)
            parts = {tp.partition for tp in c.assignment()}
        assert parts == {0, 1}, f"a consumer in a healthy group got {parts}"
    finally:
        c.close()
    assert broker.alive()


def heartbeat(broker, group, gen, member_id) -> int:
    cur = kw.simple_call(broker.bootstrap, kw.HEARTBEAT, 0, kw.heartbeat_v0(group, gen, member_id))
    assert cur is not None, "broker closed the connection on a Heartbeat v0"
    return kw.parse_heartbeat_v0(cur)


def commit(broker, group, gen, member_id, offsets) -> dict:
    cur = kw.simple_call(broker.bootstrap, kw.OFFSET_COMMIT, 2,
                         kw.offset_commit_v2(group, gen, member_id, offsets))
    assert cur is not None, "broker closed the connection on an OffsetCommit v2"
    return kw.parse_offset_commit_v2(cur)


def test_heartbeat_wrong_generation_and_unknown_member(broker):
    gen, me = kw.join_and_sync_v0(broker.bootstrap, "neg-hb")
    assert gen >= 1
    assert heartbeat(broker, "neg-hb", gen, me) == kw.NONE
    assert heartbeat(broker, "neg-hb", gen + 1, me) == kw.ILLEGAL_GENERATION
    assert heartbeat(broker, "neg-hb", gen - 1, me) == kw.ILLEGAL_GENERATION
    assert heartbeat(broker, "neg-hb", -1, me) == kw.ILLEGAL_GENERATION
    assert heartbeat(broker, "neg-hb", gen, "no-such-member") == kw.UNKNOWN_MEMBER_ID
    assert heartbeat(broker, "neg-hb", gen, "") == kw.UNKNOWN_MEMBER_ID
    # Refused heartbeats neither fenced nor expired the real member.
    assert heartbeat(broker, "neg-hb", gen, me) == kw.NONE
    assert_groups_still_served(broker)
    assert heartbeat(broker, "neg-hb", gen, me) == kw.NONE


def test_offset_commit_from_a_member_that_left(broker):
    create_topic(broker.bootstrap, "neg-commit", 2)
    offsets = {"neg-commit": [(0, 5), (1, 7)]}
    gen, me = kw.join_and_sync_v0(broker.bootstrap, "neg-left")
    assert commit(broker, "neg-left", gen, me, offsets) == {("neg-commit", 0): 0, ("neg-commit", 1): 0}
    cur = kw.simple_call(broker.bootstrap, kw.LEAVE_GROUP, 0, kw.leave_group_v0("neg-left", me))
    assert kw.parse_leave_group_v0(cur) == kw.NONE
    assert commit(broker, "neg-left", gen, me, offsets) == {
        ("neg-commit", 0): kw.UNKNOWN_MEMBER_ID, ("neg-commit", 1): kw.UNKNOWN_MEMBER_ID}
    assert heartbeat(broker, "neg-left", gen, me) == kw.UNKNOWN_MEMBER_ID
    # Leaving twice: the member is unknown now.
    cur = kw.simple_call(broker.bootstrap, kw.LEAVE_GROUP, 0, kw.leave_group_v0("neg-left", me))
    assert kw.parse_leave_group_v0(cur) == kw.UNKNOWN_MEMBER_ID
    assert_groups_still_served(broker)


def test_offset_commit_with_a_stale_generation(broker):
    """Member one is in generation g; member two joins, one rejoins, both sync:
    generation g+1. A commit from one with g is ILLEGAL_GENERATION; with g+1 it
    is accepted."""
    create_topic(broker.bootstrap, "neg-stale", 2)
    offsets = {"neg-stale": [(0, 3), (1, 4)]}
    g = "neg-stale-gen"
    gen1, one = kw.join_and_sync_v0(broker.bootstrap, g, client_id=b"one")
    with kw.connect(broker.bootstrap, 30) as s2, kw.connect(broker.bootstrap, 30) as s1:
        # Member two's join parks until member one rejoins.
        s2.sendall(kw.request_frame(kw.JOIN_GROUP, 0, 21, kw.join_group_v0(g), client_id=b"two"))
        deadline = time.monotonic() + DEADLINE_S
        code = kw.NONE
        for _ in range(600):
            code = heartbeat(broker, g, gen1, one)
            if code != kw.NONE or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert code == kw.REBALANCE_IN_PROGRESS, code
        s1.sendall(kw.request_frame(kw.JOIN_GROUP, 0, 11, kw.join_group_v0(g, member_id=one),
                                    client_id=b"one"))
        j1 = kw.parse_join_group_v0(kw.read_response(s1, 11))
        j2 = kw.parse_join_group_v0(kw.read_response(s2, 21))
        assert j1["error_code"] == j2["error_code"] == kw.NONE, (j1, j2)
        gen2, two = j1["generation_id"], j2["member_id"]
        assert j2["generation_id"] == gen2 == gen1 + 1
        assert j1["member_id"] == one and j1["leader"] == one, j1  # the leader stays
        assert sorted(m for m, _ in j1["members"]) == sorted([one, two])
        # Sync: the follower parks until the leader's assignment arrives.
        s2.sendall(kw.request_frame(kw.SYNC_GROUP, 0, 22, kw.sync_group_v0(g, gen2, two)))
        s1.sendall(kw.request_frame(kw.SYNC_GROUP, 0, 12, kw.sync_group_v0(
            g, gen2, one, ((one, b"a1"), (two, b"a2")))))
        assert kw.parse_sync_group_v0(kw.read_response(s1, 12)) == (kw.NONE, b"a1")
        assert kw.parse_sync_group_v0(kw.read_response(s2, 22)) == (kw.NONE, b"a2")

    assert commit(broker, g, gen1, one, offsets) == {
        ("neg-stale", 0): kw.ILLEGAL_GENERATION, ("neg-stale", 1): kw.ILLEGAL_GENERATION}
    assert commit(broker, g, gen2 + 1, two, offsets) == {
        ("neg-stale", 0): kw.ILLEGAL_GENERATION, ("neg-stale", 1): kw.ILLEGAL_GENERATION}
    assert commit(broker, g, gen2, "stranger", offsets) == {
        ("neg-stale", 0): kw.UNKNOWN_MEMBER_ID, ("neg-stale", 1): kw.UNKNOWN_MEMBER_ID}
    assert commit(broker, g, gen2, one, offsets) == {("neg-stale", 0): 0, ("neg-stale", 1): 0}
    assert heartbeat(broker, g, gen1, two) == kw.ILLEGAL_GENERATION
    assert heartbeat(broker, g, gen2, two) == kw.NONE
    assert_groups_still_served(broker)


FLOOD_CONNECTIONS = 25
FLOOD_PER_CONNECTION = 80
# What a JoinGroup may answer under a flood: joined, rebalancing, too many
# members, a coordinator (re)loading, a member removed while parked, or a parked
# join given up on.
FLOOD_CODES = {kw.NONE, kw.REBALANCE_IN_PROGRESS, kw.GROUP_MAX_SIZE_REACHED,
               kw.COORDINATOR_LOAD_IN_PROGRESS, kw.COORDINATOR_NOT_AVAILABLE,
               kw.UNKNOWN_MEMBER_ID, 7}


def test_join_group_flood_leaves_the_broker_serving(broker):
    """2000 JoinGroup v0 requests with empty member ids, pipelined on 25
    connections, to one group; nobody heartbeats or syncs. Every one is answered
    with a group error code, the broker stays up, other groups work, and the
    flooded group recovers: a member joining afterwards gets in."""
    g = "neg-flood"
    kw.join_v0(broker.bootstrap, g)  # the coordinator is up before the flood
    codes = collections.Counter()
    problems = []
    lock = threading.Lock()

    def flood(conn_index: int) -> None:
        try:
            with kw.connect(broker.bootstrap, 60) as s:
                s.sendall(b"".join(
                    kw.request_frame(kw.JOIN_GROUP, 0, i, kw.join_group_v0(g), client_id=b"flood")
                    for i in range(FLOOD_PER_CONNECTION)))
                deadline = time.monotonic() + 90
                for i in range(FLOOD_PER_CONNECTION):
                    if time.monotonic() > deadline:
                        raise AssertionError(f"connection {conn_index}: deadline at response {i}")
                    cur = kw.read_response(s, i)
                    if cur is None:
                        raise AssertionError(f"connection {conn_index}: closed before response {i}")
                    code = kw.parse_join_group_v0(cur)["error_code"]
                    with lock:
                        codes[code] += 1
        except (AssertionError, OSError, ValueError) as e:
            with lock:
                problems.append(repr(e))

    threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(FLOOD_CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "flood readers never finished"
    assert not problems, (problems[:5], dict(codes))
    assert sum(codes.values()) == FLOOD_CONNECTIONS * FLOOD_PER_CONNECTION, dict(codes)
    assert set(codes) <= FLOOD_CODES, f"unexpected error codes: {dict(codes)}"
    print("flood codes", dict(codes))
    assert codes[kw.NONE] > 0, dict(codes)
    assert broker.alive()

    assert_groups_still_served(broker)

    # The flooded group recovers: its silent members are dropped and a new one
    # gets in (possibly after a REBALANCE_IN_PROGRESS or two), and the leader's
    # view of the group is bounded by group.max.size.
    joined = {"error_code": -1}
    deadline = time.monotonic() + DEADLINE_S
    for _ in range(20):
        joined = kw.join_v0(broker.bootstrap, g, client_id=b"aaa-probe")
        if joined["error_code"] == kw.NONE or time.monotonic() > deadline:
            break
        assert joined["error_code"] in FLOOD_CODES, joined
        time.sleep(0.5)
    assert joined["error_code"] == kw.NONE, joined
    assert len(joined["members"]) <= 1000
    assert broker.alive()


def test_empty_group_id_is_invalid(broker):
    create_topic(broker.bootstrap, "neg-empty", 1)
    cur = kw.simple_call(broker.bootstrap, kw.JOIN_GROUP, 0, kw.join_group_v0(""))
    assert kw.parse_join_group_v0(cur)["error_code"] == kw.INVALID_GROUP_ID
    assert heartbeat(broker, "", 1, "someone") == kw.INVALID_GROUP_ID
    assert commit(broker, "", 1, "someone", {"neg-empty": [(0, 1)]}) == {
        ("neg-empty", 0): kw.INVALID_GROUP_ID}
    assert commit(broker, "", -1, "", {"neg-empty": [(0, 1)]}) == {
        ("neg-empty", 0): kw.INVALID_GROUP_ID}
    cur = kw.simple_call(broker.bootstrap, kw.JOIN_GROUP, 6, kw.join_group_v6(""), flexible=True)
    assert kw.parse_join_group_v6(cur)["error_code"] == kw.INVALID_GROUP_ID
    assert_groups_still_served(broker)


HUGE_GROUP_ID = b"g" * 65536


def test_64_kib_group_id_is_invalid_in_flexible_versions(broker):
    """A 64 KiB group id fits only a compact string; Kafka answers
    INVALID_GROUP_ID (not a closed connection)."""
    cur = kw.simple_call(broker.bootstrap, kw.JOIN_GROUP, 6, kw.join_group_v6(HUGE_GROUP_ID),
                         flexible=True)
    assert cur is not None, "broker closed the connection on JoinGroup v6 with a 64 KiB group id"
    assert kw.parse_join_group_v6(cur)["error_code"] == kw.INVALID_GROUP_ID
    cur = kw.simple_call(broker.bootstrap, kw.HEARTBEAT, 4, kw.heartbeat_v4(HUGE_GROUP_ID, 1, "m"),
                         flexible=True)
    assert cur is not None, "broker closed the connection on Heartbeat v4 with a 64 KiB group id"
    assert kw.parse_heartbeat_v4(cur)[1] == kw.INVALID_GROUP_ID
    assert_groups_still_served(broker)


def test_64_kib_group_id_leaves_other_groups_served(broker):
    """Whatever the answer to a 64 KiB group id, the broker survives it and other
    groups keep working (passes on brokers that close the connection too)."""
    for api_key, version, body in ((kw.JOIN_GROUP, 6, kw.join_group_v6(HUGE_GROUP_ID)),
                                   (kw.HEARTBEAT, 4, kw.heartbeat_v4(HUGE_GROUP_ID, 1, "m"))):
        with kw.connect(broker.bootstrap) as s:
            s.sendall(kw.request_frame(api_key, version, 5, body, flexible=True))
            try:
                kw.read_response(s, 5, flexible=True)
            except (OSError, socket.timeout):
                pass
    assert_groups_still_served(broker)


def test_a_member_heartbeats_on_after_kill_9_restart(broker_factory):
    """The group's generation is stored (group metadata record): after a kill -9
    and restart the member keeps its id and generation instead of rejoining;
    an unknown member is still refused."""
    broker = broker_factory("--fsync", "always")
    create_topic(broker.bootstrap, "t", 1)  # commits to a missing topic are refused
    gen, me = kw.join_and_sync_v0(broker.bootstrap, "restored-g")
    assert heartbeat(broker, "restored-g", gen, me) == kw.NONE
    # The metadata record was appended when the generation settled; a commit of
    # the same group lands after it in the same partition, so its durable answer
    # covers the record too.
    assert set(commit(broker, "restored-g", gen, me, {"t": [(0, 1)]}).values()) == {kw.NONE}
    broker.kill()
    broker.start()
    deadline = time.monotonic() + 30
    code = None
    while time.monotonic() < deadline:
        code = heartbeat(broker, "restored-g", gen, me)
        if code not in (kw.COORDINATOR_LOAD_IN_PROGRESS, kw.COORDINATOR_NOT_AVAILABLE):
            break
        time.sleep(0.1)
    assert code == kw.NONE, f"heartbeat after restart -> {code}"
    assert heartbeat(broker, "restored-g", gen, "stranger") == kw.UNKNOWN_MEMBER_ID
