#!/usr/bin/python3
"""librdkafka's test suite over SASL_SSL: run.py's harness with a broker that has a SASL_SSL
listener and a test.conf that makes every client of the suite use it.

Called by scripts/compat.sh when COMPAT_SECURITY=1 (see tests/compat/security.txt). The broker
gets two listeners: PLAINTEXT on loopback (run.py's ApiVersions probe and `streambus ctl user
add`) and SASL_SSL (advertised to the clients). Certificates come from `streambus ctl certs
generate`. The tests are those of tests/compat/security.txt unless COMPAT_TESTS names others.
Everything else — groups, results, the table, the exit status — is run.py's.

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
MECH = os.environ.get("COMPAT_SECURITY_MECH", "SCRAM-SHA-512")


class SecureBroker(run.Broker):
    def __init__(self, binary, workdir):
        super().__init__(binary, workdir)
        self.sasl_ssl_port = run.free_port()
        self.certs = self.workdir / "certs"
        subprocess.run([binary, "ctl", "certs", "generate", "--out", str(self.certs)], check=True,
                       capture_output=True, timeout=60)
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
            '      tls: {cert: "%s", key: "%s"}\n'
            "sasl:\n"
            "  max_failed_authentications: 100000\n"
            "admin:\n"
            '  listen: "127.0.0.1:%d"\n'
            "logging:\n"
            "  level: info\n"
            "  format: json\n"
            % (self.workdir / "data", self.port, self.sasl_ssl_port, self.certs / "server.pem",
               self.certs / "server.key", self.admin_port))

    def start(self):
        super().start()
        proc = subprocess.run([self.binary, "ctl", "--bootstrap-server", self.bootstrap, "user", "add", USER,
                               "--mechanism", MECH], input=PASSWORD + "\n", capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError("ctl user add failed: " + proc.stderr)

    def secure_conf(self, path):
        path.write_text("metadata.broker.list=127.0.0.1:%d\n"
                        "security.protocol=SASL_SSL\n"
                        "ssl.ca.location=%s\n"
                        "sasl.mechanisms=%s\n"
                        "sasl.username=%s\n"
                        "sasl.password=%s\n"
                        "test.timeout.multiplier=3\n"
                        % (self.sasl_ssl_port, self.certs / "ca.pem", MECH, USER, PASSWORD))
        return path


_run_once = run.run_once


def run_once_secure(name, runner, tests, args, broker, out, env_extra, timeout, expected):
    # run.run_once writes a plaintext test.conf and then applies env_extra over its
    # environment: pointing RDKAFKA_TEST_CONF at the secure one replaces it.
    conf = broker.secure_conf(out / ("%s.sasl_ssl.test.conf" % name))
    env = dict(env_extra, RDKAFKA_TEST_CONF=str(conf))
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
