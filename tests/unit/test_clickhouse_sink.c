/* ClickHouse sink against Debian's clickhouse-server 18.16, started in a temp dir on free
 * ports by tests/fixtures/clickhouse_start.sh. The harness plays the connect runtime and reads
 * the tables back over HTTP with SELECT ... FINAL. Skips (passes with a message) when
 * clickhouse-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "connect/sinks/clickhouse_sink.h"

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

static char g_dir[256], g_src[512], g_url[128], g_port[16], g_tcp_port[16];

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

static int run_fixture(const char *script, const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/%s %s/ch %s", g_src, script, g_dir, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[256];
    if (out) out[0] = '\0';
    while (fgets(line, sizeof(line), p)) {
        if (out) {
            /* Keep the last line; truncating a long one is fine for a test fixture. */
            size_t n = strnlen(line, cap - 1);
            memcpy(out, line, n);
            out[n] = '\0';
        }
    }
    if (out) out[strcspn(out, "\n")] = '\0';
    return pclose(p);
}

static int group_setup(void **state)
{
    if (access("/usr/sbin/clickhouse-server", X_OK) != 0) {
        fprintf(stderr, "clickhouse-server is not installed: skipping\n");
        return 0;
    }
    snprintf(g_src, sizeof(g_src), "%s", __FILE__);
    char *cut = strstr(g_src, "/tests/unit/");
    if (!cut) return -1;
    *cut = '\0';
    snprintf(g_dir, sizeof(g_dir), "/tmp/sb_chsink_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_port, sizeof(g_port), "%d", free_port());
    snprintf(g_tcp_port, sizeof(g_tcp_port), "%d", free_port());
    char args[64];
    snprintf(args, sizeof(args), "%s %s", g_port, g_tcp_port);
    if (run_fixture("clickhouse_start.sh", args, g_url, sizeof(g_url)) != 0) {
        fprintf(stderr, "clickhouse_start.sh failed: %s\n", g_url);
        g_url[0] = '\0';
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (g_dir[0]) {
        run_fixture("clickhouse_stop.sh", "--remove", NULL, 0);
        rmdir(g_dir);
    }
    return 0;
}

#define NEED_CH()                                                                                  \
    do {                                                                                           \
        if (!g_url[0]) skip();                                                                     \
    } while (0)

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    char *out = arg;
    size_t have = strlen(out), add = size * n;
    if (have + add >= 4096) add = 4095 - have;
    memcpy(out + have, p, add);
    out[have + add] = '\0';
    return size * n;
}

/* Runs a query, returns its TabSeparated output with the final newline removed. */
static const char *q(const char *sql)
{
    static char out[4096];
    out[0] = '\0';
    CURL *c = curl_easy_init();
    char url[160];
    snprintf(url, sizeof(url), "%s/", g_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (status != 200) fail_msg("query failed: %s: %s", sql, out);
    size_t n = strlen(out);
    while (n && out[n - 1] == '\n')
        out[--n] = '\0';
    return out;
}

typedef struct batch {
    connect_record_t recs[32];
    char keys[32][128];
    char values[32][1024];
    int n;
} batch_t;

static int64_t g_offset;

static void add(batch_t *b, const char *topic, const char *key, const char *value)
{
    int i = b->n++;
    connect_record_t *r = &b->recs[i];
    memset(r, 0, sizeof(*r));
    r->topic = topic;
    r->offset = g_offset++;
    r->timestamp_ms = 1000;
    if (key) snprintf(b->keys[i], sizeof(b->keys[i]), "%s", key);
    r->key = (sb_slice_t){(const uint8_t *)b->keys[i], key ? (int32_t)strlen(key) : -1};
    if (value) snprintf(b->values[i], sizeof(b->values[i]), "%s", value);
    r->value = (sb_slice_t){(const uint8_t *)b->values[i], value ? (int32_t)strlen(value) : -1};
}

static void item(batch_t *b, const char *topic, char op, int id, const char *name, const char *qty,
                 long lsn)
{
    char key[64], value[1024];
    snprintf(key, sizeof(key), "{\"id\":%d}", id);
    const char *types =
        "\"column_types\":{\"id\":\"integer\",\"name\":\"text\",\"qty\":\"integer\"}";
    if (op == 'd')
        snprintf(value, sizeof(value),
                 "{\"before\":{\"id\":%d},\"after\":null,\"source\":{\"lsn\":%ld,%s},\"op\":\"d\"}",
                 id, lsn, types);
    else
        snprintf(value, sizeof(value),
                 "{\"before\":null,\"after\":{\"id\":%d,\"name\":%s,\"qty\":%s},\"source\":{"
                 "\"lsn\":%ld,\"ts_ms\":5,%s},"
                 "\"op\":\"%c\"}",
                 id, name, qty, lsn, types, op);
    add(b, topic, key, value);
}

static void *start(const char *name)
{
    json_t *cfg = json_pack("{s:s}", "clickhouse.url", g_url);
    json_object_set_new(cfg, "name", json_string(name));
    void *st = NULL;
    connect_err_t err = {0};
    if (clickhouse_sink_ops.start(NULL, cfg, &st, &err) != 0) fail_msg("start: %s", err.msg);
    json_decref(cfg);
    return st;
}

static void put_ok(void *s, batch_t *b)
{
    connect_err_t err = {0};
    if (clickhouse_sink_ops.put(s, b->recs, b->n, &err) != 0)
        fail_msg("put failed (class %d, index %d): %s", err.cls, err.index, err.msg);
}

static int64_t position(void *s, const char *topic)
{
    sink_position_t *pos;
    int n;
    connect_err_t err;
    assert_int_equal(clickhouse_sink_ops.load_positions(s, &pos, &n, &err), 0);
    int64_t v = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(pos[i].topic, topic) == 0 && pos[i].partition == 0) v = pos[i].next_offset;
    free(pos);
    return v;
}

#define LIVE_ROWS(t)                                                                               \
    "SELECT id, name, qty FROM " t " FINAL WHERE __deleted = 0 ORDER BY id FORMAT TabSeparated"

static void test_classify_and_validate(void **state)
{
    assert_int_equal(clickhouse_sink_classify_code(0), CONNECT_ERR_TRANSIENT);
    assert_int_equal(clickhouse_sink_classify_code(241), CONNECT_ERR_TRANSIENT);
    assert_int_equal(clickhouse_sink_classify_code(27), CONNECT_ERR_RECORD);
    assert_int_equal(clickhouse_sink_classify_code(192), CONNECT_ERR_FATAL);
    json_t *c = json_pack("{s:s, s:s, s:s}", "clickhouse.url", "ftp://x", "version.source", "xid",
                          "request.timeout.ms", "soon");
    connect_config_errors_t errs = {0};
    assert_int_not_equal(clickhouse_sink_ops.validate(c, &errs), 0);
    assert_int_equal(errs.count, 3);
    assert_string_equal(errs.items[0].field, "clickhouse.url");
    assert_string_equal(errs.items[1].field, "version.source");
    assert_string_equal(errs.items[2].field, "request.timeout.ms");
    json_decref(c);
}

static void test_upsert_delete_truncate_and_replay(void **state)
{
    NEED_CH();
    const char *topic = "app.public.chitems";
    void *s = start("ch-crud");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"one\"", "10", 100);
    item(&b, topic, 'c', 2, "\"two \\\"quoted\\\" \\\\ \\t tab\"", "20", 101);
    item(&b, topic, 'c', 3, "null", "30", 102);
    item(&b, topic, 'u', 1, "\"uno\"", "11", 103); /* same key twice in one batch */
    put_ok(s, &b);
    assert_string_equal(
        q("SELECT name, type FROM system.columns WHERE table = 'chitems' FORMAT TabSeparated"),
        "id\tInt32\nname\tNullable(String)\nqty\tNullable(Int32)\n__version\tUInt64\n__"
        "deleted\tUInt8");
    assert_string_equal(q(LIVE_ROWS("chitems")),
                        "1\tuno\t11\n2\ttwo \"quoted\" \\\\ \\t tab\t20\n3\t\\N\t30");

    batch_t b2 = {0};
    item(&b2, topic, 'd', 2, NULL, NULL, 104);
    add(&b2, topic, "{\"id\":2}", NULL);
    item(&b2, topic, 'u', 3, "\"three\"", "33", 105);
    put_ok(s, &b2);
    assert_string_equal(q(LIVE_ROWS("chitems")), "1\tuno\t11\n3\tthree\t33");
    assert_int_equal(position(s, topic), g_offset);

    /* Replaying both batches (a crash before the positions were stored) changes nothing. */
    put_ok(s, &b);
    put_ok(s, &b2);
    q("OPTIMIZE TABLE chitems FINAL");
    assert_string_equal(q(LIVE_ROWS("chitems")), "1\tuno\t11\n3\tthree\t33");
    assert_string_equal(q("SELECT count() FROM chitems"), "3"); /* merged: one row per key */

    batch_t b3 = {0};
    item(&b3, topic, 'c', 4, "\"four\"", "40", 106);
    add(&b3, topic, NULL, "{\"before\":null,\"after\":null,\"op\":\"t\"}");
    item(&b3, topic, 'c', 5, "\"five\"", "50", 107);
    put_ok(s, &b3);
    assert_string_equal(q(LIVE_ROWS("chitems")), "5\tfive\t50");
    clickhouse_sink_ops.stop(s);
}

