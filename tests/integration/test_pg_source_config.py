"""postgres-source configuration changes as an operator makes them: the publication the
connector owns follows table.include.list after a PUT of the config."""

from conftest import wait_until
from connect_fixtures import connect  # noqa: F401 (fixture)
from pg_fixtures import consume_all, needs_pg, postgres, sql  # noqa: F401 (fixture)

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
