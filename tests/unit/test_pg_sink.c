/* PostgreSQL sink against a real PostgreSQL 15 (tests/fixtures/pg_start.sh in a temp dir on a
 * free port). The harness plays the connect runtime: it builds records and calls
 * start/load_positions/put/skip/stop directly, then checks the target tables with psql-like
 * queries on a separate connection. Skips (passes with a message) when PostgreSQL 15 is not
 * installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

/* The test reaches the sink's state (a commit hook) by including its source. */
#include "../../src/connect/sinks/pg_sink.c"

/* The runtime provides these; weak so that the real ones win once they are in the library. */
/* The connect runtime provides these. Weak stand-ins until it is linked in; the harness
 * passes no sink_ctx (the sink then takes its name from the "name" config key), so the real
 * sink_name() is never handed a context it does not know. */
__attribute__((weak)) const char *sink_name(sink_ctx_t *ctx)
{
    return NULL;
}
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field,
                                                    const char *fmt, ...)
{
    if (e->count >= 32) return;
    snprintf(e->items[e->count].field, sizeof(e->items[0].field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->items[e->count].msg, sizeof(e->items[0].msg), fmt, ap);
    va_end(ap);
    e->count++;
}

static char g_dir[256];
static char g_port[16];
static char g_conninfo[256];
static char g_src[512];

static int run_fixture(const char *script, const char *extra, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/%s %s %s 2>&1", g_src, script, g_dir, extra);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512] = "";
    if (out) out[0] = '\0';
    while (fgets(line, sizeof(line), p))
        if (out) snprintf(out, cap, "%s", line);
    int rc = pclose(p);
    if (out) out[strcspn(out, "\n")] = '\0';
    return rc;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int group_setup(void **state)
{
    if (access("/usr/lib/postgresql/15/bin/postgres", X_OK) != 0) {
        fprintf(stderr, "PostgreSQL 15 is not installed: skipping\n");
        return 0;
    }
    /* CMake compiles with absolute paths: the source tree is __FILE__ minus tests/unit/... */
    snprintf(g_src, sizeof(g_src), "%s", __FILE__);
    char *cut = strstr(g_src, "/tests/unit/");
    if (!cut) return -1;
    *cut = '\0';
    snprintf(g_dir, sizeof(g_dir), "/tmp/sb_pgsink_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_port, sizeof(g_port), "%d", free_port());
    if (run_fixture("pg_start.sh", g_port, g_conninfo, sizeof(g_conninfo)) != 0) {
        fprintf(stderr, "pg_start.sh failed: %s\n", g_conninfo);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (g_dir[0]) run_fixture("pg_stop.sh", "--remove", NULL, 0);
    return 0;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!g_conninfo[0]) skip();                                                                \
    } while (0)

static PGconn *admin(void)
{
    PGconn *c = PQconnectdb(g_conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    return c;
}

/* Runs a query and returns the first field of the first row ("" when none) in a static buffer. */
static const char *q1(PGconn *c, const char *sql)
{
    static char buf[1024];
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("query failed: %s: %s", sql, PQerrorMessage(c));
    snprintf(buf, sizeof(buf), "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return buf;
}

/* ---- records ---- */

typedef struct batch {
    connect_record_t recs[64];
    char keys[64][256];
    char values[64][1024];
    int n;
} batch_t;

static int64_t g_offset;

static void add(batch_t *b, const char *topic, const char *key, const char *value)
{
    int i = b->n++;
    connect_record_t *r = &b->recs[i];
    memset(r, 0, sizeof(*r));
    r->topic = topic;
    r->partition = 0;
    r->offset = g_offset++;
    r->timestamp_ms = 1000;
    if (key) {
        snprintf(b->keys[i], sizeof(b->keys[i]), "%s", key);
        r->key = (sb_slice_t){(const uint8_t *)b->keys[i], (int32_t)strlen(key)};
    } else {
        r->key.len = -1;
    }
    if (value) {
        snprintf(b->values[i], sizeof(b->values[i]), "%s", value);
        r->value = (sb_slice_t){(const uint8_t *)b->values[i], (int32_t)strlen(value)};
    } else {
        r->value.len = -1;
    }
}

/* A create/update/delete event for table items(id, name, qty). */
static void item(batch_t *b, const char *topic, char op, int id, const char *name, const char *qty,
                 int64_t ts)
{
    char key[64], value[1024];
    snprintf(key, sizeof(key), "{\"id\":%d}", id);
    const char *types =
        "\"column_types\":{\"id\":\"integer\",\"name\":\"text\",\"qty\":\"integer\"}";
    if (op == 'd')
        snprintf(
            value, sizeof(value),
            "{\"before\":{\"id\":%d},\"after\":null,\"source\":{\"ts_ms\":%lld,%s},\"op\":\"d\"}",
            id, (long long)ts, types);
    else
        snprintf(value, sizeof(value),
                 "{\"before\":null,\"after\":{\"id\":%d,\"name\":%s,\"qty\":%s},\"source\":{\"ts_"
                 "ms\":%lld,%s},"
                 "\"op\":\"%c\"}",
                 id, name, qty, (long long)ts, types, op);
    add(b, topic, key, value);
}

static json_t *config(const char *extra_key, const char *extra_value)
{
    json_t *c = json_pack("{s:s, s:s}", "connection.conninfo", g_conninfo, "connector.class",
                          "postgres-sink");
    if (extra_key) json_object_set_new(c, extra_key, json_string(extra_value));
    return c;
}

static pg_sink_t *start(const char *name, json_t *cfg)
{
    json_object_set_new(cfg, "name", json_string(name));
    void *state = NULL;
    connect_err_t err = {0};
    int rc = postgres_sink_ops.start(NULL, cfg, &state, &err);
    json_decref(cfg);
    if (rc != 0) fail_msg("start: %s", err.msg);
    return state;
}

static int put(pg_sink_t *s, batch_t *b, connect_err_t *err)
{
    memset(err, 0, sizeof(*err));
    return postgres_sink_ops.put(s, b->recs, b->n, err);
}

static void put_ok(pg_sink_t *s, batch_t *b)
{
    connect_err_t err;
    if (put(s, b, &err) != 0)
        fail_msg("put failed (class %d, index %d): %s", err.cls, err.index, err.msg);
}

static int64_t stored_position(pg_sink_t *s, const char *topic)
{
    sink_position_t *pos;
    int n;
    connect_err_t err;
    assert_int_equal(postgres_sink_ops.load_positions(s, &pos, &n, &err), 0);
    int64_t v = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(pos[i].topic, topic) == 0 && pos[i].partition == 0) v = pos[i].next_offset;
    free(pos);
    return v;
}

/* ---- tests ---- */

static void test_classify(void **state)
{
    assert_int_equal(pg_sink_classify_sqlstate(NULL), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("08006"), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("57P01"), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("40001"), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("40P01"), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("53100"), CONNECT_ERR_TRANSIENT);
    assert_int_equal(pg_sink_classify_sqlstate("22P02"), CONNECT_ERR_RECORD);
    assert_int_equal(pg_sink_classify_sqlstate("23502"), CONNECT_ERR_RECORD);
    assert_int_equal(pg_sink_classify_sqlstate("42804"), CONNECT_ERR_RECORD);
    assert_int_equal(pg_sink_classify_sqlstate("28P01"), CONNECT_ERR_FATAL);
    assert_int_equal(pg_sink_classify_sqlstate("42501"), CONNECT_ERR_FATAL);
}

static void test_validate_names_each_bad_field(void **state)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "connection.conninfo", "host='unterminated",
                  "table.name.format", "${nope}", "delete.enabled", "maybe", "last.write.wins", "1",
                  "schema.evolution", "full", "primary.key.fields", "a,,b");
    connect_config_errors_t errs = {0};
    assert_int_not_equal(postgres_sink_ops.validate(c, &errs), 0);
    const char *want[] = {"connection.conninfo", "table.name.format", "primary.key.fields",
                          "delete.enabled",      "last.write.wins",   "schema.evolution"};
    assert_int_equal(errs.count, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(errs.items[i].field, want[i]);
    json_decref(c);

    c = json_pack("{s:s}", "table.name.format", "${schema}_${table}");
    memset(&errs, 0, sizeof(errs));
    assert_int_not_equal(postgres_sink_ops.validate(c, &errs), 0);
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0].field, "connection.conninfo");
    json_decref(c);

    c = config("table.name.format", "${schema}_${table}");
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(postgres_sink_ops.validate(c, &errs), 0);
    assert_int_equal(errs.count, 0);
    json_decref(c);
}

static void test_upsert_update_delete_tombstone_truncate(void **state)
{
    NEED_PG();
    const char *topic = "app.public.items";
    pg_sink_t *s = start("crud", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS items");

    batch_t b = {0};
    item(&b, topic, 'r', 1, "\"one\"", "10", 1);
    item(&b, topic, 'c', 2, "\"tab\\there, back\\\\slash\\nnewline\"", "20", 2);
    item(&b, topic, 'c', 3, "null", "30", 3);
    put_ok(s, &b);
    /* The table was created from column_types, with the key as primary key. */
    assert_string_equal(q1(a,
                           "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), "
                           "',' ORDER BY attnum)"
                           " FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0"),
                        "id integer,name text,qty integer");
    assert_string_equal(
        q1(a, "SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON"
              " a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = "
              "'items'::regclass"
              " AND i.indisprimary"),
        "id");
    assert_string_equal(q1(a, "SELECT count(*) FROM items"), "3");
    assert_string_equal(q1(a, "SELECT name FROM items WHERE id = 2"),
                        "tab\there, back\\slash\nnewline");
    assert_string_equal(q1(a, "SELECT coalesce(name, 'NULL') FROM items WHERE id = 3"), "NULL");

    b.n = 0;
    item(&b, topic, 'u', 1, "\"uno\"", "11", 4);
    item(&b, topic, 'd', 2, NULL, NULL, 5);
    add(&b, topic, "{\"id\":2}", NULL); /* tombstone after the delete */
    add(&b, topic, "{\"id\":3}", NULL); /* a tombstone alone deletes too */
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || name || ':' || qty, ',' ORDER BY id) FROM items"),
        "1:uno:11");
    assert_int_equal(stored_position(s, topic), g_offset);

    b.n = 0;
    item(&b, topic, 'c', 4, "\"four\"", "40", 6);
    add(&b, topic, NULL, "{\"before\":null,\"after\":null,\"source\":{\"ts_ms\":7},\"op\":\"t\"}");
    item(&b, topic, 'c', 5, "\"five\"", "50", 8);
    put_ok(s, &b);
    /* The truncate removed row 1 and the earlier row 4 of the same batch; row 5 came after. */
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), "5");
    assert_int_equal(stored_position(s, topic), g_offset);

    /* Control topics only move the position. */
    b.n = 0;
    add(&b, "app.heartbeat", NULL, "{\"ts_ms\":1}");
    put_ok(s, &b);
    assert_int_equal(stored_position(s, "app.heartbeat"), g_offset);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_duplicate_keys_in_one_batch(void **state)
{
    NEED_PG();
    const char *topic = "app.public.dups";
    pg_sink_t *s = start("dups", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS dups");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    item(&b, topic, 'u', 1, "\"b\"", "2", 2);
    item(&b, topic, 'c', 2, "\"x\"", "1", 3);
    item(&b, topic, 'u', 1, "\"c\"", "3", 4);
    item(&b, topic, 'd', 2, NULL, NULL, 5);
    add(&b, topic, "{\"id\":2}", NULL);
    item(&b, topic, 'c', 2, "\"again\"", "9", 6);
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || name || ':' || qty, ',' ORDER BY id) FROM dups"),
        "1:c:3,2:again:9");
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

