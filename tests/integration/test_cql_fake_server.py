"""The fake CQL server speaks the real protocol: the independent python3-cassandra driver
(DataStax 3.25, Debian) connects to it at protocol v4, discovers the nodes from system.local /
system.peers, authenticates with PasswordAuthenticator, queries, prepares, executes, pages and
decodes a value of every CQL type. Everything the C client is tested against (test_cql_client.py)
is what this test has shown a real driver accepts."""

import decimal
import time
import uuid

import pytest
from cassandra import AuthenticationFailed, ConsistencyLevel, InvalidRequest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.policies import RoundRobinPolicy
from cassandra.query import SimpleStatement
from cassandra.util import SortedSet

from cql_fixtures import (ROW1, add_all_types_table, add_events_table, cql_server,
                          python_value_checks)


def connect(fake, **kw):
    kw.setdefault("load_balancing_policy", RoundRobinPolicy())
    cluster = Cluster(["127.0.0.1"], port=fake.port, protocol_version=fake.protocol, schema_metadata_enabled=False,
                      connect_timeout=5, control_connection_timeout=5, **kw)
    session = cluster.connect()
    # No silent downgrade: the driver and the fake agreed on the version under test.
    assert cluster.protocol_version == fake.protocol
    assert set(fake.nodes[0].startups) == {fake.protocol}
    return cluster, session


def make_fake(protocol, **kw):
    """A fake serving v4 only (as ScyllaDB) or v4 and v5 (as Cassandra 4); the driver is pinned
    to `protocol`, so v5 runs the driver's own segment framing against the fake's."""
    c = cql_server.FakeCluster(versions=(4,) if protocol == 4 else (4, 5), **kw)
    c.protocol = protocol
    return c.start()


@pytest.fixture(params=[4, 5], ids=["v4", "v5"])
def protocol(request):
    return request.param


@pytest.fixture
def fake(protocol):
    c = make_fake(protocol)
    add_all_types_table(c)
    add_events_table(c)
    yield c
    c.stop()


def test_driver_decodes_every_type(fake):
    cluster, session = connect(fake)
    try:
        row = session.execute("SELECT * FROM shop.all_types WHERE id = 1").one()
        got = row._asdict()
        checks = python_value_checks()
        for col, want in ROW1.items():
            value = got[col]
            if col in checks:
                assert value == checks[col], col
            elif col == "a_set":
                assert value == SortedSet(want)
            elif col == "a_tuple":
                assert value == want
            elif col == "a_udt":
                assert (value.street, value.postcode, set(value.tags)) == ("Main St", 12345, {"home"})
            elif col == "a_frozen":
                assert [dict(m) for m in value] == want
            elif col == "a_map_uuid":
                assert {k: list(v) for k, v in value.items()} == want
            elif col == "a_inet6":
                assert value == "2001:db8::ff00:42:8329"
            elif isinstance(want, float):
                assert value == pytest.approx(want)
            elif isinstance(want, (dict, list)):
                assert (dict(value) if isinstance(want, dict) else list(value)) == want, col
            else:
                assert value == want, col
        assert isinstance(got["a_decimal"], decimal.Decimal)

        nulls = session.execute("SELECT * FROM shop.all_types WHERE id = 2").one()._asdict()
        assert nulls["id"] == 2
        assert all(v is None for k, v in nulls.items() if k != "id")
    finally:
        cluster.shutdown()


def test_driver_prepare_execute_paging_and_unprepared(fake):
    cluster, session = connect(fake)
    try:
        ins = session.prepare("INSERT INTO shop.events (tenant, day, seq, payload) VALUES (?, ?, ?, ?)")
        session.execute(ins, ("zeta", 2, 1, "hello"))
        sel = session.prepare("SELECT seq, payload FROM shop.events WHERE tenant = ? AND day = ?")
        assert [(r.seq, r.payload) for r in session.execute(sel, ("zeta", 2))] == [(1, "hello")]

        # Paging: 25 rows at 10 per page come back complete and in order over three pages.
        stmt = SimpleStatement("SELECT seq FROM shop.events WHERE tenant = 'acme'", fetch_size=10,
                               consistency_level=ConsistencyLevel.LOCAL_QUORUM)
        seqs = [r.seq for r in session.execute(stmt)]
        assert seqs == list(range(25))
        node = fake.nodes[0]
        pages = [e for e in node.log if e[1] and "tenant = 'acme'" in e[1]]
        assert len(pages) == 3 and all(e[3] == 10 for e in pages)
        assert all(e[2] == ConsistencyLevel.LOCAL_QUORUM for e in pages)

        # A restarted node has forgotten its prepared statements: the driver gets UNPREPARED,
        # re-prepares and succeeds, which proves the error body (with the id) is well formed.
        fake.forget_prepared()
        assert [(r.seq, r.payload) for r in session.execute(sel, ("zeta", 2))] == [(1, "hello")]
        kinds = [e[0] for e in node.log[-3:]]
        assert kinds == ["EXECUTE", "PREPARE", "EXECUTE"], node.log[-5:]
    finally:
        cluster.shutdown()


