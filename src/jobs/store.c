/* Job state in PostgreSQL; see store.h. */
#include "jobs/store.h"

#include "jobs/cron.h"
#include "metrics/metrics.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Statements with parameters are prepared once per connection (named s0, s1, ... in the order
 * first used): planning the job queries costs more PostgreSQL CPU than running them (pgbench on
 * GET /jobs/{id}'s query, 2 clients: 3,300 runs/s unprepared, 8,800 prepared). */
#define JOBS_MAX_PREPARED 48

/* One libpq connection of the pool. */
typedef struct jobs_conn {
    PGconn *conn;
    bool busy;
    char *prepared[JOBS_MAX_PREPARED]; /* the text of statement s<i> on this connection */
    int nprepared;
} jobs_conn_t;

static void forget_prepared(jobs_conn_t *c)
{
    for (int i = 0; i < c->nprepared; i++) free(c->prepared[i]);
    c->nprepared = 0;
}

/* The name of sql prepared on c, preparing it when new; NULL when it cannot be (the cache is
 * full, or PostgreSQL refused: the caller then runs it unprepared and gets the error itself). */
static const char *prepared_name(jobs_conn_t *c, const char *sql, int n, char *name, size_t cap)
{
    for (int i = 0; i < c->nprepared; i++)
        if (strcmp(c->prepared[i], sql) == 0) {
            snprintf(name, cap, "s%d", i);
            return name;
        }
    if (c->nprepared == JOBS_MAX_PREPARED) return NULL;
    snprintf(name, cap, "s%d", c->nprepared);
    PGresult *r = PQprepare(c->conn, name, sql, n, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || !(c->prepared[c->nprepared] = strdup(sql))) return NULL;
    c->nprepared++;
    return name;
}

/* Calls take a free connection for their duration (waiting when all are busy), so as many
 * calls run at once as there are connections; a transaction never spans two calls. */
struct jobs_store {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    jobs_conn_t *conns;
    int nconns;
};

static jobs_conn_t *conn_acquire(jobs_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < s->nconns; i++)
            if (!s->conns[i].busy) {
                s->conns[i].busy = true;
                pthread_mutex_unlock(&s->mu);
                return &s->conns[i];
            }
        pthread_cond_wait(&s->freed, &s->mu);
    }
}

static void conn_release(jobs_store_t *s, jobs_conn_t *c)
{
    pthread_mutex_lock(&s->mu);
    c->busy = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->mu);
}

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Version 1 of the schema. Created in one transaction under an advisory lock, so a worker and
 * the API starting together do not both try. */
static const char SCHEMA_V1[] =
    "CREATE TABLE jobs ("
    " id bigserial PRIMARY KEY, name text NOT NULL, type text NOT NULL, queue text NOT NULL,"
    " payload jsonb NOT NULL, priority int NOT NULL, max_retries int NOT NULL, attempt_limit int NOT NULL,"
    " timeout_s int NOT NULL, run_at timestamptz NOT NULL DEFAULT now(), state text NOT NULL DEFAULT 'PENDING',"
    " attempt int NOT NULL DEFAULT 0, idempotency_key text UNIQUE, depends_on bigint[] NOT NULL DEFAULT '{}',"
    " worker_id text, lease_until timestamptz, queued_at timestamptz,"
    " cancel_requested boolean NOT NULL DEFAULT false, last_error text, result jsonb,"
    " created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX jobs_due ON jobs (priority DESC, run_at, id) WHERE state IN ('PENDING','RETRYING');"
    "CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'RUNNING';"
    "CREATE INDEX jobs_queued ON jobs (queued_at) WHERE state = 'QUEUED';"
    "CREATE TABLE job_transitions (id bigserial PRIMARY KEY, job_id bigint NOT NULL REFERENCES jobs(id),"
    " attempt int NOT NULL, from_state text, to_state text NOT NULL, worker_id text,"
    " at timestamptz NOT NULL DEFAULT clock_timestamp(), error text);"
    "CREATE INDEX job_transitions_job ON job_transitions (job_id, id);"
    /* Every change of jobs.state is recorded by the database itself, in the same transaction. */
    "CREATE FUNCTION jobs_record_transition() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state THEN"
    "  INSERT INTO job_transitions (job_id, attempt, from_state, to_state, worker_id, error)"
    "  VALUES (NEW.id, NEW.attempt, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END, NEW.state, NEW.worker_id,"
    "          NEW.last_error);"
    " END IF; RETURN NULL; END $$;"
    "CREATE TRIGGER jobs_transition AFTER INSERT OR UPDATE OF state ON jobs"
    " FOR EACH ROW EXECUTE FUNCTION jobs_record_transition();"
    "CREATE FUNCTION jobs_json(j jobs) RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT jsonb_build_object("
    " 'id', j.id, 'name', j.name, 'type', j.type, 'queue', j.queue, 'payload', j.payload, 'priority', j.priority,"
    " 'maxRetries', j.max_retries, 'timeoutSeconds', j.timeout_s, 'runAt', " TS("j.run_at") ", 'status', j.state,"
    " 'attempt', j.attempt, 'idempotencyKey', j.idempotency_key, 'dependsOn', to_jsonb(j.depends_on),"
    " 'workerId', j.worker_id, 'leaseUntil', " TS("j.lease_until") ", 'cancelRequested', j.cancel_requested,"
    " 'error', j.last_error, 'result', j.result, 'createdAt', " TS("j.created_at") ", 'updatedAt', " TS("j.updated_at")
    ") $$;";

/* Version 2: cron schedules and per-queue limits. A cron job is a template row (state PENDING,
 * run_at = its next tick) that the scheduler copies into an ordinary job at each tick
 * (schedule_id names the template); the template itself is never queued. */
static const char SCHEMA_V2[] =
    "ALTER TABLE jobs ADD COLUMN cron text, ADD COLUMN time_zone text, ADD COLUMN schedule_id bigint;"
    "CREATE INDEX jobs_cron_due ON jobs (run_at) WHERE cron IS NOT NULL AND state = 'PENDING';"
    "CREATE INDEX jobs_active ON jobs (queue) WHERE state IN ('QUEUED', 'RUNNING');"
    "CREATE INDEX jobs_schedule ON jobs (schedule_id, id) WHERE schedule_id IS NOT NULL;"
    "ALTER FUNCTION jobs_json(jobs) RENAME TO jobs_json_v1;"
    "CREATE FUNCTION jobs_json(j jobs) RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT jobs_json_v1(j) ||"
    " jsonb_build_object('cron', j.cron, 'timeZone', j.time_zone, 'scheduleId', j.schedule_id) $$;";

