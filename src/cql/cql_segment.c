#include "cql/cql_segment.h"

#include <zlib.h>

uint32_t cql_crc24(uint64_t data, int nbytes)
{
    uint32_t crc = 0x875060;
    for (int i = 0; i < nbytes; i++) {
        crc ^= (uint32_t)(data & 0xff) << 16;
        data >>= 8;
        for (int b = 0; b < 8; b++) {
            crc <<= 1;
            if (crc & 0x1000000) crc ^= 0x1974F0B;
        }
    }
    return crc & 0xFFFFFF;
}

uint32_t cql_segment_crc32(const uint8_t *p, size_t n)
{
    static const uint8_t seed[4] = {0xFA, 0x2D, 0x55, 0xCA};
    uLong crc = crc32(0L, seed, 4);
    /* zlib takes uInt lengths: feed large inputs in pieces (segments are small anyway). */
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)crc;
}

static uint32_t le(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put_le(sb_wr_t *w, uint32_t v, int n)
{
    uint8_t b[4];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    sb_wr_bytes(w, b, (size_t)n);
}

int cql_segment_header_decode(const uint8_t hdr[CQL_SEGMENT_HEADER_LEN], size_t *payload_len,
                              bool *self_contained, sb_err_t *err)
{
    uint32_t h = le(hdr, 3);
    uint32_t want = le(hdr + 3, 3);
    if (cql_crc24(h, 3) != want)
        return sb_err_set(err, SB_ECORRUPT, "CQL v5 segment header fails its CRC24 (0x%06x, expected 0x%06x)",
                          cql_crc24(h, 3), want);
    *payload_len = h & 0x1FFFF;
    *self_contained = (h >> 17) & 1;
    return 0;
}

int cql_segment_payload_check(const uint8_t *payload, size_t len, const uint8_t trailer[CQL_SEGMENT_TRAILER_LEN],
                              sb_err_t *err)
{
    uint32_t got = cql_segment_crc32(payload, len), want = le(trailer, 4);
    if (got != want)
        return sb_err_set(err, SB_ECORRUPT, "CQL v5 segment payload of %zu bytes fails its CRC32", len);
    return 0;
}

static void segment(sb_wr_t *out, const uint8_t *p, size_t n, bool self_contained)
{
    uint32_t h = (uint32_t)n | (self_contained ? 1u << 17 : 0);
    put_le(out, h, 3);
    put_le(out, cql_crc24(h, 3), 3);
    sb_wr_bytes(out, p, n);
    put_le(out, cql_segment_crc32(p, n), 4);
}

void cql_segment_wrap(sb_wr_t *out, const uint8_t *envelope, size_t len)
{
    if (len <= CQL_SEGMENT_MAX_PAYLOAD) {
        segment(out, envelope, len, true);
        return;
    }
    for (size_t off = 0; off < len; off += CQL_SEGMENT_MAX_PAYLOAD) {
        size_t n = len - off < CQL_SEGMENT_MAX_PAYLOAD ? len - off : CQL_SEGMENT_MAX_PAYLOAD;
        segment(out, envelope + off, n, false);
    }
}
