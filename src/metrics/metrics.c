#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

const double METRICS_LATENCY_BUCKETS_SECONDS[METRICS_LATENCY_BUCKETS_COUNT] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,
};

const double METRICS_SIZE_BUCKETS_BYTES[METRICS_SIZE_BUCKETS_COUNT] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
};

/* A counter has an integer part and a floating part so that integer increments (the common
 * case) are one fetch_add and stay exact beyond 2^53; only fractional additions need a CAS. */
struct metrics_counter {
    _Atomic uint64_t whole;
    _Atomic uint64_t fraction_bits; /* a double */
};

struct metrics_gauge {
    bool is_f64;
    _Atomic int64_t whole;    /* used when !is_f64 */
    _Atomic uint64_t f64_bits; /* a double, used when is_f64 */
};

/* Buckets hold per-bucket (not cumulative) counts, so an observation touches one bucket;
 * rendering accumulates them. */
struct metrics_histogram {
    const double *bounds; /* the family's */
    int nbounds;
    _Atomic uint64_t sum_bits; /* a double */
    _Atomic uint64_t buckets[]; /* nbounds + 1, the last one is +Inf */
};

typedef struct series {
    char *labels; /* "" when none */
    void *metric;
} series_t;

typedef struct family {
    char *name;
    char *help;
    metrics_type_t type;
    double *bounds; /* histograms only */
    int nbounds;
    series_t *series;
    size_t nseries, series_cap;
} family_t;

typedef struct collector {
    metrics_collector_fn fn;
    void *arg;
} collector_t;

struct metrics_registry {
    pthread_mutex_t lock; /* guards families and their series arrays */
    family_t **families;
    size_t nfamilies, families_cap;
    /* Held for a whole scrape and by collector (un)registration, so that unregistering waits
     * for a collector call in progress. Lock order: render_lock before lock. */
    pthread_mutex_t render_lock;
    collector_t *collectors;
    size_t ncollectors, collectors_cap;
};

/* ----- atomics on doubles ----- */

