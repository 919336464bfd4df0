/* CQL types and values against byte vectors written from apache/cassandra
 * doc/native_protocol_v4.spec (sections 4.2.5.2, 6 and 7): [option] type trees, every scalar,
 * the text forms (the spec's varint table, its date examples), collections, tuples, UDTs and
 * the JSON rendering the change-data sources use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cql/cql_types.h"

#define S(lit) ((sb_slice_t){(const uint8_t *)(lit), (int32_t)(sizeof(lit) - 1)})
#define NUL ((sb_slice_t){NULL, -1})

static cql_type_t *type_of(const uint8_t *opt, size_t n)
{
    sb_rd_t rd;
    sb_rd_init(&rd, opt, n);
    cql_type_t *t = NULL;
    sb_err_t err = {0};
    assert_int_equal(cql_type_decode(&rd, 0, &t, &err), 0);
    assert_int_equal(sb_rd_remaining(&rd), 0);
    return t;
}

static cql_type_t *native(cql_type_id_t id)
{
    uint8_t opt[2] = {0, (uint8_t)id};
    return type_of(opt, 2);
}

/* JSON of one value into a static buffer (NUL-terminated). */
static const char *json(const cql_type_t *t, sb_slice_t raw)
{
    static char out[4096];
    sb_wr_t w;
    sb_err_t err = {0};
    sb_wr_init(&w, 64);
    int rc = cql_value_to_json(t, raw, &w, &err);
    if (rc != 0) snprintf(out, sizeof(out), "ERR %s: %s", sb_err_name(rc), err.msg);
    else snprintf(out, sizeof(out), "%.*s", (int)w.len, (const char *)w.buf);
    sb_wr_deinit(&w);
    return out;
}

static const char *text_form(cql_type_id_t id, sb_slice_t raw)
{
    static char out[4096];
    cql_type_t *t = native(id);
    sb_wr_t w;
    sb_err_t err = {0};
    sb_wr_init(&w, 64);
    int rc = cql_decode_text_form(t, raw, &w, &err);
    if (rc != 0) snprintf(out, sizeof(out), "ERR %s", sb_err_name(rc));
    else snprintf(out, sizeof(out), "%.*s", (int)w.len, (const char *)w.buf);
    sb_wr_deinit(&w);
    cql_type_free(t);
    return out;
}

static void test_type_trees(void **state)
{
    (void)state;
    /* map<text, frozen<list<int>>>: 0x0021, then the key option, then the value option. */
    static const uint8_t map[] = {0x00, 0x21, 0x00, 0x0D, 0x00, 0x20, 0x00, 0x09};
    cql_type_t *t = type_of(map, sizeof(map));
    assert_int_equal(t->id, CQL_TYPE_MAP);
    assert_int_equal(t->nsub, 2);
    assert_int_equal(t->sub[0]->id, CQL_TYPE_VARCHAR);
    assert_int_equal(t->sub[1]->id, CQL_TYPE_LIST);
    assert_int_equal(t->sub[1]->sub[0]->id, CQL_TYPE_INT);
    sb_wr_t w;
    sb_wr_init(&w, 64);
    cql_type_format(t, &w);
    assert_int_equal(w.len, strlen("map<text, frozen<list<int>>>"));
    assert_memory_equal(w.buf, "map<text, frozen<list<int>>>", w.len);
    sb_wr_deinit(&w);
    cql_type_free(t);

    /* UDT: <ks><udt_name><n><name_1><type_1>... */
    static const uint8_t udt[] = {0x00, 0x30, 0x00, 0x04, 's', 'h', 'o', 'p', 0x00, 0x04, 'a', 'd', 'd', 'r',
                                  0x00, 0x02, 0x00, 0x06, 's', 't', 'r', 'e', 'e', 't', 0x00, 0x0D,
                                  0x00, 0x03, 'z', 'i', 'p', 0x00, 0x09};
    t = type_of(udt, sizeof(udt));
    assert_int_equal(t->id, CQL_TYPE_UDT);
    assert_string_equal(t->keyspace, "shop");
    assert_string_equal(t->name, "addr");
    assert_int_equal(t->nsub, 2);
    assert_string_equal(t->field_names[1], "zip");
    assert_int_equal(t->sub[1]->id, CQL_TYPE_INT);
    cql_type_free(t);

    /* tuple<int, uuid> and a v4 duration (a custom type by class name). */
    static const uint8_t tup[] = {0x00, 0x31, 0x00, 0x02, 0x00, 0x09, 0x00, 0x0C};
    t = type_of(tup, sizeof(tup));
    assert_int_equal(t->id, CQL_TYPE_TUPLE);
    assert_int_equal(t->sub[1]->id, CQL_TYPE_UUID);
    cql_type_free(t);
    uint8_t dur[64] = {0x00, 0x00, 0x00, (uint8_t)strlen(CQL_DURATION_CLASS)};
    memcpy(dur + 4, CQL_DURATION_CLASS, strlen(CQL_DURATION_CLASS));
    t = type_of(dur, 4 + strlen(CQL_DURATION_CLASS));
    assert_int_equal(t->id, CQL_TYPE_DURATION);
    cql_type_free(t);
}

