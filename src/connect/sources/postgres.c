/* PostgreSQL CDC source: publication + logical slot (pgoutput), exported-snapshot initial
 * load, then streaming. Runs entirely on its task thread (connector.h); libpq is used in
 * blocking mode for setup/snapshot queries and asynchronously for the replication stream.
 *
 * Delivery: the slot's confirmed LSN is advanced only from commit(), which the runtime calls
 * after the broker acknowledged every record up to one carrying a position. The position is
 * attached to the last record of each transaction (the commit's end LSN), so a restart from
 * the committed position replays every transaction that was not fully acknowledged and skips
 * none. To know which record is the last one, the most recent record is held back ("pending")
 * until the next record or the Commit message arrives. */
#include "connect/sources/postgres.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/log.h"
#include "connect/envelope.h"
#include "connect/sources/pgoutput.h"
#include "version.h"

typedef enum {
    SNAPSHOT_INITIAL,
    SNAPSHOT_NEVER,
    SNAPSHOT_ALWAYS,
    SNAPSHOT_INITIAL_ONLY,
} snapshot_mode_t;

typedef enum {
    PHASE_SETUP,    /* (re)connect and decide what to do */
    PHASE_SNAPSHOT, /* reading tables under the exported snapshot */
    PHASE_STREAM,   /* START_REPLICATION running */
    PHASE_IDLE,     /* initial_only finished: nothing more to do */
} phase_t;

/* One captured table as the source currently knows it (from a Relation message or from the
 * snapshot query). */
typedef struct pg_rel {
    uint32_t relid;
    char *schema;
    char *table;
    char *topic;
    bool included;
    int ncols;
    char **names;
    uint32_t *type_oids;
    int32_t *typmods;
    envelope_table_t *env;
} pg_rel_t;

typedef struct snapshot_table {
    char *schema;
    char *table;
} snapshot_table_t;

typedef struct pg_source {
    source_ctx_t *ctx;
    /* config */
    char *conninfo;
    char *prefix;
    char *slot;
    char *publication;
    bool own_publication; /* the default name: this connector keeps it in line with its config */
    char **include; /* "schema.table", NULL-terminated; NULL = everything in the publication */
    snapshot_mode_t snapshot_mode;
    int64_t heartbeat_ms;
    int64_t status_interval_ms;
    bool tombstones;
    int max_batch;

    PGconn *repl; /* replication=database connection */
    PGconn *sql;  /* ordinary connection: catalog lookups and snapshot reads */
    char *dbname;
    phase_t phase;
    bool snapshot_done; /* this process completed a snapshot (or decided none is needed) */

    /* snapshot progress */
    char snapshot_name[128];
    uint64_t consistent_point;
    snapshot_table_t *snap_tables;
    int snap_ntables;
    int snap_index;      /* table being read */
    bool snap_in_table;  /* cursor open */
    int64_t snap_rows;   /* rows of the current table */
    int64_t snap_total;  /* rows over all tables */
    pg_rel_t *snap_rel;  /* borrowed from rels */
    uint32_t snap_relid;

    /* streaming */
    uint64_t committed_lsn; /* last position the runtime committed */
    uint64_t received_lsn;  /* furthest WAL position seen from the server */
    uint64_t safe_lsn;      /* every transaction ending at or before it has been emitted */
    bool in_tx;
    uint32_t xid;
    int64_t commit_time_ms;
    uint64_t change_lsn;
    int64_t last_status_ms;
    int64_t last_heartbeat_ms;

    pg_rel_t **rels;
    int nrels;
    int rels_cap;

    /* type names for non-built-in types, cached by (oid, typmod) */
    struct {
        uint32_t oid;
        int32_t typmod;
        char *name;
    } *types;
    int ntypes;

    pgoutput_msg_t *msg; /* decode scratch (large) */
    envelope_value_t *vals_old;
    envelope_value_t *vals_new;

    /* the held-back record */
    bool has_pending;
    char *pend_topic; /* borrowed: a rel's topic or one of the fixed topics below */
    bool pend_key_null;
    bool pend_value_null;
    int64_t pend_ts_ms;
    sb_wr_t pend_key;
    sb_wr_t pend_val;
    char *topic_schema_changes;
    char *topic_heartbeat;
} pg_source_t;

/* ---------------------------------------------------------------- small helpers */

static const char *cfg_get(const json_t *config, const char *key)
{
    json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Config values are strings (Kafka Connect style); plain JSON integers/booleans are accepted too. */
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
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (!*s || *end || errno) return false;
    *out = n;
    return n >= min;
}

static bool cfg_bool(const json_t *config, const char *key, bool dflt, bool *out)
{
    json_t *v = json_object_get(config, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcasecmp(s, "true")) *out = true;
    else if (!strcasecmp(s, "false")) *out = false;
    else return false;
    return true;
}

static bool parse_snapshot_mode(const char *s, snapshot_mode_t *out)
{
    static const struct {
        const char *name;
        snapshot_mode_t mode;
    } modes[] = {{"initial", SNAPSHOT_INITIAL},
                 {"never", SNAPSHOT_NEVER},
                 {"always", SNAPSHOT_ALWAYS},
                 {"initial_only", SNAPSHOT_INITIAL_ONLY}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(s, modes[i].name)) {
            *out = modes[i].mode;
            return true;
        }
    return false;
}

static bool valid_identifier(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return false;
    return true;
}

/* A topic name is letters, digits, '.', '_' and '-'; a table name may hold anything. Like
 * Debezium, everything else becomes '_' (the event's source.schema/table keep the real names).
 * Maps name in place; returns whether anything changed. */
static bool topic_name_map(char *name)
{
    bool changed = false;
    for (char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            *p = '_';
            changed = true;
        }
    return changed;
}

static bool valid_topic_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200) return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-')) return false;
    return true;
}

/* Splits "a.b, c.d" into a NULL-terminated array of trimmed entries. */
static char **split_list(const char *s)
{
    int cap = 4, n = 0;
    char **v = calloc((size_t)cap + 1, sizeof(char *));
    if (!v) return NULL;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        if (n == cap) {
            cap *= 2;
            char **nv = realloc(v, ((size_t)cap + 1) * sizeof(char *));
            if (!nv) break;
            v = nv;
        }
        v[n++] = strndup(p, (size_t)(t - p));
        v[n] = NULL;
        p = e;
    }
    return v;
}

static void free_list(char **v)
{
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static char *sanitized_name(const char *prefix, const char *name)
{
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s%s", prefix, name);
    for (char *p = s; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_')) *p = '_';
    }
    if (strlen(s) > 63) s[63] = 0;
    return s;
}

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* PostgreSQL timestamps count µs from 2000-01-01. */
static int64_t pg_time_to_unix_ms(int64_t us)
{
    return (us + PGOUTPUT_EPOCH_OFFSET_US) / 1000;
}

static int64_t now_pg_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PGOUTPUT_EPOCH_OFFSET_US;
}

/* ---------------------------------------------------------------- validate */

