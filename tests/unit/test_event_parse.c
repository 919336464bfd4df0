/* Change-event parser: the Debezium shapes sources emit, values sinks must write unchanged,
 * and the malformed inputs that must become a RECORD error instead of a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "connect/event_parse.h"

static sb_slice_t S(const char *s)
{
    return (sb_slice_t){.p = (const uint8_t *)s, .len = s ? (int32_t)strlen(s) : -1};
}

static const event_column_t *col(const event_row_t *row, const char *name)
{
    const event_column_t *c = event_row_find(row, name);
    assert_non_null(c);
    return c;
}

static void assert_text(const event_column_t *c, event_json_type_t type, const char *text)
{
    assert_int_equal(c->value.type, type);
    assert_int_equal(c->value.len, (int)strlen(text));
    assert_memory_equal(c->value.text, text, strlen(text));
}

static void test_update_with_types(void **state)
{
    (void)state;
    event_arena_t a;
    event_arena_init(&a);
    const char *value =
        "{\"before\":{\"id\":7,\"name\":\"old\"},"
        " \"after\":{\"id\":7,\"name\":\"new \\\"q\\\" \\u00e9\\ud83d\\ude00\",\"price\":12.50,\"ok\":true,"
        "\"big\":\"12345678901234567890\",\"tags\":[1,{\"a\":null}],\"gone\":null},"
        " \"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"ts_ms\":1700000000123,\"db\":\"d\","
        "\"schema\":\"public\",\"table\":\"items\",\"lsn\":\"9223372036854775807\",\"txId\":5,\"snapshot\":\"false\","
        "\"column_types\":{\"id\":\"integer\",\"name\":\"text\",\"price\":\"numeric(10,2)\",\"ok\":\"boolean\"}},"
        " \"op\":\"u\",\"ts_ms\":1700000000200}";
    event_t ev;
    sb_err_t err = {0};
    assert_int_equal(event_parse(&a, S("{\"id\":7}"), S(value), &ev, &err), 0);
    assert_int_equal(ev.op, EVENT_OP_UPDATE);
    assert_true(ev.key.present);
    assert_int_equal(ev.key.n, 1);
    assert_text(col(&ev.key, "id"), EVENT_JSON_INT, "7");
    assert_true(ev.before.present);
    assert_int_equal(ev.after.n, 7);
    assert_text(col(&ev.after, "name"), EVENT_JSON_STRING, "new \"q\" \xc3\xa9\xf0\x9f\x98\x80");
    assert_text(col(&ev.after, "price"), EVENT_JSON_REAL, "12.50");
    assert_int_equal(col(&ev.after, "ok")->value.type, EVENT_JSON_TRUE);
    assert_text(col(&ev.after, "big"), EVENT_JSON_STRING, "12345678901234567890");
    assert_text(col(&ev.after, "tags"), EVENT_JSON_ARRAY, "[1,{\"a\":null}]");
    assert_int_equal(col(&ev.after, "gone")->value.type, EVENT_JSON_NULL);
    assert_string_equal(col(&ev.after, "price")->pg_type, "numeric(10,2)");
    assert_string_equal(col(&ev.after, "id")->pg_type, "integer");
    assert_null(col(&ev.after, "tags")->pg_type);
    assert_true(ev.has_source_ts);
    assert_true(ev.source_ts_ms == 1700000000123LL);
    assert_true(ev.has_lsn);
    assert_true(ev.lsn == INT64_MAX);
    assert_true(ev.ts_ms == 1700000000200LL);
    assert_string_equal(ev.source_schema, "public");
    assert_string_equal(ev.source_table, "items");
    event_arena_deinit(&a);
}

static void test_tombstone_delete_truncate(void **state)
{
    (void)state;
    event_arena_t a;
    event_arena_init(&a);
    event_t ev;
    sb_err_t err = {0};
    assert_int_equal(event_parse(&a, S("{\"id\":1}"), S(NULL), &ev, &err), 0);
    assert_int_equal(ev.op, EVENT_OP_TOMBSTONE);
    assert_text(col(&ev.key, "id"), EVENT_JSON_INT, "1");

    assert_int_equal(event_parse(&a, S("{\"id\":1}"),
                                 S("{\"before\":{\"id\":1},\"after\":null,\"source\":{\"ts_ms\":5},\"op\":\"d\"}"), &ev,
                                 &err),
                     0);
    assert_int_equal(ev.op, EVENT_OP_DELETE);
    assert_false(ev.after.present);
    assert_true(ev.before.present);

    assert_int_equal(event_parse(&a, S(NULL), S("{\"before\":null,\"after\":null,\"op\":\"t\"}"), &ev, &err), 0);
    assert_int_equal(ev.op, EVENT_OP_TRUNCATE);
    assert_false(ev.key.present);

    /* A null key written as JSON null is the same as an absent key. */
    assert_int_equal(event_parse(&a, S(" null "), S("{\"op\":\"t\"}"), &ev, &err), 0);
    assert_false(ev.key.present);
    event_arena_deinit(&a);
}

