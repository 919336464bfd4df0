/* Chunked comparison, drill-down, repair and erasure against PostgreSQL; see reconcile.h.
 *
 * Every row is represented by the text of a record of the columns common to both tables (in
 * the source's column order): `md5(r::text)` where r is `(SELECT <common columns> FROM t) r`.
 * Both sides run the same SQL, so equal rows give equal text as long as the column types print
 * alike (the sink creates its columns with the source's type names). Keys are identified by
 * `json_build_object(<pk columns>)::text`, which is also what repair and erasure feed to
 * json_populate_record to find the row. */
#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/reconcile/reconcile.h"
#include "connect/sinks/sink_util.h"

#define MAX_COLS 256

typedef struct table_shape {
    int ncols;
    char cols[MAX_COLS][64];  /* common columns, source order */
    char types[MAX_COLS][128]; /* source type of each */
    int npk;
    int pk[16]; /* indexes into cols, key order */
} table_shape_t;

/* "schema.table" -> "schema"."table" */
static void add_qualified(strbuf_t *b, const char *st)
{
    const char *dot = strchr(st, '.');
    char schema[64];
    snprintf(schema, sizeof(schema), "%.*s", dot ? (int)(dot - st) : 0, st);
    if (dot) {
        strbuf_add_ident(b, schema);
        strbuf_adds(b, ".");
    }
    strbuf_add_ident(b, dot ? dot + 1 : st);
}

static int pq_fail(sb_err_t *err, PGconn *c, PGresult *r, const char *what)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", m ? m : "?");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
    /* Class 22 (data exception: a key value that is not an integer, a malformed uuid, ...) is
     * the caller's input, not a database failure; the REST layer answers it with 400. */
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int code = state && strncmp(state, "22", 2) == 0 ? SB_EINVAL : SB_EIO;
    PQclear(r);
    return sb_err_set(err, code, "%s: %s", what, msg);
}

static PGconn *connect_db(const char *conninfo, const char *side, sb_err_t *err)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        pq_fail(err, c, NULL, side);
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs sql with text params and returns a result of the wanted status, or NULL with err set. */
static PGresult *run(PGconn *c, const char *sql, int n, const char *const *params, ExecStatusType want, sb_err_t *err)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        pq_fail(err, c, r, "query failed");
        return NULL;
    }
    return r;
}

static const char COLUMNS_SQL[] =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
    /* int2vector subscripts start at 0: normalise to a 1-based key position */
    "coalesce(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0) "
    "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
    "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

static int load_shape(PGconn *src, PGconn *dst, const char *src_table, const char *dst_table, table_shape_t *sh,
                      sb_err_t *err)
{
    strbuf_t q;
    strbuf_init(&q);
    add_qualified(&q, src_table);
    const char *p1[1] = {q.p};
    PGresult *rs = run(src, COLUMNS_SQL, 1, p1, PGRES_TUPLES_OK, err);
    strbuf_reset(&q);
    add_qualified(&q, dst_table);
    const char *p2[1] = {q.p};
    PGresult *rd = rs ? run(dst, COLUMNS_SQL, 1, p2, PGRES_TUPLES_OK, err) : NULL;
    strbuf_deinit(&q);
    if (!rs || !rd) {
        PQclear(rs);
        return SB_EIO;
    }
    memset(sh, 0, sizeof(*sh));
    int pkpos[16] = {0};
    int npk = 0;
    for (int i = 0; i < PQntuples(rs) && sh->ncols < MAX_COLS; i++) {
        const char *name = PQgetvalue(rs, i, 0);
        bool in_target = false;
        for (int j = 0; j < PQntuples(rd) && !in_target; j++) in_target = strcmp(PQgetvalue(rd, j, 0), name) == 0;
        int keypos = atoi(PQgetvalue(rs, i, 2));
        if (!in_target) {
            if (keypos > 0) {
                PQclear(rs);
                PQclear(rd);
                return sb_err_set(err, SB_EINVAL, "key column %s of %s is missing in %s", name, src_table, dst_table);
            }
            continue;
        }
        if (strlen(name) >= sizeof(sh->cols[0])) continue;
        snprintf(sh->cols[sh->ncols], sizeof(sh->cols[0]), "%s", name);
        snprintf(sh->types[sh->ncols], sizeof(sh->types[0]), "%s", PQgetvalue(rs, i, 1));
        if (keypos > 0 && keypos <= 16) {
            pkpos[keypos - 1] = sh->ncols + 1;
            if (keypos > npk) npk = keypos;
        }
        sh->ncols++;
    }
    PQclear(rs);
    PQclear(rd);
    if (npk == 0) return sb_err_set(err, SB_EINVAL, "table %s has no primary key", src_table);
    for (int k = 0; k < npk; k++) {
        if (pkpos[k] == 0) return sb_err_set(err, SB_EINVAL, "primary key of %s is not usable", src_table);
        sh->pk[k] = pkpos[k] - 1;
    }
    sh->npk = npk;
    return 0;
}