static int pg_validate(const json_t *config, connect_config_errors_t *errs)
{
    int before = errs->count;
    const char *conninfo = cfg_get(config, "database.conninfo");
    if (!conninfo || !*conninfo) {
        connect_config_error_add(errs, "database.conninfo", "required: a libpq connection string");
    } else {
        char *msg = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
        if (!opts) connect_config_error_add(errs, "database.conninfo", "not a valid libpq connection string: %s",
                                            msg ? msg : "parse error");
        PQconninfoFree(opts);
        PQfreemem(msg);
    }
    const char *prefix = cfg_get(config, "topic.prefix");
    if (!prefix || !valid_topic_prefix(prefix))
        connect_config_error_add(errs, "topic.prefix", "required: letters, digits, '.', '_' or '-' (at most 200)");
    const char *slot = cfg_get(config, "slot.name");
    if (slot && !valid_identifier(slot))
        connect_config_error_add(errs, "slot.name", "must be 1-63 lower-case letters, digits or '_'");
    const char *pub = cfg_get(config, "publication.name");
    if (pub && !valid_identifier(pub))
        connect_config_error_add(errs, "publication.name", "must be 1-63 lower-case letters, digits or '_'");
    const char *inc = cfg_get(config, "table.include.list");
    if (json_object_get(config, "table.include.list") && !inc)
        connect_config_error_add(errs, "table.include.list", "must be a string: schema.table[,schema.table...]");
    if (inc) {
        char **list = split_list(inc);
        for (char **p = list; p && *p; p++) {
            const char *dot = strchr(*p, '.');
            if (!dot || dot == *p || !dot[1] || strchr(dot + 1, '.')) {
                connect_config_error_add(errs, "table.include.list", "'%s' is not schema.table", *p);
                break;
            }
            for (char **q = list; q != p; q++) {
                char a[512], b[512];
                snprintf(a, sizeof(a), "%s", *p);
                snprintf(b, sizeof(b), "%s", *q);
                topic_name_map(a);
                topic_name_map(b);
                if (strcmp(*p, *q) != 0 && strcmp(a, b) == 0)
                    connect_config_error_add(errs, "table.include.list",
                                             "'%s' and '%s' would both be published on topic <prefix>.%s", *q, *p, a);
            }
        }
        free_list(list);
    }
    const char *mode = cfg_get(config, "snapshot.mode");
    snapshot_mode_t m;
    if ((json_object_get(config, "snapshot.mode") && !mode) || (mode && !parse_snapshot_mode(mode, &m)))
        connect_config_error_add(errs, "snapshot.mode", "must be one of initial, never, always, initial_only");
    int64_t n;
    if (!cfg_int(config, "heartbeat.interval.ms", 10000, 0, &n))
        connect_config_error_add(errs, "heartbeat.interval.ms", "must be an integer >= 0 (0 disables heartbeats)");
    if (!cfg_int(config, "status.interval.ms", 10000, 100, &n))
        connect_config_error_add(errs, "status.interval.ms", "must be an integer >= 100");
    if (!cfg_int(config, "max.batch.size", 2048, 1, &n) || n > 1000000)
        connect_config_error_add(errs, "max.batch.size", "must be an integer from 1 to 1000000");
    bool b;
    if (!cfg_bool(config, "tombstones.on.delete", true, &b))
        connect_config_error_add(errs, "tombstones.on.delete", "must be true or false");
    return errs->count > before ? SB_EINVAL : 0;
}

/* ---------------------------------------------------------------- relation cache */

static void rel_free(pg_rel_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->ncols; i++) free(r->names[i]);
    free(r->names);
    free(r->type_oids);
    free(r->typmods);
    free(r->schema);
    free(r->table);
    free(r->topic);
    envelope_table_free(r->env);
    free(r);
}

static pg_rel_t *rel_find(pg_source_t *s, uint32_t relid)
{
    for (int i = 0; i < s->nrels; i++)
        if (s->rels[i]->relid == relid) return s->rels[i];
    return NULL;
}

/* Replaces (or adds) the cache entry for r->relid; takes ownership of r. */
static int rel_put(pg_source_t *s, pg_rel_t *r)
{
    for (int i = 0; i < s->nrels; i++)
        if (s->rels[i]->relid == r->relid) {
            if (s->snap_rel == s->rels[i]) s->snap_rel = r;
            rel_free(s->rels[i]);
            s->rels[i] = r;
            return 0;
        }
    if (s->nrels == s->rels_cap) {
        int cap = s->rels_cap ? s->rels_cap * 2 : 16;
        pg_rel_t **nr = realloc(s->rels, (size_t)cap * sizeof(*nr));
        if (!nr) return SB_ENOMEM;
        s->rels = nr;
        s->rels_cap = cap;
    }
    s->rels[s->nrels++] = r;
    return 0;
}

/* Another published table whose topic is r's (e.g. "x y" and x_y both map to x_y): their
 * events would mix in one topic and the sink would apply one table's rows to the other. */
static const pg_rel_t *rel_topic_conflict(const pg_source_t *s, const pg_rel_t *r)
{
    if (!r->included) return NULL;
    for (int i = 0; i < s->nrels; i++) {
        const pg_rel_t *o = s->rels[i];
        if (o->relid != r->relid && o->included && strcmp(o->topic, r->topic) == 0) return o;
    }
    return NULL;
}

static int topic_conflict_error(const pg_rel_t *a, const pg_rel_t *b, connect_err_t *err)
{
    return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                           "postgres source: tables %s.%s and %s.%s would both be published on topic %s; include "
                           "only one of them (table.include.list)",
                           b->schema, b->table, a->schema, a->table, a->topic);
}

static bool table_included(const pg_source_t *s, const char *schema, const char *table)
{
    if (!s->include) return true;
    size_t ls = strlen(schema);
    for (char **p = s->include; *p; p++)
        if (!strncmp(*p, schema, ls) && (*p)[ls] == '.' && !strcmp(*p + ls + 1, table)) return true;
    return false;
}

/* The name format_type() gives a column type; built-ins are answered locally, others asked once. */
static const char *type_name(pg_source_t *s, uint32_t oid, int32_t typmod, char *buf, size_t cap)
{
    if (envelope_pg_type_name(oid, typmod, buf, cap)) return buf;
    for (int i = 0; i < s->ntypes; i++)
        if (s->types[i].oid == oid && s->types[i].typmod == typmod) return s->types[i].name;
    char q_oid[16], q_mod[16];
    snprintf(q_oid, sizeof(q_oid), "%" PRIu32, oid);
    snprintf(q_mod, sizeof(q_mod), "%" PRId32, typmod);
    const char *params[2] = {q_oid, q_mod};
    snprintf(buf, cap, "text");
    if (!s->sql) return buf;
    PGresult *res = PQexecParams(s->sql, "SELECT format_type($1::oid, $2::int)", 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(buf, cap, "%s", PQgetvalue(res, 0, 0));
        void *nt = realloc(s->types, ((size_t)s->ntypes + 1) * sizeof(*s->types));
        if (nt) {
            s->types = nt;
            s->types[s->ntypes].oid = oid;
            s->types[s->ntypes].typmod = typmod;
            s->types[s->ntypes].name = strdup(buf);
            if (s->types[s->ntypes].name) s->ntypes++;
        }
    }
    PQclear(res);
    return buf;
}

/* Primary-key column names of a relation, as a NULL-terminated array (empty when none). The
 * replica identity flags of a Relation message are not enough: under REPLICA IDENTITY FULL
 * every column is flagged. */
static char **primary_key_columns(pg_source_t *s, uint32_t relid)
{
    char q_oid[16];
    snprintf(q_oid, sizeof(q_oid), "%" PRIu32, relid);
    const char *params[1] = {q_oid};
    PGresult *res = PQexecParams(s->sql,
                                 "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                                 "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::oid AND i.indisprimary "
                                 "ORDER BY array_position(i.indkey, a.attnum)",
                                 1, NULL, params, NULL, NULL, 0);
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    char **cols = calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; cols && i < n; i++) cols[i] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    return cols;
}

static bool in_list(char **list, const char *name)
{
    for (char **p = list; p && *p; p++)
        if (!strcmp(*p, name)) return true;
    return false;
}

/* Builds a cache entry. `identity_key[i]` is used for the key when the table has no primary
 * key but a replica identity index (never under FULL, where every column is flagged). */
static pg_rel_t *rel_build(pg_source_t *s, uint32_t relid, const char *schema, const char *table, int ncols,
                           const char *const *names, const uint32_t *oids, const int32_t *typmods,
                           const bool *identity_key)
{
    pg_rel_t *r = calloc(1, sizeof(*r));
    envelope_column_t *cols = calloc((size_t)(ncols ? ncols : 1), sizeof(*cols));
    char (*tnames)[128] = calloc((size_t)(ncols ? ncols : 1), 128);
    char **pk = primary_key_columns(s, relid);
    if (!r || !cols || !tnames || !pk) goto fail;
    r->relid = relid;
    r->ncols = ncols;
    r->schema = strdup(schema);
    r->table = strdup(table);
    size_t tl = strlen(s->prefix) + strlen(schema) + strlen(table) + 3;
    r->topic = malloc(tl);
    r->names = calloc((size_t)(ncols ? ncols : 1), sizeof(char *));
    r->type_oids = calloc((size_t)(ncols ? ncols : 1), sizeof(uint32_t));
    r->typmods = calloc((size_t)(ncols ? ncols : 1), sizeof(int32_t));
    if (!r->schema || !r->table || !r->topic || !r->names || !r->type_oids || !r->typmods) goto fail;
    snprintf(r->topic, tl, "%s.%s.%s", s->prefix, schema, table);
    if (topic_name_map(r->topic + strlen(s->prefix))) sb_info("pgsource", "table %s.%s is published on topic %s", schema, table, r->topic);
    r->included = table_included(s, schema, table);
    bool has_pk = pk[0] != NULL;
    for (int i = 0; i < ncols; i++) {
        r->names[i] = strdup(names[i]);
        if (!r->names[i]) goto fail;
        r->type_oids[i] = oids[i];
        r->typmods[i] = typmods[i];
        cols[i].name = names[i];
        cols[i].type_name = type_name(s, oids[i], typmods[i], tnames[i], 128);
        cols[i].kind = envelope_kind_for_pg_type(oids[i]);
        cols[i].key = has_pk ? in_list(pk, names[i]) : (identity_key && identity_key[i]);
    }
    r->env = envelope_table_new(s->dbname, schema, table, cols, ncols);
    if (!r->env) goto fail;
    free(cols);
    free(tnames);
    free_list(pk);
    return r;
fail:
    free(cols);
    free(tnames);
    free_list(pk);
    rel_free(r);
    return NULL;
}

