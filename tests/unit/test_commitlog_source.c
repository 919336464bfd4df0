/* cassandra-source on a cdc_raw directory built from the real 4.0.11 segment of
 * tests/data/cassandra-commitlog: the _cdc.idx offset grows as Cassandra would write it, the
 * events are checked, the segment is deleted only once its last record is committed, and a
 * restart from a committed position in the middle emits the rest without duplicates. The
 * connect runtime is replaced by a harness that keeps the records in memory. */
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
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "connect/connector.h"
#include "connect/sources/cassandra.h"

typedef struct rec {
    char *topic;
    char *key;
    char *value;
    char *position;
} rec_t;

struct source_ctx {
    char *committed;
    rec_t *recs;
    int n, cap;
};

static char *dup_slice(sb_slice_t s)
{
    if (s.len < 0) return NULL;
    char *p = malloc((size_t)s.len + 1);
    memcpy(p, s.p, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

int source_emit(source_ctx_t *ctx, const connect_record_t *r, const char *position)
{
    if (ctx->n == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 64;
        ctx->recs = realloc(ctx->recs, (size_t)ctx->cap * sizeof(rec_t));
    }
    rec_t *x = &ctx->recs[ctx->n++];
    x->topic = strdup(r->topic);
    x->key = dup_slice(r->key);
    x->value = dup_slice(r->value);
    x->position = position ? strdup(position) : NULL;
    return 0;
}

const char *source_committed_position(source_ctx_t *ctx)
{
    return ctx->committed;
}

const char *source_name(source_ctx_t *ctx)
{
    (void)ctx;
    return "cass-test";
}

static void ctx_clear(source_ctx_t *ctx)
{
    for (int i = 0; i < ctx->n; i++) {
        free(ctx->recs[i].topic);
        free(ctx->recs[i].key);
        free(ctx->recs[i].value);
        free(ctx->recs[i].position);
    }
    free(ctx->recs);
    free(ctx->committed);
    memset(ctx, 0, sizeof(*ctx));
}

static const char *data_dir(void)
{
    const char *c[] = {"tests/data/cassandra-commitlog", "../../tests/data/cassandra-commitlog",
                       "../tests/data/cassandra-commitlog"};
    struct stat st;
    for (size_t i = 0; i < 3; i++)
        if (stat(c[i], &st) == 0) return c[i];
    return c[0];
}

#define SEGMENT "CommitLog-7-1699285478684.log"
#define INDEX "CommitLog-7-1699285478684_cdc.idx"

typedef struct fixture {
    char dir[256];
    uint8_t *seg;
    size_t seg_len;
} fixture_t;

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void set_index(fixture_t *fx, const char *text)
{
    write_file(fx->dir, INDEX, text, strlen(text));
}

static bool exists(const fixture_t *fx, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    return stat(path, &st) == 0;
}

static void fixture_up(fixture_t *fx)
{
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/streambus-cdcraw-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/4.0.11-encrypted/%s", data_dir(), SEGMENT);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    fx->seg_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    fx->seg = malloc(fx->seg_len);
    assert_int_equal(fread(fx->seg, 1, fx->seg_len, f), fx->seg_len);
    fclose(f);
    /* The whole (preallocated) file is there from the start; only the index says what is synced. */
    write_file(fx->dir, SEGMENT, fx->seg, fx->seg_len);
}

static void fixture_down(fixture_t *fx)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx->seg);
}

static json_t *config(const fixture_t *fx, const char *processed)
{
    const char *schema =
        "[{\"keyspace\":\"Keyspace1\",\"table\":\"Standard1\",\"id\":\"657e5210-7cbb-11ee-9858-c9aa1eb53e69\","
        "\"columns\":[{\"name\":\"key\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"ascii\"},"
        "{\"name\":\"col\",\"kind\":\"clustering\",\"position\":0,\"type\":\"ascii\",\"clustering_order\":\"asc\"},"
        "{\"name\":\"val\",\"kind\":\"regular\",\"position\":-1,\"type\":\"blob\"},"
        "{\"name\":\"val0\",\"kind\":\"regular\",\"position\":-1,\"type\":\"blob\"}]}]";
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "cdc_raw.dir", fx->dir, "topic.prefix", "cdc", "cassandra.schema",
                     schema, "processed.segments", processed, "poll.interval.ms", "1");
}

