/* Commit-log reader and mutation decoder against real segments written by Cassandra
 * (tests/data/cassandra-commitlog, from apache/cassandra's test/data/legacy-commitlog; see the
 * README there). The acceptance test reproduces each folder's hash.txt exactly as Cassandra's
 * CommitLogUpgradeTest computes it; the other tests cut and damage those real segments to
 * check torn tails, unfinished segments, resumption and CRC handling. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cmocka.h>

#include "cassandra/commitlog.h"
#include "cassandra/mutation.h"

#ifndef SOURCE_DIR
#define SOURCE_DIR "."
#endif

static const char *data_dir(void)
{
    const char *d = getenv("STREAMBUS_SOURCE_DIR");
    static char buf[1024];
    if (d) {
        snprintf(buf, sizeof(buf), "%s/tests/data/cassandra-commitlog", d);
        return buf;
    }
    /* ctest runs unit tests from build/<preset>; the source tree is two levels up. */
    const char *candidates[] = {"tests/data/cassandra-commitlog", "../../tests/data/cassandra-commitlog",
                                "../tests/data/cassandra-commitlog", "../../../tests/data/cassandra-commitlog"};
    struct stat st;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (stat(candidates[i], &st) == 0) return candidates[i];
    return candidates[0];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* The AES key of alias "testing:1" in apache/cassandra's test/conf/cassandra.keystore (JCEKS,
 * password "cassandra"), read once with the JDK's KeyStore API; see the data README. */
static int test_keys(void *ud, const char *alias, uint8_t key[32], size_t *key_len)
{
    (void)ud;
    static const uint8_t k1[16] = {0xb7, 0xd9, 0x6f, 0xb9, 0xb1, 0x1d, 0x82, 0x91,
                                   0x79, 0xae, 0xeb, 0x0b, 0x4e, 0x81, 0xf9, 0x7a};
    if (strcmp(alias, "testing:1") != 0) return SB_ENOENT;
    memcpy(key, k1, 16);
    *key_len = 16;
    return 0;
}

/* CommitLogUpgradeTest's table: Keyspace1.Standard1 (key ascii, col ascii, val blob, val0 blob),
 * with the table id of the folder's hash.txt. */
static void upgrade_schema(cass_schema_t *s, const char *cfid)
{
    uint8_t id[16];
    assert_int_equal(cass_uuid_parse(cfid, id), 0);
    cass_table_t *t;
    sb_err_t err = {0};
    assert_int_equal(cass_schema_add_table(s, id, "Keyspace1", "Standard1", &t, &err), 0);
    assert_int_equal(cass_table_add_column(t, "key", "partition_key", 0, "ascii", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "col", "clustering", 0, "ascii", "asc", &err), 0);
    assert_int_equal(cass_table_add_column(t, "val", "regular", -1, "blob", "none", &err), 0);
    assert_int_equal(cass_table_add_column(t, "val0", "regular", -1, "blob", "none", &err), 0);
    assert_int_equal(cass_table_finish(t, &err), 0);
}

typedef struct hash_ctx {
    const cass_schema_t *schema;
    cass_mutation_t m;
    int messaging_version;
    int32_t hash;  /* CommitLogUpgradeTest.Hasher */
    int cells;
    int mutations;
    int unknown_table;
    int bad;
    uint64_t last_position;
    int stop_after;  /* stop the read after this many entries (0: never) */
} hash_ctx_t;

/* CommitLogUpgradeTest.hash: each byte added at shift 0, 8, 16, 24, 0, ... (Java int, wraps). */
static uint32_t upgrade_hash(uint32_t h, sb_slice_t v)
{
    int shift = 0;
    for (int32_t i = 0; i < v.len; i++) {
        h += (uint32_t)v.p[i] << shift;
        shift = (shift + 8) & 0x1F;
    }
    return h;
}

static int on_entry(void *ud, const cl_entry_t *e)
{
    hash_ctx_t *h = ud;
    sb_err_t err = {0};
    assert_true(e->position > h->last_position);
    h->last_position = e->position;
    int rc = cass_mutation_decode(e->data, e->len, h->messaging_version, h->schema, &h->m, &err);
    if (rc == SB_ENOENT) {
        h->unknown_table++;
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "mutation at %llu: %s\n", (unsigned long long)e->position, err.msg);
        h->bad++;
        return 0;
    }
    h->mutations++;
    /* Hasher.apply: rows whose first clustering value starts with "name"; every cell's value. */
    for (int u = 0; u < h->m.nupdates; u++) {
        const cass_partition_update_t *pu = &h->m.updates[u];
        for (int r = pu->first_row; r < pu->first_row + pu->nrows; r++) {
            const cass_row_t *row = &h->m.rows[r];
            if (row->kind != CASS_ROW || row->nclustering == 0) continue;
            sb_slice_t ck = h->m.clustering[row->first_clustering];
            if (ck.len < 4 || memcmp(ck.p, "name", 4) != 0) continue;
            for (int c = row->first_cell; c < row->first_cell + row->ncells; c++) {
                h->hash = (int32_t)upgrade_hash((uint32_t)h->hash, h->m.cells[c].value);
                h->cells++;
            }
        }
    }
    if (h->stop_after && h->mutations + h->unknown_table >= h->stop_after) return 1;
    return 0;
}