static bool rel_same_columns(const pg_rel_t *a, const pg_rel_t *b)
{
    if (a->ncols != b->ncols) return false;
    for (int i = 0; i < a->ncols; i++)
        if (strcmp(a->names[i], b->names[i]) || a->type_oids[i] != b->type_oids[i] || a->typmods[i] != b->typmods[i])
            return false;
    return true;
}

/* ---------------------------------------------------------------- emitting */

static int emit_now(pg_source_t *s, const char *topic, const sb_wr_t *key, bool key_null, const sb_wr_t *val,
                    bool val_null, int64_t ts_ms, const char *position, connect_err_t *err)
{
    connect_record_t rec = {
        .topic = topic,
        .partition = -1,
        .offset = -1,
        .timestamp_ms = ts_ms,
        .key = {key_null ? NULL : key->buf, key_null ? -1 : (int32_t)key->len},
        .value = {val_null ? NULL : val->buf, val_null ? -1 : (int32_t)val->len},
    };
    if (source_emit(s->ctx, &rec, position) < 0)
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "the runtime refused a record (stopping)");
    return 0;
}

static int pending_flush(pg_source_t *s, const char *position, connect_err_t *err)
{
    if (!s->has_pending) return 0;
    s->has_pending = false;
    return emit_now(s, s->pend_topic, &s->pend_key, s->pend_key_null, &s->pend_val, s->pend_value_null,
                    s->pend_ts_ms, position, err);
}

/* Emits the held-back record (without a position) and makes room for the next one; the caller
 * then writes the new record's key and value into pend_key / pend_val. */
static int pending_begin(pg_source_t *s, char *topic, int64_t ts_ms, connect_err_t *err)
{
    if (pending_flush(s, NULL, err)) return -1;
    sb_wr_reset(&s->pend_key);
    sb_wr_reset(&s->pend_val);
    s->pend_topic = topic;
    s->pend_key_null = false;
    s->pend_value_null = false;
    s->pend_ts_ms = ts_ms;
    s->has_pending = true;
    return 0;
}

static int pending_check(pg_source_t *s, connect_err_t *err)
{
    if (s->pend_key.oom || s->pend_val.oom) {
        s->has_pending = false;
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory encoding an event");
    }
    return 0;
}

/* key + value of one change. before/after may be NULL. */
static int push_change(pg_source_t *s, pg_rel_t *r, char op, const envelope_value_t *key_row,
                       const envelope_value_t *before, const envelope_value_t *after, const envelope_source_t *src,
                       connect_err_t *err)
{
    int64_t now = sb_now_ms();
    if (pending_begin(s, r->topic, src->ts_ms, err)) return -1;
    if (envelope_write_key(&s->pend_key, r->env, key_row) == SB_ENOENT) s->pend_key_null = true;
    envelope_write_value(&s->pend_val, r->env, op, before, after, src, now);
    return pending_check(s, err);
}

static int push_tombstone(pg_source_t *s, pg_rel_t *r, const envelope_value_t *key_row, int64_t ts_ms,
                          connect_err_t *err)
{
    if (!envelope_table_has_key(r->env)) return 0; /* a tombstone without a key deletes nothing */
    if (pending_begin(s, r->topic, ts_ms, err)) return -1;
    envelope_write_key(&s->pend_key, r->env, key_row);
    s->pend_value_null = true;
    return pending_check(s, err);
}

static int emit_heartbeat(pg_source_t *s, connect_err_t *err)
{
    int64_t now = sb_now_ms();
    sb_wr_t key, val;
    sb_wr_init(&key, 64);
    sb_wr_init(&val, 64);
    sb_wr_bytes(&key, "{\"serverName\":", 14);
    envelope_write_json_string(&key, s->prefix, strlen(s->prefix));
    sb_wr_bytes(&key, "}", 1);
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"ts_ms\":%" PRId64 "}", now);
    sb_wr_bytes(&val, body, (size_t)n);
    char pos[18];
    pg_lsn_format(s->safe_lsn, pos);
    int rc = emit_now(s, s->topic_heartbeat, &key, false, &val, false, now, s->safe_lsn ? pos : NULL, err);
    sb_wr_deinit(&key);
    sb_wr_deinit(&val);
    s->last_heartbeat_ms = sb_mono_ms();
    return rc;
}

static int push_schema_change(pg_source_t *s, const pg_rel_t *old, const pg_rel_t *r, connect_err_t *err)
{
    int64_t now = sb_now_ms();
    json_t *key = json_pack("{s:s,s:s}", "schema", r->schema, "table", r->table);
    json_t *cols = json_array(), *prev = json_array();
    for (int i = 0; i < r->ncols; i++) {
        const envelope_column_t *c = envelope_table_column(r->env, i);
        json_array_append_new(cols, json_pack("{s:s,s:s,s:I,s:i,s:b}", "name", c->name, "type", c->type_name,
                                              "type_oid", (json_int_t)r->type_oids[i], "typmod", r->typmods[i],
                                              "key", c->key));
    }
    for (int i = 0; old && i < old->ncols; i++) {
        const envelope_column_t *c = envelope_table_column(old->env, i);
        json_array_append_new(prev, json_pack("{s:s,s:s}", "name", c->name, "type", c->type_name));
    }
    json_t *val = json_pack("{s:{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I},s:s,s:s,s:s,s:o,s:o,s:I}", "source", "version",
                            STREAMBUS_VERSION, "connector", "postgresql", "name", s->prefix, "ts_ms",
                            (json_int_t)(s->in_tx ? s->commit_time_ms : now), "db", s->dbname, "schema", r->schema,
                            "table", r->table, "lsn", (json_int_t)s->change_lsn, "databaseName", s->dbname, "schema",
                            r->schema, "table", r->table, "columns", cols, "previous_columns", prev, "ts_ms",
                            (json_int_t)now);
    char *ks = key ? json_dumps(key, JSON_COMPACT) : NULL;
    char *vs = val ? json_dumps(val, JSON_COMPACT) : NULL;
    json_decref(key);
    json_decref(val);
    int rc = 0;
    if (!ks || !vs) {
        rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory encoding a schema change");
    } else if (!(rc = pending_begin(s, s->topic_schema_changes, now, err))) {
        sb_wr_bytes(&s->pend_key, ks, strlen(ks));
        sb_wr_bytes(&s->pend_val, vs, strlen(vs));
        rc = pending_check(s, err);
    }
    free(ks);
    free(vs);
    return rc;
}

/* ---------------------------------------------------------------- connections */

static void close_conns(pg_source_t *s)
{
    if (s->repl) PQfinish(s->repl);
    if (s->sql) PQfinish(s->sql);
    s->repl = s->sql = NULL;
    s->phase = PHASE_SETUP;
    s->has_pending = false; /* re-sent after reconnect: nothing of it was committed */
    s->in_tx = false;
    s->snap_in_table = false;
}

/* Classifies a failed result: configuration and permission problems are FATAL (retrying will
 * not help and the user must act); everything else (connection loss, shutdown, a slot still
 * held by a walsender that is exiting) is TRANSIENT. */
static int result_err(pg_source_t *s, PGconn *c, PGresult *res, const char *what, connect_err_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg) msg = PQerrorMessage(c);
    connect_err_class_t cls = CONNECT_ERR_TRANSIENT;
    if (PQstatus(c) == CONNECTION_OK && state &&
        (!strncmp(state, "42", 2) || !strncmp(state, "28", 2) || !strcmp(state, "3D000") ||
         !strcmp(state, "55000") || !strcmp(state, "0A000") || !strcmp(state, "22023")))
        cls = CONNECT_ERR_FATAL;
    char clean[400];
    snprintf(clean, sizeof(clean), "%s", msg);
    clean[strcspn(clean, "\n")] = 0;
    connect_err_set(err, cls, -1, "postgres source %s: %s%s%s", what, clean, state ? " SQLSTATE " : "", state ? state : "");
    if (cls == CONNECT_ERR_TRANSIENT) close_conns(s);
    return -1;
}

