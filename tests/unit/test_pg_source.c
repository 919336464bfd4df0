/* The PostgreSQL CDC source against a real PostgreSQL 15 (tests/fixtures/pg_start.sh), and the
 * datagen source. The connect runtime is replaced by a small harness that implements
 * source_emit / source_committed_position / source_name and keeps the records in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "common/clock.h"
#include "connect/connector.h"
#include "connect/sources/datagen.h"
#include "connect/sources/pgoutput.h"
#include "connect/sources/postgres.h"

/* ---------------------------------------------------------------- harness */

typedef struct rec {
    char *topic;
    char *key;   /* NULL = null key */
    char *value; /* NULL = tombstone */
    char *position;
} rec_t;

struct source_ctx {
    const char *name;
    char *committed;
    bool count_only; /* benchmarks: count, do not keep */
    rec_t *recs;
    int n, cap;
    int64_t counted;
    char last_position[64];
};

static char *dup_slice(sb_slice_t s)
{
    if (s.len < 0) return NULL;
    char *p = malloc((size_t)s.len + 1);
    memcpy(p, s.p, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

int source_emit(source_ctx_t *ctx, const connect_record_t *r, const char *position)
{
    ctx->counted++;
    if (position) snprintf(ctx->last_position, sizeof(ctx->last_position), "%s", position);
    if (ctx->count_only) return 0;
    if (ctx->n == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 64;
        ctx->recs = realloc(ctx->recs, (size_t)ctx->cap * sizeof(rec_t));
    }
    rec_t *x = &ctx->recs[ctx->n++];
    x->topic = strdup(r->topic);
    x->key = dup_slice(r->key);
    x->value = dup_slice(r->value);
    x->position = position ? strdup(position) : NULL;
    return 0;
}

const char *source_committed_position(source_ctx_t *ctx)
{
    return ctx->committed;
}

const char *source_name(source_ctx_t *ctx)
{
    return ctx->name;
}

/* The runtime provides this; weak so the test links with or without the runtime's copy. */
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field, const char *fmt, ...)
{
    if (e->count >= (int)(sizeof(e->items) / sizeof(e->items[0]))) return;
    snprintf(e->items[e->count].field, sizeof(e->items[e->count].field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->items[e->count].msg, sizeof(e->items[e->count].msg), fmt, ap);
    va_end(ap);
    e->count++;
}

static void ctx_clear(source_ctx_t *ctx)
{
    for (int i = 0; i < ctx->n; i++) {
        free(ctx->recs[i].topic);
        free(ctx->recs[i].key);
        free(ctx->recs[i].value);
        free(ctx->recs[i].position);
    }
    free(ctx->recs);
    free(ctx->committed);
    ctx->recs = NULL;
    ctx->committed = NULL;
    ctx->n = ctx->cap = 0;
    ctx->counted = 0;
}

/* Records on one topic, in emit order. */
static int on_topic(source_ctx_t *ctx, const char *topic, rec_t **out, int max)
{
    int k = 0;
    for (int i = 0; i < ctx->n && k < max; i++)
        if (!strcmp(ctx->recs[i].topic, topic)) out[k++] = &ctx->recs[i];
    return k;
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fail_msg("bad JSON (%s): %s", e.text, s);
    return j;
}

static const char *op_of(const rec_t *r)
{
    static char op[4];
    if (!r->value) return "tombstone";
    json_t *j = parse(r->value);
    snprintf(op, sizeof(op), "%s", json_string_value(json_object_get(j, "op")));
    json_decref(j);
    return op;
}

/* ---------------------------------------------------------------- PostgreSQL fixture */

static char pg_dir[256];
static char conninfo[256];
static char repo_root[512];
static PGconn *admin;

static void sql(const char *q)
{
    PGresult *r = PQexec(admin, q);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQerrorMessage(admin));
    PQclear(r);
}

static char *sql_value(const char *q)
{
    PGresult *r = PQexec(admin, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s: %s", q, PQerrorMessage(admin));
    char *v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

static int pg_group_setup(void **state)
{
    (void)state;
    snprintf(repo_root, sizeof(repo_root), "%s", __FILE__);
    for (int i = 0; i < 3; i++) *strrchr(repo_root, '/') = 0; /* tests/unit/x.c -> repo */
    snprintf(pg_dir, sizeof(pg_dir), "/tmp/sb_pgsource_XXXXXX");
    if (!mkdtemp(pg_dir)) return -1;
    strcat(pg_dir, "/pg");
    int port = 21000 + getpid() % 20000;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_start.sh %s %d", repo_root, pg_dir, port);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(conninfo, sizeof(conninfo), p)) {
        if (p) pclose(p);
        return -1;
    }
    pclose(p);
    conninfo[strcspn(conninfo, "\n")] = 0;
    admin = PQconnectdb(conninfo);
    return PQstatus(admin) == CONNECTION_OK ? 0 : -1;
}

static int pg_group_teardown(void **state)
{
    (void)state;
    PQfinish(admin);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_stop.sh %s --remove >/dev/null 2>&1", repo_root, pg_dir);
    int rc = system(cmd);
    *strrchr(pg_dir, '/') = 0;
    rmdir(pg_dir);
    return rc == 0 ? 0 : -1;
}

static json_t *pg_config(const char *slot, const char *tables, const char *mode)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "database.conninfo", conninfo, "topic.prefix", "app",
                     "slot.name", slot, "publication.name", slot, "table.include.list", tables, "snapshot.mode", mode,
                     "heartbeat.interval.ms", "0", "status.interval.ms", "1000");
}

