/* PostgreSQL sink. One put() = one transaction:
 *
 *   BEGIN
 *   per target table: [TRUNCATE] [CREATE TABLE / ALTER TABLE ADD COLUMN]
 *                     COPY pg_temp.sb_stg_N FROM STDIN (text)  -> INSERT ... ON CONFLICT DO UPDATE
 *                     COPY pg_temp.sb_del_N FROM STDIN (text)  -> DELETE ... USING
 *   INSERT INTO streambus_sink_offsets ... ON CONFLICT DO UPDATE
 *   COMMIT
 *
 * Statements that are not COPY are queued and sent together as one simple-query string just
 * before the next COPY (or with the COMMIT), so a batch for one table costs about four round
 * trips whatever its size. Staging tables are temporary, ON COMMIT DELETE ROWS, created once per
 * connection and table shape. Each table's events are first reduced to the last event per key,
 * because INSERT ... ON CONFLICT cannot touch one row twice in a statement.
 *
 * Thread: every call comes from the task thread; validate() from the REST thread uses no state. */
#include "connect/sinks/pg_sink.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect/event_parse.h"
#include "connect/sinks/sink_util.h"

enum { MAX_PK = 16, COPY_CHUNK = 256 * 1024 };

#define OFFSETS_TABLE "streambus_sink_offsets"
#define LWW_COLUMN "__source_ts_ms"

typedef struct pg_column {
    char *name;
    char *type;
} pg_column_t;

/* What we know about one target table on the current connection. */
typedef struct pg_table {
    char name[64];
    int id; /* suffix of its staging tables */
    bool exists;
    pg_column_t *cols;
    int ncols, cap;
    char pk[MAX_PK][64];
    int npk;
    bool staging_ready; /* sb_stg_N matches the columns */
    bool del_staging_ready;
    bool part_staging_ready; /* sb_stp_N (rows missing columns) matches the columns */
} pg_table_t;

/* A batch's records parsed into events. Two of them: the batch being applied, and the next
 * one, parsed ahead by pg_prepare while the server still works on the first. */
typedef struct pg_parsed {
    event_arena_t arena;
    event_t *events;
    int cap;
    /* Set by pg_prepare: these events are those of exactly this record array (the offsets
     * of its ends guard against the array having been refilled since). */
    const connect_record_t *recs;
    int n;
    int64_t first_offset, last_offset;
} pg_parsed_t;

static bool parsed_matches(const pg_parsed_t *p, const connect_record_t *recs, int n)
{
    return p->recs == recs && p->n == n && n > 0 && recs[0].offset == p->first_offset &&
           recs[n - 1].offset == p->last_offset;
}

/* The events of one target table in the current batch. */
typedef struct pg_group {
    pg_table_t *table;
    int first, last; /* event indexes, chained through pg_sink_t.next */
    int count;
} pg_group_t;

typedef struct pg_sink {
    char connector[128];
    char *conninfo;
    char schema[64];
    char table_format[256];
    char pk_override[MAX_PK][64];
    int npk_override;
    bool delete_enabled;
    bool evolve;
    bool lww;

    PGconn *conn;
    pg_table_t **tables;
    int ntables, tables_cap, next_table_id;

    /* Per-batch scratch, kept between calls to avoid reallocations. */
    pg_parsed_t parsed[2];
    int cur;         /* parsed[cur] holds the batch being applied */
    event_t *events; /* parsed[cur].events */
    int *group_of;         /* event -> group index, -1 = nothing to apply */
    int *next;             /* next event of the same group */
    unsigned char *winner; /* the event is the one applied for its key */
    int *shape_of;         /* winning upsert -> its column set (0 = every column of the batch) */
    int *part_del;         /* k > 0: a delete by the first k key columns (a partition delete);
                              -1: an event a later partition delete of this batch wipes out */
    size_t *identity_off;  /* key identity of each event: offset and length in scratch */
    size_t *identity_len;
    int events_cap;
    pg_group_t *groups;
    int ngroups, groups_cap;
    int *rows; /* staging line -> record index, for COPY error positions */
    int rows_cap;
    sink_positions_t positions;
    sink_keymap_t keymap;
    strbuf_t sql;     /* queued statements */
    strbuf_t copy;    /* COPY data */
    strbuf_t scratch; /* key identities */
    strbuf_t shapes;  /* column sets of rows missing columns: one byte per batch column */

    /* Test hook: runs just before the final COMMIT is sent. */
    void (*before_commit)(void *arg, PGconn *conn);
    void *before_commit_arg;

    int in_flight; /* records of the batch whose COMMIT was sent and not yet answered */
    /* insert_direct: batches left to skip it, and the next rest after a failure */
    int direct_rest, direct_penalty;
    uint64_t direct_fallbacks;

    uint64_t rows_upserted, rows_deleted, batches, truncates;
    /* What the open transaction did, added to the totals above only once it commits: a
     * rolled-back attempt (a poison record, a lost connection) changed nothing. Rows are the
     * counts the server reports, so a stale last-write-wins event that matched no row is not
     * counted. */
    uint64_t pending_upserted, pending_deleted, pending_truncates;
    bool positions_queued; /* the batch's last INSERT is the positions upsert, not rows */
    bool sql_has_ddl;      /* s->sql holds a CREATE TABLE / ADD COLUMN of a target table */
    bool sent_ddl;         /* the statements in flight held one (is_ddl_race) */
    char last_error[sizeof(((connect_err_t *)0)->msg)];
} pg_sink_t;

/* ---------------- errors ---------------- */

connect_err_class_t pg_sink_classify_sqlstate(const char *st)
{
    if (!st || !*st) return CONNECT_ERR_TRANSIENT;
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 || strncmp(st, "58", 2) == 0)
        return CONNECT_ERR_TRANSIENT;
    if (strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0 ||
        strcmp(st, "57014") == 0)
        return CONNECT_ERR_TRANSIENT;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0)
        return CONNECT_ERR_TRANSIENT;
    if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0) return CONNECT_ERR_RECORD;
    if (strcmp(st, "42804") == 0 || strcmp(st, "54000") == 0 || strcmp(st, "42703") == 0)
        return CONNECT_ERR_RECORD;
    /* 28xxx auth, 42501 permission, 3D000 no database, other 42xxx (our SQL against an
     * unexpected schema): retrying cannot help and no single record is to blame. */
    return CONNECT_ERR_FATAL;
}

static void tables_clear(pg_sink_t *s)
{
    for (int i = 0; i < s->ntables; i++) {
        pg_table_t *t = s->tables[i];
        for (int c = 0; c < t->ncols; c++) {
            free(t->cols[c].name);
            free(t->cols[c].type);
        }
        free(t->cols);
        free(t);
    }
    s->ntables = 0;
}

static void disconnect(pg_sink_t *s)
{
    if (s->conn) PQfinish(s->conn);
    s->conn = NULL;
    tables_clear(s);
}

/* Notes the rows a DELETE reported in the pending counters; returns the rows of an INSERT
 * (which may be the positions upsert: the caller decides) or -1 for any other command. */
static int64_t note_rows(pg_sink_t *s, PGresult *r)
{
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return -1;
    const char *tag = PQcmdStatus(r);
    const char *rows = PQcmdTuples(r);
    if (!tag || !rows || !*rows) return -1;
    uint64_t count = strtoull(rows, NULL, 10);
    if (strncmp(tag, "DELETE ", 7) == 0) s->pending_deleted += count;
    return strncmp(tag, "INSERT ", 7) == 0 ? (int64_t)count : -1;
}

static void pending_reset(pg_sink_t *s)
{
    s->pending_upserted = s->pending_deleted = s->pending_truncates = 0;
    s->positions_queued = false;
}

/* Ends a failed batch: rolls back (or drops a broken connection, which rolls back on the
 * server) and forgets cached table metadata, because DDL of the batch was rolled back too. */
static void abort_batch(pg_sink_t *s)
{
    pending_reset(s);
    if (!s->conn) return;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        disconnect(s);
        return;
    }
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(s->conn, "ROLLBACK");
        PQclear(r);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            disconnect(s);
            return;
        }
    }
    tables_clear(s);
}

/* Two writers creating the same target table or column at once: CREATE TABLE / ADD COLUMN
 * IF NOT EXISTS checks the catalog before it inserts, so the loser fails on a unique index of
 * the catalog (23505, reported with schema pg_catalog, so never a row's violation), on the
 * table's row type (42710), on the name (42P07) or on the column (42701) — these three only
 * from a statement string that carried such DDL. It failed only because the winner committed:
 * retried, the batch finds the table as the winner left it (the rollback forgot the cached
 * metadata) and needs no DDL. */
static bool is_ddl_race(const PGresult *res, bool sent_ddl)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st) return false;
    if (strcmp(st, "23505") == 0) {
        const char *schema = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
        return schema && strcmp(schema, "pg_catalog") == 0;
    }
    return sent_ddl &&
           (strcmp(st, "42710") == 0 || strcmp(st, "42P07") == 0 || strcmp(st, "42701") == 0);
}

