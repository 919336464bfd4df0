"""Raw Kafka requests for the APIs no Debian-packaged client sends (IncrementalAlterConfigs,
DeleteRecords v2, ListOffsets v7, DescribeCluster, DescribeLogDirs): hand-encoded from the
message schemas, with a strict reader that fails on a short or over-long response."""

import socket
import struct

def uvar(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def cstr(s):
    return uvar(0) if s is None else uvar(len(s.encode()) + 1) + s.encode()


def s16(s):
    return struct.pack(">h", -1) if s is None else struct.pack(">h", len(s.encode())) + s.encode()


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        v = self.d[self.p:self.p + n]
        assert len(v) == n, "response ended early"
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]
    def boolean(self): return self.take(1) != b"\x00"

    def uvar(self):
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def cstr(self):
        n = self.uvar()
        return None if n == 0 else self.take(n - 1).decode()

    def s16(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def carr(self):
        return self.uvar() - 1

    def tags(self):
        for _ in range(self.uvar()):
            self.uvar()
            self.take(self.uvar())

    def done(self):
        assert self.p == len(self.d), "%d trailing bytes" % (len(self.d) - self.p)


def call(broker, key, version, body, flexible):
    """Sends one request, returns a Reader positioned at the response body."""
    cid = b"it-admin"
    header = struct.pack(">hhih", key, version, 7, len(cid)) + cid + (b"\x00" if flexible else b"")
    frame = header + body
    with socket.create_connection((broker.host, broker.port), timeout=15) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        resp = recv_exact(s, size)
    r = Reader(resp)
    assert r.i32() == 7
    if flexible:
        r.tags()
    return r


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "broker closed the connection"
        data += chunk
    return data


def incremental_alter(broker, resources, validate_only=False, version=1):
    """resources: [(type, name, [(key, op, value)])] -> [(error, message, type, name)]."""
    flex = version >= 1
    enc_s = cstr if flex else s16
    arr = (lambda n: uvar(n + 1)) if flex else (lambda n: struct.pack(">i", n))
    tags = b"\x00" if flex else b""
    body = arr(len(resources))
    for rtype, name, ops in resources:
        body += struct.pack(">b", rtype) + enc_s(name) + arr(len(ops))
        for k, op, v in ops:
            body += enc_s(k) + struct.pack(">b", op) + enc_s(v) + tags
        body += tags
    body += struct.pack(">?", validate_only) + tags
    r = call(broker, 44, version, body, flex)
    r.i32()
    out = []
    for _ in range(r.carr() if flex else r.i32()):
        err = r.i16()
        msg = r.cstr() if flex else r.s16()
        rt = r.i8()
        nm = r.cstr() if flex else r.s16()
        if flex:
            r.tags()
        out.append((err, msg, rt, nm))
    if flex:
        r.tags()
    r.done()
    return out


def delete_records_v2(broker, topic, partition_offsets):
    body = uvar(2) + cstr(topic) + uvar(len(partition_offsets) + 1)
    for p, off in partition_offsets:
        body += struct.pack(">iq", p, off) + b"\x00"
    body += b"\x00" + struct.pack(">i", 5000) + b"\x00"
    r = call(broker, 21, 2, body, True)
    r.i32()
    assert r.carr() == 1
    assert r.cstr() == topic
    out = {}
    for _ in range(r.carr()):
        p, low, err = r.i32(), r.i64(), r.i16()
        r.tags()
        out[p] = (low, err)
    r.tags()
    r.tags()
    r.done()
    return out


def list_offsets_v7(broker, topic, partition, timestamp):
    body = struct.pack(">ib", -1, 0) + uvar(2) + cstr(topic) + uvar(2)
    body += struct.pack(">iiq", partition, -1, timestamp) + b"\x00" + b"\x00" + b"\x00"
    r = call(broker, 2, 7, body, True)
    r.i32()
    assert r.carr() == 1 and r.cstr() == topic and r.carr() == 1
    p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
    r.i32()  # leader_epoch
    r.tags()
    r.tags()
    r.tags()
    r.done()
    assert p == partition
    return err, ts, off
