"""Transforms on the source side: the chain runs in the source task before a record is produced.

- postgres-source with `route` and `mask`: the routed topic holds the events with the column
  masked, and the original topic receives nothing;
- datagen with a `filter` dropping deletes: no delete or tombstone reaches the topic, and the
  committed position still reaches the last event (positions carried by dropped records are
  not lost);
- a record the chain cannot transform fails the source task with the reason (nothing unmasked
  is produced in its place)."""

import json

from conftest import wait_until
from connect_fixtures import append_events, connect  # noqa: F401 (fixture)
from pg_fixtures import consume_all, needs_pg, pg_server, postgres, sql  # noqa: F401 (fixture)


@needs_pg
def test_postgres_source_routes_and_masks_before_producing(postgres, broker, connect):
    sql(postgres, "CREATE SCHEMA shop;"
                  "CREATE TABLE shop.users (id int PRIMARY KEY, email text, name text NOT NULL);"
                  "INSERT INTO shop.users SELECT g, 'user' || g || '@example.com', 'name ' || g"
                  "  FROM generate_series(1, 20) g;"
                  "INSERT INTO shop.users VALUES (21, NULL, 'no mail');")
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": postgres,
                              "topic.prefix": "pgt", "table.include.list": "shop.users",
                              "slot.name": "transforms_test",
                              "transforms": "mv,pii",
                              "transforms.mv.type": "route", "transforms.mv.regex": "^pgt\\.shop\\.(.*)$",
                              "transforms.mv.replacement": "masked.$1",
                              "transforms.pii.type": "mask", "transforms.pii.fields": "email"})
    connect.wait_state("pg-src", "RUNNING")
    # streamed changes go through the chain too, not only the snapshot
    sql(postgres, "UPDATE shop.users SET email = 'changed@example.com', name = 'renamed' WHERE id = 3;"
                  "INSERT INTO shop.users VALUES (22, 'late@example.com', 'late');")
    records = consume_all(broker, "masked.users",
                          lambda rs: sum(1 for _, v in rs if v and v["op"] in ("u", "c")) >= 2)
    by_op = {}
    for key, value in records:
        by_op.setdefault(value["op"], []).append((key, value))
    snapshot = {k["id"]: v["after"] for k, v in by_op["r"]}
    assert len(snapshot) == 21
    assert snapshot[1] == {"id": 1, "email": "****", "name": "name 1"}
    assert snapshot[21]["email"] is None  # NULL is not masked into a value
    update = [v for _, v in by_op["u"]][0]
    assert update["after"] == {"id": 3, "email": "****", "name": "renamed"}
    assert [v["after"]["email"] for _, v in by_op["c"]] == ["****"]
    # column_types and the rest of the envelope are passed on as the source wrote them
    assert update["source"]["column_types"]["email"] == "text" and update["source"]["table"] == "users"
    assert "example.com" not in json.dumps([v for _, v in records])
    # the route replaced the topic: nothing went to the connector's own table topic
    from confluent_kafka.admin import AdminClient
    topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
    assert "pgt.shop.users" not in topics


def test_datagen_filter_drops_deletes_and_still_commits_their_positions(broker, connect):
    total = 400
    connect.create("gen", {"connector.class": "datagen", "topic.prefix": "flt", "rate": "0",
                           "max.events": str(total), "keys": "50", "ops": "insert=30,update=10,delete=60",
                           "transforms": "nodel", "transforms.nodel.type": "filter",
                           "transforms.nodel.ops.exclude": "d"})
    # datagen's position is the number of events generated; it must reach the last one even
    # when the last events were deletes that were never produced
    wait_until(lambda: connect.request("GET", "/connectors/gen/offsets")[1]["position"] == str(total), 60,
               "the committed position to reach %d" % total)
    status, body = connect.request("GET", "/connectors/gen/status")
    assert body["tasks"][0]["state"] == "RUNNING"
    records = consume_all(broker, "flt.public.datagen_0", lambda rs: len(rs) > 0)
    # read to the end: the topic holds what was produced before the final position was stored
    records = consume_all(broker, "flt.public.datagen_0", lambda rs: len(rs) >= len(records), timeout=10)
    ops = [v["op"] if v is not None else "tombstone" for _, v in records]
    assert "d" not in ops and "tombstone" not in ops
    assert set(ops) == {"c", "u"}
    assert len(records) < total  # with 60% deletes, many were dropped

    # a chain that drops everything: nothing is produced, yet every position is committed
    connect.create("gen-none", {"connector.class": "datagen", "topic.prefix": "none", "rate": "0",
                                "max.events": str(total), "keys": "50",
                                "transforms": "all", "transforms.all.type": "filter",
                                "transforms.all.ops.exclude": "c,u,d"})
    wait_until(lambda: connect.request("GET", "/connectors/gen-none/offsets")[1]["position"] == str(total), 60,
               "the committed position of a fully filtered source to reach %d" % total)
    from confluent_kafka.admin import AdminClient
    topics = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
    assert "none.public.datagen_0" not in topics


def test_source_record_the_chain_cannot_transform_fails_the_task(connect, tmp_path):
    connect.expect_error(r"connector src failed: cannot transform a record")
    src = tmp_path / "in.jsonl"
    append_events(src, [({"id": 1}, {"op": "c", "after": {"id": 1, "email": "a@x"}})])
    with open(src, "a") as f:
        f.write("this line is not JSON\n")
    connect.create("src", {"connector.class": "file-source", "file": str(src), "topic": "app.demo.users",
                           "transforms": "pii", "transforms.pii.type": "mask", "transforms.pii.fields": "email"})
    connect.wait_state("src", "FAILED")
    _, body = connect.request("GET", "/connectors/src/status")
    trace = body["tasks"][0]["trace"]
    assert "cannot transform a record for app.demo.users" in trace and "malformed value JSON" in trace, trace
    # the position never passes the record that was not produced
    _, offsets = connect.request("GET", "/connectors/src/offsets")
    assert offsets["position"] is None or int(offsets["position"]) < src.stat().st_size
