"""TLS listeners against real clients: kcat (librdkafka) and confluent-kafka over SSL, mutual TLS
with the certificate subject as principal, a client without a certificate or with a foreign one
refused, a plaintext client on the TLS port refused without harming the broker, data kept across
a restart, certificate reload on SIGHUP, and sslscan showing nothing below TLS 1.2 and no weak
cipher. Certificates come from `streambus ctl certs generate`.

Each broker here has two listeners: PLAINTEXT on `broker.port` (the harness's readiness probe)
and SSL on `broker.ssl_port`. The config is written as JSON, which is valid YAML."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import Broker, free_port, keep_for_debugging, streambus_bin, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")


# --------------------------------------------------------------------------------------------
# certificates and brokers
# --------------------------------------------------------------------------------------------

def gen_certs(out_dir, clients=("alice",), force=False, check=True):
    cmd = [streambus_bin(), "ctl", "certs", "generate", "--out", str(out_dir)]
    for c in clients:
        cmd += ["--client", c]
    if force:
        cmd.append("--force")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail("ctl certs generate exited %d: %s" % (proc.returncode, proc.stderr))
    return proc


@pytest.fixture
def certs(tmp_path):
    d = tmp_path / "certs"
    gen_certs(d)
    return d


@pytest.fixture
def tls_broker(request, tmp_path_factory):
    """Factory: tls_broker(certs_dir, client_auth="none", start=True) -> Broker with a
    PLAINTEXT and an SSL listener. Stopped and its log checked at teardown, as conftest does."""
    brokers = []

    def factory(certs_dir, client_auth="none", start=True, level="debug"):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:60]
        b = Broker(streambus_bin(), tmp_path_factory.mktemp("tls-" + name, numbered=True))
        b.ssl_port = free_port()
        b.certs = certs_dir
        tls = {"cert": str(certs_dir / "server.pem"), "key": str(certs_dir / "server.key"),
               "ca": str(certs_dir / "ca.pem"), "client_auth": client_auth}
        # broker.listeners replaces broker.listen, which must then keep its default.
        b.config["broker"]["listen"] = "127.0.0.1:9092"
        b.config["broker"]["listeners"] = [
            {"name": "PLAINTEXT", "address": "127.0.0.1:%d" % b.port},
            {"name": "SSL", "address": "127.0.0.1:%d" % b.ssl_port, "protocol": "SSL", "tls": tls},
        ]
        b.config["logging"]["level"] = level
        b.config_path.write_text(json.dumps(b.config, indent=1) + "\n")
        brokers.append(b)
        return b.start() if start else b

    yield factory

    failures = []
    for b in brokers:
        if b.stop() == "hung":
            failures.append("broker %s did not stop after SIGTERM" % b.bootstrap)
        problems = b.log_problems()
        if problems:
            failures.append("broker log %s has unexpected errors:\n  %s" % (b.log_path, "\n  ".join(problems[:30])))
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, b in enumerate(brokers):
        if failed or failures:
            print("\nbroker log and config kept in %s" % keep_for_debugging(b, request.node.nodeid, n))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def ssl_args(b, client=None):
    args = ["-X", "security.protocol=ssl", "-X", "ssl.ca.location=%s" % (b.certs / "ca.pem")]
    if client:
        args += ["-X", "ssl.certificate.location=%s" % (b.certs / ("client-%s.pem" % client)),
                 "-X", "ssl.key.location=%s" % (b.certs / ("client-%s.key" % client))]
    return args


def kcat_ssl(b, args, client=None, input_text=None, check=True, timeout=60):
    cmd = ["kcat", "-b", "127.0.0.1:%d" % b.ssl_port, "-q"] + ssl_args(b, client) + list(args)
    proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail("kcat %s exited %d\nstderr:\n%s\nbroker log tail:\n%s"
                    % (" ".join(args), proc.returncode, proc.stderr[-3000:], b.log_tail()))
    return proc


def produce_ssl(b, topic, lines, client=None):
    return kcat_ssl(b, ["-P", "-t", topic, "-K:", "-X", "acks=all"], client=client,
                    input_text="".join(l + "\n" for l in lines))


def consume_ssl(b, topic, client=None):
    return kcat_ssl(b, ["-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k:%s\n"], client=client).stdout


def served_certificate(b):
    """DER of the certificate the SSL listener presents to a new connection."""
    ctx = ssl.create_default_context(cafile=None)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def pem_to_der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def api_versions_v0(sock):
    """Sends ApiVersions v0 on an open (TLS) socket and returns its error code."""
    body = struct.pack(">hhi", 18, 0, 7) + struct.pack(">h", 4) + b"test"
    sock.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        assert chunk, "connection closed before the response"
        head += chunk
    size = struct.unpack(">i", head)[0]
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed mid-response"
        data += chunk
    corr, err = struct.unpack(">ih", data[:6])
    assert corr == 7
    return err


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

def test_kcat_over_ssl_and_each_listener_advertises_itself(tls_broker, certs):
    b = tls_broker(certs)
    sent = ["k%03d:value-%03d-%s" % (i, i, "x" * (i % 50)) for i in range(500)]
    produce_ssl(b, "tls-kcat", sent)
    assert consume_ssl(b, "tls-kcat").splitlines() == sent
    # Metadata answers with the endpoint of the listener the request came in on.
    meta = json.loads(kcat_ssl(b, ["-L", "-J"]).stdout)
    assert [x["name"] for x in meta["brokers"]] == ["127.0.0.1:%d" % b.ssl_port]
    plain = subprocess.run(["kcat", "-b", b.bootstrap, "-q", "-L", "-J"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert [x["name"] for x in json.loads(plain.stdout)["brokers"]] == [b.bootstrap]
    # The same data is readable from the plaintext listener: one broker, two doors.
    out = subprocess.run(["kcat", "-b", b.bootstrap, "-q", "-C", "-t", "tls-kcat", "-e", "-o", "beginning",
                          "-f", "%k:%s\n"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.splitlines() == sent


def test_large_fetches_over_ssl_arrive_whole(tls_broker, certs):
    """About 24 MB of records read back in large fetches: TLS responses are staged and written
    in pieces, file ranges read into the stage, and writes that the socket cannot take at once
    resume with the same bytes; any slip shows as a corrupt or missing record."""
    b = tls_broker(certs, level="info")
    lines = ["k%05d:%s" % (i, ("%05d" % i) * 800) for i in range(6000)]  # 4 KB values
    produce_ssl(b, "tls-large", lines)
    out = kcat_ssl(b, ["-C", "-t", "tls-large", "-e", "-o", "beginning", "-f", "%k:%s\n",
                       "-X", "fetch.max.bytes=52428800", "-X", "max.partition.fetch.bytes=16777216"],
                   timeout=120).stdout
    got = out.splitlines()
    assert len(got) == len(lines)
    assert got == lines


@pytest.mark.parametrize("client_auth", ["none", "required"])
def test_confluent_kafka_over_ssl_with_a_consumer_group(tls_broker, certs, client_auth):
    """A group consumer finds its coordinator through FindCoordinator: the address it is given
    must be the SSL listener's, or its TLS handshake would go to the plaintext port. With
    client_auth required every connection presents alice's certificate."""
    b = tls_broker(certs, client_auth=client_auth)
    conf = {"bootstrap.servers": "127.0.0.1:%d" % b.ssl_port, "security.protocol": "SSL",
            "ssl.ca.location": str(certs / "ca.pem")}
    if client_auth == "required":
        conf.update({"ssl.certificate.location": str(certs / "client-alice.pem"),
                     "ssl.key.location": str(certs / "client-alice.key")})
    p = confluent_kafka.Producer(dict(conf, **{"acks": "all"}))
    for i in range(200):
        p.produce("tls-confluent", key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(30) == 0
    c = confluent_kafka.Consumer(dict(conf, **{"group.id": "tls-group", "auto.offset.reset": "earliest",
                                               "enable.auto.commit": False}))
    c.subscribe(["tls-confluent"])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < 200 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m.value())
    c.commit(asynchronous=False)
    committed = c.committed([confluent_kafka.TopicPartition("tls-confluent", 0)], timeout=30)
    c.close()
    assert got == [b"v%d" % i for i in range(200)]
    assert committed[0].offset == 200


