"""HTTP API security, end to end: the real broker admin server and the real connect REST API
started with `--http-security FILE`, driven with python urllib, kcat and testssl.sh.

Covers: JWT refusals (expired, not yet valid, forged, alg none, RS256/HS256 key confusion, wrong
audience) → 401; RS256 from a key file accepted; wrong role → 403; login (Argon2id), refresh
rotation, logout revocation; rate limit → 429 with Retry-After; TLS with testssl.sh (nothing
below TLS 1.2, no weak ciphers) and the security headers; the JWT secret from *_FILE and from
a fake Vault (tests/fixtures/fake_vault.py — a fake, not Vault); production-mode refusals
naming the setting; connector secrets redacted in GET /connectors/{name}/config.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, port_accepts, streambus_bin, wait_until

HERE = Path(__file__).resolve().parent
FAKE_VAULT = HERE.parent / "fixtures" / "fake_vault.py"
SECRET = "integration-secret-0123456789abcdef0123456789"
AUD = "streambus-admin"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, key=SECRET.encode(), header=None):
    h = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()) if key is not None else ""
    return h + "." + p + "." + sig


def rs256(claims, private_pem_path):
    h = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private_pem_path)],
                         input=(h + "." + p).encode(), capture_output=True, check=True).stdout
    return h + "." + p + "." + b64(sig)


def claims(**over):
    now = int(time.time())
    c = {"sub": "tester", "role": "viewer", "use": "access", "aud": AUD, "iat": now, "exp": now + 300}
    c.update(over)
    return c


def request(url, method="GET", token=None, body=None, headers=None, context=None):
    """(status, headers, parsed body or text)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            status, hdrs, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, e.headers, e.read().decode()
    try:
        return status, hdrs, json.loads(text) if text.strip() else None
    except ValueError:
        return status, hdrs, text


class Server:
    """One `streambus broker` or `streambus connect` process with an HTTP security file."""

    def __init__(self, workdir, role, security, env=None, extra_args=(), bootstrap=None, admin_host="127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.role = role
        self.http_port = free_port()
        self.host = admin_host
        self.log_path = self.workdir / (role + ".log")
        self.security_path = self.workdir / "http-security.yaml"
        self.security_path.write_text(json.dumps(security))  # JSON is YAML
        if role == "broker":
            self.kafka_port = free_port()
            cfg = ("broker:\n  listen: \"127.0.0.1:%d\"\n  data_dir: \"%s\"\nadmin:\n  listen: \"%s:%d\"\n"
                   "logging:\n  level: info\n  format: json\n" % (self.kafka_port, self.workdir / "data", admin_host,
                                                                  self.http_port))
        else:
            cfg = ("connect:\n  bootstrap_servers: \"%s\"\n  rest_listen: \"127.0.0.1:%d\"\n"
                   "logging:\n  level: info\n  format: json\n" % (bootstrap, self.http_port))
        self.config_path = self.workdir / (role + ".yaml")
        self.config_path.write_text(cfg)
        self.env = dict(os.environ)
        self.env.pop("STREAMBUS_HTTP_SECURITY", None)
        self.env.update(env or {})
        self.args = [streambus_bin(), role, "--config", str(self.config_path), "--http-security",
                     str(self.security_path)] + list(extra_args)
        self.proc = None

    def run_to_exit(self, timeout=60):
        """Runs a server expected to refuse to start: (exit status, output)."""
        r = subprocess.run(self.args, env=self.env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.proc.poll() is not None or port_accepts("127.0.0.1", self.http_port), 30,
                   "%s HTTP port" % self.role)
        if self.proc.poll() is not None:
            pytest.fail("%s exited with %s:\n%s" % (self.role, self.proc.returncode, self.log()[-3000:]))
        return self

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, path, scheme="http"):
        return "%s://127.0.0.1:%d%s" % (scheme, self.http_port, path)


