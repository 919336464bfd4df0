/* cassandra-source events for what the real segments in tests/data/cassandra-commitlog do not
 * contain: partition, row and range deletions, a static row, TTLs, element-level list and map
 * changes, and the de-duplication of a write seen twice. The mutation is hand-built following
 * our reading of the format (the same bytes as test_commitlog_mutation.c's rich mutation), and
 * fed to the source's entry callback directly (the .c is included to reach it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "connect/sources/cassandra.c"

typedef struct rec {
    char *key;
    char *value;
    char *topic;
} rec_t;

struct source_ctx {
    rec_t *recs;
    int n, cap;
};

static char *dup_slice(const void *p, int32_t len)
{
    if (len < 0) return NULL;
    char *s = malloc((size_t)len + 1);
    memcpy(s, p, (size_t)len);
    s[len] = 0;
    return s;
}

int source_emit(source_ctx_t *ctx, const connect_record_t *r, const char *position)
{
    (void)position;
    if (ctx->n == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 64;
        ctx->recs = realloc(ctx->recs, (size_t)ctx->cap * sizeof(rec_t));
    }
    ctx->recs[ctx->n].key = dup_slice(r->key.p, r->key.len);
    ctx->recs[ctx->n].value = dup_slice(r->value.p, r->value.len);
    ctx->recs[ctx->n].topic = strdup(r->topic);
    ctx->n++;
    return 0;
}

const char *source_committed_position(source_ctx_t *ctx)
{
    (void)ctx;
    return NULL;
}

const char *source_name(source_ctx_t *ctx)
{
    (void)ctx;
    return "cass-events";
}

static void ctx_clear(source_ctx_t *ctx)
{
    for (int i = 0; i < ctx->n; i++) {
        free(ctx->recs[i].key);
        free(ctx->recs[i].value);
        free(ctx->recs[i].topic);
    }
    free(ctx->recs);
    memset(ctx, 0, sizeof(*ctx));
}

/* ---- the mutation ---- */

#define TS_EPOCH 1442880000000000LL
#define LDT_EPOCH 1442880000LL
#define MIN_TS (TS_EPOCH + 1000000)
#define MIN_LDT (LDT_EPOCH + 100)

typedef struct wbuf {
    uint8_t b[4096];
    size_t n;
} wbuf_t;

static void w_byte(wbuf_t *w, uint8_t v)
{
    assert_true(w->n < sizeof(w->b));
    w->b[w->n++] = v;
}
static void w_raw(wbuf_t *w, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) w_byte(w, ((const uint8_t *)p)[i]);
}
static void w_be(wbuf_t *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) w_byte(w, (uint8_t)(v >> (8 * i)));
}
static void w_uvint(wbuf_t *w, uint64_t v)
{
    int n = 0;
    while (n < 8 && v >= (1ULL << (7 * (n + 1)))) n++;
    if (n == 8) {
        w_byte(w, 0xff);
        w_be(w, v, 8);
        return;
    }
    w_byte(w, (uint8_t)(~(0xffu >> n) & 0xff) | (uint8_t)(v >> (8 * n)));
    w_be(w, v, n);
}
static void w_vbytes(wbuf_t *w, const char *s)
{
    w_uvint(w, strlen(s));
    w_raw(w, s, strlen(s));
}

static const char *SCHEMA =
    "[{\"keyspace\":\"ks\",\"table\":\"t\",\"id\":\"01020304-0506-0708-090a-0b0c0d0e0f10\",\"columns\":["
    "{\"name\":\"id\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"text\"},"
    "{\"name\":\"c\",\"kind\":\"clustering\",\"position\":0,\"type\":\"int\",\"clustering_order\":\"desc\"},"
    "{\"name\":\"s\",\"kind\":\"static\",\"type\":\"text\"},"
    "{\"name\":\"a\",\"kind\":\"regular\",\"type\":\"int\"},"
    "{\"name\":\"b\",\"kind\":\"regular\",\"type\":\"text\"},"
    "{\"name\":\"l\",\"kind\":\"regular\",\"type\":\"list<int>\"},"
    "{\"name\":\"m\",\"kind\":\"regular\",\"type\":\"map<text, int>\"}]}]";

/* Partition deletion, a static row, row c=1 (INSERT with TTL 3600, l += [1, 2]), row c=2
 * (deleted, then a = null, b = 'hello', l = null, m['x'] = 7), and a range deletion
 * c in [3, 5) written as [3, 4) + [4, 5) around a boundary. */
