#!/usr/bin/python3
"""librdkafka's test suite over SASL_SSL: run.py's harness with a broker that has a SASL_SSL
listener and a test.conf that makes every client of the suite use it.

Called by scripts/compat.sh when COMPAT_SECURITY=1 (see tests/compat/security.txt). The broker
gets two listeners: PLAINTEXT on loopback (run.py's ApiVersions probe and `streambus ctl user
add`) and SASL_SSL (advertised to the clients). Certificates come from `streambus ctl certs
generate`. The SASL_SSL listener requests a client certificate (tls.client_auth: requested),
and every client of the suite presents one: test.conf names the client certificate and its
password-protected key, and the SSL_* environment variables name the same material in the
other encodings 0097 loads (PEM, DER, PKCS#12; a CA bundle of two CAs), as trivup's cluster
does — made with the openssl program from what `ctl certs generate` wrote. The tests are those
of tests/compat/security.txt unless COMPAT_TESTS names others. Everything else — groups,
results, the table, the exit status — is run.py's.

  COMPAT_SECURITY_MECH   SCRAM-SHA-512 (default) or SCRAM-SHA-256
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402

USER, PASSWORD = "compat", "compat-password-0123"
KEY_PASSWORD = "compat-key-password"
MECH = os.environ.get("COMPAT_SECURITY_MECH", "SCRAM-SHA-512")


class SecureBroker(run.Broker):
    def __init__(self, binary, workdir):
        super().__init__(binary, workdir)
        self.sasl_ssl_port = run.free_port()
        self.certs = self.workdir / "certs"
        self.user_added = False
        subprocess.run([binary, "ctl", "certs", "generate", "--out", str(self.certs)], check=True,
                       capture_output=True, timeout=60)
        self.ssl_env = client_cert_material(self.certs)

    def write_config(self, rebalance_delay_ms):
        # Same settings as run.py's broker (see there), with listeners instead of broker.listen.
        self.config_path.write_text(
            "broker:\n"
            '  data_dir: "%s"\n'
            "  auto_create_topics: true\n"
            "  default_partitions: 4\n"
            "  listeners:\n"
            '    - {name: PLAINTEXT, address: "127.0.0.1:%d"}\n'
            '    - name: SASL_SSL\n'
            '      address: "127.0.0.1:%d"\n'
            "      protocol: SASL_SSL\n"
            '      tls: {cert: "%s", key: "%s", ca: "%s", client_auth: requested}\n'
            "groups:\n"
            "  initial_rebalance_delay_ms: %d\n"
            "sasl:\n"
            "  max_failed_authentications: 100000\n"
            "admin:\n"
            '  listen: "127.0.0.1:%d"\n'
            "logging:\n"
            "  level: info\n"
            "  format: json\n"
            % (self.workdir / "data", self.port, self.sasl_ssl_port, self.certs / "server.pem",
               self.certs / "server.key", self.certs / "ca.pem", rebalance_delay_ms, self.admin_port))

    def start(self, rebalance_delay_ms):
        super().start(rebalance_delay_ms)
        if self.user_added:
            return  # a restart (run.Broker.ensure): the user is stored in the data directory
        proc = subprocess.run([self.binary, "ctl", "--bootstrap-server", self.bootstrap, "user", "add", USER,
                               "--mechanism", MECH], input=PASSWORD + "\n", capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError("ctl user add failed: " + proc.stderr)
        self.user_added = True

    def secure_conf(self, path):
        path.write_text("metadata.broker.list=127.0.0.1:%d\n"
                        "security.protocol=SASL_SSL\n"
                        "ssl.ca.location=%s\n"
                        "sasl.mechanisms=%s\n"
                        "sasl.username=%s\n"
                        "sasl.password=%s\n"
                        "ssl.certificate.location=%s\n"
                        "ssl.key.location=%s\n"
                        "ssl.key.password=%s\n"
                        "test.timeout.multiplier=3\n"
                        % (self.sasl_ssl_port, self.certs / "ca.pem", MECH, USER, PASSWORD,
                           self.ssl_env["SSL_pub_pem"], self.ssl_env["SSL_priv_pem"], KEY_PASSWORD))
        return path


def openssl(*args):
    proc = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(map(str, args)), proc.stderr.strip()))


def client_cert_material(certs):
    """The SSL_* variables of trivup's cluster (0097 reads them), for the client certificate
    `ctl certs generate` made: {variable: path}."""
    cert, key, ca = certs / "client-client.pem", certs / "client-client.key", certs / "ca.pem"
    env = {"SSL_pub_pem": cert, "SSL_password": KEY_PASSWORD}
    env["SSL_priv_pem"] = certs / "client.encrypted.key"
    openssl("pkcs8", "-topk8", "-in", key, "-out", env["SSL_priv_pem"], "-passout", "pass:" + KEY_PASSWORD)
    env["SSL_priv_der"] = certs / "client.key.der"
    openssl("pkey", "-in", key, "-outform", "DER", "-out", env["SSL_priv_der"])
    env["SSL_pub_der"] = certs / "client.der"
    openssl("x509", "-in", cert, "-outform", "DER", "-out", env["SSL_pub_der"])
    env["SSL_ca_der"] = certs / "ca.der"
    openssl("x509", "-in", ca, "-outform", "DER", "-out", env["SSL_ca_der"])
    env["SSL_pkcs"] = certs / "client.p12"
    openssl("pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", ca, "-out", env["SSL_pkcs"],
            "-passout", "pass:" + KEY_PASSWORD)
    # A bundle of several CAs, the broker's among them ("Contains multiple CA certs").
    other = certs / "other-ca.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=another test CA", "-keyout", certs / "other-ca.key", "-out", other)
    env["SSL_all_cas_pem"] = certs / "all-cas.pem"
    env["SSL_all_cas_pem"].write_text(other.read_text() + ca.read_text())
    return {k: str(v) for k, v in env.items()}


_run_once = run.run_once


def run_once_secure(name, runner, tests, args, broker, out, env_extra, timeout, expected):
    # run.run_once writes a plaintext test.conf and then applies env_extra over its
    # environment: pointing RDKAFKA_TEST_CONF at the secure one replaces it.
    conf = broker.secure_conf(out / ("%s.sasl_ssl.test.conf" % name))
    env = dict(env_extra, RDKAFKA_TEST_CONF=str(conf), **broker.ssl_env)
    return _run_once(name, runner, tests, args, broker, out, env, timeout, expected)


_read_list = run.read_list


def read_list_secure(path):
    # skip.txt (run.py's) skips tests that need a SASL listener; here there is one, so a test
    # listed in security.txt runs even when skip.txt names it.
    entries = _read_list(path)
    if Path(path).name == "skip.txt":
        ours = {n for n, _ in _read_list(HERE / "security.txt")}
        entries = [(n, rest) for n, rest in entries if n not in ours]
    return entries


def main():
    if not os.environ.get("COMPAT_TESTS"):
        os.environ["COMPAT_TESTS"] = " ".join(n for n, _ in run.read_list(HERE / "security.txt"))
    run.read_list = read_list_secure
    print("compat: over SASL_SSL with %s (tests/compat/run_security.py)" % MECH, flush=True)
    run.Broker = SecureBroker
    run.run_once = run_once_secure
    return run.main()


if __name__ == "__main__":
    sys.exit(main())
