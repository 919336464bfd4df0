"""Shared by the integration tests that need a real PostgreSQL 15 (started by
tests/fixtures/pg_start.sh, removed afterwards) and a way to read a topic back."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import PortHold, wait_until

REPO = Path(__file__).resolve().parents[2]
PSQL = "/usr/lib/postgresql/15/bin/psql"
HAVE_PG = os.path.exists("/usr/lib/postgresql/15/bin/initdb")
needs_pg = pytest.mark.skipif(not HAVE_PG, reason="PostgreSQL 15 is not installed")


class PgServer:
    """A throw-away PostgreSQL that a test can stop and start again (same data directory and
    port)."""

    def __init__(self, pgdir):
        self.dir = Path(pgdir)
        # Held whenever the server does not listen (see PortHold), so that its outages are
        # its own: nobody else's server turns up on the port meanwhile.
        self.hold = PortHold()
        self.port = self.hold.port
        self.conninfo = None

    def start(self):
        try:
            out = subprocess.run([str(REPO / "tests/fixtures/pg_start.sh"), str(self.dir), str(self.port)],
                                 capture_output=True, text=True, timeout=120)
        finally:
            if self.hold:
                self.hold.release()
                self.hold = None
        log = self.dir / "server.log"
        assert out.returncode == 0, out.stderr + (log.read_text()[-2000:] if log.exists() else "")
        self.conninfo = out.stdout.strip()
        return self

    def _reach(self):
        """Another pytest session on the machine may reset /tmp/pytest-of-<user> to 0700, after
        which the postgres user (pg_ctl runs as it under root) can no longer reach the data
        directory; restore the search permission pg_start.sh set up."""
        if os.getuid() != 0:
            return
        for parent in self.dir.resolve().parents:
            try:
                os.chmod(parent, os.stat(parent).st_mode | 0o111)
            except OSError:
                pass

    def stop(self, remove=False):
        self._reach()
        out = subprocess.run([str(REPO / "tests/fixtures/pg_stop.sh"), str(self.dir)] + (["--remove"] if remove else []),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "could not" not in out.stderr, out.stderr
        if not remove and self.hold is None:
            self.hold = PortHold(self.port)
        elif remove and self.hold:
            self.hold.release()
            self.hold = None

    def sql(self, text):
        return sql(self.conninfo, text)

    def try_sql(self, text):
        """The output, or None when the statement failed (e.g. the server is down)."""
        proc = subprocess.run([PSQL, self.conninfo, "-At", "-c", text], capture_output=True, text=True, timeout=60)
        return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.fixture
def pg_server(tmp_path):
    """A PgServer, started; removed afterwards."""
    server = PgServer(tmp_path / "pg").start()
    yield server
    server.stop(remove=True)


@pytest.fixture
def postgres(pg_server):
    """The conninfo of a throw-away server."""
    yield pg_server.conninfo


def sql(conninfo, text):
    proc = subprocess.run([PSQL, conninfo, "-v", "ON_ERROR_STOP=1", "-At", "-c", text],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def consume_all(broker, topic, want, timeout=60):
    """Reads `topic` from the start until `want(records)` holds; records are (key, value) with
    JSON-decoded bytes (None for null)."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader-" + topic,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "topic.metadata.refresh.interval.ms": 1000})
    c.subscribe([topic])
    records = []

    def poll():
        for m in c.consume(500, 0.5):
            if m.error():
                continue
            records.append((json.loads(m.key()) if m.key() is not None else None,
                            json.loads(m.value()) if m.value() is not None else None))
        return want(records)
    try:
        wait_until(poll, timeout, "records on %s" % topic)
    finally:
        c.close()
    return records


# ---- comparing a pipeline's two ends

def checksum(table, cols="id, qty, note"):
    return ("SELECT count(*) || ':' || coalesce(md5(string_agg(md5(ROW(%s)::text), '' ORDER BY id)), '') FROM %s"
            % (cols, table))


def wait_equal(src, dst, src_table, dst_table, cols="id, qty, note", timeout=120):
    def same():
        a = src.try_sql(checksum(src_table, cols))
        return a is not None and a == dst.try_sql(checksum(dst_table, cols))
    wait_until(same, timeout, "%s to equal %s (%s vs %s)" % (dst_table, src_table, src.try_sql(checksum(src_table, cols)),
                                                              dst.try_sql(checksum(dst_table, cols))), interval=0.5)


def reconcile(connect, body):
    status, job = connect.request("POST", "/reconciliation/trigger", body)
    assert status == 202, (status, job)
    wait_until(lambda: connect.request("GET", "/reconciliation/jobs/%d" % job["id"])[1]["state"] in ("done", "failed"),
               120, "reconciliation job %d to end" % job["id"])
    job = connect.request("GET", "/reconciliation/jobs/%d" % job["id"])[1]
    assert job["state"] == "done", json.dumps(job)
    return job