static PGresult *run(jobs_conn_t *s, const char *sql, int n, const char *const *params, sb_err_t *err)
{
    /* Without parameters the simple protocol is used, which allows several statements. */
    char name[16];
    const char *stmt = n == 0 ? NULL : prepared_name(s, sql, n, name, sizeof(name));
    PGresult *r = n == 0  ? PQexec(s->conn, sql)
                  : stmt ? PQexecPrepared(s->conn, stmt, n, params, NULL, NULL, 0)
                         : PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    sb_err_set(err, SB_EIO, "PostgreSQL: %s", m ? m : PQerrorMessage(s->conn));
    PQclear(r);
    /* A broken connection is re-established for the next call. */
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        PQreset(s->conn);
        forget_prepared(s); /* they died with the old session */
    }
    return NULL;
}

static int exec(jobs_conn_t *s, const char *sql, sb_err_t *err)
{
    PGresult *r = run(s, sql, 0, NULL, err);
    if (!r) return SB_EIO;
    PQclear(r);
    return 0;
}

static void rollback(jobs_conn_t *s)
{
    PQclear(PQexec(s->conn, "ROLLBACK"));
}

static int create_schema(jobs_conn_t *s, sb_err_t *err)
{
    if (exec(s, "BEGIN; SELECT pg_advisory_xact_lock(7235001);"
                "CREATE TABLE IF NOT EXISTS streambus_jobs_schema (version int NOT NULL)",
             err) < 0) {
        rollback(s);
        return SB_EIO;
    }
    PGresult *r = run(s, "SELECT coalesce(max(version), 0) FROM streambus_jobs_schema", 0, NULL, err);
    if (!r) {
        rollback(s);
        return SB_EIO;
    }
    int version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    int rc = 0;
    if (version > JOBS_SCHEMA_VERSION) {
        rc = sb_err_set(err, SB_EINVAL, "job schema version %d is newer than this binary's (%d)", version,
                        JOBS_SCHEMA_VERSION);
    } else {
        if (version < 1) {
            rc = exec(s, SCHEMA_V1, err);
            if (rc == 0) rc = exec(s, "INSERT INTO streambus_jobs_schema VALUES (1)", err);
        }
        if (rc == 0 && version < 2) {
            rc = exec(s, SCHEMA_V2, err);
            if (rc == 0) rc = exec(s, "INSERT INTO streambus_jobs_schema VALUES (2)", err);
        }
    }
    if (rc < 0) {
        rollback(s);
        return rc;
    }
    return exec(s, "COMMIT", err);
}

jobs_store_t *jobs_store_open_pool(const char *conninfo, int nconns, sb_err_t *err)
{
    jobs_store_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->freed, NULL);
    s->conns = calloc((size_t)(nconns > 0 ? nconns : 1), sizeof(*s->conns));
    if (!s->conns) {
        jobs_store_free(s);
        return NULL;
    }
    for (s->nconns = 0; s->nconns < (nconns > 0 ? nconns : 1); s->nconns++) {
        jobs_conn_t *c = &s->conns[s->nconns];
        c->conn = PQconnectdb(conninfo);
        if (PQstatus(c->conn) != CONNECTION_OK) {
            char m[400];
            snprintf(m, sizeof(m), "%s", PQerrorMessage(c->conn));
            m[strcspn(m, "\n")] = 0;
            sb_err_set(err, SB_EIO, "PostgreSQL: %s", m);
            s->nconns++;
            jobs_store_free(s);
            return NULL;
        }
        PQclear(PQexec(c->conn, "SET client_min_messages = warning"));
        if (s->nconns == 0 && create_schema(c, err) < 0) {
            s->nconns++;
            jobs_store_free(s);
            return NULL;
        }
    }
    return s;
}

jobs_store_t *jobs_store_open(const char *conninfo, sb_err_t *err)
{
    return jobs_store_open_pool(conninfo, 1, err);
}

void jobs_store_free(jobs_store_t *s)
{
    if (!s) return;
    for (int i = 0; i < s->nconns; i++) {
        PQfinish(s->conns[i].conn);
        forget_prepared(&s->conns[i]);
    }
    free(s->conns);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int jobs_store_ping(jobs_store_t *s, sb_err_t *err)
{
    jobs_conn_t *c = conn_acquire(s);
    int rc = exec(c, "SELECT 1", err);
    conn_release(s, c);
    return rc;
}

/* Parses the first column of the first row as JSON into *out. */
static int first_json(PGresult *r, json_t **out, sb_err_t *err)
{
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0)) return SB_ENOENT;
    *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    return *out ? 0 : sb_err_set(err, SB_ECORRUPT, "PostgreSQL returned malformed JSON");
}

static int json_query(jobs_conn_t *s, const char *sql, int n, const char *const *params, json_t **out,
                      sb_err_t *err)
{
    PGresult *r = run(s, sql, n, params, err);
    if (!r) return SB_EIO;
    int rc = first_json(r, out, err);
    PQclear(r);
    return rc;
}

static int submit_locked(jobs_conn_t *c, const job_spec_t *spec, json_t **job, bool *existed, sb_err_t *err)
{
    char prio[16], retries[16], timeout[16], runat[32], deps[JOB_MAX_DEPS * 22 + 4];
    snprintf(prio, sizeof(prio), "%d", spec->priority);
    snprintf(retries, sizeof(retries), "%d", spec->max_retries);
    snprintf(timeout, sizeof(timeout), "%d", spec->timeout_s);
    snprintf(runat, sizeof(runat), "%lld", (long long)spec->run_at_ms);
    size_t o = (size_t)snprintf(deps, sizeof(deps), "{");
    for (int i = 0; i < spec->ndeps; i++)
        o += (size_t)snprintf(deps + o, sizeof(deps) - o, "%s%lld", i ? "," : "", (long long)spec->depends_on[i]);
    snprintf(deps + o, sizeof(deps) - o, "}");
    char *payload = json_dumps(spec->payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!payload) return SB_ENOMEM;
    const char *p[] = {spec->name, spec->type, spec->queue, payload, prio, retries, timeout, runat,
                       spec->idempotency_key, deps, spec->cron, spec->time_zone};
    int rc = 0;
    *existed = false;
    if (spec->ndeps > 0) {
        PGresult *r = run(c, "SELECT array_length($1::bigint[], 1) - count(*) FROM jobs WHERE id = ANY($1::bigint[])", 1,
                          &p[9], err);
        if (!r) rc = SB_EIO;
        else if (atoi(PQgetvalue(r, 0, 0)) != 0)
            rc = sb_err_set(err, SB_ENOENT, "dependsOn names a job that does not exist");
        PQclear(r);
    }
    if (rc == 0) {
        rc = json_query(c,
                        "INSERT INTO jobs (name, type, queue, payload, priority, max_retries, attempt_limit, timeout_s,"
                        " run_at, idempotency_key, depends_on, cron, time_zone) VALUES ($1, $2, $3, $4::jsonb, $5::int, $6::int,"
                        " $6::int + 1, $7::int, CASE WHEN $8::bigint = 0 THEN now() ELSE to_timestamp($8::bigint / 1000.0) END,"
                        " NULLIF($9, ''), $10::bigint[], NULLIF($11, ''), CASE WHEN $11 <> '' THEN $12 END)"
                        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING jobs_json(jobs)",
                        12, p, job, err);
        if (rc == SB_ENOENT) {
            /* The key exists: answer with the job it names, not a second one. */
            *existed = true;
            rc = json_query(c, "SELECT jobs_json(j) FROM jobs j WHERE idempotency_key = $1", 1, &p[8], job, err);
        }
    }
    free(payload);
    return rc;
}