def test_mutual_tls_required(tls_broker, certs, tmp_path):
    b = tls_broker(certs, client_auth="required")
    # A client with a certificate from the configured CA is served, as User:CN=alice.
    produce_ssl(b, "tls-mtls", ["a:1", "b:2"], client="alice")
    assert consume_ssl(b, "tls-mtls", client="alice").splitlines() == ["a:1", "b:2"]
    wait_until(lambda: "principal User:CN=alice" in b.log_text(), 10, "the principal in the broker log")
    # No certificate: refused during the handshake.
    proc = kcat_ssl(b, ["-L"], check=False, timeout=30)
    assert proc.returncode != 0, "a client without a certificate was served"
    # A certificate from another CA: refused too.
    other = tmp_path / "other"
    gen_certs(other, clients=("mallory",))
    cmd = ["kcat", "-b", "127.0.0.1:%d" % b.ssl_port, "-q", "-L", "-X", "security.protocol=ssl",
           "-X", "ssl.ca.location=%s" % (certs / "ca.pem"),
           "-X", "ssl.certificate.location=%s" % (other / "client-mallory.pem"),
           "-X", "ssl.key.location=%s" % (other / "client-mallory.key")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0, "a client with a certificate from a foreign CA was served"
    log = b.log_text()
    assert "peer did not return a certificate" in log or "certificate required" in log, b.log_tail()
    assert "certificate verify failed" in log, b.log_tail()
    assert "User:CN=mallory" not in log
    assert b.alive()


def test_client_certificate_is_optional_when_requested(tls_broker, certs):
    b = tls_broker(certs, client_auth="requested")
    produce_ssl(b, "tls-requested", ["anon:1"])
    produce_ssl(b, "tls-requested", ["alice:2"], client="alice")
    assert consume_ssl(b, "tls-requested").splitlines() == ["anon:1", "alice:2"]
    log = b.log_text()
    assert "principal User:ANONYMOUS" in log and "principal User:CN=alice" in log


def test_plaintext_client_on_the_tls_port_is_refused_cleanly(tls_broker, certs):
    b = tls_broker(certs)
    proc = subprocess.run(["kcat", "-b", "127.0.0.1:%d" % b.ssl_port, "-L", "-m", "3"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    # librdkafka's own diagnosis of a plaintext client talking to an SSL listener.
    assert "security.protocol" in proc.stderr or "transport failure" in proc.stderr, proc.stderr
    wait_until(lambda: "wrong version number" in b.log_text(), 10, "the refused handshake in the log")
    # Raw garbage and an early close are refused the same way.
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10) as s:
        s.sendall(b"\x00\x00\x00\x10" + b"\xff" * 16)
        s.settimeout(10)
        try:
            # At most a TLS alert, then the close (a reset when our bytes were left unread).
            data = s.recv(4096)
            assert data == b"" or data[0] == 0x15, data
        except ConnectionResetError:
            pass
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10):
        pass
    # The broker still serves TLS clients and plaintext clients on their own port.
    assert b.alive()
    produce_ssl(b, "tls-after-refusal", ["k:v"])
    assert consume_ssl(b, "tls-after-refusal").splitlines() == ["k:v"]


def test_restart_keeps_data_over_ssl(tls_broker, certs):
    b = tls_broker(certs, level="info")
    sent = ["r%d:%d" % (i, i) for i in range(300)]
    produce_ssl(b, "tls-restart", sent)
    b.restart()
    assert consume_ssl(b, "tls-restart").splitlines() == sent
    produce_ssl(b, "tls-restart", ["after:restart"])
    assert consume_ssl(b, "tls-restart").splitlines() == sent + ["after:restart"]


def test_sighup_reloads_the_certificate(tls_broker, tmp_path):
    live = tmp_path / "live"
    gen_certs(live)
    b = tls_broker(live, level="info")
    first = pem_to_der(live / "server.pem")
    assert served_certificate(b) == first
    # A connection opened before the reload keeps working with the old session.
    ctx = ssl.create_default_context(cafile=str(live / "ca.pem"))
    old_conn = ctx.wrap_socket(socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10),
                               server_hostname="localhost")
    assert api_versions_v0(old_conn) == 0

    # New CA and certificate in the same files, then SIGHUP.
    gen_certs(live, force=True)
    second = pem_to_der(live / "server.pem")
    assert second != first
    os.kill(b.pid, signal.SIGHUP)
    wait_until(lambda: "TLS certificate and key reloaded" in b.log_text(), 10, "the reload in the log")
    assert served_certificate(b) == second
    assert api_versions_v0(old_conn) == 0
    old_conn.close()
    produce_ssl(b, "tls-reload", ["k:v"])  # clients trusting the new CA are served
    assert consume_ssl(b, "tls-reload").splitlines() == ["k:v"]

    # A reload whose key does not load keeps the previous certificate and says why.
    b.expect_error(r"TLS reload failed, still using the previous certificate")
    (live / "server.key").write_text("not a key\n")
    os.kill(b.pid, signal.SIGHUP)
    wait_until(lambda: "TLS reload failed" in b.log_text(), 10, "the failed reload in the log")
    assert served_certificate(b) == second
    assert b.alive()


