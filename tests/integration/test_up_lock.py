"""One process per data directory (src/common/dir_lock.c): a second broker on the same
data_dir, or a second `streambus up` on the same --data-dir, is refused at once with a message
naming the directory and the pid that holds it, before it reads or writes anything there; the
first goes on unharmed. The lock goes with its holder's death (kill -9 included), so that it
never blocks the next start."""

import os
import signal
import subprocess

from conftest import Broker, kcat_consume, kcat_produce, kcat_roundtrip_works, port_accepts, streambus_bin
from up_fixtures import Up, needs_pg, up_args, up_ports, wait_caught_up


def run_broker(config_path):
    return subprocess.run([streambus_bin(), "broker", "--config", str(config_path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def test_a_second_broker_on_the_same_data_dir_is_refused_and_the_first_serves_on(broker, tmp_path):
    kcat_produce(broker, "held", ["k%d:v%d" % (i, i) for i in range(5)], extra=["-X", "acks=all"])
    second = Broker(streambus_bin(), tmp_path / "second", {"broker": {"data_dir": str(broker.data_dir)}})
    proc = run_broker(second.config_path)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "data dir %s is in use by streambus broker (pid %d)" % (broker.data_dir, broker.pid) in proc.stderr, \
        proc.stderr
    # refused before it listened or opened anything
    assert not port_accepts("127.0.0.1", second.port)
    assert "topics recovered" not in proc.stdout + proc.stderr
    # the first one is unharmed: it still serves, with its data
    assert broker.alive()
    assert kcat_consume(broker, "held").splitlines() == ["k%d:v%d" % (i, i) for i in range(5)]
    assert kcat_roundtrip_works(broker)


def test_a_broker_killed_with_sigkill_leaves_no_lock_behind(broker):
    kcat_produce(broker, "kept", ["a:1", "b:2"], extra=["-X", "acks=all"])
    old_pid = broker.pid
    broker.kill9()
    # the lock file stays, naming the dead broker; the lock itself went with it
    assert (broker.data_dir / ".lock").read_text().split("\n")[0] == str(old_pid)
    broker.start()
    assert kcat_consume(broker, "kept").splitlines() == ["a:1", "b:2"]
    assert (broker.data_dir / ".lock").read_text() == "%d\nstreambus broker\n" % broker.pid


def configs(data):
    """What the running stack's children restart from: (bytes, mtime) of each config."""
    return {name: ((data / name).read_bytes(), (data / name).stat().st_mtime_ns)
            for name in ("broker.yaml", "connect.yaml")}


@needs_pg
def test_a_second_up_on_the_same_data_dir_is_refused_before_it_touches_anything(tmp_path):
    """The review's case: the second `up` (other ports) rewrote broker.yaml, and the first
    stack's broker later restarted from it on the wrong port. Both forms are refused at once,
    with the local PostgreSQL (before, its postmaster.pid lock gave an indirect message) and
    with --postgres, and nothing of the first stack changes."""
    first = Up(tmp_path, extra=["--restart-backoff", "200"], name="up1").start()
    try:
        first.wait_up()
        before = configs(first.data)
        lock_text = (first.data / ".lock").read_text()
        assert lock_text == "%d\nstreambus up\n" % first.proc.pid
        broker_pid = first.child("broker")
        want = "streambus up: data dir %s is in use by streambus up (pid %d)" % (
            os.path.realpath(first.data), first.proc.pid)
        for extra in ([], ["--postgres", first.conninfo]):
            ports = up_ports()
            proc = subprocess.run(up_args(first.data, ports, extra), capture_output=True, text=True, timeout=60)
            assert proc.returncode == 1, proc.stdout + proc.stderr
            assert want in proc.stderr, proc.stderr
            assert "StreamBus is up" not in proc.stdout and "starting" not in proc.stdout, proc.stdout
            assert "postmaster.pid" not in proc.stderr  # the lock speaks first, not PostgreSQL's
            assert not any(port_accepts("127.0.0.1", p) for p in ports.values())
            assert configs(first.data) == before
            assert (first.data / ".lock").read_text() == lock_text

        # the first stack is unharmed, and a restarted broker comes back on the first stack's
        # own port (what went wrong before)
        assert first.child("broker") == broker_pid
        mark = len(first.output())
        os.kill(broker_pid, signal.SIGKILL)
        first.wait_output("the broker is back", 60, after=mark)
        rows = int(first.sql("SELECT count(*) FROM demo.orders"))
        wait_caught_up(first, at_least=rows + 3, timeout=120)
        assert first.stop(signal.SIGINT) == 0, first.output()
    finally:
        first.cleanup()
