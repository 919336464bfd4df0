/* ScyllaDB CDC source. Runs on its task thread (connector.h); the CQL client blocks, bounded by
 * its timeouts.
 *
 * Reading: the generations (system_distributed.cdc_generation_timestamps +
 * cdc_streams_descriptions_v2, else the older cdc_streams_descriptions) give the stream ids,
 * grouped by vnode; one "reader" follows one (table, stream group) and reads it with one query:
 *   SELECT * FROM ks.t_scylla_cdc_log WHERE "cdc$stream_id" IN ? AND "cdc$time" > ?
 *     AND "cdc$time" <= ? BYPASS CACHE
 * The fast path reads each group up to now - cdc.fast.lag.ms (1 s) on every poll, so a change
 * arrives in about a second. A write can become visible after the fast path passed its
 * cdc$time (a replica that was late, a coordinator with a slow clock), so a safety pass
 * re-reads (final, fast] of each group every cdc.safety.interval.ms and emits only what the
 * group's set of emitted change ids (stream, cdc$time, cdc$batch_seq_no) does not hold. What is
 * older than the confidence window when a pass starts is final: the set forgets it and the
 * checkpoint moves there.
 *
 * Checkpoints: the position is the final time of every (table, group); it rides on a
 * heartbeat record, so the runtime stores it once every record before it is acknowledged.
 * A restart resumes every group at its final time, so nothing is skipped; changes between
 * final and what had been emitted are emitted again (at-least-once, at most about one
 * confidence window plus one safety interval). */
#include "connect/sources/scylla.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "connect/envelope.h"
#include "connect/sources/scylla_cdc.h"
#include "cql/cql_client.h"

#define LOG "scylla"

/* ---------------------------------------------------------------- state */

typedef struct sc_table {
    char *keyspace;
    char *name;
    char *qualified; /* "ks.table" */
    char *topic;
    char *range_topic;
    const cql_prepared_t *ps;
    int ncols;        /* log table columns */
    uint64_t shape;   /* hash of the log table's column names the layout was built from */
    int i_stream, i_time, i_seq, i_op, i_ttl;
    int nbase;
    int *base_idx;  /* log column of each base column */
    int *del_idx;   /* cdc$deleted_<col>, or -1 */
    int *delel_idx; /* cdc$deleted_elements_<col> (non-frozen collection), or -1 */
    bool *is_key, *is_pk;
    const cql_type_t **types;
    envelope_table_t *env;
    char **pk_names; /* partition key columns in key order (for token()) */
    int npk;
    bool tablets; /* a tablets keyspace: its own generations in system.cdc_timestamps/cdc_streams */
    const cql_prepared_t *snap_ps; /* SELECT * ... WHERE token(pk) > ? AND token(pk) <= ? */
    char *snap_query;              /* its text, which the snapshot workers prepare on their own connections */
    int *snap_idx;                 /* base column b -> column of the snapshot result, or -1 */
} sc_table_t;

typedef struct sc_group {
    int64_t gen_ms;
    int64_t key;
    int nstreams;
    uint8_t (*streams)[16];
    sb_wr_t list; /* the streams as a serialized list<blob>, bound to the IN marker */
} sc_group_t;

typedef struct sc_gen {
    int table; /* -1: a cluster-wide (vnode) generation; else the one table of a tablets generation */
    int64_t start_ms;
    int ngroups;
    sc_group_t *groups;
} sc_gen_t;

typedef struct sc_reader {
    int table;
    int64_t gen_ms;
    int group; /* index in its generation */
    scylla_progress_t p;
    scylla_seen_t *seen;
    char last[48];
    int64_t next_safety_mono;
    /* A safety pass in progress: (final, end] is re-read in chunks of cdc.safety.chunk.ms, one
     * per round, so a long re-read never holds up the fast path of the other groups. */
    bool in_safety;
    int64_t safety_started, safety_end, safety_cursor;
} sc_reader_t;

typedef struct sc_source {
    source_ctx_t *ctx;
    /* config */
    char *contact_points, *user, *password, *consistency, *prefix, *tls_ca;
    bool tls, tls_skip_verify, tombstones;
    char **include;
    scylla_window_cfg_t win;
    int64_t safety_interval_ms, safety_chunk_ms, poll_interval_ms, gen_poll_ms, heartbeat_ms,
        lookback_ms;
    int page_size, max_streams;

    cql_client_t *cl;
    sc_table_t *tables;
    int ntables;
    sc_gen_t *gens;
    int ngens;
    sc_reader_t *readers;
    int nreaders;
    bool setup_done;
    bool v1_layout;
    bool no_tablets_tables; /* system.cdc_timestamps does not exist (ScyllaDB before tablets CDC) */
    scylla_pos_entry_t *start_pos; /* the committed position at start, until the readers exist */
    int nstart_pos;
    bool has_start_pos;
    int64_t start_ms;
    int64_t next_gen_mono;
    int64_t last_heartbeat_mono;
    bool pos_dirty;
    char *topic_heartbeat;

    /* initial snapshot: (table, token range) units read in order, one page per poll */
    bool snapshot_initial;
    bool snapshot_active;
    int snap_ranges, snap_units, snap_done;
    int64_t snap_start_ms;
    uint8_t *snap_paging;
    int32_t snap_paging_len; /* -1: first page of the unit */
    uint64_t snap_rows;
    bool *snap_unit_done;         /* units emitted to their end (out of order with parallel workers) */
    int snap_parallelism;         /* snapshot.parallelism: workers, each on its own connection */
    struct snap_pool *snap_pool;  /* the running workers, or NULL */

    /* scratch */
    sb_wr_t key, val, cells;
    envelope_value_t *before, *after, *keyrow;

    /* counters for status */
    uint64_t events, duplicates_skipped, late_found, range_deletes, ttl_changes,
        partial_collections, unknown_ops, queries, schema_changes;
    int64_t last_event_ts_ms;
} sc_source_t;

/* ---------------------------------------------------------------- config */

static const char *cfg_get(const json_t *config, const char *key)
{
    json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool cfg_int(const json_t *config, const char *key, int64_t dflt, int64_t min, int64_t *out)
{
    const char *s = cfg_get(config, key);
    *out = dflt;
    if (!s) return true;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) return false;
    *out = v;
    return true;
}

static bool cfg_bool(const json_t *config, const char *key, bool dflt, bool *out)
{
    const char *s = cfg_get(config, key);
    *out = dflt;
    if (!s) return true;
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

static char **split_list(const char *s)
{
    int n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v) return NULL;
    int k = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        v[k] = strndup(p, (size_t)(t - p));
        if (!v[k]) break;
        k++;
        p = e;
    }
    return v;
}

