"""The security protocols against the client libraries that test_sasl.py and test_tls.py do not
drive over them: kafka-python, kafkajs and confluent-kafka over SASL_SSL with SCRAM-SHA-256 and
-512, kafka-python and kafkajs over mutual TLS; and what each reports when it is refused — a wrong
password, an unknown user, a missing client certificate, or plaintext Kafka sent to a TLS port.
(kcat/librdkafka over SASL_SSL is in test_sasl.py::test_sasl_ssl, kcat and confluent-kafka over
mTLS in test_tls.py.)

What each reports when refused (kafka-python 2.0.2, kafkajs 2):
  wrong password / unknown user over SASL_SSL: NoBrokersAvailable or ValueError (kafka-python,
    see below) / KafkaJSSASLAuthenticationError with Kafka's message (kafkajs) /
    KafkaError._AUTHENTICATION with Kafka's message (confluent-kafka, through error_cb)
  no client certificate on an mTLS port: ssl.SSLEOFError / "... alert certificate required"
  a certificate from another CA: "... alert unknown ca" (kafkajs)
  plaintext Kafka on a TLS port: NoBrokersAvailable or ValueError / "Connection error: read
    ECONNRESET" (the broker ends the TLS handshake; Kafka does the same)

Certificates come from `streambus ctl certs generate`; brokers from the fixtures of
test_sasl.py (PLAINTEXT + SASL_PLAINTEXT + SASL_SSL) and test_tls.py (PLAINTEXT + SSL)."""

import ssl as ssl_module
import subprocess
import time
import uuid

import pytest

from conftest import streambus_bin, wait_until
from test_sasl import MECHS, PASSWORD, refusal, run_js, sasl_broker  # noqa: F401 (fixture)
from test_tls import certs, gen_certs, tls_broker  # noqa: F401 (fixtures)

kafka = pytest.importorskip("kafka")
from kafka.errors import NoBrokersAvailable  # noqa: E402


@pytest.fixture
def sasl_ssl_broker(sasl_broker, tmp_path):  # noqa: F811
    d = tmp_path / "certs"
    gen = subprocess.run([streambus_bin(), "ctl", "certs", "generate", "--out", str(d)], capture_output=True,
                         text=True, timeout=60)
    assert gen.returncode == 0, gen.stderr
    b = sasl_broker(certs=d)
    b.addr = "127.0.0.1:%d" % b.sasl_ssl_port
    return b


def kp_sasl_ssl(b, mech, user="alice", password=PASSWORD, **extra):
    conf = dict(bootstrap_servers=b.addr, security_protocol="SASL_SSL", ssl_cafile=str(b.certs / "ca.pem"),
                sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=password,
                request_timeout_ms=15000, api_version_auto_timeout_ms=10000)
    conf.update(extra)
    return conf


@pytest.mark.parametrize("mech", MECHS)
def test_kafka_python_over_sasl_ssl(sasl_ssl_broker, mech):
    b = sasl_ssl_broker
    user = "alice" if mech == "SCRAM-SHA-256" else "bob"  # bob has only a SHA-512 credential
    conf = kp_sasl_ssl(b, mech, user)
    topic = "kp-ssl-" + uuid.uuid4().hex[:8]
    p = kafka.KafkaProducer(acks="all", **conf)
    assert [p.send(topic, b"v%d" % i).get(timeout=30).offset for i in range(3)] == [0, 1, 2]
    p.close()
    c = kafka.KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **conf)
    assert [m.value for m in c][:3] == [b"v0", b"v1", b"v2"]
    c.close()
    assert "authenticated as User:%s via %s" % (user, mech) in b.log_text()
    # kafka-python 2.0.2 uses SaslHandshake v0, after which Kafka closes the connection on a
    # failed login. Over SASL_PLAINTEXT it then says NoBrokersAvailable (test_sasl.py); over
    # SASL_SSL its own reconnect code trips on the closed TLS socket first and raises
    # ValueError("Invalid file object: None") from the selector — the client's bug, shown here
    # as it is. The broker's side is checked in its log.
    failed = b.log_text().count("authentication failed from")
    for u, pw in ((user, "wrong-password"), ("mallory", PASSWORD)):
        with pytest.raises((NoBrokersAvailable, ValueError)):
            kafka.KafkaProducer(**kp_sasl_ssl(b, mech, u, pw, api_version_auto_timeout_ms=3000))
    wait_until(lambda: b.log_text().count("authentication failed from") >= failed + 2, 10,
               "two failed logins in the broker log")
    # plaintext Kafka to the SASL_SSL port: the broker ends the connection in the TLS
    # handshake; kafka-python reports that as above (the same closed-socket path)
    with pytest.raises((NoBrokersAvailable, ValueError)):
        kafka.KafkaProducer(bootstrap_servers=b.addr, api_version_auto_timeout_ms=3000)
    wait_until(lambda: "wrong version number" in b.log_text(), 10, "the refused handshake in the broker log")
    assert b.alive()