/* Maps a failed result to an error class; `index` is the record to blame when known. */
static int pg_fail(pg_sink_t *s, PGresult *res, const char *what, int index, int n,
                   connect_err_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    connect_err_class_t cls;
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        cls = CONNECT_ERR_TRANSIENT;
    else if (is_ddl_race(res, s->sent_ddl))
        cls = CONNECT_ERR_TRANSIENT;
    else
        cls = pg_sink_classify_sqlstate(state);
    if (!primary) primary = s->conn ? PQerrorMessage(s->conn) : "no connection";
    if (cls == CONNECT_ERR_RECORD && index < 0 && n == 1) index = 0;
    if (cls != CONNECT_ERR_RECORD) index = -1;
    char msg[sizeof(err->msg)];
    snprintf(msg, sizeof(msg), "%s: %s%s%s%s%s", what, primary, state ? " (SQLSTATE " : "",
             state ? state : "", state ? ")" : "", "");
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    if (detail && len + 3 < sizeof(msg)) snprintf(msg + len, sizeof(msg) - len, "; %s", detail);
    connect_err_set(err, cls, index, "%s", msg);
    snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
    PQclear(res);
    abort_batch(s);
    return -1;
}

/* ---------------- connection ---------------- */

static void quiet_notices(void *arg, const char *message)
{
    /* IF NOT EXISTS notices are expected; nothing here is worth a log line per batch. */
}

/* Executes statements that return no rows; returns 0 or the failed result (caller owns). */
static PGresult *exec_command(pg_sink_t *s, const char *sql)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return NULL;
    }
    if (!r) r = PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
    return r;
}

static int ensure_connected(pg_sink_t *s, connect_err_t *err)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) return 0;
    disconnect(s);
    s->conn = PQconnectdb(s->conninfo);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        const char *m = s->conn ? PQerrorMessage(s->conn) : "out of memory";
        /* A refused or reset connection is a server that is (re)starting; a rejected login or
         * a missing database will not fix itself. */
        bool fatal = strstr(m, "authentication failed") || strstr(m, "does not exist") ||
                     strstr(m, "no pg_hba.conf entry") || strstr(m, "invalid connection option");
        connect_err_set(err, fatal ? CONNECT_ERR_FATAL : CONNECT_ERR_TRANSIENT, -1,
                        "connect to PostgreSQL: %.400s", m);
        snprintf(s->last_error, sizeof(s->last_error), "%s", err ? err->msg : m);
        disconnect(s);
        return -1;
    }
    PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
    /* synchronous_commit is left as configured: rows and positions share a transaction, so
     * a commit lost with asynchronous commit loses both and the batch is simply read again. */
    PGresult *r =
        exec_command(s, "CREATE TABLE IF NOT EXISTS " OFFSETS_TABLE
                        " (connector text NOT NULL, topic text NOT NULL, partition int NOT NULL,"
                        " next_offset bigint NOT NULL, PRIMARY KEY (connector, topic, partition))");
    if (r) {
        /* Two sinks starting at once race on this CREATE (42710 was seen in CI); the loser
         * failed only after the winner committed, so the table is there. */
        if (is_ddl_race(r, true)) {
            PQclear(r);
            return 0;
        }
        return pg_fail(s, r, "create " OFFSETS_TABLE, -1, 0, err);
    }
    return 0;
}

/* ---------------- config ---------------- */

static int parse_config(const json_t *config, pg_sink_t *s, connect_config_errors_t *errs)
{
    int bad = 0;
    const char *conninfo = sink_config_str(config, "connection.conninfo", NULL);
    if (!conninfo || !*conninfo) {
        if (errs)
            connect_config_error_add(errs, "connection.conninfo",
                                     "is required (a libpq connection string)");
        bad++;
    } else {
        char *why = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
        if (!opts) {
            if (errs)
                connect_config_error_add(errs, "connection.conninfo", "%s",
                                         why ? why : "cannot be parsed");
            bad++;
        }
        PQconninfoFree(opts);
        PQfreemem(why);
    }
    const char *schema = sink_config_str(config, "target.schema", "public");
    if (!*schema || strlen(schema) > 63) {
        if (errs) connect_config_error_add(errs, "target.schema", "must be 1 to 63 bytes");
        bad++;
    }
    const char *format = sink_config_str(config, "table.name.format", "${table}");
    char why[200];
    if (sink_table_format_check(format, why, sizeof(why)) < 0 || strlen(format) >= 256) {
        if (errs)
            connect_config_error_add(errs, "table.name.format", "%s",
                                     strlen(format) >= 256 ? "too long" : why);
        bad++;
    }
    const char *pk = sink_config_str(config, "primary.key.fields", "");
    char pk_names[MAX_PK][64];
    int npk = 0;
    if (*pk && (npk = sink_split_fields(pk, pk_names, MAX_PK)) < 0) {
        if (errs)
            connect_config_error_add(errs, "primary.key.fields",
                                     "must be a comma-separated list of at most %d column names",
                                     MAX_PK);
        bad++;
    }
    bool del = true, lww = false;
    if (sink_config_bool(config, "delete.enabled", true, &del) < 0) {
        if (errs) connect_config_error_add(errs, "delete.enabled", "must be true or false");
        bad++;
    }
    if (sink_config_bool(config, "last.write.wins", false, &lww) < 0) {
        if (errs) connect_config_error_add(errs, "last.write.wins", "must be true or false");
        bad++;
    }
    const char *evo = sink_config_str(config, "schema.evolution", "basic");
    if (strcmp(evo, "basic") != 0 && strcmp(evo, "none") != 0) {
        if (errs) connect_config_error_add(errs, "schema.evolution", "must be basic or none");
        bad++;
    }
    if (bad || !s) return bad ? -1 : 0;
    s->conninfo = strdup(conninfo);
    snprintf(s->schema, sizeof(s->schema), "%s", schema);
    snprintf(s->table_format, sizeof(s->table_format), "%s", format);
    memcpy(s->pk_override, pk_names, sizeof(pk_names));
    s->npk_override = npk > 0 ? npk : 0;
    s->delete_enabled = del;
    s->lww = lww;
    s->evolve = strcmp(evo, "basic") == 0;
    return s->conninfo ? 0 : -1;
}

static int pg_validate(const json_t *config, connect_config_errors_t *errs)
{
    return parse_config(config, NULL, errs) < 0 ? -1 : 0;
}

static void pg_stop(void *state);
static int commit_wait(pg_sink_t *s, connect_err_t *err);

static int pg_start(sink_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    pg_sink_t *s = calloc(1, sizeof(*s));
    if (!s) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "out of memory");
        return -1;
    }
    const char *name = ctx ? sink_name(ctx) : NULL;
    if (!name) name = sink_config_str(config, "name", "postgres-sink");
    snprintf(s->connector, sizeof(s->connector), "%s", name);
    s->direct_penalty = 1;
    event_arena_init(&s->parsed[0].arena);
    event_arena_init(&s->parsed[1].arena);
    strbuf_init(&s->sql);
    strbuf_init(&s->copy);
    strbuf_init(&s->scratch);
    strbuf_init(&s->shapes);
    if (parse_config(config, s, NULL) < 0) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "invalid postgres-sink config");
        pg_stop(s);
        return -1;
    }
    /* Connect now so that a wrong password fails the task at once; a server that is down is
     * TRANSIENT and the runtime retries start. */
    if (ensure_connected(s, err) < 0) {
        pg_stop(s);
        return -1;
    }
    *state = s;
    return 0;
}

static void pg_stop(void *state)
{
    pg_sink_t *s = state;
    if (!s) return;
    if (s->in_flight) {
        /* The runtime ends a pipelined batch before stopping; this only keeps libpq tidy. */
        connect_err_t ignored;
        commit_wait(s, &ignored);
    }
    disconnect(s);
    free(s->tables);
    free(s->conninfo);
    for (int i = 0; i < 2; i++) {
        event_arena_deinit(&s->parsed[i].arena);
        free(s->parsed[i].events);
    }
    free(s->group_of);
    free(s->next);
    free(s->identity_off);
    free(s->identity_len);
    free(s->groups);
    free(s->rows);
    free(s->winner);
    free(s->shape_of);
    free(s->part_del);
    sink_positions_deinit(&s->positions);
    sink_keymap_deinit(&s->keymap);
    strbuf_deinit(&s->sql);
    strbuf_deinit(&s->copy);
    strbuf_deinit(&s->scratch);
    strbuf_deinit(&s->shapes);
    free(s);
}