static void free_list(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static const struct {
    const char *key;
    int64_t dflt, min;
    const char *what;
} int_keys[] = {
    {"cdc.confidence.window.ms", 30000, 0, "milliseconds >= 0"},
    {"cdc.fast.lag.ms", 1000, 0, "milliseconds >= 0"},
    {"cdc.query.window.ms", 30000, 1, "milliseconds >= 1"},
    {"cdc.safety.interval.ms", 5000, 10, "milliseconds >= 10"},
    {"cdc.safety.chunk.ms", 5000, 1, "milliseconds >= 1"},
    {"poll.interval.ms", 100, 1, "milliseconds >= 1"},
    {"generation.poll.interval.ms", 5000, 10, "milliseconds >= 10"},
    {"heartbeat.interval.ms", 5000, 10, "milliseconds >= 10"},
    {"start.lookback.ms", 60000, 0, "milliseconds >= 0"},
    {"query.page.size", 5000, 1, "an integer >= 1"},
    {"max.streams.per.query", 128, 1, "an integer >= 1"},
    {"snapshot.token.ranges", 16, 1, "an integer >= 1"},
    {"snapshot.parallelism", 4, 1, "an integer >= 1"},
};

static const char *const known_keys[] = {
    "connector.class",
    "name",
    "tasks.max",
    "scylla.contact.points",
    "scylla.keyspace",
    "table.include.list",
    "scylla.user",
    "scylla.password",
    "scylla.tls",
    "scylla.tls.ca.file",
    "scylla.tls.skip.verify",
    "scylla.consistency",
    "topic.prefix",
    "tombstones.on.delete",
    "snapshot.mode",
    NULL,
};

static bool known_key(const char *k)
{
    for (int i = 0; known_keys[i]; i++)
        if (strcmp(known_keys[i], k) == 0) return true;
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
        if (strcmp(int_keys[i].key, k) == 0) return true;
    /* transforms.*, errors.*, and other runtime keys are the runtime's */
    return strncmp(k, "transforms", 10) == 0 || strncmp(k, "errors.", 7) == 0 ||
           strncmp(k, "reconcile.", 10) == 0 || strcmp(k, "batch.size") == 0 ||
           strcmp(k, "linger.ms") == 0 || strncmp(k, "value.", 6) == 0 ||
           strncmp(k, "key.", 4) == 0;
}

static int sc_validate(const json_t *config, connect_config_errors_t *errs)
{
    int before = errs->count;
    if (!cfg_get(config, "scylla.contact.points") || !*cfg_get(config, "scylla.contact.points"))
        connect_config_error_add(errs, "scylla.contact.points", "is required (host[:port],...)");
    const char *prefix = cfg_get(config, "topic.prefix");
    if (!prefix || !*prefix || !scylla_valid_table_name(prefix) || strchr(prefix, '.'))
        connect_config_error_add(errs, "topic.prefix", "is required: letters, digits and '_'");
    const char *inc = cfg_get(config, "table.include.list");
    const char *ks = cfg_get(config, "scylla.keyspace");
    if (!inc || !*inc) {
        connect_config_error_add(errs, "table.include.list",
                                 "is required: keyspace.table,... (the CDC-enabled tables)");
    } else {
        char **list = split_list(inc);
        for (char **p = list; p && *p; p++) {
            if (!scylla_valid_table_name(*p))
                connect_config_error_add(
                    errs, "table.include.list",
                    "\"%s\" is not keyspace.table made of letters, digits and '_'", *p);
            else if (!strchr(*p, '.') && !ks)
                connect_config_error_add(errs, "table.include.list",
                                         "\"%s\" has no keyspace and scylla.keyspace is not set",
                                         *p);
        }
        free_list(list);
    }
    if (ks && !scylla_valid_table_name(ks))
        connect_config_error_add(errs, "scylla.keyspace", "must be an identifier");
    if (cfg_get(config, "scylla.user") && !cfg_get(config, "scylla.password"))
        connect_config_error_add(errs, "scylla.password", "is required with scylla.user");
    const char *cons = cfg_get(config, "scylla.consistency");
    cql_consistency_t c;
    if (cons && cql_consistency_parse(cons, &c))
        connect_config_error_add(errs, "scylla.consistency", "unknown consistency level \"%s\"",
                                 cons);
    bool b;
    if (!cfg_bool(config, "scylla.tls", false, &b))
        connect_config_error_add(errs, "scylla.tls", "must be true or false");
    if (!cfg_bool(config, "scylla.tls.skip.verify", false, &b))
        connect_config_error_add(errs, "scylla.tls.skip.verify", "must be true or false");
    if (!cfg_bool(config, "tombstones.on.delete", true, &b))
        connect_config_error_add(errs, "tombstones.on.delete", "must be true or false");
    const char *snap = cfg_get(config, "snapshot.mode");
    if (snap && strcmp(snap, "never") != 0 && strcmp(snap, "initial") != 0)
        connect_config_error_add(errs, "snapshot.mode", "\"%s\" is not one of never, initial",
                                 snap);
    int64_t v;
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
        if (!cfg_int(config, int_keys[i].key, int_keys[i].dflt, int_keys[i].min, &v))
            connect_config_error_add(errs, int_keys[i].key, "must be %s", int_keys[i].what);
    int64_t conf, lag;
    cfg_int(config, "cdc.confidence.window.ms", 30000, 0, &conf);
    cfg_int(config, "cdc.fast.lag.ms", 1000, 0, &lag);
    if (conf < lag)
        connect_config_error_add(errs, "cdc.confidence.window.ms",
                                 "must be >= cdc.fast.lag.ms (%" PRId64 ")", lag);
    const char *k;
    json_t *jv;
    json_object_foreach((json_t *)config, k, jv)
    {
        if (!known_key(k)) connect_config_error_add(errs, k, "unknown key for scylla-source");
    }
    return errs->count > before ? -1 : 0;
}

/* ---------------------------------------------------------------- CQL helpers */

static int cql_fail(sc_source_t *s, const char *what, const sb_err_t *e, connect_err_t *err)
{
    /* Server errors about schema (no such table, no CDC) will not fix themselves; everything
     * else (a node down, a timeout) is retried by the runtime. */
    int32_t code = cql_client_server_error(s->cl);
    bool fatal = code == CQL_ERR_INVALID || code == CQL_ERR_SYNTAX ||
                 code == CQL_ERR_UNAUTHORIZED || code == CQL_ERR_BAD_CREDENTIALS;
    return connect_err_set(err, fatal ? CONNECT_ERR_FATAL : CONNECT_ERR_TRANSIENT, -1,
                           "scylla source: %s: %s%s", what, e->msg,
                           fatal ? "" : " (retrying with backoff)");
}

static int64_t cell_i64(const cql_result_t *r, int row, int col, int64_t dflt)
{
    if (col < 0) return dflt;
    int64_t v;
    sb_err_t e;
    if (cql_decode_int64(r->meta.cols[col].type, cql_result_cell(r, row, col), &v, &e)) return dflt;
    return v;
}

static bool cell_true(const cql_result_t *r, int row, int col)
{
    if (col < 0) return false;
    bool b = false;
    sb_err_t e;
    return cql_decode_bool(cql_result_cell(r, row, col), &b, &e) == 0 && b;
}

/* ---------------------------------------------------------------- type rendering */

static void type_info(const cql_type_t *t, envelope_kind_t *kind, const char **pg)
{
    switch (t->id) {
    case CQL_TYPE_ASCII:
    case CQL_TYPE_VARCHAR:
        *kind = ENVELOPE_KIND_STRING, *pg = "text";
        return;
    case CQL_TYPE_BOOLEAN:
        *kind = ENVELOPE_KIND_BOOL, *pg = "boolean";
        return;
    case CQL_TYPE_TINYINT:
    case CQL_TYPE_SMALLINT:
        *kind = ENVELOPE_KIND_INTEGER, *pg = "smallint";
        return;
    case CQL_TYPE_INT:
        *kind = ENVELOPE_KIND_INTEGER, *pg = "integer";
        return;
    case CQL_TYPE_BIGINT:
    case CQL_TYPE_COUNTER:
        *kind = ENVELOPE_KIND_INTEGER, *pg = "bigint";
        return;
    case CQL_TYPE_FLOAT:
        *kind = ENVELOPE_KIND_FLOAT, *pg = "real";
        return;
    case CQL_TYPE_DOUBLE:
        *kind = ENVELOPE_KIND_FLOAT, *pg = "double precision";
        return;
    case CQL_TYPE_VARINT:
    case CQL_TYPE_DECIMAL:
        *kind = ENVELOPE_KIND_NUMERIC, *pg = "numeric";
        return;
    case CQL_TYPE_TIMESTAMP:
        *kind = ENVELOPE_KIND_STRING, *pg = "timestamp with time zone";
        return;
    case CQL_TYPE_UUID:
    case CQL_TYPE_TIMEUUID:
        *kind = ENVELOPE_KIND_STRING, *pg = "uuid";
        return;
    case CQL_TYPE_INET:
        *kind = ENVELOPE_KIND_STRING, *pg = "inet";
        return;
    case CQL_TYPE_DATE:
        *kind = ENVELOPE_KIND_STRING, *pg = "date";
        return;
    case CQL_TYPE_TIME:
        *kind = ENVELOPE_KIND_STRING, *pg = "time without time zone";
        return;
    case CQL_TYPE_BLOB:
        *kind = ENVELOPE_KIND_STRING, *pg = "bytea";
        return;
    default:
        *kind = ENVELOPE_KIND_STRING, *pg = "jsonb";
        return; /* collections, tuples, UDTs, duration */
    }
}

/* Appends the text form of one cell to w (the form envelope_write_json_value expects for the
 * column's kind). Returns 0, 1 for null, or SB_EINVAL. */
static int render_cell(const cql_type_t *t, sb_slice_t raw, sb_wr_t *w, sb_err_t *err)
{
    if (raw.len < 0) return 1;
    char buf[64];
    int n;
    switch (t->id) {
    case CQL_TYPE_ASCII:
    case CQL_TYPE_VARCHAR:
        sb_wr_bytes(w, raw.p, (size_t)raw.len);
        return 0;
    case CQL_TYPE_BOOLEAN: {
        bool b;
        if (cql_decode_bool(raw, &b, err)) return raw.len == 0 ? 1 : SB_EINVAL;
        sb_wr_bytes(w, b ? "t" : "f", 1);
        return 0;
    }
    case CQL_TYPE_TINYINT:
    case CQL_TYPE_SMALLINT:
    case CQL_TYPE_INT:
    case CQL_TYPE_BIGINT:
    case CQL_TYPE_COUNTER: {
        int64_t v;
        int rc = cql_decode_int64(t, raw, &v, err);
        if (rc == SB_ENOENT) return 1;
        if (rc) return rc;
        n = snprintf(buf, sizeof(buf), "%" PRId64, v);
        sb_wr_bytes(w, buf, (size_t)n);
        return 0;
    }
    case CQL_TYPE_FLOAT:
    case CQL_TYPE_DOUBLE: {
        double d;
        int rc = cql_decode_double(t, raw, &d, err);
        if (rc == SB_ENOENT) return 1;
        if (rc) return rc;
        if (isnan(d))
            n = snprintf(buf, sizeof(buf), "NaN");
        else if (isinf(d))
            n = snprintf(buf, sizeof(buf), d > 0 ? "Infinity" : "-Infinity");
        else
            n = snprintf(buf, sizeof(buf), t->id == CQL_TYPE_FLOAT ? "%.9g" : "%.17g", d);
        sb_wr_bytes(w, buf, (size_t)n);
        return 0;
    }
    case CQL_TYPE_TIMESTAMP: {
        int64_t ms;
        int rc = cql_decode_int64(t, raw, &ms, err);
        if (rc == SB_ENOENT) return 1;
        if (rc) return rc;
        int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
        int msec = (int)(ms - secs * 1000);
        time_t tt = (time_t)secs;
        struct tm tm;
        if (!gmtime_r(&tt, &tm))
            return sb_err_set(err, SB_EINVAL, "timestamp %" PRId64 " out of range", ms);
        n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
        sb_wr_bytes(w, buf, (size_t)n);
        return 0;
    }
    case CQL_TYPE_BLOB: {
        static const char hex[] = "0123456789abcdef";
        sb_wr_bytes(w, "\\x", 2);
        for (int32_t i = 0; i < raw.len; i++) {
            char h[2] = {hex[raw.p[i] >> 4], hex[raw.p[i] & 15]};
            sb_wr_bytes(w, h, 2);
        }
        return 0;
    }
    case CQL_TYPE_VARINT:
    case CQL_TYPE_DECIMAL:
    case CQL_TYPE_UUID:
    case CQL_TYPE_TIMEUUID:
    case CQL_TYPE_INET:
    case CQL_TYPE_DATE:
    case CQL_TYPE_TIME:
        if (raw.len == 0) return 1;
        return cql_decode_text_form(t, raw, w, err);
    default:
        return cql_value_to_json(t, raw, w, err);
    }
}

/* ---------------------------------------------------------------- setup */

/* Forgets the event layout table_setup built (not the names), so it can be built again. */
static void table_layout_free(sc_table_t *t)
{
    free(t->base_idx);
    free(t->del_idx);
    free(t->delel_idx);
    free(t->is_key);
    free(t->is_pk);
    free(t->types);
    envelope_table_free(t->env);
    for (int i = 0; i < t->npk; i++)
        free(t->pk_names[i]);
    free(t->pk_names);
    t->base_idx = t->del_idx = t->delel_idx = NULL;
    t->is_key = t->is_pk = NULL;
    t->types = NULL;
    t->env = NULL;
    t->pk_names = NULL;
    t->nbase = t->npk = 0;
}

static void table_free(sc_table_t *t)
{
    table_layout_free(t);
    free(t->keyspace);
    free(t->name);
    free(t->qualified);
    free(t->topic);
    free(t->range_topic);
    free(t->snap_idx);
    free(t->snap_query);
}

static void gens_free(sc_source_t *s)
{
    for (int i = 0; i < s->ngens; i++) {
        for (int j = 0; j < s->gens[i].ngroups; j++) {
            free(s->gens[i].groups[j].streams);
            sb_wr_deinit(&s->gens[i].groups[j].list);
        }
        free(s->gens[i].groups);
    }
    free(s->gens);
    s->gens = NULL;
    s->ngens = 0;
}

/* FNV-1a over the column names of a result: a log table whose columns changed (ALTER TABLE of
 * the base table adds or drops the log's columns with it) hashes differently. */
static uint64_t log_shape(const cql_metadata_t *m)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)m->ncols;
    for (int i = 0; i < m->ncols; i++) {
        for (int32_t j = 0; j < m->cols[i].name.len; j++)
            h = (h ^ m->cols[i].name.p[j]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/* Reads the key columns of the base table from system_schema.columns and the log table's
 * columns from the prepared read, and builds the event layout. with_snapshot: also prepare the
 * initial snapshot's base-table read (at start; not when the layout is rebuilt after a schema
 * change while running). */
static int table_setup(sc_source_t *s, sc_table_t *t, bool with_snapshot, connect_err_t *err)
{
    sb_err_t e = {0};
    char q[1024];
    snprintf(q, sizeof(q),
             "SELECT * FROM \"%s\".\"%s_scylla_cdc_log\" WHERE \"cdc$stream_id\" IN ? AND "
             "\"cdc$time\" > ? AND "
             "\"cdc$time\" <= ? BYPASS CACHE",
             t->keyspace, t->name);
    if (cql_client_prepare(s->cl, q, &t->ps, &e)) {
        char what[600];
        snprintf(what, sizeof(what), "cannot read the CDC log of %s (is CDC enabled on it?)",
                 t->qualified);
        return cql_fail(s, what, &e, err);
    }
    const cql_metadata_t *m = cql_prepared_result_metadata(t->ps);
    if (!m || !m->cols)
        return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                               "scylla source: no column metadata for %s_scylla_cdc_log",
                               t->qualified);
    /* Key columns of the base table. */
    cql_values_t v;
    cql_values_init(&v);
    cql_values_text(&v, t->keyspace);
    cql_values_text(&v, t->name);
    cql_exec_opts_t x;
    cql_exec_opts_init(&x);
    cql_result_t *r = NULL;
    int rc = cql_client_query(s->cl,
                              "SELECT column_name, kind, position FROM system_schema.columns WHERE "
                              "keyspace_name = ? AND table_name = ?",
                              &v, &x, &r, &e);
    cql_values_deinit(&v);
    if (rc) return cql_fail(s, "reading system_schema.columns", &e, err);
    t->ncols = m->ncols;
    t->shape = log_shape(m);
    t->i_stream = t->i_time = t->i_seq = t->i_op = t->i_ttl = -1;
    t->base_idx = calloc((size_t)m->ncols, sizeof(int));
    t->del_idx = calloc((size_t)m->ncols, sizeof(int));
    t->delel_idx = calloc((size_t)m->ncols, sizeof(int));
    t->is_key = calloc((size_t)m->ncols, sizeof(bool));
    t->is_pk = calloc((size_t)m->ncols, sizeof(bool));
    t->types = calloc((size_t)m->ncols, sizeof(*t->types));
    t->pk_names = calloc((size_t)m->ncols, sizeof(char *));
    envelope_column_t *cols = calloc((size_t)m->ncols, sizeof(*cols));
    char **names = calloc((size_t)m->ncols, sizeof(char *));
    if (!t->base_idx || !t->del_idx || !t->delel_idx || !t->is_key || !t->is_pk || !t->types ||
        !t->pk_names || !cols || !names) {
        cql_result_free(r);
        free(cols);
        free(names);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
    }
    int nkeys = 0;
    for (int i = 0; i < m->ncols; i++) {
        sb_slice_t nm = m->cols[i].name;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)nm.len, (const char *)nm.p);
        if (strcmp(name, "cdc$stream_id") == 0)
            t->i_stream = i;
        else if (strcmp(name, "cdc$time") == 0)
            t->i_time = i;
        else if (strcmp(name, "cdc$batch_seq_no") == 0)
            t->i_seq = i;
        else if (strcmp(name, "cdc$operation") == 0)
            t->i_op = i;
        else if (strcmp(name, "cdc$ttl") == 0)
            t->i_ttl = i;
        else if (strncmp(name, "cdc$", 4) != 0) {
            int b = t->nbase++;
            t->base_idx[b] = i;
            t->types[b] = m->cols[i].type;
            names[b] = strdup(name);
        }
    }
    for (int b = 0; b < t->nbase; b++) {
        t->del_idx[b] = t->delel_idx[b] = -1;
        char want[300];
        snprintf(want, sizeof(want), "cdc$deleted_%s", names[b] ? names[b] : "");
        for (int c = 0; c < m->ncols; c++) {
            sb_slice_t nm = m->cols[c].name;
            if ((size_t)nm.len == strlen(want) && memcmp(nm.p, want, strlen(want)) == 0)
                t->del_idx[b] = c;
        }
        snprintf(want, sizeof(want), "cdc$deleted_elements_%s", names[b] ? names[b] : "");
        for (int c = 0; c < m->ncols; c++) {
            sb_slice_t nm = m->cols[c].name;
            if ((size_t)nm.len == strlen(want) && memcmp(nm.p, want, strlen(want)) == 0)
                t->delel_idx[b] = c;
        }
        int ci = cql_result_column(r, "column_name"), ki = cql_result_column(r, "kind");
        for (int row = 0; row < r->nrows && ci >= 0 && ki >= 0; row++) {
            sb_slice_t cn = cql_result_cell(r, row, ci), kn = cql_result_cell(r, row, ki);
            if (!names[b] || cn.len != (int32_t)strlen(names[b]) ||
                memcmp(cn.p, names[b], (size_t)cn.len) != 0)
                continue;
            bool pk = kn.len == 13 && memcmp(kn.p, "partition_key", 13) == 0;
            bool ck = kn.len == 10 && memcmp(kn.p, "clustering", 10) == 0;
            t->is_key[b] = pk || ck;
            t->is_pk[b] = pk;
            if (pk) {
                int pos = (int)cell_i64(r, row, cql_result_column(r, "position"), 0);
                if (pos >= 0 && pos < m->ncols && t->pk_names && !t->pk_names[pos]) {
                    t->pk_names[pos] = strdup(names[b]);
                    if (pos + 1 > t->npk) t->npk = pos + 1;
                }
            }
        }
        nkeys += t->is_key[b];
        cols[b].name = names[b];
        type_info(t->types[b], &cols[b].kind, &cols[b].type_name);
        cols[b].key = t->is_key[b];
    }
    cql_result_free(r);
    bool ok = t->i_stream >= 0 && t->i_time >= 0 && t->i_seq >= 0 && t->i_op >= 0;
    if (ok && nkeys > 0)
        t->env = envelope_table_new(t->keyspace, t->keyspace, t->name, cols, t->nbase);
    for (int b = 0; b < t->nbase; b++)
        free(names[b]);
    free(names);
    free(cols);
    if (!ok)
        return connect_err_set(
            err, CONNECT_ERR_FATAL, -1,
            "scylla source: %s_scylla_cdc_log lacks the cdc$ columns of a ScyllaDB CDC log table",
            t->qualified);
    if (nkeys == 0)
        return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                               "scylla source: system_schema.columns names no key column of %s",
                               t->qualified);
    if (!t->env) return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
    for (int i = 0; i < t->npk; i++)
        if (!t->pk_names[i])
            return connect_err_set(
                err, CONNECT_ERR_FATAL, -1,
                "scylla source: system_schema.columns lacks partition key position %d of %s", i,
                t->qualified);
    if (!s->snapshot_initial || !with_snapshot) return 0;
    /* The base-table read of the initial snapshot, by token range. */
    sb_wr_t w;
    sb_wr_init(&w, 256);
    char head[600];
    int hn = snprintf(head, sizeof(head), "SELECT * FROM \"%s\".\"%s\" WHERE token(", t->keyspace,
                      t->name);
    sb_wr_bytes(&w, head, (size_t)hn);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < t->npk; i++) {
            if (i) sb_wr_bytes(&w, ", ", 2);
            sb_wr_bytes(&w, "\"", 1);
            sb_wr_bytes(&w, t->pk_names[i], strlen(t->pk_names[i]));
            sb_wr_bytes(&w, "\"", 1);
        }
        if (pass == 0)
            sb_wr_bytes(&w, ") > ? AND token(", 16);
        else
            sb_wr_bytes(&w, ") <= ?", 7);
    }
    sb_wr_bytes(&w, "", 1);
    free(t->snap_query);
    t->snap_query = w.oom ? NULL : strdup((const char *)w.buf);
    rc = !t->snap_query ? SB_ENOMEM : cql_client_prepare(s->cl, (const char *)w.buf, &t->snap_ps, &e);
    sb_wr_deinit(&w);
    if (rc) {
        char what[600];
        snprintf(what, sizeof(what), "cannot read %s for the initial snapshot", t->qualified);
        return cql_fail(s, what, &e, err);
    }
    const cql_metadata_t *sm = cql_prepared_result_metadata(t->snap_ps);
    t->snap_idx = calloc((size_t)(t->nbase ? t->nbase : 1), sizeof(int));
    if (!t->snap_idx || !sm || !sm->cols)
        return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                               "scylla source: no column metadata for %s", t->qualified);
    for (int b = 0; b < t->nbase; b++) {
        const char *nm = envelope_table_column(t->env, b)->name;
        t->snap_idx[b] = -1;
        for (int c = 0; c < sm->ncols; c++)
            if ((size_t)sm->cols[c].name.len == strlen(nm) &&
                memcmp(sm->cols[c].name.p, nm, strlen(nm)) == 0)
                t->snap_idx[b] = c;
    }
    return 0;
}