static void build_mutation(wbuf_t *w)
{
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    w_uvint(w, 1);
    w_raw(w, id, 16);
    w_vbytes(w, "k1");
    w_byte(w, 0x04 | 0x08 | 0x10);
    w_uvint(w, MIN_TS - TS_EPOCH);
    w_uvint(w, MIN_LDT - LDT_EPOCH);
    w_uvint(w, 0);
    w_uvint(w, 1);
    w_vbytes(w, "s");
    w_uvint(w, 4);
    w_vbytes(w, "a");
    w_vbytes(w, "b");
    w_vbytes(w, "l");
    w_vbytes(w, "m");
    w_uvint(w, 5);
    w_uvint(w, 1);
    w_byte(w, 0x80 | 0x20);
    w_byte(w, 0x01);
    w_byte(w, 0x00);
    w_uvint(w, 7);
    w_vbytes(w, "static!");
    w_uvint(w, 3);

    w_byte(w, 0x04 | 0x08);
    w_uvint(w, 0);
    w_be(w, 1, 4);
    w_uvint(w, 10);
    w_uvint(w, 3600);
    w_uvint(w, 50);
    w_uvint(w, 0x0A);
    w_byte(w, 0x02 | 0x08 | 0x10);
    w_be(w, 42, 4);
    w_uvint(w, 2);
    for (int i = 0; i < 2; i++) {
        w_byte(w, 0x08);
        w_uvint(w, 16);
        for (int k = 0; k < 16; k++) w_byte(w, (uint8_t)(0xa0 + i));
        w_uvint(w, 4);
        w_be(w, (uint64_t)(i + 1), 4);
    }

    w_byte(w, 0x10 | 0x20 | 0x40);
    w_uvint(w, 0);
    w_be(w, 2, 4);
    w_uvint(w, 20);
    w_uvint(w, 2);
    w_byte(w, 0x01 | 0x04);
    w_uvint(w, 21);
    w_uvint(w, 3);
    w_byte(w, 0x00);
    w_uvint(w, 22);
    w_vbytes(w, "hello");
    w_uvint(w, 23);
    w_uvint(w, 4);
    w_uvint(w, 0);
    w_uvint(w, (uint64_t)INT64_MIN - (uint64_t)MIN_TS);
    w_uvint(w, (uint32_t)(INT32_MAX - (int32_t)MIN_LDT));
    w_uvint(w, 1);
    w_byte(w, 0x00);
    w_uvint(w, 24);
    w_vbytes(w, "x");
    w_uvint(w, 4);
    w_be(w, 7, 4);

    w_byte(w, 0x02);
    w_byte(w, 1);
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 3, 4);
    w_uvint(w, 30);
    w_uvint(w, 5);
    w_byte(w, 0x02);
    w_byte(w, 2);
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 4, 4);
    w_uvint(w, 30);
    w_uvint(w, 5);
    w_uvint(w, 31);
    w_uvint(w, 6);
    w_byte(w, 0x02);
    w_byte(w, 0);
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 5, 4);
    w_uvint(w, 31);
    w_uvint(w, 6);
    w_byte(w, 0x01);
}

static cs_source_t *start(source_ctx_t *ctx, const char *dedupe)
{
    char dir[] = "/tmp/cass-events-XXXXXX";
    assert_non_null(mkdtemp(dir));
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s}", "cdc_raw.dir", dir, "topic.prefix", "cdc", "cassandra.schema", SCHEMA,
                            "dedupe.cache.size", dedupe);
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(ctx, cfg, &st, &err), 0);
    json_decref(cfg);
    rmdir(dir);
    cs_source_t *s = st;
    s->messaging_version = 12;
    return s;
}

static void feed(cs_source_t *s, const wbuf_t *w, uint64_t position)
{
    cl_entry_t e = {.data = w->b, .len = w->n, .section_offset = 0, .position = position};
    assert_int_equal(on_entry(s, &e), 0);
}

static json_t *value(const source_ctx_t *ctx, int i)
{
    json_error_t jerr;
    assert_true(i < ctx->n);
    json_t *v = ctx->recs[i].value ? json_loads(ctx->recs[i].value, 0, &jerr) : json_null();
    assert_non_null(v);
    return v;
}

static const char *op_of(json_t *v)
{
    return json_string_value(json_object_get(v, "op"));
}

