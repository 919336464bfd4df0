"""postgres-source configuration changes as an operator makes them: the publication the
connector owns follows table.include.list after a PUT of the config."""

from conftest import wait_until
from connect_fixtures import connect  # noqa: F401 (fixture)
from pg_fixtures import consume_all, needs_pg, pg_server, postgres, reconcile, sql  # noqa: F401 (fixture)

pytestmark = needs_pg


def test_include_list_change_updates_the_owned_publication(postgres, broker, connect):
    sql(postgres, "CREATE SCHEMA shop; CREATE TABLE shop.a (id int PRIMARY KEY, v text);"
                  "CREATE TABLE shop.b (id int PRIMARY KEY, v text);")
    cfg = {"connector.class": "postgres-source", "database.conninfo": postgres, "topic.prefix": "inc",
           "table.include.list": "shop.a", "slot.name": "inc_test"}
    connect.create("inc", cfg)
    connect.wait_state("inc", "RUNNING")
    sql(postgres, "INSERT INTO shop.a VALUES (1, 'a1')")
    consume_all(broker, "inc.shop.a", lambda r: any(v and v["after"]["id"] == 1 for _, v in r))
    published = "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) " \
                "FROM pg_publication_tables WHERE pubname = 'streambus_inc'"
    assert sql(postgres, published) == "shop.a"

    cfg["table.include.list"] = "shop.a,shop.b"
    status, _ = connect.request("PUT", "/connectors/inc/config", cfg)
    assert status == 200
    wait_until(lambda: sql(postgres, published) == "shop.a,shop.b", 30, "the publication to list shop.b")
    connect.wait_state("inc", "RUNNING")
    sql(postgres, "INSERT INTO shop.b VALUES (7, 'b7'); INSERT INTO shop.a VALUES (2, 'a2')")
    consume_all(broker, "inc.shop.b", lambda r: any(v and v["after"] == {"id": 7, "v": "b7"} for _, v in r))
    consume_all(broker, "inc.shop.a", lambda r: any(v and v["after"]["id"] == 2 for _, v in r))

    # Back to one table: shop.b's changes stop reaching the broker.
    cfg["table.include.list"] = "shop.a"
    assert connect.request("PUT", "/connectors/inc/config", cfg)[0] == 200
    wait_until(lambda: sql(postgres, published) == "shop.a", 30, "the publication to drop shop.b")
    connect.wait_state("inc", "RUNNING")
    sql(postgres, "INSERT INTO shop.b VALUES (8, 'b8'); INSERT INTO shop.a VALUES (3, 'a3')")
    consume_all(broker, "inc.shop.a", lambda r: any(v and v["after"]["id"] == 3 for _, v in r))
    records = consume_all(broker, "inc.shop.b", lambda r: len(r) >= 1)
    assert all(v["after"]["id"] != 8 for _, v in records if v)


def test_table_names_that_are_not_topic_names_are_mapped(postgres, broker, connect):
    sql(postgres, 'CREATE SCHEMA shop; CREATE TABLE shop."odd name$1" (id int PRIMARY KEY);'
                  'CREATE TABLE shop."MixedCase" (id int PRIMARY KEY);'
                  'INSERT INTO shop."odd name$1" VALUES (1); INSERT INTO shop."MixedCase" VALUES (2);')
    connect.create("odd", {"connector.class": "postgres-source", "database.conninfo": postgres,
                           "topic.prefix": "odd", "table.include.list": "shop.odd name$1,shop.MixedCase",
                           "slot.name": "odd_test"})
    records = consume_all(broker, "odd.shop.odd_name_1", lambda r: len(r) >= 1)
    assert records[0][1]["source"]["table"] == "odd name$1" and records[0][1]["after"] == {"id": 1}
    consume_all(broker, "odd.shop.MixedCase", lambda r: len(r) >= 1)
    sql(postgres, 'INSERT INTO shop."odd name$1" VALUES (3)')
    consume_all(broker, "odd.shop.odd_name_1", lambda r: any(v["after"]["id"] == 3 for _, v in r if v))
    assert connect.state("odd") == "RUNNING"


def test_a_published_table_without_replica_identity_is_named_in_a_warning(postgres, connect):
    sql(postgres, "CREATE SCHEMA shop; CREATE TABLE shop.nopk (v text); CREATE TABLE shop.ok (id int PRIMARY KEY);")
    connect.create("nopk", {"connector.class": "postgres-source", "database.conninfo": postgres,
                            "topic.prefix": "nopk", "table.include.list": "shop.nopk,shop.ok",
                            "slot.name": "nopk_test"})
    wait_until(lambda: "without a replica identity: shop.nopk" in connect.log_text(), 30, "the warning")
    assert "shop.ok" not in [l for l in connect.log_text().splitlines() if "replica identity" in l][0]


