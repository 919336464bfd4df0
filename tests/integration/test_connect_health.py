"""Health and lag of the connect runtime as an operator sees them: /health/ready lists the
broker and each connector's database and turns 503 while one is down; a sink's lag counts the
records it has not applied also while it is paused or its target is away; a source's
replication lag is a metric; connect answers its probes while the broker is not there."""

import re
import signal
import subprocess

import pytest

from conftest import Broker, PortHold, free_port, http_get, streambus_bin, wait_until
from connect_fixtures import Connect, connect, produce  # noqa: F401 (fixture)
from pg_fixtures import needs_pg, pg_server  # noqa: F401 (fixture)



@pytest.fixture
def postgres(pg_server):
    return pg_server


def ready(connect):
    status, body = connect.request("GET", "/health/ready")
    assert isinstance(body, dict), body
    return status, body


def component(body, name):
    found = [c for c in body["components"] if c["name"] == name]
    assert len(found) == 1, body
    return found[0]


def details(connect, name):
    status, body = connect.request("GET", "/connectors/%s/status" % name)
    assert status == 200, body
    return body.get("details", {})


def metric(connect, name, connector):
    status, text = connect.request("GET", "/metrics")
    assert status == 200
    m = re.search(r'^%s\{connector="%s"\} (\S+)$' % (re.escape(name), re.escape(connector)), text, re.M)
    return None if m is None else float(m.group(1))


@needs_pg
def test_ready_lists_each_database_and_follows_its_outage(postgres, broker, connect):
    topic = "app.demo.orders"
    postgres.sql("CREATE SCHEMA copy; CREATE SCHEMA shop; CREATE TABLE shop.items (id int PRIMARY KEY, note text);")
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": postgres.conninfo,
                              "topic.prefix": "outage", "table.include.list": "shop.items", "slot.name": "outage"})
    connect.create("pg-sink", {"connector.class": "postgres-sink", "connection.conninfo": postgres.conninfo,
                               "topics": topic, "target.schema": "copy"})
    key = lambda i: '{"id":%d}' % i  # noqa: E731
    value = lambda i: ('{"before":null,"after":{"id":%d,"qty":%d},"op":"c","ts_ms":1,"source":{"version":"0.1.0",'  # noqa: E731
                       '"connector":"test","name":"app","ts_ms":1,"schema":"demo","table":"orders"}}' % (i, i))
    produce(broker, topic, [(key(i), value(i)) for i in range(10)])
    wait_until(lambda: postgres.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'copy'") == "1"
               and postgres.sql("SELECT count(*) FROM copy.orders") == "10", 60, "the sink to apply 10 rows")
    connect.wait_state("pg-sink", "RUNNING")
    wait_until(lambda: ready(connect)[0] == 200, 30, "ready")
    status, body = ready(connect)
    assert body["status"] == "ready"
    assert component(body, "broker")["status"] == "up" and component(body, "broker")["address"] == broker.bootstrap
    assert component(body, "pg-sink")["status"] == "up"
    wait_until(lambda: component(ready(connect)[1], "pg-src")["status"] == "up", 30, "the source's database up")

    connect.expect_error(r"pg-sink")  # the sink may log its lost connection
    postgres.stop()  # its port stays held while it is down (PgServer): the outage is ours alone
    produce(broker, topic, [(key(i), value(i)) for i in range(10, 25)])
    wait_until(lambda: ready(connect)[0] == 503 and component(ready(connect)[1], "pg-sink")["status"] == "down", 60,
               "not ready, the sink's database down, while PostgreSQL is down")
    status, body = ready(connect)
    sink = component(body, "pg-sink")
    assert body["status"] == "not_ready" and sink["status"] == "down"
    assert sink["error"] and sink["since"] and "pg-sink" in body["detail"]
    assert component(body, "broker")["status"] == "up"
    wait_until(lambda: component(ready(connect)[1], "pg-src")["status"] == "down", 60, "the source's database down")
    # the task still runs (it retries); its status does not pretend the database is there
    assert connect.state("pg-sink") == "RUNNING"
    wait_until(lambda: details(connect, "pg-sink").get("lag") == 15, 30,
               "lag 15 during the outage (is %s)" % details(connect, "pg-sink").get("lag"))
    assert details(connect, "pg-sink").get("connected") is not True
    wait_until(lambda: metric(connect, "streambus_connect_lag_records", "pg-sink") == 15, 30, "lag metric 15")

    postgres.start()
    wait_until(lambda: postgres.sql("SELECT count(*) FROM copy.orders") == "25", 120, "the rows after the outage")
    wait_until(lambda: ready(connect)[0] == 200, 60, "ready again")
    assert component(ready(connect)[1], "pg-sink")["status"] == "up"
    assert component(ready(connect)[1], "pg-src")["status"] == "up"
    wait_until(lambda: details(connect, "pg-sink").get("lag") == 0, 30, "lag 0 once applied")