static int exec_cmd(pg_source_t *s, PGconn *c, const char *sql, ExecStatusType want, PGresult **out,
                    const char *what, connect_err_t *err)
{
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != want) {
        int rc = result_err(s, c, res, what, err);
        PQclear(res);
        return rc;
    }
    if (out) *out = res;
    else PQclear(res);
    return 0;
}

static PGconn *connect_to(pg_source_t *s, bool replication, connect_err_t *err)
{
    const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
    const char *vals[] = {s->conninfo, replication ? "database" : NULL, "streambus", NULL};
    if (!replication) {
        keys[1] = "fallback_application_name";
        vals[1] = "streambus";
        keys[2] = NULL;
    }
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        char clean[400];
        snprintf(clean, sizeof(clean), "%s", c ? PQerrorMessage(c) : "out of memory");
        clean[strcspn(clean, "\n")] = 0;
        /* A refused password or unknown database will not fix itself. */
        bool fatal = strstr(clean, "password authentication failed") || strstr(clean, "does not exist") ||
                     strstr(clean, "no pg_hba.conf entry");
        connect_err_set(err, fatal ? CONNECT_ERR_FATAL : CONNECT_ERR_TRANSIENT, -1, "postgres source: cannot connect: %s", clean);
        PQfinish(c);
        return NULL;
    }
    return c;
}

static char *quote_ident(PGconn *c, const char *s)
{
    char *q = PQescapeIdentifier(c, s, strlen(s));
    char *r = q ? strdup(q) : NULL;
    PQfreemem(q);
    return r;
}

/* Appends "schema"."table", ... of the include list to q. */
static void add_include_list(pg_source_t *s, sb_wr_t *q)
{
    for (char **p = s->include; *p; p++) {
        char *dot = strchr(*p, '.');
        char *schema = strndup(*p, (size_t)(dot - *p));
        char *qs = quote_ident(s->sql, schema), *qt = quote_ident(s->sql, dot + 1);
        if (p != s->include) sb_wr_bytes(q, ", ", 2);
        sb_wr_bytes(q, qs, strlen(qs));
        sb_wr_bytes(q, ".", 1);
        sb_wr_bytes(q, qt, strlen(qt));
        free(schema);
        free(qs);
        free(qt);
    }
}

/* Whether the existing publication publishes exactly what the config asks for: all tables, or
 * exactly the include list. */
static int publication_matches(pg_source_t *s, bool *matches, connect_err_t *err)
{
    const char *params[1] = {s->publication};
    PGresult *res = PQexecParams(s->sql,
                                 "SELECT p.puballtables, t.schemaname || '.' || t.tablename FROM pg_publication p "
                                 "LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname WHERE p.pubname = $1",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        int rc = result_err(s, s->sql, res, "reading the publication", err);
        PQclear(res);
        return rc;
    }
    bool all = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    int published = PQgetisnull(res, 0, 1) ? 0 : PQntuples(res);
    if (!s->include || all) {
        *matches = !s->include && all;
    } else {
        /* The same number of tables, and every listed one among them (a listed table that does
         * not exist cannot be published: recreating the publication then reports it). */
        int n = 0;
        *matches = true;
        for (char **p = s->include; *p && *matches; p++, n++) {
            bool found = false;
            for (int r = 0; r < published && !found; r++) found = strcmp(PQgetvalue(res, r, 1), *p) == 0;
            *matches = found;
        }
        *matches = *matches && n == published;
    }
    PQclear(res);
    return 0;
}

/* Tables of the publication whose UPDATEs and DELETEs PostgreSQL will refuse once they are
 * published (no primary key and REPLICA IDENTITY DEFAULT, or NOTHING): the application
 * writing them gets "cannot delete from table ... does not have a replica identity". Said
 * loudly at start, since the fix (a primary key or REPLICA IDENTITY FULL) is the DBA's. */
static void warn_no_replica_identity(pg_source_t *s)
{
    const char *params[1] = {s->publication};
    PGresult *res = PQexecParams(
        s->sql,
        "SELECT string_agg(quote_ident(t.schemaname) || '.' || quote_ident(t.tablename), ', ') "
        "FROM pg_publication_tables t JOIN pg_namespace n ON n.nspname = t.schemaname "
        "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename WHERE t.pubname = $1 AND "
        "(c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS "
        "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        sb_warn("pgsource",
                "published tables without a replica identity: %s — PostgreSQL refuses UPDATE and DELETE on them "
                "while they are published; give them a primary key or ALTER TABLE ... REPLICA IDENTITY FULL",
                PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* Creates the publication when it is missing. One this connector owns (the default name,
 * streambus_<connector>) follows table.include.list when the config changes — tables added
 * later stream from then on (their earlier rows are not snapshotted). A publication named in
 * publication.name belongs to the operator and is reused as it is, with a warning when it does
 * not publish what table.include.list asks for. */
static int ensure_publication(pg_source_t *s, connect_err_t *err)
{
    const char *params[1] = {s->publication};
    PGresult *res = PQexecParams(s->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, NULL, params, NULL,
                                 NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = result_err(s, s->sql, res, "looking up the publication", err);
        PQclear(res);
        return rc;
    }
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    bool matches = false;
    if (exists && publication_matches(s, &matches, err)) return -1;
    if (exists && (matches || !s->own_publication)) {
        if (!matches)
            sb_warn("pgsource", "publication %s does not publish exactly table.include.list; it was named in "
                    "publication.name, so it is used as it is", s->publication);
        warn_no_replica_identity(s);
        return 0;
    }
    sb_wr_t q;
    sb_wr_init(&q, 256);
    char *pub = quote_ident(s->sql, s->publication);
    if (exists) {
        /* Recreated in one transaction (SET TABLE cannot turn FOR ALL TABLES into a list or
         * back). This runs before streaming starts; changes decoded from earlier WAL still
         * see the old publication in their historic catalog snapshot. */
        sb_wr_bytes(&q, "BEGIN; DROP PUBLICATION ", 24);
        sb_wr_bytes(&q, pub, strlen(pub));
        sb_wr_bytes(&q, "; ", 2);
    }
    sb_wr_bytes(&q, "CREATE PUBLICATION ", 19);
    sb_wr_bytes(&q, pub, strlen(pub));
    free(pub);
    if (!s->include) {
        sb_wr_bytes(&q, " FOR ALL TABLES", 15);
    } else {
        sb_wr_bytes(&q, " FOR TABLE ", 11);
        add_include_list(s, &q);
    }
    if (exists) sb_wr_bytes(&q, "; COMMIT", 8);
    sb_wr_bytes(&q, "", 1);
    if (exists) sb_info("pgsource", "publication %s changes to follow table.include.list", s->publication);
    int rc = exec_cmd(s, s->sql, (const char *)q.buf, PGRES_COMMAND_OK, NULL,
                      exists ? "changing the publication" : "creating the publication", err);
    sb_wr_deinit(&q);
    if (rc == 0) warn_no_replica_identity(s);
    return rc;
}

/* A position past the server's current WAL (restored from another server, or mistyped) would
 * make START_REPLICATION skip everything up to it, and the slot would confirm it: every change
 * until then lost without a word. Refuse to stream instead. */
static int check_position_not_ahead(pg_source_t *s, uint64_t slot_confirmed, connect_err_t *err)
{
    PGresult *res = PQexec(s->sql, "SELECT pg_current_wal_lsn()::text");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        int rc = result_err(s, s->sql, res, "reading the current WAL position", err);
        PQclear(res);
        return rc;
    }
    uint64_t current = 0;
    pg_lsn_parse(PQgetvalue(res, 0, 0), &current);
    PQclear(res);
    if (s->committed_lsn <= current) return 0;
    char pos[24], cur[24], slot[24];
    pg_lsn_format(s->committed_lsn, pos);
    pg_lsn_format(current, cur);
    pg_lsn_format(slot_confirmed, slot);
    return connect_err_set(err, CONNECT_ERR_FATAL, -1,
                           "postgres source: the committed position %s is ahead of the server's WAL (%s): restore a "
                           "position at or before it (the slot's confirmed position is %s)",
                           pos, cur, slot);
}

/* Looks the slot up: *exists, and its confirmed_flush_lsn. */
static int lookup_slot(pg_source_t *s, bool *exists, uint64_t *confirmed, connect_err_t *err)
{
    const char *params[1] = {s->slot};
    PGresult *res = PQexecParams(s->sql,
                                 "SELECT plugin, confirmed_flush_lsn::text, database FROM pg_replication_slots "
                                 "WHERE slot_name = $1",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = result_err(s, s->sql, res, "looking up the replication slot", err);
        PQclear(res);
        return rc;
    }
    *exists = PQntuples(res) > 0;
    *confirmed = 0;
    int rc = 0;
    if (*exists) {
        if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") || strcmp(PQgetvalue(res, 0, 2), s->dbname))
            rc = connect_err_set(err, CONNECT_ERR_FATAL, -1,
                         "postgres source: replication slot \"%s\" exists but is not a pgoutput slot of database "
                         "\"%s\"; choose another slot.name",
                         s->slot, s->dbname);
        else if (!PQgetisnull(res, 0, 1))
            pg_lsn_parse(PQgetvalue(res, 0, 1), confirmed);
    }
    PQclear(res);
    return rc;
}

static int create_slot(pg_source_t *s, bool export_snapshot, bool temporary, connect_err_t *err)
{
    char *qslot = quote_ident(s->repl, s->slot);
    char q[256];
    snprintf(q, sizeof(q), "CREATE_REPLICATION_SLOT %s%s LOGICAL pgoutput (SNAPSHOT '%s')", qslot,
             temporary ? " TEMPORARY" : "", export_snapshot ? "export" : "nothing");
    free(qslot);
    PGresult *res = NULL;
    if (exec_cmd(s, s->repl, q, PGRES_TUPLES_OK, &res, "creating the replication slot", err)) return -1;
    pg_lsn_parse(PQgetvalue(res, 0, 1), &s->consistent_point);
    snprintf(s->snapshot_name, sizeof(s->snapshot_name), "%s", PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2));
    PQclear(res);
    return 0;
}

