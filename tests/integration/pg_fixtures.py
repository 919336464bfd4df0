"""Shared by the integration tests that need a real PostgreSQL 15 (started by
tests/fixtures/pg_start.sh, removed afterwards) and a way to read a topic back."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
PSQL = "/usr/lib/postgresql/15/bin/psql"
HAVE_PG = os.path.exists("/usr/lib/postgresql/15/bin/initdb")
needs_pg = pytest.mark.skipif(not HAVE_PG, reason="PostgreSQL 15 is not installed")


@pytest.fixture
def postgres(tmp_path):
    """A throw-away server; yields its conninfo."""
    pgdir = tmp_path / "pg"
    port = free_port()
    out = subprocess.run([str(REPO / "tests/fixtures/pg_start.sh"), str(pgdir), str(port)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    yield out.stdout.strip()
    subprocess.run([str(REPO / "tests/fixtures/pg_stop.sh"), str(pgdir), "--remove"], timeout=120)


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
