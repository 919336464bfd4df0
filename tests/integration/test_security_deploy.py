"""Security as deployed: production mode refuses a Kafka listener without TLS beyond loopback
(naming the setting), the broker says when a listener is open, and the documented all-secure
configuration (config/secure/broker.yaml + config/secure/http-security.yaml) starts in
production mode and works with real clients: kcat over SASL_SSL (SCRAM-SHA-512) and over mTLS,
a plaintext client refused on the TLS port, HTTPS with a login token on the admin API, and
sslscan finding nothing below TLS 1.2 and no weak cipher on each of its Kafka TLS ports.

The config files are the ones in the repository; only paths and ports are replaced."""

import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import free_port, port_accepts, streambus_bin, wait_until
from test_tls import assert_sslscan_strong

REPO = Path(__file__).resolve().parents[2]
SECRET = "deploy-test-secret-0123456789abcdef0123456789"
ADMIN_PASSWORD = "Deploy-Admin-Pass-42"


def run_broker(workdir, config, extra=(), env=None, http_security=None):
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "broker.yaml"
    cfg.write_text(json.dumps(config, indent=1))  # JSON is YAML
    args = [streambus_bin(), "broker", "--config", str(cfg)] + list(extra)
    if http_security:
        sec = workdir / "http-security.yaml"
        sec.write_text(json.dumps(http_security, indent=1))
        args += ["--http-security", str(sec)]
    e = dict(os.environ)
    e.pop("STREAMBUS_HTTP_SECURITY", None)
    e.update(env or {})
    return args, e


def refused(args, env):
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


class Running:
    def __init__(self, args, env, log, port):
        self.log_path = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(lambda: self.proc.poll() is not None or port_accepts("127.0.0.1", port), 30, "broker port")
        if self.proc.poll() is not None:
            pytest.fail("broker exited with %s:\n%s" % (self.proc.returncode, self.log()[-3000:]))

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.log()
        assert "AddressSanitizer" not in log and "runtime error:" not in log, log[-3000:]


def base_config(workdir):
    return {"broker": {"data_dir": str(workdir / "data")}, "admin": {"listen": ""},
            "logging": {"level": "info", "format": "json"}}


# --------------------------------------------------------------------------------------------
# production mode and Kafka listeners
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["listen_any", "plaintext_listener_any", "sasl_plaintext_listener_any"])
def test_production_refuses_kafka_listener_without_tls_beyond_loopback(tmp_path, case):
    cfg = base_config(tmp_path)
    port, other = free_port(), free_port()
    if case == "listen_any":
        cfg["broker"]["listen"] = "0.0.0.0:%d" % port
        want = "broker.listen"
    else:
        proto = "PLAINTEXT" if case == "plaintext_listener_any" else "SASL_PLAINTEXT"
        cfg["broker"]["listeners"] = [
            {"name": "LOCAL", "address": "127.0.0.1:%d" % other, "protocol": "PLAINTEXT"},
            {"name": "OUTSIDE", "address": "0.0.0.0:%d" % port, "protocol": proto}]
        want = "broker.listeners[1] (OUTSIDE, protocol %s" % proto
    args, env = run_broker(tmp_path / "p", cfg, extra=["--production"])
    code, out = refused(args, env)
    assert code != 0, out
    assert "production mode" in out and want in out, out
    assert not port_accepts("127.0.0.1", port)

    # The same config starts in development mode, and says the listener is open to the world
    # (a SASL_PLAINTEXT listener authenticates, so it is not called open).
    args, env = run_broker(tmp_path / "d", cfg)
    b = Running(args, env, tmp_path / "d.log", port)
    try:
        log = b.log()
        opened = re.findall(r"Kafka listener \S+ on [^ ]+ is OPEN[^\"]*", log)
        if case == "sasl_plaintext_listener_any":
            assert len(opened) == 1 and "LOCAL" in opened[0] and "loopback only" in opened[0], opened
        else:
            assert any("NOT on loopback" in line for line in opened), log[-2000:]
    finally:
        b.stop()


def test_production_accepts_plaintext_on_loopback_and_tls_beyond(tmp_path):
    certs = tmp_path / "certs"
    subprocess.run([streambus_bin(), "ctl", "certs", "generate", "--out", str(certs)], check=True,
                   capture_output=True, timeout=60)
    cfg = base_config(tmp_path)
    local, outside = free_port(), free_port()
    cfg["broker"]["listeners"] = [
        {"name": "LOCAL", "address": "127.0.0.1:%d" % local, "protocol": "PLAINTEXT"},
        {"name": "OUTSIDE", "address": "0.0.0.0:%d" % outside, "protocol": "SASL_SSL",
         "tls": {"cert": str(certs / "server.pem"), "key": str(certs / "server.key")}}]
    args, env = run_broker(tmp_path / "p", cfg, extra=["--production"])
    b = Running(args, env, tmp_path / "p.log", outside)
    try:
        assert port_accepts("127.0.0.1", local)
        assert "loopback only" in b.log()
    finally:
        b.stop()