def test_a_restored_position_ahead_of_the_wal_fails_the_task_and_spares_the_slot(postgres, broker, connect):
    sql(postgres, "CREATE SCHEMA shop; CREATE TABLE shop.a (id int PRIMARY KEY, v text);")
    connect.create("ahead", {"connector.class": "postgres-source", "database.conninfo": postgres,
                             "topic.prefix": "ahead", "table.include.list": "shop.a", "slot.name": "ahead_test"})
    connect.wait_state("ahead", "RUNNING")
    sql(postgres, "INSERT INTO shop.a VALUES (1, 'one')")
    consume_all(broker, "ahead.shop.a", lambda r: any(v and v["after"]["id"] == 1 for _, v in r))
    slot_lsn = "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'ahead_test'"
    wait_until(lambda: connect.request("GET", "/connectors/ahead/offsets")[1]["position"] is not None, 30,
               "a committed position")
    good = connect.request("GET", "/connectors/ahead/offsets")[1]["position"]

    connect.expect_error(r"ahead of the server's WAL")
    assert connect.request("PUT", "/connectors/ahead/offsets", {"position": "FF/0"})[0] == 200
    connect.wait_state("ahead", "FAILED")
    trace = connect.request("GET", "/connectors/ahead/status")[1]["tasks"][0]["trace"]
    assert "ahead of the server's WAL" in trace
    assert sql(postgres, slot_lsn) != "FF/0"
    sql(postgres, "INSERT INTO shop.a VALUES (2, 'two')")

    # Restoring the last good position resumes without losing the change made meanwhile.
    assert connect.request("PUT", "/connectors/ahead/offsets", {"position": good})[0] == 200
    connect.wait_state("ahead", "RUNNING")
    consume_all(broker, "ahead.shop.a", lambda r: any(v and v["after"]["id"] == 2 for _, v in r))


def test_two_tables_on_one_topic_are_refused(postgres, connect):
    sql(postgres, 'CREATE SCHEMA shop; CREATE TABLE shop."x y" (id int PRIMARY KEY, v text);'
                  'CREATE TABLE shop.x_y (id int PRIMARY KEY, v text);')
    cfg = {"connector.class": "postgres-source", "database.conninfo": postgres, "topic.prefix": "clash",
           "slot.name": "clash_test"}
    # named in the include list: a 400 before anything starts
    status, body = connect.request("POST", "/connectors", {"name": "clash", "config": dict(
        cfg, **{"table.include.list": "shop.x y,shop.x_y"})})
    assert status == 400 and "x_y" in body["errors"]["table.include.list"]
    # every table of the database (no include list): the task fails naming both, before streaming
    connect.expect_error(r"would both be published on topic clash\.shop\.x_y")
    connect.create("clash", cfg)
    connect.wait_state("clash", "FAILED")
    trace = connect.request("GET", "/connectors/clash/status")[1]["tasks"][0]["trace"]
    assert "shop.x y" in trace and "shop.x_y" in trace and "clash.shop.x_y" in trace


def test_reconcile_and_erasure_reach_tables_with_mapped_names(postgres, connect):
    """The table behind a mapped topic name is found again: through the include list (split on
    commas only, as the source reads it) and through the connector's own publication."""
    import json
    import urllib.parse

    sql(postgres, 'CREATE SCHEMA shop; CREATE SCHEMA copy; CREATE SCHEMA copy2;'
                  'CREATE TABLE shop."odd name$1" (id int PRIMARY KEY, qty int NOT NULL, note text);'
                  'CREATE TABLE shop.plain (id int PRIMARY KEY, qty int NOT NULL, note text);'
                  'INSERT INTO shop."odd name$1" SELECT g, g, \'n\' FROM generate_series(1, 5) g;'
                  'INSERT INTO shop.plain SELECT g, g, \'p\' FROM generate_series(1, 3) g;')
    connect.create("src", {"connector.class": "postgres-source", "database.conninfo": postgres,
                           "topic.prefix": "m", "table.include.list": "shop.odd name$1, shop.plain",
                           "slot.name": "mapped_a"})
    connect.create("sink", {"connector.class": "postgres-sink", "connection.conninfo": postgres,
                            "topics.regex": "m\\.shop\\..*", "target.schema": "copy"})
    wait_until(lambda: sql(postgres, "SELECT count(*) FROM pg_tables WHERE schemaname = 'copy'") == "2"
               and sql(postgres, "SELECT count(*) FROM copy.odd_name_1") == "5", 60, "the snapshot in copy")
    job = reconcile(connect, {"connector": "src", "all_tables": True, "mode": "full"})
    assert sorted(t["table"] for t in job["tables"]) == ["shop.odd name$1", "shop.plain"]
    assert all(t["in_sync"] for t in job["tables"]), json.dumps(job)
    status, body = connect.request("DELETE", "/records/src/%s/2" % urllib.parse.quote("shop.odd name$1", safe=""))
    assert status == 200, body
    assert sql(postgres, 'SELECT count(*) FROM shop."odd name$1" WHERE id = 2') == "0"
    wait_until(lambda: sql(postgres, "SELECT count(*) FROM copy.odd_name_1 WHERE id = 2") == "0", 30, "the erasure")

    # No include list: the tables come from the connector's own publication.
    connect.create("src2", {"connector.class": "postgres-source", "database.conninfo": postgres,
                            "topic.prefix": "n", "slot.name": "mapped_b"})
    connect.create("sink2", {"connector.class": "postgres-sink", "connection.conninfo": postgres,
                             "topics.regex": "n\\.shop\\.plain", "target.schema": "copy2"})
    wait_until(lambda: sql(postgres, "SELECT count(*) FROM pg_tables WHERE schemaname = 'copy2'") == "1"
               and sql(postgres, "SELECT count(*) FROM copy2.plain") == "3", 60, "the snapshot in copy2")
    job = reconcile(connect, {"connector": "src2", "all_tables": True, "mode": "count"})
    assert [t["table"] for t in job["tables"]] == ["shop.plain"] and job["tables"][0]["in_sync"], json.dumps(job)
