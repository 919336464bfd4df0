"""kafka-python (pure Python, python3-kafka 2.0.2) against the real broker. It negotiates API
versions on its own (api_version left to auto-detection), so these tests also prove the broker's
ApiVersions answer leads a second, independent client implementation to a working set of
request versions: acks 0/1/all and gzip produce, consume, group commits, the admin client's topic
and group operations."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import NoError, TopicAlreadyExistsError

from conftest import wait_until

N = 200


def producer(broker, **kw):
    return KafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000, **kw)


def consume_n(broker, topic, n, timeout=30, **kw):
    """Reads from the beginning until n records arrived (or timeout); returns them."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, **kw)
    if "group_id" in kw:
        consumer.subscribe([topic])
    else:
        consumer.assign([TopicPartition(topic, 0)])
    records = []
    deadline = time.monotonic() + timeout
    while len(records) < n and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return consumer, records


@pytest.mark.parametrize("acks,compression", [(0, None), (1, None), ("all", None), ("all", "gzip"),
                                              (1, "gzip")])
def test_produce_and_consume(broker, acks, compression):
    topic = "kp-acks-%s-%s" % (acks, compression or "none")
    p = producer(broker, acks=acks, compression_type=compression, linger_ms=5)
    futures = [p.send(topic, key=b"key-%04d" % i, value=b"value-%04d" % i, partition=0)
               for i in range(N)]
    p.flush(timeout=30)
    metas = [f.get(timeout=10) for f in futures]
    if acks != 0:
        # With acknowledgements, the broker reports the offsets it assigned: 0..N-1 in order.
        assert [m.offset for m in metas] == list(range(N))
    p.close()

    consumer, records = consume_n(broker, topic, N)
    consumer.close()
    assert len(records) == N, "acks=%s: expected %d records, got %d" % (acks, N, len(records))
    assert [(r.offset, r.key, r.value) for r in records] == \
        [(i, b"key-%04d" % i, b"value-%04d" % i) for i in range(N)]


def test_group_commit_and_resume(broker):
    topic, group = "kp-group", "kp-group-g"
    p = producer(broker, acks="all")
    for i in range(50):
        p.send(topic, key=b"k%d" % i, value=b"first-%d" % i, partition=0)
    p.flush(timeout=30)

    c1, records = consume_n(broker, topic, 50, group_id=group)
    assert [r.value for r in records] == [b"first-%d" % i for i in range(50)]
    c1.commit()
    assert c1.committed(TopicPartition(topic, 0)) == 50
    c1.close()

    for i in range(10):
        p.send(topic, key=b"k%d" % i, value=b"second-%d" % i, partition=0)
    p.flush(timeout=30)
    p.close()

    # A new member of the same group starts at the committed offset: only the new records.
    c2, records = consume_n(broker, topic, 10, group_id=group)
    more = c2.poll(timeout_ms=1000)
    c2.close()
    assert [r.value for r in records] == [b"second-%d" % i for i in range(10)]
    assert sum(len(v) for v in more.values()) == 0


def test_admin_topics_configs_partitions(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        name = "kp-admin-topic"
        resp = admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)],
                                   timeout_ms=10000)
        assert [(t[0], t[1]) for t in resp.topic_errors] == [(name, 0)]
        assert name in admin.list_topics()
        desc = admin.describe_topics([name])
        assert len(desc[0]["partitions"]) == 3

        # Creating it again is refused with TOPIC_ALREADY_EXISTS (36); kafka-python raises it.
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)],
                                timeout_ms=10000)

        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        resources = [r for response in configs for r in response.resources]
        assert len(resources) == 1
        error_code, _msg, _rtype, rname, entries = resources[0][:5]
        assert (error_code, rname) == (0, name)
        values = {e[0]: e[1] for e in entries}
        # The broker's log.retention_ms (604800000 in the test config) is the topic default.
        assert values.get("retention.ms") == "604800000", values

        admin.create_partitions({name: NewPartitions(total_count=5)})
        wait_until(lambda: len(admin.describe_topics([name])[0]["partitions"]) == 5, 20,
                   "the topic to show 5 partitions after CreatePartitions")

        resp = admin.delete_topics([name], timeout_ms=10000)
        assert [(t[0], t[1]) for t in resp.topic_error_codes] == [(name, 0)]
        wait_until(lambda: name not in admin.list_topics(), 20, "the deleted topic to disappear")
    finally:
        admin.close()