# --------------------------------------------------------------------------------------------
# the documented all-secure configuration
# --------------------------------------------------------------------------------------------

def secure_config(tmp_path, certs, ports):
    """config/secure/*.yaml with this test's paths and ports."""
    broker = yaml.safe_load((REPO / "config/secure/broker.yaml").read_text())
    sec = yaml.safe_load((REPO / "config/secure/http-security.yaml").read_text())
    broker["broker"]["data_dir"] = str(tmp_path / "data")
    by_name = {l["name"]: l for l in broker["broker"]["listeners"]}
    assert set(by_name) == {"INTERNAL", "SASL_SSL", "MTLS"}
    for name, l in by_name.items():
        host = l["address"].rsplit(":", 1)[0]
        l["address"] = "%s:%d" % (host, ports[name])
        if "advertised" in l:
            l["advertised"] = "127.0.0.1:%d" % ports[name]
        for k, f in (("cert", "server.pem"), ("key", "server.key"), ("ca", "ca.pem")):
            if k in l.get("tls", {}):
                l["tls"][k] = str(certs / f)
    broker["admin"]["listen"] = "127.0.0.1:%d" % ports["admin"]
    broker["logging"] = {"level": "info", "format": "json"}
    sec["http"]["tls"] = {"cert_file": str(certs / "server.pem"), "key_file": str(certs / "server.key")}
    return broker, sec


def kcat(args, input_text=None, timeout=60):
    return subprocess.run(["kcat"] + args, input=input_text, capture_output=True, text=True, timeout=timeout)


def test_documented_secure_config_starts_and_works(tmp_path):
    certs = tmp_path / "certs"
    subprocess.run([streambus_bin(), "ctl", "certs", "generate", "--out", str(certs), "--client", "alice"],
                   check=True, capture_output=True, timeout=60)
    ports = {"INTERNAL": free_port(), "SASL_SSL": free_port(), "MTLS": free_port(), "admin": free_port()}
    broker, sec = secure_config(tmp_path, certs, ports)
    env = {"STREAMBUS_JWT_SECRET": SECRET, "STREAMBUS_ADMIN_PASSWORD": ADMIN_PASSWORD}

    # Bootstrap as the file's comment says: the first user is made with the authorizer off.
    args, e = run_broker(tmp_path / "boot", broker, extra=["--set", "authorizer.enabled=false"])
    b = Running(args, e, tmp_path / "boot.log", ports["INTERNAL"])
    try:
        r = subprocess.run([streambus_bin(), "ctl", "--bootstrap-server", "127.0.0.1:%d" % ports["INTERNAL"],
                            "user", "add", "admin", "--mechanism", "SCRAM-SHA-512"],
                           input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        b.stop()

    # The file as documented, in production mode (security.mode in http-security.yaml).
    assert sec["security"]["mode"] == "production"
    args, e = run_broker(tmp_path / "run", broker, env=env, http_security=sec)
    b = Running(args, e, tmp_path / "run.log", ports["SASL_SSL"])
    try:
        wait_until(lambda: port_accepts("127.0.0.1", ports["admin"]), 30, "admin HTTPS")
        sasl = ["-b", "127.0.0.1:%d" % ports["SASL_SSL"], "-X", "security.protocol=SASL_SSL",
                "-X", "ssl.ca.location=%s" % (certs / "ca.pem"), "-X", "sasl.mechanisms=SCRAM-SHA-512",
                "-X", "sasl.username=admin", "-X", "sasl.password=" + ADMIN_PASSWORD]
        r = kcat(sasl + ["-t", "secure-demo", "-P"], input_text="one\ntwo\n")
        assert r.returncode == 0, r.stderr
        r = kcat(sasl + ["-t", "secure-demo", "-C", "-o", "beginning", "-e", "-q"])
        assert r.returncode == 0 and r.stdout.split() == ["one", "two"], r.stdout + r.stderr
        # a wrong password is refused with Kafka's words
        bad = [a.replace(ADMIN_PASSWORD, "wrong-password-1") for a in sasl]
        r = kcat(bad + ["-m", "3", "-L"])
        assert r.returncode != 0 and "invalid credentials" in r.stderr, r.stderr
        # mTLS: alice's certificate is accepted (she is not a super user and has no ACLs, so the
        # topic is hidden from her); without a certificate the handshake is refused.
        mtls = ["-b", "127.0.0.1:%d" % ports["MTLS"], "-X", "security.protocol=ssl",
                "-X", "ssl.ca.location=%s" % (certs / "ca.pem")]
        r = kcat(mtls + ["-X", "ssl.certificate.location=%s" % (certs / "client-alice.pem"),
                         "-X", "ssl.key.location=%s" % (certs / "client-alice.key"), "-L", "-J"])
        assert r.returncode == 0, r.stderr
        assert "secure-demo" not in r.stdout
        r = kcat(mtls + ["-m", "3", "-L"])
        assert r.returncode != 0
        # a plaintext client on the TLS port gets librdkafka's hint, not an answer
        r = kcat(["-b", "127.0.0.1:%d" % ports["SASL_SSL"], "-m", "3", "-L"])
        assert r.returncode != 0 and "security.protocol" in r.stderr, r.stderr

        # the admin API: HTTPS only, tokens required, the bootstrap admin logs in
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        url = "https://127.0.0.1:%d" % ports["admin"]
        assert urllib.request.urlopen(url + "/health/live", context=ctx, timeout=10).status == 200
        with pytest.raises(urllib.error.HTTPError) as ex:
            urllib.request.urlopen(url + "/metrics", context=ctx, timeout=10)
        assert ex.value.code == 401
        req = urllib.request.Request(url + "/auth/login", method="POST",
                                     data=json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
        token = json.loads(urllib.request.urlopen(req, context=ctx, timeout=30).read())["accessToken"]
        req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + token})
        assert b"streambus_" in urllib.request.urlopen(req, context=ctx, timeout=10).read()
        # the Kafka TLS ports of the documented config: nothing below TLS 1.2, no weak cipher.
        # (The HTTPS admin port is GnuTLS, which sslscan cannot judge; testssl checks the same
        # server code and priorities in test_http_security.py::test_tls_listener_sslscan_and_headers.)
        if shutil.which("sslscan"):
            for name in ("SASL_SSL", "MTLS"):
                assert_sslscan_strong(ports[name])
        log = b.log()
        assert "production mode" in log
        assert ADMIN_PASSWORD not in log and SECRET not in log
    finally:
        b.stop()


