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

#include <openssl/evp.h>

#include "common/clock.h"

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


/* ---------------------------------------------------------------------------------------
 * The jansson implementation the byte-level one replaced, kept here as the oracle: it reads
 * the same transform configs (mask, hash, rename, insert, filter) and produces the JSON the
 * old code produced. The new output must be the same JSON (json_equal) for every corpus
 * event and chain. */

static int oracle_split(const char *s, char out[][64], int cap)
{
    int n = 0;
    while (s && *s && n < cap) {
        while (*s == ' ') s++;
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        while (len > 0 && s[len - 1] == ' ') len--;
        if (len) snprintf(out[n++], 64, "%.*s", (int)len, s);
        s = e ? e + 1 : NULL;
    }
    return n;
}

static const char *oracle_param(json_t *cfg, const char *alias, const char *p)
{
    char key[1200]; /* aliases are at most 1023 bytes (the caller's buffer) */
    snprintf(key, sizeof(key), "transforms.%s.%s", alias, p);
    return json_string_value(json_object_get(cfg, key));
}

static void oracle_sha256_hex(const char *salt, const char *text, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, salt, strlen(salt));
    EVP_DigestUpdate(ctx, text, len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void oracle_row(const char *type, json_t *cfg, const char *alias, json_t *row)
{
    if (!json_is_object(row)) return;
    char fields[64][64];
    if (strcmp(type, "rename") == 0) {
        int n = oracle_split(oracle_param(cfg, alias, "renames"), fields, 64);
        for (int i = 0; i < n; i++) {
            char *colon = strchr(fields[i], ':');
            *colon = '\0';
            json_t *v = json_object_get(row, fields[i]);
            if (!v) continue;
            json_incref(v);
            json_object_del(row, fields[i]);
            json_object_set_new(row, colon + 1, v);
        }
        return;
    }
    int n = oracle_split(oracle_param(cfg, alias, "fields"), fields, 64);
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(row, fields[i]);
        if (!v || json_is_null(v)) continue;
        if (strcmp(type, "mask") == 0) {
            const char *r = oracle_param(cfg, alias, "replacement");
            json_object_set_new(row, fields[i], json_string(r ? r : "****"));
            continue;
        }
        const char *salt = oracle_param(cfg, alias, "salt");
        char hex[65];
        if (json_is_string(v)) {
            oracle_sha256_hex(salt ? salt : "", json_string_value(v), json_string_length(v), hex);
        } else {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            oracle_sha256_hex(salt ? salt : "", text, strlen(text), hex);
            free(text);
        }
        json_object_set_new(row, fields[i], json_string(hex));
    }
}

static json_t *oracle_insert_value(const char *what, json_t *value, const char *topic)
{
    json_t *source = json_object_get(value, "source");
    if (strcmp(what, "capture_time") == 0) {
        json_t *ts = json_object_get(value, "ts_ms");
        return json_is_integer(ts) ? json_incref(ts) : NULL;
    }
    if (strcmp(what, "commit_time") == 0 || strcmp(what, "source_name") == 0) {
        json_t *v = json_object_get(source, what[0] == 'c' ? "ts_ms" : "name");
        return v ? json_incref(v) : json_null();
    }
    if (strcmp(what, "topic") == 0) return json_string(topic);
    return json_string(what + 8);
}

/* Returns 1 kept, 0 dropped, SB_EINVAL when a filter met a value that is not an object, -1
 * when jansson could not read the record. */