static int pg_load_positions(void *state, sink_position_t **out, int *n, connect_err_t *err)
{
    pg_sink_t *s = state;
    *out = NULL;
    *n = 0;
    if (ensure_connected(s, err) < 0) return -1;
    const char *params[1] = {s->connector};
    PGresult *r = PQexecParams(s->conn,
                               "SELECT topic, partition, next_offset FROM " OFFSETS_TABLE
                               " WHERE connector = $1 ORDER BY topic, partition",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pg_fail(s, r, "read " OFFSETS_TABLE, -1, 0, err);
    int rows = PQntuples(r);
    sink_position_t *pos = calloc((size_t)(rows ? rows : 1), sizeof(*pos));
    if (!pos) {
        PQclear(r);
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    for (int i = 0; i < rows; i++) {
        snprintf(pos[i].topic, sizeof(pos[i].topic), "%s", PQgetvalue(r, i, 0));
        pos[i].partition = (int32_t)strtol(PQgetvalue(r, i, 1), NULL, 10);
        pos[i].next_offset = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    *out = pos;
    *n = rows;
    return 0;
}

/* ---------------- table metadata ---------------- */

static int table_add_column(pg_table_t *t, const char *name, const char *type)
{
    if (t->ncols == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        pg_column_t *cols = realloc(t->cols, sizeof(*cols) * (size_t)cap);
        if (!cols) return -1;
        t->cols = cols;
        t->cap = cap;
    }
    t->cols[t->ncols].name = strdup(name);
    t->cols[t->ncols].type = strdup(type);
    if (!t->cols[t->ncols].name || !t->cols[t->ncols].type) {
        free(t->cols[t->ncols].name);
        free(t->cols[t->ncols].type);
        return -1;
    }
    t->ncols++;
    return 0;
}

static const pg_column_t *table_find_column(const pg_table_t *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return &t->cols[i];
    return NULL;
}

static void add_qualified(strbuf_t *b, const pg_sink_t *s, const char *table)
{
    strbuf_add_ident(b, s->schema);
    strbuf_adds(b, ".");
    strbuf_add_ident(b, table);
}

/* Returns the cached metadata of `name`, reading the catalog on first use. */
static pg_table_t *table_get(pg_sink_t *s, const char *name, PGresult **failed)
{
    *failed = NULL;
    for (int i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i]->name, name) == 0) return s->tables[i];
    if (s->ntables == s->tables_cap) {
        int cap = s->tables_cap ? s->tables_cap * 2 : 8;
        pg_table_t **tables = realloc(s->tables, sizeof(*tables) * (size_t)cap);
        if (!tables) return NULL;
        s->tables = tables;
        s->tables_cap = cap;
    }
    pg_table_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->id = ++s->next_table_id;
    strbuf_t q;
    strbuf_init(&q);
    add_qualified(&q, s, name);
    const char *params[1] = {q.p};
    PGresult *r = PQexecParams(
        s->conn,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
        " coalesce(a.attnum = ANY (i.indkey::int2[]), false)"
        " FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary"
        " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        1, NULL, params, NULL, NULL, 0);
    strbuf_deinit(&q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        free(t);
        *failed = r ? r : PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
        return NULL;
    }
    int rows = PQntuples(r);
    t->exists = rows > 0;
    for (int i = 0; i < rows; i++) {
        if (table_add_column(t, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)) < 0) break;
        if (PQgetvalue(r, i, 2)[0] == 't' && t->npk < MAX_PK)
            snprintf(t->pk[t->npk++], sizeof(t->pk[0]), "%s", PQgetvalue(r, i, 0));
    }
    PQclear(r);
    s->tables[s->ntables++] = t;
    return t;
}

/* ---------------- type mapping ---------------- */

/* Base type names (PostgreSQL spelling and pg_type.typname) that the sink creates as given.
 * Anything else (enums, domains, extension types) becomes text: the event carries the
 * value's text form, and the type might not exist in the target. */
static const char *const known_types[] = {"smallint",
                                          "integer",
                                          "bigint",
                                          "int",
                                          "int2",
                                          "int4",
                                          "int8",
                                          "real",
                                          "float4",
                                          "float8",
                                          "double precision",
                                          "numeric",
                                          "decimal",
                                          "boolean",
                                          "bool",
                                          "text",
                                          "varchar",
                                          "character varying",
                                          "char",
                                          "character",
                                          "bpchar",
                                          "date",
                                          "time",
                                          "timetz",
                                          "time without time zone",
                                          "time with time zone",
                                          "timestamp",
                                          "timestamptz",
                                          "timestamp without time zone",
                                          "timestamp with time zone",
                                          "interval",
                                          "uuid",
                                          "json",
                                          "jsonb",
                                          "bytea",
                                          "inet",
                                          "cidr",
                                          "macaddr",
                                          "macaddr8",
                                          "money",
                                          "xml",
                                          "bit",
                                          "bit varying",
                                          "varbit",
                                          "oid",
                                          "tsvector",
                                          "tsquery",
                                          "point",
                                          "line",
                                          "lseg",
                                          "box",
                                          "path",
                                          "polygon",
                                          "circle",
                                          "int4range",
                                          "int8range",
                                          "numrange",
                                          "tsrange",
                                          "tstzrange",
                                          "daterange",
                                          NULL};

/* Writes the column type for a source type name, or returns -1 when it is not one we know. */
static int map_source_type(const char *src, char *out, size_t cap)
{
    char base[64];
    size_t len = strlen(src);
    if (len == 0 || len >= cap || len >= sizeof(base)) return -1;
    bool array = false;
    const char *p = src;
    if (p[0] == '_') { /* pg_type name of an array type, e.g. _int4 */
        array = true;
        p++;
    }
    size_t b = 0;
    while (*p && *p != '(' && *p != '[' && b < sizeof(base) - 1)
        base[b++] = *p++;
    base[b] = '\0';
    const char *rest = p;
    /* Modifiers like (10,2) and [] may follow: allow only digits, commas, spaces, brackets. */
    for (const char *q = rest; *q; q++)
        if (!strchr("0123456789, ()[]", *q)) return -1;
    if (strstr(rest, "[]") && strncmp(src, "_", 1) == 0) return -1;
    /* The part after the base may also be a zone suffix ("timestamp(3) with time zone"). */
    bool known = false;
    for (int i = 0; known_types[i]; i++)
        if (strcmp(base, known_types[i]) == 0) known = true;
    if (!known) {
        /* "timestamp(3) with time zone" and friends: the modifier sits inside the name. */
        const char *paren = strchr(src, '(');
        const char *close = paren ? strchr(paren, ')') : NULL;
        if (!close || array) return -1;
        char joined[64];
        int n = snprintf(joined, sizeof(joined), "%.*s%s", (int)(paren - src), src, close + 1);
        if (n < 0 || (size_t)n >= sizeof(joined)) return -1;
        for (int i = 0; known_types[i]; i++)
            if (strcmp(joined, known_types[i]) == 0) known = true;
        if (!known) return -1;
        for (const char *q = close + 1; *q; q++)
            if (!strchr("abcdefghijklmnopqrstuvwxyz ", *q)) return -1;
        snprintf(out, cap, "%s", src);
        return 0;
    }
    snprintf(out, cap, "%s%s%s", base, rest, array ? "[]" : "");
    return 0;
}

static const char *infer_type(event_json_type_t t)
{
    switch (t) {
    case EVENT_JSON_INT:
        return "bigint";
    case EVENT_JSON_REAL:
        return "double precision";
    case EVENT_JSON_TRUE:
    case EVENT_JSON_FALSE:
        return "boolean";
    case EVENT_JSON_OBJECT:
    case EVENT_JSON_ARRAY:
        return "jsonb";
    default:
        return "text";
    }
}

static void column_type_for(const event_column_t *c, char *out, size_t cap)
{
    if (c->pg_type && map_source_type(c->pg_type, out, cap) == 0) return;
    snprintf(out, cap, "%s", infer_type(c->value.type));
}

/* ---------------- COPY text ---------------- */

static void copy_add_escaped(strbuf_t *b, const char *p, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        const char *esc;
        switch (c) {
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            continue;
        }
        strbuf_add(b, p + start, i - start);
        strbuf_add(b, esc, 2);
        start = i + 1;
    }
    strbuf_add(b, p + start, n - start);
}

static void copy_add_value(strbuf_t *b, const event_column_t *c)
{
    if (!c) {
        strbuf_add(b, "\\N", 2);
        return;
    }
    switch (c->value.type) {
    case EVENT_JSON_NULL:
        strbuf_add(b, "\\N", 2);
        break;
    case EVENT_JSON_TRUE:
        strbuf_add(b, "t", 1);
        break;
    case EVENT_JSON_FALSE:
        strbuf_add(b, "f", 1);
        break;
    case EVENT_JSON_INT:
    case EVENT_JSON_REAL:
        strbuf_add(b, c->value.text, (size_t)c->value.len);
        break;
    default:
        copy_add_escaped(b, c->value.text, (size_t)c->value.len);
        break;
    }
}

/* Called as s->sql goes to the server. */
static void note_sql_sent(pg_sink_t *s)
{
    s->sent_ddl = s->sql_has_ddl;
    s->sql_has_ddl = false;
}

/* Sends the queued statements; returns NULL or the failed result. */
static PGresult *flush_sql(pg_sink_t *s)
{
    if (s->sql.len == 0) return NULL;
    if (s->sql.oom) return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
    note_sql_sent(s);
    PGresult *r = exec_command(s, s->sql.p);
    strbuf_reset(&s->sql);
    return r;
}

/* COPY <table> (cols) FROM STDIN, preceded by the queued statements in the same query
 * string; table is SQL (pg_temp.<staging>, or the quoted target). Returns NULL when the server
 * is ready for data, or the failed result. */
