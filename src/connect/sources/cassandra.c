/* cassandra-source: cdc_raw/ segments -> Debezium-compatible events.
 *
 * One segment at a time, in id order. For the current segment the source reads the file's new
 * bytes up to the synced offset of its _cdc.idx, runs the commit-log reader from the saved
 * state, decodes each mutation and emits one event per row (and per partition deletion). The
 * last record of each commit-log entry carries the position "<segment id>:<section>:<logical
 * section start>:<entry end>", so a restart resumes after the last entry whose records are all
 * durable. A segment whose _cdc.idx says COMPLETED and that has been read to its synced offset
 * is deleted (or archived, or kept) once the runtime commits its last position.
 *
 * The table definitions are read over CQL from system_schema (cassandra.contact.points, through
 * src/cql/) and read again when a mutation names a table id or a column the schema does not
 * know (an ALTER or CREATE since the last read); the "cassandra.schema" config key is the
 * offline alternative (rows shaped like system_schema.columns, never re-read). */
#include "connect/sources/cassandra.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cassandra/commitlog.h"
#include "cassandra/mutation.h"
#include "cassandra/schema.h"
#include "common/clock.h"
#include "common/log.h"
#include "connect/envelope.h"
#include "cql/cql_client.h"

#define CS_MAX_KEYS 16
#define CS_POSITION_MAX 96

typedef enum { DONE_DELETE, DONE_ARCHIVE, DONE_KEEP } done_action_t;

typedef struct cs_table {
    const cass_table_t *def;
    envelope_table_t *env;
    envelope_kind_t *kinds; /* per column */
    char *topic;
    char *range_topic; /* <topic>.range_deletes: range deletions (no key-based sink can apply them) */
} cs_table_t;

typedef struct cs_key {
    char alias[128];
    uint8_t key[32];
    size_t len;
} cs_key_t;

/* A segment read to its end, waiting until its last position is committed. */
typedef struct cs_done {
    int64_t id;
    char path[PATH_MAX];
    char idx_path[PATH_MAX];
    int64_t last_delivered; /* -1: nothing of it was emitted */
} cs_done_t;

/* Ids of tables that system_schema lists but the source does not capture (every table's writes
 * share the commit log). Known so that their mutations are skipped without a schema re-read. */
typedef struct cs_idset {
    uint8_t (*ids)[16];
    int n, cap;
} cs_idset_t;

typedef struct cs_dedupe {
    uint64_t *gen[2]; /* young, old */
    size_t cap;       /* slots per generation (a power of two); 0: no de-duplication */
    size_t count;     /* entries in the young generation */
} cs_dedupe_t;

typedef struct cs_source {
    source_ctx_t *ctx;
    char *dir;
    char *prefix;
    char *archive_dir;
    done_action_t done_action;
    int64_t poll_ms;
    cass_schema_t schema;
    cql_client_t *cql;      /* NULL: the schema came from cassandra.schema */
    bool schema_read_transient; /* the last schema read failed in a way a retry may cure */
    char *include;          /* table.include.list, or NULL: the tables with cdc = true */
    cs_idset_t ignored;     /* tables in system_schema that are not captured */
    int64_t schema_reads;
    cs_table_t *tables;
    int ntables;
    cs_key_t keys[CS_MAX_KEYS];
    int nkeys;
    cl_reader_t *reader;

    /* the segment being read */
    bool have_seg;
    int64_t seg_id;
    char seg_path[PATH_MAX];
    char idx_path[PATH_MAX];
    uint8_t *buf;
    size_t buf_len, buf_cap;
    cl_read_state_t st;
    int messaging_version;
    int64_t seg_emitted; /* records emitted from this segment */
    int64_t seg_last_pos; /* entry end of the last record emitted with a position from it */
    int64_t last_finished_id; /* segments up to this id are done */

    cs_done_t *done;
    int ndone, done_cap;
    int64_t committed_seg;
    int64_t committed_delivered;

    cass_mutation_t m;
    envelope_value_t *row;
    sb_wr_t arena;
    sb_wr_t tmp; /* one collection element's text */
    sb_wr_t extra; /* the event's extra source members (ttl, range, collections) */
    sb_wr_t coll;  /* the members of source.collections */
    int32_t ttl_max;
    cs_dedupe_t dedupe;
    size_t *arena_off;
    /* the record held back so that the last one of an entry carries the position */
    bool has_pending, pend_key_null, pend_val_null;
    const char *pend_topic;
    int64_t pend_ts;
    sb_wr_t pend_key, pend_val;
    connect_err_t cb_err;
    bool cb_failed;

    /* status */
    int64_t segments_done, mutations, events, other_table_mutations, range_tombstones, collection_changes,
        duplicates_skipped;
    char last_warning[256];
} cs_source_t;

/* ---------------------------------------------------------------- config */

