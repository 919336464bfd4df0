/* Fuzz driver for the Cassandra commit-log reader and mutation decoder.
 *
 * The first byte picks the mode. Even: the rest is a segment file, read whole and then again
 * in two steps (cut at a point the second byte picks) to exercise resumption; every entry is
 * decoded as a mutation. Odd: the rest (after a version byte) is one serialized mutation.
 * Nothing may read out of bounds; decoded slices must lie inside the input; the two-step read
 * must deliver no entry twice. The corpus is written by gen_commitlog_corpus.py from the real
 * segments in tests/data/cassandra-commitlog. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cassandra/commitlog.h"
#include "cassandra/mutation.h"

typedef struct fuzz_ctx {
    cass_schema_t schema;
    cass_mutation_t m;
    int version;
    uint64_t last;
} fuzz_ctx_t;

static void check_slice(sb_slice_t s, const uint8_t *lo, const uint8_t *hi)
{
    if (s.len <= 0) return;
    if (s.p < lo || s.p + s.len > hi) abort();
}

static void decode(fuzz_ctx_t *c, const uint8_t *p, size_t n)
{
    sb_err_t err;
    if (cass_mutation_decode(p, n, c->version, &c->schema, &c->m, &err) != 0) return;
    for (int i = 0; i < c->m.nupdates; i++) {
        check_slice(c->m.updates[i].key, p, p + n);
        sb_slice_t parts[4];
        if (c->m.updates[i].table->npk <= 4)
            (void)cass_partition_key_split(c->m.updates[i].table, c->m.updates[i].key, parts, &err);
    }
    for (int i = 0; i < c->m.ncells; i++) {
        check_slice(c->m.cells[i].value, p, p + n);
        check_slice(c->m.cells[i].path, p, p + n);
    }
    for (int i = 0; i < c->m.nclustering; i++) check_slice(c->m.clustering[i], p, p + n);
}

static int on_entry(void *ud, const cl_entry_t *e)
{
    fuzz_ctx_t *c = ud;
    /* Entries come in increasing positions, also across a resumed read. */
    if (e->position <= c->last) abort();
    c->last = e->position;
    decode(c, e->data, e->len);
    return 0;
}

static int keys(void *ud, const char *alias, uint8_t key[32], size_t *key_len)
{
    (void)ud;
    static const uint8_t k1[16] = {0xb7, 0xd9, 0x6f, 0xb9, 0xb1, 0x1d, 0x82, 0x91,
                                   0x79, 0xae, 0xeb, 0x0b, 0x4e, 0x81, 0xf9, 0x7a};
    if (strcmp(alias, "testing:1") != 0) return SB_ENOENT;
    memcpy(key, k1, 16);
    *key_len = 16;
    return 0;
}

static void add(cass_table_t *t, const char *name, const char *kind, int pos, const char *type)
{
    sb_err_t err;
    if (cass_table_add_column(t, name, kind, pos, type, "asc", &err) != 0) abort();
}

/* CommitLogUpgradeTest's Standard1 under the ids of the corpus segments, and a table with
 * statics, collections and a composite key. */
static void make_schema(cass_schema_t *s)
{
    static const char *const ids[] = {"657e5210-7cbb-11ee-9858-c9aa1eb53e69", "241bcee0-7cae-11ee-8a02-094014504250",
                                      "c5b59a80-b25b-11e6-b205-bb359f887ad3"};
    sb_err_t err;
    cass_table_t *t;
    cass_schema_init(s);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        uint8_t id[16];
        if (cass_uuid_parse(ids[i], id) != 0 || cass_schema_add_table(s, id, "Keyspace1", "Standard1", &t, &err) != 0)
            abort();
        add(t, "key", "partition_key", 0, "ascii");
        add(t, "col", "clustering", 0, "ascii");
        add(t, "val", "regular", -1, "blob");
        add(t, "val0", "regular", -1, "blob");
        if (cass_table_finish(t, &err) != 0) abort();
    }
    uint8_t id[16];
    for (int i = 0; i < 16; i++) id[i] = (uint8_t)(i + 1);
    if (cass_schema_add_table(s, id, "ks", "t", &t, &err) != 0) abort();
    add(t, "k1", "partition_key", 0, "text");
    add(t, "k2", "partition_key", 1, "int");
    add(t, "c", "clustering", 0, "int");
    add(t, "c2", "clustering", 1, "uuid");
    add(t, "s", "static", -1, "text");
    add(t, "a", "regular", -1, "int");
    add(t, "l", "regular", -1, "list<int>");
    add(t, "m", "regular", -1, "map<text, int>");
    if (cass_table_finish(t, &err) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    fuzz_ctx_t *c = calloc(1, sizeof(*c));
    if (!c) return 0;
    make_schema(&c->schema);
    cass_mutation_init(&c->m);
    if (data[0] & 1) {
        static const int versions[] = {10, 12, 13};
        c->version = versions[data[1] % 3];
        decode(c, data + 2, size - 2);
    } else {
        const uint8_t *seg = data + 2;
        size_t n = size - 2;
        cl_descriptor_t d;
        sb_err_t err;
        c->version = cl_descriptor_parse(seg, n, &d, &err) == 0 ? d.messaging_version : 12;
        cl_reader_t *r;
        if (cl_reader_new(&r, keys, NULL) == 0) {
            /* Inputs are small; a claimed section above 4 MiB only costs the fuzzer memory. */
            cl_reader_set_max_section(r, (size_t)4 << 20);
            cl_read_state_t st = {0};
            (void)cl_reader_read(r, seg, n, &st, on_entry, c, &err);
            /* again in two steps: a prefix, then all of it from the saved state */
            size_t cut = n * data[1] / 255;
            cl_read_state_t st2 = {0};
            c->last = 0;
            if (cl_reader_read(r, seg, cut, &st2, on_entry, c, &err) == 0)
                (void)cl_reader_read(r, seg, n, &st2, on_entry, c, &err);
            cl_reader_free(r);
        }
    }
    cass_mutation_deinit(&c->m);
    cass_schema_deinit(&c->schema);
    free(c);
    return 0;
}
