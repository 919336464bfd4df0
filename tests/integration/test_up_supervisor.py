"""`streambus up` as a supervisor (docs/up.md): a child that exits is reported at once with the
end of its log and restarted with backoff, in every phase; one that keeps crashing stops the
stack with a message naming it and its log; after a power loss (every process killed with -9)
the same data comes back; SIGTERM stops everything it started, in order, and nothing else.

Every process here is real: PostgreSQL 15, the broker, connect, the demo pipeline. Backoffs are
made short with --restart-backoff so that the tests do not wait for the defaults."""

import os
import re
import signal
import subprocess
import time

from conftest import wait_until
from pg_fixtures import PSQL, consume_all, pg_server  # noqa: F401 (fixture)
from up_fixtures import Up, alive, children_of, needs_pg, wait_caught_up, wait_gone

pytestmark = needs_pg

FAST = ["--restart-backoff", "200"]


def exit_report(up, name, after=0):
    """The report `up` printed for an exit of child `name` ("the broker"), from offset after."""
    out = up.output()[after:]
    m = re.search(r"\[up\] %s \(pid \d+\) exited[^\n]*\n" % re.escape(name), out)
    return m and out[m.start():]


def test_broker_killed_is_reported_restarted_and_the_pipeline_goes_on(tmp_path):
    up = Up(tmp_path, extra=FAST).start()
    try:
        up.wait_up()
        wait_caught_up(up)
        broker, connect, postgres = up.child("broker"), up.child("connect"), up.child("postgres")
        assert broker and connect and postgres, up.output()
        mark = len(up.output())
        killed_at = time.monotonic()
        os.kill(broker, signal.SIGKILL)

        # reported at once, with its status and the end of its log
        wait_until(lambda: exit_report(up, "the broker", mark), 5, "the broker's exit to be reported")
        report = exit_report(up, "the broker", mark)
        assert time.monotonic() - killed_at < 5
        assert "(pid %d) exited unexpectedly: killed by signal 9" % broker in report, report
        assert "restarting it in 0.2 s" in report, report
        assert "--- last lines of %s ---" % (up.data / "broker.log") in report, report
        # and restarted: a new broker answers, connect was left alone
        up.wait_output("the broker is back", 60, after=mark)
        assert "restarting the broker (restart 1)" in up.output()[mark:]
        new_broker = up.child("broker")
        assert new_broker and new_broker != broker
        assert up.child("connect") == connect, "connect was restarted, it need not be"
        assert up.child("postgres") == postgres

        # rows written after the restart keep arriving in target.orders: connect's producer
        # and consumer reconnected to the new broker on their own
        rows = int(up.sql("SELECT count(*) FROM demo.orders"))
        wait_caught_up(up, at_least=rows + 3, timeout=120)

        # SIGTERM stops everything it started, the restarted broker included, in order, and
        # nothing else (a bystander started beside it lives on)
        bystander = subprocess.Popen(["sleep", "120"])
        try:
            started = children_of(up.proc.pid)
            assert started
            assert up.stop(signal.SIGTERM) == 0, up.output()
            out = up.output()[mark:]
            order = [out.find(s) for s in ("connect stopped", "the broker stopped", "PostgreSQL stopped")]
            assert -1 not in order and order == sorted(order), out
            wait_gone(started, 10)
            assert up.ports_closed()
            assert alive(bystander.pid)
        finally:
            bystander.kill()
            bystander.wait()
    finally:
        up.cleanup()


def wait_child(up, role):
    return wait_until(lambda: up.child(role), 60, "up to start %s" % role)


def start_up_with_connect_starting(tmp_path, pg_server):
    """`up` on an outside PostgreSQL, caught with connect certainly still starting: the broker is
    frozen (SIGSTOP) before connect starts, so connect cannot get ready. `up` is held before
    that step by a transaction of the test's own that keeps its CREATE SCHEMA demo waiting
    (which also shows `up` watching its children while it waits on a lock). Returns (up, the
    frozen broker's pid, connect's pid)."""
    holder = subprocess.Popen([PSQL, pg_server.conninfo, "-q"], stdin=subprocess.PIPE, text=True)
    try:
        holder.stdin.write("BEGIN;\nCREATE SCHEMA demo;\n")
        holder.stdin.flush()
        wait_until(lambda: pg_server.try_sql("SELECT count(*) FROM pg_stat_activity WHERE state = "
                                             "'idle in transaction'") == "1", 30, "the test's transaction")
        up = Up(tmp_path, extra=FAST + ["--postgres", pg_server.conninfo])
        up.conninfo = pg_server.conninfo
        up.start()
        wait_until(lambda: pg_server.try_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                             "AND query LIKE '%CREATE SCHEMA IF NOT EXISTS demo%'") == "1",
                   60, "up to wait for the demo schema")
        broker = up.child("broker")
        os.kill(broker, signal.SIGSTOP)
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.flush()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    up.wait_output("starting connect")
    connect = wait_child(up, "connect")
    time.sleep(1)  # connect is trying to reach the frozen broker
    assert "StreamBus is up" not in up.output()
    return up, broker, connect


