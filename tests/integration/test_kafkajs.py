"""kafkajs (pure JavaScript client, its own protocol code) against the real broker: admin
CreateTopics/ListOffsets, plain and idempotent produce, and consuming in a group with commits.
The Node script kafkajs_client.js does the Kafka work and prints JSON that these tests check."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "kafkajs_client.js"


def run_js(command, args, timeout=90):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/install-deps.sh test installs it)")
    if not (HERE / "node_modules" / "kafkajs").is_dir():
        pytest.fail("kafkajs is missing from tests/integration/node_modules: "
                    "run scripts/install-deps.sh test")
    env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
    proc = subprocess.run([node, str(SCRIPT), command, json.dumps(args)], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, "kafkajs %s failed:\n%s" % (command, proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_admin_create_topic_and_fetch_offsets(broker):
    out = run_js("create-topic", {"broker": broker.bootstrap, "topic": "js-admin", "partitions": 3})
    assert out["created"] is True
    assert "js-admin" in out["topics"]
    offsets = sorted(out["offsets"], key=lambda o: o["partition"])
    assert [(o["partition"], o["low"], o["high"]) for o in offsets] == \
        [(0, "0", "0"), (1, "0", "0"), (2, "0", "0")]


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
def test_produce_then_consume_in_group(broker, idempotent):
    topic = "js-%s" % ("idem" if idempotent else "plain")
    group = topic + "-group"
    run_js("create-topic", {"broker": broker.bootstrap, "topic": topic, "partitions": 3})
    count = 150
    produced = run_js("produce", {"broker": broker.bootstrap, "topic": topic, "count": count,
                                  "partitions": 3, "idempotent": idempotent})
    assert all(r["errorCode"] == 0 for r in produced["results"])
    # Each partition's batches got consecutive base offsets: 25-message sends, ~8-9 per partition
    # spread over 6 sends, so base offsets step by the batch's message count.
    by_part = {}
    for r in produced["results"]:
        by_part.setdefault(r["partition"], []).append(r["baseOffset"])
    assert sorted(by_part) == [0, 1, 2]
    for bases in by_part.values():
        assert bases[0] == 0 and bases == sorted(bases) and len(set(bases)) == len(bases)

    consumed = run_js("consume", {"broker": broker.bootstrap, "topic": topic, "groupId": group,
                                  "count": count, "timeoutMs": 45000})
    msgs = consumed["messages"]
    assert len(msgs) == count
    # Every message once, with its key and value, and per-partition order by offset.
    assert sorted(m["key"] for m in msgs) == sorted("key-%d" % i for i in range(count))
    assert all(m["value"] == "value-" + m["key"][4:] for m in msgs)
    for p in range(3):
        part = [m for m in msgs if m["partition"] == p]
        assert [m["offset"] for m in part] == list(range(len(part)))
        # i % 3 chose the partition, and in-partition order follows production order.
        assert [int(m["key"][4:]) for m in part] == list(range(p, count, 3))

    offsets = run_js("offsets", {"broker": broker.bootstrap, "topic": topic, "groupId": group})
    high = {o["partition"]: int(o["high"]) for o in offsets["topicOffsets"]}
    assert high == {0: 50, 1: 50, 2: 50}
    committed = {p["partition"]: int(p["offset"])
                 for t in offsets["groupOffsets"] for p in t["partitions"]}
    assert committed == high, "the group's committed offsets must equal the end of each partition"


# ---- admin APIs: alterConfigs, describeConfigs, deleteTopicRecords, describeCluster,
# ---- fetchTopicOffsetsByTimestamp (kafkajs's own encoders of AlterConfigs, DeleteRecords,
# ---- DescribeConfigs and ListOffsets) ------------------------------------------------------

TOPIC_RESOURCE = 2  # kafkajs ConfigResourceTypes.TOPIC


def admin_steps(broker, steps):
    return run_js("admin", {"broker": broker.bootstrap, "steps": steps})["results"]


def topic_configs(result):
    """{name: (value, source)} from a describeConfigs step result."""
    entries = result["value"]["resources"][0]["configEntries"]
    return {e["configName"]: (e["configValue"], e.get("configSource")) for e in entries}


def test_admin_alter_and_describe_configs(broker):
    run_js("create-topic", {"broker": broker.bootstrap, "topic": "js-cfg", "partitions": 1})
    res = admin_steps(broker, [
        {"op": "alterConfigs", "resources": [{"type": TOPIC_RESOURCE, "name": "js-cfg", "configEntries": [
            {"name": "retention.ms", "value": "3600000"},
            {"name": "delete.retention.ms", "value": "900"}]}]},
        {"op": "describeConfigs", "resources": [{"type": TOPIC_RESOURCE, "name": "js-cfg"}]},
        # A bad value: refused naming the key, and nothing changes.
        {"op": "alterConfigs", "resources": [{"type": TOPIC_RESOURCE, "name": "js-cfg", "configEntries": [
            {"name": "retention.ms", "value": "abc"}]}]},
        {"op": "alterConfigs", "resources": [{"type": TOPIC_RESOURCE, "name": "js-missing", "configEntries": [
            {"name": "retention.ms", "value": "1"}]}]},
        {"op": "alterConfigs", "validateOnly": True,
         "resources": [{"type": TOPIC_RESOURCE, "name": "js-cfg", "configEntries": [
             {"name": "retention.ms", "value": "1"}]}]},
        {"op": "describeConfigs", "resources": [{"type": TOPIC_RESOURCE, "name": "js-cfg"}]},
    ])
    assert "error" not in res[0], res[0]
    cfg = topic_configs(res[1])
    assert cfg["retention.ms"] == ("3600000", 1)  # DYNAMIC_TOPIC_CONFIG
    assert cfg["delete.retention.ms"] == ("900", 1)
    assert cfg["segment.bytes"][1] == 4  # STATIC_BROKER_CONFIG
    # kafkajs reports the error type with its own text (the broker's message is not kept).
    assert res[2]["error"]["type"] == "INVALID_CONFIG", res[2]
    assert res[3]["error"]["type"] == "UNKNOWN_TOPIC_OR_PARTITION", res[3]
    assert "error" not in res[4], res[4]
    assert topic_configs(res[5])["retention.ms"] == ("3600000", 1)


def test_admin_delete_records_and_offsets_by_timestamp(broker):
    run_js("create-topic", {"broker": broker.bootstrap, "topic": "js-dr", "partitions": 2})
    base = 1_700_000_000_000
    messages = [{"partition": 0, "value": "m%d" % i, "timestamp": str(base + 1000 * i)} for i in range(10)]
    res = admin_steps(broker, [
        {"op": "produce", "topic": "js-dr", "messages": messages},
        {"op": "fetchTopicOffsetsByTimestamp", "topic": "js-dr", "timestamp": base + 4500},
        {"op": "deleteTopicRecords", "topic": "js-dr", "partitions": [{"partition": 0, "offset": "6"}]},
        {"op": "fetchTopicOffsets", "topic": "js-dr"},
        # Before the new start: the answer must not point at deleted records.
        {"op": "fetchTopicOffsetsByTimestamp", "topic": "js-dr", "timestamp": base},
        # Past the high watermark: refused.
        {"op": "deleteTopicRecords", "topic": "js-dr", "partitions": [{"partition": 0, "offset": "50"}]},
        {"op": "describeCluster"},
    ])
    assert all("error" not in r for r in res[:5]), res
    by_ts = {o["partition"]: o["offset"] for o in res[1]["value"]}
    assert by_ts[0] == "5"
    offsets = {o["partition"]: (o["low"], o["high"]) for o in res[3]["value"]}
    assert offsets == {0: ("6", "10"), 1: ("0", "0")}
    assert {o["partition"]: o["offset"] for o in res[4]["value"]}[0] == "6"
    assert "error" in res[5], res[5]
    cluster = res[6]["value"]
    assert cluster["clusterId"] == "streambus-local"
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [(broker.host, broker.port)]
