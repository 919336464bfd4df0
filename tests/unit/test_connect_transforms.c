/* Tests for the connect runtime's pure pieces: the change-event envelope scanner, the
 * single-record transforms, runtime-level config validation and the connect YAML config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connect/connect_config.h"
#include "connect/event_scan.h"
#include "connect/transforms/transforms.h"
#include "connect/worker.h"

static const char *EVENT =
    "{\"before\":null,\"after\":{\"id\":7,\"email\":\"ann@example.com\",\"phone\":null,\"n\":12},"
    "\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"app\",\"ts_ms\":1700000000123,"
    "\"db\":\"shop\",\"schema\":\"demo\",\"table\":\"orders\",\"lsn\":42,\"txId\":9,\"snapshot\":\"false\"},"
    "\"op\":\"u\",\"ts_ms\":1700000000456}";

static connect_record_t record(const char *topic, const char *key, const char *value)
{
    connect_record_t r = {.topic = topic, .partition = 0, .offset = 5};
    r.key = key ? (sb_slice_t){(const uint8_t *)key, (int32_t)strlen(key)} : (sb_slice_t){NULL, -1};
    r.value = value ? (sb_slice_t){(const uint8_t *)value, (int32_t)strlen(value)} : (sb_slice_t){NULL, -1};
    return r;
}

static connect_transforms_t *chain(json_t *config)
{
    connect_config_errors_t errs = {0};
    connect_transforms_t *t = NULL;
    int rc = connect_transforms_new(config, &t, &errs);
    if (rc != 0) fprintf(stderr, "unexpected error: %s: %s\n", errs.items[0].field, errs.items[0].msg);
    assert_int_equal(rc, 0);
    json_decref(config);
    return t;
}

static json_t *slice_json(sb_slice_t s)
{
    json_t *j = json_loadb((const char *)s.p, (size_t)s.len, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    return j;
}

static void test_envelope_reads_op_times_and_table(void **state)
{
    (void)state;
    connect_event_summary_t env;
    assert_int_equal(connect_event_scan(EVENT, strlen(EVENT), &env), 0);
    assert_int_equal(env.op, 'u');
    assert_int_equal(env.ts_ms, 1700000000456LL);
    assert_int_equal(env.source_ts_ms, 1700000000123LL);
    assert_int_equal(env.table.len, 6);
    assert_memory_equal(env.table.p, "orders", 6);
    assert_memory_equal(env.schema.p, "demo", 4);
    assert_memory_equal(env.source_name.p, "app", 3);
}

static void test_envelope_rejects_malformed_and_survives_nesting(void **state)
{
    (void)state;
    connect_event_summary_t env;
    const char *bad[] = {"", "[]", "{\"op\":", "{\"op\":\"c\"", "{\"a\":[1,2}", "{\"op\":\"c\"} x", "nul"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(connect_event_scan(bad[i], strlen(bad[i]), &env), SB_EINVAL);
    /* nested containers and escaped quotes inside values are skipped correctly */
    const char *ok = "{\"after\":{\"s\":\"a\\\"}{\",\"l\":[[1],{\"x\":[]}]},\"op\":\"d\",\"source\":{\"ts_ms\":-5}}";
    assert_int_equal(connect_event_scan(ok, strlen(ok), &env), 0);
    assert_int_equal(env.op, 'd');
    assert_int_equal(env.source_ts_ms, -5);
    /* hostile depth is refused, not recursed into */
    char deep[300];
    memset(deep, '[', sizeof(deep));
    memcpy(deep, "{\"a\":", 5);
    assert_int_equal(connect_event_scan(deep, sizeof(deep), &env), SB_EINVAL);
}

static void test_hash_is_salted_sha256_of_text_in_key_and_rows(void **state)
{
    (void)state;
    connect_transforms_t *t = chain(json_pack("{s:s,s:s,s:s,s:s}", "transforms", "pii", "transforms.pii.type", "hash",
                                              "transforms.pii.fields", "email, phone,id", "transforms.pii.salt", "s1"));
    connect_record_t in = record("app.demo.orders", "{\"id\":7}", EVENT);
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    json_t *v = slice_json(out.rec.value);
    json_t *after = json_object_get(v, "after");
    /* sha256("s1ann@example.com") */
    assert_string_equal(json_string_value(json_object_get(after, "email")),
                        "265c8a70e452e22bae8c73c46b2744a4df9ad748ff85a1d6641bcd98a410da09");
    assert_true(json_is_null(json_object_get(after, "phone"))); /* NULL stays NULL */
    assert_int_equal(json_integer_value(json_object_get(after, "n")), 12);
    /* the key's id and the row's id hash to the same text, so the sink's key still matches */
    json_t *k = slice_json(out.rec.key);
    assert_string_equal(json_string_value(json_object_get(k, "id")), json_string_value(json_object_get(after, "id")));
    json_decref(k);
    json_decref(v);
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
}

