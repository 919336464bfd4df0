/* transforms_bench: connect_transforms_apply() alone, over datagen-like change events.
 *
 * Builds N events the way the datagen source does (envelope_write_key/value: 5 columns, a mix
 * of creates, updates and deletes with their tombstones), then times one pass of each chain
 * over all of them and prints events/s. The events are built before the clock starts, so the
 * figures are the transforms' own cost (including the output buffers they allocate) and
 * nothing else.
 *
 * Usage: transforms_bench [--events N] [--rounds R]   (defaults 200000 and 3; the best round
 * of each chain is printed, as the machine is shared).
 *
 * Build: `cmake --build <dir> --target transforms_bench` (bench/CMakeLists.txt). */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "connect/connector.h"
#include "connect/envelope.h"
#include "connect/transforms/transforms.h"

/* The connect runtime provides this; weak so that the library's wins when it has it. */
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field,
                                                    const char *fmt, ...)
{
    (void)e;
    (void)field;
    (void)fmt;
}

typedef struct bench_event {
    char *key;
    size_t key_len;
    char *value; /* NULL: tombstone */
    size_t value_len;
} bench_event_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static char *take(sb_wr_t *w, size_t *len)
{
    char *s = malloc(w->len + 1);
    memcpy(s, w->buf, w->len);
    s[w->len] = 0;
    *len = w->len;
    return s;
}

static bench_event_t *make_events(int n)
{
    static const envelope_column_t cols[5] = {
        {"id", "bigint", ENVELOPE_KIND_INTEGER, true},
        {"quantity", "integer", ENVELOPE_KIND_INTEGER, false},
        {"name", "text", ENVELOPE_KIND_STRING, false},
        {"updated_at", "timestamp with time zone", ENVELOPE_KIND_STRING, false},
        {"price", "numeric(12,2)", ENVELOPE_KIND_NUMERIC, false},
    };
    envelope_table_t *t = envelope_table_new("datagen", "public", "datagen_0", cols, 5);
    bench_event_t *ev = calloc((size_t)n, sizeof(*ev));
    sb_wr_t kw, vw;
    sb_wr_init(&kw, 256);
    sb_wr_init(&vw, 1024);
    uint64_t rng = 88172645463325252ULL;
    int64_t ts = 1763870000000;
    for (int i = 0; i < n; i++) {
        int roll = (int)(rng_next(&rng) % 100);
        char op = roll < 50 ? 'c' : roll < 85 ? 'u' : 'd';
        char id[24], qty[16], name[48], when[64], price[32];
        snprintf(id, sizeof(id), "%" PRIu64, rng_next(&rng) % 1000000);
        snprintf(qty, sizeof(qty), "%d", (int)(rng_next(&rng) % 1000));
        snprintf(name, sizeof(name), "item-%s-v%d", id, i);
        snprintf(when, sizeof(when), "2026-11-23 03:%02d:%02d.%03d+00", i / 60000 % 60, i / 1000 % 60, i % 1000);
        uint64_t cents = rng_next(&rng) % 10000000;
        snprintf(price, sizeof(price), "%" PRIu64 ".%02" PRIu64, cents / 100, cents % 100);
        envelope_value_t row[5] = {
            {id, (int32_t)strlen(id)},     {qty, (int32_t)strlen(qty)},     {name, (int32_t)strlen(name)},
            {when, (int32_t)strlen(when)}, {price, (int32_t)strlen(price)},
        };
        envelope_value_t key_only[5] = {
            {id, (int32_t)strlen(id)}, {NULL, ENVELOPE_NULL}, {NULL, ENVELOPE_NULL}, {NULL, ENVELOPE_NULL},
            {NULL, ENVELOPE_NULL},
        };
        envelope_source_t src = {.connector = "datagen", .name = "bench", .ts_ms = ts + i, .lsn = i,
                                 .txid = i, .snapshot = "false"};
        sb_wr_reset(&kw);
        sb_wr_reset(&vw);
        envelope_write_key(&kw, t, row);
        if (op == 'd') envelope_write_value(&vw, t, 'd', key_only, NULL, &src, ts + i);
        else envelope_write_value(&vw, t, op, NULL, row, &src, ts + i);
        ev[i].key = take(&kw, &ev[i].key_len);
        ev[i].value = take(&vw, &ev[i].value_len);
        /* A delete is followed by its tombstone, as the sources emit it. */
        if (op == 'd' && i + 1 < n) {
            i++;
            ev[i].key = take(&kw, &ev[i].key_len);
            ev[i].value = NULL;
        }
    }
    sb_wr_deinit(&kw);
    sb_wr_deinit(&vw);
    envelope_table_free(t);
    return ev;
}

