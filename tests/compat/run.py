#!/usr/bin/python3
"""Runs librdkafka's test suite (its built tests/test-runner) against a StreamBus broker.

Called by scripts/compat.sh once the suite is built; see docs/compatibility.md. It starts the
broker binary named by $STREAMBUS_BIN on free loopback ports in a fresh directory, runs the
selected tests in a few test-runner invocations (groups, below), stops the broker by its PID,
prints one table row per test and exits 1 if any test that ran failed, or if the broker died or
logged a sanitizer report. Skipped tests are listed with their reasons and do not fail the run.

Groups, because some tests cannot share a run:
  parallel   most tests, two at a time (-p2)
  serial     tests/compat/serial.txt: one at a time (-p1), each with its reason
  partial    tests whose skip.txt line says subtests=S[,S2...]: only subtests whose name contains
             S (test-runner's SUBTESTS takes one substring, so one run per listed S; the test
             passes when every run passed)
  version    tests/compat/versions.txt: alone, at the TEST_KAFKA_VERSION given there
  kafka-delay  tests/compat/rebalance_delay.txt: on a broker with Kafka's default 3 s initial
             rebalance delay; every other group runs with 0, as Kafka's own development config
             (config/server.properties) sets it, so a new group's first rebalance does not wait
             3 s for members that are not coming (most of the suite's group tests start one)
Only the suite's default scenario runs: the tests of its "noautocreate" scenario (0045's
variants, 0107, 0111) call kafka-topics.sh or need replication factor 3.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from ports import free_port  # noqa: E402  (ports below the ephemeral range)

# The newest Kafka release whose APIs (as librdkafka 2.0.2 uses them) the broker advertises;
# docs/compatibility.md explains the choice. The suite switches tests and expectations on it.
DEFAULT_KAFKA_VERSION = "2.4.0"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\(B")
# '### Test "0030_offset_commit (do_offset_test:122: ...)" failed at 0030-offset_commit.c:304:do_offset_test() at ...'
FAILED_AT = re.compile(r'^### Test "(\d{4}_\w+)[^"]*" failed at (\S+?)(?: at .*)? ###$')
# '[0016_client_swname   /  0.000s] WARN: SKIPPING TEST: Env var KAFKA_PATH missing'
SKIPPING = re.compile(r"^\[(\d{4}_\w+)\s*/.*SKIPPING TEST: (.*)$")


def read_list(path):
    """[(number, rest of line)] of a list file: '#' starts a comment, blank lines are ignored."""
    out = []
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        num, _, rest = line.partition(" ")
        if not re.fullmatch(r"\d{4}", num):
            sys.exit("%s:%d: expected a four-digit test number first, got %r" % (path, lineno, num))
        out.append((num, rest.strip()))
    return out


API_NAMES = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
             9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
             13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
             17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
             21: "DeleteRecords", 22: "InitProducerId", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn",
             23: "OffsetForLeaderEpoch", 26: "EndTxn", 28: "TxnOffsetCommit", 29: "DescribeAcls",
             30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs", 33: "AlterConfigs",
             35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions", 42: "DeleteGroups",
             43: "ElectLeaders", 44: "IncrementalAlterConfigs", 47: "OffsetDelete",
             50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 60: "DescribeCluster"}
# An API that TEST_KAFKA_VERSION 2.4.0 makes the suite call and older versions do not (0081:
# DeleteConsumerGroupOffsets). Named in the run's header so that a failure caused by a missing
# API is recognisable at once.
NEEDED_AT_2_4 = {47: 0}


def api_versions(bootstrap):
    """{api key: (min, max)} from an ApiVersions v0 request, parsed as the v0 response."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"streambus-compat"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed in the ApiVersions response")
            buf += chunk
    _, error, count = struct.unpack(">ihi", buf[4:14])
    if error:
        raise OSError("ApiVersions error %d" % error)
    out = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", buf[14 + 6 * i:20 + 6 * i])
        out[key] = (lo, hi)
    return out


