/* Debezium-compatible event encoding: golden JSON for keys and values, value conversions at
 * the edges (2^53, NaN, long numerics, escapes), and that every event parses as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "connect/envelope.h"
#include "common/err.h"
#include "version.h"

#define V(s) ((envelope_value_t){(s), (int32_t)strlen(s)})
#define VNULL ((envelope_value_t){NULL, ENVELOPE_NULL})
#define VABSENT ((envelope_value_t){NULL, ENVELOPE_ABSENT})

static const envelope_column_t cols[] = {
    {"id", "integer", ENVELOPE_KIND_INTEGER, true},
    {"name", "text", ENVELOPE_KIND_STRING, false},
    {"price", "numeric(10,2)", ENVELOPE_KIND_NUMERIC, false},
    {"ok", "boolean", ENVELOPE_KIND_BOOL, false},
};

static char *render(sb_wr_t *w)
{
    sb_wr_bytes(w, "", 1);
    return (char *)w->buf;
}

static void test_change_event_golden(void **state)
{
    (void)state;
    envelope_table_t *t = envelope_table_new("shop", "public", "items", cols, 4);
    assert_non_null(t);
    envelope_value_t before[] = {V("7"), V("old"), V("1.50"), V("f")};
    envelope_value_t after[] = {V("7"), V("say \"hi\"\n"), V("12.50"), V("t")};
    envelope_source_t src = {"postgresql", "app", 1700000000123, 23456, 741, "false", NULL, 0};
    sb_wr_t w;
    sb_wr_init(&w, 0);
    assert_int_equal(envelope_write_key(&w, t, after), 0);
    assert_string_equal(render(&w), "{\"id\":7}");
    sb_wr_reset(&w);
    assert_int_equal(envelope_write_value(&w, t, 'u', before, after, &src, 1700000000200), 0);
    assert_string_equal(render(&w),
                        "{\"before\":{\"id\":7,\"name\":\"old\",\"price\":1.50,\"ok\":false},"
                        "\"after\":{\"id\":7,\"name\":\"say \\\"hi\\\"\\n\",\"price\":12.50,\"ok\":true},"
                        "\"source\":{\"version\":\"" STREAMBUS_VERSION "\",\"connector\":\"postgresql\",\"name\":\"app\","
                        "\"ts_ms\":1700000000123,\"db\":\"shop\",\"schema\":\"public\",\"table\":\"items\","
                        "\"lsn\":23456,\"txId\":741,\"snapshot\":\"false\","
                        "\"column_types\":{\"id\":\"integer\",\"name\":\"text\",\"price\":\"numeric(10,2)\",\"ok\":\"boolean\"}},"
                        "\"op\":\"u\",\"ts_ms\":1700000000200}");
    sb_wr_deinit(&w);
    envelope_table_free(t);
}

static void test_delete_truncate_and_absent(void **state)
{
    (void)state;
    envelope_table_t *t = envelope_table_new("shop", "public", "items", cols, 4);
    envelope_source_t src = {"postgresql", "app", 5, -1, -1, "last", NULL, 0};
    sb_wr_t w;
    sb_wr_init(&w, 0);
    envelope_value_t key_only[] = {V("7"), VNULL, VNULL, VNULL};
    envelope_write_value(&w, t, 'd', key_only, NULL, &src, 6);
    json_error_t jerr;
    json_t *j = json_loads(render(&w), 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "op")), "d");
    assert_true(json_is_null(json_object_get(j, "after")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "before"), "name")));
    json_t *source = json_object_get(j, "source");
    assert_true(json_is_null(json_object_get(source, "lsn")));
    assert_true(json_is_null(json_object_get(source, "txId")));
    assert_string_equal(json_string_value(json_object_get(source, "snapshot")), "last");
    json_decref(j);

    /* An unchanged TOAST value is left out of the row, not replaced by a placeholder; the first
     * column missing must not leave a dangling comma. */
    sb_wr_reset(&w);
    envelope_value_t partial[] = {VABSENT, V("x"), VABSENT, V("t")};
    envelope_write_value(&w, t, 'u', NULL, partial, &src, 6);
    j = json_loads(render(&w), 0, &jerr);
    assert_non_null(j);
    json_t *a = json_object_get(j, "after");
    assert_int_equal(json_object_size(a), 2);
    assert_null(json_object_get(a, "price"));
    json_decref(j);

    sb_wr_reset(&w);
    envelope_write_value(&w, t, 't', NULL, NULL, &src, 6);
    j = json_loads(render(&w), 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "op")), "t");
    assert_true(json_is_null(json_object_get(j, "before")) && json_is_null(json_object_get(j, "after")));
    json_decref(j);
    sb_wr_deinit(&w);
    envelope_table_free(t);
}