static void test_poison_add_column_and_restart(void **state)
{
    NEED_CH();
    const char *topic = "app.public.chpoison";
    void *s = start("ch-poison");
    batch_t b = {0};
    item(&b, topic, 'c', 1, "\"a\"", "1", 1);
    put_ok(s, &b);
    int64_t pos = position(s, topic);

    b.n = 0;
    item(&b, topic, 'c', 2, "\"b\"", "2", 2);
    item(&b, topic, 'c', 3, "\"c\"", "\"three\"", 3);
    item(&b, topic, 'c', 4, "\"d\"", "4", 4);
    connect_err_t err = {0};
    assert_int_equal(clickhouse_sink_ops.put(s, b.recs, b.n, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_RECORD);
    assert_int_equal(err.index, 1);
    assert_int_equal(position(s, topic), pos);
    assert_string_equal(q("SELECT count() FROM chpoison"), "1"); /* the INSERT was all or nothing */
    for (int i = 0; i < b.n; i++) {
        int rc = clickhouse_sink_ops.put(s, &b.recs[i], 1, &err);
        if (i == 1) {
            assert_int_equal(rc, -1);
            assert_int_equal(err.cls, CONNECT_ERR_RECORD);
            assert_int_equal(err.index, 0);
            assert_int_equal((clickhouse_sink_ops.skip)(s, &b.recs[i], &err), 0);
        } else {
            assert_int_equal(rc, 0);
        }
    }
    assert_int_equal(position(s, topic), b.recs[2].offset + 1);

    b.n = 0;
    add(&b, topic, "{\"id\":5}",
        "{\"op\":\"c\",\"after\":{\"id\":5,\"name\":\"e\",\"qty\":5,\"added\":2.5,\"flag\":true},"
        "\"source\":{\"lsn\":9}}");
    put_ok(s, &b);
    assert_string_equal(
        q("SELECT added, flag FROM chpoison FINAL WHERE id = 5 FORMAT TabSeparated"), "2.5\t1");

    /* Server down: TRANSIENT; back up: the same batch goes through. */
    assert_int_equal(run_fixture("clickhouse_stop.sh", "", NULL, 0), 0);
    b.n = 0;
    item(&b, topic, 'c', 6, "\"f\"", "6", 10);
    assert_int_equal(clickhouse_sink_ops.put(s, b.recs, b.n, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_TRANSIENT);
    char args[64], url[128];
    snprintf(args, sizeof(args), "%s %s", g_port, g_tcp_port);
    assert_int_equal(run_fixture("clickhouse_start.sh", args, url, sizeof(url)), 0);
    put_ok(s, &b);
    assert_string_equal(q("SELECT count() FROM chpoison FINAL WHERE __deleted = 0"), "5");
    assert_int_equal(position(s, topic), g_offset);
    clickhouse_sink_ops.stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_and_validate),
        cmocka_unit_test(test_upsert_delete_truncate_and_replay),
        cmocka_unit_test(test_poison_add_column_and_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
