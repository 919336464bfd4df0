"""`streambus up` (what `make run` starts): the broker, connect, a local PostgreSQL under the
data directory and the demo pipeline demo.orders -> app.demo.orders -> target.orders, all
stopped again by Ctrl-C (SIGINT)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, http_get, port_accepts, streambus_bin, wait_until

PSQL = "/usr/lib/postgresql/15/bin/psql"

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/lib/postgresql/15/bin/initdb"),
                                reason="PostgreSQL 15 is not installed")


def psql_value(conninfo, sql):
    proc = subprocess.run([PSQL, conninfo, "-At", "-c", sql], capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def test_up_runs_the_demo_pipeline_and_ctrl_c_stops_everything(tmp_path):
    ports = {name: free_port() for name in ("broker", "admin", "rest", "pg")}
    data = tmp_path / "data"
    out_path = tmp_path / "up.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([streambus_bin(), "up", "--data-dir", str(data),
                                 "--broker-port", str(ports["broker"]), "--admin-port", str(ports["admin"]),
                                 "--rest-port", str(ports["rest"]), "--pg-port", str(ports["pg"])],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % ports["pg"]
    try:
        wait_until(lambda: proc.poll() is not None or "StreamBus is up" in out_path.read_text(), 120,
                   "streambus up to print its banner")
        banner = out_path.read_text()
        assert proc.poll() is None, banner
        # it says where to look
        assert "http://127.0.0.1:%d/connectors" % ports["rest"] in banner
        assert 'psql "%s"' % conninfo in banner
        assert "app.demo.orders" in banner and "kcat -b 127.0.0.1:%d" % ports["broker"] in banner

        # the demo rows and the changes made every second reach the target table
        def caught_up():
            src = psql_value(conninfo, "SELECT count(*), sum(amount), string_agg(status, ',' ORDER BY id) FROM demo.orders")
            dst = psql_value(conninfo, "SELECT count(*), sum(amount), string_agg(status, ',' ORDER BY id) FROM target.orders")
            return src is not None and src == dst and int(src.split("|")[0]) >= 7
        wait_until(caught_up, 90, "target.orders to equal demo.orders (with live traffic)", interval=0.5)
        status, body = http_get("http://127.0.0.1:%d/connectors/demo-orders-sink/status" % ports["rest"])
        assert status == 200 and '"RUNNING"' in body
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("streambus up did not stop within 60 s of Ctrl-C")
    text = out_path.read_text()
    assert proc.returncode == 0, text
    for what in ("connect stopped", "broker stopped", "PostgreSQL stopped"):
        assert what in text, text
    for port in ports.values():
        assert not port_accepts("127.0.0.1", port), "port %d still open after Ctrl-C" % port
    assert not (data / "postgres" / "postmaster.pid").exists()