static PGresult *copy_begin(pg_sink_t *s, const char *table, const char *const *cols, int ncols)
{
    strbuf_addf(&s->sql, "COPY %s (", table);
    for (int i = 0; i < ncols; i++) {
        if (i) strbuf_adds(&s->sql, ", ");
        strbuf_add_ident(&s->sql, cols[i]);
    }
    strbuf_adds(&s->sql, ") FROM STDIN");
    note_sql_sent(s);
    if (s->sql.oom || !PQsendQuery(s->conn, s->sql.p)) {
        strbuf_reset(&s->sql);
        return PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
    }
    strbuf_reset(&s->sql);
    PGresult *r, *bad = NULL;
    while ((r = PQgetResult(s->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN) {
            PQclear(r);
            s->sent_ddl = false; /* the DDL is done: later failures are the data's */
            return NULL;
        }
        if (st != PGRES_COMMAND_OK && !bad) {
            bad = r;
        } else {
            /* Only row upserts are queued before a COPY; the positions travel with COMMIT. */
            int64_t inserted = note_rows(s, r);
            if (inserted > 0) s->pending_upserted += (uint64_t)inserted;
            PQclear(r);
        }
    }
    return bad ? bad : PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
}

static int copy_send(pg_sink_t *s, bool force)
{
    if (s->copy.len == 0 || (!force && s->copy.len < COPY_CHUNK)) return 0;
    if (s->copy.oom || PQputCopyData(s->conn, s->copy.p, (int)s->copy.len) != 1) return -1;
    strbuf_reset(&s->copy);
    return 0;
}

/* Ends the COPY; returns NULL or the failed result. *line gets the failing line (1-based)
 * when the server names one. */
static PGresult *copy_end(pg_sink_t *s, bool ok, int *line)
{
    *line = 0;
    if (ok && copy_send(s, true) < 0) ok = false;
    PQputCopyEnd(s->conn, ok ? NULL : "sink aborted the COPY");
    PGresult *r, *bad = NULL;
    while ((r = PQgetResult(s->conn))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !bad)
            bad = r;
        else
            PQclear(r);
    }
    if (bad) {
        const char *ctx = PQresultErrorField(bad, PG_DIAG_CONTEXT);
        const char *at = ctx ? strstr(ctx, ", line ") : NULL;
        if (at) *line = atoi(at + 7);
    } else if (!ok) {
        bad = PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
    }
    return bad;
}

/* ---------------- batch ---------------- */

static int parsed_grow(pg_parsed_t *p, int n)
{
    if (n <= p->cap) return 0;
    int cap = p->cap ? p->cap : 256;
    while (cap < n)
        cap *= 2;
    event_t *events = realloc(p->events, sizeof(*events) * (size_t)cap);
    if (!events) return -1;
    p->events = events;
    p->cap = cap;
    return 0;
}

/* Parses every record that is not a control record into p's events. Client work only. */
static int parse_records(pg_parsed_t *p, const connect_record_t *recs, int n, connect_err_t *err)
{
    p->recs = NULL;
    if (parsed_grow(p, n) < 0) return connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
    event_arena_reset(&p->arena);
    for (int i = 0; i < n; i++) {
        const connect_record_t *rec = &recs[i];
        if (sink_topic_is_control(rec->topic)) continue;
        sb_err_t perr = {0};
        if (event_parse(&p->arena, rec->key, rec->value, &p->events[i], &perr) < 0)
            return connect_err_set(err, perr.code == SB_ENOMEM ? CONNECT_ERR_TRANSIENT : CONNECT_ERR_RECORD, i,
                                   "%s/%d@%lld: %s", rec->topic, (int)rec->partition, (long long)rec->offset,
                                   perr.msg);
    }
    return 0;
}

static int grow_batch(pg_sink_t *s, int n)
{
    if (n <= s->events_cap) return 0;
    int cap = s->events_cap ? s->events_cap : 256;
    while (cap < n)
        cap *= 2;
    int *group_of = realloc(s->group_of, sizeof(int) * (size_t)cap);
    if (group_of) s->group_of = group_of;
    int *next = realloc(s->next, sizeof(int) * (size_t)cap);
    if (next) s->next = next;
    size_t *identity_off = realloc(s->identity_off, sizeof(size_t) * (size_t)cap);
    if (identity_off) s->identity_off = identity_off;
    size_t *identity_len = realloc(s->identity_len, sizeof(size_t) * (size_t)cap);
    if (identity_len) s->identity_len = identity_len;
    int *rows = realloc(s->rows, sizeof(int) * (size_t)cap);
    if (rows) s->rows = rows;
    unsigned char *winner = realloc(s->winner, (size_t)cap);
    if (winner) s->winner = winner;
    int *shape_of = realloc(s->shape_of, sizeof(int) * (size_t)cap);
    if (shape_of) s->shape_of = shape_of;
    int *part_del = realloc(s->part_del, sizeof(int) * (size_t)cap);
    if (part_del) s->part_del = part_del;
    if (!group_of || !next || !identity_off || !identity_len || !rows || !winner || !shape_of || !part_del)
        return -1;
    s->events_cap = cap;
    return 0;
}

static int group_for(pg_sink_t *s, const char *table)
{
    for (int g = s->ngroups - 1; g >= 0; g--)
        if (strcmp(s->groups[g].table->name, table) == 0) return g;
    return -1;
}

/* The primary-key columns used for a table: the existing table's primary key, else the
 * configured override, else the key fields of the event with the most of them (a partition
 * delete of a wide-column source carries fewer than the rows of its table). */
static int table_pk(pg_sink_t *s, pg_table_t *t, const pg_group_t *g, char fields[][64])
{
    if (t->exists && t->npk) {
        memcpy(fields, t->pk, sizeof(t->pk[0]) * (size_t)t->npk);
        return t->npk;
    }
    if (s->npk_override) {
        memcpy(fields, s->pk_override, sizeof(s->pk_override[0]) * (size_t)s->npk_override);
        return s->npk_override;
    }
    const event_row_t *best = NULL;
    for (int i = g->first; i >= 0; i = s->next[i]) {
        const event_row_t *k = &s->events[i].key;
        if (k->present && k->n > 0 && k->n <= MAX_PK && (!best || k->n > best->n)) best = k;
    }
    if (!best) return 0;
    for (int c = 0; c < best->n; c++)
        snprintf(fields[c], 64, "%s", best->cols[c].name);
    return best->n;
}

/* Where an event's key values come from: the record key when it has every field, else the
 * row image (after for upserts, before for deletes). */
static const event_row_t *key_source(const event_t *ev, char fields[][64], int npk)
{
    bool key_ok = ev->key.present;
    for (int f = 0; key_ok && f < npk; f++)
        if (!event_row_find(&ev->key, fields[f])) key_ok = false;
    if (key_ok) return &ev->key;
    if (ev->op == EVENT_OP_DELETE) return ev->before.present ? &ev->before : NULL;
    return ev->after.present ? &ev->after : NULL;
}

static bool is_upsert(const event_t *ev)
{
    return ev->op == EVENT_OP_CREATE || ev->op == EVENT_OP_UPDATE || ev->op == EVENT_OP_READ;
}

/* A delete whose key holds only the leading primary-key columns — a wide-column store's
 * partition delete (scylla-source, cassandra-source: the key is the partition key, the
 * table's key adds clustering columns) — removes every row with those values. Returns how many
 * leading columns it has (0 < k < npk), else 0: a delete with the whole key, or with a key that
 * is not a prefix (which stays an error naming the missing column). */
static int partition_delete_len(const event_t *ev, char fields[][64], int npk)
{
    if (ev->op != EVENT_OP_DELETE && ev->op != EVENT_OP_TOMBSTONE) return 0;
    const event_row_t *src = ev->key.present ? &ev->key : ev->op == EVENT_OP_DELETE && ev->before.present ? &ev->before : NULL;
    if (!src) return 0;
    int k = 0;
    while (k < npk && event_row_find(src, fields[k]))
        k++;
    if (k == 0 || k == npk) return 0;
    for (int f = k; f < npk; f++)
        if (event_row_find(src, fields[f])) return 0;
    return k;
}

static const event_row_t *partition_delete_source(const event_t *ev)
{
    return ev->key.present ? &ev->key : &ev->before;
}

static bool same_value(const event_column_t *a, const event_column_t *b)
{
    return a && b && a->value.type == b->value.type && a->value.len == b->value.len &&
           (a->value.len == 0 || !a->value.text || memcmp(a->value.text, b->value.text, (size_t)a->value.len) == 0);
}

/* SQL for one key value: a quoted literal PostgreSQL casts to the column's type, or IS NULL. */
static void add_key_condition(strbuf_t *sql, const char *column, const event_column_t *c)
{
    strbuf_adds(sql, "t.");
    strbuf_add_ident(sql, column);
    switch (c->value.type) {
    case EVENT_JSON_NULL:
        strbuf_adds(sql, " IS NULL");
        return;
    case EVENT_JSON_TRUE:
        strbuf_adds(sql, " = 'true'");
        return;
    case EVENT_JSON_FALSE:
        strbuf_adds(sql, " = 'false'");
        return;
    default: {
        char *text = malloc((size_t)c->value.len + 1);
        if (!text) {
            sql->oom = true;
            return;
        }
        memcpy(text, c->value.text, (size_t)c->value.len);
        text[c->value.len] = '\0';
        strbuf_adds(sql, " = ");
        strbuf_add_literal(sql, text);
        free(text);
    }
    }
}

/* Gives `into` the columns of `from` (an event for the same key) that `into` lacks. A source
 * leaves out of `after` a value it did not receive (PostgreSQL's unchanged TOAST): the event
 * that carried it earlier in the batch is the stored value the omission stands for, and
 * reducing to one event per key must not lose it. Columns `into` has are never replaced. */