def test_connectors_at_an_unreachable_database_are_not_ready(connect):
    """Nothing listens on the databases' ports from the start: readiness names every connector,
    and the source waiting for its database is UNASSIGNED, as documented."""
    port = free_port()
    conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2" % port
    connect.create("src", {"connector.class": "postgres-source", "database.conninfo": conninfo,
                           "topic.prefix": "nowhere"})
    connect.create("sink", {"connector.class": "postgres-sink", "connection.conninfo": conninfo,
                            "topics": "nowhere.public.t"})
    connect.create("ch", {"connector.class": "clickhouse-sink", "clickhouse.url": "http://127.0.0.1:%d" % free_port(),
                          "topics": "nowhere.public.t", "request.timeout.ms": "2000"})

    def all_down():
        status, body = ready(connect)
        return status == 503 and all(component(body, n)["status"] == "down" for n in ("src", "sink", "ch"))
    wait_until(all_down, 60, "every connector's database down in /health/ready (%s)" % (ready(connect),))
    status, body = ready(connect)
    assert str(port) in component(body, "src")["error"] or "refused" in component(body, "src")["error"]
    assert "src" in body["detail"] and "sink" in body["detail"]
    assert component(body, "broker")["status"] == "up"
    assert connect.state("src") == "UNASSIGNED"
    # a sink that never reached its target has not measured its lag: NaN, not a reassuring 0
    _, metrics = connect.request("GET", "/metrics")
    assert 'streambus_connect_lag_records{connector="sink"} NaN' in metrics, metrics
    # deleting them makes the worker ready again
    connect.ctl("connector", "delete", "src")
    connect.ctl("connector", "delete", "sink")
    connect.ctl("connector", "delete", "ch")
    wait_until(lambda: ready(connect)[0] == 200, 30, "ready without them")


def test_paused_sink_reports_its_lag(broker, connect, tmp_path):
    topic = "paused.lag"
    out = tmp_path / "out.jsonl"
    connect.create("fs", {"connector.class": "file-sink", "file": str(out), "topics": topic})
    produce(broker, topic, [(b"k%d" % i, b'{"n":%d}' % i) for i in range(5)])
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 5, 30, "5 records applied")
    assert connect.request("PUT", "/connectors/fs/pause")[0] == 202
    connect.wait_state("fs", "PAUSED")
    produce(broker, topic, [(b"k%d" % i, b'{"n":%d}' % i) for i in range(5, 85)])
    wait_until(lambda: details(connect, "fs").get("lag") == 80, 30,
               "lag 80 while paused (is %s)" % details(connect, "fs").get("lag"))
    wait_until(lambda: metric(connect, "streambus_connect_lag_records", "fs") == 80, 30, "lag metric 80")
    assert len(out.read_text().splitlines()) == 5
    assert connect.request("PUT", "/connectors/fs/resume")[0] == 202
    wait_until(lambda: details(connect, "fs").get("lag") == 0, 30, "lag 0 after resuming")
    assert len(out.read_text().splitlines()) == 85


@needs_pg
def test_source_replication_lag_is_a_metric(postgres, connect):
    postgres.sql("CREATE SCHEMA shop; CREATE TABLE shop.items (id int PRIMARY KEY, note text);"
                 "INSERT INTO shop.items VALUES (1, 'a');")
    connect.create("pg-src", {"connector.class": "postgres-source", "database.conninfo": postgres.conninfo,
                              "topic.prefix": "lagm", "table.include.list": "shop.items", "slot.name": "lag_metric"})
    wait_until(lambda: details(connect, "pg-src").get("phase") == "streaming", 60, "the source to stream")
    postgres.sql("INSERT INTO shop.items SELECT g, 'n' FROM generate_series(2, 200) g")
    wait_until(lambda: metric(connect, "streambus_connect_source_lag_bytes", "pg-src") is not None, 30,
               "streambus_connect_source_lag_bytes{connector=\"pg-src\"}")
    wait_until(lambda: metric(connect, "streambus_connect_source_lag_bytes", "pg-src")
               == details(connect, "pg-src").get("lag_bytes"), 30, "the gauge to equal the status lag_bytes")
    # a records lag means nothing for a source: it is not reported as a constant 0
    assert metric(connect, "streambus_connect_lag_records", "pg-src") is None