static void test_deletions_ttl_and_collection_changes(void **state)
{
    (void)state;
    source_ctx_t ctx = {0};
    cs_source_t *s = start(&ctx, "0");
    wbuf_t w = {.n = 0};
    build_mutation(&w);
    feed(s, &w, 1000);
    /* d + tombstone (partition), u (static), c (row 1), d + tombstone (row 2), u (row 2),
     * d, d (two ranges) */
    assert_int_equal(ctx.n, 9);

    json_t *v = value(&ctx, 0);
    assert_string_equal(op_of(v), "d");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "before"), "id")), "k1");
    assert_null(json_object_get(json_object_get(v, "source"), "range"));
    json_decref(v);
    assert_null(ctx.recs[1].value); /* the partition deletion's tombstone */
    /* the partition deletion is on the table's topic: a sink deletes the whole partition */
    assert_string_equal(ctx.recs[0].topic, "cdc.ks.t");

    v = value(&ctx, 3);
    assert_string_equal(op_of(v), "c");
    json_t *src = json_object_get(v, "source");
    assert_int_equal(json_integer_value(json_object_get(src, "ttl")), 3600);
    json_t *after = json_object_get(v, "after");
    assert_int_equal(json_integer_value(json_object_get(after, "a")), 42);
    assert_null(json_object_get(after, "l")); /* element-level: not a whole value */
    json_t *lput = json_object_get(json_object_get(json_object_get(src, "collections"), "l"), "put");
    assert_int_equal(json_object_size(lput), 2);
    assert_int_equal(json_integer_value(json_object_get(lput, "a0a0a0a0-a0a0-a0a0-a0a0-a0a0a0a0a0a0")), 1);
    assert_int_equal(json_integer_value(json_object_get(lput, "a1a1a1a1-a1a1-a1a1-a1a1-a1a1a1a1a1a1")), 2);
    json_decref(v);

    v = value(&ctx, 6);
    assert_string_equal(op_of(v), "u");
    src = json_object_get(v, "source");
    after = json_object_get(v, "after");
    assert_true(json_is_null(json_object_get(after, "a")));
    assert_string_equal(json_string_value(json_object_get(after, "b")), "hello");
    assert_true(json_is_null(json_object_get(after, "l"))); /* the whole list deleted */
    assert_null(json_object_get(after, "m"));
    json_t *mput = json_object_get(json_object_get(json_object_get(src, "collections"), "m"), "put");
    assert_int_equal(json_integer_value(json_object_get(mput, "x")), 7);
    assert_null(json_object_get(src, "ttl"));
    json_decref(v);

    /* [3, 4) then [4, 5), each with its own delete time */
    for (int i = 0; i < 2; i++) {
        v = value(&ctx, 7 + i);
        assert_string_equal(op_of(v), "d");
        /* not on the table's topic, where a sink would take it for a partition delete */
        assert_string_equal(ctx.recs[7 + i].topic, "cdc.ks.t.range_deletes");
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "before"), "id")), "k1");
        json_t *range = json_object_get(json_object_get(v, "source"), "range");
        json_t *st = json_object_get(range, "start"), *en = json_object_get(range, "end");
        assert_int_equal(json_integer_value(json_array_get(json_object_get(st, "clustering"), 0)), 3 + i);
        assert_true(json_is_true(json_object_get(st, "inclusive")));
        assert_int_equal(json_integer_value(json_array_get(json_object_get(en, "clustering"), 0)), 4 + i);
        assert_true(json_is_false(json_object_get(en, "inclusive")));
        assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "source"), "ts_ms")),
                         (MIN_TS + 30 + i) / 1000);
        json_decref(v);
    }
    assert_int_equal(s->range_tombstones, 2);
    assert_int_equal(s->collection_changes, 2);

    /* without de-duplication the same mutation again is emitted again */
    feed(s, &w, 2000);
    assert_int_equal(ctx.n, 18);
    cassandra_source_ops.stop(s);
    ctx_clear(&ctx);
}

/* ---- user-defined types (field names and types from system_schema.types) ---- */

static const char *UDT_SCHEMA =
    "[{\"keyspace\":\"ks\",\"table\":\"u\",\"id\":\"0a0b0c0d-0e0f-1011-1213-141516171819\",\"columns\":["
    "{\"name\":\"id\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"text\"},"
    "{\"name\":\"addr\",\"kind\":\"regular\",\"type\":\"frozen<address>\"},"
    "{\"name\":\"home\",\"kind\":\"regular\",\"type\":\"address\"}]}]";