static int merge_missing_columns(event_arena_t *arena, event_t *into, const event_t *from)
{
    if (!into->after.present || !from->after.present) return 0;
    const event_row_t *a = &into->after, *b = &from->after;
    /* Same columns in the same order is the usual case: nothing to search. */
    bool same = a->n >= b->n;
    for (int c = 0; same && c < b->n; c++)
        same = strcmp(a->cols[c].name, b->cols[c].name) == 0;
    if (same) return 0;
    int extra = 0;
    for (int c = 0; c < b->n; c++)
        if (!event_row_find(a, b->cols[c].name)) extra++;
    if (extra == 0) return 0;
    event_column_t *cols = event_arena_alloc(arena, sizeof(*cols) * (size_t)(a->n + extra));
    if (!cols) return -1;
    memcpy(cols, a->cols, sizeof(*cols) * (size_t)a->n);
    int n = a->n;
    for (int c = 0; c < b->n; c++)
        if (!event_row_find(a, b->cols[c].name)) cols[n++] = b->cols[c];
    into->after.cols = cols;
    into->after.n = n;
    return 0;
}

static int64_t event_version(const event_t *ev, const connect_record_t *rec)
{
    return ev->has_source_ts ? ev->source_ts_ms : rec->timestamp_ms;
}

/* Streams the COPY lines of the winning upserts of column set `shape`, in event order (keys
 * that arrive sorted stay sorted for the index); s->rows maps each line to its record.
 * Returns false when sending failed. */
static bool copy_rows(pg_sink_t *s, const connect_record_t *recs, int start, int shape, const char *const *cols,
                      int ncols, int *nrows)
{
    *nrows = 0;
    for (int i = start; i >= 0; i = s->next[i]) {
        if (!s->winner[i]) continue;
        const event_t *ev = &s->events[i];
        if (!is_upsert(ev) || s->shape_of[i] != shape) continue;
        s->rows[(*nrows)++] = i;
        for (int j = 0; j < ncols; j++) {
            if (j) strbuf_add(&s->copy, "\t", 1);
            if (s->lww && j == ncols - 1) {
                strbuf_addf(&s->copy, "%lld", (long long)event_version(ev, &recs[i]));
                continue;
            }
            /* Same column order as the event is the common case: try that index first. */
            const event_column_t *c = j < ev->after.n && strcmp(ev->after.cols[j].name, cols[j]) == 0
                                          ? &ev->after.cols[j]
                                          : event_row_find(&ev->after, cols[j]);
            copy_add_value(&s->copy, c);
        }
        strbuf_add(&s->copy, "\n", 1);
        if (copy_send(s, false) < 0) return false;
    }
    return true;
}

/* Inserts of keys the target does not hold yet — most of a change stream: snapshot rows and
 * creates — go straight into the table with COPY: measured 200k rows/s against 120k for
 * staging + upsert of the same rows on the same server. Tried only when every complete row
 * of the batch is a create or a snapshot read. A key that exists after all (a replay, a
 * re-snapshot) fails the COPY with unique_violation: the savepoint undoes it and the caller
 * takes the upsert path; the direct path then rests for a number of batches that doubles
 * with each such failure (and halves with each success), so a stream of re-inserts pays for
 * a failed COPY rarely. Returns 0 when applied, 1 to fall back, -1 on another failure. */
static int insert_direct(pg_sink_t *s, const connect_record_t *recs, int n, pg_table_t *t, int start,
                         const char *const *cols, int ncols, connect_err_t *err)
{
    /* Without a primary key in the catalog a duplicate would not fail the COPY: it would be a
     * second row. Such a table takes the upsert path, whose ON CONFLICT needs a unique index
     * on the key and says so when there is none. */
    if (s->direct_rest > 0 || t->npk == 0) return 1;
    int candidates = 0;
    for (int i = start; i >= 0; i = s->next[i]) {
        if (!s->winner[i] || !is_upsert(&s->events[i]) || s->shape_of[i] != 0) continue;
        if (s->events[i].op == EVENT_OP_UPDATE) return 1;
        candidates++;
    }
    if (candidates == 0) return 1;
    strbuf_t table;
    strbuf_init(&table);
    add_qualified(&table, s, t->name);
    bool oom = table.oom;
    strbuf_adds(&s->sql, "SAVEPOINT sb_direct;\n");
    PGresult *r = oom ? PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR) : copy_begin(s, table.p, cols, ncols);
    strbuf_deinit(&table);
    if (r) return pg_fail(s, r, "prepare insert", -1, n, err);
    int line = 0, nrows = 0;
    bool ok = copy_rows(s, recs, start, 0, cols, ncols, &nrows);
    r = copy_end(s, ok, &line);
    if (!r) {
        s->pending_upserted += (uint64_t)nrows;
        s->direct_penalty = s->direct_penalty > 1 ? s->direct_penalty / 2 : 1;
        return 0;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "23505") == 0 && PQstatus(s->conn) == CONNECTION_OK) {
        PQclear(r);
        r = exec_command(s, "ROLLBACK TO SAVEPOINT sb_direct");
        if (r) return pg_fail(s, r, "undo a direct insert", -1, n, err);
        s->direct_rest = s->direct_penalty;
        s->direct_penalty = s->direct_penalty < 1024 ? s->direct_penalty * 2 : 1024;
        s->direct_fallbacks++;
        return 1;
    }
    return pg_fail(s, r, "COPY inserts", line > 0 && line <= nrows ? s->rows[line - 1] : -1, n, err);
}

/* COPY + INSERT ... ON CONFLICT for the winning upserts of column set `shape` (0: every
 * column of the batch, staged LIKE the target; others: the columns listed, staged without
 * constraints because the columns a row lacks are NULL in staging and must not trip NOT
 * NULL there). Inside the open transaction; the INSERT is queued. */
static int upsert_rows(pg_sink_t *s, const connect_record_t *recs, int n, pg_table_t *t,
                       char pk[][64], int npk, int start, int shape, const char *const *cols,
                       int ncols, connect_err_t *err)
{
    if (shape == 0) {
        int direct = insert_direct(s, recs, n, t, start, cols, ncols, err);
        if (direct <= 0) return direct;
    }
    char staging[32];
    snprintf(staging, sizeof(staging), "%s_%d", shape ? "sb_stp" : "sb_stg", t->id);
    if (shape == 0 && !t->staging_ready) {
        strbuf_addf(&s->sql,
                    "DROP TABLE IF EXISTS pg_temp.sb_stg_%d;\nCREATE TEMP TABLE sb_stg_%d (LIKE ",
                    t->id, t->id);
        add_qualified(&s->sql, s, t->name);
        /* NOT NULL and CHECK constraints fail in COPY, which names the line. */
        strbuf_adds(&s->sql, " INCLUDING CONSTRAINTS) ON COMMIT DELETE ROWS;\n");
        t->staging_ready = true;
    } else if (shape > 0 && !t->part_staging_ready) {
        strbuf_addf(&s->sql,
                    "DROP TABLE IF EXISTS pg_temp.sb_stp_%d;\nCREATE TEMP TABLE sb_stp_%d ON "
                    "COMMIT DELETE ROWS AS SELECT * FROM ",
                    t->id, t->id);
        add_qualified(&s->sql, s, t->name);
        strbuf_adds(&s->sql, " WITH NO DATA;\n");
        t->part_staging_ready = true;
    } else if (shape > 1) {
        /* A second column set in the same batch: the staging table still holds the first. */
        strbuf_addf(&s->sql, "TRUNCATE pg_temp.%s;\n", staging);
    }
    char staging_sql[48];
    snprintf(staging_sql, sizeof(staging_sql), "pg_temp.%s", staging);
    PGresult *r = copy_begin(s, staging_sql, cols, ncols);
    if (r) return pg_fail(s, r, "prepare upsert", -1, n, err);
    int line = 0, nrows = 0;
    bool ok = copy_rows(s, recs, start, shape, cols, ncols, &nrows);
    r = copy_end(s, ok, &line);
    if (r) return pg_fail(s, r, "COPY upserts", line > 0 && line <= nrows ? s->rows[line - 1] : -1, n, err);
    /* INSERT ... SELECT ... ON CONFLICT; queued, it travels with the next statement. */
    strbuf_adds(&s->sql, "INSERT INTO ");
    add_qualified(&s->sql, s, t->name);
    strbuf_adds(&s->sql, " AS t (");
    for (int j = 0; j < ncols; j++) {
        if (j) strbuf_adds(&s->sql, ", ");
        strbuf_add_ident(&s->sql, cols[j]);
    }
    strbuf_adds(&s->sql, ") SELECT ");
    for (int j = 0; j < ncols; j++) {
        if (j) strbuf_adds(&s->sql, ", ");
        strbuf_add_ident(&s->sql, cols[j]);
    }
    strbuf_addf(&s->sql, " FROM pg_temp.%s ON CONFLICT (", staging);
    for (int f = 0; f < npk; f++) {
        if (f) strbuf_adds(&s->sql, ", ");
        strbuf_add_ident(&s->sql, pk[f]);
    }
    strbuf_adds(&s->sql, ") DO ");
    int set = 0;
    for (int j = 0; j < ncols; j++) {
        bool is_pk = false;
        for (int f = 0; f < npk; f++)
            is_pk |= strcmp(pk[f], cols[j]) == 0;
        if (is_pk) continue;
        strbuf_adds(&s->sql, set++ ? ", " : "UPDATE SET ");
        strbuf_add_ident(&s->sql, cols[j]);
        strbuf_adds(&s->sql, " = EXCLUDED.");
        strbuf_add_ident(&s->sql, cols[j]);
    }
    if (!set)
        strbuf_adds(&s->sql, "NOTHING");
    else if (s->lww)
        strbuf_adds(&s->sql, " WHERE t." LWW_COLUMN " IS NULL OR t." LWW_COLUMN
                             " <= EXCLUDED." LWW_COLUMN);
    strbuf_adds(&s->sql, ";\n");
    return 0;
}