def test_connect_answers_probes_while_the_broker_is_away(tmp_path):
    broker = Broker(streambus_bin(), tmp_path / "broker")  # not started yet
    port = broker.port
    # Away means nobody on its port: held until the broker listens, so that no other test's
    # server is handed the number meanwhile (see PortHold).
    hold = PortHold(port)
    c = Connect(streambus_bin(), tmp_path / "connect", broker.bootstrap)
    with open(c.log_path, "ab") as log:
        c.proc = subprocess.Popen([c.binary, "connect", "--config", str(c.config_path)], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: c.proc.poll() is not None or http_get(c.url + "/health/live")[0] == 200, 30,
                   "/health/live while the broker is away")
        assert c.proc.poll() is None, c.log_text()
        status, body = c.request("GET", "/health/ready")
        assert status == 503, body
        assert body["status"] == "not_ready" and "127.0.0.1:%d" % port in body["detail"]
        assert [(x["name"], x["status"]) for x in body["components"]] == [("broker", "down")]
        # the broker comes: connect reaches it and serves its API
        broker.start()
        hold.release()
        wait_until(lambda: c.request("GET", "/connectors")[0] == 200, 60, "the REST API once the broker is up")
        wait_until(lambda: c.request("GET", "/health/ready")[0] == 200, 30, "ready once the broker is up")
    finally:
        hold.release()
        c.stop()
        broker.stop()
    assert not c.log_problems(), c.log_problems()


def test_ready_names_the_broker_before_its_first_answer(tmp_path):
    """Readiness says which broker connect waits for from its first answer on. Before, until
    the first attempt had failed it said only "not reached yet", and the test above failed
    when its probe came first (under load). Made certain here: the port accepts connections
    but never answers, so the first attempt waits (librdkafka's metadata timeout, 10 s)."""
    import socket
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        address = "127.0.0.1:%d" % silent.getsockname()[1]
        c = Connect(streambus_bin(), tmp_path / "connect", address)
        with open(c.log_path, "ab") as log:
            c.proc = subprocess.Popen([c.binary, "connect", "--config", str(c.config_path)],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            wait_until(lambda: c.proc.poll() is not None or http_get(c.url + "/health/live")[0] == 200, 30,
                       "/health/live")
            assert c.proc.poll() is None, c.log_text()
            status, body = c.request("GET", "/health/ready")
            assert status == 503, body
            assert address in body["detail"], body
            assert address in body["components"][0]["error"], body
        finally:
            c.stop()


def test_sigterm_while_waiting_for_the_broker_stops_connect(tmp_path):
    c = Connect(streambus_bin(), tmp_path / "connect", "127.0.0.1:%d" % free_port())
    with open(c.log_path, "ab") as log:
        c.proc = subprocess.Popen([c.binary, "connect", "--config", str(c.config_path)], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: c.proc.poll() is not None or http_get(c.url + "/health/live")[0] == 200, 30, "/health/live")
    wait_until(lambda: "retrying" in c.log_text(), 30, "connect to wait for the broker")
    c.proc.send_signal(signal.SIGTERM)
    # before, the 10-second metadata wait had to run out first; a probe or a sleep is cut short
    assert c.proc.wait(timeout=5) == 0, c.log_text()


def test_sink_lag_is_known_before_the_group_assigns_it(broker, connect, tmp_path):
    """After kill -9 the group waits for the dead member's session to expire before assigning;
    meanwhile the lag counts what is pending from the positions stored in the target."""
    topic = "kill9.lag"
    out = tmp_path / "out.jsonl"
    connect.create("fs", {"connector.class": "file-sink", "file": str(out), "topics": topic})
    produce(broker, topic, [(b"k%d" % i, b'{"n":%d}' % i) for i in range(10)])
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 10, 30, "10 records applied")
    connect.kill9()
    produce(broker, topic, [(b"k%d" % i, b'{"n":%d}' % i) for i in range(10, 40)])
    connect.start()

    def pending_while_unassigned():
        d = details(connect, "fs")
        return d.get("assigned_partitions") == 0 and d.get("lag") == 30
    wait_until(pending_while_unassigned, 30, "lag 30 while no partition is assigned yet (%s)" % details(connect, "fs"))
    wait_until(lambda: len(out.read_text().splitlines()) == 40, 120, "the 30 records applied after the rebalance")
    wait_until(lambda: details(connect, "fs").get("lag") == 0, 30, "lag 0")


def test_sigterm_with_connectors_running_and_the_broker_gone_stops_connect(tmp_path):
    """Task state changes are written to the status topic; with the broker gone those writes
    must not hold the shutdown (each waited 30 s for an acknowledgement, for minutes in all)."""
    broker = Broker(streambus_bin(), tmp_path / "broker")
    broker.start()
    c = Connect(streambus_bin(), tmp_path / "connect", broker.bootstrap)
    c.start()
    try:
        for i in range(3):
            c.create("fs%d" % i, {"connector.class": "file-sink", "file": str(tmp_path / ("out%d" % i)),
                                  "topics": "gone.%d" % i})
            c.wait_state("fs%d" % i, "RUNNING")
        broker.kill9()
        c.proc.send_signal(signal.SIGTERM)
        assert c.proc.wait(timeout=40) == 0, c.log_text()[-3000:]
    finally:
        if c.proc.poll() is None:
            c.kill9()
        broker.stop()