static double bits_to_double(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, double_to_bits(bits_to_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* ----- validation ----- */

static bool valid_metric_name(const char *s)
{
    if (!s || !*s) return false;
    for (size_t i = 0; s[i]; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    return true;
}

static bool valid_label_name(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    /* Names starting with "__" are reserved for Prometheus itself. */
    return !(len >= 2 && s[0] == '_' && s[1] == '_');
}

/* Checks the `k="v",k2="v2"` text form; `le` is refused for histograms, whose buckets use it. */
static bool valid_labels(const char *s, bool forbid_le)
{
    size_t i = 0, len = strlen(s);
    while (i < len) {
        size_t name_start = i;
        while (i < len && s[i] != '=') i++;
        if (i == len || !valid_label_name(s + name_start, i - name_start)) return false;
        if (forbid_le && i - name_start == 2 && memcmp(s + name_start, "le", 2) == 0) return false;
        i++; /* '=' */
        if (i == len || s[i] != '"') return false;
        i++;
        for (;;) {
            if (i == len || s[i] == '\n') return false;
            if (s[i] == '"') break;
            if (s[i] == '\\') {
                if (i + 1 == len || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n')) return false;
                i++;
            }
            i++;
        }
        i++; /* closing quote */
        if (i == len) return true;
        if (s[i] != ',' || i + 1 == len) return false;
        i++;
    }
    return true;
}

/* ----- registry ----- */

metrics_registry_t *metrics_registry_new(void)
{
    metrics_registry_t *reg = calloc(1, sizeof(*reg));
    if (!reg) return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    pthread_mutex_init(&reg->render_lock, NULL);
    return reg;
}

void metrics_registry_free(metrics_registry_t *reg)
{
    if (!reg) return;
    for (size_t f = 0; f < reg->nfamilies; f++) {
        family_t *fam = reg->families[f];
        for (size_t s = 0; s < fam->nseries; s++) {
            free(fam->series[s].labels);
            free(fam->series[s].metric);
        }
        free(fam->series);
        free(fam->bounds);
        free(fam->name);
        free(fam->help);
        free(fam);
    }
    free(reg->families);
    free(reg->collectors);
    pthread_mutex_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->render_lock);
    free(reg);
}

static family_t *find_family(metrics_registry_t *reg, const char *name)
{
    for (size_t i = 0; i < reg->nfamilies; i++)
        if (strcmp(reg->families[i]->name, name) == 0) return reg->families[i];
    return NULL;
}

static family_t *add_family(metrics_registry_t *reg, const char *name, const char *help,
                            metrics_type_t type, const double *bounds, int nbounds)
{
    if (reg->nfamilies == reg->families_cap) {
        size_t cap = reg->families_cap ? reg->families_cap * 2 : 32;
        family_t **nf = realloc(reg->families, cap * sizeof(*nf));
        if (!nf) return NULL;
        reg->families = nf;
        reg->families_cap = cap;
    }
    family_t *fam = calloc(1, sizeof(*fam));
    if (!fam) return NULL;
    fam->name = strdup(name);
    fam->help = strdup(help ? help : "");
    fam->type = type;
    if (nbounds > 0) {
        fam->bounds = malloc((size_t)nbounds * sizeof(double));
        if (fam->bounds) memcpy(fam->bounds, bounds, (size_t)nbounds * sizeof(double));
        fam->nbounds = nbounds;
    }
    if (!fam->name || !fam->help || (nbounds > 0 && !fam->bounds)) {
        free(fam->name);
        free(fam->help);
        free(fam->bounds);
        free(fam);
        return NULL;
    }
    reg->families[reg->nfamilies++] = fam;
    return fam;
}

static bool same_bounds(const family_t *fam, const double *bounds, int nbounds)
{
    return fam->nbounds == nbounds && memcmp(fam->bounds, bounds, (size_t)nbounds * sizeof(double)) == 0;
}

/* Finds or creates the series (name, labels) of the given type. For a new series, `make`
 * allocates the metric; it runs under the lock. */
static void *get_series(metrics_registry_t *reg, const char *name, const char *help,
                        const char *labels, metrics_type_t type, const double *bounds, int nbounds,
                        void *(*make)(const family_t *fam, const void *make_arg), const void *make_arg)
{
    if (!reg || !valid_metric_name(name)) return NULL;
    if (!labels) labels = "";
    if (!valid_labels(labels, type == METRICS_HISTOGRAM)) return NULL;

    void *metric = NULL;
    pthread_mutex_lock(&reg->lock);
    family_t *fam = find_family(reg, name);
    if (fam && (fam->type != type || (type == METRICS_HISTOGRAM && !same_bounds(fam, bounds, nbounds))))
        goto out;
    if (!fam && !(fam = add_family(reg, name, help, type, bounds, nbounds))) goto out;
    for (size_t i = 0; i < fam->nseries; i++)
        if (strcmp(fam->series[i].labels, labels) == 0) {
            metric = fam->series[i].metric;
            goto out;
        }
    if (fam->nseries == fam->series_cap) {
        size_t cap = fam->series_cap ? fam->series_cap * 2 : 4;
        series_t *ns = realloc(fam->series, cap * sizeof(*ns));
        if (!ns) goto out;
        fam->series = ns;
        fam->series_cap = cap;
    }
    char *label_copy = strdup(labels);
    void *fresh = make(fam, make_arg);
    if (!label_copy || !fresh) {
        free(label_copy);
        free(fresh);
        goto out;
    }
    fam->series[fam->nseries++] = (series_t){label_copy, fresh};
    metric = fresh;
out:
    pthread_mutex_unlock(&reg->lock);
    return metric;
}

static void *make_counter(const family_t *fam, const void *arg)
{
    return calloc(1, sizeof(metrics_counter_t));
}

static void *make_gauge(const family_t *fam, const void *arg)
{
    metrics_gauge_t *g = calloc(1, sizeof(*g));
    if (g) {
        g->is_f64 = *(const bool *)arg;
        atomic_init(&g->f64_bits, double_to_bits(0.0));
    }
    return g;
}

static void *make_histogram(const family_t *fam, const void *arg)
{
    metrics_histogram_t *h =
        calloc(1, sizeof(*h) + ((size_t)fam->nbounds + 1) * sizeof(_Atomic uint64_t));
    if (h) {
        h->bounds = fam->bounds;
        h->nbounds = fam->nbounds;
        atomic_init(&h->sum_bits, double_to_bits(0.0));
    }
    return h;
}

metrics_counter_t *metrics_counter(metrics_registry_t *reg, const char *name, const char *help,
                                   const char *labels)
{
    return get_series(reg, name, help, labels, METRICS_COUNTER, NULL, 0, make_counter, NULL);
}

static metrics_gauge_t *gauge_of_kind(metrics_registry_t *reg, const char *name, const char *help,
                                      const char *labels, bool is_f64)
{
    return get_series(reg, name, help, labels, METRICS_GAUGE, NULL, 0, make_gauge, &is_f64);
}

metrics_gauge_t *metrics_gauge(metrics_registry_t *reg, const char *name, const char *help,
                               const char *labels)
{
    return gauge_of_kind(reg, name, help, labels, false);
}

metrics_gauge_t *metrics_gauge_f64(metrics_registry_t *reg, const char *name, const char *help,
                                   const char *labels)
{
    return gauge_of_kind(reg, name, help, labels, true);
}

metrics_histogram_t *metrics_histogram(metrics_registry_t *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds, int nbounds)
{
    if (nbounds < 1 || !bounds) return NULL;
    for (int i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i])) return NULL;
        if (i > 0 && !(bounds[i] > bounds[i - 1])) return NULL;
    }
    return get_series(reg, name, help, labels, METRICS_HISTOGRAM, bounds, nbounds, make_histogram, NULL);
}