/* Applies one table's events inside the open transaction. */
static int apply_group(pg_sink_t *s, const connect_record_t *recs, int n, pg_group_t *g,
                       connect_err_t *err)
{
    pg_table_t *t = g->table;
    char pk[MAX_PK][64];
    int npk = table_pk(s, t, g, pk);

    /* A truncate discards everything of this table before it in the batch. */
    int start = g->first;
    for (int i = g->first; i >= 0; i = s->next[i])
        if (s->events[i].op == EVENT_OP_TRUNCATE) start = i;
    if (s->events[start].op == EVENT_OP_TRUNCATE) {
        if (t->exists) {
            strbuf_adds(&s->sql, "TRUNCATE ");
            add_qualified(&s->sql, s, t->name);
            strbuf_adds(&s->sql, ";\n");
        }
        s->pending_truncates++;
        start = s->next[start];
    }

    /* Partition deletes: each removes the rows of its partition, so an earlier event of this
     * batch for a row of that partition (older, with last-write-wins) is wiped out by it and
     * takes no part in the reduction below; the DELETEs are queued before the batch's upserts,
     * so a row written after the delete survives it. */
    int npart = 0;
    for (int i = start; i >= 0; i = s->next[i]) {
        event_t *ev = &s->events[i];
        s->part_del[i] = 0;
        if (ev->op == EVENT_OP_TRUNCATE || (s->lww && ev->op == EVENT_OP_TOMBSTONE)) continue;
        int k = npk ? partition_delete_len(ev, pk, npk) : 0;
        if (k == 0) continue;
        s->part_del[i] = k;
        npart++;
        const event_row_t *part = partition_delete_source(ev);
        for (int j = start; j != i; j = s->next[j]) {
            event_t *ej = &s->events[j];
            if (s->part_del[j] != 0 || ej->op == EVENT_OP_TRUNCATE) continue;
            if (s->lww && event_version(ej, &recs[j]) > event_version(ev, &recs[i])) continue;
            const event_row_t *src = key_source(ej, pk, npk);
            bool in = src != NULL;
            for (int f = 0; in && f < k; f++)
                in = same_value(event_row_find(src, pk[f]), event_row_find(part, pk[f]));
            if (in) s->part_del[j] = -1;
        }
    }
    if (npart && s->delete_enabled && t->exists) {
        bool has_lww = s->lww && table_find_column(t, LWW_COLUMN);
        for (int i = start; i >= 0; i = s->next[i]) {
            if (s->part_del[i] <= 0) continue;
            const event_row_t *part = partition_delete_source(&s->events[i]);
            strbuf_adds(&s->sql, "DELETE FROM ");
            add_qualified(&s->sql, s, t->name);
            strbuf_adds(&s->sql, " AS t WHERE ");
            for (int f = 0; f < s->part_del[i]; f++) {
                if (f) strbuf_adds(&s->sql, " AND ");
                add_key_condition(&s->sql, pk[f], event_row_find(part, pk[f]));
            }
            if (has_lww)
                strbuf_addf(&s->sql, " AND (t." LWW_COLUMN " IS NULL OR t." LWW_COLUMN " <= %lld)",
                            (long long)event_version(&s->events[i], &recs[i]));
            strbuf_adds(&s->sql, ";\n");
        }
    }

    /* Reduce to one event per key: the last one, or with last-write-wins the newest by
     * source.ts_ms (the later one on a tie). */
    if (sink_keymap_reset(&s->keymap, (size_t)g->count) < 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        abort_batch(s);
        return -1;
    }
    strbuf_reset(&s->scratch);
    for (int i = start; i >= 0; i = s->next[i]) {
        event_t *ev = &s->events[i];
        if (ev->op == EVENT_OP_TRUNCATE) continue;
        if (s->lww && ev->op == EVENT_OP_TOMBSTONE)
            continue; /* the op=d before it carries the time */
        if (s->part_del[i]) continue;
        if (npk == 0) {
            connect_err_set(err, CONNECT_ERR_RECORD, i,
                            "no primary key for table %s: the record key is null and "
                            "primary.key.fields is not set",
                            t->name);
            abort_batch(s);
            return -1;
        }
        const event_row_t *src = key_source(ev, pk, npk);
        size_t off = s->scratch.len;
        if (!src || sink_key_identity(&s->scratch, src, pk, npk) < 0) {
            connect_err_set(err, s->scratch.oom ? CONNECT_ERR_TRANSIENT : CONNECT_ERR_RECORD, i,
                            "event for table %s lacks primary-key column(s) (%s%s)", t->name, pk[0],
                            npk > 1 ? ", ..." : "");
            abort_batch(s);
            return -1;
        }
        /* Offsets, not pointers: the scratch buffer may move while it grows. */
        s->identity_off[i] = off;
        s->identity_len[i] = s->scratch.len - off;
    }
    for (int i = start; i >= 0; i = s->next[i]) {
        event_t *ev = &s->events[i];
        s->winner[i] = 0;
        if (ev->op == EVENT_OP_TRUNCATE || (s->lww && ev->op == EVENT_OP_TOMBSTONE) || s->part_del[i]) continue;
        const char *key = s->scratch.p + s->identity_off[i];
        struct sink_keymap_slot *slot = sink_keymap_slot(&s->keymap, key, s->identity_len[i]);
        int prev = slot->value;
        bool newer = prev < 0 || !s->lww ||
                     event_version(ev, &recs[i]) >= event_version(&s->events[prev], &recs[prev]);
        /* Two upserts of one key in a row (no delete between): the winner keeps the columns
         * it lacks from the other (with last-write-wins, an older one fills only what the
         * newer ones left out). */
        if (prev >= 0 && is_upsert(ev) && is_upsert(&s->events[prev]) &&
            merge_missing_columns(&s->parsed[s->cur].arena, newer ? ev : &s->events[prev],
                                  newer ? &s->events[prev] : ev) < 0) {
            connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
            abort_batch(s);
            return -1;
        }
        if (newer) slot->value = i;
    }
    for (size_t k = 0; k < s->keymap.cap; k++)
        if (s->keymap.slots[k].value >= 0) s->winner[s->keymap.slots[k].value] = 1;

    /* Columns of the upserts, in first-seen order, and whether the table must change. */
    int nup = 0, ndel = 0;
    const char *cols[1024];
    int ncols = 0;
    strbuf_t *ddl = &s->sql;
    size_t ddl_mark = ddl->len;
    bool created = false;
    for (int i = start; i >= 0; i = s->next[i]) {
        if (!s->winner[i]) continue;
        event_t *ev = &s->events[i];
        if (ev->op == EVENT_OP_DELETE || ev->op == EVENT_OP_TOMBSTONE) {
            ndel++;
            continue;
        }
        nup++;
        for (int c = 0; c < ev->after.n; c++) {
            const char *name = ev->after.cols[c].name;
            bool seen = false;
            for (int j = 0; j < ncols && !seen; j++)
                seen = strcmp(cols[j], name) == 0;
            if (seen) continue;
            if (ncols == (int)(sizeof(cols) / sizeof(cols[0])) - 1) {
                connect_err_set(err, CONNECT_ERR_RECORD, i, "more than 1000 columns in table %s",
                                t->name);
                abort_batch(s);
                return -1;
            }
            cols[ncols++] = name;
        }
    }
    if (nup && s->lww) cols[ncols++] = LWW_COLUMN;

    if (nup) {
        /* Schema evolution: the type of a new column comes from column_types, else from the
         * first non-null value in the batch. */
        int missing = 0;
        for (int j = 0; j < ncols; j++) {
            if (table_find_column(t, cols[j])) continue;
            if (!s->evolve) {
                connect_err_set(err, CONNECT_ERR_RECORD, -1,
                                "table %s.%s has no column \"%s\" and schema.evolution is none",
                                s->schema, t->name, cols[j]);
                abort_batch(s);
                return -1;
            }
            char type[96] = "text";
            if (strcmp(cols[j], LWW_COLUMN) == 0) {
                snprintf(type, sizeof(type), "bigint");
            } else {
                for (int i = start; i >= 0; i = s->next[i]) {
                    if (!s->winner[i]) continue;
                    const event_column_t *c = event_row_find(&s->events[i].after, cols[j]);
                    if (c && (c->pg_type || c->value.type != EVENT_JSON_NULL)) {
                        column_type_for(c, type, sizeof(type));
                        break;
                    }
                }
            }
            if (!t->exists && !created) {
                /* The schema too: target.schema names where tables go, and a sink that
                 * creates tables should not fail on a schema nobody created yet. Only when
                 * missing: CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege on the
                 * database first, which a user confined to an existing schema lacks. */
                strbuf_adds(ddl, "DO $sb_schema$ BEGIN IF to_regnamespace(quote_ident(");
                strbuf_add_literal(ddl, s->schema);
                strbuf_adds(ddl, ")) IS NULL THEN CREATE SCHEMA ");
                strbuf_add_ident(ddl, s->schema);
                strbuf_adds(ddl, "; END IF; END $sb_schema$;\n");
                strbuf_adds(ddl, "CREATE TABLE IF NOT EXISTS ");
                add_qualified(ddl, s, t->name);
                strbuf_adds(ddl, " (");
                created = true;
            } else if (t->exists && missing == 0) {
                strbuf_adds(ddl, "ALTER TABLE ");
                add_qualified(ddl, s, t->name);
                strbuf_adds(ddl, " ");
            }
            if (missing) strbuf_adds(ddl, ", ");
            if (t->exists) strbuf_adds(ddl, "ADD COLUMN IF NOT EXISTS ");
            strbuf_add_ident(ddl, cols[j]);
            strbuf_addf(ddl, " %s", type);
            if (table_add_column(t, cols[j], type) < 0) ddl->oom = true;
            s->sql_has_ddl = true;
            missing++;
        }
        if (created) {
            for (int f = 0; f < npk; f++)
                if (!table_find_column(t, pk[f])) {
                    connect_err_set(err, CONNECT_ERR_RECORD, -1,
                                    "primary-key column \"%s\" is not in the events of %s", pk[f],
                                    t->name);
                    abort_batch(s);
                    return -1;
                }
            strbuf_adds(ddl, ", PRIMARY KEY (");
            for (int f = 0; f < npk; f++) {
                if (f) strbuf_adds(ddl, ", ");
                strbuf_add_ident(ddl, pk[f]);
            }
            strbuf_adds(ddl, "));\n");
            t->exists = true;
            memcpy(t->pk, pk, sizeof(pk[0]) * (size_t)npk);
            t->npk = npk;
        } else if (missing) {
            strbuf_adds(ddl, ";\n");
        }
        if (missing) {
            t->staging_ready = false;
            t->del_staging_ready = false;
            t->part_staging_ready = false;
        }
        (void)ddl_mark;
        /* Rows are applied per column set: complete rows (every column of the batch, the
         * usual case) in one COPY and one upsert; rows still missing a column after the merge
         * above get an upsert of their own column set, which leaves the missing columns as
         * stored (or NULL/default for a new row). */
        int ndata = s->lww ? ncols - 1 : ncols;
        int nshapes = 1;
        strbuf_reset(&s->shapes);
        for (int i = start; i >= 0; i = s->next[i]) {
            if (!s->winner[i]) continue;
            const event_t *ev = &s->events[i];
            if (!is_upsert(ev)) continue;
            s->shape_of[i] = 0;
            bool complete = ev->after.n == ndata;
            for (int j = 0; complete && j < ndata; j++)
                complete = strcmp(ev->after.cols[j].name, cols[j]) == 0;
            if (complete) continue;
            size_t mark = s->shapes.len;
            int present = 0;
            for (int j = 0; j < ndata; j++) {
                unsigned char has = event_row_find(&ev->after, cols[j]) != NULL;
                present += has;
                strbuf_add(&s->shapes, &has, 1);
            }
            if (s->shapes.oom) {
                connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
                abort_batch(s);
                return -1;
            }
            if (present == ndata) {
                s->shapes.len = mark;
                continue;
            }
            int k = 1;
            while (k < nshapes &&
                   memcmp(s->shapes.p + (size_t)(k - 1) * (size_t)ndata, s->shapes.p + mark,
                          (size_t)ndata) != 0)
                k++;
            if (k < nshapes)
                s->shapes.len = mark;
            else
                nshapes++;
            s->shape_of[i] = k;
        }
        for (int k = 0; k < nshapes; k++) {
            const char *shape_cols[1024];
            int nshape_cols = 0;
            if (k == 0) {
                memcpy(shape_cols, cols, sizeof(cols[0]) * (size_t)ncols);
                nshape_cols = ncols;
            } else {
                const unsigned char *mask =
                    (const unsigned char *)s->shapes.p + (size_t)(k - 1) * (size_t)ndata;
                for (int j = 0; j < ndata; j++)
                    if (mask[j]) shape_cols[nshape_cols++] = cols[j];
                if (s->lww) shape_cols[nshape_cols++] = LWW_COLUMN;
            }
            if (upsert_rows(s, recs, n, t, pk, npk, start, k, shape_cols, nshape_cols, err) < 0)
                return -1;
        }
    }

    if (ndel && s->delete_enabled && t->exists) {
        bool has_lww = s->lww && table_find_column(t, LWW_COLUMN);
        const char *dcols[MAX_PK + 1];
        for (int f = 0; f < npk; f++)
            dcols[f] = pk[f];
        int ndcols = npk;
        if (has_lww) dcols[ndcols++] = LWW_COLUMN;
        if (!t->del_staging_ready) {
            strbuf_addf(&s->sql,
                        "DROP TABLE IF EXISTS pg_temp.sb_del_%d;\nCREATE TEMP TABLE sb_del_%d ON "
                        "COMMIT DELETE ROWS AS SELECT ",
                        t->id, t->id);
            for (int f = 0; f < ndcols; f++) {
                if (f) strbuf_adds(&s->sql, ", ");
                strbuf_add_ident(&s->sql, dcols[f]);
            }
            strbuf_adds(&s->sql, " FROM ");
            add_qualified(&s->sql, s, t->name);
            strbuf_adds(&s->sql, " WITH NO DATA;\n");
            t->del_staging_ready = true;
        }
        char staging[32];
        snprintf(staging, sizeof(staging), "sb_del_%d", t->id);
        char staging_sql[48];
        snprintf(staging_sql, sizeof(staging_sql), "pg_temp.%s", staging);
        PGresult *r = copy_begin(s, staging_sql, dcols, ndcols);
        if (r) return pg_fail(s, r, "prepare delete", -1, n, err);
        int line = 0;
        bool ok = true;
        /* Event order, not hash order: keys that arrive sorted stay sorted for the index. */
        for (int i = start; i >= 0 && ok; i = s->next[i]) {
            if (!s->winner[i]) continue;
            const event_t *ev = &s->events[i];
            if (ev->op != EVENT_OP_DELETE && ev->op != EVENT_OP_TOMBSTONE) continue;
            s->rows[line++] = i;
            const event_row_t *src = key_source(ev, pk, npk);
            for (int f = 0; f < npk; f++) {
                if (f) strbuf_add(&s->copy, "\t", 1);
                copy_add_value(&s->copy, event_row_find(src, pk[f]));
            }
            if (has_lww) strbuf_addf(&s->copy, "\t%lld", (long long)event_version(ev, &recs[i]));
            strbuf_add(&s->copy, "\n", 1);
            if (copy_send(s, false) < 0) ok = false;
        }
        r = copy_end(s, ok, &line);
        if (r)
            return pg_fail(s, r, "COPY deletes", line > 0 && line <= ndel ? s->rows[line - 1] : -1,
                           n, err);
        /* A fresh temp table has no statistics, so the planner guesses thousands of rows and
         * joins against the whole target (merge join over its primary key). Analysing the few
         * staged keys first turns that into index lookups: measured 41.9 ms -> 15.3 ms for 500
         * keys against 250k rows (docs/performance.md, "What limits the rate"). */
        strbuf_addf(&s->sql, "ANALYZE pg_temp.%s;\n", staging);
        strbuf_adds(&s->sql, "DELETE FROM ");
        add_qualified(&s->sql, s, t->name);
        strbuf_addf(&s->sql, " AS t USING pg_temp.%s AS s WHERE ", staging);
        for (int f = 0; f < npk; f++) {
            if (f) strbuf_adds(&s->sql, " AND ");
            strbuf_adds(&s->sql, "t.");
            strbuf_add_ident(&s->sql, pk[f]);
            strbuf_adds(&s->sql, " = s.");
            strbuf_add_ident(&s->sql, pk[f]);
        }
        if (has_lww)
            strbuf_adds(&s->sql,
                        " AND (t." LWW_COLUMN " IS NULL OR t." LWW_COLUMN " <= s." LWW_COLUMN ")");
        strbuf_adds(&s->sql, ";\n");
    }
    return 0;
}

