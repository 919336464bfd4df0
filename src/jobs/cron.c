/* Cron expressions and TZif time zones; see cron.h. */
#include "jobs/cron.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"

/* ---- expressions */

typedef struct cron_field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names for lo..lo+n-1, or NULL */
} cron_field_def_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const cron_field_def_t fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    /* 7 is accepted as Sunday and folded onto 0 after parsing. */
    {"day-of-week", 0, 7, dow_names},
};

/* Reads a number or a name at *p; advances *p. */
static int read_value(const cron_field_def_t *f, const char **p, int *out, sb_err_t *err)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (isdigit((unsigned char)*s) || v < f->lo || v > f->hi)
            return sb_err_set(err, SB_EINVAL, "%s: %.*s is out of range %d-%d", f->name,
                              (int)(s - *p), *p, f->lo, f->hi);
        *out = (int)v;
        *p = s;
        return 0;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *out = f->names == month_names ? i + 1 : i;
            *p = s + 3;
            return 0;
        }
    return sb_err_set(err, SB_EINVAL, "%s: expected a number%s at \"%.16s\"", f->name,
                      f->names ? " or a name" : "", s);
}

/* One field ("1-5/2,10") into a bit set; *any says it was "*" with step 1. */
static int parse_field(const cron_field_def_t *f, const char *s, size_t len, uint64_t *bits,
                       bool *any, sb_err_t *err)
{
    char buf[128];
    if (len == 0 || len >= sizeof(buf))
        return sb_err_set(err, SB_EINVAL, "%s: empty or too long", f->name);
    memcpy(buf, s, len);
    buf[len] = 0;
    *bits = 0;
    *any = false;
    const char *p = buf;
    for (;;) {
        int lo, hi, step = 1;
        bool star = false;
        if (*p == '*') {
            star = true;
            lo = f->lo;
            hi = f->hi == 7 ? 6 : f->hi;
            p++;
        } else {
            if (read_value(f, &p, &lo, err) < 0) return SB_EINVAL;
            hi = lo;
            if (*p == '-') {
                p++;
                if (read_value(f, &p, &hi, err) < 0) return SB_EINVAL;
                if (hi < lo)
                    return sb_err_set(err, SB_EINVAL, "%s: range %d-%d runs backwards", f->name, lo,
                                      hi);
            }
        }
        if (*p == '/') {
            p++;
            long v = 0;
            const char *d = p;
            while (isdigit((unsigned char)*p) && v < 1000)
                v = v * 10 + (*p++ - '0');
            if (p == d || v < 1 || v > f->hi)
                return sb_err_set(err, SB_EINVAL, "%s: step must be a number from 1 to %d", f->name,
                                  f->hi);
            step = (int)v;
            /* "a/n" means a, a+n, ... up to the end of the range. */
            if (!star && hi == lo) hi = f->hi;
        }
        if (star && step == 1) *any = true;
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << v;
        if (*p == 0) break;
        if (*p != ',') return sb_err_set(err, SB_EINVAL, "%s: unexpected \"%c\"", f->name, *p);
        p++;
    }
    return 0;
}

int cron_parse(const char *spec, cron_expr_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!spec) return sb_err_set(err, SB_EINVAL, "cron: expected 5 fields");
    const char *p = spec;
    uint64_t bits[5];
    bool any[5];
    int n = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n == 5) return sb_err_set(err, SB_EINVAL, "cron: more than 5 fields");
        if (parse_field(&fields[n], start, (size_t)(p - start), &bits[n], &any[n], err) < 0)
            return SB_EINVAL;
        n++;
    }
    if (n != 5)
        return sb_err_set(
            err, SB_EINVAL,
            "cron: expected 5 fields (minute hour day-of-month month day-of-week), got %d", n);
    if (bits[4] & (1ull << 7)) bits[4] = (bits[4] | 1) & 0x7f;
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)bits[4];
    out->dom_any = any[2];
    out->dow_any = any[4];
    return 0;
}

/* ---- civil dates (proleptic Gregorian, days since 1970-01-01) */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int days_in_month(int64_t y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : n[m - 1];
}

/* ---- time zones */

typedef struct posix_rule {
    int month, week, wday; /* Mm.w.d */
    int32_t time;          /* seconds after local midnight */
} posix_rule_t;