static void add_col_list(strbuf_t *b, const table_shape_t *sh, const char *qual)
{
    for (int i = 0; i < sh->ncols; i++) {
        if (i) strbuf_adds(b, ", ");
        if (qual) strbuf_addf(b, "%s.", qual);
        strbuf_add_ident(b, sh->cols[i]);
    }
}

static void add_pk_list(strbuf_t *b, const table_shape_t *sh, const char *qual)
{
    for (int k = 0; k < sh->npk; k++) {
        if (k) strbuf_adds(b, ", ");
        if (qual) strbuf_addf(b, "%s.", qual);
        strbuf_add_ident(b, sh->cols[sh->pk[k]]);
    }
}

static void add_key_json(strbuf_t *b, const table_shape_t *sh)
{
    strbuf_adds(b, "json_build_object(");
    for (int k = 0; k < sh->npk; k++) {
        if (k) strbuf_adds(b, ", ");
        strbuf_add_literal(b, sh->cols[sh->pk[k]]);
        strbuf_adds(b, ", r.");
        strbuf_add_ident(b, sh->cols[sh->pk[k]]);
    }
    strbuf_adds(b, ")::text");
}

/* "(SELECT cols FROM table WHERE (pk) >= ($1..) AND (pk) < ($n..)) r"; `lo`/`hi` say which
 * bounds are present, parameters numbered from 1 (lo first). */
static void add_chunk_source(strbuf_t *b, const table_shape_t *sh, const char *table, bool lo, bool hi)
{
    strbuf_adds(b, "(SELECT ");
    add_col_list(b, sh, NULL);
    strbuf_adds(b, " FROM ");
    add_qualified(b, table);
    int param = 1;
    for (int side = 0; side < 2; side++) {
        if (!(side == 0 ? lo : hi)) continue;
        strbuf_adds(b, param == 1 ? " WHERE (" : " AND (");
        add_pk_list(b, sh, NULL);
        strbuf_adds(b, side == 0 ? ") >= (" : ") < (");
        for (int k = 0; k < sh->npk; k++) {
            strbuf_addf(b, "%s$%d::%s", k ? ", " : "", param++, sh->types[sh->pk[k]]);
        }
        strbuf_adds(b, ")");
    }
    strbuf_adds(b, ") r");
}

/* Chunk bounds: every RECON_CHUNK_ROWS-th key of the source, as text values (npk per bound). */
static PGresult *chunk_bounds(PGconn *src, const table_shape_t *sh, const char *table, sb_err_t *err)
{
    strbuf_t q;
    strbuf_init(&q);
    strbuf_adds(&q, "SELECT ");
    add_pk_list(&q, sh, NULL);
    strbuf_adds(&q, " FROM (SELECT ");
    add_pk_list(&q, sh, NULL);
    strbuf_adds(&q, ", row_number() OVER (ORDER BY ");
    add_pk_list(&q, sh, NULL);
    strbuf_adds(&q, ") AS rn__ FROM ");
    add_qualified(&q, table);
    strbuf_addf(&q, ") s WHERE rn__ %% %d = 1 ORDER BY ", RECON_CHUNK_ROWS);
    add_pk_list(&q, sh, NULL);
    PGresult *r = q.oom ? NULL : run(src, q.p, 0, NULL, PGRES_TUPLES_OK, err);
    strbuf_deinit(&q);
    return r;
}

