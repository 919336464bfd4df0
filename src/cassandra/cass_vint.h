#ifndef STREAMBUS_CASSANDRA_CASS_VINT_H
#define STREAMBUS_CASSANDRA_CASS_VINT_H

/* Cassandra's variable-length integers (org.apache.cassandra.utils.vint.VIntCoding), read
 * through the bounded reader.
 *
 * Unlike LEB128 (sb_rd_uvarint), the length is in the first byte: its count of leading 1 bits
 * is the number of extra bytes (0..8), the rest of the first byte is the top of the value,
 * and the extra bytes follow big-endian. 0xFF therefore means "eight full bytes follow". */

#include <stdint.h>

#include "common/buf.h"

static inline uint64_t cass_rd_uvint(sb_rd_t *rd)
{
    const uint8_t *p = sb_rd_bytes(rd, 1);
    if (!p) return 0;
    uint8_t first = p[0];
    if (first < 0x80) return first;
    int extra = 0;
    while (extra < 8 && (first & (0x80u >> extra))) extra++;
    uint64_t v = extra < 8 ? (uint64_t)(first & (0xFFu >> extra)) : 0;
    const uint8_t *q = sb_rd_bytes(rd, (size_t)extra);
    if (!q) return 0;
    for (int i = 0; i < extra; i++) v = v << 8 | q[i];
    return v;
}

/* Java's readUnsignedVInt32 in 3.0/4.0 was `(int) readUnsignedVInt()`: the low 32 bits. */
static inline uint32_t cass_rd_uvint32(sb_rd_t *rd)
{
    return (uint32_t)cass_rd_uvint(rd);
}

/* A length or count: must fit the bytes that remain (each counted thing takes >= min bytes),
 * so a corrupt length fails here instead of driving a huge allocation or loop. */
static inline size_t cass_rd_len(sb_rd_t *rd, size_t min_elem)
{
    uint64_t v = cass_rd_uvint(rd);
    if (!sb_rd_ok(rd)) return 0;
    if (min_elem && v > sb_rd_remaining(rd) / min_elem) {
        sb_rd_fail(rd);
        return 0;
    }
    return (size_t)v;
}

/* ByteBufferUtil.readWithVIntLength: a vint length then that many bytes. */
static inline sb_slice_t cass_rd_vbytes(sb_rd_t *rd)
{
    sb_slice_t s = {NULL, 0};
    size_t n = cass_rd_len(rd, 1);
    const uint8_t *p = sb_rd_bytes(rd, n);
    if (!sb_rd_ok(rd)) return s;
    s.p = p;
    s.len = (int32_t)n;
    return s;
}

#endif