static void *start_source(const source_ops_t *ops, source_ctx_t *ctx, json_t *cfg)
{
    void *st = NULL;
    connect_err_t err = {0};
    if (ops->start(ctx, cfg, &st, &err)) fail_msg("start: %s", err.msg);
    return st;
}

/* Polls until `want` records arrived in total. The cap only stops a broken source from hanging
 * the suite; nothing is asserted about time. */
static void poll_until(const source_ops_t *ops, void *st, source_ctx_t *ctx, int64_t want)
{
    /* Gives up after 300 polls in a row (at least 30 s) brought nothing new. */
    for (int idle = 0; idle < 300 && ctx->counted < want;) {
        connect_err_t err = {0};
        int64_t before = ctx->counted;
        if (ops->poll(st, 100, &err)) fail_msg("poll: %s", err.msg);
        idle = ctx->counted == before ? idle + 1 : 0;
    }
    if (ctx->counted < want) {
        for (int i = 0; i < ctx->n; i++)
            print_message("got %s %s %s\n", ctx->recs[i].topic, ctx->recs[i].key ? ctx->recs[i].key : "null",
                          ctx->recs[i].value ? op_of(&ctx->recs[i]) : "tombstone");
        fail_msg("%" PRId64 " records, wanted %" PRId64, ctx->counted, want);
    }
}

static void poll_some(const source_ops_t *ops, void *st, int times)
{
    for (int i = 0; i < times; i++) {
        connect_err_t err = {0};
        if (ops->poll(st, 50, &err)) fail_msg("poll: %s", err.msg);
    }
}

/* ---------------------------------------------------------------- tests */