@pytest.mark.parametrize("mech", MECHS)
def test_kafkajs_over_sasl_ssl(sasl_ssl_broker, mech):
    b = sasl_ssl_broker
    user = "alice" if mech == "SCRAM-SHA-256" else "bob"
    sasl = {"mechanism": mech.lower(), "username": user, "password": PASSWORD}
    ssl = {"ca": str(b.certs / "ca.pem")}
    topic = "kj-ssl-" + uuid.uuid4().hex[:8]
    res = run_js("produce", {"broker": b.addr, "topic": topic, "count": 4, "partitions": 1, "sasl": sasl,
                             "ssl": ssl})
    assert [r["errorCode"] for r in res["results"]] == [0]
    got = run_js("consume", {"broker": b.addr, "topic": topic, "groupId": "g-" + topic, "count": 4,
                             "timeoutMs": 30000, "sasl": sasl, "ssl": ssl})
    assert len(got["messages"]) == 4
    label = mech.replace("SCRAM-", "SCRAM ").replace("SHA-", "SHA")
    for u, pw in ((user, "wrong-password"), ("mallory", PASSWORD)):
        res = run_js("auth-check", {"broker": b.addr, "sasl": dict(sasl, username=u, password=pw), "ssl": ssl})
        assert res["error"]["name"] == "KafkaJSSASLAuthenticationError", res
        assert res["error"]["message"] == "SASL %s authentication failed: %s" % (label, refusal(mech))
    # plaintext Kafka to the SASL_SSL port
    res = run_js("auth-check", {"broker": b.addr, "sasl": sasl})
    assert res.get("error", {}).get("message") == "Connection error: read ECONNRESET", res
    assert b.alive()


def ck_first_error(ck, conf, seconds=30):
    """The first error a confluent-kafka producer with conf reports through error_cb."""
    errors = []
    p = ck.Producer(dict(conf, error_cb=lambda e: errors.append(e)))
    deadline = time.monotonic() + seconds
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    return errors[0] if errors else None