static void test_bad_type_trees_are_refused(void **state)
{
    (void)state;
    sb_err_t err = {0};
    cql_type_t *t = (cql_type_t *)1;
    sb_rd_t rd;
    static const uint8_t unknown[] = {0x00, 0x0A}; /* 0x000A is unassigned (old text) */
    sb_rd_init(&rd, unknown, sizeof(unknown));
    assert_int_equal(cql_type_decode(&rd, 0, &t, &err), SB_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err.msg, "0x000a"));

    static const uint8_t truncated_map[] = {0x00, 0x21, 0x00, 0x0D};
    sb_rd_init(&rd, truncated_map, sizeof(truncated_map));
    assert_int_equal(cql_type_decode(&rd, 0, &t, &err), SB_EINVAL);

    /* A tuple claiming 65535 elements in 2 bytes. */
    static const uint8_t huge_tuple[] = {0x00, 0x31, 0xFF, 0xFF, 0x00, 0x09};
    sb_rd_init(&rd, huge_tuple, sizeof(huge_tuple));
    assert_int_equal(cql_type_decode(&rd, 0, &t, &err), SB_EINVAL);

    /* list<list<list<...>>> deeper than the limit. */
    uint8_t deep[2 * (CQL_TYPE_MAX_DEPTH + 5) + 2];
    size_t n = 0;
    for (int i = 0; i < CQL_TYPE_MAX_DEPTH + 5; i++) {
        deep[n++] = 0x00;
        deep[n++] = 0x20;
    }
    deep[n++] = 0x00;
    deep[n++] = 0x09;
    sb_rd_init(&rd, deep, n);
    assert_int_equal(cql_type_decode(&rd, 0, &t, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "deeper"));
}

static void test_integers_and_floats(void **state)
{
    (void)state;
    sb_err_t err = {0};
    int64_t v;
    cql_type_t *tiny = native(CQL_TYPE_TINYINT), *small = native(CQL_TYPE_SMALLINT), *i32 = native(CQL_TYPE_INT),
               *i64 = native(CQL_TYPE_BIGINT), *ts = native(CQL_TYPE_TIMESTAMP), *d = native(CQL_TYPE_DOUBLE),
               *f = native(CQL_TYPE_FLOAT), *b = native(CQL_TYPE_BOOLEAN);
    assert_int_equal(cql_decode_int64(tiny, S("\x80"), &v, &err), 0);
    assert_int_equal(v, -128);
    assert_int_equal(cql_decode_int64(small, S("\x80\x00"), &v, &err), 0);
    assert_int_equal(v, -32768);
    assert_int_equal(cql_decode_int64(i32, S("\x7f\xff\xff\xff"), &v, &err), 0);
    assert_int_equal(v, 2147483647);
    assert_int_equal(cql_decode_int64(i64, S("\x80\x00\x00\x00\x00\x00\x00\x01"), &v, &err), 0);
    assert_true(v == INT64_MIN + 1);
    assert_int_equal(cql_decode_int64(ts, S("\x00\x00\x01\x8b\xcf\xe5\x68\x7b"), &v, &err), 0);
    assert_true(v == 1700000000123LL);
    /* Wrong sizes, null and the legacy empty value. */
    assert_int_equal(cql_decode_int64(i32, S("\x00\x01"), &v, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "int value has 2 bytes"));
    assert_int_equal(cql_decode_int64(i32, NUL, &v, &err), SB_ENOENT);
    assert_int_equal(cql_decode_int64(i32, S(""), &v, &err), SB_ENOENT);
    assert_int_equal(cql_decode_int64(d, S("\x00\x00\x00\x00\x00\x00\x00\x00"), &v, &err), SB_EINVAL);

    double x;
    assert_int_equal(cql_decode_double(d, S("\x40\x09\x21\xfb\x54\x44\x2d\x18"), &x, &err), 0);
    assert_true(x == 3.141592653589793);
    assert_int_equal(cql_decode_double(f, S("\x3f\xc0\x00\x00"), &x, &err), 0);
    assert_true(x == 1.5);
    assert_string_equal(json(d, S("\x7f\xf8\x00\x00\x00\x00\x00\x00")), "\"NaN\"");
    assert_string_equal(json(d, S("\xff\xf0\x00\x00\x00\x00\x00\x00")), "\"-Infinity\"");
    assert_string_equal(json(f, S("\x3f\xc0\x00\x00")), "1.5");
    bool bv;
    assert_int_equal(cql_decode_bool(S("\x02"), &bv, &err), 0); /* any non-zero byte is true */
    assert_true(bv);
    assert_string_equal(json(b, S("\x00")), "false");
    cql_type_free(tiny);
    cql_type_free(small);
    cql_type_free(i32);
    cql_type_free(i64);
    cql_type_free(ts);
    cql_type_free(d);
    cql_type_free(f);
    cql_type_free(b);
}

