"""End-to-end tests of `streambus ctl` against a real StreamBus broker.

The module starts its own broker (`$STREAMBUS_BIN broker --config cfg.yaml`) on a free
loopback port in a temporary directory and drives `$STREAMBUS_BIN ctl` as an operator would,
checking exit codes, the one-line error messages and the numbers in the JSON and table output.
A consumer group is made with confluent_kafka, an independent client, so that the committed
offsets and lag ctl reports can be compared with what was really produced and committed.

Set STREAMBUS_CTL_TEST_BOOTSTRAP=host:port to run the same tests against an already running
cluster (e.g. Apache Kafka) instead of starting a broker.
"""

import json
import os
import socket
import subprocess
import time
import uuid

import pytest

from conftest import free_port

BIN = os.environ.get("STREAMBUS_BIN")
EXTERNAL_BOOTSTRAP = os.environ.get("STREAMBUS_CTL_TEST_BOOTSTRAP")

pytestmark = pytest.mark.skipif(not BIN, reason="STREAMBUS_BIN is not set")

# Generous: the broker may be busy starting; ctl itself answers in milliseconds when healthy.
CTL_TIMEOUT_MS = 15000


def wait_for_port(port, proc, log_path, deadline_s=30.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail("broker exited with %s before listening:\n%s" % (proc.returncode, tail(log_path)))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("broker did not listen on port %d within %.0fs:\n%s" % (port, deadline_s, tail(log_path)))


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory):
    if EXTERNAL_BOOTSTRAP:
        yield EXTERNAL_BOOTSTRAP
        return
    workdir = tmp_path_factory.mktemp("ctl-broker")
    port = free_port()
    config = workdir / "cfg.yaml"
    config.write_text(
        "broker:\n"
        '  listen: "127.0.0.1:%d"\n'
        '  data_dir: "%s"\n'
        "admin:\n"
        '  listen: ""\n'
        "groups:\n"
        "  initial_rebalance_delay_ms: 0\n" % (port, workdir / "data")
    )
    log_path = workdir / "broker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [BIN, "broker", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=str(workdir)
        )
    try:
        wait_for_port(port, proc, log_path)
        yield "127.0.0.1:%d" % port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ctl(bootstrap, *args, timeout_ms=CTL_TIMEOUT_MS):
    """Runs `streambus ctl` and returns the CompletedProcess (text mode)."""
    cmd = [BIN, "ctl", "--timeout-ms", str(timeout_ms)]
    if bootstrap:
        cmd += ["--bootstrap-server", bootstrap]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)


def ctl_ok(bootstrap, *args):
    result = ctl(bootstrap, *args)
    assert result.returncode == 0, "ctl %s failed (%d): %s" % (" ".join(args), result.returncode, result.stderr)
    return result


def ctl_json(bootstrap, *args):
    return json.loads(ctl_ok(bootstrap, "--output", "json", *args).stdout)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def produce(bootstrap, topic, counts_by_partition):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures = []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)

    for partition, count in counts_by_partition.items():
        for i in range(count):
            producer.produce(topic, value=b"m%d" % i, partition=partition, on_delivery=on_delivery)
    remaining = producer.flush(30)
    assert remaining == 0 and not failures, "produce failed: %r (%d undelivered)" % (failures, remaining)


# ---- command line behaviour that needs no broker --------------------------------------------


