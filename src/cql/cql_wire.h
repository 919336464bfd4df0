#ifndef STREAMBUS_CQL_CQL_WIRE_H
#define STREAMBUS_CQL_CQL_WIRE_H

/* The notations of the CQL native protocol (v4 spec section 3) on top of the bounded reader and
 * the writer of common/buf.h. CQL differs from Kafka here: a [string] length is an unsigned
 * [short] (a Kafka string's is signed, -1 meaning null), and [bytes] with any negative length
 * is null. */

#include <string.h>

#include "common/buf.h"

static inline uint16_t cql_rd_short(sb_rd_t *rd)
{
    return (uint16_t)sb_rd_i16(rd);
}

/* [string]: never null; an error leaves an empty slice and rd->err set. */
static inline sb_slice_t cql_rd_string(sb_rd_t *rd)
{
    uint16_t n = cql_rd_short(rd);
    const uint8_t *p = sb_rd_bytes(rd, n);
    return (sb_slice_t){p ? p : (const uint8_t *)"", p ? (int32_t)n : 0};
}

/* [long string] */
static inline sb_slice_t cql_rd_long_string(sb_rd_t *rd)
{
    int32_t n = sb_rd_i32(rd);
    if (n < 0) {
        sb_rd_fail(rd);
        return (sb_slice_t){(const uint8_t *)"", 0};
    }
    const uint8_t *p = sb_rd_bytes(rd, (size_t)n);
    return (sb_slice_t){p ? p : (const uint8_t *)"", p ? n : 0};
}

/* [bytes]: len -1 for null (any negative length on the wire). */
static inline sb_slice_t cql_rd_bytes(sb_rd_t *rd)
{
    int32_t n = sb_rd_i32(rd);
    if (n < 0 || !sb_rd_ok(rd)) return (sb_slice_t){NULL, -1};
    const uint8_t *p = sb_rd_bytes(rd, (size_t)n);
    return p ? (sb_slice_t){p, n} : (sb_slice_t){NULL, -1};
}

/* [short bytes] */
static inline sb_slice_t cql_rd_short_bytes(sb_rd_t *rd)
{
    uint16_t n = cql_rd_short(rd);
    const uint8_t *p = sb_rd_bytes(rd, n);
    return (sb_slice_t){p ? p : (const uint8_t *)"", p ? (int32_t)n : 0};
}

static inline void cql_wr_short(sb_wr_t *w, uint16_t v)
{
    sb_wr_i16(w, (int16_t)v);
}

static inline void cql_wr_string_n(sb_wr_t *w, const void *s, size_t n)
{
    cql_wr_short(w, (uint16_t)n);
    sb_wr_bytes(w, s, n);
}

static inline void cql_wr_string(sb_wr_t *w, const char *s)
{
    cql_wr_string_n(w, s, strlen(s));
}

static inline void cql_wr_long_string(sb_wr_t *w, const char *s)
{
    size_t n = strlen(s);
    sb_wr_i32(w, (int32_t)n);
    sb_wr_bytes(w, s, n);
}

/* [bytes]; n < 0 writes null. */
static inline void cql_wr_bytes(sb_wr_t *w, const void *p, int32_t n)
{
    sb_wr_i32(w, n < 0 ? -1 : n);
    if (n > 0) sb_wr_bytes(w, p, (size_t)n);
}

static inline void cql_wr_short_bytes(sb_wr_t *w, const void *p, size_t n)
{
    cql_wr_short(w, (uint16_t)n);
    sb_wr_bytes(w, p, n);
}

static inline bool cql_slice_eq(sb_slice_t s, const char *str)
{
    size_t n = strlen(str);
    return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, str, n) == 0;
}

#endif