def describe_api_versions(bootstrap, kafka_version):
    versions = api_versions(bootstrap)
    lines = ["advertised: " + ", ".join("%s %d-%d" % (API_NAMES.get(k, "key %d" % k), lo, hi)
                                        for k, (lo, hi) in sorted(versions.items()))]
    if tuple(int(x) for x in kafka_version.split(".")[:2]) >= (2, 4):
        missing = ["%s v%d" % (API_NAMES[k], v) for k, v in sorted(NEEDED_AT_2_4.items())
                   if k not in versions or versions[k][1] < v]
        if missing:
            lines.append("not advertised but called by the suite at TEST_KAFKA_VERSION %s: %s"
                         % (kafka_version, ", ".join(missing)))
    return lines


def broker_tests(source):
    """{test name: scenario} of the suite's tests that need a broker and run by default: its
    tests[] table in tests/test.c minus TEST_F_LOCAL, TEST_F_MANUAL and TEST_F_KNOWN_ISSUE
    (filtered out by test-runner's defaults). Used to notice tests that never got a result."""
    text = (source / "tests" / "test.c").read_text(errors="replace")
    table = text[text.index("struct test tests[]"):]
    table = table[:table.index("{NULL}")]
    out = {}
    for chunk in table.split("_TEST(")[1:]:
        m = re.match(r"\s*(\d{4}_\w+)\s*,\s*([^,)]*)", chunk)
        if not m:
            continue
        flags = m.group(2)
        if re.search(r"TEST_F_LOCAL|TEST_F_MANUAL|TEST_F_KNOWN_ISSUE\b", flags):
            continue
        sc = re.search(r'\.scenario\s*=\s*"([^"]*)"', chunk)
        out[m.group(1)] = sc.group(1).split(",") if sc else ["default"]
    return out


