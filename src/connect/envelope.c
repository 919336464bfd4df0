/* Debezium-compatible event encoding; see envelope.h. */
#include "connect/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "version.h"

struct envelope_table {
    int ncols;
    envelope_column_t *cols; /* names and type names point into `strings` */
    char **field_prefix;     /* per column: "\"name\":" ready to copy */
    size_t *field_prefix_len;
    char *source_tail; /* ,"db":..,"schema":..,"table":.. */
    size_t source_tail_len;
    char *column_types; /* ,"column_types":{...}} closing the source object */
    size_t column_types_len;
    bool has_key;
};

#define LIT(w, s) sb_wr_bytes((w), (s), sizeof(s) - 1)

static const char hexdigits[] = "0123456789abcdef";

void envelope_write_json_string(sb_wr_t *w, const char *s, size_t len)
{
    LIT(w, "\"");
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_wr_bytes(w, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hexdigits[c >> 4];
            esc[5] = hexdigits[c & 15];
            n = 6;
        }
        sb_wr_bytes(w, esc, n);
    }
    sb_wr_bytes(w, s + run, len - run);
    LIT(w, "\"");
}

static void write_i64(sb_wr_t *w, int64_t v)
{
    char buf[24];
    char *e = buf + sizeof(buf), *q = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--q = '-';
    sb_wr_bytes(w, q, (size_t)(e - q));
}

/* Checks s against JSON's number grammar; counts significant digits and whether it is an
 * integer. PostgreSQL prints finite numbers in this grammar already; this guards the rest
 * (NaN, Infinity, anything unexpected) so the event is always valid JSON. */
static bool json_number_shape(const char *s, int32_t len, int *sig_digits, bool *is_integer)
{
    int32_t i = 0;
    int sig = 0;
    bool leading = true, integer = true;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return false;
    if (s[i] == '0') {
        i++;
        if (i < len && s[i] >= '0' && s[i] <= '9') return false;
    } else if (s[i] >= '1' && s[i] <= '9') {
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            leading = false;
            sig++;
        }
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        integer = false;
        i++;
        int frac = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac++) {
            if (s[i] != '0') leading = false;
            if (!leading) sig++;
        }
        if (!frac) return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integer = false;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        int exp = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) exp++;
        if (!exp) return false;
    }
    *sig_digits = sig;
    *is_integer = integer;
    return i == len;
}

/* True when an integer literal's magnitude is at most 2^53, the range a double holds exactly. */
static bool integer_fits_double(const char *s, int32_t len)
{
    if (len > 0 && s[0] == '-') {
        s++;
        len--;
    }
    static const char max[] = "9007199254740992";
    int32_t maxlen = (int32_t)sizeof(max) - 1;
    if (len != maxlen) return len < maxlen;
    return memcmp(s, max, (size_t)maxlen) <= 0;
}

void envelope_write_json_value(sb_wr_t *w, envelope_kind_t kind, envelope_value_t v)
{
    if (v.len < 0) {
        LIT(w, "null");
        return;
    }
    int sig = 0;
    bool integer = false;
    switch (kind) {
    case ENVELOPE_KIND_BOOL:
        if (v.len == 1 && v.p[0] == 't') {
            LIT(w, "true");
            return;
        }
        if (v.len == 1 && v.p[0] == 'f') {
            LIT(w, "false");
            return;
        }
        break;
    case ENVELOPE_KIND_INTEGER:
        if (json_number_shape(v.p, v.len, &sig, &integer) && integer && integer_fits_double(v.p, v.len)) {
            sb_wr_bytes(w, v.p, (size_t)v.len);
            return;
        }
        break;
    case ENVELOPE_KIND_FLOAT:
        if (json_number_shape(v.p, v.len, &sig, &integer)) {
            sb_wr_bytes(w, v.p, (size_t)v.len);
            return;
        }
        break;
    case ENVELOPE_KIND_NUMERIC:
        if (json_number_shape(v.p, v.len, &sig, &integer) && sig <= 15) {
            sb_wr_bytes(w, v.p, (size_t)v.len);
            return;
        }
        break;
    case ENVELOPE_KIND_STRING:
        break;
    }
    envelope_write_json_string(w, v.p, (size_t)v.len);
}