/* ----- updates ----- */

void metrics_counter_add(metrics_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->whole, n, memory_order_relaxed);
}

void metrics_counter_add_f64(metrics_counter_t *c, double v)
{
    if (!(v > 0)) return;
    atomic_add_double(&c->fraction_bits, v);
}

double metrics_counter_value(const metrics_counter_t *c)
{
    return (double)atomic_load_explicit(&c->whole, memory_order_relaxed) +
           bits_to_double(atomic_load_explicit(&c->fraction_bits, memory_order_relaxed));
}

void metrics_gauge_set(metrics_gauge_t *g, int64_t v)
{
    if (g->is_f64) atomic_store_explicit(&g->f64_bits, double_to_bits((double)v), memory_order_relaxed);
    else atomic_store_explicit(&g->whole, v, memory_order_relaxed);
}

void metrics_gauge_add(metrics_gauge_t *g, int64_t delta)
{
    if (g->is_f64) atomic_add_double(&g->f64_bits, (double)delta);
    else atomic_fetch_add_explicit(&g->whole, delta, memory_order_relaxed);
}

void metrics_gauge_set_f64(metrics_gauge_t *g, double v)
{
    if (g->is_f64) atomic_store_explicit(&g->f64_bits, double_to_bits(v), memory_order_relaxed);
    else atomic_store_explicit(&g->whole, (int64_t)llround(v), memory_order_relaxed);
}

void metrics_gauge_add_f64(metrics_gauge_t *g, double delta)
{
    if (g->is_f64) atomic_add_double(&g->f64_bits, delta);
    else atomic_fetch_add_explicit(&g->whole, (int64_t)llround(delta), memory_order_relaxed);
}

double metrics_gauge_value(const metrics_gauge_t *g)
{
    if (g->is_f64) return bits_to_double(atomic_load_explicit(&g->f64_bits, memory_order_relaxed));
    return (double)atomic_load_explicit(&g->whole, memory_order_relaxed);
}

void metrics_histogram_observe(metrics_histogram_t *h, double v)
{
    /* A NaN would turn the sum into NaN for the life of the process. */
    if (isnan(v)) return;
    int lo = 0, hi = h->nbounds; /* first bucket whose upper bound is >= v; nbounds = +Inf */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= h->bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t metrics_histogram_count(const metrics_histogram_t *h)
{
    uint64_t n = 0;
    for (int i = 0; i <= h->nbounds; i++) n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}

/* ----- collectors ----- */

int metrics_register_collector(metrics_registry_t *reg, metrics_collector_fn fn, void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&reg->render_lock);
    if (reg->ncollectors == reg->collectors_cap) {
        size_t cap = reg->collectors_cap ? reg->collectors_cap * 2 : 8;
        collector_t *nc = realloc(reg->collectors, cap * sizeof(*nc));
        if (!nc) {
            rc = SB_ENOMEM;
            goto out;
        }
        reg->collectors = nc;
        reg->collectors_cap = cap;
    }
    reg->collectors[reg->ncollectors++] = (collector_t){fn, arg};
out:
    pthread_mutex_unlock(&reg->render_lock);
    return rc;
}

