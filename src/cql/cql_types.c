#include "cql/cql_types.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cql/cql_wire.h"

/* ---- type trees ---- */

const char *cql_type_name(cql_type_id_t id)
{
    switch (id) {
    case CQL_TYPE_CUSTOM: return "custom";
    case CQL_TYPE_ASCII: return "ascii";
    case CQL_TYPE_BIGINT: return "bigint";
    case CQL_TYPE_BLOB: return "blob";
    case CQL_TYPE_BOOLEAN: return "boolean";
    case CQL_TYPE_COUNTER: return "counter";
    case CQL_TYPE_DECIMAL: return "decimal";
    case CQL_TYPE_DOUBLE: return "double";
    case CQL_TYPE_FLOAT: return "float";
    case CQL_TYPE_INT: return "int";
    case CQL_TYPE_TIMESTAMP: return "timestamp";
    case CQL_TYPE_UUID: return "uuid";
    case CQL_TYPE_VARCHAR: return "text";
    case CQL_TYPE_VARINT: return "varint";
    case CQL_TYPE_TIMEUUID: return "timeuuid";
    case CQL_TYPE_INET: return "inet";
    case CQL_TYPE_DATE: return "date";
    case CQL_TYPE_TIME: return "time";
    case CQL_TYPE_SMALLINT: return "smallint";
    case CQL_TYPE_TINYINT: return "tinyint";
    case CQL_TYPE_DURATION: return "duration";
    case CQL_TYPE_LIST: return "list";
    case CQL_TYPE_MAP: return "map";
    case CQL_TYPE_SET: return "set";
    case CQL_TYPE_UDT: return "udt";
    case CQL_TYPE_TUPLE: return "tuple";
    }
    return "unknown";
}

void cql_type_free(cql_type_t *t)
{
    if (!t) return;
    for (int i = 0; i < t->nsub; i++) {
        if (t->sub) cql_type_free(t->sub[i]);
        if (t->field_names) free(t->field_names[i]);
    }
    free(t->sub);
    free(t->field_names);
    free(t->custom_class);
    free(t->keyspace);
    free(t->name);
    free(t);
}

static char *dup_slice(sb_slice_t s)
{
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    if (n) memcpy(out, s.p, n);
    out[n] = '\0';
    return out;
}

static bool known_native(uint16_t id)
{
    return (id >= CQL_TYPE_ASCII && id <= CQL_TYPE_DURATION && id != 0x000A);
}