int jobs_store_submit(jobs_store_t *s, const job_spec_t *spec, json_t **job, bool *existed, sb_err_t *err)
{
    jobs_conn_t *c = conn_acquire(s);
    int rc = submit_locked(c, spec, job, existed, err);
    conn_release(s, c);
    return rc;
}

int jobs_store_submit_batch(jobs_store_t *s, const job_spec_t *specs, size_t n, json_t *jobs, sb_err_t *err)
{
    jobs_conn_t *c = conn_acquire(s);
    int rc = exec(c, "BEGIN", err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *job = NULL;
        bool existed;
        rc = submit_locked(c, &specs[i], &job, &existed, err);
        if (rc == 0) json_array_append_new(jobs, job);
    }
    if (rc == 0) rc = exec(c, "COMMIT", err);
    else rollback(c);
    conn_release(s, c);
    if (rc < 0) json_array_clear(jobs);
    return rc;
}

int jobs_store_get(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    const char *p[] = {ids};
    jobs_conn_t *c = conn_acquire(s);
    int rc = json_query(c,
                        "SELECT jobs_json(j) || jsonb_build_object('attempts', (SELECT coalesce(jsonb_agg("
                        " jsonb_build_object('attempt', t.attempt, 'from', t.from_state, 'to', t.to_state,"
                        " 'workerId', t.worker_id, 'at', " TS("t.at") ", 'error', t.error) ORDER BY t.id), '[]')"
                        " FROM job_transitions t WHERE t.job_id = j.id)) FROM jobs j WHERE j.id = $1::bigint",
                        1, p, job, err);
    conn_release(s, c);
    return rc;
}

int jobs_store_list(jobs_store_t *s, const char *state, const char *type, const char *queue, int64_t cursor,
                    int limit, json_t **page, sb_err_t *err)
{
    char cur[24], lim[16];
    snprintf(cur, sizeof(cur), "%lld", (long long)cursor);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *p[] = {cur, state, type, queue, lim};
    jobs_conn_t *c = conn_acquire(s);
    int rc = json_query(c,
                        "SELECT jsonb_build_object('jobs', coalesce(jsonb_agg(jobs_json(j) ORDER BY j.id), '[]'),"
                        " 'nextCursor', CASE WHEN count(*) = $5::int THEN max(j.id) END) FROM (SELECT * FROM jobs"
                        " WHERE id > $1::bigint AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR type = $3)"
                        " AND ($4::text IS NULL OR queue = $4) ORDER BY id LIMIT $5::int) j",
                        5, p, page, err);
    conn_release(s, c);
    return rc;
}

/* Answers SB_ENOENT when no job has the id, else SB_EINVAL with the state it is in. */
static int explain_state(jobs_conn_t *s, const char *id, const char *what, sb_err_t *err)
{
    const char *p[] = {id};
    PGresult *r = run(s, "SELECT state FROM jobs WHERE id = $1::bigint", 1, p, err);
    if (!r) return SB_EIO;
    int rc = PQntuples(r) == 0 ? sb_err_set(err, SB_ENOENT, "no job %s", id)
                               : sb_err_set(err, SB_EINVAL, "job %s is %s and cannot be %s", id, PQgetvalue(r, 0, 0),
                                            what);
    PQclear(r);
    return rc;
}

int jobs_store_cancel(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    const char *p[] = {ids};
    jobs_conn_t *c = conn_acquire(s);
    /* A running job stays RUNNING until its worker has stopped the work; the worker sees the
     * request on its next heartbeat (or the lease expiry ends it as CANCELLED). */
    int rc = json_query(c,
                        "UPDATE jobs SET cancel_requested = true, updated_at = now(),"
                        " last_error = CASE WHEN state = 'RUNNING' THEN last_error ELSE 'cancelled by request' END,"
                        " state = CASE WHEN state = 'RUNNING' THEN state ELSE 'CANCELLED' END"
                        " WHERE id = $1::bigint AND state NOT IN ('COMPLETED', 'DEAD_LETTER', 'CANCELLED')"
                        " RETURNING jobs_json(jobs)",
                        1, p, job, err);
    if (rc == SB_ENOENT) rc = explain_state(c, ids, "cancelled", err);
    conn_release(s, c);
    return rc;
}

int jobs_store_retry(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    const char *p[] = {ids};
    jobs_conn_t *c = conn_acquire(s);
    int rc = json_query(c,
                        "UPDATE jobs SET state = 'PENDING', attempt_limit = attempt + max_retries + 1,"
                        " cancel_requested = false, last_error = NULL, worker_id = NULL, run_at = now(),"
                        " updated_at = now() WHERE id = $1::bigint AND state IN ('DEAD_LETTER', 'CANCELLED')"
                        " RETURNING jobs_json(jobs)",
                        1, p, job, err);
    if (rc == SB_ENOENT) rc = explain_state(c, ids, "retried (only DEAD_LETTER or CANCELLED jobs can)", err);
    conn_release(s, c);
    return rc;
}

int jobs_store_stats(jobs_store_t *s, json_t **stats, sb_err_t *err)
{
    jobs_conn_t *c = conn_acquire(s);
    int rc = json_query(
        c,
        "SELECT jsonb_build_object("
        " 'byStatus', (SELECT coalesce(jsonb_object_agg(state, n), '{}') FROM (SELECT state, count(*) n FROM jobs GROUP BY state) x),"
        " 'byType', (SELECT coalesce(jsonb_object_agg(type, n), '{}') FROM (SELECT type, count(*) n FROM jobs GROUP BY type) x),"
        " 'byQueue', (SELECT coalesce(jsonb_object_agg(queue, n), '{}') FROM (SELECT queue, count(*) n FROM jobs GROUP BY queue) x),"
        " 'queueDepth', (SELECT count(*) FROM jobs WHERE state IN ('QUEUED', 'PENDING', 'RETRYING') AND run_at <= now()"
        " AND cron IS NULL),"
        " 'running', (SELECT count(*) FROM jobs WHERE state = 'RUNNING'),"
        " 'leaseExpiries', (SELECT count(*) FROM job_transitions WHERE error = 'lease expired' AND to_state = 'FAILED'))",
        0, NULL, stats, err);
    conn_release(s, c);
    return rc;
}