@pytest.mark.parametrize("mech", MECHS)
def test_confluent_kafka_over_sasl_ssl(sasl_ssl_broker, mech):
    ck = pytest.importorskip("confluent_kafka")
    b = sasl_ssl_broker
    user = "alice" if mech == "SCRAM-SHA-256" else "bob"
    conf = {"bootstrap.servers": b.addr, "security.protocol": "SASL_SSL", "ssl.ca.location": str(b.certs / "ca.pem"),
            "sasl.mechanisms": mech, "sasl.username": user, "sasl.password": PASSWORD}
    topic = "ck-ssl-" + uuid.uuid4().hex[:8]
    p = ck.Producer(dict(conf, acks="all"))
    delivered = []
    for i in range(10):
        p.produce(topic, value=b"s%d" % i, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0
    assert delivered == [None] * 10
    c = ck.Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 10 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got == [b"s%d" % i for i in range(10)]
    assert "authenticated as User:%s via %s" % (user, mech) in b.log_text()

    for u, pw in ((user, "wrong-password"), ("mallory", PASSWORD)):
        e = ck_first_error(ck, dict(conf, **{"sasl.username": u, "sasl.password": pw}))
        assert e is not None, "no error reported for %s" % u
        assert e.code() == ck.KafkaError._AUTHENTICATION, e
        assert refusal(mech) in e.str(), e
    # plaintext Kafka to the SASL_SSL port: librdkafka sees the connection end in its first
    # request and reports a transport failure (all brokers down), never a session
    e = ck_first_error(ck, {"bootstrap.servers": b.addr})
    assert e is not None and e.code() in (ck.KafkaError._TRANSPORT, ck.KafkaError._ALL_BROKERS_DOWN), e
    wait_until(lambda: "wrong version number" in b.log_text(), 10, "the refused handshake in the broker log")
    assert b.alive()


def kp_ssl(b, client=None, **extra):
    conf = dict(bootstrap_servers="127.0.0.1:%d" % b.ssl_port, security_protocol="SSL",
                ssl_cafile=str(b.certs / "ca.pem"), request_timeout_ms=15000, api_version_auto_timeout_ms=10000)
    if client:
        conf.update(ssl_certfile=str(b.certs / ("client-%s.pem" % client)),
                    ssl_keyfile=str(b.certs / ("client-%s.key" % client)))
    conf.update(extra)
    return conf


def test_kafka_python_and_kafkajs_over_mutual_tls(tls_broker, certs, tmp_path):  # noqa: F811
    b = tls_broker(certs, client_auth="required")
    topic = "mtls-" + uuid.uuid4().hex[:8]
    # kafka-python with alice's certificate
    p = kafka.KafkaProducer(acks="all", **kp_ssl(b, "alice"))
    assert [p.send(topic, b"kp%d" % i).get(timeout=30).offset for i in range(2)] == [0, 1]
    p.close()
    c = kafka.KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=10000, **kp_ssl(b, "alice"))
    assert [m.value for m in c][:2] == [b"kp0", b"kp1"]
    c.close()
    wait_until(lambda: "principal User:CN=alice" in b.log_text(), 10, "alice's principal in the broker log")
    # kafkajs with alice's certificate reads what kafka-python wrote and adds its own
    addr = "127.0.0.1:%d" % b.ssl_port
    ssl = {"ca": str(certs / "ca.pem"), "cert": str(certs / "client-alice.pem"),
           "key": str(certs / "client-alice.key")}
    res = run_js("produce", {"broker": addr, "topic": topic, "count": 2, "partitions": 1, "ssl": ssl})
    assert [r["errorCode"] for r in res["results"]] == [0]
    got = run_js("consume", {"broker": addr, "topic": topic, "groupId": "g-" + topic, "count": 4,
                             "timeoutMs": 30000, "ssl": ssl})
    assert len(got["messages"]) == 4

    # Without a certificate each is refused in the handshake: kafka-python 2.0.2 lets the
    # TLS error through (ssl.SSLEOFError, the broker closed the handshake) rather than
    # NoBrokersAvailable.
    with pytest.raises((NoBrokersAvailable, ssl_module.SSLError)):
        kafka.KafkaProducer(**kp_ssl(b, api_version_auto_timeout_ms=3000))
    res = run_js("auth-check", {"broker": addr, "ssl": {"ca": str(certs / "ca.pem")}})
    assert "alert certificate required" in res.get("error", {}).get("message", ""), res
    # A certificate from another CA: refused too.
    other = tmp_path / "other"
    gen_certs(other, clients=("mallory",))
    res = run_js("auth-check", {"broker": addr, "ssl": {"ca": str(certs / "ca.pem"),
                                                        "cert": str(other / "client-mallory.pem"),
                                                        "key": str(other / "client-mallory.key")}})
    assert "alert unknown ca" in res.get("error", {}).get("message", ""), res
    # plaintext Kafka to the SSL port
    with pytest.raises((NoBrokersAvailable, ValueError)):
        kafka.KafkaProducer(bootstrap_servers=addr, api_version_auto_timeout_ms=3000)
    res = run_js("auth-check", {"broker": addr})
    assert res.get("error", {}).get("message") == "Connection error: read ECONNRESET", res
    assert "User:CN=mallory" not in b.log_text()
    assert b.alive()
