#include "connect/event_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- arena ---------------- */

struct event_arena_chunk {
    event_arena_chunk_t *next;
    size_t cap;
    _Alignas(8) unsigned char data[];
};

enum { ARENA_CHUNK_MIN = 64 * 1024 };

static void forget_types(event_arena_t *a)
{
    a->types_raw = NULL;
    a->types_len = 0;
    a->types_cols = NULL;
    a->types_n = 0;
}

void event_arena_init(event_arena_t *a)
{
    a->head = NULL;
    a->used = 0;
    forget_types(a);
}

void event_arena_deinit(event_arena_t *a)
{
    event_arena_chunk_t *c = a->head;
    while (c) {
        event_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
    forget_types(a);
}

/* Keeps only the newest chunk: it is the largest one once a big batch has been seen, so a
 * steady stream of batches settles on one allocation. */
void event_arena_reset(event_arena_t *a)
{
    if (!a->head) return;
    event_arena_chunk_t *c = a->head->next;
    while (c) {
        event_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head->next = NULL;
    a->used = 0;
    forget_types(a);
}

void *event_arena_alloc(event_arena_t *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!a->head || a->head->cap - a->used < n) {
        size_t cap = a->head ? a->head->cap * 2 : ARENA_CHUNK_MIN;
        if (cap < n) cap = n;
        event_arena_chunk_t *c = malloc(sizeof(*c) + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
}

/* ---------------- JSON scanning ---------------- */

enum { MAX_DEPTH = 64 };

typedef struct parser {
    sb_rd_t rd;
    event_arena_t *arena;
    sb_err_t *err;
    const char *what; /* "key" or "value", for messages */
    bool check_utf8;  /* event_outline: reject invalid UTF-8 in strings */
    bool failed;
    int code;
} parser_t;

static int fail(parser_t *ps, const char *msg)
{
    if (!ps->failed) {
        sb_err_set(ps->err, SB_EINVAL, "malformed %s JSON: %s", ps->what, msg);
        ps->code = SB_EINVAL;
    }
    ps->failed = true;
    sb_rd_fail(&ps->rd);
    return -1;
}

static int peek(parser_t *ps)
{
    return ps->rd.p < ps->rd.end ? *ps->rd.p : -1;
}

static void skip_ws(parser_t *ps)
{
    while (ps->rd.p < ps->rd.end) {
        uint8_t c = *ps->rd.p;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->rd.p++;
    }
}

static int expect(parser_t *ps, char c)
{
    skip_ws(ps);
    if (peek(ps) != (uint8_t)c) {
        char msg[32];
        snprintf(msg, sizeof(msg), "expected '%c'", c);
        return fail(ps, msg);
    }
    ps->rd.p++;
    return 0;
}

static int literal(parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->rd.end - ps->rd.p) < n || memcmp(ps->rd.p, word, n) != 0)
        return fail(ps, "bad literal");
    ps->rd.p += n;
    return 0;
}

static int hex4(const uint8_t *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* The length of the well-formed UTF-8 sequence at p (its first byte is >= 0x80), or 0 when
 * it is not one: truncated, a stray continuation byte, an overlong form, a surrogate or a code
 * point beyond U+10FFFF (RFC 3629). */
static size_t utf8_sequence_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Parses a string (the cursor is on the opening quote). Without escapes and when no
 * terminator is needed the result points into the input; otherwise it is decoded into the
 * arena, which never needs more than the raw length plus one byte (escapes only shrink). */
static int parse_string(parser_t *ps, bool nul_terminate, const char **out, int32_t *out_len)
{
    if (expect(ps, '"') < 0) return -1;
    const uint8_t *start = ps->rd.p;
    bool escaped = false;
    while (ps->rd.p < ps->rd.end) {
        uint8_t c = *ps->rd.p;
        if (c == '"') break;
        if (c < 0x20) return fail(ps, "control character in string");
        if (c == '\\') {
            escaped = true;
            if (ps->rd.end - ps->rd.p < 2) return fail(ps, "unterminated string");
            ps->rd.p += 2;
            continue;
        }
        if (c >= 0x80 && ps->check_utf8) {
            size_t n = utf8_sequence_len(ps->rd.p, ps->rd.end);
            if (n == 0) return fail(ps, "invalid UTF-8 in string");
            ps->rd.p += n;
            continue;
        }
        ps->rd.p++;
    }
    if (ps->rd.p >= ps->rd.end) return fail(ps, "unterminated string");
    const uint8_t *stop = ps->rd.p;
    ps->rd.p++; /* closing quote */
    size_t raw = (size_t)(stop - start);
    if (raw > INT32_MAX - 1) return fail(ps, "string too long");
    if (!escaped && !nul_terminate) {
        *out = (const char *)start;
        *out_len = (int32_t)raw;
        return 0;
    }
    char *buf = event_arena_alloc(ps->arena, raw + 1);
    if (!buf) {
        sb_err_set(ps->err, SB_ENOMEM, "out of memory parsing %s", ps->what);
        ps->code = SB_ENOMEM;
        ps->failed = true;
        return -1;
    }
    char *o = buf;
    const uint8_t *p = start;
    while (p < stop) {
        if (*p != '\\') {
            *o++ = (char)*p++;
            continue;
        }
        uint8_t e = p[1];
        p += 2;
        switch (e) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t cp;
            if (stop - p < 4 || hex4(p, &cp) < 0) return fail(ps, "bad \\u escape");
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (stop - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail(ps, "unpaired surrogate in \\u escape");
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(ps, "unpaired surrogate in \\u escape");
            }
            if (cp == 0)
                return fail(ps, "string contains \\u0000, which no database text type can store");
            o = put_utf8(o, cp);
            break;
        }
        default:
            return fail(ps, "bad escape in string");
        }
    }
    *o = '\0';
    *out = buf;
    *out_len = (int32_t)(o - buf);
    return 0;
}