class Broker:
    """One StreamBus broker in its own directory, started and stopped by PID."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.log_path = self.workdir / "broker.log"
        self.config_path = self.workdir / "streambus.yaml"
        self.proc = None
        self.rebalance_delay_ms = None
        self.log_start = 0  # where the running broker's part of broker.log begins

    def write_config(self, rebalance_delay_ms):
        # The suite's default scenario assumes Kafka's test cluster: auto-created topics with
        # 4 partitions (librdkafka tests/scenarios/default.json). The initial rebalance delay
        # is the test group's (plan_groups). The ACL APIs answer SECURITY_DISABLED without an
        # authorizer, as Kafka's do; the suite's cluster runs Kafka's ACL authorizer with
        # allow.everyone.if.no.acl.found=true (0081 creates, describes and deletes ACLs and
        # expects success), so ours runs the same way.
        self.config_path.write_text(
            "broker:\n"
            '  listen: "127.0.0.1:%d"\n'
            '  data_dir: "%s"\n'
            "  auto_create_topics: true\n"
            "  default_partitions: 4\n"
            "groups:\n"
            "  initial_rebalance_delay_ms: %d\n"
            "authorizer:\n"
            "  enabled: true\n"
            "  allow_everyone_if_no_acl_found: true\n"
            "admin:\n"
            '  listen: "127.0.0.1:%d"\n'
            "logging:\n"
            "  level: info\n"
            "  format: json\n"
            % (self.port, self.workdir / "data", rebalance_delay_ms, self.admin_port))

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def ensure(self, rebalance_delay_ms):
        """Running with this initial rebalance delay: started, or restarted (same data
        directory) when it runs with another one. Returns the problems of a stop (stop())."""
        if self.proc is not None and self.rebalance_delay_ms == rebalance_delay_ms:
            return []
        problems = self.stop()
        self.start(rebalance_delay_ms)
        return problems

    def start(self, rebalance_delay_ms):
        self.write_config(rebalance_delay_ms)
        self.rebalance_delay_ms = rebalance_delay_ms
        log = open(self.log_path, "ab")
        self.log_start = log.tell()
        self.proc = subprocess.Popen([self.binary, "broker", "--config", str(self.config_path)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited with %s at start-up:\n%s" % (self.proc.returncode, self.tail()))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health/ready" % self.admin_port, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("broker not ready after 20 s:\n" + self.tail())

    def stop(self):
        """SIGTERM, SIGKILL after 10 s. Returns a list of problems (empty when clean); the log's
        sanitizer reports are read from where this run of the broker started writing."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is not None:
            problems.append("broker died during the run (exit status %s)" % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("broker did not exit within 10 s of SIGTERM")
        self.proc = None
        with open(self.log_path, "rb") as f:
            f.seek(self.log_start)
            text = f.read().decode(errors="replace")
        for marker in SANITIZER_MARKERS:
            if marker in text:
                problems.append("broker log has a sanitizer report (%s)" % marker)
        return problems

    def tail(self, n=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def run_once(name, runner, tests, args, broker, out, env_extra, timeout, expected):
    """Runs test-runner once; returns {test name: (state, seconds, reason)} for tests that ran
    or that the suite itself skipped."""
    conf = out / ("%s.test.conf" % name)
    conf.write_text("metadata.broker.list=%s\ntest.timeout.multiplier=3\n" % broker.bootstrap)
    report = out / ("%s.report.json" % name)  # kept for whoever wants more than the table
    log_path = out / ("%s.log" % name)
    env = dict(os.environ)
    # CI=… makes the suite more lenient and skip tests (tests/test.c: test_on_ci); results should
    # not depend on where they were produced.
    env.pop("CI", None)
    env.pop("TESTS_SKIP", None)
    env.update({
        "TESTS": ",".join(tests),
        "RDKAFKA_TEST_CONF": str(conf),
        "TEST_REPORT": str(report),
        "LD_LIBRARY_PATH": "%s:%s" % (runner.parent.parent / "src", runner.parent.parent / "src-cpp"),
    })
    env.update(env_extra)
    cmd = [str(runner), "-L"] + args
    print("compat: %-12s %s  TESTS=%s" % (name, " ".join(cmd[1:]), env["TESTS"]), flush=True)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=out / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "killed after %d s, COMPAT_TIMEOUT" % timeout
    print("compat: %-12s finished in %.0f s (exit %s), log %s" % (name, time.monotonic() - started, rc, log_path),
          flush=True)

    return parse_results(log_path, report, tests, expected), rc, log_path


def parse_results(log_path, report, tests, expected):
    """{test name: (state, seconds, reason)} of the broker tests among `tests`.

    States come from the JSON report (TEST_REPORT), which test-runner writes even when it then
    aborts (a test timed out, or failed tests left client threads behind); its closing summary
    table is not always printed then. Reasons come from the log: the first "### Test "NAME..."
    failed at ... ###" block of a failed test, the "SKIPPING TEST:" line of a skipped one."""
    reasons = {}
    lines = [ANSI.sub("", l) for l in log_path.read_text(errors="replace").splitlines()]
    for i, line in enumerate(lines):
        m = FAILED_AT.match(line)
        if m and m.group(1) not in reasons:
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            reasons[m.group(1)] = "%s: %s" % (m.group(2), detail)
        m = SKIPPING.match(line)
        if m and m.group(1) not in reasons:
            reasons[m.group(1)] = m.group(2).strip()
    try:
        data = json.loads(report.read_text(errors="replace"))
    except (OSError, ValueError):
        return {}  # killed before it wrote the report: every test counts as not run
    results = {}
    for tname, t in data.get("tests", {}).items():
        # Local tests (no broker needed), left out by -L, appear as skipped: keep broker tests.
        if tname[:4] not in tests or tname not in expected:
            continue
        results[tname] = (t.get("state", "DNS"), float(t.get("duration", 0)), reasons.get(tname, ""))
    return results


def run_group(name, runner, tests, args, broker, out, env_extra, timeout, expected):
    """Runs the tests, and runs again those without a result when test-runner stopped early:
    it exits (SIGKILL) as soon as one test exceeds its timeout, leaving later tests unstarted.
    `expected` names the broker tests of `tests` (broker_tests()) for this scenario."""
    results = {}
    remaining = list(tests)
    attempt = 0
    while remaining:
        attempt += 1
        got, rc, log_path = run_once(name if attempt == 1 else "%s-%d" % (name, attempt), runner, remaining,
                                     args, broker, out, env_extra, timeout, expected)
        merge(results, got)
        missing = [t for t in expected if t[:4] in remaining and results.get(t, ("DNS",))[0] == "DNS"]
        if rc == 0 and not got and not missing:
            results["%s-group" % name] = ("FAILED", 0.0, "no test of TESTS=%s needs a broker (unknown numbers, "
                                          "or local tests only)" % ",".join(remaining))
        if not missing:
            if rc != 0 and not any(v[0] == "FAILED" for v in got.values()):
                results["%s-group" % name] = ("FAILED", 0.0, "test-runner exit %s although no test failed; see %s"
                                              % (rc, log_path))
            break
        progress = [t for t in remaining if any(k[:4] == t and v[0] != "DNS" for k, v in got.items())]
        if rc == 0 or not progress:
            for t in missing:
                results[t] = ("FAILED", 0.0, "no result (test-runner exit: %s); see %s" % (rc, log_path))
            break
        print("compat: %-12s test-runner stopped (exit %s) with %d test(s) not run; running them again"
              % (name, rc, len(missing)), flush=True)
        remaining = sorted({t[:4] for t in missing})
    return results


RANK = {"FAILED": 4, "RUNNING": 4, "PASSED": 3, "SKIPPED": 2, "DNS": 1}


def merge(into, new):
    """Worst result wins; a test run in parts (subtests=S1,S2) that passed every part gets
    the sum of their times."""
    for tname, res in new.items():
        if tname not in into or RANK.get(res[0], 0) > RANK.get(into[tname][0], 0):
            into[tname] = res
        elif res[0] == "PASSED" and into[tname][0] == "PASSED":
            into[tname] = ("PASSED", into[tname][1] + res[1], into[tname][2])


# The initial rebalance delay of every group but kafka-delay (module docstring).
QUICK_REBALANCE_DELAY_MS = 0
KAFKA_REBALANCE_DELAY_MS = 3000


def plan_groups(to_run, serial, subtests, versions, kafka_delay=()):
    """[(group name, tests, test-runner args, extra environment, initial rebalance delay ms)]
    in the order they run (the groups of the module docstring). A subtests=S1,S2 line of
    skip.txt makes one run per S: test-runner's SUBTESTS is a single substring. A test of
    `kafka_delay` runs on a broker with Kafka's default delay, in whichever group it is."""
    def delay(num):
        return KAFKA_REBALANCE_DELAY_MS if num in kafka_delay else QUICK_REBALANCE_DELAY_MS

    plain = [t for t in to_run if t not in subtests and t not in versions]
    groups = [
        ("parallel", [t for t in plain if t not in serial and t not in kafka_delay], ["-p2"], {},
         QUICK_REBALANCE_DELAY_MS),
        ("serial", [t for t in plain if t in serial and t not in kafka_delay], ["-p1"], {},
         QUICK_REBALANCE_DELAY_MS),
        ("kafka-delay", [t for t in plain if t in kafka_delay], ["-p1"], {}, KAFKA_REBALANCE_DELAY_MS),
    ]
    for num in (t for t in to_run if t in subtests):
        parts = subtests[num][0].split(",")
        for i, sub in enumerate(parts):
            name = "partial-" + num + ("-%d" % (i + 1) if len(parts) > 1 else "")
            groups.append((name, [num], ["-p1"], {"SUBTESTS": sub}, delay(num)))
    for num in (t for t in to_run if t in versions and t not in subtests):
        groups.append(("version-" + num, [num], ["-p1"], {"TEST_KAFKA_VERSION": versions[num][0]}, delay(num)))
    return groups


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="librdkafka source tree with tests/test-runner built")
    ap.add_argument("--out", required=True, help="directory for logs and results (emptied first)")
    a = ap.parse_args()

    source = Path(a.source).resolve()
    runner = source / "tests" / "test-runner"
    out = Path(a.out).resolve()
    binary = os.environ.get("STREAMBUS_BIN") or sys.exit("compat: STREAMBUS_BIN is not set")
    kafka_version = os.environ.get("COMPAT_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
    timeout = int(os.environ.get("COMPAT_TIMEOUT", "3600"))

    skips = {}
    subtests = {}
    for num, rest in read_list(HERE / "skip.txt"):
        m = re.match(r"^subtests=(\S+)\s+(.*)$", rest)
        if m:
            subtests[num] = (m.group(1), m.group(2))
        else:
            skips[num] = rest
    serial = dict(read_list(HERE / "serial.txt"))
    # Tests whose expectations follow Kafka's behaviour of a later release than
    # TEST_KAFKA_VERSION, where the broker behaves like that release: "NNNN VERSION reason".
    versions = {}
    for num, rest in read_list(HERE / "versions.txt"):
        ver, _, reason = rest.partition(" ")
        if not re.fullmatch(r"\d+\.\d+\.\d+", ver):
            sys.exit("compat: tests/compat/versions.txt: %s: expected a version like 2.7.0, got %r" % (num, ver))
        versions[num] = (ver, reason)
    kafka_delay = dict(read_list(HERE / "rebalance_delay.txt"))

    if os.environ.get("COMPAT_TESTS"):
        selected = os.environ["COMPAT_TESTS"].replace(",", " ").split()
        bad = [t for t in selected if not re.fullmatch(r"\d{4}", t)]
        if bad:
            sys.exit("compat: COMPAT_TESTS wants four-digit test numbers, not %s" % " ".join(bad))
        what = "COMPAT_TESTS"
    elif os.environ.get("COMPAT_FULL") in ("1", "true", "yes"):
        # Every number the suite knows (its tests/*.c and *.cpp files); -L leaves out local ones.
        selected = sorted({p.name[:4] for p in (source / "tests").iterdir()
                           if re.match(r"^\d{4}-.*\.(c|cpp)$", p.name) and not p.name.startswith("8")})
        what = "full suite"
    else:
        selected = [n for n, _ in read_list(HERE / "fast.txt")]
        what = "fast subset (tests/compat/fast.txt)"

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # test-runner reads ../src/statistics_schema.json (0053) relative to its working directory and
    # leaves stats files there: give it a directory of its own under `out` with that path.
    (out / "cwd").mkdir()
    (out / "src").symlink_to(source / "src")
    print("compat: %s, TEST_KAFKA_VERSION=%s, broker %s" % (what, kafka_version, binary), flush=True)
    print("compat: %s" % subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip(),
          flush=True)

    to_run = [t for t in selected if t not in skips]
    expected = [t for t, sc in broker_tests(source).items() if "default" in sc]
    groups = plan_groups(to_run, serial, subtests, versions, kafka_delay)

    results = {}
    problems = []
    env_version = {"TEST_KAFKA_VERSION": kafka_version}
    broker = Broker(binary, out / "broker")
    try:
        broker.start(QUICK_REBALANCE_DELAY_MS)
        for line in describe_api_versions(broker.bootstrap, kafka_version):
            print("compat: " + line, flush=True)
        for name, tests, args, env, rebalance_delay_ms in groups:
            if tests:
                problems += broker.ensure(rebalance_delay_ms)
                merge(results, run_group(name, runner, tests, args, broker, out, dict(env_version, **env), timeout,
                                         expected))
            if broker.proc.poll() is not None:
                problems.append("broker exited during group %s:\n%s" % (name, broker.tail()))
                break
    finally:
        problems += broker.stop()

    results = {k: v for k, v in results.items() if v[0] != "DNS"}
    for num, reason in skips.items():
        if num in selected:
            results["%s (skip.txt)" % num] = ("SKIPPED", 0.0, reason)
    for num, (ver, reason) in versions.items():
        for tname, (state, secs, r) in list(results.items()):
            if tname.startswith(num + "_") and state == "PASSED":
                results[tname] = (state, secs, "at TEST_KAFKA_VERSION %s: %s" % (ver, reason))
    for num, (sub, reason) in subtests.items():
        for tname, (state, secs, r) in list(results.items()):
            if tname.startswith(num + "_") and state == "PASSED":
                results[tname] = (state, secs, "only subtests matching %s: %s"
                                  % (" or ".join("'%s'" % x for x in sub.split(",")), reason))

    rows = ["| test | result | seconds | reason |", "|---|---|---|---|"]
    for tname in sorted(results):
        state, secs, reason = results[tname]
        # test-runner reports a failed test's duration as the time until the run ended: left out.
        shown = "%.1f" % secs if state == "PASSED" else ""
        rows.append("| %s | %s | %s | %s |" % (tname, state, shown, reason.replace("|", "\\|")))
    table = "\n".join(rows)
    (out / "results.md").write_text(table + "\n")
    print(table)
    passed = sum(1 for s, _, _ in results.values() if s == "PASSED")
    failed = sum(1 for s, _, _ in results.values() if s in ("FAILED", "RUNNING"))
    skipped = sum(1 for s, _, _ in results.values() if s == "SKIPPED")
    for p in problems:
        print("compat: PROBLEM: " + p)
    print("compat: logs in %s" % out)
    print("%d passed, %d failed, %d skipped" % (passed, failed + len(problems), skipped))
    return 1 if failed or problems or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
