/* pgoutput and replication copy-stream decoding; see pgoutput.h for the contract. */
#include "connect/sources/pgoutput.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A protocol String: bytes up to a NUL, which must lie inside the message. */
static sb_slice_t read_cstring(sb_rd_t *rd)
{
    sb_slice_t s = {NULL, -1};
    size_t avail = sb_rd_remaining(rd);
    const uint8_t *nul = avail ? memchr(rd->p, 0, avail) : NULL;
    if (!nul) {
        sb_rd_fail(rd);
        return s;
    }
    size_t n = (size_t)(nul - rd->p);
    s.p = sb_rd_bytes(rd, n + 1);
    s.len = (int32_t)n;
    return s;
}

static uint64_t read_u64(sb_rd_t *rd)
{
    return (uint64_t)sb_rd_i64(rd);
}

int pg_copy_msg_decode(const uint8_t *p, size_t len, pg_copy_msg_t *out, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    memset(out, 0, sizeof(*out));
    out->payload.len = -1;
    uint8_t kind = (uint8_t)sb_rd_i8(&rd);
    if (!sb_rd_ok(&rd))
        return sb_err_set(err, SB_EINVAL, "empty replication message");
    switch (kind) {
    case PG_COPY_XLOGDATA:
        out->kind = PG_COPY_XLOGDATA;
        out->wal_start = read_u64(&rd);
        out->wal_end = read_u64(&rd);
        out->send_time_us = sb_rd_i64(&rd);
        if (!sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "truncated XLogData header");
        out->payload.p = rd.p;
        out->payload.len = (int32_t)sb_rd_remaining(&rd);
        if ((size_t)out->payload.len != sb_rd_remaining(&rd))
            return sb_err_set(err, SB_EINVAL, "XLogData payload too large");
        return 0;
    case PG_COPY_KEEPALIVE:
        out->kind = PG_COPY_KEEPALIVE;
        out->wal_end = read_u64(&rd);
        out->send_time_us = sb_rd_i64(&rd);
        out->reply_requested = sb_rd_i8(&rd) != 0;
        if (!sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "truncated primary keepalive message");
        return 0;
    default:
        return sb_err_set(err, SB_EINVAL, "unknown replication message kind 0x%02x", kind);
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void pg_standby_status_encode(uint8_t out[PG_STANDBY_STATUS_LEN], uint64_t write_lsn, uint64_t flush_lsn,
                              uint64_t apply_lsn, int64_t now_us_since_2000, bool reply_requested)
{
    out[0] = 'r';
    put_u64(out + 1, write_lsn);
    put_u64(out + 9, flush_lsn);
    put_u64(out + 17, apply_lsn);
    put_u64(out + 25, (uint64_t)now_us_since_2000);
    out[33] = reply_requested ? 1 : 0;
}

static int read_tuple(sb_rd_t *rd, pgoutput_tuple_t *t, sb_err_t *err)
{
    int16_t n = sb_rd_i16(rd);
    if (!sb_rd_ok(rd))
        return sb_err_set(err, SB_EINVAL, "truncated TupleData");
    if (n < 0 || n > PGOUTPUT_MAX_COLUMNS)
        return sb_err_set(err, SB_EINVAL, "TupleData with %d columns", n);
    t->ncols = n;
    for (int i = 0; i < n; i++) {
        pgoutput_tuple_col_t *c = &t->cols[i];
        c->kind = (char)sb_rd_i8(rd);
        c->value.p = NULL;
        c->value.len = -1;
        switch (c->kind) {
        case PGOUTPUT_COL_NULL:
        case PGOUTPUT_COL_UNCHANGED_TOAST:
            break;
        case PGOUTPUT_COL_TEXT:
        case PGOUTPUT_COL_BINARY: {
            int32_t vlen = sb_rd_i32(rd);
            if (vlen < 0 || (size_t)vlen > sb_rd_remaining(rd))
                return sb_err_set(err, SB_EINVAL, "column %d: value length %d exceeds message", i, vlen);
            c->value.p = sb_rd_bytes(rd, (size_t)vlen);
            c->value.len = vlen;
            break;
        }
        default:
            if (!sb_rd_ok(rd))
                return sb_err_set(err, SB_EINVAL, "truncated TupleData");
            return sb_err_set(err, SB_EINVAL, "column %d: unknown kind 0x%02x", i, (uint8_t)c->kind);
        }
    }
    if (!sb_rd_ok(rd))
        return sb_err_set(err, SB_EINVAL, "truncated TupleData");
    return 0;
}

/* Reads an optional 'K'/'O' old tuple and then the mandatory 'N' (when want_new) of I/U/D. */
static int read_change(sb_rd_t *rd, pgoutput_msg_t *m, bool allow_old, bool want_new, sb_err_t *err)
{
    m->u.change.relid = sb_rd_u32(rd);
    m->u.change.old_kind = 0;
    m->u.change.has_new = false;
    m->old_tuple.ncols = 0;
    m->new_tuple.ncols = 0;
    char marker = (char)sb_rd_i8(rd);
    if (!sb_rd_ok(rd))
        return sb_err_set(err, SB_EINVAL, "truncated change message");
    if (allow_old && (marker == 'K' || marker == 'O')) {
        m->u.change.old_kind = marker;
        int rc = read_tuple(rd, &m->old_tuple, err);
        if (rc)
            return rc;
        if (!want_new)
            return 0;
        marker = (char)sb_rd_i8(rd);
        if (!sb_rd_ok(rd))
            return sb_err_set(err, SB_EINVAL, "truncated change message");
    } else if (!want_new) {
        return sb_err_set(err, SB_EINVAL, "delete without 'K' or 'O' tuple (marker 0x%02x)", (uint8_t)marker);
    }
    if (marker != 'N')
        return sb_err_set(err, SB_EINVAL, "expected new tuple 'N', got 0x%02x", (uint8_t)marker);
    m->u.change.has_new = true;
    return read_tuple(rd, &m->new_tuple, err);
}

int pgoutput_decode(const uint8_t *p, size_t len, pgoutput_msg_t *m, sb_err_t *err)
{
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    uint8_t kind = (uint8_t)sb_rd_i8(&rd);
    if (!sb_rd_ok(&rd))
        return sb_err_set(err, SB_EINVAL, "empty pgoutput message");
    m->kind = (pgoutput_kind_t)kind;
    int rc = 0;
    switch (kind) {
    case PGOUTPUT_BEGIN:
        m->u.begin.final_lsn = read_u64(&rd);
        m->u.begin.commit_time_us = sb_rd_i64(&rd);
        m->u.begin.xid = sb_rd_u32(&rd);
        break;
    case PGOUTPUT_COMMIT:
        m->u.commit.flags = (uint8_t)sb_rd_i8(&rd);
        m->u.commit.commit_lsn = read_u64(&rd);
        m->u.commit.end_lsn = read_u64(&rd);
        m->u.commit.commit_time_us = sb_rd_i64(&rd);
        break;
    case PGOUTPUT_ORIGIN:
        m->u.origin.commit_lsn = read_u64(&rd);
        m->u.origin.name = read_cstring(&rd);
        break;
    case PGOUTPUT_RELATION: {
        m->u.relation.relid = sb_rd_u32(&rd);
        m->u.relation.nspname = read_cstring(&rd);
        m->u.relation.relname = read_cstring(&rd);
        m->u.relation.replident = (char)sb_rd_i8(&rd);
        int16_t n = sb_rd_i16(&rd);
        if (!sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "truncated Relation message");
        if (n < 0 || n > PGOUTPUT_MAX_COLUMNS)
            return sb_err_set(err, SB_EINVAL, "Relation message with %d columns", n);
        m->u.relation.ncols = n;
        for (int i = 0; i < n && sb_rd_ok(&rd); i++) {
            pgoutput_relation_col_t *c = &m->u.relation.cols[i];
            c->flags = (uint8_t)sb_rd_i8(&rd);
            c->name = read_cstring(&rd);
            c->type_oid = sb_rd_u32(&rd);
            c->typmod = sb_rd_i32(&rd);
        }
        break;
    }
    case PGOUTPUT_TYPE:
        m->u.type.type_oid = sb_rd_u32(&rd);
        m->u.type.nspname = read_cstring(&rd);
        m->u.type.typname = read_cstring(&rd);
        break;
    case PGOUTPUT_INSERT:
        rc = read_change(&rd, m, false, true, err);
        break;
    case PGOUTPUT_UPDATE:
        rc = read_change(&rd, m, true, true, err);
        break;
    case PGOUTPUT_DELETE:
        rc = read_change(&rd, m, true, false, err);
        break;
    case PGOUTPUT_TRUNCATE: {
        int32_t n = sb_rd_i32(&rd);
        m->u.truncate.options = (uint8_t)sb_rd_i8(&rd);
        if (!sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "truncated Truncate message");
        if (n < 0 || (size_t)n > sb_rd_remaining(&rd) / 4)
            return sb_err_set(err, SB_EINVAL, "Truncate message with %d relations", n);
        m->u.truncate.nrelids = n;
        m->u.truncate.relids_raw.p = sb_rd_bytes(&rd, (size_t)n * 4);
        m->u.truncate.relids_raw.len = n * 4;
        break;
    }
    case PGOUTPUT_MESSAGE: {
        m->u.message.flags = (uint8_t)sb_rd_i8(&rd);
        m->u.message.lsn = read_u64(&rd);
        m->u.message.prefix = read_cstring(&rd);
        int32_t n = sb_rd_i32(&rd);
        if (!sb_rd_ok(&rd))
            return sb_err_set(err, SB_EINVAL, "truncated logical decoding message");
        if (n < 0 || (size_t)n > sb_rd_remaining(&rd))
            return sb_err_set(err, SB_EINVAL, "logical decoding message content length %d exceeds message", n);
        m->u.message.content.p = sb_rd_bytes(&rd, (size_t)n);
        m->u.message.content.len = n;
        break;
    }
    default:
        return sb_err_set(err, SB_EINVAL, "unknown pgoutput message kind 0x%02x", kind);
    }
    if (rc)
        return rc;
    if (!sb_rd_ok(&rd))
        return sb_err_set(err, SB_EINVAL, "truncated pgoutput '%c' message", kind);
    /* Trailing bytes mean we and the server disagree about the layout: refuse rather than guess. */
    if (sb_rd_remaining(&rd) != 0)
        return sb_err_set(err, SB_EINVAL, "%zu trailing bytes after pgoutput '%c' message", sb_rd_remaining(&rd), kind);
    return 0;
}

uint32_t pgoutput_truncate_relid(const pgoutput_msg_t *m, int i)
{
    const uint8_t *q = m->u.truncate.relids_raw.p + (size_t)i * 4;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

void pg_lsn_format(uint64_t lsn, char buf[18])
{
    snprintf(buf, 18, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pg_lsn_parse(const char *s, uint64_t *out)
{
    uint64_t hi = 0, lo = 0;
    int digits = 0;
    for (; *s && *s != '/'; s++, digits++) {
        int v = hexval(*s);
        if (v < 0 || digits >= 8) return SB_EINVAL;
        hi = hi << 4 | (uint64_t)v;
    }
    if (*s != '/' || digits == 0) return SB_EINVAL;
    s++;
    for (digits = 0; *s; s++, digits++) {
        int v = hexval(*s);
        if (v < 0 || digits >= 8) return SB_EINVAL;
        lo = lo << 4 | (uint64_t)v;
    }
    if (digits == 0) return SB_EINVAL;
    *out = hi << 32 | lo;
    return 0;
}
