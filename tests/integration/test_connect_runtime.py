"""The connect runtime end to end, with the real broker and the built-in file connectors
(file-source tails a file into a topic; file-sink appends what it consumes to a file and keeps
its positions in that file): REST CRUD and validation, pause/resume, restart of the runtime,
the dead-letter queue and replay, transforms, and the ctl commands."""

import json
from pathlib import Path


from conftest import kcat_consume, wait_until
from connect_fixtures import append_events, connect, produce, read_jsonl  # noqa: F401 (fixture)
from pg_fixtures import PgServer, needs_pg, reconcile, wait_equal


def event(op, row, table="orders", ts_ms=1700000000000):
    return {"before": None, "after": row, "op": op, "ts_ms": ts_ms + 1,
            "source": {"version": "0.1.0", "connector": "test", "name": "app", "ts_ms": ts_ms,
                       "schema": "demo", "table": table}}


def sink_config(out, topics="app.demo.orders", **extra):
    cfg = {"connector.class": "file-sink", "file": str(out), "topics": topics}
    cfg.update(extra)
    return cfg


def applied(out):
    """Records the file sink applied (not skipped), as (key, value dict)."""
    return [(r["key"], json.loads(r["value"]) if r["value"] else None)
            for r in read_jsonl(out) if not r.get("skipped")]


def test_rest_crud_and_plugins(connect, tmp_path):
    status, plugins = connect.request("GET", "/connector-plugins")
    assert status == 200
    assert {"class": "file-sink", "type": "sink"}.items() <= plugins[[p["class"] for p in plugins].index("file-sink")].items()

    cfg = sink_config(tmp_path / "out.jsonl")
    created = connect.create("orders-sink", cfg)
    assert created["name"] == "orders-sink" and created["type"] == "sink"

    status, body = connect.request("POST", "/connectors", {"name": "orders-sink", "config": cfg})
    assert status == 409, body
    assert connect.request("GET", "/connectors")[1] == ["orders-sink"]
    status, got = connect.request("GET", "/connectors/orders-sink/config")
    assert status == 200 and got["file"] == str(tmp_path / "out.jsonl")

    # PUT on an existing connector updates it (200); on a new name creates it (201)
    cfg["batch.size"] = "10"
    status, body = connect.request("PUT", "/connectors/orders-sink/config", cfg)
    assert status == 200 and body["config"]["batch.size"] == "10"
    status, body = connect.request("PUT", "/connectors/second/config", sink_config(tmp_path / "o2.jsonl"))
    assert status == 201
    connect.wait_state("orders-sink", "RUNNING")

    assert connect.request("DELETE", "/connectors/second")[0] == 204
    assert connect.request("GET", "/connectors/second")[0] == 404
    assert connect.request("GET", "/connectors/second/status")[0] == 404
    assert connect.request("DELETE", "/connectors/second")[0] == 404
    assert connect.request("GET", "/connectors")[1] == ["orders-sink"]


def test_bad_config_is_400_naming_every_wrong_field(connect, tmp_path):
    status, body = connect.request("POST", "/connectors", {"name": "bad", "config": {
        "connector.class": "file-sink", "tasks.max": "many", "errors.tolerance": "maybe",
        "transforms": "x", "transforms.x.type": "teleport"}})
    assert status == 400
    assert body["error_code"] == 400
    # runtime fields, the transform, and the connector's own validate() (file-sink needs "file")
    assert set(body["errors"]) >= {"tasks.max", "errors.tolerance", "topics", "transforms.x.type", "file"}
    status, body = connect.request("POST", "/connectors", {"name": "bad2", "config": {"connector.class": "nope"}})
    assert status == 400 and "connector.class" in body["errors"]
    status, body = connect.request("POST", "/connectors", {"config": {}})
    assert status == 400 and "name" in body["errors"]
    assert connect.request("GET", "/connectors")[1] == []


