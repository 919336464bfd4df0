"""The admin APIs operators and tools use, against the real broker: AlterConfigs and
DescribeConfigs through confluent-kafka's AdminClient (librdkafka), and, on raw sockets, what no
Debian-packaged client sends yet: IncrementalAlterConfigs, DeleteRecords v2, DescribeCluster,
DescribeLogDirs and ListOffsets v7 with MAX_TIMESTAMP. Every change is checked for effect
(retention really runs with the new value, reads below a deleted point fail) and for surviving a
restart; every refusal for its error code and a message naming what was wrong."""

import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from conftest import kcat_consume
from kafka_raw import call, cstr, delete_records_v2, incremental_alter, list_offsets_v7, uvar

INVALID_CONFIG = 40
INVALID_REQUEST = 42
POLICY_VIOLATION = 44
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_OUT_OF_RANGE = 1
NODE_ID = 0  # the test config's broker.node_id default

# --------------------------------------------------------------------------------------------
# confluent-kafka helpers
# --------------------------------------------------------------------------------------------


def admin(broker):
    """One AdminClient per broker, kept alive: librdkafka fails the futures of a destroyed
    handle, so a temporary client would lose its answers."""
    if getattr(broker, "_test_admin", None) is None:
        broker._test_admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    return broker._test_admin


def create_topic(broker, name, partitions=1, config=None):
    fs = admin(broker).create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                     operation_timeout=10)
    fs[name].result(timeout=20)


def alter(broker, rtype, name, values, validate_only=False):
    """AlterConfigs through librdkafka; returns None or the KafkaError of the resource."""
    res = ConfigResource(rtype, name, set_config=values)
    fs = admin(broker).alter_configs([res], validate_only=validate_only, request_timeout=15)
    try:
        list(fs.values())[0].result(timeout=20)
        return None
    except KafkaException as e:
        return e.args[0]


def describe(broker, rtype, name):
    """{key: (value, source)} from DescribeConfigs."""
    fs = admin(broker).describe_configs([ConfigResource(rtype, name)], request_timeout=15)
    entries = list(fs.values())[0].result(timeout=20)
    return {k: (e.value, e.source) for k, e in entries.items()}


def produce(broker, topic, values, partition=0, timestamp=None):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for v in values:
        if timestamp is None:
            p.produce(topic, v.encode(), partition=partition)
        else:
            p.produce(topic, v.encode(), partition=partition, timestamp=timestamp)
        p.poll(0)
    assert p.flush(30) == 0


def watermarks(broker, topic, partition=0):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "wm-probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# AlterConfigs / DescribeConfigs (confluent-kafka)
# --------------------------------------------------------------------------------------------