typedef struct expected {
    int cells;
    int32_t hash;
    char cfid[64];
} expected_t;

static void read_hash_txt(const char *dir, expected_t *ex)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/hash.txt", dir);
    size_t len;
    char *txt = (char *)slurp(path, &len);
    assert_non_null(txt);
    txt = realloc(txt, len + 1);
    txt[len] = '\0';
    memset(ex, 0, sizeof(*ex));
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "cells=", 6) == 0) ex->cells = atoi(line + 6);
        else if (strncmp(line, "hash=", 5) == 0) ex->hash = (int32_t)strtol(line + 5, NULL, 10);
        else if (strncmp(line, "cfid=", 5) == 0) snprintf(ex->cfid, sizeof(ex->cfid), "%s", line + 5);
    }
    free(txt);
    assert_true(ex->cells > 0);
    assert_true(ex->cfid[0] != '\0');
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .log files of a folder, sorted by name (ids have the same number of digits). */
static int list_logs(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".log") != 0) continue;
        names = realloc(names, (size_t)(n + 1) * sizeof(*names));
        names[n] = malloc(strlen(dir) + l + 2);
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void check_folder(const char *folder, int expect_version, bool expect_encrypted)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/%s", data_dir(), folder);
    expected_t ex;
    read_hash_txt(dir, &ex);
    cass_schema_t schema;
    cass_schema_init(&schema);
    upgrade_schema(&schema, ex.cfid);
    hash_ctx_t h = {.schema = &schema};
    cass_mutation_init(&h.m);
    char **logs;
    int nlogs = list_logs(dir, &logs);
    assert_true(nlogs > 0);
    cl_reader_t *r;
    assert_int_equal(cl_reader_new(&r, test_keys, NULL), 0);
    for (int i = 0; i < nlogs; i++) {
        size_t len;
        uint8_t *buf = slurp(logs[i], &len);
        assert_non_null(buf);
        cl_read_state_t st = {0};
        sb_err_t err = {0};
        h.last_position = 0;
        cl_descriptor_t pre;
        assert_int_equal(cl_descriptor_parse(buf, len, &pre, &err), 0);
        h.messaging_version = pre.messaging_version;
        int rc = cl_reader_read(r, buf, len, &st, on_entry, &h, &err);
        if (rc != 0) fail_msg("%s: %s", logs[i], err.msg);
        const cl_descriptor_t *d = cl_reader_descriptor(r);
        assert_int_equal(d->version, expect_version);
        assert_int_equal(d->encrypted, expect_encrypted);
        /* A finished segment ends at a zero sync marker or at the file's end. */
        if (st.stop != CL_STOP_END && st.stop != CL_STOP_NEED_MORE)
            fail_msg("%s stopped with %d: %s", logs[i], st.stop, st.detail);
        assert_int_equal(st.bad_entries, 0);
        free(buf);
    }
    fprintf(stderr, "%s: %d mutations of Standard1, %d of other tables, %d cells, hash %d (expected %d cells, %d)\n",
            folder, h.mutations, h.unknown_table, h.cells, h.hash, ex.cells, ex.hash);
    assert_int_equal(h.bad, 0);
    assert_int_equal(h.cells, ex.cells);
    assert_int_equal(h.hash, ex.hash);
    cl_reader_free(r);
    free_list(logs, nlogs);
    cass_mutation_deinit(&h.m);
    cass_schema_deinit(&schema);
}

static void test_real_3_0_13(void **state)
{
    (void)state;
    check_folder("3.0.13-encrypted", CL_VERSION_30, false);
}
static void test_real_3_0_29(void **state)
{
    (void)state;
    check_folder("3.0.29-encrypted", CL_VERSION_30, false);
}
static void test_real_3_4_encrypted(void **state)
{
    (void)state;
    check_folder("3.4-encrypted", CL_VERSION_30, true);
}
static void test_real_4_0_11(void **state)
{
    (void)state;
    check_folder("4.0.11-encrypted", CL_VERSION_40, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_3_0_13),
        cmocka_unit_test(test_real_3_0_29),
        cmocka_unit_test(test_real_3_4_encrypted),
        cmocka_unit_test(test_real_4_0_11),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