static const char *cfg_get(const json_t *config, const char *key)
{
    json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool cfg_int(const json_t *config, const char *key, int64_t dflt, int64_t min, int64_t *out)
{
    json_t *v = json_object_get(config, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= min;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (!*s || *end || errno) return false;
    *out = n;
    return n >= min;
}

static int32_t be_signed_int32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "alias=hexkey,alias2=hexkey" (aliases may contain ':', as Cassandra's "testing:1" does). */
static int parse_keys(const char *s, cs_key_t *keys, int *nkeys, char *why, size_t why_cap)
{
    *nkeys = 0;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', n);
        if (!eq || eq == s || (size_t)(eq - s) >= sizeof(keys[0].alias)) {
            snprintf(why, why_cap, "expected alias=hexkey entries separated by commas");
            return -1;
        }
        if (*nkeys == CS_MAX_KEYS) {
            snprintf(why, why_cap, "at most %d keys", CS_MAX_KEYS);
            return -1;
        }
        cs_key_t *k = &keys[(*nkeys)++];
        memcpy(k->alias, s, (size_t)(eq - s));
        k->alias[eq - s] = '\0';
        size_t hex = n - (size_t)(eq - s) - 1;
        if (hex != 32 && hex != 48 && hex != 64) {
            snprintf(why, why_cap, "key of %s must be 16, 24 or 32 bytes in hex", k->alias);
            return -1;
        }
        for (size_t i = 0; i < hex / 2; i++) {
            int hi = hexval(eq[1 + 2 * i]), lo = hexval(eq[2 + 2 * i]);
            if (hi < 0 || lo < 0) {
                snprintf(why, why_cap, "key of %s is not hex", k->alias);
                return -1;
            }
            k->key[i] = (uint8_t)(hi << 4 | lo);
        }
        k->len = hex / 2;
        s = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* cassandra.schema: [{"keyspace","table","id","columns":[{"name","kind","position","type",
 * "clustering_order"}]}], the rows of system_schema.tables/columns for the CDC tables. */
static int parse_schema(const char *text, cass_schema_t *schema, char *why, size_t why_cap)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    int rc = -1;
    if (!json_is_array(root) || json_array_size(root) == 0) {
        snprintf(why, why_cap, "must be a non-empty JSON array of tables");
        goto out;
    }
    size_t i;
    json_t *t;
    json_array_foreach(root, i, t) {
        const char *ks = json_string_value(json_object_get(t, "keyspace"));
        const char *name = json_string_value(json_object_get(t, "table"));
        const char *id = json_string_value(json_object_get(t, "id"));
        json_t *cols = json_object_get(t, "columns");
        uint8_t uuid[16];
        if (!ks || !name || !id || !json_is_array(cols) || cass_uuid_parse(id, uuid) != 0) {
            snprintf(why, why_cap, "table %zu needs keyspace, table, id (a uuid) and columns", i);
            goto out;
        }
        cass_table_t *tab;
        sb_err_t err = {0};
        if (cass_schema_add_table(schema, uuid, ks, name, &tab, &err) != 0) {
            snprintf(why, why_cap, "%.200s", err.msg);
            goto out;
        }
        size_t j;
        json_t *c;
        json_array_foreach(cols, j, c) {
            const char *cn = json_string_value(json_object_get(c, "name"));
            const char *kind = json_string_value(json_object_get(c, "kind"));
            const char *type = json_string_value(json_object_get(c, "type"));
            json_t *pos = json_object_get(c, "position");
            if (!cn || !kind || !type) {
                snprintf(why, why_cap, "%s.%s column %zu needs name, kind and type", ks, name, j);
                goto out;
            }
            if (cass_table_add_column(tab, cn, kind, json_is_integer(pos) ? (int)json_integer_value(pos) : -1, type,
                                      json_string_value(json_object_get(c, "clustering_order")), &err) != 0) {
                snprintf(why, why_cap, "%.200s", err.msg);
                goto out;
            }
        }
        if (cass_table_finish(tab, &err) != 0) {
            snprintf(why, why_cap, "%.200s", err.msg);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- schema over CQL */

static bool idset_has(const cs_idset_t *set, const uint8_t id[16])
{
    for (int i = 0; i < set->n; i++)
        if (!memcmp(set->ids[i], id, 16)) return true;
    return false;
}

static int idset_add(cs_idset_t *set, const uint8_t id[16])
{
    if (idset_has(set, id)) return 0;
    if (set->n == set->cap) {
        int cap = set->cap ? set->cap * 2 : 64;
        uint8_t(*p)[16] = realloc(set->ids, (size_t)cap * 16);
        if (!p) return SB_ENOMEM;
        set->ids = p;
        set->cap = cap;
    }
    memcpy(set->ids[set->n++], id, 16);
    return 0;
}

/* A text cell as a C string in buf (truncated to cap - 1); "" for null. */
static const char *cell_text(const cql_result_t *r, int row, int col, char *buf, size_t cap)
{
    sb_slice_t v = col >= 0 ? cql_result_cell(r, row, col) : (sb_slice_t){NULL, -1};
    size_t n = v.len > 0 ? (size_t)v.len : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(buf, v.p, n);
    buf[n] = '\0';
    return buf;
}

typedef int (*cs_row_fn)(void *ud, const cql_result_t *r, int row, char *why, size_t why_cap);

/* Runs a SELECT page by page and calls fn for every row; the columns named in `need` must be in
 * the result (a server too old for this source lacks some). */
/* Whether a failed request may succeed later: no server ERROR at all (connection lost, no node
 * reachable, client-side timeout) or one of the availability errors (Unavailable, Overloaded,
 * Is_bootstrapping, read/write timeouts, server error). Syntax, invalid-query and
 * authorization errors will not go away by themselves. */
static bool cql_failure_transient(const cql_client_t *cl)
{
    int32_t code = cql_client_server_error(cl);
    return code < 0 || code == 0x0000 || code == 0x1000 || code == 0x1001 || code == 0x1002 || code == 0x1100 ||
           code == 0x1200;
}

static int query_all(cql_client_t *cl, const char *query, const char *const *need, cs_row_fn fn, void *ud, char *why,
                     size_t why_cap)
{
    cql_exec_opts_t x;
    cql_exec_opts_init(&x);
    x.page_size = 1000;
    x.idempotent = true;
    uint8_t *state = NULL;
    int rc = 0;
    for (;;) {
        cql_result_t *r = NULL;
        sb_err_t err = {0};
        if (cql_client_query(cl, query, NULL, &x, &r, &err) != 0) {
            snprintf(why, why_cap, "%.60s: %.180s", strstr(query, "FROM ") ? strstr(query, "FROM ") + 5 : query, err.msg);
            rc = -2; /* the request failed (not its content): see cql_failure_transient */
            break;
        }
        for (int i = 0; need && need[i]; i++)
            if (cql_result_column(r, need[i]) < 0) {
                snprintf(why, why_cap, "%s: the result has no column %s", query, need[i]);
                rc = -1;
            }
        for (int i = 0; rc == 0 && i < r->nrows; i++) rc = fn(ud, r, i, why, why_cap);
        bool more = rc == 0 && cql_result_has_more_pages(r);
        if (more) {
            uint8_t *p = realloc(state, (size_t)r->meta.paging_state.len + 1);
            if (!p) {
                snprintf(why, why_cap, "out of memory");
                rc = -1;
                more = false;
            } else {
                state = p;
                memcpy(state, r->meta.paging_state.p, (size_t)r->meta.paging_state.len);
                x.paging_state = (sb_slice_t){state, r->meta.paging_state.len};
            }
        }
        cql_result_free(r);
        if (!more) break;
    }
    free(state);
    return rc;
}

typedef struct schema_load {
    cass_schema_t *schema;
    cs_idset_t *ignored;
    const char *include; /* "ks.t,ks.t2" or NULL: the tables with cdc = true */
} schema_load_t;

static bool included(const char *list, const char *ks, const char *name)
{
    size_t kl = strlen(ks), nl = strlen(name);
    while (list && *list) {
        while (*list == ' ' || *list == ',') list++;
        const char *end = list + strcspn(list, ",");
        const char *e = end;
        while (e > list && e[-1] == ' ') e--;
        if ((size_t)(e - list) == kl + 1 + nl && !strncmp(list, ks, kl) && list[kl] == '.' &&
            !strncmp(list + kl + 1, name, nl))
            return true;
        list = end;
    }
    return false;
}

static cass_table_t *schema_table_named(cass_schema_t *s, const char *ks, const char *name)
{
    for (int i = 0; i < s->ntables; i++)
        if (!strcmp(s->tables[i]->keyspace, ks) && !strcmp(s->tables[i]->name, name)) return s->tables[i];
    return NULL;
}

static int on_table_row(void *ud, const cql_result_t *r, int row, char *why, size_t why_cap)
{
    schema_load_t *l = ud;
    char ks[256], name[256];
    cell_text(r, row, cql_result_column(r, "keyspace_name"), ks, sizeof(ks));
    cell_text(r, row, cql_result_column(r, "table_name"), name, sizeof(name));
    sb_slice_t id = cql_result_cell(r, row, cql_result_column(r, "id"));
    if (id.len != 16) {
        snprintf(why, why_cap, "system_schema.tables: %s.%s has no 16-byte id", ks, name);
        return -1;
    }
    bool capture;
    if (l->include) {
        capture = included(l->include, ks, name);
    } else {
        sb_slice_t cdc = cql_result_cell(r, row, cql_result_column(r, "cdc"));
        capture = cdc.len == 1 && cdc.p[0] != 0;
    }
    if (!capture) return idset_add(l->ignored, id.p) ? (snprintf(why, why_cap, "out of memory"), -1) : 0;
    cass_table_t *t;
    sb_err_t err = {0};
    if (cass_schema_add_table(l->schema, id.p, ks, name, &t, &err) != 0) {
        snprintf(why, why_cap, "%.200s", err.msg[0] ? err.msg : "out of memory");
        return -1;
    }
    return 0;
}

static int on_column_row(void *ud, const cql_result_t *r, int row, char *why, size_t why_cap)
{
    schema_load_t *l = ud;
    char ks[256], name[256], col[256], kind[32], type[1024], order[16];
    cell_text(r, row, cql_result_column(r, "keyspace_name"), ks, sizeof(ks));
    cell_text(r, row, cql_result_column(r, "table_name"), name, sizeof(name));
    cass_table_t *t = schema_table_named(l->schema, ks, name);
    if (!t) return 0;
    cell_text(r, row, cql_result_column(r, "column_name"), col, sizeof(col));
    cell_text(r, row, cql_result_column(r, "kind"), kind, sizeof(kind));
    cell_text(r, row, cql_result_column(r, "type"), type, sizeof(type));
    cell_text(r, row, cql_result_column(r, "clustering_order"), order, sizeof(order));
    sb_slice_t pos = cql_result_cell(r, row, cql_result_column(r, "position"));
    int position = pos.len == 4 ? (int)be_signed_int32(pos.p) : -1;
    sb_err_t err = {0};
    if (cass_table_add_column(t, col, kind, position, type, order, &err) != 0) {
        snprintf(why, why_cap, "system_schema.columns: %.200s", err.msg[0] ? err.msg : "out of memory");
        return -1;
    }
    return 0;
}

static int on_dropped_row(void *ud, const cql_result_t *r, int row, char *why, size_t why_cap)
{
    schema_load_t *l = ud;
    char ks[256], name[256], col[256], type[1024];
    cell_text(r, row, cql_result_column(r, "keyspace_name"), ks, sizeof(ks));
    cell_text(r, row, cql_result_column(r, "table_name"), name, sizeof(name));
    cass_table_t *t = schema_table_named(l->schema, ks, name);
    if (!t) return 0;
    cell_text(r, row, cql_result_column(r, "column_name"), col, sizeof(col));
    cell_text(r, row, cql_result_column(r, "type"), type, sizeof(type));
    /* A column dropped and added again is a live column; old cells under its name decode with
     * the new definition, as Cassandra reads them. */
    if (cass_table_column(t, (const uint8_t *)col, strlen(col)) >= 0) return 0;
    sb_err_t err = {0};
    if (cass_table_add_dropped_column(t, col, type, &err) != 0) {
        snprintf(why, why_cap, "system_schema.dropped_columns: %.200s", err.msg[0] ? err.msg : "out of memory");
        return -1;
    }
    return 0;
}

/* The elements of a serialized list<text> (protocol v4: int count, then int length + bytes
 * per element), NUL-terminated copies into out[] (malloc'ed); the count, or -1 when the bytes
 * are not such a list. */
static int text_list(sb_slice_t v, char **out, int cap)
{
    if (v.len < 0) return 0;
    sb_rd_t rd;
    sb_rd_init(&rd, v.p, (size_t)v.len);
    int32_t n = sb_rd_i32(&rd);
    if (!sb_rd_ok(&rd) || n < 0 || n > cap) return -1;
    for (int i = 0; i < n; i++) {
        int32_t len = sb_rd_i32(&rd);
        const uint8_t *p = len >= 0 ? sb_rd_bytes(&rd, (size_t)len) : NULL;
        if (!sb_rd_ok(&rd) || !p || !(out[i] = malloc((size_t)len + 1))) {
            while (i > 0) free(out[--i]);
            return -1;
        }
        memcpy(out[i], p, (size_t)len);
        out[i][len] = '\0';
    }
    if (sb_rd_remaining(&rd) != 0) {
        for (int i = 0; i < n; i++) free(out[i]);
        return -1;
    }
    return n;
}

#define CS_MAX_UDT_FIELDS 256

static int on_type_row(void *ud, const cql_result_t *r, int row, char *why, size_t why_cap)
{
    schema_load_t *l = ud;
    char ks[256], name[256];
    cell_text(r, row, cql_result_column(r, "keyspace_name"), ks, sizeof(ks));
    cell_text(r, row, cql_result_column(r, "type_name"), name, sizeof(name));
    char *names[CS_MAX_UDT_FIELDS], *types[CS_MAX_UDT_FIELDS];
    int nn = text_list(cql_result_cell(r, row, cql_result_column(r, "field_names")), names, CS_MAX_UDT_FIELDS);
    int nt = nn < 0 ? -1 : text_list(cql_result_cell(r, row, cql_result_column(r, "field_types")), types, CS_MAX_UDT_FIELDS);
    int rc = 0;
    if (nn < 0 || nt < 0 || nn != nt) {
        snprintf(why, why_cap, "system_schema.types: %s.%s: field_names and field_types are not two lists of one length",
                 ks, name);
        rc = -1;
    } else {
        sb_err_t err = {0};
        if (cass_schema_add_udt(l->schema, ks, name, nn, (const char *const *)names, (const char *const *)types, &err)) {
            snprintf(why, why_cap, "system_schema.types: %.200s", err.msg[0] ? err.msg : "out of memory");
            rc = -1;
        }
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    for (int i = 0; i < nt; i++) free(types[i]);
    return rc;
}

/* Reads the captured tables' definitions from system_schema into `schema` (empty on entry) and
 * the ids of every other table into `ignored`. 0, -2 when a request failed (the node, not the
 * content: see cql_failure_transient), -1 otherwise. */
static int schema_read_cql(cql_client_t *cl, const char *include, cass_schema_t *schema, cs_idset_t *ignored,
                           char *why, size_t why_cap)
{
    schema_load_t l = {schema, ignored, include};
    static const char *const tcols[] = {"keyspace_name", "table_name", "id", "cdc", NULL};
    static const char *const ccols[] = {"keyspace_name", "table_name", "column_name", "kind", "position", "type",
                                        "clustering_order", NULL};
    static const char *const dcols[] = {"keyspace_name", "table_name", "column_name", "type", NULL};
    static const char *const ycols[] = {"keyspace_name", "type_name", "field_names", "field_types", NULL};
    int rc = query_all(cl, "SELECT keyspace_name, table_name, id, cdc FROM system_schema.tables", tcols, on_table_row, &l,
                       why, why_cap);
    if (rc) return rc;
    if (schema->ntables == 0) {
        snprintf(why, why_cap, "%s", include ? "none of table.include.list is in system_schema.tables"
                                              : "system_schema.tables has no table with cdc = true");
        return -1;
    }
    if ((rc = query_all(cl,
                        "SELECT keyspace_name, table_name, column_name, kind, position, type, clustering_order FROM "
                        "system_schema.columns",
                        ccols, on_column_row, &l, why, why_cap)) ||
        (rc = query_all(cl, "SELECT keyspace_name, table_name, column_name, type FROM system_schema.dropped_columns",
                        dcols, on_dropped_row, &l, why, why_cap)) ||
        /* UDT field names and types, so UDT values come out as objects with named fields. */
        (rc = query_all(cl, "SELECT keyspace_name, type_name, field_names, field_types FROM system_schema.types", ycols,
                        on_type_row, &l, why, why_cap)))
        return rc;
    for (int i = 0; i < schema->ntables; i++) {
        sb_err_t err = {0};
        if (cass_table_finish(schema->tables[i], &err) != 0) {
            snprintf(why, why_cap, "%.200s", err.msg);
            return -1;
        }
    }
    return 0;
}

/* The CQL client options from the config; strings borrow the config. */
static void cql_opts_from(const json_t *config, cql_client_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->contact_points = cfg_get(config, "cassandra.contact.points");
    o->username = cfg_get(config, "cassandra.username");
    o->password = cfg_get(config, "cassandra.password");
    o->consistency = "ONE"; /* system_schema is local to every node */
    int64_t n;
    if (cfg_int(config, "cassandra.request.timeout.ms", 12000, 1, &n)) o->request_timeout_ms = (int)n;
    const char *tls = cfg_get(config, "cassandra.tls.enabled");
    o->tls.enabled = tls && !strcmp(tls, "true");
    o->tls.ca_file = cfg_get(config, "cassandra.tls.ca.file");
    o->tls.cert_file = cfg_get(config, "cassandra.tls.cert.file");
    o->tls.key_file = cfg_get(config, "cassandra.tls.key.file");
    const char *skip = cfg_get(config, "cassandra.tls.skip.verify");
    o->tls.skip_verify = skip && !strcmp(skip, "true");
}

static int cs_validate(const json_t *config, connect_config_errors_t *errs)
{
    char why[256];
    const char *dir = cfg_get(config, "cdc_raw.dir");
    struct stat st;
    if (!dir || !*dir) connect_config_error_add(errs, "cdc_raw.dir", "required: the node's cdc_raw directory");
    else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        connect_config_error_add(errs, "cdc_raw.dir", "%s is not a directory", dir);
    const char *prefix = cfg_get(config, "topic.prefix");
    if (!prefix || !*prefix) connect_config_error_add(errs, "topic.prefix", "required");
    const char *schema = cfg_get(config, "cassandra.schema");
    int64_t n;
    cass_schema_t s;
    cass_schema_init(&s);
    const char *cps = cfg_get(config, "cassandra.contact.points");
    if (!schema && (!cps || !*cps))
        connect_config_error_add(errs, "cassandra.contact.points",
                                 "required (host[:port],...: the schema is read from system_schema), unless "
                                 "cassandra.schema gives it offline");
    else if (schema && cps)
        connect_config_error_add(errs, "cassandra.schema", "give either cassandra.schema or cassandra.contact.points, not both");
    else if (schema && parse_schema(schema, &s, why, sizeof(why)) != 0)
        connect_config_error_add(errs, "cassandra.schema", "%s", why);
    static const char *const bools[] = {"cassandra.tls.enabled", "cassandra.tls.skip.verify"};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        const char *b = cfg_get(config, bools[i]);
        if (b && strcmp(b, "true") && strcmp(b, "false")) connect_config_error_add(errs, bools[i], "must be true or false");
    }
    if (cfg_get(config, "table.include.list") && !cps)
        connect_config_error_add(errs, "table.include.list", "only with cassandra.contact.points (cassandra.schema lists the tables itself)");
    if (!cfg_int(config, "cassandra.request.timeout.ms", 12000, 1, &n))
        connect_config_error_add(errs, "cassandra.request.timeout.ms", "must be a positive integer");
    cass_schema_deinit(&s);
    cs_key_t keys[CS_MAX_KEYS];
    int nkeys;
    if (parse_keys(cfg_get(config, "commitlog.encryption.keys"), keys, &nkeys, why, sizeof(why)) != 0)
        connect_config_error_add(errs, "commitlog.encryption.keys", "%s", why);
    const char *done = cfg_get(config, "processed.segments");
    if (done && strcmp(done, "delete") && strcmp(done, "archive") && strcmp(done, "keep"))
        connect_config_error_add(errs, "processed.segments", "must be delete, archive or keep");
    if (done && !strcmp(done, "archive")) {
        const char *ad = cfg_get(config, "archive.dir");
        if (!ad || stat(ad, &st) != 0 || !S_ISDIR(st.st_mode))
            connect_config_error_add(errs, "archive.dir", "processed.segments=archive needs an existing archive.dir");
    }
    if (!cfg_int(config, "dedupe.cache.size", 65536, 0, &n) || n > (1 << 24))
        connect_config_error_add(errs, "dedupe.cache.size", "must be an integer from 0 (off) to 16777216");
    if (!cfg_int(config, "poll.interval.ms", 250, 1, &n))
        connect_config_error_add(errs, "poll.interval.ms", "must be a positive integer");
    return errs->count ? -1 : 0;
}

/* ---------------------------------------------------------------- positions */

static int parse_position(const char *p, int64_t *seg, uint64_t *section, uint64_t *logical, uint64_t *delivered)
{
    long long a;
    unsigned long long b, c, d;
    char tail;
    if (!p || sscanf(p, "%lld:%llu:%llu:%llu%c", &a, &b, &c, &d, &tail) != 4) return -1;
    *seg = a;
    *section = b;
    *logical = c;
    *delivered = d;
    return 0;
}

static int cs_validate_position(const char *position, sb_err_t *err)
{
    int64_t seg;
    uint64_t a, b, c;
    if (parse_position(position, &seg, &a, &b, &c) != 0)
        return sb_err_set(err, SB_EINVAL,
                          "position \"%s\" is not <segment id>:<section>:<logical>:<entry end> (e.g. \"1699285478684:1576:1576:2000\")",
                          position);
    return 0;
}

/* ---------------------------------------------------------------- values */

static envelope_kind_t kind_for(const char *type)
{
    static const char *const ints[] = {"int", "bigint", "smallint", "tinyint", "counter", "timestamp", "time", "varint"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (!strcmp(type, ints[i])) return ENVELOPE_KIND_INTEGER;
    if (!strcmp(type, "float") || !strcmp(type, "double")) return ENVELOPE_KIND_FLOAT;
    if (!strcmp(type, "boolean")) return ENVELOPE_KIND_BOOL;
    return ENVELOPE_KIND_STRING;
}

static int64_t be_signed(const uint8_t *p, int n)
{
    uint64_t v = (n > 0 && (p[0] & 0x80)) ? UINT64_MAX : 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return (int64_t)v;
}

static void put_hex(sb_wr_t *w, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        char b[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        sb_wr_bytes(w, b, 2);
    }
}

/* The text form of a cell value, as the envelope expects it for the column's kind. Types
 * without a natural text form (blob, frozen collections, tuples, UDTs, decimal, duration) are
 * written as "0x" + hex, as cqlsh prints blobs. */
static void render_value(sb_wr_t *w, const char *type, sb_slice_t v)
{
    char tmp[64];
    int n = v.len;
    const uint8_t *p = v.p;
    if (!strcmp(type, "ascii") || !strcmp(type, "text") || !strcmp(type, "varchar")) {
        sb_wr_bytes(w, p, (size_t)n);
    } else if ((!strcmp(type, "int") && n == 4) || (!strcmp(type, "bigint") && n == 8) ||
               (!strcmp(type, "counter") && n == 8) || (!strcmp(type, "smallint") && n == 2) ||
               (!strcmp(type, "tinyint") && n == 1) || (!strcmp(type, "timestamp") && n == 8) ||
               (!strcmp(type, "time") && n == 8) || (!strcmp(type, "varint") && n >= 1 && n <= 8)) {
        sb_wr_bytes(w, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%" PRId64, be_signed(p, n)));
    } else if (!strcmp(type, "boolean") && n == 1) {
        sb_wr_bytes(w, p[0] ? "t" : "f", 1);
    } else if (!strcmp(type, "float") && n == 4) {
        uint32_t u = (uint32_t)be_signed(p, 4);
        float f;
        memcpy(&f, &u, 4);
        sb_wr_bytes(w, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.9g", (double)f));
    } else if (!strcmp(type, "double") && n == 8) {
        uint64_t u = (uint64_t)be_signed(p, 8);
        double d;
        memcpy(&d, &u, 8);
        sb_wr_bytes(w, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.17g", d));
    } else if ((!strcmp(type, "uuid") || !strcmp(type, "timeuuid")) && n == 16) {
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) sb_wr_bytes(w, "-", 1);
            put_hex(w, p + i, 1);
        }
    } else if (!strcmp(type, "inet") && (n == 4 || n == 16)) {
        char a[INET6_ADDRSTRLEN];
        if (inet_ntop(n == 4 ? AF_INET : AF_INET6, p, a, sizeof(a))) sb_wr_bytes(w, a, strlen(a));
    } else if (!strcmp(type, "date") && n == 4) {
        /* days since 1970-01-01, stored with 2^31 added */
        int64_t days = (int64_t)(uint32_t)be_signed(p, 4) - ((int64_t)1 << 31);
        time_t t = (time_t)(days * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        sb_wr_bytes(w, tmp, strftime(tmp, sizeof(tmp), "%Y-%m-%d", &tm));
    } else {
        sb_wr_bytes(w, "0x", 2);
        put_hex(w, p, (size_t)(n > 0 ? n : 0));
    }
}

/* ---------------------------------------------------------------- emitting */

static int emit_now(cs_source_t *s, const char *position)
{
    connect_record_t rec = {
        .topic = s->pend_topic,
        .partition = -1,
        .offset = -1,
        .timestamp_ms = s->pend_ts,
        .key = {s->pend_key_null ? NULL : s->pend_key.buf, s->pend_key_null ? -1 : (int32_t)s->pend_key.len},
        .value = {s->pend_val_null ? NULL : s->pend_val.buf, s->pend_val_null ? -1 : (int32_t)s->pend_val.len},
    };
    s->has_pending = false;
    if (source_emit(s->ctx, &rec, position) < 0)
        return connect_err_set(&s->cb_err, CONNECT_ERR_TRANSIENT, -1, "the runtime refused a record (stopping)");
    s->events++;
    s->seg_emitted++;
    return 0;
}

static int pending_begin(cs_source_t *s, const char *topic, int64_t ts_ms)
{
    if (s->has_pending && emit_now(s, NULL)) return -1;
    sb_wr_reset(&s->pend_key);
    sb_wr_reset(&s->pend_val);
    s->pend_topic = topic;
    s->pend_key_null = false;
    s->pend_val_null = false;
    s->pend_ts = ts_ms;
    s->has_pending = true;
    return 0;
}

/* Appends one element as JSON: its text form, then numbers/booleans bare and the rest quoted
 * (envelope_write_json_value), or always quoted for a map key. */
static void append_element(cs_source_t *s, const char *type, sb_slice_t v, bool as_key)
{
    sb_wr_reset(&s->tmp);
    render_value(&s->tmp, type, v);
    envelope_value_t ev = {(const char *)s->tmp.buf, (int32_t)s->tmp.len};
    if (as_key) envelope_write_json_string(&s->arena, ev.p ? ev.p : "", s->tmp.len);
    else envelope_write_json_value(&s->arena, kind_for(type), ev);
}

static void field_json(cs_source_t *s, sb_wr_t *w, const char *ks, const char *type, sb_slice_t v, int depth);

/* The field index a non-frozen UDT cell's path holds (UserType.cellPathForField: a short). */
static int udt_field_index(sb_slice_t path)
{
    return path.len == 2 ? (int)(path.p[0] << 8 | path.p[1]) : -1;
}

/* A whole collection (cells [first, last] of one column, written after a complex deletion, so
 * they are its complete new content) as JSON text: a list or set as an array, a map as an
 * object with string keys. Returns false for types it cannot render (non-frozen UDTs). */
static bool render_collection(cs_source_t *s, const char *ks, const cass_column_t *col, int first, int last)
{
    char kind, elem[128], value[128];
    if (cass_type_collection(col->type, &kind, elem, sizeof(elem), value, sizeof(value)) != 0) {
        /* A non-frozen UDT written whole: an object with every field, null where no cell is. */
        const cass_udt_t *u = cass_schema_find_udt(&s->schema, ks, col->type);
        if (!u) return false;
        sb_wr_bytes(&s->arena, "{", 1);
        for (int f = 0; f < u->nfields; f++) {
            if (f) sb_wr_bytes(&s->arena, ",", 1);
            envelope_write_json_string(&s->arena, u->field_names[f], strlen(u->field_names[f]));
            sb_wr_bytes(&s->arena, ":", 1);
            const cass_cell_t *found = NULL;
            for (int c = first; c <= last; c++)
                if (!s->m.cells[c].tombstone && udt_field_index(s->m.cells[c].path) == f) found = &s->m.cells[c];
            if (found) field_json(s, &s->arena, ks, u->field_types[f], found->value, 1);
            else sb_wr_bytes(&s->arena, "null", 4);
        }
        sb_wr_bytes(&s->arena, "}", 1);
        return true;
    }
    sb_wr_bytes(&s->arena, kind == 'm' ? "{" : "[", 1);
    bool any = false;
    for (int c = first; c <= last; c++) {
        const cass_cell_t *cell = &s->m.cells[c];
        if (cell->tombstone) continue;
        if (any) sb_wr_bytes(&s->arena, ",", 1);
        any = true;
        if (kind == 'l') {
            append_element(s, elem, cell->value, false);
        } else if (kind == 's') {
            append_element(s, elem, cell->path, false);
        } else {
            append_element(s, elem, cell->path, true);
            sb_wr_bytes(&s->arena, ":", 1);
            append_element(s, value, cell->value, false);
        }
    }
    sb_wr_bytes(&s->arena, kind == 'm' ? "}" : "]", 1);
    return true;
}

static bool collection_replaced(const cs_source_t *s, const cass_row_t *row, int column, int64_t *ts)
{
    for (int i = row->first_complex_deletion; i < row->first_complex_deletion + row->ncomplex_deletions; i++)
        if (s->m.complex_deletions[i].column == column) {
            *ts = s->m.complex_deletions[i].deletion.marked_for_delete_at;
            return true;
        }
    return false;
}

static int64_t micros_to_ms(int64_t us)
{
    return us == CASS_LIVE_TIMESTAMP ? 0 : us / 1000;
}

/* Fills s->row with the key columns (partition key parts and, unless NULL, the clustering
 * values) and every other column ABSENT. */
static int fill_key(cs_source_t *s, const cs_table_t *t, const cass_partition_update_t *u, const cass_row_t *row)
{
    const cass_table_t *d = t->def;
    sb_slice_t parts[64];
    sb_err_t err;
    if (d->npk > 64 || cass_partition_key_split(d, u->key, parts, &err) != 0) return -1;
    sb_wr_reset(&s->arena);
    for (int i = 0; i < d->ncols; i++) {
        s->row[i].len = ENVELOPE_ABSENT;
        s->arena_off[i] = SIZE_MAX;
    }
    for (int i = 0; i < d->npk; i++) {
        int c = d->pk[i];
        s->arena_off[c] = s->arena.len;
        render_value(&s->arena, d->cols[c].type, parts[i]);
        s->row[c].len = (int32_t)(s->arena.len - s->arena_off[c]);
    }
    if (row && row->kind == CASS_ROW) {
        for (int i = 0; i < d->nck && i < row->nclustering; i++) {
            int c = d->ck[i];
            sb_slice_t v = s->m.clustering[row->first_clustering + i];
            if (v.len < 0) {
                s->row[c].len = ENVELOPE_NULL;
                continue;
            }
            s->arena_off[c] = s->arena.len;
            render_value(&s->arena, d->cols[c].type, v);
            s->row[c].len = (int32_t)(s->arena.len - s->arena_off[c]);
        }
    }
    return 0;
}

static void fix_pointers(cs_source_t *s, const cs_table_t *t)
{
    for (int i = 0; i < t->def->ncols; i++)
        if (s->arena_off[i] != SIZE_MAX) s->row[i].p = (const char *)s->arena.buf + s->arena_off[i];
}

/* FNV-1a over the parts of an event that make it the same write. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Whether the event (table, op, write time, key and values, extra source members) was emitted
 * recently; records it if not. Two generations of an open-addressing set: when the young one
 * is half full it becomes the old one and the previous old one is forgotten, so memory stays
 * fixed and the most recent dedupe.cache.size/2 .. dedupe.cache.size events are remembered. */
static bool dedupe_seen(cs_dedupe_t *d, uint64_t h)
{
    if (!d->cap) return false;
    if (!h) h = 1;
    size_t mask = d->cap - 1;
    for (int g = 0; g < 2; g++)
        for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
            if (d->gen[g][i] == h) return true;
            if (!d->gen[g][i]) break;
        }
    if (d->count + 1 > d->cap / 2) {
        uint64_t *old = d->gen[1];
        d->gen[1] = d->gen[0];
        memset(old, 0, d->cap * sizeof(*old));
        d->gen[0] = old;
        d->count = 0;
    }
    size_t i = (size_t)h & mask;
    while (d->gen[0][i]) i = (i + 1) & mask;
    d->gen[0][i] = h;
    d->count++;
    return false;
}

static int push_to(cs_source_t *s, const cs_table_t *t, const char *topic, char op, int64_t ts_us, bool tombstone_after);

static int push(cs_source_t *s, const cs_table_t *t, char op, int64_t ts_us, bool tombstone_after)
{
    return push_to(s, t, t->topic, op, ts_us, tombstone_after);
}

static int push_to(cs_source_t *s, const cs_table_t *t, const char *topic, char op, int64_t ts_us, bool tombstone_after)
{
    if (s->ttl_max > 0) {
        char b[32];
        sb_wr_bytes(&s->extra, b, (size_t)snprintf(b, sizeof(b), ",\"ttl\":%" PRId32, s->ttl_max));
    }
    if (s->coll.len) {
        sb_wr_bytes(&s->extra, ",\"collections\":{", 16);
        sb_wr_bytes(&s->extra, s->coll.buf, s->coll.len);
        sb_wr_bytes(&s->extra, "}", 1);
    }
    int rc = 0;
    if (s->dedupe.cap) {
        uint64_t h = hash_bytes(0xcbf29ce484222325ULL, topic, strlen(topic));
        h = hash_bytes(h, &op, 1);
        h = hash_bytes(h, &ts_us, sizeof(ts_us));
        h = hash_bytes(h, s->extra.buf, s->extra.len);
        for (int i = 0; i < t->def->ncols; i++) {
            h = hash_bytes(h, &s->row[i].len, sizeof(s->row[i].len));
            if (s->row[i].len > 0) h = hash_bytes(h, s->row[i].p, (size_t)s->row[i].len);
        }
        if (dedupe_seen(&s->dedupe, h)) {
            s->duplicates_skipped++;
            goto out;
        }
    }
    envelope_source_t src = {.connector = "cassandra", .name = s->prefix, .ts_ms = micros_to_ms(ts_us),
                             .lsn = -1, .txid = -1, .snapshot = "false",
                             .extra = s->extra.len ? (const char *)s->extra.buf : NULL, .extra_len = s->extra.len};
    if (pending_begin(s, topic, src.ts_ms)) {
        rc = -1;
        goto out;
    }
    if (envelope_write_key(&s->pend_key, t->env, s->row) == SB_ENOENT) s->pend_key_null = true;
    envelope_write_value(&s->pend_val, t->env, op, op == 'd' ? s->row : NULL, op == 'd' ? NULL : s->row, &src,
                         sb_now_ms());
    if (tombstone_after && !s->pend_key_null) {
        if (pending_begin(s, topic, src.ts_ms)) {
            rc = -1;
            goto out;
        }
        envelope_write_key(&s->pend_key, t->env, s->row);
        s->pend_val_null = true;
    }
    if (s->pend_key.oom || s->pend_val.oom || s->extra.oom || s->coll.oom)
        rc = connect_err_set(&s->cb_err, CONNECT_ERR_TRANSIENT, -1, "out of memory encoding an event");
out:
    sb_wr_reset(&s->extra);
    sb_wr_reset(&s->coll);
    s->ttl_max = 0;
    return rc;
}

/* Appends the JSON form of one value of a CQL type to w (through s->tmp). */
static void json_value(cs_source_t *s, sb_wr_t *w, const char *type, sb_slice_t v, bool as_string)
{
    sb_wr_reset(&s->tmp);
    render_value(&s->tmp, type, v);
    envelope_value_t ev = {(const char *)s->tmp.buf, (int32_t)s->tmp.len};
    if (as_string) envelope_write_json_string(w, ev.p ? ev.p : "", s->tmp.len);
    else envelope_write_json_value(w, kind_for(type), ev);
}

/* A UDT value (its fields in order, each an int length and bytes, -1 for null; a value may end
 * early — fields added by ALTER TYPE since it was written — and those fields are null) as a JSON
 * object with the field names of system_schema.types. w must not be s->tmp. */
static void udt_json(cs_source_t *s, sb_wr_t *w, const char *ks, const cass_udt_t *u, sb_slice_t v, int depth)
{
    sb_rd_t rd;
    sb_rd_init(&rd, v.p, v.len > 0 ? (size_t)v.len : 0);
    sb_wr_bytes(w, "{", 1);
    for (int i = 0; i < u->nfields; i++) {
        if (i) sb_wr_bytes(w, ",", 1);
        envelope_write_json_string(w, u->field_names[i], strlen(u->field_names[i]));
        sb_wr_bytes(w, ":", 1);
        if (!sb_rd_ok(&rd) || sb_rd_remaining(&rd) == 0) {
            sb_wr_bytes(w, "null", 4);
            continue;
        }
        int32_t len = sb_rd_i32(&rd);
        const uint8_t *p = len > 0 ? sb_rd_bytes(&rd, (size_t)len) : NULL;
        if (!sb_rd_ok(&rd) || len < 0) {
            sb_wr_bytes(w, "null", 4);
            continue;
        }
        field_json(s, w, ks, u->field_types[i], (sb_slice_t){p ? p : (const uint8_t *)"", len}, depth + 1);
    }
    sb_wr_bytes(w, "}", 1);
}

/* One value as JSON: a UDT (also nested, to a bounded depth) as an object, anything else as
 * json_value renders it. */
static void field_json(cs_source_t *s, sb_wr_t *w, const char *ks, const char *type, sb_slice_t v, int depth)
{
    const cass_udt_t *u = depth < 8 ? cass_schema_find_udt(&s->schema, ks, type) : NULL;
    if (u) udt_json(s, w, ks, u, v, depth);
    else json_value(s, w, type, v, false);
}

/* An element-level change of a non-frozen collection or UDT (cells [first, last] of one column
 * without a complex deletion: col = col + ..., col[k] = ..., DELETE col[k], UPDATE ... SET
 * udt.f = ...) as a member of source.collections:
 *   list: {"put":{"<element timeuuid>":v,...},"remove":["<timeuuid>",...]}
 *   set:  {"add":[e,...],"remove":[e,...]}
 *   map:  {"put":{"k":v,...},"remove":["k",...]}
 *   UDT:  {"put":{"<field name>":v,...},"remove":["<field name>",...]} (by index, values as
 *         hex, when the type is not in system_schema.types) */
static void render_collection_delta(cs_source_t *s, const char *ks, const cass_column_t *col, int first, int last)
{
    char kind, elem[128], value[128];
    bool udt = cass_type_collection(col->type, &kind, elem, sizeof(elem), value, sizeof(value)) != 0;
    if (udt) kind = 'u';
    /* Known from system_schema.types: fields by name and values by their types; otherwise by
     * index and as hex (the offline cassandra.schema has no types). */
    const cass_udt_t *u = udt ? cass_schema_find_udt(&s->schema, ks, col->type) : NULL;
    sb_wr_t *w = &s->coll;
    if (w->len) sb_wr_bytes(w, ",", 1);
    envelope_write_json_string(w, col->name, strlen(col->name));
    sb_wr_bytes(w, ":{", 2);
    bool any_put = false, any_rm = false;
    for (int pass = 0; pass < 2; pass++) {
        bool put = pass == 0;
        bool any = false;
        for (int c = first; c <= last; c++) {
            const cass_cell_t *cell = &s->m.cells[c];
            if (cell->tombstone == put) continue;
            if (!any) {
                if (put) sb_wr_bytes(w, kind == 's' ? "\"add\":[" : "\"put\":{", 7);
                else {
                    if (any_put) sb_wr_bytes(w, ",", 1);
                    sb_wr_bytes(w, "\"remove\":[", 10);
                }
            } else {
                sb_wr_bytes(w, ",", 1);
            }
            any = true;
            /* the element's key */
            if (kind == 'l') json_value(s, w, "timeuuid", cell->path, true);
            else if (kind == 's') json_value(s, w, elem, cell->path, !put);
            else if (kind == 'm') json_value(s, w, elem, cell->path, true);
            else if (u && udt_field_index(cell->path) >= 0 && udt_field_index(cell->path) < u->nfields) {
                const char *f = u->field_names[udt_field_index(cell->path)];
                envelope_write_json_string(w, f, strlen(f));
            } else if (cell->path.len == 2) {
                char b[16];
                int n = snprintf(b, sizeof(b), "\"%d\"", udt_field_index(cell->path));
                sb_wr_bytes(w, b, (size_t)n);
            } else json_value(s, w, "blob", cell->path, true);
            if (put && kind != 's') {
                sb_wr_bytes(w, ":", 1);
                if (kind == 'u' && u && udt_field_index(cell->path) >= 0 && udt_field_index(cell->path) < u->nfields)
                    field_json(s, w, ks, u->field_types[udt_field_index(cell->path)], cell->value, 1);
                else
                    json_value(s, w, kind == 'm' ? value : kind == 'l' ? elem : "blob", cell->value, false);
            }
        }
        if (any) sb_wr_bytes(w, put && kind != 's' ? "}" : "]", 1);
        if (put) any_put = any;
        else any_rm = any;
    }
    (void)any_rm;
    sb_wr_bytes(w, "}", 1);
}

/* A range deletion's bound as {"clustering":[...],"inclusive":bool}; an empty list is
 * unbounded on that side. */
static void render_bound(cs_source_t *s, const cs_table_t *t, const cass_row_t *marker, bool inclusive)
{
    const cass_table_t *d = t->def;
    sb_wr_bytes(&s->extra, "{\"clustering\":[", 15);
    for (int i = 0; i < marker->nclustering && i < d->nck; i++) {
        if (i) sb_wr_bytes(&s->extra, ",", 1);
        sb_slice_t v = s->m.clustering[marker->first_clustering + i];
        if (v.len < 0) sb_wr_bytes(&s->extra, "null", 4);
        else json_value(s, &s->extra, d->cols[d->ck[i]].type, v, false);
    }
    sb_wr_bytes(&s->extra, inclusive ? "],\"inclusive\":true}" : "],\"inclusive\":false}", inclusive ? 19 : 20);
}

/* Events of one partition update:
 * - partition deletion: op d with the partition key (clustering columns absent), a tombstone;
 * - range deletion (DELETE ... WHERE ck > ..., or a clustering prefix): op d with the partition
 *   key in before and source.range = {"start":bound,"end":bound}, no tombstone (the record key
 *   names no single row);
 * - row deletion: op d with the full key, a tombstone;
 * - row or static row with cells: op c when the row has primary-key liveness (an INSERT),
 *   u otherwise (an UPDATE); after holds the key and the written columns only (a partial row:
 *   sinks update only those), a deleted cell as null. Write time = the newest cell or row
 *   timestamp; source.ttl = the largest TTL of the row's expiring cells or liveness.
 * - a non-frozen collection written whole (INSERT, or SET col = ...: a complex deletion and the
 *   new elements) as JSON text; deleted or emptied as null; an element-level change leaves the
 *   column out of after and describes the change in source.collections.<column>. */
static int emit_update(cs_source_t *s, const cs_table_t *t, const cass_partition_update_t *u)
{
    const cass_table_t *d = t->def;
    s->ttl_max = 0;
    sb_wr_reset(&s->extra);
    sb_wr_reset(&s->coll);
    if (u->partition_deletion.marked_for_delete_at != CASS_LIVE_TIMESTAMP) {
        if (fill_key(s, t, u, NULL)) goto bad_key;
        fix_pointers(s, t);
        if (push(s, t, 'd', u->partition_deletion.marked_for_delete_at, true)) return -1;
    }
    const cass_row_t *open = NULL; /* the start bound of the range deletion being read */
    bool open_inclusive = false;
    for (int r = u->first_row; r < u->first_row + u->nrows; r++) {
        const cass_row_t *row = &s->m.rows[r];
        if (row->kind == CASS_RANGE_TOMBSTONE_MARKER) {
            cass_bound_kind_t b = row->bound;
            bool closes = b == CASS_EXCL_END_BOUND || b == CASS_INCL_END_BOUND || b == CASS_EXCL_END_INCL_START_BOUNDARY ||
                          b == CASS_INCL_END_EXCL_START_BOUNDARY;
            bool opens = b == CASS_INCL_START_BOUND || b == CASS_EXCL_START_BOUND ||
                         b == CASS_EXCL_END_INCL_START_BOUNDARY || b == CASS_INCL_END_EXCL_START_BOUNDARY;
            if (closes && open) {
                if (fill_key(s, t, u, NULL)) goto bad_key;
                fix_pointers(s, t);
                sb_wr_bytes(&s->extra, ",\"range\":{\"start\":", 18);
                render_bound(s, t, open, open_inclusive);
                sb_wr_bytes(&s->extra, ",\"end\":", 7);
                render_bound(s, t, row, b == CASS_INCL_END_BOUND || b == CASS_INCL_END_EXCL_START_BOUNDARY);
                sb_wr_bytes(&s->extra, "}", 1);
                s->range_tombstones++;
                /* On a topic of their own, as scylla-source does: the key is the partition
                 * key, and a sink applying it on the table's topic would take it for a
                 * partition delete and remove the whole partition. */
                if (push_to(s, t, t->range_topic, 'd', row->deletion.marked_for_delete_at, false)) return -1;
                open = NULL;
            }
            if (opens) {
                open = row;
                open_inclusive = b == CASS_INCL_START_BOUND || b == CASS_EXCL_END_INCL_START_BOUNDARY;
            }
            continue;
        }
        if (row->deletion.marked_for_delete_at != CASS_LIVE_TIMESTAMP) {
            if (fill_key(s, t, u, row)) goto bad_key;
            fix_pointers(s, t);
            if (push(s, t, 'd', row->deletion.marked_for_delete_at, true)) return -1;
        }
        if (row->ncells == 0 && row->ncomplex_deletions == 0 && row->timestamp == CASS_LIVE_TIMESTAMP) continue;
        if (fill_key(s, t, u, row)) goto bad_key;
        int64_t ts = row->timestamp;
        int written = 0;
        if (row->timestamp != CASS_LIVE_TIMESTAMP && row->ttl > 0) s->ttl_max = row->ttl;
        for (int c = row->first_cell; c < row->first_cell + row->ncells; c++) {
            const cass_cell_t *cell = &s->m.cells[c];
            const cass_column_t *col = &d->cols[cell->column];
            if (col->complex) {
                int last = c;
                while (last + 1 < row->first_cell + row->ncells && s->m.cells[last + 1].column == cell->column) last++;
                int64_t del_ts;
                size_t at = s->arena.len;
                if (!col->dropped && collection_replaced(s, row, cell->column, &del_ts) &&
                    del_ts != CASS_LIVE_TIMESTAMP && render_collection(s, d->keyspace, col, c, last)) {
                    s->arena_off[cell->column] = at;
                    s->row[cell->column].len = (int32_t)(s->arena.len - at);
                    written++;
                } else {
                    s->arena.len = at;
                    if (!col->dropped) {
                        render_collection_delta(s, d->keyspace, col, c, last);
                        s->collection_changes++;
                        written++;
                    }
                }
                for (int k = c; k <= last; k++) {
                    if (s->m.cells[k].timestamp > ts || ts == CASS_LIVE_TIMESTAMP) ts = s->m.cells[k].timestamp;
                    if (s->m.cells[k].expiring && s->m.cells[k].ttl > s->ttl_max) s->ttl_max = s->m.cells[k].ttl;
                }
                c = last;
                continue;
            }
            if (col->dropped) continue;
            if (cell->timestamp > ts || ts == CASS_LIVE_TIMESTAMP) ts = cell->timestamp;
            if (cell->expiring && cell->ttl > s->ttl_max) s->ttl_max = cell->ttl;
            written++;
            if (cell->tombstone) {
                s->row[cell->column].len = ENVELOPE_NULL;
                continue;
            }
            s->arena_off[cell->column] = s->arena.len;
            const cass_udt_t *udt = cass_schema_find_udt(&s->schema, d->keyspace, col->type);
            if (udt) udt_json(s, &s->arena, d->keyspace, udt, cell->value, 0); /* a frozen UDT: JSON text */
            else render_value(&s->arena, col->type, cell->value);
            s->row[cell->column].len = (int32_t)(s->arena.len - s->arena_off[cell->column]);
        }
        for (int i = row->first_complex_deletion; i < row->first_complex_deletion + row->ncomplex_deletions; i++) {
            const cass_complex_deletion_t *cd = &s->m.complex_deletions[i];
            if (cd->deletion.marked_for_delete_at == CASS_LIVE_TIMESTAMP) continue;
            if (d->cols[cd->column].dropped || s->row[cd->column].len != ENVELOPE_ABSENT) continue;
            /* overwritten by an empty collection, or deleted: null, as CQL reads it */
            s->row[cd->column].len = ENVELOPE_NULL;
            written++;
            if (cd->deletion.marked_for_delete_at > ts || ts == CASS_LIVE_TIMESTAMP) ts = cd->deletion.marked_for_delete_at;
        }
        if (!written && row->timestamp == CASS_LIVE_TIMESTAMP) {
            s->ttl_max = 0;
            sb_wr_reset(&s->coll);
            continue;
        }
        fix_pointers(s, t);
        if (push(s, t, row->timestamp != CASS_LIVE_TIMESTAMP ? 'c' : 'u', ts, false)) return -1;
    }
    return 0;
bad_key:
    return connect_err_set(&s->cb_err, CONNECT_ERR_FATAL, -1,
                           "cassandra source: partition key of %s.%s in segment %" PRId64 " does not match the schema",
                           d->keyspace, d->name, s->seg_id);
}

static const cs_table_t *table_of(const cs_source_t *s, const cass_table_t *def)
{
    for (int i = 0; i < s->ntables; i++)
        if (s->tables[i].def == def) return &s->tables[i];
    return NULL;
}

static int schema_reload(cs_source_t *s, char *why, size_t why_cap);

static int on_entry(void *ud, const cl_entry_t *e)
{
    cs_source_t *s = ud;
    sb_err_t err = {0};
    int rc = cass_mutation_decode(e->data, e->len, s->messaging_version, &s->schema, &s->m, &err);
    /* A table id that system_schema did not list at the last read, or a column the captured
     * table did not have: the schema changed since (CREATE TABLE, ALTER TABLE ADD). Read it
     * again, once, and decode again; a table still unknown is not captured from then on. */
    bool reread = s->cql && ((rc == SB_ENOENT && !idset_has(&s->ignored, s->m.unknown_table)) ||
                             (rc != 0 && rc != SB_ENOENT && rc != SB_ENOMEM));
    if (reread) {
        char why[256];
        if (schema_reload(s, why, sizeof(why)) != 0) {
            connect_err_set(&s->cb_err, CONNECT_ERR_TRANSIENT, -1,
                            "cassandra source: re-reading the schema for the mutation ending at %" PRIu64
                            " of segment %" PRId64 ": %s",
                            e->position, s->seg_id, why);
            s->cb_failed = true;
            return 1;
        }
        err = (sb_err_t){0};
        rc = cass_mutation_decode(e->data, e->len, s->messaging_version, &s->schema, &s->m, &err);
        if (rc == SB_ENOENT && !idset_has(&s->ignored, s->m.unknown_table) && idset_add(&s->ignored, s->m.unknown_table))
            rc = SB_ENOMEM;
    }
    if (rc == SB_ENOENT) {
        /* A segment holds the writes of every table; only the CDC tables are in the schema. */
        s->other_table_mutations++;
        return 0;
    }
    if (rc != 0) {
        connect_err_set(&s->cb_err, CONNECT_ERR_FATAL, -1,
                        "cassandra source: cannot decode the mutation ending at %" PRIu64 " of segment %" PRId64
                        ": %s (%s)",
                        e->position, s->seg_id, err.msg,
                        s->cql ? "also after reading system_schema again" : "is cassandra.schema current?");
        s->cb_failed = true;
        return 1;
    }
    s->mutations++;
    for (int i = 0; i < s->m.nupdates; i++) {
        const cs_table_t *t = table_of(s, s->m.updates[i].table);
        if (t && emit_update(s, t, &s->m.updates[i])) {
            s->cb_failed = true;
            return 1;
        }
    }
    if (s->has_pending) {
        char pos[CS_POSITION_MAX];
        snprintf(pos, sizeof(pos), "%" PRId64 ":%" PRIu64 ":%" PRIu64 ":%" PRIu64, s->seg_id, s->st.next_section,
                 s->st.next_logical, e->position);
        if (emit_now(s, pos)) {
            s->cb_failed = true;
            return 1;
        }
        s->seg_last_pos = (int64_t)e->position;
    }
    return 0;
}

/* ---------------------------------------------------------------- segments */

static int key_lookup(void *ud, const char *alias, uint8_t key[32], size_t *key_len)
{
    cs_source_t *s = ud;
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i].alias, alias)) {
            memcpy(key, s->keys[i].key, s->keys[i].len);
            *key_len = s->keys[i].len;
            return 0;
        }
    return SB_ENOENT;
}

/* "CommitLog-<version>-<id>.log" -> id */
static bool segment_name(const char *name, int64_t *id, int *version)
{
    int v;
    long long n;
    int used = 0;
    if (sscanf(name, "CommitLog-%d-%lld.log%n", &v, &n, &used) != 2 || used == 0 || name[used] != '\0') return false;
    *id = n;
    *version = v;
    return true;
}

/* The smallest segment id in cdc_raw greater than `after`. */
static bool next_segment(cs_source_t *s, int64_t after, int64_t *id, int *version)
{
    *id = INT64_MAX;
    *version = 0;
    DIR *d = opendir(s->dir);
    if (!d) return false;
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t n;
        int v;
        if (!segment_name(de->d_name, &n, &v) || n <= after) continue;
        if (!found || n < *id) {
            *id = n;
            *version = v;
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Copies src to dst (a new file, fsync'ed) for an archive.dir on another file system, where
 * rename(2) fails with EXDEV; 0 or -errno. A partial copy is removed. */
static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0) rc = -errno;
            break;
        }
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) rc = -errno;
            else off += w;
        }
        if (rc) break;
    }
    if (rc == 0 && fsync(out) != 0) rc = -errno;
    if (close(out) != 0 && rc == 0) rc = -errno;
    close(in);
    if (rc) unlink(dst);
    return rc;
}

static void finish_segment_files(cs_source_t *s, const char *path, const char *idx_path)
{
    if (s->done_action == DONE_KEEP) return;
    if (s->done_action == DONE_ARCHIVE) {
        const char *base = strrchr(path, '/');
        char dst[PATH_MAX + 8];
        snprintf(dst, sizeof(dst), "%s%s", s->archive_dir, base ? base : "/segment");
        if (rename(path, dst) != 0) {
            /* Another file system: copy, then remove the original (cdc_raw must not fill). */
            int rc = errno == EXDEV ? copy_file(path, dst) : -errno;
            if (rc == 0 && unlink(path) != 0) rc = -errno;
            if (rc) sb_warn("cassandra", "cannot archive %s to %s: %s", path, dst, strerror(-rc));
        }
    } else if (unlink(path) != 0 && errno != ENOENT) {
        sb_warn("cassandra", "cannot delete %s: %s", path, strerror(errno));
    }
    /* The index goes either way: Cassandra only reads it for segments still in cdc_raw. */
    if (unlink(idx_path) != 0 && errno != ENOENT) sb_warn("cassandra", "cannot delete %s: %s", idx_path, strerror(errno));
    s->segments_done++;
}

/* Deletes/archives every done segment whose last emitted record is committed. */
static void release_done(cs_source_t *s)
{
    int keep = 0;
    for (int i = 0; i < s->ndone; i++) {
        cs_done_t *d = &s->done[i];
        bool committed = d->last_delivered < 0 || s->committed_seg > d->id ||
                         (s->committed_seg == d->id && s->committed_delivered >= d->last_delivered);
        if (committed) finish_segment_files(s, d->path, d->idx_path);
        else s->done[keep++] = *d;
    }
    s->ndone = keep;
}

static int open_segment(cs_source_t *s, int64_t id, int version)
{
    s->have_seg = true;
    s->seg_id = id;
    snprintf(s->seg_path, sizeof(s->seg_path), "%s/CommitLog-%d-%" PRId64 ".log", s->dir, version, id);
    snprintf(s->idx_path, sizeof(s->idx_path), "%s/CommitLog-%d-%" PRId64 "_cdc.idx", s->dir, version, id);
    s->buf_len = 0;
    memset(&s->st, 0, sizeof(s->st));
    s->seg_emitted = 0;
    s->seg_last_pos = -1;
    s->messaging_version = 0;
    /* Resume inside the segment of the committed position. */
    const char *committed = source_committed_position(s->ctx);
    int64_t seg;
    uint64_t section, logical, delivered;
    if (committed && parse_position(committed, &seg, &section, &logical, &delivered) == 0 && seg == id) {
        s->st.next_section = section;
        s->st.next_logical = logical;
        s->st.delivered = delivered;
    }
    return 0;
}

/* Reads the _cdc.idx: the synced offset and whether the segment is complete. A missing index
 * means nothing is synced yet. */
static bool read_index(cs_source_t *s, uint64_t *offset, bool *completed)
{
    *offset = 0;
    *completed = false;
    char text[128];
    int fd = open(s->idx_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0) return true;
    /* Cassandra rewrites the file in place; a read that races the write may see a partial
     * number, which the next poll corrects. */
    if (cl_cdc_index_parse(text, (size_t)n, offset, completed) != 0) {
        *offset = 0;
        *completed = false;
    }
    return true;
}

/* Whether a segment after the current one already has a _cdc.idx. Cassandra hard-links every
 * new segment into cdc_raw but writes an index only for one that holds CDC writes, at a sync;
 * its sync pass goes through the segments oldest first, and only the newest segment takes
 * writes. So once a later segment has an index, the current one without an index will never
 * get one: it holds no CDC data (Cassandra removes its link when it discards it). Waiting for
 * that removal instead could stall the source for as long as the memtables take to flush. */
static bool later_segment_has_index(cs_source_t *s)
{
    DIR *d = opendir(s->dir);
    if (!d) return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        long long n;
        int v, used = 0;
        if (sscanf(de->d_name, "CommitLog-%d-%lld_cdc.idx%n", &v, &n, &used) == 2 && used > 0 &&
            de->d_name[used] == '\0' && n > s->seg_id)
            found = true;
    }
    closedir(d);
    return found;
}

/* Appends the segment's bytes up to `limit` to s->buf. */
static int read_more(cs_source_t *s, uint64_t limit, connect_err_t *err)
{
    if (limit <= s->buf_len) return 0;
    if (limit > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 1 << 20;
        while (cap < limit) cap *= 2;
        uint8_t *p = realloc(s->buf, cap);
        if (!p) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "cassandra source: out of memory");
        s->buf = p;
        s->buf_cap = cap;
    }
    int fd = open(s->seg_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "cassandra source: cannot open %s: %s", s->seg_path, strerror(errno));
    while (s->buf_len < limit) {
        ssize_t n = pread(fd, s->buf + s->buf_len, limit - s->buf_len, (off_t)s->buf_len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        s->buf_len += (size_t)n;
    }
    close(fd);
    return 0;
}

/* One step on the current segment. Returns 1 when it made progress or moved on, 0 when there
 * is nothing new, -1 on error. */
static int segment_step(cs_source_t *s, connect_err_t *err)
{
    if (!s->have_seg) {
        int64_t id;
        int version;
        if (!next_segment(s, s->last_finished_id, &id, &version)) return 0;
        if (open_segment(s, id, version)) return -1;
    }
    uint64_t synced;
    bool completed;
    bool has_index = read_index(s, &synced, &completed);
    struct stat st;
    if (stat(s->seg_path, &st) != 0 || (!has_index && later_segment_has_index(s))) {
        /* Removed underneath us (Cassandra drops the link of a segment without CDC data when it
         * discards it), or known to hold no CDC data: go on with the next one. */
        sb_info("cassandra", "segment %s holds no CDC data; skipped", s->seg_path);
        s->last_finished_id = s->seg_id;
        s->have_seg = false;
        return 1;
    }
    uint64_t limit = synced < (uint64_t)st.st_size ? synced : (uint64_t)st.st_size;
    if (read_more(s, limit, err)) return -1;
    size_t before = s->st.entries;
    s->cb_failed = false;
    sb_err_t rerr = {0};
    if (s->buf_len > 0) {
        cl_descriptor_t d;
        if (cl_descriptor_parse(s->buf, s->buf_len, &d, &rerr) == 0) s->messaging_version = d.messaging_version;
        int rc = cl_reader_read(s->reader, s->buf, s->buf_len, &s->st, on_entry, s, &rerr);
        if (rc != 0)
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: segment %s: %s", s->seg_path, rerr.msg);
    }
    if (s->cb_failed) {
        *err = s->cb_err;
        return -1;
    }
    if (s->st.stop == CL_STOP_TORN && completed)
        return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                               "cassandra source: completed segment %s is damaged at %" PRIu64 ": %s", s->seg_path,
                               s->st.next_section, s->st.detail);
    if (completed && s->buf_len >= limit && (s->st.stop == CL_STOP_END || s->st.stop == CL_STOP_NEED_MORE)) {
        if (s->ndone == s->done_cap) {
            int cap = s->done_cap ? s->done_cap * 2 : 8;
            cs_done_t *p = realloc(s->done, (size_t)cap * sizeof(*p));
            if (!p) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "cassandra source: out of memory");
            s->done = p;
            s->done_cap = cap;
        }
        cs_done_t *d = &s->done[s->ndone++];
        d->id = s->seg_id;
        snprintf(d->path, sizeof(d->path), "%s", s->seg_path);
        snprintf(d->idx_path, sizeof(d->idx_path), "%s", s->idx_path);
        d->last_delivered = s->seg_emitted ? s->seg_last_pos : -1;
        s->last_finished_id = s->seg_id;
        s->have_seg = false;
        release_done(s);
        return 1;
    }
    return s->st.entries > before ? 1 : 0;
}

