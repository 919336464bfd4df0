"""cassandra-source with the schema read over CQL: the fake CQL server (tests/fixtures/cql_server.py)
serves system_schema rows for the table of the real segment Cassandra 4.0.11 wrote, behind
PasswordAuthenticator; the source reads them through src/cql, decodes the real segment and the
events reach the broker. Schema changes: a table created after the source started is found by
re-reading system_schema when its first mutation arrives; a column the schema never had fails
the task with a message naming it, after one re-read."""

import json
import shutil
import uuid

from conftest import free_port, kcat_consume, wait_until
from connect_fixtures import connect, read_jsonl  # noqa: F401 (fixture)
from cql_fixtures import cql_server
from test_connect_cassandra import DATA, INDEX, SEGMENT, TOPIC

TABLE_ID = uuid.UUID("657e5210-7cbb-11ee-9858-c9aa1eb53e69")
COLUMNS = [("key", "partition_key", 0, "ascii"), ("col", "clustering", 0, "ascii", "asc"),
           ("val", "regular", -1, "blob"), ("val0", "regular", -1, "blob")]


def fake_cluster(with_standard1=True, port=0):
    cluster = cql_server.FakeCluster(credentials={"cdc": "s3cret"}, port=port)
    cql_server.add_system_schema(cluster)
    # a captured table that the segment never writes, so the source has something to start with
    cql_server.schema_define_table(cluster, "shop", "orders", uuid.uuid4(),
                                   [("id", "partition_key", 0, "int"), ("total", "regular", -1, "bigint")])
    # a table without cdc: its id is known, so its mutations are skipped without a re-read
    cql_server.schema_define_table(cluster, "shop", "audit", uuid.uuid4(),
                                   [("id", "partition_key", 0, "int")], cdc=False)
    if with_standard1:
        cql_server.schema_define_table(cluster, "Keyspace1", "Standard1", TABLE_ID, COLUMNS)
    # a user-defined type: the source reads system_schema.types for the field names
    cql_server.schema_define_type(cluster, "shop", "address", [("street", "text"), ("zip", "int")])
    return cluster.start()


def source_config(cdc_raw, port, **extra):
    cfg = {"connector.class": "cassandra-source", "cdc_raw.dir": str(cdc_raw), "topic.prefix": "cdc",
           "cassandra.contact.points": "127.0.0.1:%d" % port, "cassandra.username": "cdc",
           "cassandra.password": "s3cret", "poll.interval.ms": "50"}
    cfg.update(extra)
    return cfg


def cdc_dir(tmp_path, synced):
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    shutil.copy(DATA / SEGMENT, cdc_raw / SEGMENT)
    (cdc_raw / INDEX).write_text(synced)
    return cdc_raw


def status(connect, name):
    return connect.request("GET", "/connectors/%s/status" % name)[1]


def test_schema_from_system_schema_real_segment_to_topic(broker, connect, tmp_path):
    with fake_cluster() as cluster:
        cdc_raw = cdc_dir(tmp_path, "75011\nCOMPLETED")
        connect.create("cass", source_config(cdc_raw, cluster.port))
        connect.wait_state("cass", "RUNNING")
        wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 60, "the segment read and deleted")
        values = [json.loads(v) for v in kcat_consume(broker, TOPIC, fmt="%s\\n").splitlines() if v.strip()]
        assert len(values) == 355
        assert {v["op"] for v in values} == {"c"}
        assert all(v["after"]["key"] and v["after"]["col"].startswith("name") for v in values)
        assert all(v["after"]["val"].startswith("0x") for v in values)
        # the schema came from the server, read once, and the queries went through PLAIN auth
        st = status(connect, "cass")
        task = json.dumps(st)
        assert '"schema_source": "system_schema"' in task
        # once at start, then once for each of the two system tables whose three mutations sit
        # before Standard1's in the segment (this fake does not list the system keyspace in
        # system_schema, as a real node does): an id still unknown after a re-read is skipped
        # from then on, without another read
        assert '"other_table_mutations": 3' in task
        assert '"schema_reads": 3' in task
        assert '"captured_tables": 2' in task
        assert '"user_types": 1' in task


def test_node_unreachable_at_start_is_retried_until_it_comes_up(broker, connect, tmp_path):
    port = free_port()
    cdc_raw = cdc_dir(tmp_path, "75011\nCOMPLETED")
    connect.expect_error("cannot connect to 127.0.0.1:%d" % port)
    connect.create("cass", source_config(cdc_raw, port))
    wait_until(lambda: "cannot connect to 127.0.0.1:%d" % port in json.dumps(status(connect, "cass")), 30,
               "the status to name the unreachable contact point")
    text = json.dumps(status(connect, "cass"))
    assert "retrying with backoff" in text, text
    assert connect.state("cass") != "FAILED"
    with fake_cluster(port=port):
        wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 90, "the segment read once the node is up")
        assert connect.state("cass") == "RUNNING"
    assert len([v for v in kcat_consume(broker, TOPIC, fmt="%s\\n").splitlines() if v.strip()]) == 355


