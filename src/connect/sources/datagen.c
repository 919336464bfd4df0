/* Synthetic change events for demos and benchmarks; see datagen.h and docs/sources.md.
 *
 * Events are paced against an absolute schedule (event i is due at start + i/rate), so short
 * stalls are caught up and the long-run rate does not drift. Each table keeps a bitmap of the
 * keys it has created, so updates and deletes hit rows that exist and inserts create new ones,
 * as a sink applying the stream would expect. Values come from a seeded PRNG: the same config
 * produces the same stream. */
#include "connect/sources/datagen.h"

#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "connect/envelope.h"

#define DATAGEN_NCOLS 5
#define DATAGEN_MAX_BATCH 8192

typedef struct datagen_table {
    char *topic;
    envelope_table_t *env;
    uint8_t *exists; /* bitmap over the key space */
    int64_t live;    /* keys currently present */
} datagen_table_t;

typedef struct datagen {
    source_ctx_t *ctx;
    char *prefix;
    double rate; /* events/s, 0 = unpaced */
    int ntables;
    int64_t keys;
    int pct_insert, pct_update; /* delete = the rest */
    int64_t max_events;
    bool tombstones;
    uint64_t rng;

    int64_t seq;        /* events emitted (and the position of the last one) */
    int64_t start_seq;  /* seq at start: the schedule counts from here */
    int64_t start_us;   /* monotonic start of the schedule */
    datagen_table_t *tables;
    sb_wr_t key, val;
} datagen_t;

static bool cfg_num(const json_t *config, const char *key, double dflt, double min, double max, double *out)
{
    json_t *v = json_object_get(config, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (json_is_number(v)) {
        *out = json_number_value(v);
    } else if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        *out = strtod(s, &end);
        if (!*s || *end) return false;
    } else {
        return false;
    }
    return *out >= min && *out <= max;
}

/* "insert=60,update=30,delete=10" */
static bool parse_ops(const char *s, int *ins, int *upd, int *del)
{
    *ins = *upd = *del = 0;
    char op[16];
    int pct, n;
    while (*s) {
        if (sscanf(s, " %15[a-z] = %d%n", op, &pct, &n) != 2 || pct < 0 || pct > 100) return false;
        if (!strcmp(op, "insert")) *ins = pct;
        else if (!strcmp(op, "update")) *upd = pct;
        else if (!strcmp(op, "delete")) *del = pct;
        else return false;
        s += n;
        while (*s == ' ') s++;
        if (*s == ',') s++;
        else if (*s) return false;
    }
    return *ins + *upd + *del == 100;
}

static int datagen_validate(const json_t *config, connect_config_errors_t *errs)
{
    int before = errs->count;
    json_t *p = json_object_get(config, "topic.prefix");
    if (!json_is_string(p) || !*json_string_value(p))
        connect_config_error_add(errs, "topic.prefix", "required: the topic prefix, e.g. \"demo\"");
    double d;
    if (!cfg_num(config, "rate", 1000, 0, 1e9, &d))
        connect_config_error_add(errs, "rate", "must be a number of events per second >= 0 (0 = as fast as possible)");
    if (!cfg_num(config, "tables", 1, 1, 1000, &d) || d != (int)d)
        connect_config_error_add(errs, "tables", "must be an integer from 1 to 1000");
    if (!cfg_num(config, "keys", 100000, 1, 1e9, &d) || d != (int64_t)d)
        connect_config_error_add(errs, "keys", "must be an integer from 1 to 1000000000");
    if (!cfg_num(config, "max.events", 0, 0, 9e15, &d) || d != (int64_t)d)
        connect_config_error_add(errs, "max.events", "must be an integer >= 0 (0 = unlimited)");
    if (!cfg_num(config, "seed", 1, 0, 9e15, &d))
        connect_config_error_add(errs, "seed", "must be an integer >= 0");
    json_t *ops = json_object_get(config, "ops");
    int a, b, c;
    if (ops && (!json_is_string(ops) || !parse_ops(json_string_value(ops), &a, &b, &c)))
        connect_config_error_add(errs, "ops", "must look like insert=60,update=30,delete=10 (summing to 100)");
    json_t *t = json_object_get(config, "tombstones.on.delete");
    if (t && !json_is_boolean(t) &&
        !(json_is_string(t) && (!strcmp(json_string_value(t), "true") || !strcmp(json_string_value(t), "false"))))
        connect_config_error_add(errs, "tombstones.on.delete", "must be true or false");
    return errs->count > before ? SB_EINVAL : 0;
}