static int add_group(sc_gen_t *g, int64_t key, const uint8_t (*streams)[16], int n)
{
    sc_group_t *ng = realloc(g->groups, (size_t)(g->ngroups + 1) * sizeof(*ng));
    if (!ng) return SB_ENOMEM;
    g->groups = ng;
    sc_group_t *gr = &g->groups[g->ngroups];
    memset(gr, 0, sizeof(*gr));
    gr->gen_ms = g->start_ms;
    gr->key = key;
    gr->nstreams = n;
    gr->streams = malloc((size_t)(n ? n : 1) * 16);
    if (!gr->streams) return SB_ENOMEM;
    memcpy(gr->streams, streams, (size_t)n * 16);
    sb_wr_init(&gr->list, (size_t)n * 20 + 4);
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sb_wr_bytes(&gr->list, be, 4);
    for (int i = 0; i < n; i++) {
        uint8_t len[4] = {0, 0, 0, 16};
        sb_wr_bytes(&gr->list, len, 4);
        sb_wr_bytes(&gr->list, streams[i], 16);
    }
    g->ngroups++;
    return gr->list.oom ? SB_ENOMEM : 0;
}

static int cmp_stream(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Collects the 16-byte stream ids of a set<blob> cell (others are refused: not a stream). */
static int streams_of(const cql_result_t *r, int row, int col, uint8_t (**out)[16], int *n,
                      sb_err_t *e)
{
    cql_iter_t it;
    *out = NULL;
    *n = 0;
    if (cql_iter_init(&it, r->meta.cols[col].type, cql_result_cell(r, row, col), e))
        return SB_EINVAL;
    uint8_t(*v)[16] = malloc((size_t)(it.count > 0 ? it.count : 1) * 16);
    if (!v) return SB_ENOMEM;
    const cql_type_t *et;
    sb_slice_t el;
    int k = 0, rc;
    while ((rc = cql_iter_next(&it, &et, &el, e)) == 1) {
        if (el.len != 16) {
            free(v);
            return sb_err_set(e, SB_EINVAL, "a stream id is %d bytes, not 16", (int)el.len);
        }
        memcpy(v[k++], el.p, 16);
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Generations have a scope: -1 for the cluster-wide ones of vnode keyspaces, a table index for
 * a tablets table's own. */
static int scope_of(const sc_source_t *s, int table)
{
    return s->tables[table].tablets ? table : -1;
}

static sc_gen_t *gen_find(sc_source_t *s, int scope, int64_t ms)
{
    for (int i = 0; i < s->ngens; i++)
        if (s->gens[i].start_ms == ms && s->gens[i].table == scope) return &s->gens[i];
    return NULL;
}

static sc_gen_t *reader_gen(sc_source_t *s, const sc_reader_t *r)
{
    return gen_find(s, scope_of(s, r->table), r->gen_ms);
}

static sc_gen_t *gen_add(sc_source_t *s, int scope, int64_t ms)
{
    sc_gen_t *g = realloc(s->gens, (size_t)(s->ngens + 1) * sizeof(*g));
    if (!g) return NULL;
    s->gens = g;
    int at = s->ngens;
    while (at > 0 && s->gens[at - 1].start_ms > ms)
        at--;
    memmove(&s->gens[at + 1], &s->gens[at], (size_t)(s->ngens - at) * sizeof(*g));
    memset(&s->gens[at], 0, sizeof(*g));
    s->gens[at].start_ms = ms;
    s->gens[at].table = scope;
    s->ngens++;
    return &s->gens[at];
}

static int64_t gen_end(const sc_source_t *s, int scope, int64_t start)
{
    for (int i = 0; i < s->ngens; i++)
        if (s->gens[i].table == scope && s->gens[i].start_ms > start) return s->gens[i].start_ms;
    return INT64_MAX;
}

static int add_reader(sc_source_t *s, int table, const sc_gen_t *g, int group, int64_t final_ms,
                      const char *last)
{
    sc_reader_t *nr = realloc(s->readers, (size_t)(s->nreaders + 1) * sizeof(*nr));
    if (!nr) return SB_ENOMEM;
    s->readers = nr;
    sc_reader_t *r = &s->readers[s->nreaders];
    memset(r, 0, sizeof(*r));
    r->table = table;
    r->gen_ms = g->start_ms;
    r->group = group;
    r->p.gen_ms = g->start_ms;
    r->p.gen_end_ms = gen_end(s, g->table, g->start_ms);
    r->p.final_ms = r->p.fast_ms = final_ms;
    snprintf(r->last, sizeof(r->last), "%s", last ? last : "");
    r->seen = scylla_seen_new();
    if (!r->seen) return SB_ENOMEM;
    r->next_safety_mono = sb_mono_ms() + s->safety_interval_ms;
    s->nreaders++;
    return 0;
}

/* Where the readers of a newly known generation start, from the committed position (or the
 * look-back on a first start). Returns false when the generation was read to its end. */
static bool gen_start_point(const sc_source_t *s, const sc_gen_t *g, int64_t *start)
{
    int64_t end = gen_end(s, g->table, g->start_ms);
    if (!s->has_start_pos) {
        if (end != INT64_MAX && end - 1 <= s->start_ms) return false;
        *start = s->start_ms > g->start_ms - 1 ? s->start_ms : g->start_ms - 1;
        return true;
    }
    /* Only the entries of tables that share this generation's scope say how far it was read. */
    int64_t min_gen = INT64_MAX;
    for (int i = 0; i < s->nstart_pos; i++) {
        bool same_scope = false;
        for (int t = 0; t < s->ntables && !same_scope; t++)
            same_scope = scope_of(s, t) == g->table && strcmp(s->tables[t].qualified, s->start_pos[i].table) == 0;
        if (same_scope && s->start_pos[i].gen_ms < min_gen) min_gen = s->start_pos[i].gen_ms;
    }
    if (g->start_ms < min_gen && min_gen != INT64_MAX) return false;
    *start = g->start_ms - 1;
    return true;
}

static void new_gen_readers(sc_source_t *s, sc_gen_t *g, connect_err_t *err, int *rc)
{
    int64_t start;
    /* Readers of the previous generation now know where theirs ends. */
    for (int i = 0; i < s->nreaders; i++)
        s->readers[i].p.gen_end_ms = gen_end(s, scope_of(s, s->readers[i].table), s->readers[i].gen_ms);
    if (!gen_start_point(s, g, &start)) return;
    for (int t = 0; t < s->ntables; t++) {
        if (scope_of(s, t) != g->table) continue; /* a tablets table reads only its own */
        for (int j = 0; j < g->ngroups; j++) {
            int64_t final_ms = start;
            const char *last = NULL;
            for (int k = 0; s->has_start_pos && k < s->nstart_pos; k++) {
                const scylla_pos_entry_t *e = &s->start_pos[k];
                if (e->gen_ms == g->start_ms && e->key == g->groups[j].key &&
                    strcmp(e->table, s->tables[t].qualified) == 0) {
                    final_ms = e->final_ms;
                    last = e->last;
                }
            }
            if (add_reader(s, t, g, j, final_ms, last)) {
                *rc = connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
                return;
            }
        }
    }
}

/* Tablets keyspaces (ScyllaDB 2025.x): each CDC table has its own generations. Their times
 * are in system.cdc_timestamps and, per time, system.cdc_streams lists the streams with
 * stream_state 0 (current; 1 closed and 2 opened describe the change from the previous time).
 * Each stream is its own group (a tablet's streams have no vnode to share), keyed by its token.
 * A node without these tables (an Invalid "unconfigured table" answer) has no tablets CDC;
 * they are not asked for again. */
static int refresh_tablets_generations(sc_source_t *s, connect_err_t *err)
{
    if (s->no_tablets_tables) return 0;
    int rc = 0;
    for (int t = 0; t < s->ntables && rc == 0; t++) {
        sb_err_t e = {0};
        cql_exec_opts_t x;
        cql_exec_opts_init(&x);
        cql_values_t v;
        cql_values_init(&v);
        cql_values_text(&v, s->tables[t].keyspace);
        cql_values_text(&v, s->tables[t].name);
        cql_result_t *r = NULL;
        rc = cql_client_query(s->cl,
                              "SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = ? AND "
                              "table_name = ?",
                              &v, &x, &r, &e);
        cql_values_deinit(&v);
        if (rc) {
            if (cql_client_server_error(s->cl) == CQL_ERR_INVALID) {
                s->no_tablets_tables = true;
                return 0;
            }
            return cql_fail(s, "reading system.cdc_timestamps", &e, err);
        }
        if (r->nrows > 0 && !s->tables[t].tablets) {
            s->tables[t].tablets = true;
            sb_info(LOG, "connector %s: %s is in a tablets keyspace: its generations come from system.cdc_timestamps",
                    source_name(s->ctx), s->tables[t].qualified);
        }
        for (int i = 0; i < r->nrows && rc == 0; i++) {
            int64_t ms = cell_i64(r, i, 0, INT64_MIN);
            if (ms == INT64_MIN || gen_find(s, t, ms)) continue;
            cql_values_init(&v);
            cql_values_text(&v, s->tables[t].keyspace);
            cql_values_text(&v, s->tables[t].name);
            cql_values_bigint(&v, ms); /* timestamp */
            cql_result_t *d = NULL;
            cql_exec_opts_t dx;
            cql_exec_opts_init(&dx);
            rc = cql_client_query(s->cl,
                                  "SELECT stream_id FROM system.cdc_streams WHERE keyspace_name = ? AND "
                                  "table_name = ? AND timestamp = ? AND stream_state = 0",
                                  &v, &dx, &d, &e);
            cql_values_deinit(&v);
            if (rc) {
                rc = cql_fail(s, "reading system.cdc_streams", &e, err);
                break;
            }
            if (d->nrows == 0) { /* being written: look again next time */
                cql_result_free(d);
                continue;
            }
            sc_gen_t *g = gen_add(s, t, ms);
            for (int j = 0; g && j < d->nrows && rc == 0; j++) {
                sb_slice_t id = cql_result_cell(d, j, 0);
                if (id.len != 16) {
                    rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                         "scylla source: system.cdc_streams of %s at %" PRId64 ": a stream id of %d bytes",
                                         s->tables[t].qualified, ms, (int)id.len);
                    break;
                }
                int64_t key = 0;
                for (int b = 0; b < 8; b++)
                    key = (int64_t)((uint64_t)key << 8 | id.p[b]);
                if (add_group(g, key, (const uint8_t(*)[16])id.p, 1))
                    rc = connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
            }
            cql_result_free(d);
            if (!g) rc = connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
            if (rc == 0) {
                sb_info(LOG, "connector %s: CDC generation %" PRId64 " of %s (tablets) with %d streams",
                        source_name(s->ctx), ms, s->tables[t].qualified, g->ngroups);
                new_gen_readers(s, g, err, &rc);
            }
        }
        cql_result_free(r);
    }
    return rc;
}

/* Learns new generations (and their stream groups). */
static int refresh_generations(sc_source_t *s, connect_err_t *err)
{
    sb_err_t e = {0};
    cql_exec_opts_t x;
    cql_exec_opts_init(&x);
    cql_result_t *r = NULL;
    int rc = 0;
    s->next_gen_mono = sb_mono_ms() + s->gen_poll_ms;
    if ((rc = refresh_tablets_generations(s, err)) != 0) return rc;
    if (!s->v1_layout) {
        if (cql_client_query(s->cl,
                             "SELECT time FROM system_distributed.cdc_generation_timestamps WHERE "
                             "key = 'timestamps'",
                             NULL, &x, &r, &e))
            return cql_fail(s, "reading system_distributed.cdc_generation_timestamps", &e, err);
        int vnode_gens = 0;
        for (int i = 0; i < s->ngens; i++)
            vnode_gens += s->gens[i].table == -1;
        if (r->nrows == 0 && vnode_gens == 0) {
            s->v1_layout = true; /* a cluster before 4.4, or one not yet rewritten */
        } else {
            for (int i = 0; i < r->nrows && rc == 0; i++) {
                int64_t ms = cell_i64(r, i, 0, INT64_MIN);
                if (ms == INT64_MIN || gen_find(s, -1, ms)) continue;
                cql_values_t v;
                cql_values_init(&v);
                cql_values_bigint(&v, ms);
                cql_result_t *d = NULL;
                cql_exec_opts_t dx;
                cql_exec_opts_init(&dx);
                rc = cql_client_query(
                    s->cl,
                    "SELECT range_end, streams FROM system_distributed.cdc_streams_descriptions_v2 "
                    "WHERE time = ?",
                    &v, &dx, &d, &e);
                cql_values_deinit(&v);
                if (rc) {
                    cql_result_free(r);
                    return cql_fail(s, "reading system_distributed.cdc_streams_descriptions_v2", &e,
                                    err);
                }
                if (d->nrows == 0) { /* being written: look again next time */
                    cql_result_free(d);
                    continue;
                }
                sc_gen_t *g = gen_add(s, -1, ms);
                for (int j = 0; g && j < d->nrows && rc == 0; j++) {
                    uint8_t(*st)[16];
                    int n;
                    if (streams_of(d, j, 1, &st, &n, &e)) {
                        rc =
                            connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                            "scylla source: generation %" PRId64 ": %s", ms, e.msg);
                        break;
                    }
                    if (add_group(g, cell_i64(d, j, 0, 0), (const uint8_t(*)[16])st, n))
                        rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                             "scylla source: out of memory");
                    free(st);
                }
                cql_result_free(d);
                if (!g)
                    rc =
                        connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
                if (rc == 0) {
                    sb_info(LOG, "connector %s: CDC generation %" PRId64 " with %d stream groups",
                            source_name(s->ctx), ms, g->ngroups);
                    new_gen_readers(s, g, err, &rc);
                }
            }
            cql_result_free(r);
            if (rc || !s->v1_layout) return rc;
        }
        if (!s->v1_layout) return 0;
        cql_result_free(r);
        r = NULL;
    }
    /* The layout before ScyllaDB 4.4: one row per generation with every stream. Streams are
     * grouped by their token (the high 8 bytes of the id) into runs of max.streams.per.query. */
    if (cql_client_query(s->cl,
                         "SELECT time, streams FROM system_distributed.cdc_streams_descriptions",
                         NULL, &x, &r, &e))
        return cql_fail(s, "reading system_distributed.cdc_streams_descriptions", &e, err);
    for (int i = 0; i < r->nrows && rc == 0; i++) {
        int64_t ms = cell_i64(r, i, 0, INT64_MIN);
        if (ms == INT64_MIN || gen_find(s, -1, ms)) continue;
        uint8_t(*st)[16];
        int n;
        if (streams_of(r, i, 1, &st, &n, &e)) {
            rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                 "scylla source: generation %" PRId64 ": %s", ms, e.msg);
            break;
        }
        qsort(st, (size_t)n, 16, cmp_stream);
        sc_gen_t *g = gen_add(s, -1, ms);
        for (int j = 0; g && j < n && rc == 0; j += s->max_streams) {
            int cnt = n - j < s->max_streams ? n - j : s->max_streams;
            int64_t key = 0;
            for (int b = 0; b < 8; b++)
                key = (int64_t)((uint64_t)key << 8 | st[j][b]);
            if (add_group(g, key, (const uint8_t(*)[16])st + j, cnt))
                rc = connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
        }
        free(st);
        if (!g) rc = connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
        if (rc == 0) {
            sb_info(LOG,
                    "connector %s: CDC generation %" PRId64
                    " (cdc_streams_descriptions) with %d stream groups",
                    source_name(s->ctx), ms, g->ngroups);
            new_gen_readers(s, g, err, &rc);
        }
    }
    cql_result_free(r);
    return rc;
}

