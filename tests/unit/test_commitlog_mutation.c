/* Mutation decoder on hand-built mutations, for what the real segments of
 * tests/data/cassandra-commitlog do not contain: row deletions, range tombstone bounds and
 * boundaries, static rows, cell tombstones, row TTLs, list/map cells with complex deletions,
 * column subsets (small and large), composite partition keys and empty clustering values.
 * These bytes follow our reading of UnfilteredSerializer and friends (docs/cassandra-commitlog.md),
 * so they guard the decoder against regressions but do not prove that reading; the real
 * segments in test_commitlog.c do that for what they contain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cassandra/mutation.h"

#define TS_EPOCH 1442880000000000LL
#define LDT_EPOCH 1442880000LL

typedef struct wbuf {
    uint8_t b[8192];
    size_t n;
} wbuf_t;

static void w_byte(wbuf_t *w, uint8_t v)
{
    assert_true(w->n < sizeof(w->b));
    w->b[w->n++] = v;
}
static void w_raw(wbuf_t *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void w_be(wbuf_t *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) w_byte(w, (uint8_t)(v >> (8 * i)));
}
/* VIntCoding.writeUnsignedVInt: leading 1 bits of the first byte count the extra bytes. */
static void w_uvint(wbuf_t *w, uint64_t v)
{
    int n = 0;
    while (n < 8 && v >= (1ULL << (7 * (n + 1)))) n++;
    if (n == 8) {
        w_byte(w, 0xff);
        w_be(w, v, 8);
        return;
    }
    uint8_t first = (uint8_t)(~(0xffu >> n) & 0xff) | (uint8_t)(v >> (8 * n));
    w_byte(w, first);
    w_be(w, v, n);
}
static void w_vbytes(wbuf_t *w, const char *s)
{
    w_uvint(w, strlen(s));
    w_raw(w, s, strlen(s));
}