/* An update event for table docs(id, body, n); body NULL leaves it out of `after`, as the
 * postgres source does for an unchanged TOASTed value. */
static void doc(batch_t *b, const char *topic, char op, int id, const char *body, int n)
{
    char key[64], value[1024], body_member[256] = "";
    snprintf(key, sizeof(key), "{\"id\":%d}", id);
    if (body) snprintf(body_member, sizeof(body_member), "\"body\":%s,", body);
    snprintf(value, sizeof(value),
             "{\"before\":null,\"after\":{\"id\":%d,%s\"n\":%d},\"source\":{\"ts_ms\":%d,"
             "\"column_types\":{\"id\":\"integer\",\"body\":\"text\",\"n\":\"integer\"}},"
             "\"op\":\"%c\"}",
             id, body_member, n, 100 + n, op);
    add(b, topic, key, value);
}

static json_t *status_of(pg_sink_t *s)
{
    json_t *st = json_object();
    postgres_sink_ops.status(s, st);
    return st;
}

static json_int_t status_int(pg_sink_t *s, const char *field)
{
    json_t *st = status_of(s);
    json_int_t v = json_integer_value(json_object_get(st, field));
    json_decref(st);
    return v;
}

/* A column absent from an event keeps its value: the stored one, or the one an earlier event
 * of the same key in the batch carried. */