static int oracle_apply(json_t *cfg, const connect_record_t *in, json_t **key, json_t **value)
{
    *key = in->key.len >= 0 ? json_loadb((const char *)in->key.p, (size_t)in->key.len, JSON_DECODE_ANY, NULL) : NULL;
    *value = in->value.len >= 0 ? json_loadb((const char *)in->value.p, (size_t)in->value.len, JSON_DECODE_ANY, NULL)
                                : NULL;
    if ((in->key.len >= 0 && !*key) || (in->value.len >= 0 && !*value)) return -1;
    char aliases[16][64];
    int n = oracle_split(json_string_value(json_object_get(cfg, "transforms")), aliases, 16);
    bool parsed = false; /* the old code parsed on the first column transform */
    for (int i = 0; i < n; i++) {
        const char *type = oracle_param(cfg, aliases[i], "type");
        if (strcmp(type, "filter") == 0) {
            const char *inc = oracle_param(cfg, aliases[i], "ops.include");
            const char *opstr = json_string_value(json_object_get(*value, "op"));
            char op = in->value.len < 0 ? 'd' : opstr && strlen(opstr) == 1 ? opstr[0] : 0;
            connect_event_summary_t env;
            if (!parsed && in->value.len >= 0 && connect_event_scan(in->value.p, (size_t)in->value.len, &env) < 0)
                return SB_EINVAL;
            bool listed = op && strchr(inc ? inc : oracle_param(cfg, aliases[i], "ops.exclude"), op);
            if ((inc != NULL) != listed) return 0;
        } else if (strcmp(type, "insert") == 0) {
            parsed = true;
            if (!json_is_object(*value)) continue;
            json_t *v = oracle_insert_value(oracle_param(cfg, aliases[i], "value"), *value, in->topic);
            assert_non_null(v); /* the corpus has no capture_time without an integer ts_ms */
            for (int r = 0; r < 2; r++) {
                json_t *row = json_object_get(*value, r ? "before" : "after");
                if (json_is_object(row)) json_object_set(row, oracle_param(cfg, aliases[i], "field"), v);
            }
            json_decref(v);
        } else {
            parsed = true;
            if (strcmp(type, "mask") != 0) oracle_row(type, cfg, aliases[i], *key);
            if (json_is_object(*value)) {
                oracle_row(type, cfg, aliases[i], json_object_get(*value, "before"));
                oracle_row(type, cfg, aliases[i], json_object_get(*value, "after"));
            }
        }
    }
    return 1;
}

typedef struct corpus_record {
    const char *key;   /* NULL: null key */
    const char *value; /* NULL: tombstone */
} corpus_record_t;

static const corpus_record_t CORPUS[] = {
    /* datagen-like create, update with both rows, delete + tombstone, truncate */
    {"{\"id\":7}", "{\"before\":null,\"after\":{\"id\":7,\"email\":\"ann@example.com\",\"phone\":null,\"n\":12},"
                   "\"source\":{\"version\":\"0.1.0\",\"connector\":\"postgresql\",\"name\":\"app\",\"ts_ms\":1700000000123,"
                   "\"db\":\"shop\",\"schema\":\"demo\",\"table\":\"orders\",\"lsn\":42,\"txId\":9,\"snapshot\":\"false\","
                   "\"column_types\":{\"id\":\"bigint\",\"email\":\"text\",\"phone\":\"text\",\"n\":\"integer\"}},"
                   "\"op\":\"c\",\"ts_ms\":1700000000456}"},
    {"{\"id\":8}", "{\"before\":{\"id\":8,\"email\":\"old@x\",\"n\":1},\"after\":{\"id\":8,\"email\":\"new@x\",\"n\":2},"
                   "\"source\":{\"name\":\"app\",\"ts_ms\":5},\"op\":\"u\",\"ts_ms\":6}"},
    {"{\"id\":9}", "{\"before\":{\"id\":9,\"email\":null},\"after\":null,\"source\":{\"name\":\"app\",\"ts_ms\":5},"
                   "\"op\":\"d\",\"ts_ms\":7}"},
    {"{\"id\":9}", NULL},
    {NULL, "{\"before\":null,\"after\":null,\"source\":{\"name\":\"app\",\"ts_ms\":5},\"op\":\"t\",\"ts_ms\":8}"},
    /* escaped strings, unicode escapes in names and values, nested objects inside values */
    {"{\"i\\u0064\":1}",
     "{\"after\":{\"id\":1,\"e\\u006dail\":\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00/\\/\",\"doc\":{\"email\":\"in@doc\","
     "\"a\":[1,{\"b\":\"}\"}]},\"tags\":[\"x\",\"y\"],\"flag\":true,\"off\":false},\"op\":\"r\",\"ts_ms\":9,"
     "\"source\":{\"name\":\"sn\\u00e9\",\"ts_ms\":10}}"},
    /* numbers that jansson spells differently, and UTF-8 in values */
    {"{\"id\":-0}", "{\"after\":{\"id\":-0,\"price\":1.10,\"big\":1e3,\"neg\":-2.5E-3,\"n\":123456789012345678,"
                    "\"email\":\"z\xc3\xa9\xe2\x82\xac\"},\"op\":\"c\",\"ts_ms\":11,\"source\":null}"},
    /* pretty-printed, a column that is missing, members in another order */
    {" { \"id\" : 3 } ", "\n{ \"op\" : \"u\",\n  \"after\" : { \"id\" : 3 , \"phone\" : \"555\" } ,\n"
                         "  \"before\" : { \"id\" : 3 } , \"ts_ms\" : 12 }\n"},
    /* rename collisions: the target already exists */
    {"{\"id\":4,\"pk\":\"x\"}", "{\"after\":{\"id\":4,\"a\":1,\"b\":2,\"contact\":\"old\",\"email\":\"e@x\",\"_src\":0},"
                                "\"op\":\"c\",\"ts_ms\":13,\"source\":{\"name\":\"app\"}}"},
    /* values and keys that are not objects: left as they are */
    {"42", "[1,2,3]"},
    {"\"k\"", "null"},
    {"{}", "{\"op\":\"c\",\"after\":{},\"ts_ms\":14}"},
};