@pytest.fixture
def servers():
    made = []
    yield made
    for s in made:
        s.stop()
    for s in made:
        log = s.log()
        assert SECRET not in log, "the JWT secret appeared in the %s log" % s.role
        assert "AddressSanitizer" not in log and "runtime error:" not in log, log[-3000:]


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    d = tmp_path_factory.mktemp("rsa")
    priv, pub = d / "key.pem", d / "pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(priv)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    return priv, pub


def auth_security(**over):
    sec = {"http": {"auth": {"enabled": "true", "audience": AUD, "protect_health": "true",
                             "clock_skew_s": "30"}}}
    for k, v in over.items():
        sec["http"]["auth"][k] = v
    return sec


def test_jwt_refusals_and_roles(tmp_path, servers, rsa_key):
    priv, pub = rsa_key
    sec = auth_security(jwt_key_files=str(pub), revocations_file=str(tmp_path / "revoked.txt"))
    s = Server(tmp_path / "b", "broker", sec, env={"STREAMBUS_JWT_SECRET": SECRET,
                                                   "STREAMBUS_ADMIN_PASSWORD": "correct horse battery"})
    servers.append(s.start())
    metrics = s.url("/metrics")

    # /health/live stays open; /health/ready and /metrics need a token when protect_health is on.
    assert request(s.url("/health/live"))[0] == 200
    status, hdrs, body = request(metrics)
    assert status == 401 and "Bearer" in hdrs["WWW-Authenticate"]
    assert request(metrics, token=hs256(claims()))[0] == 200
    assert request(s.url("/health/ready"), token=hs256(claims()))[0] == 200

    now = int(time.time())
    refused = {
        "expired": hs256(claims(exp=now - 120)),
        "not yet valid": hs256(claims(nbf=now + 600)),
        "forged": hs256(claims(role="admin"), key=b"not-the-secret-0123456789abcdef012345"),
        "alg none": hs256(claims(role="admin"), key=None, header={"alg": "none", "typ": "JWT"}),
        "RS256 key as HS256 secret": hs256(claims(role="admin"), key=pub.read_bytes()),
        "wrong audience": hs256(claims(aud="someone-else")),
        "no audience": hs256({k: v for k, v in claims().items() if k != "aud"}),
    }
    for what, tok in refused.items():
        status, hdrs, body = request(metrics, token=tok)
        assert status == 401, "%s: %s %s" % (what, status, body)
        assert tok not in json.dumps(body), "%s: the answer quotes the token" % what
    # The RS256 key from the key file verifies a properly signed RS256 token.
    assert request(metrics, token=rs256(claims(), priv))[0] == 200

    # Roles: the users API needs admin.
    status, _, body = request(s.url("/auth/users"), token=hs256(claims(role="operator")))
    assert status == 403 and "needs admin" in body["message"]

    # Login with the bootstrap admin (Argon2id), then refresh rotation and logout.
    status, _, body = request(s.url("/auth/login"), "POST", body={"username": "admin", "password": "wrong"})
    assert status == 401 and body["message"] == "wrong username or password"
    status, _, body = request(s.url("/auth/login"), "POST", body={"username": "nobody", "password": "x"})
    assert status == 401 and body["message"] == "wrong username or password"
    status, _, pair = request(s.url("/auth/login"), "POST",
                              body={"username": "admin", "password": "correct horse battery"})
    assert status == 200 and pair["role"] == "admin", pair
    status, _, users = request(s.url("/auth/users"), token=pair["accessToken"])
    assert status == 200 and users["users"] == [{"name": "admin", "role": "admin"}]
    assert "password" not in json.dumps(users)
    # admin creates a viewer; the viewer logs in and is refused admin routes (403)
    status, _, _ = request(s.url("/auth/users/vera"), "PUT", token=pair["accessToken"],
                           body={"password": "vera-long-password", "role": "viewer"})
    assert status == 201
    status, _, vpair = request(s.url("/auth/login"), "POST", body={"username": "vera", "password": "vera-long-password"})
    assert status == 200 and vpair["role"] == "viewer"
    assert request(s.url("/auth/users"), token=vpair["accessToken"])[0] == 403
    assert request(metrics, token=vpair["accessToken"])[0] == 200

    status, _, pair2 = request(s.url("/auth/refresh"), "POST", body={"refreshToken": pair["refreshToken"]})
    assert status == 200
    # the used refresh token is revoked (rotation): a second use is refused
    status, _, body = request(s.url("/auth/refresh"), "POST", body={"refreshToken": pair["refreshToken"]})
    assert status == 401 and "revoked" in body["message"]
    # a refresh token is not an access token
    assert request(metrics, token=pair2["refreshToken"])[0] == 401
    # logout revokes the access token, and the revocation survives a restart
    assert request(s.url("/auth/logout"), "POST", token=pair2["accessToken"],
                   body={"refreshToken": pair2["refreshToken"]})[0] == 204
    assert request(metrics, token=pair2["accessToken"])[0] == 401
    # token ids are not secrets, but the file is the server's own: owner only, like the others
    assert (tmp_path / "revoked.txt").stat().st_mode & 0o777 == 0o600
    s.stop()
    s.start()
    status, _, body = request(metrics, token=pair2["accessToken"])
    assert status == 401 and "revoked" in body["message"]


