"""Data survives what happens to brokers: a clean SIGTERM restart, a SIGKILL right after
acks=all acknowledgements, segment rolling, and a damaged tail on a partition's log file (which
the broker must cut off at start-up, with a warning, while keeping everything before it)."""

import random
import struct

import pytest
from confluent_kafka import Producer

from conftest import kcat_consume, kcat_produce

FIRST_SEGMENT = "00000000000000000000.log"


def consume_lines(broker, topic):
    return kcat_consume(broker, topic, fmt="%o %k:%s\\n").splitlines()


def expected_lines(pairs, start=0):
    return ["%d %s" % (start + i, kv) for i, kv in enumerate(pairs)]


def test_clean_restart_keeps_everything(broker):
    topic = "dur-clean"
    pairs = ["k%05d:value-%05d" % (i, i) for i in range(2000)]
    kcat_produce(broker, topic, pairs, extra=["-X", "acks=all"])
    assert broker.stop() == 0, "SIGTERM must shut the broker down cleanly (exit status 0)"
    broker.start()
    assert consume_lines(broker, topic) == expected_lines(pairs)
    # And the log continues where it stopped.
    kcat_produce(broker, topic, ["after:restart"], extra=["-X", "acks=all"])
    assert consume_lines(broker, topic)[-1] == "2000 after:restart"


def test_kill9_after_acks_all_loses_nothing(broker):
    topic = "dur-kill9"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2})
    acked = {}

    def on_delivery(err, msg):
        assert err is None, str(err)
        acked[msg.offset()] = (msg.key().decode(), msg.value().decode())

    for i in range(5000):
        producer.produce(topic, key="k%05d" % i, value="v%05d" % i, partition=0,
                         on_delivery=on_delivery)
        if i % 500 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert len(acked) == 5000
    broker.kill9()  # immediately after the last acknowledgement
    broker.start()
    got = consume_lines(broker, topic)
    assert got == ["%d %s:%s" % (o, k, v) for o, (k, v) in sorted(acked.items())]


@pytest.mark.broker_config({"log": {"segment_bytes": 1048576}})
def test_many_segments_survive_restart_and_kill9(broker):
    topic = "dur-segments"
    pad = "x" * 900
    pairs = ["k%05d:%05d-%s" % (i, i, pad) for i in range(4000)]  # ~3.7 MB: several segments
    kcat_produce(broker, topic, pairs, extra=["-X", "acks=all"])
    segments = sorted(p.name for p in broker.partition_dir(topic, 0).glob("*.log"))
    assert len(segments) >= 3, "expected the log to roll into several segments: %s" % segments
    assert segments[0] == FIRST_SEGMENT
    broker.restart()
    assert consume_lines(broker, topic) == expected_lines(pairs)
    broker.kill9()
    broker.start()
    assert consume_lines(broker, topic) == expected_lines(pairs)


def read_batches(path):
    """[(start, end)] byte ranges of the record batches in a segment file."""
    data = path.read_bytes()
    batches, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">i", data[pos + 8:pos + 12])
        end = pos + 12 + length
        if length <= 0 or end > len(data):
            break
        batches.append((pos, end))
        pos = end
    assert pos == len(data), "segment does not end on a batch boundary before the test damaged it"
    return data, batches


def damage(path, how):
    data, batches = read_batches(path)
    assert batches, "no batches in %s" % path
    start, end = batches[-1]
    last = bytearray(data[start:end])
    (base_offset,) = struct.unpack(">q", bytes(last[:8]))
    (last_delta,) = struct.unpack(">i", bytes(last[23:27]))
    if how == "garbage":
        tail = bytes(random.Random(7).getrandbits(8) for _ in range(37))
    elif how == "half-batch":
        # A write cut short by a crash: the first half of a batch.
        tail = bytes(last[:len(last) // 2])
    elif how == "bad-crc":
        # A whole, plausible next batch whose payload no longer matches its CRC-32C.
        copy = bytearray(last)
        copy[:8] = struct.pack(">q", base_offset + last_delta + 1)
        copy[-1] ^= 0xFF
        tail = bytes(copy)
    else:
        raise ValueError(how)
    with open(path, "ab") as f:
        f.write(tail)
    return len(data)


@pytest.mark.parametrize("how", ["garbage", "half-batch", "bad-crc"])
def test_damaged_log_tail_is_truncated_on_start(broker, how):
    topic = "dur-tail-" + how
    pairs = ["k%03d:value-%03d" % (i, i) for i in range(100)]
    # Several produce calls: several batches, so there is a last one to copy.
    for chunk in range(0, 100, 25):
        kcat_produce(broker, topic, pairs[chunk:chunk + 25], extra=["-X", "acks=all"])
    assert broker.stop() == 0

    segment = broker.partition_dir(topic, 0) / FIRST_SEGMENT
    assert segment.exists(), "partition layout <data_dir>/<topic>-<partition>/%s" % FIRST_SEGMENT
    damage(segment, how)
    # Recovery is expected to warn; if it chooses error level for it, that is accepted too.
    broker.expect_error(r"truncat|corrupt|crc")
    log_before = len(broker.log_lines())
    broker.start()

    new_lines = broker.log_lines()[log_before:]
    assert any("truncat" in line.lower() for line in new_lines), \
        "broker must log that it truncated the damaged tail; new log lines:\n" + "\n".join(new_lines)
    assert consume_lines(broker, topic) == expected_lines(pairs)

    # The log goes on from the last good offset.
    kcat_produce(broker, topic, ["new:after-recovery"], extra=["-X", "acks=all"])
    assert consume_lines(broker, topic) == expected_lines(pairs) + ["100 new:after-recovery"]
    for seg in broker.partition_dir(topic, 0).glob("*.log"):
        read_batches(seg)  # every segment is whole batches again: no garbage left in the middle
