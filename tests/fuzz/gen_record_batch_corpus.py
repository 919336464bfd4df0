#!/usr/bin/python3
"""Writes the seed corpus for fuzz_record_batch: small Kafka RecordBatch v2 payloads, valid and
broken in the ways a broker meets (torn, bad CRC, old magic, trailing bytes, bad records).

Run from the repository root: tests/fuzz/gen_record_batch_corpus.py
The output is committed; rerunning it must reproduce the same files."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_record_batch")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n):
    """Kafka's zig-zag varint."""
    z = (n << 1) ^ (n >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def vbytes(b):
    return varint(-1) if b is None else varint(len(b)) + b


def record(offset_delta, ts_delta, key, value, headers=()):
    body = b"\x00" + varint(ts_delta) + varint(offset_delta) + vbytes(key) + vbytes(value)
    body += varint(len(headers)) + b"".join(vbytes(k) + vbytes(v) for k, v in headers)
    return varint(len(body)) + body


def batch(records, max_ts_delta=0, attributes=0, count=None, last_delta=None, magic=2,
          base_ts=1700000000000):
    recs = b"".join(records)
    count = len(records) if count is None else count
    last_delta = len(records) - 1 if last_delta is None else last_delta
    body = struct.pack(">hiqqqhii", attributes, last_delta, base_ts, base_ts + max_ts_delta,
                       -1, -1, -1, count) + recs
    return struct.pack(">qiib", 0, 49 + len(recs), -1, magic) + struct.pack(">I", crc32c(body)) + body


def main():
    assert crc32c(b"123456789") == 0xE3069283
    two = [record(0, 0, b"k1", b"hello", [(b"h", b"v")]), record(1, 5, None, b"world")]
    valid = batch(two, max_ts_delta=5)  # the same bytes as tests/unit/test_record_batch.c
    seeds = {
        "valid_two_records": valid,
        "valid_two_batches": valid + batch([record(0, 0, b"k", b"v")]),
        "valid_headers_null_value": batch([record(0, 0, b"key", None,
                                                  [(b"a", b"1"), (b"b", None), (b"c", b"")])]),
        "valid_control_marker": batch([record(0, 0, b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00")],
                                      attributes=0x30),
        "gzip_codec": batch(two, max_ts_delta=5, attributes=1),
        "truncated_half": valid[: len(valid) // 2],
        "bad_crc": valid[:-1] + bytes([valid[-1] ^ 0xFF]),
        "bad_magic_v1": valid[:16] + b"\x01" + valid[17:],
        "trailing_garbage": valid + b"\x00\x00\x00\x07garbage",
        "record_length_overrun": batch([b"\x7e" + two[0][1:], two[1]]),
        "overlong_varint": batch([b"\x02\x00" + b"\xff" * 10 + b"\x01"]),
        "count_mismatch": batch(two, max_ts_delta=5, count=3, last_delta=2),
        "empty": b"",
    }
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