static void test_absent_column_keeps_its_value(void **state)
{
    NEED_PG();
    const char *topic = "app.shop.docs";
    pg_sink_t *s = start("docs", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS docs");
    batch_t b = {0};
    doc(&b, topic, 'c', 11, "\"small\"", 1);
    doc(&b, topic, 'c', 12, "\"big-12\"", 1);
    put_ok(s, &b);

    /* Mixed batch: row 12's event lacks body, row 11's has it. */
    b.n = 0;
    doc(&b, topic, 'u', 12, NULL, 3);
    doc(&b, topic, 'u', 11, "\"small\"", 3);
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || coalesce(body, 'NULL') || ':' || n, ',' ORDER BY id)"
              " FROM docs"),
        "11:small:3,12:big-12:3");

    /* Insert and update of one key in one batch: the update lacks body. Also a key whose
     * only event lacks body in a batch of its own. */
    b.n = 0;
    doc(&b, topic, 'c', 13, "\"big-13\"", 1);
    doc(&b, topic, 'u', 13, NULL, 2);
    doc(&b, topic, 'u', 12, NULL, 4);
    put_ok(s, &b);
    b.n = 0;
    doc(&b, topic, 'u', 12, NULL, 5);
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || coalesce(body, 'NULL') || ':' || n, ',' ORDER BY id)"
              " FROM docs"),
        "11:small:3,12:big-12:5,13:big-13:2");

    /* A row missing a column for a key the target does not have yet: inserted with the
     * column's default (NULL without one), no error; complete rows in the same batch and a
     * second column set (body only, n missing) each get theirs. */
    q1(a, "ALTER TABLE docs ADD COLUMN note text DEFAULT 'dflt'");
    b.n = 0;
    doc(&b, topic, 'c', 14, NULL, 7);
    doc(&b, topic, 'c', 15, "\"fifteen\"", 1);
    add(&b, topic, "{\"id\":12}",
        "{\"op\":\"u\",\"after\":{\"id\":12,\"body\":\"big-12b\"},\"source\":{\"ts_ms\":9}}");
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || coalesce(body, 'NULL') || ':' || coalesce(n::text, "
              "'NULL') || ':' || coalesce(note, 'NULL'), ',' ORDER BY id) FROM docs"),
        "11:small:3:dflt,12:big-12b:5:dflt,13:big-13:2:dflt,14:NULL:7:dflt,15:fifteen:1:dflt");
    /* A delete between two events of a key ends what the earlier one can fill in. */
    b.n = 0;
    doc(&b, topic, 'u', 15, "\"gone\"", 2);
    add(&b, topic, "{\"id\":15}",
        "{\"op\":\"d\",\"before\":{\"id\":15},\"after\":null,\"source\":{\"ts_ms\":9}}");
    add(&b, topic, "{\"id\":15}", NULL);
    doc(&b, topic, 'c', 15, NULL, 3);
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT coalesce(body, 'NULL') <> 'gone' AND n = 3 FROM docs WHERE id = 15"), "t");
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

/* rows_upserted / rows_deleted / truncates count what committed, as rows the server changed. */
static void test_counters_count_committed_rows(void **state)
{
    NEED_PG();
    const char *topic = "app.public.counted";
    pg_sink_t *s = start("counted", config("last.write.wins", "true"));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS counted");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 100);
    put_ok(s, &b);
    assert_int_equal(status_int(s, "rows_upserted"), 1);

    /* A poison record rolls the batch back (the sink tries it twice): nothing counted. */
    b.n = 0;
    item(&b, topic, 'c', 2, "\"b\"", "2", 100);
    item(&b, topic, 'c', 3, "\"c\"", "\"three\"", 100);
    item(&b, topic, 'c', 4, "\"d\"", "4", 100);
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(status_int(s, "rows_upserted"), 1);
    /* A truncate that rolled back is not counted either. */
    b.n = 0;
    add(&b, topic, NULL, "{\"op\":\"t\",\"before\":null,\"after\":null,\"source\":{\"ts_ms\":1}}");
    item(&b, topic, 'c', 3, "\"c\"", "\"three\"", 100);
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(status_int(s, "truncates"), 0);
    assert_string_equal(q1(a, "SELECT count(*) FROM counted"), "1");

    b.n = 0;
    item(&b, topic, 'c', 2, "\"b\"", "2", 100);
    item(&b, topic, 'c', 4, "\"d\"", "4", 100);
    item(&b, topic, 'u', 1, "\"stale\"", "1", 50); /* older than the stored row: ignored */
    put_ok(s, &b);
    assert_int_equal(status_int(s, "rows_upserted"), 3);
    assert_string_equal(q1(a, "SELECT name FROM counted WHERE id = 1"), "a");

    /* A stale delete changes nothing and is not counted; a current one is. */
    b.n = 0;
    item(&b, topic, 'd', 1, NULL, NULL, 10);
    item(&b, topic, 'd', 2, NULL, NULL, 200);
    put_ok(s, &b);
    assert_int_equal(status_int(s, "rows_deleted"), 1);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM counted"), "1,4");
    assert_int_equal(status_int(s, "rows_upserted"), 3);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

/* With last.write.wins, a row lacking a column is still applied only when it is newer, and
 * an older event of the key in the batch fills the column the newer one lacks. */
static void test_absent_column_with_last_write_wins(void **state)
{
    NEED_PG();
    const char *topic = "app.shop.lwwdocs";
    pg_sink_t *s = start("lwwdocs", config("last.write.wins", "true"));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS lwwdocs");
    batch_t b = {0};
    doc(&b, topic, 'c', 1, "\"one\"", 5); /* ts 105 */
    doc(&b, topic, 'c', 2, "\"two\"", 5);
    put_ok(s, &b);
    b.n = 0;
    doc(&b, topic, 'u', 1, NULL, 1);          /* ts 101: older than the stored row, ignored */
    doc(&b, topic, 'u', 2, NULL, 9);          /* ts 109: newer, body kept */
    doc(&b, topic, 'u', 3, NULL, 8);          /* ts 108, arrives first ... */
    doc(&b, topic, 'c', 3, "\"three\"", 7);   /* ts 107: older, but carries body */
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT string_agg(id || ':' || coalesce(body, 'NULL') || ':' || n, ',' ORDER BY id)"
              " FROM lwwdocs"),
        "1:one:5,2:two:9,3:three:8");
    assert_int_equal(status_int(s, "rows_upserted"), 4);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void kill_backend(void *arg, PGconn *conn)
{
    PGconn *a = arg;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(conn));
    q1(a, sql);
}