def test_broker_killed_while_connect_starts_is_noticed_at_once(tmp_path, pg_server):
    """The case of the issue: the broker dies while `up` waits for connect."""
    up = None
    try:
        up, broker, connect = start_up_with_connect_starting(tmp_path, pg_server)
        mark = len(up.output())
        os.kill(broker, signal.SIGKILL)
        wait_until(lambda: exit_report(up, "the broker", mark), 5, "the broker's exit to be reported at once")
        assert "killed by signal 9" in exit_report(up, "the broker", mark)
        up.wait_output("the broker is back", 60, after=mark)
        # connect goes on starting against the new broker; the stack comes up
        up.wait_up()
        assert up.child("connect") == connect
        wait_caught_up(up)
    finally:
        if up:
            up.cleanup()


def test_connect_killed_while_starting_stops_the_stack(tmp_path, pg_server):
    """A child that dies before it was ever ready is a start failure: told at once, with its
    log, and the stack stops (retrying would only bury the reason)."""
    up = None
    try:
        up, broker, connect = start_up_with_connect_starting(tmp_path, pg_server)
        started = children_of(up.proc.pid)
        os.kill(connect, signal.SIGKILL)
        wait_until(lambda: "connect exited while starting (killed by signal 9" in up.output(), 5,
                   "connect's exit to be reported at once")
        os.kill(broker, signal.SIGCONT)  # so that it can act on the SIGTERM that stops it
        up.proc.wait(timeout=60)
        out = up.output()
        assert up.proc.returncode == 1, out
        assert "--- last lines of %s ---" % (up.data / "connect.log") in out
        assert "StreamBus is up" not in out
        assert "restarting connect" not in out
        assert "the broker stopped" in out
        wait_gone(started, 10)
        assert up.ports_closed()
    finally:
        if up:
            up.cleanup()


def test_sigterm_while_connect_starts_stops_what_was_started(tmp_path, pg_server):
    """A stop request in the middle of start-up is a stop, not a failure: what was started is
    stopped in order, the outside PostgreSQL is left alone, exit status 0."""
    up = None
    try:
        up, broker, connect = start_up_with_connect_starting(tmp_path, pg_server)
        started = children_of(up.proc.pid)
        os.kill(up.proc.pid, signal.SIGTERM)
        up.wait_output("connect stopped", 30)
        os.kill(broker, signal.SIGCONT)  # the frozen broker can now act on its SIGTERM
        assert up.stop(signal.SIGTERM) == 0, up.output()
        out = up.output()
        order = [out.find(s) for s in ("connect stopped", "the broker stopped")]
        assert -1 not in order and order == sorted(order), out
        assert "PostgreSQL stopped" not in out
        assert "[up] stopping" in out and "StreamBus is up" not in out
        wait_gone(started, 10)
        assert pg_server.try_sql("SELECT 1") == "1"
    finally:
        if up:
            up.cleanup()


def test_a_crash_looping_broker_stops_the_stack_naming_it_and_its_log(tmp_path):
    """The broker's config is broken under it and the broker killed: every restart exits at
    start-up; the third exit within the window stops everything, exit status 1."""
    up = Up(tmp_path, extra=["--restart-backoff", "100", "--crash-limit", "3", "--crash-window", "60"]).start()
    try:
        up.wait_up()
        (up.data / "broker.yaml").write_text("broker:\n  no_such_key: 1\n")
        started = children_of(up.proc.pid)
        os.kill(up.child("broker"), signal.SIGKILL)
        up.proc.wait(timeout=60)
        out = up.output()
        assert up.proc.returncode == 1, out
        log = str(up.data / "broker.log")
        assert "restarting the broker (restart 2)" in out
        assert "restarting the broker (restart 3)" not in out
        assert re.search(r"streambus up: stopping: the broker exited 3 times within 60 s \(last: exit status \d+\); "
                         r"not restarting it; see %s" % re.escape(log), out), out
        # the reason is on the screen, from the broker's own log
        assert "no_such_key" in out.split("giving up", 1)[1], out
        order = [out.find(s) for s in ("connect stopped", "PostgreSQL stopped")]
        assert -1 not in order and order == sorted(order), out
        wait_gone(started, 10)
        assert up.ports_closed()
    finally:
        up.cleanup()