/* xorshift64*: fast, and good enough for synthetic data. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void datagen_stop(void *state);

static int datagen_start(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    connect_config_errors_t errs = {0};
    if (datagen_validate(config, &errs))
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "datagen: invalid config: %s: %s", errs.items[0].field,
                       errs.items[0].msg);
    datagen_t *g = calloc(1, sizeof(*g));
    if (!g) return connect_err_set(err, CONNECT_ERR_FATAL, -1, "datagen: out of memory");
    g->ctx = ctx;
    double d;
    g->prefix = strdup(json_string_value(json_object_get(config, "topic.prefix")));
    cfg_num(config, "rate", 1000, 0, 1e9, &g->rate);
    cfg_num(config, "tables", 1, 1, 1000, &d);
    g->ntables = (int)d;
    cfg_num(config, "keys", 100000, 1, 1e9, &d);
    g->keys = (int64_t)d;
    cfg_num(config, "max.events", 0, 0, 9e15, &d);
    g->max_events = (int64_t)d;
    cfg_num(config, "seed", 1, 0, 9e15, &d);
    g->rng = (uint64_t)d * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (!g->rng) g->rng = 1; /* xorshift never leaves 0 */
    json_t *ops = json_object_get(config, "ops");
    int del;
    g->pct_insert = 60;
    g->pct_update = 30;
    if (ops) parse_ops(json_string_value(ops), &g->pct_insert, &g->pct_update, &del);
    json_t *t = json_object_get(config, "tombstones.on.delete");
    g->tombstones = !t || json_is_true(t) || (json_is_string(t) && !strcmp(json_string_value(t), "true"));
    sb_wr_init(&g->key, 64);
    sb_wr_init(&g->val, 512);
    g->tables = calloc((size_t)g->ntables, sizeof(*g->tables));
    if (!g->prefix || !g->tables) {
        datagen_stop(g);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "datagen: out of memory");
    }
    static const envelope_column_t cols[DATAGEN_NCOLS] = {
        {"id", "bigint", ENVELOPE_KIND_INTEGER, true},
        {"quantity", "integer", ENVELOPE_KIND_INTEGER, false},
        {"name", "text", ENVELOPE_KIND_STRING, false},
        {"updated_at", "timestamp with time zone", ENVELOPE_KIND_STRING, false},
        {"price", "numeric(12,2)", ENVELOPE_KIND_NUMERIC, false},
    };
    for (int i = 0; i < g->ntables; i++) {
        char table[32];
        snprintf(table, sizeof(table), "datagen_%d", i);
        size_t tl = strlen(g->prefix) + strlen(table) + 16;
        g->tables[i].topic = malloc(tl);
        if (g->tables[i].topic) snprintf(g->tables[i].topic, tl, "%s.public.%s", g->prefix, table);
        g->tables[i].env = envelope_table_new("datagen", "public", table, cols, DATAGEN_NCOLS);
        g->tables[i].exists = calloc((size_t)(g->keys + 7) / 8, 1);
        if (!g->tables[i].topic || !g->tables[i].env || !g->tables[i].exists) {
            int64_t keys = g->keys;
            datagen_stop(g);
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "datagen: out of memory (keys=%" PRId64 ")", keys);
        }
    }
    const char *committed = source_committed_position(ctx);
    if (committed) {
        char *end;
        long long n = strtoll(committed, &end, 10);
        if (*end || n < 0) {
            datagen_stop(g);
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "datagen: committed position \"%s\" is not a sequence number",
                           committed);
        }
        g->seq = n;
        if (!g->rng) g->rng = 1;
        /* Keys created before the restart are unknown; pretend the first half of the key space
         * exists so updates and deletes have targets straight away. */
        for (int i = 0; i < g->ntables; i++) {
            memset(g->tables[i].exists, 0xff, (size_t)g->keys / 16);
            g->tables[i].live = (g->keys / 16) * 8;
        }
        g->rng ^= (uint64_t)n * 0xD1B54A32D192ED03ULL; /* new values after a restart, still reproducible */
    }
    g->start_seq = g->seq;
    g->start_us = sb_mono_us();
    *state = g;
    return 0;
}