static void poll_once(void *st)
{
    connect_err_t err = {0};
    if (cassandra_source_ops.poll(st, 0, &err) != 0) fail_msg("poll: %s", err.msg);
}

static int events_with_position(const source_ctx_t *ctx)
{
    int n = 0;
    for (int i = 0; i < ctx->n; i++) n += ctx->recs[i].position != NULL;
    return n;
}

/* Section ends of this segment (from test_commitlog: 467, 1576, 75003, then a zero marker). */
static void test_source_follows_synced_offset(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_up(&fx);
    source_ctx_t ctx = {0};
    json_t *cfg = config(&fx, "delete");
    connect_config_errors_t errs = {0};
    assert_int_equal(cassandra_source_ops.validate(cfg, &errs), 0);
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);

    poll_once(st); /* no index yet: nothing is synced */
    assert_int_equal(ctx.n, 0);
    set_index(&fx, "467"); /* first section: a system.local write, not a CDC table */
    poll_once(st);
    assert_int_equal(ctx.n, 0);
    set_index(&fx, "1576"); /* second section: system tables too */
    poll_once(st);
    assert_int_equal(ctx.n, 0);
    set_index(&fx, "40000"); /* inside the third section: not synced to its end yet */
    poll_once(st);
    assert_int_equal(ctx.n, 0);
    set_index(&fx, "75003");
    poll_once(st);
    /* one INSERT per mutation of Standard1: 355 rows (hash.txt counts 355 cells) */
    assert_int_equal(ctx.n, 355);
    /* not COMPLETED: the segment is still being read, whatever is committed */
    cassandra_source_ops.commit(st, ctx.recs[ctx.n - 1].position);
    assert_true(exists(&fx, SEGMENT));
    set_index(&fx, "75011\nCOMPLETED");
    poll_once(st);
    assert_int_equal(ctx.n, 355);
    assert_int_equal(events_with_position(&ctx), 355);
    rec_t *r = &ctx.recs[0];
    assert_string_equal(r->topic, "cdc.Keyspace1.Standard1");
    json_error_t jerr;
    json_t *key = json_loads(r->key, 0, &jerr);
    json_t *val = json_loads(r->value, 0, &jerr);
    assert_non_null(key);
    assert_non_null(val);
    assert_non_null(json_string_value(json_object_get(key, "key")));
    assert_memory_equal(json_string_value(json_object_get(key, "col")), "name", 4);
    assert_string_equal(json_string_value(json_object_get(val, "op")), "c");
    json_t *after = json_object_get(val, "after");
    assert_memory_equal(json_string_value(json_object_get(after, "val")), "0x", 2);
    /* val0 was not written: absent, not null */
    assert_null(json_object_get(after, "val0"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(val, "source"), "connector")), "cassandra");
    assert_true(json_integer_value(json_object_get(json_object_get(val, "source"), "ts_ms")) > 1699000000000LL);
    json_decref(key);
    json_decref(val);

    /* Completed, read, and its last record committed (above): the files go. */
    assert_false(exists(&fx, SEGMENT));
    assert_false(exists(&fx, INDEX));
    json_t *status = json_object();
    cassandra_source_ops.status(st, status);
    assert_int_equal(json_integer_value(json_object_get(status, "segments_done")), 1);
    assert_int_equal(json_integer_value(json_object_get(status, "other_table_mutations")), 3);
    json_decref(status);
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    fixture_down(&fx);
}