def test_source_to_sink_pause_resume_and_restart_resumes(broker, connect, tmp_path):
    src_file, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    append_events(src_file, [({"id": i}, event("c", {"id": i})) for i in range(1, 4)])
    connect.create("src", {"connector.class": "file-source", "file": str(src_file), "topic": "app.demo.orders"})
    connect.create("sink", sink_config(out))
    wait_until(lambda: len(applied(out)) == 3, 30, "3 records in the sink")

    assert connect.request("PUT", "/connectors/sink/pause")[0] == 202
    connect.wait_state("sink", "PAUSED")
    append_events(src_file, [({"id": 4}, event("c", {"id": 4}))])
    # the source still runs: the record reaches the broker, the paused sink does not apply it
    wait_until(lambda: '{"id":4}' in kcat_consume(broker, "app.demo.orders", fmt="%k\\n"), 30, "record 4 in topic")
    assert len(applied(out)) == 3

    # a restart of the whole runtime keeps the pause and the source position
    connect.restart()
    connect.wait_state("sink", "PAUSED")
    connect.wait_state("src", "RUNNING")
    append_events(src_file, [({"id": 5}, event("c", {"id": 5}))])
    assert connect.request("PUT", "/connectors/sink/resume")[0] == 202
    wait_until(lambda: len(applied(out)) == 5, 30, "5 records in the sink")
    keys = [json.loads(k)["id"] for k, _ in applied(out)]
    assert keys == [1, 2, 3, 4, 5]  # each exactly once, in order: no replay of the source's file
    topic_keys = kcat_consume(broker, "app.demo.orders", fmt="%k\\n").split()
    assert len(topic_keys) == 5


def test_kill9_of_connect_neither_loses_nor_duplicates(broker, connect, tmp_path):
    src_file, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    connect.create("src", {"connector.class": "file-source", "file": str(src_file), "topic": "app.demo.orders"})
    connect.create("sink", sink_config(out))
    append_events(src_file, [({"id": i}, event("c", {"id": i})) for i in range(200)])
    wait_until(lambda: len(applied(out)) >= 50, 30, "the sink to be under way")
    connect.kill9()
    append_events(src_file, [({"id": i}, event("c", {"id": i})) for i in range(200, 300)])
    connect.start()
    wait_until(lambda: len(applied(out)) >= 300, 60, "all 300 records in the sink")
    # the sink is exactly-once over the topic (positions in its file) ...
    offsets = [r["offset"] for r in read_jsonl(out)]
    assert offsets == sorted(set(offsets))
    # ... and the source is at-least-once: every id arrived; a duplicate can only be an
    # unacknowledged tail re-sent after the crash
    ids = {json.loads(k)["id"] for k, _ in applied(out)}
    assert ids == set(range(300))


def test_a_torn_last_line_of_the_sink_file_is_cut_before_appending(broker, connect, tmp_path):
    """What a kill -9 in the middle of a write leaves: a complete line, then part of one that was
    never acknowledged. The sink cuts the torn part when it starts, so what it appends next is
    not welded onto it, and resumes after the last complete line."""
    src_file, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    whole = json.dumps({"topic": "app.demo.orders", "partition": 0, "offset": 0, "key": "{}", "value": None})
    out.write_text(whole + "\n" + '{"topic":"app.demo.orders","partition":0,"offs')
    connect.create("src", {"connector.class": "file-source", "file": str(src_file), "topic": "app.demo.orders"})
    connect.create("sink", sink_config(out))
    append_events(src_file, [({"id": i}, event("c", {"id": i})) for i in range(5)])
    wait_until(lambda: len(read_jsonl(out)) >= 5, 30, "offsets 1..4 in the sink")
    text = out.read_text()
    assert text.endswith("\n") and '"offs\n' not in text and '"offs{' not in text, text
    assert [r["offset"] for r in read_jsonl(out)] == [0, 1, 2, 3, 4]