static const uint8_t TABLE_ID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t WIDE_ID[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

static void make_schema(cass_schema_t *s)
{
    cass_schema_init(s);
    cass_table_t *t;
    sb_err_t err = {0};
    assert_int_equal(cass_schema_add_table(s, TABLE_ID, "ks", "t", &t, &err), 0);
    assert_int_equal(cass_table_add_column(t, "id", "partition_key", 0, "text", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "c", "clustering", 0, "int", "desc", &err), 0);
    assert_int_equal(cass_table_add_column(t, "s", "static", -1, "text", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "a", "regular", -1, "int", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "b", "regular", -1, "text", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "l", "regular", -1, "list<int>", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "m", "regular", -1, "map<text, int>", "none", &err), 0);
    assert_int_equal(cass_table_finish(t, &err), 0);

    assert_int_equal(cass_schema_add_table(s, WIDE_ID, "ks", "wide", &t, &err), 0);
    assert_int_equal(cass_table_add_column(t, "k1", "partition_key", 0, "text", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "k2", "partition_key", 1, "int", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "c1", "clustering", 0, "text", "asc", &err), 0);
    assert_int_equal(cass_table_add_column(t, "c2", "clustering", 1, "bigint", "asc", &err), 0);
    for (int i = 0; i < 70; i++) {
        char name[8];
        snprintf(name, sizeof(name), "v%02d", i);
        assert_int_equal(cass_table_add_column(t, name, "regular", -1, "int", "none", &err), 0);
    }
    assert_int_equal(cass_table_finish(t, &err), 0);
}

/* Timestamps are written as deltas from the partition's minimum, which is itself a delta
 * from the 2015-09-22 epoch. */
#define MIN_TS (TS_EPOCH + 1000000)
#define MIN_LDT (LDT_EPOCH + 100)

static void build_rich_mutation(wbuf_t *w)
{
    w_uvint(w, 1); /* one partition update */
    w_raw(w, TABLE_ID, 16);
    w_vbytes(w, "k1");
    w_byte(w, 0x04 | 0x08 | 0x10); /* partition deletion, static row, row estimate */
    w_uvint(w, MIN_TS - TS_EPOCH);
    w_uvint(w, MIN_LDT - LDT_EPOCH);
    w_uvint(w, 0);
    w_uvint(w, 1); /* statics */
    w_vbytes(w, "s");
    w_uvint(w, 4); /* regulars, simple first */
    w_vbytes(w, "a");
    w_vbytes(w, "b");
    w_vbytes(w, "l");
    w_vbytes(w, "m");
    /* partition deletion at MIN_TS + 5, ldt MIN_LDT + 1 */
    w_uvint(w, 5);
    w_uvint(w, 1);
    /* static row: EXTENSION|HAS_ALL_COLUMNS, IS_STATIC; cell s with its own timestamp */
    w_byte(w, 0x80 | 0x20);
    w_byte(w, 0x01);
    w_byte(w, 0x00);
    w_uvint(w, 7);
    w_vbytes(w, "static!");
    w_uvint(w, 3); /* row estimate */

    /* row c=1: liveness with TTL; columns a and l only (bitmap of missing: b=bit1, m=bit3) */
    w_byte(w, 0x04 | 0x08);
    w_uvint(w, 0);
    w_be(w, 1, 4);
    w_uvint(w, 10);  /* timestamp MIN_TS + 10 */
    w_uvint(w, 3600); /* ttl */
    w_uvint(w, 50);  /* local expiration MIN_LDT + 50 */
    w_uvint(w, 0x0A);
    w_byte(w, 0x02 | 0x08 | 0x10); /* a: expiring, row timestamp, row ttl */
    w_be(w, 42, 4);
    w_uvint(w, 2); /* l: two cells */
    for (int i = 0; i < 2; i++) {
        w_byte(w, 0x08);
        w_uvint(w, 16);
        for (int k = 0; k < 16; k++) w_byte(w, (uint8_t)(0xa0 + i));
        w_uvint(w, 4);
        w_be(w, (uint64_t)(i + 1), 4);
    }

    /* row c=2: row deletion and complex deletions, all columns */
    w_byte(w, 0x10 | 0x20 | 0x40);
    w_uvint(w, 0);
    w_be(w, 2, 4);
    w_uvint(w, 20); /* deleted at MIN_TS + 20 */
    w_uvint(w, 2);
    w_byte(w, 0x01 | 0x04); /* a: tombstone, no value */
    w_uvint(w, 21);
    w_uvint(w, 3);
    w_byte(w, 0x00); /* b: live text */
    w_uvint(w, 22);
    w_vbytes(w, "hello");
    w_uvint(w, 23); /* l: complex deletion at MIN_TS + 23 */
    w_uvint(w, 4);
    w_uvint(w, 0); /* no cells */
    /* m: a live complex deletion (Long.MIN_VALUE, Integer.MAX_VALUE) written as deltas */
    w_uvint(w, (uint64_t)INT64_MIN - (uint64_t)MIN_TS);
    w_uvint(w, (uint32_t)(INT32_MAX - (int32_t)MIN_LDT));
    w_uvint(w, 1);
    w_byte(w, 0x00);
    w_uvint(w, 24);
    w_vbytes(w, "x");
    w_uvint(w, 4);
    w_be(w, 7, 4);

    /* range tombstone [c=3 .. c=5) split by a boundary at c=4 */
    w_byte(w, 0x02);
    w_byte(w, 1); /* INCL_START_BOUND */
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 3, 4);
    w_uvint(w, 30);
    w_uvint(w, 5);
    w_byte(w, 0x02);
    w_byte(w, 2); /* EXCL_END_INCL_START_BOUNDARY */
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 4, 4);
    w_uvint(w, 30);
    w_uvint(w, 5);
    w_uvint(w, 31);
    w_uvint(w, 6);
    w_byte(w, 0x02);
    w_byte(w, 0); /* EXCL_END_BOUND */
    w_be(w, 1, 2);
    w_uvint(w, 0);
    w_be(w, 5, 4);
    w_uvint(w, 31);
    w_uvint(w, 6);
    w_byte(w, 0x01); /* end of partition */
}