def test_driver_sees_server_error_messages(fake):
    cluster, session = connect(fake)
    try:
        with pytest.raises(InvalidRequest, match="unconfigured table nope"):
            session.execute("SELECT * FROM shop.nope")
        fake.fail_next("FROM shop.events", 0x2200, "custom failure for the test")
        with pytest.raises(InvalidRequest, match="custom failure for the test"):
            session.execute("SELECT * FROM shop.events")
    finally:
        cluster.shutdown()


def test_driver_password_authenticator(protocol):
    fake = make_fake(protocol, credentials={"cassandra": "s3cret"})
    add_events_table(fake, rows=3)
    try:
        cluster, session = connect(fake, auth_provider=PlainTextAuthProvider("cassandra", "s3cret"))
        assert len(list(session.execute("SELECT * FROM shop.events"))) == 3
        cluster.shutdown()
        with pytest.raises(NoHostAvailable) as exc:
            connect(fake, auth_provider=PlainTextAuthProvider("cassandra", "wrong"))
        errors = list(exc.value.errors.values())
        assert any(isinstance(e, AuthenticationFailed) and "Provided username cassandra and/or password are "
                   "incorrect" in str(e) for e in errors), errors
    finally:
        fake.stop()


def test_driver_discovers_nodes_tokens_and_events(protocol):
    """Three nodes on 127.0.0.1-3: the driver reads system.peers, builds the Murmur3 token map
    from the tokens the fake publishes, composes routing keys from the prepared metadata, and
    receives the fake's STATUS_CHANGE push on its control connection."""
    fake = make_fake(protocol, nodes=3)
    add_events_table(fake, rows=3)
    try:
        cluster, session = connect(fake, load_balancing_policy=RoundRobinPolicy())
        hosts = sorted(h.address for h in cluster.metadata.all_hosts())
        assert hosts == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        tm = cluster.metadata.token_map
        assert tm is not None and len(tm.ring) == 6

        # The driver read every node's tokens from system.local / system.peers.
        got = sorted((t.value, h.address) for t, h in tm.token_to_host_owner.items())
        assert got == sorted((t, n.address) for n in fake.nodes for t in n.tokens)

        # The prepared metadata names the partition key markers, and the driver composes the
        # routing key from them the way test_cql_client.py (and the C client) compose it. (The
        # driver only routes by it with schema metadata, which the fake does not serve.)
        sel = session.prepare("SELECT seq FROM shop.events WHERE tenant = ? AND day = ?")
        assert sel.routing_key_indexes == [0, 1]
        key = sel.bind(("acme", 1)).routing_key
        assert key == b"\x00\x04acme\x00" + b"\x00\x04\x00\x00\x00\x01\x00"
        assert [r.seq for r in session.execute(sel, ("acme", 1))] == [0, 1, 2]

        # Server push: the control connection registered for STATUS_CHANGE; the fake sends one.
        deadline = time.time() + 5
        while fake.push_status_change("DOWN", "127.0.0.3") == 0 and time.time() < deadline:
            time.sleep(0.1)
        assert fake.push_status_change("DOWN", "127.0.0.3") >= 1
        cluster.shutdown()
    finally:
        fake.stop()


def test_fake_refuses_other_protocol_versions():
    """A version the fake does not serve gets Cassandra's protocol error, which drivers parse
    to downgrade."""
    import socket
    import struct
    fake = make_fake(4)
    with fake, socket.create_connection(("127.0.0.1", fake.port), timeout=5) as s:
        s.sendall(struct.pack(">BBhBi", 0x05, 0, 0, 0x05, 0))
        hdr = s.recv(9)
        _, _, _, opcode, length = struct.unpack(">BBhBi", hdr)
        body = b""
        while len(body) < length:
            body += s.recv(length - len(body))
        assert opcode == 0x00
        assert b"Invalid or unsupported protocol version (5)" in body


def test_fake_uuid_helpers_are_consistent():
    """Guards the fixture's own encoders used by the C client tests."""
    t = cql_server.parse_type("frozen<tuple<int, uuid>>")
    u = uuid.UUID(int=1)
    assert t.encode((1, u)) == b"\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x10" + u.bytes
    assert cql_server.varint_bytes(128) == b"\x00\x80" and cql_server.varint_bytes(-129) == b"\xff\x7f"
    assert cql_server.vint_bytes(0) == b"\x00" and cql_server.vint_bytes(300) == b"\x81\x2c"


def test_driver_v5_large_messages_span_segments():
    """A row and a bound value larger than one v5 segment (128 KiB) travel as several
    segments that are not self-contained, in both directions."""
    fake = make_fake(5)
    fake.add_table("shop", "blobs", [("id", "int"), ("data", "blob")], ["id"])
    try:
        cluster, session = connect(fake)
        big = bytes(range(256)) * 1200  # 300 KiB
        ins = session.prepare("INSERT INTO shop.blobs (id, data) VALUES (?, ?)")
        session.execute(ins, (1, big))
        assert session.execute("SELECT data FROM shop.blobs WHERE id = 1").one().data == big
        cluster.shutdown()
    finally:
        fake.stop()