def test_usage_errors_exit_2_with_a_message():
    result = subprocess.run([BIN, "ctl", "topic", "create"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "streambus ctl: 'topic create' needs a topic name" in result.stderr
    assert result.stdout == ""

    result = subprocess.run([BIN, "ctl", "topic", "list", "--partitions", "3"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--partitions is not valid for 'topic list'" in result.stderr


def test_help_per_noun():
    result = subprocess.run([BIN, "ctl", "group", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "describe GROUP" in result.stdout
    assert "add-partitions" not in result.stdout
    result = subprocess.run([BIN, "ctl", "topic", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "add-partitions NAME --total N" in result.stdout


def test_unreachable_cluster_exits_1_naming_the_address():
    port = free_port()  # nothing listens here
    result = ctl("127.0.0.1:%d" % port, "topic", "list", timeout_ms=1500)
    assert result.returncode == 1
    assert result.stderr.startswith("streambus ctl: ")
    assert "127.0.0.1:%d" % port in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bootstrap_comes_from_environment():
    port = free_port()
    env = dict(os.environ, STREAMBUS_BOOTSTRAP="127.0.0.1:%d" % port)
    result = subprocess.run(
        [BIN, "ctl", "--timeout-ms", "1000", "topic", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert "127.0.0.1:%d" % port in result.stderr


# ---- topics ---------------------------------------------------------------------------------


def test_topic_lifecycle(bootstrap):
    topic = unique("orders")

    created = ctl_ok(bootstrap, "topic", "create", topic, "--partitions", "3", "--config", "retention.ms=3600000")
    assert 'Created topic "%s"' % topic in created.stdout

    again = ctl(bootstrap, "topic", "create", topic, "--partitions", "3")
    assert again.returncode == 1
    assert again.stderr == 'streambus ctl: topic "%s" already exists (TOPIC_ALREADY_EXISTS)\n' % topic

    tolerant = ctl_json(bootstrap, "topic", "create", topic, "--partitions", "3", "--if-not-exists")
    assert tolerant == {"topic": topic, "created": False}

    listed = {t["name"]: t for t in ctl_json(bootstrap, "topic", "list")["topics"]}
    assert listed[topic]["partitions"] == 3
    assert listed[topic]["replication_factor"] == 1
    table = ctl_ok(bootstrap, "topic", "list").stdout.splitlines()
    assert table[0].split() == ["TOPIC", "PARTITIONS", "REPLICATION-FACTOR"]
    assert [topic, "3", "1"] in [line.split() for line in table[1:]]

    produce(bootstrap, topic, {0: 2, 1: 5})
    described = ctl_json(bootstrap, "topic", "describe", topic)
    assert described["name"] == topic
    assert described["partition_count"] == 3
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    for p in described["partitions"]:
        assert p["leader"] >= 0
        assert p["replicas"] == [p["leader"]]
        assert p["isr"] == [p["leader"]]
        assert p["earliest_offset"] == 0
    assert [p["latest_offset"] for p in described["partitions"]] == [2, 5, 0]
    assert described["configs"] is not None, "the broker did not describe topic configs"
    assert described["configs"]["retention.ms"]["value"] == "3600000"

    human = ctl_ok(bootstrap, "topic", "describe", topic).stdout
    assert "Topic: %s  Partitions: 3  Replication factor: 1" % topic in human
    assert "retention.ms=3600000" in human
    rows = [line.split() for line in human.splitlines()]
    header = rows.index(["PARTITION", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST"])
    assert [r[0] for r in rows[header + 1 :]] == ["0", "1", "2"]
    assert [r[5] for r in rows[header + 1 :]] == ["2", "5", "0"]

    grown = ctl_json(bootstrap, "topic", "add-partitions", topic, "--total", "5")
    assert grown == {"topic": topic, "partitions": 5}
    assert ctl_json(bootstrap, "topic", "describe", topic)["partition_count"] == 5

    shrink = ctl(bootstrap, "topic", "add-partitions", topic, "--total", "2")
    assert shrink.returncode == 1
    assert "INVALID_PARTITIONS" in shrink.stderr
    assert shrink.stderr.startswith('streambus ctl: adding partitions to topic "%s" failed: ' % topic)

    deleted = ctl_ok(bootstrap, "topic", "delete", topic)
    assert 'Deleted topic "%s"' % topic in deleted.stdout
    assert topic not in {t["name"] for t in ctl_json(bootstrap, "topic", "list")["topics"]}

    missing = ctl(bootstrap, "topic", "delete", topic)
    assert missing.returncode == 1
    assert missing.stderr == 'streambus ctl: topic "%s" does not exist (UNKNOWN_TOPIC_OR_PART)\n' % topic
    assert ctl_json(bootstrap, "topic", "delete", topic, "--if-exists") == {"topic": topic, "deleted": False}

    unknown = ctl(bootstrap, "topic", "describe", topic)
    assert unknown.returncode == 1
    assert "does not exist (UNKNOWN_TOPIC_OR_PART)" in unknown.stderr


def test_topic_alter_config_changes_only_the_given_keys(bootstrap):
    topic = unique("altered")
    ctl_ok(bootstrap, "topic", "create", topic, "--config", "retention.ms=3600000", "--config",
           "compression.type=gzip")
    out = ctl_json(bootstrap, "topic", "alter-config", topic, "--set", "delete.retention.ms=900",
                   "--delete", "compression.type")
    assert out == {"topic": topic, "validate_only": False,
                   "configs": {"retention.ms": "3600000", "delete.retention.ms": "900"}}
    configs = ctl_json(bootstrap, "topic", "describe", topic)["configs"]
    assert configs["retention.ms"]["value"] == "3600000"  # untouched
    assert configs["delete.retention.ms"]["value"] == "900"
    assert configs["compression.type"]["value"] == "producer"  # back to the default

    human = ctl_ok(bootstrap, "topic", "alter-config", topic, "--set", "retention.ms=7200000").stdout
    assert 'Altered configs of topic "%s"' % topic in human and "retention.ms=7200000" in human
    assert ctl_json(bootstrap, "topic", "describe", topic)["configs"]["delete.retention.ms"]["value"] == "900"

    dry = ctl_ok(bootstrap, "topic", "alter-config", topic, "--set", "retention.ms=1", "--validate-only")
    assert "nothing changed" in dry.stdout
    assert ctl_json(bootstrap, "topic", "describe", topic)["configs"]["retention.ms"]["value"] == "7200000"

    bad = ctl(bootstrap, "topic", "alter-config", topic, "--set", "retention.ms=abc")
    assert bad.returncode == 1
    assert bad.stderr.startswith('streambus ctl: altering the configs of topic "%s" failed: ' % topic)
    assert "retention.ms" in bad.stderr and "INVALID_CONFIG" in bad.stderr
    unknown = ctl(bootstrap, "topic", "alter-config", topic, "--set", "retention.msec=1")
    assert unknown.returncode == 1 and "retention.msec" in unknown.stderr
    missing = ctl(bootstrap, "topic", "alter-config", unique("nope"), "--set", "retention.ms=1")
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PART" in missing.stderr
    usage = ctl(bootstrap, "topic", "alter-config", topic)
    assert usage.returncode == 2


def test_topic_alter_config_concurrent_runs_lose_no_change(bootstrap):
    # Review finding: four runs at once, each setting a different key, used to leave only two
    # or three keys (read-merge-write with AlterConfigs) while every run reported success. With
    # IncrementalAlterConfigs the broker applies each change to the stored set.
    keys = ["segment.ms", "flush.ms", "segment.jitter.ms", "flush.messages"]
    for round_no in range(6):
        topic = unique("race")
        ctl_ok(bootstrap, "topic", "create", topic, "--config", "retention.ms=3600000")
        cmd = [BIN, "ctl", "--timeout-ms", str(CTL_TIMEOUT_MS), "--bootstrap-server", bootstrap]
        procs = [subprocess.Popen(cmd + ["topic", "alter-config", topic, "--set", "%s=%d" % (k, 1000 + i)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i, k in enumerate(keys)]
        for proc in procs:
            out, errout = proc.communicate(timeout=120)
            assert proc.returncode == 0, errout
            assert "warning" not in errout, errout  # no fallback to the lossy path
        configs = ctl_json(bootstrap, "topic", "describe", topic)["configs"]
        for i, k in enumerate(keys):
            assert configs[k]["value"] == str(1000 + i), (round_no, k, configs[k])
        assert configs["retention.ms"]["value"] == "3600000"


def test_topic_alter_config_delete_of_an_unknown_key_fails_naming_it(bootstrap):
    topic = unique("delunknown")
    ctl_ok(bootstrap, "topic", "create", topic)
    result = ctl(bootstrap, "topic", "alter-config", topic, "--delete", "no.such.key")
    assert result.returncode == 1, result.stdout
    assert "no.such.key" in result.stderr and "INVALID_CONFIG" in result.stderr
    assert "deleted" not in result.stdout
    # A known key that has no override: deleting it is fine (Kafka does the same).
    ok = ctl_ok(bootstrap, "topic", "alter-config", topic, "--delete", "retention.ms")
    assert "retention.ms (deleted: back to the default)" in ok.stdout


def test_topic_alter_config_without_a_plaintext_path_falls_back_with_a_warning(bootstrap):
    # -X asks for SASL: the raw IncrementalAlterConfigs connection speaks plaintext only, so
    # ctl falls back to the lossy read-merge-write and says so. This broker has no SASL
    # listener, so the fallback itself then fails; the warning is what is checked here.
    topic = unique("fallback")
    ctl_ok(bootstrap, "topic", "create", topic)
    result = ctl(bootstrap, "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanism=PLAIN",
                 "-X", "sasl.username=u", "-X", "sasl.password=p",
                 "topic", "alter-config", topic, "--set", "retention.ms=1000", timeout_ms=3000)
    assert "warning:" in result.stderr and "can be lost" in result.stderr, result.stderr


def test_records_delete(bootstrap):
    topic = unique("purge")
    ctl_ok(bootstrap, "topic", "create", topic, "--partitions", "2")
    produce(bootstrap, topic, {0: 10, 1: 4})
    out = ctl_json(bootstrap, "records", "delete", topic, "--partition", "0", "--offset", "6")
    assert out == {"topic": topic, "partitions": [{"partition": 0, "low_watermark": 6}]}
    described = ctl_json(bootstrap, "topic", "describe", topic)["partitions"]
    assert [(p["earliest_offset"], p["latest_offset"]) for p in described] == [(6, 10), (0, 4)]

    # Offset 8 is past partition 1's end: that partition fails (and the command with it), the
    # other one is still done and reported.
    mixed = ctl(bootstrap, "records", "delete", topic, "--offset", "8")
    assert mixed.returncode == 1
    assert "%s-1" % topic in mixed.stderr and "OFFSET_OUT_OF_RANGE" in mixed.stderr
    # ... and names where partition 1 ends (4), so the operator can pick a valid offset.
    assert "the partition ends at offset 4" in mixed.stderr, mixed.stderr
    rows = [line.split() for line in mixed.stdout.splitlines()]
    assert rows[0] == ["PARTITION", "EARLIEST", "OFFSET"]
    assert rows[1] == ["0", "8"]
    assert rows[2][0] == "1" and "OFFSET_OUT_OF_RANGE" in mixed.stdout and "ends at offset 4" in mixed.stdout
    past = json.loads(ctl(bootstrap, "--output", "json", "records", "delete", topic, "--partition", "1",
                          "--offset", "9").stdout)
    assert past["partitions"] == [{"partition": 1, "low_watermark": -1, "error": "OFFSET_OUT_OF_RANGE",
                                   "end_offset": 4}]

    everything = ctl_json(bootstrap, "records", "delete", topic, "--offset", "end")
    assert everything["partitions"] == [{"partition": 0, "low_watermark": 10},
                                        {"partition": 1, "low_watermark": 4}]
    nope = ctl(bootstrap, "records", "delete", topic, "--partition", "7", "--offset", "1")
    assert nope.returncode == 1 and "no partition 7" in nope.stderr


# ---- consumer groups ------------------------------------------------------------------------


def wait_for_assignment(consumer, partitions, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        consumer.poll(0.2)
        if len(consumer.assignment()) == partitions:
            return
    pytest.fail("consumer was not assigned %d partitions within %.0fs" % (partitions, deadline_s))


def test_group_lag_matches_produced_minus_committed(bootstrap):
    from confluent_kafka import Consumer, TopicPartition

    topic = unique("payments")
    group = unique("billing")
    ctl_ok(bootstrap, "topic", "create", topic, "--partitions", "2")
    produce(bootstrap, topic, {0: 7, 1: 4})

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "billing-worker",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    closed = False
    try:
        consumer.subscribe([topic])
        wait_for_assignment(consumer, 2)
        consumer.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 1)], asynchronous=False)

        # The state column comes from ListGroups v4, which StreamBus serves.
        listed = {g["group"]: g for g in ctl_json(bootstrap, "group", "list")["groups"]}
        assert group in listed
        assert listed[group]["simple"] is False
        assert listed[group]["state"] == "Stable"
        assert group in ctl_ok(bootstrap, "group", "list").stdout.split()

        described = ctl_json(bootstrap, "group", "describe", group)
        assert described["group"] == group
        assert described["state"] == "Stable"
        assert len(described["members"]) == 1
        member = described["members"][0]
        assert member["client_id"] == "billing-worker"
        assert sorted((a["topic"], a["partition"]) for a in member["assignment"]) == [(topic, 0), (topic, 1)]
        rows = {(p["topic"], p["partition"]): p for p in described["partitions"]}
        assert rows[(topic, 0)]["committed_offset"] == 5
        assert rows[(topic, 0)]["log_end_offset"] == 7
        assert rows[(topic, 0)]["lag"] == 2
        assert rows[(topic, 1)]["committed_offset"] == 1
        assert rows[(topic, 1)]["log_end_offset"] == 4
        assert rows[(topic, 1)]["lag"] == 3
        assert rows[(topic, 0)]["consumer_id"] == member["consumer_id"]
        assert described["total_lag"] == 5

        human = ctl_ok(bootstrap, "group", "describe", group).stdout
        assert "Total lag: 5" in human
        assert "billing-worker" in human
        lines = [line.split() for line in human.splitlines()]
        assert [topic, "0", "5", "7", "2", member["consumer_id"]] in lines

        busy = ctl(bootstrap, "group", "delete", group)
        assert busy.returncode == 1
        assert "NON_EMPTY_GROUP" in busy.stderr

        consumer.close()
        closed = True

        # Offsets outlive the members: the lag of an idle group is still visible.
        idle = ctl_json(bootstrap, "group", "describe", group)
        assert idle["state"] == "Empty"
        assert idle["members"] == []
        assert idle["total_lag"] == 5
        assert {(p["partition"], p["lag"]) for p in idle["partitions"]} == {(0, 2), (1, 3)}
    finally:
        if not closed:
            consumer.close()

    deleted = ctl_ok(bootstrap, "group", "delete", group)
    assert 'Deleted group "%s"' % group in deleted.stdout
    assert group not in {g["group"] for g in ctl_json(bootstrap, "group", "list")["groups"]}
    gone = ctl(bootstrap, "group", "describe", group)
    assert gone.returncode == 1
    assert gone.stderr == 'streambus ctl: group "%s" does not exist (GROUP_ID_NOT_FOUND)\n' % group

    ctl_ok(bootstrap, "topic", "delete", topic)


def committed_of(bootstrap, group, topic):
    """{partition: committed offset} of one topic, as `group describe` reports them."""
    described = ctl_json(bootstrap, "group", "describe", group)
    return {p["partition"]: p["committed_offset"] for p in described["partitions"] if p["topic"] == topic}


def test_group_reset_offsets_dry_run_execute_and_refusal(bootstrap):
    from confluent_kafka import Consumer, TopicPartition

    topic = unique("ledger")
    group = unique("replayer")
    ctl_ok(bootstrap, "topic", "create", topic, "--partitions", "2")
    produce(bootstrap, topic, {0: 10, 1: 6})
    start_ms = int(time.time() * 1000)
    time.sleep(0.05)
    produce(bootstrap, topic, {0: 5})  # offsets 10..14 of partition 0 are newer than start_ms

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    closed = False
    try:
        consumer.subscribe([topic])
        wait_for_assignment(consumer, 2)
        consumer.commit(offsets=[TopicPartition(topic, 0, 12), TopicPartition(topic, 1, 6)], asynchronous=False)
        # Active members: refused, as kafka-consumer-groups.sh refuses, and nothing changes.
        busy = ctl(bootstrap, "group", "reset-offsets", group, "--all-topics", "--to-earliest", "--execute")
        assert busy.returncode == 1
        assert "no active members" in busy.stderr and "Stable" in busy.stderr
        assert committed_of(bootstrap, group, topic) == {0: 12, 1: 6}
        consumer.close()
        closed = True
    finally:
        if not closed:
            consumer.close()

    # The default is a dry run: the plan is printed and nothing changes.
    plan = ctl_json(bootstrap, "group", "reset-offsets", group, "--all-topics", "--to-earliest")
    assert plan["executed"] is False
    assert {(p["partition"], p["current_offset"], p["new_offset"]) for p in plan["partitions"]} == {(0, 12, 0), (1, 6, 0)}
    assert committed_of(bootstrap, group, topic) == {0: 12, 1: 6}
    assert "Dry run" in ctl_ok(bootstrap, "group", "reset-offsets", group, "--all-topics", "--to-latest").stdout

    # Shift is clamped to the log: partition 1 cannot go past its end (6).
    done = ctl_json(bootstrap, "group", "reset-offsets", group, "--topic", topic, "--shift-by", "2", "--execute")
    assert done["executed"] is True
    assert committed_of(bootstrap, group, topic) == {0: 14, 1: 6}
    ctl_ok(bootstrap, "group", "reset-offsets", group, "--topic", "%s:0" % topic, "--to-offset", "3", "--execute")
    assert committed_of(bootstrap, group, topic) == {0: 3, 1: 6}
    # By time: the first record at or after start_ms; partition 1 has none, so its log end.
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_ms / 1000)) + ".%03dZ" % (start_ms % 1000)
    ctl_ok(bootstrap, "group", "reset-offsets", group, "--all-topics", "--to-datetime", when, "--execute")
    assert committed_of(bootstrap, group, topic) == {0: 10, 1: 6}

    # A consumer of the group now really starts where the reset put it.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        first = None
        deadline = time.time() + 30
        while first is None and time.time() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                first = (msg.partition(), msg.offset())
        assert first == (0, 10)
    finally:
        consumer.close()

    # Shifting where the group has no committed offset is a state of the cluster: exit 1, not
    # the usage status 2 (review of issue 8).
    noshift = ctl(bootstrap, "group", "reset-offsets", unique("fresh"), "--topic", topic, "--shift-by", "1")
    assert noshift.returncode == 1, noshift.stderr
    assert "the group has no committed offset there" in noshift.stderr

    missing = ctl(bootstrap, "group", "reset-offsets", group, "--topic", "%s:7" % topic, "--to-earliest")
    assert missing.returncode == 1
    assert "has no partition 7" in missing.stderr
    ctl_ok(bootstrap, "topic", "delete", topic)


def test_group_delete_offsets(bootstrap):
    from confluent_kafka import Consumer, TopicPartition

    topic, other = unique("audit"), unique("audit-other")
    group = unique("auditor")
    ctl_ok(bootstrap, "topic", "create", topic, "--partitions", "2")
    ctl_ok(bootstrap, "topic", "create", other, "--partitions", "1")
    produce(bootstrap, topic, {0: 3, 1: 3})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    closed = False
    try:
        consumer.subscribe([topic])
        wait_for_assignment(consumer, 2)
        consumer.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 3), TopicPartition(other, 0, 0)],
                        asynchronous=False)
        # A live group keeps the offsets of a topic it subscribes to; others may go.
        busy = ctl(bootstrap, "group", "delete-offsets", group, "--topic", topic, "--topic", other)
        assert busy.returncode == 1
        assert "GROUP_SUBSCRIBED_TO_TOPIC" in busy.stdout and "GROUP_SUBSCRIBED_TO_TOPIC" in busy.stderr
        assert committed_of(bootstrap, group, topic) == {0: 2, 1: 3}
        assert committed_of(bootstrap, group, other) == {}
        consumer.close()
        closed = True
    finally:
        if not closed:
            consumer.close()
    result = ctl_json(bootstrap, "group", "delete-offsets", group, "--topic", "%s:1" % topic)
    assert result["partitions"] == [{"topic": topic, "partition": 1, "error": None}]
    assert committed_of(bootstrap, group, topic) == {0: 2}
    nobody = unique("nobody")
    unknown = ctl(bootstrap, "group", "delete-offsets", nobody, "--topic", topic)
    assert unknown.returncode == 1
    # Said as `group describe` says it, not as librdkafka's "failed to parse response".
    assert unknown.stderr.strip() == 'streambus ctl: group "%s" does not exist (GROUP_ID_NOT_FOUND)' % nobody, \
        unknown.stderr
    ctl_ok(bootstrap, "topic", "delete", topic)
    ctl_ok(bootstrap, "topic", "delete", other)