/* Parameters of chunk i: the lower bound is bound i (absent for the first chunk, so keys
 * below the source's smallest are still seen on the target), the upper is bound i+1. */
static int chunk_params(PGresult *bounds, int npk, int i, const char **params, bool *lo, bool *hi)
{
    int n = 0;
    int nb = PQntuples(bounds);
    *lo = i > 0;
    *hi = i + 1 < nb;
    if (*lo)
        for (int k = 0; k < npk; k++) params[n++] = PQgetvalue(bounds, i, k);
    if (*hi)
        for (int k = 0; k < npk; k++) params[n++] = PQgetvalue(bounds, i + 1, k);
    return n;
}

typedef struct row_entry {
    char *key;
    char *hash;
    char *json; /* source rows only, when repairing */
} row_entry_t;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const row_entry_t *)a)->key, ((const row_entry_t *)b)->key);
}

static void free_entries(row_entry_t *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].hash);
        free(e[i].json);
    }
    free(e);
}

static int fetch_rows(PGconn *c, const table_shape_t *sh, const char *table, bool lo, bool hi, int np,
                      const char **params, bool with_json, row_entry_t **out, int *nout, sb_err_t *err)
{
    strbuf_t q;
    strbuf_init(&q);
    strbuf_adds(&q, "SELECT ");
    add_key_json(&q, sh);
    strbuf_adds(&q, with_json ? ", md5(r::text), row_to_json(r)::text FROM " : ", md5(r::text) FROM ");
    add_chunk_source(&q, sh, table, lo, hi);
    PGresult *r = q.oom ? NULL : run(c, q.p, np, params, PGRES_TUPLES_OK, err);
    strbuf_deinit(&q);
    if (!r) return SB_EIO;
    int n = PQntuples(r);
    row_entry_t *e = calloc((size_t)n + 1, sizeof(*e));
    if (!e) {
        PQclear(r);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        e[i].key = strdup(PQgetvalue(r, i, 0));
        e[i].hash = strdup(PQgetvalue(r, i, 1));
        if (with_json) e[i].json = strdup(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    /* Sorted in C, not by the servers, so both lists share one order whatever the collation. */
    qsort(e, (size_t)n, sizeof(*e), cmp_entry);
    *out = e;
    *nout = n;
    return 0;
}

static void note_mismatch(json_t *mismatches, const char *table, const char *kind, const char *key, bool repaired)
{
    if (json_array_size(mismatches) >= RECON_MAX_MISMATCHES) return;
    json_t *k = json_loads(key, 0, NULL);
    json_array_append_new(mismatches, json_pack("{s:s,s:s,s:o,s:b}", "table", table, "kind", kind, "key",
                                                k ? k : json_string(key), "repaired", repaired));
}

/* Upserts / deletes in one transaction on the target. */

/* Appends `DELETE FROM table t USING json_populate_record(NULL::table, $1::json) k WHERE t.pk = k.pk
 * ...`: deletes the row whose key columns come as JSON in $1 (repair and erasure both use it). */
static void add_delete_by_key(strbuf_t *q, const table_shape_t *sh, const char *table)
{
    strbuf_adds(q, "DELETE FROM ");
    add_qualified(q, table);
    strbuf_adds(q, " t USING json_populate_record(NULL::");
    add_qualified(q, table);
    strbuf_adds(q, ", $1::json) k WHERE ");
    for (int k = 0; k < sh->npk; k++) {
        if (k) strbuf_adds(q, " AND ");
        strbuf_adds(q, "t.");
        strbuf_add_ident(q, sh->cols[sh->pk[k]]);
        strbuf_adds(q, " = k.");
        strbuf_add_ident(q, sh->cols[sh->pk[k]]);
    }
}

static int repair_rows(PGconn *dst, const table_shape_t *sh, const char *dst_table, const row_entry_t *src_rows,
                       const int *upserts, int nup, const row_entry_t *dst_rows, const int *deletes, int ndel,
                       sb_err_t *err)
{
    strbuf_t up, del;
    strbuf_init(&up);
    strbuf_init(&del);
    strbuf_adds(&up, "INSERT INTO ");
    add_qualified(&up, dst_table);
    strbuf_adds(&up, " (");
    add_col_list(&up, sh, NULL);
    strbuf_adds(&up, ") SELECT ");
    add_col_list(&up, sh, NULL);
    strbuf_adds(&up, " FROM json_populate_record(NULL::");
    add_qualified(&up, dst_table);
    strbuf_adds(&up, ", $1::json) ON CONFLICT (");
    add_pk_list(&up, sh, NULL);
    bool all_key = sh->ncols == sh->npk;
    strbuf_adds(&up, all_key ? ") DO NOTHING" : ") DO UPDATE SET ");
    for (int i = 0, first = 1; !all_key && i < sh->ncols; i++) {
        bool is_pk = false;
        for (int k = 0; k < sh->npk; k++) is_pk |= sh->pk[k] == i;
        if (is_pk) continue;
        if (!first) strbuf_adds(&up, ", ");
        first = 0;
        strbuf_add_ident(&up, sh->cols[i]);
        strbuf_adds(&up, " = EXCLUDED.");
        strbuf_add_ident(&up, sh->cols[i]);
    }
    add_delete_by_key(&del, sh, dst_table);
    int rc = 0;
    PGresult *r = run(dst, "BEGIN", 0, NULL, PGRES_COMMAND_OK, err);
    if (!r) rc = SB_EIO;
    PQclear(r);
    for (int i = 0; rc == 0 && i < nup; i++) {
        const char *p[1] = {src_rows[upserts[i]].json};
        r = run(dst, up.p, 1, p, PGRES_COMMAND_OK, err);
        if (!r) rc = SB_EIO;
        PQclear(r);
    }
    for (int i = 0; rc == 0 && i < ndel; i++) {
        const char *p[1] = {dst_rows[deletes[i]].key};
        r = run(dst, del.p, 1, p, PGRES_COMMAND_OK, err);
        if (!r) rc = SB_EIO;
        PQclear(r);
    }
    r = PQexec(dst, rc == 0 ? "COMMIT" : "ROLLBACK");
    if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) rc = pq_fail(err, dst, r, "commit of the repair");
    else PQclear(r);
    strbuf_deinit(&up);
    strbuf_deinit(&del);
    return rc;
}

/* Row-level comparison of one chunk; optionally repairs it. */
static int drill_chunk(PGconn *src, PGconn *dst, const table_shape_t *sh, const char *src_table, const char *dst_table,
                       bool lo, bool hi, int np, const char **params, bool repair, recon_table_result_t *res,
                       json_t *mismatches, sb_err_t *err)
{
    row_entry_t *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    int rc = fetch_rows(src, sh, src_table, lo, hi, np, params, repair, &a, &na, err);
    if (rc == 0) rc = fetch_rows(dst, sh, dst_table, lo, hi, np, params, false, &b, &nb, err);
    int *ups = rc == 0 ? calloc((size_t)na + 1, sizeof(int)) : NULL;
    int *dels = rc == 0 ? calloc((size_t)nb + 1, sizeof(int)) : NULL;
    int nup = 0, ndel = 0;
    if (rc == 0 && (!ups || !dels)) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    int i = 0, j = 0;
    while (rc == 0 && (i < na || j < nb)) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].key, b[j].key);
        if (c < 0) {
            note_mismatch(mismatches, src_table, "missing_in_target", a[i].key, repair);
            res->missing_in_target++;
            ups[nup++] = i++;
        } else if (c > 0) {
            note_mismatch(mismatches, src_table, "missing_in_source", b[j].key, repair);
            res->missing_in_source++;
            dels[ndel++] = j++;
        } else {
            if (strcmp(a[i].hash, b[j].hash) != 0) {
                note_mismatch(mismatches, src_table, "differing", a[i].key, repair);
                res->differing++;
                ups[nup++] = i;
            }
            i++;
            j++;
        }
    }
    if (rc == 0 && repair && (nup || ndel)) {
        rc = repair_rows(dst, sh, dst_table, a, ups, nup, b, dels, ndel, err);
        if (rc == 0) {
            res->repaired_upserts += nup;
            res->repaired_deletes += ndel;
        }
    }
    free(ups);
    free(dels);
    free_entries(a, na);
    free_entries(b, nb);
    if (rc < 0) return rc;
    return 0;
}