static void test_snapshot_then_changes(void **state)
{
    (void)state;
    sql("CREATE TABLE t1 (id int PRIMARY KEY, name text, price numeric(10,2), big bigint)");
    sql("INSERT INTO t1 VALUES (3,'c',3.30,1), (1,'a',1.10,9007199254740993), (2,'b',NULL,2)");
    source_ctx_t ctx = {.name = "t1-connector"};
    json_t *cfg = pg_config("s1", "public.t1", "initial");
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_until(&postgres_source_ops, st, &ctx, 3);
    poll_some(&postgres_source_ops, st, 2);
    rec_t *r[32];
    assert_int_equal(on_topic(&ctx, "app.public.t1", r, 32), 3);
    /* Snapshot rows in key order; the last one says so and carries the slot's start LSN. */
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof(want), "{\"id\":%d}", i + 1);
        assert_string_equal(r[i]->key, want);
        json_t *v = parse(r[i]->value);
        assert_string_equal(json_string_value(json_object_get(v, "op")), "r");
        json_t *src = json_object_get(v, "source");
        assert_string_equal(json_string_value(json_object_get(src, "snapshot")), i == 2 ? "last" : "true");
        assert_string_equal(json_string_value(json_object_get(json_object_get(src, "column_types"), "price")),
                            "numeric(10,2)");
        json_decref(v);
        if (i < 2) assert_null(r[i]->position);
    }
    assert_non_null(r[2]->position);
    json_t *v = parse(r[0]->value);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "big")), "9007199254740993");
    assert_true(json_is_real(json_object_get(json_object_get(v, "after"), "price")));
    json_decref(v);

    int64_t before_changes = sb_now_ms();
    sql("INSERT INTO t1 VALUES (4,'d',4.40,4)");
    sql("UPDATE t1 SET name = 'a2' WHERE id = 1");
    sql("DELETE FROM t1 WHERE id = 2");
    sql("UPDATE t1 SET id = 30 WHERE id = 3");
    sql("TRUNCATE t1");
    /* c, u, d + tombstone, d + tombstone + c, t */
    poll_until(&postgres_source_ops, st, &ctx, 3 + 8);
    int n = on_topic(&ctx, "app.public.t1", r, 32);
    assert_int_equal(n, 11);
    const char *want_ops[] = {"c", "u", "d", "tombstone", "d", "tombstone", "c", "t"};
    for (int i = 0; i < 8; i++) assert_string_equal(op_of(r[3 + i]), want_ops[i]);
    assert_string_equal(r[3]->key, "{\"id\":4}");
    assert_string_equal(r[5]->key, "{\"id\":2}");
    assert_string_equal(r[6]->key, "{\"id\":2}");
    assert_string_equal(r[7]->key, "{\"id\":3}");
    assert_string_equal(r[9]->key, "{\"id\":30}");
    assert_null(r[10]->key);
    /* Each transaction's last record carries the commit's end LSN; the others carry none. */
    int with_pos[] = {1, 1, 0, 1, 0, 0, 1, 1};
    for (int i = 0; i < 8; i++) assert_int_equal(r[3 + i]->position != NULL, with_pos[i]);
    uint64_t prev = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t lsn;
        if (!r[3 + i]->position) continue;
        assert_int_equal(pg_lsn_parse(r[3 + i]->position, &lsn), 0);
        assert_true(lsn > prev);
        prev = lsn;
    }
    v = parse(r[4]->value);
    json_t *src = json_object_get(v, "source");
    assert_true(json_integer_value(json_object_get(src, "ts_ms")) >= before_changes - 1000);
    assert_true(json_integer_value(json_object_get(src, "txId")) > 0);
    assert_true(json_integer_value(json_object_get(src, "lsn")) > 0);
    assert_string_equal(json_string_value(json_object_get(src, "snapshot")), "false");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "name")), "a2");
    assert_true(json_is_null(json_object_get(v, "before"))); /* REPLICA IDENTITY DEFAULT */
    json_decref(v);

    json_t *status = json_object();
    postgres_source_ops.status(st, status);
    assert_string_equal(json_string_value(json_object_get(status, "slot")), "s1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(status, "snapshot"), "rows")), 3);
    json_decref(status);
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
}

static void test_replica_identity_full(void **state)
{
    (void)state;
    sql("CREATE TABLE t2 (id int PRIMARY KEY, a text, b int)");
    sql("ALTER TABLE t2 REPLICA IDENTITY FULL");
    source_ctx_t ctx = {.name = "t2"};
    json_t *cfg = pg_config("s2", "public.t2", "never");
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_some(&postgres_source_ops, st, 2);
    sql("INSERT INTO t2 VALUES (1, 'x', 10)");
    sql("UPDATE t2 SET b = 11 WHERE id = 1");
    sql("DELETE FROM t2 WHERE id = 1");
    poll_until(&postgres_source_ops, st, &ctx, 4);
    rec_t *r[8];
    assert_int_equal(on_topic(&ctx, "app.public.t2", r, 8), 4);
    json_t *u = parse(r[1]->value);
    assert_string_equal(json_string_value(json_object_get(u, "op")), "u");
    assert_string_equal(r[1]->key, "{\"id\":1}"); /* the key is the primary key, not every FULL column */
    json_t *before = json_object_get(u, "before");
    assert_int_equal(json_integer_value(json_object_get(before, "b")), 10);
    assert_string_equal(json_string_value(json_object_get(before, "a")), "x");
    json_decref(u);
    json_t *d = parse(r[2]->value);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "before"), "b")), 11);
    json_decref(d);
    assert_null(r[3]->value);
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
}

