"""Writes Cassandra 4.0 commit-log segments (descriptor version 7, messaging version 12, plain)
holding INSERTs into one table, for bench/cql_sources_bench.

This is a benchmark feeder, not evidence about the format: it shares StreamBus's own reading of
CommitLogDescriptor / CommitLogSegment / Mutation (docs/cassandra-commitlog.md). The proof
that the reader matches Cassandra is the real segments of tests/data/cassandra-commitlog.

The bench table: id bigint PRIMARY KEY, qty int, note text, src_us bigint (the write time in
microseconds, also the cell timestamp, so the target row carries when it was written).
"""
import json
import os
import struct
import zlib

TIMESTAMP_EPOCH_US = 1442880000000000  # EncodingStats: 2015-09-22
DELETION_TIME_EPOCH_S = 1442880000
NO_DELETION_TIME = 0x7FFFFFFF

TABLE_ID = "5b6f2a10-9c1d-11ef-8a3e-0242ac120002"
SCHEMA = [{"keyspace": "bench", "table": "items", "id": TABLE_ID, "columns": [
    {"name": "id", "kind": "partition_key", "position": 0, "type": "bigint"},
    {"name": "qty", "kind": "regular", "position": -1, "type": "int"},
    {"name": "note", "kind": "regular", "position": -1, "type": "text"},
    {"name": "src_us", "kind": "regular", "position": -1, "type": "bigint"}]}]
# Header column order: Cassandra sorts a table's regular columns by name.
HEADER = sorted(["qty", "note", "src_us"])


def uvint(v):
    """VIntCoding.writeUnsignedVInt: n extra bytes (n leading 1 bits in the first byte) carry
    7n + 7 value bits; nine bytes carry 64."""
    for n in range(8):
        if v < (1 << (7 * (n + 1))):
            b = bytearray(v.to_bytes(n + 1, "big"))
            b[0] |= (0xFF << (8 - n)) & 0xFF
            return bytes(b)
    return b"\xff" + v.to_bytes(8, "big")


def vbytes(b):
    return uvint(len(b)) + b


def _table_id_bytes():
    return bytes.fromhex(TABLE_ID.replace("-", ""))


TABLE_ID_BYTES = _table_id_bytes()
HEADER_BYTES = uvint(len(HEADER)) + b"".join(vbytes(c.encode()) for c in HEADER)


def insert_mutation(i, ts_us):
    """The serialized Mutation of INSERT INTO bench.items (id, qty, note, src_us) VALUES
    (i, i % 100, 'note <i>', ts_us) USING TIMESTAMP ts_us."""
    values = {"qty": struct.pack(">i", i % 100), "note": vbytes(b"note %d" % i), "src_us": struct.pack(">q", ts_us)}
    stats = uvint(ts_us - TIMESTAMP_EPOCH_US) + uvint(NO_DELETION_TIME - DELETION_TIME_EPOCH_S) + uvint(0)
    # Row: flags has-timestamp | has-all-columns; no clustering; the row timestamp as a delta
    # from the minimum (0); each cell "use the row's timestamp and TTL".
    row = bytes([0x04 | 0x20]) + uvint(0) + b"".join(bytes([0x08 | 0x10]) + values[c] for c in HEADER)
    partition = (TABLE_ID_BYTES + vbytes(struct.pack(">q", i)) + bytes([0x10]) + stats + HEADER_BYTES +
                 uvint(1) + row + b"\x01")
    return uvint(1) + partition


def crc_ints(crc, *ints):
    for v in ints:
        crc = zlib.crc32(struct.pack(">I", v & 0xFFFFFFFF), crc)
    return crc


def entry(mutation):
    size = len(mutation)
    size_crc = crc_ints(0, size)
    body_crc = zlib.crc32(mutation, crc_ints(0, size))
    return struct.pack(">II", size, size_crc) + mutation + struct.pack(">I", body_crc)


class Segment:
    """One CommitLog-7-<id>.log being written section by section, with its _cdc.idx."""

    def __init__(self, directory, seg_id):
        self.id = seg_id
        self.path = os.path.join(directory, "CommitLog-7-%d.log" % seg_id)
        self.idx = os.path.join(directory, "CommitLog-7-%d_cdc.idx" % seg_id)
        params = json.dumps({}).encode()
        head = struct.pack(">iqH", 7, seg_id, len(params)) + params
        crc = crc_ints(0, 7, seg_id & 0xFFFFFFFF, seg_id >> 32, len(params))
        crc = zlib.crc32(params, crc)
        head += struct.pack(">I", crc)
        self.f = open(self.path, "wb")
        self.f.write(head)
        self.offset = len(head)
        self.f.flush()

    def add_section(self, mutations):
        """Appends one sync section (a marker then the entries) and flushes it; the caller
        then publishes the new offset with sync()."""
        body = b"".join(entry(m) for m in mutations)
        end = self.offset + 8 + len(body)
        marker = struct.pack(">II", end, crc_ints(0, self.id & 0xFFFFFFFF, self.id >> 32, self.offset))
        self.f.write(marker + body)
        self.f.flush()
        self.offset = end

    def sync(self, completed=False):
        """Writes the _cdc.idx as CommitLogSegment.writeCDCIndexFile does (write to a new file
        and rename, so a reader never sees half a number)."""
        tmp = self.idx + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.offset + ("COMPLETED\n" if completed else ""))
        os.replace(tmp, self.idx)

    def close(self):
        self.f.close()
