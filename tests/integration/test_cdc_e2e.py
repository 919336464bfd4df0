"""PostgreSQL -> broker -> PostgreSQL end to end through `streambus connect`, with real servers:
snapshot of rows that predate the connector, insert/update/delete/truncate, ADD COLUMN, a restart
of the target PostgreSQL, a poison message through the DLQ and back, reconciliation (count,
checksum, full, repair) and erasure with its audit record."""

import hashlib
import json
import urllib.parse
import urllib.request

import pytest

from conftest import wait_until
from connect_fixtures import connect  # noqa: F401 (fixture)
from pg_fixtures import PgServer, needs_pg, pg_server, reconcile, wait_equal  # noqa: F401 (fixture)


pytestmark = needs_pg


@pytest.fixture
def pg(pg_server):
    return pg_server


@pytest.fixture
def pg_target(tmp_path):
    p = PgServer(tmp_path / "pg-target").start()
    yield p
    p.stop(remove=True)


def start_pipeline(connect, src, dst, prefix, slot, tables=("shop.items",)):
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": src.conninfo,
                              "topic.prefix": prefix, "table.include.list": ",".join(tables), "slot.name": slot})
    connect.create("pg-sink", {"connector.class": "postgres-sink", "connection.conninfo": dst.conninfo,
                               "topics": ",".join("%s.%s" % (prefix, t) for t in tables), "target.schema": "copy"})


