#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_acl_requests: a selector byte (0-11: CreateAcls, DescribeAcls,
DeleteAcls at versions 0-3; 12+: the .acls file parser) followed by a valid request body or file,
encoded by hand from the Kafka message schemas."""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_acl_requests")
os.makedirs(out, exist_ok=True)


def i8(v): return struct.pack(">b", v)
def i32(v): return struct.pack(">i", v)
def s(v): return struct.pack(">h", -1) if v is None else struct.pack(">h", len(v)) + v.encode()
def uvar(n):
    b = b""
    while True:
        x = n & 0x7F
        n >>= 7
        if n:
            b += bytes([x | 0x80])
        else:
            return b + bytes([x])
def cs(v): return uvar(0) if v is None else uvar(len(v) + 1) + v.encode()


def string(v, flex): return cs(v) if flex else s(v)
def array(items, flex): return (uvar(len(items) + 1) if flex else i32(len(items))) + b"".join(items)
def tags(flex): return b"\x00" if flex else b""


def creation(v, rtype, name, ptype, principal, host, op, perm):
    flex = v >= 2
    return (i8(rtype) + string(name, flex) + (i8(ptype) if v >= 1 else b"") + string(principal, flex)
            + string(host, flex) + i8(op) + i8(perm) + tags(flex))


def filt(v, rtype, name, ptype, principal, host, op, perm):
    flex = v >= 2
    return (i8(rtype) + string(name, flex) + (i8(ptype) if v >= 1 else b"") + string(principal, flex)
            + string(host, flex) + i8(op) + i8(perm))


n = 0
def write(data):
    global n
    with open(os.path.join(out, "seed-%02d" % n), "wb") as f:
        f.write(data)
    n += 1


for v in range(4):
    flex = v >= 2
    c = [creation(v, 2, "orders", 3, "User:alice", "*", 3, 3),
         creation(v, 2, "sales-", 4, "User:*", "10.0.0.1", 4, 2),
         creation(v, 4, "kafka-cluster", 3, "User:ops", "*", 7, 3),
         creation(v, 0, "bad", 3, "nocolon", "*", 1, 1)]
    write(bytes([v]) + array(c, flex) + tags(flex))
    f = filt(v, 1, None, 1, None, None, 1, 1)
    write(bytes([4 + v]) + f + tags(flex))
    write(bytes([4 + v]) + filt(v, 2, "sales-eu", 2, None, None, 1, 1) + tags(flex))
    write(bytes([8 + v]) + array([f + tags(flex), filt(v, 2, "orders", 3, "User:alice", None, 3, 3) + tags(flex)], flex)
          + tags(flex))

write(b"\x0c# header\nTOPIC LITERAL orders User:alice * READ ALLOW\n"
      b"GROUP PREFIXED team%20a User:b%25 10.0.0.1 ALL DENY\nCLUSTER LITERAL kafka-cluster User:ops * ALTER ALLOW\n")
write(b"\x0cTOPIC LITERAL t User:a * READ\n")
