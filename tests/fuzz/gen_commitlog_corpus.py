#!/usr/bin/python3
"""Writes the seed corpus for fuzz_commitlog from the real Cassandra segments in
tests/data/cassandra-commitlog: small cuts of them (the segments are 1 MB and more), a
Deflate-compressed re-pack, an encrypted segment cut down to its first chunk, damaged copies,
and single mutations.

Each seed starts with two bytes for the driver: mode (even: segment, odd: one mutation) and
a cut point / version selector. Run from anywhere; the output is committed and rerunning it
reproduces the same files. Needs the openssl command (to read the first plain-text block of
the encrypted segment)."""
import os
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "cassandra-commitlog")
OUT = os.path.join(HERE, "corpus", "fuzz_commitlog")
KEY = "b7d96fb9b11d829179aeeb0b4e81f97a"  # alias testing:1 of the data README


def read(folder, name):
    with open(os.path.join(DATA, folder, name), "rb") as f:
        return f.read()


def header_len(seg):
    plen = struct.unpack(">H", seg[12:14])[0]
    return 14 + plen + 4


def sections(seg):
    off = header_len(seg)
    out = []
    while off + 8 <= len(seg):
        end = struct.unpack(">I", seg[off:off + 8][:4])[0]
        if end == 0:
            break
        out.append((off, end))
        off = end
    return out


def entries(seg, off, end):
    """Mutations of a plain section: [size][crc][bytes][crc]."""
    pos = off + 8
    while pos + 4 <= end:
        size = struct.unpack(">I", seg[pos:pos + 4])[0]
        if size == 0:
            break
        yield seg[pos + 8:pos + 8 + size]
        pos += 12 + size


def crc_ints(crc, *ints):
    for v in ints:
        crc = zlib.crc32(struct.pack(">I", v & 0xFFFFFFFF), crc)
    return crc


def deflate_repack(seg, secs):
    """As CompressedSegment.write would have written these sections with DeflateCompressor."""
    version, seg_id = struct.unpack(">iq", seg[:12])
    params = b'{"compressionClass":"org.apache.cassandra.io.compress.DeflateCompressor","compressionParameters":{}}'
    crc = crc_ints(0, version, seg_id & 0xFFFFFFFF, seg_id >> 32, len(params))
    crc = zlib.crc32(params, crc)
    out = bytearray(struct.pack(">iqH", version, seg_id, len(params)) + params + struct.pack(">I", crc))
    for off, end in secs:
        plain = seg[off + 8:end]
        comp = zlib.compress(plain, 6)
        pos = len(out)
        nxt = pos + 12 + len(comp)
        mcrc = crc_ints(0, seg_id & 0xFFFFFFFF, seg_id >> 32, pos)
        out += struct.pack(">III", nxt, mcrc, len(plain)) + comp
    return bytes(out) + bytes(16)


def first_encrypted_chunk(seg):
    """The 3.4 segment's first section is 1.4 MB; keep its first encrypted chunk only. The sync
    marker's CRC covers the segment id and the marker's position, not its end pointer, so the
    end and the section's plain-text length can be rewritten."""
    off = header_len(seg)
    iv = seg[14:14 + struct.unpack(">H", seg[12:14])[0]].split(b'"encIV":"')[1][:32].decode()
    chunk_at = off + 12
    enc_len = struct.unpack(">I", seg[chunk_at:chunk_at + 4])[0]
    chunk = seg[chunk_at:chunk_at + 8 + enc_len]
    first_block = subprocess.run(
        ["openssl", "enc", "-d", "-aes-128-cbc", "-K", KEY, "-iv", iv, "-nopad"],
        input=chunk[8:24], capture_output=True, check=True).stdout
    plain_len = struct.unpack(">I", first_block[:4])[0]
    end = chunk_at + len(chunk)
    return (seg[:off] + struct.pack(">I", end) + seg[off + 4:off + 8] + struct.pack(">I", plain_len)
            + chunk + bytes(8))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    s40 = read("4.0.11-encrypted", "CommitLog-7-1699285478684.log")
    secs40 = sections(s40)
    two40 = s40[:secs40[1][1]] + bytes(8)  # two sections: system.local and a Standard1 write
    seeds["plain40_two_sections"] = b"\x00\x80" + two40
    seeds["plain40_torn"] = b"\x00\xff" + two40[:secs40[1][0] + 40]
    bad = bytearray(two40)
    bad[secs40[1][0] + 5] ^= 0x5A
    seeds["plain40_bad_marker"] = b"\x00\x40" + bytes(bad)
    bad = bytearray(two40)
    bad[secs40[0][0] + 30] ^= 0x01
    seeds["plain40_bad_entry_crc"] = b"\x00\x40" + bytes(bad)

    s30 = read("3.0.29-encrypted", "CommitLog-6-1699279786262.log")
    secs30 = sections(s30)
    small = [sec for sec in secs30 if sec[1] - sec[0] < 2000][:3]
    # A plain segment with three small sections, rebuilt at their original offsets is not
    # possible (offsets are absolute), so keep the prefix up to the second small section.
    seeds["plain30_prefix"] = b"\x00\x80" + s30[:secs30[1][1]] + bytes(8)
    seeds["deflate30"] = b"\x00\x60" + deflate_repack(s30, small)

    s34 = read("3.4-encrypted", "CommitLog-6-1480001790338.log")
    seeds["encrypted34_first_chunk"] = b"\x00\x80" + first_encrypted_chunk(s34)
    seeds["encrypted34_header_only"] = b"\x00\x80" + read("3.4-encrypted", "CommitLog-6-1480001790339.log")

    muts = list(entries(s40, *secs40[0])) + list(entries(s40, *secs40[1]))
    for i, m in enumerate(muts[:3]):
        seeds["mutation40_%d" % i] = b"\x01\x01" + m
    muts30 = list(entries(s30, *small[0]))
    for i, m in enumerate(muts30[:2]):
        seeds["mutation30_%d" % i] = b"\x01\x00" + m

    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("%-28s %6d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