/* Renders into a malloc'ed string through a scratch writer. */
static char *take_string(sb_wr_t *w, size_t *len)
{
    char *s = malloc(w->len + 1);
    if (!s || w->oom) {
        free(s);
        return NULL;
    }
    memcpy(s, w->buf, w->len);
    s[w->len] = 0;
    *len = w->len;
    sb_wr_reset(w);
    return s;
}

static void write_cstr(sb_wr_t *w, const char *s)
{
    envelope_write_json_string(w, s ? s : "", s ? strlen(s) : 0);
}

envelope_table_t *envelope_table_new(const char *db, const char *schema, const char *table,
                                     const envelope_column_t *cols, int ncols)
{
    envelope_table_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->ncols = ncols;
    t->cols = calloc((size_t)(ncols ? ncols : 1), sizeof(*t->cols));
    t->field_prefix = calloc((size_t)(ncols ? ncols : 1), sizeof(char *));
    t->field_prefix_len = calloc((size_t)(ncols ? ncols : 1), sizeof(size_t));
    if (!t->cols || !t->field_prefix || !t->field_prefix_len) goto fail;
    sb_wr_t w;
    sb_wr_init(&w, 256);
    for (int i = 0; i < ncols; i++) {
        t->cols[i] = cols[i];
        t->cols[i].name = strdup(cols[i].name ? cols[i].name : "");
        t->cols[i].type_name = strdup(cols[i].type_name ? cols[i].type_name : "text");
        if (!t->cols[i].name || !t->cols[i].type_name) goto fail_w;
        if (cols[i].key) t->has_key = true;
        if (i) LIT(&w, ",");
        write_cstr(&w, cols[i].name);
        LIT(&w, ":");
        t->field_prefix[i] = take_string(&w, &t->field_prefix_len[i]);
        if (!t->field_prefix[i]) goto fail_w;
    }
    LIT(&w, ",\"db\":");
    write_cstr(&w, db);
    LIT(&w, ",\"schema\":");
    write_cstr(&w, schema);
    LIT(&w, ",\"table\":");
    write_cstr(&w, table);
    t->source_tail = take_string(&w, &t->source_tail_len);
    if (!t->source_tail) goto fail_w;
    LIT(&w, ",\"column_types\":{");
    for (int i = 0; i < ncols; i++) {
        if (i) LIT(&w, ",");
        write_cstr(&w, t->cols[i].name);
        LIT(&w, ":");
        write_cstr(&w, t->cols[i].type_name);
    }
    LIT(&w, "}}");
    t->column_types = take_string(&w, &t->column_types_len);
    if (!t->column_types) goto fail_w;
    sb_wr_deinit(&w);
    return t;
fail_w:
    sb_wr_deinit(&w);
fail:
    envelope_table_free(t);
    return NULL;
}

void envelope_table_free(envelope_table_t *t)
{
    if (!t) return;
    for (int i = 0; i < t->ncols; i++) {
        if (t->cols) {
            free((char *)t->cols[i].name);
            free((char *)t->cols[i].type_name);
        }
        if (t->field_prefix) free(t->field_prefix[i]);
    }
    free(t->cols);
    free(t->field_prefix);
    free(t->field_prefix_len);
    free(t->source_tail);
    free(t->column_types);
    free(t);
}

int envelope_table_ncols(const envelope_table_t *t)
{
    return t->ncols;
}

bool envelope_table_has_key(const envelope_table_t *t)
{
    return t->has_key;
}

const envelope_column_t *envelope_table_column(const envelope_table_t *t, int i)
{
    return &t->cols[i];
}

/* Writes "{...}" of the selected columns. The per-column prefixes start with a comma except
 * the first column's, so the first written field needs its comma stripped. */
static void write_row(sb_wr_t *w, const envelope_table_t *t, const envelope_value_t *row, bool keys_only)
{
    LIT(w, "{");
    bool first = true;
    for (int i = 0; i < t->ncols; i++) {
        if (keys_only && !t->cols[i].key) continue;
        if (row[i].len == ENVELOPE_ABSENT) continue;
        const char *pre = t->field_prefix[i];
        size_t plen = t->field_prefix_len[i];
        if (i > 0 && first) {
            pre++;
            plen--;
        }
        sb_wr_bytes(w, pre, plen);
        envelope_write_json_value(w, t->cols[i].kind, row[i]);
        first = false;
    }
    LIT(w, "}");
}