def test_schema_read_timing_out_at_start_is_retried(broker, connect, tmp_path):
    with fake_cluster() as cluster:
        cluster.delay("system_schema.tables", 1.5)
        cdc_raw = cdc_dir(tmp_path, "75011\nCOMPLETED")
        connect.expect_error("reading the schema")
        connect.create("cass", source_config(cdc_raw, cluster.port, **{"cassandra.request.timeout.ms": "300"}))
        wait_until(lambda: "retrying with backoff" in json.dumps(status(connect, "cass")), 30,
                   "the status to say the schema read is retried")
        text = json.dumps(status(connect, "cass"))
        assert "reading the schema from 127.0.0.1:%d" % cluster.port in text and "system_schema.tables" in text, text
        assert connect.state("cass") != "FAILED"
        cluster.clear_hooks()
        wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 90, "the segment read once the node answers")
        assert connect.state("cass") == "RUNNING"


def test_table_created_after_start_is_found_by_reading_the_schema_again(broker, connect, tmp_path):
    with fake_cluster(with_standard1=False) as cluster:
        cdc_raw = cdc_dir(tmp_path, "1576")
        connect.create("cass", source_config(cdc_raw, cluster.port))
        connect.wait_state("cass", "RUNNING")
        # CREATE TABLE ... WITH cdc = true, then Cassandra syncs the section with its writes
        cql_server.schema_define_table(cluster, "Keyspace1", "Standard1", TABLE_ID, COLUMNS)
        (cdc_raw / INDEX).write_text("75011\nCOMPLETED")
        wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 60, "the segment read and deleted")
        values = kcat_consume(broker, TOPIC, fmt="%s\\n").splitlines()
        assert len([v for v in values if v.strip()]) == 355
        assert status(connect, "cass")["connector"]["state"] == "RUNNING"


def test_column_added_after_start_is_found_by_reading_the_schema_again(broker, connect, tmp_path):
    # ALTER TABLE Keyspace1.Standard1 ADD val blob while the agent runs: the segment's mutations
    # then carry a column the schema read at start did not have; one re-read finds it.
    with fake_cluster(with_standard1=False) as cluster:
        cql_server.schema_define_table(cluster, "Keyspace1", "Standard1", TABLE_ID, COLUMNS[:2] + COLUMNS[3:])  # no val
        cdc_raw = cdc_dir(tmp_path, "1576")
        connect.create("cass", source_config(cdc_raw, cluster.port))
        connect.wait_state("cass", "RUNNING")
        cql_server.schema_define_table(cluster, "Keyspace1", "Standard1", TABLE_ID, COLUMNS)
        (cdc_raw / INDEX).write_text("75011\nCOMPLETED")
        wait_until(lambda: not (cdc_raw / SEGMENT).exists(), 60, "the segment read and deleted")
        values = [v for v in kcat_consume(broker, TOPIC, fmt="%s\\n").splitlines() if v.strip()]
        assert len(values) == 355
        assert any('"val":' in v for v in values), values[:3]
        assert status(connect, "cass")["connector"]["state"] == "RUNNING"


def test_column_missing_from_the_schema_fails_naming_it_after_one_reread(broker, connect, tmp_path):
    with fake_cluster(with_standard1=False) as cluster:
        cql_server.schema_define_table(cluster, "Keyspace1", "Standard1", TABLE_ID, COLUMNS[:2] + COLUMNS[3:])  # no val
        cdc_raw = cdc_dir(tmp_path, "75011\nCOMPLETED")
        connect.expect_error("unknown column val ")
        connect.create("cass", source_config(cdc_raw, cluster.port))

        def failed():
            st = status(connect, "cass")
            return any(t.get("state") == "FAILED" for t in st.get("tasks", [])) or \
                st["connector"]["state"] == "FAILED"
        wait_until(failed, 60, "the task failed")
        text = json.dumps(status(connect, "cass"))
        assert "unknown column val " in text and "after reading system_schema again" in text
        assert (cdc_raw / SEGMENT).exists()  # nothing was skipped


def test_config_errors_name_the_key(connect, tmp_path):
    cdc_raw = tmp_path / "cdc_raw"
    cdc_raw.mkdir()
    code, body = connect.request("POST", "/connectors", {"name": "bad", "config": {
        "connector.class": "cassandra-source", "cdc_raw.dir": str(cdc_raw), "topic.prefix": "cdc"}})
    assert code == 400 and "cassandra.contact.points" in json.dumps(body)
    code, body = connect.request("POST", "/connectors", {"name": "bad", "config": {
        "connector.class": "cassandra-source", "cdc_raw.dir": str(cdc_raw), "topic.prefix": "cdc",
        "cassandra.contact.points": "127.0.0.1:1", "cassandra.tls.enabled": "yes"}})
    assert code == 400 and "cassandra.tls.enabled" in json.dumps(body)


def test_wrong_password_and_no_cdc_table_fail_with_the_reason(broker, connect, tmp_path):
    with fake_cluster(with_standard1=False) as cluster:
        cdc_raw = cdc_dir(tmp_path, "1576")
        connect.expect_error("table.include.list|cannot connect|[Bb]ad credentials|[Pp]assword")
        connect.create("cass", source_config(cdc_raw, cluster.port, **{"table.include.list": "nope.nothing"}))
        wait_until(lambda: "none of table.include.list" in json.dumps(status(connect, "cass")), 60,
                   "the task failed naming table.include.list")
        connect.create("cass2", source_config(cdc_raw, cluster.port, **{"cassandra.password": "wrong"}))
        wait_until(lambda: "cannot connect" in json.dumps(status(connect, "cass2")), 60,
                   "the task failed on authentication")