def test_bad_certificate_path_refuses_to_start(tls_broker, tmp_path):
    certs = tmp_path / "c"
    gen_certs(certs)
    b = tls_broker(certs, start=False)
    os.unlink(certs / "server.pem")
    proc = subprocess.run([streambus_bin(), "broker", "--config", str(b.config_path)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert "listener SSL: TLS: cannot load certificate %s" % (certs / "server.pem") in proc.stderr, proc.stderr
    # --validate-config loads the files as start-up does (it used to say "configuration OK").
    proc = subprocess.run([streambus_bin(), "broker", "--config", str(b.config_path), "--validate-config"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "configuration OK" not in proc.stdout, proc.stdout
    assert "listener SSL: TLS: cannot load certificate %s" % (certs / "server.pem") in proc.stderr, proc.stderr


def assert_sslscan_strong(port):
    """sslscan against 127.0.0.1:port finds TLS 1.2 and 1.3 only, AEAD forward-secret ciphers of
    128 bits or more, no renegotiation, no heartbleed. Also used by test_security_deploy.py."""
    proc = subprocess.run(["sslscan", "--no-colour", "--xml=-", "127.0.0.1:%d" % port], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    xml = proc.stdout[proc.stdout.index("<?xml"):]
    root = ET.fromstring(xml)
    enabled = {"%s%s" % (p.get("type").upper(), p.get("version")) for p in root.iter("protocol")
               if p.get("enabled") == "1"}
    assert enabled == {"TLS1.2", "TLS1.3"}, (port, enabled)
    ciphers = [(c.get("sslversion"), c.get("cipher"), int(c.get("bits"))) for c in root.iter("cipher")]
    assert ciphers, "sslscan found no cipher at all on port %d" % port
    for version, name, bits in ciphers:
        assert version in ("TLSv1.2", "TLSv1.3"), (version, name)
        # AEAD only, forward secret only, 128 bits or more.
        assert "GCM" in name or "CHACHA20" in name, name
        assert version == "TLSv1.3" or name.startswith("ECDHE-"), name
        assert bits >= 128, (name, bits)
    for flag in ("renegotiation", "compression", "heartbleed"):
        for node in root.iter(flag):
            if flag == "renegotiation":
                assert node.get("supported") == "0", ET.tostring(node)
            if flag == "heartbleed":
                assert node.get("vulnerable") == "0", ET.tostring(node)


@pytest.mark.skipif(shutil.which("sslscan") is None, reason="sslscan is not installed (install-deps.sh test)")
def test_sslscan_finds_no_old_protocol_and_no_weak_cipher(tls_broker, certs):
    b = tls_broker(certs, level="info")
    assert_sslscan_strong(b.ssl_port)


def test_ctl_certs_generate_keeps_existing_files_and_private_keys_private(tmp_path):
    d = tmp_path / "c"
    gen_certs(d, clients=("alice", "bob"))
    for name in ("ca", "server", "client-alice", "client-bob"):
        assert (d / (name + ".pem")).exists()
        assert (os.stat(d / (name + ".key")).st_mode & 0o777) == 0o600
    before = (d / "ca.pem").read_bytes()
    proc = gen_certs(d, check=False)
    assert proc.returncode == 1 and "exists (use --force to overwrite)" in proc.stderr
    assert (d / "ca.pem").read_bytes() == before
    proc = subprocess.run([streambus_bin(), "ctl", "certs", "generate", "--out", str(d), "--client", "no spaces"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "client name \"no spaces\"" in proc.stderr
    # The server certificate verifies against the CA for localhost and 127.0.0.1.
    ctx = ssl.create_default_context(cafile=str(d / "ca.pem"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(d / "server.pem"), str(d / "server.key"))
    for host in ("localhost", "127.0.0.1"):
        a, c = socket.socketpair()
        with a, c:
            t = threading.Thread(target=lambda: server.wrap_socket(a, server_side=True).close())
            t.start()
            ctx.wrap_socket(c, server_hostname=host).close()
            t.join(10)