def test_poison_record_goes_to_dlq_with_headers_and_pipeline_flows(broker, connect, tmp_path):
    out = tmp_path / "out.jsonl"
    produce(broker, "app.demo.orders", [
        ('{"id":1}', json.dumps(event("c", {"id": 1}))),
        ('{"id":2}', json.dumps(event("c", {"id": 2, "note": "POISON"}))),
        ('{"id":3}', json.dumps(event("c", {"id": 3}))),
    ], headers=[("trace", b"abc")])
    connect.create("sink", sink_config(out, **{"fail.on": "POISON", "errors.retry.max": "2"}))
    wait_until(lambda: len(applied(out)) == 2, 30, "the good records applied")
    assert [json.loads(k)["id"] for k, _ in applied(out)] == [1, 3]
    # the skipped record's position is stored too, so a restart does not retry it
    assert [r["offset"] for r in read_jsonl(out) if r.get("skipped")] == [1]

    status, dlq = connect.request("GET", "/dlq/records?connector=sink&limit=10")
    assert status == 200 and dlq["topic"] == "dlq.sink"
    assert len(dlq["records"]) == 1
    # Dead letters and the erasure audit trail never expire (the broker's default is 7 days).
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for topic in ("dlq.sink", "_streambus-audit"):
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        cfg = admin.describe_configs([res])[res].result(timeout=10)
        assert cfg["retention.ms"].value == "-1", (topic, cfg["retention.ms"].value)
    rec = dlq["records"][0]
    assert rec["key"] == '{"id":2}'
    assert json.loads(rec["value"])["after"]["note"] == "POISON"  # original bytes
    h = rec["headers"]
    assert h["__connect.errors.topic"] == "app.demo.orders"
    assert h["__connect.errors.partition"] == "0"
    assert h["__connect.errors.offset"] == "1"
    assert h["__connect.errors.class"] == "record"
    assert "POISON" in h["__connect.errors.exception.message"]
    assert h["__connect.errors.retry.count"] == "3"  # first try + errors.retry.max retries
    assert int(h["__connect.errors.first.failure.ms"]) <= int(h["__connect.errors.last.failure.ms"])
    assert h["trace"] == "abc"  # the record's own headers are kept

    # later records still flow
    produce(broker, "app.demo.orders", [('{"id":4}', json.dumps(event("c", {"id": 4})))])
    wait_until(lambda: len(applied(out)) == 3, 30, "record 4 applied after the poison one")

    # after "the fix" (the sink no longer refuses it), replay puts it through again
    cfg = sink_config(out, **{"errors.retry.max": "2"})
    assert connect.request("PUT", "/connectors/sink/config", cfg)[0] == 200
    status, body = connect.request("POST", "/dlq/replay", {"connector": "sink", "ids": [rec["id"]]})
    assert status == 200 and body["replayed"] == 1, body
    wait_until(lambda: len(applied(out)) == 4, 30, "the replayed record applied")
    key, value = applied(out)[-1]
    assert key == '{"id":2}' and value["after"]["note"] == "POISON"

    status, body = connect.request("POST", "/dlq/replay", {"connector": "sink", "ids": ["0:99"]})
    assert status == 404


def test_transient_failure_retries_until_target_is_back(broker, connect, tmp_path):
    out, down = tmp_path / "out.jsonl", tmp_path / "target-down"
    down.write_text("")
    produce(broker, "app.demo.orders", [('{"id":1}', json.dumps(event("c", {"id": 1})))])
    connect.create("sink", sink_config(out, **{"fail.transient.file": str(down)}))
    wait_until(lambda: "retrying" in (connect.request("GET", "/connectors/sink/status")[1]["tasks"][0].get("trace") or ""),
               30, "the status to show the retries")
    assert applied(out) == []
    down.unlink()
    wait_until(lambda: len(applied(out)) == 1, 60, "the record applied once the target is back")
    status, dlq = connect.request("GET", "/dlq/records?connector=sink")
    assert dlq["records"] == []  # a transient failure never goes to the DLQ
    _, metrics = connect.request("GET", "/metrics")
    assert 'streambus_connect_errors_total{connector="sink",class="transient"}' in metrics