/* The connection dies after the rows were written but before COMMIT: nothing of the batch
 * may be visible and the stored position must not move. */
static void test_crash_before_commit_applies_nothing(void **state)
{
    NEED_PG();
    const char *topic = "app.public.crash";
    pg_sink_t *s = start("crash", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS crash");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    put_ok(s, &b);
    int64_t before = stored_position(s, topic);

    b.n = 0;
    item(&b, topic, 'u', 1, "\"changed\"", "2", 2);
    item(&b, topic, 'c', 2, "\"new\"", "2", 3);
    s->before_commit = kill_backend;
    s->before_commit_arg = a;
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_TRANSIENT);
    s->before_commit = NULL;
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM crash"),
                        "1:a");
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)before);
    assert_string_equal(
        q1(a, "SELECT next_offset FROM streambus_sink_offsets WHERE connector = 'crash'"), want);

    /* The runtime retries the same batch: the sink reconnects and applies it once. */
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM crash"),
                        "1:changed,2:new");
    assert_int_equal(stored_position(s, topic), g_offset);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_server_restart_is_transient(void **state)
{
    NEED_PG();
    const char *topic = "app.public.restart";
    pg_sink_t *s = start("restart", config(NULL, NULL));
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    put_ok(s, &b);

    assert_int_equal(run_fixture("pg_stop.sh", "", NULL, 0), 0);
    char out[256];
    assert_int_equal(run_fixture("pg_start.sh", g_port, out, sizeof(out)), 0);

    b.n = 0;
    item(&b, topic, 'c', 2, "\"b\"", "2", 2);
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_TRANSIENT);
    put_ok(s, &b);
    PGconn *a = admin();
    assert_string_equal(q1(a, "SELECT count(*) FROM restart"), "2");
    PQfinish(a);
    assert_int_equal(stored_position(s, topic), g_offset);
    postgres_sink_ops.stop(s);
}

static void test_poison_record_has_its_index(void **state)
{
    NEED_PG();
    const char *topic = "app.public.poison";
    pg_sink_t *s = start("poison", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS poison");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    put_ok(s, &b);
    int64_t pos = stored_position(s, topic);

    /* Text in an integer column. */
    b.n = 0;
    item(&b, topic, 'c', 2, "\"b\"", "2", 2);
    item(&b, topic, 'c', 3, "\"c\"", "\"three\"", 3);
    item(&b, topic, 'c', 4, "\"d\"", "4", 4);
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 1);
    assert_non_null(strstr(err.msg, "22P02"));
    assert_string_equal(q1(a, "SELECT count(*) FROM poison"), "1");
    assert_int_equal(stored_position(s, topic), pos);

    /* The runtime's one-by-one retry: the good ones apply, the bad one is precise. */
    batch_t one = {0};
    for (int i = 0; i < b.n; i++) {
        one.n = 1;
        one.recs[0] = b.recs[i];
        int rc = put(s, &one, &err);
        if (i == 1) {
            assert_int_equal(rc, -1);
            assert_int_equal(err.cls, CONNECT_ERR_RECORD);
            assert_int_equal(err.index, 0);
            connect_err_t serr;
            assert_int_equal((postgres_sink_ops.skip)(s, &b.recs[i], &serr), 0);
        } else {
            assert_int_equal(rc, 0);
        }
    }
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM poison"), "1,2,4");
    assert_int_equal(stored_position(s, topic), b.recs[2].offset + 1);

    /* NOT NULL violation, and malformed JSON, each with the index of the record. */
    q1(a, "ALTER TABLE poison ALTER COLUMN name SET NOT NULL");
    b.n = 0;
    item(&b, topic, 'c', 5, "\"e\"", "5", 5);
    item(&b, topic, 'c', 6, "\"f\"", "6", 6);
    item(&b, topic, 'c', 7, "null", "7", 7);
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 2);
    assert_non_null(strstr(err.msg, "23502"));
    b.n = 0;
    item(&b, topic, 'c', 5, "\"e\"", "5", 5);
    add(&b, topic, "{\"id\":6}", "{\"op\":\"c\",\"after\":{\"id\":6,");
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 1);
    assert_string_equal(q1(a, "SELECT count(*) FROM poison"), "3");
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_add_column_and_inferred_types(void **state)
{
    NEED_PG();
    const char *topic = "app.public.evolve";
    pg_sink_t *s = start("evolve", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS evolve");
    batch_t b = {0};
    add(&b, topic, "{\"id\":1}",
        "{\"op\":\"c\",\"after\":{\"id\":1,\"n\":2.5,\"ok\":true,\"doc\":{\"k\":[1]},\"s\":\"x\"}"
        "}");
    put_ok(s, &b);
    assert_string_equal(q1(a,
                           "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), "
                           "',' ORDER BY attnum)"
                           " FROM pg_attribute WHERE attrelid = 'evolve'::regclass AND attnum > 0"),
                        "id bigint,n double precision,ok boolean,doc jsonb,s text");
    b.n = 0;
    add(&b, topic, "{\"id\":2}",
        "{\"op\":\"c\",\"after\":{\"id\":2,\"n\":1,\"ok\":false,\"doc\":[],\"s\":\"y\",\"added\":"
        "\"2024-01-02\"},"
        "\"source\":{\"column_types\":{\"added\":\"date\"}}}");
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                              " WHERE attrelid = 'evolve'::regclass AND attname = 'added'"),
                        "date");
    assert_string_equal(q1(a, "SELECT added FROM evolve WHERE id = 2"), "2024-01-02");
    assert_string_equal(q1(a, "SELECT doc->'k'->>0 FROM evolve WHERE id = 1"), "1");
    /* A column missing from later events is never dropped. */
    b.n = 0;
    add(&b, topic, "{\"id\":3}", "{\"op\":\"c\",\"after\":{\"id\":3}}");
    put_ok(s, &b);
    assert_string_equal(
        q1(a, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'evolve'::regclass AND attnum > 0"
              " AND NOT attisdropped"),
        "6");
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_last_write_wins(void **state)
{
    NEED_PG();
    const char *topic = "app.public.lww";
    pg_sink_t *s = start("lww", config("last.write.wins", "true"));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS lww");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"newer\"", "1", 200);
    item(&b, topic, 'c', 2, "\"two\"", "2", 100);
    put_ok(s, &b);
    b.n = 0;
    item(&b, topic, 'u', 1, "\"older\"", "0", 150); /* arrives late: ignored */
    item(&b, topic, 'u', 2, "\"two-b\"", "3", 300);
    item(&b, topic, 'u', 2, "\"two-old\"", "3",
         250); /* older than the one before it in the batch */
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM lww"),
                        "1:newer,2:two-b");
    assert_string_equal(q1(a, "SELECT __source_ts_ms FROM lww WHERE id = 2"), "300");
    b.n = 0;
    item(&b, topic, 'd', 1, NULL, NULL, 100); /* an old delete does not remove a newer row */
    item(&b, topic, 'd', 2, NULL, NULL, 400);
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM lww"), "1");
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