static int drop_slot(pg_source_t *s, connect_err_t *err)
{
    char *qslot = quote_ident(s->repl, s->slot);
    char q[128];
    snprintf(q, sizeof(q), "DROP_REPLICATION_SLOT %s WAIT", qslot);
    free(qslot);
    return exec_cmd(s, s->repl, q, PGRES_COMMAND_OK, NULL, "dropping the replication slot for a new snapshot", err);
}

static int load_snapshot_tables(pg_source_t *s, connect_err_t *err)
{
    const char *params[1] = {s->publication};
    PGresult *res = PQexecParams(s->sql,
                                 "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 "
                                 "ORDER BY 1, 2",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = result_err(s, s->sql, res, "listing the publication's tables", err);
        PQclear(res);
        return rc;
    }
    for (int i = 0; i < s->snap_ntables; i++) {
        free(s->snap_tables[i].schema);
        free(s->snap_tables[i].table);
    }
    free(s->snap_tables);
    s->snap_ntables = 0;
    s->snap_tables = calloc((size_t)PQntuples(res) + 1, sizeof(*s->snap_tables));
    for (int i = 0; s->snap_tables && i < PQntuples(res); i++) {
        const char *schema = PQgetvalue(res, i, 0), *table = PQgetvalue(res, i, 1);
        if (!table_included(s, schema, table)) continue;
        s->snap_tables[s->snap_ntables].schema = strdup(schema);
        s->snap_tables[s->snap_ntables].table = strdup(table);
        s->snap_ntables++;
    }
    PQclear(res);
    s->snap_index = 0;
    s->snap_total = 0;
    return 0;
}

static int start_streaming(pg_source_t *s, connect_err_t *err)
{
    uint64_t start = s->committed_lsn;
    char lsn[18];
    pg_lsn_format(start, lsn);
    char *qslot = quote_ident(s->repl, s->slot);
    char *qpub = PQescapeLiteral(s->repl, s->publication, strlen(s->publication));
    char q[512];
    snprintf(q, sizeof(q), "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s)", qslot,
             lsn, qpub);
    free(qslot);
    PQfreemem(qpub);
    if (exec_cmd(s, s->repl, q, PGRES_COPY_BOTH, NULL, "starting replication", err)) return -1;
    if (PQsetnonblocking(s->repl, 1) != 0) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: PQsetnonblocking failed");
    s->phase = PHASE_STREAM;
    s->in_tx = false;
    s->last_status_ms = sb_mono_ms();
    s->last_heartbeat_ms = sb_mono_ms();
    sb_info("pgsource", "streaming from slot %s at %s", s->slot, lsn);
    return 0;
}

/* Connects and decides between snapshot and streaming (Debezium's snapshot.mode semantics). */
static int setup(pg_source_t *s, connect_err_t *err)
{
    close_conns(s);
    if (!(s->sql = connect_to(s, false, err))) return -1;
    if (!(s->repl = connect_to(s, true, err))) {
        close_conns(s);
        return -1;
    }
    free(s->dbname);
    s->dbname = strdup(PQdb(s->sql));
    if (exec_cmd(s, s->sql, "SET statement_timeout = 0", PGRES_COMMAND_OK, NULL, "configuring the session", err))
        return -1;
    if (ensure_publication(s, err)) return -1;
    bool slot_exists;
    uint64_t slot_confirmed;
    if (lookup_slot(s, &slot_exists, &slot_confirmed, err)) return -1;

    /* Prefer our own committed position; fall back to the slot's when the runtime has none
     * but the slot has moved (e.g. offsets restored from another runtime). */
    bool have_position = s->committed_lsn != 0;
    bool want_snapshot = false;
    switch (s->snapshot_mode) {
    case SNAPSHOT_INITIAL:
    case SNAPSHOT_INITIAL_ONLY: want_snapshot = !have_position && !s->snapshot_done; break;
    case SNAPSHOT_ALWAYS: want_snapshot = !s->snapshot_done; break;
    case SNAPSHOT_NEVER: want_snapshot = false; break;
    }
    if (s->snapshot_mode == SNAPSHOT_INITIAL_ONLY && !want_snapshot) {
        s->phase = PHASE_IDLE;
        close_conns(s);
        s->phase = PHASE_IDLE;
        return 0;
    }
    if (want_snapshot) {
        /* Only a newly created slot can export a snapshot that lines up with it. */
        bool temporary = s->snapshot_mode == SNAPSHOT_INITIAL_ONLY;
        if (slot_exists && drop_slot(s, err)) return -1;
        if (create_slot(s, true, temporary, err)) return -1;
        if (load_snapshot_tables(s, err)) return -1;
        s->phase = PHASE_SNAPSHOT;
        s->snap_in_table = false;
        sb_info("pgsource", "snapshot of %d tables at %" PRIX64 " (slot %s)", s->snap_ntables,
                 s->consistent_point, s->slot);
        return 0;
    }
    if (!slot_exists) {
        if (create_slot(s, false, false, err)) return -1;
    } else if (!have_position) {
        s->committed_lsn = slot_confirmed;
    }
    if (s->safe_lsn < s->committed_lsn) s->safe_lsn = s->committed_lsn;
    if (have_position && check_position_not_ahead(s, slot_confirmed, err)) return -1;
    return start_streaming(s, err);
}

/* ---------------------------------------------------------------- snapshot */

static int snapshot_open_table(pg_source_t *s, connect_err_t *err)
{
    snapshot_table_t *t = &s->snap_tables[s->snap_index];
    if (exec_cmd(s, s->sql, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, NULL,
                 "beginning the snapshot transaction", err))
        return -1;
    char *lit = PQescapeLiteral(s->sql, s->snapshot_name, strlen(s->snapshot_name));
    char q[256];
    snprintf(q, sizeof(q), "SET TRANSACTION SNAPSHOT %s", lit);
    PQfreemem(lit);
    if (exec_cmd(s, s->sql, q, PGRES_COMMAND_OK, NULL, "importing the exported snapshot", err)) return -1;

    char *qs = quote_ident(s->sql, t->schema), *qt = quote_ident(s->sql, t->table);
    size_t fl = strlen(qs) + strlen(qt) + 2;
    char *full = malloc(fl);
    snprintf(full, fl, "%s.%s", qs, qt);
    free(qs);
    free(qt);
    const char *params[1] = {full};
    PGresult *res = PQexecParams(s->sql, "SELECT $1::regclass::oid", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        free(full);
        int rc = result_err(s, s->sql, res, "resolving a snapshot table", err);
        PQclear(res);
        return rc;
    }
    uint32_t relid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);

    /* ORDER BY the primary key so a reader sees rows in key order (and so a retried snapshot
     * emits them in the same order). */
    char **pk = primary_key_columns(s, relid);
    sb_wr_t sql;
    sb_wr_init(&sql, 256);
    const char *decl = "DECLARE streambus_snapshot NO SCROLL CURSOR FOR SELECT * FROM ";
    sb_wr_bytes(&sql, decl, strlen(decl));
    sb_wr_bytes(&sql, full, strlen(full));
    for (char **p = pk; p && *p; p++) {
        char *qc = quote_ident(s->sql, *p);
        sb_wr_bytes(&sql, p == pk ? " ORDER BY " : ", ", p == pk ? 10 : 2);
        sb_wr_bytes(&sql, qc, strlen(qc));
        free(qc);
    }
    sb_wr_bytes(&sql, "", 1);
    free_list(pk);
    free(full);
    int rc = exec_cmd(s, s->sql, (const char *)sql.buf, PGRES_COMMAND_OK, NULL, "opening the snapshot cursor", err);
    sb_wr_deinit(&sql);
    if (rc) return rc;
    s->snap_in_table = true;
    s->snap_rows = 0;
    s->snap_rel = NULL; /* built from the first FETCH's column descriptions */
    s->snap_relid = relid;
    return 0;
}