static int setup(sc_source_t *s, connect_err_t *err)
{
    sb_err_t e = {0};
    if (!s->cl) {
        cql_client_opts_t o = {
            .contact_points = s->contact_points,
            .username = s->user,
            .password = s->password,
            .consistency = s->consistency,
            .tls = {.enabled = s->tls, .ca_file = s->tls_ca, .skip_verify = s->tls_skip_verify},
        };
        if (cql_client_new(&o, &s->cl, &e)) {
            bool fatal = strstr(e.msg, "credentials") || strstr(e.msg, "password") ||
                         strstr(e.msg, "Authentication");
            return connect_err_set(err, fatal ? CONNECT_ERR_FATAL : CONNECT_ERR_TRANSIENT, -1,
                                   "scylla source: cannot connect to %s: %s%s", s->contact_points,
                                   e.msg, fatal ? "" : " (retrying with backoff)");
        }
    }
    for (int i = 0; i < s->ntables; i++) {
        if (s->tables[i].env) continue;
        if (table_setup(s, &s->tables[i], true, err)) return -1;
    }
    if (refresh_generations(s, err)) return -1;
    if (s->ngens == 0) {
        return connect_err_set(
            err, CONNECT_ERR_TRANSIENT, -1,
            "scylla source: no CDC generation found in system_distributed (is CDC enabled?)");
    }
    s->setup_done = true;
    free(s->start_pos);
    s->start_pos = NULL;
    s->nstart_pos = 0;
    return 0;
}

/* ---------------------------------------------------------------- reading and emitting */

typedef struct row_ref {
    const cql_result_t *r;
    int row;
    const uint8_t *stream;
    const uint8_t *time;
    int32_t seq;
    int op;
} row_ref_t;

