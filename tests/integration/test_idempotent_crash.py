"""Crash test for acks=all + idempotent producers.

Several confluent_kafka producers with enable.idempotence=true, each in its own process, write
sequential integers to every partition of a topic and record every delivery report that
succeeded. While they run, the broker is killed with SIGKILL and restarted on the same data
directory; the producers keep retrying across the outage and finish. Then the whole topic is read
back and checked:

- every acknowledged message is in the log exactly once, at the offset its delivery report gave;
- per producer and partition, acknowledged messages are in sequence order with no gaps;
- no producer hit a fatal idempotence error and every message was eventually acknowledged.

This is what a user relies on when they turn on idempotence: a broker crash may delay their
writes, but never loses an acknowledged one or duplicates one.

Run as a script (`python3 test_idempotent_crash.py --producer ...`) it is one producer process.
"""

import collections
import os
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from conftest import wait_until

PRODUCERS = 3
PARTITIONS = 3
PER_PARTITION = 1500  # messages each producer writes to each partition
TOPIC = "crash-idem"


def producer_main(bootstrap, topic, worker, partitions, count, ack_path, err_path):
    from confluent_kafka import Producer

    acks = open(ack_path, "w", buffering=1)
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("delivery failed: %s (%s)" % (err, msg.value()))
            return
        _, part, seq = msg.value().decode().split(":")
        acks.write("%s %s %d\n" % (part, seq, msg.offset()))

    def on_error(err):
        # Transport errors while the broker is down are expected; a fatal error is not.
        if err.fatal():
            errors.append("fatal: %s" % err)

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": "crash-producer-%d" % worker,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 120000,   # outlive the crash and restart
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "error_cb": on_error,
    })
    step = 50
    for start in range(0, count, step):
        for part in range(partitions):
            for seq in range(start, min(count, start + step)):
                while True:
                    try:
                        producer.produce(topic, key="w%d-p%d" % (worker, part),
                                         value="%d:%d:%d" % (worker, part, seq),
                                         partition=part, on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.1)
        producer.poll(0)
        time.sleep(0.15)  # spreads the writes over a few seconds so the crash lands mid-stream
    left = producer.flush(180)
    if left:
        errors.append("%d messages still undelivered at exit" % left)
    acks.close()
    Path(err_path).write_text("".join(e + "\n" for e in errors))
    return 1 if errors else 0


def read_acks(path):
    """{(partition, seq): offset} from one producer's ack file."""
    acked = {}
    for line in Path(path).read_text().splitlines():
        part, seq, offset = (int(x) for x in line.split())
        acked[(part, seq)] = offset
    return acked


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def read_topic(broker, topic, partitions):
    """{partition: [(offset, worker, seq)]} for the whole topic."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "crash-reader",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                                   cached=False)[1] for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        log = collections.defaultdict(list)
        done = lambda: all((log[p][-1][0] + 1 if log[p] else 0) >= highs[p] for p in highs)

        def poll():
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None or msg.error().code() == KafkaError._PARTITION_EOF, \
                    str(msg.error())
                if msg.error() is None:
                    worker, part, seq = (int(x) for x in msg.value().decode().split(":"))
                    assert part == msg.partition()
                    log[part].append((msg.offset(), worker, seq))
            return done()
        wait_until(poll, 90, "reading every partition to its end", interval=0)
        return log, highs
    finally:
        consumer.close()


def test_kill9_during_idempotent_produce_loses_and_duplicates_nothing(broker, tmp_path):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)],
                        operation_timeout=10)[TOPIC].result(timeout=30)

    procs, ack_paths, err_paths, out_paths = [], [], [], []
    for w in range(PRODUCERS):
        ack_paths.append(tmp_path / ("acks-%d.txt" % w))
        err_paths.append(tmp_path / ("errors-%d.txt" % w))
        out_paths.append(tmp_path / ("producer-%d.log" % w))
        with open(out_paths[-1], "wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--producer", broker.bootstrap, TOPIC,
                 str(w), str(PARTITIONS), str(PER_PARTITION), str(ack_paths[-1]),
                 str(err_paths[-1])],
                stdout=out, stderr=subprocess.STDOUT, cwd=os.path.dirname(os.path.abspath(__file__))))
    try:
        # Crash once every producer has a few hundred acknowledgements but is far from done.
        total = PARTITIONS * PER_PARTITION
        wait_until(lambda: all(count_lines(p) >= 1200 for p in ack_paths), 60,
                   "every producer to get 1200 acknowledgements before the crash")
        before_crash = [count_lines(p) for p in ack_paths]
        assert all(n < total for n in before_crash), \
            "producers finished before the crash; the test would prove nothing"
        broker.kill9()
        broker.start()
        for proc in procs:
            proc.wait(timeout=240)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    problems = []
    for w, proc in enumerate(procs):
        errs = err_paths[w].read_text() if err_paths[w].exists() else "(no error file)"
        if proc.returncode != 0:
            problems.append("producer %d exited %s: %s\n%s" % (
                w, proc.returncode, errs.strip(), out_paths[w].read_text()[-1500:]))
    assert problems == [], "\n".join(problems)

    log, highs = read_topic(broker, TOPIC, PARTITIONS)
    where = collections.defaultdict(list)  # (worker, partition, seq) -> [offsets]
    for part, entries in log.items():
        for offset, worker, seq in entries:
            where[(worker, part, seq)].append(offset)

    for w in range(PRODUCERS):
        acked = read_acks(ack_paths[w])
        missing = [(p, s) for (p, s) in acked if not where.get((w, p, s))]
        assert missing == [], "producer %d: %d acknowledged messages lost, e.g. %s" % (
            w, len(missing), missing[:10])
        dupes = {(p, s): where[(w, p, s)] for (p, s) in acked if len(where[(w, p, s)]) > 1}
        assert dupes == {}, "producer %d: acknowledged messages stored more than once: %s" % (
            w, dict(list(dupes.items())[:10]))
        moved = {(p, s): (off, where[(w, p, s)][0]) for (p, s), off in acked.items()
                 if where[(w, p, s)][0] != off}
        assert moved == {}, "producer %d: delivery report offset != stored offset: %s" % (
            w, dict(list(moved.items())[:10]))
        for part in range(PARTITIONS):
            in_log = [seq for _, worker, seq in log[part] if worker == w]
            acked_in_log = [s for s in in_log if (part, s) in acked]
            assert acked_in_log == sorted(acked_in_log), \
                "producer %d partition %d: acknowledged messages out of order" % (w, part)
            acked_seqs = sorted(s for (p, s) in acked if p == part)
            assert acked_seqs == list(range(PER_PARTITION)), \
                "producer %d partition %d: %d of %d messages acknowledged" % (
                    w, part, len(acked_seqs), PER_PARTITION)
            assert in_log == list(range(PER_PARTITION)), \
                "producer %d partition %d: the log holds duplicates or gaps" % (w, part)
    assert sum(highs.values()) == PRODUCERS * PARTITIONS * PER_PARTITION


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "--producer":
        a = sys.argv[2:]
        sys.exit(producer_main(a[0], a[1], int(a[2]), int(a[3]), int(a[4]), a[5], a[6]))
    sys.exit("usage: test_idempotent_crash.py --producer BOOTSTRAP TOPIC WORKER PARTITIONS "
             "COUNT ACK_FILE ERR_FILE")