void metrics_unregister_collector(metrics_registry_t *reg, metrics_collector_fn fn, void *arg)
{
    pthread_mutex_lock(&reg->render_lock);
    for (size_t i = 0; i < reg->ncollectors; i++) {
        if (reg->collectors[i].fn == fn && reg->collectors[i].arg == arg) {
            memmove(&reg->collectors[i], &reg->collectors[i + 1],
                    (reg->ncollectors - i - 1) * sizeof(collector_t));
            reg->ncollectors--;
            break;
        }
    }
    pthread_mutex_unlock(&reg->render_lock);
}

/* ----- exposition ----- */

static void wr_str(sb_wr_t *out, const char *s)
{
    sb_wr_bytes(out, s, strlen(s));
}

/* Formats v the way Prometheus parses it back: the shortest decimal that round-trips, and
 * +Inf/-Inf/NaN spelled as the format requires. */
static void format_double(char *buf, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void wr_double(sb_wr_t *out, double v)
{
    char buf[40];
    format_double(buf, sizeof(buf), v);
    wr_str(out, buf);
}

static void wr_u64(sb_wr_t *out, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    wr_str(out, buf);
}

static void wr_i64(sb_wr_t *out, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    wr_str(out, buf);
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static void wr_escaped(sb_wr_t *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\') wr_str(out, "\\\\");
        else if (*s == '\n') wr_str(out, "\\n");
        else if (quote && *s == '"') wr_str(out, "\\\"");
        else sb_wr_bytes(out, s, 1);
    }
}

static const char *type_name(metrics_type_t type)
{
    switch (type) {
    case METRICS_COUNTER: return "counter";
    case METRICS_GAUGE: return "gauge";
    case METRICS_HISTOGRAM: return "histogram";
    case METRICS_UNTYPED: return "untyped";
    }
    return "untyped";
}

void metrics_write_family(sb_wr_t *out, const char *name, const char *help, metrics_type_t type)
{
    wr_str(out, "# HELP ");
    wr_str(out, name);
    sb_wr_bytes(out, " ", 1);
    wr_escaped(out, help ? help : "", false);
    wr_str(out, "\n# TYPE ");
    wr_str(out, name);
    sb_wr_bytes(out, " ", 1);
    wr_str(out, type_name(type));
    sb_wr_bytes(out, "\n", 1);
}

static void wr_label_list(sb_wr_t *out, const metrics_label_t *labels, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++) {
        if (i) sb_wr_bytes(out, ",", 1);
        wr_str(out, labels[i].name);
        wr_str(out, "=\"");
        wr_escaped(out, labels[i].value ? labels[i].value : "", true);
        sb_wr_bytes(out, "\"", 1);
    }
}

static void wr_sample_start(sb_wr_t *out, const char *name, const metrics_label_t *labels, size_t nlabels)
{
    wr_str(out, name);
    if (nlabels) {
        sb_wr_bytes(out, "{", 1);
        wr_label_list(out, labels, nlabels);
        sb_wr_bytes(out, "}", 1);
    }
    sb_wr_bytes(out, " ", 1);
}

void metrics_write_sample(sb_wr_t *out, const char *name, const metrics_label_t *labels,
                          size_t nlabels, double value)
{
    wr_sample_start(out, name, labels, nlabels);
    wr_double(out, value);
    sb_wr_bytes(out, "\n", 1);
}

void metrics_write_sample_i64(sb_wr_t *out, const char *name, const metrics_label_t *labels,
                              size_t nlabels, int64_t value)
{
    wr_sample_start(out, name, labels, nlabels);
    wr_i64(out, value);
    sb_wr_bytes(out, "\n", 1);
}

