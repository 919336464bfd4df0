"""Shared by the tests of `streambus up` (test_connect_up.py, test_up_supervisor.py): starting
`up` on free ports in a data directory, reading what it printed, finding its child processes,
querying the PostgreSQL it runs."""

import os
import signal
import subprocess

import pytest

from conftest import free_port, port_accepts, streambus_bin, wait_until
from pg_fixtures import PSQL, needs_pg  # noqa: F401 (re-exported for the `up` tests)


def up_ports():
    return {name: free_port() for name in ("broker", "admin", "rest", "pg", "jobs")}


def up_args(data, ports, extra=()):
    return [streambus_bin(), "up", "--data-dir", str(data),
            "--broker-port", str(ports["broker"]), "--admin-port", str(ports["admin"]),
            "--rest-port", str(ports["rest"]), "--pg-port", str(ports["pg"]),
            "--jobs-port", str(ports["jobs"])] + list(extra)


def run_up(tmp_path, ports, extra=()):
    """`up` run to completion (for the cases where it stops by itself)."""
    return subprocess.run(up_args(tmp_path / "data", ports, extra), capture_output=True, text=True, timeout=120)


def psql_value(conninfo, sql):
    proc = subprocess.run([PSQL, conninfo, "-At", "-c", sql], capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def children_of(pid):
    """The pids of every live descendant of pid (from /proc), nearest first."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces; the ppid follows its state
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(0), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


FRESH_DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # no /usr/local: this machine has a postgres link there


class Up:
    """One `streambus up` process in the background, with its output in a file."""

    def __init__(self, tmp_path, ports=None, extra=(), data=None, name="up"):
        self.ports = ports or up_ports()
        self.data = data or (tmp_path / "data")
        self.out_path = tmp_path / ("%s.out" % name)
        self.extra = list(extra)
        self.conninfo = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.ports["pg"]
        self.bootstrap = "127.0.0.1:%d" % self.ports["broker"]  # what pg_fixtures.consume_all wants
        self.proc = None

    def start(self):
        with open(self.out_path, "wb") as out:
            # The PATH of a fresh Debian root shell: up must not rely on a PATH that happens to
            # hold PostgreSQL's programs (a dev machine's /usr/local/bin/postgres hid that once).
            env = dict(os.environ, PATH=FRESH_DEBIAN_PATH)
            self.proc = subprocess.Popen(up_args(self.data, self.ports, self.extra), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True, env=env)
        return self

    def output(self):
        return self.out_path.read_text(errors="replace")

    def wait_output(self, text, timeout=120, after=0):
        """Waits until `text` appears in the output (past offset `after`); fails early when `up`
        exits first."""
        def seen():
            out = self.output()
            if text in out[after:]:
                return True
            if self.proc.poll() is not None:
                pytest.fail("streambus up exited (%s) before printing %r:\n%s" % (self.proc.returncode, text, out))
            return False
        wait_until(seen, timeout, "streambus up to print %r" % text, interval=0.05)

    def wait_up(self, timeout=120):
        self.wait_output("StreamBus is up", timeout)

    def child(self, role):
        """The pid of the live child running `streambus <role>` ("broker", "connect"), or of the
        PostgreSQL postmaster ("postgres": up execs it by its full path, PG_BIN/postgres)."""
        for pid in children_of(self.proc.pid):
            args = cmdline(pid).split()
            if role == "postgres" and args and os.path.basename(args[0]) == "postgres" and "-D" in args:
                return pid
            if len(args) > 1 and args[1] == role and os.path.realpath(args[0]) == os.path.realpath(streambus_bin()):
                return pid
        return None

    def sql(self, text):
        return psql_value(self.conninfo, text)

    def stop(self, sig=signal.SIGINT, timeout=60):
        """Asks `up` to stop: SIGINT to its process group as Ctrl-C does, another signal to the
        process only, as systemd or kill(1) would. Kills what is left if it does not stop within
        timeout, and fails the test."""
        if self.proc.poll() is None:
            if sig == signal.SIGINT:
                os.killpg(self.proc.pid, sig)  # as Ctrl-C does: the terminal's whole foreground group
            else:
                os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_session()
            pytest.fail("streambus up did not stop within %d s of %s" % (timeout, signal.Signals(sig).name))
        return self.proc.returncode

    def kill_session(self):
        for pid in [self.proc.pid] + children_of(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)

    def cleanup(self):
        """For a finally: whatever is left of this `up` goes."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop(signal.SIGINT, timeout=60)
            except BaseException:
                pass
        if self.proc is not None and self.proc.poll() is None:
            self.kill_session()

    def ports_closed(self):
        return not any(port_accepts("127.0.0.1", p) for p in self.ports.values())


def demo_caught_up(up, at_least=7):
    """Whether target.orders equals demo.orders and holds at least `at_least` rows."""
    src = up.sql("SELECT count(*), sum(amount), string_agg(status, ',' ORDER BY id) FROM demo.orders")
    dst = up.sql("SELECT count(*), sum(amount), string_agg(status, ',' ORDER BY id) FROM target.orders")
    return src is not None and src == dst and int(src.split("|")[0]) >= at_least


def wait_caught_up(up, at_least=7, timeout=90):
    wait_until(lambda: demo_caught_up(up, at_least), timeout,
               "target.orders to equal demo.orders with >= %d rows" % at_least, interval=0.5)


def wait_gone(pids, timeout=30):
    wait_until(lambda: not any(alive(p) for p in pids), timeout,
               "processes %s to be gone" % [p for p in pids if alive(p)])