static void w_field(wbuf_t *w, const void *p, int len)
{
    w_be(w, (uint64_t)(uint32_t)len, 4);
    if (len > 0) w_raw(w, p, (size_t)len);
}

/* INSERT INTO ks.u (id, addr, home) VALUES ('k', {street: 'Main', zip: 7}, {street: 'Elm'}) */
static void build_udt_insert(wbuf_t *w)
{
    static const uint8_t id[16] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
    w_uvint(w, 1);
    w_raw(w, id, 16);
    w_vbytes(w, "k");
    w_byte(w, 0x00);
    w_uvint(w, MIN_TS - TS_EPOCH);
    w_uvint(w, MIN_LDT - LDT_EPOCH);
    w_uvint(w, 0);
    w_uvint(w, 2);
    w_vbytes(w, "addr");
    w_vbytes(w, "home");
    w_byte(w, 0x04 | 0x20 | 0x40); /* row timestamp (INSERT), every column, a complex deletion */
    w_uvint(w, 10);
    w_byte(w, 0x08); /* addr: the row's timestamp; a frozen UDT value: fields as [int len][bytes] */
    w_uvint(w, 16);
    w_field(w, "Main", 4);
    w_field(w, "\0\0\0\7", 4);
    w_uvint(w, 9); /* home: complex deletion (the whole value is replaced) */
    w_uvint(w, 5);
    w_uvint(w, 1); /* one cell: field 0 (street) */
    w_byte(w, 0x08);
    w_uvint(w, 2);
    w_be(w, 0, 2);
    w_uvint(w, 3);
    w_raw(w, "Elm", 3);
    w_byte(w, 0x01);
}

/* UPDATE ks.u SET home.zip = 9, home.street = null WHERE id = 'k' */
static void build_udt_update(wbuf_t *w)
{
    static const uint8_t id[16] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
    w_uvint(w, 1);
    w_raw(w, id, 16);
    w_vbytes(w, "k");
    w_byte(w, 0x00);
    w_uvint(w, MIN_TS - TS_EPOCH);
    w_uvint(w, MIN_LDT - LDT_EPOCH);
    w_uvint(w, 0);
    w_uvint(w, 1);
    w_vbytes(w, "home");
    w_byte(w, 0x20); /* no row timestamp (an UPDATE), every (one) column */
    w_uvint(w, 2);
    w_byte(w, 0x01 | 0x04); /* street: a tombstone */
    w_uvint(w, 30);
    w_uvint(w, 6);
    w_uvint(w, 2);
    w_be(w, 0, 2);
    w_byte(w, 0x00); /* zip = 9 */
    w_uvint(w, 30);
    w_uvint(w, 2);
    w_be(w, 1, 2);
    w_uvint(w, 4);
    w_be(w, 9, 4);
    w_byte(w, 0x01);
}

static cs_source_t *start_udt(source_ctx_t *ctx, bool with_types)
{
    char dir[] = "/tmp/cass-events-XXXXXX";
    assert_non_null(mkdtemp(dir));
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s}", "cdc_raw.dir", dir, "topic.prefix", "cdc", "cassandra.schema",
                            UDT_SCHEMA, "dedupe.cache.size", "0");
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(ctx, cfg, &st, &err), 0);
    json_decref(cfg);
    rmdir(dir);
    cs_source_t *s = st;
    s->messaging_version = 12;
    if (with_types) {
        /* What schema_read_cql reads from system_schema.types (the rows of the fake server's
         * schema_define_type in tests/integration/test_connect_cassandra_schema.py). */
        const char *names[] = {"street", "zip"}, *types[] = {"text", "int"};
        sb_err_t e = {0};
        assert_int_equal(cass_schema_add_udt(&s->schema, "ks", "address", 2, names, types, &e), 0);
    }
    return s;
}