int cql_type_decode(sb_rd_t *rd, int depth, cql_type_t **out, sb_err_t *err)
{
    *out = NULL;
    if (depth >= CQL_TYPE_MAX_DEPTH)
        return sb_err_set(err, SB_EINVAL, "CQL type nested deeper than %d levels", CQL_TYPE_MAX_DEPTH);
    uint16_t id = cql_rd_short(rd);
    if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "CQL type option truncated");
    cql_type_t *t = calloc(1, sizeof(*t));
    if (!t) return sb_err_set(err, SB_ENOMEM, "out of memory decoding a CQL type");
    t->id = (cql_type_id_t)id;
    const char *name = cql_type_name(t->id);
    int rc = 0;
    int nsub = 0;
    if (id == CQL_TYPE_CUSTOM) {
        t->custom_class = dup_slice(cql_rd_string(rd));
        if (!t->custom_class) rc = SB_ENOMEM;
        else if (strcmp(t->custom_class, CQL_DURATION_CLASS) == 0) t->id = CQL_TYPE_DURATION;
    } else if (known_native(id)) {
        /* no parameters */
    } else if (id == CQL_TYPE_LIST || id == CQL_TYPE_SET) {
        nsub = 1;
    } else if (id == CQL_TYPE_MAP) {
        nsub = 2;
    } else if (id == CQL_TYPE_UDT) {
        t->keyspace = dup_slice(cql_rd_string(rd));
        t->name = dup_slice(cql_rd_string(rd));
        nsub = cql_rd_short(rd);
        if (!t->keyspace || !t->name) rc = SB_ENOMEM;
        /* Each field needs at least a [string] and an [option]: 4 bytes. */
        else if ((size_t)nsub * 4 > sb_rd_remaining(rd)) sb_rd_fail(rd);
    } else if (id == CQL_TYPE_TUPLE) {
        nsub = cql_rd_short(rd);
        if ((size_t)nsub * 2 > sb_rd_remaining(rd)) sb_rd_fail(rd);
    } else {
        cql_type_free(t);
        return sb_err_set(err, SB_EINVAL, "unknown CQL type id 0x%04x", id);
    }
    if (rc == SB_ENOMEM) {
        cql_type_free(t);
        return sb_err_set(err, SB_ENOMEM, "out of memory decoding a CQL type");
    }
    if (!sb_rd_ok(rd)) {
        cql_type_free(t);
        return sb_err_set(err, SB_EINVAL, "CQL %s type option truncated", name);
    }
    if (nsub > 0) {
        t->sub = calloc((size_t)nsub, sizeof(*t->sub));
        if (t->id == CQL_TYPE_UDT) t->field_names = calloc((size_t)nsub, sizeof(char *));
        if (!t->sub || (t->id == CQL_TYPE_UDT && !t->field_names)) {
            cql_type_free(t);
            return sb_err_set(err, SB_ENOMEM, "out of memory decoding a CQL type");
        }
        t->nsub = nsub;
        for (int i = 0; i < nsub; i++) {
            if (t->field_names) {
                t->field_names[i] = dup_slice(cql_rd_string(rd));
                if (!t->field_names[i]) {
                    cql_type_free(t);
                    return sb_err_set(err, SB_ENOMEM, "out of memory decoding a CQL type");
                }
            }
            /* The nested decode says what was wrong. */
            if ((rc = cql_type_decode(rd, depth + 1, &t->sub[i], err)) != 0) {
                cql_type_free(t);
                return rc;
            }
        }
    }
    *out = t;
    return 0;
}

void cql_type_format(const cql_type_t *t, sb_wr_t *w)
{
    const char *name;
    switch (t->id) {
    case CQL_TYPE_CUSTOM:
        sb_wr_bytes(w, "'", 1);
        sb_wr_bytes(w, t->custom_class, strlen(t->custom_class));
        sb_wr_bytes(w, "'", 1);
        return;
    case CQL_TYPE_UDT:
        sb_wr_bytes(w, "frozen<", 7);
        sb_wr_bytes(w, t->name, strlen(t->name));
        sb_wr_bytes(w, ">", 1);
        return;
    case CQL_TYPE_LIST:
    case CQL_TYPE_SET:
    case CQL_TYPE_MAP:
    case CQL_TYPE_TUPLE:
        name = cql_type_name(t->id);
        sb_wr_bytes(w, name, strlen(name));
        sb_wr_bytes(w, "<", 1);
        for (int i = 0; i < t->nsub; i++) {
            if (i) sb_wr_bytes(w, ", ", 2);
            bool nested = t->sub[i]->nsub > 0 && t->sub[i]->id != CQL_TYPE_UDT;
            if (nested) sb_wr_bytes(w, "frozen<", 7);
            cql_type_format(t->sub[i], w);
            if (nested) sb_wr_bytes(w, ">", 1);
        }
        sb_wr_bytes(w, ">", 1);
        return;
    default:
        name = cql_type_name(t->id);
        sb_wr_bytes(w, name, strlen(name));
    }
}

/* ---- vints (Cassandra's VIntCoding) ---- */

uint64_t cql_rd_unsigned_vint(sb_rd_t *rd)
{
    const uint8_t *p = sb_rd_bytes(rd, 1);
    if (!p) return 0;
    uint8_t first = p[0];
    int extra = 0;
    while (extra < 8 && (first & (0x80 >> extra))) extra++;
    if (extra == 0) return first;
    uint64_t v = extra == 8 ? 0 : (uint64_t)(first & (0xFF >> (extra + 1)));
    const uint8_t *rest = sb_rd_bytes(rd, (size_t)extra);
    if (!rest) return 0;
    for (int i = 0; i < extra; i++) v = v << 8 | rest[i];
    return v;
}