static int cmp_rows(const void *a, const void *b)
{
    const row_ref_t *x = a, *y = b;
    int c = memcmp(x->stream, y->stream, 16);
    if (c) return c;
    c = scylla_timeuuid_cmp(x->time, y->time);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_key(const sc_table_t *t, const row_ref_t *a, const row_ref_t *b)
{
    for (int k = 0; k < t->nbase; k++) {
        if (!t->is_key[k]) continue;
        sb_slice_t x = cql_result_cell(a->r, a->row, t->base_idx[k]),
                   y = cql_result_cell(b->r, b->row, t->base_idx[k]);
        if (x.len != y.len || (x.len > 0 && memcmp(x.p, y.p, (size_t)x.len) != 0)) return false;
    }
    return true;
}

typedef struct cell_span {
    size_t off;
    int32_t len; /* or ENVELOPE_NULL / ENVELOPE_ABSENT */
} cell_span_t;

static int emit(sc_source_t *s, const char *topic, bool key_null, bool value_null, int64_t ts_ms,
                const char *position, connect_err_t *err)
{
    connect_record_t rec = {
        .topic = topic,
        .partition = -1,
        .offset = -1,
        .timestamp_ms = ts_ms,
        .key = {key_null ? NULL : s->key.buf, key_null ? -1 : (int32_t)s->key.len},
        .value = {value_null ? NULL : s->val.buf, value_null ? -1 : (int32_t)s->val.len},
    };
    if (s->key.oom || s->val.oom)
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    if (source_emit(s->ctx, &rec, position) < 0)
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1,
                               "the runtime refused a record (stopping)");
    return 0;
}

/* Renders row `ref` (or only its key columns) into spans over s->cells. mode: 0 full row (an
 * image), 1 a delta row (unchanged columns absent), 2 key columns only, 3 partition key only. */
static int row_spans(sc_source_t *s, const sc_table_t *t, const row_ref_t *ref, int mode,
                     cell_span_t *out, connect_err_t *err)
{
    for (int b = 0; b < t->nbase; b++) {
        if ((mode == 2 && !t->is_key[b]) || (mode == 3 && !t->is_pk[b])) {
            out[b].len = ENVELOPE_ABSENT;
            continue;
        }
        sb_slice_t raw = cql_result_cell(ref->r, ref->row, t->base_idx[b]);
        if (mode == 1 && !t->is_key[b]) {
            bool deleted = cell_true(ref->r, ref->row, t->del_idx[b]);
            if (t->delel_idx[b] >= 0 && !deleted &&
                (raw.len >= 0 || cql_result_cell(ref->r, ref->row, t->delel_idx[b]).len >= 0)) {
                /* Elements added to or removed from a non-frozen collection: the delta holds
                 * only those elements, not the value, so the column is left out (the sink
                 * keeps what it has). Post-images carry the whole value. */
                s->partial_collections++;
                out[b].len = ENVELOPE_ABSENT;
                continue;
            }
            if (raw.len < 0) {
                out[b].len = deleted ? ENVELOPE_NULL : ENVELOPE_ABSENT;
                continue;
            }
        }
        sb_err_t e = {0};
        size_t off = s->cells.len;
        int rc = render_cell(t->types[b], raw, &s->cells, &e);
        if (rc < 0)
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: %s column %s: %s",
                                   t->qualified, envelope_table_column(t->env, b)->name, e.msg);
        out[b].off = off;
        out[b].len = rc == 1 ? ENVELOPE_NULL : (int32_t)(s->cells.len - off);
    }
    return 0;
}

static void spans_to_values(const sc_source_t *s, const sc_table_t *t, const cell_span_t *sp,
                            envelope_value_t *v)
{
    for (int b = 0; b < t->nbase; b++) {
        v[b].len = sp[b].len;
        v[b].p = sp[b].len >= 0 ? (const char *)s->cells.buf + sp[b].off : NULL;
    }
}

/* One delta row and its images -> an event (and a tombstone after a delete). */
static int emit_change(sc_source_t *s, sc_reader_t *rd, const sc_table_t *t, const row_ref_t *delta,
                       const row_ref_t *pre, const row_ref_t *post, connect_err_t *err)
{
    char kind = scylla_op_kind(delta->op);
    int n = t->nbase;
    cell_span_t *sb = calloc((size_t)n * 3, sizeof(cell_span_t));
    if (!sb) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    cell_span_t *sa = sb + n, *sk = sb + 2 * n;
    sb_wr_reset(&s->cells);
    bool partition = delta->op == SCYLLA_OP_PARTITION_DELETE;
    int rc = row_spans(s, t, delta, partition ? 3 : 2, sk, err);
    if (!rc && pre) rc = row_spans(s, t, pre, 0, sb, err);
    if (!rc && kind != 'd') rc = row_spans(s, t, post ? post : delta, post ? 0 : 1, sa, err);
    if (!rc && kind == 'd' && !pre) memcpy(sb, sk, (size_t)n * sizeof(*sb));
    if (rc) {
        free(sb);
        return -1;
    }
    if (s->cells.oom) {
        free(sb);
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    }
    spans_to_values(s, t, sk, s->keyrow);
    spans_to_values(s, t, sb, s->before);
    spans_to_values(s, t, sa, s->after);
    free(sb);
    int64_t ts_ms = scylla_timeuuid_ms(delta->time);
    envelope_source_t src = {.connector = "scylla",
                             .name = s->prefix,
                             .ts_ms = ts_ms,
                             .lsn = -1,
                             .txid = -1,
                             .snapshot = "false"};
    sb_wr_reset(&s->key);
    sb_wr_reset(&s->val);
    envelope_write_key(&s->key, t->env, s->keyrow);
    bool has_before = pre || kind == 'd';
    envelope_write_value(&s->val, t->env, kind, has_before ? s->before : NULL,
                         kind == 'd' ? NULL : s->after, &src, sb_now_ms());
    if (emit(s, t->topic, false, false, ts_ms, NULL, err)) return -1;
    if (kind == 'd' && s->tombstones) {
        sb_wr_reset(&s->val);
        if (emit(s, t->topic, false, true, ts_ms, NULL, err)) return -1;
    }
    if (delta->r->meta.cols && t->i_ttl >= 0 &&
        cql_result_cell(delta->r, delta->row, t->i_ttl).len > 0)
        s->ttl_changes++;
    s->events++;
    s->last_event_ts_ms = ts_ms;
    char u[37];
    scylla_uuid_format(delta->time, u);
    snprintf(rd->last, sizeof(rd->last), "%s/%d", u, (int)delta->seq);
    return 0;
}

/* A range delete: its two bounds (cdc$operation 5/6 then 7/8) as one record on the table's
 * range-delete topic. Sinks cannot apply it as a key-based delete, so it does not go to the
 * table's topic; it is not dropped either. */
static int emit_range_delete(sc_source_t *s, const sc_table_t *t, const row_ref_t *lo,
                             const row_ref_t *hi, connect_err_t *err)
{
    int n = t->nbase;
    cell_span_t *sp = calloc((size_t)n * 3, sizeof(*sp));
    if (!sp) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    sb_wr_reset(&s->cells);
    int rc = row_spans(s, t, lo, 3, sp, err);
    if (!rc) rc = row_spans(s, t, lo, 2, sp + n, err);
    if (!rc && hi) rc = row_spans(s, t, hi, 2, sp + 2 * n, err);
    if (rc) {
        free(sp);
        return -1;
    }
    int64_t ts_ms = scylla_timeuuid_ms(lo->time);
    sb_wr_reset(&s->key);
    sb_wr_reset(&s->val);
    spans_to_values(s, t, sp, s->keyrow);
    envelope_write_key(&s->key, t->env, s->keyrow);
    char buf[160];
    int len = snprintf(buf, sizeof(buf),
                       "{\"op\":\"range_delete\",\"ts_ms\":%" PRId64
                       ",\"source\":{\"connector\":\"scylla\",\"keyspace\":",
                       ts_ms);
    sb_wr_bytes(&s->val, buf, (size_t)len);
    envelope_write_json_string(&s->val, t->keyspace, strlen(t->keyspace));
    sb_wr_bytes(&s->val, ",\"table\":", 9);
    envelope_write_json_string(&s->val, t->name, strlen(t->name));
    sb_wr_bytes(&s->val, "}", 1);
    const row_ref_t *bounds[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        sb_wr_bytes(&s->val, k ? ",\"end\":" : ",\"start\":", k ? 7 : 9);
        if (!bounds[k]) {
            sb_wr_bytes(&s->val, "null", 4);
            continue;
        }
        bool incl = bounds[k]->op == SCYLLA_OP_RANGE_START_INCL ||
                    bounds[k]->op == SCYLLA_OP_RANGE_END_INCL;
        sb_wr_bytes(&s->val,
                    incl ? "{\"inclusive\":true,\"bound\":" : "{\"inclusive\":false,\"bound\":",
                    incl ? 26 : 27);
        spans_to_values(s, t, sp + (size_t)(k + 1) * (size_t)n, s->after);
        /* clustering columns only: the partition is in the key */
        sb_wr_bytes(&s->val, "{", 1);
        bool first = true;
        for (int b = 0; b < n; b++) {
            if (!t->is_key[b] || t->is_pk[b] || s->after[b].len == ENVELOPE_ABSENT ||
                s->after[b].len == ENVELOPE_NULL)
                continue;
            if (!first) sb_wr_bytes(&s->val, ",", 1);
            first = false;
            const char *nm = envelope_table_column(t->env, b)->name;
            envelope_write_json_string(&s->val, nm, strlen(nm));
            sb_wr_bytes(&s->val, ":", 1);
            envelope_write_json_value(&s->val, envelope_table_column(t->env, b)->kind, s->after[b]);
        }
        sb_wr_bytes(&s->val, "}}", 2);
    }
    sb_wr_bytes(&s->val, "}", 1);
    free(sp);
    s->range_deletes++;
    return emit(s, t->range_topic, false, false, ts_ms, NULL, err);
}

/* Emits the changes of rows[0..n) (sorted) that the reader has not emitted yet. */
static int process_rows(sc_source_t *s, sc_reader_t *rd, const sc_table_t *t, row_ref_t *rows,
                        int n, bool safety, connect_err_t *err)
{
    int i = 0;
    while (i < n) {
        int j = i + 1;
        while (j < n && memcmp(rows[j].stream, rows[i].stream, 16) == 0 &&
               scylla_timeuuid_cmp(rows[j].time, rows[i].time) == 0)
            j++;
        /* rows[i..j): one CDC batch (one write), ordered by cdc$batch_seq_no. */
        for (int k = i; k < j; k++) {
            row_ref_t *d = &rows[k];
            char kind = scylla_op_kind(d->op);
            if (kind == 'I') continue;
            scylla_change_id_t id;
            memcpy(id.stream, d->stream, 16);
            memcpy(id.time, d->time, 16);
            id.seq = d->seq;
            if (scylla_seen_contains(rd->seen, &id)) {
                s->duplicates_skipped++;
                if (kind == 'R' &&
                    (d->op == SCYLLA_OP_RANGE_START_INCL || d->op == SCYLLA_OP_RANGE_START_EXCL) &&
                    k + 1 < j)
                    k++; /* its end bound went with it */
                continue;
            }
            /* The id is recorded only once the change was handed to the runtime: after a
             * failure part way, poll() reads the window again and must not skip it. */
            if (kind == 0) {
                s->unknown_ops++;
                sb_warn(LOG,
                        "connector %s: %s: cdc$operation %d is unknown to this reader; change at "
                        "%" PRId64 " not applied",
                        source_name(s->ctx), t->qualified, d->op, scylla_timeuuid_ms(d->time));
            } else if (kind == 'R') {
                const row_ref_t *hi = NULL;
                if ((d->op == SCYLLA_OP_RANGE_START_INCL || d->op == SCYLLA_OP_RANGE_START_EXCL) &&
                    k + 1 < j &&
                    (rows[k + 1].op == SCYLLA_OP_RANGE_END_INCL ||
                     rows[k + 1].op == SCYLLA_OP_RANGE_END_EXCL))
                    hi = &rows[k + 1];
                if (emit_range_delete(s, t, d, hi, err)) return -1;
                if (hi) {
                    scylla_change_id_t hid = id;
                    hid.seq = hi->seq;
                    if (scylla_seen_add(rd->seen, &hid) < 0)
                        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1,
                                               "scylla source: out of memory");
                    k++;
                }
            } else {
                const row_ref_t *pre = NULL, *post = NULL;
                for (int m = i; m < j; m++) {
                    if (rows[m].op == SCYLLA_OP_PREIMAGE && !pre && same_key(t, &rows[m], d))
                        pre = &rows[m];
                    if (rows[m].op == SCYLLA_OP_POSTIMAGE && !post && same_key(t, &rows[m], d))
                        post = &rows[m];
                }
                if (emit_change(s, rd, t, d, pre, post, err)) return -1;
            }
            if (safety && kind != 0) s->late_found++;
            if (scylla_seen_add(rd->seen, &id) < 0)
                return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1,
                                       "scylla source: out of memory");
        }
        i = j;
    }
    return 0;
}