static void test_no_primary_key_means_null_key(void **state)
{
    (void)state;
    const envelope_column_t c[] = {{"a", "text", ENVELOPE_KIND_STRING, false}};
    envelope_table_t *t = envelope_table_new("d", "s", "t", c, 1);
    sb_wr_t w;
    sb_wr_init(&w, 0);
    envelope_value_t row[] = {V("x")};
    assert_int_equal(envelope_write_key(&w, t, row), SB_ENOENT);
    assert_int_equal(w.len, 0);
    sb_wr_deinit(&w);
    envelope_table_free(t);
}

static void check_value(envelope_kind_t kind, const char *in, const char *want)
{
    sb_wr_t w;
    sb_wr_init(&w, 0);
    envelope_write_json_value(&w, kind, V(in));
    assert_string_equal(render(&w), want);
    sb_wr_deinit(&w);
}

static void test_value_conversions(void **state)
{
    (void)state;
    check_value(ENVELOPE_KIND_INTEGER, "-42", "-42");
    check_value(ENVELOPE_KIND_INTEGER, "9007199254740992", "9007199254740992");
    check_value(ENVELOPE_KIND_INTEGER, "9007199254740993", "\"9007199254740993\"");
    check_value(ENVELOPE_KIND_INTEGER, "-9223372036854775808", "\"-9223372036854775808\"");
    check_value(ENVELOPE_KIND_FLOAT, "1.5e-07", "1.5e-07");
    check_value(ENVELOPE_KIND_FLOAT, "NaN", "\"NaN\"");
    check_value(ENVELOPE_KIND_FLOAT, "-Infinity", "\"-Infinity\"");
    check_value(ENVELOPE_KIND_NUMERIC, "0.000123", "0.000123");
    check_value(ENVELOPE_KIND_NUMERIC, "123456789012345", "123456789012345");
    check_value(ENVELOPE_KIND_NUMERIC, "1234567890123456", "\"1234567890123456\"");
    check_value(ENVELOPE_KIND_NUMERIC, "1.234567890123456", "\"1.234567890123456\"");
    check_value(ENVELOPE_KIND_NUMERIC, "NaN", "\"NaN\"");
    check_value(ENVELOPE_KIND_BOOL, "t", "true");
    check_value(ENVELOPE_KIND_BOOL, "f", "false");
    check_value(ENVELOPE_KIND_STRING, "tab\there\x01", "\"tab\\there\\u0001\"");
    check_value(ENVELOPE_KIND_STRING, "back\\slash", "\"back\\\\slash\"");
    check_value(ENVELOPE_KIND_STRING, "日本", "\"日本\"");
}

static void test_type_names(void **state)
{
    (void)state;
    char buf[64];
    assert_true(envelope_pg_type_name(1043, 24, buf, sizeof(buf)));
    assert_string_equal(buf, "character varying(20)");
    assert_true(envelope_pg_type_name(1700, ((10 << 16) | 2) + 4, buf, sizeof(buf)));
    assert_string_equal(buf, "numeric(10,2)");
    assert_true(envelope_pg_type_name(1184, -1, buf, sizeof(buf)));
    assert_string_equal(buf, "timestamp with time zone");
    assert_true(envelope_pg_type_name(1114, 3, buf, sizeof(buf)));
    assert_string_equal(buf, "timestamp(3) without time zone");
    assert_false(envelope_pg_type_name(16400, -1, buf, sizeof(buf)));
    assert_int_equal(envelope_kind_for_pg_type(20), ENVELOPE_KIND_INTEGER);
    assert_int_equal(envelope_kind_for_pg_type(1700), ENVELOPE_KIND_NUMERIC);
    assert_int_equal(envelope_kind_for_pg_type(3802), ENVELOPE_KIND_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_event_golden),
        cmocka_unit_test(test_delete_truncate_and_absent),
        cmocka_unit_test(test_no_primary_key_means_null_key),
        cmocka_unit_test(test_value_conversions),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