static void test_rich_mutation(void **state)
{
    (void)state;
    cass_schema_t s;
    make_schema(&s);
    wbuf_t w = {.n = 0};
    build_rich_mutation(&w);
    cass_mutation_t m;
    cass_mutation_init(&m);
    sb_err_t err = {0};
    int rc = cass_mutation_decode(w.b, w.n, 12, &s, &m, &err);
    if (rc != 0) fail_msg("%s", err.msg);
    assert_int_equal(m.nupdates, 1);
    const cass_partition_update_t *u = &m.updates[0];
    assert_string_equal(u->table->name, "t");
    assert_int_equal(u->key.len, 2);
    assert_memory_equal(u->key.p, "k1", 2);
    assert_int_equal(u->partition_deletion.marked_for_delete_at, MIN_TS + 5);
    assert_int_equal(u->partition_deletion.local_deletion_time, MIN_LDT + 1);
    assert_int_equal(u->nrows, 6);

    const cass_row_t *st = &m.rows[u->first_row];
    assert_int_equal(st->kind, CASS_STATIC_ROW);
    assert_int_equal(st->ncells, 1);
    assert_string_equal(u->table->cols[m.cells[st->first_cell].column].name, "s");
    assert_int_equal(m.cells[st->first_cell].timestamp, MIN_TS + 7);
    assert_memory_equal(m.cells[st->first_cell].value.p, "static!", 7);

    const cass_row_t *r1 = &m.rows[u->first_row + 1];
    assert_int_equal(r1->kind, CASS_ROW);
    assert_int_equal(r1->timestamp, MIN_TS + 10);
    assert_int_equal(r1->ttl, 3600);
    assert_int_equal(r1->local_expiration_time, MIN_LDT + 50);
    assert_int_equal(r1->ncells, 3);
    const cass_cell_t *a = &m.cells[r1->first_cell];
    assert_string_equal(u->table->cols[a->column].name, "a");
    assert_true(a->expiring);
    assert_int_equal(a->ttl, 3600);
    assert_int_equal(a->timestamp, MIN_TS + 10);
    assert_int_equal(a->value.len, 4);
    assert_int_equal(a->value.p[3], 42);
    const cass_cell_t *l0 = &m.cells[r1->first_cell + 1];
    assert_string_equal(u->table->cols[l0->column].name, "l");
    assert_int_equal(l0->path.len, 16);
    assert_int_equal(l0->path.p[0], 0xa0);
    assert_int_equal(m.cells[r1->first_cell + 2].path.p[0], 0xa1);

    const cass_row_t *r2 = &m.rows[u->first_row + 2];
    assert_int_equal(r2->deletion.marked_for_delete_at, MIN_TS + 20);
    assert_int_equal(r2->deletion.local_deletion_time, MIN_LDT + 2);
    assert_int_equal(r2->timestamp, CASS_LIVE_TIMESTAMP);
    assert_int_equal(r2->ncells, 3); /* a tombstone, b, one m cell */
    assert_true(m.cells[r2->first_cell].tombstone);
    assert_int_equal(m.cells[r2->first_cell].local_deletion_time, MIN_LDT + 3);
    assert_int_equal(m.cells[r2->first_cell].value.len, 0);
    assert_memory_equal(m.cells[r2->first_cell + 1].value.p, "hello", 5);
    const cass_cell_t *mc = &m.cells[r2->first_cell + 2];
    assert_string_equal(u->table->cols[mc->column].name, "m");
    assert_memory_equal(mc->path.p, "x", 1);
    /* Only l's complex deletion is a deletion; m's is the live marker. */
    assert_int_equal(r2->ncomplex_deletions, 1);
    assert_string_equal(u->table->cols[m.complex_deletions[r2->first_complex_deletion].column].name, "l");
    assert_int_equal(m.complex_deletions[r2->first_complex_deletion].deletion.marked_for_delete_at, MIN_TS + 23);

    const cass_row_t *b1 = &m.rows[u->first_row + 3];
    assert_int_equal(b1->kind, CASS_RANGE_TOMBSTONE_MARKER);
    assert_int_equal(b1->bound, CASS_INCL_START_BOUND);
    assert_int_equal(b1->nclustering, 1);
    assert_int_equal(m.clustering[b1->first_clustering].p[3], 3);
    assert_int_equal(b1->deletion.marked_for_delete_at, MIN_TS + 30);
    const cass_row_t *b2 = &m.rows[u->first_row + 4];
    assert_int_equal(b2->bound, CASS_EXCL_END_INCL_START_BOUNDARY);
    assert_int_equal(b2->deletion.marked_for_delete_at, MIN_TS + 30);
    assert_int_equal(b2->deletion2.marked_for_delete_at, MIN_TS + 31);
    const cass_row_t *b3 = &m.rows[u->first_row + 5];
    assert_int_equal(b3->bound, CASS_EXCL_END_BOUND);
    assert_int_equal(m.clustering[b3->first_clustering].p[3], 5);

    /* Every strict prefix is an error, never a crash or a partial success. */
    for (size_t cut = 0; cut < w.n; cut++) {
        sb_err_t e2 = {0};
        assert_true(cass_mutation_decode(w.b, cut, 12, &s, &m, &e2) < 0);
    }
    /* Trailing bytes are an error too. */
    w.b[w.n++] = 0;
    assert_int_equal(cass_mutation_decode(w.b, w.n, 12, &s, &m, &err), SB_ECORRUPT);
    cass_mutation_deinit(&m);
    cass_schema_deinit(&s);
}

/* Composite partition key, an empty clustering value, and the large-subset encodings used for
 * tables with 64 or more columns. */
