"""The C CQL client (src/cql) against the fake CQL server, whose protocol test_cql_fake_server.py
cross-checks with the python3-cassandra driver. The client is driven through
build/*/cql_test_client, one command per line, so the test can restart, stop, slow down and
push events from the fake server between commands.

Nothing here ran against a real Cassandra or ScyllaDB node (none can be installed on this
machine); docs/cql.md says what that leaves unverified."""

import decimal
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cassandra.metadata import Murmur3Token

from conftest import free_port
from cql_fixtures import (EXPECTED_JSON_ROW1, REPO, ROW1, add_all_types_table, add_events_table,
                          cql_server)

TLS_DIR = REPO / "tests" / "fixtures" / "cql_tls"


def client_bin():
    build = os.environ.get("STREAMBUS_BUILD_DIR")
    candidates = [Path(build) / "cql_test_client"] if build else []
    candidates += [REPO / "build" / "release" / "cql_test_client", REPO / "build" / "asan" / "cql_test_client"]
    for c in candidates:
        if c.exists():
            return str(c)
    pytest.fail("cql_test_client is not built (cmake --build build/release)")


class Client:
    """One cql_test_client process; cmd() sends a line and returns the parsed JSON answer."""

    def __init__(self, contact_points, *args):
        self.proc = subprocess.Popen([client_bin(), "--contact-points", contact_points, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise AssertionError("cql_test_client exited: %s" % err)
        return json.loads(line)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        err = self.proc.stderr.read()
        assert "AddressSanitizer" not in err and "runtime error:" not in err, err
        assert rc == 0, err


def make_fake(protocol, **kw):
    """v4 only (as ScyllaDB) or v4 and v5 (as Cassandra 4); the client negotiates."""
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


@pytest.fixture
def client(fake):
    cl = Client("127.0.0.1:%d" % fake.port)
    # The client takes v5 exactly when the node offers it.
    assert cl.hello["protocol"] == fake.protocol
    yield cl
    cl.close()


def test_every_type_decodes_like_the_python_driver(client):
    r = client.cmd("query 0 - SELECT * FROM shop.all_types WHERE id = 1")
    assert r["ok"], r
    row = r["rows"][0]
    for col, want in EXPECTED_JSON_ROW1.items():
        assert row[col] == want, col
    assert list(row) == list(EXPECTED_JSON_ROW1)  # column order is the table's
    # The decimal text is exactly what Python's Decimal (and Java's BigDecimal) print.
    assert row["a_decimal"] == str(ROW1["a_decimal"])

    r = client.cmd("query 0 - SELECT * FROM shop.all_types WHERE id = 2")
    nulls = r["rows"][0]
    assert nulls["id"] == 2 and all(v is None for k, v in nulls.items() if k != "id")


def test_decimal_and_varint_text_forms_match_python(fake, client):
    """Scientific and plain notation, negative scales and big magnitudes, against str(Decimal)."""
    t = fake.add_table("shop", "numbers", [("id", "int"), ("d", "decimal"), ("v", "varint")], ["id"])
    cases = ["0", "0.00", "1E+3", "-1.5E-7", "0.000001", "123456789012345678901234567890.5", "-0.1", "1E-6",
             "12.3400"]
    for i, text in enumerate(cases):
        t.insert_values({"id": i, "d": decimal.Decimal(text), "v": (-1) ** i * (10 ** (3 * i) + i)})
    rows = client.cmd("query 0 - SELECT id, d, v FROM shop.numbers")["rows"]
    assert [r["d"] for r in rows] == [str(decimal.Decimal(c)) for c in cases]
    assert [r["v"] for r in rows] == [(-1) ** i * (10 ** (3 * i) + i) for i in range(len(cases))]


def test_paging_and_consistency(fake, client):
    r = client.cmd("query 10 LOCAL_QUORUM SELECT seq, payload FROM shop.events WHERE tenant = 'acme'")
    assert r["ok"] and r["pages"] == 3
    assert [x["seq"] for x in r["rows"]] == list(range(25))
    pages = [e for e in fake.nodes[0].log if e[1] and "payload FROM shop.events" in e[1]]
    assert [(e[2], e[3]) for e in pages] == [(0x0006, 10)] * 3
    # Without a level the client's default applies (LOCAL_QUORUM unless configured), and a
    # configured default is what goes on the wire.
    c2 = Client("127.0.0.1:%d" % fake.port, "--consistency", "LOCAL_ONE")
    try:
        assert c2.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme' LIMIT 1")["ok"]
        assert fake.nodes[0].log[-1][2] == 0x000A
        assert c2.cmd("query 0 ALL SELECT seq FROM shop.events WHERE tenant = 'acme' LIMIT 1")["ok"]
        assert fake.nodes[0].log[-1][2] == 0x0005
    finally:
        c2.close()


def test_prepare_execute_and_reprepare_after_restart(fake, client):
    p = client.cmd("prepare SELECT seq FROM shop.events WHERE tenant = ? AND day = ?")
    assert p["ok"] and p["bind"] == 2 and p["pk"] == [0, 1] and p["columns"] == 1
    ins = client.cmd("execute 0 text:zeta,int:2,int:7,text:hi INSERT INTO shop.events (tenant, day, seq, payload) "
                     "VALUES (?, ?, ?, ?)")
    assert ins["ok"] and ins["rows"] == [], ins
    q = "execute 0 text:zeta,int:2 SELECT seq, payload FROM shop.events WHERE tenant = ? AND day = ?"
    assert client.cmd(q)["rows"] == [{"seq": 7, "payload": "hi"}]

    # The node restarts: its prepared statements are gone and its connections dropped. The
    # client reconnects, gets UNPREPARED with the server's message, prepares again, executes.
    fake.nodes[0].restart()
    r = client.cmd(q)
    assert r["ok"], r
    assert r["rows"] == [{"seq": 7, "payload": "hi"}]
    kinds = [e[0] for e in fake.nodes[0].log[-3:]]
    assert kinds == ["EXECUTE", "PREPARE", "EXECUTE"], fake.nodes[0].log[-5:]
    assert fake.nodes[0].log[-3][1] is None  # the first EXECUTE used the forgotten id

    # Paging through a prepared statement, forgetting the statement between pages.
    q2 = "execute 5 text:acme,int:1 SELECT seq FROM shop.events WHERE tenant = ? AND day = ?"
    r = client.cmd(q2)
    assert r["pages"] == 5 and [x["seq"] for x in r["rows"]] == list(range(25))


def test_server_errors_surface_with_the_server_message(fake, client):
    r = client.cmd("query 0 - SELECT * FROM shop.nope")
    assert not r["ok"] and r["rc"] == "CQL_ESERVER" and r["server_error"] == 0x2200
    assert "unconfigured table nope" in r["message"]
    r = client.cmd("query 0 - SELEC broken")
    assert r["server_error"] == 0x2000 and "no viable alternative at input 'SELEC'" in r["message"]
    fake.fail_next("FROM shop.events", 0x1200, "Operation timed out - received only 0 responses.")
    r = client.cmd("execute 0 text:acme,int:1 SELECT seq FROM shop.events WHERE tenant = ? AND day = ?")
    assert r["server_error"] == 0x1200 and "Operation timed out - received only 0 responses." in r["message"]
    assert "Read_timeout" in r["message"]
    # A server error leaves the connection usable.
    assert client.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme' LIMIT 2")["rows"] == \
        [{"seq": 0}, {"seq": 1}]


def test_password_authenticator(protocol):
    fake = make_fake(protocol, credentials={"cassandra": "s3cret"})
    add_events_table(fake, rows=2)
    cp = "127.0.0.1:%d" % fake.port
    try:
        ok = Client(cp, "--user", "cassandra", "--password", "s3cret")
        assert ok.hello["ok"] and ok.hello["protocol"] == protocol
        assert len(ok.cmd("query 0 - SELECT * FROM shop.events")["rows"]) == 2
        ok.close()

        bad = subprocess.run([client_bin(), "--contact-points", cp, "--user", "cassandra", "--password", "nope"],
                             input="", capture_output=True, text=True, timeout=30)
        out = json.loads(bad.stdout)
        assert bad.returncode == 1 and out["rc"] == "CQL_ESERVER"
        assert "Provided username cassandra and/or password are incorrect" in out["message"]
        assert "nope" not in out["message"]  # the password is never echoed

        none = subprocess.run([client_bin(), "--contact-points", cp], input="", capture_output=True, text=True,
                              timeout=30)
        out = json.loads(none.stdout)
        assert none.returncode == 1
        assert "requires authentication (org.apache.cassandra.auth.PasswordAuthenticator)" in out["message"]
    finally:
        fake.stop()


def test_contact_point_down_uses_the_next_one(fake):
    dead = free_port()
    c = Client("127.0.0.1:%d,127.0.0.1:%d" % (dead, fake.port), "--connect-timeout-ms", "2000")
    try:
        assert c.hello["ok"] and c.hello["connected"] == "127.0.0.1:%d" % fake.port
        assert c.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme' LIMIT 1")["ok"]
    finally:
        c.close()
    # All contact points down: one message names every node and why.
    r = subprocess.run([client_bin(), "--contact-points", "127.0.0.1:%d,127.0.0.1:%d" % (dead, free_port())],
                       input="", capture_output=True, text=True, timeout=30)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and out["message"].startswith("no CQL node reachable")
    assert out["message"].count("Connection refused") == 2


def test_failover_when_a_node_goes_down_mid_session():
    fake = cql_server.FakeCluster(nodes=2).start()
    add_events_table(fake, rows=3)
    a, b = ("127.0.0.%d:%d" % (i, fake.port) for i in (1, 2))
    try:
        c = Client("%s,%s" % (a, b))
        first = c.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme'")
        assert first["node"] == a
        # Node a goes down between requests: the client notices the closed connection before
        # sending and the request runs on b.
        fake.nodes[0].stop()
        r = c.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme'")
        assert r["ok"] and r["node"] == b and len(r["rows"]) == 3
        fake.nodes[0].start()

        # Node b dies while running a write: the write is not retried on a, because it may
        # have been applied; the caller gets the error.
        fake.drop_next("INSERT INTO shop.events")
        ins = "query 0 - INSERT INTO shop.events (tenant, day, seq, payload) VALUES ('x', 1, 1, 'w')"
        w = c.cmd(ins)
        assert not w["ok"] and w["rc"] == "EIO" and "%s closed the connection" % b in w["message"], w
        assert not any(e[1] and "INSERT" in e[1] for e in fake.nodes[0].log)
        w = c.cmd(ins)
        assert w["ok"], w

        # A read that loses its node mid-request is retried on the other one.
        fake.drop_next("SELECT seq FROM shop.events")
        r = c.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme'")
        assert r["ok"] and len(r["rows"]) == 3
        c.close()
    finally:
        fake.stop()


def test_request_timeout(fake):
    c = Client("127.0.0.1:%d" % fake.port, "--request-timeout-ms", "300")
    try:
        fake.delay("FROM shop.events", 1.5)
        r = c.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme'")
        assert not r["ok"] and r["rc"] == "CQL_ETIMEOUT", r
        assert "within 300 ms" in r["message"]
        fake.clear_hooks()
        # The timed-out connection was closed (its late answer must not be taken for the next
        # request's); the client reconnects and the answer is the right one.
        r = c.cmd("query 0 - SELECT * FROM shop.all_types WHERE id = 2")
        assert r["ok"] and r["rows"][0]["id"] == 2, r
    finally:
        c.close()


def test_server_events(fake, client):
    assert client.cmd("register STATUS_CHANGE,SCHEMA_CHANGE")["ok"]
    r = client.cmd("event 200")
    assert not r["ok"] and r["rc"] == "CQL_ETIMEOUT"
    assert fake.push_status_change("DOWN", "127.0.0.9", 9042) == 1
    ev = client.cmd("event 5000")
    assert ev == {"ok": True, "type": "STATUS_CHANGE", "change": "DOWN", "address": "127.0.0.9", "port": 9042,
                  "keyspace": "", "name": ""}
    fake.push_schema_change("UPDATED", "shop", "events")
    # An event that arrives while a request waits is queued, not lost.
    assert client.cmd("query 0 - SELECT seq FROM shop.events WHERE tenant = 'acme' LIMIT 1")["ok"]
    ev = client.cmd("event 5000")
    assert (ev["type"], ev["change"], ev["keyspace"], ev["name"]) == ("SCHEMA_CHANGE", "UPDATED", "shop", "events")
    # A topology change was not registered for: it is not delivered.
    assert fake.push_topology_change("NEW_NODE", "127.0.0.9") == 0


def test_token_aware_routing_matches_the_python_driver():
    """Owner of each partition by the python3-cassandra driver's Murmur3 and the ring the fake
    publishes, against where the C client sends the EXECUTE."""
    fake = cql_server.FakeCluster(nodes=3).start()
    add_events_table(fake, rows=0)
    t = fake.model.table("shop", "events")
    try:
        c = Client("127.0.0.1:%d" % fake.port, "--token-aware")
        assert c.hello["nodes"] == 3
        ring = sorted((tok, n.address) for n in fake.nodes for tok in n.tokens)
        sel = "SELECT seq FROM shop.events WHERE tenant = ? AND day = ?"
        owners = set()
        for i in range(40):
            tenant, day = "tenant-%d" % i, i * 7919
            key = b"".join(len(b).to_bytes(2, "big") + b + b"\x00"
                           for b in (tenant.encode(), day.to_bytes(4, "big", signed=True)))
            token = Murmur3Token.hash_fn(key)
            owner = next((a for tok, a in ring if tok >= token), ring[0][1])
            want = "%s:%d" % (owner, fake.port)
            r = c.cmd("route text:%s,int:%d %s" % (tenant, day, sel))
            assert r["node"] == want, (tenant, day, token)
            for n in fake.nodes:
                n.log.clear()
            t.insert_values({"tenant": tenant, "day": day, "seq": 1, "payload": "p"})
            e = c.cmd("execute 0 text:%s,int:%d %s" % (tenant, day, sel))
            assert e["ok"] and e["rows"] == [{"seq": 1}]
            served = [n.address for n in fake.nodes if any(x[0] == "EXECUTE" for x in n.log)]
            assert served == [owner]
            owners.add(owner)
        assert len(owners) == 3  # the keys spread over every node
        c.close()
    finally:
        fake.stop()


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(TLS_DIR / "server.pem", TLS_DIR / "server.key")
    return ctx


def test_tls():
    fake = make_fake(5, tls=tls_context())
    add_events_table(fake, rows=2)
    cp = "127.0.0.1:%d" % fake.port
    try:
        c = Client(cp, "--tls-ca", str(TLS_DIR / "ca.pem"))
        assert c.hello["protocol"] == 5  # v5 segments inside TLS
        assert c.cmd("query 0 - SELECT seq FROM shop.events")["ok"]
        c.close()
        # Name checks: the certificate names localhost and 127.0.0.1-3, not example.org.
        c = Client(cp, "--tls-ca", str(TLS_DIR / "ca.pem"), "--tls-server-name", "localhost")
        c.close()
        r = subprocess.run([client_bin(), "--contact-points", cp, "--tls-ca", str(TLS_DIR / "ca.pem"),
                            "--tls-server-name", "example.org"], input="", capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "certificate verify failed" in json.loads(r.stdout)["message"]
        # A certificate from another CA is refused, with OpenSSL's reason.
        r = subprocess.run([client_bin(), "--contact-points", cp, "--tls-ca", str(TLS_DIR / "other_ca.pem")],
                           input="", capture_output=True, text=True, timeout=30)
        out = json.loads(r.stdout)
        assert r.returncode == 1 and "TLS handshake with %s failed" % cp in out["message"], out
        assert "certificate verify failed" in out["message"]
        # Plain TCP to a TLS port fails in the handshake, within the connect timeout.
        r = subprocess.run([client_bin(), "--contact-points", cp, "--connect-timeout-ms", "2000"], input="",
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1
    finally:
        fake.stop()
    # And TLS to a plain-text node fails in the handshake, saying so.
    plain = cql_server.FakeCluster().start()
    try:
        r = subprocess.run([client_bin(), "--contact-points", "127.0.0.1:%d" % plain.port, "--tls-ca",
                            str(TLS_DIR / "ca.pem")], input="", capture_output=True, text=True, timeout=30)
        out = json.loads(r.stdout)
        assert r.returncode == 1 and "TLS handshake with 127.0.0.1:%d failed" % plain.port in out["message"], out
    finally:
        plain.stop()


def test_keyspace_and_query_with_values(fake):
    c = Client("127.0.0.1:%d" % fake.port, "--keyspace", "shop")
    try:
        r = c.cmd("queryv text:acme,int:1 SELECT seq FROM events WHERE tenant = ? AND day = ? LIMIT 2")
        assert r["ok"] and r["rows"] == [{"seq": 0}, {"seq": 1}], r
        # The keyspace is set again on a new connection after a node restart.
        fake.nodes[0].restart()
        r = c.cmd("query 0 - SELECT seq FROM events WHERE tenant = 'acme' LIMIT 1")
        assert r["ok"] and r["rows"] == [{"seq": 0}], r
    finally:
        c.close()
    r = subprocess.run([client_bin(), "--contact-points", "127.0.0.1:%d" % fake.port, "--keyspace", "nope"],
                       input="", capture_output=True, text=True, timeout=30)
    out = json.loads(r.stdout)
    assert r.returncode == 1 and "answered Invalid (0x2200): Keyspace 'nope' does not exist" in out["message"], out


def test_silent_server_times_out_at_connect():
    """A port that accepts TCP and never answers (a hung node, a wrong service): the handshake
    gives up at the connect timeout and says where it waited."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    held = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        cp = "127.0.0.1:%d" % lsock.getsockname()[1]
        t0 = time.monotonic()
        r = subprocess.run([client_bin(), "--contact-points", cp, "--connect-timeout-ms", "400"], input="",
                           capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - t0
        out = json.loads(r.stdout)
        assert r.returncode == 1 and out["rc"] == "CQL_ETIMEOUT", out
        assert "no answer from %s to OPTIONS" % cp in out["message"]
        assert elapsed < 10  # bounded by the timeout, not hanging
    finally:
        stop.set()
        lsock.close()
        for s in held:
            s.close()


def test_events_survive_a_reconnect(fake, client):
    """The registration is made again on the new connection when the old one is gone."""
    assert client.cmd("register TOPOLOGY_CHANGE")["ok"]
    fake.nodes[0].restart()
    r = client.cmd("event 300")  # reconnects and registers again; nothing pushed yet
    assert not r["ok"] and r["rc"] == "CQL_ETIMEOUT", r
    assert fake.push_topology_change("NEW_NODE", "127.0.0.7") == 1
    ev = client.cmd("event 5000")
    assert (ev["type"], ev["change"], ev["address"]) == ("TOPOLOGY_CHANGE", "NEW_NODE", "127.0.0.7")


def test_v5_large_values_span_segments():
    """Values larger than a v5 segment (128 KiB) are split into segments that are not
    self-contained, sending and receiving; v4 has no such limit to cross."""
    fake = make_fake(5)
    t = fake.add_table("shop", "blobs", [("id", "int"), ("data", "blob"), ("note", "text")], ["id"])
    big = bytes(range(256)) * 1200  # 300 KiB
    t.insert_values({"id": 1, "data": big, "note": None})
    try:
        c = Client("127.0.0.1:%d" % fake.port)
        assert c.hello["protocol"] == 5
        r = c.cmd("query 0 - SELECT id, data FROM shop.blobs WHERE id = 1")
        assert r["ok"] and r["protocol"] == 5
        import base64
        assert base64.b64decode(r["rows"][0]["data"]) == big
        w = c.cmd("execute 0 int:2,textn:200000 INSERT INTO shop.blobs (id, note) VALUES (?, ?)")
        assert w["ok"], w
        assert t.rows[-1]["note"] == b"x" * 200000
        c.close()
    finally:
        fake.stop()


def test_protocol_can_be_pinned():
    fake = make_fake(5)
    add_events_table(fake, rows=1)
    try:
        c = Client("127.0.0.1:%d" % fake.port, "--protocol", "4")
        assert c.hello["protocol"] == 4
        assert c.cmd("query 0 - SELECT seq FROM shop.events")["rows"] == [{"seq": 0}]
        c.close()
        assert fake.nodes[0].startups == [4]
    finally:
        fake.stop()
    # Asking a v4-only node for v5 fails with the node's own message.
    fake = make_fake(4)
    try:
        r = subprocess.run([client_bin(), "--contact-points", "127.0.0.1:%d" % fake.port, "--protocol", "5"],
                           input="", capture_output=True, text=True, timeout=30)
        out = json.loads(r.stdout)
        assert r.returncode == 1 and "Invalid or unsupported protocol version (5)" in out["message"], out
    finally:
        fake.stop()


def test_v5_metadata_changed_updates_the_statement():
    """After a schema change the node answers EXECUTE with Metadata_changed and a new result
    metadata id; the client decodes the rows and sends the new id from then on."""
    fake = make_fake(5)
    add_events_table(fake, rows=2)
    node = fake.nodes[0]
    q = "execute 0 text:acme,int:1 SELECT seq FROM shop.events WHERE tenant = ? AND day = ?"
    try:
        c = Client("127.0.0.1:%d" % fake.port)
        assert c.cmd(q)["rows"] == [{"seq": 0}, {"seq": 1}]
        first = node.result_metadata_ids[-1]
        fake.change_result_metadata()
        assert c.cmd(q)["rows"] == [{"seq": 0}, {"seq": 1}]  # answered with Metadata_changed
        assert node.result_metadata_ids[-1] == first
        assert c.cmd(q)["rows"] == [{"seq": 0}, {"seq": 1}]
        assert node.result_metadata_ids[-1] != first  # the new id went out
        c.close()
    finally:
        fake.stop()


def test_topology_refresh_adds_a_joined_node():
    """The ring is read at start-up; after a node joins (a TOPOLOGY_CHANGE NEW_NODE), a refresh
    adds it and partitions it owns are routed to it."""
    fake = cql_server.FakeCluster(nodes=3)
    fake.nodes[0].start()
    fake.nodes[1].port = fake.nodes[0].port
    fake.nodes[1].start()
    add_events_table(fake, rows=0)
    third = fake.nodes[2]
    try:
        c = Client("127.0.0.1:%d" % fake.port, "--token-aware")
        assert c.hello["nodes"] == 2
        sel = "SELECT seq FROM shop.events WHERE tenant = ? AND day = ?"
        routes = {c.cmd("route text:t%d,int:%d %s" % (i, i, sel))["node"] for i in range(40)}
        assert routes == {"127.0.0.1:%d" % fake.port, "127.0.0.2:%d" % fake.port}
        third.port = fake.port
        third.start()
        assert c.cmd("refresh") == {"ok": True, "nodes": 3}
        routes = {c.cmd("route text:t%d,int:%d %s" % (i, i, sel))["node"] for i in range(40)}
        assert "127.0.0.3:%d" % fake.port in routes
        c.close()
    finally:
        fake.stop()