/* Appends the rows (id, attempt, queue) of a queuing query to out. */
static void collect_dispatch(PGresult *r, const jobs_queue_allow_t *allow, int nallow, jobs_dispatch_t *out, int cap,
                             int *n)
{
    for (int i = 0; r && i < PQntuples(r) && *n < cap; i++, (*n)++) {
        out[*n] = (jobs_dispatch_t){atoll(PQgetvalue(r, i, 0)), atoi(PQgetvalue(r, i, 1)), -1};
        for (int q = 0; q < nallow; q++)
            if (strcmp(allow[q].queue, PQgetvalue(r, i, 2)) == 0) out[*n].limit = q;
    }
}

/* The due jobs of the plain query, or with limits: per queue at most min(concurrency − jobs
 * already QUEUED or RUNNING, tokens), counted in priority order within the queue. */
static const char QUEUE_DUE_PLAIN[] =
    "WITH due AS (SELECT id FROM jobs j WHERE state IN ('PENDING', 'RETRYING') AND run_at <= now() AND cron IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM jobs d WHERE d.id = ANY(j.depends_on) AND d.state <> 'COMPLETED')"
    " ORDER BY priority DESC, run_at, id LIMIT $1::int FOR UPDATE SKIP LOCKED)";
static const char QUEUE_DUE_LIMITED[] =
    "WITH lim AS (SELECT * FROM unnest($2::text[], $3::int[], $4::int[]) AS l(queue, conc, tokens)),"
    " act AS (SELECT queue, count(*) n FROM jobs WHERE state IN ('QUEUED', 'RUNNING') AND queue = ANY($2::text[])"
    " GROUP BY queue),"
    " cand AS (SELECT id, queue, priority, run_at, row_number() OVER (PARTITION BY queue ORDER BY priority DESC,"
    " run_at, id) rn FROM jobs j WHERE state IN ('PENDING', 'RETRYING') AND run_at <= now() AND cron IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM jobs d WHERE d.id = ANY(j.depends_on) AND d.state <> 'COMPLETED')),"
    " pick AS (SELECT c.id FROM cand c LEFT JOIN lim l ON l.queue = c.queue LEFT JOIN act a ON a.queue = c.queue"
    " WHERE l.queue IS NULL OR c.rn <= least(CASE WHEN l.conc > 0 THEN l.conc - coalesce(a.n, 0) END,"
    " CASE WHEN l.tokens >= 0 THEN l.tokens END, 2147483647)"
    " ORDER BY c.priority DESC, c.run_at, c.id LIMIT $1::int),"
    " due AS (SELECT id FROM jobs WHERE id IN (SELECT id FROM pick) FOR UPDATE SKIP LOCKED)";
static const char QUEUE_DUE_UPDATE[] =
    ", upd AS (UPDATE jobs SET state = 'QUEUED', attempt = attempt + 1, queued_at = now(),"
    " worker_id = NULL, last_error = NULL, updated_at = now() FROM due WHERE jobs.id = due.id"
    " RETURNING jobs.id, jobs.attempt, jobs.priority, jobs.queue)"
    " SELECT id, attempt, queue FROM upd ORDER BY priority DESC, id";

/* A PostgreSQL array literal of the queue names (names are config values: quoted, escaped). */
static void text_array(const jobs_queue_allow_t *allow, int n, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "{");
    for (int i = 0; i < n && o < cap; i++) {
        o += (size_t)snprintf(out + o, cap - o, "%s\"", i ? "," : "");
        for (const char *c = allow[i].queue; *c && o + 3 < cap; c++) {
            if (*c == '"' || *c == '\\') out[o++] = '\\';
            out[o++] = *c;
        }
        o += (size_t)snprintf(out + o, cap > o ? cap - o : 0, "\"");
    }
    if (o < cap) snprintf(out + o, cap - o, "}");
}

int jobs_store_queue_due(jobs_store_t *s, int64_t requeue_after_ms, const jobs_queue_allow_t *allow, int nallow,
                         jobs_dispatch_t *out, int cap, int *n, sb_err_t *err)
{
    char lim[16], requeue[24], names[JOBS_MAX_QUEUES * 140 + 4], conc[JOBS_MAX_QUEUES * 12 + 4],
        tokens[JOBS_MAX_QUEUES * 12 + 4];
    snprintf(lim, sizeof(lim), "%d", cap);
    snprintf(requeue, sizeof(requeue), "%lld", (long long)requeue_after_ms);
    if (nallow > JOBS_MAX_QUEUES) nallow = JOBS_MAX_QUEUES;
    text_array(allow, nallow, names, sizeof(names));
    size_t oc = (size_t)snprintf(conc, sizeof(conc), "{"), ot = (size_t)snprintf(tokens, sizeof(tokens), "{");
    for (int i = 0; i < nallow; i++) {
        oc += (size_t)snprintf(conc + oc, sizeof(conc) - oc, "%s%d", i ? "," : "", allow[i].concurrency);
        ot += (size_t)snprintf(tokens + ot, sizeof(tokens) - ot, "%s%d", i ? "," : "", allow[i].tokens);
    }
    snprintf(conc + oc, sizeof(conc) - oc, "}");
    snprintf(tokens + ot, sizeof(tokens) - ot, "}");
    char sql[sizeof(QUEUE_DUE_LIMITED) + sizeof(QUEUE_DUE_UPDATE)];
    snprintf(sql, sizeof(sql), "%s%s", nallow ? QUEUE_DUE_LIMITED : QUEUE_DUE_PLAIN, QUEUE_DUE_UPDATE);
    const char *p[] = {lim, names, conc, tokens};
    *n = 0;
    jobs_conn_t *c = conn_acquire(s);
    PGresult *r = run(c, sql, nallow ? 4 : 1, p, err);
    int rc = r ? 0 : SB_EIO;
    collect_dispatch(r, allow, nallow, out, cap, n);
    PQclear(r);
    if (rc == 0 && *n < cap) {
        const char *q[] = {lim, requeue};
        r = run(c,
                "UPDATE jobs SET queued_at = now() WHERE id IN (SELECT id FROM jobs WHERE state = 'QUEUED'"
                " AND queued_at < now() - make_interval(secs => $2::bigint / 1000.0) LIMIT $1::int"
                " FOR UPDATE SKIP LOCKED) RETURNING id, attempt, queue",
                2, q, err);
        rc = r ? 0 : SB_EIO;
        int before = *n;
        collect_dispatch(r, allow, nallow, out, cap, n);
        /* A re-produced task is already counted as active; it spends no token. */
        for (int i = before; i < *n; i++) out[i].limit = -1;
        PQclear(r);
    }
    conn_release(s, c);
    return rc;
}