static void test_hash_matches_known_digest(void **state)
{
    (void)state;
    connect_transforms_t *t = chain(json_pack("{s:s,s:s,s:s}", "transforms", "h", "transforms.h.type", "hash",
                                              "transforms.h.fields", "email"));
    const char *value = "{\"after\":{\"email\":\"abc\"},\"op\":\"c\"}";
    connect_record_t in = record("t", NULL, value);
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    json_t *v = slice_json(out.rec.value);
    /* SHA-256("abc") from FIPS 180-2 */
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "email")),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    json_decref(v);
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
}

static void test_mask_rename_insert_chain(void **state)
{
    (void)state;
    connect_transforms_t *t = chain(json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "transforms", "m,r,i", "transforms.m.type", "mask",
        "transforms.m.fields", "email", "transforms.r.type", "rename", "transforms.r.renames", "email:contact,n:qty",
        "transforms.i.type", "insert", "transforms.i.field", "_src", "transforms.i.value", "source_name"));
    connect_record_t in = record("app.demo.orders", "{\"id\":7}", EVENT);
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    json_t *v = slice_json(out.rec.value);
    json_t *after = json_object_get(v, "after");
    assert_string_equal(json_string_value(json_object_get(after, "contact")), "****");
    assert_null(json_object_get(after, "email"));
    assert_int_equal(json_integer_value(json_object_get(after, "qty")), 12);
    assert_string_equal(json_string_value(json_object_get(after, "_src")), "app");
    assert_true(json_is_null(json_object_get(v, "before")));
    json_decref(v);
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
}

static void test_filter_by_op_and_tombstones(void **state)
{
    (void)state;
    connect_transforms_t *keep_cu = chain(json_pack("{s:s,s:s,s:s}", "transforms", "f", "transforms.f.type", "filter",
                                                    "transforms.f.ops.include", "c,u"));
    connect_transforms_t *drop_r = chain(json_pack("{s:s,s:s,s:s}", "transforms", "f", "transforms.f.type", "filter",
                                                   "transforms.f.ops.exclude", "r"));
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    connect_record_t upd = record("t", "{\"id\":1}", EVENT);
    connect_record_t snap = record("t", "{\"id\":1}", "{\"op\":\"r\",\"after\":{}}");
    connect_record_t tomb = record("t", "{\"id\":1}", NULL);
    assert_int_equal(connect_transforms_apply(keep_cu, &upd, &out, &err), 1);
    assert_int_equal(connect_transforms_apply(keep_cu, &snap, &out, &err), 0);
    assert_int_equal(connect_transforms_apply(keep_cu, &tomb, &out, &err), 0); /* a tombstone counts as d */
    assert_int_equal(connect_transforms_apply(drop_r, &snap, &out, &err), 0);
    assert_int_equal(connect_transforms_apply(drop_r, &upd, &out, &err), 1);
    assert_int_equal(connect_transforms_apply(drop_r, &tomb, &out, &err), 1);
    connect_record_t junk = record("t", NULL, "not json");
    assert_int_equal(connect_transforms_apply(drop_r, &junk, &out, &err), SB_EINVAL);
    connect_transformed_deinit(&out);
    connect_transforms_free(keep_cu);
    connect_transforms_free(drop_r);
}

static void test_route_rewrites_topic_with_groups(void **state)
{
    (void)state;
    connect_transforms_t *t = chain(json_pack("{s:s,s:s,s:s,s:s}", "transforms", "r", "transforms.r.type", "route",
                                              "transforms.r.regex", "^app\\.([a-z]+)\\.(.*)$",
                                              "transforms.r.replacement", "mirror_$1_$2"));
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    connect_record_t in = record("app.demo.orders", NULL, EVENT);
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    assert_string_equal(out.rec.topic, "mirror_demo_orders");
    /* the value is untouched: same bytes, not re-serialised */
    assert_ptr_equal(out.rec.value.p, in.value.p);
    connect_record_t other = record("other.topic", NULL, EVENT);
    assert_int_equal(connect_transforms_apply(t, &other, &out, &err), 1);
    assert_string_equal(out.rec.topic, "other.topic");
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
}