int envelope_write_key(sb_wr_t *w, const envelope_table_t *t, const envelope_value_t *row)
{
    if (!t->has_key) return SB_ENOENT;
    write_row(w, t, row, true);
    return w->oom ? SB_ENOMEM : 0;
}

int envelope_write_value(sb_wr_t *w, const envelope_table_t *t, char op, const envelope_value_t *before,
                         const envelope_value_t *after, const envelope_source_t *src, int64_t ts_ms)
{
    LIT(w, "{\"before\":");
    if (before) write_row(w, t, before, false);
    else LIT(w, "null");
    LIT(w, ",\"after\":");
    if (after) write_row(w, t, after, false);
    else LIT(w, "null");
    LIT(w, ",\"source\":{\"version\":\"" STREAMBUS_VERSION "\",\"connector\":");
    write_cstr(w, src->connector);
    LIT(w, ",\"name\":");
    write_cstr(w, src->name);
    LIT(w, ",\"ts_ms\":");
    write_i64(w, src->ts_ms);
    sb_wr_bytes(w, t->source_tail, t->source_tail_len);
    LIT(w, ",\"lsn\":");
    if (src->lsn >= 0) write_i64(w, src->lsn);
    else LIT(w, "null");
    LIT(w, ",\"txId\":");
    if (src->txid >= 0) write_i64(w, src->txid);
    else LIT(w, "null");
    LIT(w, ",\"snapshot\":");
    write_cstr(w, src->snapshot ? src->snapshot : "false");
    if (src->extra) sb_wr_bytes(w, src->extra, src->extra_len);
    sb_wr_bytes(w, t->column_types, t->column_types_len);
    char opfield[] = ",\"op\":\"c\",\"ts_ms\":";
    opfield[7] = op;
    sb_wr_bytes(w, opfield, sizeof(opfield) - 1);
    write_i64(w, ts_ms);
    LIT(w, "}");
    return w->oom ? SB_ENOMEM : 0;
}

envelope_kind_t envelope_kind_for_pg_type(uint32_t oid)
{
    switch (oid) {
    case 16: return ENVELOPE_KIND_BOOL;
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */
        return ENVELOPE_KIND_INTEGER;
    case 700:
    case 701: return ENVELOPE_KIND_FLOAT;
    case 1700: return ENVELOPE_KIND_NUMERIC;
    default: return ENVELOPE_KIND_STRING;
    }
}

bool envelope_pg_type_name(uint32_t oid, int32_t typmod, char *buf, size_t cap)
{
    const char *name = NULL;
    switch (oid) {
    case 16: name = "boolean"; break;
    case 17: name = "bytea"; break;
    case 19: name = "name"; break;
    case 20: name = "bigint"; break;
    case 21: name = "smallint"; break;
    case 23: name = "integer"; break;
    case 25: name = "text"; break;
    case 26: name = "oid"; break;
    case 114: name = "json"; break;
    case 142: name = "xml"; break;
    case 650: name = "cidr"; break;
    case 700: name = "real"; break;
    case 701: name = "double precision"; break;
    case 790: name = "money"; break;
    case 829: name = "macaddr"; break;
    case 869: name = "inet"; break;
    case 1082: name = "date"; break;
    case 1186: name = "interval"; break;
    case 2950: name = "uuid"; break;
    case 3802: name = "jsonb"; break;
    case 1042:
        if (typmod >= 4) snprintf(buf, cap, "character(%d)", typmod - 4);
        else snprintf(buf, cap, "bpchar");
        return true;
    case 1043:
        if (typmod >= 4) snprintf(buf, cap, "character varying(%d)", typmod - 4);
        else snprintf(buf, cap, "character varying");
        return true;
    case 1700:
        if (typmod >= 4) snprintf(buf, cap, "numeric(%d,%d)", ((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff);
        else snprintf(buf, cap, "numeric");
        return true;
    case 1083:
    case 1114:
    case 1184:
    case 1266: {
        const char *base = oid == 1083 ? "time" : oid == 1266 ? "time" : "timestamp";
        const char *tz = (oid == 1184 || oid == 1266) ? "with time zone" : "without time zone";
        if (typmod >= 0) snprintf(buf, cap, "%s(%d) %s", base, typmod, tz);
        else snprintf(buf, cap, "%s %s", base, tz);
        return true;
    }
    default: return false;
    }
    snprintf(buf, cap, "%s", name);
    return true;
}
