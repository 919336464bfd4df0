"""Topic configs that change what a single Kafka node does to a produce, checked for effect with
confluent-kafka (librdkafka): max.message.bytes (MESSAGE_TOO_LARGE), message.timestamp.type
(LogAppendTime stamped by the broker and seen by consumers), the message.timestamp bounds
(INVALID_TIMESTAMP) and min.insync.replicas (NOT_ENOUGH_REPLICAS for acks=all). The review of
issue 8 found the first two accepted and described but ignored."""

import time

from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaError, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

YEAR_2000_MS = 946684800000


def admin(broker):
    if getattr(broker, "_test_admin", None) is None:
        broker._test_admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    return broker._test_admin


def create_topic(broker, name, config):
    fs = admin(broker).create_topics([NewTopic(name, 1, 1, config=config)], operation_timeout=10)
    fs[name].result(timeout=20)


def alter(broker, name, config):
    fs = admin(broker).alter_configs([ConfigResource(ConfigResource.Type.TOPIC, name, set_config=config)],
                                     request_timeout=15)
    list(fs.values())[0].result(timeout=20)


def produce_one(broker, topic, value, timestamp=None, **conf):
    """Produces one record and returns (error, offset, (timestamp type, timestamp))."""
    config = {"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "retries": 0,
              "message.timeout.ms": 20000}
    config.update(conf)
    p = Producer(config)
    out = {}

    def on_delivery(err, msg):
        out["r"] = (err, msg.offset(), msg.timestamp())

    kwargs = {"partition": 0, "on_delivery": on_delivery}
    if timestamp is not None:
        kwargs["timestamp"] = timestamp
    p.produce(topic, value, **kwargs)
    assert p.flush(30) == 0
    return out["r"]


def consume_all(broker, topic, count):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "tc-" + topic,
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
    finally:
        c.close()
    assert len(got) == count, "consumed %d of %d" % (len(got), count)
    return got


def test_max_message_bytes_refuses_a_larger_batch(broker):
    create_topic(broker, "tc-max", {"max.message.bytes": "1000"})
    err, _, _ = produce_one(broker, "tc-max", b"x" * 5000)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    err, offset, _ = produce_one(broker, "tc-max", b"small")
    assert err is None and offset == 0
    # Raised at run time, the larger record goes through; nothing of the refused one was stored.
    alter(broker, "tc-max", {"max.message.bytes": "100000"})
    err, offset, _ = produce_one(broker, "tc-max", b"x" * 5000)
    assert err is None and offset == 1, err
    assert [len(m.value()) for m in consume_all(broker, "tc-max", 2)] == [5, 5000]


def test_broker_default_limit_applies_to_topics_without_their_own(broker):
    # A topic without its own max.message.bytes takes the broker's message.max.bytes, which
    # here is broker.max_request_bytes (100 MiB by default): a half-megabyte batch goes through
    # (a policy left unset would refuse everything).
    create_topic(broker, "tc-default", {})
    err, offset, _ = produce_one(broker, "tc-default", b"y" * 500000)
    assert err is None and offset == 0, err


def test_log_append_time_is_stamped_by_the_broker(broker):
    create_topic(broker, "tc-lat", {"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    err, offset, ts = produce_one(broker, "tc-lat", b"old", timestamp=YEAR_2000_MS)
    after = int(time.time() * 1000)
    assert err is None and offset == 0, err
    # The produce response carries the append time (Produce v2+ log_append_time_ms).
    assert ts[0] == TIMESTAMP_LOG_APPEND_TIME and before - 1000 <= ts[1] <= after + 1000, ts
    # Compressed batches are stamped as a whole too (the CRC is recomputed, so the consumer,
    # which checks CRCs, accepts them).
    err, offset, _ = produce_one(broker, "tc-lat", b"zipped", timestamp=YEAR_2000_MS,
                                 **{"compression.type": "gzip", "check.crcs": True})
    assert err is None and offset == 1, err
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "tc-lat",
                  "check.crcs": True})
    c.assign([TopicPartition("tc-lat", 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            got.append(m)
    c.close()
    assert [m.value() for m in got] == [b"old", b"zipped"]
    for m in got:
        kind, stamp = m.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME and stamp >= before - 1000, m.timestamp()
    # Back to CreateTime: the producer's timestamp is kept again.
    alter(broker, "tc-lat", {"message.timestamp.type": "CreateTime"})
    err, offset, _ = produce_one(broker, "tc-lat", b"mine", timestamp=YEAR_2000_MS)
    assert err is None and offset == 2
    last = consume_all(broker, "tc-lat", 3)[2]
    assert last.timestamp() == (TIMESTAMP_CREATE_TIME, YEAR_2000_MS)


def test_timestamp_difference_bound_refuses_old_and_future_records(broker):
    create_topic(broker, "tc-ts", {"message.timestamp.difference.max.ms": "3600000"})
    err, _, _ = produce_one(broker, "tc-ts", b"old", timestamp=YEAR_2000_MS)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    future = int(time.time() * 1000) + 2 * 3600000
    err, _, _ = produce_one(broker, "tc-ts", b"future", timestamp=future)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    err, offset, _ = produce_one(broker, "tc-ts", b"now")
    assert err is None and offset == 0, err
    # The Kafka 3.6 split keys bound one direction each.
    alter(broker, "tc-ts", {"message.timestamp.after.max.ms": "1000"})
    err, _, _ = produce_one(broker, "tc-ts", b"old-ok", timestamp=YEAR_2000_MS)
    assert err is None, err
    err, _, _ = produce_one(broker, "tc-ts", b"future", timestamp=future)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err


def test_min_insync_replicas_above_one_fails_acks_all(broker):
    create_topic(broker, "tc-isr", {"min.insync.replicas": "2"})
    err, _, _ = produce_one(broker, "tc-isr", b"all", acks="all")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    err, offset, _ = produce_one(broker, "tc-isr", b"one", acks=1)
    assert err is None and offset == 0, err
    alter(broker, "tc-isr", {"min.insync.replicas": "1"})
    err, offset, _ = produce_one(broker, "tc-isr", b"all", acks="all")
    assert err is None and offset == 1, err