int jobs_store_fire_cron(jobs_store_t *s, int64_t now_ms, int *n, sb_err_t *err)
{
    *n = 0;
    jobs_conn_t *c = conn_acquire(s);
    int rc = exec(c, "BEGIN", err);
    PGresult *r = rc == 0 ? run(c,
                                "SELECT id, cron, time_zone, (extract(epoch FROM run_at) * 1000)::bigint FROM jobs"
                                " WHERE cron IS NOT NULL AND state = 'PENDING' AND run_at <= now() ORDER BY run_at"
                                " LIMIT 100 FOR UPDATE SKIP LOCKED",
                                0, NULL, err)
                          : NULL;
    if (!r) rc = SB_EIO;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        int64_t due_ms = atoll(PQgetvalue(r, i, 3)), next = 0;
        cron_expr_t e;
        cron_tz_t *tz = NULL;
        sb_err_t why = {0};
        /* The next tick counts from now, not from the missed one: after downtime a schedule
         * runs once for everything it missed, then keeps its rhythm. */
        int64_t from = (now_ms > due_ms ? now_ms : due_ms) / 1000;
        int crc = cron_parse(PQgetvalue(r, i, 1), &e, &why);
        if (crc == 0) crc = cron_tz_load(PQgetvalue(r, i, 2), NULL, &tz, &why);
        if (crc == 0 && cron_next(&e, tz, from, &next) < 0) crc = sb_err_set(&why, SB_ENOENT, "cron never fires again");
        cron_tz_free(tz);
        PGresult *x = run(c,
                          "INSERT INTO jobs (name, type, queue, payload, priority, max_retries, attempt_limit,"
                          " timeout_s, run_at, schedule_id) SELECT name, type, queue, payload, priority, max_retries,"
                          " max_retries + 1, timeout_s, now(), id FROM jobs WHERE id = $1::bigint",
                          1, &id, err);
        if (!x) rc = SB_EIO;
        PQclear(x);
        if (rc < 0) break;
        char nexts[24], msg[600];
        snprintf(nexts, sizeof(nexts), "%lld", (long long)next * 1000);
        snprintf(msg, sizeof(msg), "schedule stopped: %s", why.msg);
        const char *q[] = {id, nexts, msg};
        /* A schedule whose zone vanished from the TZ database cannot compute its next tick: it
         * ends visibly rather than silently never firing. */
        x = run(c,
                crc == 0 ? "UPDATE jobs SET run_at = to_timestamp($2::bigint / 1000.0), updated_at = now()"
                           " WHERE id = $1::bigint AND $3::text IS NOT NULL"
                         : "UPDATE jobs SET state = 'DEAD_LETTER', last_error = $3, updated_at = now()"
                           " WHERE id = $1::bigint AND $2::text IS NOT NULL",
                3, q, err);
        if (!x) rc = SB_EIO;
        PQclear(x);
        if (rc == 0) (*n)++;
    }
    PQclear(r);
    if (rc == 0) rc = exec(c, "COMMIT", err);
    else rollback(c);
    conn_release(s, c);
    return rc;
}

int jobs_store_fail_orphans(jobs_store_t *s, int *n, sb_err_t *err)
{
    jobs_conn_t *c = conn_acquire(s);
    PGresult *r = run(c,
                      "UPDATE jobs j SET state = 'DEAD_LETTER', updated_at = now(),"
                      " last_error = 'dependency ' || d.id || ' ended ' || d.state FROM jobs d"
                      " WHERE j.state IN ('PENDING', 'RETRYING') AND d.id = ANY(j.depends_on)"
                      " AND d.state IN ('DEAD_LETTER', 'CANCELLED')",
                      0, NULL, err);
    *n = r ? atoi(PQcmdTuples(r)) : 0;
    PQclear(r);
    conn_release(s, c);
    return r ? 0 : SB_EIO;
}

/* The end of an attempt that may be retried (FAILED), or an expired lease's CANCELLED, inside
 * the caller's transaction and lock. COMPLETED and a worker's CANCELLED go through
 * jobs_store_end_many. */
static int finish_locked(jobs_conn_t *s, const char *ids, const char *att, const char *worker,
                         jobs_outcome_t outcome, const char *error, int64_t base_ms, int64_t max_ms, sb_err_t *err)
{
    const char *p[] = {ids, att, worker, error};
    PGresult *r;
    if (outcome == JOB_OUTCOME_CANCELLED) {
        r = run(s,
                "UPDATE jobs SET state = 'CANCELLED', last_error = coalesce($4, 'cancelled by request'),"
                " lease_until = NULL, updated_at = now() WHERE id = $1::bigint AND attempt = $2::int"
                " AND state = 'RUNNING' AND worker_id = $3",
                4, p, err);
        if (!r) return SB_EIO;
        int rows = atoi(PQcmdTuples(r));
        PQclear(r);
        return rows == 1 ? 0 : SB_ENOENT;
    }
    r = run(s,
            "UPDATE jobs SET state = 'FAILED', last_error = $4, lease_until = NULL, updated_at = now()"
            " WHERE id = $1::bigint AND attempt = $2::int AND state = 'RUNNING' AND worker_id = $3"
            " RETURNING attempt >= attempt_limit, cancel_requested, attempt",
            4, p, err);
    if (!r) return SB_EIO;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return SB_ENOENT;
    }
    bool last = PQgetvalue(r, 0, 0)[0] == 't', cancel = PQgetvalue(r, 0, 1)[0] == 't';
    int attempt = atoi(PQgetvalue(r, 0, 2));
    PQclear(r);
    char delay[24];
    snprintf(delay, sizeof(delay), "%lld", (long long)job_backoff_ms(attempt, base_ms, max_ms, drand48()));
    const char *q[] = {ids, delay};
    r = run(s,
            cancel ? "UPDATE jobs SET state = 'CANCELLED', updated_at = now() WHERE id = $1::bigint AND $2::text IS NOT NULL"
            : last ? "UPDATE jobs SET state = 'DEAD_LETTER', updated_at = now() WHERE id = $1::bigint AND $2::text IS NOT NULL"
                   : "UPDATE jobs SET state = 'RETRYING', run_at = now() + make_interval(secs => $2::bigint / 1000.0),"
                     " updated_at = now() WHERE id = $1::bigint",
            2, q, err);
    if (!r) return SB_EIO;
    PQclear(r);
    return 0;
}