/* Reads (from, to] of one reader's group, all pages, and emits what is new. */
static int read_window(sc_source_t *s, sc_reader_t *rd, int64_t from, int64_t to, bool safety,
                       connect_err_t *err)
{
    sc_table_t *t = &s->tables[rd->table];
    const sc_gen_t *g = reader_gen(s, rd);
    const sc_group_t *gr = &g->groups[rd->group];
    bool relayout_done = false;
again:;
    uint8_t lo[16], hi[16];
    scylla_timeuuid_max(from, lo);
    scylla_timeuuid_max(to, hi);
    cql_values_t v;
    cql_values_init(&v);
    cql_values_raw(&v, gr->list.buf, (int32_t)gr->list.len);
    cql_values_uuid(&v, lo);
    cql_values_uuid(&v, hi);
    cql_exec_opts_t x;
    cql_exec_opts_init(&x);
    x.page_size = s->page_size;
    cql_result_t **pages = NULL;
    int npages = 0, nrows = 0, rc = 0;
    uint8_t *state = NULL;
    for (;;) {
        cql_result_t *r = NULL;
        sb_err_t e = {0};
        s->queries++;
        if (cql_client_execute(s->cl, t->ps, &v, &x, &r, &e)) {
            char what[600];
            snprintf(what, sizeof(what), "reading %s_scylla_cdc_log", t->qualified);
            rc = cql_fail(s, what, &e, err);
            break;
        }
        if (r->kind != CQL_RESULT_ROWS || !r->meta.cols) {
            cql_result_free(r);
            rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                 "scylla source: reading %s_scylla_cdc_log gave no rows metadata",
                                 t->qualified);
            break;
        }
        if (r->meta.ncols != t->ncols || log_shape(&r->meta) != t->shape) {
            /* The base table was altered (a column added or dropped) while running: the node
             * dropped the prepared read, the client prepared it again and the log's rows now
             * have other columns. Rebuild the layout from the schema as it is now and read the
             * window again from its start; nothing of it was emitted yet. */
            cql_result_free(r);
            if (relayout_done) {
                rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1,
                                     "scylla source: %s_scylla_cdc_log changed its columns again "
                                     "while being read after a schema change",
                                     t->qualified);
                break;
            }
            for (int p = 0; p < npages; p++)
                cql_result_free(pages[p]);
            free(pages);
            free(state);
            cql_values_deinit(&v);
            sb_info(LOG, "%s: the CDC log's columns changed (schema change); reading its layout again",
                    t->qualified);
            table_layout_free(t);
            if (table_setup(s, t, false, err)) return -1;
            s->schema_changes++;
            relayout_done = true;
            goto again;
        }
        cql_result_t **np = realloc(pages, (size_t)(npages + 1) * sizeof(*np));
        if (!np) {
            cql_result_free(r);
            rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
            break;
        }
        pages = np;
        pages[npages++] = r;
        nrows += r->nrows;
        if (!cql_result_has_more_pages(r)) break;
        free(state);
        state = malloc((size_t)r->meta.paging_state.len + 1);
        if (!state) {
            rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
            break;
        }
        memcpy(state, r->meta.paging_state.p, (size_t)r->meta.paging_state.len);
        x.paging_state = (sb_slice_t){state, r->meta.paging_state.len};
    }
    free(state);
    cql_values_deinit(&v);
    row_ref_t *rows = NULL;
    if (rc == 0 && nrows > 0) {
        rows = malloc((size_t)nrows * sizeof(*rows));
        if (!rows)
            rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    }
    int k = 0;
    for (int p = 0; rc == 0 && p < npages; p++) {
        const cql_result_t *r = pages[p];
        for (int i = 0; i < r->nrows; i++) {
            sb_slice_t st = cql_result_cell(r, i, t->i_stream),
                       tm = cql_result_cell(r, i, t->i_time);
            if (st.len != 16 || tm.len != 16) {
                rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                     "scylla source: %s_scylla_cdc_log row without a 16-byte "
                                     "cdc$stream_id / cdc$time",
                                     t->qualified);
                break;
            }
            rows[k] = (row_ref_t){r,
                                  i,
                                  st.p,
                                  tm.p,
                                  (int32_t)cell_i64(r, i, t->i_seq, 0),
                                  (int)cell_i64(r, i, t->i_op, -1)};
            k++;
        }
    }
    if (rc == 0 && k > 0) {
        qsort(rows, (size_t)k, sizeof(*rows), cmp_rows);
        rc = process_rows(s, rd, t, rows, k, safety, err);
    }
    free(rows);
    for (int p = 0; p < npages; p++)
        cql_result_free(pages[p]);
    free(pages);
    return rc;
}

static void position_text(sc_source_t *s, sb_wr_t *w)
{
    /* Generations fully read are left out (a restart skips generations older than every one in
     * the position); every other reader is in, finished or not. */
    scylla_pos_entry_t *e = calloc((size_t)(s->nreaders ? s->nreaders : 1), sizeof(*e));
    if (!e) return;
    int n = 0;
    for (int i = 0; i < s->nreaders; i++) {
        const sc_reader_t *r = &s->readers[i];
        snprintf(e[n].table, sizeof(e[n].table), "%s", s->tables[r->table].qualified);
        e[n].gen_ms = r->gen_ms;
        e[n].key = reader_gen(s, r)->groups[r->group].key;
        e[n].final_ms = r->p.final_ms;
        snprintf(e[n].last, sizeof(e[n].last), "%s", r->last);
        n++;
    }
    scylla_pos_write(w, e, n);
    free(e);
}

static int emit_heartbeat(sc_source_t *s, connect_err_t *err)
{
    sb_wr_t pos;
    sb_wr_init(&pos, 256);
    position_text(s, &pos);
    sb_wr_bytes(&pos, "", 0);
    uint8_t *z = sb_wr_reserve(&pos, 1);
    if (z) *z = 0;
    if (pos.oom) {
        sb_wr_deinit(&pos);
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
    }
    int64_t now = sb_now_ms();
    sb_wr_reset(&s->key);
    sb_wr_reset(&s->val);
    sb_wr_bytes(&s->key, "{\"serverName\":", 14);
    envelope_write_json_string(&s->key, s->prefix, strlen(s->prefix));
    sb_wr_bytes(&s->key, "}", 1);
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"ts_ms\":%" PRId64 "}", now);
    sb_wr_bytes(&s->val, body, (size_t)n);
    int rc = emit(s, s->topic_heartbeat, false, false, now, (const char *)pos.buf, err);
    sb_wr_deinit(&pos);
    s->last_heartbeat_mono = sb_mono_ms();
    if (rc == 0) s->pos_dirty = false;
    return rc;
}

/* The snapshot's progress as a position string (NUL-terminated in w). */
static void snapshot_position(const sc_source_t *s, sb_wr_t *w)
{
    sb_wr_reset(w);
    scylla_pos_write_snapshot(w, s->snap_start_ms, s->snap_done, s->snap_units);
    sb_wr_bytes(w, "", 1);
}

/* ---- parallel snapshot workers ----
 * snapshot.parallelism > 1: that many threads, each with its own CQL connection, take the next
 * (table, token range) unit, read all its pages and queue them (at most SNAP_QUEUE_PAGES, so
 * memory stays bounded while the broker is slower than the reads). The task thread renders
 * and emits the queued pages — events and positions stay on one thread. Units finish out of
 * order; the position counts the finished units from the first one on (snapshot_unit_done), so
 * a restart re-reads the units after the first unfinished one, some of them again. */
#define SNAP_QUEUE_PAGES 8

typedef struct snap_page {
    int unit;
    cql_result_t *r;
    bool last; /* the unit's last page */
    struct snap_page *next;
} snap_page_t;

typedef struct snap_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change below */
    int next_unit, units, ranges, page_size;
    snap_page_t *head, *tail;
    int queued, running;
    bool stop, failed, fatal;
    char error[600];
    cql_client_opts_t opts; /* strings borrowed from the source, which outlives the pool */
    char **queries;         /* per table, borrowed */
    int ntables;
    pthread_t *threads;
    int nthreads;
} snap_pool_t;

