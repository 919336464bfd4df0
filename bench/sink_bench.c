/* sink_bench: the PostgreSQL sink next to PostgreSQL's own fastest upsert path, same server,
 * same rows.
 *
 *   (a) PostgreSQL only: the rows as ready-made COPY text, loaded by hand with
 *       BEGIN; COPY into a temp staging table; INSERT ... SELECT ... ON CONFLICT DO UPDATE; COMMIT
 *       - once for all rows (the machine's limit) and in batches of --batch rows;
 *   (b) postgres_sink_ops.put() for the same rows as Debezium JSON events in batches of --batch
 *       (the "topic already full" case: parsing, reduction, COPY, upsert and the position
 *       write are all inside the timed region; reading from the broker is not).
 *
 * Each measurement loads into a freshly created table, so every row is an insert; a second
 * round over the same keys measures updates (ON CONFLICT DO UPDATE taken).
 *
 * Usage: sink_bench [--rows N] [--batch B] [--conninfo STR]
 * Without --conninfo it starts a throw-away PostgreSQL 15 with tests/fixtures/pg_start.sh.
 *
 * Build: `bench/CMakeLists.txt` did not exist on main when this was written; the target is
 *   add_executable(sink_bench sink_bench.c)
 *   target_link_libraries(sink_bench PRIVATE streambus_core)
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connect/connector.h"
#include "connect/sinks/pg_sink.h"

/* The connect runtime provides these; weak so that the library's win when it has them. */
struct sink_ctx {
    const char *name;
};
__attribute__((weak)) const char *sink_name(sink_ctx_t *ctx)
{
    return ctx->name;
}
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field, const char *fmt, ...)
{
    (void)e;
    (void)field;
    (void)fmt;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

#define TABLE_DDL "(id bigint PRIMARY KEY, name text, qty integer, price numeric(10,2), updated_at timestamptz)"

static void row_fields(long i, int round, char *name, size_t cap, int *qty, char *price, size_t pcap, char *ts, size_t tcap)
{
    snprintf(name, cap, "customer %ld round %d", i, round);
    *qty = (int)(i % 1000) + round;
    snprintf(price, pcap, "%ld.%02ld", (i * 7) % 10000, i % 100);
    snprintf(ts, tcap, "2024-05-%02ld 12:%02ld:%02ld.123+00", 1 + i % 28, i % 60, (i / 60) % 60);
}

/* (a) by hand: COPY text into staging, INSERT ... ON CONFLICT. */
static double load_by_hand(PGconn *c, long rows, long batch, int round)
{
    char *text = malloc((size_t)batch * 160 + 1);
    if (!text) die("out of memory");
    double spent = 0;
    for (long start = 0; start < rows; start += batch) {
        long end = start + batch < rows ? start + batch : rows;
        size_t len = 0;
        for (long i = start; i < end; i++) {
            char name[64], price[32], ts[64];
            int qty;
            row_fields(i, round, name, sizeof(name), &qty, price, sizeof(price), ts, sizeof(ts));
            len += (size_t)sprintf(text + len, "%ld\t%s\t%d\t%s\t%s\n", i, name, qty, price, ts);
        }
        double t0 = now_s();
        exec_ok(c, "BEGIN");
        PGresult *r = PQexec(c, "COPY pg_temp.hand_stg (id, name, qty, price, updated_at) FROM STDIN");
        if (PQresultStatus(r) != PGRES_COPY_IN) die("COPY: %s", PQerrorMessage(c));
        PQclear(r);
        if (PQputCopyData(c, text, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1) die("COPY data: %s", PQerrorMessage(c));
        while ((r = PQgetResult(c))) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) die("COPY end: %s", PQerrorMessage(c));
            PQclear(r);
        }
        exec_ok(c, "INSERT INTO hand AS t (id, name, qty, price, updated_at) SELECT id, name, qty, price, updated_at"
                   " FROM pg_temp.hand_stg ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, qty = EXCLUDED.qty,"
                   " price = EXCLUDED.price, updated_at = EXCLUDED.updated_at; COMMIT");
        spent += now_s() - t0;
    }
    free(text);
    return spent;
}

typedef struct events {
    connect_record_t *recs;
    char *bytes;
} events_t;