/* ---------------------------------------------------------------- ops */

static void free_tables(cs_source_t *s)
{
    for (int i = 0; i < s->ntables; i++) {
        envelope_table_free(s->tables[i].env);
        free(s->tables[i].topic);
        free(s->tables[i].range_topic);
    }
    free(s->tables);
    s->tables = NULL;
    s->ntables = 0;
}

/* (Re)builds the per-table topics and envelopes from s->schema. */
static int build_tables(cs_source_t *s)
{
    free_tables(s);
    int maxcols = 0;
    s->tables = calloc((size_t)(s->schema.ntables ? s->schema.ntables : 1), sizeof(*s->tables));
    if (!s->tables) return SB_ENOMEM;
    for (int i = 0; i < s->schema.ntables; i++) {
        const cass_table_t *d = s->schema.tables[i];
        cs_table_t *t = &s->tables[s->ntables++];
        t->def = d;
        if (d->ncols > maxcols) maxcols = d->ncols;
        envelope_column_t *cols = calloc((size_t)(d->ncols ? d->ncols : 1), sizeof(*cols));
        size_t topic_len = strlen(s->prefix) + strlen(d->keyspace) + strlen(d->name) + 3;
        t->topic = malloc(topic_len);
        t->range_topic = malloc(topic_len + strlen(".range_deletes"));
        if (!cols || !t->topic || !t->range_topic) {
            free(cols);
            return SB_ENOMEM;
        }
        sprintf(t->topic, "%s.%s.%s", s->prefix, d->keyspace, d->name);
        sprintf(t->range_topic, "%s.range_deletes", t->topic);
        for (int c = 0; c < d->ncols; c++) {
            cols[c].name = d->cols[c].name;
            cols[c].type_name = d->cols[c].type;
            cols[c].kind = kind_for(d->cols[c].type);
            cols[c].key = d->cols[c].kind == CASS_COL_PARTITION_KEY || d->cols[c].kind == CASS_COL_CLUSTERING;
        }
        t->env = envelope_table_new(d->keyspace, d->keyspace, d->name, cols, d->ncols);
        free(cols);
        if (!t->env) return SB_ENOMEM;
    }
    envelope_value_t *row = realloc(s->row, (size_t)(maxcols ? maxcols : 1) * sizeof(*s->row));
    if (row) s->row = row;
    size_t *off = realloc(s->arena_off, (size_t)(maxcols ? maxcols : 1) * sizeof(*s->arena_off));
    if (off) s->arena_off = off;
    return row && off ? 0 : SB_ENOMEM;
}