int metrics_format_labels(char *out, size_t cap, const metrics_label_t *labels, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        if (!labels[i].name || !valid_label_name(labels[i].name, strlen(labels[i].name)))
            return SB_EINVAL;
    sb_wr_t w;
    sb_wr_init(&w, 128);
    wr_label_list(&w, labels, nlabels);
    int rc = 0;
    if (w.oom) rc = SB_ENOMEM;
    else if (w.len + 1 > cap) rc = SB_ERANGE;
    else {
        if (w.len) memcpy(out, w.buf, w.len);
        out[w.len] = 0;
    }
    sb_wr_deinit(&w);
    return rc;
}

/* Writes `name[suffix]{labels[,extra]} ` for a registered series, whose labels are already
 * in escaped text form. */
static void wr_series_start(sb_wr_t *out, const char *name, const char *suffix, const char *labels,
                            const char *extra)
{
    wr_str(out, name);
    wr_str(out, suffix);
    if (labels[0] || extra) {
        sb_wr_bytes(out, "{", 1);
        wr_str(out, labels);
        if (labels[0] && extra) sb_wr_bytes(out, ",", 1);
        if (extra) wr_str(out, extra);
        sb_wr_bytes(out, "}", 1);
    }
    sb_wr_bytes(out, " ", 1);
}

static void render_family(sb_wr_t *out, const family_t *fam)
{
    if (fam->nseries == 0) return;
    metrics_write_family(out, fam->name, fam->help, fam->type);
    for (size_t i = 0; i < fam->nseries; i++) {
        const series_t *s = &fam->series[i];
        switch (fam->type) {
        case METRICS_COUNTER: {
            const metrics_counter_t *c = s->metric;
            wr_series_start(out, fam->name, "", s->labels, NULL);
            double fraction = bits_to_double(atomic_load_explicit(&c->fraction_bits, memory_order_relaxed));
            uint64_t whole = atomic_load_explicit(&c->whole, memory_order_relaxed);
            if (fraction == 0) wr_u64(out, whole);
            else wr_double(out, (double)whole + fraction);
            break;
        }
        case METRICS_GAUGE: {
            const metrics_gauge_t *g = s->metric;
            wr_series_start(out, fam->name, "", s->labels, NULL);
            if (g->is_f64) wr_double(out, metrics_gauge_value(g));
            else wr_i64(out, atomic_load_explicit(&g->whole, memory_order_relaxed));
            break;
        }
        case METRICS_HISTOGRAM: {
            const metrics_histogram_t *h = s->metric;
            uint64_t cumulative = 0;
            for (int b = 0; b <= h->nbounds; b++) {
                cumulative += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
                char le[64] = "le=\"+Inf\"";
                if (b < h->nbounds) {
                    char num[40];
                    format_double(num, sizeof(num), h->bounds[b]);
                    snprintf(le, sizeof(le), "le=\"%s\"", num);
                }
                wr_series_start(out, fam->name, "_bucket", s->labels, le);
                wr_u64(out, cumulative);
                sb_wr_bytes(out, "\n", 1);
            }
            wr_series_start(out, fam->name, "_sum", s->labels, NULL);
            wr_double(out, bits_to_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
            sb_wr_bytes(out, "\n", 1);
            /* _count from the same bucket reads, so it always equals the +Inf bucket. */
            wr_series_start(out, fam->name, "_count", s->labels, NULL);
            wr_u64(out, cumulative);
            break;
        }
        case METRICS_UNTYPED: break;
        }
        sb_wr_bytes(out, "\n", 1);
    }
}

int metrics_render(metrics_registry_t *reg, sb_wr_t *out)
{
    pthread_mutex_lock(&reg->render_lock);
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nfamilies; i++) render_family(out, reg->families[i]);
    pthread_mutex_unlock(&reg->lock);
    for (size_t i = 0; i < reg->ncollectors; i++) reg->collectors[i].fn(reg->collectors[i].arg, out);
    pthread_mutex_unlock(&reg->render_lock);
    return out->oom ? SB_ENOMEM : 0;
}