def test_transforms_hash_filter_route(broker, connect, tmp_path):
    out = tmp_path / "out.jsonl"
    produce(broker, "app.demo.customers", [
        ('{"id":1}', json.dumps(event("r", {"id": 1, "email": "a@x"}, table="customers"))),
        ('{"id":2}', json.dumps(event("c", {"id": 2, "email": "b@x"}, table="customers"))),
        ('{"id":3}', "not json at all"),
    ])
    connect.create("sink", sink_config(out, topics="app.demo.customers", **{
        "transforms": "snap,pii,mv",
        "transforms.snap.type": "filter", "transforms.snap.ops.exclude": "r",
        "transforms.pii.type": "hash", "transforms.pii.fields": "email", "transforms.pii.salt": "pepper",
        "transforms.mv.type": "route", "transforms.mv.regex": "^app\\.demo\\.(.*)$",
        "transforms.mv.replacement": "mirror.$1"}))
    wait_until(lambda: len(read_jsonl(out)) == 2, 30, "one applied record and one skipped")
    recs = read_jsonl(out)
    assert recs[0]["topic"] == "mirror.customers"
    after = json.loads(recs[0]["value"])["after"]
    import hashlib
    assert after == {"id": 2, "email": hashlib.sha256(b"pepperb@x").hexdigest()}
    assert recs[1].get("skipped") and recs[1]["offset"] == 2
    _, dlq = connect.request("GET", "/dlq/records?connector=sink")
    assert [r["headers"]["__connect.errors.class"] for r in dlq["records"]] == ["transform"]


def test_ctl_connector_commands_and_offsets_backup(connect, tmp_path):
    src_file = tmp_path / "in.jsonl"
    append_events(src_file, [({"id": 1}, event("c", {"id": 1}))])
    conf = tmp_path / "src.json"
    conf.write_text(json.dumps({"connector.class": "file-source", "topic": "app.demo.orders"}))
    connect.ctl("connector", "create", "src", "--config", str(conf), "--set", "file=%s" % src_file)
    connect.wait_state("src", "RUNNING")
    listing = connect.ctl("connector", "list").stdout
    assert "src" in listing and "source" in listing and "RUNNING" in listing
    wait_until(lambda: connect.request("GET", "/connectors/src/offsets")[1]["position"] is not None, 30,
               "a committed position")
    connect.ctl("connector", "pause", "src")
    connect.wait_state("src", "PAUSED")
    connect.ctl("connector", "resume", "src")
    connect.wait_state("src", "RUNNING")

    backup = tmp_path / "offsets.json"
    connect.ctl("offsets", "export", "--file", str(backup))
    saved = json.loads(backup.read_text())["connectors"]["src"]["position"]
    assert saved == str(src_file.stat().st_size)
    saved_doc = json.loads(backup.read_text())
    saved_doc["connectors"]["src"]["position"] = "0"
    backup.write_text(json.dumps(saved_doc))
    connect.ctl("offsets", "import", "--file", str(backup))
    assert connect.request("GET", "/connectors/src/offsets")[1]["position"] in ("0", saved)

    # A position of the wrong form is refused before it is stored; the task keeps running.
    status, body = connect.request("PUT", "/connectors/src/offsets", {"position": "garbage"})
    assert status == 400 and "garbage" in body["message"] and "not a record count" in body["message"]
    assert connect.request("PUT", "/connectors/src/offsets", {"position": "99999999999999999999"})[0] == 400
    assert connect.request("GET", "/connectors/src/offsets")[1]["position"] != "garbage"
    saved_doc["connectors"]["src"]["position"] = "-5"
    backup.write_text(json.dumps(saved_doc))
    refused = connect.ctl("offsets", "import", "--file", str(backup), check=False)
    assert refused.returncode != 0 and "-5" in refused.stderr
    connect.wait_state("src", "RUNNING")
    # A file with one malformed entry restores nothing at all.
    before = connect.request("GET", "/connectors/src/offsets")[1]["position"]
    backup.write_text(json.dumps({"version": 1, "connectors": {"src": {"position": "1"}, "zz": {"position": 7}}}))
    refused = connect.ctl("offsets", "import", "--file", str(backup), check=False)
    assert refused.returncode == 2 and "zz" in refused.stderr and "nothing was restored" in refused.stderr
    assert connect.request("GET", "/connectors/src/offsets")[1]["position"] == before

    bad = connect.ctl("connector", "create", "x", "--set", "connector.class=file-sink", check=False)
    assert bad.returncode == 1
    assert "topics" in bad.stderr and "file" in bad.stderr
    connect.ctl("connector", "delete", "src")
    assert connect.request("GET", "/connectors")[1] == []


def _ctl_plain(connect, *args):
    """ctl without $STREAMBUS_CONNECT_URL, so that only the command line says where to go."""
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "STREAMBUS_CONNECT_URL"}
    return subprocess.run([connect.binary, "ctl"] + list(args), capture_output=True, text=True, timeout=60, env=env)