static const char *const CHAINS[] = {
    "{\"transforms\":\"m\",\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"email,phone,doc,n,id\"}",
    "{\"transforms\":\"m\",\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"email\","
    "\"transforms.m.replacement\":\"<\\\"x\\u00e9\\n>\"}",
    "{\"transforms\":\"h\",\"transforms.h.type\":\"hash\",\"transforms.h.fields\":"
    "\"email,phone,id,price,big,neg,n,flag,off,doc,tags\",\"transforms.h.salt\":\"pepper\"}",
    "{\"transforms\":\"r\",\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"email:contact,a:b,n:qty,id:pk\"}",
    "{\"transforms\":\"r\",\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"a:b,b:c,email:e\\u00e9\"}",
    "{\"transforms\":\"i\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_src\",\"transforms.i.value\":\"source_name\"}",
    "{\"transforms\":\"i\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_at\",\"transforms.i.value\":\"commit_time\"}",
    "{\"transforms\":\"i\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_t\",\"transforms.i.value\":\"topic\"}",
    "{\"transforms\":\"i\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"email\","
    "\"transforms.i.value\":\"literal:q\\\"\\u00e9\"}",
    "{\"transforms\":\"f,m,h,r,i,j\",\"transforms.f.type\":\"filter\",\"transforms.f.ops.exclude\":\"t\","
    "\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"phone\",\"transforms.h.type\":\"hash\","
    "\"transforms.h.fields\":\"phone,email,id\",\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"phone:tel,id:pk\","
    "\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"pk\",\"transforms.i.value\":\"literal:1\","
    "\"transforms.j.type\":\"insert\",\"transforms.j.field\":\"tel\",\"transforms.j.value\":\"source_name\"}",
    "{\"transforms\":\"i,f\",\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_src\","
    "\"transforms.i.value\":\"topic\",\"transforms.f.type\":\"filter\",\"transforms.f.ops.include\":\"c,d\"}",
};

static bool same_json(sb_slice_t got, json_t *want)
{
    if (got.len < 0 || !want) return got.len < 0 && !want;
    json_t *g = json_loadb((const char *)got.p, (size_t)got.len, JSON_DECODE_ANY, NULL);
    bool eq = g && json_equal(g, want);
    if (!eq) {
        char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
        fprintf(stderr, "got  %.*s\nwant %s\n", (int)got.len, (const char *)got.p, w);
        free(w);
    }
    json_decref(g);
    return eq;
}

static void test_byte_level_output_equals_the_jansson_implementation(void **state)
{
    (void)state;
    connect_transformed_t out = {0}; /* reused across records, as the source task does */
    int compared = 0;
    for (size_t c = 0; c < sizeof(CHAINS) / sizeof(CHAINS[0]); c++) {
        json_t *cfg = json_loads(CHAINS[c], 0, NULL);
        assert_non_null(cfg);
        connect_transforms_t *t = chain(json_incref(cfg));
        for (size_t i = 0; i < sizeof(CORPUS) / sizeof(CORPUS[0]); i++) {
            connect_record_t in = record("app.demo.orders", CORPUS[i].key, CORPUS[i].value);
            json_t *okey, *ovalue;
            int orc = oracle_apply(cfg, &in, &okey, &ovalue);
            sb_err_t err = {0};
            int rc = connect_transforms_apply(t, &in, &out, &err);
            if (rc != orc) fprintf(stderr, "chain %zu record %zu: rc %d, oracle %d (%s)\n", c, i, rc, orc, err.msg);
            assert_int_equal(rc, orc);
            if (rc == 1) {
                if (!same_json(out.rec.key, okey) || !same_json(out.rec.value, ovalue))
                    fail_msg("chain %zu record %zu differs from the jansson implementation", c, i);
                compared++;
            }
            json_decref(okey);
            json_decref(ovalue);
        }
        connect_transforms_free(t);
        json_decref(cfg);
    }
    assert_true(compared > 100);
    connect_transformed_deinit(&out);
}

