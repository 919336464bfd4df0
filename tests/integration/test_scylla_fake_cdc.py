"""The fake server's ScyllaDB CDC tables, read by the independent python3-cassandra driver: the
generation tables, system.cdc_local and a log table, with the exact query shape the
scylla-source uses (IN on the stream ids, a cdc$time range, BYPASS CACHE, paging). What the
driver reads here is what the C source is tested against in test_scylla_source.py."""

import time
import uuid

import pytest
from cassandra.cluster import Cluster
from cassandra.policies import RoundRobinPolicy
from cassandra.query import SimpleStatement
from cassandra.util import max_uuid_from_time

from cql_fixtures import cql_server


@pytest.fixture(params=[4, 5], ids=["v4", "v5"])
def fake(request):
    c = cql_server.FakeCluster(versions=(4, 5) if request.param == 5 else (4,)).start()
    c.protocol = request.param
    yield c
    c.stop()


def connect(fake):
    cluster = Cluster(["127.0.0.1"], port=fake.port, protocol_version=fake.protocol, schema_metadata_enabled=False,
                      load_balancing_policy=RoundRobinPolicy(), connect_timeout=5)
    return cluster, cluster.connect()


def test_driver_reads_generations_v2(fake):
    cdc = cql_server.ScyllaCdc(fake)
    g1 = cdc.new_generation(1_700_000_000_000, vnodes=3, streams_per_vnode=2)
    g2 = cdc.new_generation(1_700_000_100_000, vnodes=4, streams_per_vnode=1)
    cluster, s = connect(fake)
    try:
        times = [r.time for r in s.execute(
            "SELECT time FROM system_distributed.cdc_generation_timestamps WHERE key = 'timestamps'")]
        assert sorted(int(t.timestamp() * 1000) for t in times) == [g1.start_ms, g2.start_ms]
        ps = s.prepare("SELECT range_end, streams FROM system_distributed.cdc_streams_descriptions_v2 "
                       "WHERE time = ?")
        rows = list(s.execute(ps, [times[0] if int(times[0].timestamp() * 1000) == g2.start_ms else times[1]]))
        assert [r.range_end for r in rows] == [end for end, _ in g2.vnodes]
        assert [sorted(r.streams) for r in rows] == [sorted(ss) for _, ss in g2.vnodes]
        # Stream ids: 16 bytes, the high 8 a token inside the vnode's range.
        for (end, ss), prev in zip(g2.vnodes, [-(2 ** 63) - 1] + [e for e, _ in g2.vnodes]):
            for sid in ss:
                assert len(sid) == 16
                assert prev < int.from_bytes(sid[:8], "big", signed=True) <= end
        local = {r.key for r in s.execute("SELECT key FROM system.cdc_local")}
        assert local == {"rewritten", "cdc_local"}
    finally:
        cluster.shutdown()


def test_driver_reads_generations_v1(fake):
    cdc = cql_server.ScyllaCdc(fake, layout="v1")
    g = cdc.new_generation(1_700_000_000_000, vnodes=2, streams_per_vnode=3)
    cluster, s = connect(fake)
    try:
        rows = list(s.execute("SELECT time, streams, expired FROM system_distributed.cdc_streams_descriptions"))
        assert len(rows) == 1 and sorted(rows[0].streams) == sorted(g.streams)
        assert list(s.execute("SELECT time FROM system_distributed.cdc_generation_timestamps "
                              "WHERE key = 'timestamps'")) == []
    finally:
        cluster.shutdown()


