"""Harness for the connect runtime tests: a real broker (from conftest) plus a real
`streambus connect` process on free ports, driven through its REST API and `streambus ctl`.

Like the broker harness, the connect log is checked at teardown: a sanitizer report or an
error-level line the test did not declare with `connect.expect_error(...)` fails the test.
"""

import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import SANITIZER_MARKERS, free_port, parse_log_line, streambus_bin, wait_until

STOP_TIMEOUT_S = 20.0


class Connect:
    """One `streambus connect` process; restarts keep its port and config."""

    def __init__(self, binary, workdir, bootstrap, extra=None):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config_path = self.workdir / "connect.yaml"
        self.log_path = self.workdir / "connect.log"
        self.proc = None
        self._expected = []
        lines = ["connect:",
                 '  bootstrap_servers: "%s"' % bootstrap,
                 '  rest_listen: "127.0.0.1:%d"' % self.port]
        for k, v in (extra or {}).items():
            lines.append('  %s: "%s"' % (k, v))
        lines += ["logging:", "  level: info", "  format: json"]
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "connect", "--config", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(lambda: self.proc.poll() is not None or self.request("GET", "/connectors")[0] == 200,
                   30, "connect REST API on %s" % self.url)
        if self.proc.poll() is not None:
            pytest.fail("connect exited with %s:\n%s" % (self.proc.returncode, self.log_text()[-3000:]))
        return self

    def stop(self, timeout=STOP_TIMEOUT_S):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "hung"

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    # -- REST ------------------------------------------------------------------------------
    def request(self, method, path, body=None, timeout=30):
        """(status, parsed JSON or text or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        except (urllib.error.URLError, OSError):
            return 0, None
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            return status, text

    def create(self, name, config):
        status, body = self.request("POST", "/connectors", {"name": name, "config": config})
        assert status == 201, (status, body)
        return body

    def state(self, name):
        status, body = self.request("GET", "/connectors/%s/status" % name)
        if status != 200:
            return None
        return body["tasks"][0]["state"]

    def wait_state(self, name, state, timeout=30):
        wait_until(lambda: self.state(name) == state, timeout, "connector %s to be %s (is %s)"
                   % (name, state, self.state(name)))

    def ctl(self, *args, check=True):
        env = dict(os.environ, STREAMBUS_CONNECT_URL=self.url)
        proc = subprocess.run([self.binary, "ctl"] + list(args), capture_output=True, text=True,
                              timeout=60, env=env)
        if check and proc.returncode != 0:
            pytest.fail("ctl %s exited %d: %s" % (" ".join(args), proc.returncode, proc.stderr))
        return proc

    # -- log -------------------------------------------------------------------------------
    def expect_error(self, pattern):
        self._expected.append(re.compile(pattern))

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_problems(self):
        problems = []
        for line in self.log_text().splitlines():
            if any(m in line for m in SANITIZER_MARKERS):
                problems.append(line)
                continue
            level, _ = parse_log_line(line)
            if level in ("error", "fatal") and not any(p.search(line) for p in self._expected):
                problems.append(line)
        return problems


@pytest.fixture
def connect(request, broker, tmp_path_factory):
    """A running `streambus connect` attached to the test's broker."""
    workdir = tmp_path_factory.mktemp("connect", numbered=True)
    c = Connect(streambus_bin(), workdir, broker.bootstrap)
    c.start()
    yield c
    status = c.stop()
    problems = c.log_problems()
    if status == "hung":
        pytest.fail("connect did not stop within %.0f s of SIGTERM" % STOP_TIMEOUT_S, pytrace=False)
    if problems:
        pytest.fail("connect log %s has unexpected errors:\n  %s" % (c.log_path, "\n  ".join(problems[:20])),
                    pytrace=False)


def read_jsonl(path):
    """Complete lines of a file-sink output file as dicts (missing file = no lines). A last line
    without its newline is one the sink is still writing: it is left for the next read."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def append_events(path, events):
    """Appends {key, value} lines for the file-source connector."""
    with open(path, "a") as f:
        for key, value in events:
            f.write(json.dumps({"key": key, "value": value}) + "\n")


def produce(broker, topic, records, headers=None):
    """Produces (key, value) pairs (str/bytes/None) with confluent_kafka, acks=all, and waits."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True})
    for key, value in records:
        p.produce(topic, key=key, value=value, headers=headers)
    assert p.flush(30) == 0, "records not delivered"
