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
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>
#include <openssl/evp.h>

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


/* System tables that appear in the real segments, as Cassandra 3.0 and 4.0 define them
 * (SystemKeyspace / SchemaKeyspace). Their mutations carry sets, maps, frozen collections,
 * composite partition keys, multi-column clusterings and compact-storage rows, which the
 * Standard1 writes of the upgrade test do not. A table is given as its partition key columns,
 * clustering columns and "name type" list, like its CREATE TABLE. */
static void add_table(cass_schema_t *s, const char *ks, const char *name, const char *pk, const char *ck,
                      const char *cols)
{
    /* TableId.forSystemTable: a name-based (MD5, version 3) UUID of keyspace + table name. */
    uint8_t id[16];
    char both[128];
    snprintf(both, sizeof(both), "%s%s", ks, name);
    unsigned int n = 0;
    EVP_Digest(both, strlen(both), id, &n, EVP_md5(), NULL);
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x30);
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
    cass_table_t *t;
    sb_err_t err = {0};
    assert_int_equal(cass_schema_add_table(s, id, ks, name, &t, &err), 0);
    char *copy = strdup(cols), *save = NULL;
    for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        while (*c == ' ') c++;
        char *sp = strchr(c, ' ');
        assert_non_null(sp);
        *sp = '\0';
        char type[128];
        snprintf(type, sizeof(type), "%s", sp + 1);
        for (char *q = type; *q; q++)
            if (*q == ';') *q = ',';
        const char *kind = "regular";
        int pos = -1;
        char key[512];
        for (int which = 0; which < 2 && pos < 0; which++) {
            snprintf(key, sizeof(key), "%s", which == 0 ? pk : ck);
            int i = 0;
            char *ks_save = NULL;
            for (char *k = strtok_r(key, " ", &ks_save); k; k = strtok_r(NULL, " ", &ks_save), i++)
                if (strcmp(k, c) == 0) {
                    pos = i;
                    kind = which == 0 ? "partition_key" : "clustering";
                }
        }
        if (cass_table_add_column(t, c, kind, pos, type, "asc", &err) != 0) fail_msg("%s", err.msg);
    }
    free(copy);
    if (cass_table_finish(t, &err) != 0) fail_msg("%s", err.msg);
}