/* An event for table lines(order_id, line, sku) keyed by both; a partition delete (what the
 * wide-column sources emit) has only order_id in its key. */
static void line(batch_t *b, const char *topic, char op, int order_id, int line_no, const char *sku, int64_t ts)
{
    char key[64], value[1024];
    const char *types = "\"column_types\":{\"order_id\":\"integer\",\"line\":\"integer\",\"sku\":\"text\"}";
    if (line_no < 0)
        snprintf(key, sizeof(key), "{\"order_id\":%d}", order_id);
    else
        snprintf(key, sizeof(key), "{\"order_id\":%d,\"line\":%d}", order_id, line_no);
    if (op == 'd')
        snprintf(value, sizeof(value), "{\"before\":%s,\"after\":null,\"source\":{\"ts_ms\":%lld,%s},\"op\":\"d\"}", key,
                 (long long)ts, types);
    else
        snprintf(value, sizeof(value),
                 "{\"before\":null,\"after\":{\"order_id\":%d,\"line\":%d,\"sku\":\"%s\"},\"source\":{\"ts_ms\":%lld,%s},"
                 "\"op\":\"%c\"}",
                 order_id, line_no, sku, (long long)ts, types, op);
    add(b, topic, key, value);
}

static void partition_deletes(bool lww)
{
    const char *topic = "app.public.lines";
    pg_sink_t *s = start(lww ? "lines_lww" : "lines", config("last.write.wins", lww ? "true" : "false"));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS lines");
    batch_t b = {0};
    /* The first event is a partition delete of a table that does not exist yet: the table
     * still gets the whole key (the longest key of the batch). */
    line(&b, topic, 'd', 9, -1, NULL, 1);
    line(&b, topic, 'c', 1, 1, "a", 10);
    line(&b, topic, 'c', 1, 2, "b", 10);
    line(&b, topic, 'c', 2, 1, "c", 10);
    line(&b, topic, 'c', 3, 1, "d", 10);
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM pg_index x "
                              "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY k(n, i) "
                              "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n "
                              "WHERE x.indrelid = 'lines'::regclass AND x.indisprimary"),
                        "order_id,line");
    b.n = 0;
    line(&b, topic, 'c', 1, 3, "wiped", 20); /* before the delete in the same batch */
    line(&b, topic, 'd', 1, -1, NULL, 30);
    add(&b, topic, "{\"order_id\":1}", NULL);  /* its tombstone */
    line(&b, topic, 'c', 1, 4, "after", 40); /* written after the delete: kept */
    line(&b, topic, 'd', 3, -1, NULL, 50);
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT string_agg(order_id || '/' || line || '/' || sku, ',' ORDER BY order_id, line) FROM lines"),
                        "1/4/after,2/1/c");
    if (lww) {
        /* An older partition delete arriving late removes only rows older than itself. */
        b.n = 0;
        line(&b, topic, 'c', 2, 2, "older", 5);
        put_ok(s, &b);
        b.n = 0;
        line(&b, topic, 'd', 2, -1, NULL, 8);
        put_ok(s, &b);
        assert_string_equal(q1(a, "SELECT string_agg(order_id || '/' || line || '/' || sku, ',' ORDER BY order_id, line) FROM lines"),
                            "1/4/after,2/1/c");
    }
    /* A key that is not a leading part of the primary key is still an error naming it. */
    b.n = 0;
    add(&b, topic, "{\"line\":1}", "{\"before\":{\"line\":1},\"after\":null,\"source\":{\"ts_ms\":60},\"op\":\"d\"}");
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_non_null(strstr(err.msg, "lacks primary-key column"));
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_partition_delete_removes_the_partition(void **state)
{
    NEED_PG();
    partition_deletes(false);
}

static void test_partition_delete_with_last_write_wins(void **state)
{
    NEED_PG();
    partition_deletes(true);
}