static bool key_exists(const datagen_table_t *t, int64_t k)
{
    return t->exists[k >> 3] & (1u << (k & 7));
}

static void key_set(datagen_table_t *t, int64_t k, bool on)
{
    if (on == key_exists(t, k)) return;
    if (on) t->exists[k >> 3] |= (uint8_t)(1u << (k & 7));
    else t->exists[k >> 3] &= (uint8_t)~(1u << (k & 7));
    t->live += on ? 1 : -1;
}

/* First key at or after `from` (wrapping) whose existence equals `want`; -1 if none. */
/* The first key at or after `from` (wrapping once) whose presence is `want`, or -1. Runs of
 * 64 keys that cannot match are skipped with one comparison, so a nearly full (or empty) key
 * space stays cheap: probing bit by bit cost a fifth of all CPU once the space filled up. */
static int64_t find_key(const datagen_table_t *t, int64_t keys, int64_t from, bool want)
{
    const uint64_t skip = want ? 0 : UINT64_MAX;
    int64_t k = from, seen = 0;
    while (seen < keys) {
        if ((k & 63) == 0 && k + 64 <= keys && seen + 64 <= keys) {
            uint64_t word;
            memcpy(&word, t->exists + (k >> 3), sizeof(word));
            if (word == skip) {
                k += 64;
                seen += 64;
                if (k >= keys) k = 0;
                continue;
            }
        }
        if (key_exists(t, k) == want) return k;
        k++;
        seen++;
        if (k >= keys) k = 0;
    }
    return -1;
}

static int emit(datagen_t *g, const char *topic, bool value_null, int64_t ts_ms, connect_err_t *err)
{
    char pos[24];
    snprintf(pos, sizeof(pos), "%" PRId64, g->seq);
    connect_record_t rec = {
        .topic = topic,
        .partition = -1,
        .offset = -1,
        .timestamp_ms = ts_ms,
        .key = {g->key.buf, (int32_t)g->key.len},
        .value = {value_null ? NULL : g->val.buf, value_null ? -1 : (int32_t)g->val.len},
    };
    if (source_emit(g->ctx, &rec, pos) < 0) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "datagen: runtime stopping");
    return 0;
}

static int generate_one(datagen_t *g, connect_err_t *err)
{
    int ti = (int)(rng_next(&g->rng) % (uint64_t)g->ntables);
    datagen_table_t *t = &g->tables[ti];
    int roll = (int)(rng_next(&g->rng) % 100);
    int64_t from = (int64_t)(rng_next(&g->rng) % (uint64_t)g->keys);
    char op = roll < g->pct_insert ? 'c' : roll < g->pct_insert + g->pct_update ? 'u' : 'd';
    if (op == 'c' && t->live == g->keys) op = 'u';
    if (op != 'c' && t->live == 0) op = 'c';
    int64_t k = find_key(t, g->keys, from, op != 'c');

    int64_t now_ms = sb_now_ms();
    char id[24], qty[16], name[32], ts[48], price[32];
    snprintf(id, sizeof(id), "%" PRId64, k);
    snprintf(qty, sizeof(qty), "%d", (int)(rng_next(&g->rng) % 1000));
    snprintf(name, sizeof(name), "item-%" PRId64 "-v%" PRId64, k, g->seq);
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03d+00", (int)(now_ms % 1000));
    uint64_t cents = rng_next(&g->rng) % 10000000;
    snprintf(price, sizeof(price), "%" PRIu64 ".%02" PRIu64, cents / 100, cents % 100);
    envelope_value_t row[DATAGEN_NCOLS] = {
        {id, (int32_t)strlen(id)},   {qty, (int32_t)strlen(qty)},     {name, (int32_t)strlen(name)},
        {ts, (int32_t)strlen(ts)},   {price, (int32_t)strlen(price)},
    };
    envelope_value_t key_only[DATAGEN_NCOLS] = {
        {id, (int32_t)strlen(id)}, {NULL, ENVELOPE_NULL}, {NULL, ENVELOPE_NULL}, {NULL, ENVELOPE_NULL},
        {NULL, ENVELOPE_NULL},
    };
    g->seq++;
    envelope_source_t src = {.connector = "datagen", .name = g->prefix, .ts_ms = now_ms, .lsn = g->seq,
                             .txid = g->seq, .snapshot = "false"};
    sb_wr_reset(&g->key);
    sb_wr_reset(&g->val);
    envelope_write_key(&g->key, t->env, row);
    if (op == 'd') envelope_write_value(&g->val, t->env, 'd', key_only, NULL, &src, now_ms);
    else envelope_write_value(&g->val, t->env, op, NULL, row, &src, now_ms);
    if (g->key.oom || g->val.oom) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "datagen: out of memory");
    key_set(t, k, op != 'd');
    if (emit(g, t->topic, false, now_ms, err)) return -1;
    if (op == 'd' && g->tombstones) return emit(g, t->topic, true, now_ms, err);
    return 0;
}