static int parse_number(parser_t *ps, event_value_t *v)
{
    const uint8_t *start = ps->rd.p;
    bool real = false;
    if (peek(ps) == '-') ps->rd.p++;
    int c = peek(ps);
    if (c == '0') {
        ps->rd.p++;
    } else if (c >= '1' && c <= '9') {
        while ((c = peek(ps)) >= '0' && c <= '9')
            ps->rd.p++;
    } else {
        return fail(ps, "bad number");
    }
    if (peek(ps) == '.') {
        real = true;
        ps->rd.p++;
        if (!((c = peek(ps)) >= '0' && c <= '9')) return fail(ps, "bad number");
        while ((c = peek(ps)) >= '0' && c <= '9')
            ps->rd.p++;
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        real = true;
        ps->rd.p++;
        if (peek(ps) == '+' || peek(ps) == '-') ps->rd.p++;
        if (!((c = peek(ps)) >= '0' && c <= '9')) return fail(ps, "bad number");
        while ((c = peek(ps)) >= '0' && c <= '9')
            ps->rd.p++;
    }
    v->type = real ? EVENT_JSON_REAL : EVENT_JSON_INT;
    v->text = (const char *)start;
    v->len = (int32_t)(ps->rd.p - start);
    return 0;
}

static int parse_value(parser_t *ps, int depth, event_value_t *v);

