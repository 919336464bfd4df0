"""confluent_kafka (librdkafka) consumer groups against the real broker: a 3-member group splits
6 partitions 2/2/2, a leaving member's partitions move to the others, synchronous commits make
every message consumed exactly once, committed offsets survive a broker restart, and ListOffsets
answers earliest/latest/by-timestamp queries."""

import collections
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until

PARTITIONS = 6
GROUP_TIMEOUT_S = 60


def create_topic(broker, name, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=10)
    futures[name].result(timeout=30)
    meta = admin.list_topics(topic=name, timeout=10)
    assert sorted(meta.topics[name].partitions) == list(range(partitions))


def produce(broker, topic, records, **produce_kwargs):
    """Produces (key, value) pairs with acks=all; returns {key: (partition, offset)}."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    delivered, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[msg.key().decode()] = (msg.partition(), msg.offset())

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery, **produce_kwargs)
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still undelivered after 30 s"
    assert errors == []
    return delivered


class Member:
    """One group member that processes each message then commits it synchronously."""

    def __init__(self, name, broker, group, topic, ledger):
        self.name = name
        self.ledger = ledger
        self.assignment = set()
        self.consumed = []
        self.closed = False
        self.consumer = Consumer({
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "client.id": name,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
            "partition.assignment.strategy": "range",
        })
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer, partitions):
        self.assignment = {tp.partition for tp in partitions}

    def _on_revoke(self, consumer, partitions):
        self.assignment -= {tp.partition for tp in partitions}

    def poll_once(self, timeout=0.05):
        if self.closed:
            return
        msg = self.consumer.poll(timeout)
        if msg is None:
            return
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                self.ledger.errors.append((self.name, str(msg.error())))
            return
        self.ledger.delivered(self.name, msg)
        try:
            self.consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            self.ledger.commit_failures.append((self.name, msg.partition(), msg.offset(), str(e)))
            return
        self.ledger.committed(msg.partition(), msg.offset() + 1)

    def close(self):
        self.consumer.close()  # sends LeaveGroup
        self.closed = True


class Ledger:
    """What the group consumed, and which deliveries came after a commit already covered them."""

    def __init__(self):
        self.deliveries = collections.Counter()       # (partition, offset) -> times delivered
        self.by_member = collections.defaultdict(list)  # member -> [(partition, offset)]
        self.committed_upto = collections.defaultdict(int)
        self.redelivered_after_commit = []
        self.commit_failures = []
        self.errors = []

    def delivered(self, member, msg):
        key = (msg.partition(), msg.offset())
        if msg.offset() < self.committed_upto[msg.partition()]:
            self.redelivered_after_commit.append((member,) + key)
        self.deliveries[key] += 1
        self.by_member[member].append(key)

    def committed(self, partition, next_offset):
        self.committed_upto[partition] = max(self.committed_upto[partition], next_offset)


def poll_all(members):
    for m in members:
        m.poll_once()


def test_group_of_three_rebalances_and_consumes_exactly_once(broker):
    topic = "grp-six"
    group = "grp-six-group"
    create_topic(broker, topic, PARTITIONS)
    ledger = Ledger()
    members = [Member("member-%d" % i, broker, group, topic, ledger) for i in range(3)]

    def spread():
        poll_all(members)
        sizes = sorted(len(m.assignment) for m in members)
        union = set().union(*(m.assignment for m in members))
        return sizes == [2, 2, 2] and union == set(range(PARTITIONS))
    wait_until(spread, GROUP_TIMEOUT_S, "the 3 members to hold 2 partitions each")

    # Phase 1: all three members consume.
    first = produce(broker, topic, [("k%04d" % i, "v%04d" % i) for i in range(300)])
    assert {p for p, _ in first.values()} == set(range(PARTITIONS)), \
        "300 keys should land in every partition"
    wait_until(lambda: (poll_all(members), len(ledger.deliveries) >= 300)[1], GROUP_TIMEOUT_S,
               "the group to consume the first 300 messages", interval=0)
    for m in members:
        assert set(p for p, _ in ledger.by_member[m.name]) <= m.assignment, \
            "%s consumed from partitions it was not assigned" % m.name

    # Phase 2: one member leaves; its partitions move to the other two.
    leaver, stayers = members[2], members[:2]
    leaver_parts = set(leaver.assignment)
    leaver.close()

    def moved():
        poll_all(stayers)
        sizes = sorted(len(m.assignment) for m in stayers)
        union = set().union(*(m.assignment for m in stayers))
        return sizes == [3, 3] and union == set(range(PARTITIONS))
    wait_until(moved, GROUP_TIMEOUT_S, "the leaver's partitions to move to the other two members")
    assert leaver_parts <= stayers[0].assignment | stayers[1].assignment

    second = produce(broker, topic, [("k%04d" % i, "v%04d" % i) for i in range(300, 600)])
    wait_until(lambda: (poll_all(stayers), len(ledger.deliveries) >= 600)[1], GROUP_TIMEOUT_S,
               "the remaining members to consume the next 300 messages", interval=0)
    # Give any stray re-delivery a chance to show up before judging.
    for _ in range(10):
        poll_all(stayers)

    produced = set(first.values()) | set(second.values())
    assert ledger.errors == []
    assert ledger.commit_failures == []
    assert ledger.redelivered_after_commit == [], "messages delivered again after their commit"
    assert set(ledger.deliveries) == produced, "every produced message consumed"
    dupes = {k: n for k, n in ledger.deliveries.items() if n != 1}
    assert dupes == {}, "messages consumed more than once"
    # The leaver's partitions' new messages went to the stayers.
    moved_msgs = {po for po in second.values() if po[0] in leaver_parts}
    assert moved_msgs, "some second-phase messages should be in the leaver's partitions"
    assert moved_msgs <= set(ledger.by_member["member-0"]) | set(ledger.by_member["member-1"])

    # Committed offsets as the broker reports them equal the end of each partition.
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    high = {p: stayers[0].consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                                         cached=False)[1]
            for p in range(PARTITIONS)}
    committed = {tp.partition: tp.offset for tp in stayers[0].consumer.committed(tps, timeout=10)}
    assert committed == high
    assert sum(high.values()) == 600
    for m in stayers:
        m.close()

    # Restart: committed offsets survive, and a new member resumes after them.
    broker.restart()
    fresh_ledger = Ledger()
    newcomer = Member("member-new", broker, group, topic, fresh_ledger)
    after_restart = {tp.partition: tp.offset
                     for tp in newcomer.consumer.committed(tps, timeout=30)}
    assert after_restart == committed, "committed offsets lost across restart"

    third = produce(broker, topic, [("k%04d" % i, "v%04d" % i) for i in range(600, 660)])
    wait_until(lambda: (newcomer.poll_once(0.1), len(fresh_ledger.deliveries) >= 60)[1],
               GROUP_TIMEOUT_S, "the new member to consume the 60 post-restart messages", interval=0)
    for _ in range(10):
        newcomer.poll_once()
    assert set(fresh_ledger.deliveries) == set(third.values()), \
        "after restart the group must resume at its committed offsets: no re-delivery, no loss"
    assert all(n == 1 for n in fresh_ledger.deliveries.values())
    newcomer.close()


def test_list_offsets_earliest_latest_and_by_time(broker):
    ts_topic = "lo-times"
    create_topic(broker, ts_topic, 1)
    # Records carry their own (CreateTime) timestamps, 1 s apart, well in the past; a large
    # linger puts them in one batch so the broker must look inside batches to answer.
    base = int(time.time() * 1000) - 100_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 50})
    for batch in (range(0, 20), range(20, 40)):  # two flushes: at least two batches
        for i in batch:
            producer.produce(ts_topic, key="t%02d" % i, value="v", partition=0,
                             timestamp=base + i * 1000)
        assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lo-probe"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(ts_topic, 0), timeout=10,
                                              cached=False) == (0, 40)

        def lookup(ts):
            res = consumer.offsets_for_times([TopicPartition(ts_topic, 0, ts)], timeout=10)
            assert res[0].error is None
            return res[0].offset

        assert lookup(base - 5000) == 0          # before everything: the first record
        assert lookup(base) == 0
        assert lookup(base + 7000) == 7          # exact match
        assert lookup(base + 5500) == 6          # first record at or after the time
        assert lookup(base + 19_000) == 19
        assert lookup(base + 19_001) == 20       # across the batch boundary
        assert lookup(base + 25_500) == 26       # inside the second batch
        assert lookup(base + 60_000) == -1       # after everything: no offset (end)
    finally:
        consumer.close()


def test_empty_consumer_group_keeps_its_protocol_type_across_restarts(broker):
    # Review of issue 8: after a restart an Empty consumer group was listed as "simple" (no
    # protocol type), because only its offsets were persisted. Kafka keeps the type.
    import json
    import subprocess

    def group_types():
        out = subprocess.run([broker.binary, "ctl", "--bootstrap-server", broker.bootstrap, "--output", "json",
                              "group", "list"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return {g["group"]: (g["state"], g["simple"]) for g in json.loads(out.stdout)["groups"]}

    create_topic(broker, "typed", 1)
    produce(broker, "typed", [("k", b"v")])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "typed-group", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.subscribe(["typed"])
    msg = None
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while msg is None and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            msg = m
    assert msg is not None
    c.commit(message=msg, asynchronous=False)
    c.close()
    wait_until(lambda: group_types().get("typed-group", ("", True))[0] == "Empty", 30, "the group to be Empty")
    assert group_types()["typed-group"] == ("Empty", False)

    broker.restart()
    assert group_types()["typed-group"] == ("Empty", False), "SIGTERM restart lost the protocol type"
    broker.kill9()
    broker.start()
    assert group_types()["typed-group"] == ("Empty", False), "kill -9 restart lost the protocol type"