static void test_add_column_emits_schema_change(void **state)
{
    (void)state;
    sql("CREATE TABLE t3 (id int PRIMARY KEY, a text)");
    source_ctx_t ctx = {.name = "t3"};
    json_t *cfg = pg_config("s3", "public.t3", "never");
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_some(&postgres_source_ops, st, 2);
    sql("INSERT INTO t3 VALUES (1, 'x')");
    poll_until(&postgres_source_ops, st, &ctx, 1);
    sql("ALTER TABLE t3 ADD COLUMN extra varchar(12)");
    sql("INSERT INTO t3 VALUES (2, 'y', 'new')");
    poll_until(&postgres_source_ops, st, &ctx, 3);
    rec_t *sc[4], *r[4];
    assert_int_equal(on_topic(&ctx, "app.schema-changes", sc, 4), 1);
    json_t *c = parse(sc[0]->value);
    assert_string_equal(json_string_value(json_object_get(c, "table")), "t3");
    json_t *cols = json_object_get(c, "columns");
    assert_int_equal(json_array_size(cols), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 2), "name")), "extra");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 2), "type")), "character varying(12)");
    assert_int_equal(json_array_size(json_object_get(c, "previous_columns")), 2);
    json_decref(c);
    assert_int_equal(on_topic(&ctx, "app.public.t3", r, 4), 2);
    json_t *v = parse(r[1]->value);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "extra")), "new");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(v, "source"), "column_types"), "extra")),
        "character varying(12)");
    json_decref(v);
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
}

static void test_restart_resumes_from_committed_position(void **state)
{
    (void)state;
    sql("CREATE TABLE t4 (id int PRIMARY KEY)");
    source_ctx_t ctx = {.name = "t4"};
    json_t *cfg = pg_config("s4", "public.t4", "never");
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_some(&postgres_source_ops, st, 2);
    char *slot_start = sql_value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's4'");
    for (int i = 1; i <= 4; i++) {
        char q[64];
        snprintf(q, sizeof(q), "INSERT INTO t4 VALUES (%d)", i);
        sql(q);
    }
    poll_until(&postgres_source_ops, st, &ctx, 4);
    poll_some(&postgres_source_ops, st, 25); /* status updates go out meanwhile: they must not confirm */
    rec_t *r[8];
    assert_int_equal(on_topic(&ctx, "app.public.t4", r, 8), 4);
    for (int i = 0; i < 4; i++) assert_non_null(r[i]->position);
    char *now = sql_value("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 's4'");
    assert_string_equal(now, slot_start); /* nothing committed: the slot has not moved */
    free(now);

    /* The broker acknowledged the first two transactions only. */
    char *half = strdup(r[1]->position);
    postgres_source_ops.commit(st, half);
    char q[160];
    snprintf(q, sizeof(q), "SELECT confirmed_flush_lsn = '%s' FROM pg_replication_slots WHERE slot_name = 's4'", half);
    char *moved = NULL;
    for (int i = 0; i < 100; i++) {
        free(moved);
        moved = sql_value(q);
        if (!strcmp(moved, "t")) break;
        poll_some(&postgres_source_ops, st, 1);
    }
    assert_string_equal(moved, "t");
    free(moved);
    postgres_source_ops.stop(st);
    ctx_clear(&ctx);

    /* Restart from the committed position: rows 3 and 4 again, 1 and 2 not. */
    ctx.committed = half;
    st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_until(&postgres_source_ops, st, &ctx, 2);
    poll_some(&postgres_source_ops, st, 10);
    assert_int_equal(on_topic(&ctx, "app.public.t4", r, 8), 2);
    assert_string_equal(r[0]->key, "{\"id\":3}");
    assert_string_equal(r[1]->key, "{\"id\":4}");
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    free(slot_start);
}

static void test_heartbeat_moves_an_idle_slot(void **state)
{
    (void)state;
    sql("CREATE TABLE t5 (id int PRIMARY KEY)");
    sql("CREATE TABLE t5_other (id int PRIMARY KEY)");
    source_ctx_t ctx = {.name = "t5"};
    json_t *cfg = pg_config("s5", "public.t5", "never");
    json_object_set_new(cfg, "heartbeat.interval.ms", json_string("200"));
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    /* Traffic on a table outside the publication advances WAL without any event for us. */
    sql("INSERT INTO t5_other SELECT generate_series(1, 100)");
    char *wal = sql_value("SELECT pg_current_wal_lsn()");
    uint64_t wal_lsn, hb_lsn = 0;
    pg_lsn_parse(wal, &wal_lsn);
    rec_t *hb[64];
    for (int i = 0; i < 200 && hb_lsn < wal_lsn; i++) {
        poll_some(&postgres_source_ops, st, 1);
        int n = on_topic(&ctx, "app.heartbeat", hb, 64);
        if (n && hb[n - 1]->position) pg_lsn_parse(hb[n - 1]->position, &hb_lsn);
    }
    assert_true(hb_lsn >= wal_lsn);
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    free(wal);
}