def test_admin_groups_list_describe_delete(broker):
    topic, group = "kp-groups", "kp-groups-g"
    p = producer(broker, acks="all")
    for i in range(5):
        p.send(topic, value=b"v%d" % i, partition=0)
    p.flush(timeout=30)
    p.close()

    consumer, records = consume_n(broker, topic, 5, group_id=group)
    assert len(records) == 5
    consumer.commit()

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        assert (group, "consumer") in admin.list_consumer_groups()
        info = admin.describe_consumer_groups([group])[0]
        assert (info.error_code, info.group, info.state, info.protocol_type) == \
            (0, group, "Stable", "consumer")
        assert len(info.members) == 1

        offsets = admin.list_consumer_group_offsets(group)
        assert offsets[TopicPartition(topic, 0)].offset == 5

        consumer.close()  # LeaveGroup: the group becomes Empty but keeps its offsets
        wait_until(lambda: admin.describe_consumer_groups([group])[0].state == "Empty", 20,
                   "the group to become Empty after its only member left")

        result = admin.delete_consumer_groups([group])
        assert [(g, err) for g, err in result] == [(group, NoError)]
        assert group not in [g for g, _ in admin.list_consumer_groups()]
    finally:
        admin.close()


def describe_topic_configs(admin, name):
    """{key: (value, source)} through kafka-python's DescribeConfigs (v1+: config_source)."""
    resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    resources = [r for response in resp for r in response.resources]
    error_code, _msg, _rtype, _name, entries = resources[0][:5]
    assert error_code == 0
    return {e[0]: (e[1], e[3]) for e in entries}


def test_admin_alter_configs_and_describe_cluster(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        name = "kp-alter"
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                      topic_configs={"retention.ms": "3600000"})], timeout_ms=10000)
        resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                   configs={"delete.retention.ms": "900",
                                                            "cleanup.policy": "compact"})])
        assert [r[0] for r in resp.resources] == [0], resp.resources
        cfg = describe_topic_configs(admin, name)
        assert cfg["delete.retention.ms"] == ("900", 1)  # DYNAMIC_TOPIC_CONFIG
        assert cfg["cleanup.policy"] == ("compact", 1)
        # AlterConfigs replaced the whole set: retention.ms went back to the broker's value.
        assert cfg["retention.ms"] == ("604800000", 4)  # STATIC_BROKER_CONFIG

        # A bad value: INVALID_CONFIG (40) with a message naming the key; nothing changed.
        resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                   configs={"retention.ms": "abc"})])
        error_code, message = resp.resources[0][0], resp.resources[0][1]
        assert error_code == 40 and "retention.ms" in message, resp.resources
        assert describe_topic_configs(admin, name)["delete.retention.ms"] == ("900", 1)

        resp = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-missing",
                                                   configs={"retention.ms": "1"})])
        assert resp.resources[0][0] == 3  # UNKNOWN_TOPIC_OR_PARTITION

        cluster = admin.describe_cluster()
        assert cluster["cluster_id"] == "streambus-local"
        assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [(broker.host, broker.port)]
    finally:
        admin.close()


def test_broker_config_synonyms_list_every_level(broker):
    # Review of issue 8: a BROKER resource listed only the winning synonym; Kafka lists every
    # level that has a value, most specific first (topic resources already did).
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        for resource, value in (("0", "3600000"), ("", "7200000")):
            resp = admin.alter_configs([ConfigResource(ConfigResourceType.BROKER, resource,
                                                       configs={"log.retention.ms": value})])
            assert [r[0] for r in resp.resources] == [0], resp.resources
        resp = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "0")],
                                      include_synonyms=True)
        resources = [r for response in resp for r in response.resources]
        assert resources[0][0] == 0, resources[0]
        entries = {e[0]: e for e in resources[0][4]}
        name, value, _read_only, source, _sensitive, synonyms = entries["log.retention.ms"][:6]
        assert (value, source) == ("3600000", 2)  # DYNAMIC_BROKER_CONFIG wins
        assert [tuple(s) for s in synonyms] == [
            ("log.retention.ms", "3600000", 2),    # DYNAMIC_BROKER_CONFIG
            ("log.retention.ms", "7200000", 3),    # DYNAMIC_DEFAULT_BROKER_CONFIG
            ("log.retention.ms", "604800000", 4),  # STATIC_BROKER_CONFIG (start-up config)
            ("log.retention.ms", "604800000", 5),  # DEFAULT_CONFIG (Kafka's default)
        ]
        # A read-only start-up key has just its static level.
        _, _, read_only, source, _, synonyms = entries["num.partitions"][:6]
        assert read_only and source == 4 and [s[2] for s in synonyms] == [4]
    finally:
        admin.close()
