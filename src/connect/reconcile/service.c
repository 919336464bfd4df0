/* Reconciliation jobs, their thread, drift metrics, the REST routes and erasure; see reconcile.h. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "connect/reconcile/reconcile.h"
#include "connect/rest.h"
#include "connect/store.h"

typedef struct recon_job {
    int64_t id;
    char connector[160], source[160], sink[160];
    json_t *tables_requested; /* NULL = all */
    recon_mode_t mode;
    bool repair;
    json_t *doc;        /* the public view, updated under the service lock */
    json_t *mismatches; /* array, filled by the job thread, read under the lock once done */
} recon_job_t;

/* When each scheduled connector last had a job queued; only the job thread touches it. */
typedef struct recon_schedule_entry {
    char name[160];
    int64_t last_ms;
} recon_schedule_entry_t;

#define RECON_MAX_SCHEDULED 64

struct recon_service {
    connect_worker_t *worker;
    metrics_registry_t *metrics;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    int64_t next_id;
    recon_job_t *jobs[RECON_KEEP_JOBS]; /* ring by id */
    recon_schedule_entry_t sched[RECON_MAX_SCHEDULED];
};

static const char *mode_name(recon_mode_t m)
{
    return m == RECON_MODE_COUNT ? "count" : m == RECON_MODE_CHECKSUM ? "checksum" : "full";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void job_free(recon_job_t *j)
{
    if (!j) return;
    json_decref(j->tables_requested);
    json_decref(j->doc);
    json_decref(j->mismatches);
    free(j);
}

static recon_job_t *next_queued_locked(recon_service_t *s)
{
    recon_job_t *best = NULL;
    for (int i = 0; i < RECON_KEEP_JOBS; i++) {
        recon_job_t *j = s->jobs[i];
        if (j && strcmp(json_string_value(json_object_get(j->doc, "state")), "queued") == 0 && (!best || j->id < best->id))
            best = j;
    }
    return best;
}

static json_t *counter_json(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static void publish_metrics(recon_service_t *s, const char *connector, const char *table, const recon_table_result_t *r)
{
    if (!s->metrics) return;
    char labels[512];
    metrics_label_t lv[] = {{"connector", connector}, {"table", table}};
    if (metrics_format_labels(labels, sizeof(labels), lv, 2) < 0) return;
    static const struct {
        const char *name, *help;
    } names[] = {{"streambus_reconcile_rows_missing_in_target", "rows in the source but not the target, last run"},
                 {"streambus_reconcile_rows_missing_in_source", "rows in the target but not the source, last run"},
                 {"streambus_reconcile_rows_differing", "rows whose columns differ, last run"},
                 {"streambus_reconcile_chunks_differing", "key-range chunks whose count or checksum differ, last run"}};
    int64_t vals[] = {r->missing_in_target, r->missing_in_source, r->differing, r->chunks_differing};
    for (int i = 0; i < 4; i++) {
        if (vals[i] < 0) continue;
        metrics_gauge_t *g = metrics_gauge(s->metrics, names[i].name, names[i].help, labels);
        if (g) metrics_gauge_set(g, vals[i]);
    }
    metrics_gauge_t *t = metrics_gauge_f64(s->metrics, "streambus_reconcile_last_run_timestamp_seconds",
                                           "when the last reconciliation of the table finished (Unix time)", labels);
    if (t) metrics_gauge_set_f64(t, now_s());
}

/* One unit of a job: a table of one pipeline, or the reason it cannot be compared. */
typedef struct job_item {
    recon_table_ref_t ref;
    char name[256]; /* as requested */
    int rc;
    char error[sizeof(((sb_err_t *)0)->msg)];
} job_item_t;

/* Expands a job's tables over its pipelines: every requested table to each sink that carries
 * it, or (all tables) every row topic of every pipeline. */
static job_item_t *job_items(const recon_job_t *j, const recon_pipelines_t *ps, size_t *count)
{
    enum { REFS_PER_TABLE = 16 };
    size_t cap = 0;
    if (j->tables_requested) cap = json_array_size(j->tables_requested) * REFS_PER_TABLE;
    else
        for (int k = 0; k < ps->n; k++) cap += json_array_size(ps->items[k].topics);
    job_item_t *items = calloc(cap + 1, sizeof(*items));
    *count = 0;
    if (!items) return NULL;
    size_t i;
    json_t *n;
    if (j->tables_requested) {
        json_array_foreach(j->tables_requested, i, n) {
            recon_table_ref_t refs[REFS_PER_TABLE];
            int nrefs = 0;
            sb_err_t err = {0};
            int rc = recon_pipelines_table(ps, json_string_value(n), refs, REFS_PER_TABLE, &nrefs, &err);
            if (rc < 0) {
                job_item_t *it = &items[(*count)++];
                snprintf(it->name, sizeof(it->name), "%s", json_string_value(n));
                it->rc = rc;
                snprintf(it->error, sizeof(it->error), "%s", err.msg);
                continue;
            }
            for (int r = 0; r < nrefs; r++) {
                job_item_t *it = &items[(*count)++];
                snprintf(it->name, sizeof(it->name), "%s", json_string_value(n));
                it->ref = refs[r];
            }
        }
        return items;
    }
    for (int k = 0; k < ps->n; k++) {
        const recon_pair_t *p = &ps->items[k];
        json_array_foreach(p->tables, i, n) {
            job_item_t *it = &items[(*count)++];
            snprintf(it->name, sizeof(it->name), "%s", json_string_value(n)); /* "<schema>.<table>" */
            it->ref.pair = p;
            sb_err_t err = {0};
            it->rc = recon_pair_table(p, it->name, it->ref.src, sizeof(it->ref.src), it->ref.dst, sizeof(it->ref.dst), &err);
            if (it->rc < 0) snprintf(it->error, sizeof(it->error), "%s", err.msg);
        }
    }
    return items;
}

static void run_job(recon_service_t *s, recon_job_t *j)
{
    sb_err_t err = {0};
    recon_pipelines_t ps = {0};
    int rc = recon_pipelines_resolve(s->worker, j->connector[0] ? j->connector : NULL, j->source[0] ? j->source : NULL,
                                     j->sink[0] ? j->sink : NULL, &ps, &err);
    size_t nitems = 0;
    job_item_t *items = rc == 0 ? job_items(j, &ps, &nitems) : NULL;
    if (rc == 0 && !items) rc = sb_err_set(&err, SB_ENOMEM, "out of memory");
    pthread_mutex_lock(&s->mu);
    json_object_set_new(j->doc, "state", json_string(rc == 0 ? "running" : "failed"));
    json_object_set_new(j->doc, "started_at", json_real(now_s()));
    if (rc == 0) {
        json_t *sinks = json_array();
        for (int k = 0; k < ps.n; k++) json_array_append_new(sinks, json_string(ps.items[k].sink_name));
        json_object_set_new(j->doc, "source", json_string(ps.items[0].source_name));
        /* "sink" names the one sink of a single pipeline; "sinks" every sink the job covers. */
        if (ps.n == 1) json_object_set_new(j->doc, "sink", json_string(ps.items[0].sink_name));
        json_object_set_new(j->doc, "sinks", sinks);
    } else {
        json_object_set_new(j->doc, "error", json_string(err.msg));
        json_object_set_new(j->doc, "finished_at", json_real(now_s()));
    }
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        recon_pipelines_deinit(&ps);
        return;
    }
    bool failed = false, drift = false;
    for (size_t i = 0; i < nitems; i++) {
        job_item_t *it = &items[i];
        const recon_pair_t *pair = it->ref.pair;
        recon_table_result_t r;
        json_t *t;
        err.msg[0] = '\0';
        json_t *found = json_array();
        rc = it->rc;
        if (rc < 0) snprintf(err.msg, sizeof(err.msg), "%s", it->error);
        else rc = recon_compare_table(pair, it->ref.src, it->ref.dst, j->mode, j->repair, &r, found, &err);
        if (rc < 0) {
            failed = true;
            t = json_pack("{s:s,s:s}", "table", it->name, "error", err.msg);
            if (pair) json_object_set_new(t, "sink", json_string(pair->sink_name));
            sb_warn("reconcile", "job %lld, table %s: %s", (long long)j->id, it->name, err.msg);
        } else {
            const char *src = it->ref.src, *dst = it->ref.dst;
            bool table_drift = r.chunks_differing > 0;
            drift |= table_drift;
            t = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:I,s:I,s:b,s:b}", "table", src, "sink",
                          pair->sink_name, "target_table", dst,
                          "source_rows", (json_int_t)r.source_rows, "target_rows", (json_int_t)r.target_rows, "chunks",
                          (json_int_t)r.chunks, "chunks_differing", (json_int_t)r.chunks_differing, "missing_in_target",
                          counter_json(r.missing_in_target), "missing_in_source", counter_json(r.missing_in_source),
                          "differing", counter_json(r.differing), "repaired_upserts", (json_int_t)r.repaired_upserts,
                          "repaired_deletes", (json_int_t)r.repaired_deletes, "in_sync", !table_drift, "exact", r.drilled);
            publish_metrics(s, pair->sink_name, src, &r);
            sb_info("reconcile", "job %lld, %s -> %s:%s (%s%s): %lld/%lld rows, %lld differing chunks, missing in target "
                    "%lld, missing in source %lld, differing %lld, repaired %lld+%lld",
                    (long long)j->id, src, pair->sink_name, dst, mode_name(j->mode), j->repair ? ", repair" : "",
                    (long long)r.source_rows, (long long)r.target_rows, (long long)r.chunks_differing,
                    (long long)r.missing_in_target, (long long)r.missing_in_source, (long long)r.differing,
                    (long long)r.repaired_upserts, (long long)r.repaired_deletes);
        }
        pthread_mutex_lock(&s->mu);
        json_array_append_new(json_object_get(j->doc, "tables"), t);
        size_t k;
        json_t *m;
        json_array_foreach(found, k, m) {
            if (json_array_size(j->mismatches) >= RECON_MAX_MISMATCHES) break;
            json_array_append(j->mismatches, m);
        }
        pthread_mutex_unlock(&s->mu);
        json_decref(found);
    }
    pthread_mutex_lock(&s->mu);
    json_object_set_new(j->doc, "state", json_string(failed ? "failed" : "done"));
    json_object_set_new(j->doc, "drift_found", json_boolean(drift));
    json_object_set_new(j->doc, "finished_at", json_real(now_s()));
    pthread_mutex_unlock(&s->mu);
    free(items);
    recon_pipelines_deinit(&ps);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Queues a job for every connector whose `reconcile.interval.ms` has elapsed since its last
 * scheduled job (the first one runs one interval after start-up or after the key appears).
 * Called without the service lock: it reads configs through the worker (worker lock). */
