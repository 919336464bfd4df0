"""cassandra-source end to end: a cdc_raw directory holding the real segment Cassandra 4.0.11
wrote (tests/data/cassandra-commitlog), the real broker, `streambus connect`, and kcat and the
file sink as independent readers. The _cdc.idx offset grows as a node would write it; the
events arrive before the segment is COMPLETED; the segment is deleted once everything from it
is durable; a restart neither loses nor repeats anything."""

import json
import shutil
from pathlib import Path

from conftest import kcat_consume, wait_until
from connect_fixtures import connect, read_jsonl  # noqa: F401 (fixture)

DATA = Path(__file__).resolve().parent.parent / "data" / "cassandra-commitlog" / "4.0.11-encrypted"
SEGMENT = "CommitLog-7-1699285478684.log"
INDEX = "CommitLog-7-1699285478684_cdc.idx"
TOPIC = "cdc.Keyspace1.Standard1"
SCHEMA = [{
    "keyspace": "Keyspace1", "table": "Standard1", "id": "657e5210-7cbb-11ee-9858-c9aa1eb53e69",
    "columns": [
        {"name": "key", "kind": "partition_key", "position": 0, "type": "ascii"},
        {"name": "col", "kind": "clustering", "position": 0, "type": "ascii", "clustering_order": "asc"},
        {"name": "val", "kind": "regular", "position": -1, "type": "blob"},
        {"name": "val0", "kind": "regular", "position": -1, "type": "blob"},
    ],
}]


def source_config(cdc_raw):
    return {"connector.class": "cassandra-source", "cdc_raw.dir": str(cdc_raw), "topic.prefix": "cdc",
            "cassandra.schema": json.dumps(SCHEMA), "poll.interval.ms": "50"}


def topic_values(broker):
    out = kcat_consume(broker, TOPIC, fmt="%s\\n")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_segment_to_topic_before_completed_then_deleted_and_restart_is_clean(broker, connect, tmp_path):
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    shutil.copy(DATA / SEGMENT, cdc_raw / SEGMENT)
    (cdc_raw / INDEX).write_text("1576")  # two sections synced: system tables only
    out = tmp_path / "sink.jsonl"
    connect.create("cass", source_config(cdc_raw))
    connect.create("sink", {"connector.class": "file-sink", "file": str(out), "topics": TOPIC})
    connect.wait_state("cass", "RUNNING")

    # Cassandra syncs the third section; the segment is not COMPLETED yet
    (cdc_raw / INDEX).write_text("75003")
    wait_until(lambda: len(read_jsonl(out)) == 355, 60, "355 events in the file sink")
    values = topic_values(broker)
    assert len(values) == 355
    assert {v["op"] for v in values} == {"c"}
    assert all(v["after"]["col"].startswith("name") and v["after"]["val"].startswith("0x") for v in values)
    assert all(v["source"]["connector"] == "cassandra" and v["source"]["table"] == "Standard1" for v in values)
    assert (cdc_raw / SEGMENT).exists()  # still being written as far as the source knows

    (cdc_raw / INDEX).write_text("75011\nCOMPLETED")
    wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 30, "the completed segment deleted")
    assert not (cdc_raw / INDEX).exists()
    status = connect.request("GET", "/connectors/cass/status")[1]
    assert status["connector"]["state"] == "RUNNING"

    connect.restart()
    connect.wait_state("cass", "RUNNING")
    # a new segment after the restart is read; nothing of the old one is repeated
    shutil.copy(DATA / SEGMENT, cdc_raw / "CommitLog-7-1699285478685.log")
    (cdc_raw / "CommitLog-7-1699285478685_cdc.idx").write_text("75011\nCOMPLETED")
    # (the copy's header still names segment id ...684, so its sync markers' CRCs do not
    # match the file name's id; the reader goes by the header, as Cassandra does)
    wait_until(lambda: len(read_jsonl(out)) == 710, 60, "the second segment's 355 events")
    assert len(topic_values(broker)) == 710