static int datagen_poll(void *state, int timeout_ms, connect_err_t *err)
{
    datagen_t *g = state;
    int64_t deadline_us = sb_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (g->max_events && g->seq >= g->max_events) {
            if (timeout_ms > 0) poll(NULL, 0, timeout_ms);
            return 0;
        }
        int64_t due = INT64_MAX;
        if (g->rate > 0) {
            int64_t elapsed = sb_mono_us() - g->start_us;
            due = (int64_t)((double)elapsed * g->rate / 1e6) - (g->seq - g->start_seq);
        }
        if (due > 0) {
            int64_t batch = due < DATAGEN_MAX_BATCH ? due : DATAGEN_MAX_BATCH;
            if (g->max_events && batch > g->max_events - g->seq) batch = g->max_events - g->seq;
            for (int64_t i = 0; i < batch; i++)
                if (generate_one(g, err)) return -1;
            return 0;
        }
        /* Sleep until the next event is due or the timeout ends. */
        int64_t next_us = g->start_us + (int64_t)((double)(g->seq - g->start_seq + 1) * 1e6 / g->rate);
        int64_t now = sb_mono_us();
        int64_t wake = next_us < deadline_us ? next_us : deadline_us;
        if (wake <= now) {
            if (now >= deadline_us) return 0;
            continue;
        }
        struct timespec ts = {(time_t)((wake - now) / 1000000), (long)((wake - now) % 1000000) * 1000};
        nanosleep(&ts, NULL);
        if (sb_mono_us() >= deadline_us && next_us > deadline_us) return 0;
    }
}

static void datagen_commit(void *state, const char *position)
{
    (void)state;
    (void)position; /* positions are sequence numbers: nothing to acknowledge upstream */
}

static void datagen_stop(void *state)
{
    datagen_t *g = state;
    if (!g) return;
    for (int i = 0; g->tables && i < g->ntables; i++) {
        free(g->tables[i].topic);
        envelope_table_free(g->tables[i].env);
        free(g->tables[i].exists);
    }
    free(g->tables);
    free(g->prefix);
    sb_wr_deinit(&g->key);
    sb_wr_deinit(&g->val);
    free(g);
}

static void datagen_status(void *state, json_t *out)
{
    datagen_t *g = state;
    json_object_set_new(out, "events", json_integer(g->seq));
    json_object_set_new(out, "rate", json_real(g->rate));
    double secs = (double)(sb_mono_us() - g->start_us) / 1e6;
    json_object_set_new(out, "actual_rate", json_real(secs > 0 ? (double)(g->seq - g->start_seq) / secs : 0));
}

const source_ops_t datagen_source_ops = {
    .name = "datagen",
    .description = "Synthetic Debezium-shaped change events at a set rate, for demos and benchmarks",
    .validate = datagen_validate,
    .start = datagen_start,
    .poll = datagen_poll,
    .commit = datagen_commit,
    .stop = datagen_stop,
    .status = datagen_status,
    .validate_position = connect_position_validate_count,
};