static void test_skip_and_positions_per_partition(void **state)
{
    NEED_PG();
    const char *topic = "app.public.skips";
    pg_sink_t *s = start("skips", config("table.name.format", "${schema}_${table}"));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS public_skips");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    item(&b, topic, 'c', 2, "\"b\"", "2", 2);
    b.recs[1].partition = 3;
    b.recs[1].offset = 77;
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT count(*) FROM public_skips"), "2");
    connect_record_t r = b.recs[0];
    r.offset = 500;
    connect_err_t err;
    assert_int_equal((postgres_sink_ops.skip)(s, &r, &err), 0);
    sink_position_t *pos;
    int n;
    assert_int_equal(postgres_sink_ops.load_positions(s, &pos, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pos[0].partition, 0);
    assert_true(pos[0].next_offset == 501);
    assert_int_equal(pos[1].partition, 3);
    assert_true(pos[1].next_offset == 78);
    free(pos);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

/* A batch of thousands of records as the runtime sends them: every key several times, a
 * delete and a re-create of one key, a column that only the later events carry, and then a
 * poison record near the end that must leave nothing of the batch behind. */
typedef struct big {
    connect_record_t *recs;
    char (*keys)[64];
    char (*values)[256];
    int n;
} big_t;

static void big_add(big_t *b, const char *topic, const char *key, const char *value)
{
    int i = b->n++;
    connect_record_t *r = &b->recs[i];
    memset(r, 0, sizeof(*r));
    r->topic = topic;
    r->offset = g_offset++;
    r->timestamp_ms = 1000;
    snprintf(b->keys[i], sizeof(b->keys[i]), "%s", key);
    r->key = (sb_slice_t){(const uint8_t *)b->keys[i], (int32_t)strlen(key)};
    if (value) snprintf(b->values[i], sizeof(b->values[i]), "%s", value);
    r->value = (sb_slice_t){(const uint8_t *)b->values[i], value ? (int32_t)strlen(value) : -1};
}

static void test_large_batch(void **state)
{
    NEED_PG();
    const char *topic = "app.public.big";
    pg_sink_t *s = start("big", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS big");
    enum { N = 3500, LATE = 2000 };
    big_t b = {.recs = calloc(N, sizeof(connect_record_t)),
               .keys = calloc(N, 64),
               .values = calloc(N, 256)};
    char key[64], value[256];
    for (int i = 0; i < N - 3; i++) {
        int id = i % 1500; /* every key appears two or three times */
        snprintf(key, sizeof(key), "{\"id\":%d}", id);
        if (i >= LATE) /* a column that only later events carry */
            snprintf(value, sizeof(value),
                     "{\"op\":\"u\",\"after\":{\"id\":%d,\"v\":%d,\"late\":\"x%d\"}}", id, i, i);
        else
            snprintf(value, sizeof(value), "{\"op\":\"c\",\"after\":{\"id\":%d,\"v\":%d}}", id, i);
        big_add(&b, topic, key, value);
    }
    /* id 7: deleted after its updates; id 1499 deleted then re-created. */
    big_add(&b, topic, "{\"id\":7}", "{\"op\":\"d\",\"before\":{\"id\":7}}");
    big_add(&b, topic, "{\"id\":1499}", NULL);
    big_add(&b, topic, "{\"id\":1499}", "{\"op\":\"c\",\"after\":{\"id\":1499,\"v\":-1}}");

    connect_err_t err = {0};
    if (postgres_sink_ops.put(s, b.recs, b.n, &err) != 0) fail_msg("put: %s", err.msg);
    assert_string_equal(q1(a, "SELECT count(*) FROM big"), "1499");
    /* The last event per key wins: ids 0..499 were last written at i = 3000 + id. */
    assert_string_equal(q1(a, "SELECT v || ':' || late FROM big WHERE id = 42"), "3042:x3042");
    assert_string_equal(q1(a, "SELECT v || ':' || coalesce(late, 'null') FROM big WHERE id = 1200"),
                        "2700:x2700");
    assert_string_equal(q1(a, "SELECT v FROM big WHERE id = 1499"), "-1");
    assert_string_equal(q1(a, "SELECT count(*) FROM big WHERE id = 7"), "0");
    assert_int_equal(stored_position(s, topic), g_offset);

    /* Same shape again, with text in the integer column near the end. */
    int64_t pos = g_offset;
    b.n = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "{\"id\":%d}", i % 1500);
        snprintf(value, sizeof(value), "{\"op\":\"u\",\"after\":{\"id\":%d,\"v\":%s}}", i % 1500,
                 i == N - 10 ? "\"ten\"" : "0");
        big_add(&b, topic, key, value);
    }
    assert_int_equal(postgres_sink_ops.put(s, b.recs, b.n, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, N - 10);
    assert_string_equal(q1(a, "SELECT count(*) FROM big WHERE v = 0"), "0"); /* nothing applied */
    assert_int_equal(stored_position(s, topic), pos);
    free(b.recs);
    free(b.keys);
    free(b.values);
    PQfinish(a);
    postgres_sink_ops.stop(s);
}

static void test_wrong_database_is_fatal(void **state)
{
    NEED_PG();
    char conninfo[300];
    snprintf(conninfo, sizeof(conninfo), "%s dbname=no_such_db", g_conninfo);
    json_t *c = json_pack("{s:s}", "connection.conninfo", conninfo);
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(postgres_sink_ops.start(NULL, c, &st, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_FATAL);
    json_decref(c);
}

/* Pipelined apply: prepare parses the next batch while the previous one is in flight;
 * put_end reports the in-flight batch's outcome; a batch killed in flight applies nothing
 * and goes through put again. */
static void test_pipelined_batches(void **state)
{
    NEED_PG();
    const char *topic = "app.public.piped";
    pg_sink_t *s = start("piped", config(NULL, NULL));
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS piped");
    connect_err_t err = {0};
    batch_t b1 = {0}, b2 = {0};
    item(&b1, topic, 'c', 1, "\"one\"", "1", 1);
    item(&b1, topic, 'c', 2, "\"two\"", "2", 2);
    item(&b2, topic, 'u', 1, "\"uno\"", "10", 3);
    item(&b2, topic, 'd', 2, NULL, NULL, 4);

    assert_int_equal(postgres_sink_ops.put_begin(s, b1.recs, b1.n, &err), 0);
    postgres_sink_ops.prepare(s, b2.recs, b2.n); /* while b1 is in flight */
    assert_int_equal(postgres_sink_ops.put_end(s, &err), 0);
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM piped"),
                        "1:one,2:two");
    assert_int_equal(postgres_sink_ops.put_begin(s, b2.recs, b2.n, &err), 0);
    assert_int_equal(postgres_sink_ops.put_end(s, &err), 0);
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name || ':' || qty, ',') FROM piped"),
                        "1:uno:10");
    assert_int_equal(stored_position(s, topic), g_offset);

    /* A prepared parse is not reused once the array holds other records. */
    batch_t b3 = {0};
    item(&b3, topic, 'c', 3, "\"three\"", "3", 5);
    postgres_sink_ops.prepare(s, b3.recs, b3.n);
    b3.n = 0;
    item(&b3, topic, 'c', 4, "\"four\"", "4", 6);
    assert_int_equal(postgres_sink_ops.put_begin(s, b3.recs, b3.n, &err), 0);
    assert_int_equal(postgres_sink_ops.put_end(s, &err), 0);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM piped"), "1,4");

    /* The connection dies with the COMMIT in flight: put_end says TRANSIENT, nothing of the
     * batch is visible, and putting it again applies it once. */
    int64_t before = stored_position(s, topic);
    batch_t b4 = {0};
    item(&b4, topic, 'c', 5, "\"five\"", "5", 7);
    s->before_commit = kill_backend;
    s->before_commit_arg = a;
    int rc = postgres_sink_ops.put_begin(s, b4.recs, b4.n, &err);
    if (rc == 0) rc = postgres_sink_ops.put_end(s, &err);
    s->before_commit = NULL;
    assert_int_equal(rc, -1);
    assert_int_equal(err.cls, CONNECT_ERR_TRANSIENT);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM piped"), "1,4");
    assert_int_equal(stored_position(s, topic), before);
    put_ok(s, &b4);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM piped"), "1,4,5");
    assert_int_equal(stored_position(s, topic), g_offset);

    /* A poison record found by put_end is reported; put then names it. */
    batch_t b5 = {0};
    item(&b5, topic, 'c', 6, "\"six\"", "6", 8);
    item(&b5, topic, 'c', 7, "\"seven\"", "\"not a number\"", 9);
    rc = postgres_sink_ops.put_begin(s, b5.recs, b5.n, &err);
    if (rc == 0) rc = postgres_sink_ops.put_end(s, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(put(s, &b5, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 1);
    assert_string_equal(q1(a, "SELECT string_agg(id::text, ',' ORDER BY id) FROM piped"), "1,4,5");

    postgres_sink_ops.stop(s);
    PQfinish(a);
}

/* target.schema is created when missing (mixed case and a space survive quoting), and an
 * existing one is used as it is. */
/* Sinks that start together on a database without the offsets table all create it with
 * CREATE TABLE IF NOT EXISTS; the losers of that race get a catalog error (23505, or 42710 on
 * the table's row type, as CI saw) and must start all the same. */
struct racing_start {
    pthread_barrier_t *go;
    int rc;
    connect_err_t err;
};

static void *start_racing(void *arg)
{
    struct racing_start *r = arg;
    json_t *cfg = config(NULL, NULL);
    char name[32];
    snprintf(name, sizeof(name), "race%p", arg);
    json_object_set_new(cfg, "name", json_string(name));
    void *state = NULL;
    pthread_barrier_wait(r->go);
    r->rc = postgres_sink_ops.start(NULL, cfg, &state, &r->err);
    if (r->rc == 0) postgres_sink_ops.stop(state);
    json_decref(cfg);
    return NULL;
}

static void test_sinks_starting_together_all_start(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *a = admin();
    enum { ROUNDS = 20, SINKS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        q1(a, "DROP TABLE IF EXISTS " OFFSETS_TABLE);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, SINKS);
        struct racing_start rs[SINKS];
        pthread_t th[SINKS];
        for (int i = 0; i < SINKS; i++) {
            rs[i] = (struct racing_start){.go = &go};
            pthread_create(&th[i], NULL, start_racing, &rs[i]);
        }
        for (int i = 0; i < SINKS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < SINKS; i++)
            if (rs[i].rc != 0) fail_msg("round %d: sink %d did not start: %s", round, i, rs[i].err.msg);
    }
    PQfinish(a);
}