/* Types inside a column list use ';' for ',' so the list can be split on ','. */
static void system_schema(cass_schema_t *s, bool v40)
{
    static const char *const table_options =
        "bloom_filter_fp_chance double, caching frozen<map<text; text>>, comment text, "
        "compaction frozen<map<text; text>>, compression frozen<map<text; text>>, crc_check_chance double, "
        "dclocal_read_repair_chance double, default_time_to_live int, extensions frozen<map<text; blob>>, "
        "gc_grace_seconds int, id uuid, max_index_interval int, memtable_flush_period_in_ms int, "
        "min_index_interval int, read_repair_chance double, speculative_retry text";
    char buf[2048];
    if (v40)
        add_table(s, "system", "local", "key", "",
                  "key text, bootstrapped text, broadcast_address inet, broadcast_port int, cluster_name text, "
                  "cql_version text, data_center text, gossip_generation int, host_id uuid, listen_address inet, "
                  "listen_port int, native_protocol_version text, partitioner text, rack text, "
                  "release_version text, rpc_address inet, rpc_port int, schema_version uuid, "
                  "tokens set<text>, truncated_at map<uuid; blob>");
    else
        add_table(s, "system", "local", "key", "",
                  "key text, bootstrapped text, broadcast_address inet, cluster_name text, cql_version text, "
                  "data_center text, gossip_generation int, host_id uuid, listen_address inet, "
                  "native_protocol_version text, partitioner text, rack text, release_version text, "
                  "rpc_address inet, schema_version uuid, thrift_version text, tokens set<text>, "
                  "truncated_at map<uuid; blob>");
    add_table(s, "system", "compaction_history", "id", "",
              "id uuid, bytes_in bigint, bytes_out bigint, columnfamily_name text, compacted_at timestamp, "
              "keyspace_name text, rows_merged map<int; bigint>");
    add_table(s, "system", "sstable_activity", "keyspace_name columnfamily_name generation", "",
              "keyspace_name text, columnfamily_name text, generation int, rate_120m double, rate_15m double");
    /* 3.0 declares IndexInfo WITH COMPACT STORAGE and no value column; Cassandra adds a hidden
     * regular column "value" of EmptyType. 4.0 declares it as a blob. */
    add_table(s, "system", "IndexInfo", "table_name", "index_name",
              v40 ? "table_name text, index_name text, value blob" : "table_name text, index_name text, value empty");
    add_table(s, "system_schema", "keyspaces", "keyspace_name", "",
              "keyspace_name text, durable_writes boolean, replication frozen<map<text; text>>");
    snprintf(buf, sizeof(buf), "keyspace_name text, table_name text, flags frozen<set<text>>, %s%s", table_options,
             v40 ? ", additional_write_policy text, cdc boolean, read_repair text" : "");
    add_table(s, "system_schema", "tables", "keyspace_name", "table_name", buf);
    add_table(s, "system_schema", "columns", "keyspace_name", "table_name column_name",
              "keyspace_name text, table_name text, column_name text, clustering_order text, "
              "column_name_bytes blob, kind text, position int, type text");
    add_table(s, "system_schema", "dropped_columns", "keyspace_name", "table_name column_name",
              v40 ? "keyspace_name text, table_name text, column_name text, dropped_time timestamp, kind text, type text"
                  : "keyspace_name text, table_name text, column_name text, dropped_time timestamp, type text");
    add_table(s, "system_schema", "triggers", "keyspace_name", "table_name trigger_name",
              "keyspace_name text, table_name text, trigger_name text, options frozen<map<text; text>>");
    snprintf(buf, sizeof(buf),
             "keyspace_name text, view_name text, base_table_id uuid, base_table_name text, where_clause text, "
             "include_all_columns boolean, %s%s",
             table_options, v40 ? ", additional_write_policy text, cdc boolean, read_repair text" : "");
    add_table(s, "system_schema", "views", "keyspace_name", "view_name", buf);
    add_table(s, "system_schema", "indexes", "keyspace_name", "table_name index_name",
              "keyspace_name text, table_name text, index_name text, kind text, options frozen<map<text; text>>");
    add_table(s, "system_schema", "types", "keyspace_name", "type_name",
              "keyspace_name text, type_name text, field_names frozen<list<text>>, field_types frozen<list<text>>");
    add_table(s, "system_schema", "functions", "keyspace_name", "function_name argument_types",
              "keyspace_name text, function_name text, argument_types frozen<list<text>>, "
              "argument_names frozen<list<text>>, body text, language text, return_type text, "
              "called_on_null_input boolean");
    add_table(s, "system_schema", "aggregates", "keyspace_name", "aggregate_name argument_types",
              "keyspace_name text, aggregate_name text, argument_types frozen<list<text>>, final_func text, "
              "initcond text, return_type text, state_func text, state_type text");
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
    /* What the decoded data held, to know which features the real segments exercise. */
    int partition_deletions, row_deletions, range_markers, complex_deletions, complex_cells, tombstones,
        expiring, static_rows, row_liveness;
    int composite_keys;         /* system.sstable_activity keys split into 3 parts, first a keyspace name */
    int local_tokens;           /* elements of system.local.tokens (a set<text>) */
    char cluster_name[64];      /* system.local.cluster_name */
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

static void count_features(hash_ctx_t *h)
{
    for (int u = 0; u < h->m.nupdates; u++) {
        const cass_partition_update_t *pu = &h->m.updates[u];
        if (pu->partition_deletion.marked_for_delete_at != CASS_LIVE_TIMESTAMP) h->partition_deletions++;
        bool local = strcmp(pu->table->name, "local") == 0;
        if (strcmp(pu->table->name, "sstable_activity") == 0) {
            sb_slice_t parts[3];
            sb_err_t err = {0};
            assert_int_equal(cass_partition_key_split(pu->table, pu->key, parts, &err), 0);
            assert_int_equal(parts[2].len, 4); /* generation int */
            if ((parts[0].len == 6 && memcmp(parts[0].p, "system", 6) == 0) ||
                (parts[0].len == 9 && memcmp(parts[0].p, "Keyspace1", 9) == 0) ||
                (parts[0].len == 13 && memcmp(parts[0].p, "system_schema", 13) == 0))
                h->composite_keys++;
        }
        for (int r = pu->first_row; r < pu->first_row + pu->nrows; r++) {
            const cass_row_t *row = &h->m.rows[r];
            if (row->kind == CASS_RANGE_TOMBSTONE_MARKER) h->range_markers++;
            if (row->kind == CASS_STATIC_ROW) h->static_rows++;
            if (row->kind != CASS_RANGE_TOMBSTONE_MARKER && row->deletion.marked_for_delete_at != CASS_LIVE_TIMESTAMP)
                h->row_deletions++;
            if (row->kind == CASS_ROW && row->timestamp != CASS_LIVE_TIMESTAMP) h->row_liveness++;
            h->complex_deletions += row->ncomplex_deletions;
            for (int c = row->first_cell; c < row->first_cell + row->ncells; c++) {
                const cass_cell_t *cell = &h->m.cells[c];
                const cass_column_t *col = &pu->table->cols[cell->column];
                if (cell->path.len >= 0) h->complex_cells++;
                if (cell->tombstone) h->tombstones++;
                if (cell->expiring) h->expiring++;
                if (local && strcmp(col->name, "tokens") == 0 && !cell->tombstone) h->local_tokens++;
                if (local && strcmp(col->name, "cluster_name") == 0)
                    snprintf(h->cluster_name, sizeof(h->cluster_name), "%.*s", (int)cell->value.len,
                             (const char *)cell->value.p);
            }
        }
    }
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
    count_features(h);
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

static void check_folder(const char *folder, int expect_version, bool expect_encrypted, bool with_system,
                         hash_ctx_t *out)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/%s", data_dir(), folder);
    expected_t ex;
    read_hash_txt(dir, &ex);
    cass_schema_t schema;
    cass_schema_init(&schema);
    upgrade_schema(&schema, ex.cfid);
    if (with_system) system_schema(&schema, expect_version == CL_VERSION_40);
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
    fprintf(stderr, "%s: %d mutations decoded, %d of unknown tables, %d cells, hash %d (expected %d cells, %d)\n",
            folder, h.mutations, h.unknown_table, h.cells, h.hash, ex.cells, ex.hash);
    fprintf(stderr, "  partition deletions %d, row deletions %d, range markers %d, complex deletions %d, "
            "complex cells %d, tombstone cells %d, expiring cells %d, static rows %d, rows with liveness %d, "
            "local.tokens %d, cluster_name '%s'\n",
            h.partition_deletions, h.row_deletions, h.range_markers, h.complex_deletions, h.complex_cells,
            h.tombstones, h.expiring, h.static_rows, h.row_liveness, h.local_tokens, h.cluster_name);
    assert_int_equal(h.bad, 0);
    /* With the system tables known, every mutation of the segments decodes completely. */
    if (with_system) assert_int_equal(h.unknown_table, 0);
    assert_int_equal(h.cells, ex.cells);
    assert_int_equal(h.hash, ex.hash);
    cl_reader_free(r);
    free_list(logs, nlogs);
    cass_mutation_deinit(&h.m);
    if (out) *out = h;
    cass_schema_deinit(&schema);
}

static void test_real_3_0_13(void **state)
{
    (void)state;
    check_folder("3.0.13-encrypted", CL_VERSION_30, false, false, NULL);
}
static void test_real_3_0_13_all_tables(void **state)
{
    (void)state;
    hash_ctx_t h;
    check_folder("3.0.13-encrypted", CL_VERSION_30, false, true, &h);
    /* system.compaction_history rows: rows_merged is a map<int, bigint> written with a
     * complex deletion, and the table's default TTL makes its cells expiring. These counts come
     * from our own decoding (no upstream expectation exists); the upstream-verified part is that
     * every byte of every mutation parses. */
    assert_int_equal(h.complex_cells, 11);
    assert_int_equal(h.complex_deletions, 10);
    assert_int_equal(h.expiring, 61);
    assert_int_equal(h.partition_deletions, 40);
    assert_true(h.composite_keys > 0);
}
static void test_real_3_0_29(void **state)
{
    (void)state;
    check_folder("3.0.29-encrypted", CL_VERSION_30, false, false, NULL);
}
static void test_real_3_0_29_all_tables(void **state)
{
    (void)state;
    hash_ctx_t h;
    check_folder("3.0.29-encrypted", CL_VERSION_30, false, true, &h);
    assert_int_equal(h.complex_cells, 12);
    assert_int_equal(h.complex_deletions, 11);
}
static void test_real_3_4_encrypted(void **state)
{
    (void)state;
    check_folder("3.4-encrypted", CL_VERSION_30, true, false, NULL);
}
static void test_real_3_4_encrypted_all_tables(void **state)
{
    (void)state;
    check_folder("3.4-encrypted", CL_VERSION_30, true, true, NULL);
}
static void test_real_4_0_11(void **state)
{
    (void)state;
    check_folder("4.0.11-encrypted", CL_VERSION_40, false, false, NULL);
}
static void test_real_4_0_11_all_tables(void **state)
{
    (void)state;
    hash_ctx_t h;
    check_folder("4.0.11-encrypted", CL_VERSION_40, false, true, &h);
    /* cluster_name of apache/cassandra's test/conf/cassandra.yaml */
    assert_string_equal(h.cluster_name, "Test Cluster");
}


/* ----- cut and damaged real segments ----- */

typedef struct seg {
    uint8_t *buf;
    size_t len;
    cass_schema_t schema;
    int messaging_version;
} seg_t;

static void load_segment(seg_t *sg, const char *folder, const char *file)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), folder, file);
    sg->buf = slurp(path, &sg->len);
    assert_non_null(sg->buf);
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/%s", data_dir(), folder);
    expected_t ex;
    read_hash_txt(dir, &ex);
    cass_schema_init(&sg->schema);
    upgrade_schema(&sg->schema, ex.cfid);
    cl_descriptor_t d;
    sb_err_t err = {0};
    assert_int_equal(cl_descriptor_parse(sg->buf, sg->len, &d, &err), 0);
    sg->messaging_version = d.messaging_version;
}