struct cron_tz {
    int64_t *trans; /* transition instants, ascending */
    uint8_t *idx;   /* type index per transition */
    int32_t *utoff; /* per type */
    uint8_t *isdst;
    uint32_t ntrans, ntypes;
    /* Footer rule for instants after the last transition. */
    bool has_rule, rule_dst;
    int32_t std_off, dst_off;
    posix_rule_t start, end;
};

void cron_tz_free(cron_tz_t *tz)
{
    if (!tz) return;
    free(tz->trans);
    free(tz->idx);
    free(tz->utoff);
    free(tz->isdst);
    free(tz);
}

/* POSIX TZ string pieces. Each returns the advanced pointer or NULL. */
static const char *tz_name(const char *p)
{
    const char *s = p;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p == '>' && p - s > 1 ? p + 1 : NULL;
    }
    while (isalpha((unsigned char)*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] → seconds (hours up to 167 as RFC 8536 allows). */
static const char *tz_hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*p != ':') break;
            p++;
        }
        if (!isdigit((unsigned char)*p)) return NULL;
        int x = 0, digits = 0;
        while (isdigit((unsigned char)*p) && digits < 3)
            x = x * 10 + (*p++ - '0'), digits++;
        if (x > (i == 0 ? 167 : 59)) return NULL;
        v[i] = x;
    }
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return p;
}

static const char *tz_rule(const char *p, posix_rule_t *r)
{
    /* Only the Mm.w.d form: it is what every zone of the TZ database uses. */
    if (*p != 'M') return NULL;
    int v[3];
    p++;
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *p++ != '.') return NULL;
        if (!isdigit((unsigned char)*p)) return NULL;
        v[i] = 0;
        while (isdigit((unsigned char)*p) && v[i] < 100)
            v[i] = v[i] * 10 + (*p++ - '0');
    }
    if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6) return NULL;
    *r = (posix_rule_t){v[0], v[1], v[2], 7200};
    if (*p == '/') {
        p = tz_hms(p + 1, &r->time);
        if (!p) return NULL;
    }
    return p;
}

/* Parses a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"); false when it is not one we read. */
static bool tz_parse_posix(cron_tz_t *tz, const char *s)
{
    int32_t off;
    const char *p = tz_name(s);
    if (!p || !(p = tz_hms(p, &off))) return false;
    tz->std_off = -off;
    tz->rule_dst = false;
    if (tz->std_off < -89999 || tz->std_off > 93599) return false;
    if (*p == 0) return true;
    if (!(p = tz_name(p))) return false;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = tz_hms(p, &off))) return false;
        tz->dst_off = -off;
    }
    if (*p++ != ',' || !(p = tz_rule(p, &tz->start)) || *p++ != ',' ||
        !(p = tz_rule(p, &tz->end)) || *p)
        return false;
    /* The same bounds as the offsets of the transition table. */
    if (tz->dst_off < -89999 || tz->dst_off > 93599) return false;
    tz->rule_dst = true;
    return true;
}

/* Instant (UTC) at which rule r takes effect in year y, its time read in local time of offset off.
 */
static int64_t rule_instant(const posix_rule_t *r, int64_t y, int32_t off)
{
    int64_t first = days_from_civil(y, r->month, 1);
    int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int day = 1 + (r->wday - wday_first + 7) % 7 + (r->week - 1) * 7;
    while (day > days_in_month(y, r->month))
        day -= 7;
    return (first + day - 1) * 86400 + r->time - off;
}

static int32_t rule_offset(const cron_tz_t *tz, int64_t t)
{
    if (!tz->rule_dst) return tz->std_off;
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    int64_t start = rule_instant(&tz->start, y, tz->std_off);
    int64_t end = rule_instant(&tz->end, y, tz->dst_off);
    bool dst =
        start < end ? t >= start && t < end : t >= start || t < end; /* southern zones wrap */
    return dst ? tz->dst_off : tz->std_off;
}

int32_t cron_tz_offset(const cron_tz_t *tz, int64_t t)
{
    if (!tz) return 0;
    if (tz->ntrans == 0 || t < tz->trans[0]) {
        if (tz->ntrans == 0 && tz->has_rule) return rule_offset(tz, t);
        /* Before the first transition: the first standard-time type (RFC 8536 section 3.2). */
        for (uint32_t i = 0; i < tz->ntypes; i++)
            if (!tz->isdst[i]) return tz->utoff[i];
        return tz->ntypes ? tz->utoff[0] : 0;
    }
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_rule) return rule_offset(tz, t);
    uint32_t lo = 0, hi = tz->ntrans; /* last transition <= t is in [lo, hi) */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->utoff[tz->idx[lo]];
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts_t;