static void pool_fail(snap_pool_t *p, bool fatal, const char *fmt, const char *a, const char *b)
{
    pthread_mutex_lock(&p->mu);
    if (!p->failed) {
        p->failed = true;
        p->fatal = fatal;
        snprintf(p->error, sizeof(p->error), fmt, a, b);
    }
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static bool server_error_fatal(const cql_client_t *cl)
{
    int32_t code = cql_client_server_error(cl);
    return code == CQL_ERR_INVALID || code == CQL_ERR_SYNTAX || code == CQL_ERR_UNAUTHORIZED ||
           code == CQL_ERR_BAD_CREDENTIALS;
}

/* One worker: runs on its own thread with its own client; touches the pool only under mu. */
static void *snap_worker(void *arg)
{
    snap_pool_t *p = arg;
    cql_client_t *cl = NULL;
    sb_err_t e = {0};
    const cql_prepared_t **ps = calloc((size_t)p->ntables, sizeof(*ps));
    uint8_t *paging = NULL;
    if (!ps) {
        pool_fail(p, false, "snapshot worker: %s%s", "out of memory", "");
        goto out;
    }
    if (cql_client_new(&p->opts, &cl, &e)) {
        pool_fail(p, false, "snapshot worker: cannot connect: %s%s", e.msg, "");
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int unit = p->stop || p->next_unit >= p->units ? -1 : p->next_unit++;
        pthread_mutex_unlock(&p->mu);
        if (unit < 0) break;
        int t = unit / p->ranges;
        if (!ps[t] && cql_client_prepare(cl, p->queries[t], &ps[t], &e)) {
            pool_fail(p, server_error_fatal(cl), "snapshot: %s: %s", p->queries[t], e.msg);
            goto out;
        }
        int64_t lo, hi;
        scylla_token_range(unit % p->ranges, p->ranges, &lo, &hi);
        int32_t paging_len = -1;
        for (;;) {
            cql_values_t v;
            cql_values_init(&v);
            cql_values_bigint(&v, lo);
            cql_values_bigint(&v, hi);
            cql_exec_opts_t x;
            cql_exec_opts_init(&x);
            x.page_size = p->page_size;
            if (paging_len >= 0) x.paging_state = (sb_slice_t){paging, paging_len};
            cql_result_t *r = NULL;
            int rc = cql_client_execute(cl, ps[t], &v, &x, &r, &e);
            cql_values_deinit(&v);
            if (rc) {
                pool_fail(p, server_error_fatal(cl), "snapshot: %s: %s", p->queries[t], e.msg);
                goto out;
            }
            bool more = cql_result_has_more_pages(r);
            if (more) {
                uint8_t *np = realloc(paging, (size_t)r->meta.paging_state.len + 1);
                if (!np) {
                    cql_result_free(r);
                    pool_fail(p, false, "snapshot worker: %s%s", "out of memory", "");
                    goto out;
                }
                paging = np;
                memcpy(paging, r->meta.paging_state.p, (size_t)r->meta.paging_state.len);
                paging_len = r->meta.paging_state.len;
            }
            snap_page_t *pg = calloc(1, sizeof(*pg));
            if (!pg) {
                cql_result_free(r);
                pool_fail(p, false, "snapshot worker: %s%s", "out of memory", "");
                goto out;
            }
            pg->unit = unit;
            pg->r = r;
            pg->last = !more;
            pthread_mutex_lock(&p->mu);
            while (p->queued >= SNAP_QUEUE_PAGES && !p->stop)
                pthread_cond_wait(&p->cv, &p->mu);
            if (p->stop) {
                pthread_mutex_unlock(&p->mu);
                cql_result_free(r);
                free(pg);
                goto out;
            }
            if (p->tail) p->tail->next = pg;
            else p->head = pg;
            p->tail = pg;
            p->queued++;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            if (!more) break;
        }
    }
out:
    cql_client_free(cl);
    free(ps);
    free(paging);
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void snap_pool_free(snap_pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    for (snap_page_t *pg = p->head, *next; pg; pg = next) {
        next = pg->next;
        cql_result_free(pg->r);
        free(pg);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->queries);
    free(p);
}

/* Starts the workers at the first unit not yet emitted to its end. */
static int snap_pool_start(sc_source_t *s)
{
    snap_pool_t *p = calloc(1, sizeof(*p));
    if (!p) return SB_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->next_unit = s->snap_done;
    p->units = s->snap_units;
    p->ranges = s->snap_ranges;
    p->page_size = s->page_size;
    p->opts = (cql_client_opts_t){
        .contact_points = s->contact_points,
        .username = s->user,
        .password = s->password,
        .consistency = s->consistency,
        .tls = {.enabled = s->tls, .ca_file = s->tls_ca, .skip_verify = s->tls_skip_verify},
    };
    p->ntables = s->ntables;
    p->queries = calloc((size_t)s->ntables, sizeof(char *));
    p->threads = calloc((size_t)s->snap_parallelism, sizeof(pthread_t));
    if (!p->queries || !p->threads) {
        snap_pool_free(p);
        return SB_ENOMEM;
    }
    for (int t = 0; t < s->ntables; t++)
        p->queries[t] = s->tables[t].snap_query;
    for (int i = 0; i < s->snap_parallelism; i++) {
        pthread_mutex_lock(&p->mu);
        p->running++;
        pthread_mutex_unlock(&p->mu);
        if (pthread_create(&p->threads[i], NULL, snap_worker, p) != 0) {
            pthread_mutex_lock(&p->mu);
            p->running--;
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        snap_pool_free(p);
        return SB_ENOMEM;
    }
    s->snap_pool = p;
    return 0;
}

/* A unit was emitted to its end: the position's count of finished units moves over every
 * unit finished from the first one on. */
static void snapshot_unit_done(sc_source_t *s, int unit)
{
    s->snap_unit_done[unit] = true;
    while (s->snap_done < s->snap_units && s->snap_unit_done[s->snap_done])
        s->snap_done++;
}

/* Emits the rows of one snapshot page of `unit` as op "r" events. With unit_ends, the unit is
 * done after the page: its last row (or a heartbeat, when the page is empty) carries the
 * position, so a restart re-reads at most the units not yet done. Takes r. */
static int snapshot_emit_page(sc_source_t *s, int unit, cql_result_t *r, bool unit_ends, connect_err_t *err)
{
    sc_table_t *t = &s->tables[unit / s->snap_ranges];
    sb_err_t e = {0};
    sb_wr_t pos;
    sb_wr_init(&pos, 128);
    int64_t now = sb_now_ms();
    envelope_source_t src = {.connector = "scylla",
                             .name = s->prefix,
                             .ts_ms = now,
                             .lsn = -1,
                             .txid = -1,
                             .snapshot = "true"};
    int rc = 0;
    for (int i = 0; i < r->nrows && rc == 0; i++) {
        sb_wr_reset(&s->cells);
        size_t *off = calloc((size_t)(t->nbase ? t->nbase : 1), sizeof(size_t));
        if (!off) {
            rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
            break;
        }
        for (int b = 0; b < t->nbase && rc == 0; b++) {
            if (t->snap_idx[b] < 0) {
                s->after[b].len = ENVELOPE_NULL;
                continue;
            }
            off[b] = s->cells.len;
            int k = render_cell(r->meta.cols[t->snap_idx[b]].type,
                                cql_result_cell(r, i, t->snap_idx[b]), &s->cells, &e);
            if (k < 0)
                rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                     "scylla source: snapshot of %s: %s", t->qualified, e.msg);
            s->after[b].len = k == 1 ? ENVELOPE_NULL : (int32_t)(s->cells.len - off[b]);
        }
        for (int b = 0; b < t->nbase; b++)
            s->after[b].p = s->after[b].len >= 0 ? (const char *)s->cells.buf + off[b] : NULL;
        free(off);
        if (rc) break;
        sb_wr_reset(&s->key);
        sb_wr_reset(&s->val);
        envelope_write_key(&s->key, t->env, s->after);
        envelope_write_value(&s->val, t->env, 'r', NULL, s->after, &src, now);
        bool last_of_unit = unit_ends && i == r->nrows - 1;
        if (last_of_unit) {
            snapshot_unit_done(s, unit);
            snapshot_position(s, &pos);
        }
        rc = emit(s, t->topic, false, false, now, last_of_unit ? (const char *)pos.buf : NULL, err);
        s->snap_rows++;
    }
    bool empty = r->nrows == 0;
    cql_result_free(r);
    if (rc == 0 && unit_ends && empty) {
        /* an empty end of a range: its position rides on a heartbeat */
        snapshot_unit_done(s, unit);
        snapshot_position(s, &pos);
        sb_wr_reset(&s->key);
        sb_wr_reset(&s->val);
        sb_wr_bytes(&s->key, "{\"serverName\":", 14);
        envelope_write_json_string(&s->key, s->prefix, strlen(s->prefix));
        sb_wr_bytes(&s->key, "}", 1);
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"ts_ms\":%" PRId64 "}", now);
        sb_wr_bytes(&s->val, body, (size_t)n);
        rc = emit(s, s->topic_heartbeat, false, false, now, (const char *)pos.buf, err);
    }
    sb_wr_deinit(&pos);
    return rc;
}

static int snapshot_complete(sc_source_t *s)
{
    snap_pool_free(s->snap_pool);
    s->snap_pool = NULL;
    s->snapshot_active = false;
    sb_info(LOG, "connector %s: initial snapshot complete, %" PRIu64 " rows; change data from %" PRId64,
            source_name(s->ctx), s->snap_rows, s->start_ms);
    return 0;
}

/* Parallel mode: emits the queued pages, waiting up to timeout_ms for one. */
static int snapshot_step_parallel(sc_source_t *s, int timeout_ms, connect_err_t *err)
{
    if (!s->snap_pool && snap_pool_start(s))
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: cannot start the snapshot workers");
    snap_pool_t *p = s->snap_pool;
    int64_t deadline = sb_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->failed && p->running > 0 && sb_mono_ms() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        }
        snap_page_t *pg = p->head;
        if (pg) {
            p->head = pg->next;
            if (!p->head) p->tail = NULL;
            p->queued--;
            pthread_cond_broadcast(&p->cv);
        }
        bool failed = p->failed, fatal = p->fatal, idle = p->running == 0;
        char why[sizeof(p->error)];
        memcpy(why, p->error, sizeof(why));
        pthread_mutex_unlock(&p->mu);
        if (pg) {
            int unit = pg->unit;
            cql_result_t *r = pg->r;
            bool last = pg->last;
            free(pg);
            if (snapshot_emit_page(s, unit, r, last, err)) return -1;
            if (sb_mono_ms() >= deadline) return 0;
            continue;
        }
        if (failed) {
            /* The next poll starts new workers at the first unit not yet done. */
            snap_pool_free(s->snap_pool);
            s->snap_pool = NULL;
            return connect_err_set(err, fatal ? CONNECT_ERR_FATAL : CONNECT_ERR_TRANSIENT, -1, "scylla source: %s",
                                   why);
        }
        if (idle && s->snap_done >= s->snap_units) return snapshot_complete(s);
        if (idle) {
            /* Every worker ended without a failure but a unit is not done (cannot happen while
             * the workers hand out every unit once): start over from it rather than stall. */
            snap_pool_free(s->snap_pool);
            s->snap_pool = NULL;
        }
        return 0;
    }
}

/* One page of the initial snapshot, on the task's own connection (snapshot.parallelism 1):
 * rows of the first unit not yet done, in unit order. */
static int snapshot_step(sc_source_t *s, int timeout_ms, connect_err_t *err)
{
    if (s->snap_done >= s->snap_units) return snapshot_complete(s);
    if (s->snap_parallelism > 1) return snapshot_step_parallel(s, timeout_ms, err);
    int unit = s->snap_done;
    sc_table_t *t = &s->tables[unit / s->snap_ranges];
    int64_t lo, hi;
    scylla_token_range(unit % s->snap_ranges, s->snap_ranges, &lo, &hi);
    cql_values_t v;
    cql_values_init(&v);
    cql_values_bigint(&v, lo);
    cql_values_bigint(&v, hi);
    cql_exec_opts_t x;
    cql_exec_opts_init(&x);
    x.page_size = s->page_size;
    if (s->snap_paging_len >= 0) x.paging_state = (sb_slice_t){s->snap_paging, s->snap_paging_len};
    cql_result_t *r = NULL;
    sb_err_t e = {0};
    int rc = cql_client_execute(s->cl, t->snap_ps, &v, &x, &r, &e);
    cql_values_deinit(&v);
    if (rc) {
        char what[600];
        snprintf(what, sizeof(what), "snapshot of %s", t->qualified);
        return cql_fail(s, what, &e, err);
    }
    bool more = cql_result_has_more_pages(r);
    if (more) {
        uint8_t *np = realloc(s->snap_paging, (size_t)r->meta.paging_state.len + 1);
        if (!np) {
            cql_result_free(r);
            return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "scylla source: out of memory");
        }
        memcpy(np, r->meta.paging_state.p, (size_t)r->meta.paging_state.len);
        s->snap_paging = np;
        s->snap_paging_len = r->meta.paging_state.len;
    } else {
        s->snap_paging_len = -1;
    }
    return snapshot_emit_page(s, unit, r, !more, err);
}

/* Drops the readers (and the generation) once every reader of a generation is final to its
 * end, so the position names only generations still being read. */
static void drop_finished(sc_source_t *s)
{
    for (int g = 0; g < s->ngens; g++) {
        int64_t ms = s->gens[g].start_ms;
        int scope = s->gens[g].table;
        bool any = false, all = true;
        for (int i = 0; i < s->nreaders; i++) {
            if (s->readers[i].gen_ms != ms || scope_of(s, s->readers[i].table) != scope) continue;
            any = true;
            all = all && scylla_progress_finished(&s->readers[i].p);
        }
        if (!any || !all) continue;
        int k = 0;
        for (int i = 0; i < s->nreaders; i++) {
            if (s->readers[i].gen_ms == ms && scope_of(s, s->readers[i].table) == scope)
                scylla_seen_free(s->readers[i].seen);
            else
                s->readers[k++] = s->readers[i];
        }
        s->nreaders = k;
        sb_info(LOG, "connector %s: CDC generation %" PRId64 " read to its end",
                source_name(s->ctx), ms);
        s->pos_dirty = true;
    }
}