static void free_segment(seg_t *sg)
{
    free(sg->buf);
    cass_schema_deinit(&sg->schema);
}

/* Reads buf[0..len) from state st into h; returns the stop reason. */
static cl_stop_t read_into(seg_t *sg, const uint8_t *buf, size_t len, cl_read_state_t *st, hash_ctx_t *h)
{
    cl_reader_t *r;
    assert_int_equal(cl_reader_new(&r, test_keys, NULL), 0);
    h->schema = &sg->schema;
    h->messaging_version = sg->messaging_version;
    h->last_position = st->delivered;
    sb_err_t err = {0};
    int rc = cl_reader_read(r, buf, len, st, on_entry, h, &err);
    if (rc != 0) fail_msg("read: %s", err.msg);
    cl_reader_free(r);
    return st->stop;
}

/* Sync-marker offsets of a plain segment, found by following the markers' end pointers
 * (independently of the reader), up to the zero marker. */
static int section_offsets(seg_t *sg, uint64_t *offs, int max)
{
    cl_descriptor_t d;
    sb_err_t err = {0};
    assert_int_equal(cl_descriptor_parse(sg->buf, sg->len, &d, &err), 0);
    uint64_t off = d.header_len;
    int n = 0;
    while (off + 8 <= sg->len && n < max) {
        const uint8_t *p = sg->buf + off;
        uint32_t end = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (end == 0) break;
        offs[n++] = off;
        off = end;
    }
    if (n < max) offs[n] = off; /* the end of the last section */
    return n;
}

/* An unfinished segment: Cassandra's _cdc.idx offset grows section by section. Reading up to
 * each offset in turn, resuming from the saved state, must deliver every entry exactly once
 * and end with the same hash as reading the whole file. */
static void test_unfinished_segment_read_incrementally(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "3.0.29-encrypted", "CommitLog-6-1699279786262.log");
    hash_ctx_t whole = {0};
    cass_mutation_init(&whole.m);
    cl_read_state_t st = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &whole), CL_STOP_END);

    uint64_t offs[4096];
    int n = section_offsets(&sg, offs, 4096);
    assert_true(n > 3);

    hash_ctx_t inc = {0};
    cass_mutation_init(&inc.m);
    cl_read_state_t ist = {0};
    for (int i = 1; i <= n; i++) {
        /* A synced offset at a section boundary: the section before it is complete. */
        cl_stop_t stop = read_into(&sg, sg.buf, (size_t)offs[i], &ist, &inc);
        assert_int_equal(stop, CL_STOP_NEED_MORE);
        assert_int_equal(ist.next_section, offs[i]);
    }
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &ist, &inc), CL_STOP_END);
    assert_int_equal(inc.cells, whole.cells);
    assert_int_equal(inc.hash, whole.hash);
    assert_int_equal(inc.mutations + inc.unknown_table, whole.mutations + whole.unknown_table);
    cass_mutation_deinit(&whole.m);
    cass_mutation_deinit(&inc.m);
    free_segment(&sg);
}

/* A file cut in the middle of a section (bytes not yet synced): everything of the complete
 * sections is delivered, the reader waits at the cut section, and once the rest arrives the
 * remaining entries follow without a duplicate. */
static void test_torn_tail_then_resume(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "3.0.29-encrypted", "CommitLog-6-1699279786262.log");
    uint64_t offs[4096];
    int n = section_offsets(&sg, offs, 4096);
    assert_true(n > 3);
    hash_ctx_t whole = {0};
    cass_mutation_init(&whole.m);
    cl_read_state_t wst = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &wst, &whole), CL_STOP_END);

    for (int k = 1; k < n; k++) {
        size_t cut = (size_t)(offs[k] + (offs[k + 1] - offs[k]) / 2);
        uint8_t *part = malloc(cut);
        memcpy(part, sg.buf, cut);
        hash_ctx_t h = {0};
        cass_mutation_init(&h.m);
        cl_read_state_t st = {0};
        assert_int_equal(read_into(&sg, part, cut, &st, &h), CL_STOP_NEED_MORE);
        assert_int_equal(st.next_section, offs[k]);
        int first = h.mutations + h.unknown_table;
        assert_true(first < whole.mutations + whole.unknown_table);
        /* resume over the whole file */
        assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &h), CL_STOP_END);
        assert_int_equal(h.mutations + h.unknown_table, whole.mutations + whole.unknown_table);
        assert_int_equal(h.hash, whole.hash);
        cass_mutation_deinit(&h.m);
        free(part);
    }
    cass_mutation_deinit(&whole.m);
    free_segment(&sg);
}