static void test_malformed_json_is_refused_with_a_reason(void **state)
{
    (void)state;
    const char *types[] = {"mask", "hash", "rename", "insert"};
    const char *bad_values[] = {
        "{\"after\":{\"email\":\"x\",}}",       /* trailing comma */
        "{\"after\":{\"email\":\"x\"}",         /* truncated */
        "{\"after\":{\"email\":\"x\xff\"}}",    /* not UTF-8 */
        "{\"after\":{\"email\":\"\\u0000\"}}",  /* NUL */
        "{\"after\":{\"email\":\"\\udc00\"}}",  /* lone surrogate */
        "{\"after\":{\"email\":01}}",           /* leading zero */
        "{\"op\":\"c\"} trailing",
        "",
    };
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        char cfg[256];
        snprintf(cfg, sizeof(cfg),
                 "{\"transforms\":\"x\",\"transforms.x.type\":\"%s\",\"transforms.x.fields\":\"email\","
                 "\"transforms.x.renames\":\"email:e\",\"transforms.x.field\":\"f\",\"transforms.x.value\":\"topic\"}",
                 types[k]);
        json_t *j = json_loads(cfg, 0, NULL);
        /* parameters another type does not use are not errors for this test's purpose */
        const char *unused[][2] = {{"mask", "renames"}, {"mask", "field"}, {"mask", "value"}, {"hash", "renames"},
                                   {"hash", "field"},   {"hash", "value"}, {"rename", "fields"}, {"rename", "field"},
                                   {"rename", "value"}, {"insert", "fields"}, {"insert", "renames"}};
        for (size_t u = 0; u < sizeof(unused) / sizeof(unused[0]); u++) {
            char key[64];
            snprintf(key, sizeof(key), "transforms.x.%s", unused[u][1]);
            if (strcmp(unused[u][0], types[k]) == 0) json_object_del(j, key);
        }
        connect_transforms_t *t = chain(j);
        connect_transformed_t out = {0};
        for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
            connect_record_t in = record("t", "{\"id\":1}", bad_values[i]);
            sb_err_t err = {0};
            assert_int_equal(connect_transforms_apply(t, &in, &out, &err), SB_EINVAL);
            assert_non_null(strstr(err.msg, "transform x: malformed value JSON: "));
        }
        /* a malformed key is refused too, even by mask, which never changes keys */
        connect_record_t in = record("t", "{\"id\":", "{\"op\":\"c\",\"after\":{}}");
        sb_err_t err = {0};
        assert_int_equal(connect_transforms_apply(t, &in, &out, &err), SB_EINVAL);
        assert_non_null(strstr(err.msg, "malformed key JSON"));
        connect_transformed_deinit(&out);
        connect_transforms_free(t);
    }
}