static void test_wide_table_subsets(void **state)
{
    (void)state;
    cass_schema_t s;
    make_schema(&s);
    wbuf_t w = {.n = 0};
    w_uvint(&w, 1);
    w_raw(&w, WIDE_ID, 16);
    /* CompositeType key: ("ab", 7) */
    w_uvint(&w, 2 + 2 + 1 + 2 + 4 + 1);
    w_be(&w, 2, 2);
    w_raw(&w, "ab", 2);
    w_byte(&w, 0);
    w_be(&w, 4, 2);
    w_be(&w, 7, 4);
    w_byte(&w, 0);
    w_byte(&w, 0x00);
    w_uvint(&w, 0);
    w_uvint(&w, 0);
    w_uvint(&w, 0);
    w_uvint(&w, 70);
    for (int i = 0; i < 70; i++) {
        char name[8];
        snprintf(name, sizeof(name), "v%02d", i);
        w_vbytes(&w, name);
    }
    /* row 1: c1 empty (header bit 0), c2 = 9; three columns present: written as their indexes */
    w_byte(&w, 0x04);
    w_uvint(&w, 0x1);
    w_be(&w, 9, 8);
    w_uvint(&w, 5);
    w_uvint(&w, 70 - 3);
    w_uvint(&w, 2);
    w_uvint(&w, 40);
    w_uvint(&w, 69);
    for (int i = 0; i < 3; i++) {
        w_byte(&w, 0x08);
        w_be(&w, (uint64_t)(100 + i), 4);
    }
    /* row 2: 68 present, so the two missing indexes (10 and 11) are written */
    w_byte(&w, 0x04);
    w_uvint(&w, 0x0);
    w_vbytes(&w, "z");
    w_be(&w, 10, 8);
    w_uvint(&w, 6);
    w_uvint(&w, 2);
    w_uvint(&w, 10);
    w_uvint(&w, 11);
    for (int i = 0; i < 68; i++) {
        w_byte(&w, 0x08);
        w_be(&w, (uint64_t)i, 4);
    }
    w_byte(&w, 0x01);

    cass_mutation_t m;
    cass_mutation_init(&m);
    sb_err_t err = {0};
    int rc = cass_mutation_decode(w.b, w.n, 10, &s, &m, &err);
    if (rc != 0) fail_msg("%s", err.msg);
    const cass_partition_update_t *u = &m.updates[0];
    sb_slice_t parts[2];
    assert_int_equal(cass_partition_key_split(u->table, u->key, parts, &err), 0);
    assert_int_equal(parts[0].len, 2);
    assert_memory_equal(parts[0].p, "ab", 2);
    assert_int_equal(parts[1].len, 4);
    assert_int_equal(parts[1].p[3], 7);
    assert_int_equal(u->nrows, 2);
    const cass_row_t *r1 = &m.rows[u->first_row];
    assert_int_equal(m.clustering[r1->first_clustering].len, 0);
    assert_int_equal(m.clustering[r1->first_clustering + 1].p[7], 9);
    assert_int_equal(r1->ncells, 3);
    assert_string_equal(u->table->cols[m.cells[r1->first_cell + 1].column].name, "v40");
    assert_string_equal(u->table->cols[m.cells[r1->first_cell + 2].column].name, "v69");
    const cass_row_t *r2 = &m.rows[u->first_row + 1];
    assert_int_equal(r2->ncells, 68);
    assert_memory_equal(m.clustering[r2->first_clustering].p, "z", 1);
    assert_string_equal(u->table->cols[m.cells[r2->first_cell + 10].column].name, "v12");
    cass_mutation_deinit(&m);
    cass_schema_deinit(&s);
}

/* Unknown table: SB_ENOENT with the id; unknown column: an error naming it. */
static void test_unknown_table_and_column(void **state)
{
    (void)state;
    cass_schema_t s;
    make_schema(&s);
    cass_mutation_t m;
    cass_mutation_init(&m);
    wbuf_t w = {.n = 0};
    uint8_t other[16] = {0xee};
    w_uvint(&w, 1);
    w_raw(&w, other, 16);
    w_vbytes(&w, "k");
    w_byte(&w, 0x01);
    sb_err_t err = {0};
    assert_int_equal(cass_mutation_decode(w.b, w.n, 12, &s, &m, &err), SB_ENOENT);
    assert_memory_equal(m.unknown_table, other, 16);

    w.n = 0;
    w_uvint(&w, 1);
    w_raw(&w, TABLE_ID, 16);
    w_vbytes(&w, "k");
    w_byte(&w, 0x00);
    w_uvint(&w, 0);
    w_uvint(&w, 0);
    w_uvint(&w, 0);
    w_uvint(&w, 1);
    w_vbytes(&w, "nosuch");
    assert_int_equal(cass_mutation_decode(w.b, w.n, 12, &s, &m, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "nosuch"));
    assert_int_equal(cass_mutation_decode(w.b, w.n, 9, &s, &m, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "version"));
    cass_mutation_deinit(&m);
    cass_schema_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rich_mutation),
        cmocka_unit_test(test_wide_table_subsets),
        cmocka_unit_test(test_unknown_table_and_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