static int read_header(sb_rd_t *rd, int *version, tzif_counts_t *c)
{
    const uint8_t *magic = sb_rd_bytes(rd, 4);
    if (!magic || memcmp(magic, "TZif", 4) != 0) return SB_ECORRUPT;
    const uint8_t *v = sb_rd_bytes(rd, 16);
    if (!v) return SB_ECORRUPT;
    *version = v[0] == 0 ? 1 : v[0] - '0';
    c->isut = sb_rd_u32(rd);
    c->isstd = sb_rd_u32(rd);
    c->leap = sb_rd_u32(rd);
    c->time = sb_rd_u32(rd);
    c->type = sb_rd_u32(rd);
    c->chars = sb_rd_u32(rd);
    if (!sb_rd_ok(rd) || c->type == 0 || c->type > 256 || c->chars == 0 ||
        (c->isut && c->isut != c->type) || (c->isstd && c->isstd != c->type) || c->time > 100000 ||
        c->leap > 100000)
        return SB_ECORRUPT;
    return 0;
}

static size_t block_size(const tzif_counts_t *c, size_t time_size)
{
    return (size_t)c->time * time_size + c->time + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (time_size + 4) + c->isstd + c->isut;
}

int cron_tz_parse(const void *data, size_t len, cron_tz_t **out, sb_err_t *err)
{
    *out = NULL;
    sb_rd_t rd;
    sb_rd_init(&rd, data, len);
    int version;
    tzif_counts_t c;
    if (read_header(&rd, &version, &c) < 0) return sb_err_set(err, SB_ECORRUPT, "not a TZif file");
    size_t time_size = 4;
    if (version >= 2) {
        /* Skip the 32-bit block; the 64-bit one after the second header is authoritative. */
        if (!sb_rd_bytes(&rd, block_size(&c, 4)) || read_header(&rd, &version, &c) < 0)
            return sb_err_set(err, SB_ECORRUPT, "TZif: truncated or malformed second header");
        time_size = 8;
    }
    if (sb_rd_remaining(&rd) < block_size(&c, time_size))
        return sb_err_set(err, SB_ECORRUPT, "TZif: truncated data");
    cron_tz_t *tz = calloc(1, sizeof(*tz));
    if (!tz) return SB_ENOMEM;
    tz->ntrans = c.time;
    tz->ntypes = c.type;
    tz->trans = calloc(c.time ? c.time : 1, sizeof(*tz->trans));
    tz->idx = calloc(c.time ? c.time : 1, 1);
    tz->utoff = calloc(c.type, sizeof(*tz->utoff));
    tz->isdst = calloc(c.type, 1);
    if (!tz->trans || !tz->idx || !tz->utoff || !tz->isdst) {
        cron_tz_free(tz);
        return SB_ENOMEM;
    }
    for (uint32_t i = 0; i < c.time; i++) {
        tz->trans[i] = time_size == 8 ? sb_rd_i64(&rd) : sb_rd_i32(&rd);
        if (i > 0 && tz->trans[i] <= tz->trans[i - 1]) rd.err = true;
    }
    for (uint32_t i = 0; i < c.time; i++) {
        tz->idx[i] = (uint8_t)sb_rd_i8(&rd);
        if (tz->idx[i] >= c.type) rd.err = true;
    }
    for (uint32_t i = 0; i < c.type; i++) {
        tz->utoff[i] = sb_rd_i32(&rd);
        tz->isdst[i] = (uint8_t)sb_rd_i8(&rd);
        sb_rd_i8(&rd); /* abbreviation index: names are not needed */
        if (tz->utoff[i] < -89999 || tz->utoff[i] > 93599) rd.err = true;
    }
    sb_rd_bytes(&rd, c.chars + (size_t)c.leap * (time_size + 4) + c.isstd + c.isut);
    if (!sb_rd_ok(&rd)) {
        cron_tz_free(tz);
        return sb_err_set(err, SB_ECORRUPT, "TZif: malformed transition data");
    }
    /* The footer: "\n" POSIX-TZ "\n". A footer we cannot read leaves the last type in force. */
    if (version >= 2 && sb_rd_remaining(&rd) >= 2 && sb_rd_bytes(&rd, 1)[0] == '\n') {
        size_t n = sb_rd_remaining(&rd);
        const char *f = (const char *)sb_rd_bytes(&rd, n);
        const char *nl = memchr(f, '\n', n);
        char footer[128];
        if (nl && (size_t)(nl - f) < sizeof(footer) && nl > f) {
            memcpy(footer, f, (size_t)(nl - f));
            footer[nl - f] = 0;
            tz->has_rule = tz_parse_posix(tz, footer);
        }
    }
    *out = tz;
    return 0;
}