/* Many columns push the column array past its first size and the arena past one chunk. */
static void test_wide_rows_and_many_events(void **state)
{
    (void)state;
    event_arena_t a;
    event_arena_init(&a);
    char value[8192];
    int o = snprintf(value, sizeof(value), "{\"op\":\"c\",\"after\":{");
    for (int i = 0; i < 100; i++) o += snprintf(value + o, sizeof(value) - (size_t)o, "%s\"c%d\":%d", i ? "," : "", i, i);
    snprintf(value + o, sizeof(value) - (size_t)o, "}}");
    event_t ev;
    for (int round = 0; round < 50; round++) {
        assert_int_equal(event_parse(&a, S("{\"c0\":0}"), S(value), &ev, NULL), 0);
        assert_int_equal(ev.after.n, 100);
        assert_text(col(&ev.after, "c99"), EVENT_JSON_INT, "99");
        assert_string_equal(ev.after.cols[57].name, "c57");
    }
    event_arena_reset(&a);
    assert_int_equal(event_parse(&a, S("{\"c0\":0}"), S(value), &ev, NULL), 0);
    assert_int_equal(ev.after.n, 100);
    event_arena_deinit(&a);
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *why;
    } bad[] = {
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1}", "expected"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":01}}", "malformed"},
        {"{\"id\":1}", "{\"op\":\"x\",\"after\":{\"id\":1}}", "op must be"},
        {"{\"id\":1}", "{\"after\":{\"id\":1}}", "no \"op\""},
        {"{\"id\":1}", "{\"op\":\"c\"}", "without \"after\""},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":[1]}", "object or null"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"s\":\"a\\u0000b\"}}", "u0000"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"s\":\"\\ud800\"}}", "surrogate"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"s\":\"a\nb\"}}", "control"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1}} x", "trailing"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"\":1}}", "empty column"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1},\"source\":{\"ts_ms\":1.5}}", "integer"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1},\"source\":{\"ts_ms\":99999999999999999999}}", "range"},
        {"[1]", "{\"op\":\"c\",\"after\":{\"id\":1}}", "object of primary-key"},
        {NULL, NULL, "needs a key"},
        {"{\"id\":1}", "", "expected"},
        {"{\"id\":1}", "{\"op\":\"c\",\"after\":{\"id\":1},\"source\":{\"column_types\":{\"id\":4}}}", "strings"},
    };
    event_arena_t a;
    event_arena_init(&a);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        event_t ev;
        sb_err_t err = {0};
        int rc = event_parse(&a, S(bad[i].key), S(bad[i].value), &ev, &err);
        if (rc != SB_EINVAL || !strstr(err.msg, bad[i].why))
            fail_msg("case %zu: rc %d, message \"%s\", wanted \"%s\"", i, rc, err.msg, bad[i].why);
    }
    /* 100 nested arrays exceed the depth limit rather than the stack. */
    char deep[300] = "{\"op\":\"c\",\"after\":{\"j\":";
    size_t o = strlen(deep);
    for (int i = 0; i < 100; i++) deep[o++] = '[';
    for (int i = 0; i < 100; i++) deep[o++] = ']';
    memcpy(deep + o, "}}", 3);
    event_t ev;
    sb_err_t err = {0};
    assert_int_equal(event_parse(&a, S("{\"id\":1}"), S(deep), &ev, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "deep"));
    event_arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_with_types),
        cmocka_unit_test(test_tombstone_delete_truncate),
        cmocka_unit_test(test_wide_rows_and_many_events),
        cmocka_unit_test(test_rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