static void test_validate_names_each_bad_field(void **state)
{
    (void)state;
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s}", "snapshot.mode", "sometimes", "slot.name", "Bad-Slot",
                            "table.include.list", "public.ok, nodot", "heartbeat.interval.ms", "-5",
                            "tombstones.on.delete", "maybe");
    connect_config_errors_t errs = {0};
    assert_int_not_equal(postgres_source_ops.validate(cfg, &errs), 0);
    const char *want[] = {"database.conninfo", "topic.prefix", "slot.name", "table.include.list", "snapshot.mode",
                          "heartbeat.interval.ms", "tombstones.on.delete"};
    assert_int_equal(errs.count, 7);
    for (int i = 0; i < 7; i++) assert_string_equal(errs.items[i].field, want[i]);
    json_decref(cfg);

    cfg = pg_config("ok_slot", "public.t1", "initial");
    errs.count = 0;
    assert_int_equal(postgres_source_ops.validate(cfg, &errs), 0);
    json_decref(cfg);
}

static void test_bad_database_is_fatal(void **state)
{
    (void)state;
    char bad[300];
    snprintf(bad, sizeof(bad), "%.200s", conninfo);
    char *db = strstr(bad, "dbname=");
    snprintf(db, sizeof(bad) - (size_t)(db - bad), "dbname=no_such_db");
    json_t *cfg = json_pack("{s:s,s:s}", "database.conninfo", bad, "topic.prefix", "app");
    source_ctx_t ctx = {.name = "bad"};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(postgres_source_ops.start(&ctx, cfg, &st, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_FATAL);
    assert_non_null(strstr(err.msg, "no_such_db"));
    json_decref(cfg);
}

/* Measures decode + encode throughput of a bulk insert (pgbench-style, one transaction of
 * 200k rows) from the moment the transaction committed until the last event was emitted. */
static void test_bench_bulk_insert_decode_encode(void **state)
{
    (void)state;
    sql("CREATE TABLE bench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))");
    source_ctx_t ctx = {.name = "bench", .count_only = true};
    json_t *cfg = pg_config("sbench", "public.bench_accounts", "never");
    json_object_set_new(cfg, "max.batch.size", json_string("8192"));
    void *st = start_source(&postgres_source_ops, &ctx, cfg);
    poll_some(&postgres_source_ops, st, 2);
    sql("INSERT INTO bench_accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, 200000) g");
    int64_t t0 = sb_mono_us();
    poll_until(&postgres_source_ops, st, &ctx, 200000);
    int64_t us = sb_mono_us() - t0;
    assert_int_equal(ctx.counted, 200000);
    printf("# postgres source: 200000 inserted rows decoded and encoded in %.3f s = %.0f events/s\n", us / 1e6,
           200000 / (us / 1e6));
    postgres_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
}

/* ---------------------------------------------------------------- datagen */

static void test_datagen_events_and_limits(void **state)
{
    (void)state;
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "topic.prefix", "demo", "rate", "0", "tables", "2", "keys",
                            "50", "ops", "insert=50,update=30,delete=20", "max.events", "1000");
    connect_config_errors_t errs = {0};
    assert_int_equal(datagen_source_ops.validate(cfg, &errs), 0);
    source_ctx_t ctx = {.name = "dg"};
    void *st = start_source(&datagen_source_ops, &ctx, cfg);
    poll_some(&datagen_source_ops, st, 3);
    /* 1000 change events plus a tombstone per delete, then nothing more. */
    int changes = 0, tombstones = 0, deletes = 0;
    bool live[2][50] = {{false}};
    for (int i = 0; i < ctx.n; i++) {
        rec_t *r = &ctx.recs[i];
        int table = strstr(r->topic, "datagen_1") ? 1 : 0;
        assert_true(!strcmp(r->topic, "demo.public.datagen_0") || !strcmp(r->topic, "demo.public.datagen_1"));
        json_t *k = parse(r->key);
        int id = (int)json_integer_value(json_object_get(k, "id"));
        json_decref(k);
        assert_true(id >= 0 && id < 50);
        if (!r->value) {
            tombstones++;
            continue;
        }
        changes++;
        json_t *v = parse(r->value);
        const char *op = json_string_value(json_object_get(v, "op"));
        /* The stream is consistent: creates hit absent keys, updates and deletes present ones. */
        if (!strcmp(op, "c")) assert_false(live[table][id]);
        else assert_true(live[table][id]);
        live[table][id] = strcmp(op, "d") != 0;
        if (!strcmp(op, "d")) deletes++;
        json_t *src = json_object_get(v, "source");
        assert_string_equal(json_string_value(json_object_get(src, "connector")), "datagen");
        assert_string_equal(json_string_value(json_object_get(json_object_get(src, "column_types"), "price")),
                            "numeric(12,2)");
        assert_int_equal(atoi(r->position), changes);
        json_decref(v);
    }
    assert_int_equal(changes, 1000);
    assert_int_equal(tombstones, deletes);
    assert_true(deletes > 0);
    datagen_source_ops.stop(st);
    ctx_clear(&ctx);
    json_decref(cfg);

    cfg = json_pack("{s:s,s:s,s:s}", "rate", "-1", "ops", "insert=90", "tables", "0");
    errs.count = 0;
    assert_int_not_equal(datagen_source_ops.validate(cfg, &errs), 0);
    assert_int_equal(errs.count, 4); /* topic.prefix, rate, tables, ops */
    json_decref(cfg);
}