static events_t build_events(long rows, int round, int64_t first_offset)
{
    events_t e;
    e.recs = calloc((size_t)rows, sizeof(*e.recs));
    e.bytes = malloc((size_t)rows * 640);
    if (!e.recs || !e.bytes) die("out of memory");
    size_t o = 0;
    for (long i = 0; i < rows; i++) {
        char name[64], price[32], ts[64];
        int qty;
        row_fields(i, round, name, sizeof(name), &qty, price, sizeof(price), ts, sizeof(ts));
        connect_record_t *r = &e.recs[i];
        r->topic = "bench.public.sinkt";
        r->partition = 0;
        r->offset = first_offset + i;
        r->timestamp_ms = 1716000000000;
        int kl = sprintf(e.bytes + o, "{\"id\":%ld}", i);
        r->key = (sb_slice_t){(const uint8_t *)e.bytes + o, kl};
        o += (size_t)kl;
        int vl = sprintf(e.bytes + o,
                         "{\"before\":null,\"after\":{\"id\":%ld,\"name\":\"%s\",\"qty\":%d,\"price\":\"%s\","
                         "\"updated_at\":\"%s\"},\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\","
                         "\"name\":\"bench\",\"ts_ms\":1716000000000,\"db\":\"app\",\"schema\":\"public\","
                         "\"table\":\"sinkt\",\"lsn\":%ld,\"txId\":%ld,\"snapshot\":\"false\",\"column_types\":{"
                         "\"id\":\"bigint\",\"name\":\"text\",\"qty\":\"integer\",\"price\":\"numeric(10,2)\","
                         "\"updated_at\":\"timestamp with time zone\"}},\"op\":\"%c\",\"ts_ms\":1716000000001}",
                         i, name, qty, price, ts, 1000000 + i, 500 + i / 10, round ? 'u' : 'c');
        r->value = (sb_slice_t){(const uint8_t *)e.bytes + o, vl};
        o += (size_t)vl;
    }
    return e;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double g_sink_cpu; /* CPU time of this process inside put() */

static double load_by_sink(void *sink, const events_t *e, long rows, long batch)
{
    double c0 = cpu_s();
    double t0 = now_s();
    for (long start = 0; start < rows; start += batch) {
        int n = (int)(start + batch < rows ? batch : rows - start);
        connect_err_t err;
        if (postgres_sink_ops.put(sink, e->recs + start, n, &err) != 0) die("put: class %d: %s", err.cls, err.msg);
    }
    g_sink_cpu += cpu_s() - c0;
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    long rows = 200000, batch = 5000;
    const char *conninfo = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) rows = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--conninfo") == 0 && i + 1 < argc) conninfo = argv[++i];
        else die("usage: sink_bench [--rows N] [--batch B] [--conninfo STR]");
    }
    if (rows <= 0 || batch <= 0) die("--rows and --batch must be positive");

    char dir[64] = "", started[256];
    if (!conninfo) {
        char src[512];
        snprintf(src, sizeof(src), "%s", __FILE__);
        char *cut = strstr(src, "/bench/");
        if (cut) *cut = '\0';
        snprintf(dir, sizeof(dir), "/tmp/sb_sinkbench_XXXXXX");
        if (!mkdtemp(dir)) die("mkdtemp failed");
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_start.sh %s/pg %d", src, dir, 20000 + (int)(getpid() % 20000));
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(started, sizeof(started), p)) die("pg_start.sh failed");
        pclose(p);
        started[strcspn(started, "\n")] = '\0';
        conninfo = started;
    }

    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) die("connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    exec_ok(c, "DROP TABLE IF EXISTS hand, sinkt; DROP TABLE IF EXISTS streambus_sink_offsets");
    exec_ok(c, "CREATE TABLE hand " TABLE_DDL);
    exec_ok(c, "CREATE TEMP TABLE hand_stg (LIKE hand INCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS");
    exec_ok(c, "CHECKPOINT");

    double a_one = load_by_hand(c, rows, rows, 0);
    exec_ok(c, "TRUNCATE hand");
    exec_ok(c, "CHECKPOINT");
    double a_batched = load_by_hand(c, rows, batch, 0);
    double a_upd = load_by_hand(c, rows, batch, 1);

    json_t *cfg = json_pack("{s:s}", "connection.conninfo", conninfo);
    struct sink_ctx ctx = {.name = "sink-bench"};
    void *sink = NULL;
    connect_err_t err;
    if (postgres_sink_ops.start(&ctx, cfg, &sink, &err) != 0) die("start: %s", err.msg);
    json_decref(cfg);
    events_t ins = build_events(rows, 0, 0);
    events_t upd = build_events(rows, 1, rows);
    exec_ok(c, "CHECKPOINT");
    double b_ins = load_by_sink(sink, &ins, rows, batch);
    double b_upd = load_by_sink(sink, &upd, rows, batch);

    /* Both paths must have produced the same table. */
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM sinkt), (SELECT count(*) FROM (SELECT * FROM hand EXCEPT"
                            " SELECT * FROM sinkt) d)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die("check: %s", PQerrorMessage(c));
    long count = atol(PQgetvalue(r, 0, 0)), differ = atol(PQgetvalue(r, 0, 1));
    PQclear(r);

    double best = rows / a_one > rows / a_batched ? rows / a_one : rows / a_batched;
    printf("rows %ld, batch %ld\n", rows, batch);
    printf("(a) PostgreSQL only, COPY+INSERT ON CONFLICT, one batch : %9.0f rows/s\n", rows / a_one);
    printf("(a) PostgreSQL only, same, batches of %-6ld           : %9.0f rows/s\n", batch, rows / a_batched);
    printf("(a) PostgreSQL only, updates, batches of %-6ld        : %9.0f rows/s\n", batch, rows / a_upd);
    printf("(b) postgres-sink put(), inserts, batches of %-6ld    : %9.0f events/s\n", batch, rows / b_ins);
    printf("(b) postgres-sink put(), updates, batches of %-6ld    : %9.0f events/s\n", batch, rows / b_upd);
    printf("ratio inserts (b) / best (a)       : %.2f\n", (rows / b_ins) / best);
    printf("ratio updates (b) / (a) updates    : %.2f\n", (rows / b_upd) / (rows / a_upd));
    printf("sink client CPU per event          : %.2f us\n", g_sink_cpu / (2.0 * (double)rows) * 1e6);
    printf("check: sink table %ld rows, %ld differ from the hand-loaded table\n", count, differ);

    postgres_sink_ops.stop(sink);
    PQfinish(c);
    free(ins.recs);
    free(ins.bytes);
    free(upd.recs);
    free(upd.bytes);
    if (dir[0]) {
        char cmd[1024];
        char src[512];
        snprintf(src, sizeof(src), "%s", __FILE__);
        char *cut = strstr(src, "/bench/");
        if (cut) *cut = '\0';
        snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_stop.sh %s/pg --remove; rmdir %s", src, dir, dir);
        if (system(cmd) != 0) fprintf(stderr, "pg_stop.sh failed\n");
    }
    return differ == 0 && count == rows ? 0 : 1;
}
