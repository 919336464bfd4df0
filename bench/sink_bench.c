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
 * Usage: sink_bench [--rows N] [--batch B] [--rounds R] [--conninfo STR]
 * Every path is measured once per round (default 3); the medians are compared.
 * Without --conninfo it starts a throw-away PostgreSQL 15 with tests/fixtures/pg_start.sh.
 *
 * Build: `cmake --build <dir> --target sink_bench` (bench/CMakeLists.txt). */
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

/* The connect runtime provides these; weak so that the library's win when it has them. The
 * bench passes no sink_ctx: the sink takes its name from the "name" config key. */
__attribute__((weak)) const char *sink_name(sink_ctx_t *ctx)
{
    return NULL;
}
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field,
                                                    const char *fmt, ...)
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

#define TABLE_DDL                                                                                  \
    "(id bigint PRIMARY KEY, name text, qty integer, price numeric(10,2), updated_at timestamptz)"

static void row_fields(long i, int round, char *name, size_t cap, int *qty, char *price,
                       size_t pcap, char *ts, size_t tcap)
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
        PGresult *r =
            PQexec(c, "COPY pg_temp.hand_stg (id, name, qty, price, updated_at) FROM STDIN");
        if (PQresultStatus(r) != PGRES_COPY_IN) die("COPY: %s", PQerrorMessage(c));
        PQclear(r);
        if (PQputCopyData(c, text, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1)
            die("COPY data: %s", PQerrorMessage(c));
        while ((r = PQgetResult(c))) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) die("COPY end: %s", PQerrorMessage(c));
            PQclear(r);
        }
        exec_ok(c, "INSERT INTO hand AS t (id, name, qty, price, updated_at) SELECT id, name, qty, "
                   "price, updated_at"
                   " FROM pg_temp.hand_stg ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                   "qty = EXCLUDED.qty,"
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
        int vl = sprintf(
            e.bytes + o,
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
        if (postgres_sink_ops.put(sink, e->recs + start, n, &err) != 0)
            die("put: class %d: %s", err.cls, err.msg);
    }
    g_sink_cpu += cpu_s() - c0;
    return now_s() - t0;
}

enum { MAX_ROUNDS = 15 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    double tmp[MAX_ROUNDS];
    memcpy(tmp, v, sizeof(double) * (size_t)n);
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    long rows = 200000, batch = 5000;
    int rounds = 3;
    const char *conninfo = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = atol(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--conninfo") == 0 && i + 1 < argc)
            conninfo = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else
            die("usage: sink_bench [--rows N] [--batch B] [--rounds R] [--conninfo STR]");
    }
    if (rows <= 0 || batch <= 0) die("--rows and --batch must be positive");
    if (rounds < 1 || rounds > MAX_ROUNDS) die("--rounds must be 1 to %d", MAX_ROUNDS);