static void queue_positions(pg_sink_t *s)
{
    if (s->positions.n == 0) return;
    strbuf_adds(&s->sql,
                "INSERT INTO " OFFSETS_TABLE " (connector, topic, partition, next_offset) VALUES ");
    for (int i = 0; i < s->positions.n; i++) {
        const sink_position_t *p = &s->positions.items[i];
        if (i) strbuf_adds(&s->sql, ", ");
        strbuf_adds(&s->sql, "(");
        strbuf_add_literal(&s->sql, s->connector);
        strbuf_adds(&s->sql, ", ");
        strbuf_add_literal(&s->sql, p->topic);
        strbuf_addf(&s->sql, ", %d, %lld)", (int)p->partition, (long long)p->next_offset);
    }
    strbuf_adds(&s->sql, " ON CONFLICT (connector, topic, partition) DO UPDATE SET next_offset = "
                         "EXCLUDED.next_offset;\n");
}

/* Sends the batch's last statements (the queued upserts and deletes, the positions) and its
 * COMMIT without waiting: the server works on them while the runtime prepares the next batch.
 * commit_wait() collects the outcome. */
static int commit_send(pg_sink_t *s, int n, connect_err_t *err)
{
    queue_positions(s);
    s->positions_queued = s->positions.n > 0;
    strbuf_adds(&s->sql, "COMMIT");
    if (s->before_commit) s->before_commit(s->before_commit_arg, s->conn);
    note_sql_sent(s);
    bool sent = !s->sql.oom && PQsendQuery(s->conn, s->sql.p);
    strbuf_reset(&s->sql);
    if (!sent) return pg_fail(s, PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR), "apply batch", -1, n, err);
    s->in_flight = n;
    return 0;
}