int64_t cql_rd_signed_vint(sb_rd_t *rd)
{
    uint64_t u = cql_rd_unsigned_vint(rd);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* ---- scalars ---- */

static int bad_size(sb_err_t *err, const cql_type_t *t, int32_t len)
{
    return sb_err_set(err, SB_EINVAL, "CQL %s value has %d bytes", t ? cql_type_name(t->id) : "value",
                      len);
}

static int64_t be_int(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    /* Sign-extend an n-byte two's complement integer. */
    if (n < 8 && (p[0] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
    return (int64_t)v;
}

int cql_decode_int64(const cql_type_t *t, sb_slice_t raw, int64_t *out, sb_err_t *err)
{
    if (raw.len <= 0) return SB_ENOENT;
    int want;
    switch (t->id) {
    case CQL_TYPE_TINYINT: want = 1; break;
    case CQL_TYPE_SMALLINT: want = 2; break;
    case CQL_TYPE_INT: want = 4; break;
    case CQL_TYPE_DATE:
        if (raw.len != 4) return bad_size(err, t, raw.len);
        /* Unsigned days with the epoch at 2^31. */
        *out = (int64_t)((uint32_t)be_int(raw.p, 4)) - ((int64_t)1 << 31);
        return 0;
    case CQL_TYPE_BIGINT:
    case CQL_TYPE_COUNTER:
    case CQL_TYPE_TIMESTAMP:
    case CQL_TYPE_TIME: want = 8; break;
    default:
        return sb_err_set(err, SB_EINVAL, "CQL %s is not an integer type", cql_type_name(t->id));
    }
    if (raw.len != want) return bad_size(err, t, raw.len);
    *out = be_int(raw.p, want);
    return 0;
}

int cql_decode_double(const cql_type_t *t, sb_slice_t raw, double *out, sb_err_t *err)
{
    if (raw.len <= 0) return SB_ENOENT;
    if (t->id == CQL_TYPE_DOUBLE && raw.len == 8) {
        uint64_t u = (uint64_t)be_int(raw.p, 8);
        memcpy(out, &u, 8);
        return 0;
    }
    if (t->id == CQL_TYPE_FLOAT && raw.len == 4) {
        uint32_t u = (uint32_t)be_int(raw.p, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 0;
    }
    if (t->id != CQL_TYPE_DOUBLE && t->id != CQL_TYPE_FLOAT)
        return sb_err_set(err, SB_EINVAL, "CQL %s is not a floating-point type", cql_type_name(t->id));
    return bad_size(err, t, raw.len);
}

int cql_decode_bool(sb_slice_t raw, bool *out, sb_err_t *err)
{
    if (raw.len <= 0) return SB_ENOENT;
    if (raw.len != 1) return bad_size(err, NULL, raw.len);
    *out = raw.p[0] != 0;
    return 0;
}

int cql_decode_uuid(sb_slice_t raw, uint8_t out[16], sb_err_t *err)
{
    if (raw.len <= 0) return SB_ENOENT;
    if (raw.len != 16) return bad_size(err, NULL, raw.len);
    memcpy(out, raw.p, 16);
    return 0;
}

int cql_decode_duration(sb_slice_t raw, cql_duration_t *out, sb_err_t *err)
{
    if (raw.len <= 0) return SB_ENOENT;
    sb_rd_t rd;
    sb_rd_init(&rd, raw.p, (size_t)raw.len);
    int64_t months = cql_rd_signed_vint(&rd);
    int64_t days = cql_rd_signed_vint(&rd);
    int64_t nanos = cql_rd_signed_vint(&rd);
    if (!sb_rd_ok(&rd) || sb_rd_remaining(&rd) != 0 || months != (int32_t)months || days != (int32_t)days)
        return sb_err_set(err, SB_EINVAL, "CQL duration value is malformed (%d bytes)", raw.len);
    out->months = (int32_t)months;
    out->days = (int32_t)days;
    out->nanoseconds = nanos;
    return 0;
}

/* ---- text forms ---- */

static void wr_str(sb_wr_t *w, const char *s)
{
    sb_wr_bytes(w, s, strlen(s));
}

static void wr_fmt(sb_wr_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wr_fmt(sb_wr_t *w, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) sb_wr_bytes(w, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void format_uuid(const uint8_t *u, sb_wr_t *w)
{
    static const char hex[] = "0123456789abcdef";
    char s[36];
    int j = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s[j++] = '-';
        s[j++] = hex[u[i] >> 4];
        s[j++] = hex[u[i] & 15];
    }
    sb_wr_bytes(w, s, 36);
}

/* Appends the base-10 digits of the magnitude of a two's complement big-endian integer and
 * reports its sign. Repeated division of the base-256 magnitude by 10^9. */
static int varint_digits(const uint8_t *p, size_t n, sb_wr_t *digits, bool *negative, sb_err_t *err)
{
    if (n > CQL_VARINT_MAX_TEXT_BYTES)
        return sb_err_set(err, SB_ELIMIT, "CQL varint of %zu bytes is longer than %d", n,
                          CQL_VARINT_MAX_TEXT_BYTES);
    *negative = n > 0 && (p[0] & 0x80);
    uint8_t *mag = malloc(n ? n : 1);
    uint32_t *chunks = malloc(sizeof(uint32_t) * (n / 4 + 2) * 3);
    if (!mag || !chunks) {
        free(mag);
        free(chunks);
        return sb_err_set(err, SB_ENOMEM, "out of memory formatting a varint");
    }
    memcpy(mag, p, n);
    if (*negative) {
        /* Two's complement negation: invert and add one. */
        for (size_t i = 0; i < n; i++) mag[i] = (uint8_t)~mag[i];
        for (size_t i = n; i-- > 0;)
            if (++mag[i] != 0) break;
    }
    size_t nchunks = 0, start = 0;
    while (start < n && mag[start] == 0) start++;
    while (start < n) {
        uint64_t rem = 0;
        for (size_t i = start; i < n; i++) {
            uint64_t cur = rem << 8 | mag[i];
            mag[i] = (uint8_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        chunks[nchunks++] = (uint32_t)rem;
        while (start < n && mag[start] == 0) start++;
    }
    if (nchunks == 0) {
        sb_wr_bytes(digits, "0", 1);
    } else {
        wr_fmt(digits, "%" PRIu32, chunks[nchunks - 1]);
        for (size_t i = nchunks - 1; i-- > 0;) wr_fmt(digits, "%09" PRIu32, chunks[i]);
    }
    free(mag);
    free(chunks);
    return 0;
}

static int format_varint(const uint8_t *p, size_t n, sb_wr_t *w, sb_err_t *err)
{
    sb_wr_t d;
    bool neg;
    sb_wr_init(&d, 32);
    int rc = varint_digits(p, n, &d, &neg, err);
    if (rc == 0) {
        if (neg) sb_wr_bytes(w, "-", 1);
        sb_wr_bytes(w, d.buf, d.len);
    }
    sb_wr_deinit(&d);
    return rc;
}

/* <unscaled> * 10^-scale, printed as Java's BigDecimal.toString() and Python's str(Decimal):
 * plain notation when the exponent is <= 0 and the adjusted exponent >= -6, otherwise
 * scientific ("1.23E+5"). */
static int format_decimal(sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    if (raw.len < 5) return sb_err_set(err, SB_EINVAL, "CQL decimal value has %d bytes", raw.len);
    int64_t scale = be_int(raw.p, 4);
    sb_wr_t d;
    bool neg;
    sb_wr_init(&d, 32);
    int rc = varint_digits(raw.p + 4, (size_t)raw.len - 4, &d, &neg, err);
    if (rc != 0) {
        sb_wr_deinit(&d);
        return rc;
    }
    int64_t ndigits = (int64_t)d.len;
    int64_t exponent = -scale;
    int64_t adjusted = exponent + ndigits - 1;
    if (neg) sb_wr_bytes(w, "-", 1);
    if (exponent <= 0 && adjusted >= -6) {
        if (scale == 0) {
            sb_wr_bytes(w, d.buf, d.len);
        } else if (ndigits > scale) {
            sb_wr_bytes(w, d.buf, (size_t)(ndigits - scale));
            sb_wr_bytes(w, ".", 1);
            sb_wr_bytes(w, d.buf + (ndigits - scale), (size_t)scale);
        } else {
            sb_wr_bytes(w, "0.", 2);
            for (int64_t i = 0; i < scale - ndigits; i++) sb_wr_bytes(w, "0", 1);
            sb_wr_bytes(w, d.buf, d.len);
        }
    } else {
        sb_wr_bytes(w, d.buf, 1);
        if (ndigits > 1) {
            sb_wr_bytes(w, ".", 1);
            sb_wr_bytes(w, d.buf + 1, d.len - 1);
        }
        wr_fmt(w, "E%s%" PRId64, adjusted >= 0 ? "+" : "", adjusted);
    }
    sb_wr_deinit(&d);
    return 0;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). */
static void format_date(int64_t days, sb_wr_t *w)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    if (y < 0) wr_fmt(w, "-%04" PRId64 "-%02" PRId64 "-%02" PRId64, -y, m, d);
    else wr_fmt(w, "%04" PRId64 "-%02" PRId64 "-%02" PRId64, y, m, d);
}

static void format_time(int64_t ns, sb_wr_t *w)
{
    int64_t s = ns / 1000000000;
    wr_fmt(w, "%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%09" PRId64, s / 3600, s / 60 % 60, s % 60,
           ns % 1000000000);
}

int cql_decode_text_form(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    if (raw.len < 0) return SB_ENOENT;
    int64_t v;
    int rc;
    switch (t->id) {
    case CQL_TYPE_UUID:
    case CQL_TYPE_TIMEUUID:
        if (raw.len != 16) return bad_size(err, t, raw.len);
        format_uuid(raw.p, w);
        return 0;
    case CQL_TYPE_INET: {
        char buf[INET6_ADDRSTRLEN];
        int af = raw.len == 4 ? AF_INET : raw.len == 16 ? AF_INET6 : 0;
        if (!af || !inet_ntop(af, raw.p, buf, sizeof(buf))) return bad_size(err, t, raw.len);
        wr_str(w, buf);
        return 0;
    }
    case CQL_TYPE_VARINT:
        if (raw.len == 0) return SB_ENOENT;
        return format_varint(raw.p, (size_t)raw.len, w, err);
    case CQL_TYPE_DECIMAL:
        if (raw.len == 0) return SB_ENOENT;
        return format_decimal(raw, w, err);
    case CQL_TYPE_DATE:
        if ((rc = cql_decode_int64(t, raw, &v, err)) != 0) return rc;
        format_date(v, w);
        return 0;
    case CQL_TYPE_TIME:
        if ((rc = cql_decode_int64(t, raw, &v, err)) != 0) return rc;
        if (v < 0 || v > 86399999999999LL)
            return sb_err_set(err, SB_EINVAL, "CQL time value %" PRId64 " ns is outside one day", v);
        format_time(v, w);
        return 0;
    default:
        return sb_err_set(err, SB_EINVAL, "CQL %s has no text form", cql_type_name(t->id));
    }
}

/* ---- iteration ---- */

int cql_iter_init(cql_iter_t *it, const cql_type_t *t, sb_slice_t raw, sb_err_t *err)
{
    memset(it, 0, sizeof(*it));
    it->type = t;
    if (raw.len < 0) return SB_ENOENT;
    sb_rd_init(&it->rd, raw.p, (size_t)raw.len);
    switch (t->id) {
    case CQL_TYPE_LIST:
    case CQL_TYPE_SET:
    case CQL_TYPE_MAP: {
        if (raw.len == 0) return 0; /* an empty collection may come as an empty value */
        int32_t n = sb_rd_i32(&it->rd);
        int per = t->id == CQL_TYPE_MAP ? 2 : 1;
        /* Each element is at least a 4-byte length: refuse counts the bytes cannot hold. */
        if (!sb_rd_ok(&it->rd) || n < 0 || (uint64_t)n * 4 * (uint64_t)per > sb_rd_remaining(&it->rd))
            return sb_err_set(err, SB_EINVAL, "CQL %s value has a bad element count", cql_type_name(t->id));
        it->count = n * per;
        return 0;
    }
    case CQL_TYPE_TUPLE:
    case CQL_TYPE_UDT:
        it->count = t->nsub;
        return 0;
    default:
        return sb_err_set(err, SB_EINVAL, "CQL %s is not a collection", cql_type_name(t->id));
    }
}

int cql_iter_next(cql_iter_t *it, const cql_type_t **elem_type, sb_slice_t *elem, sb_err_t *err)
{
    if (it->pos >= it->count) return 0;
    const cql_type_t *t = it->type;
    const cql_type_t *et;
    switch (t->id) {
    case CQL_TYPE_MAP: et = t->sub[it->pos & 1]; break;
    case CQL_TYPE_LIST:
    case CQL_TYPE_SET: et = t->sub[0]; break;
    default: et = t->sub[it->pos]; break;
    }
    it->pos++;
    *elem_type = et;
    if ((t->id == CQL_TYPE_UDT || t->id == CQL_TYPE_TUPLE) && sb_rd_remaining(&it->rd) == 0 &&
        sb_rd_ok(&it->rd)) {
        *elem = (sb_slice_t){NULL, -1};
        return 1;
    }
    *elem = cql_rd_bytes(&it->rd);
    if (!sb_rd_ok(&it->rd))
        return sb_err_set(err, SB_EINVAL, "CQL %s value truncated", cql_type_name(t->id));
    return 1;
}

/* ---- JSON ---- */

void cql_json_string(sb_wr_t *w, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_wr_bytes(w, "\"", 1);
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                char e[2] = {'\\', (char)c};
                sb_wr_bytes(w, e, 2);
            } else if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sb_wr_bytes(w, e, 6);
            } else {
                sb_wr_bytes(w, &c, 1);
            }
            i++;
            continue;
        }
        /* Validate one UTF-8 sequence: length from the lead byte, continuation bytes, no
         * overlong forms, no surrogates, nothing above U+10FFFF. */
        int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
        if (c > 0xF4) len = 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        uint32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (int k = 1; ok && k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) ok = false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (ok && len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
        if (ok && len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ok = false;
        if (ok) {
            sb_wr_bytes(w, s + i, (size_t)len);
            i += (size_t)len;
        } else {
            sb_wr_bytes(w, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    sb_wr_bytes(w, "\"", 1);
}

static void json_base64(sb_wr_t *w, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    sb_wr_bytes(w, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char out[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63], i + 1 < n ? tbl[v >> 6 & 63] : '=',
                       i + 2 < n ? tbl[v & 63] : '='};
        sb_wr_bytes(w, out, 4);
    }
    sb_wr_bytes(w, "\"", 1);
}

static void json_double(sb_wr_t *w, double d, bool is_float)
{
    if (isnan(d)) wr_str(w, "\"NaN\"");
    else if (isinf(d)) wr_str(w, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else wr_fmt(w, is_float ? "%.9g" : "%.17g", d);
}

static int json_text_form(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    sb_wr_t tmp;
    sb_wr_init(&tmp, 64);
    int rc = cql_decode_text_form(t, raw, &tmp, err);
    if (rc == 0) cql_json_string(w, tmp.buf, tmp.len);
    sb_wr_deinit(&tmp);
    return rc;
}

static int json_value(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err);

/* Map keys become JSON object member names: a key whose JSON form is a string is used as is,
 * any other form (number, array, object) is turned into a string, as Cassandra's SELECT JSON
 * does. */
static int json_map_key(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    sb_wr_t tmp;
    sb_wr_init(&tmp, 64);
    int rc = json_value(t, raw, &tmp, err);
    if (rc == 0) {
        if (tmp.len > 0 && tmp.buf[0] == '"') sb_wr_bytes(w, tmp.buf, tmp.len);
        else cql_json_string(w, tmp.buf, tmp.len);
    }
    sb_wr_deinit(&tmp);
    return rc;
}

static int json_collection(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    cql_iter_t it;
    int rc = cql_iter_init(&it, t, raw, err);
    if (rc != 0) return rc;
    bool object = t->id == CQL_TYPE_MAP || t->id == CQL_TYPE_UDT;
    sb_wr_bytes(w, object ? "{" : "[", 1);
    const cql_type_t *et;
    sb_slice_t e;
    int i = 0;
    while ((rc = cql_iter_next(&it, &et, &e, err)) == 1) {
        if (t->id == CQL_TYPE_MAP) {
            if (i % 2 == 0) {
                if (i) sb_wr_bytes(w, ",", 1);
                if (e.len < 0) return sb_err_set(err, SB_EINVAL, "CQL map has a null key");
                rc = json_map_key(et, e, w, err);
                sb_wr_bytes(w, ":", 1);
            } else {
                rc = json_value(et, e, w, err);
            }
        } else {
            if (i) sb_wr_bytes(w, ",", 1);
            if (t->id == CQL_TYPE_UDT) {
                const char *name = t->field_names[i];
                cql_json_string(w, (const uint8_t *)name, strlen(name));
                sb_wr_bytes(w, ":", 1);
            }
            rc = json_value(et, e, w, err);
        }
        if (rc != 0) return rc;
        i++;
    }
    if (rc < 0) return rc;
    sb_wr_bytes(w, object ? "}" : "]", 1);
    return 0;
}

static int json_value(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    if (raw.len < 0) {
        wr_str(w, "null");
        return 0;
    }
    int64_t v;
    double d;
    int rc;
    switch (t->id) {
    case CQL_TYPE_ASCII:
    case CQL_TYPE_VARCHAR:
        cql_json_string(w, raw.p, (size_t)raw.len);
        return 0;
    case CQL_TYPE_BLOB:
    case CQL_TYPE_CUSTOM:
        json_base64(w, raw.p, (size_t)raw.len);
        return 0;
    default: break;
    }
    /* Other types have no meaningful empty value ("empty" is legacy, spec section 6). */
    if (raw.len == 0 && t->id != CQL_TYPE_LIST && t->id != CQL_TYPE_SET && t->id != CQL_TYPE_MAP &&
        t->id != CQL_TYPE_TUPLE && t->id != CQL_TYPE_UDT) {
        wr_str(w, "null");
        return 0;
    }
    switch (t->id) {
    case CQL_TYPE_TINYINT:
    case CQL_TYPE_SMALLINT:
    case CQL_TYPE_INT:
    case CQL_TYPE_BIGINT:
    case CQL_TYPE_COUNTER:
    case CQL_TYPE_TIMESTAMP:
        if ((rc = cql_decode_int64(t, raw, &v, err)) != 0) return rc;
        wr_fmt(w, "%" PRId64, v);
        return 0;
    case CQL_TYPE_FLOAT:
    case CQL_TYPE_DOUBLE:
        if ((rc = cql_decode_double(t, raw, &d, err)) != 0) return rc;
        json_double(w, d, t->id == CQL_TYPE_FLOAT);
        return 0;
    case CQL_TYPE_BOOLEAN: {
        bool b = false;
        if ((rc = cql_decode_bool(raw, &b, err)) != 0) return rc;
        wr_str(w, b ? "true" : "false");
        return 0;
    }
    case CQL_TYPE_VARINT:
        /* JSON numbers have no size limit; the digits are exact. */
        return format_varint(raw.p, (size_t)raw.len, w, err);
    case CQL_TYPE_DECIMAL:
    case CQL_TYPE_UUID:
    case CQL_TYPE_TIMEUUID:
    case CQL_TYPE_INET:
    case CQL_TYPE_DATE:
    case CQL_TYPE_TIME:
        return json_text_form(t, raw, w, err);
    case CQL_TYPE_DURATION: {
        cql_duration_t du;
        if ((rc = cql_decode_duration(raw, &du, err)) != 0) return rc;
        wr_fmt(w, "{\"months\":%" PRId32 ",\"days\":%" PRId32 ",\"nanoseconds\":%" PRId64 "}", du.months,
               du.days, du.nanoseconds);
        return 0;
    }
    case CQL_TYPE_LIST:
    case CQL_TYPE_SET:
    case CQL_TYPE_MAP:
    case CQL_TYPE_TUPLE:
    case CQL_TYPE_UDT:
        return json_collection(t, raw, w, err);
    default:
        return sb_err_set(err, SB_EINVAL, "CQL type 0x%04x cannot be rendered", t->id);
    }
}

int cql_value_to_json(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    size_t mark = w->len;
    int rc = json_value(t, raw, w, err);
    if (rc != 0) sb_wr_truncate(w, mark); /* no half-written value on failure */
    return rc;
}
