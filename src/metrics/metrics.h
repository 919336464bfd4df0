#ifndef STREAMBUS_METRICS_METRICS_H
#define STREAMBUS_METRICS_METRICS_H

/* Metrics registry with Prometheus text exposition (format 0.0.4).
 *
 * Metrics are created (registered) once, usually at start-up, and then updated from any
 * thread. Creation takes the registry lock; updates are single C11 atomic operations on the
 * handle and never lock, so they are safe on the network and I/O hot paths. Handles stay
 * valid until metrics_registry_free.
 *
 * A family is one metric name with one HELP text and one TYPE; its series differ by labels,
 * given at creation as the text that goes between the braces, e.g. `api="Produce"` or
 * `api="Fetch",version="12"` (no spaces, values escaped as in the exposition format; build
 * them with metrics_format_labels when values come from outside). Asking again for the same
 * name and labels returns the same handle.
 *
 * Values that only exist at scrape time (per-partition offsets, consumer lag) are rendered by
 * collectors: callbacks that write whole families into the output with the helpers below. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct metrics_registry metrics_registry_t;
typedef struct metrics_counter metrics_counter_t;
typedef struct metrics_gauge metrics_gauge_t;
typedef struct metrics_histogram metrics_histogram_t;

typedef enum {
    METRICS_COUNTER = 0,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
    METRICS_UNTYPED,
} metrics_type_t;

/* Request latency buckets in seconds, 50 µs .. 10 s: broker requests are mostly sub-millisecond,
 * so the low end is finer than the usual Prometheus defaults. */
extern const double METRICS_LATENCY_BUCKETS_SECONDS[];
#define METRICS_LATENCY_BUCKETS_COUNT 17
/* Payload size buckets in bytes, 64 B .. 64 MiB, powers of 4. */
extern const double METRICS_SIZE_BUCKETS_BYTES[];
#define METRICS_SIZE_BUCKETS_COUNT 11

metrics_registry_t *metrics_registry_new(void);
void metrics_registry_free(metrics_registry_t *reg); /* accepts NULL */

/* Each creator returns the existing handle for the same name and labels, or NULL when the
 * name or labels are malformed, when the name is already registered with another type (or,
 * for histograms, other buckets), or on allocation failure. `labels` may be NULL or "". The
 * help text of the first registration of a name wins. */
metrics_counter_t *metrics_counter(metrics_registry_t *reg, const char *name, const char *help,
                                   const char *labels);
metrics_gauge_t *metrics_gauge(metrics_registry_t *reg, const char *name, const char *help,
                               const char *labels);
/* A gauge holding a double (ratios, seconds) instead of an int64. */
metrics_gauge_t *metrics_gauge_f64(metrics_registry_t *reg, const char *name, const char *help,
                                   const char *labels);
/* `bounds` are the upper bounds (inclusive) of the buckets, strictly increasing and finite; the
 * +Inf bucket is implicit. They are copied. */
metrics_histogram_t *metrics_histogram(metrics_registry_t *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds, int nbounds);

/* Hot-path updates: lock-free, callable from any thread. */
void metrics_counter_add(metrics_counter_t *c, uint64_t n);
static inline void metrics_counter_inc(metrics_counter_t *c)
{
    metrics_counter_add(c, 1);
}
/* Adds a non-negative fraction (e.g. seconds of CPU); negative or NaN amounts are ignored,
 * since a counter never goes down. */
void metrics_counter_add_f64(metrics_counter_t *c, double v);
double metrics_counter_value(const metrics_counter_t *c);

void metrics_gauge_set(metrics_gauge_t *g, int64_t v);
void metrics_gauge_add(metrics_gauge_t *g, int64_t delta);
void metrics_gauge_set_f64(metrics_gauge_t *g, double v);
void metrics_gauge_add_f64(metrics_gauge_t *g, double delta);
double metrics_gauge_value(const metrics_gauge_t *g);

void metrics_histogram_observe(metrics_histogram_t *h, double v);
uint64_t metrics_histogram_count(const metrics_histogram_t *h);

/* Collectors run on the scraping thread, one scrape at a time, without the registry lock
 * held, so they may take their own locks and even create metrics. They must not register or
 * unregister collectors. After metrics_unregister_collector returns, fn is not running and
 * will not be called again, so arg may be freed. */
typedef void (*metrics_collector_fn)(void *arg, sb_wr_t *out);
int metrics_register_collector(metrics_registry_t *reg, metrics_collector_fn fn, void *arg);
void metrics_unregister_collector(metrics_registry_t *reg, metrics_collector_fn fn, void *arg);

/* Appends the whole exposition (registered families, then collector output) to out.
 * Returns 0, or SB_ENOMEM if the writer ran out of memory. */
int metrics_render(metrics_registry_t *reg, sb_wr_t *out);

/* ----- helpers for collectors (and for anyone producing exposition text) ----- */

typedef struct metrics_label {
    const char *name;
    const char *value; /* any bytes; escaped on output */
} metrics_label_t;

/* Writes the "# HELP" and "# TYPE" lines of a family. Write each family's header once,
 * followed by all of its samples. */
void metrics_write_family(sb_wr_t *out, const char *name, const char *help, metrics_type_t type);
/* Writes one sample line `name{l1="v1",...} value`; label values are escaped. */
void metrics_write_sample(sb_wr_t *out, const char *name, const metrics_label_t *labels,
                          size_t nlabels, double value);
void metrics_write_sample_i64(sb_wr_t *out, const char *name, const metrics_label_t *labels,
                              size_t nlabels, int64_t value);

/* Formats labels into the text form the creators take. Returns 0, or SB_EINVAL for a bad
 * label name, or SB_ERANGE if out is too small. */
int metrics_format_labels(char *out, size_t cap, const metrics_label_t *labels, size_t nlabels);

#endif