/* A torn write: garbage where a sync marker should be. The reader stops there with TORN and
 * the offset of the damaged marker; what came before was delivered. */
static void test_garbage_sync_marker_stops_torn(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "3.0.29-encrypted", "CommitLog-6-1699279786262.log");
    uint64_t offs[4096];
    int n = section_offsets(&sg, offs, 4096);
    assert_true(n > 3);
    uint64_t bad = offs[n / 2];
    sg.buf[bad + 5] ^= 0x5a;
    hash_ctx_t h = {0};
    cass_mutation_init(&h.m);
    cl_read_state_t st = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &h), CL_STOP_TORN);
    assert_int_equal(st.next_section, bad);
    assert_non_null(strstr(st.detail, "sync marker"));
    assert_int_equal(st.sections, (uint64_t)(n / 2));
    cass_mutation_deinit(&h.m);
    free_segment(&sg);
}

/* A flipped byte inside a mutation: Cassandra skips that entry (its CRC fails) and reads on. */
static void test_bad_entry_crc_skips_one_entry(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "4.0.11-encrypted", "CommitLog-7-1699285478684.log");
    hash_ctx_t whole = {0};
    cass_mutation_init(&whole.m);
    cl_read_state_t wst = {0};
    read_into(&sg, sg.buf, sg.len, &wst, &whole);
    uint64_t offs[4096];
    int n = section_offsets(&sg, offs, 4096);
    /* The first entry of a middle section starts 8 bytes after its marker; its body 8 later. */
    uint64_t body = offs[n / 2] + 8 + 8 + 20;
    sg.buf[body] ^= 0x01;
    hash_ctx_t h = {0};
    cass_mutation_init(&h.m);
    cl_read_state_t st = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &h), CL_STOP_END);
    assert_int_equal(st.bad_entries, 1);
    assert_int_equal(h.mutations + h.unknown_table + 1, whole.mutations + whole.unknown_table);
    cass_mutation_deinit(&h.m);
    cass_mutation_deinit(&whole.m);
    free_segment(&sg);
}

/* A damaged entry size (its CRC fails): the rest of that section cannot be framed, so the
 * reader stops there, as Cassandra does. */
static void test_bad_entry_size_stops_torn(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "4.0.11-encrypted", "CommitLog-7-1699285478684.log");
    uint64_t offs[4096];
    int n = section_offsets(&sg, offs, 4096);
    sg.buf[offs[n / 2] + 8 + 2] ^= 0x10;
    hash_ctx_t h = {0};
    cass_mutation_init(&h.m);
    cl_read_state_t st = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &h), CL_STOP_TORN);
    assert_int_equal(st.next_section, offs[n / 2]);
    assert_non_null(strstr(st.detail, "size"));
    cass_mutation_deinit(&h.m);
    free_segment(&sg);
}

/* The header alone, or less: nothing to read yet; a damaged header is an error naming the CRC. */
static void test_header_only_and_bad_header(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "3.0.13-encrypted", "CommitLog-6-1699284515157.log");
    hash_ctx_t h = {0};
    cass_mutation_init(&h.m);
    cl_read_state_t st = {0};
    /* this second segment of 3.0.13 holds one empty section and then zeros */
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &st, &h), CL_STOP_END);
    assert_int_equal(h.mutations + h.unknown_table, 0);
    cl_read_state_t st2 = {0};
    assert_int_equal(read_into(&sg, sg.buf, 10, &st2, &h), CL_STOP_NEED_MORE);

    sg.buf[9] ^= 1; /* inside the segment id */
    cl_reader_t *r;
    assert_int_equal(cl_reader_new(&r, NULL, NULL), 0);
    cl_read_state_t st3 = {0};
    sb_err_t err = {0};
    assert_int_equal(cl_reader_read(r, sg.buf, sg.len, &st3, NULL, NULL, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "CRC"));
    cl_reader_free(r);
    cass_mutation_deinit(&h.m);
    free_segment(&sg);
}

/* An encrypted segment without its key is refused with the alias named. */
static void test_encrypted_without_key(void **state)
{
    (void)state;
    seg_t sg;
    load_segment(&sg, "3.4-encrypted", "CommitLog-6-1480001790339.log");
    cl_reader_t *r;
    assert_int_equal(cl_reader_new(&r, NULL, NULL), 0);
    cl_read_state_t st = {0};
    sb_err_t err = {0};
    assert_int_equal(cl_reader_read(r, sg.buf, sg.len, &st, NULL, NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "testing:1"));
    cl_reader_free(r);
    free_segment(&sg);
}

static void test_cdc_index(void **state)
{
    (void)state;
    uint64_t off;
    bool done;
    assert_int_equal(cl_cdc_index_parse("1234", 4, &off, &done), 0);
    assert_int_equal(off, 1234);
    assert_false(done);
    assert_int_equal(cl_cdc_index_parse("99\nCOMPLETED", 12, &off, &done), 0);
    assert_int_equal(off, 99);
    assert_true(done);
    assert_int_equal(cl_cdc_index_parse("", 0, &off, &done), SB_EINVAL);
    assert_int_equal(cl_cdc_index_parse("12\nDONE", 7, &off, &done), SB_EINVAL);
    assert_int_equal(cl_cdc_index_parse("x", 1, &off, &done), SB_EINVAL);
}

