"""Tests of the compat harness itself: the deb-src twin (debsrc.py) and the reading of
test-runner's results (run.py). They need no network and no librdkafka build; the harness's
real run is CTest's compat/librdkafka_fast."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import debsrc  # noqa: E402
import run  # noqa: E402


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def apt_dir(tmp_path):
    d = tmp_path / "apt"
    write(d / "sources.list",
          "# an old-style list\n"
          "deb [arch=amd64 signed-by=/usr/share/keyrings/mirror.gpg] http://mirror.example/debian bookworm main contrib\n"
          "deb-src http://mirror.example/debian bookworm main\n"
          "#deb http://commented.example/debian bookworm main\n"
          "deb https://deb.nodesource.com/node_20.x nodistro main\n")
    write(d / "sources.list.d" / "debian.sources",
          "Types: deb\n"
          "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
          "URIs: http://deb.debian.org/debian\n"
          "Suites: bookworm bookworm-updates\n"
          "Components: main\n"
          "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
          "\n"
          "Types: deb\n"
          "URIs: http://deb.debian.org/debian-security\n"
          "Suites: bookworm-security\n"
          "Components: main\n"
          "Enabled: no\n")
    write(d / "sources.list.d" / "cloud.sources",
          "Types: deb\nURIs: https://packages.cloud.example/apt\nSuites: cloud-sdk-bookworm\nComponents: main\n")
    return d


def test_deb_src_twin_mirrors_enabled_debian_entries_only(apt_dir):
    text = debsrc.deb_src_text(apt_dir, "bookworm")
    stanzas = [s for s in text.split("\n\n") if s.startswith("Types:")]
    assert stanzas == [
        "Types: deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main contrib\n"
        "Signed-By: /usr/share/keyrings/mirror.gpg",
        "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    ]


def test_deb_src_twin_refuses_when_no_entry_of_the_release(apt_dir, tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text('PRETTY_NAME="Debian GNU/Linux 13"\nVERSION_CODENAME=trixie\n')
    out = tmp_path / "out.sources"
    r = subprocess.run([sys.executable, str(HERE / "debsrc.py"), "--apt-dir", str(apt_dir),
                        "--os-release", str(os_release), str(out)], capture_output=True, text=True)
    assert r.returncode != 0
    assert "no enabled deb entry for the trixie archive in %s" % apt_dir in r.stderr
    assert not out.exists()


def test_list_files_name_the_bad_line(tmp_path):
    f = tmp_path / "skip.txt"
    f.write_text("# comment\n0016 a reason\n16 too short\n")
    with pytest.raises(SystemExit) as e:
        run.read_list(f)
    assert "skip.txt:3: expected a four-digit test number first, got '16'" in str(e.value)


def test_results_come_from_the_report_with_reasons_from_the_log(tmp_path):
    log = tmp_path / "parallel.log"
    log.write_text(
        "\x1b[36m[0030_offset_commit          / 14.7s] TEST FAILURE\n"
        '### Test "0030_offset_commit (do_offset_test:122: MANUAL.COMMIT.ASYNC)" failed at '
        "0030-offset_commit.c:304:do_offset_test() at Fri Dec  4 18:04:16 2026: ###\n"
        "MANUAL.COMMIT.ASYNC & AUTO.STORE: Expected committed() offset 50, got 2\n"
        '### Test "0030_offset_commit (later)" failed at x.c:1:f() at Fri Dec  4 18:04:17 2026: ###\n'
        "a later, less telling failure\n"
        "[0092_mixed_msgver            /  0.000s] WARN: SKIPPING TEST: not applicable for broker version 0.10.0.0\n"
        "[0022_consume_batch_local    /  0.000s] WARN: SKIPPING TEST: Filtered due to negative test flags\n")
    report = tmp_path / "parallel.report.json"
    report.write_text(json.dumps({"tests": {
        "<MAIN>": {"state": "PASSED", "duration": 40.0},
        "0001_multiobj": {"state": "PASSED", "duration": 0.05},
        "0030_offset_commit": {"state": "FAILED", "duration": 300.0},
        "0092_mixed_msgver": {"state": "SKIPPED", "duration": 0.0},
        "0022_consume_batch": {"state": "DNS", "duration": 0.0},
        "0022_consume_batch_local": {"state": "SKIPPED", "duration": 0.0},
        "0099_commit_metadata": {"state": "SKIPPED", "duration": 0.0},  # not in TESTS
    }}))
    expected = ["0001_multiobj", "0022_consume_batch", "0030_offset_commit", "0092_mixed_msgver",
                "0099_commit_metadata"]
    got = run.parse_results(log, report, ["0001", "0022", "0030", "0092"], expected)
    assert got == {
        "0001_multiobj": ("PASSED", 0.05, ""),
        "0022_consume_batch": ("DNS", 0.0, ""),
        "0030_offset_commit": ("FAILED", 300.0, "0030-offset_commit.c:304:do_offset_test(): "
                               "MANUAL.COMMIT.ASYNC & AUTO.STORE: Expected committed() offset 50, got 2"),
        "0092_mixed_msgver": ("SKIPPED", 0.0, "not applicable for broker version 0.10.0.0"),
    }


def test_no_report_means_no_results(tmp_path):
    log = tmp_path / "parallel.log"
    log.write_text("killed before the summary\n")
    assert run.parse_results(log, tmp_path / "missing.json", ["0001"], ["0001_multiobj"]) == {}


def test_broker_tests_leave_out_local_manual_and_known_issue_tests(tmp_path):
    write(tmp_path / "tests" / "test.c",
          "struct test tests[] = {\n"
          "    _TEST(0001_multiobj, 0),\n"
          "    _TEST(0022_consume_batch_local, TEST_F_LOCAL),\n"
          "    _TEST(0028_long_topicnames,\n          TEST_F_KNOWN_ISSUE,\n          TEST_BRKVER(0, 9, 0, 0)),\n"
          "    _TEST(0055_producer_latency, TEST_F_KNOWN_ISSUE_WIN32),\n"
          "    _TEST(0045_subscribe_update_topic_remove,\n          0,\n          TEST_BRKVER(0, 9, 0, 0),\n"
          '          .scenario = "noautocreate"),\n'
          '    _TEST(0103_transactions, 0, TEST_BRKVER(0, 11, 0, 0), .scenario = "default,ak23"),\n'
          "    _TEST(8000_idle, TEST_F_MANUAL),\n"
          "    {NULL}};\n")
    assert run.broker_tests(tmp_path) == {
        "0001_multiobj": ["default"],
        "0055_producer_latency": ["default"],
        "0045_subscribe_update_topic_remove": ["noautocreate"],
        "0103_transactions": ["default", "ak23"],
    }


def test_a_test_with_several_subtest_names_runs_once_per_name():
    subtests = {"0061": ("without", "transactions"), "0113": ("a_assign,k_add", "client bug")}
    groups = run.plan_groups(["0001", "0061", "0076", "0081", "0113"], {"0076": "sockem"}, subtests,
                             {"0081": ("2.7.0", "AlterConfigs")})
    assert groups == [
        ("parallel", ["0001"], ["-p2"], {}, 0),
        ("serial", ["0076"], ["-p1"], {}, 0),
        ("kafka-delay", [], ["-p1"], {}, 3000),
        ("partial-0061", ["0061"], ["-p1"], {"SUBTESTS": "without"}, 0),
        ("partial-0113-1", ["0113"], ["-p1"], {"SUBTESTS": "a_assign"}, 0),
        ("partial-0113-2", ["0113"], ["-p1"], {"SUBTESTS": "k_add"}, 0),
        ("version-0081", ["0081"], ["-p1"], {"TEST_KAFKA_VERSION": "2.7.0"}, 0),
    ]


def test_a_test_that_needs_kafkas_rebalance_delay_gets_it_in_every_group():
    groups = run.plan_groups(["0001", "0118", "0076", "0113"], {"0076": "sockem", "0118": "x"},
                             {"0113": ("a_assign", "client bug")}, {}, kafka_delay={"0118": "why", "0113": "why"})
    assert groups == [
        ("parallel", ["0001"], ["-p2"], {}, 0),
        ("serial", ["0076"], ["-p1"], {}, 0),
        ("kafka-delay", ["0118"], ["-p1"], {}, 3000),
        ("partial-0113", ["0113"], ["-p1"], {"SUBTESTS": "a_assign"}, 3000),
    ]


def test_the_rebalance_delay_list_names_only_tests_with_reasons():
    entries = run.read_list(run.HERE / "rebalance_delay.txt")
    assert entries and all(reason for _, reason in entries)


def test_a_test_run_in_parts_fails_when_any_part_failed():
    results = {}
    run.merge(results, {"0113_cooperative_rebalance": ("PASSED", 12.0, "")})
    run.merge(results, {"0113_cooperative_rebalance": ("PASSED", 3.5, "")})
    assert results["0113_cooperative_rebalance"] == ("PASSED", 15.5, "")
    run.merge(results, {"0113_cooperative_rebalance": ("FAILED", 40.0, "x.cpp:1: timed out")})
    run.merge(results, {"0113_cooperative_rebalance": ("PASSED", 3.0, "")})
    assert results["0113_cooperative_rebalance"][0] == "FAILED"