/* Reads the schema from system_schema again and, when that worked, replaces the current one.
 * Only called between commit-log entries (nothing pending refers to the old tables). */
static int schema_reload(cs_source_t *s, char *why, size_t why_cap)
{
    cass_schema_t fresh;
    cass_schema_init(&fresh);
    cs_idset_t ignored = {0};
    s->schema_reads++;
    s->schema_read_transient = false;
    int rc = schema_read_cql(s->cql, s->include, &fresh, &ignored, why, why_cap);
    if (rc != 0) {
        /* The content of system_schema (no CDC table, a bad row) is not transient; a failed
         * request may be. */
        s->schema_read_transient = rc == -2 && cql_failure_transient(s->cql);
        cass_schema_deinit(&fresh);
        free(ignored.ids);
        return -1;
    }
    free_tables(s);
    cass_schema_deinit(&s->schema);
    s->schema = fresh;
    free(s->ignored.ids);
    s->ignored = ignored;
    if (build_tables(s) != 0) {
        snprintf(why, why_cap, "out of memory");
        return -1;
    }
    sb_info("cassandra", "schema read from system_schema: %d captured table(s), %d other(s)", s->schema.ntables,
            s->ignored.n);
    return 0;
}

static void cs_stop(void *state);

static int cs_start(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    connect_config_errors_t errs = {0};
    if (cs_validate(config, &errs))
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: invalid config: %s: %s", errs.items[0].field,
                               errs.items[0].msg);
    cs_source_t *s = calloc(1, sizeof(*s));
    if (!s) return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: out of memory");
    s->ctx = ctx;
    s->dir = strdup(cfg_get(config, "cdc_raw.dir"));
    s->prefix = strdup(cfg_get(config, "topic.prefix"));
    const char *done = cfg_get(config, "processed.segments");
    s->done_action = !done || !strcmp(done, "delete") ? DONE_DELETE : !strcmp(done, "archive") ? DONE_ARCHIVE : DONE_KEEP;
    if (s->done_action == DONE_ARCHIVE) s->archive_dir = strdup(cfg_get(config, "archive.dir"));
    cfg_int(config, "poll.interval.ms", 250, 1, &s->poll_ms);
    char why[256];
    cass_schema_init(&s->schema);
    if (cfg_get(config, "cassandra.schema")) parse_schema(cfg_get(config, "cassandra.schema"), &s->schema, why, sizeof(why));
    parse_keys(cfg_get(config, "commitlog.encryption.keys"), s->keys, &s->nkeys, why, sizeof(why));
    cass_mutation_init(&s->m);
    sb_wr_init(&s->pend_key, 256);
    sb_wr_init(&s->pend_val, 1024);
    sb_wr_init(&s->arena, 1024);
    sb_wr_init(&s->tmp, 256);
    sb_wr_init(&s->extra, 256);
    sb_wr_init(&s->coll, 256);
    int64_t dedupe_entries;
    cfg_int(config, "dedupe.cache.size", 65536, 0, &dedupe_entries);
    if (dedupe_entries > 0) {
        size_t cap = 16;
        while (cap < (size_t)dedupe_entries) cap *= 2;
        s->dedupe.gen[0] = calloc(cap, sizeof(uint64_t));
        s->dedupe.gen[1] = calloc(cap, sizeof(uint64_t));
        s->dedupe.cap = s->dedupe.gen[0] && s->dedupe.gen[1] ? cap : 0;
    }
    s->last_finished_id = -1;
    s->committed_seg = -1;
    bool ok = s->dir && s->prefix && cl_reader_new(&s->reader, key_lookup, s) == 0;
    if (!ok) {
        cs_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: out of memory");
    }
    if (cfg_get(config, "cassandra.contact.points")) {
        cql_client_opts_t o;
        cql_opts_from(config, &o);
        sb_err_t cerr = {0};
        const char *inc = cfg_get(config, "table.include.list");
        if (inc) s->include = strdup(inc);
        if (cql_client_new(&o, &s->cql, &cerr) != 0) {
            cs_stop(s);
            /* Transient: the node may be starting; the runtime retries the task with backoff. */
            return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1,
                                   "cassandra source: cannot connect to %s: %s (retrying with backoff)", o.contact_points,
                                   cerr.msg);
        }
        if (schema_reload(s, why, sizeof(why)) != 0) {
            /* A node that is up but slow or unavailable (a timeout, Unavailable) is retried
             * like one that is down; a schema without CDC tables or a refused query is not. */
            bool transient = s->schema_read_transient;
            cs_stop(s);
            return connect_err_set(err, transient ? CONNECT_ERR_TRANSIENT : CONNECT_ERR_FATAL, -1,
                                   "cassandra source: reading the schema from %s: %s%s", o.contact_points, why,
                                   transient ? " (retrying with backoff)" : "");
        }
    } else if (build_tables(s) != 0) {
        cs_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: out of memory");
    }
    const char *committed = source_committed_position(ctx);
    int64_t seg;
    uint64_t a, b, c;
    if (committed) {
        if (parse_position(committed, &seg, &a, &b, &c) != 0) {
            cs_stop(s);
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "cassandra source: committed position \"%s\" is not a commit-log position",
                                   committed);
        }
        /* Segments before the committed one were fully read and committed: a crash between the
         * commit and the deletion leaves them behind, so finish them now. */
        s->committed_seg = seg;
        s->committed_delivered = (int64_t)c;
        s->last_finished_id = seg - 1;
        int64_t id, after = -1;
        int version;
        while (s->done_action != DONE_KEEP && next_segment(s, after, &id, &version) && id < seg) {
            char path[PATH_MAX], idx[PATH_MAX];
            snprintf(path, sizeof(path), "%s/CommitLog-%d-%" PRId64 ".log", s->dir, version, id);
            snprintf(idx, sizeof(idx), "%s/CommitLog-%d-%" PRId64 "_cdc.idx", s->dir, version, id);
            finish_segment_files(s, path, idx);
            after = id; /* a file that cannot be removed is warned about once, not retried forever */
        }
    }
    *state = s;
    return 0;
}