def test_snapshot_changes_schema_change_reconcile_and_erasure(pg, broker, connect):
    pg.sql("CREATE SCHEMA shop; CREATE SCHEMA copy;"
           "CREATE TABLE shop.items (id int PRIMARY KEY, qty int NOT NULL, note text);"
           "INSERT INTO shop.items SELECT g, g % 7, 'row ' || g FROM generate_series(1, 12000) g;"
           "CREATE TABLE shop.lines (order_id int, line text, qty int, PRIMARY KEY (order_id, line));"
           "INSERT INTO shop.lines SELECT g / 3, 'l' || (g % 3), g FROM generate_series(1, 30) g;")
    start_pipeline(connect, pg, pg, "e2e", "e2e_slot", ("shop.items", "shop.lines"))
    # rows that predate the connector arrive through the snapshot
    wait_equal(pg, pg, "shop.items", "copy.items")
    assert pg.sql("SELECT count(*) FROM copy.items") == "12000"

    pg.sql("INSERT INTO shop.items VALUES (20001, 1, 'new'), (20002, 2, NULL);"
           "UPDATE shop.items SET qty = 99, note = 'changed' WHERE id IN (5, 11000);"
           "DELETE FROM shop.items WHERE id IN (6, 11001);")
    wait_equal(pg, pg, "shop.items", "copy.items")
    assert pg.sql("SELECT qty || note FROM copy.items WHERE id = 5") == "99changed"
    assert pg.sql("SELECT count(*) FROM copy.items WHERE id IN (6, 11001)") == "0"

    pg.sql("TRUNCATE shop.items")
    wait_until(lambda: pg.sql("SELECT count(*) FROM copy.items") == "0", 60, "the truncate to reach the target")
    pg.sql("INSERT INTO shop.items SELECT g, g % 5, 'again ' || g FROM generate_series(1, 12000) g;")
    wait_equal(pg, pg, "shop.items", "copy.items")

    # ADD COLUMN in the source appears in the target with its values
    pg.sql("ALTER TABLE shop.items ADD COLUMN colour text; INSERT INTO shop.items VALUES (30000, 3, 'c', 'blue');"
           "UPDATE shop.items SET colour = 'red' WHERE id = 7;")
    wait_until(lambda: pg.try_sql("SELECT colour FROM copy.items WHERE id = 30000") == "blue"
               and pg.try_sql("SELECT colour FROM copy.items WHERE id = 7") == "red", 60, "the new column in the target")
    wait_equal(pg, pg, "shop.items", "copy.items", cols="id, qty, note, colour")

    # ---- reconciliation: in sync first
    lines_sum = "SELECT count(*) || md5(string_agg(order_id || line || qty, ',' ORDER BY order_id, line)) FROM %s"
    wait_until(lambda: pg.sql(lines_sum % "shop.lines") == pg.try_sql(lines_sum % "copy.lines"), 60, "copy.lines")
    job = reconcile(connect, {"connector": "pg-src", "all_tables": True, "mode": "full"})
    assert job["drift_found"] is False and job["sink"] == "pg-sink", job
    [t, lines] = sorted(job["tables"], key=lambda x: x["table"] != "shop.items")
    assert (lines["table"], lines["source_rows"], lines["target_rows"], lines["in_sync"]) == ("shop.lines", 30, 30, True)
    assert (t["table"], t["target_table"], t["source_rows"], t["target_rows"], t["chunks"]) == \
        ("shop.items", "copy.items", 12001, 12001, 2)
    assert (t["missing_in_target"], t["missing_in_source"], t["differing"]) == (0, 0, 0)

    # inject drift directly in the target: both chunks touched
    connect.request("PUT", "/connectors/pg-sink/pause")
    pg.sql("DELETE FROM copy.items WHERE id IN (10, 11500, 11501);"
           "UPDATE copy.items SET note = 'tampered' WHERE id IN (20, 11600);"
           "INSERT INTO copy.items (id, qty, note) VALUES (-1, 0, 'ghost');")

    job = reconcile(connect, {"connector": "pg-sink", "tables": ["items"], "mode": "count"})
    [t] = job["tables"]
    assert job["drift_found"] is True and t["target_rows"] == 11999 and t["source_rows"] == 12001
    assert t["missing_in_target"] >= 2 and t["differing"] is None, t

    job = reconcile(connect, {"connector": "pg-sink", "tables": ["shop.items"], "mode": "checksum"})
    [t] = job["tables"]
    assert job["drift_found"] is True and t["chunks_differing"] == 2, t

    job = reconcile(connect, {"connector": "pg-sink", "tables": ["shop.items"], "mode": "full"})
    [t] = job["tables"]
    assert (t["missing_in_target"], t["missing_in_source"], t["differing"]) == (3, 1, 2), t
    status, mm = connect.request("GET", "/reconciliation/mismatches?job=%d" % job["id"])
    assert status == 200
    found = sorted((m["kind"], m["key"]["id"]) for m in mm["mismatches"])
    assert found == [("differing", 20), ("differing", 11600), ("missing_in_source", -1),
                     ("missing_in_target", 10), ("missing_in_target", 11500), ("missing_in_target", 11501)]
    assert any(j["id"] == job["id"] for j in connect.request("GET", "/reconciliation/jobs")[1])

    # drift metrics
    with urllib.request.urlopen(connect.url + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'streambus_reconcile_rows_missing_in_target{connector="pg-sink",table="shop.items"} 3' in metrics
    assert "streambus_reconcile_last_run_timestamp_seconds" in metrics

    # repair through ctl, then a second run finds nothing
    proc = connect.ctl("reconcile", "--connector", "pg-src", "--tables", "shop.items", "--mode", "checksum",
                       "--repair")
    out = json.loads(proc.stdout)
    assert out["tables"][0]["repaired_upserts"] == 5 and out["tables"][0]["repaired_deletes"] == 1, out
    proc = connect.ctl("reconcile", "--connector", "pg-src", "--all-tables", "--mode", "full", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["drift_found"] is False
    wait_equal(pg, pg, "shop.items", "copy.items", cols="id, qty, note, colour")
    # a two-column key: drift found and repaired too
    pg.sql("UPDATE copy.lines SET qty = -1 WHERE order_id = 4 AND line = 'l1'; DELETE FROM copy.lines WHERE order_id = 9")
    job = reconcile(connect, {"connector": "pg-sink", "tables": ["lines"], "mode": "full", "repair": True})
    [t] = job["tables"]
    assert (t["missing_in_target"], t["differing"], t["repaired_upserts"]) == (3, 1, 4), t
    assert pg.sql(lines_sum % "shop.lines") == pg.sql(lines_sum % "copy.lines")
    connect.request("PUT", "/connectors/pg-sink/resume")

    # ---- erasure: by a plain value and by a JSON key
    req = urllib.request.Request(connect.url + "/records/pg-src/shop.items/7", method="DELETE",
                                 headers={"X-Actor": "dpo@example.com"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    assert (answer["result"], answer["source_deleted"], answer["target_deleted"]) == ("deleted", 1, 1), answer
    key_path = urllib.parse.quote(json.dumps({"id": 8}), safe="")
    status, answer2 = connect.request("DELETE", "/records/pg-sink/items/" + key_path)
    assert status == 200 and answer2["result"] == "deleted", answer2
    assert pg.sql("SELECT count(*) FROM shop.items WHERE id IN (7, 8)") == "0"
    assert pg.sql("SELECT count(*) FROM copy.items WHERE id IN (7, 8)") == "0"
    key_path = urllib.parse.quote(json.dumps({"order_id": 5, "line": "l0"}), safe="")
    status, answer3 = connect.request("DELETE", "/records/pg-src/lines/" + key_path)
    assert status == 200 and (answer3["source_deleted"], answer3["target_deleted"]) == (1, 1), answer3
    status, answer4 = connect.request("DELETE", "/records/pg-src/lines/5")
    assert status == 400 and "JSON object" in answer4["message"], answer4
    wait_equal(pg, pg, "shop.items", "copy.items", cols="id, qty, note, colour")

    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "audit-reader",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["_streambus-audit"])
    records = []
    wait_until(lambda: _poll_into(c, records) and len(records) >= 4, 60, "four audit records")
    c.close()
    first = records[0]
    assert first["who"] == "dpo@example.com" and first["table"] == "shop.items" and first["result"] == "deleted"
    assert first["key_sha256"] == hashlib.sha256(b"7").hexdigest()
    assert records[1]["who"].startswith("127.0.0.1:")
    assert '"id"' not in json.dumps(records), "the raw key must not be in the audit record"
    assert "dpo@example.com" in connect.log_text()

    # the schedule: reconcile.interval.ms on the sink queues jobs by itself
    cfg = connect.request("GET", "/connectors/pg-sink/config")[1]
    cfg.update({"reconcile.interval.ms": "300", "reconcile.mode": "count"})
    status, _ = connect.request("PUT", "/connectors/pg-sink/config", cfg)
    assert status == 200
    wait_until(lambda: any(j["trigger"] == "schedule" and j["state"] == "done" and j["mode"] == "count"
                           for j in connect.request("GET", "/reconciliation/jobs")[1]), 60, "a scheduled job")
    bad = dict(cfg, **{"reconcile.interval.ms": "-5"})
    status, body = connect.request("PUT", "/connectors/pg-sink/config", bad)
    assert status == 400 and "reconcile.interval.ms" in body["errors"], body


def _poll_into(consumer, out):
    m = consumer.poll(1.0)
    if m is not None and not m.error():
        out.append(json.loads(m.value()))
    return True


def test_target_postgres_restart_and_poison_message(pg, pg_target, connect):
    pg.sql("CREATE SCHEMA shop;"
           "CREATE TABLE shop.items (id int PRIMARY KEY, qty int NOT NULL, note text);"
           "INSERT INTO shop.items SELECT g, g % 7, 'row ' || g FROM generate_series(1, 1000) g;")
    # the target table exists already, stricter than the source: note NOT NULL
    pg_target.sql("CREATE SCHEMA copy; CREATE TABLE copy.items (id int PRIMARY KEY, qty int NOT NULL, note text NOT NULL)")
    start_pipeline(connect, pg, pg_target, "rs", "rs_slot")
    wait_equal(pg, pg_target, "shop.items", "copy.items")

    # restart the target mid-stream
    pg.sql("UPDATE shop.items SET qty = qty + 1 WHERE id % 3 = 0;")
    pg_target.stop()
    for i in range(3):
        pg.sql("INSERT INTO shop.items SELECT g, 1, 'while down ' || g FROM generate_series(%d, %d) g;"
               "DELETE FROM shop.items WHERE id %% 50 = %d;" % (2000 + i * 100, 2099 + i * 100, i))
    pg_target.start()
    wait_equal(pg, pg_target, "shop.items", "copy.items")
    assert pg_target.sql("SELECT count(*) FROM copy.items") == pg.sql("SELECT count(*) FROM shop.items")

    # a poison row: NULL note violates the target's NOT NULL; later rows still arrive
    pg.sql("INSERT INTO shop.items VALUES (5000, 1, NULL)")
    pg.sql("INSERT INTO shop.items VALUES (5001, 1, 'after the poison')")
    wait_until(lambda: pg_target.sql("SELECT count(*) FROM copy.items WHERE id = 5001") == "1", 120,
               "the row after the poison message")
    wait_until(lambda: len(connect.request("GET", "/dlq/records?connector=pg-sink")[1]["records"]) >= 1, 60,
               "the poison record in the DLQ")
    recs = connect.request("GET", "/dlq/records?connector=pg-sink")[1]["records"]
    assert any('"id":5000' in (r.get("key") or "").replace(" ", "") for r in recs), recs
    assert pg_target.sql("SELECT count(*) FROM copy.items WHERE id = 5000") == "0"

    # fix the target, replay the DLQ: the row arrives
    pg_target.sql("ALTER TABLE copy.items ALTER COLUMN note DROP NOT NULL")
    status, body = connect.request("POST", "/dlq/replay", {"connector": "pg-sink", "from_offset": 0})
    assert status == 200 and body["replayed"] >= 1, body
    wait_until(lambda: pg_target.sql("SELECT count(*) FROM copy.items WHERE id = 5000 AND note IS NULL") == "1", 60,
               "the replayed row")
    wait_equal(pg, pg_target, "shop.items", "copy.items")