typedef struct bench_chain {
    const char *label;
    const char *json; /* the connector config's transforms keys */
} bench_chain_t;

static const bench_chain_t CHAINS[] = {
    {"none", "{}"},
    {"insert", "{\"transforms\":\"i\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_src\","
               "\"transforms.i.value\":\"source_name\"}"},
    {"mask", "{\"transforms\":\"m\",\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"name\"}"},
    {"hash", "{\"transforms\":\"h\",\"transforms.h.type\":\"hash\",\"transforms.h.fields\":\"name,price\","
             "\"transforms.h.salt\":\"s\"}"},
    {"rename", "{\"transforms\":\"r\",\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"quantity:qty\"}"},
    {"filter", "{\"transforms\":\"f\",\"transforms.f.type\":\"filter\",\"transforms.f.ops.exclude\":\"r\"}"},
    {"route", "{\"transforms\":\"r\",\"transforms.r.type\":\"route\",\"transforms.r.regex\":\"^bench\\\\.(.*)$\","
              "\"transforms.r.replacement\":\"copy.$1\"}"},
    {"chain of 3 (mask,rename,insert)",
     "{\"transforms\":\"m,r,i\",\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"name\","
     "\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"quantity:qty\","
     "\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_at\",\"transforms.i.value\":\"commit_time\"}"},
};

int main(int argc, char **argv)
{
    int n = 200000, rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--events") == 0) n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[i + 1]);
    }
    if (n <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: transforms_bench [--events N] [--rounds R]\n");
        return 2;
    }
    bench_event_t *ev = make_events(n);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += ev[i].key_len + ev[i].value_len;
    printf("%d events, %.0f bytes per event on average, best of %d rounds\n", n, (double)bytes / n, rounds);
    printf("%-34s %12s %10s\n", "chain", "events/s", "kept");
    for (size_t c = 0; c < sizeof(CHAINS) / sizeof(CHAINS[0]); c++) {
        json_t *cfg = json_loads(CHAINS[c].json, 0, NULL);
        connect_config_errors_t errs = {0};
        connect_transforms_t *t = NULL;
        if (!cfg || connect_transforms_new(cfg, &t, &errs) != 0) {
            fprintf(stderr, "bad chain %s: %s %s\n", CHAINS[c].label, errs.count ? errs.items[0].field : "",
                    errs.count ? errs.items[0].msg : "");
            return 1;
        }
        double best = 0;
        long kept = 0;
        for (int r = 0; r < rounds; r++) {
            connect_transformed_t out = {0};
            kept = 0;
            double t0 = now_s();
            for (int i = 0; i < n; i++) {
                connect_record_t in = {
                    .topic = "bench.public.datagen_0",
                    .partition = 0,
                    .offset = i,
                    .key = {(const uint8_t *)ev[i].key, (int32_t)ev[i].key_len},
                    .value = {(const uint8_t *)ev[i].value, ev[i].value ? (int32_t)ev[i].value_len : -1},
                };
                sb_err_t err = {0};
                int rc = connect_transforms_apply(t, &in, &out, &err);
                if (rc < 0) {
                    fprintf(stderr, "event %d: %s\n", i, err.msg);
                    return 1;
                }
                kept += rc;
            }
            double rate = n / (now_s() - t0);
            if (rate > best) best = rate;
            connect_transformed_deinit(&out);
        }
        printf("%-34s %12.0f %10ld\n", CHAINS[c].label, best, kept);
        connect_transforms_free(t);
        json_decref(cfg);
    }
    for (int i = 0; i < n; i++) {
        free(ev[i].key);
        free(ev[i].value);
    }
    free(ev);
    return 0;
}