/* Validates a nested object or array and records its raw text. */
static int parse_container(parser_t *ps, int depth, event_value_t *v)
{
    if (depth >= MAX_DEPTH) return fail(ps, "nesting too deep");
    const uint8_t *start = ps->rd.p;
    bool object = *ps->rd.p == '{';
    char close = object ? '}' : ']';
    ps->rd.p++;
    skip_ws(ps);
    if (peek(ps) == close) {
        ps->rd.p++;
    } else {
        for (;;) {
            event_value_t member;
            if (object) {
                const char *name;
                int32_t name_len;
                skip_ws(ps);
                if (parse_string(ps, false, &name, &name_len) < 0 || expect(ps, ':') < 0) return -1;
            }
            if (parse_value(ps, depth + 1, &member) < 0) return -1;
            skip_ws(ps);
            int c = peek(ps);
            if (c == ',') {
                ps->rd.p++;
                continue;
            }
            if (c == close) {
                ps->rd.p++;
                break;
            }
            return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    v->type = object ? EVENT_JSON_OBJECT : EVENT_JSON_ARRAY;
    v->text = (const char *)start;
    v->len = (int32_t)(ps->rd.p - start);
    return 0;
}

static int parse_value(parser_t *ps, int depth, event_value_t *v)
{
    skip_ws(ps);
    memset(v, 0, sizeof(*v));
    switch (peek(ps)) {
    case '"':
        v->type = EVENT_JSON_STRING;
        return parse_string(ps, false, &v->text, &v->len);
    case '{':
    case '[':
        return parse_container(ps, depth, v);
    case 't':
        v->type = EVENT_JSON_TRUE;
        return literal(ps, "true");
    case 'f':
        v->type = EVENT_JSON_FALSE;
        return literal(ps, "false");
    case 'n':
        v->type = EVENT_JSON_NULL;
        return literal(ps, "null");
    case -1:
        return fail(ps, "unexpected end");
    default:
        return parse_number(ps, v);
    }
}

/* Iterates the members of an object: calls `member` with the cursor on each value. */
typedef int (*member_fn)(parser_t *ps, void *arg, const char *name, int32_t name_len);

/* After an object member: 1 when another follows (the ',' consumed), 0 at the end (the '}'
 * consumed), -1 on anything else. */
static int next_member(parser_t *ps)
{
    skip_ws(ps);
    int c = peek(ps);
    if (c == ',' || c == '}') {
        ps->rd.p++;
        return c == ',';
    }
    return fail(ps, "expected ',' or '}'");
}

static int parse_object(parser_t *ps, bool cstr_names, member_fn member, void *arg)
{
    if (expect(ps, '{') < 0) return -1;
    skip_ws(ps);
    if (peek(ps) == '}') {
        ps->rd.p++;
        return 0;
    }
    for (;;) {
        const char *name;
        int32_t name_len;
        skip_ws(ps);
        if (parse_string(ps, cstr_names, &name, &name_len) < 0 || expect(ps, ':') < 0) return -1;
        if (member(ps, arg, name, name_len) < 0) return -1;
        int more = next_member(ps);
        if (more <= 0) return more;
    }
}

static bool name_is(const char *name, int32_t len, const char *want)
{
    size_t n = strlen(want);
    return (size_t)len == n && memcmp(name, want, n) == 0;
}

static int skip_member(parser_t *ps, void *arg, const char *name, int32_t name_len)
{
    event_value_t v;
    return parse_value(ps, 1, &v);
}

/* Columns go into arena arrays that double when full; the abandoned smaller array is arena
 * garbage until the batch ends, which costs less than counting the members first. */
typedef struct row_builder {
    event_row_t *row;
    int cap;
    bool cstr_values; /* string values NUL-terminated in the arena (type names) */
} row_builder_t;

static int row_member(parser_t *ps, void *arg, const char *name, int32_t name_len)
{
    row_builder_t *b = arg;
    event_row_t *row = b->row;
    if (row->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        event_column_t *cols = event_arena_alloc(ps->arena, sizeof(*cols) * (size_t)cap);
        if (!cols) {
            sb_err_set(ps->err, SB_ENOMEM, "out of memory parsing %s", ps->what);
            ps->code = SB_ENOMEM;
            ps->failed = true;
            return -1;
        }
        if (row->n) memcpy(cols, row->cols, sizeof(*cols) * (size_t)row->n);
        row->cols = cols;
        b->cap = cap;
    }
    event_column_t *col = &row->cols[row->n];
    if (name_len == 0) return fail(ps, "empty column name");
    col->name = name;
    col->pg_type = NULL;
    skip_ws(ps);
    if (b->cstr_values && peek(ps) == '"') {
        col->value.type = EVENT_JSON_STRING;
        if (parse_string(ps, true, &col->value.text, &col->value.len) < 0) return -1;
    } else if (parse_value(ps, 1, &col->value) < 0) {
        return -1;
    }
    row->n++;
    return 0;
}

/* A row is an object of columns or null. */
static int parse_row(parser_t *ps, event_row_t *row, bool cstr_values)
{
    skip_ws(ps);
    memset(row, 0, sizeof(*row));
    if (peek(ps) == 'n') return literal(ps, "null");
    if (peek(ps) != '{') return fail(ps, "a row must be an object or null");
    row->present = true;
    row_builder_t b = {.row = row, .cap = 0, .cstr_values = cstr_values};
    return parse_object(ps, true, row_member, &b);
}

/* Reads an integer written as a JSON number or as a string of digits (values beyond 2^53
 * travel as strings). */
static int parse_int64(parser_t *ps, bool *has, int64_t *out)
{
    event_value_t v;
    if (parse_value(ps, 1, &v) < 0) return -1;
    if (v.type == EVENT_JSON_NULL) return 0;
    if (v.type != EVENT_JSON_INT && v.type != EVENT_JSON_STRING)
        return fail(ps, "expected an integer");
    int32_t i = 0;
    bool neg = false;
    if (i < v.len && v.text[i] == '-') {
        neg = true;
        i++;
    }
    if (i == v.len) return fail(ps, "expected an integer");
    uint64_t acc = 0;
    for (; i < v.len; i++) {
        char c = v.text[i];
        if (c < '0' || c > '9') return fail(ps, "expected an integer");
        if (acc > (UINT64_MAX - 9) / 10) return fail(ps, "integer out of range");
        acc = acc * 10 + (uint64_t)(c - '0');
    }
    if (acc > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return fail(ps, "integer out of range");
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    *has = true;
    return 0;
}

typedef struct value_state {
    event_t *ev;
    bool has_op;
    event_row_t column_types;
} value_state_t;

static int arena_cstring(parser_t *ps, const char **out)
{
    skip_ws(ps);
    if (peek(ps) == 'n') {
        *out = NULL;
        return literal(ps, "null");
    }
    if (peek(ps) != '"') return fail(ps, "expected a string");
    int32_t len;
    return parse_string(ps, true, out, &len);
}

static int source_member(parser_t *ps, void *arg, const char *name, int32_t name_len)
{
    value_state_t *st = arg;
    event_t *ev = st->ev;
    if (name_is(name, name_len, "ts_ms"))
        return parse_int64(ps, &ev->has_source_ts, &ev->source_ts_ms);
    if (name_is(name, name_len, "lsn")) return parse_int64(ps, &ev->has_lsn, &ev->lsn);
    if (name_is(name, name_len, "schema")) return arena_cstring(ps, &ev->source_schema);
    if (name_is(name, name_len, "table")) return arena_cstring(ps, &ev->source_table);
    if (name_is(name, name_len, "column_types")) {
        skip_ws(ps);
        event_arena_t *a = ps->arena;
        size_t left = (size_t)(ps->rd.end - ps->rd.p);
        if (a->types_raw && a->types_len <= left &&
            memcmp(ps->rd.p, a->types_raw, a->types_len) == 0) {
            /* Same bytes as the previous event's object: same columns and types. */
            ps->rd.p += a->types_len;
            st->column_types =
                (event_row_t){.present = true, .n = a->types_n, .cols = a->types_cols};
            return 0;
        }
        const uint8_t *start = ps->rd.p;
        if (parse_row(ps, &st->column_types, true) < 0) return -1;
        for (int i = 0; i < st->column_types.n; i++)
            if (st->column_types.cols[i].value.type != EVENT_JSON_STRING)
                return fail(ps, "source.column_types values must be strings");
        a->types_raw = start;
        a->types_len = (size_t)(ps->rd.p - start);
        a->types_cols = st->column_types.cols;
        a->types_n = st->column_types.n;
        return 0;
    }
    return skip_member(ps, arg, name, name_len);
}

static int value_member(parser_t *ps, void *arg, const char *name, int32_t name_len)
{
    value_state_t *st = arg;
    event_t *ev = st->ev;
    if (name_is(name, name_len, "before")) return parse_row(ps, &ev->before, false);
    if (name_is(name, name_len, "after")) return parse_row(ps, &ev->after, false);
    if (name_is(name, name_len, "source")) {
        skip_ws(ps);
        if (peek(ps) == 'n') return literal(ps, "null");
        return parse_object(ps, false, source_member, st);
    }
    if (name_is(name, name_len, "op")) {
        event_value_t v;
        if (parse_value(ps, 1, &v) < 0) return -1;
        if (v.type != EVENT_JSON_STRING || v.len != 1 || !strchr("cudrt", v.text[0]))
            return fail(ps, "op must be one of \"c\", \"u\", \"d\", \"r\", \"t\"");
        ev->op = (event_op_t)v.text[0];
        st->has_op = true;
        return 0;
    }
    if (name_is(name, name_len, "ts_ms")) {
        bool has = false;
        return parse_int64(ps, &has, &ev->ts_ms);
    }
    return skip_member(ps, arg, name, name_len);
}

static int parse_end(parser_t *ps)
{
    skip_ws(ps);
    if (ps->rd.p != ps->rd.end) return fail(ps, "trailing bytes after the JSON document");
    return 0;
}

/* Attaches the source's type names to the row's columns. Columns usually come in the same
 * order in both objects, so the same index is tried before a scan. */
static void attach_types(event_row_t *row, const event_row_t *types)
{
    for (int i = 0; i < row->n; i++) {
        const char *name = row->cols[i].name;
        if (i < types->n && strcmp(types->cols[i].name, name) == 0) {
            row->cols[i].pg_type = types->cols[i].value.text;
            continue;
        }
        const event_column_t *t = event_row_find(types, name);
        if (t) row->cols[i].pg_type = t->value.text;
    }
}

int event_parse(event_arena_t *arena, sb_slice_t key, sb_slice_t value, event_t *ev, sb_err_t *err)
{
    memset(ev, 0, sizeof(*ev));
    parser_t ps = {.arena = arena, .err = err};
    if (key.len >= 0) {
        ps.what = "key";
        sb_rd_init(&ps.rd, key.p, (size_t)key.len);
        skip_ws(&ps);
        if (peek(&ps) == 'n') {
            if (literal(&ps, "null") < 0 || parse_end(&ps) < 0) return SB_EINVAL;
        } else {
            if (peek(&ps) != '{') {
                fail(&ps, "the key must be an object of primary-key columns");
                return SB_EINVAL;
            }
            if (parse_row(&ps, &ev->key, false) < 0 || parse_end(&ps) < 0) return ps.code;
        }
    }
    if (value.len < 0) {
        if (!ev->key.present)
            return sb_err_set(err, SB_EINVAL, "a tombstone (null value) needs a key");
        ev->op = EVENT_OP_TOMBSTONE;
        return 0;
    }
    ps.what = "value";
    ps.failed = false;
    sb_rd_init(&ps.rd, value.p, (size_t)value.len);
    value_state_t st = {.ev = ev};
    if (parse_object(&ps, false, value_member, &st) < 0 || parse_end(&ps) < 0) return ps.code;
    if (!st.has_op) return sb_err_set(err, SB_EINVAL, "event has no \"op\"");
    switch (ev->op) {
    case EVENT_OP_CREATE:
    case EVENT_OP_READ:
    case EVENT_OP_UPDATE:
        if (!ev->after.present)
            return sb_err_set(err, SB_EINVAL, "op \"%c\" without \"after\"", ev->op);
        break;
    case EVENT_OP_DELETE:
        if (!ev->key.present && !ev->before.present)
            return sb_err_set(err, SB_EINVAL, "delete without a key or \"before\"");
        break;
    default:
        break;
    }
    if (st.column_types.n) {
        attach_types(&ev->after, &st.column_types);
        attach_types(&ev->before, &st.column_types);
        attach_types(&ev->key, &st.column_types);
    }
    return 0;
}

const event_column_t *event_row_find(const event_row_t *row, const char *name)
{
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->cols[i].name, name) == 0) return &row->cols[i];
    return NULL;
}

/* ---------------- outline ---------------- */

static int outline_value(parser_t *ps, int expand, int depth, event_outline_t *o);

/* The members of an object (the cursor is on '{'), each value outlined `expand` more levels. */
static int outline_object(parser_t *ps, int expand, int depth, event_outline_t *o)
{
    if (depth >= MAX_DEPTH) return fail(ps, "nesting too deep");
    ps->rd.p++;
    o->value.type = EVENT_JSON_OBJECT;
    o->expanded = true;
    int cap = 0;
    skip_ws(ps);
    if (peek(ps) == '}') {
        ps->rd.p++;
        return 0;
    }
    for (;;) {
        if (o->n == cap) {
            cap = cap ? cap * 2 : 8;
            event_member_t *m = event_arena_alloc(ps->arena, sizeof(*m) * (size_t)cap);
            if (!m) {
                sb_err_set(ps->err, SB_ENOMEM, "out of memory parsing %s", ps->what);
                ps->code = SB_ENOMEM;
                ps->failed = true;
                return -1;
            }
            if (o->n) memcpy(m, o->members, sizeof(*m) * (size_t)o->n);
            o->members = m;
        }
        event_member_t *m = &o->members[o->n];
        memset(m, 0, sizeof(*m));
        skip_ws(ps);
        m->name_raw = ps->rd.p;
        if (parse_string(ps, false, &m->name, &m->name_len) < 0) return -1;
        m->name_raw_len = (int32_t)(ps->rd.p - m->name_raw);
        if (expect(ps, ':') < 0 || outline_value(ps, expand - 1, depth + 1, &m->value) < 0) return -1;
        o->n++;
        int more = next_member(ps);
        if (more <= 0) return more;
    }
}

static int outline_value(parser_t *ps, int expand, int depth, event_outline_t *o)
{
    skip_ws(ps);
    memset(o, 0, sizeof(*o));
    o->raw = ps->rd.p;
    int rc = expand > 0 && peek(ps) == '{' ? outline_object(ps, expand, depth, o) : parse_value(ps, depth, &o->value);
    if (rc < 0) return -1;
    o->raw_len = (int32_t)(ps->rd.p - o->raw);
    if (o->expanded) {
        o->value.text = (const char *)o->raw;
        o->value.len = o->raw_len;
    }
    return 0;
}

int event_outline(event_arena_t *arena, const char *what, sb_slice_t bytes, int depth, event_outline_t *out,
                  sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (bytes.len < 0 || (bytes.len > 0 && !bytes.p))
        return sb_err_set(err, SB_EINVAL, "malformed %s JSON: no bytes", what);
    parser_t ps = {.arena = arena, .err = err, .what = what, .check_utf8 = true};
    sb_rd_init(&ps.rd, bytes.p, (size_t)bytes.len);
    if (outline_value(&ps, depth, 0, out) < 0 || parse_end(&ps) < 0) return ps.code ? ps.code : SB_EINVAL;
    return 0;
}