def test_ctl_connect_nouns_take_global_options_anywhere_and_report_usage_errors(connect, tmp_path):
    src_file = tmp_path / "in.jsonl"
    append_events(src_file, [({"id": 1}, event("c", {"id": 1}))])
    connect.create("src", {"connector.class": "file-source", "topic": "app.demo.orders", "file": str(src_file)})
    connect.wait_state("src", "RUNNING")
    u = connect.url
    # global options before the noun, after it, and between noun and verb
    for args in (["--timeout-ms", "5000", "--url", u, "connector", "list"],
                 ["--url", u, "connector", "list"],
                 ["connector", "--url", u, "list", "--timeout-ms", "5000"]):
        proc = _ctl_plain(connect, *args)
        assert proc.returncode == 0 and "src" in proc.stdout and "RUNNING" in proc.stdout, (args, proc.stderr)
    for args in (["connector", "list", "--output", "json", "--url", u],
                 ["--output", "json", "--url", u, "connector", "list"]):
        proc = _ctl_plain(connect, *args)
        assert proc.returncode == 0 and json.loads(proc.stdout) == ["src"], (args, proc.stderr)
    proc = _ctl_plain(connect, "--output", "json", "dlq", "list", "--connector", "src", "--url", u)
    assert proc.returncode == 0 and json.loads(proc.stdout)["records"] == [], proc.stderr
    proc = _ctl_plain(connect, "--bootstrap-server", "127.0.0.1:1", "--url", u, "offsets", "export")
    assert proc.returncode == 0 and json.loads(proc.stdout)["version"] == 1, proc.stderr
    proc = _ctl_plain(connect, "--output", "json", "--url", u, "reconcile", "--connector", "src", "--all-tables")
    assert proc.returncode == 1 and "postgres" in proc.stderr and "unknown command" not in proc.stderr, proc.stderr
    help_text = _ctl_plain(connect, "--help").stdout
    assert "reconcile" in help_text and "connector" in help_text

    # usage errors exit 2 with a message that says what is wrong
    proc = _ctl_plain(connect, "reconcile", "--connector", "src", "--all-tables", "--mode", "bogus", "--url", u)
    assert proc.returncode == 2 and "--mode" in proc.stderr, proc.stderr
    proc = _ctl_plain(connect, "dlq", "list", "--connector", "src", "--limit", "abc", "--url", u)
    assert proc.returncode == 2 and "--limit" in proc.stderr, proc.stderr
    proc = _ctl_plain(connect, "connector", "create", "w", "--config", "/nonexist", "--url", u)
    assert proc.returncode == 2 and "cannot read /nonexist: No such file or directory" in proc.stderr, proc.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "other", "config": {"connector.class": "file-source",
                                                             "topic": "t", "file": str(src_file)}}))
    proc = _ctl_plain(connect, "connector", "create", "w", "--config", str(other), "--url", u)
    assert proc.returncode == 2 and "other" in proc.stderr, proc.stderr
    assert sorted(connect.request("GET", "/connectors")[1]) == ["src"]
    future = tmp_path / "offsets-v2.json"
    future.write_text(json.dumps({"version": 2, "connectors": {}}))
    proc = _ctl_plain(connect, "offsets", "import", "--file", str(future), "--url", u)
    assert proc.returncode == 2 and "version" in proc.stderr, proc.stderr
    connect.request("DELETE", "/connectors/src")