static void test_bad_transform_configs_name_each_field(void **state)
{
    (void)state;
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "transforms", "a,b,c,d", "transforms.a.type", "frobnicate",
                            "transforms.b.type", "route", "transforms.b.regex", "([", "transforms.c.type", "filter",
                            "transforms.c.ops.include", "c,x", "transforms.zz.type", "mask");
    connect_config_errors_t errs = {0};
    connect_transforms_t *t = NULL;
    assert_int_equal(connect_transforms_new(cfg, &t, &errs), SB_EINVAL);
    assert_null(t);
    const char *expect[] = {"transforms.a.type", "transforms.b.regex", "transforms.b.replacement",
                            "transforms.c.ops.include", "transforms.d.type", "transforms.zz.type"};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        bool found = false;
        for (int k = 0; k < errs.count; k++) found = found || strcmp(errs.items[k].field, expect[i]) == 0;
        if (!found) fprintf(stderr, "missing error for %s\n", expect[i]);
        assert_true(found);
    }
    json_decref(cfg);
}

static void test_runtime_validation_names_wrong_fields(void **state)
{
    (void)state;
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:o}", "connector.class", "file-sink", "tasks.max", "0",
                            "errors.tolerance", "some", "errors.retry.max", "-1", "nested", json_object());
    connect_config_errors_t errs = {0};
    json_t *norm = NULL;
    assert_int_equal(connect_worker_validate("bad name!", cfg, &norm, &errs), SB_EINVAL);
    const char *expect[] = {"name", "tasks.max", "topics", "errors.tolerance", "errors.retry.max", "nested", "file"};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        bool found = false;
        for (int k = 0; k < errs.count; k++) found = found || strcmp(errs.items[k].field, expect[i]) == 0;
        if (!found) fprintf(stderr, "missing error for %s\n", expect[i]);
        assert_true(found);
    }
    json_decref(cfg);

    /* a good config is normalised to strings */
    cfg = json_pack("{s:s,s:s,s:s,s:i,s:b}", "connector.class", "file-sink", "file", "/tmp/x", "topics", "a,b",
                    "batch.size", 100, "flag", 1);
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(connect_worker_validate("good", cfg, &norm, &errs), 0);
    assert_string_equal(json_string_value(json_object_get(norm, "batch.size")), "100");
    assert_string_equal(json_string_value(json_object_get(norm, "flag")), "true");
    assert_string_equal(json_string_value(json_object_get(norm, "name")), "good");
    json_decref(norm);
    json_decref(cfg);
}

static void test_connect_yaml_refuses_unknown_keys(void **state)
{
    (void)state;
    connect_config_t c;
    connect_config_defaults(&c);
    sb_err_t err = {0};
    const char *good = "connect:\n  bootstrap_servers: \"h:1\"\n  rest_listen: \"127.0.0.1:9\"\nlogging:\n  level: debug\n";
    assert_int_equal(connect_config_load_string(&c, "t.yaml", good, strlen(good), &err), 0);
    assert_string_equal(c.worker.bootstrap, "h:1");
    assert_string_equal(c.rest_listen, "127.0.0.1:9");
    assert_string_equal(c.worker.dlq_topic_prefix, "dlq.");
    const char *bad = "connect:\n  bootstrap_servers: a\n  rest_lisen: x\n";
    assert_int_equal(connect_config_load_string(&c, "t.yaml", bad, strlen(bad), &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:3"));
    assert_non_null(strstr(err.msg, "connect.rest_lisen"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_reads_op_times_and_table),
        cmocka_unit_test(test_envelope_rejects_malformed_and_survives_nesting),
        cmocka_unit_test(test_hash_is_salted_sha256_of_text_in_key_and_rows),
        cmocka_unit_test(test_hash_matches_known_digest),
        cmocka_unit_test(test_mask_rename_insert_chain),
        cmocka_unit_test(test_filter_by_op_and_tombstones),
        cmocka_unit_test(test_route_rewrites_topic_with_groups),
        cmocka_unit_test(test_bad_transform_configs_name_each_field),
        cmocka_unit_test(test_runtime_validation_names_wrong_fields),
        cmocka_unit_test(test_connect_yaml_refuses_unknown_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
