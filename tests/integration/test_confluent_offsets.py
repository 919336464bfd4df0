"""confluent_kafka (librdkafka) and committed/fetched offsets against the real broker: many async
commits made durable by one fsync keep the newest, a consumer whose position was deleted by
retention gets auto.offset.reset applied instead of being stuck, and a deleted topic takes its
committed offsets along."""

import time

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until


def create_topic(broker, name, partitions, config=None):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                            config=config or {})], operation_timeout=10)
    futures[name].result(timeout=30)


def produce_n(broker, topic, n, size=10):
    """n records, one batch each (so that tiny segments roll between them)."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(n):
        producer.produce(topic, key=b"k%d" % i, value=(b"%06d" % i).ljust(size, b"."), partition=0)
        assert producer.flush(30) == 0


def test_fifty_async_commits_keep_the_last(broker):
    """librdkafka 0030: 50 async commits were acknowledged in order, then committed() returned 2:
    one fsync made them all durable and the broker applied them newest first."""
    topic = "ac-topic"
    create_topic(broker, topic, 1)
    acked = []

    def on_commit(err, partitions):
        acked.append((err, partitions[0].offset))

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ac-group",
                         "enable.auto.commit": False, "on_commit": on_commit})
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        for offset in range(1, 51):
            consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=True)

        def all_acked():
            consumer.poll(0.05)
            return len(acked) == 50

        wait_until(all_acked, 30, "all 50 async commits to be acknowledged")
        assert acked == [(None, offset) for offset in range(1, 51)]
        # Acknowledged means applied: the last commit is what the group reads back at once.
        assert consumer.committed([tp], timeout=10)[0].offset == 50
    finally:
        consumer.close()
    # And after a restart (the replay applies the offsets log in order, too).
    broker.restart()
    probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ac-group"})
    try:
        assert probe.committed([tp], timeout=30)[0].offset == 50
    finally:
        probe.close()


RETENTION_CONFIG = {"log": {"retention_check_interval_ms": 200}}


@pytest.mark.broker_config(RETENTION_CONFIG)
@pytest.mark.parametrize("reset,expect", [("earliest", "log start"), ("latest", "log end")])
def test_position_deleted_by_retention_gets_auto_offset_reset(broker, reset, expect):
    """librdkafka 0034: a fetch at an offset retention deleted answered OFFSET_OUT_OF_RANGE with
    null records; librdkafka rejected the response, never reset, and the consumer was stuck."""
    topic = "rr-" + reset
    # Tiny segments and a one-second retention: all but the active segment go quickly.
    create_topic(broker, topic, 1, {"segment.bytes": "1024", "retention.ms": "1000"})
    produce_n(broker, topic, 60, size=100)
    group = "rr-group-" + reset
    # The group's committed position is 3, which retention is about to delete.
    committer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        committer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    finally:
        committer.close()
    probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "rr-probe"})
    try:
        def watermarks():
            return probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=5, cached=False)
        wait_until(lambda: watermarks()[0] > 3, 30,
                   "retention to delete the segment holding offset 3")
        # Retention deletes segment after segment; the log start only stops moving when every
        # expired segment is gone. Wait for it to hold still, or the reset target moves under us.
        low, high = watermarks()
        stable_since = time.time()
        deadline = time.time() + 30
        while time.time() - stable_since < 2.0:
            assert time.time() < deadline, "the log start offset never stopped moving"
            time.sleep(0.2)
            now = watermarks()
            if now != (low, high):
                low, high = now
                stable_since = time.time()
    finally:
        probe.close()
    assert 3 < low < high == 60

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "auto.offset.reset": reset, "enable.auto.commit": False,
                         "enable.partition.eof": True})
    try:
        consumer.subscribe([topic])
        first = None
        eof = None
        deadline = time.time() + 30
        while time.time() < deadline and first is None and eof is None:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    eof = msg.offset()
                    continue
                raise AssertionError("consumer error: %s" % msg.error())
            first = msg.offset()
        if reset == "earliest":
            assert first == low, "auto.offset.reset=earliest must resume at the log start offset"
        else:
            assert first is None and eof == high, "auto.offset.reset=latest must jump to the end"
            produce_n(broker, topic, 1)
            wait_until(lambda: (lambda m: m is not None and not m.error() and m.offset() == high)(
                consumer.poll(0.2)), 30, "the record produced after the reset")
    finally:
        consumer.close()


def delete_topic(broker, name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics([name], operation_timeout=10)[name].result(timeout=30)


def test_deleted_topic_takes_its_committed_offsets_along(broker):
    """Kafka drops every group's committed offsets of a deleted topic. The broker kept them: a
    topic re-created under the same name started the group at the old position, and a consumer
    with auto.offset.reset=earliest silently skipped the new topic's first records."""
    topic = "dt-topic"
    create_topic(broker, topic, 2)
    for group, offset in (("dt-group", 7), ("dt-other", 3)):
        committer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
        try:
            committer.commit(offsets=[TopicPartition(topic, 0, offset), TopicPartition(topic, 1, offset)],
                             asynchronous=False)
            assert committer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == offset
        finally:
            committer.close()
    # A committed offset of another topic stays.
    create_topic(broker, "dt-kept", 1)
    keeper = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dt-group"})
    try:
        keeper.commit(offsets=[TopicPartition("dt-kept", 0, 4)], asynchronous=False)
    finally:
        keeper.close()

    delete_topic(broker, topic)
    create_topic(broker, topic, 2)
    values = [b"new-%d" % i for i in range(10)]
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for v in values:
        producer.produce(topic, value=v, partition=0)
    assert producer.flush(30) == 0

    def committed(group, tps):
        probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
        try:
            return [tp.offset for tp in probe.committed(tps, timeout=30)]
        finally:
            probe.close()

    gone = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    for group in ("dt-group", "dt-other"):
        assert committed(group, gone) == [OFFSET_INVALID, OFFSET_INVALID], group
    assert committed("dt-group", [TopicPartition("dt-kept", 0)]) == [4]

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "dt-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    got = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        deadline = time.time() + 30
        while time.time() < deadline and len(got) < len(values):
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            assert not msg.error(), "consumer error: %s" % msg.error()
            got.append(msg.value())
    finally:
        consumer.close()
    assert got == values, "the re-created topic must be read from its start"

    # The tombstones are in the offsets log: a restart does not bring the old offsets back.
    broker.restart()
    assert committed("dt-group", gone) == [OFFSET_INVALID, OFFSET_INVALID]
    assert committed("dt-group", [TopicPartition("dt-kept", 0)]) == [4]