int jobs_store_expire_leases(jobs_store_t *s, int64_t backoff_base_ms, int64_t backoff_max_ms, int *n,
                             sb_err_t *err)
{
    *n = 0;
    jobs_conn_t *c = conn_acquire(s);
    int rc = exec(c, "BEGIN", err);
    PGresult *r = rc == 0 ? run(c,
                                "SELECT id, attempt, worker_id, cancel_requested FROM jobs WHERE state = 'RUNNING'"
                                " AND lease_until < now() ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED",
                                0, NULL, err)
                          : NULL;
    if (!r) rc = SB_EIO;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        bool cancel = PQgetvalue(r, i, 3)[0] == 't';
        rc = finish_locked(c, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                           cancel ? JOB_OUTCOME_CANCELLED : JOB_OUTCOME_FAILED,
                           cancel ? "cancelled; the worker's lease expired" : "lease expired", backoff_base_ms,
                           backoff_max_ms, err);
        if (rc == 0) (*n)++;
    }
    PQclear(r);
    if (rc == 0) rc = exec(c, "COMMIT", err);
    else rollback(c);
    conn_release(s, c);
    return rc;
}

/* PostgreSQL array literals for the batch statements: {1,2} and {"a\"b",NULL}. */
static void array_open(sb_wr_t *w)
{
    sb_wr_bytes(w, "{", 1);
}

static void array_int(sb_wr_t *w, int i, int64_t v)
{
    char num[24];
    int len = snprintf(num, sizeof(num), "%s%lld", i ? "," : "", (long long)v);
    sb_wr_bytes(w, num, (size_t)len);
}

static void array_text(sb_wr_t *w, int i, const char *v)
{
    if (i) sb_wr_bytes(w, ",", 1);
    if (!v) {
        sb_wr_bytes(w, "NULL", 4);
        return;
    }
    sb_wr_bytes(w, "\"", 1);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\') sb_wr_bytes(w, "\\", 1);
        sb_wr_bytes(w, c, 1);
    }
    sb_wr_bytes(w, "\"", 1);
}

/* Closes the literal and returns it as a C string (NULL when out of memory). */
static const char *array_close(sb_wr_t *w)
{
    sb_wr_bytes(w, "}", 2); /* with the terminating NUL */
    return w->oom ? NULL : (const char *)w->buf;
}

static int batch_failed(int n, int *rcs, sb_err_t *err, const char *what)
{
    for (int i = 0; i < n; i++) rcs[i] = SB_EIO;
    if (!err->msg[0]) sb_err_set(err, SB_ENOMEM, "%s: out of memory", what);
    return SB_EIO;
}

/* The CTE locks the rows in id order before the UPDATE touches them: two workers' batches that
 * share a task (a re-sent duplicate) then queue behind each other instead of deadlocking. The
 * UPDATE repeats the conditions, which PostgreSQL re-checks on a row changed meanwhile. (Its
 * generic plan, checked with EXPLAIN on 20,000 rows, reaches the rows by the primary key.) */
#define CLAIM_MANY_SQL \
    "WITH t AS (SELECT DISTINCT id, attempt FROM unnest($3::bigint[], $4::int[]) AS u(id, attempt))," \
    " c AS (SELECT j.id FROM jobs j JOIN t ON j.id = t.id AND j.attempt = t.attempt" \
    " WHERE j.state = 'QUEUED' AND NOT j.cancel_requested ORDER BY j.id FOR UPDATE OF j)" \
    " UPDATE jobs SET state = 'RUNNING', worker_id = $1," \
    " lease_until = now() + make_interval(secs => $2::bigint / 1000.0), updated_at = now() FROM c" \
    " WHERE jobs.id = c.id AND jobs.state = 'QUEUED' AND NOT jobs.cancel_requested" \
    " RETURNING jobs.id, jobs.attempt, jobs.type, jobs.payload::text, jobs.timeout_s, jobs.queue"

int jobs_store_claim_many(jobs_store_t *s, const char *worker, int64_t lease_ms, int n, const int64_t *ids,
                          const int *attempts, jobs_claim_t *claims, int *rcs, sb_err_t *err)
{
    sb_wr_t wi, wa;
    sb_wr_init(&wi, 64);
    sb_wr_init(&wa, 64);
    array_open(&wi);
    array_open(&wa);
    for (int i = 0; i < n; i++) {
        array_int(&wi, i, ids[i]);
        array_int(&wa, i, attempts[i]);
        rcs[i] = SB_ENOENT;
    }
    char lease[24];
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    const char *p[] = {worker, lease, array_close(&wi), array_close(&wa)};
    int rc = 0;
    if (!p[2] || !p[3]) rc = batch_failed(n, rcs, err, "claim");
    PGresult *r = NULL;
    if (rc == 0) {
        jobs_conn_t *c = conn_acquire(s);
        r = run(c, CLAIM_MANY_SQL, 4, p, err);
        conn_release(s, c);
        if (!r) rc = batch_failed(n, rcs, err, "claim");
    }
    for (int row = 0; r && row < PQntuples(r); row++) {
        int64_t id = atoll(PQgetvalue(r, row, 0));
        int attempt = atoi(PQgetvalue(r, row, 1));
        int i = 0;
        while (i < n && !(ids[i] == id && attempts[i] == attempt && rcs[i] == SB_ENOENT)) i++;
        if (i == n) continue; /* cannot happen: the statement returns only the tasks it was given */
        jobs_claim_t *cl = &claims[i];
        snprintf(cl->type, sizeof(cl->type), "%s", PQgetvalue(r, row, 2));
        cl->payload = json_loads(PQgetvalue(r, row, 3), 0, NULL);
        cl->timeout_s = atoi(PQgetvalue(r, row, 4));
        snprintf(cl->queue, sizeof(cl->queue), "%s", PQgetvalue(r, row, 5));
        rcs[i] = cl->payload ? 0 : SB_ECORRUPT;
        if (!cl->payload) sb_err_set(err, SB_ECORRUPT, "job %lld: stored payload is not JSON", (long long)id);
    }
    PQclear(r);
    sb_wr_deinit(&wi);
    sb_wr_deinit(&wa);
    return rc;
}