def test_driver_reads_tablets_streams(fake):
    cdc = cql_server.ScyllaCdc(fake, layout="tablets")
    g1 = cdc.new_generation(1_700_000_000_000, vnodes=2, streams_per_vnode=1)
    cdc.add_table("ks", "t", [("id", "int"), ("v", "int")], ["id"])
    g2 = cdc.new_generation(1_700_000_100_000, vnodes=3, streams_per_vnode=1)
    cluster, s = connect(fake)
    try:
        ts = s.prepare("SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = ? AND table_name = ?")
        times = sorted(int(r.timestamp.timestamp() * 1000) for r in s.execute(ts, ["ks", "t"]))
        assert times == [g1.start_ms, g2.start_ms]
        st = s.prepare("SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = ? AND table_name = ? "
                       "AND timestamp = ? AND stream_state = ?")
        at = [r.timestamp for r in s.execute(ts, ["ks", "t"])]
        t2 = [t for t in at if int(t.timestamp() * 1000) == g2.start_ms][0]
        assert sorted(r.stream_id for r in s.execute(st, ["ks", "t", t2, 0])) == sorted(g2.streams)
        assert sorted(r.stream_id for r in s.execute(st, ["ks", "t", t2, 1])) == sorted(set(g1.streams) - set(g2.streams))
        assert sorted(r.stream_id for r in s.execute(st, ["ks", "t", t2, 2])) == sorted(set(g2.streams) - set(g1.streams))
        # no vnode generations in this layout
        assert list(s.execute("SELECT time FROM system_distributed.cdc_generation_timestamps "
                              "WHERE key = 'timestamps'")) == []
    finally:
        cluster.shutdown()


def test_driver_reads_log_window_with_paging(fake):
    cdc = cql_server.ScyllaCdc(fake)
    now_ms = int(time.time() * 1000)
    gen = cdc.new_generation(now_ms - 60_000, vnodes=2, streams_per_vnode=2)
    t = cdc.add_table("shop", "orders", [("id", "int"), ("status", "text"), ("tags", "set<text>")], ["id"],
                      preimage=True, postimage=True)
    base_us = (now_ms - 30_000) * 1000
    for i in range(30):
        t.insert({"id": i, "status": "new"}, ts_us=base_us + i * 1000)
    t.update({"id": 3, "status": "paid"}, ts_us=base_us + 40_000)
    t.update({"id": 4}, set_null=["status"], ts_us=base_us + 41_000)
    t.delete_row({"id": 5}, ts_us=base_us + 42_000)
    cluster, s = connect(fake)
    try:
        ps = s.prepare('SELECT * FROM shop.orders_scylla_cdc_log WHERE "cdc$stream_id" IN ? '
                       'AND "cdc$time" > ? AND "cdc$time" <= ? BYPASS CACHE')
        lo = max_uuid_from_time((base_us - 1000) / 1e6)
        hi = max_uuid_from_time((base_us + 60_000) / 1e6)
        seen = []
        for streams in ([ss for _, ss in gen.vnodes][0], [ss for _, ss in gen.vnodes][1]):
            st = ps.bind([streams, lo, hi])
            st.fetch_size = 7
            seen += list(s.execute(st))
        # 30 inserts with post-images, an update and a null-setting update each with pre- and
        # post-image, a delete with a pre-image.
        assert len(seen) == 30 * 2 + 3 + 3 + 2
        ops = {}
        for r in seen:
            ops.setdefault((r.cdc_stream_id, r.cdc_time), []).append((r.cdc_batch_seq_no, r.cdc_operation))
        assert all([seq for seq, _ in v] == list(range(len(v))) for v in ops.values())
        upd = [r for r in seen if r.cdc_operation == 1]
        assert {r.id: (r.status, r.cdc_deleted_status) for r in upd} == {3: ("paid", None), 4: (None, True)}
        assert [r.id for r in seen if r.cdc_operation == 3] == [5]
        assert all(isinstance(r.cdc_time, uuid.UUID) and r.cdc_time.version == 1 for r in seen)
        # The range is exclusive below and inclusive above: a window ending at an insert's
        # time includes it, the next window starting there does not.
        t0 = [r.cdc_time for r in seen if r.cdc_operation == 2 and r.id == 0][0]
        all_streams = gen.streams
        got = list(s.execute(ps, [all_streams, lo, t0]))
        assert [r.id for r in got if r.cdc_operation == 2] == [0]
        got = list(s.execute(ps, [all_streams, t0, hi]))
        assert 0 not in [r.id for r in got if r.cdc_operation == 2]
    finally:
        cluster.shutdown()
