"""Hostile and broken clients on raw sockets. For each: the broker answers what the Kafka protocol
says it must, closes connections it cannot make sense of, keeps running, and still serves an
ordinary kcat produce/consume afterwards. (The harness also fails the test if the broker logged
a sanitizer report or an error-level line: a misbehaving client is not a broker fault.)"""

import random
import select
import socket
import struct
import time

import pytest

from conftest import kcat_roundtrip_works, wait_until

UNSUPPORTED_VERSION = 35
MAX_CONNECTIONS = 8

# The APIs the broker promises to serve (key: name), all of which must be advertised.
PROMISED_APIS = {0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
                 9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
                 13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
                 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics", 22: "InitProducerId",
                 32: "DescribeConfigs", 37: "CreatePartitions", 42: "DeleteGroups",
                 21: "DeleteRecords", 33: "AlterConfigs", 35: "DescribeLogDirs",
                 44: "IncrementalAlterConfigs", 60: "DescribeCluster"}


def request_frame(api_key, api_version, correlation_id, body=b"", client_id=b"it-hostile",
                  flexible=False):
    """A size-prefixed Kafka request: header v1 (v2 with an empty tag buffer if flexible)."""
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    if flexible:
        header += b"\x00"  # no tagged fields
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def connect(broker):
    return socket.create_connection((broker.host, broker.port), timeout=10)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def read_response(sock):
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def closed_by_broker(sock, timeout=10):
    """True when the broker closes (EOF or reset) within `timeout` s; anything it sent first is
    ignored. False if the connection is still open after that."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def count_answered(socks, wait):
    """How many of `socks` receive any response bytes within `wait` s (all watched at once)."""
    answered, pending = 0, set(socks)
    deadline = time.monotonic() + wait
    while pending and time.monotonic() < deadline:
        readable, _, _ = select.select(list(pending), [], [], max(0.0, deadline - time.monotonic()))
        for s in readable:
            pending.discard(s)
            try:
                if s.recv(4):
                    answered += 1
            except OSError:
                pass  # reset: closed, not served
    return answered


def api_versions_v0(correlation_id):
    return request_frame(18, 0, correlation_id)


def parse_api_versions_v0(resp):
    """(correlation_id, error_code, {api_key: (min, max)}) from a v0-bodied ApiVersions answer."""
    corr, error_code, count = struct.unpack(">ihi", resp[:10])
    apis, pos = {}, 10
    for _ in range(count):
        key, lo, hi = struct.unpack(">hhh", resp[pos:pos + 6])
        apis[key] = (lo, hi)
        pos += 6
    return corr, error_code, apis


def assert_logged_about(broker, sock):
    """The broker logged why it dropped this client, naming the client's address so an operator
    can tell who sent it (any level; the harness separately rejects error level)."""
    peer = "127.0.0.1:%d" % sock.getsockname()[1]
    wait_until(lambda: any(peer in line for line in broker.log_lines()), 10,
               "a broker log line about the dropped client %s" % peer)


def assert_still_serving(broker, topic):
    assert broker.alive(), "broker process died"
    assert kcat_roundtrip_works(broker, topic), "kcat produce/consume failed after hostile input"


def test_api_versions_baseline(broker):
    """The well-formed request the other tests twist: all promised APIs, each from version 0."""
    with connect(broker) as s:
        s.sendall(api_versions_v0(7))
        corr, error_code, apis = parse_api_versions_v0(read_response(s))
    assert (corr, error_code) == (7, 0)
    missing = {name for key, name in PROMISED_APIS.items() if key not in apis}
    assert missing == set()
    assert {PROMISED_APIS[k]: v for k, v in apis.items() if k in PROMISED_APIS and v[0] != 0} == {}, \
        "every API should be served from version 0 (clients switch features off otherwise)"


def test_api_versions_unsupported_version_gets_error_35(broker):
    # v99 with a v3-style (flexible) body: the broker cannot parse it and, as Kafka does, answers
    # UNSUPPORTED_VERSION in a v0 body listing what it does support.
    body = b"\x05kcat\x061.0.0\x00"  # compact strings: client software name and version; tags
    with connect(broker) as s:
        s.sendall(request_frame(18, 99, 4242, body, flexible=True))
        corr, error_code, apis = parse_api_versions_v0(read_response(s))
        assert (corr, error_code) == (4242, UNSUPPORTED_VERSION)
        assert 18 in apis and apis[18][0] == 0
        # The connection stays usable: a v0 request on it is answered normally.
        s.sendall(api_versions_v0(4243))
        corr, error_code, _ = parse_api_versions_v0(read_response(s))
        assert (corr, error_code) == (4243, 0)
    assert_still_serving(broker, "after-apiversions-v99")


def test_unsupported_version_of_other_api_closes_connection(broker):
    with connect(broker) as s:
        s.sendall(request_frame(3, 99, 1, b"\x00\x00\x00\x00"))  # Metadata v99
        assert closed_by_broker(s)
        assert_logged_about(broker, s)
    assert_still_serving(broker, "after-metadata-v99")


def test_unknown_api_key_closes_connection(broker):
    with connect(broker) as s:
        s.sendall(request_frame(999, 0, 1, b"\x00" * 16))
        assert closed_by_broker(s)
        assert_logged_about(broker, s)
    with connect(broker) as s:
        s.sendall(request_frame(-5, 0, 1))
        assert closed_by_broker(s)
        assert_logged_about(broker, s)
    assert_still_serving(broker, "after-unknown-api")


@pytest.mark.parametrize("name", ["random-body", "http", "random-stream"])
def test_garbage_closes_connection(broker, name):
    rng = random.Random(20260101)
    if name == "random-body":
        # Well-framed Produce v3 whose body is noise: fails to parse.
        data = request_frame(0, 3, 1, bytes(rng.getrandbits(8) for _ in range(200)))
    elif name == "http":
        # Someone points a browser or health checker at the Kafka port; the 4 bytes "GET " read
        # as a size are ~1.2 GB, above max_request_bytes.
        data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    else:
        # A small size prefix followed by random bytes, repeated: random api keys/versions.
        data = b"".join(struct.pack(">i", 24) + bytes(rng.getrandbits(8) for _ in range(24))
                        for _ in range(50))
    with connect(broker) as s:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed while we were still writing: also fine
        assert closed_by_broker(s)
        assert_logged_about(broker, s)
    assert_still_serving(broker, "after-garbage-" + name)


@pytest.mark.parametrize("size", [2_000_000_000, 0x7FFFFFFF, -1, -2_000_000_000],
                         ids=["2GB", "int32max", "minus1", "negative2GB"])
def test_oversized_or_negative_size_prefix_closes_connection(broker, size):
    with connect(broker) as s:
        s.sendall(struct.pack(">i", size) + b"\x00\x12\x00\x00\x00\x00\x00\x01")
        assert closed_by_broker(s), "a %d-byte request must be refused, not waited for" % size
        assert_logged_about(broker, s)
    assert_still_serving(broker, "after-size-%d" % (size & 0xFFFFFFFF))


def test_truncated_requests_then_close(broker):
    full = request_frame(3, 1, 1, b"\x00\x00\x00\x01\x00\x04abcd")
    for cut in (1, 3, 4, 7, len(full) - 1):
        s = connect(broker)
        s.sendall(full[:cut])
        s.close()
    # Half a request, then the client shuts down its write side and waits: broker must close too.
    with connect(broker) as s:
        s.sendall(full[:len(full) // 2])
        s.shutdown(socket.SHUT_WR)
        assert closed_by_broker(s)
    assert_still_serving(broker, "after-truncated")


def test_pipelined_requests_are_all_answered_in_order(broker):
    """Many requests in one write: each answered, correlation ids in request order."""
    with connect(broker) as s:
        s.sendall(b"".join(api_versions_v0(1000 + i) for i in range(50)))
        corrs = [parse_api_versions_v0(read_response(s))[0] for _ in range(50)]
    assert corrs == list(range(1000, 1050))


@pytest.mark.broker_config({"broker": {"max_connections": MAX_CONNECTIONS}})
def test_connections_beyond_max_connections_are_refused(broker):
    held = []
    try:
        # Up to the limit: every connection is served.
        for i in range(MAX_CONNECTIONS):
            s = connect(broker)
            held.append(s)
            s.sendall(api_versions_v0(i))
            assert parse_api_versions_v0(read_response(s))[:2] == (i, 0), \
                "connection %d of %d not served" % (i + 1, MAX_CONNECTIONS)
        # Beyond it: not served (closed at once, or never answered).
        extra = []
        for i in range(3 * MAX_CONNECTIONS):
            try:
                s = socket.create_connection((broker.host, broker.port), timeout=5)
            except OSError:
                continue  # refused outright: fine
            extra.append(s)
            try:
                s.sendall(api_versions_v0(100 + i))
            except OSError:
                pass
        served = count_answered(extra, wait=2.0)
        if extra:
            assert_logged_about(broker, extra[0])
        for s in extra:
            s.close()
        assert served == 0, "%d connections served beyond max_connections=%d" % (
            served, MAX_CONNECTIONS)
        assert broker.alive()
    finally:
        for s in held:
            s.close()

    # Once the held connections are gone, clients are served again.
    def fresh_connection_served():
        try:
            with connect(broker) as s:
                s.settimeout(2)
                s.sendall(api_versions_v0(1))
                return parse_api_versions_v0(read_response(s))[1] == 0
        except OSError:
            return False
    wait_until(fresh_connection_served, 20, "a new connection to be served after others closed")
    assert_still_serving(broker, "after-max-connections")