int recon_compare_table(const recon_pair_t *p, const char *src_table, const char *dst_table, recon_mode_t mode,
                        bool repair, recon_table_result_t *res, json_t *mismatches, sb_err_t *err)
{
    memset(res, 0, sizeof(*res));
    bool drill = mode == RECON_MODE_FULL || repair;
    res->drilled = drill;
    PGconn *src = connect_db(p->source_conninfo, "source database", err);
    PGconn *dst = src ? connect_db(p->target_conninfo, "target database", err) : NULL;
    table_shape_t *sh = calloc(1, sizeof(*sh));
    PGresult *bounds = NULL;
    int rc = src && dst ? 0 : SB_EIO;
    if (rc == 0 && !sh) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    if (rc == 0) rc = load_shape(src, dst, src_table, dst_table, sh, err);
    if (rc == 0) {
        bounds = chunk_bounds(src, sh, src_table, err);
        if (!bounds) rc = SB_EIO;
    }
    int nchunks = bounds ? (PQntuples(bounds) > 0 ? PQntuples(bounds) : 1) : 0;
    strbuf_t q;
    strbuf_init(&q);
    for (int i = 0; rc == 0 && i < nchunks; i++) {
        const char *params[32];
        bool lo, hi;
        int np = chunk_params(bounds, sh->npk, i, params, &lo, &hi);
        strbuf_reset(&q);
        strbuf_adds(&q, "SELECT count(*)");
        if (mode != RECON_MODE_COUNT) {
            strbuf_adds(&q, ", coalesce(md5(string_agg(md5(r::text), '' ORDER BY ");
            add_pk_list(&q, sh, "r");
            strbuf_adds(&q, ")), '')");
        }
        strbuf_adds(&q, " FROM ");
        add_chunk_source(&q, sh, src_table, lo, hi);
        PGresult *rs = run(src, q.p, np, params, PGRES_TUPLES_OK, err);
        strbuf_reset(&q);
        strbuf_adds(&q, "SELECT count(*)");
        if (mode != RECON_MODE_COUNT) {
            strbuf_adds(&q, ", coalesce(md5(string_agg(md5(r::text), '' ORDER BY ");
            add_pk_list(&q, sh, "r");
            strbuf_adds(&q, ")), '')");
        }
        strbuf_adds(&q, " FROM ");
        add_chunk_source(&q, sh, dst_table, lo, hi);
        PGresult *rd = rs ? run(dst, q.p, np, params, PGRES_TUPLES_OK, err) : NULL;
        if (!rs || !rd) {
            PQclear(rs);
            rc = SB_EIO;
            break;
        }
        int64_t cs = atoll(PQgetvalue(rs, 0, 0)), cd = atoll(PQgetvalue(rd, 0, 0));
        bool same = cs == cd && (mode == RECON_MODE_COUNT || strcmp(PQgetvalue(rs, 0, 1), PQgetvalue(rd, 0, 1)) == 0);
        PQclear(rs);
        PQclear(rd);
        res->source_rows += cs;
        res->target_rows += cd;
        res->chunks++;
        if (same) continue;
        res->chunks_differing++;
        if (drill) {
            rc = drill_chunk(src, dst, sh, src_table, dst_table, lo, hi, np, params, repair, res, mismatches, err);
        } else if (mode == RECON_MODE_COUNT) {
            /* Without row lists only the surplus per chunk is known: a lower bound. */
            if (cs > cd) res->missing_in_target += cs - cd;
            else res->missing_in_source += cd - cs;
        }
    }
    strbuf_deinit(&q);
    if (!drill) {
        res->differing = -1;
        if (mode == RECON_MODE_CHECKSUM) res->missing_in_target = res->missing_in_source = -1;
    }
    PQclear(bounds);
    free(sh);
    PQfinish(src);
    PQfinish(dst);
    return rc;
}