static void test_varint_table_from_the_spec(void **state)
{
    (void)state;
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x00")), "0");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x01")), "1");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x7f")), "127");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x00\x80")), "128");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x00\x81")), "129");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\xff")), "-1");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x80")), "-128");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\xff\x7f")), "-129");
    /* 2^100 + 7 = 0x10000000000000000000000007 (13 bytes, leading 0x10). */
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07")),
                        "1267650600228229401496703205383");
    /* Non-minimal encodings are still the same number. */
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\xff\xff\xff\x80")), "-128");
    assert_string_equal(text_form(CQL_TYPE_VARINT, S("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x3b\x9a\xca\x00")),
                        "1000000000");
}

static void test_decimal_text(void **state)
{
    (void)state;
    /* <scale int><unscaled varint>: "<unscaled>E<-scale>". */
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x02\x04\xd2")), "12.34");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x00\xff")), "-1");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\xff\xff\xff\xfd\x01")), "1E+3");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x08\x0f")), "1.5E-7");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x06\x01")), "0.000001");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x02\x00")), "0.00");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00\x03\x81")), "-0.127");
    assert_string_equal(text_form(CQL_TYPE_DECIMAL, S("\x00\x00\x00")), "ERR EINVAL");
}

static void test_dates_times_uuids_inets(void **state)
{
    (void)state;
    /* The spec's examples: 2^31 is 1970-01-01, 0 is -5877641-06-23. */
    assert_string_equal(text_form(CQL_TYPE_DATE, S("\x80\x00\x00\x00")), "1970-01-01");
    assert_string_equal(text_form(CQL_TYPE_DATE, S("\x00\x00\x00\x00")), "-5877641-06-23");
    assert_string_equal(text_form(CQL_TYPE_DATE, S("\x80\x00\x4a\x38")), "2022-01-08");
    assert_string_equal(text_form(CQL_TYPE_DATE, S("\x7f\xff\xff\xff")), "1969-12-31");
    assert_string_equal(text_form(CQL_TYPE_DATE, S("\x80\x00\x2c\x3a")), "2000-12-31"); /* a leap year's last day */
    assert_string_equal(text_form(CQL_TYPE_TIME, S("\x00\x00\x29\x32\x7b\x04\xbf\x79")), "12:34:56.789012345");
    assert_string_equal(text_form(CQL_TYPE_TIME, S("\x00\x00\x00\x00\x00\x00\x00\x00")), "00:00:00.000000000");
    /* 86400 s is outside a day. */
    assert_string_equal(text_form(CQL_TYPE_TIME, S("\x00\x00\x4e\x94\x91\x4f\x00\x00")), "ERR EINVAL");
    assert_string_equal(text_form(CQL_TYPE_UUID, S("\x12\x3e\x45\x67\xe8\x9b\x42\xd3\xa4\x56\x42\x66\x14\x17\x40\x00")),
                        "123e4567-e89b-42d3-a456-426614174000");
    assert_string_equal(text_form(CQL_TYPE_UUID, S("\x12\x3e")), "ERR EINVAL");
    assert_string_equal(text_form(CQL_TYPE_INET, S("\xc0\xa8\x01\x14")), "192.168.1.20");
    assert_string_equal(text_form(CQL_TYPE_INET, S("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\xff\x00\x00\x42\x83\x29")),
                        "2001:db8::ff00:42:8329");
    assert_string_equal(text_form(CQL_TYPE_INET, S("\x01\x02\x03\x04\x05")), "ERR EINVAL");
}