int cron_tz_load(const char *name, const char *dir, cron_tz_t **out, sb_err_t *err)
{
    *out = NULL;
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n < 128 && name[0] != '/' && !strstr(name, "..");
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("_+-/", name[i]);
    if (!ok)
        return sb_err_set(err, SB_EINVAL, "\"%.64s\" is not a time zone name like Europe/Berlin",
                          name ? name : "");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sb_err_set(err, SB_ENOENT, "unknown time zone \"%s\"", name);
    struct stat st;
    /* Zone files are a few KiB; a directory ("Europe") or anything large is not a zone. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        close(fd);
        return sb_err_set(err, SB_ENOENT, "unknown time zone \"%s\"", name);
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    int rc = buf ? cron_tz_parse(buf, got, out, err) : SB_ENOMEM;
    free(buf);
    if (rc == SB_ECORRUPT)
        sb_err_set(err, SB_ENOENT, "unknown time zone \"%s\" (not a TZif file)", name);
    return rc == SB_ECORRUPT ? SB_ENOENT : rc;
}

/* ---- next tick */

/* The UTC instant of local wall time `local` (seconds, as if the wall clock were UTC): its first
 * occurrence, or for a time inside a spring-forward gap the first instant after the gap. */
static int64_t local_to_utc(const cron_tz_t *tz, int64_t local)
{
    int32_t before = cron_tz_offset(tz, local - 86400 * 2),
            after = cron_tz_offset(tz, local + 86400 * 2);
    int64_t best = INT64_MAX;
    int32_t offs[2] = {before, after};
    for (int i = 0; i < 2; i++) {
        int64_t t = local - offs[i];
        if (cron_tz_offset(tz, t) == offs[i] && t < best) best = t;
    }
    /* Also the offset in effect at the naive guess, for zones with two changes in four days. */
    int32_t mid = cron_tz_offset(tz, local - before);
    if (cron_tz_offset(tz, local - mid) == mid && local - mid < best) best = local - mid;
    if (best != INT64_MAX) return best;
    /* A gap: find the change, the first instant whose offset is the later one. */
    int64_t lo = local - (before > after ? before : after),
            hi = local - (before < after ? before : after);
    int32_t target = cron_tz_offset(tz, hi);
    while (hi - lo > 1) {
        int64_t m = lo + (hi - lo) / 2;
        if (cron_tz_offset(tz, m) == target)
            hi = m;
        else
            lo = m;
    }
    return hi;
}

static bool day_matches(const cron_expr_t *e, int dom, int dow)
{
    bool d = (e->dom >> dom) & 1, w = (e->dow >> dow) & 1;
    if (e->dom_any || e->dow_any) return d && w;
    return d || w; /* both restricted: either (Vixie cron) */
}

int cron_next(const cron_expr_t *e, const cron_tz_t *tz, int64_t after_s, int64_t *next_s)
{
    /* Walk wall-clock minutes from the local time of after_s, skipping whole days and hours that
     * cannot match. Each match is mapped to UTC; a match at or before after_s (the first
     * occurrence of a repeated hour we are already past) is skipped. */
    int64_t local = after_s + cron_tz_offset(tz, after_s);
    local = floor_div(local, 60) * 60 + 60;
    int64_t limit = local + 8LL * 366 * 86400;
    while (local < limit) {
        int64_t days = floor_div(local, 86400), y;
        int m, d;
        civil_from_days(days, &y, &m, &d);
        int dow = (int)(((days % 7) + 11) % 7);
        int64_t sod = local - days * 86400;
        int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
        if (!((e->month >> m) & 1)) {
            local = (days - d + 1 + days_in_month(y, m)) * 86400; /* first day of next month */
            continue;
        }
        if (!day_matches(e, d, dow)) {
            local = (days + 1) * 86400;
            continue;
        }
        if (!((e->hour >> hour) & 1)) {
            local = days * 86400 + (hour + 1) * 3600;
            continue;
        }
        if (!((e->minute >> minute) & 1)) {
            local += 60;
            continue;
        }
        int64_t t = local_to_utc(tz, local);
        if (t > after_s) {
            *next_s = t;
            return 0;
        }
        local += 60;
    }
    return SB_ENOENT;
}