/* Sinks writing the first rows of the same new target table at once all create it (CREATE
 * TABLE IF NOT EXISTS), then all add the same new column (ADD COLUMN IF NOT EXISTS). The
 * losers of those races get a catalog error (23505 on a pg_catalog index, 42710, 42P07 or
 * 42701): a batch that failed that way is transient — retried, it finds the table — never a
 * record to dead-letter nor a failed connector. */
struct racing_put {
    pthread_barrier_t *go;
    pg_sink_t *sink;
    batch_t *batch;
    int retries;
    connect_err_t err; /* the first error that was not transient */
    bool failed;
};

static void *put_racing(void *arg)
{
    struct racing_put *r = arg;
    pthread_barrier_wait(r->go);
    for (int attempt = 0; attempt < 10; attempt++) {
        connect_err_t err;
        if (put(r->sink, r->batch, &err) == 0) return NULL;
        if (err.cls != CONNECT_ERR_TRANSIENT) {
            r->err = err;
            r->failed = true;
            return NULL;
        }
        r->retries++;
    }
    snprintf(r->err.msg, sizeof(r->err.msg), "still transient after 10 attempts");
    r->failed = true;
    return NULL;
}

static void race_puts(pg_sink_t **sinks, batch_t *batches, int n, const char *what, int round)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    struct racing_put rp[8];
    pthread_t th[8];
    for (int i = 0; i < n; i++) {
        rp[i] = (struct racing_put){.go = &go, .sink = sinks[i], .batch = &batches[i]};
        pthread_create(&th[i], NULL, put_racing, &rp[i]);
    }
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < n; i++)
        if (rp[i].failed)
            fail_msg("round %d, %s: sink %d failed (class %d, index %d): %s", round, what, i,
                     rp[i].err.cls, rp[i].err.index, rp[i].err.msg);
}