def test_rest_follows_kafka_connect_conventions(connect, tmp_path):
    src_file = tmp_path / "in.jsonl"
    append_events(src_file, [({"id": 1}, event("c", {"id": 1}))])
    connect.create("x", {"connector.class": "file-source", "topic": "app.demo.orders", "file": str(src_file)})
    connect.wait_state("x", "RUNNING")
    # an escaped NUL never cuts a path short: neither deletes zz nor lists the connectors
    connect.create("zz", {"connector.class": "file-source", "topic": "app.demo.z", "file": str(src_file)})
    status, body = connect.request("DELETE", "/connectors/zz%00ignored/status")
    assert status == 400 and body["error_code"] == 400, (status, body)
    status, body = connect.request("GET", "/connectors/%00/status")
    assert status == 400, (status, body)
    assert sorted(connect.request("GET", "/connectors")[1]) == ["x", "zz"]
    connect.request("DELETE", "/connectors/zz")

    # a known resource asked with the wrong method is 405, with Connect's error body
    for method, path in (("GET", "/connectors/x/pause"), ("POST", "/connectors/x/pause"),
                         ("PUT", "/connectors/x/restart"), ("POST", "/connectors/x/status"),
                         ("DELETE", "/connector-plugins"), ("GET", "/dlq/replay")):
        status, body = connect.request(method, path, {} if method in ("POST", "PUT") else None)
        assert status == 405 and body["error_code"] == 405 and body["message"], (method, path, status, body)
    # every error body is {"error_code", "message"}, unknown paths included
    for path in ("/nope", "/connectors/x/nope", "/connectors/nope"):
        status, body = connect.request("GET", path)
        assert status == 404 and body["error_code"] == 404 and body["message"], (path, status, body)
    status, body = connect.request("PUT", "/connectors/" + "n" * 300 + "/config",
                                   {"connector.class": "file-source", "topic": "t", "file": str(src_file)})
    assert status == 400 and "name" in body["errors"], (status, body)

    # the DLQ routes know their connectors and their ranges
    status, body = connect.request("GET", "/dlq/records?connector=nope")
    assert status == 404 and "nope" in body["message"], (status, body)
    status, body = connect.request("POST", "/dlq/replay", {"connector": "nope", "from_offset": 0})
    assert status == 404, (status, body)
    status, body = connect.request("POST", "/dlq/replay", {"connector": "x", "from_offset": 5, "to_offset": 2})
    assert status == 400 and body["error_code"] == 400, (status, body)

    # tasks: task 0 exists, others do not
    status, body = connect.request("GET", "/connectors/x/tasks/0/status")
    assert status == 200 and body["id"] == 0 and body["state"] == "RUNNING", (status, body)
    for path in ("/connectors/x/tasks/1/status", "/connectors/nope/tasks/0/status", "/connectors/x/tasks/00/status",
                 "/connectors/x/tasks/-0/status", "/connector-plugins/garbage/x", "/dlq/records/x?connector=x"):
        status, body = connect.request("GET", path)
        assert status == 404 and body["error_code"] == 404, (path, status, body)
    status, body = connect.request("POST", "/connectors/x/tasks/1/restart")
    assert status == 404, (status, body)
    status, _ = connect.request("POST", "/connectors/x/tasks/0/restart")
    assert status == 204
    connect.wait_state("x", "RUNNING")
    connect.request("DELETE", "/connectors/x")


