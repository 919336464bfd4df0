"""PostgreSQL -> broker -> PostgreSQL through the connect runtime, with a crash: `kill -9` of
connect in the middle of the stream, then a restart; the target must equal the source (count
and checksum), with no row lost and none duplicated."""

from conftest import wait_until
from connect_fixtures import connect  # noqa: F401 (fixture)
from pg_fixtures import needs_pg, pg_server, postgres, sql  # noqa: F401 (fixture)

pytestmark = needs_pg


CHECKSUM = "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '/' || qty || '/' || note, ',' ORDER BY id)), '') FROM %s"


def test_kill9_of_connect_mid_stream_target_equals_source(postgres, connect):
    sql(postgres, "CREATE SCHEMA shop; CREATE SCHEMA copy;"
                  "CREATE TABLE shop.items (id int PRIMARY KEY, qty int NOT NULL, note text NOT NULL);"
                  "INSERT INTO shop.items SELECT g, g % 7, 'row ' || g FROM generate_series(1, 2000) g;")
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": postgres,
                              "topic.prefix": "shop1", "table.include.list": "shop.items",
                              "slot.name": "kill9_test"})
    connect.create("pg-sink", {"connector.class": "postgres-sink", "connection.conninfo": postgres,
                               "topics": "shop1.shop.items", "target.schema": "copy"})
    # changes while the snapshot and the stream are under way
    for i in range(5):
        sql(postgres, "UPDATE shop.items SET qty = qty + 1 WHERE id %% 5 = %d;"
                      "INSERT INTO shop.items SELECT g, 1, 'late ' || g FROM generate_series(%d, %d) g;"
                      "DELETE FROM shop.items WHERE id %% 97 = %d;" % (i, 3000 + i * 100, 3099 + i * 100, i))
    wait_until(lambda: int(sql(postgres, "SELECT count(*) FROM pg_tables WHERE schemaname = 'copy'")) == 1
               and int(sql(postgres, "SELECT count(*) FROM copy.items")) > 0, 60, "the sink to be under way")
    connect.kill9()
    for i in range(5, 10):
        sql(postgres, "UPDATE shop.items SET note = note || '!' WHERE id %% 3 = %d;"
                      "INSERT INTO shop.items SELECT g, 2, 'after crash ' || g FROM generate_series(%d, %d) g;"
                      % (i % 3, 3000 + i * 100, 3099 + i * 100))
    connect.start()
    expected = sql(postgres, CHECKSUM % "shop.items")
    wait_until(lambda: sql(postgres, CHECKSUM % "copy.items") == expected, 120,
               "copy.items to equal shop.items (%s)" % expected, interval=0.5)
    # the primary key makes duplicates impossible to store; the count and checksum match the source
    assert sql(postgres, "SELECT count(*) FROM copy.items") == sql(postgres, "SELECT count(*) FROM shop.items")

    # a restored position must be an LSN: a typo is refused, not stored to fail the task later
    status, body = connect.request("PUT", "/connectors/pg-src/offsets", {"position": "garbage"})
    assert status == 400 and "not a PostgreSQL LSN" in body["message"]
    assert connect.request("GET", "/connectors/pg-src/status")[1]["tasks"][0]["state"] == "RUNNING"


DOCS = ("SELECT string_agg(id || ':' || coalesce(length(body)::text, 'NULL') || ':' || n, ',' ORDER BY id)"
        " FROM %s")


def test_unchanged_toasted_column_keeps_its_value_in_the_target(postgres, connect):
    # pgoutput does not send a TOASTed value an UPDATE left unchanged; the source leaves the
    # column out of `after`, and the sink must keep the stored value (it used to write NULL).
    sql(postgres, "CREATE SCHEMA shop; CREATE SCHEMA t;"
                  "CREATE TABLE shop.docs (id int PRIMARY KEY, body text, n int);"
                  "ALTER TABLE shop.docs ALTER COLUMN body SET STORAGE EXTERNAL;"
                  "INSERT INTO shop.docs VALUES (11, 'small', 1), (12, repeat('z', 50000), 1);")
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": postgres,
                              "topic.prefix": "toast", "table.include.list": "shop.docs",
                              "slot.name": "toast_test"})
    connect.create("pg-sink", {"connector.class": "postgres-sink", "connection.conninfo": postgres,
                               "topics": "toast.shop.docs", "target.schema": "t"})
    wait_until(lambda: sql(postgres, "SELECT count(*) FROM pg_tables WHERE schemaname = 't'") == "1"
               and sql(postgres, DOCS % "t.docs") == "11:5:1,12:50000:1", 60, "the snapshot in t.docs")
    sql(postgres, "UPDATE shop.docs SET n = 3 WHERE id = 12; UPDATE shop.docs SET n = 3 WHERE id = 11;"
                  "INSERT INTO shop.docs VALUES (13, repeat('w', 50000), 1);"
                  "UPDATE shop.docs SET n = 2 WHERE id = 13;")
    expected = "11:5:3,12:50000:3,13:50000:2"
    assert sql(postgres, DOCS % "shop.docs") == expected
    wait_until(lambda: sql(postgres, DOCS % "t.docs") == expected, 60,
               "t.docs to equal shop.docs (%s)" % expected, interval=0.5)
    assert sql(postgres, "SELECT md5(body) FROM t.docs WHERE id = 12") == \
        sql(postgres, "SELECT md5(body) FROM shop.docs WHERE id = 12")