    char dir[64] = "", started[256];
    if (!conninfo) {
        char src[512];
        snprintf(src, sizeof(src), "%s", __FILE__);
        char *cut = strstr(src, "/bench/");
        if (cut) *cut = '\0';
        snprintf(dir, sizeof(dir), "/tmp/sb_sinkbench_XXXXXX");
        if (!mkdtemp(dir)) die("mkdtemp failed");
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_start.sh %s/pg %d", src, dir,
                 20000 + (int)(getpid() % 20000));
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(started, sizeof(started), p)) die("pg_start.sh failed");
        pclose(p);
        started[strcspn(started, "\n")] = '\0';
        conninfo = started;
    }

    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) die("connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    events_t ins = build_events(rows, 0, 0);
    events_t upd = build_events(rows, 1, rows);

    /* The machine is shared: each round measures every path once, back to back, and the
     * medians over the rounds are compared, so a busy moment does not favour one side. */
    double a_one[MAX_ROUNDS], a_ins[MAX_ROUNDS], a_upd[MAX_ROUNDS], b_ins[MAX_ROUNDS],
        b_upd[MAX_ROUNDS];
    long count = 0, differ = -1;
    for (int round = 0; round < rounds; round++) {
        exec_ok(c, "DROP TABLE IF EXISTS hand, sinkt, streambus_sink_offsets; DROP TABLE IF EXISTS "
                   "pg_temp.hand_stg");
        exec_ok(c, "CREATE TABLE hand " TABLE_DDL);
        exec_ok(
            c,
            "CREATE TEMP TABLE hand_stg (LIKE hand INCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS");
        exec_ok(c, "CHECKPOINT");
        a_one[round] = rows / load_by_hand(c, rows, rows, 0);
        exec_ok(c, "TRUNCATE hand");
        exec_ok(c, "CHECKPOINT");
        a_ins[round] = rows / load_by_hand(c, rows, batch, 0);
        a_upd[round] = rows / load_by_hand(c, rows, batch, 1);

        json_t *cfg =
            json_pack("{s:s, s:s}", "connection.conninfo", conninfo, "name", "sink-bench");
        void *sink = NULL;
        connect_err_t err;
        if (postgres_sink_ops.start(NULL, cfg, &sink, &err) != 0) die("start: %s", err.msg);
        json_decref(cfg);
        exec_ok(c, "CHECKPOINT");
        b_ins[round] = rows / load_by_sink(sink, &ins, rows, batch);
        b_upd[round] = rows / load_by_sink(sink, &upd, rows, batch);
        postgres_sink_ops.stop(sink);

        /* Both paths must have produced the same table. */
        PGresult *r = PQexec(
            c, "SELECT (SELECT count(*) FROM sinkt), (SELECT count(*) FROM (SELECT * FROM hand"
               " EXCEPT SELECT * FROM sinkt) d)");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) die("check: %s", PQerrorMessage(c));
        count = atol(PQgetvalue(r, 0, 0));
        differ = atol(PQgetvalue(r, 0, 1));
        PQclear(r);
        if (count != rows || differ != 0) break;
        printf("round %d: (a) one %.0f, (a) batched %.0f, (a) updates %.0f, (b) inserts %.0f, (b) "
               "updates %.0f /s\n",
               round + 1, a_one[round], a_ins[round], a_upd[round], b_ins[round], b_upd[round]);
    }

    double m_one = median(a_one, rounds), m_ains = median(a_ins, rounds),
           m_aupd = median(a_upd, rounds);
    double m_bins = median(b_ins, rounds), m_bupd = median(b_upd, rounds);
    double best = m_one > m_ains ? m_one : m_ains;
    printf("rows %ld, batch %ld, medians of %d rounds\n", rows, batch, rounds);
    printf("(a) PostgreSQL only, COPY+INSERT ON CONFLICT, one batch : %9.0f rows/s\n", m_one);
    printf("(a) PostgreSQL only, same, batches of %-6ld           : %9.0f rows/s\n", batch, m_ains);
    printf("(a) PostgreSQL only, updates, batches of %-6ld        : %9.0f rows/s\n", batch, m_aupd);
    printf("(b) postgres-sink put(), inserts, batches of %-6ld    : %9.0f events/s\n", batch,
           m_bins);
    printf("(b) postgres-sink put(), updates, batches of %-6ld    : %9.0f events/s\n", batch,
           m_bupd);
    printf("ratio inserts (b) / best (a)       : %.2f\n", m_bins / best);
    printf("ratio inserts (b) / (a) batched    : %.2f\n", m_bins / m_ains);
    printf("ratio updates (b) / (a) updates    : %.2f\n", m_bupd / m_aupd);
    printf("sink client CPU per event          : %.2f us\n",
           g_sink_cpu / (2.0 * (double)rows * rounds) * 1e6);
    printf("check: sink table %ld rows, %ld differ from the hand-loaded table\n", count, differ);

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
        snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/pg_stop.sh %s/pg --remove; rmdir %s", src,
                 dir, dir);
        if (system(cmd) != 0) fprintf(stderr, "pg_stop.sh failed\n");
    }
    return differ == 0 && count == rows ? 0 : 1;
}