static void test_type_info(void **state)
{
    (void)state;
    bool cx;
    int fl;
    assert_int_equal(cass_type_info("int", &cx, &fl), 0);
    assert_false(cx);
    assert_int_equal(fl, 4);
    assert_int_equal(cass_type_info("text", &cx, &fl), 0);
    assert_int_equal(fl, -1);
    /* smallint and date are length-prefixed in Cassandra, despite their fixed size */
    assert_int_equal(cass_type_info("smallint", &cx, &fl), 0);
    assert_int_equal(fl, -1);
    assert_int_equal(cass_type_info("date", &cx, &fl), 0);
    assert_int_equal(fl, -1);
    assert_int_equal(cass_type_info("list<int>", &cx, &fl), 0);
    assert_true(cx);
    assert_int_equal(cass_type_info("frozen<map<text, int>>", &cx, &fl), 0);
    assert_false(cx);
    assert_int_equal(fl, -1);
    assert_int_equal(cass_type_info("my_udt", &cx, &fl), 0);
    assert_true(cx);
    assert_int_equal(cass_type_info("frozen<my_udt>", &cx, &fl), 0);
    assert_false(cx);
    assert_int_equal(cass_type_info("tuple<int, text>", &cx, &fl), 0);
    assert_false(cx);
    assert_int_equal(cass_type_info("vector<float, 3>", &cx, &fl), 0);
    assert_int_equal(fl, 12);
    assert_int_equal(cass_type_info("list<int", &cx, &fl), SB_EINVAL);
    char kind, elem[64], value[64];
    assert_int_equal(cass_type_collection("map<text, frozen<list<int>>>", &kind, elem, 64, value, 64), 0);
    assert_int_equal(kind, 'm');
    assert_string_equal(elem, "text");
    assert_string_equal(value, "frozen<list<int>>");
    assert_int_equal(cass_type_collection(" set<uuid> ", &kind, elem, 64, value, 64), 0);
    assert_int_equal(kind, 's');
    assert_string_equal(elem, "uuid");
    assert_int_equal(cass_type_collection("list<map<int, int>>", &kind, elem, 64, value, 64), 0);
    assert_string_equal(elem, "map<int, int>");
    assert_int_equal(cass_type_collection("map<int>", &kind, elem, 64, value, 64), SB_EINVAL);
    assert_int_equal(cass_type_collection("frozen<set<int>>", &kind, elem, 64, value, 64), SB_EINVAL);
    assert_int_equal(cass_type_collection("list<int>>", &kind, elem, 64, value, 64), SB_EINVAL);
    assert_int_equal(cass_type_info("", &cx, &fl), SB_EINVAL);
}

/* ----- compressed segments -----
 * No real compressed 3.0+ segment exists in apache/cassandra's test data (its 2.2 LZ4/Snappy
 * segments are the pre-3.0 format that Cassandra 4 refuses too). So these tests re-pack the
 * real mutations of the 3.0.29 segment the way CompressedSegment.write does: per sync
 * section, the marker (CRC over segment id and the marker's file position), the uncompressed
 * length, then the compressor's output. They check the framing and the four codecs' use, but
 * they share our reading of CompressedSegment; the docs say so. */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc_ints(uint32_t crc, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    return (uint32_t)crc32(crc, b, 4);
}

static size_t compress_with(cl_compression_t c, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    switch (c) {
    case CL_COMPRESSION_LZ4: {
        out[0] = (uint8_t)n;
        out[1] = (uint8_t)(n >> 8);
        out[2] = (uint8_t)(n >> 16);
        out[3] = (uint8_t)(n >> 24);
        int k = LZ4_compress_default((const char *)in, (char *)out + 4, (int)n, (int)cap - 4);
        assert_true(k > 0 || n == 0);
        return (size_t)k + 4;
    }
    case CL_COMPRESSION_SNAPPY: {
        size_t k = cap;
        assert_int_equal(snappy_compress((const char *)in, n, (char *)out, &k), SNAPPY_OK);
        return k;
    }
    case CL_COMPRESSION_DEFLATE: {
        uLongf k = (uLongf)cap;
        assert_int_equal(compress2(out, &k, in, (uLong)n, Z_DEFAULT_COMPRESSION), Z_OK);
        return (size_t)k;
    }
    case CL_COMPRESSION_ZSTD: {
        size_t k = ZSTD_compress(out, cap, in, n, 3);
        assert_false(ZSTD_isError(k));
        return k;
    }
    default: fail(); return 0;
    }
}

/* Builds a compressed segment from a plain one; returns its length in *len. */
static uint8_t *repack_compressed(const seg_t *sg, cl_compression_t c, size_t *len)
{
    static const char *const classes[] = {"", "org.apache.cassandra.io.compress.LZ4Compressor", "SnappyCompressor",
                                          "org.apache.cassandra.io.compress.DeflateCompressor",
                                          "org.apache.cassandra.io.compress.ZstdCompressor"};
    cl_descriptor_t d;
    sb_err_t err = {0};
    assert_int_equal(cl_descriptor_parse(sg->buf, sg->len, &d, &err), 0);
    size_t cap = sg->len * 2 + 4096;
    uint8_t *out = calloc(1, cap);
    char params[256];
    int plen = snprintf(params, sizeof(params), "{\"compressionClass\":\"%s\",\"compressionParameters\":{}}",
                        classes[c]);
    put_be32(out, (uint32_t)d.version);
    memcpy(out + 4, sg->buf + 4, 8); /* the id */
    out[12] = (uint8_t)(plen >> 8);
    out[13] = (uint8_t)plen;
    memcpy(out + 14, params, (size_t)plen);
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    crc = crc_ints(crc, (uint32_t)d.version);
    crc = crc_ints(crc, (uint32_t)((uint64_t)d.id & 0xFFFFFFFFu));
    crc = crc_ints(crc, (uint32_t)((uint64_t)d.id >> 32));
    crc = crc_ints(crc, (uint32_t)plen);
    crc = (uint32_t)crc32(crc, (const uint8_t *)params, (uInt)plen);
    put_be32(out + 14 + plen, crc);
    size_t w = 14 + (size_t)plen + 4;

    seg_t copy = *sg;
    uint64_t offs[4096];
    int n = section_offsets(&copy, offs, 4095);
    for (int i = 0; i < n; i++) {
        const uint8_t *data = sg->buf + offs[i] + 8;
        size_t dlen = (size_t)(offs[i + 1] - offs[i] - 8);
        size_t k = compress_with(c, data, dlen, out + w + 12, cap - w - 12);
        uint32_t next = (uint32_t)(w + 12 + k);
        put_be32(out + w, next);
        uint32_t mc = (uint32_t)crc32(0, NULL, 0);
        mc = crc_ints(mc, (uint32_t)((uint64_t)d.id & 0xFFFFFFFFu));
        mc = crc_ints(mc, (uint32_t)((uint64_t)d.id >> 32));
        mc = crc_ints(mc, (uint32_t)w);
        put_be32(out + w + 4, mc);
        put_be32(out + w + 8, (uint32_t)dlen);
        w = next;
    }
    /* Closing a segment writes a last, empty section (CompressedSegment.write with length 0). */
    {
        size_t k = compress_with(c, (const uint8_t *)"", 0, out + w + 12, cap - w - 12);
        uint32_t next = (uint32_t)(w + 12 + k);
        put_be32(out + w, next);
        uint32_t mc = (uint32_t)crc32(0, NULL, 0);
        mc = crc_ints(mc, (uint32_t)((uint64_t)d.id & 0xFFFFFFFFu));
        mc = crc_ints(mc, (uint32_t)((uint64_t)d.id >> 32));
        mc = crc_ints(mc, (uint32_t)w);
        put_be32(out + w + 4, mc);
        put_be32(out + w + 8, 0);
        w = next;
    }
    *len = w + 64; /* a zeroed tail, as a preallocated file has */
    return out;
}

