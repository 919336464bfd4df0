"""`streambus up` (what `make run` starts): the broker, connect, a local PostgreSQL under the
data directory and the demo pipeline demo.orders -> app.demo.orders -> target.orders, all
stopped again by Ctrl-C (SIGINT)."""

import os
import re
import signal

import pytest

from conftest import http_get, port_accepts, wait_until
from up_fixtures import Up, demo_caught_up, needs_pg, run_up, up_ports

pytestmark = needs_pg


def test_up_runs_the_demo_pipeline_and_ctrl_c_stops_everything(tmp_path):
    up = Up(tmp_path).start()
    ports, conninfo, data = up.ports, up.conninfo, up.data
    try:
        up.wait_up()
        banner = up.output()
        assert up.proc.poll() is None, banner
        # it says where to look
        assert "http://127.0.0.1:%d/connectors" % ports["rest"] in banner
        assert 'psql "%s"' % conninfo in banner
        assert "app.demo.orders" in banner and "kcat -b 127.0.0.1:%d" % ports["broker"] in banner
        # the ctl line names the binary actually running, which need not be on PATH
        assert "%s ctl connector list --url http://127.0.0.1:%d" % (os.path.realpath(up.proc.args[0]),
                                                                    ports["rest"]) in banner

        # it says that the stack is open, only on loopback, and where the secure setup is
        assert "OPEN: no TLS, no authentication, no ACLs on any listener" in banner
        assert "bound to 127.0.0.1 only" in banner and "config/secure/" in banner
        # and so does the broker, in its own log, for its PLAINTEXT listener
        broker_log = (data / "broker.log").read_text(errors="replace")
        assert re.search(r"Kafka listener \S+ on 127\.0\.0\.1:%d is OPEN: .*loopback only" % ports["broker"],
                         broker_log), broker_log[-2000:]

        # the demo rows and the changes made every second reach the target table
        wait_until(lambda: demo_caught_up(up), 90, "target.orders to equal demo.orders (with live traffic)",
                   interval=0.5)
        status, body = http_get("http://127.0.0.1:%d/connectors/demo-orders-sink/status" % ports["rest"])
        assert status == 200 and '"RUNNING"' in body
        rc = up.stop(signal.SIGINT)
    finally:
        up.cleanup()
    text = up.output()
    assert rc == 0, text
    for what in ("connect stopped", "broker stopped", "PostgreSQL stopped"):
        assert what in text, text
    for port in ports.values():
        assert not port_accepts("127.0.0.1", port), "port %d still open after Ctrl-C" % port
    assert not (data / "postgres" / "postmaster.pid").exists()


@pytest.mark.parametrize("busy, flag", [("broker", "--broker-port"), ("rest", "--rest-port")])
def test_up_with_a_busy_port_starts_nothing_and_names_the_port(tmp_path, busy, flag):
    """Another service on one of its ports: `up` says which port and flag, and starts nothing
    (before, its connect joined whatever broker answered there)."""
    import socket
    ports = up_ports()
    with socket.socket() as other:
        other.bind(("127.0.0.1", ports[busy]))
        other.listen(8)
        proc = run_up(tmp_path, ports)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "port %d (%s)" % (ports[busy], flag) in proc.stderr
    assert "StreamBus is up" not in proc.stdout
    # nothing was started: no child wrote a log, no port of ours is open
    assert not list((tmp_path / "data").glob("*.log"))
    for name, port in ports.items():
        if name != busy:
            assert not port_accepts("127.0.0.1", port), name


def test_up_shows_why_its_broker_did_not_start(tmp_path):
    """The broker exits at start (its data directory is a file): `up` says so, prints the end of
    broker.log with the reason, stops and never announces itself."""
    ports = up_ports()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "broker").write_text("not a directory\n")
    proc = run_up(tmp_path, ports, ["--postgres", "host=127.0.0.1 port=%d user=postgres" % ports["pg"]])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "StreamBus is up" not in proc.stdout
    assert "the broker exited while starting" in proc.stderr
    assert "last lines of %s" % (tmp_path / "data" / "broker.log") in proc.stderr
    # the reason itself, which before was only in broker.log
    assert "Not a directory" in proc.stderr.split("last lines of", 1)[1]