static void test_duration_vints(void **state)
{
    (void)state;
    sb_err_t err = {0};
    cql_duration_t d;
    /* months 14, days 3, nanoseconds 4000000005, each a zig-zag vint (VIntCoding). */
    assert_int_equal(cql_decode_duration(S("\x1c\x06\xf1\xdc\xd6\x50\x0a"), &d, &err), 0);
    assert_int_equal(d.months, 14);
    assert_int_equal(d.days, 3);
    assert_true(d.nanoseconds == 4000000005LL);
    assert_int_equal(cql_decode_duration(S("\x01\x01\x01"), &d, &err), 0);
    assert_true(d.months == -1 && d.days == -1 && d.nanoseconds == -1);
    assert_int_equal(cql_decode_duration(S("\x1c\x06\xf1\xdc"), &d, &err), SB_EINVAL); /* truncated */
    assert_int_equal(cql_decode_duration(S("\x1c\x06\x00\x00"), &d, &err), SB_EINVAL); /* trailing byte */
    /* The 9-byte form: 0xFF then 64 value bits. */
    sb_rd_t rd;
    sb_rd_init(&rd, "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    assert_true(cql_rd_unsigned_vint(&rd) == UINT64_MAX);
    assert_true(sb_rd_ok(&rd) && sb_rd_remaining(&rd) == 0);
    sb_rd_init(&rd, "\x81\x2c", 2);
    assert_int_equal(cql_rd_unsigned_vint(&rd), 300);
    cql_type_t *t = native(CQL_TYPE_DURATION);
    assert_string_equal(json(t, S("\x1c\x06\xf1\xdc\xd6\x50\x0a")),
                        "{\"months\":14,\"days\":3,\"nanoseconds\":4000000005}");
    cql_type_free(t);
}

static void test_collections_json(void **state)
{
    (void)state;
    static const uint8_t list_int[] = {0x00, 0x20, 0x00, 0x09};
    cql_type_t *t = type_of(list_int, sizeof(list_int));
    /* [int] n, then n [bytes]. */
    assert_string_equal(json(t, S("\x00\x00\x00\x03" "\x00\x00\x00\x04\x00\x00\x00\x01"
                                  "\x00\x00\x00\x04\xff\xff\xff\xfe" "\xff\xff\xff\xff")),
                        "[1,-2,null]");
    assert_string_equal(json(t, S("")), "[]");
    /* A count the bytes cannot hold is refused before anything is allocated or written. */
    assert_string_equal(json(t, S("\x7f\xff\xff\xff\x00\x00\x00\x04")), "ERR EINVAL: CQL list value has a bad element count");
    /* A truncated element: nothing half-written stays in the output. */
    sb_wr_t w;
    sb_err_t err = {0};
    sb_wr_init(&w, 16);
    sb_wr_bytes(&w, "x", 1);
    assert_int_equal(cql_value_to_json(t, S("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00\x04\x00"),
                                       &w, &err),
                     SB_EINVAL);
    assert_int_equal(w.len, 1);
    sb_wr_deinit(&w);
    cql_type_free(t);

    /* map<int, text>: keys become member names. */
    static const uint8_t map_int_text[] = {0x00, 0x21, 0x00, 0x09, 0x00, 0x0D};
    t = type_of(map_int_text, sizeof(map_int_text));
    assert_string_equal(json(t, S("\x00\x00\x00\x02" "\x00\x00\x00\x04\x00\x00\x00\x01" "\x00\x00\x00\x03one"
                                  "\x00\x00\x00\x04\x00\x00\x00\x02" "\x00\x00\x00\x03two")),
                        "{\"1\":\"one\",\"2\":\"two\"}");
    cql_type_free(t);

    /* tuple<int, text, boolean> with the last component missing: reported as null (spec 7). */
    static const uint8_t tup[] = {0x00, 0x31, 0x00, 0x03, 0x00, 0x09, 0x00, 0x0D, 0x00, 0x04};
    t = type_of(tup, sizeof(tup));
    assert_string_equal(json(t, S("\x00\x00\x00\x04\x00\x00\x00\x07" "\x00\x00\x00\x05seven")), "[7,\"seven\",null]");
    cql_type_free(t);

    /* UDT {street text, zip int} with a null field. */
    static const uint8_t udt[] = {0x00, 0x30, 0x00, 0x01, 'k', 0x00, 0x01, 'a', 0x00, 0x02,
                                  0x00, 0x06, 's', 't', 'r', 'e', 'e', 't', 0x00, 0x0D,
                                  0x00, 0x03, 'z', 'i', 'p', 0x00, 0x09};
    t = type_of(udt, sizeof(udt));
    assert_string_equal(json(t, S("\x00\x00\x00\x07Main St" "\xff\xff\xff\xff")), "{\"street\":\"Main St\",\"zip\":null}");
    cql_iter_t it;
    const cql_type_t *et;
    sb_slice_t e;
    assert_int_equal(cql_iter_init(&it, t, S("\x00\x00\x00\x01Z"), &err), 0);
    assert_int_equal(cql_iter_next(&it, &et, &e, &err), 1);
    assert_int_equal(e.len, 1);
    assert_int_equal(cql_iter_next(&it, &et, &e, &err), 1);
    assert_int_equal(et->id, CQL_TYPE_INT);
    assert_int_equal(e.len, -1);
    assert_int_equal(cql_iter_next(&it, &et, &e, &err), 0);
    cql_type_free(t);

    /* frozen<list<frozen<map<int, text>>>>: nesting goes through the same code. */
    static const uint8_t nested[] = {0x00, 0x20, 0x00, 0x21, 0x00, 0x09, 0x00, 0x0D};
    t = type_of(nested, sizeof(nested));
    assert_string_equal(json(t, S("\x00\x00\x00\x01" "\x00\x00\x00\x13" "\x00\x00\x00\x01"
                                  "\x00\x00\x00\x04\x00\x00\x00\x01" "\x00\x00\x00\x03one")),
                        "[{\"1\":\"one\"}]");
    cql_type_free(t);
}

static void test_strings_and_blobs_json(void **state)
{
    (void)state;
    cql_type_t *text = native(CQL_TYPE_VARCHAR), *blob = native(CQL_TYPE_BLOB), *i32 = native(CQL_TYPE_INT);
    assert_string_equal(json(text, S("na\xc3\xafve \xe2\x98\x83")), "\"na\xc3\xafve \xe2\x98\x83\"");
    assert_string_equal(json(text, S("a\"b\\c\x01\n")), "\"a\\\"b\\\\c\\u0001\\u000a\"");
    /* Invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate) becomes U+FFFD. */
    assert_string_equal(json(text, S("x\x80y")), "\"x\xef\xbf\xbdy\"");
    assert_string_equal(json(text, S("\xc0\xaf")), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(json(text, S("\xed\xa0\x80")), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(json(text, S("")), "\"\"");
    assert_string_equal(json(blob, S("\x00\x01\xfe\xff")), "\"AAH+/w==\"");
    assert_string_equal(json(blob, S("abc")), "\"YWJj\"");
    assert_string_equal(json(blob, S("ab")), "\"YWI=\"");
    assert_string_equal(json(blob, S("")), "\"\"");
    assert_string_equal(json(i32, NUL), "null");
    assert_string_equal(json(i32, S("")), "null");
    cql_type_free(text);
    cql_type_free(blob);
    cql_type_free(i32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_trees),
        cmocka_unit_test(test_bad_type_trees_are_refused),
        cmocka_unit_test(test_integers_and_floats),
        cmocka_unit_test(test_varint_table_from_the_spec),
        cmocka_unit_test(test_decimal_text),
        cmocka_unit_test(test_dates_times_uuids_inets),
        cmocka_unit_test(test_duration_vints),
        cmocka_unit_test(test_collections_json),
        cmocka_unit_test(test_strings_and_blobs_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