static void test_untouched_parts_are_copied_byte_for_byte(void **state)
{
    (void)state;
    connect_transforms_t *t = chain(json_pack("{s:s,s:s,s:s}", "transforms", "m", "transforms.m.type", "mask",
                                              "transforms.m.fields", "email"));
    const char *value = "{\"before\" : null, \"after\":{\"id\":1, \"email\":\"a@b\"},\n"
                        "\"source\":{\"name\":\"caf\\u00e9\", \"column_types\":{\"email\":\"text\"}}, \"op\":\"c\"}";
    connect_record_t in = record("t", "{\"id\" : 1}", value);
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    const char *want = "{\"before\" : null, \"after\":{\"id\":1,\"email\":\"****\"},\n"
                       "\"source\":{\"name\":\"caf\\u00e9\", \"column_types\":{\"email\":\"text\"}}, \"op\":\"c\"}";
    assert_int_equal(out.rec.value.len, (int32_t)strlen(want));
    assert_memory_equal(out.rec.value.p, want, strlen(want));
    assert_ptr_equal(out.rec.key.p, in.key.p); /* mask never touches the key */
    /* nothing to mask: the value is not rewritten at all */
    connect_record_t none = record("t", NULL, "{\"after\":{\"id\":2},\"op\":\"c\"}");
    assert_int_equal(connect_transforms_apply(t, &none, &out, &err), 1);
    assert_ptr_equal(out.rec.value.p, none.value.p);
    connect_transformed_deinit(&out);
    connect_transforms_free(t);

    /* filter reads only the op: kept values are the input bytes */
    t = chain(json_pack("{s:s,s:s,s:s}", "transforms", "f", "transforms.f.type", "filter", "transforms.f.ops.exclude", "d"));
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    assert_ptr_equal(out.rec.value.p, in.value.p);
    assert_ptr_equal(out.rec.key.p, in.key.p);
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
}

static void test_hash_and_capture_time_beyond_what_jansson_read(void **state)
{
    (void)state;
    /* jansson refused integers past 2^63; the byte-level hash hashes their text as written */
    connect_transforms_t *t = chain(json_pack("{s:s,s:s,s:s}", "transforms", "h", "transforms.h.type", "hash",
                                              "transforms.h.fields", "n"));
    connect_record_t in = record("t", NULL, "{\"after\":{\"n\":12345678901234567890},\"op\":\"c\"}");
    connect_transformed_t out = {0};
    sb_err_t err = {0};
    assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
    json_t *v = slice_json(out.rec.value);
    char want[65];
    oracle_sha256_hex("", "12345678901234567890", 20, want);
    want[64] = 0;
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "n")), want);
    json_decref(v);
    connect_transforms_free(t);
    /* capture_time without an integer ts_ms is the time of the transform */
    t = chain(json_pack("{s:s,s:s,s:s,s:s}", "transforms", "i", "transforms.i.type", "insert", "transforms.i.field", "at",
                        "transforms.i.value", "capture_time"));
    connect_record_t no_ts = record("t", NULL, "{\"after\":{\"id\":1},\"before\":{\"id\":1},\"op\":\"u\",\"ts_ms\":\"x\"}");
    int64_t t0 = sb_now_ms();
    assert_int_equal(connect_transforms_apply(t, &no_ts, &out, &err), 1);
    v = slice_json(out.rec.value);
    json_int_t at = json_integer_value(json_object_get(json_object_get(v, "after"), "at"));
    assert_true(at >= t0 && at <= sb_now_ms());
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "before"), "at")), at);
    json_decref(v);
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

/* Returns the message of the error on `field`, or NULL. */
static const char *error_on(const connect_config_errors_t *errs, const char *field)
{
    for (int k = 0; k < errs->count; k++)
        if (strcmp(errs->items[k].field, field) == 0) return errs->items[k].msg;
    return NULL;
}

static void test_config_typos_and_repeats_are_field_errors(void **state)
{
    (void)state;
    /* A misspelt salt, an unknown parameter, a parameter of another type, a repeated alias
     * and a parameter of an alias that is not listed: one error each, named by its key. */
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "transforms", "pii,a,a,m",
                            "transforms.pii.type", "hash", "transforms.pii.fields", "email", "transforms.pii.slat",
                            "s", "transforms.a.type", "filter", "transforms.a.ops.exclude", "r", "transforms.a.bogus",
                            "1", "transforms.m.type", "mask", "transforms.m.fields", "email", "transforms.m.salt", "x");
    json_object_set_new(cfg, "transforms.gone.type", json_string("mask"));
    connect_config_errors_t errs = {0};
    connect_transforms_t *t = NULL;
    assert_int_equal(connect_transforms_new(cfg, &t, &errs), SB_EINVAL);
    assert_null(t);
    const char *msg = error_on(&errs, "transforms.pii.slat");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "salt")); /* says what the right spelling would be */
    assert_non_null(error_on(&errs, "transforms.a.bogus"));
    assert_non_null(error_on(&errs, "transforms.m.salt"));
    msg = error_on(&errs, "transforms");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "\"a\""));
    assert_non_null(error_on(&errs, "transforms.gone.type"));
    assert_int_equal(errs.count, 5);
    json_decref(cfg);

    /* Every documented parameter of every type is accepted. */
    connect_transforms_free(chain(json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "transforms", "m,h,r,f,g,i",
        "transforms.m.type", "mask", "transforms.m.fields", "a", "transforms.m.replacement", "x", "transforms.h.type",
        "hash", "transforms.h.fields", "a", "transforms.h.salt", "s", "transforms.r.type", "rename",
        "transforms.r.renames", "a:b", "transforms.f.type", "filter", "transforms.f.ops.include", "c",
        "transforms.g.type", "route", "transforms.g.regex", "x", "transforms.g.replacement", "y", "transforms.i.type",
        "insert", "transforms.i.field", "at", "transforms.i.value", "topic")));
}