static void schedule_tick(recon_service_t *s)
{
    json_t *names = connect_worker_names(s->worker);
    size_t i;
    json_t *n;
    int64_t now = mono_ms();
    json_array_foreach(names, i, n) {
        const char *name = json_string_value(n);
        json_t *cfg = connect_worker_config(s->worker, name);
        const char *iv = json_string_value(json_object_get(cfg, "reconcile.interval.ms"));
        long long interval = iv ? atoll(iv) : 0;
        if (interval > 0 && strlen(name) < sizeof(s->sched[0].name)) {
            recon_schedule_entry_t *e = NULL, *free_slot = NULL;
            for (int k = 0; k < RECON_MAX_SCHEDULED && !e; k++) {
                if (strcmp(s->sched[k].name, name) == 0) e = &s->sched[k];
                else if (!s->sched[k].name[0] && !free_slot) free_slot = &s->sched[k];
            }
            if (!e && free_slot) {
                snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
                free_slot->last_ms = now;
            } else if (e && now - e->last_ms >= interval) {
                e->last_ms = now;
                const char *m = json_string_value(json_object_get(cfg, "reconcile.mode"));
                recon_mode_t mode = m && strcmp(m, "count") == 0 ? RECON_MODE_COUNT
                                    : m && strcmp(m, "full") == 0 ? RECON_MODE_FULL
                                                                  : RECON_MODE_CHECKSUM;
                sb_err_t err = {0};
                if (recon_service_submit(s, name, NULL, NULL, NULL, mode, false, "schedule", &err) < 0)
                    sb_warn("reconcile", "scheduled reconciliation of %s not queued: %s", name, err.msg);
            }
        }
        json_decref(cfg);
    }
    json_decref(names);
}