static void check_compressed(cl_compression_t c)
{
    seg_t sg;
    load_segment(&sg, "3.0.29-encrypted", "CommitLog-6-1699279786262.log");
    hash_ctx_t plain = {0};
    cass_mutation_init(&plain.m);
    cl_read_state_t pst = {0};
    assert_int_equal(read_into(&sg, sg.buf, sg.len, &pst, &plain), CL_STOP_END);

    size_t len;
    uint8_t *cbuf = repack_compressed(&sg, c, &len);
    cl_descriptor_t d;
    sb_err_t err = {0};
    assert_int_equal(cl_descriptor_parse(cbuf, len, &d, &err), 0);
    assert_int_equal(d.compression, c);

    hash_ctx_t h = {0};
    cass_mutation_init(&h.m);
    cl_read_state_t st = {0};
    assert_int_equal(read_into(&sg, cbuf, len, &st, &h), CL_STOP_END);
    assert_int_equal(h.mutations, plain.mutations);
    assert_int_equal(h.unknown_table, plain.unknown_table);
    assert_int_equal(h.cells, plain.cells);
    assert_int_equal(h.hash, plain.hash);
    assert_int_equal(st.sections, pst.sections + 1); /* and the empty closing section */

    /* Cut inside the fourth compressed section: three sections delivered, then resume. */
    seg_t csg = sg;
    csg.buf = cbuf;
    csg.len = len;
    uint64_t offs[4096];
    int n = section_offsets(&csg, offs, 4095);
    assert_int_equal(n, (int)pst.sections + 1);
    size_t cut = (size_t)(offs[3] + (offs[4] - offs[3]) / 2);
    hash_ctx_t part = {0};
    cass_mutation_init(&part.m);
    cl_read_state_t cst = {0};
    assert_int_equal(read_into(&sg, cbuf, cut, &cst, &part), CL_STOP_NEED_MORE);
    assert_int_equal(cst.sections, 3);
    assert_int_equal(cst.next_section, offs[3]);
    assert_int_equal(read_into(&sg, cbuf, len, &cst, &part), CL_STOP_END);
    assert_int_equal(part.mutations + part.unknown_table, plain.mutations + plain.unknown_table);
    assert_int_equal(part.hash, plain.hash);

    /* Damaged compressed bytes of a complete section: a torn stop at that section. */
    cbuf[offs[2] + 12 + 3] ^= 0xff;
    cbuf[offs[2] + 12 + 4] ^= 0xff;
    hash_ctx_t bad = {0};
    cass_mutation_init(&bad.m);
    cl_read_state_t bst = {0};
    cl_stop_t stop = read_into(&sg, cbuf, len, &bst, &bad);
    /* (For every codec the damage above breaks the compressed block itself; the entry CRCs
     * would catch a damage that still decodes.) */
    assert_int_equal(stop, CL_STOP_TORN);
    assert_int_equal(bst.next_section, offs[2]);
    assert_non_null(strstr(bst.detail, "compress"));
    assert_int_equal(bst.sections, 2);

    cass_mutation_deinit(&plain.m);
    cass_mutation_deinit(&h.m);
    cass_mutation_deinit(&part.m);
    cass_mutation_deinit(&bad.m);
    free(cbuf);
    free_segment(&sg);
}

/* ----- real compressed segments (Cassandra 2.2) -----
 * The only compressed segments Cassandra wrote for its tests are 2.2's (descriptor version 5:
 * apache/cassandra test/data/legacy-commitlog/2.2-lz4, -snappy, -lz4-truncated, -lz4-bitrot,
 * removed upstream with pre-3.0 support). Their mutations are in the pre-3.0 format, which
 * neither Cassandra 4 nor the product decodes, but the compressed framing (CompressedSegment:
 * sync marker and its CRC, uncompressed length, compressor block) and the entry framing (size,
 * CRC of the size, mutation, CRC) are the ones 3.0 and 4.0 write. So the header's version is
 * changed to 6 (its CRC recomputed; the untouched header's CRC is checked first with the same
 * formula) and the reader must get through every section: every marker CRC, every LZ4 or
 * Snappy block and every entry CRC written by Cassandra itself. A small pre-3.0 walker below
 * (test only) then counts the cells of each delivered mutation, so each folder's hash.txt
 * is reproduced, the proof that every byte came out of the blocks right. */

typedef struct legacy_ctx {
    uint8_t cfid[16];
    uint64_t entries, last_position, standard1, undecoded;
    int cells;    /* cells of Standard1 whose clustering (the cell name) starts with "name" */
    int32_t hash; /* CommitLogUpgradeTest.Hasher over their values */
    bool monotonic;
} legacy_ctx_t;

typedef struct lrd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
} lrd_t;