/* Numbers the transforms do not edit keep their text: no trip through a double. */
static void test_untouched_numbers_keep_their_text(void **state)
{
    (void)state;
    const char *value = "{\"before\":{\"id\":1,\"amt\":0.07,\"p\":4.00,\"big\":12345678901234567890,\"e\":1E+2,"
                        "\"s\":\"x\"},\"after\":{\"id\":1,\"amt\":0.07,\"p\":4.00,\"big\":12345678901234567890,"
                        "\"e\":1E+2,\"s\":\"x\"},\"source\":{\"ts_ms\":1700000000123,\"lsn\":-0.0},\"op\":\"u\","
                        "\"ts_ms\":1700000000456}";
    const char *key = "{\"id\":1,\"amt\":0.07,\"p\":4.00,\"s\":\"x\"}";
    json_t *configs[] = {
        json_pack("{s:s,s:s,s:s}", "transforms", "t", "transforms.t.type", "mask", "transforms.t.fields", "s"),
        json_pack("{s:s,s:s,s:s}", "transforms", "t", "transforms.t.type", "hash", "transforms.t.fields", "s"),
        json_pack("{s:s,s:s,s:s}", "transforms", "t", "transforms.t.type", "rename", "transforms.t.renames", "s:z"),
        json_pack("{s:s,s:s,s:s,s:s}", "transforms", "t", "transforms.t.type", "insert", "transforms.t.field", "at",
                  "transforms.t.value", "commit_time"),
    };
    const char *numbers[] = {"\"amt\":0.07", "\"p\":4.00", "\"big\":12345678901234567890", "\"e\":1E+2",
                             "\"ts_ms\":1700000000123", "\"lsn\":-0.0", "\"ts_ms\":1700000000456"};
    for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
        connect_transforms_t *t = chain(configs[c]);
        connect_record_t in = record("t", key, value);
        connect_transformed_t out = {0};
        sb_err_t err = {0};
        assert_int_equal(connect_transforms_apply(t, &in, &out, &err), 1);
        char *v = strndup((const char *)out.rec.value.p, (size_t)out.rec.value.len);
        char *k = strndup((const char *)out.rec.key.p, (size_t)out.rec.key.len);
        /* The value was edited (every type here changes it), numbers included in before and after. */
        assert_true(strcmp(v, value) != 0);
        for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
            const char *at = strstr(v, numbers[i]);
            if (!at) fprintf(stderr, "transform %zu lost %s in %s\n", c, numbers[i], v);
            assert_non_null(at);
            if (i < 4) assert_non_null(strstr(strstr(v, "\"after\""), numbers[i])); /* and in after */
        }
        assert_non_null(strstr(k, "\"amt\":0.07"));
        assert_non_null(strstr(k, "\"p\":4.00"));
        free(v);
        free(k);
        connect_transformed_deinit(&out);
        connect_transforms_free(t);
    }
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
        cmocka_unit_test(test_byte_level_output_equals_the_jansson_implementation),
        cmocka_unit_test(test_malformed_json_is_refused_with_a_reason),
        cmocka_unit_test(test_untouched_parts_are_copied_byte_for_byte),
        cmocka_unit_test(test_hash_and_capture_time_beyond_what_jansson_read),
        cmocka_unit_test(test_bad_transform_configs_name_each_field),
        cmocka_unit_test(test_config_typos_and_repeats_are_field_errors),
        cmocka_unit_test(test_untouched_numbers_keep_their_text),
        cmocka_unit_test(test_runtime_validation_names_wrong_fields),
        cmocka_unit_test(test_connect_yaml_refuses_unknown_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