static int sc_poll(void *state, int timeout_ms, connect_err_t *err)
{
    sc_source_t *s = state;
    if (!s->setup_done) return setup(s, err);
    if (s->snapshot_active) return snapshot_step(s, timeout_ms, err);
    int64_t mono = sb_mono_ms();
    if (mono >= s->next_gen_mono && refresh_generations(s, err)) return -1;
    uint64_t before = s->events;
    for (int i = 0; i < s->nreaders; i++) {
        sc_reader_t *r = &s->readers[i];
        if (scylla_progress_finished(&r->p)) continue;
        int64_t now = sb_now_ms(), from, to;
        if (scylla_fast_window(&r->p, &s->win, now, &from, &to)) {
            if (read_window(s, r, from, to, false, err)) return -1;
            r->p.fast_ms = to;
        }
        if (!r->in_safety && sb_mono_ms() >= r->next_safety_mono) {
            r->in_safety = true;
            r->safety_started = sb_now_ms();
            if (!scylla_safety_window(&r->p, &r->safety_cursor, &r->safety_end))
                r->safety_cursor = r->safety_end = r->p.final_ms;
        }
        if (r->in_safety && r->safety_cursor < r->safety_end) {
            to = r->safety_end - r->safety_cursor > s->safety_chunk_ms
                     ? r->safety_cursor + s->safety_chunk_ms
                     : r->safety_end;
            if (read_window(s, r, r->safety_cursor, to, true, err)) return -1;
            r->safety_cursor = to;
        }
        if (r->in_safety && r->safety_cursor >= r->safety_end) {
            int64_t old = r->p.final_ms;
            scylla_safety_done(&r->p, &s->win, r->safety_started, r->safety_end);
            if (r->p.final_ms != old) {
                scylla_seen_prune(r->seen, r->p.final_ms);
                s->pos_dirty = true;
            }
            r->in_safety = false;
            r->next_safety_mono = sb_mono_ms() + s->safety_interval_ms;
        }
    }
    drop_finished(s);
    if (s->pos_dirty && sb_mono_ms() - s->last_heartbeat_mono >= s->heartbeat_ms &&
        emit_heartbeat(s, err))
        return -1;
    if (s->events == before && timeout_ms > 0)
        poll(NULL, 0, (int)(s->poll_interval_ms < timeout_ms ? s->poll_interval_ms : timeout_ms));
    return 0;
}

static void sc_commit(void *state, const char *position)
{
    /* The runtime stores the position; nothing is kept on the ScyllaDB side. */
    (void)state;
    (void)position;
}

static void sc_stop(void *state)
{
    sc_source_t *s = state;
    if (!s) return;
    snap_pool_free(s->snap_pool); /* its workers borrow the tables' queries and the config */
    cql_client_free(s->cl);
    for (int i = 0; i < s->ntables; i++)
        table_free(&s->tables[i]);
    free(s->tables);
    for (int i = 0; i < s->nreaders; i++)
        scylla_seen_free(s->readers[i].seen);
    free(s->readers);
    gens_free(s);
    free(s->start_pos);
    free_list(s->include);
    free(s->contact_points);
    free(s->user);
    free(s->password);
    free(s->consistency);
    free(s->prefix);
    free(s->tls_ca);
    free(s->topic_heartbeat);
    free(s->snap_paging);
    free(s->snap_unit_done);
    sb_wr_deinit(&s->key);
    sb_wr_deinit(&s->val);
    sb_wr_deinit(&s->cells);
    free(s->before);
    free(s->after);
    free(s->keyrow);
    free(s);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int sc_start(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    connect_config_errors_t errs = {0};
    if (sc_validate(config, &errs))
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: invalid config: %s: %s",
                               errs.items[0].field, errs.items[0].msg);
    sc_source_t *s = calloc(1, sizeof(*s));
    if (!s) return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
    s->ctx = ctx;
    s->contact_points = strdup(cfg_get(config, "scylla.contact.points"));
    s->user = dup_or_null(cfg_get(config, "scylla.user"));
    s->password = dup_or_null(cfg_get(config, "scylla.password"));
    s->consistency = dup_or_null(cfg_get(config, "scylla.consistency"));
    s->prefix = strdup(cfg_get(config, "topic.prefix"));
    s->tls_ca = dup_or_null(cfg_get(config, "scylla.tls.ca.file"));
    cfg_bool(config, "scylla.tls", false, &s->tls);
    cfg_bool(config, "scylla.tls.skip.verify", false, &s->tls_skip_verify);
    cfg_bool(config, "tombstones.on.delete", true, &s->tombstones);
    int64_t v;
    cfg_int(config, "cdc.confidence.window.ms", 30000, 0, &s->win.confidence_ms);
    cfg_int(config, "cdc.fast.lag.ms", 1000, 0, &s->win.lag_ms);
    cfg_int(config, "cdc.query.window.ms", 30000, 1, &s->win.query_window_ms);
    cfg_int(config, "cdc.safety.interval.ms", 5000, 10, &s->safety_interval_ms);
    cfg_int(config, "cdc.safety.chunk.ms", 5000, 1, &s->safety_chunk_ms);
    cfg_int(config, "poll.interval.ms", 100, 1, &s->poll_interval_ms);
    cfg_int(config, "generation.poll.interval.ms", 5000, 10, &s->gen_poll_ms);
    cfg_int(config, "heartbeat.interval.ms", 5000, 10, &s->heartbeat_ms);
    cfg_int(config, "start.lookback.ms", 60000, 0, &s->lookback_ms);
    cfg_int(config, "query.page.size", 5000, 1, &v);
    s->page_size = v > INT32_MAX ? INT32_MAX : (int)v;
    cfg_int(config, "max.streams.per.query", 128, 1, &v);
    s->max_streams = v > 65535 ? 65535 : (int)v;
    s->include = split_list(cfg_get(config, "table.include.list"));
    sb_wr_init(&s->key, 256);
    sb_wr_init(&s->val, 1024);
    sb_wr_init(&s->cells, 1024);
    size_t plen = strlen(s->prefix);
    s->topic_heartbeat = malloc(plen + 16);
    if (s->topic_heartbeat) snprintf(s->topic_heartbeat, plen + 16, "%s.heartbeat", s->prefix);
    int n = 0;
    for (char **p = s->include; p && *p; p++)
        n++;
    s->tables = calloc((size_t)(n ? n : 1), sizeof(*s->tables));
    s->before = calloc(CQL_MAX_COLUMNS, sizeof(envelope_value_t));
    s->after = calloc(CQL_MAX_COLUMNS, sizeof(envelope_value_t));
    s->keyrow = calloc(CQL_MAX_COLUMNS, sizeof(envelope_value_t));
    if (!s->contact_points || !s->prefix || !s->include || !s->tables || !s->topic_heartbeat ||
        !s->before || !s->after || !s->keyrow) {
        sc_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
    }
    const char *ks = cfg_get(config, "scylla.keyspace");
    for (int i = 0; i < n; i++) {
        sc_table_t *t = &s->tables[s->ntables++];
        const char *dot = strchr(s->include[i], '.');
        t->keyspace = dot ? strndup(s->include[i], (size_t)(dot - s->include[i])) : strdup(ks);
        t->name = strdup(dot ? dot + 1 : s->include[i]);
        size_t len =
            (t->keyspace ? strlen(t->keyspace) : 0) + (t->name ? strlen(t->name) : 0) + plen + 32;
        t->qualified = malloc(len);
        t->topic = malloc(len);
        t->range_topic = malloc(len);
        if (!t->keyspace || !t->name || !t->qualified || !t->topic || !t->range_topic) {
            sc_stop(s);
            return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
        }
        snprintf(t->qualified, len, "%s.%s", t->keyspace, t->name);
        snprintf(t->topic, len, "%s.%s.%s", s->prefix, t->keyspace, t->name);
        snprintf(t->range_topic, len, "%s.%s.%s.range_deletes", s->prefix, t->keyspace, t->name);
    }
    const char *snap = cfg_get(config, "snapshot.mode");
    s->snapshot_initial = snap && strcmp(snap, "initial") == 0;
    cfg_int(config, "snapshot.token.ranges", 16, 1, &v);
    s->snap_ranges = v > 65536 ? 65536 : (int)v;
    s->snap_units = s->ntables * s->snap_ranges;
    s->snap_paging_len = -1;
    cfg_int(config, "snapshot.parallelism", 4, 1, &v);
    s->snap_parallelism = v > 64 ? 64 : (int)v;
    s->snap_unit_done = calloc((size_t)(s->snap_units ? s->snap_units : 1), sizeof(bool));
    if (!s->snap_unit_done) {
        sc_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "scylla source: out of memory");
    }
    s->start_ms = sb_now_ms() - s->lookback_ms;
    const char *committed = source_committed_position(ctx);
    if (committed) {
        sb_err_t e = {0};
        int64_t snap_start = 0;
        int done = 0, units = 0;
        int has_snap = scylla_pos_snapshot(committed, &snap_start, &done, &units, &e);
        if (has_snap < 0 || scylla_pos_parse(committed, &s->start_pos, &s->nstart_pos, &e)) {
            sc_stop(s);
            return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                                   "scylla source: committed position: %s", e.msg);
        }
        if (has_snap) {
            /* Stopped during (or right after) the initial snapshot: go on with it, then read
             * change data from the time it began. A different table list or range count
             * makes the units mean something else: the snapshot starts over. */
            s->snap_start_ms = snap_start;
            s->snap_done = units == s->snap_units ? done : 0;
            s->snapshot_active = s->snapshot_initial && s->snap_done < s->snap_units;
            s->start_ms = snap_start - s->win.confidence_ms;
            free(s->start_pos);
            s->start_pos = NULL;
            s->nstart_pos = 0;
        } else {
            s->has_start_pos = true;
        }
    } else if (s->snapshot_initial) {
        /* Change data is read from a confidence window before the snapshot begins: a change
         * the snapshot already saw comes again afterwards, in order, which an upserting sink
         * absorbs; one it missed (visible only after its range was read) is not lost. */
        s->snapshot_active = true;
        s->snap_start_ms = sb_now_ms();
        s->start_ms = s->snap_start_ms - s->win.confidence_ms;
    }
    s->last_heartbeat_mono = sb_mono_ms();
    if (setup(s, err) && err->cls == CONNECT_ERR_FATAL) {
        sc_stop(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void sc_status(void *state, json_t *out)
{
    sc_source_t *s = state;
    json_object_set_new(out, "phase",
                        json_string(!s->setup_done       ? "connecting"
                                    : s->snapshot_active ? "snapshot"
                                                         : "streaming"));
    json_t *snap = json_object();
    json_object_set_new(snap, "units_total", json_integer(s->snapshot_initial ? s->snap_units : 0));
    json_object_set_new(snap, "units_done", json_integer(s->snap_done));
    json_object_set_new(snap, "rows", json_integer((json_int_t)s->snap_rows));
    json_object_set_new(out, "snapshot", snap);
    json_object_set_new(out, "generations", json_integer(s->ngens));
    json_object_set_new(out, "readers", json_integer(s->nreaders));
    json_object_set_new(out, "events", json_integer((json_int_t)s->events));
    json_object_set_new(out, "late_changes_found", json_integer((json_int_t)s->late_found));
    json_object_set_new(out, "duplicates_skipped", json_integer((json_int_t)s->duplicates_skipped));
    json_object_set_new(out, "range_deletes", json_integer((json_int_t)s->range_deletes));
    json_object_set_new(out, "changes_with_ttl", json_integer((json_int_t)s->ttl_changes));
    json_object_set_new(out, "collection_deltas_left_out",
                        json_integer((json_int_t)s->partial_collections));
    json_object_set_new(out, "unknown_operations", json_integer((json_int_t)s->unknown_ops));
    json_object_set_new(out, "queries", json_integer((json_int_t)s->queries));
    json_object_set_new(out, "schema_changes", json_integer((json_int_t)s->schema_changes));
    int64_t lag = -1, final_min = INT64_MAX;
    for (int i = 0; i < s->nreaders; i++)
        if (!scylla_progress_finished(&s->readers[i].p) && s->readers[i].p.final_ms < final_min)
            final_min = s->readers[i].p.final_ms;
    if (final_min != INT64_MAX) lag = sb_now_ms() - final_min;
    json_object_set_new(out, "final_lag_ms", json_integer(lag));
}

static int sc_validate_position(const char *position, sb_err_t *err)
{
    scylla_pos_entry_t *e;
    int n, done, units;
    int64_t start;
    if (scylla_pos_snapshot(position, &start, &done, &units, err) < 0) return -1;
    if (scylla_pos_parse(position, &e, &n, err)) return -1;
    free(e);
    return 0;
}

const source_ops_t scylla_source_ops = {
    .name = "scylla-source",
    .description = "ScyllaDB change-data capture: CDC log tables by stream group, ~1 s fast path "
                   "plus a safety pass "
                   "over the confidence window",
    .validate = sc_validate,
    .start = sc_start,
    .poll = sc_poll,
    .commit = sc_commit,
    .stop = sc_stop,
    .status = sc_status,
    .validate_position = sc_validate_position,
};