static bool snapshot_is_last_table(const pg_source_t *s)
{
    return s->snap_index >= s->snap_ntables - 1;
}

/* Marks the held-back record as the snapshot's last one: its value has "snapshot":"true" in
 * its source block, which is the last occurrence of that text (column values are escaped and
 * cannot contain it unescaped; column_types never hold "true"). */
static void pending_mark_snapshot_last(pg_source_t *s)
{
    static const char pat[] = "\"snapshot\":\"true\"";
    size_t n = sizeof(pat) - 1;
    if (!s->has_pending || s->pend_value_null || s->pend_val.len < n) return;
    for (size_t i = s->pend_val.len - n + 1; i-- > 0;)
        if (!memcmp(s->pend_val.buf + i, pat, n)) {
            memcpy(s->pend_val.buf + i + 12, "last", 4);
            return;
        }
}

static int snapshot_finish(pg_source_t *s, connect_err_t *err)
{
    pending_mark_snapshot_last(s);
    char pos[18];
    pg_lsn_format(s->consistent_point, pos);
    /* The snapshot's last record carries the consistent point, so once it is acknowledged a
     * restart streams from there and does not snapshot again. With no rows at all a heartbeat
     * carries it instead. */
    if (s->has_pending) {
        if (pending_flush(s, pos, err)) return -1;
    } else {
        s->safe_lsn = s->consistent_point;
        if (emit_heartbeat(s, err)) return -1;
    }
    s->snapshot_done = true;
    if (s->safe_lsn < s->consistent_point) s->safe_lsn = s->consistent_point;
    sb_info("pgsource", "snapshot done, %" PRId64 " rows", s->snap_total);
    if (s->snapshot_mode == SNAPSHOT_INITIAL_ONLY) {
        close_conns(s); /* the slot was temporary: it goes away with the connection */
        s->phase = PHASE_IDLE;
        return 0;
    }
    return start_streaming(s, err);
}

static int snapshot_step(pg_source_t *s, connect_err_t *err)
{
    if (s->snap_index >= s->snap_ntables) return snapshot_finish(s, err);
    if (!s->snap_in_table && snapshot_open_table(s, err)) return -1;
    char q[96];
    snprintf(q, sizeof(q), "FETCH %d FROM streambus_snapshot", s->max_batch);
    PGresult *res = NULL;
    if (exec_cmd(s, s->sql, q, PGRES_TUPLES_OK, &res, "reading the snapshot", err)) return -1;
    snapshot_table_t *t = &s->snap_tables[s->snap_index];
    uint32_t relid = s->snap_relid;
    int ncols = PQnfields(res), nrows = PQntuples(res);
    if (!s->snap_rel) {
        const char **names = calloc((size_t)(ncols ? ncols : 1), sizeof(char *));
        uint32_t *oids = calloc((size_t)(ncols ? ncols : 1), sizeof(uint32_t));
        int32_t *mods = calloc((size_t)(ncols ? ncols : 1), sizeof(int32_t));
        for (int i = 0; names && oids && mods && i < ncols; i++) {
            names[i] = PQfname(res, i);
            oids[i] = PQftype(res, i);
            mods[i] = PQfmod(res, i);
        }
        pg_rel_t *r = names && oids && mods ? rel_build(s, relid, t->schema, t->table, ncols, names, oids, mods, NULL)
                                            : NULL;
        free(names);
        free(oids);
        free(mods);
        const pg_rel_t *clash = r ? rel_topic_conflict(s, r) : NULL;
        if (clash) {
            int rc = topic_conflict_error(r, clash, err);
            rel_free(r);
            PQclear(res);
            return rc;
        }
        if (!r || rel_put(s, r)) {
            rel_free(r);
            PQclear(res);
            return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: out of memory");
        }
        s->snap_rel = r;
    }
    pg_rel_t *r = s->snap_rel;
    envelope_source_t src = {.connector = "postgresql", .name = s->prefix, .ts_ms = sb_now_ms(),
                             .lsn = (int64_t)s->consistent_point, .txid = -1, .snapshot = "true"};
    for (int row = 0; row < nrows; row++) {
        for (int i = 0; i < ncols && i < r->ncols; i++) {
            s->vals_new[i].p = PQgetvalue(res, row, i);
            s->vals_new[i].len = PQgetisnull(res, row, i) ? ENVELOPE_NULL : PQgetlength(res, row, i);
        }
        if (push_change(s, r, 'r', s->vals_new, NULL, s->vals_new, &src, err)) {
            PQclear(res);
            return -1;
        }
    }
    /* The held-back record points into nothing of `res` (it was copied), so res can go. */
    PQclear(res);
    s->snap_rows += nrows;
    s->snap_total += nrows;
    if (nrows < s->max_batch) {
        if (exec_cmd(s, s->sql, "CLOSE streambus_snapshot", PGRES_COMMAND_OK, NULL, "closing the snapshot cursor",
                     err) ||
            exec_cmd(s, s->sql, "COMMIT", PGRES_COMMAND_OK, NULL, "ending the snapshot transaction", err))
            return -1;
        s->snap_in_table = false;
        s->snap_rel = NULL;
        bool last = snapshot_is_last_table(s);
        s->snap_index++;
        if (last) return snapshot_finish(s, err);
    }
    return 0;
}

/* ---------------------------------------------------------------- streaming */

static int send_status(pg_source_t *s, bool reply_requested, connect_err_t *err)
{
    uint8_t msg[PG_STANDBY_STATUS_LEN];
    uint64_t lsn = s->committed_lsn;
    pg_standby_status_encode(msg, lsn, lsn, lsn, now_pg_us(), reply_requested);
    if (PQputCopyData(s->repl, (const char *)msg, (int)sizeof(msg)) != 1 || PQflush(s->repl) < 0)
        return result_err(s, s->repl, NULL, "sending a standby status update", err);
    s->last_status_ms = sb_mono_ms();
    return 0;
}

/* Fills vals from a tuple. Unchanged TOAST columns come from the old row when we have it
 * (REPLICA IDENTITY FULL) and are left out of the event otherwise. */
static void tuple_values(const pg_rel_t *r, const pgoutput_tuple_t *t, const pgoutput_tuple_t *old,
                         envelope_value_t *vals)
{
    for (int i = 0; i < r->ncols; i++) {
        vals[i].p = NULL;
        vals[i].len = ENVELOPE_ABSENT;
        if (i >= t->ncols) continue;
        const pgoutput_tuple_col_t *c = &t->cols[i];
        if (c->kind == PGOUTPUT_COL_TEXT || c->kind == PGOUTPUT_COL_BINARY) {
            vals[i].p = (const char *)c->value.p;
            vals[i].len = c->value.len;
        } else if (c->kind == PGOUTPUT_COL_NULL) {
            vals[i].len = ENVELOPE_NULL;
        } else if (old && i < old->ncols && old->cols[i].kind == PGOUTPUT_COL_TEXT) {
            vals[i].p = (const char *)old->cols[i].value.p;
            vals[i].len = old->cols[i].value.len;
        }
    }
}

static bool keys_equal(const pg_rel_t *r, const envelope_value_t *a, const envelope_value_t *b)
{
    for (int i = 0; i < r->ncols; i++) {
        if (!envelope_table_column(r->env, i)->key) continue;
        if (a[i].len != b[i].len) return false;
        if (a[i].len > 0 && memcmp(a[i].p, b[i].p, (size_t)a[i].len)) return false;
    }
    return true;
}

