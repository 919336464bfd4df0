"""kcat (librdkafka, the C client) against the real broker: every compression codec round-trips
keyed messages in order, acks=all is honoured, and metadata advertises a reachable broker."""

import json

import pytest

from conftest import kcat, kcat_consume, kcat_produce

N = 1000


def keyed_lines(tag, n=N):
    # Values repeat text so the compressed batches really are compressed; keys are unique so a
    # mixed-up key/value pairing is caught.
    return ["key-%05d:%s-value-%05d-%s" % (i, tag, i, "abcdefgh" * (i % 7)) for i in range(n)]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_codec_roundtrip_in_order(broker, codec):
    topic = "kcat-codec-%s" % codec
    sent = keyed_lines(codec)
    # Small linger and batch size so the 1000 messages span several batches; one partition so
    # the whole topic has one order.
    kcat_produce(broker, topic, sent, extra=["-p", "0", "-z", codec, "-X", "linger.ms=5",
                                             "-X", "batch.num.messages=200"])
    got = kcat_consume(broker, topic).splitlines()
    assert len(got) == len(sent), "expected %d messages back, got %d" % (len(sent), len(got))
    assert got == sent


def test_acks_all_roundtrip(broker):
    topic = "kcat-acks-all"
    sent = keyed_lines("acksall", 300)
    kcat_produce(broker, topic, sent, extra=["-p", "0", "-X", "acks=all"])
    assert kcat_consume(broker, topic).splitlines() == sent


def test_acks_one_and_all_interleave_offsets(broker):
    """Two producers with different acks append to one partition; offsets are contiguous."""
    topic = "kcat-acks-mixed"
    kcat_produce(broker, topic, ["a%d:one" % i for i in range(50)], extra=["-p", "0", "-X", "acks=1"])
    kcat_produce(broker, topic, ["b%d:all" % i for i in range(50)], extra=["-p", "0", "-X", "acks=all"])
    out = kcat_consume(broker, topic, fmt="%o %k:%s\\n").splitlines()
    offsets = [int(line.split(" ", 1)[0]) for line in out]
    assert offsets == list(range(100))
    assert [line.split(" ", 1)[1] for line in out] == (
        ["a%d:one" % i for i in range(50)] + ["b%d:all" % i for i in range(50)])


def test_metadata_listing_shows_topic_and_reachable_broker(broker):
    topic = "kcat-metadata"
    kcat_produce(broker, topic, ["k:v"])
    proc = kcat(broker, ["-L", "-J", "-t", topic])
    meta = json.loads(proc.stdout)
    brokers = {b["id"]: b["name"] for b in meta["brokers"]}
    assert list(brokers.values()) == [broker.bootstrap], \
        "broker must advertise the address clients reach it on"
    topics = {t["topic"]: t for t in meta["topics"]}
    assert topic in topics
    assert "error" not in topics[topic] or not topics[topic]["error"]
    parts = topics[topic]["partitions"]
    assert [p["partition"] for p in parts] == [0]  # default_partitions: 1
    assert parts[0]["leader"] in brokers

    # Listing all topics shows it too.
    all_meta = json.loads(kcat(broker, ["-L", "-J"]).stdout)
    assert topic in [t["topic"] for t in all_meta["topics"]]


def test_empty_values_and_binary_safe_payloads(broker):
    """Values with spaces, tabs, UTF-8 and an empty value survive untouched."""
    topic = "kcat-payloads"
    sent = ["k1:hello world", "k2:tab\there", "k3:ünïcødé ✓", "k4:", "k5:colon:inside:value"]
    kcat_produce(broker, topic, sent, extra=["-p", "0"])
    got = kcat_consume(broker, topic, fmt="%k=%S=%s\\n").splitlines()
    expected = []
    for line in sent:
        k, v = line.split(":", 1)
        expected.append("%s=%d=%s" % (k, len(v.encode()), v))
    assert got == expected


def test_consume_after_delete_records(broker):
    """kcat (librdkafka) after DeleteRecords: consuming from the beginning starts at the new log
    start, offsets-for-times never answers a deleted offset, and an explicit offset below the
    start is reset by auto.offset.reset instead of failing."""
    from kafka_raw import delete_records_v2

    kcat_produce(broker, "kc-dr", ["k%d:v%d" % (i, i) for i in range(20)], extra=["-p", "0"])
    assert delete_records_v2(broker, "kc-dr", [(0, 15)])[0] == (15, 0)
    assert kcat_consume(broker, "kc-dr", fmt="%o\\n").split() == [str(i) for i in range(15, 20)]
    # -Q: the offset of the first record at or after timestamp 1 (every record qualifies).
    out = kcat(broker, ["-Q", "-t", "kc-dr:0:1"]).stdout
    assert "offset 15" in out, out
    out = kcat(broker, ["-C", "-t", "kc-dr", "-p", "0", "-o", "3", "-e", "-f", "%o\n",
                        "-X", "auto.offset.reset=earliest"]).stdout
    assert out.split() == [str(i) for i in range(15, 20)]