static int cs_poll(void *state, int timeout_ms, connect_err_t *err)
{
    cs_source_t *s = state;
    int64_t deadline = sb_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int rc = segment_step(s, err);
        if (rc < 0) return -1;
        if (rc == 0) break;
        if (sb_now_ms() >= deadline) return 0;
    }
    int wait = (int)(timeout_ms < s->poll_ms ? timeout_ms : s->poll_ms);
    if (wait > 0) poll(NULL, 0, wait);
    return 0;
}

static void cs_commit(void *state, const char *position)
{
    cs_source_t *s = state;
    int64_t seg;
    uint64_t a, b, c;
    if (parse_position(position, &seg, &a, &b, &c) != 0) return;
    if (seg < s->committed_seg || (seg == s->committed_seg && (int64_t)c <= s->committed_delivered)) return;
    s->committed_seg = seg;
    s->committed_delivered = (int64_t)c;
    release_done(s);
}

static void cs_stop(void *state)
{
    cs_source_t *s = state;
    if (!s) return;
    free_tables(s);
    cass_schema_deinit(&s->schema);
    cql_client_free(s->cql);
    free(s->include);
    free(s->ignored.ids);
    cass_mutation_deinit(&s->m);
    cl_reader_free(s->reader);
    sb_wr_deinit(&s->pend_key);
    sb_wr_deinit(&s->pend_val);
    sb_wr_deinit(&s->arena);
    sb_wr_deinit(&s->tmp);
    sb_wr_deinit(&s->extra);
    sb_wr_deinit(&s->coll);
    free(s->dedupe.gen[0]);
    free(s->dedupe.gen[1]);
    free(s->row);
    free(s->arena_off);
    free(s->buf);
    free(s->done);
    free(s->dir);
    free(s->prefix);
    free(s->archive_dir);
    free(s);
}