static int handle_relation(pg_source_t *s, const pgoutput_msg_t *m, connect_err_t *err)
{
    int n = m->u.relation.ncols;
    char **names = calloc((size_t)n + 1, sizeof(char *));
    uint32_t *oids = calloc((size_t)n + 1, sizeof(uint32_t));
    int32_t *mods = calloc((size_t)n + 1, sizeof(int32_t));
    bool *ident = calloc((size_t)n + 1, sizeof(bool));
    char *schema = strndup((const char *)m->u.relation.nspname.p, (size_t)m->u.relation.nspname.len);
    char *table = strndup((const char *)m->u.relation.relname.p, (size_t)m->u.relation.relname.len);
    int rc = 0;
    if (!names || !oids || !mods || !ident || !schema || !table) {
        rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const pgoutput_relation_col_t *c = &m->u.relation.cols[i];
        names[i] = strndup((const char *)c->name.p, (size_t)c->name.len);
        oids[i] = c->type_oid;
        mods[i] = c->typmod;
        ident[i] = (c->flags & PGOUTPUT_COLUMN_FLAG_KEY) && m->u.relation.replident != PGOUTPUT_REPLIDENT_FULL;
    }
    pg_rel_t *r = rel_build(s, m->u.relation.relid, *schema ? schema : "pg_catalog", table, n,
                            (const char *const *)names, oids, mods, ident);
    if (!r) {
        rc = connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: cannot describe relation %s.%s", schema, table);
        goto out;
    }
    pg_rel_t *old = rel_find(s, r->relid);
    const pg_rel_t *clash = rel_topic_conflict(s, r);
    if (clash) rc = topic_conflict_error(r, clash, err);
    else if (old && r->included && !rel_same_columns(old, r)) rc = push_schema_change(s, old, r, err);
    if (!rc) rc = rel_put(s, r);
    else rel_free(r);
out:
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(oids);
    free(mods);
    free(ident);
    free(schema);
    free(table);
    return rc;
}

static int handle_change(pg_source_t *s, const pgoutput_msg_t *m, connect_err_t *err)
{
    pg_rel_t *r = rel_find(s, m->u.change.relid);
    if (!r)
        return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: change for relation %" PRIu32
                                                   " before its Relation message",
                       m->u.change.relid);
    if (!r->included) return 0;
    envelope_source_t src = {.connector = "postgresql", .name = s->prefix, .ts_ms = s->commit_time_ms,
                             .lsn = (int64_t)s->change_lsn, .txid = s->xid, .snapshot = "false"};
    const pgoutput_tuple_t *old = m->u.change.old_kind ? &m->old_tuple : NULL;
    envelope_value_t *ov = NULL, *nv = NULL;
    if (old) {
        tuple_values(r, old, NULL, s->vals_old);
        ov = s->vals_old;
    }
    if (m->u.change.has_new) {
        tuple_values(r, &m->new_tuple, m->u.change.old_kind == 'O' ? old : NULL, s->vals_new);
        nv = s->vals_new;
    }
    switch (m->kind) {
    case PGOUTPUT_INSERT: return push_change(s, r, 'c', nv, NULL, nv, &src, err);
    case PGOUTPUT_UPDATE:
        if (ov && !keys_equal(r, ov, nv)) {
            /* A primary-key change is a delete of the old key and a create of the new one, so
             * keyed consumers (compaction, upserting sinks) drop the old row. */
            if (push_change(s, r, 'd', ov, ov, NULL, &src, err)) return -1;
            if (s->tombstones && push_tombstone(s, r, ov, src.ts_ms, err)) return -1;
            return push_change(s, r, 'c', nv, NULL, nv, &src, err);
        }
        return push_change(s, r, 'u', nv, m->u.change.old_kind == 'O' ? ov : NULL, nv, &src, err);
    case PGOUTPUT_DELETE:
        if (push_change(s, r, 'd', ov, ov, NULL, &src, err)) return -1;
        return s->tombstones ? push_tombstone(s, r, ov, src.ts_ms, err) : 0;
    default: return 0;
    }
}

static int handle_truncate(pg_source_t *s, const pgoutput_msg_t *m, connect_err_t *err)
{
    envelope_source_t src = {.connector = "postgresql", .name = s->prefix, .ts_ms = s->commit_time_ms,
                             .lsn = (int64_t)s->change_lsn, .txid = s->xid, .snapshot = "false"};
    for (int i = 0; i < m->u.truncate.nrelids; i++) {
        pg_rel_t *r = rel_find(s, pgoutput_truncate_relid(m, i));
        if (!r || !r->included) continue;
        if (pending_begin(s, r->topic, src.ts_ms, err)) return -1;
        s->pend_key_null = true;
        envelope_write_value(&s->pend_val, r->env, 't', NULL, NULL, &src, sb_now_ms());
        if (pending_check(s, err)) return -1;
    }
    return 0;
}

static int handle_xlogdata(pg_source_t *s, const pg_copy_msg_t *cm, connect_err_t *err)
{
    sb_err_t derr = {0};
    if (pgoutput_decode(cm->payload.p, (size_t)cm->payload.len, s->msg, &derr))
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "postgres source: undecodable pgoutput message: %s", derr.msg);
    const pgoutput_msg_t *m = s->msg;
    if (cm->wal_start) s->change_lsn = cm->wal_start;
    switch (m->kind) {
    case PGOUTPUT_BEGIN:
        s->in_tx = true;
        s->xid = m->u.begin.xid;
        s->commit_time_ms = pg_time_to_unix_ms(m->u.begin.commit_time_us);
        return 0;
    case PGOUTPUT_COMMIT: {
        char pos[18];
        pg_lsn_format(m->u.commit.end_lsn, pos);
        int rc = pending_flush(s, pos, err);
        s->in_tx = false;
        if (m->u.commit.end_lsn > s->safe_lsn) s->safe_lsn = m->u.commit.end_lsn;
        return rc;
    }
    case PGOUTPUT_RELATION: return handle_relation(s, m, err);
    case PGOUTPUT_INSERT:
    case PGOUTPUT_UPDATE:
    case PGOUTPUT_DELETE: return handle_change(s, m, err);
    case PGOUTPUT_TRUNCATE: return handle_truncate(s, m, err);
    default: return 0; /* Origin, Type, Message: nothing to emit */
    }
}

static int stream_step(pg_source_t *s, int timeout_ms, connect_err_t *err)
{
    int64_t deadline = sb_mono_ms() + timeout_ms;
    int handled = 0;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(s->repl, &buf, 1);
        if (n > 0) {
            pg_copy_msg_t cm;
            sb_err_t derr = {0};
            int rc = pg_copy_msg_decode((const uint8_t *)buf, (size_t)n, &cm, &derr);
            if (rc) {
                PQfreemem(buf);
                return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: bad replication message: %s", derr.msg);
            }
            if (cm.wal_end > s->received_lsn) s->received_lsn = cm.wal_end;
            if (cm.kind == PG_COPY_XLOGDATA) {
                rc = handle_xlogdata(s, &cm, err);
            } else {
                /* The server has sent everything before wal_end: with no transaction open,
                 * nothing at or before it is still to come. */
                if (!s->in_tx && cm.wal_end > s->safe_lsn) s->safe_lsn = cm.wal_end;
                if (cm.reply_requested) rc = send_status(s, false, err);
            }
            PQfreemem(buf);
            if (rc) return -1;
            if (++handled >= s->max_batch) break;
            continue;
        }
        if (n == -2) return result_err(s, s->repl, NULL, "reading the replication stream", err);
        if (n == -1) {
            PGresult *res = PQgetResult(s->repl);
            int rc = result_err(s, s->repl, res, "replication stream ended", err);
            PQclear(res);
            err->cls = CONNECT_ERR_TRANSIENT;
            close_conns(s);
            return rc;
        }
        /* n == 0: nothing buffered. Once something was handled, only read what the socket
         * already holds (a batch spans many socket reads); otherwise wait for the server. */
        int64_t left = handled ? 0 : deadline - sb_mono_ms();
        if (left < 0) break;
        struct pollfd pfd = {.fd = PQsocket(s->repl), .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left < 1000 ? left : 1000));
        if (pr == 0 && (handled || left == 0)) break;
        if (pr < 0 && errno != EINTR) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "postgres source: poll: %s", strerror(errno));
        if (PQconsumeInput(s->repl) != 1) return result_err(s, s->repl, NULL, "reading the replication stream", err);
        if (pr == 0 && sb_mono_ms() - s->last_status_ms >= s->status_interval_ms) break;
    }
    int64_t now = sb_mono_ms();
    if (now - s->last_status_ms >= s->status_interval_ms && send_status(s, false, err)) return -1;
    if (s->heartbeat_ms > 0 && !s->in_tx && now - s->last_heartbeat_ms >= s->heartbeat_ms && emit_heartbeat(s, err))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- ops */