static uint64_t lrd_be(lrd_t *r, int width)
{
    if (r->bad || r->n - r->off < (size_t)width) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = v << 8 | r->p[r->off++];
    return v;
}

static sb_slice_t lrd_bytes(lrd_t *r, size_t len)
{
    if (r->bad || r->n - r->off < len) {
        r->bad = true;
        return (sb_slice_t){NULL, 0};
    }
    sb_slice_t s = {r->p + r->off, (int32_t)len};
    r->off += len;
    return s;
}

/* A pre-3.0 (2.2, MessagingService VERSION_22) Mutation, only as far as this test needs it:
 * Mutation.serializer (short-length key, int count of column families), then per family
 * ColumnFamilySerializer (present flag, cfId, DeletionInfo: DeletionTime + RangeTombstoneList,
 * int cell count, cells via ColumnSerializer: short-length name, flags byte, the
 * counter/expiring extras, long timestamp, int-length value). The table is compact (Thrift
 * style), so a cell name is the clustering value. Written for this test from Cassandra 2.2's
 * serializers as we read them; the product decodes only 3.0+ mutations. */
static void legacy_mutation(legacy_ctx_t *c, const uint8_t *p, size_t n)
{
    lrd_t r = {p, n, 0, false};
    uint64_t klen = lrd_be(&r, 2);
    lrd_bytes(&r, (size_t)klen);
    uint32_t ncf = (uint32_t)lrd_be(&r, 4);
    for (uint32_t f = 0; f < ncf && !r.bad; f++) {
        if (lrd_be(&r, 1) != 1) break; /* absent family */
        sb_slice_t id = lrd_bytes(&r, 16);
        bool mine = !r.bad && memcmp(id.p, c->cfid, 16) == 0;
        lrd_be(&r, 4); /* DeletionTime.localDeletionTime */
        lrd_be(&r, 8); /* markedForDeleteAt */
        uint32_t nrt = (uint32_t)lrd_be(&r, 4);
        for (uint32_t t = 0; t < nrt && !r.bad; t++) { /* start, end, delTime, markedAt */
            lrd_bytes(&r, (size_t)lrd_be(&r, 2));
            lrd_bytes(&r, (size_t)lrd_be(&r, 2));
            lrd_be(&r, 4);
            lrd_be(&r, 8);
        }
        uint32_t ncells = (uint32_t)lrd_be(&r, 4);
        if (mine) c->standard1++;
        for (uint32_t k = 0; k < ncells && !r.bad; k++) {
            sb_slice_t name = lrd_bytes(&r, (size_t)lrd_be(&r, 2));
            uint64_t flags = lrd_be(&r, 1);
            if (flags & 0x04) lrd_be(&r, 8);      /* COUNTER_MASK: timestampOfLastDelete */
            else if (flags & 0x02) lrd_be(&r, 8); /* EXPIRATION_MASK: ttl, expiration */
            lrd_be(&r, 8);                        /* timestamp */
            sb_slice_t value = lrd_bytes(&r, (size_t)lrd_be(&r, 4));
            if (r.bad || !mine || (flags & 0x01)) continue; /* DELETION_MASK: no value */
            if (name.len < 4 || memcmp(name.p, "name", 4) != 0) continue;
            c->hash = (int32_t)upgrade_hash((uint32_t)c->hash, value);
            c->cells++;
        }
    }
    if (r.bad) c->undecoded++;
}

static int on_legacy_entry(void *ud, const cl_entry_t *e)
{
    legacy_ctx_t *c = ud;
    c->entries++;
    if (e->position <= c->last_position) c->monotonic = false;
    c->last_position = e->position;
    legacy_mutation(c, e->data, e->len);
    return 0;
}

static void uuid_bytes(const char *text, uint8_t out[16])
{
    int n = 0;
    for (const char *p = text; *p && p[1] && n < 32; p++) {
        if (*p == '-') continue;
        char h[3] = {p[0], p[1], 0};
        out[n / 2] = (uint8_t)strtoul(h, NULL, 16);
        n += 2;
        p++;
    }
    assert_int_equal(n, 32);
}

/* Reads a 2.2 segment as version 6; returns the stop reason, fills c and ex (hash.txt). */
static cl_stop_t read_legacy(const char *folder, const char *file, legacy_ctx_t *c, cl_read_state_t *st,
                             cl_compression_t want, expected_t *ex)
{
    char path[1200], dir[1100];
    snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), folder, file);
    snprintf(dir, sizeof(dir), "%s/%s", data_dir(), folder);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    assert_non_null(buf);
    read_hash_txt(dir, ex);
    memset(c, 0, sizeof(*c));
    c->monotonic = true;
    uuid_bytes(ex->cfid, c->cfid);
    /* header: int version, long id, short params length, params, int CRC */
    assert_true(len > 18);
    assert_int_equal(buf[3], 5);
    uint32_t plen = (uint32_t)buf[12] << 8 | buf[13];
    uint32_t id_lo = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
    uint32_t id_hi = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    for (uint32_t version = 5; version <= 6; version++) {
        uint32_t crc = crc_ints((uint32_t)crc32(0, NULL, 0), version);
        crc = crc_ints(crc, id_lo);
        crc = crc_ints(crc, id_hi);
        crc = crc_ints(crc, plen);
        crc = (uint32_t)crc32(crc, buf + 14, plen);
        uint8_t *at = buf + 14 + plen;
        uint32_t claimed = (uint32_t)at[0] << 24 | (uint32_t)at[1] << 16 | (uint32_t)at[2] << 8 | at[3];
        if (version == 5) {
            assert_int_equal(crc, claimed); /* Cassandra's own header CRC, our formula */
        } else {
            buf[3] = 6;
            put_be32(at, crc);
        }
    }
    cl_descriptor_t d;
    sb_err_t err = {0};
    assert_int_equal(cl_descriptor_parse(buf, len, &d, &err), 0);
    assert_int_equal(d.compression, want);
    cl_reader_t *r;
    assert_int_equal(cl_reader_new(&r, NULL, NULL), 0);
    memset(st, 0, sizeof(*st));
    int rc = cl_reader_read(r, buf, len, st, on_legacy_entry, c, &err);
    if (rc != 0) fail_msg("read %s: %s", path, err.msg);
    cl_reader_free(r);
    free(buf);
    fprintf(stderr,
            "%s (as version 6): stop %d, %llu entries (%llu of Standard1, %llu undecoded, %llu bad CRC) "
            "in %llu sections; %d cells, hash %d (hash.txt: %d, %d)\n",
            folder, (int)st->stop, (unsigned long long)c->entries, (unsigned long long)c->standard1,
            (unsigned long long)c->undecoded, (unsigned long long)st->bad_entries,
            (unsigned long long)st->sections, c->cells, c->hash, ex->cells, ex->hash);
    return st->stop;
}