def test_rate_limit_answers_429_with_retry_after(tmp_path, servers):
    sec = {"http": {"rate_limit": {"per_address": "2"}}}
    s = Server(tmp_path / "b", "broker", sec)
    servers.append(s.start())
    statuses = []
    retry_after = None
    for _ in range(20):
        status, hdrs, body = request(s.url("/metrics"))
        statuses.append(status)
        if status == 429:
            retry_after = hdrs["Retry-After"]
            assert "too many requests" in body["message"]
            break
    assert 429 in statuses, statuses
    assert retry_after is not None and int(retry_after) >= 1
    # the liveness probe is never rate-limited
    assert all(request(s.url("/health/live"))[0] == 200 for _ in range(10))
    assert "OPEN: no authentication" in s.log()


def make_cert(d):
    key, cert = d / "tls.key", d / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_a_key_that_does_not_match_its_certificate_is_named_at_start_up(tmp_path):
    cert, _ = make_cert(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = make_cert(tmp_path / "other")
    sec = {"http": {"tls": {"cert_file": str(cert), "key_file": str(other_key)}}}
    want = ("http.tls.cert_file %s / http.tls.key_file %s: the key does not match the certificate"
            % (cert, other_key))
    code, out = Server(tmp_path / "b", "broker", sec).run_to_exit()
    assert code != 0 and want in out, out
    # --validate-config reads the files too, so the mistake shows before a deploy.
    code, out = Server(tmp_path / "v", "broker", sec, extra_args=["--validate-config"]).run_to_exit()
    assert code == 1 and want in out and "configuration OK" not in out, out


def test_tls_listener_sslscan_and_headers(tmp_path, servers):
    cert, key = make_cert(tmp_path)
    sec = {"http": {"tls": {"cert_file": str(cert), "key_file": str(key)},
                    "cors_origins": "https://ui.example.com"}}
    s = Server(tmp_path / "b", "broker", sec)
    servers.append(s.start())
    ctx = ssl.create_default_context(cafile=str(cert))
    status, hdrs, body = request(s.url("/health/live", "https"), context=ctx)
    assert status == 200
    assert hdrs["Strict-Transport-Security"].startswith("max-age=")
    assert hdrs["X-Content-Type-Options"] == "nosniff"
    assert hdrs["X-Frame-Options"] == "DENY"
    # CORS: the allow-listed origin gets the header, another origin does not
    status, hdrs, _ = request(s.url("/health/live", "https"), context=ctx, headers={"Origin": "https://ui.example.com"})
    assert hdrs["Access-Control-Allow-Origin"] == "https://ui.example.com"
    status, hdrs, _ = request(s.url("/health/live", "https"), context=ctx, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in hdrs
    status, _, _ = request(s.url("/metrics", "https"), "OPTIONS", context=ctx,
                           headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert status == 403
    # plaintext HTTP to the TLS port gets no HTTP answer
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(s.url("/health/live"), timeout=5).read()

    assert_testssl_strong(s.http_port)


def assert_testssl_strong(port):
    """testssl.sh (Debian's testssl) against 127.0.0.1:port: TLS 1.2 and 1.3 offered, nothing
    older, only AEAD ciphers and none of the weak families."""
    # testssl.sh (Debian's testssl): the protocols offered and every cipher per protocol.
    # (sslscan 2.0.7's raw TLS 1.2 probe is answered "handshake message out of context" by
    # GnuTLS and then reports TLS 1.2 disabled although openssl s_client -tls1_2 connects, so
    # it cannot judge this listener.)
    out = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-E",
                          "127.0.0.1:%d" % port], capture_output=True, text=True, timeout=600).stdout
    for old in ("SSLv2", "SSLv3", "TLS 1", "TLS 1.1"):
        line = re.search(r"^ %s\s+(.*)$" % re.escape(old), out, re.M)
        assert line and "not offered" in line.group(1), "%s:\n%s" % (old, out)
    assert re.search(r"^ TLS 1\.2\s+offered", out, re.M), out
    # the cipher listing: one section per protocol, each cipher line starting with its hex code
    sections = re.split(r"^(SSLv2|SSLv3|TLS 1|TLS 1\.1|TLS 1\.2|TLS 1\.3)\s*$", out, flags=re.M)
    ciphers = {}
    for name, body in zip(sections[1::2], sections[2::2]):
        ciphers[name] = re.findall(r"^ x[0-9a-f]+\s+(\S+)", body, re.M)
    assert ciphers.get("TLS 1.2") and ciphers.get("TLS 1.3"), out
    for old in ("SSLv2", "SSLv3", "TLS 1", "TLS 1.1"):
        assert not ciphers.get(old), "%s offers %s" % (old, ciphers.get(old))
    for proto in ("TLS 1.2", "TLS 1.3"):
        for cipher in ciphers[proto]:
            assert not re.search(r"CBC|RC4|DES|NULL|EXP|MD5|anon|ADH|AECDH|PSK", cipher), "weak cipher %s" % cipher
            assert re.search(r"GCM|CHACHA20", cipher), "non-AEAD cipher %s (%s)" % (cipher, proto)


def test_connect_https_testssl_and_headers(tmp_path, broker, servers):
    """The connect REST server takes the same TLS settings through the shared layer: it answers
    over HTTPS only, with HSTS, and testssl finds the same protocol and cipher policy there."""
    cert, key = make_cert(tmp_path)
    sec = {"http": {"tls": {"cert_file": str(cert), "key_file": str(key)}}}
    c = Server(tmp_path / "c", "connect", sec, bootstrap=broker.bootstrap)
    servers.append(c.start())
    ctx = ssl.create_default_context(cafile=str(cert))
    wait_until(lambda: request(c.url("/connectors", "https"), context=ctx)[0] == 200, 30, "connect over HTTPS")
    status, hdrs, _ = request(c.url("/connectors", "https"), context=ctx)
    assert hdrs["Strict-Transport-Security"].startswith("max-age=")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(c.url("/connectors"), timeout=5).read()
    assert_testssl_strong(c.http_port)


def test_jwt_secret_from_file_and_from_fake_vault(tmp_path, servers):
    secret_file = tmp_path / "jwt.secret"
    secret_file.write_text(SECRET + "\n")
    s = Server(tmp_path / "f", "broker", auth_security(), env={"STREAMBUS_JWT_SECRET_FILE": str(secret_file)})
    servers.append(s.start())
    assert request(s.url("/metrics"), token=hs256(claims()))[0] == 200
    assert request(s.url("/metrics"), token=hs256(claims(), key=b"x" * 40))[0] == 401

    vault_secret = "vault-held-secret-0123456789abcdef0123456789"
    secrets = tmp_path / "vault.json"
    secrets.write_text(json.dumps({"secret/streambus/http": {"jwt_secret": vault_secret}}))
    vault = subprocess.Popen([sys.executable, str(FAKE_VAULT), "--port", "0", "--token", "root-token-123",
                              "--secrets", str(secrets)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(vault.stdout.readline().split()[1])
        sec = auth_security(jwt_secret_vault="secret/streambus/http#jwt_secret")
        sec["vault"] = {"addr": "http://127.0.0.1:%d" % port}
        v = Server(tmp_path / "v", "broker", sec, env={"VAULT_TOKEN": "root-token-123"})
        servers.append(v.start())
        assert request(v.url("/metrics"), token=hs256(claims(), key=vault_secret.encode()))[0] == 200
        assert request(v.url("/metrics"), token=hs256(claims()))[0] == 401
        # A wrong Vault token: refused at start, the message names the path, never the token.
        bad = Server(tmp_path / "v2", "broker", sec, env={"VAULT_TOKEN": "wrong-token-456"})
        code, out = bad.run_to_exit()
        assert code != 0 and "permission denied" in out and "secret/streambus/http" in out, out
        assert "wrong-token-456" not in out
        # A missing field is named.
        sec["http"]["auth"]["jwt_secret_vault"] = "secret/streambus/http#nope"
        bad = Server(tmp_path / "v3", "broker", sec, env={"VAULT_TOKEN": "root-token-123"})
        code, out = bad.run_to_exit()
        assert code != 0 and 'no field "nope"' in out, out
    finally:
        vault.terminate()
        vault.wait()


@pytest.mark.parametrize("case", ["plaintext_beyond_loopback", "short_secret", "default_password", "auth_off"])
def test_production_mode_refusals(tmp_path, case):
    env = {"STREAMBUS_JWT_SECRET": SECRET}
    sec = auth_security()
    host = "127.0.0.1"
    if case == "plaintext_beyond_loopback":
        host, want = "0.0.0.0", "http.tls.cert_file"
    elif case == "short_secret":
        env["STREAMBUS_JWT_SECRET"], want = "too-short-secret", "http.auth.jwt_secret_env"
    elif case == "default_password":
        env["STREAMBUS_ADMIN_PASSWORD"], want = "changeme", "http.auth.admin_password_env"
    else:
        sec["http"]["auth"]["enabled"], want = "false", "http.auth.enabled"
    s = Server(tmp_path / case, "broker", sec, env=env, extra_args=["--production"], admin_host=host)
    code, out = s.run_to_exit()
    assert code != 0, out
    assert want in out, out
    # a short secret is refused in every mode; the others are production's refusals
    assert case == "short_secret" or "production mode" in out, out
    assert SECRET not in out and "too-short-secret" not in out and "changeme" not in out
    # The same settings start in development mode (the refusal is production's).
    if case in ("short_secret",):
        return  # a short secret is refused in every mode
    s2 = Server(tmp_path / (case + "-dev"), "broker", sec, env=env, admin_host=host)
    s2.start()
    s2.stop()


def test_production_mode_from_config_key(tmp_path):
    sec = auth_security()
    sec["security"] = {"mode": "production"}
    s = Server(tmp_path / "p", "broker", sec, env={"STREAMBUS_JWT_SECRET": SECRET}, admin_host="0.0.0.0")
    code, out = s.run_to_exit()
    assert code != 0 and "http.tls.cert_file" in out, out


def test_connect_roles_and_redaction(tmp_path, broker, servers):
    sec = auth_security(protect_health="false")
    c = Server(tmp_path / "c", "connect", sec, env={"STREAMBUS_JWT_SECRET": SECRET}, bootstrap=broker.bootstrap)
    servers.append(c.start())
    admin = hs256(claims(role="admin"))
    operator = hs256(claims(role="operator"))
    viewer = hs256(claims(role="viewer"))
    wait_until(lambda: request(c.url("/connectors"), token=viewer)[0] == 200, 30, "connect REST routes")
    assert request(c.url("/connectors"))[0] == 401
    cfg = {"connector.class": "file-sink", "file": str(tmp_path / "out.jsonl"), "topics": "redact-me",
           "connection.password": "hunter2-db-password",
           "connection.url": "postgres://app:hunter2-url-password@db:5432/app",
           "conninfo": "host=db user=app password=hunter2-conninfo dbname=app"}
    body = {"name": "sink1", "config": cfg}
    status, _, resp = request(c.url("/connectors"), "POST", token=operator, body=body)
    assert status == 403, resp
    status, _, resp = request(c.url("/connectors"), "POST", token=admin, body=body)
    assert status == 201, resp
    for path in ("/connectors/sink1/config", "/connectors/sink1", "/connectors/sink1/tasks"):
        status, _, resp = request(c.url(path), token=viewer)
        assert status == 200, (path, resp)
        text = json.dumps(resp)
        assert "hunter2" not in text, (path, text)
        assert "[hidden]" in text
    status, _, got = request(c.url("/connectors/sink1/config"), token=viewer)
    assert got["connection.password"] == "[hidden]"
    assert got["connection.url"] == "postgres://app:[hidden]@db:5432/app"
    assert got["conninfo"] == "host=db user=app password=[hidden] dbname=app"
    assert got["file"] == cfg["file"]
    # operator pauses and resumes, but may not reconfigure or delete
    assert request(c.url("/connectors/sink1/pause"), "PUT", token=viewer)[0] == 403
    assert request(c.url("/connectors/sink1/pause"), "PUT", token=operator)[0] == 202
    assert request(c.url("/connectors/sink1/resume"), "PUT", token=operator)[0] == 202
    assert request(c.url("/connectors/sink1"), "DELETE", token=operator)[0] == 403
    # a redacted config written back is accepted (the "[hidden]" values keep the stored ones)
    status, _, _ = request(c.url("/connectors/sink1/config"), "PUT", token=admin, body=got)
    assert status == 200
    stored = subprocess.run(["kcat", "-b", broker.bootstrap, "-t", "_streambus-connect-configs", "-C", "-e", "-q",
                             "-f", "%s\n"], capture_output=True, text=True, timeout=60).stdout.strip().splitlines()
    last = [line for line in stored if "sink1" in line or "hunter2" in line or "[hidden]" in line][-1]
    assert "hunter2-db-password" in last and "[hidden]" not in last, last
    assert "hunter2" not in c.log()
    # streambus ctl sends STREAMBUS_TOKEN; without it the API refuses, and config stays redacted
    ctl_env = dict(os.environ, STREAMBUS_CONNECT_URL=c.url(""))
    ctl_env.pop("STREAMBUS_TOKEN", None)
    out = subprocess.run([streambus_bin(), "ctl", "connector", "config", "sink1"], capture_output=True, text=True,
                         timeout=60, env=ctl_env)
    assert out.returncode != 0 and "401" in out.stdout + out.stderr, out
    ctl_env["STREAMBUS_TOKEN"] = viewer
    out = subprocess.run([streambus_bin(), "ctl", "connector", "config", "sink1"], capture_output=True, text=True,
                         timeout=60, env=ctl_env)
    assert out.returncode == 0 and "[hidden]" in out.stdout and "hunter2" not in out.stdout, out
    assert request(c.url("/connectors/sink1"), "DELETE", token=admin)[0] == 204
