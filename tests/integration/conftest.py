"""Shared harness for the StreamBus integration tests.

Every test here starts the real broker binary named by $STREAMBUS_BIN on free loopback ports, in a
fresh data directory, and talks to it only through independent Kafka clients (kcat/librdkafka,
confluent_kafka, kafka-python, kafkajs) or raw sockets. Nothing in the broker is mocked.

After each test the broker is stopped with SIGTERM and its log is checked, the way nginx's test
harness does: a sanitizer report ("AddressSanitizer", UBSan's "runtime error:") or an error-level
line that the test did not declare with `broker.expect_error(...)` fails the test, because a
passing client exchange that left the broker complaining is still a bug a user would see in their
logs. The broker's working directory (config, log, data) is kept when a test fails and its path
is printed.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ports import PortHold, free_port  # noqa: F401  (the tests import them from here)

HERE = Path(__file__).resolve().parent

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

# Sanitizer signatures: any of these in the broker's output is a memory or UB bug.
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------

def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a truthy value; fails the test naming `what` after
    `timeout` seconds. This bounds waits for asynchronous effects; it never asserts on speed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def http_get(url, timeout=5.0):
    """(status, body text) of a GET; status 0 when the connection itself failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


def port_accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def deep_merge(base, override):
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid double-quoted YAML scalar


def to_yaml(mapping, indent=0):
    """Emits the nested mapping of scalars the broker config uses; avoids a PyYAML dependency."""
    lines = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append("%s%s:" % (" " * indent, key))
            lines.append(to_yaml(value, indent + 2))
        else:
            lines.append("%s%s: %s" % (" " * indent, key, _yaml_scalar(value)))
    return "\n".join(lines)


def streambus_bin():
    path = os.environ.get("STREAMBUS_BIN")
    if not path:
        pytest.fail("STREAMBUS_BIN is not set: point it at the built broker, e.g. "
                    "STREAMBUS_BIN=build/release/streambus /usr/bin/python3 -m pytest tests/integration",
                    pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("STREAMBUS_BIN=%s is not an executable file" % path, pytrace=False)
    return os.path.abspath(path)


def parse_log_line(line):
    """(level, message) of one broker log line. The broker writes one JSON object per line when
    its stderr is not a TTY, and 'TS LEVEL [subsys] msg' on a TTY; both are understood."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            obj = json.loads(line)
            if isinstance(obj, dict):
                return str(obj.get("level", "")).lower(), str(obj.get("msg", line))
        except ValueError:
            pass
    m = re.match(r"^\S+\s+(DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s+(.*)$", line)
    if m:
        return m.group(1).lower(), m.group(2)
    return "", line


# --------------------------------------------------------------------------------------------
# the broker under test
# --------------------------------------------------------------------------------------------

class Broker:
    """One broker process plus its working directory. Restarts keep port, config and data_dir."""

    def __init__(self, binary, workdir, config_overrides=None):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.host = "127.0.0.1"
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "streambus.yaml"
        self.log_path = self.workdir / "broker.log"
        self.proc = None
        self.exit_codes = []  # one per stop/kill, in order
        self._expected_errors = []
        config = {
            "broker": {
                "listen": "%s:%d" % (self.host, self.port),
                "data_dir": str(self.data_dir),
                "auto_create_topics": True,
                "default_partitions": 1,
                "max_request_bytes": 104857600,
                "max_connections": 4096,
            },
            "log": {
                "segment_bytes": 1073741824,
                "retention_ms": 604800000,
                "flush_interval_ms": 1000,
            },
            "groups": {"initial_rebalance_delay_ms": 0},
            "admin": {"listen": "%s:%d" % (self.host, self.admin_port)},
            "logging": {"level": "info"},
        }
        self.config = deep_merge(config, config_overrides or {})
        self.config_path.write_text(to_yaml(self.config) + "\n")

    # -- addresses ---------------------------------------------------------------------------
    @property
    def bootstrap(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def admin_url(self):
        return "http://%s:%d" % (self.host, self.admin_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def partition_dir(self, topic, partition):
        return self.data_dir / ("%s-%d" % (topic, partition))

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        with open(self.log_path, "ab") as log:
            log.write(("=== harness: starting %s (pid follows) ===\n" % self.binary).encode())
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "broker", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail("broker exited with status %s before becoming ready; log %s:\n%s"
                            % (self.proc.returncode, self.log_path, self.log_tail()))
            if port_accepts(self.host, self.port):
                status, _ = http_get(self.admin_url + "/health/ready", timeout=1.0)
                if status == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail("broker not ready after %.0f s (port %d accepting=%s); log %s:\n%s"
                            % (timeout, self.port, port_accepts(self.host, self.port),
                               self.log_path, self.log_tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit status (negative = signal)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            self._note("stopped by SIGTERM, exit status %s" % self.proc.returncode)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._note("did not exit within %.0f s of SIGTERM; killed" % timeout)
            self.exit_codes.append("hung")
            return "hung"
        self.exit_codes.append(self.proc.returncode)
        return self.proc.returncode

    def kill9(self):
        """Crash the broker: SIGKILL, no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self._note("killed with SIGKILL by the test")
            self.exit_codes.append(self.proc.returncode)

    def restart(self):
        self.stop()
        return self.start()

    def _note(self, text):
        with open(self.log_path, "a") as log:
            log.write("=== harness: %s ===\n" % text)

    # -- log inspection ----------------------------------------------------------------------
    def expect_error(self, pattern):
        """Declare that an error-level log line matching `pattern` (regex, searched in the whole
        line) is expected in this test and must not fail it."""
        self._expected_errors.append(re.compile(pattern, re.IGNORECASE))

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log_text().splitlines()

    def log_tail(self, n=40):
        return "\n".join(self.log_lines()[-n:])

    def log_problems(self):
        """Lines that make the test fail: sanitizer reports, unexpected error-level lines."""
        problems = []
        for line in self.log_lines():
            if line.startswith("=== harness:"):
                continue
            if any(marker in line for marker in SANITIZER_MARKERS):
                problems.append(line)
                continue
            level, _ = parse_log_line(line)
            if level in ("error", "fatal", "crit", "critical"):
                if not any(p.search(line) for p in self._expected_errors):
                    problems.append(line)
        return problems


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "broker_config(dict): nested overrides merged into the broker's YAML config")


