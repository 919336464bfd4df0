"""confluent_kafka (librdkafka) with static membership (KIP-345) and the cooperative-sticky
assignor (KIP-429) against the real broker: a static member that restarts gets its partitions
back without the other members seeing a rebalance, a replaced static member is fenced, static
members that stop are removed when their sessions end, and a cooperative group moves only the
partitions that change owner."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until

SESSION_MS = 6000
TIMEOUT_S = 60


def create_topic(broker, name, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                        operation_timeout=10)[name].result(timeout=30)


def produce(broker, topic, partitions, per_partition):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for p in range(partitions):
        for i in range(per_partition):
            producer.produce(topic, value=b"%d-%d" % (p, i), partition=p)
    assert producer.flush(30) == 0


def group_state(broker, group):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    found = [g for g in admin.list_groups(group, timeout=10) if g.id == group]
    return found[0].state if found else None


class Member:
    """A consumer that records every rebalance callback with the partitions it carried."""

    def __init__(self, broker, group, topic, name, instance=None, strategy="range"):
        self.name = name
        self.events = []  # ("assign"|"revoke"|"lost", frozenset(partitions), time)
        self.assignment = set()
        self.errors = []
        self.consumed = []
        conf = {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "client.id": name,
            "session.timeout.ms": SESSION_MS,
            "heartbeat.interval.ms": 500,
            "partition.assignment.strategy": strategy,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
        if instance:
            conf["group.instance.id"] = instance
        self.consumer = Consumer(conf)
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)

    def _on_assign(self, consumer, partitions):
        parts = frozenset(tp.partition for tp in partitions)
        self.events.append(("assign", parts, time.monotonic()))
        self.assignment |= parts

    def _on_revoke(self, consumer, partitions):
        parts = frozenset(tp.partition for tp in partitions)
        self.events.append(("revoke", parts, time.monotonic()))
        self.assignment -= parts

    def _on_lost(self, consumer, partitions):
        parts = frozenset(tp.partition for tp in partitions)
        self.events.append(("lost", parts, time.monotonic()))
        self.assignment -= parts

    def poll(self, timeout=0.05):
        msg = self.consumer.poll(timeout)
        if msg is None:
            return
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                self.errors.append(msg.error())
            return
        self.consumed.append((msg.partition(), msg.offset()))

    def close(self):
        self.consumer.close()


def poll_until(members, predicate, timeout, what):
    def step():
        for m in members:
            m.poll()
        return predicate()
    wait_until(step, timeout, what, interval=0)


def test_static_member_restart_keeps_partitions_without_rebalance(broker):
    topic, group = "st-topic", "st-group"
    create_topic(broker, topic, 4)
    a = Member(broker, group, topic, "a", instance="inst-a")
    b = Member(broker, group, topic, "b", instance="inst-b")
    members = [a, b]
    try:
        poll_until(members, lambda: len(a.assignment) == 2 and len(b.assignment) == 2, TIMEOUT_S,
                   "both static members to get two partitions")
        b_parts = set(b.assignment)
        a_events = len(a.events)

        # Restart b: close (a static member sends no LeaveGroup) and start it again.
        b.close()
        members = [a]
        restarted_at = time.monotonic()
        b2 = Member(broker, group, topic, "b2", instance="inst-b")
        members = [a, b2]
        poll_until(members, lambda: b2.assignment == b_parts, TIMEOUT_S,
                   "the restarted static member to get its partitions back")
        took = time.monotonic() - restarted_at
        # Give a rebalance that should not happen time to show up at a.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for m in members:
                m.poll()
        assert a.events[a_events:] == [], "a must not see a rebalance: %r" % (a.events[a_events:],)
        assert took < SESSION_MS / 1000, "the rejoin must not wait for the old session to end"
        assert group_state(broker, group) == "Stable"
        assert a.errors == [] and b2.errors == []
    finally:
        for m in members:
            m.close()


def test_replaced_static_member_is_fenced(broker):
    topic, group = "fence-topic", "fence-group"
    create_topic(broker, topic, 2)
    old = Member(broker, group, topic, "old", instance="twin")
    members = [old]
    try:
        poll_until(members, lambda: len(old.assignment) == 2, TIMEOUT_S, "the first instance to be assigned")
        new = Member(broker, group, topic, "new", instance="twin")
        members = [old, new]
        poll_until(members, lambda: len(new.assignment) == 2, TIMEOUT_S, "the second instance to take over")

        def fenced():
            for m in members:
                m.poll()
            return any(e.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID) for e in old.errors)

        wait_until(fenced, TIMEOUT_S, "the replaced instance to be fenced", interval=0)
    finally:
        for m in members:
            try:
                m.close()
            except Exception:  # the fenced one fails its close, as librdkafka says it should
                pass


def test_stopped_static_members_expire_and_the_group_empties(broker):
    topic, group = "exp-topic", "exp-group"
    create_topic(broker, topic, 2)
    produce(broker, topic, 2, 3)
    members = [Member(broker, group, topic, "m%d" % i, instance="exp-%d" % i) for i in range(2)]
    poll_until(members, lambda: all(len(m.assignment) == 1 for m in members), TIMEOUT_S,
               "both members to be assigned")
    for m in members:
        m.close()
    stopped = time.monotonic()
    assert group_state(broker, group) == "Stable"  # static members do not leave on close
    # librdkafka's 0081 closes static consumers, sleeps session timeout + 1 s and expects the
    # group to be deletable (Empty) by then.
    wait_until(lambda: group_state(broker, group) in ("Empty", None), SESSION_MS / 1000 + 1,
               "the group to empty once the sessions end")
    # Kafka's session timeout: not before it, and promptly after.
    assert time.monotonic() - stopped >= SESSION_MS / 1000 - 1.5


def test_cooperative_sticky_moves_only_what_changes_owner(broker):
    topic, group = "coop-topic", "coop-group"
    create_topic(broker, topic, 4)
    produce(broker, topic, 4, 5)
    first = Member(broker, group, topic, "first", strategy="cooperative-sticky")
    members = [first]
    try:
        poll_until(members, lambda: len(first.assignment) == 4, TIMEOUT_S, "the first member to own all four")
        before = len(first.events)
        second = Member(broker, group, topic, "second", strategy="cooperative-sticky")
        members = [first, second]
        poll_until(members, lambda: len(first.assignment) == 2 and len(second.assignment) == 2, TIMEOUT_S,
                   "the partitions to be shared two and two")
        moved = [e for e in first.events[before:] if e[0] == "revoke"]
        # Incremental: exactly the two partitions that moved were revoked, never all four, and
        # nothing was lost (a lost assignment means the protocol broke down).
        assert [set(e[1]) for e in moved] == [second.assignment], first.events[before:]
        assert not any(e[0] == "lost" for m in members for e in m.events)
        assert first.assignment.isdisjoint(second.assignment)
        poll_until(members, lambda: len(set(first.consumed) | set(second.consumed)) == 20, TIMEOUT_S,
                   "all 20 records to be consumed")
        assert first.errors == [] and second.errors == []
    finally:
        for m in members:
            m.close()


@pytest.mark.parametrize("strategy", ["cooperative-sticky"])
def test_cooperative_static_member_restart(broker, strategy):
    """Both at once: a cooperative static member restarting keeps its partitions quietly too."""
    topic, group = "cs-topic", "cs-group"
    create_topic(broker, topic, 4)
    a = Member(broker, group, topic, "a", instance="cs-a", strategy=strategy)
    b = Member(broker, group, topic, "b", instance="cs-b", strategy=strategy)
    members = [a, b]
    try:
        poll_until(members, lambda: len(a.assignment) == 2 and len(b.assignment) == 2, TIMEOUT_S,
                   "two partitions each")
        # Let the second cooperative round settle before restarting.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for m in members:
                m.poll()
        a_events, b_parts = len(a.events), set(b.assignment)
        b.close()
        b2 = Member(broker, group, topic, "b2", instance="cs-b", strategy=strategy)
        members = [a, b2]
        poll_until(members, lambda: b2.assignment == b_parts, TIMEOUT_S, "b to come back with its partitions")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for m in members:
                m.poll()
        assert a.events[a_events:] == []
    finally:
        for m in members:
            m.close()