/* Waits for the batch commit_send() left in flight; 0 once it is committed. */
static int commit_wait(pg_sink_t *s, connect_err_t *err)
{
    int n = s->in_flight;
    s->in_flight = 0;
    PGresult *r, *bad = NULL;
    /* The last INSERT of the string is the positions upsert when there is one: each INSERT's
     * rows are held until the next one shows it was a row upsert. */
    int64_t held_insert = -1;
    while ((r = PQgetResult(s->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !bad) {
            bad = r;
        } else {
            int64_t inserted = note_rows(s, r);
            if (inserted >= 0) {
                if (held_insert > 0) s->pending_upserted += (uint64_t)held_insert;
                held_insert = inserted;
            }
            PQclear(r);
        }
    }
    if (held_insert > 0 && !s->positions_queued) s->pending_upserted += (uint64_t)held_insert;
    if (bad) return pg_fail(s, bad, "apply batch", -1, n, err);
    /* A COMMIT that the server turned into a ROLLBACK (possible after an earlier failure in
     * the same string) must not count as success. */
    if (PQstatus(s->conn) != CONNECTION_OK || PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "transaction did not commit");
        abort_batch(s);
        return -1;
    }
    s->batches++;
    s->rows_upserted += s->pending_upserted;
    s->rows_deleted += s->pending_deleted;
    s->truncates += s->pending_truncates;
    pending_reset(s);
    return 0;
}

static int put_once(pg_sink_t *s, const connect_record_t *recs, int n, connect_err_t *err)
{
    if (ensure_connected(s, err) < 0) return -1;
    if (grow_batch(s, n) < 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
        return -1;
    }
    if (s->direct_rest > 0) s->direct_rest--;
    /* The events: parsed ahead by pg_prepare when it saw these very records, else now. */
    if (parsed_matches(&s->parsed[1 - s->cur], recs, n)) {
        s->cur = 1 - s->cur;
        s->parsed[s->cur].recs = NULL; /* used up */
    } else if (parse_records(&s->parsed[s->cur], recs, n, err) < 0) {
        abort_batch(s);
        return -1;
    }
    s->events = s->parsed[s->cur].events;
    pending_reset(s);
    sink_positions_reset(&s->positions);
    strbuf_reset(&s->sql);
    s->sql_has_ddl = false;
    strbuf_reset(&s->copy);
    s->ngroups = 0;

    /* BEGIN travels with the first COPY (or the COMMIT): no round trip of its own. */
    strbuf_adds(&s->sql, "BEGIN;\n");

    const char *last_topic = NULL;
    int last_group = -1;
    for (int i = 0; i < n; i++) {
        const connect_record_t *rec = &recs[i];
        s->group_of[i] = -1;
        s->next[i] = -1;
        if (sink_positions_note(&s->positions, rec) < 0) {
            connect_err_set(err, CONNECT_ERR_RECORD, i, "topic name too long");
            abort_batch(s);
            return -1;
        }
        if (sink_topic_is_control(rec->topic)) continue;
        if (!s->delete_enabled &&
            (s->events[i].op == EVENT_OP_DELETE || s->events[i].op == EVENT_OP_TOMBSTONE))
            continue;
        int g = last_group;
        if (!last_topic || strcmp(last_topic, rec->topic) != 0) {
            char table[64];
            if (sink_table_name(s->table_format, rec->topic, table, sizeof(table)) < 0) {
                connect_err_set(err, CONNECT_ERR_RECORD, i,
                                "topic %s gives no valid table name with format %s", rec->topic,
                                s->table_format);
                abort_batch(s);
                return -1;
            }
            g = group_for(s, table);
            if (g < 0) {
                PGresult *failed;
                pg_table_t *t = table_get(s, table, &failed);
                if (!t) {
                    if (failed) return pg_fail(s, failed, "read table metadata", -1, n, err);
                    connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
                    abort_batch(s);
                    return -1;
                }
                if (s->ngroups == s->groups_cap) {
                    int cap = s->groups_cap ? s->groups_cap * 2 : 8;
                    pg_group_t *groups = realloc(s->groups, sizeof(*groups) * (size_t)cap);
                    if (!groups) {
                        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "out of memory");
                        abort_batch(s);
                        return -1;
                    }
                    s->groups = groups;
                    s->groups_cap = cap;
                }
                g = s->ngroups++;
                s->groups[g] = (pg_group_t){.table = t, .first = -1, .last = -1};
            }
            last_topic = rec->topic;
            last_group = g;
        }
        pg_group_t *grp = &s->groups[g];
        s->group_of[i] = g;
        if (grp->last >= 0)
            s->next[grp->last] = i;
        else
            grp->first = i;
        grp->last = i;
        grp->count++;
    }
    for (int g = 0; g < s->ngroups; g++)
        if (apply_group(s, recs, n, &s->groups[g], err) < 0) return -1;
    return commit_send(s, n, err);
}

/* put_once and the wait for its commit. */
static int put_sync(pg_sink_t *s, const connect_record_t *recs, int n, connect_err_t *err)
{
    if (put_once(s, recs, n, err) < 0) return -1;
    return commit_wait(s, err);
}

static int pg_put(void *state, const connect_record_t *recs, int n, connect_err_t *err)
{
    pg_sink_t *s = state;
    if (n <= 0) return 0;
    connect_err_t first;
    if (put_sync(s, recs, n, &first) == 0) return 0;
    /* A record error the server raised in INSERT ... SELECT names no record. The failure
     * dropped the cached staging tables; recreated from the table as it is now (a constraint
     * may have been added since), COPY usually catches the same row and names its line. One
     * more attempt costs little next to the runtime retrying every record alone. */
    if (first.cls == CONNECT_ERR_RECORD && first.index < 0 && n > 1) {
        if (put_sync(s, recs, n, err) == 0) return 0;
        if (err && err->cls == CONNECT_ERR_RECORD) return -1;
    }
    if (err) *err = first;
    return -1;
}

/* The pipelined form of put: the batch is applied up to its final statements, which travel
 * with the COMMIT while the runtime polls and transforms the next batch. A failure reported by
 * put_end leaves nothing of the batch applied; the runtime then puts it again with pg_put. */
static int pg_put_begin(void *state, const connect_record_t *recs, int n, connect_err_t *err)
{
    pg_sink_t *s = state;
    if (n <= 0) return 0;
    return put_once(s, recs, n, err);
}

static void pg_prepare(void *state, const connect_record_t *recs, int n)
{
    pg_sink_t *s = state;
    connect_err_t ignored;
    /* A record that does not parse leaves nothing prepared: put_begin parses again and
     * reports it. */
    pg_parsed_t *p = &s->parsed[1 - s->cur];
    if (n > 0 && parse_records(p, recs, n, &ignored) == 0) {
        p->recs = recs;
        p->n = n;
        p->first_offset = recs[0].offset;
        p->last_offset = recs[n - 1].offset;
    }
}

static int pg_put_end(void *state, connect_err_t *err)
{
    pg_sink_t *s = state;
    return s->in_flight ? commit_wait(s, err) : 0;
}

static int pg_skip(void *state, const connect_record_t *rec, connect_err_t *err)
{
    pg_sink_t *s = state;
    if (ensure_connected(s, err) < 0) return -1;
    sink_positions_reset(&s->positions);
    if (sink_positions_note(&s->positions, rec) < 0) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "topic name too long");
        return -1;
    }
    strbuf_reset(&s->sql);
    queue_positions(s);
    /* One statement is its own transaction. */
    PGresult *r = flush_sql(s);
    if (r) return pg_fail(s, r, "store skipped position", -1, 0, err);
    return 0;
}

static void pg_status(void *state, json_t *out)
{
    pg_sink_t *s = state;
    json_object_set_new(out, "connected",
                        json_boolean(s->conn && PQstatus(s->conn) == CONNECTION_OK));
    json_object_set_new(out, "batches", json_integer((json_int_t)s->batches));
    json_object_set_new(out, "rows_upserted", json_integer((json_int_t)s->rows_upserted));
    json_object_set_new(out, "direct_insert_fallbacks", json_integer((json_int_t)s->direct_fallbacks));
    json_object_set_new(out, "rows_deleted", json_integer((json_int_t)s->rows_deleted));
    json_object_set_new(out, "truncates", json_integer((json_int_t)s->truncates));
    json_object_set_new(out, "tables_cached", json_integer(s->ntables));
    if (s->last_error[0]) json_object_set_new(out, "last_error", json_string(s->last_error));
}

const sink_ops_t postgres_sink_ops = {
    .name = "postgres-sink",
    .description = "Applies change events to PostgreSQL tables with exactly-once positions",
    .validate = pg_validate,
    .start = pg_start,
    .load_positions = pg_load_positions,
    .put = pg_put,
    .put_begin = pg_put_begin,
    .put_end = pg_put_end,
    .prepare = pg_prepare,
    .skip = pg_skip,
    .stop = pg_stop,
    .status = pg_status,
};