/* A restart from a position committed in the middle emits exactly the rest. */
static void test_source_restart_mid_segment(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_up(&fx);
    set_index(&fx, "75011\nCOMPLETED");
    json_t *cfg = config(&fx, "keep");
    source_ctx_t first = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&first, cfg, &st, &err), 0);
    poll_once(st);
    assert_int_equal(first.n, 355);
    cassandra_source_ops.stop(st);

    /* keep: the segment stays although everything of it was read */
    assert_true(exists(&fx, SEGMENT));

    json_t *cfg_delete = config(&fx, "delete");
    source_ctx_t second = {0};
    second.committed = strdup(first.recs[100].position);
    sb_err_t perr = {0};
    assert_int_equal(cassandra_source_ops.validate_position(second.committed, &perr), 0);
    assert_int_equal(cassandra_source_ops.start(&second, cfg_delete, &st, &err), 0);
    poll_once(st);
    assert_int_equal(second.n, 355 - 101);
    for (int i = 0; i < second.n; i++) {
        assert_string_equal(second.recs[i].key, first.recs[101 + i].key);
        assert_string_equal(second.recs[i].position, first.recs[101 + i].position);
    }
    /* Completed and read, but its last record not yet committed: the files stay. */
    assert_true(exists(&fx, SEGMENT));
    cassandra_source_ops.commit(st, second.recs[second.n - 2].position);
    assert_true(exists(&fx, SEGMENT));
    cassandra_source_ops.commit(st, second.recs[second.n - 1].position);
    assert_false(exists(&fx, SEGMENT));
    assert_false(exists(&fx, INDEX));
    cassandra_source_ops.stop(st);
    json_decref(cfg_delete);
    assert_int_equal(cassandra_source_ops.validate_position("12:x", &perr), SB_EINVAL);
    json_decref(cfg);
    ctx_clear(&first);
    ctx_clear(&second);
    fixture_down(&fx);
}

/* A crash between the commit of a segment's last record and its deletion leaves it behind:
 * the next start deletes the segments before the committed one and reads on from there. */
static void test_source_start_finishes_older_segments(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_up(&fx);
    set_index(&fx, "75011\nCOMPLETED");
    write_file(fx.dir, "CommitLog-7-1699285478000.log", fx.seg, 64);
    write_file(fx.dir, "CommitLog-7-1699285478000_cdc.idx", "64\nCOMPLETED", 12);
    json_t *cfg = config(&fx, "delete");
    source_ctx_t ctx = {0};
    ctx.committed = strdup("1699285478684:1576:1576:1600");
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    assert_false(exists(&fx, "CommitLog-7-1699285478000.log"));
    assert_false(exists(&fx, "CommitLog-7-1699285478000_cdc.idx"));
    assert_true(exists(&fx, SEGMENT));
    poll_once(st);
    assert_int_equal(ctx.n, 355); /* every Standard1 entry ends after 1600 */
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    fixture_down(&fx);
}

/* An older segment without a _cdc.idx (no CDC data in it; Cassandra removes its link only when
 * it discards the segment) does not hold back a later segment that has one. */
static void test_source_skips_segment_without_index_once_a_later_one_has_one(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_up(&fx);
    write_file(fx.dir, "CommitLog-7-1699285478000.log", fx.seg, 4096);
    json_t *cfg = config(&fx, "delete");
    source_ctx_t ctx = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    poll_once(st); /* the older segment is current and may still get CDC data: wait */
    json_t *status = json_object();
    cassandra_source_ops.status(st, status);
    assert_non_null(strstr(json_string_value(json_object_get(status, "segment")), "1699285478000"));
    json_decref(status);
    set_index(&fx, "75003");
    poll_once(st);
    poll_once(st);
    assert_int_equal(ctx.n, 355);
    /* skipped, not deleted: the file belongs to Cassandra until it discards it */
    assert_true(exists(&fx, "CommitLog-7-1699285478000.log"));
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    fixture_down(&fx);
}

/* Collections from real data: Cassandra 3.0.13 wrote system.compaction_history rows whose
 * rows_merged (map<int, bigint>) is written whole (a complex deletion and the new entries). */
