"""The operator's surface: admin HTTP health and Prometheus metrics, `--version`, and config
validation that names the file, line and key of a mistake."""

import re
import subprocess

from conftest import Broker, http_get, kcat_consume, kcat_produce, wait_until

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] from Prometheus text format; fails on a malformed line."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "malformed metrics line: %r" % line
        labels = dict(LABEL.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def request_count(samples, api):
    """Sum of request-counter samples labelled with `api` (matched case-insensitively against any
    label value, so api="Produce" and api="produce" both count)."""
    total = 0.0
    for name, labels, value in samples:
        if "request" in name and name.endswith(("_total", "_count")) and any(
                v.lower() == api.lower() for v in labels.values()):
            total += value
    return total


def test_health_endpoints(broker):
    assert http_get(broker.admin_url + "/health/live")[0] == 200
    assert http_get(broker.admin_url + "/health/ready")[0] == 200
    assert http_get(broker.admin_url + "/no-such-page")[0] == 404


def test_metrics_are_valid_prometheus_and_count_requests_per_api(broker):
    kcat_produce(broker, "metrics-topic", ["k%d:v%d" % (i, i) for i in range(10)])
    assert len(kcat_consume(broker, "metrics-topic").splitlines()) == 10

    status, text = http_get(broker.admin_url + "/metrics")
    assert status == 200
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)
    assert lint.returncode == 0, "promtool rejects /metrics:\n%s%s" % (lint.stdout, lint.stderr)
    samples = parse_metrics(text)
    for api in ("ApiVersions", "Metadata", "Produce", "Fetch"):
        assert request_count(samples, api) >= 1, "no request count for %s in /metrics" % api

    # Counters move with traffic.
    before = request_count(samples, "Produce")
    kcat_produce(broker, "metrics-topic", ["more:traffic"])
    wait_until(lambda: request_count(parse_metrics(http_get(broker.admin_url + "/metrics")[1]),
                                     "Produce") > before,
               10, "the Produce request count to grow after another produce")


def test_version(bin_path):
    proc = subprocess.run([bin_path, "--version"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0
    assert re.fullmatch(r"streambus \d+\.\d+\.\d+\s*", proc.stdout), proc.stdout


def validate(bin_path, path):
    proc = subprocess.run([bin_path, "broker", "--config", str(path), "--validate-config"],
                          capture_output=True, text=True, timeout=10)
    return proc.returncode, proc.stdout + proc.stderr


def test_validate_config_accepts_the_documented_config(bin_path, tmp_path):
    # The exact config the harness runs brokers with (every documented key), not started.
    b = Broker(bin_path, tmp_path / "good")
    code, out = validate(bin_path, b.config_path)
    assert code == 0, out


GOOD_LINES = [
    "broker:",                                   # 1
    '  listen: "127.0.0.1:19092"',               # 2
    '  data_dir: "/tmp/streambus-validate"',     # 3
    "  auto_create_topics: true",                # 4
    "  default_partitions: 1",                   # 5
    "log:",                                      # 6
    "  segment_bytes: 1073741824",               # 7
    "admin:",                                    # 8
    '  listen: "127.0.0.1:18080"',               # 9
    "logging:",                                  # 10
    "  level: info",                             # 11
]


def bad_config(tmp_path, line_no, replacement):
    lines = list(GOOD_LINES)
    if line_no > len(lines):
        lines.append(replacement)
    else:
        lines[line_no - 1] = replacement
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def names_line(out, line_no):
    return re.search(r"(line\s*%d\b|:%d\b)" % (line_no, line_no), out) is not None


def test_validate_config_baseline_is_good(bin_path, tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text("\n".join(GOOD_LINES) + "\n")
    code, out = validate(bin_path, path)
    assert code == 0, out


def check_rejected(bin_path, tmp_path, line_no, replacement, key):
    path = bad_config(tmp_path, line_no, replacement)
    code, out = validate(bin_path, path)
    assert code != 0, "config with %r accepted" % replacement
    assert str(path) in out or path.name in out, "message must name the file: %s" % out
    assert key in out, "message must name the key %r: %s" % (key, out)
    assert names_line(out, line_no), "message must name line %d: %s" % (line_no, out)
    return out


def test_validate_config_rejects_unknown_key(bin_path, tmp_path):
    check_rejected(bin_path, tmp_path, 5, "  default_partitons: 1", "default_partitons")


def test_validate_config_rejects_unknown_section(bin_path, tmp_path):
    check_rejected(bin_path, tmp_path, 12, "brokre_extra: 1", "brokre_extra")


def test_validate_config_rejects_non_numeric_value(bin_path, tmp_path):
    check_rejected(bin_path, tmp_path, 7, "  segment_bytes: lots", "segment_bytes")


def test_validate_config_rejects_bad_enum_value(bin_path, tmp_path):
    check_rejected(bin_path, tmp_path, 11, "  level: loud", "level")


def test_validate_config_rejects_bad_boolean(bin_path, tmp_path):
    check_rejected(bin_path, tmp_path, 4, "  auto_create_topics: perhaps", "auto_create_topics")


def test_validate_config_rejects_malformed_yaml(bin_path, tmp_path):
    path = bad_config(tmp_path, 3, '  data_dir: "/tmp/unterminated')
    code, out = validate(bin_path, path)
    assert code != 0
    assert path.name in out, out


def test_broker_refuses_to_start_with_bad_config(bin_path, tmp_path):
    path = bad_config(tmp_path, 5, "  default_partitions: many")
    try:
        proc = subprocess.run([bin_path, "broker", "--config", str(path)], capture_output=True,
                              text=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("broker kept running on a config with a bad value") from None
    assert proc.returncode != 0
    assert "default_partitions" in proc.stdout + proc.stderr