# --------------------------------------------------------------------------------------------
# HTTPS certificate reload without a restart
# --------------------------------------------------------------------------------------------

def make_cert(d, name):
    key, cert = d / (name + ".key"), d / (name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert.read_bytes(), key.read_bytes()


def served_cert(port):
    return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port))))


def same_cert(pem_a, pem_b):
    return ssl.PEM_cert_to_DER_cert(pem_a) == ssl.PEM_cert_to_DER_cert(pem_b)


def test_https_certificate_reload_on_file_change_and_sighup(tmp_path):
    import http.client
    import signal
    d = tmp_path / "tls"
    d.mkdir()
    cert_a, key_a = make_cert(d, "first")
    cert_b, key_b = make_cert(d, "second")
    cert_file, key_file = d / "server.crt", d / "server.key"
    cert_file.write_bytes(cert_a)
    key_file.write_bytes(key_a)
    cfg = base_config(tmp_path)
    kafka, http_port = free_port(), free_port()
    cfg["broker"]["listen"] = "127.0.0.1:%d" % kafka
    cfg["admin"]["listen"] = "127.0.0.1:%d" % http_port
    sec = {"http": {"tls": {"cert_file": str(cert_file), "key_file": str(key_file)}}}
    args, env = run_broker(tmp_path / "b", cfg, http_security=sec)
    b = Running(args, env, tmp_path / "b.log", http_port)
    try:
        assert same_cert(served_cert(http_port), cert_a.decode())
        # a connection opened before the renewal, kept alive across it
        ctx = ssl.create_default_context(cadata=cert_a.decode())
        ctx.check_hostname = False
        kept = http.client.HTTPSConnection("127.0.0.1", http_port, context=ctx, timeout=10)
        kept.request("GET", "/health/live")
        assert kept.getresponse().read() and True

        # Renewal: the key first, the certificate a moment later (not atomic on purpose: the
        # server must not act between the two writes, and must pick up the pair).
        key_file.write_bytes(key_b)
        cert_file.write_bytes(cert_b)
        wait_until(lambda: same_cert(served_cert(http_port), cert_b.decode()), 20, "the new certificate")
        assert "HTTPS certificate and key reloaded" in b.log()
        assert "reload failed" not in b.log(), b.log()[-2000:]
        kept.request("GET", "/health/live")
        resp = kept.getresponse()
        assert resp.status == 200 and b"live" in resp.read()
        kept.close()

        # A broken file is refused, named, and the last good certificate stays in use.
        cert_file.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        wait_until(lambda: "reload failed" in b.log(), 20, "the failed reload to be logged")
        assert str(cert_file) in [l for l in b.log().splitlines() if "reload failed" in l][0]
        assert same_cert(served_cert(http_port), cert_b.decode())
        # SIGHUP tries again at once although the files did not change (and fails again).
        failures = b.log().count("reload failed")
        os.kill(b.proc.pid, signal.SIGHUP)
        wait_until(lambda: b.log().count("reload failed") > failures, 20, "a reload attempt after SIGHUP")
        assert same_cert(served_cert(http_port), cert_b.decode())
        assert b.proc.poll() is None
    finally:
        b.stop()