static void test_source_whole_collections_from_real_segment(void **state)
{
    (void)state;
    char dir[] = "/tmp/streambus-cdcraw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/3.0.13-encrypted/CommitLog-6-1699284515156.log", data_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    write_file(dir, "CommitLog-6-1699284515156.log", buf, n);
    write_file(dir, "CommitLog-6-1699284515156_cdc.idx", "335879\nCOMPLETED", 16);
    free(buf);
    const char *schema =
        "[{\"keyspace\":\"system\",\"table\":\"compaction_history\",\"id\":\"b4dbb7b4-dc49-3fb5-b3bf-ce6e434832ca\","
        "\"columns\":[{\"name\":\"id\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"uuid\"},"
        "{\"name\":\"bytes_in\",\"kind\":\"regular\",\"type\":\"bigint\"},"
        "{\"name\":\"bytes_out\",\"kind\":\"regular\",\"type\":\"bigint\"},"
        "{\"name\":\"columnfamily_name\",\"kind\":\"regular\",\"type\":\"text\"},"
        "{\"name\":\"compacted_at\",\"kind\":\"regular\",\"type\":\"timestamp\"},"
        "{\"name\":\"keyspace_name\",\"kind\":\"regular\",\"type\":\"text\"},"
        "{\"name\":\"rows_merged\",\"kind\":\"regular\",\"type\":\"map<int, bigint>\"}]}]";
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:s}", "cdc_raw.dir", dir, "topic.prefix", "cdc", "cassandra.schema", schema,
                            "processed.segments", "keep");
    source_ctx_t ctx = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    poll_once(st);
    assert_int_equal(ctx.n, 10);
    int with_map = 0;
    for (int i = 0; i < ctx.n; i++) {
        assert_string_equal(ctx.recs[i].topic, "cdc.system.compaction_history");
        json_error_t jerr;
        json_t *v = json_loads(ctx.recs[i].value, 0, &jerr);
        json_t *after = json_object_get(v, "after");
        assert_string_equal(json_string_value(json_object_get(v, "op")), "c");
        assert_int_equal(strlen(json_string_value(json_object_get(after, "id"))), 36);
        /* The node wrote these on 2023-11-06 (hash.txt's date); the compaction time is within a
         * second of the write timestamp Cassandra gave the row. */
        int64_t compacted_at = json_integer_value(json_object_get(after, "compacted_at"));
        int64_t write_ms = json_integer_value(json_object_get(json_object_get(v, "source"), "ts_ms"));
        assert_true(compacted_at >= 1699228800000LL && compacted_at < 1699315200000LL);
        assert_true(write_ms >= compacted_at && write_ms - compacted_at < 1000);
        const char *rm = json_string_value(json_object_get(after, "rows_merged"));
        if (rm) {
            /* {"<int>":<bigint>,...} */
            json_t *map = json_loads(rm, 0, &jerr);
            assert_true(json_is_object(map));
            assert_true(json_object_size(map) > 0);
            const char *k;
            json_t *val;
            json_object_foreach(map, k, val) {
                assert_true(atoi(k) > 0);
                assert_true(json_is_integer(val));
            }
            json_decref(map);
            with_map++;
        }
        json_decref(v);
    }
    assert_true(with_map > 0);
    json_t *status = json_object();
    cassandra_source_ops.status(st, status);
    /* every collection in these rows was written whole: no element-level changes */
    json_t *changes = json_object_get(status, "collection_element_changes");
    assert_true(json_is_integer(changes));
    assert_int_equal(json_integer_value(changes), 0);
    json_decref(status);
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* An encrypted segment (Cassandra 3.4, AES/CBC with LZ4 inside) with its key configured; without
 * the key the task fails naming the alias. */
