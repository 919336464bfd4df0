"""Loopback ports for the servers the tests start.

Ports are drawn at random from below the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default). A port the kernel hands out
for bind(0) lies inside that range, and so does the local port of every outgoing connection:
with a dozen suites connecting in parallel, a port named by bind(0) and closed again was once
taken by some test's client connection before the broker bound it, and the broker stopped with
"Address already in use" (CI, 2026-12-05). Below the range only an explicit bind can take a
port, and every picker here checks with a bind first."""

import random
import socket

_FIRST_PORT = 10000
_rng = random.SystemRandom()  # not seeded alike in parallel test processes


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bound_socket(reuse_after_bind):
    """A socket bound to a free loopback port outside the ephemeral range (falling back to one
    the kernel picks if that range is exhausted). Bound without SO_REUSEADDR, so a port with a
    socket in TIME_WAIT is skipped; reuse_after_bind then lets a server share the bound port."""
    high = _ephemeral_low()
    for _ in range(200 if high - _FIRST_PORT >= 1000 else 0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", _rng.randrange(_FIRST_PORT, high)))
        except OSError:
            s.close()
            continue
        break
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
    if reuse_after_bind:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def free_port():
    """A loopback TCP port that nothing listens on right now."""
    with _bound_socket(False) as s:
        return s.getsockname()[1]


class PortHold:
    """A loopback port kept bound, without listening, for as long as the server it is meant
    for is not listening on it: before its first start (PostgreSQL's initdb can take seconds
    under load) and while a test keeps it down on purpose. Clients get "connection refused"
    as from nothing, and no other process can be handed the number by free_port() meanwhile.
    free_port() alone only names a port: two tests were once handed the same one, and the
    other test's PostgreSQL answered on a stopped server's port 0.6 s after the stop. The
    servers (PostgreSQL, the broker) bind with SO_REUSEADDR, which a bound but not listening
    socket does not refuse, so they may start while it is held; release it once they listen.

    PortHold() picks a free port (.port); PortHold(port) holds that one (also while it is in
    TIME_WAIT after its server stopped)."""

    def __init__(self, port=0):
        if port:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.sock.bind(("127.0.0.1", port))
            except OSError:
                self.sock.close()
                raise
        else:
            self.sock = _bound_socket(True)
        self.port = self.sock.getsockname()[1]

    def release(self):
        self.sock.close()