static void pg_stop(void *state);

static int pg_start(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    connect_config_errors_t errs = {0};
    if (pg_validate(config, &errs))
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "postgres source: invalid config: %s: %s", errs.items[0].field,
                       errs.items[0].msg);
    pg_source_t *s = calloc(1, sizeof(*s));
    if (!s) return connect_err_set(err, CONNECT_ERR_FATAL, -1, "postgres source: out of memory");
    s->ctx = ctx;
    const char *name = source_name(ctx);
    s->conninfo = strdup(cfg_get(config, "database.conninfo"));
    s->prefix = strdup(cfg_get(config, "topic.prefix"));
    s->slot = cfg_get(config, "slot.name") ? strdup(cfg_get(config, "slot.name")) : sanitized_name("streambus_", name);
    s->publication = cfg_get(config, "publication.name") ? strdup(cfg_get(config, "publication.name"))
                                                         : sanitized_name("streambus_", name);
    s->own_publication = !cfg_get(config, "publication.name");
    if (cfg_get(config, "table.include.list")) s->include = split_list(cfg_get(config, "table.include.list"));
    parse_snapshot_mode(cfg_get(config, "snapshot.mode") ? cfg_get(config, "snapshot.mode") : "initial",
                        &s->snapshot_mode);
    int64_t n;
    cfg_int(config, "heartbeat.interval.ms", 10000, 0, &s->heartbeat_ms);
    cfg_int(config, "status.interval.ms", 10000, 100, &s->status_interval_ms);
    cfg_int(config, "max.batch.size", 2048, 1, &n);
    s->max_batch = (int)n;
    cfg_bool(config, "tombstones.on.delete", true, &s->tombstones);
    s->topic_schema_changes = concat3(s->prefix, ".schema-changes", "");
    s->topic_heartbeat = concat3(s->prefix, ".heartbeat", "");
    s->msg = malloc(sizeof(*s->msg));
    s->vals_old = calloc(PGOUTPUT_MAX_COLUMNS, sizeof(envelope_value_t));
    s->vals_new = calloc(PGOUTPUT_MAX_COLUMNS, sizeof(envelope_value_t));
    sb_wr_init(&s->pend_key, 256);
    sb_wr_init(&s->pend_val, 1024);
    s->phase = PHASE_SETUP;
    if (!s->conninfo || !s->prefix || !s->slot || !s->publication || !s->topic_schema_changes ||
        !s->topic_heartbeat || !s->msg || !s->vals_old || !s->vals_new) {
        pg_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "postgres source: out of memory");
    }
    const char *committed = source_committed_position(ctx);
    if (committed && pg_lsn_parse(committed, &s->committed_lsn)) {
        pg_stop(s);
        return connect_err_set(err, CONNECT_ERR_FATAL, -1, "postgres source: committed position \"%s\" is not an LSN", committed);
    }
    s->safe_lsn = s->committed_lsn;
    /* Connect now so that bad credentials or a missing wal_level=logical fail the start with a
     * clear message; a transient failure is retried by poll(). */
    if (setup(s, err) && err->cls == CONNECT_ERR_FATAL) {
        pg_stop(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int pg_poll(void *state, int timeout_ms, connect_err_t *err)
{
    pg_source_t *s = state;
    switch (s->phase) {
    case PHASE_SETUP: return setup(s, err);
    case PHASE_SNAPSHOT: return snapshot_step(s, err);
    case PHASE_STREAM: return stream_step(s, timeout_ms, err);
    case PHASE_IDLE:
        if (timeout_ms > 0) poll(NULL, 0, timeout_ms);
        return 0;
    }
    return 0;
}

static void pg_commit(void *state, const char *position)
{
    pg_source_t *s = state;
    uint64_t lsn;
    if (!position || pg_lsn_parse(position, &lsn) || lsn <= s->committed_lsn) return;
    s->committed_lsn = lsn;
    if (s->phase == PHASE_STREAM && s->repl) {
        connect_err_t err;
        /* A failure here closes the connection; the next poll reconnects and the slot position
         * is sent again then. */
        if (send_status(s, false, &err)) sb_warn("pgsource", "%s", err.msg);
    }
}

static void pg_stop(void *state)
{
    pg_source_t *s = state;
    if (!s) return;
    if (s->repl && s->phase == PHASE_STREAM) {
        connect_err_t err;
        send_status(s, false, &err);
    }
    close_conns(s);
    for (int i = 0; i < s->nrels; i++) rel_free(s->rels[i]);
    free(s->rels);
    for (int i = 0; i < s->ntypes; i++) free(s->types[i].name);
    free(s->types);
    for (int i = 0; i < s->snap_ntables; i++) {
        free(s->snap_tables[i].schema);
        free(s->snap_tables[i].table);
    }
    free(s->snap_tables);
    free_list(s->include);
    free(s->conninfo);
    free(s->prefix);
    free(s->slot);
    free(s->publication);
    free(s->dbname);
    free(s->topic_schema_changes);
    free(s->topic_heartbeat);
    free(s->msg);
    free(s->vals_old);
    free(s->vals_new);
    sb_wr_deinit(&s->pend_key);
    sb_wr_deinit(&s->pend_val);
    free(s);
}

static void pg_status(void *state, json_t *out)
{
    pg_source_t *s = state;
    char committed[18], received[18];
    pg_lsn_format(s->committed_lsn, committed);
    pg_lsn_format(s->received_lsn, received);
    static const char *phases[] = {"connecting", "snapshot", "streaming", "snapshot-complete"};
    json_object_set_new(out, "slot", json_string(s->slot));
    json_object_set_new(out, "publication", json_string(s->publication));
    json_object_set_new(out, "phase", json_string(phases[s->phase]));
    json_object_set_new(out, "confirmed_lsn", json_string(committed));
    json_object_set_new(out, "received_lsn", json_string(received));
    json_object_set_new(out, "lag_bytes",
                        json_integer(s->received_lsn > s->committed_lsn ? (json_int_t)(s->received_lsn - s->committed_lsn) : 0));
    json_t *snap = json_object();
    json_object_set_new(snap, "tables_total", json_integer(s->snap_ntables));
    json_object_set_new(snap, "tables_done", json_integer(s->snap_index));
    json_object_set_new(snap, "rows", json_integer(s->snap_total));
    json_object_set_new(snap, "completed", json_boolean(s->snapshot_done));
    if (s->phase == PHASE_SNAPSHOT && s->snap_index < s->snap_ntables)
        json_object_set_new(snap, "current_table", json_sprintf("%s.%s", s->snap_tables[s->snap_index].schema,
                                                                 s->snap_tables[s->snap_index].table));
    json_object_set_new(out, "snapshot", snap);
}

static int pg_validate_position(const char *position, sb_err_t *err)
{
    uint64_t lsn;
    if (pg_lsn_parse(position, &lsn))
        return sb_err_set(err, SB_EINVAL, "position \"%s\" is not a PostgreSQL LSN (e.g. \"0/16B3748\")", position);
    return 0;
}

const source_ops_t postgres_source_ops = {
    .name = "postgres-source",
    .description = "PostgreSQL change-data capture: logical replication (pgoutput) with a consistent initial snapshot",
    .validate = pg_validate,
    .start = pg_start,
    .poll = pg_poll,
    .commit = pg_commit,
    .stop = pg_stop,
    .status = pg_status,
    .validate_position = pg_validate_position,
};

void pg_source_publication_name(const json_t *config, char *out, size_t cap)
{
    const char *pub = cfg_get(config, "publication.name");
    char *dflt = pub ? NULL : sanitized_name("streambus_", cfg_get(config, "name") ? cfg_get(config, "name") : "");
    snprintf(out, cap, "%s", pub ? pub : dflt ? dflt : "");
    free(dflt);
}

void pg_source_topic_for(const char *prefix, const char *schema_table, char *out, size_t cap)
{
    snprintf(out, cap, "%s.%s", prefix, schema_table);
    if (strlen(out) > strlen(prefix)) topic_name_map(out + strlen(prefix));
}

char **pg_source_include_list(const json_t *config)
{
    const char *inc = cfg_get(config, "table.include.list");
    return inc ? split_list(inc) : NULL;
}

void pg_source_free_list(char **list)
{
    free_list(list);
}
