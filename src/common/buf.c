#include "common/buf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const uint8_t *sb_rd_bytes(sb_rd_t *rd, size_t n)
{
    if (rd->err || (size_t)(rd->end - rd->p) < n) {
        sb_rd_fail(rd);
        return NULL;
    }
    const uint8_t *p = rd->p;
    rd->p += n;
    return p;
}

int8_t sb_rd_i8(sb_rd_t *rd)
{
    const uint8_t *p = sb_rd_bytes(rd, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t sb_rd_i16(sb_rd_t *rd)
{
    const uint8_t *p = sb_rd_bytes(rd, 2);
    return p ? (int16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

uint32_t sb_rd_u32(sb_rd_t *rd)
{
    const uint8_t *p = sb_rd_bytes(rd, 4);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

int32_t sb_rd_i32(sb_rd_t *rd)
{
    return (int32_t)sb_rd_u32(rd);
}

int64_t sb_rd_i64(sb_rd_t *rd)
{
    uint64_t hi = sb_rd_u32(rd);
    uint64_t lo = sb_rd_u32(rd);
    return (int64_t)(hi << 32 | lo);
}

bool sb_rd_bool(sb_rd_t *rd)
{
    return sb_rd_i8(rd) != 0;
}

uint64_t sb_rd_uvarint(sb_rd_t *rd)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        const uint8_t *p = sb_rd_bytes(rd, 1);
        if (!p) return 0;
        v |= (uint64_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80)) return v;
    }
    sb_rd_fail(rd);
    return 0;
}

int64_t sb_rd_varint(sb_rd_t *rd)
{
    uint64_t u = sb_rd_uvarint(rd);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

void sb_rd_uuid(sb_rd_t *rd, uint8_t out[16])
{
    const uint8_t *p = sb_rd_bytes(rd, 16);
    if (p) memcpy(out, p, 16);
    else memset(out, 0, 16);
}

static sb_slice_t slice_of(sb_rd_t *rd, int64_t len)
{
    sb_slice_t s = {NULL, -1};
    if (len < 0) {
        if (len < -1) sb_rd_fail(rd);
        return s;
    }
    if (len > INT32_MAX) {
        sb_rd_fail(rd);
        return s;
    }
    s.p = sb_rd_bytes(rd, (size_t)len);
    s.len = s.p ? (int32_t)len : -1;
    return s;
}

sb_slice_t sb_rd_string(sb_rd_t *rd)
{
    return slice_of(rd, sb_rd_i16(rd));
}

sb_slice_t sb_rd_compact_string(sb_rd_t *rd)
{
    return slice_of(rd, (int64_t)sb_rd_uvarint(rd) - 1);
}

sb_slice_t sb_rd_kbytes(sb_rd_t *rd)
{
    return slice_of(rd, sb_rd_i32(rd));
}

sb_slice_t sb_rd_compact_bytes(sb_rd_t *rd)
{
    return sb_rd_compact_string(rd);
}

sb_slice_t sb_rd_str(sb_rd_t *rd, bool compact)
{
    return compact ? sb_rd_compact_string(rd) : sb_rd_string(rd);
}

sb_slice_t sb_rd_byts(sb_rd_t *rd, bool compact)
{
    return compact ? sb_rd_compact_bytes(rd) : sb_rd_kbytes(rd);
}

int32_t sb_rd_array(sb_rd_t *rd, bool compact, size_t min_elem_size)
{
    int64_t n = compact ? (int64_t)sb_rd_uvarint(rd) - 1 : sb_rd_i32(rd);
    if (rd->err) return 0;
    if (n < -1 || n > INT32_MAX) {
        sb_rd_fail(rd);
        return 0;
    }
    if (n > 0 && min_elem_size && (uint64_t)n > sb_rd_remaining(rd) / min_elem_size) {
        sb_rd_fail(rd);
        return 0;
    }
    return (int32_t)n;
}

void sb_rd_tags(sb_rd_t *rd)
{
    uint64_t n = sb_rd_uvarint(rd);
    if (n > sb_rd_remaining(rd)) {
        sb_rd_fail(rd);
        return;
    }
    for (uint64_t i = 0; i < n && !rd->err; i++) {
        sb_rd_uvarint(rd); /* tag */
        uint64_t size = sb_rd_uvarint(rd);
        if (size > sb_rd_remaining(rd)) {
            sb_rd_fail(rd);
            return;
        }
        sb_rd_bytes(rd, (size_t)size);
    }
}

/* ----- writer ----- */

void sb_wr_init(sb_wr_t *w, size_t initial_cap)
{
    memset(w, 0, sizeof(*w));
    if (initial_cap) {
        w->buf = malloc(initial_cap);
        if (w->buf) w->cap = initial_cap;
        else w->oom = true;
    }
}

void sb_wr_deinit(sb_wr_t *w)
{
    for (size_t i = 0; i < w->nsplices; i++) close(w->splices[i].fd);
    free(w->splices);
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void sb_wr_reset(sb_wr_t *w)
{
    for (size_t i = 0; i < w->nsplices; i++) close(w->splices[i].fd);
    w->nsplices = 0;
    w->splice_bytes = 0;
    w->len = 0;
    w->oom = false;
}

uint8_t *sb_wr_reserve(sb_wr_t *w, size_t n)
{
    if (w->oom) return NULL;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = true;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

void sb_wr_bytes(sb_wr_t *w, const void *p, size_t n)
{
    if (!n) return;
    uint8_t *d = sb_wr_reserve(w, n);
    if (d) memcpy(d, p, n);
}

void sb_wr_i8(sb_wr_t *w, int8_t v)
{
    uint8_t *d = sb_wr_reserve(w, 1);
    if (d) d[0] = (uint8_t)v;
}

void sb_wr_i16(sb_wr_t *w, int16_t v)
{
    uint8_t *d = sb_wr_reserve(w, 2);
    if (d) {
        d[0] = (uint8_t)((uint16_t)v >> 8);
        d[1] = (uint8_t)v;
    }
}

void sb_wr_u32(sb_wr_t *w, uint32_t v)
{
    uint8_t *d = sb_wr_reserve(w, 4);
    if (d) {
        d[0] = (uint8_t)(v >> 24);
        d[1] = (uint8_t)(v >> 16);
        d[2] = (uint8_t)(v >> 8);
        d[3] = (uint8_t)v;
    }
}

void sb_wr_i32(sb_wr_t *w, int32_t v)
{
    sb_wr_u32(w, (uint32_t)v);
}

void sb_wr_i64(sb_wr_t *w, int64_t v)
{
    sb_wr_u32(w, (uint32_t)((uint64_t)v >> 32));
    sb_wr_u32(w, (uint32_t)v);
}

void sb_wr_bool(sb_wr_t *w, bool v)
{
    sb_wr_i8(w, v ? 1 : 0);
}

void sb_wr_uvarint(sb_wr_t *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        tmp[n++] = v ? b | 0x80 : b;
    } while (v);
    sb_wr_bytes(w, tmp, n);
}

void sb_wr_varint(sb_wr_t *w, int64_t v)
{
    sb_wr_uvarint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void sb_wr_uuid(sb_wr_t *w, const uint8_t v[16])
{
    sb_wr_bytes(w, v, 16);
}

void sb_wr_patch_i32(sb_wr_t *w, size_t at, int32_t v)
{
    if (w->oom || at + 4 > w->len) return;
    uint32_t u = (uint32_t)v;
    w->buf[at] = (uint8_t)(u >> 24);
    w->buf[at + 1] = (uint8_t)(u >> 16);
    w->buf[at + 2] = (uint8_t)(u >> 8);
    w->buf[at + 3] = (uint8_t)u;
}

void sb_wr_strn(sb_wr_t *w, bool compact, const void *s, int32_t n)
{
    if (n < 0) {
        if (compact) sb_wr_uvarint(w, 0);
        else sb_wr_i16(w, -1);
        return;
    }
    if (compact) sb_wr_uvarint(w, (uint64_t)n + 1);
    else sb_wr_i16(w, (int16_t)n);
    sb_wr_bytes(w, s, (size_t)n);
}

void sb_wr_str(sb_wr_t *w, bool compact, const char *s)
{
    sb_wr_strn(w, compact, s, s ? (int32_t)strlen(s) : -1);
}

void sb_wr_byts(sb_wr_t *w, bool compact, const void *p, int32_t n)
{
    if (n < 0) {
        if (compact) sb_wr_uvarint(w, 0);
        else sb_wr_i32(w, -1);
        return;
    }
    if (compact) sb_wr_uvarint(w, (uint64_t)n + 1);
    else sb_wr_i32(w, n);
    sb_wr_bytes(w, p, (size_t)n);
}

void sb_wr_array(sb_wr_t *w, bool compact, int32_t n)
{
    if (compact) sb_wr_uvarint(w, n < 0 ? 0 : (uint64_t)n + 1);
    else sb_wr_i32(w, n);
}

void sb_wr_tags(sb_wr_t *w, bool compact)
{
    if (compact) sb_wr_uvarint(w, 0);
}

void sb_wr_splice(sb_wr_t *w, int fd, off_t off, size_t len)
{
    if (w->nsplices == w->splice_cap) {
        size_t cap = w->splice_cap ? w->splice_cap * 2 : 8;
        sb_splice_t *ns = realloc(w->splices, cap * sizeof(*ns));
        if (!ns) {
            w->oom = true;
            close(fd);
            return;
        }
        w->splices = ns;
        w->splice_cap = cap;
    }
    w->splices[w->nsplices++] = (sb_splice_t){.at = w->len, .fd = fd, .off = off, .len = len};
    w->splice_bytes += len;
}

void sb_wr_truncate(sb_wr_t *w, size_t len)
{
    if (len > w->len) return;
    while (w->nsplices && w->splices[w->nsplices - 1].at >= len) {
        sb_splice_t *sp = &w->splices[--w->nsplices];
        w->splice_bytes -= sp->len;
        close(sp->fd);
    }
    w->len = len;
}