/* ----- erasure ----- */

static int erase_one(PGconn *c, const table_shape_t *sh, const char *table, const char *keyjson, int64_t *deleted,
                     sb_err_t *err)
{
    strbuf_t q;
    strbuf_init(&q);
    add_delete_by_key(&q, sh, table);
    const char *params[1] = {keyjson};
    PGresult *r = run(c, q.p, 1, params, PGRES_COMMAND_OK, err);
    strbuf_deinit(&q);
    if (!r) return err->code ? err->code : SB_EIO;
    *deleted = atoll(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

int recon_erase_row(const recon_pair_t *p, const char *src_table, const char *dst_table, const char *key,
                    int64_t *source_deleted, int64_t *target_deleted, char *key_hash_hex, sb_err_t *err)
{
    *source_deleted = *target_deleted = 0;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(key_hash_hex + 2 * i, "%02x", digest[i]);
    PGconn *src = connect_db(p->source_conninfo, "source database", err);
    PGconn *dst = src ? connect_db(p->target_conninfo, "target database", err) : NULL;
    table_shape_t *sh = calloc(1, sizeof(*sh));
    int rc = src && dst ? 0 : SB_EIO;
    if (rc == 0 && !sh) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    if (rc == 0) rc = load_shape(src, dst, src_table, dst_table, sh, err);
    json_t *k = NULL;
    if (rc == 0) {
        /* A JSON object names every key column; anything else is the value of a one-column key. */
        k = key[0] == '{' ? json_loads(key, 0, NULL) : NULL;
        if (key[0] == '{' && !json_is_object(k)) {
            rc = sb_err_set(err, SB_EINVAL, "key is not a JSON object");
        } else if (!k) {
            if (sh->npk != 1) rc = sb_err_set(err, SB_EINVAL, "table %s has a %d-column key: give it as a JSON object",
                                              src_table, sh->npk);
            else k = json_pack("{s:s}", sh->cols[sh->pk[0]], key);
        }
        for (int i = 0; rc == 0 && i < sh->npk; i++) {
            json_t *v = json_object_get(k, sh->cols[sh->pk[i]]);
            if (!v || json_is_null(v))
                rc = sb_err_set(err, SB_EINVAL, "key lacks primary-key column %s", sh->cols[sh->pk[i]]);
        }
    }
    char *keyjson = rc == 0 ? json_dumps(k, JSON_COMPACT) : NULL;
    if (rc == 0 && !keyjson) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
    /* Target first: the erasure must not wait for the pipeline, and the source delete then
     * flows through CDC as an ordinary delete (a no-op on the target). */
    if (rc == 0) rc = erase_one(dst, sh, dst_table, keyjson, target_deleted, err);
    if (rc == 0) rc = erase_one(src, sh, src_table, keyjson, source_deleted, err);
    free(keyjson);
    json_decref(k);
    free(sh);
    PQfinish(src);
    PQfinish(dst);
    return rc;
}