int jobs_store_heartbeat(jobs_store_t *s, int64_t id, int attempt, const char *worker, int64_t lease_ms,
                         bool *cancel, sb_err_t *err)
{
    char ids[24], att[16], lease[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    snprintf(att, sizeof(att), "%d", attempt);
    snprintf(lease, sizeof(lease), "%lld", (long long)lease_ms);
    const char *p[] = {ids, att, worker, lease};
    jobs_conn_t *c = conn_acquire(s);
    PGresult *r = run(c,
                      "UPDATE jobs SET lease_until = now() + make_interval(secs => $4::bigint / 1000.0)"
                      " WHERE id = $1::bigint AND attempt = $2::int AND state = 'RUNNING' AND worker_id = $3"
                      " RETURNING cancel_requested",
                      4, p, err);
    int rc = r ? (PQntuples(r) == 1 ? 0 : SB_ENOENT) : SB_EIO;
    if (rc == 0) *cancel = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    conn_release(s, c);
    return rc;
}

int jobs_store_finish(jobs_store_t *s, int64_t id, int attempt, const char *worker, jobs_outcome_t outcome,
                      const char *error, const json_t *result, int64_t backoff_base_ms, int64_t backoff_max_ms,
                      sb_err_t *err)
{
    if (outcome != JOB_OUTCOME_FAILED) {
        /* One UPDATE (its trigger writes the transition in the same statement), atomic without
         * BEGIN/COMMIT. */
        jobs_end_t end = {.id = id, .attempt = attempt, .outcome = outcome, .error = error, .result = result};
        int rc1 = SB_EIO, rc = jobs_store_end_many(s, worker, 1, &end, &rc1, err);
        return rc < 0 ? rc : rc1;
    }
    /* A failure is two UPDATEs (FAILED, then RETRYING/DEAD_LETTER/CANCELLED): one transaction. */
    char ids[24], att[16];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    snprintf(att, sizeof(att), "%d", attempt);
    jobs_conn_t *c = conn_acquire(s);
    int rc = exec(c, "BEGIN", err);
    if (rc == 0) rc = finish_locked(c, ids, att, worker, outcome, error, backoff_base_ms, backoff_max_ms, err);
    if (rc == 0) rc = exec(c, "COMMIT", err);
    else rollback(c);
    conn_release(s, c);
    return rc;
}

/* Locks in id order like CLAIM_MANY_SQL. A CANCELLED end keeps its reason as the error the
 * transition records; a COMPLETED one clears it and stores the result. */
#define END_MANY_SQL \
    "WITH r AS (SELECT * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[], $6::text[])" \
    " AS u(id, attempt, state, error, result))," \
    " c AS (SELECT j.id FROM jobs j JOIN r ON j.id = r.id AND j.attempt = r.attempt" \
    " WHERE j.state = 'RUNNING' AND j.worker_id = $1 ORDER BY j.id FOR UPDATE OF j)" \
    " UPDATE jobs SET state = r.state, result = r.result::jsonb," \
    " last_error = CASE WHEN r.state = 'CANCELLED' THEN coalesce(r.error, 'cancelled by request') END," \
    " lease_until = NULL, updated_at = now() FROM c JOIN r ON r.id = c.id" \
    " WHERE jobs.id = c.id AND jobs.attempt = r.attempt AND jobs.state = 'RUNNING' AND jobs.worker_id = $1" \
    " RETURNING jobs.id, jobs.attempt"

int jobs_store_end_many(jobs_store_t *s, const char *worker, int n, const jobs_end_t *ends, int *rcs, sb_err_t *err)
{
    sb_wr_t w[5];
    for (int k = 0; k < 5; k++) {
        sb_wr_init(&w[k], 64);
        array_open(&w[k]);
    }
    for (int i = 0; i < n; i++) {
        bool ok = ends[i].outcome == JOB_OUTCOME_OK;
        char *res = ok && ends[i].result ? json_dumps(ends[i].result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        array_int(&w[0], i, ends[i].id);
        array_int(&w[1], i, ends[i].attempt);
        array_text(&w[2], i, ok ? "COMPLETED" : "CANCELLED");
        array_text(&w[3], i, ok ? NULL : ends[i].error);
        array_text(&w[4], i, res);
        free(res);
        rcs[i] = SB_ENOENT;
    }
    const char *p[6] = {worker};
    int rc = 0;
    for (int k = 0; k < 5; k++)
        if (!(p[k + 1] = array_close(&w[k]))) rc = SB_ENOMEM;
    PGresult *r = NULL;
    if (rc < 0) rc = batch_failed(n, rcs, err, "recording results");
    else {
        jobs_conn_t *c = conn_acquire(s);
        r = run(c, END_MANY_SQL, 6, p, err);
        conn_release(s, c);
        if (!r) rc = batch_failed(n, rcs, err, "recording results");
    }
    for (int row = 0; r && row < PQntuples(r); row++) {
        int64_t id = atoll(PQgetvalue(r, row, 0));
        int attempt = atoi(PQgetvalue(r, row, 1));
        for (int i = 0; i < n; i++)
            if (ends[i].id == id && ends[i].attempt == attempt) rcs[i] = 0;
    }
    PQclear(r);
    for (int k = 0; k < 5; k++) sb_wr_deinit(&w[k]);
    return rc;
}

/* Buckets of the time-in-queue and run-time histograms, in seconds. */
static const double JOB_SECONDS_BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
#define JOB_SECONDS_NBUCKETS (sizeof(JOB_SECONDS_BUCKETS) / sizeof(JOB_SECONDS_BUCKETS[0]))

/* Writes one counter or gauge family from rows (label values..., value) of a query. */
static void write_rows(sb_wr_t *out, PGresult *r, const char *name, const char *help, metrics_type_t type,
                       const char *const *label_names, int nlabels)
{
    metrics_write_family(out, name, help, type);
    for (int i = 0; i < PQntuples(r); i++) {
        metrics_label_t labels[4];
        for (int l = 0; l < nlabels; l++) labels[l] = (metrics_label_t){label_names[l], PQgetvalue(r, i, l)};
        metrics_write_sample(out, name, labels, (size_t)nlabels, atof(PQgetvalue(r, i, nlabels)));
    }
}

int jobs_store_metrics(jobs_store_t *s, sb_wr_t *out, sb_err_t *err)
{
    static const char *const tq[] = {"type", "queue"};
    static const char *const q[] = {"queue"};
    static const struct {
        const char *name, *help, *sql;
        metrics_type_t type;
        int nlabels;
    } families[] = {
        {"streambus_jobs_submitted_total", "Jobs submitted (a cron schedule's runs count, the schedule does not)",
         "SELECT type, queue, count(*) FROM jobs WHERE cron IS NULL GROUP BY 1, 2", METRICS_COUNTER, 2},
        {"streambus_jobs_completed_total", "Attempts that completed",
         "SELECT j.type, j.queue, count(*) FROM job_transitions t JOIN jobs j ON j.id = t.job_id"
         " WHERE t.to_state = 'COMPLETED' GROUP BY 1, 2",
         METRICS_COUNTER, 2},
        {"streambus_jobs_failed_total", "Attempts that failed (executor error, timeout or lost lease)",
         "SELECT j.type, j.queue, count(*) FROM job_transitions t JOIN jobs j ON j.id = t.job_id"
         " WHERE t.to_state = 'FAILED' GROUP BY 1, 2",
         METRICS_COUNTER, 2},
        {"streambus_jobs_dead_letter_total", "Jobs moved to DEAD_LETTER",
         "SELECT j.type, j.queue, count(*) FROM job_transitions t JOIN jobs j ON j.id = t.job_id"
         " WHERE t.to_state = 'DEAD_LETTER' GROUP BY 1, 2",
         METRICS_COUNTER, 2},
        {"streambus_jobs_queue_depth", "Jobs due but not running: QUEUED, and PENDING/RETRYING whose time has come",
         "SELECT queue, count(*) FROM jobs WHERE cron IS NULL AND (state = 'QUEUED' OR (state IN ('PENDING',"
         " 'RETRYING') AND run_at <= now())) GROUP BY 1",
         METRICS_GAUGE, 1},
        {"streambus_jobs_running", "Jobs RUNNING",
         "SELECT queue, count(*) FROM jobs WHERE state = 'RUNNING' GROUP BY 1", METRICS_GAUGE, 1},
    };
    jobs_conn_t *c = conn_acquire(s);
    int rc = 0;
    for (size_t f = 0; rc == 0 && f < sizeof(families) / sizeof(families[0]); f++) {
        PGresult *r = run(c, families[f].sql, 0, NULL, err);
        if (!r) {
            rc = SB_EIO;
            break;
        }
        write_rows(out, r, families[f].name, families[f].help, families[f].type, families[f].nlabels == 2 ? tq : q,
                   families[f].nlabels);
        PQclear(r);
    }
    /* Lease expiries and worker utilisation: busy workers over workers seen in 5 minutes. */
    PGresult *r = rc == 0 ? run(c,
                                "SELECT (SELECT count(*) FROM job_transitions WHERE to_state = 'FAILED'"
                                " AND error = 'lease expired'),"
                                " (SELECT count(DISTINCT worker_id) FROM jobs WHERE state = 'RUNNING'),"
                                " (SELECT count(DISTINCT worker_id) FROM job_transitions WHERE worker_id IS NOT NULL"
                                " AND at > now() - interval '5 minutes')",
                                0, NULL, err)
                          : NULL;
    if (r) {
        double busy = atof(PQgetvalue(r, 0, 1)), seen = atof(PQgetvalue(r, 0, 2));
        metrics_write_family(out, "streambus_jobs_lease_expiries_total", "Attempts ended by lease expiry",
                             METRICS_COUNTER);
        metrics_write_sample(out, "streambus_jobs_lease_expiries_total", NULL, 0, atof(PQgetvalue(r, 0, 0)));
        metrics_write_family(out, "streambus_jobs_workers_busy", "Workers running a job", METRICS_GAUGE);
        metrics_write_sample(out, "streambus_jobs_workers_busy", NULL, 0, busy);
        metrics_write_family(out, "streambus_jobs_worker_utilisation",
                             "Busy workers / workers that recorded a transition in the last 5 minutes", METRICS_GAUGE);
        metrics_write_sample(out, "streambus_jobs_worker_utilisation", NULL, 0, seen > 0 ? busy / seen : 0);
        PQclear(r);
    } else if (rc == 0) {
        rc = SB_EIO;
    }
    /* Histograms from the transitions: QUEUED → RUNNING is time in queue, RUNNING → its end is
     * run time. Each row: kind, count, sum, then one cumulative count per bucket. */
    char sql[2048];
    size_t o = (size_t)snprintf(sql, sizeof(sql),
                                "WITH t AS (SELECT to_state, at, lag(to_state) OVER w AS prev, lag(at) OVER w AS prev_at"
                                " FROM job_transitions WINDOW w AS (PARTITION BY job_id ORDER BY id)),"
                                " d AS (SELECT CASE WHEN to_state = 'RUNNING' AND prev = 'QUEUED' THEN 'queue'"
                                " WHEN prev = 'RUNNING' THEN 'run' END AS kind, extract(epoch FROM at - prev_at) AS s"
                                " FROM t) SELECT kind, count(*), coalesce(sum(s), 0)");
    for (size_t b = 0; b < JOB_SECONDS_NBUCKETS; b++)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, ", count(*) FILTER (WHERE s <= %g)", JOB_SECONDS_BUCKETS[b]);
    snprintf(sql + o, sizeof(sql) - o, " FROM d WHERE kind IS NOT NULL GROUP BY kind");
    r = rc == 0 ? run(c, sql, 0, NULL, err) : NULL;
    if (r) {
        static const struct {
            const char *kind, *name, *help;
        } hist[] = {{"queue", "streambus_jobs_time_in_queue_seconds", "Time from QUEUED to RUNNING per attempt"},
                    {"run", "streambus_jobs_run_time_seconds", "Time from RUNNING to the attempt's end"}};
        for (size_t h = 0; h < 2; h++) {
            metrics_write_family(out, hist[h].name, hist[h].help, METRICS_HISTOGRAM);
            int row = -1;
            for (int i = 0; i < PQntuples(r); i++)
                if (strcmp(PQgetvalue(r, i, 0), hist[h].kind) == 0) row = i;
            char name[128], le[32];
            snprintf(name, sizeof(name), "%s_bucket", hist[h].name);
            for (size_t b = 0; b <= JOB_SECONDS_NBUCKETS; b++) {
                if (b < JOB_SECONDS_NBUCKETS) snprintf(le, sizeof(le), "%g", JOB_SECONDS_BUCKETS[b]);
                else snprintf(le, sizeof(le), "+Inf");
                metrics_label_t l = {"le", le};
                int col = b < JOB_SECONDS_NBUCKETS ? 3 + (int)b : 1;
                metrics_write_sample(out, name, &l, 1, row < 0 ? 0 : atof(PQgetvalue(r, row, col)));
            }
            snprintf(name, sizeof(name), "%s_sum", hist[h].name);
            metrics_write_sample(out, name, NULL, 0, row < 0 ? 0 : atof(PQgetvalue(r, row, 2)));
            snprintf(name, sizeof(name), "%s_count", hist[h].name);
            metrics_write_sample(out, name, NULL, 0, row < 0 ? 0 : atof(PQgetvalue(r, row, 1)));
        }
        PQclear(r);
    } else if (rc == 0) {
        rc = SB_EIO;
    }
    conn_release(s, c);
    return rc;
}