static void test_sinks_creating_one_target_table_together_all_write(void **state)
{
    (void)state;
    NEED_PG();
    PGconn *a = admin();
    enum { ROUNDS = 15, SINKS = 6 };
    pg_sink_t *sinks[SINKS];
    for (int i = 0; i < SINKS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "racetarget%d", i);
        sinks[i] = start(name, config(NULL, NULL));
    }
    static batch_t batches[SINKS];
    for (int round = 0; round < ROUNDS; round++) {
        /* A new table each round: the sinks keep what they learnt of the last one. */
        char table[32], topic[48], sql[96];
        snprintf(table, sizeof(table), "racetarget%d", round);
        snprintf(topic, sizeof(topic), "app.public.%s", table);
        snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
        q1(a, sql);
        for (int i = 0; i < SINKS; i++) {
            batches[i].n = 0;
            item(&batches[i], topic, 'c', round * 100 + i, "\"x\"", "1", 1);
        }
        race_puts(sinks, batches, SINKS, "create table", round);
        for (int i = 0; i < SINKS; i++) {
            batches[i].n = 0;
            char key[64], value[512];
            snprintf(key, sizeof(key), "{\"id\":%d}", round * 100 + 50 + i);
            snprintf(value, sizeof(value),
                     "{\"before\":null,\"after\":{\"id\":%d,\"name\":\"y\",\"qty\":2,"
                     "\"added\":%d},\"source\":{\"ts_ms\":2,\"column_types\":{\"id\":\"integer\","
                     "\"name\":\"text\",\"qty\":\"integer\",\"added\":\"integer\"}},\"op\":\"c\"}",
                     round * 100 + 50 + i, i);
            add(&batches[i], topic, key, value);
        }
        race_puts(sinks, batches, SINKS, "add column", round);
        char want[16];
        snprintf(want, sizeof(want), "%d", 2 * SINKS);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
        assert_string_equal(q1(a, sql), want);
        snprintf(want, sizeof(want), "%d", SINKS);
        snprintf(sql, sizeof(sql), "SELECT count(added) FROM %s", table);
        assert_string_equal(q1(a, sql), want);
    }
    for (int i = 0; i < SINKS; i++) postgres_sink_ops.stop(sinks[i]);
    PQfinish(a);
}

static void test_missing_target_schema_is_created(void **state)
{
    NEED_PG();
    PGconn *a = admin();
    q1(a, "DROP SCHEMA IF EXISTS \"New Schema\" CASCADE");
    pg_sink_t *s = start("schema1", config("target.schema", "New Schema"));
    batch_t b = {0};
    item(&b, "app.public.fresh", 'c', 1, "\"x\"", "1", 1);
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT name FROM \"New Schema\".fresh"), "x");
    postgres_sink_ops.stop(s);
    s = start("schema2", config("target.schema", "New Schema"));
    b.n = 0;
    item(&b, "app.public.other", 'c', 2, "\"y\"", "2", 2);
    put_ok(s, &b);
    assert_string_equal(q1(a, "SELECT name FROM \"New Schema\".other"), "y");
    postgres_sink_ops.stop(s);
    PQfinish(a);
}

/* Creates of new keys go straight into the table (no fallback counted); a create of a key the
 * target already holds (a replay) fails that COPY, which is undone and upserted instead, and
 * the rows end right either way. A constraint failure in the direct COPY still names its
 * record. */
static void test_direct_insert_and_fallback(void **state)
{
    NEED_PG();
    const char *topic = "app.public.direct";
    PGconn *a = admin();
    q1(a, "DROP TABLE IF EXISTS direct");
    pg_sink_t *s = start("direct", config(NULL, NULL));
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"one\"", "1", 1);
    item(&b, topic, 'r', 2, "\"two\"", "2", 2);
    put_ok(s, &b);
    b.n = 0;
    item(&b, topic, 'c', 3, "\"three\"", "3", 3);
    put_ok(s, &b);
    assert_int_equal(status_int(s, "direct_insert_fallbacks"), 0);
    assert_int_equal(status_int(s, "rows_upserted"), 3);

    /* a replayed create of key 2 with a new value, next to a new key */
    b.n = 0;
    item(&b, topic, 'c', 4, "\"four\"", "4", 4);
    item(&b, topic, 'c', 2, "\"two again\"", "22", 5);
    put_ok(s, &b);
    assert_int_equal(status_int(s, "direct_insert_fallbacks"), 1);
    assert_string_equal(q1(a, "SELECT string_agg(id || ':' || name || ':' || qty, ',' ORDER BY id) FROM direct"),
                        "1:one:1,2:two again:22,3:three:3,4:four:4");
    assert_int_equal(stored_position(s, topic), g_offset);

    /* a NOT NULL violation in a direct COPY names the record */
    q1(a, "ALTER TABLE direct ALTER COLUMN qty SET NOT NULL");
    for (int i = 0; i < 4; i++) { /* let the direct path rest out */
        b.n = 0;
        item(&b, topic, 'c', 10 + i, "\"x\"", "1", 6);
        put_ok(s, &b);
    }
    b.n = 0;
    item(&b, topic, 'c', 20, "\"ok\"", "1", 7);
    item(&b, topic, 'c', 21, "\"bad\"", "null", 8);
    connect_err_t err;
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 1);
    assert_string_equal(q1(a, "SELECT count(*) FROM direct WHERE id >= 20"), "0");
    postgres_sink_ops.stop(s);

    /* An existing table without a primary key never takes the direct path: a replayed create
     * must not become a second row. */
    q1(a, "DROP TABLE IF EXISTS nopk; CREATE TABLE nopk (id int, name text, qty int)");
    s = start("nopk", config(NULL, NULL));
    b.n = 0;
    item(&b, "app.public.nopk", 'c', 1, "\"one\"", "1", 1);
    assert_int_equal(put(s, &b, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_FATAL);
    assert_non_null(strstr(err.msg, "ON CONFLICT"));
    assert_string_equal(q1(a, "SELECT count(*) FROM nopk"), "0");
    postgres_sink_ops.stop(s);
    PQfinish(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_validate_names_each_bad_field),
        cmocka_unit_test(test_upsert_update_delete_tombstone_truncate),
        cmocka_unit_test(test_duplicate_keys_in_one_batch),
        cmocka_unit_test(test_absent_column_keeps_its_value),
        cmocka_unit_test(test_counters_count_committed_rows),
        cmocka_unit_test(test_absent_column_with_last_write_wins),
        cmocka_unit_test(test_crash_before_commit_applies_nothing),
        cmocka_unit_test(test_pipelined_batches),
        cmocka_unit_test(test_missing_target_schema_is_created),
        cmocka_unit_test(test_direct_insert_and_fallback),
        cmocka_unit_test(test_server_restart_is_transient),
        cmocka_unit_test(test_poison_record_has_its_index),
        cmocka_unit_test(test_add_column_and_inferred_types),
        cmocka_unit_test(test_last_write_wins),
        cmocka_unit_test(test_partition_delete_removes_the_partition),
        cmocka_unit_test(test_partition_delete_with_last_write_wins),
        cmocka_unit_test(test_skip_and_positions_per_partition),
        cmocka_unit_test(test_large_batch),
        cmocka_unit_test(test_wrong_database_is_fatal),
        cmocka_unit_test(test_sinks_starting_together_all_start),
        cmocka_unit_test(test_sinks_creating_one_target_table_together_all_write),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