static void cs_status(void *state, json_t *out)
{
    cs_source_t *s = state;
    json_object_set_new(out, "segment", s->have_seg ? json_string(s->seg_path) : json_null());
    json_object_set_new(out, "segment_bytes_read", json_integer((json_int_t)s->buf_len));
    json_object_set_new(out, "segments_done", json_integer(s->segments_done));
    json_object_set_new(out, "segments_awaiting_commit", json_integer(s->ndone));
    json_object_set_new(out, "mutations", json_integer(s->mutations));
    json_object_set_new(out, "events", json_integer(s->events));
    json_object_set_new(out, "other_table_mutations", json_integer(s->other_table_mutations));
    json_object_set_new(out, "schema_source", json_string(s->cql ? "system_schema" : "cassandra.schema"));
    json_object_set_new(out, "schema_reads", json_integer(s->schema_reads));
    json_object_set_new(out, "captured_tables", json_integer(s->ntables));
    json_object_set_new(out, "user_types", json_integer(s->schema.nudts));
    json_object_set_new(out, "range_deletions", json_integer(s->range_tombstones));
    json_object_set_new(out, "collection_element_changes", json_integer(s->collection_changes));
    json_object_set_new(out, "duplicates_skipped", json_integer(s->duplicates_skipped));
    json_object_set_new(out, "skipped_bad_crc_entries", json_integer((json_int_t)s->st.bad_entries));
}

const source_ops_t cassandra_source_ops = {
    .name = "cassandra-source",
    .description = "Apache Cassandra change-data capture: reads the node's cdc_raw commit-log segments up to their synced offset",
    .validate = cs_validate,
    .start = cs_start,
    .poll = cs_poll,
    .commit = cs_commit,
    .stop = cs_stop,
    .status = cs_status,
    .validate_position = cs_validate_position,
};