def test_connect_config_file_is_checked(tmp_path):
    """The shipped config/connect.yaml is valid; an unknown key is refused naming file, line and key."""
    import subprocess
    from conftest import streambus_bin
    repo = Path(__file__).resolve().parents[2]
    ok = subprocess.run([streambus_bin(), "connect", "--config", str(repo / "config" / "connect.yaml"),
                         "--validate-config"], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text('connect:\n  bootstrap_servers: "x:1"\n  rest_listn: "y"\n')
    proc = subprocess.run([streambus_bin(), "connect", "--config", str(bad), "--validate-config"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "bad.yaml:3" in proc.stderr and "connect.rest_listn" in proc.stderr


def test_failed_task_shows_trace_not_ready_and_restart_recovers(connect, tmp_path):
    connect.expect_error(r"connector broken failed: cannot open")
    target_dir = tmp_path / "later"
    connect.create("broken", sink_config(target_dir / "out.jsonl"))
    connect.wait_state("broken", "FAILED")
    status, body = connect.request("GET", "/connectors/broken/status")
    assert "cannot open" in body["tasks"][0]["trace"]
    status, ready = connect.request("GET", "/health/ready")
    assert status == 503 and "broken" in ready["detail"]

    target_dir.mkdir()
    assert connect.request("POST", "/connectors/broken/restart")[0] == 204
    connect.wait_state("broken", "RUNNING")
    assert connect.request("GET", "/health/ready")[0] == 200


# ---- reconciliation and erasure when one source feeds several sinks (needs PostgreSQL 15)

@needs_pg
def test_reconcile_and_erase_pick_the_sink_that_carries_each_table(connect, tmp_path):
    import urllib.parse
    pg = PgServer(tmp_path / "pg").start()
    try:
        pg.sql("CREATE SCHEMA shop; CREATE SCHEMA copy; CREATE SCHEMA mcopy;"
               "CREATE TABLE shop.items (id int PRIMARY KEY, qty int NOT NULL, note text);"
               "INSERT INTO shop.items SELECT g, g, 'item ' || g FROM generate_series(1, 20) g;"
               "CREATE TABLE shop.money (id int PRIMARY KEY, qty int NOT NULL, note text);"
               "INSERT INTO shop.money SELECT g, g * 100, 'eur' FROM generate_series(1, 10) g;")
        connect.create("src", {"connector.class": "postgres-source", "database.conninfo": pg.conninfo,
                               "topic.prefix": "app", "table.include.list": "shop.items,shop.money",
                               "slot.name": "multi_slot"})
        # one sink by list, the other by regex; "sink" sorts after "msink", so a first-match pick
        # of the partner would choose msink for both tables
        connect.create("sink", {"connector.class": "postgres-sink", "connection.conninfo": pg.conninfo,
                                "topics": "app.shop.items", "target.schema": "copy"})
        connect.create("msink", {"connector.class": "postgres-sink", "connection.conninfo": pg.conninfo,
                                 "topics.regex": "app[.]shop[.]money", "target.schema": "mcopy"})
        wait_equal(pg, pg, "shop.items", "copy.items")
        wait_equal(pg, pg, "shop.money", "mcopy.money")

        job = reconcile(connect, {"connector": "src", "tables": ["shop.items"], "mode": "count"})
        assert [(t["table"], t["sink"], t["target_table"]) for t in job["tables"]] == \
            [("shop.items", "sink", "copy.items")], job
        job = reconcile(connect, {"connector": "src", "all_tables": True, "mode": "full"})
        assert sorted((t["table"], t["sink"]) for t in job["tables"]) == \
            [("shop.items", "sink"), ("shop.money", "msink")], job
        assert sorted(job["sinks"]) == ["msink", "sink"] and job["drift_found"] is False, job

        # ctl: the table goes to its own sink; --sink names one explicitly
        proc = connect.ctl("reconcile", "--connector", "src", "--tables", "shop.items", "--mode", "count")
        assert [t["sink"] for t in json.loads(proc.stdout)["tables"]] == ["sink"]
        proc = connect.ctl("reconcile", "--connector", "src", "--tables", "money", "--sink", "msink", "--mode", "count")
        assert [t["sink"] for t in json.loads(proc.stdout)["tables"]] == ["msink"]
        proc = connect.ctl("reconcile", "--connector", "src", "--tables", "shop.items", "--sink", "msink", check=False)
        assert proc.returncode == 1 and "not carried from src to msink" in proc.stderr, proc.stderr

        # erasure: each table's row leaves the target of the sink that carries it
        status, ans = connect.request("DELETE", "/records/src/shop.items/1")
        assert status == 200 and (ans["source_deleted"], ans["target_deleted"], ans["sinks"]) == (1, 1, ["sink"]), ans
        status, ans = connect.request("DELETE", "/records/src/shop.money/" + urllib.parse.quote('{"id":2}', safe=""))
        assert status == 200 and (ans["source_deleted"], ans["target_deleted"]) == (1, 1), ans
        assert pg.sql("SELECT count(*) FROM copy.items WHERE id = 1") == "0"
        assert pg.sql("SELECT count(*) FROM mcopy.money WHERE id = 2") == "0"
        status, ans = connect.request("DELETE", "/records/src/shop.items/3?sink=msink")
        assert status == 404 and "msink" in ans["message"], ans
        assert pg.sql("SELECT count(*) FROM shop.items WHERE id = 3") == "1"

        # a key the column type cannot take is the caller's mistake: 400, not 502
        status, ans = connect.request("DELETE", "/records/src/shop.items/abc")
        assert status == 400 and "integer" in ans["message"], ans
    finally:
        for name in ("sink", "msink", "src"):
            connect.request("DELETE", "/connectors/" + name)
        pg.stop(remove=True)