static void test_datagen_is_paced(void **state)
{
    (void)state;
    /* Pacing follows an absolute schedule (event i due at start + i/rate): the source never runs
     * ahead of it, and after a stall one poll catches up with everything that became due. Both
     * bounds follow from the schedule, whatever the machine's load. */
    json_t *cfg = json_pack("{s:s,s:s,s:s}", "topic.prefix", "demo", "rate", "2000", "ops", "insert=70,update=30");
    source_ctx_t ctx = {.name = "dg2", .count_only = true};
    int64_t before_start = sb_mono_us();
    void *st = start_source(&datagen_source_ops, &ctx, cfg);
    int64_t after_start = sb_mono_us();
    poll_some(&datagen_source_ops, st, 4);
    assert_true(ctx.counted <= (sb_mono_us() - before_start) * 2000 / 1000000 + 1);
    usleep(300000);
    int64_t before_poll = sb_mono_us();
    connect_err_t err;
    assert_int_equal(datagen_source_ops.poll(st, 0, &err), 0);
    assert_true(ctx.counted >= (before_poll - after_start) * 2000 / 1000000);
    assert_true(ctx.counted <= (sb_mono_us() - before_start) * 2000 / 1000000 + 1);
    datagen_source_ops.stop(st);
    ctx_clear(&ctx);
    json_decref(cfg);
}

static void test_datagen_throughput(void **state)
{
    (void)state;
    json_t *cfg = json_pack("{s:s,s:s,s:s}", "topic.prefix", "demo", "rate", "0", "max.events", "200000");
    source_ctx_t ctx = {.name = "dg3", .count_only = true};
    void *st = start_source(&datagen_source_ops, &ctx, cfg);
    int64_t t0 = sb_mono_us();
    while (ctx.counted < 200000) poll_some(&datagen_source_ops, st, 1);
    int64_t us = sb_mono_us() - t0;
    printf("# datagen: %" PRId64 " records (200000 events) in %.3f s = %.0f events/s\n", ctx.counted, us / 1e6,
           200000 / (us / 1e6));
    datagen_source_ops.stop(st);
    ctx_clear(&ctx);
    json_decref(cfg);
}

int main(void)
{
    const struct CMUnitTest datagen_tests[] = {
        cmocka_unit_test(test_datagen_events_and_limits),
        cmocka_unit_test(test_datagen_is_paced),
        cmocka_unit_test(test_datagen_throughput),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_validate_names_each_bad_field),
        cmocka_unit_test(test_snapshot_then_changes),
        cmocka_unit_test(test_replica_identity_full),
        cmocka_unit_test(test_add_column_emits_schema_change),
        cmocka_unit_test(test_restart_resumes_from_committed_position),
        cmocka_unit_test(test_heartbeat_moves_an_idle_slot),
        cmocka_unit_test(test_bad_database_is_fatal),
        cmocka_unit_test(test_bench_bulk_insert_decode_encode),
    };
    int failed = cmocka_run_group_tests_name("datagen", datagen_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("postgres", pg_tests, pg_group_setup, pg_group_teardown);
    return failed;
}
