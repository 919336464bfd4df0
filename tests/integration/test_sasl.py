"""SASL on the Kafka protocol against real clients: kcat/librdkafka, confluent-kafka,
kafka-python and kafkajs over SASL_PLAINTEXT with SCRAM-SHA-256 and -512 — good credentials
work, a wrong password and an unknown user are refused with the error each client reports.
Raw requests check what the clients cannot show: nothing but ApiVersions/SaslHandshake/
SaslAuthenticate is served before authentication (the connection is closed, as Kafka does),
PLAIN is not offered without TLS, session_lifetime_ms and the close of an expired session
(KIP-368), and the per-address failure budget (late answers, then refusal), counted in metrics.

Each broker has two listeners: PLAINTEXT on `broker.port` (readiness probe, `ctl user add`)
and SASL_PLAINTEXT on `broker.sasl_port`. The config is written as JSON, which is valid YAML."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import Broker, free_port, keep_for_debugging, streambus_bin

HERE = Path(__file__).resolve().parent
PASSWORD = "Correct-Horse-9"


@pytest.fixture
def sasl_broker(request, tmp_path_factory):
    """Factory: sasl_broker(sasl={...}) -> running Broker with users alice (both SCRAM
    mechanisms) and bob (SCRAM-SHA-512 only), created with `streambus ctl user add`."""
    brokers = []

    def factory(sasl=None, certs=None, listener_mechanisms=None):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:60]
        b = Broker(streambus_bin(), tmp_path_factory.mktemp("sasl-" + name, numbered=True))
        b.sasl_port = free_port()
        b.config["broker"]["listen"] = "127.0.0.1:9092"  # broker.listeners replaces it
        b.config["broker"]["listeners"] = [
            {"name": "PLAINTEXT", "address": "127.0.0.1:%d" % b.port},
            {"name": "SASL_PLAINTEXT", "address": "127.0.0.1:%d" % b.sasl_port, "protocol": "SASL_PLAINTEXT"},
        ]
        if listener_mechanisms is not None:
            b.config["broker"]["listeners"][1]["sasl_mechanisms"] = listener_mechanisms
        if certs:
            b.certs = certs
            b.sasl_ssl_port = free_port()
            b.config["broker"]["listeners"].append(
                {"name": "SASL_SSL", "address": "127.0.0.1:%d" % b.sasl_ssl_port, "protocol": "SASL_SSL",
                 "tls": {"cert": str(certs / "server.pem"), "key": str(certs / "server.key")}})
        # Every refused login of these tests comes from 127.0.0.1: a budget that the
        # rate-limit test lowers on purpose.
        b.config["sasl"] = dict({"max_failed_authentications": 1000, "failed_authentication_delay_ms": 50},
                                **(sasl or {}))
        b.config_path.write_text(json.dumps(b.config, indent=1) + "\n")
        brokers.append(b)
        b.start()
        ctl_user(b, "add", "alice")
        ctl_user(b, "add", "bob", "--mechanism", "SCRAM-SHA-512")
        return b

    yield factory

    failures = []
    for b in brokers:
        if b.stop() == "hung":
            failures.append("broker %s did not stop after SIGTERM" % b.bootstrap)
        problems = b.log_problems()
        if problems:
            failures.append("broker log %s has unexpected errors:\n  %s" % (b.log_path, "\n  ".join(problems[:30])))
        # No password may reach the log, whatever happened.
        text = b.log_text()
        if PASSWORD in text or "wrong-password" in text:
            failures.append("broker log %s contains a password" % b.log_path)
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, b in enumerate(brokers):
        if failed or failures:
            print("\nbroker log and config kept in %s" % keep_for_debugging(b, request.node.nodeid, n))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def ctl_user(b, verb, user, *extra):
    cmd = [streambus_bin(), "ctl", "--bootstrap-server", b.bootstrap, "user", verb, user] + list(extra)
    proc = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def sasl_addr(b):
    return "127.0.0.1:%d" % b.sasl_port


def refusal(mech):
    # Kafka's message, which every client below shows its user.
    return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech


MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-512"]

# --------------------------------------------------------------------------------------------
# kcat / librdkafka
# --------------------------------------------------------------------------------------------

def kcat_sasl(b, mech, user, password, args, input_text=None):
    # A refused client only gives up at the metadata timeout: keep it short for those.
    wait = "10" if password == PASSWORD and user != "mallory" else "3"
    cmd = ["kcat", "-b", sasl_addr(b), "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mech,
           "-X", "sasl.username=" + user, "-X", "sasl.password=" + password, "-m", wait] + list(args)
    return subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mech", MECHS)
def test_kcat(sasl_broker, mech):
    b = sasl_broker()
    topic = "kcat-" + mech.lower()
    p = kcat_sasl(b, mech, "alice", PASSWORD, ["-P", "-t", topic, "-K:", "-X", "acks=all"], "k1:v1\nk2:v2\n")
    assert p.returncode == 0, p.stderr
    c = kcat_sasl(b, mech, "alice", PASSWORD, ["-C", "-t", topic, "-e", "-q", "-f", "%k=%s\n"])
    assert c.returncode == 0, c.stderr
    assert c.stdout == "k1=v1\nk2=v2\n"
    for user, password in (("alice", "wrong-password"), ("mallory", PASSWORD)):
        bad = kcat_sasl(b, mech, user, password, ["-L"])
        assert bad.returncode != 0
        assert "SASL authentication error: " + refusal(mech) in bad.stderr
    # bob has no SCRAM-SHA-256 credential: refused like an unknown user.
    if mech == "SCRAM-SHA-256":
        assert refusal(mech) in kcat_sasl(b, mech, "bob", PASSWORD, ["-L"]).stderr
    log = b.log_text()
    assert 'user \\"mallory\\"' in log and "authentication failed from 127.0.0.1" in log
    assert "authenticated as User:alice via " + mech in log


# --------------------------------------------------------------------------------------------
# confluent-kafka
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mech", MECHS)
def test_confluent_kafka(sasl_broker, mech):
    ck = pytest.importorskip("confluent_kafka")
    b = sasl_broker()
    conf = {"bootstrap.servers": sasl_addr(b), "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": mech,
            "sasl.username": "bob" if mech == "SCRAM-SHA-512" else "alice", "sasl.password": PASSWORD}
    topic = "ck-" + uuid.uuid4().hex[:8]
    p = ck.Producer(dict(conf, **{"acks": "all"}))
    delivered = []
    for i in range(20):
        p.produce(topic, value=b"m%d" % i, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0
    assert delivered == [None] * 20
    c = ck.Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"m%d" % i for i in range(20)]

    for user, password in (("alice", "wrong-password"), ("mallory", PASSWORD)):
        errors = []
        bad = ck.Producer(dict(conf, **{"sasl.username": user, "sasl.password": password,
                                        "error_cb": lambda e: errors.append(e)}))
        deadline = time.monotonic() + 30
        while not errors and time.monotonic() < deadline:
            bad.poll(0.2)
        assert errors, "no error reported for %s" % user
        assert errors[0].code() == ck.KafkaError._AUTHENTICATION
        assert refusal(mech) in errors[0].str()


# --------------------------------------------------------------------------------------------
# kafka-python (SaslHandshake v0: bare SASL frames; a refusal closes the connection)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mech", MECHS)
def test_kafka_python(sasl_broker, mech):
    kafka = pytest.importorskip("kafka")
    from kafka.errors import NoBrokersAvailable
    b = sasl_broker()
    conf = dict(bootstrap_servers=sasl_addr(b), security_protocol="SASL_PLAINTEXT", sasl_mechanism=mech,
                sasl_plain_username="alice", sasl_plain_password=PASSWORD, request_timeout_ms=15000,
                api_version_auto_timeout_ms=10000)
    topic = "kp-" + uuid.uuid4().hex[:8]
    p = kafka.KafkaProducer(acks="all", **conf)
    offsets = [p.send(topic, b"v%d" % i).get(timeout=30).offset for i in range(5)]
    p.close()
    assert offsets == [0, 1, 2, 3, 4]
    c = kafka.KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **conf)
    assert [m.value for m in c][:5] == [b"v%d" % i for i in range(5)]
    c.close()
    for user, password in (("alice", "wrong-password"), ("mallory", PASSWORD)):
        with pytest.raises(NoBrokersAvailable):
            kafka.KafkaProducer(**dict(conf, sasl_plain_username=user, sasl_plain_password=password,
                                       api_version_auto_timeout_ms=3000))
    assert b.log_text().count("authentication failed from") >= 2


# --------------------------------------------------------------------------------------------
# kafkajs
# --------------------------------------------------------------------------------------------

def run_js(command, args, timeout=90):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/install-deps.sh test installs it)")
    if not (HERE / "node_modules" / "kafkajs").is_dir():
        pytest.fail("kafkajs is missing from tests/integration/node_modules: run scripts/install-deps.sh test")
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    proc = subprocess.run([node, str(HERE / "kafkajs_client.js"), command, json.dumps(args)], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, "kafkajs %s failed:\n%s" % (command, proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mech", MECHS)
def test_kafkajs(sasl_broker, mech):
    b = sasl_broker()
    sasl = {"mechanism": mech.lower(), "username": "alice", "password": PASSWORD}
    topic = "kj-" + uuid.uuid4().hex[:8]
    res = run_js("produce", {"broker": sasl_addr(b), "topic": topic, "count": 4, "partitions": 1, "sasl": sasl})
    assert [r["errorCode"] for r in res["results"]] == [0]
    got = run_js("consume", {"broker": sasl_addr(b), "topic": topic, "groupId": "g-" + topic, "count": 4,
                             "timeoutMs": 30000, "sasl": sasl})
    assert len(got["messages"]) == 4
    label = mech.replace("SCRAM-", "SCRAM ").replace("SHA-", "SHA")
    for user, password in (("alice", "wrong-password"), ("mallory", PASSWORD)):
        res = run_js("auth-check", {"broker": sasl_addr(b), "sasl": dict(sasl, username=user, password=password)})
        assert res["error"]["name"] == "KafkaJSSASLAuthenticationError"
        assert res["error"]["message"] == "SASL %s authentication failed: %s" % (label, refusal(mech))


# --------------------------------------------------------------------------------------------
# raw protocol: the gate, mechanisms, re-authentication, the failure budget
# --------------------------------------------------------------------------------------------

class Raw:
    """One connection speaking Kafka requests with header v1 (non-flexible APIs only)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.corr = 0

    def close(self):
        self.s.close()

    def request(self, key, version, body):
        self.corr += 1
        cid = b"it-sasl"
        frame = struct.pack(">hhih", key, version, self.corr, len(cid)) + cid + body
        self.s.sendall(struct.pack(">i", len(frame)) + frame)
        head = self.recv(4)
        if head is None:
            return None
        data = self.recv(struct.unpack(">i", head)[0])
        assert struct.unpack(">i", data[:4])[0] == self.corr
        return data[4:]

    def recv(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            if not chunk:
                return None  # closed by the broker
            data += chunk
        return data

    def handshake(self, mech, version=1):
        r = self.request(17, version, s16(mech))
        code = struct.unpack(">h", r[:2])[0]
        n = struct.unpack(">i", r[2:6])[0]
        p, mechs = 6, []
        for _ in range(n):
            ln = struct.unpack(">h", r[p:p + 2])[0]
            mechs.append(r[p + 2:p + 2 + ln].decode())
            p += 2 + ln
        return code, mechs

    def authenticate(self, data, version=1):
        r = self.request(36, version, struct.pack(">i", len(data)) + data)
        if r is None:
            return None
        code = struct.unpack(">h", r[:2])[0]
        ln = struct.unpack(">h", r[2:4])[0]
        msg = None if ln < 0 else r[4:4 + ln].decode()
        p = 4 + max(ln, 0)
        blen = struct.unpack(">i", r[p:p + 4])[0]
        auth = r[p + 4:p + 4 + blen]
        lifetime = struct.unpack(">q", r[p + 4 + blen:p + 12 + blen])[0] if version >= 1 else None
        return code, msg, auth, lifetime

    def metadata(self):
        return self.request(3, 1, struct.pack(">i", 0))

    def scram_login(self, user, password, mech="SCRAM-SHA-256"):
        """Full SCRAM exchange (RFC 5802); returns (error code, message, session lifetime)."""
        assert self.handshake(mech)[0] == 0
        h = hashlib.sha256 if mech == "SCRAM-SHA-256" else hashlib.sha512
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=%s,r=%s" % (user, cnonce)
        code, msg, server_first, _ = self.authenticate(("n,," + first_bare).encode())
        assert code == 0, msg
        attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(h().name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", h).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth_msg = ",".join([first_bare, server_first.decode(), without_proof]).encode()
        sig = hmac.new(h(client_key).digest(), auth_msg, h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        res = self.authenticate((without_proof + ",p=" + base64.b64encode(proof).decode()).encode())
        if res is None:
            return None
        code, msg, server_final, lifetime = res
        if code == 0:
            server_key = hmac.new(salted, b"Server Key", h).digest()
            expect = base64.b64encode(hmac.new(server_key, auth_msg, h).digest()).decode()
            assert server_final.decode() == "v=" + expect  # the broker knows the credential
        return code, msg, lifetime


def s16(s):
    return struct.pack(">h", len(s)) + s.encode()


def test_gate_before_authentication(sasl_broker):
    b = sasl_broker()
    # Metadata before authenticating closes the connection.
    r = Raw(b.sasl_port)
    assert r.metadata() is None
    r.close()
    # ApiVersions is allowed, and lists both SASL APIs.
    r = Raw(b.sasl_port)
    av = r.request(18, 0, b"")
    assert av is not None and struct.unpack(">h", av[:2])[0] == 0
    keys = {struct.unpack(">h", av[6 + 6 * i:8 + 6 * i])[0] for i in range(struct.unpack(">i", av[2:6])[0])}
    assert {17, 36, 50, 51} <= keys
    # PLAIN is not offered without TLS; asking for it is UNSUPPORTED_SASL_MECHANISM.
    assert r.handshake("PLAIN") == (33, ["SCRAM-SHA-512", "SCRAM-SHA-256"])
    # A handshake is still possible, and after it only SaslAuthenticate may come.
    assert r.handshake("SCRAM-SHA-256") == (0, ["SCRAM-SHA-512", "SCRAM-SHA-256"])
    assert r.metadata() is None
    r.close()
    # SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE.
    r = Raw(b.sasl_port)
    code, _, _, _ = r.authenticate(b"n,,n=alice,r=abc")
    assert code == 34
    r.close()
    # On the PLAINTEXT listener SASL is not in use.
    r = Raw(b.port)
    assert r.handshake("SCRAM-SHA-256")[0] == 34
    assert r.metadata() is not None
    r.close()
    # After a good login, everything is served and the principal is logged.
    r = Raw(b.sasl_port)
    assert r.scram_login("alice", PASSWORD) == (0, None, 0)
    assert r.metadata() is not None
    r.close()


def test_plain_allowed_by_dev_option(sasl_broker):
    b = sasl_broker({"plain_without_tls": True, "enabled_mechanisms": "PLAIN,SCRAM-SHA-512"})
    ok = kcat_sasl(b, "PLAIN", "alice", PASSWORD, ["-L"])
    assert ok.returncode == 0, ok.stderr
    bad = kcat_sasl(b, "PLAIN", "alice", "wrong-password", ["-L"])
    assert refusal("PLAIN") in bad.stderr
    # SCRAM-SHA-256 is not enabled on this broker.
    r = Raw(b.sasl_port)
    assert r.handshake("SCRAM-SHA-256") == (33, ["SCRAM-SHA-512", "PLAIN"])
    r.close()


def test_mechanisms_per_listener(sasl_broker):
    # The SASL_PLAINTEXT listener offers SCRAM-SHA-512 only, whatever sasl.enabled_mechanisms says.
    b = sasl_broker(listener_mechanisms="SCRAM-SHA-512")
    r = Raw(b.sasl_port)
    assert r.handshake("SCRAM-SHA-256") == (33, ["SCRAM-SHA-512"])
    assert r.scram_login("alice", PASSWORD, "SCRAM-SHA-512")[0] == 0
    r.close()
    bad = kcat_sasl(b, "SCRAM-SHA-256", "alice", PASSWORD, ["-L"])
    assert bad.returncode != 0
    ok = kcat_sasl(b, "SCRAM-SHA-512", "alice", PASSWORD, ["-L"])
    assert ok.returncode == 0, ok.stderr
    assert "offers no usable SASL mechanism" not in b.log_text()


def test_a_listener_with_no_usable_mechanism_is_named_at_start_up(sasl_broker):
    # PLAIN alone on SASL_PLAINTEXT: every client will be refused, and the log says so at once.
    b = sasl_broker(listener_mechanisms="PLAIN")
    assert ("listener SASL_PLAINTEXT offers no usable SASL mechanism, so it will refuse every client"
            in b.log_text())
    r = Raw(b.sasl_port)
    assert r.handshake("PLAIN")[0] == 33
    r.close()


def test_reauthentication(sasl_broker):
    ck = pytest.importorskip("confluent_kafka")
    b = sasl_broker({"connections_max_reauth_ms": 1500})
    r = Raw(b.sasl_port)
    code, _, lifetime = r.scram_login("alice", PASSWORD)
    assert (code, lifetime) == (0, 1500)
    assert r.metadata() is not None
    # Re-authenticating on the same connection (KIP-368) renews the session...
    time.sleep(1.0)
    code, _, lifetime = r.scram_login("alice", PASSWORD)
    assert (code, lifetime) == (0, 1500)
    time.sleep(0.8)  # past the first session's end, inside the second
    assert r.metadata() is not None
    # ...but not with another mechanism (refused at the handshake, as Kafka does)...
    assert r.handshake("SCRAM-SHA-512")[0] == 34
    r.close()
    # ...nor as somebody else.
    r = Raw(b.sasl_port)
    assert r.scram_login("alice", PASSWORD, "SCRAM-SHA-512")[0] == 0
    code, msg, _ = r.scram_login("bob", PASSWORD, "SCRAM-SHA-512")
    assert (code, msg) == (58, refusal("SCRAM-SHA-512"))
    assert r.metadata() is None
    r.close()
    assert "re-authentication as a different user" in b.log_text()
    # A session left to expire: the next request closes the connection.
    r = Raw(b.sasl_port)
    assert r.scram_login("alice", PASSWORD)[0] == 0
    time.sleep(1.7)
    assert r.metadata() is None
    r.close()
    assert "SASL session of User:alice expired without re-authentication" in b.log_text()
    # A real client keeps producing across many session lifetimes.
    p = ck.Producer({"bootstrap.servers": sasl_addr(b), "security.protocol": "SASL_PLAINTEXT",
                     "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": PASSWORD,
                     "acks": "all"})
    errors = []
    end = time.monotonic() + 5
    n = 0
    while time.monotonic() < end:
        p.produce("reauth", b"x%d" % n, on_delivery=lambda e, m: errors.append(e) if e else None)
        n += 1
        p.poll(0.1)
    assert p.flush(30) == 0
    assert errors == []


def metric(b, name, labels):
    text = urllib.request.urlopen(b.admin_url + "/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{" + labels + "}") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_failed_authentications_delayed_then_refused(sasl_broker):
    b = sasl_broker({"max_failed_authentications": 3, "failed_authentication_delay_ms": 300,
                     "failed_authentication_window_ms": 600000})
    for _ in range(3):
        r = Raw(b.sasl_port)
        t0 = time.monotonic()
        code, msg, _ = r.scram_login("alice", "wrong-password")
        # The refusal is held back by the configured delay (a lower bound: load only adds).
        assert time.monotonic() - t0 >= 0.3
        assert (code, msg) == (58, refusal("SCRAM-SHA-256"))
        # After a failure the connection serves nothing.
        assert r.metadata() is None
        r.close()
    # The budget is spent: even the right password is refused, at the handshake.
    r = Raw(b.sasl_port)
    assert r.request(17, 1, s16("SCRAM-SHA-256")) is None
    r.close()
    assert metric(b, "streambus_sasl_authentications_total", 'mechanism="SCRAM-SHA-256",result="failure"') == 3
    assert metric(b, "streambus_sasl_authentications_total", 'mechanism="SCRAM-SHA-256",result="success"') == 0
    assert metric(b, "streambus_sasl_refused_total", "") >= 1
    assert "too many failed authentications from /127.0.0.1" in b.log_text()
    # The PLAINTEXT listener (another protocol) is unaffected.
    r = Raw(b.port)
    assert r.metadata() is not None
    r.close()


# --------------------------------------------------------------------------------------------
# SASL_SSL (TLS from the net layer)
# --------------------------------------------------------------------------------------------

def test_sasl_ssl(sasl_broker, tmp_path):
    certs = tmp_path / "certs"
    gen = subprocess.run([streambus_bin(), "ctl", "certs", "generate", "--out", str(certs)], capture_output=True,
                         text=True, timeout=60)
    assert gen.returncode == 0, gen.stderr
    b = sasl_broker({"enabled_mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"}, certs=certs)

    def kcat_ssl(mech, user, password, args, input_text=None):
        cmd = ["kcat", "-b", "127.0.0.1:%d" % b.sasl_ssl_port, "-X", "security.protocol=SASL_SSL",
               "-X", "ssl.ca.location=%s" % (certs / "ca.pem"), "-X", "sasl.mechanisms=" + mech,
               "-X", "sasl.username=" + user, "-X", "sasl.password=" + password,
               "-m", "10" if password == PASSWORD else "3"] + list(args)
        return subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=60)

    for mech in MECHS + ["PLAIN"]:
        topic = "ssl-" + mech.lower()
        p = kcat_ssl(mech, "alice", PASSWORD, ["-P", "-t", topic, "-X", "acks=all"], "one\ntwo\n")
        assert p.returncode == 0, p.stderr
        c = kcat_ssl(mech, "alice", PASSWORD, ["-C", "-t", topic, "-e", "-q"])
        assert c.stdout == "one\ntwo\n", c.stderr
        bad = kcat_ssl(mech, "alice", "wrong-password", ["-L"])
        assert bad.returncode != 0 and refusal(mech) in bad.stderr
    # PLAIN over TLS is offered; on the SASL_PLAINTEXT listener of the same broker it is not.
    r = Raw(b.sasl_port)
    assert r.handshake("PLAIN") == (33, ["SCRAM-SHA-512", "SCRAM-SHA-256"])
    r.close()
    ck = pytest.importorskip("confluent_kafka")
    conf = {"bootstrap.servers": "127.0.0.1:%d" % b.sasl_ssl_port, "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(certs / "ca.pem"), "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "bob",
            "sasl.password": PASSWORD}
    from confluent_kafka.admin import AdminClient
    md = AdminClient(conf).list_topics(timeout=20)
    assert "ssl-plain" in md.topics
    # A client speaking plain Kafka to the TLS port gets nothing.
    r = Raw(b.sasl_ssl_port)
    try:
        assert r.metadata() is None
    except (ConnectionResetError, socket.timeout):
        pass
    r.close()


# --------------------------------------------------------------------------------------------
# OAUTHBEARER: tokens checked by the HTTP APIs' JWT verifier
# --------------------------------------------------------------------------------------------

JWT_SECRET = "sasl-test-secret-0123456789abcdef-0123456789"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, alg="HS256", secret=JWT_SECRET):
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def test_oauthbearer(sasl_broker, tmp_path):
    secret = tmp_path / "jwt.secret"
    secret.write_text(JWT_SECRET + "\n")
    b = sasl_broker({"enabled_mechanisms": "SCRAM-SHA-256,OAUTHBEARER", "oauthbearer_secret_file": str(secret),
                     "connections_max_reauth_ms": 600000})
    now = int(time.time())
    good = jwt({"sub": "svc-orders", "role": "viewer", "use": "access", "iat": now, "exp": now + 300})
    res = run_js("auth-check", {"broker": sasl_addr(b), "sasl": {"mechanism": "oauthbearer", "token": good}})
    assert "error" not in res, res
    assert "authenticated as User:svc-orders via OAUTHBEARER" in b.log_text()
    # The session ends with the token, before connections_max_reauth_ms.
    r = Raw(b.sasl_port)
    assert r.handshake("OAUTHBEARER")[0] == 0
    code, _, _, lifetime = r.authenticate(("n,,\x01auth=Bearer %s\x01\x01" % good).encode())
    assert code == 0 and 0 < lifetime <= 300 * 1000
    r.close()
    refused = {
        # now - 120: beyond the verifier's 60 s clock-skew allowance.
        "expired": jwt({"sub": "svc-orders", "role": "viewer", "use": "access", "exp": now - 120}),
        "forged": jwt({"sub": "svc-orders", "role": "admin", "use": "access", "exp": now + 300},
                      secret="another-secret-another-secret-another"),
        "unsecured": jwt({"sub": "svc-orders", "role": "admin", "use": "access", "exp": now + 300}, alg="none"),
        "refresh": jwt({"sub": "svc-orders", "role": "viewer", "use": "refresh", "exp": now + 300}),
    }
    for why, token in refused.items():
        res = run_js("auth-check", {"broker": sasl_addr(b), "sasl": {"mechanism": "oauthbearer", "token": token}})
        assert res["error"]["name"] == "KafkaJSSASLAuthenticationError", why
        assert refusal("OAUTHBEARER") in res["error"]["message"], why
    # librdkafka's built-in token is unsecured ("alg":"none"): refused.
    bad = subprocess.run(["kcat", "-b", sasl_addr(b), "-X", "security.protocol=SASL_PLAINTEXT",
                          "-X", "sasl.mechanisms=OAUTHBEARER", "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
                          "-X", "sasl.oauthbearer.config=principal=svc-orders",
                          "-m", "3", "-L"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and refusal("OAUTHBEARER") in bad.stderr
    log = b.log_text()
    for reason in ("token expired", "bad token signature", "token algorithm none is not accepted", "token is a refresh token"):
        assert reason in log
    assert good not in log and refused["forged"] not in log


def test_oauthbearer_expected_audience_and_issuer(sasl_broker, tmp_path):
    """sasl.oauthbearer_expected_audience / _issuer (Kafka's sasl.oauthbearer.expected.*): a
    token must name the audience and come from the issuer; without the settings neither is
    checked (test_oauthbearer)."""
    secret = tmp_path / "jwt.secret"
    secret.write_text(JWT_SECRET + "\n")
    b = sasl_broker({"enabled_mechanisms": "OAUTHBEARER", "oauthbearer_secret_file": str(secret),
                     "oauthbearer_expected_audience": "streambus", "oauthbearer_expected_issuer": "https://idp.test"})
    now = int(time.time())
    base = {"sub": "svc-orders", "use": "access", "iat": now, "exp": now + 300}
    cases = {
        "right audience and issuer": (dict(base, aud="streambus", iss="https://idp.test"), True),
        "audience among several": (dict(base, aud=["other", "streambus"], iss="https://idp.test"), True),
        "wrong audience": (dict(base, aud="other", iss="https://idp.test"), False),
        "no audience": (dict(base, iss="https://idp.test"), False),
        "wrong issuer": (dict(base, aud="streambus", iss="https://evil.test"), False),
        "no issuer": (dict(base, aud="streambus"), False),
    }
    for why, (claims, accepted) in cases.items():
        r = Raw(b.sasl_port)
        assert r.handshake("OAUTHBEARER")[0] == 0
        code = r.authenticate(("n,,\x01auth=Bearer %s\x01\x01" % jwt(claims)).encode())[0]
        r.close()
        assert (code == 0) == accepted, why
    log = b.log_text()
    assert log.count("wrong token audience") == 2 and log.count("wrong token issuer") == 2


def test_ctl_user_over_sasl(sasl_broker):
    b = sasl_broker()

    def ctl(password, *args):
        cmd = [streambus_bin(), "ctl", "--bootstrap-server", sasl_addr(b), "-X", "security.protocol=SASL_PLAINTEXT",
               "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=bob", "-X", "sasl.password=" + password]
        return subprocess.run(cmd + list(args), input="new-user-pw\n", capture_output=True, text=True, timeout=60)

    ok = ctl(PASSWORD, "user", "add", "carol", "--mechanism", "SCRAM-SHA-256")
    assert ok.returncode == 0, ok.stderr
    rows = [line.split() for line in ctl(PASSWORD, "user", "list").stdout.splitlines()]
    assert ["carol", "SCRAM-SHA-256", "4096"] in rows
    bad = ctl("wrong-password", "user", "list")
    assert bad.returncode == 1
    assert bad.stderr.strip() == ('streambus ctl: SASL authentication as "bob" failed: SASL_AUTHENTICATION_FAILED: '
                                  + refusal("SCRAM-SHA-512"))
    # Without SASL the SASL listener closes the connection at the first admin request.
    plain = subprocess.run([streambus_bin(), "ctl", "--bootstrap-server", sasl_addr(b), "user", "list"],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and "the broker closed the connection" in plain.stderr
    # carol can log in with the password ctl read from stdin.
    r = Raw(b.sasl_port)
    assert r.scram_login("carol", "new-user-pw")[0] == 0
    r.close()
