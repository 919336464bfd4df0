/* Bounded scanner for the change-event envelope; see event_scan.h. */
#include "connect/event_scan.h"

#include <stddef.h>
#include <string.h>

#include "common/err.h"

/* Deeper nesting than this in a change event means hostile input, not data. */
#define EVENT_SCAN_MAX_DEPTH 64

/* The scanner runs on every record that passes through connect (for per-table metrics), so its
 * inner loops walk the reader's bytes directly — always within [rd->p, rd->end) — instead of
 * one sb_rd_bytes() call per byte, which was a fifth of connect's CPU. */
static void skip_ws(sb_rd_t *rd)
{
    if (rd->err) return;
    const uint8_t *p = rd->p;
    while (p < rd->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    rd->p = p;
}

static int peek(sb_rd_t *rd)
{
    return sb_rd_remaining(rd) > 0 ? *rd->p : -1;
}

static bool expect(sb_rd_t *rd, uint8_t c)
{
    skip_ws(rd);
    const uint8_t *b = sb_rd_bytes(rd, 1);
    if (!b || *b != c) {
        sb_rd_fail(rd);
        return false;
    }
    return true;
}

/* Returns the closing quote of the string whose contents start at p, or NULL when it is not
 * terminated before end. The quote is found with memchr (most bytes of an event are inside
 * strings); a quote preceded by an odd run of backslashes is escaped. */
static const uint8_t *string_end(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *start = p;
    while (p < end) {
        const uint8_t *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        size_t backslashes = 0;
        while (q - backslashes > start && q[-1 - (ptrdiff_t)backslashes] == '\\') backslashes++;
        if (backslashes % 2 == 0) return q;
        p = q + 1;
    }
    return NULL;
}

/* Reads a string literal (the opening quote is next) and returns its raw contents. Control
 * bytes are not rejected here: this scanner only feeds metrics, and the sink's own parser
 * validates the event. */
static sb_slice_t read_string(sb_rd_t *rd)
{
    sb_slice_t s = {NULL, 0};
    if (!expect(rd, '"')) return s;
    const uint8_t *q = string_end(rd->p, rd->end);
    if (!q) {
        sb_rd_fail(rd); /* unterminated string */
        return s;
    }
    s.p = rd->p;
    s.len = (int32_t)(q - rd->p);
    rd->p = q + 1;
    return s;
}

/* Skips an object or array (its bracket is next) by counting brackets outside strings, in one
 * tight loop over the bytes: `before`, `after` and `column_types` are most of every event, and
 * a call per byte here was most of the source task's CPU (docs/performance.md). Needs no
 * recursion; the depth limit still bounds hostile input. Structure inside is not validated. */
static void skip_container(sb_rd_t *rd)
{
    const uint8_t *p = rd->p, *end = rd->end;
    int depth = 0;
    while (p < end) {
        uint8_t c = *p;
        if (c == '"') {
            const uint8_t *q = string_end(p + 1, end);
            if (!q) break;
            p = q + 1;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > EVENT_SCAN_MAX_DEPTH) break;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            rd->p = p + 1;
            return;
        }
        p++;
    }
    sb_rd_fail(rd);
}

/* Skips one value of any type. */
static void skip_value(sb_rd_t *rd)
{
    skip_ws(rd);
    int c = peek(rd);
    if (c == '"') {
        read_string(rd);
        return;
    }
    if (c == '{' || c == '[') {
        skip_container(rd);
        return;
    }
    /* number, true, false, null: up to the next delimiter */
    const uint8_t *p = rd->p, *end = rd->end;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
        p++;
    if (p == rd->p) sb_rd_fail(rd);
    rd->p = p;
}

/* Reads an integer value; anything else (string, null, float part) is skipped and yields -1. */
static int64_t read_int(sb_rd_t *rd)
{
    skip_ws(rd);
    int c = peek(rd);
    bool neg = false;
    if (c == '-') {
        neg = true;
        sb_rd_bytes(rd, 1);
        c = peek(rd);
    }
    if (c < '0' || c > '9') {
        skip_value(rd);
        return -1;
    }
    int64_t v = 0;
    while ((c = peek(rd)) >= '0' && c <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            skip_value(rd);
            return -1;
        }
        v = v * 10 + (c - '0');
        sb_rd_bytes(rd, 1);
    }
    if (c == '.' || c == 'e' || c == 'E') skip_value(rd);
    return neg ? -v : v;
}

static bool key_is(sb_slice_t k, const char *name)
{
    size_t n = strlen(name);
    return k.len == (int32_t)n && memcmp(k.p, name, n) == 0;
}

/* Walks the members of an object (the '{' is next), calling on_member for each key with the
 * reader positioned at its value; on_member must consume the value. */
typedef void (*member_fn)(sb_rd_t *rd, sb_slice_t key, connect_event_summary_t *out);

static void walk_object(sb_rd_t *rd, member_fn on_member, connect_event_summary_t *out)
{
    if (!expect(rd, '{')) return;
    skip_ws(rd);
    if (peek(rd) == '}') {
        sb_rd_bytes(rd, 1);
        return;
    }
    while (sb_rd_ok(rd)) {
        skip_ws(rd);
        sb_slice_t key = read_string(rd);
        if (!expect(rd, ':')) return;
        on_member(rd, key, out);
        skip_ws(rd);
        const uint8_t *b = sb_rd_bytes(rd, 1);
        if (!b) return;
        if (*b == '}') return;
        if (*b != ',') {
            sb_rd_fail(rd);
            return;
        }
    }
}

static void on_source_member(sb_rd_t *rd, sb_slice_t key, connect_event_summary_t *out)
{
    skip_ws(rd);
    if (key_is(key, "ts_ms")) {
        out->source_ts_ms = read_int(rd);
    } else if (peek(rd) == '"' && (key_is(key, "table") || key_is(key, "schema") || key_is(key, "name"))) {
        sb_slice_t s = read_string(rd);
        if (key_is(key, "table")) out->table = s;
        else if (key_is(key, "schema")) out->schema = s;
        else out->source_name = s;
    } else {
        skip_value(rd);
    }
}

static void on_top_member(sb_rd_t *rd, sb_slice_t key, connect_event_summary_t *out)
{
    skip_ws(rd);
    if (key_is(key, "op") && peek(rd) == '"') {
        sb_slice_t s = read_string(rd);
        out->op = s.len == 1 ? (char)s.p[0] : 0;
    } else if (key_is(key, "ts_ms")) {
        out->ts_ms = read_int(rd);
    } else if (key_is(key, "source") && peek(rd) == '{') {
        walk_object(rd, on_source_member, out);
    } else {
        skip_value(rd);
    }
}

int connect_event_scan(const void *data, size_t len, connect_event_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->ts_ms = -1;
    out->source_ts_ms = -1;
    if (!data) return SB_EINVAL;
    sb_rd_t rd;
    sb_rd_init(&rd, data, len);
    walk_object(&rd, on_top_member, out);
    skip_ws(&rd);
    if (!sb_rd_ok(&rd) || sb_rd_remaining(&rd) != 0) {
        memset(out, 0, sizeof(*out));
        out->ts_ms = -1;
        out->source_ts_ms = -1;
        return SB_EINVAL;
    }
    return 0;
}