@pytest.fixture
def bin_path():
    return streambus_bin()


def failure_log_dir():
    """Where logs of failed tests are copied: pytest only keeps its last 3 temp roots, and CTest
    runs one pytest per file, so the temp dir alone would be gone by the end of a full run."""
    if os.environ.get("STREAMBUS_TEST_LOG_DIR"):
        return Path(os.environ["STREAMBUS_TEST_LOG_DIR"])
    if os.environ.get("STREAMBUS_BUILD_DIR"):
        return Path(os.environ["STREAMBUS_BUILD_DIR"]) / "integration-logs"
    return HERE.parents[1] / "build" / "integration-logs"


def keep_for_debugging(broker, nodeid, index):
    dest = failure_log_dir() / ("%s-%d" % (re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)[-120:], index))
    dest.mkdir(parents=True, exist_ok=True)
    for f in (broker.log_path, broker.config_path):
        if f.exists():
            shutil.copy2(f, dest / f.name)
    return dest


@pytest.fixture
def start_broker(request, tmp_path_factory):
    """Factory: start_broker(overrides=None) -> running Broker. Every broker it made is stopped
    and its log checked at teardown."""
    binary = streambus_bin()
    brokers = []

    def factory(overrides=None):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:60]
        workdir = tmp_path_factory.mktemp("sb-" + name, numbered=True)
        broker = Broker(binary, workdir, overrides)
        brokers.append(broker)
        return broker.start()

    yield factory

    failures = []
    for broker in brokers:
        status = broker.stop()
        if status == "hung":
            failures.append("broker %s did not stop within %.0f s of SIGTERM"
                            % (broker.bootstrap, STOP_TIMEOUT_S))
        problems = broker.log_problems()
        if problems:
            failures.append("broker log %s has unexpected errors or sanitizer reports:\n  %s"
                            % (broker.log_path, "\n  ".join(problems[:30])))
    test_failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for n, broker in enumerate(brokers):
        if test_failed or failures:
            kept = keep_for_debugging(broker, request.node.nodeid, n)
            print("\nbroker log and config kept in %s (full workdir, while pytest keeps it: %s)"
                  % (kept, broker.workdir))
        else:
            shutil.rmtree(broker.data_dir, ignore_errors=True)
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture
def broker(request, start_broker):
    """A running broker with the default test config plus any @pytest.mark.broker_config(...)."""
    marker = request.node.get_closest_marker("broker_config")
    overrides = marker.args[0] if marker else None
    return start_broker(overrides)


# --------------------------------------------------------------------------------------------
# client helpers
# --------------------------------------------------------------------------------------------

def kcat(broker, args, input_text=None, timeout=60, check=True):
    """Runs kcat against the broker; returns CompletedProcess with text stdout/stderr."""
    cmd = ["kcat", "-b", broker.bootstrap, "-q"] + list(args)
    proc = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail("kcat %s exited %d\nstderr:\n%s\nbroker log tail:\n%s"
                    % (" ".join(args), proc.returncode, proc.stderr[-3000:], broker.log_tail()))
    return proc


def kcat_produce(broker, topic, lines, extra=(), timeout=60):
    """Produces `lines` (each 'key:value') with keys; returns CompletedProcess. kcat exits
    non-zero if any message failed delivery."""
    text = "".join(line + "\n" for line in lines)
    return kcat(broker, ["-P", "-t", topic, "-K:"] + list(extra), input_text=text, timeout=timeout)


def kcat_consume(broker, topic, fmt="%k:%s\\n", extra=(), timeout=60):
    """Everything in `topic` from the beginning up to the end (-e), formatted with `fmt`."""
    proc = kcat(broker, ["-C", "-t", topic, "-e", "-o", "beginning", "-f", fmt.replace("\\n", "\n")]
                + list(extra), timeout=timeout)
    return proc.stdout


def kcat_roundtrip_works(broker, topic="harness-probe"):
    """True when a fresh produce + consume through kcat returns the message: proves the broker
    still serves ordinary clients."""
    token = "probe-%d" % time.monotonic_ns()
    kcat_produce(broker, topic, ["probe:" + token], extra=["-X", "acks=all"])
    out = kcat_consume(broker, topic)
    return ("probe:" + token) in out.splitlines()
