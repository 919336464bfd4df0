#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_request: one valid request frame (header + body, no size
prefix) per API and a few versions, encoded by hand from the Kafka message schemas."""
import os
import struct
import sys
import zlib

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_request")
os.makedirs(out, exist_ok=True)


def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def s(v): return i16(-1) if v is None else i16(len(v)) + v.encode()
def arr(items): return i32(len(items)) + b"".join(items)
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


def header(key, ver, corr=1, flexible=False):
    return i16(key) + i16(ver) + i32(corr) + s("fuzz") + (b"\x00" if flexible else b"")


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def zz(n): return uvar((n << 1) ^ (n >> 63))


def batch(values, pid=-1, seq=-1):
    recs = b""
    for i, v in enumerate(values):
        body = i8(0) + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + uvar(0)
        recs += zz(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + i64(1700000000000) + i64(1700000000000) + i64(pid) +
                 i16(0) + i32(seq) + i32(len(values)) + recs)
    crc = crc32c(after_crc)
    rest = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(rest)) + rest


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


write("apiversions_v0", header(18, 0))
write("apiversions_v3", header(18, 3, flexible=True) + cs("fuzz") + cs("1.0") + b"\x00")
write("apiversions_v9_unsupported", header(18, 9))
write("metadata_v1_all", header(3, 1) + i32(-1))
write("metadata_v4_create", header(3, 4) + arr([s("fz")]) + i8(1))
write("metadata_v8", header(3, 8) + arr([s("fz"), s("bad/name")]) + i8(0) + i8(0) + i8(0))
b1 = batch([b"hello", b"world"])
write("produce_v3_acks1", header(0, 3) + s(None) + i16(1) + i32(1000) + arr([s("fz") + arr([i32(0) + i32(len(b1)) + b1])]))
b2 = batch([b"idem"], pid=1000, seq=0)
write("produce_v7_idempotent_acks_all", header(0, 7) + s(None) + i16(-1) + i32(1000) +
      arr([s("fz") + arr([i32(0) + i32(len(b2)) + b2])]))
write("produce_v8_acks0", header(0, 8) + s(None) + i16(0) + i32(1000) + arr([s("fz") + arr([i32(0) + i32(len(b1)) + b1])]))
write("fetch_v4", header(1, 4) + i32(-1) + i32(0) + i32(1) + i32(1 << 20) + i8(0) +
      arr([s("fz") + arr([i32(0) + i64(0) + i32(1 << 20)])]))
write("fetch_v11", header(1, 11) + i32(-1) + i32(0) + i32(1) + i32(1 << 20) + i8(0) + i32(0) + i32(-1) +
      arr([s("fz") + arr([i32(0) + i32(-1) + i64(0) + i64(-1) + i32(1 << 20)])]) + arr([]) + s(""))
write("listoffsets_v0", header(2, 0) + i32(-1) + arr([s("fz") + arr([i32(0) + i64(-1) + i32(1)])]))
write("listoffsets_v5", header(2, 5) + i32(-1) + i8(0) + arr([s("fz") + arr([i32(0) + i32(-1) + i64(1700000000000)])]))
write("createtopics_v4", header(19, 4) + arr([s("fz2") + i32(3) + i16(1) + arr([]) + arr([s("retention.ms") + s("1000")])]) +
      i32(1000) + i8(0))
write("createtopics_v0_badcfg", header(19, 0) + arr([s("fz3") + i32(1) + i16(1) + arr([]) + arr([s("nope") + s("1")])]) + i32(1000))
# Regression: a config entry whose name is a null string crashed topic creation (found by fuzzing).
write("createtopics_v0_null_config_name", header(19, 0) + arr([s("fz4") + i32(1) + i16(1) + arr([]) +
      arr([s(None) + s("1")])]) + i32(1000))
write("deletetopics_v3", header(20, 3) + arr([s("fz2")]) + i32(1000))
write("createpartitions_v1", header(37, 1) + arr([s("fz") + i32(2) + i32(-1)]) + i32(1000) + i8(0))
write("describeconfigs_v2", header(32, 2) + arr([i8(2) + s("fz") + i32(-1), i8(4) + s("0") + arr([s("num.partitions")])]) + i8(1))
write("initproducerid_v1", header(22, 1) + s(None) + i32(60000))
def carr(items): return uvar(len(items) + 1) + b"".join(items)
write("listoffsets_v7_max_timestamp", header(2, 7, flexible=True) + i32(-1) + i8(0) +
      carr([cs("fz") + carr([i32(0) + i32(-1) + i64(-3) + b"\x00"]) + b"\x00"]) + b"\x00")
write("alterconfigs_v0_topic_and_broker", header(33, 0) +
      arr([i8(2) + s("fz") + arr([s("retention.ms") + s("1000"), s("delete.retention.ms") + s("900")]),
           i8(4) + s("0") + arr([s("log.retention.ms") + s("abc")])]) + i8(0))
write("alterconfigs_v2_validate_only", header(33, 2, flexible=True) +
      carr([i8(2) + cs("fz") + carr([cs("cleanup.policy") + cs("compact") + b"\x00"]) + b"\x00"]) + i8(1) + b"\x00")
write("incrementalalterconfigs_v0", header(44, 0) +
      arr([i8(2) + s("fz") + arr([s("cleanup.policy") + i8(2) + s("compact"), s("retention.ms") + i8(1) + s(None)])]) +
      i8(0))
write("incrementalalterconfigs_v1_broker", header(44, 1, flexible=True) +
      carr([i8(4) + cs("") + carr([cs("log.retention.bytes") + i8(0) + cs("1048576") + b"\x00"]) + b"\x00",
            i8(4) + cs("0") + carr([cs("num.partitions") + i8(0) + cs("3") + b"\x00"]) + b"\x00"]) + i8(0) + b"\x00")
write("deleterecords_v1", header(21, 1) + arr([s("fz") + arr([i32(0) + i64(1), i32(9) + i64(-1)])]) + i32(1000))
write("deleterecords_v2", header(21, 2, flexible=True) +
      carr([cs("fz") + carr([i32(0) + i64(-1) + b"\x00"]) + b"\x00"]) + i32(1000) + b"\x00")
write("describecluster_v0", header(60, 0, flexible=True) + i8(0) + b"\x00")
write("describelogdirs_v0_all", header(35, 0) + i32(-1))
write("describelogdirs_v3", header(35, 3, flexible=True) + carr([cs("fz") + carr([i32(0), i32(5)]) + b"\x00"]) + b"\x00")
write("unknown_api", header(999, 0))
print("wrote", len(os.listdir(out)), "seeds to", out)