def power_loss(up):
    """Every process of the stack dies at the same instant, as in a power cut: all are frozen
    first so that none sees another die (no parent-death signal, no shutdown checkpoint)."""
    pids = [up.proc.pid] + children_of(up.proc.pid)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    up.proc.wait(timeout=30)
    wait_gone(pids, 30)


def test_power_loss_brings_the_same_data_back(tmp_path):
    first = Up(tmp_path, extra=FAST, name="up1").start()
    try:
        first.wait_up()
        wait_caught_up(first, at_least=10)
        before = first.sql("SELECT string_agg(id || ':' || amount || ':' || status, ',' ORDER BY id) FROM target.orders")
        ids_before = int(first.sql("SELECT max(id) FROM target.orders"))
        events_before = consume_all(first, "app.demo.orders", lambda recs: len(recs) >= 10)
        power_loss(first)
    finally:
        first.cleanup()
    pidfile = first.data / "postgres" / "postmaster.pid"
    assert pidfile.exists(), "PostgreSQL was not killed hard"
    # up's own lock file is left too, naming the dead up: it must not block the next start
    # (the lock is the kernel's flock, gone with its holder)
    assert (first.data / ".lock").read_text() == "%d\nstreambus up\n" % first.proc.pid
    # After a real power cut the old postmaster's pid may belong to another process of the same
    # user, and PostgreSQL then refuses to start ("lock file already exists"): make it so.
    bystander = subprocess.Popen(["sleep", "120"], user="postgres" if os.getuid() == 0 else None)
    lines = pidfile.read_text().split("\n")
    pidfile.write_text("\n".join([str(bystander.pid)] + lines[1:]))

    second = Up(tmp_path, ports=first.ports, extra=FAST, data=first.data, name="up2").start()
    try:
        second.wait_up()
        assert "removed the stale %s" % pidfile in second.output()
        assert (first.data / ".lock").read_text() == "%d\nstreambus up\n" % second.proc.pid
        assert alive(bystander.pid)
        # the rows applied before the cut are there, unchanged unless traffic changed them since
        rows = second.sql("SELECT string_agg(id || ':' || amount, ',' ORDER BY id) FROM target.orders "
                          "WHERE id <= %d" % ids_before)
        assert rows == ",".join(r.rsplit(":", 1)[0] for r in before.split(",")), (rows, before)
        # new rows keep arriving
        wait_caught_up(second, at_least=ids_before + 3, timeout=120)
        # the topic still holds the records written before the cut, in the same order
        events_after = consume_all(second, "app.demo.orders", lambda recs: len(recs) >= len(events_before) + 3)
        assert events_after[:len(events_before)] == events_before
        assert second.stop(signal.SIGTERM) == 0, second.output()
    finally:
        second.cleanup()
        bystander.kill()
        bystander.wait()


def test_postgres_and_connect_killed_are_restarted(tmp_path):
    """A dead PostgreSQL (its postmaster killed -9: the backends it leaves behind exit on their
    own) and a dead connect are restarted like the broker; the pipeline resumes after each."""
    up = Up(tmp_path, extra=FAST).start()
    try:
        up.wait_up()
        wait_caught_up(up)
        for role, name in (("postgres", "PostgreSQL"), ("connect", "connect")):
            pid = up.child(role)
            mark = len(up.output())
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: exit_report(up, name, mark), 5, "%s's exit to be reported" % name)
            assert "(pid %d) exited unexpectedly: killed by signal 9" % pid in exit_report(up, name, mark)
            up.wait_output("%s is back" % name, 60, after=mark)
            assert up.child(role) not in (None, pid)
            rows = int(wait_until(lambda: up.sql("SELECT count(*) FROM demo.orders"), 30, "PostgreSQL to answer"))
            wait_caught_up(up, at_least=rows + 3, timeout=120)
        assert up.proc.poll() is None
    finally:
        up.cleanup()


def test_a_killed_up_leaves_no_orphans(tmp_path):
    """`up` itself killed -9 (or its terminal gone): its children get their parent-death signal
    and shut down cleanly instead of living on, holding the ports a new `up` needs."""
    up = Up(tmp_path, extra=FAST).start()
    try:
        up.wait_up()
        started = children_of(up.proc.pid)
        assert up.child("broker") and up.child("connect") and up.child("postgres")
        os.kill(up.proc.pid, signal.SIGKILL)
        up.proc.wait(timeout=10)
        wait_gone(started, 30)
        assert up.ports_closed()
        # PostgreSQL had time for its shutdown checkpoint: no stale lock file
        assert not (up.data / "postgres" / "postmaster.pid").exists()
    finally:
        up.cleanup()