static void test_real_2_2_compressed_lz4_and_snappy(void **state)
{
    (void)state;
    legacy_ctx_t c;
    cl_read_state_t st;
    expected_t ex;
    /* The file ends where its last section does (compressed segments are not preallocated):
     * the reader has read every byte and waits there for more. */
    assert_int_equal(read_legacy("2.2-lz4", "CommitLog-5-1438186885380.log", &c, &st, CL_COMPRESSION_LZ4, &ex),
                     CL_STOP_NEED_MORE);
    assert_int_equal(st.next_section, 839051);
    assert_int_equal(st.bad_entries, 0);
    assert_int_equal(c.undecoded, 0);
    assert_true(c.monotonic);
    assert_int_equal(c.cells, ex.cells);
    assert_int_equal(c.hash, ex.hash);
    assert_int_equal(read_legacy("2.2-snappy", "CommitLog-5-1438186915514.log", &c, &st, CL_COMPRESSION_SNAPPY, &ex),
                     CL_STOP_NEED_MORE);
    assert_int_equal(st.next_section, 820332);
    assert_int_equal(st.bad_entries, 0);
    assert_int_equal(c.undecoded, 0);
    assert_true(c.monotonic);
    assert_int_equal(c.cells, ex.cells);
    assert_int_equal(c.hash, ex.hash);
    /* The second segment of the folder (100 bytes) holds its header and one empty section. */
    assert_int_equal(read_legacy("2.2-lz4", "CommitLog-5-1438186885381.log", &c, &st, CL_COMPRESSION_LZ4, &ex),
                     CL_STOP_NEED_MORE);
    assert_int_equal(st.next_section, 100);
    assert_int_equal(st.sections, 1);
    assert_int_equal(c.entries, 0);
}

/* 2.2-lz4 with its last 50 bytes cut (Cassandra's "truncated" upgrade case): the sections
 * before the cut are delivered, the cut one is not, and hash.txt (what Cassandra replays from
 * that file) is reproduced. */
static void test_real_2_2_lz4_truncated(void **state)
{
    (void)state;
    legacy_ctx_t c;
    cl_read_state_t st;
    expected_t ex;
    cl_stop_t stop =
        read_legacy("2.2-lz4-truncated", "CommitLog-5-1438186885380.log", &c, &st, CL_COMPRESSION_LZ4, &ex);
    assert_true(stop == CL_STOP_NEED_MORE || stop == CL_STOP_TORN);
    assert_true(st.next_section < 839001);
    assert_int_equal(st.bad_entries, 0);
    assert_int_equal(c.undecoded, 0);
    assert_int_equal(c.cells, ex.cells);
    assert_int_equal(c.hash, ex.hash);
}

/* 2.2-lz4 with overwritten bytes (Cassandra's "bitrot" case; its hash.txt is what a replay
 * that skips the damaged mutation gives): the entry whose CRC fails is skipped, the rest are
 * read, and hash.txt is reproduced. */
static void test_real_2_2_lz4_bitrot(void **state)
{
    (void)state;
    legacy_ctx_t c;
    cl_read_state_t st;
    expected_t ex;
    read_legacy("2.2-lz4-bitrot", "CommitLog-5-1438186885380.log", &c, &st, CL_COMPRESSION_LZ4, &ex);
    assert_int_equal(st.bad_entries, 1);
    assert_int_equal(c.undecoded, 0);
    assert_int_equal(c.cells, ex.cells);
    assert_int_equal(c.hash, ex.hash);
}

static void test_compressed_lz4(void **state)
{
    (void)state;
    check_compressed(CL_COMPRESSION_LZ4);
}
static void test_compressed_snappy(void **state)
{
    (void)state;
    check_compressed(CL_COMPRESSION_SNAPPY);
}
static void test_compressed_deflate(void **state)
{
    (void)state;
    check_compressed(CL_COMPRESSION_DEFLATE);
}
static void test_compressed_zstd(void **state)
{
    (void)state;
    check_compressed(CL_COMPRESSION_ZSTD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_3_0_13),
        cmocka_unit_test(test_real_3_0_13_all_tables),
        cmocka_unit_test(test_real_3_0_29),
        cmocka_unit_test(test_real_3_0_29_all_tables),
        cmocka_unit_test(test_real_3_4_encrypted),
        cmocka_unit_test(test_real_3_4_encrypted_all_tables),
        cmocka_unit_test(test_real_4_0_11),
        cmocka_unit_test(test_real_4_0_11_all_tables),
        cmocka_unit_test(test_unfinished_segment_read_incrementally),
        cmocka_unit_test(test_torn_tail_then_resume),
        cmocka_unit_test(test_garbage_sync_marker_stops_torn),
        cmocka_unit_test(test_bad_entry_crc_skips_one_entry),
        cmocka_unit_test(test_bad_entry_size_stops_torn),
        cmocka_unit_test(test_header_only_and_bad_header),
        cmocka_unit_test(test_encrypted_without_key),
        cmocka_unit_test(test_cdc_index),
        cmocka_unit_test(test_real_2_2_compressed_lz4_and_snappy),
        cmocka_unit_test(test_real_2_2_lz4_truncated),
        cmocka_unit_test(test_real_2_2_lz4_bitrot),
        cmocka_unit_test(test_compressed_lz4),
        cmocka_unit_test(test_compressed_snappy),
        cmocka_unit_test(test_compressed_deflate),
        cmocka_unit_test(test_compressed_zstd),
        cmocka_unit_test(test_type_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