static void *job_thread(void *arg)
{
    recon_service_t *s = arg;
    int64_t next_tick = mono_ms() + 1000;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (mono_ms() >= next_tick) {
            pthread_mutex_unlock(&s->mu);
            schedule_tick(s);
            pthread_mutex_lock(&s->mu);
            next_tick = mono_ms() + 1000;
            continue;
        }
        recon_job_t *j = next_queued_locked(s);
        if (!j) {
            /* Wake at least once a second for the schedule. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
            continue;
        }
        /* Mark it so the ring never drops a job while it runs (see submit). */
        json_object_set_new(j->doc, "state", json_string("starting"));
        pthread_mutex_unlock(&s->mu);
        run_job(s, j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

recon_service_t *recon_service_new(connect_worker_t *w, metrics_registry_t *metrics, sb_err_t *err)
{
    recon_service_t *s = calloc(1, sizeof(*s));
    if (!s) {
        sb_err_set(err, SB_ENOMEM, "out of memory");
        return NULL;
    }
    s->worker = w;
    s->metrics = metrics;
    s->next_id = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, job_thread, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        sb_err_set(err, SB_EIO, "cannot start the reconciliation thread");
        return NULL;
    }
    return s;
}

void recon_service_free(recon_service_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < RECON_KEEP_JOBS; i++) job_free(s->jobs[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static bool job_active(const recon_job_t *j)
{
    const char *st = json_string_value(json_object_get(j->doc, "state"));
    return strcmp(st, "starting") == 0 || strcmp(st, "running") == 0;
}

int64_t recon_service_submit(recon_service_t *s, const char *connector, const char *source, const char *sink,
                             const json_t *tables, recon_mode_t mode, bool repair, const char *trigger, sb_err_t *err)
{
    recon_job_t *j = calloc(1, sizeof(*j));
    if (!j) return sb_err_set(err, SB_ENOMEM, "out of memory");
    snprintf(j->connector, sizeof(j->connector), "%s", connector ? connector : "");
    snprintf(j->source, sizeof(j->source), "%s", source ? source : "");
    snprintf(j->sink, sizeof(j->sink), "%s", sink ? sink : "");
    j->tables_requested = tables ? json_deep_copy(tables) : NULL;
    j->mode = mode;
    j->repair = repair;
    j->mismatches = json_array();
    pthread_mutex_lock(&s->mu);
    int64_t id = s->next_id;
    recon_job_t **slot = &s->jobs[id % RECON_KEEP_JOBS];
    if (*slot && job_active(*slot)) {
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return sb_err_set(err, SB_ELIMIT, "%d jobs are kept and the oldest is still running", RECON_KEEP_JOBS);
    }
    s->next_id++;
    j->id = id;
    j->doc = json_pack("{s:I,s:s,s:s,s:b,s:s,s:f,s:[],s:O*}", "id", (json_int_t)id, "state", "queued", "mode",
                       mode_name(mode), "repair", repair, "trigger", trigger, "created_at", now_s(), "tables",
                       "tables_requested", j->tables_requested);
    if (connector) json_object_set_new(j->doc, "connector", json_string(connector));
    job_free(*slot);
    *slot = j;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return id;
}

static recon_job_t *find_locked(recon_service_t *s, int64_t id)
{
    recon_job_t *j = id > 0 ? s->jobs[id % RECON_KEEP_JOBS] : NULL;
    return j && j->id == id ? j : NULL;
}

json_t *recon_service_job(recon_service_t *s, int64_t id)
{
    pthread_mutex_lock(&s->mu);
    recon_job_t *j = find_locked(s, id);
    json_t *out = j ? json_deep_copy(j->doc) : NULL;
    pthread_mutex_unlock(&s->mu);
    return out;
}

json_t *recon_service_jobs(recon_service_t *s)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&s->mu);
    for (int64_t id = s->next_id - 1; id > 0 && id >= s->next_id - RECON_KEEP_JOBS; id--) {
        recon_job_t *j = find_locked(s, id);
        if (j) json_array_append_new(arr, json_deep_copy(j->doc));
    }
    pthread_mutex_unlock(&s->mu);
    return arr;
}

/* ----- REST ----- */


static void handle_trigger(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    recon_service_t *s = arg;
    json_t *body = req->body ? json_loadb((const char *)req->body, req->body_len, 0, NULL) : NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        connect_rest_write_error(resp, 400, "expected a JSON object {\"connector\":..,\"tables\":[..]|\"all_tables\":true,\"mode\":..}");
        return;
    }
    const char *connector = json_string_value(json_object_get(body, "connector"));
    const char *source = json_string_value(json_object_get(body, "source"));
    const char *sink = json_string_value(json_object_get(body, "sink"));
    const char *mode_s = json_string_value(json_object_get(body, "mode"));
    json_t *tables = json_object_get(body, "tables");
    bool all = json_is_true(json_object_get(body, "all_tables"));
    json_t *repair_j = json_object_get(body, "repair");
    json_t *errors = json_object();
    if (!connector && !source && !sink) json_object_set_new(errors, "connector", json_string("required (or source and sink)"));
    recon_mode_t mode = RECON_MODE_CHECKSUM;
    if (mode_s && strcmp(mode_s, "count") == 0) mode = RECON_MODE_COUNT;
    else if (mode_s && strcmp(mode_s, "full") == 0) mode = RECON_MODE_FULL;
    else if (mode_s && strcmp(mode_s, "checksum") != 0) json_object_set_new(errors, "mode", json_string("count, checksum or full"));
    if (repair_j && !json_is_boolean(repair_j)) json_object_set_new(errors, "repair", json_string("true or false"));
    if (all == (tables != NULL)) {
        json_object_set_new(errors, "tables", json_string("give either tables (a non-empty array) or all_tables: true"));
    } else if (tables) {
        size_t i;
        json_t *t;
        if (!json_is_array(tables) || json_array_size(tables) == 0)
            json_object_set_new(errors, "tables", json_string("must be a non-empty array of table names"));
        json_array_foreach(tables, i, t) if (!json_is_string(t))
            json_object_set_new(errors, "tables", json_string("must be a non-empty array of table names"));
    }
    if (json_object_size(errors) > 0) {
        connect_rest_write_json(resp, 400, json_pack("{s:i,s:s,s:o}", "error_code", 400, "message", "invalid reconciliation request",
                                        "errors", errors));
        json_decref(body);
        return;
    }
    json_decref(errors);
    /* Resolve now so an unknown connector is a 404 to the caller, not a failed job later. */
    recon_pipelines_t ps;
    sb_err_t err = {0};
    int rc = recon_pipelines_resolve(s->worker, connector, source, sink, &ps, &err);
    size_t i;
    json_t *t;
    if (rc == 0 && tables) {
        json_array_foreach(tables, i, t) {
            recon_table_ref_t ref;
            int nrefs;
            if ((rc = recon_pipelines_table(&ps, json_string_value(t), &ref, 1, &nrefs, &err)) < 0) break;
        }
    }
    recon_pipelines_deinit(&ps);
    int64_t id = rc < 0 ? rc : recon_service_submit(s, connector, source, sink, tables, mode, json_is_true(repair_j), "api", &err);
    if (id < 0) connect_rest_write_error(resp, id == SB_ENOENT ? 404 : id == SB_ELIMIT ? 429 : 400, err.msg);
    else connect_rest_write_json(resp, 202, recon_service_job(s, id));
    json_decref(body);
}

static void handle_jobs(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    recon_service_t *s = arg;
    const char *rest = req->path_rest;
    if (!rest[0] || strcmp(rest, "/") == 0) {
        connect_rest_write_json(resp, 200, recon_service_jobs(s));
        return;
    }
    char *end;
    long long id = strtoll(rest + 1, &end, 10);
    json_t *j = *end == '\0' && id > 0 ? recon_service_job(s, id) : NULL;
    if (j) connect_rest_write_json(resp, 200, j);
    else connect_rest_write_error(resp, 404, "no such reconciliation job (the last 50 are kept)");
}

static void handle_mismatches(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    recon_service_t *s = arg;
    const char *js = admin_http_query(req, "job");
    char *end = NULL;
    long long id = js ? strtoll(js, &end, 10) : 0;
    if (!js) {
        pthread_mutex_lock(&s->mu);
        id = s->next_id - 1; /* the newest job */
        pthread_mutex_unlock(&s->mu);
    } else if (*end != '\0' || id <= 0) {
        connect_rest_write_error(resp, 400, "job must be a job id");
        return;
    }
    pthread_mutex_lock(&s->mu);
    recon_job_t *j = find_locked(s, id);
    json_t *out = j ? json_pack("{s:I,s:O,s:O}", "job", (json_int_t)id, "state", json_object_get(j->doc, "state"),
                                "mismatches", j->mismatches)
                    : NULL;
    json_t *copy = out ? json_deep_copy(out) : NULL;
    json_decref(out);
    pthread_mutex_unlock(&s->mu);
    if (copy) connect_rest_write_json(resp, 200, copy);
    else connect_rest_write_error(resp, 404, "no such reconciliation job");
}

/* ----- erasure ----- */

/* Sends the audit record. The worker creates the topic at start with unlimited retention. */
static int send_audit(const char *bootstrap, const char *key_hash, const char *json_text, sb_err_t *err)
{
    rd_kafka_conf_t *conf = connect_kafka_conf_new(bootstrap, "streambus-connect-audit");
    if (!conf || connect_kafka_conf_set(conf, "acks", "all", err) < 0) {
        if (conf) rd_kafka_conf_destroy(conf);
        return err->code ? err->code : sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return sb_err_set(err, SB_EIO, "audit producer: %s", errstr);
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(RECON_AUDIT_TOPIC),
                                              RD_KAFKA_V_KEY(key_hash, strlen(key_hash)),
                                              RD_KAFKA_V_VALUE((void *)json_text, strlen(json_text)),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (!e) e = rd_kafka_flush(rk, 15000);
    if (!e && rd_kafka_outq_len(rk) > 0) e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    rd_kafka_destroy(rk);
    return e ? sb_err_set(err, SB_EIO, "audit record to %s: %s", RECON_AUDIT_TOPIC, rd_kafka_err2str(e)) : 0;
}

/* DELETE /records/{connector}/{table}/{key} */
static void handle_erase(void *arg, const admin_http_request_t *req, admin_http_response_t *resp)
{
    recon_service_t *s = arg;
    const char *p = req->path_rest[0] == '/' ? req->path_rest + 1 : req->path_rest;
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    char connector[160], table[256], key[1024];
    if (!s1 || !s2 || s1 == p || s2 == s1 + 1 || !s2[1] || (size_t)(s1 - p) >= sizeof(connector) ||
        (size_t)(s2 - s1 - 1) >= sizeof(table) || strlen(s2 + 1) >= sizeof(key)) {
        connect_rest_write_error(resp, 400, "expected DELETE /records/{connector}/{table}/{key}");
        return;
    }
    snprintf(connector, sizeof(connector), "%.*s", (int)(s1 - p), p);
    snprintf(table, sizeof(table), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    snprintf(key, sizeof(key), "%s", s2 + 1);
    char who[300];
    const char *actor = admin_http_header(req, "X-Actor");
    if (actor && *actor) snprintf(who, sizeof(who), "%.255s", actor);
    else admin_http_remote_addr(req, who, sizeof(who));

    /* ?sink= picks one sink when the source feeds several; without it the row is erased from
     * every target that carries the table. */
    const char *sink = admin_http_query(req, "sink");
    if (sink && !*sink) sink = NULL;
    recon_pipelines_t ps;
    sb_err_t err = {0};
    char src[256] = "", hash[2 * 32 + 1] = "";
    int64_t sdel = 0, tdel = 0;
    enum { MAX_TARGETS = 16 };
    recon_table_ref_t refs[MAX_TARGETS];
    int nrefs = 0;
    json_t *sinks = json_array();
    int rc = recon_pipelines_resolve(s->worker, connector, NULL, sink, &ps, &err);
    if (rc == 0) rc = recon_pipelines_table(&ps, table, refs, MAX_TARGETS, &nrefs, &err);
    for (int i = 0; rc == 0 && i < nrefs; i++) {
        /* The source row goes with the first target; later ones find it gone (0 deleted). */
        int64_t sd = 0, td = 0;
        rc = recon_erase_row(refs[i].pair, refs[i].src, refs[i].dst, key, &sd, &td, hash, &err);
        sdel += sd;
        tdel += td;
        snprintf(src, sizeof(src), "%s", refs[i].src);
        json_array_append_new(sinks, json_string(refs[i].pair->sink_name));
    }
    const char *bootstrap = connect_worker_bootstrap(s->worker);
    recon_pipelines_deinit(&ps);
    if (rc < 0 && !hash[0]) snprintf(hash, sizeof(hash), "unhashed");
    const char *result = rc < 0 ? "failed" : (sdel || tdel) ? "deleted" : "not_found";
    json_t *audit = json_pack("{s:f,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s*}", "time", now_s(), "action", "erase", "connector",
                              connector, "table", src[0] ? src : table, "key_sha256", hash, "who", who, "result",
                              result, "source_deleted", (json_int_t)sdel, "target_deleted", (json_int_t)tdel,
                              "error", rc < 0 ? err.msg : NULL);
    json_object_set_new(audit, "sinks", sinks);
    char *text = json_dumps(audit, JSON_COMPACT);
    sb_err_t aerr = {0};
    int arc = text ? send_audit(bootstrap, hash, text, &aerr) : SB_ENOMEM;
    sb_info("erasure", "audit %s%s", text ? text : "?", arc < 0 ? " (not written to the audit topic)" : "");
    if (arc < 0) sb_error("erasure", "audit record not written: %s", aerr.msg);
    free(text);
    if (rc < 0) {
        json_decref(audit);
        connect_rest_write_error(resp, rc == SB_ENOENT ? 404 : rc == SB_EINVAL ? 400 : 502, err.msg);
        return;
    }
    json_object_set_new(audit, "audit_written", json_boolean(arc == 0));
    connect_rest_write_json(resp, arc == 0 ? 200 : 500, audit);
}

int recon_rest_register(admin_http_t *http, recon_service_t *s, sb_err_t *err)
{
    if (admin_http_add_route(http, "POST", "/reconciliation/trigger", handle_trigger, s) < 0 ||
        admin_http_add_route(http, "GET", "/reconciliation/jobs", handle_jobs, s) < 0 ||
        admin_http_add_route(http, "GET", "/reconciliation/mismatches", handle_mismatches, s) < 0 ||
        admin_http_add_route(http, "DELETE", "/records", handle_erase, s) < 0)
        return sb_err_set(err, SB_EEXIST, "reconciliation REST routes are already registered");
    return 0;
}
