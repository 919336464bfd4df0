"""`streambus up` (what `make run` starts): the broker, connect, a local PostgreSQL under the
data directory, the jobs API with one worker, the demo pipeline demo.orders -> app.demo.orders
-> target.orders and the demo job, all stopped again by Ctrl-C (SIGINT)."""

import json
import os
import re
import signal
import urllib.request

import pytest

from conftest import http_get, port_accepts, wait_until
from up_fixtures import Up, demo_caught_up, needs_pg, run_up, up_ports, children_of, cmdline

pytestmark = needs_pg


def jobs_request(up, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1%s" % (up.ports["jobs"], path), method=method,
                                 data=None if body is None else json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read().decode())


def jobs_login(up):
    """A token for up's admin, with the password from the file the banner names."""
    secrets = dict(line.split(" ", 1) for line in (up.data / "jobs-secrets").read_text().splitlines())
    status, body = jobs_request(up, "POST", "/auth/login", {"username": "admin",
                                                            "password": secrets["admin_password"]})
    assert status == 200, body
    return body["accessToken"]


def jobs_get(up, token, path):
    status, body = jobs_request(up, "GET", path, token=token)
    assert status == 200, body
    return body


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
        assert "http://127.0.0.1:%d/api/v1" % ports["jobs"] in banner
        demo_job = int(re.search(r"demo job +#(\d+)", banner).group(1))

        # the demo job, submitted by up through the API, is run by up's worker to COMPLETED
        # with every transition recorded; seen through the API as a user sees it
        token = jobs_login(up)
        wait_until(lambda: jobs_get(up, token, "/jobs/%d" % demo_job)["status"] == "COMPLETED", 60,
                   "the demo job to complete", interval=0.2)
        job = jobs_get(up, token, "/jobs/%d" % demo_job)
        assert job["type"] == "SQL" and job["workerId"] == "up-worker-1", job
        assert [a["to"] for a in job["attempts"]] == ["PENDING", "QUEUED", "RUNNING", "COMPLETED"], job
        # the secrets file that holds the admin password and JWT secret is the owner's alone
        assert (data / "jobs-secrets").stat().st_mode & 0o077 == 0

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
    for what in ("jobs worker stopped", "jobs API stopped", "connect stopped", "broker stopped",
                 "PostgreSQL stopped"):
        assert what in text, text
    for port in ports.values():
        assert not port_accepts("127.0.0.1", port), "port %d still open after Ctrl-C" % port
    assert not (data / "postgres" / "postmaster.pid").exists()


@pytest.mark.parametrize("busy, flag", [("broker", "--broker-port"), ("rest", "--rest-port"),
                                        ("jobs", "--jobs-port")])
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


def test_up_restarts_a_killed_jobs_worker_and_new_jobs_still_complete(tmp_path):
    """The jobs worker is supervised like the other children: kill -9 it, `up` says so and
    starts it again, and a job submitted afterwards is run by the new worker."""
    up = Up(tmp_path).start()
    try:
        up.wait_up()
        token = jobs_login(up)
        worker = [p for p in children_of(up.proc.pid) if " jobs worker " in cmdline(p)]
        assert len(worker) == 1, [cmdline(p) for p in children_of(up.proc.pid)]
        os.kill(worker[0], signal.SIGKILL)
        up.wait_output("the jobs worker is back", timeout=60)
        status, job = jobs_request(up, "POST", "/jobs", {"name": "after-restart", "type": "SQL",
                                                         "payload": {"statement": "SELECT 2"}}, token)
        assert status == 201, job
        wait_until(lambda: jobs_get(up, token, "/jobs/%d" % job["id"])["status"] == "COMPLETED", 90,
                   "the job submitted after the restart to complete", interval=0.2)
        assert "the jobs worker (pid %d) exited unexpectedly: killed by signal 9" % worker[0] in up.output()
        rc = up.stop(signal.SIGINT)
    finally:
        up.cleanup()
    assert rc == 0, up.output()