static void test_source_encrypted_segment(void **state)
{
    (void)state;
    char dir[] = "/tmp/streambus-cdcraw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof(path), "%s/3.4-encrypted/CommitLog-6-1480001790338.log", data_dir());
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(2 << 20);
    size_t n = fread(buf, 1, 2 << 20, f);
    fclose(f);
    write_file(dir, "CommitLog-6-1480001790338.log", buf, n);
    char idx[64];
    snprintf(idx, sizeof(idx), "%zu\nCOMPLETED", n);
    write_file(dir, "CommitLog-6-1480001790338_cdc.idx", idx, strlen(idx));
    free(buf);
    const char *schema =
        "[{\"keyspace\":\"Keyspace1\",\"table\":\"Standard1\",\"id\":\"c5b59a80-b25b-11e6-b205-bb359f887ad3\","
        "\"columns\":[{\"name\":\"key\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"ascii\"},"
        "{\"name\":\"col\",\"kind\":\"clustering\",\"position\":0,\"type\":\"ascii\"},"
        "{\"name\":\"val\",\"kind\":\"regular\",\"type\":\"blob\"},"
        "{\"name\":\"val0\",\"kind\":\"regular\",\"type\":\"blob\"}]}]";

    json_t *cfg = json_pack("{s:s, s:s, s:s}", "cdc_raw.dir", dir, "topic.prefix", "cdc", "cassandra.schema", schema);
    source_ctx_t ctx = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    assert_int_equal(cassandra_source_ops.poll(st, 0, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_FATAL);
    assert_non_null(strstr(err.msg, "testing:1"));
    cassandra_source_ops.stop(st);
    json_decref(cfg);

    cfg = json_pack("{s:s, s:s, s:s, s:s}", "cdc_raw.dir", dir, "topic.prefix", "cdc", "cassandra.schema", schema,
                    "commitlog.encryption.keys", "testing:1=b7d96fb9b11d829179aeeb0b4e81f97a");
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    for (int i = 0; i < 20 && ctx.n < 14561; i++) poll_once(st);
    assert_int_equal(ctx.n, 14561); /* hash.txt: 14561 cells, one per row */
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A mutation that does not fit the configured schema fails the task naming the problem,
 * instead of dropping the change. */
/* ----- compressed segments through the connector -----
 * The real 4.0.11 segment re-packed the way CompressedSegment.write frames a section (marker,
 * uncompressed length, the compressor's output) with each of the four codecs Cassandra offers.
 * The framing is our reading of CompressedSegment (docs/cassandra-commitlog.md: no real
 * compressed 3.0+ segment exists to check it against); the mutations inside are real. */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc_int(uint32_t crc, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    return (uint32_t)crc32(crc, b, 4);
}

static size_t compress_section(int codec, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    switch (codec) {
    case 0: { /* LZ4Compressor: 4-byte little-endian length, then the block */
        out[0] = (uint8_t)n;
        out[1] = (uint8_t)(n >> 8);
        out[2] = (uint8_t)(n >> 16);
        out[3] = (uint8_t)(n >> 24);
        int k = LZ4_compress_default((const char *)in, (char *)out + 4, (int)n, (int)cap - 4);
        assert_true(k > 0);
        return (size_t)k + 4;
    }
    case 1: {
        size_t k = cap;
        assert_int_equal(snappy_compress((const char *)in, n, (char *)out, &k), SNAPPY_OK);
        return k;
    }
    case 2: {
        uLongf k = (uLongf)cap;
        assert_int_equal(compress2(out, &k, in, (uLong)n, Z_DEFAULT_COMPRESSION), Z_OK);
        return (size_t)k;
    }
    default: {
        size_t k = ZSTD_compress(out, cap, in, n, 3);
        assert_false(ZSTD_isError(k));
        return k;
    }
    }
}

/* Writes the compressed copy of the segment into the fixture (same file name) and returns the
 * file offsets after each of its three sections. */
static void write_compressed(fixture_t *fx, int codec, uint32_t ends[3])
{
    static const char *const classes[] = {"org.apache.cassandra.io.compress.LZ4Compressor",
                                          "org.apache.cassandra.io.compress.SnappyCompressor",
                                          "org.apache.cassandra.io.compress.DeflateCompressor",
                                          "org.apache.cassandra.io.compress.ZstdCompressor"};
    /* The plain segment's sections: header end .. 467, 467 .. 1576, 1576 .. 75003. */
    size_t plain_params = (size_t)fx->seg[12] << 8 | fx->seg[13];
    uint32_t starts[4] = {(uint32_t)(14 + plain_params + 4), 467, 1576, 75003};
    int64_t id = 1699285478684LL;
    size_t cap = fx->seg_len * 2 + 4096;
    uint8_t *out = calloc(1, cap);
    char params[160];
    int plen = snprintf(params, sizeof(params), "{\"compressionClass\":\"%s\",\"compressionParameters\":{}}", classes[codec]);
    put_be32(out, 7);
    memcpy(out + 4, fx->seg + 4, 8);
    out[12] = (uint8_t)(plen >> 8);
    out[13] = (uint8_t)plen;
    memcpy(out + 14, params, (size_t)plen);
    uint32_t crc = crc_int(crc_int(crc_int(crc_int((uint32_t)crc32(0, NULL, 0), 7), (uint32_t)(id & 0xFFFFFFFF)),
                                   (uint32_t)(id >> 32)),
                           (uint32_t)plen);
    put_be32(out + 14 + plen, (uint32_t)crc32(crc, (const uint8_t *)params, (uInt)plen));
    size_t w = 14 + (size_t)plen + 4;
    for (int i = 0; i < 3; i++) {
        const uint8_t *data = fx->seg + starts[i] + 8;
        size_t dlen = starts[i + 1] - starts[i] - 8;
        size_t k = compress_section(codec, data, dlen, out + w + 12, cap - w - 12);
        uint32_t next = (uint32_t)(w + 12 + k);
        put_be32(out + w, next);
        put_be32(out + w + 4, crc_int(crc_int(crc_int((uint32_t)crc32(0, NULL, 0), (uint32_t)(id & 0xFFFFFFFF)),
                                              (uint32_t)(id >> 32)),
                                      (uint32_t)w));
        put_be32(out + w + 8, (uint32_t)dlen);
        ends[i] = next;
        w = next;
    }
    write_file(fx->dir, SEGMENT, out, w + 64); /* a zeroed tail, as a preallocated file has */
    free(out);
}

static void compressed_through_source(int codec)
{
    fixture_t fx;
    fixture_up(&fx);
    uint32_t ends[3];
    write_compressed(&fx, codec, ends);
    source_ctx_t ctx = {0};
    json_t *cfg = config(&fx, "delete");
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    char idx[64];
    /* Synced into the middle of the third section: nothing of it yet. */
    snprintf(idx, sizeof(idx), "%u", ends[1] + (ends[2] - ends[1]) / 2);
    set_index(&fx, idx);
    poll_once(st);
    assert_int_equal(ctx.n, 0);
    snprintf(idx, sizeof(idx), "%u\nCOMPLETED", ends[2]);
    set_index(&fx, idx);
    poll_once(st);
    assert_int_equal(ctx.n, 355);
    assert_int_equal(events_with_position(&ctx), 355);
    assert_string_equal(ctx.recs[0].topic, "cdc.Keyspace1.Standard1");
    cassandra_source_ops.commit(st, ctx.recs[ctx.n - 1].position);
    assert_false(exists(&fx, SEGMENT));
    cassandra_source_ops.stop(st);

    /* A restart from the middle emits exactly the rest (positions are logical offsets). */
    write_compressed(&fx, codec, ends);
    set_index(&fx, idx);
    source_ctx_t second = {0};
    second.committed = strdup(ctx.recs[200].position);
    assert_int_equal(cassandra_source_ops.start(&second, cfg, &st, &err), 0);
    poll_once(st);
    assert_int_equal(second.n, 355 - 201);
    for (int i = 0; i < second.n; i++)
        assert_string_equal(second.recs[i].key, ctx.recs[201 + i].key);
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);
    ctx_clear(&second);
    fixture_down(&fx);
}

static void test_source_compressed_lz4(void **state)
{
    (void)state;
    compressed_through_source(0);
}

static void test_source_compressed_snappy(void **state)
{
    (void)state;
    compressed_through_source(1);
}

static void test_source_compressed_deflate(void **state)
{
    (void)state;
    compressed_through_source(2);
}

static void test_source_compressed_zstd(void **state)
{
    (void)state;
    compressed_through_source(3);
}

/* processed.segments=archive: a finished, committed segment and its index move into
 * archive.dir; before the commit they stay where they are. other_fs: archive.dir on another
 * file system (/dev/shm, a tmpfs, when it is one), where rename(2) fails with EXDEV and the
 * segment is copied and then removed. */
static void archive_segments(bool other_fs)
{
    fixture_t fx;
    fixture_up(&fx);
    set_index(&fx, "75011\nCOMPLETED");
    char archive[300];
    snprintf(archive, sizeof(archive), "%s/archive", fx.dir);
    char shm_dir[] = "/dev/shm/streambus-archive-XXXXXX";
    if (other_fs) {
        struct stat a, b;
        if (stat("/dev/shm", &a) != 0 || stat(fx.dir, &b) != 0 || a.st_dev == b.st_dev || !mkdtemp(shm_dir)) {
            fixture_down(&fx);
            skip();
        }
        assert_int_equal(symlink(shm_dir, archive), 0);
    } else {
        assert_int_equal(mkdir(archive, 0700), 0);
    }
    json_t *cfg = config(&fx, "archive");
    json_object_set_new(cfg, "archive.dir", json_string(archive));
    connect_config_errors_t errs = {0};
    assert_int_equal(cassandra_source_ops.validate(cfg, &errs), 0);
    source_ctx_t ctx = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    poll_once(st);
    assert_int_equal(ctx.n, 355);
    assert_true(exists(&fx, SEGMENT));
    cassandra_source_ops.commit(st, ctx.recs[ctx.n - 1].position);
    assert_false(exists(&fx, SEGMENT));
    assert_false(exists(&fx, INDEX));
    assert_true(exists(&fx, "archive/" SEGMENT));
    /* The archived copy is the segment itself, byte for byte. */
    char path[512];
    snprintf(path, sizeof(path), "%s/archive/%s", fx.dir, SEGMENT);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, fx.seg_len);
    cassandra_source_ops.stop(st);
    json_decref(cfg);
    ctx_clear(&ctx);

    /* archive without an existing archive.dir is refused, naming the key */
    cfg = config(&fx, "archive");
    json_object_set_new(cfg, "archive.dir", json_string("/nonexistent/streambus-archive"));
    memset(&errs, 0, sizeof(errs));
    assert_int_not_equal(cassandra_source_ops.validate(cfg, &errs), 0);
    assert_string_equal(errs.items[0].field, "archive.dir");
    json_decref(cfg);
    fixture_down(&fx);
    if (other_fs) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", shm_dir);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_source_archives_processed_segments(void **state)
{
    (void)state;
    archive_segments(false);
}

static void test_source_archives_to_another_file_system(void **state)
{
    (void)state;
    archive_segments(true);
}

static void test_source_schema_mismatch_is_fatal(void **state)
{
    (void)state;
    fixture_t fx;
    fixture_up(&fx);
    set_index(&fx, "75003");
    const char *schema =
        "[{\"keyspace\":\"Keyspace1\",\"table\":\"Standard1\",\"id\":\"657e5210-7cbb-11ee-9858-c9aa1eb53e69\","
        "\"columns\":[{\"name\":\"key\",\"kind\":\"partition_key\",\"position\":0,\"type\":\"ascii\"},"
        "{\"name\":\"col\",\"kind\":\"clustering\",\"position\":0,\"type\":\"ascii\"},"
        "{\"name\":\"other\",\"kind\":\"regular\",\"position\":-1,\"type\":\"blob\"}]}]";
    json_t *cfg = json_pack("{s:s, s:s, s:s}", "cdc_raw.dir", fx.dir, "topic.prefix", "cdc", "cassandra.schema", schema);
    source_ctx_t ctx = {0};
    void *st = NULL;
    connect_err_t err = {0};
    assert_int_equal(cassandra_source_ops.start(&ctx, cfg, &st, &err), 0);
    assert_int_equal(cassandra_source_ops.poll(st, 0, &err), -1);
    assert_int_equal(err.cls, CONNECT_ERR_FATAL);
    assert_non_null(strstr(err.msg, "unknown column val"));
    cassandra_source_ops.stop(st);
    json_decref(cfg);

    /* and bad config is a 400 naming the field */
    connect_config_errors_t errs = {0};
    cfg = json_pack("{s:s, s:s, s:s, s:s}", "cdc_raw.dir", "/nonexistent", "topic.prefix", "cdc", "cassandra.schema",
                    "[]", "commitlog.encryption.keys", "testing:1=zz");
    assert_int_equal(cassandra_source_ops.validate(cfg, &errs), -1);
    assert_int_equal(errs.count, 3);
    json_decref(cfg);
    ctx_clear(&ctx);
    fixture_down(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_follows_synced_offset),
        cmocka_unit_test(test_source_restart_mid_segment),
        cmocka_unit_test(test_source_start_finishes_older_segments),
        cmocka_unit_test(test_source_skips_segment_without_index_once_a_later_one_has_one),
        cmocka_unit_test(test_source_whole_collections_from_real_segment),
        cmocka_unit_test(test_source_encrypted_segment),
        cmocka_unit_test(test_source_schema_mismatch_is_fatal),
        cmocka_unit_test(test_source_compressed_lz4),
        cmocka_unit_test(test_source_compressed_snappy),
        cmocka_unit_test(test_source_compressed_deflate),
        cmocka_unit_test(test_source_compressed_zstd),
        cmocka_unit_test(test_source_archives_processed_segments),
        cmocka_unit_test(test_source_archives_to_another_file_system),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