static void test_udt_values_with_field_names(void **state)
{
    (void)state;
    source_ctx_t ctx = {0};
    cs_source_t *s = start_udt(&ctx, true);
    wbuf_t w = {.n = 0};
    build_udt_insert(&w);
    feed(s, &w, 100);
    w.n = 0;
    build_udt_update(&w);
    feed(s, &w, 200);
    assert_int_equal(ctx.n, 2);

    json_t *v = value(&ctx, 0);
    assert_string_equal(op_of(v), "c");
    json_t *after = json_object_get(v, "after");
    /* like whole collections: a string holding JSON */
    assert_string_equal(json_string_value(json_object_get(after, "addr")), "{\"street\":\"Main\",\"zip\":7}");
    assert_string_equal(json_string_value(json_object_get(after, "home")), "{\"street\":\"Elm\",\"zip\":null}");
    json_decref(v);

    v = value(&ctx, 1);
    assert_string_equal(op_of(v), "u");
    assert_null(json_object_get(json_object_get(v, "after"), "home")); /* field-level: not a whole value */
    json_t *home = json_object_get(json_object_get(json_object_get(v, "source"), "collections"), "home");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(home, "put"), "zip")), 9);
    assert_string_equal(json_string_value(json_array_get(json_object_get(home, "remove"), 0)), "street");
    json_decref(v);
    cassandra_source_ops.stop(s);
    ctx_clear(&ctx);
}

/* Without the type's definition (the offline cassandra.schema has none): hex and field indexes. */
static void test_udt_values_without_types(void **state)
{
    (void)state;
    source_ctx_t ctx = {0};
    cs_source_t *s = start_udt(&ctx, false);
    wbuf_t w = {.n = 0};
    build_udt_insert(&w);
    feed(s, &w, 100);
    w.n = 0;
    build_udt_update(&w);
    feed(s, &w, 200);
    assert_int_equal(ctx.n, 2);
    json_t *v = value(&ctx, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "after"), "addr")),
                        "0x000000044d61696e0000000400000007");
    json_decref(v);
    v = value(&ctx, 1);
    json_t *home = json_object_get(json_object_get(json_object_get(v, "source"), "collections"), "home");
    assert_string_equal(json_string_value(json_object_get(json_object_get(home, "put"), "1")), "0x00000009");
    json_decref(v);
    cassandra_source_ops.stop(s);
    ctx_clear(&ctx);
}

static void test_same_write_twice_is_emitted_once(void **state)
{
    (void)state;
    source_ctx_t ctx = {0};
    cs_source_t *s = start(&ctx, "1024");
    wbuf_t w = {.n = 0};
    build_mutation(&w);
    feed(s, &w, 1000);
    assert_int_equal(ctx.n, 9);
    feed(s, &w, 2000); /* a replayed copy: same keys, same write times, same values */
    assert_int_equal(ctx.n, 9);
    assert_int_equal(s->duplicates_skipped, 7);
    json_t *status = json_object();
    cassandra_source_ops.status(s, status);
    assert_int_equal(json_integer_value(json_object_get(status, "duplicates_skipped")), 7);
    json_decref(status);

    /* the same rows written again at another time are new events: the partition's minimum
     * timestamp (a vint right after the partition header flags) moves every write time */
    wbuf_t w2 = {.n = 0};
    build_mutation(&w2);
    size_t at = 1 + 16 + 3 + 1; /* count, table id, key "k1", flags */
    assert_int_equal(w2.b[at] & 0x80, 0x80); /* a multi-byte vint: change its last byte */
    w2.b[at + 1 + (w2.b[at] & 0x40 ? 2 : 1) - 1] ^= 1;
    feed(s, &w2, 3000);
    assert_int_equal(ctx.n, 18);
    cassandra_source_ops.stop(s);
    ctx_clear(&ctx);
}

/* A bounded cache: after many other events the first one is forgotten and emitted again. */
static void test_dedupe_cache_is_bounded(void **state)
{
    (void)state;
    cs_dedupe_t d = {0};
    d.cap = 16;
    d.gen[0] = calloc(16, sizeof(uint64_t));
    d.gen[1] = calloc(16, sizeof(uint64_t));
    assert_false(dedupe_seen(&d, 42));
    assert_true(dedupe_seen(&d, 42));
    for (uint64_t h = 100; h < 108; h++) assert_false(dedupe_seen(&d, h));
    assert_true(dedupe_seen(&d, 42)); /* in the old generation */
    for (uint64_t h = 200; h < 216; h++) assert_false(dedupe_seen(&d, h));
    assert_false(dedupe_seen(&d, 42)); /* forgotten after two generations */
    free(d.gen[0]);
    free(d.gen[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deletions_ttl_and_collection_changes),
        cmocka_unit_test(test_same_write_twice_is_emitted_once),
        cmocka_unit_test(test_udt_values_with_field_names),
        cmocka_unit_test(test_udt_values_without_types),
        cmocka_unit_test(test_dedupe_cache_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