def test_topic_configs_outside_the_applied_set_are_accepted_stored_and_described(broker):
    # librdkafka's test 0081 creates topics with delete.retention.ms: a Kafka topic config that
    # means nothing on one node, but must be accepted, kept and described.
    create_topic(broker, "cfg-any", config={"delete.retention.ms": "900", "segment.ms": "3600000"})
    cfg = describe(broker, ConfigResource.Type.TOPIC, "cfg-any")
    assert cfg["delete.retention.ms"] == ("900", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["segment.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    # Every Kafka topic config is described, with where its value comes from.
    assert cfg["retention.ms"] == ("604800000", ConfigSource.STATIC_BROKER_CONFIG.value)
    assert cfg["min.insync.replicas"] == ("1", ConfigSource.DEFAULT_CONFIG.value)
    assert cfg["cleanup.policy"] == ("delete", ConfigSource.DEFAULT_CONFIG.value)
    for key in ("compression.type", "max.compaction.lag.ms", "message.timestamp.type",
                "unclean.leader.election.enable", "segment.index.bytes", "flush.messages"):
        assert key in cfg, key


def test_alter_configs_replaces_the_whole_dynamic_set(broker):
    create_topic(broker, "cfg-replace", config={"retention.ms": "3600000"})
    assert alter(broker, ConfigResource.Type.TOPIC, "cfg-replace",
                 {"compression.type": "gzip", "flush.ms": "12345678"}) is None
    cfg = describe(broker, ConfigResource.Type.TOPIC, "cfg-replace")
    assert cfg["compression.type"] == ("gzip", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["flush.ms"] == ("12345678", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    # retention.ms was not in the new set: it is back to the broker's value.
    assert cfg["retention.ms"] == ("604800000", ConfigSource.STATIC_BROKER_CONFIG.value)


@pytest.mark.parametrize("key,value,needle", [
    ("retention.ms", "abc", "retention.ms"),
    ("segment.bytes", "10", "segment.bytes"),
    ("cleanup.policy", "shred", "cleanup.policy"),
    ("no.such.config", "1", "no.such.config"),
])
def test_alter_configs_refuses_bad_entries_naming_the_key_and_changes_nothing(broker, key, value,
                                                                               needle):
    create_topic(broker, "cfg-bad", config={"retention.ms": "3600000"})
    err = alter(broker, ConfigResource.Type.TOPIC, "cfg-bad",
                {"compression.type": "lz4", key: value})
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert needle in err.str(), err.str()
    cfg = describe(broker, ConfigResource.Type.TOPIC, "cfg-bad")
    # Nothing changed: not even the good entry of the same resource.
    assert cfg["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["compression.type"][1] == ConfigSource.DEFAULT_CONFIG.value


def test_alter_configs_unknown_topic_and_validate_only(broker):
    err = alter(broker, ConfigResource.Type.TOPIC, "cfg-missing", {"retention.ms": "1000"})
    assert err is not None and err.code() == UNKNOWN_TOPIC_OR_PARTITION, err
    create_topic(broker, "cfg-validate")
    assert alter(broker, ConfigResource.Type.TOPIC, "cfg-validate", {"retention.ms": "1000"},
                 validate_only=True) is None
    assert describe(broker, ConfigResource.Type.TOPIC, "cfg-validate")["retention.ms"][1] == \
        ConfigSource.STATIC_BROKER_CONFIG.value
    err = alter(broker, ConfigResource.Type.TOPIC, "cfg-validate", {"retention.ms": "x"},
                validate_only=True)
    assert err is not None and err.code() == INVALID_CONFIG and "retention.ms" in err.str()


def test_create_topics_validate_only_validates_configs(broker):
    # librdkafka's 0081 sends CreateTopics with validate_only and an unknown config and expects
    # INVALID_CONFIG, as a real create would get; the broker used to answer NO_ERROR.
    def validate(name, config):
        fs = admin(broker).create_topics([NewTopic(name, 2, 1, config=config)],
                                         validate_only=True, operation_timeout=10)
        try:
            fs[name].result(timeout=20)
            return None
        except KafkaException as e:
            return e.args[0]

    err = validate("cfg-vo", {"dummy.doesntexist": "1"})
    assert err is not None and err.code() == INVALID_CONFIG, err
    assert "dummy.doesntexist" in err.str(), err.str()
    err = validate("cfg-vo", {"retention.ms": "abc"})
    assert err is not None and err.code() == INVALID_CONFIG and "retention.ms" in err.str(), err
    assert validate("cfg-vo", {"retention.ms": "1000", "delete.retention.ms": "5"}) is None
    # Validation only: the topic was not created.
    md = admin(broker).list_topics(timeout=10)
    assert "cfg-vo" not in md.topics


def test_broker_configs_dynamic_and_static(broker):
    create_topic(broker, "cfg-brk")
    node = str(NODE_ID)
    # librdkafka's 0081 sets this per-broker key; stored and described, no effect here.
    assert alter(broker, ConfigResource.Type.BROKER, node,
                 {"log.retention.ms": "7200000",
                  "sasl.kerberos.min.time.before.relogin": "58000"}) is None
    bcfg = describe(broker, ConfigResource.Type.BROKER, node)
    assert bcfg["log.retention.ms"] == ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert bcfg["num.partitions"][1] == ConfigSource.STATIC_BROKER_CONFIG.value
    # The topic inherits the broker's dynamic value.
    tcfg = describe(broker, ConfigResource.Type.TOPIC, "cfg-brk")
    assert tcfg["retention.ms"] == ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)

    err = alter(broker, ConfigResource.Type.BROKER, node, {"num.partitions": "3"})
    assert err is not None and err.code() == INVALID_REQUEST, err
    assert "Cannot update these configs dynamically" in err.str() and "num.partitions" in err.str()
    err = alter(broker, ConfigResource.Type.BROKER, node, {"log.retention.ms": "soon"})
    assert err is not None and err.code() == INVALID_CONFIG and "log.retention.ms" in err.str()
    # The refused requests left the earlier value alone.
    assert describe(broker, ConfigResource.Type.BROKER, node)["log.retention.ms"][0] == "7200000"


def test_dynamic_configs_survive_a_restart(broker):
    create_topic(broker, "cfg-restart")
    assert alter(broker, ConfigResource.Type.TOPIC, "cfg-restart",
                 {"retention.bytes": "123456789", "delete.retention.ms": "900"}) is None
    assert alter(broker, ConfigResource.Type.BROKER, str(NODE_ID),
                 {"log.segment.bytes": "2097152"}) is None
    broker.restart()
    cfg = describe(broker, ConfigResource.Type.TOPIC, "cfg-restart")
    assert cfg["retention.bytes"] == ("123456789", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["delete.retention.ms"] == ("900", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["segment.bytes"] == ("2097152", ConfigSource.DYNAMIC_BROKER_CONFIG.value)


def test_retention_runs_with_the_altered_value(broker):
    # Small segments so that a few hundred records make several; then a size limit set at run
    # time deletes the oldest segments at once (no restart, no retention interval to wait for).
    create_topic(broker, "cfg-ret", config={"segment.bytes": "1024"})
    produce(broker, "cfg-ret", ["record-%04d-%s" % (i, "x" * 100) for i in range(200)])
    low, high = watermarks(broker, "cfg-ret")
    assert (low, high) == (0, 200)
    assert alter(broker, ConfigResource.Type.TOPIC, "cfg-ret",
                 {"segment.bytes": "1024", "retention.bytes": "4096"}) is None
    low, high = watermarks(broker, "cfg-ret")
    assert high == 200 and low > 100, (low, high)
    # The log never drops below the limit, and what is left is readable from the new start.
    lines = kcat_consume(broker, "cfg-ret", fmt="%o\\n").split()
    assert [int(x) for x in lines] == list(range(low, 200))


def test_internal_topic_configs_are_refused(broker):
    err = alter(broker, ConfigResource.Type.TOPIC, "__consumer_offsets", {"retention.ms": "1"})
    assert err is not None and err.code() == POLICY_VIOLATION, err


# --------------------------------------------------------------------------------------------
# IncrementalAlterConfigs (raw: librdkafka 2.0.2 and the other packaged clients lack it)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_alter_configs_set_delete_append_subtract(broker, version):
    topic = "inc-%d" % version
    create_topic(broker, topic, config={"retention.ms": "3600000", "compression.type": "gzip"})
    res = incremental_alter(broker, [(2, topic, [("segment.ms", 0, "60000"),
                                                 ("compression.type", 1, None),
                                                 ("cleanup.policy", 2, "compact")])], version=version)
    assert res == [(0, None, 2, topic)]
    cfg = describe(broker, ConfigResource.Type.TOPIC, topic)
    assert cfg["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)  # kept
    assert cfg["segment.ms"] == ("60000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["compression.type"] == ("producer", ConfigSource.DEFAULT_CONFIG.value)  # deleted
    assert cfg["cleanup.policy"] == ("delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    res = incremental_alter(broker, [(2, topic, [("cleanup.policy", 3, "delete")])], version=version)
    assert res[0][0] == 0
    assert describe(broker, ConfigResource.Type.TOPIC, topic)["cleanup.policy"][0] == "compact"


def test_incremental_alter_configs_refusals(broker):
    create_topic(broker, "inc-bad", config={"retention.ms": "3600000"})
    res = incremental_alter(broker, [
        (2, "inc-bad", [("retention.ms", 0, "abc")]),
        (2, "inc-bad", [("retention.ms", 2, "5")]),           # APPEND to a non-list
        (2, "inc-bad", [("retention.ms", 0, "1"), ("retention.ms", 0, "2")]),
        (2, "inc-bad", [("retention.ms", 9, "1")]),           # unknown operation
        (2, "inc-missing", [("retention.ms", 0, "1")]),
        (4, "", [("num.partitions", 0, "3")]),
        (4, "99", [("log.retention.ms", 0, "1")]),            # another broker's id
        (3, "some-group", [("x", 0, "1")]),                   # GROUP: unsupported type
    ])
    codes = [r[0] for r in res]
    assert codes == [INVALID_CONFIG, INVALID_CONFIG, INVALID_REQUEST, INVALID_REQUEST,
                     UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, INVALID_REQUEST, INVALID_REQUEST]
    assert "retention.ms" in res[0][1] and "retention.ms" in res[1][1]
    assert "duplicate" in res[2][1]
    assert "Cannot update these configs dynamically" in res[5][1]
    assert "Unexpected broker id" in res[6][1]
    assert describe(broker, ConfigResource.Type.TOPIC, "inc-bad")["retention.ms"][0] == "3600000"


def test_incremental_alter_cluster_default_applies_to_topics(broker):
    create_topic(broker, "inc-cluster")
    assert incremental_alter(broker, [(4, "", [("log.retention.bytes", 0, "999999")])])[0][0] == 0
    cfg = describe(broker, ConfigResource.Type.TOPIC, "inc-cluster")
    assert cfg["retention.bytes"] == ("999999", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    assert incremental_alter(broker, [(4, "", [("log.retention.bytes", 1, None)])])[0][0] == 0
    cfg = describe(broker, ConfigResource.Type.TOPIC, "inc-cluster")
    assert cfg["retention.bytes"] == ("-1", ConfigSource.STATIC_BROKER_CONFIG.value)


# --------------------------------------------------------------------------------------------
# DeleteRecords, ListOffsets v7, DescribeCluster, DescribeLogDirs (raw)
# --------------------------------------------------------------------------------------------


def test_delete_records_moves_the_log_start_durably(broker):
    create_topic(broker, "dr", partitions=2, config={"segment.bytes": "1024"})
    produce(broker, "dr", ["v%03d-%s" % (i, "y" * 100) for i in range(100)])
    res = delete_records_v2(broker, "dr", [(0, 60), (1, 5), (7, 1)])
    assert res[0] == (60, 0)
    assert res[1] == (-1, OFFSET_OUT_OF_RANGE)  # partition 1 is empty: 5 is past its end
    assert res[7] == (-1, UNKNOWN_TOPIC_OR_PARTITION)
    assert watermarks(broker, "dr") == (60, 100)
    # Whole segments below the new start are gone from disk.
    segs = sorted(p.name for p in broker.partition_dir("dr", 0).glob("*.log"))
    assert int(segs[0].split(".")[0]) > 0, segs
    # An offset below the current start changes nothing and reports the start.
    assert delete_records_v2(broker, "dr", [(0, 10)])[0] == (60, 0)
    assert delete_records_v2(broker, "dr", [(0, 101)])[0] == (-1, OFFSET_OUT_OF_RANGE)

    broker.restart()
    assert watermarks(broker, "dr") == (60, 100)
    err, ts, off = list_offsets_v7(broker, "dr", 0, -2)
    assert (err, off) == (0, 60)
    assert [int(x) for x in kcat_consume(broker, "dr", fmt="%o\\n", extra=["-p", "0"]).split()] == \
        list(range(60, 100))
    # -1 deletes up to the high watermark.
    assert delete_records_v2(broker, "dr", [(0, -1)])[0] == (100, 0)
    assert watermarks(broker, "dr") == (100, 100)


def test_consumer_below_the_log_start_is_reset(broker):
    create_topic(broker, "dr-reset")
    produce(broker, "dr-reset", ["m%d" % i for i in range(20)])
    assert delete_records_v2(broker, "dr-reset", [(0, 12)])[0] == (12, 0)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dr-reset-g",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        # Positioned explicitly at 3 (deleted): the broker answers OFFSET_OUT_OF_RANGE and the
        # client falls back to auto.offset.reset=earliest, i.e. the new start.
        c.assign([TopicPartition("dr-reset", 0, 3)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 8 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.append(m.offset())
        assert got == list(range(12, 20))
    finally:
        c.close()


def test_list_offsets_v7_max_timestamp(broker):
    create_topic(broker, "lo-max")
    assert list_offsets_v7(broker, "lo-max", 0, -3) == (0, -1, -1)  # empty log
    base = 1_700_000_000_000
    for i, delta in enumerate([5, 50, 7, 9]):  # the largest timestamp is at offset 1
        produce(broker, "lo-max", ["t%d" % i], timestamp=base + delta)
    assert list_offsets_v7(broker, "lo-max", 0, -3) == (0, base + 50, 1)
    assert list_offsets_v7(broker, "lo-max", 0, -1) == (0, -1, 4)
    assert list_offsets_v7(broker, "lo-max", 0, base + 8) == (0, base + 50, 1)
    # Once offset 1 is deleted, the maximum is taken over what remains.
    assert delete_records_v2(broker, "lo-max", [(0, 2)])[0] == (2, 0)
    assert list_offsets_v7(broker, "lo-max", 0, -3) == (0, base + 9, 3)
    assert list_offsets_v7(broker, "lo-max", 0, base + 1) == (0, base + 7, 2)


def test_describe_cluster_v0(broker):
    r = call(broker, 60, 0, b"\x00\x00", True)
    assert r.i32() == 0 and r.i16() == 0 and r.cstr() is None
    assert r.cstr() == "streambus-local"
    assert r.i32() == NODE_ID
    assert r.carr() == 1
    assert (r.i32(), r.cstr(), r.i32(), r.cstr()) == (NODE_ID, broker.host, broker.port, None)
    r.tags()
    r.i32()
    r.tags()
    r.done()


@pytest.mark.parametrize("version", [0, 3])
def test_describe_log_dirs(broker, version):
    create_topic(broker, "ld", partitions=2)
    produce(broker, "ld", ["z" * 100] * 10, partition=1)
    flex = version >= 2
    body = uvar(0) + b"\x00" if flex else struct.pack(">i", -1)  # null: every topic
    r = call(broker, 35, version, body, flex)
    r.i32()
    if version >= 3:
        assert r.i16() == 0
    assert (r.carr() if flex else r.i32()) == 1
    assert r.i16() == 0
    logdir = r.cstr() if flex else r.s16()
    assert logdir == str(broker.data_dir.resolve())
    sizes = {}
    for _ in range(r.carr() if flex else r.i32()):
        name = r.cstr() if flex else r.s16()
        for _ in range(r.carr() if flex else r.i32()):
            p, size, lag, future = r.i32(), r.i64(), r.i64(), r.boolean()
            if flex:
                r.tags()
            assert (lag, future) == (0, False)
            sizes[(name, p)] = size
        if flex:
            r.tags()
    if flex:
        r.tags()
        r.tags()
    r.done()
    assert sizes[("ld", 0)] == 0
    assert sizes[("ld", 1)] > 1000
    assert ("__consumer_offsets", 0) in sizes


def test_a_damaged_dynamic_config_file_stops_start_up_naming_file_line_and_key(broker):
    """Dynamic configs are validated at start-up like the config file: a value edited by hand
    into something invalid must not be applied silently."""
    assert alter(broker, ConfigResource.Type.BROKER, str(NODE_ID), {"log.retention.ms": "7200000"}) is None
    broker.stop()
    path = broker.data_dir / ".configs" / "broker"
    lines = path.read_text().splitlines()
    assert "log.retention.ms=7200000" in lines
    lines.append("log.retention.ms=soon")
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([broker.binary, "broker", "--config", str(broker.config_path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "%s:%d" % (path, len(lines)) in out and "log.retention.ms" in out, out
    # Repaired, the broker starts with the value that was there before.
    path.write_text("\n".join(lines[:-1]) + "\n")
    broker.start()
    assert describe(broker, ConfigResource.Type.BROKER, str(NODE_ID))["log.retention.ms"] == \
        ("7200000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)


def test_alter_configs_v2_flexible(broker):
    """AlterConfigs v2 (compact strings, tag buffers): no packaged client sends it yet."""
    create_topic(broker, "ac-v2", config={"retention.ms": "3600000"})
    body = uvar(3)  # two resources
    body += struct.pack(">b", 2) + cstr("ac-v2") + uvar(2) + cstr("segment.ms") + cstr("120000") + b"\x00" + b"\x00"
    body += struct.pack(">b", 2) + cstr("ac-none") + uvar(1) + b"\x00"
    body += struct.pack(">?", False) + b"\x00"
    r = call(broker, 33, 2, body, True)
    r.i32()
    assert r.carr() == 2
    got = []
    for _ in range(2):
        got.append((r.i16(), r.cstr(), r.i8(), r.cstr()))
        r.tags()
    r.tags()
    r.done()
    assert got[0] == (0, None, 2, "ac-v2")
    assert got[1][0] == UNKNOWN_TOPIC_OR_PARTITION and got[1][3] == "ac-none"
    cfg = describe(broker, ConfigResource.Type.TOPIC, "ac-v2")
    assert cfg["segment.ms"] == ("120000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert cfg["retention.ms"][1] == ConfigSource.STATIC_BROKER_CONFIG.value  # replaced set


def test_delete_records_and_configs_survive_kill9(broker):
    """Both are on disk when answered: a SIGKILL right after loses neither."""
    create_topic(broker, "k9", config={"segment.bytes": "1024"})
    produce(broker, "k9", ["r%03d-%s" % (i, "q" * 100) for i in range(60)])
    assert delete_records_v2(broker, "k9", [(0, 33)])[0] == (33, 0)
    assert alter(broker, ConfigResource.Type.TOPIC, "k9", {"segment.bytes": "1024",
                                                          "retention.ms": "86400000"}) is None
    broker.kill9()
    broker.start()
    assert watermarks(broker, "k9") == (33, 60)
    assert describe(broker, ConfigResource.Type.TOPIC, "k9")["retention.ms"] == \
        ("86400000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def test_a_config_that_cannot_be_persisted_is_not_applied(broker):
    """I/O failure while writing the topic's file: KAFKA_STORAGE_ERROR, and the old configs
    stay in force (a change is applied only once it is on disk)."""
    create_topic(broker, "io-fail", config={"retention.ms": "3600000"})
    blocker = broker.data_dir / ".topics" / "io-fail.tmp"
    blocker.mkdir()  # the temp file cannot be created: open(2) fails with EISDIR
    broker.expect_error(r"AlterConfigs on io-fail")
    err = alter(broker, ConfigResource.Type.TOPIC, "io-fail", {"retention.ms": "1"})
    assert err is not None and err.code() == 56, err  # KAFKA_STORAGE_ERROR
    assert "io-fail.tmp" in err.str()
    assert describe(broker, ConfigResource.Type.TOPIC, "io-fail")["retention.ms"] == \
        ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    blocker.rmdir()
    assert alter(broker, ConfigResource.Type.TOPIC, "io-fail", {"retention.ms": "7200000"}) is None
    assert describe(broker, ConfigResource.Type.TOPIC, "io-fail")["retention.ms"][0] == "7200000"
