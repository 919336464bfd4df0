/* Scheduler and worker; see dispatch.h. */
#include "jobs/dispatch.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "jobs/executors.h"
#include "jobs/store.h"

#define DISPATCH_BATCH 500

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* Reconnect chatter at level 3 is expected while a broker restarts. */
    if (level <= 4 && strstr(buf, "onfiguration")) sb_warn("jobs.kafka", "%s: %s", fac, buf);
}

static rd_kafka_conf_t *kafka_conf(const jobs_config_t *cfg, const char *client_id)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", cfg->bootstrap, e, sizeof(e));
    rd_kafka_conf_set(conf, "client.id", client_id, e, sizeof(e));
    rd_kafka_conf_set(conf, "log.connection.close", "false", e, sizeof(e));
    rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "2000", e, sizeof(e));
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    return conf;
}

/* Creates the task topic with jobs.task_partitions partitions; an existing one is kept. */
static void create_task_topic(rd_kafka_t *rk, const jobs_config_t *cfg)
{
    char e[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(cfg->topic, (int)cfg->task_partitions, -1, e, sizeof(e));
    if (!nt) return;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        if (n == 1 && rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            sb_warn("jobs", "creating topic %s: %s", cfg->topic, rd_kafka_topic_result_error_string(tr[0]));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

/* ---- scheduler */

struct jobs_scheduler {
    const jobs_config_t *cfg;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    char problem[512]; /* "" when the last round worked */
    rd_kafka_t *producer;
    jobs_store_t *store;
    atomic_int failed_deliveries;
    /* Token buckets of the rate-limited queues (cfg->queues order); only this thread uses them. */
    double tokens[JOBS_MAX_QUEUES];
    int64_t refilled_us;
    char broker_problem[256]; /* under mu; "" when the last metadata request was answered */
    int64_t broker_checked_ms;
    /* kicked (under wake_mu, signalled on wake): a job was stored that may be due now. */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    bool kicked;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jobs_scheduler_t *s = opaque;
    /* The job stays QUEUED; jobs.requeue_after_ms later the scheduler produces it again. */
    if (m->err) {
        atomic_fetch_add(&s->failed_deliveries, 1);
        sb_warn("jobs.scheduler", "task for job %.*s not stored: %s", (int)m->key_len, (const char *)m->key,
                rd_kafka_err2str(m->err));
    }
}

static void set_problem(jobs_scheduler_t *s, const char *p)
{
    pthread_mutex_lock(&s->mu);
    if (strcmp(s->problem, p) != 0 && p[0]) sb_warn("jobs.scheduler", "%s", p);
    snprintf(s->problem, sizeof(s->problem), "%s", p);
    pthread_mutex_unlock(&s->mu);
}

/* One round; dispatch_only (a kicked round) skips lease expiry, orphans and cron. */
static int scheduler_round(jobs_scheduler_t *s, jobs_dispatch_t *batch, bool dispatch_only)
{
    const jobs_config_t *cfg = s->cfg;
    sb_err_t err = {0};
    int n = 0;
    if (!s->store) {
        s->store = jobs_store_open(cfg->postgres, &err);
        if (!s->store) goto fail;
    }
    if (!dispatch_only) {
        if (jobs_store_expire_leases(s->store, cfg->backoff_base_ms, cfg->backoff_max_ms, &n, &err) < 0) goto fail;
        if (n) sb_info("jobs.scheduler", "%d lease(s) expired", n);
        if (jobs_store_fail_orphans(s->store, &n, &err) < 0) goto fail;
        if (jobs_store_fire_cron(s->store, sb_now_ms(), &n, &err) < 0) goto fail;
        if (n) sb_info("jobs.scheduler", "%d cron tick(s) spawned a job", n);
    }
    /* Refill the buckets: rate tokens per second, holding at most max(1, rate) (the burst). */
    int64_t now_us = sb_mono_us();
    jobs_queue_allow_t allow[JOBS_MAX_QUEUES];
    for (int q = 0; q < cfg->nqueues; q++) {
        double rate = cfg->queues[q].rate_per_s, burst = rate > 1 ? rate : 1;
        s->tokens[q] += rate * (double)(now_us - s->refilled_us) / 1e6;
        if (s->tokens[q] > burst) s->tokens[q] = burst;
        allow[q] = (jobs_queue_allow_t){cfg->queues[q].name, (int)cfg->queues[q].concurrency,
                                        rate > 0 ? (int)s->tokens[q] : -1};
    }
    s->refilled_us = now_us;
    if (jobs_store_queue_due(s->store, cfg->requeue_after_ms, allow, cfg->nqueues, batch, DISPATCH_BATCH, &n, &err) < 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (batch[i].limit >= 0) s->tokens[batch[i].limit] -= 1;
    for (int i = 0; i < n; i++) {
        char key[24], value[64];
        int klen = snprintf(key, sizeof(key), "%lld", (long long)batch[i].id);
        int vlen = snprintf(value, sizeof(value), "{\"id\":%lld,\"attempt\":%d}", (long long)batch[i].id,
                            batch[i].attempt);
        rd_kafka_resp_err_t e = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(cfg->topic),
                                                  RD_KAFKA_V_KEY(key, (size_t)klen), RD_KAFKA_V_VALUE(value, (size_t)vlen),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) sb_warn("jobs.scheduler", "job %s: produce: %s", key, rd_kafka_err2str(e));
    }
    if (n) rd_kafka_flush(s->producer, 10000);
    rd_kafka_poll(s->producer, 0);
    set_problem(s, "");
    return n;
fail:
    set_problem(s, err.msg);
    if (err.code == SB_EIO && s->store && jobs_store_ping(s->store, NULL) < 0) {
        jobs_store_free(s->store);
        s->store = NULL;
    }
    return 0;
}

/* Asks the broker for metadata every 2 s, so readiness reports an unreachable broker even
 * while no job is being dispatched. */
static void check_broker(jobs_scheduler_t *s)
{
    if (sb_mono_ms() - s->broker_checked_ms < 2000) return;
    s->broker_checked_ms = sb_mono_ms();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->producer, 0, NULL, &md, 2000);
    pthread_mutex_lock(&s->mu);
    snprintf(s->broker_problem, sizeof(s->broker_problem), "%s", e ? rd_kafka_err2str(e) : "");
    pthread_mutex_unlock(&s->mu);
    if (md) rd_kafka_metadata_destroy(md);
}

/* Waits until the monotonic clock reaches until_ms, a kick or stop; returns true on a kick. */
static bool wait_for_kick(jobs_scheduler_t *s, int64_t until_ms)
{
    struct timespec until = {.tv_sec = until_ms / 1000, .tv_nsec = (long)(until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&s->wake_mu);
    while (!s->kicked && !atomic_load(&s->stop) && pthread_cond_timedwait(&s->wake, &s->wake_mu, &until) == 0) {
    }
    bool kicked = s->kicked;
    s->kicked = false;
    pthread_mutex_unlock(&s->wake_mu);
    return kicked;
}

static void *scheduler_main(void *arg)
{
    jobs_scheduler_t *s = arg;
    jobs_dispatch_t *batch = calloc(DISPATCH_BATCH, sizeof(*batch));
    create_task_topic(s->producer, s->cfg);
    int64_t full_at = 0; /* sb_mono_ms() of the next full round */
    bool kicked = false;
    while (!atomic_load(&s->stop)) {
        check_broker(s);
        bool full = sb_mono_ms() >= full_at;
        int n = scheduler_round(s, batch, kicked && !full);
        int64_t ended = sb_mono_ms();
        /* The interval runs from the end of a full round, so slow rounds (a loaded PostgreSQL)
         * never follow each other without a rest. */
        if (full) full_at = ended + s->cfg->scheduler_interval_ms;
        /* A full batch means more are due: go again at once. */
        if (n == DISPATCH_BATCH) continue;
        kicked = wait_for_kick(s, full_at);
        /* At least 20 ms between the end of a round and a kicked one: the jobs stored meanwhile
         * go in one batch, and the scheduler never runs rounds back to back on kicks alone. */
        int64_t gap = ended + 20 - sb_mono_ms();
        if (kicked && gap > 0) usleep((useconds_t)gap * 1000);
    }
    free(batch);
    return NULL;
}

void jobs_scheduler_kick(jobs_scheduler_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->wake_mu);
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->wake_mu);
}

jobs_scheduler_t *jobs_scheduler_start(const jobs_config_t *cfg, sb_err_t *err)
{
    jobs_scheduler_t *s = calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->refilled_us = sb_mono_us();
    /* Start with a full bucket: the first burst may go at once. */
    for (int q = 0; q < cfg->nqueues; q++) s->tokens[q] = cfg->queues[q].rate_per_s > 1 ? cfg->queues[q].rate_per_s : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->wake_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(s->problem, sizeof(s->problem), "starting");
    rd_kafka_conf_t *conf = kafka_conf(cfg, "streambus-jobs-scheduler");
    char e[256];
    rd_kafka_conf_set(conf, "acks", "all", e, sizeof(e));
    rd_kafka_conf_set(conf, "linger.ms", "1", e, sizeof(e));
    rd_kafka_conf_set(conf, "message.timeout.ms", "10000", e, sizeof(e));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, s);
    s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!s->producer) {
        sb_err_set(err, SB_EINVAL, "producer: %s", e);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->wake_mu);
        free(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        sb_err_set(err, SB_EIO, "cannot start the scheduler thread");
        rd_kafka_destroy(s->producer);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->wake_mu);
        free(s);
        return NULL;
    }
    return s;
}

bool jobs_scheduler_ready(jobs_scheduler_t *s, char *detail, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    bool ok = s->problem[0] == 0;
    snprintf(detail, cap, "%s", s->problem);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool jobs_scheduler_broker_ready(jobs_scheduler_t *s, char *detail, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    bool ok = s->broker_checked_ms > 0 && s->broker_problem[0] == 0;
    snprintf(detail, cap, "%s", s->broker_checked_ms == 0 ? "not checked yet" : s->broker_problem);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void jobs_scheduler_stop(jobs_scheduler_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->wake_mu);
    atomic_store(&s->stop, 1);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->wake_mu);
    pthread_join(s->thread, NULL);
    rd_kafka_flush(s->producer, 5000);
    rd_kafka_destroy(s->producer);
    jobs_store_free(s->store);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->wake_mu);
    free(s);
}

/* ---- worker */

typedef struct heartbeat {
    const jobs_config_t *cfg;
    jobs_store_t *store; /* the heartbeat thread's own connection */
    const char *worker;
    int64_t id;
    int attempt;
    atomic_int stop;     /* tells the executor to stop: 1 cancel requested, 2 lease lost, 3 worker stopping */
    volatile sig_atomic_t *shutdown; /* the worker's stop flag (SIGTERM) */
    /* finished (under mu, signalled on cond) tells the heartbeat thread to end. A condition
     * variable, not a flag read between sleeps: the worker joins this thread after every job,
     * and a 50 ms sleep there cost each job up to 50 ms (seen in bench/jobs_compare: four
     * workers completed 42 no-op jobs/s). */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool finished;
} heartbeat_t;

/* Waits until h->finished or ms have passed; returns h->finished. */
static bool heartbeat_wait(heartbeat_t *h, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    while (!h->finished && pthread_cond_timedwait(&h->cond, &h->mu, &until) == 0) {
    }
    bool finished = h->finished;
    pthread_mutex_unlock(&h->mu);
    return finished;
}

static void heartbeat_finish(heartbeat_t *h)
{
    pthread_mutex_lock(&h->mu);
    h->finished = true;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

static void *heartbeat_main(void *arg)
{
    heartbeat_t *h = arg;
    int64_t next = sb_mono_ms() + h->cfg->heartbeat_ms;
    /* The 50 ms wake-ups remain for the worker's stop flag, which a signal handler sets and so
     * cannot signal the condition variable. */
    while (!heartbeat_wait(h, 50)) {
        /* A worker asked to stop does not wait for a long job to end: the work is stopped and
         * the attempt handed back (recorded FAILED, retried like any failure, by another
         * worker or this one after a restart). */
        if (*h->shutdown && !atomic_load(&h->stop)) atomic_store(&h->stop, 3);
        if (sb_mono_ms() < next) continue;
        next = sb_mono_ms() + h->cfg->heartbeat_ms;
        bool cancel = false;
        sb_err_t err = {0};
        int rc = jobs_store_heartbeat(h->store, h->id, h->attempt, h->worker, h->cfg->lease_ms, &cancel, &err);
        if (rc == SB_ENOENT) {
            sb_warn("jobs.worker", "job %lld attempt %d: lease lost; stopping the work", (long long)h->id, h->attempt);
            atomic_store(&h->stop, 2);
        } else if (rc < 0) {
            /* PostgreSQL unreachable: keep working and trying; if the lease runs out meanwhile,
             * the next heartbeat (or the final result) is refused and the work is abandoned. */
            sb_warn("jobs.worker", "job %lld: heartbeat: %s", (long long)h->id, err.msg);
        } else if (cancel && !atomic_load(&h->stop)) {
            sb_info("jobs.worker", "job %lld: cancel requested; stopping", (long long)h->id);
            atomic_store(&h->stop, 1);
        }
    }
    return NULL;
}

/* One record on jobs.logs_topic per attempt end, in the change-event envelope the connect sinks
 * read (op "c", the row in "after", source.table "job_logs"), so a clickhouse-sink or
 * postgres-sink connector subscribed to the topic stores the job log without a transform. The
 * key is the attempt ("<job>-<attempt>"): a replayed record rewrites the same row. */
static void produce_log(rd_kafka_t *rk, const jobs_config_t *cfg, const char *worker, int64_t id, int attempt,
                        const jobs_claim_t *claim, const char *status, const char *error, const json_t *result,
                        int64_t started_ms, int64_t ended_ms)
{
    if (!rk || !cfg->logs_topic[0]) return;
    char key_id[48];
    snprintf(key_id, sizeof(key_id), "%lld-%d", (long long)id, attempt);
    char *output = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (output && strlen(output) > 4096) output[4096] = 0;
    json_t *row = json_pack("{s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:I}", "id", key_id, "job_id",
                            (json_int_t)id, "attempt", attempt, "worker_id", worker, "type", claim->type, "queue",
                            claim->queue, "status", status, "error", error && error[0] ? error : NULL, "output", output,
                            "started_ms", (json_int_t)started_ms, "ended_ms", (json_int_t)ended_ms, "duration_ms",
                            (json_int_t)(ended_ms - started_ms));
    json_t *ev = json_pack("{s:n, s:o, s:s, s:I, s:{s:s, s:s, s:I, s:s, s:s}}", "before", "after", row, "op", "c",
                           "ts_ms", (json_int_t)ended_ms, "source", "connector", "streambus-jobs", "name", "jobs",
                           "ts_ms", (json_int_t)ended_ms, "schema", "jobs", "table", "job_logs");
    json_t *key = json_pack("{s:s}", "id", key_id);
    char *value = ev ? json_dumps(ev, JSON_COMPACT) : NULL, *k = key ? json_dumps(key, JSON_COMPACT) : NULL;
    if (value && k) {
        rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(cfg->logs_topic), RD_KAFKA_V_KEY(k, strlen(k)),
                                                  RD_KAFKA_V_VALUE(value, strlen(value)),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) sb_warn("jobs.worker", "job %lld: log record: %s", (long long)id, rd_kafka_err2str(e));
    }
    rd_kafka_poll(rk, 0);
    free(value);
    free(k);
    free(output);
    json_decref(ev);
    json_decref(key);
}

/* A worker runs up to jobs.worker_concurrency jobs at once, so jobs that mostly wait (an HTTP
 * call, a long SQL statement, a PIPELINE waiting for connect) do not need a process each. The
 * consumer thread polls the task topic only while a slot is free and hands each task to the slot
 * threads through a small ring; each slot has its own SQL executor connection and takes one of
 * the store's pool (one connection per slot). For no-op jobs on 2 cores it changes throughput
 * little — PostgreSQL's CPU is the limit there (docs/performance.md) — but it shortens the wait
 * before a start under a backlog. */
typedef struct worker_task {
    int64_t id;
    int attempt;
} task_t;

/* A claim or an end that a slot wants written. The slots' writes are combined: the first slot
 * to find no batch in flight writes every waiting one in one statement (one commit), the others
 * wait for it — as PostgreSQL's group commit does for WAL flushes. Under load the batches grow
 * by themselves; a lone job is written at once, without waiting for company. */
typedef struct store_op {
    struct store_op *next;
    int64_t id;
    int attempt;
    jobs_claim_t claim; /* a claim's answer */
    jobs_end_t end;     /* an end's outcome */
    int rc;
    bool done;
} store_op_t;

typedef struct op_batcher {
    store_op_t *head, **tail;
    bool busy;          /* a batch is being written */
    pthread_cond_t written;
} op_batcher_t;

typedef struct worker_pool {
    const jobs_config_t *cfg;
    const char *worker;
    volatile sig_atomic_t *stop;
    jobs_store_t *store, *hb_store;
    rd_kafka_t *logs;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a task was queued, a slot went idle, or the pool is closing */
    task_t *ring;
    int cap, head, queued, running;
    bool closing;
    pthread_mutex_t ops_mu; /* guards both batchers */
    op_batcher_t claims, ends;
} worker_pool_t;

/* Writes the batch starting at list (flush), then marks its ops done. */
static void op_write(worker_pool_t *p, op_batcher_t *b, store_op_t *op, void (*flush)(worker_pool_t *, store_op_t *))
{
    pthread_mutex_lock(&p->ops_mu);
    op->next = NULL;
    *b->tail = op;
    b->tail = &op->next;
    while (!op->done) {
        if (b->busy) {
            pthread_cond_wait(&b->written, &p->ops_mu);
            continue;
        }
        store_op_t *list = b->head;
        b->head = NULL;
        b->tail = &b->head;
        b->busy = true;
        pthread_mutex_unlock(&p->ops_mu);
        flush(p, list);
        pthread_mutex_lock(&p->ops_mu);
        for (store_op_t *o = list, *next; o; o = next) {
            next = o->next; /* o belongs to a waiting slot: read before it may return */
            o->done = true;
        }
        b->busy = false;
        pthread_cond_broadcast(&b->written);
    }
    pthread_mutex_unlock(&p->ops_mu);
}

static int op_count(const store_op_t *list)
{
    int n = 0;
    for (; list; list = list->next) n++;
    return n;
}

static void flush_claims(worker_pool_t *p, store_op_t *list)
{
    int n = op_count(list);
    int64_t *ids = calloc((size_t)n, sizeof(*ids));
    int *attempts = calloc((size_t)n, sizeof(*attempts)), *rcs = calloc((size_t)n, sizeof(*rcs));
    jobs_claim_t *claims = calloc((size_t)n, sizeof(*claims));
    sb_err_t err = {0};
    int i = 0;
    for (store_op_t *o = list; o; o = o->next, i++)
        if (ids) ids[i] = o->id, attempts[i] = o->attempt;
    int rc = ids && attempts && rcs && claims
                 ? jobs_store_claim_many(p->store, p->worker, p->cfg->lease_ms, n, ids, attempts, claims, rcs, &err)
                 : sb_err_set(&err, SB_ENOMEM, "out of memory");
    if (rc < 0) sb_warn("jobs.worker", "claiming %d task(s): %s", n, err.msg);
    i = 0;
    for (store_op_t *o = list; o; o = o->next, i++) {
        o->rc = rc < 0 ? rc : rcs[i];
        if (rc == 0) o->claim = claims[i];
        if (o->rc == SB_ECORRUPT) sb_warn("jobs.worker", "job %lld: stored payload is not JSON", (long long)o->id);
    }
    free(ids);
    free(attempts);
    free(rcs);
    free(claims);
}

static void flush_ends(worker_pool_t *p, store_op_t *list)
{
    int n = op_count(list);
    jobs_end_t *ends = calloc((size_t)n, sizeof(*ends));
    int *rcs = calloc((size_t)n, sizeof(*rcs));
    sb_err_t err = {0};
    int i = 0;
    for (store_op_t *o = list; o && ends; o = o->next, i++) ends[i] = o->end;
    int rc = ends && rcs ? jobs_store_end_many(p->store, p->worker, n, ends, rcs, &err)
                         : sb_err_set(&err, SB_ENOMEM, "out of memory");
    if (rc < 0) sb_warn("jobs.worker", "recording %d result(s): %s", n, err.msg);
    i = 0;
    for (store_op_t *o = list; o; o = o->next, i++) o->rc = rc < 0 ? rc : rcs[i];
    free(ends);
    free(rcs);
}

static void run_one(worker_pool_t *p, struct pg_conn **sql_conn, int64_t id, int attempt)
{
    const jobs_config_t *cfg = p->cfg;
    const char *worker = p->worker;
    rd_kafka_t *logs = p->logs;
    store_op_t claim_op = {.id = id, .attempt = attempt};
    op_write(p, &p->claims, &claim_op, flush_claims);
    jobs_claim_t claim = claim_op.claim;
    sb_err_t err = {0};
    int rc = claim_op.rc;
    if (rc == SB_ENOENT) {
        sb_debug("jobs.worker", "job %lld attempt %d: not claimable (duplicate, stale or cancelled)", (long long)id,
                 attempt);
        return;
    }
    if (rc < 0) return; /* flush_claims said why; the job stays QUEUED and is sent again */
    sb_info("jobs.worker", "job %lld attempt %d: running %s", (long long)id, attempt, claim.type);
    int64_t started_ms = sb_now_ms();
    heartbeat_t hb = {
        .cfg = cfg, .store = p->hb_store, .worker = worker, .id = id, .attempt = attempt, .shutdown = p->stop};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&hb.mu, NULL);
    pthread_cond_init(&hb.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    bool hb_started = pthread_create(&t, NULL, heartbeat_main, &hb) == 0;
    job_exec_ctx_t ctx = {.cfg = cfg,
                          .stop = &hb.stop,
                          .deadline_ms = sb_mono_ms() + (int64_t)claim.timeout_s * 1000,
                          .sql_conn = sql_conn};
    json_t *result = NULL;
    char error[512];
    rc = job_exec_run(claim.type, claim.payload, &ctx, &result, error, sizeof(error));
    heartbeat_finish(&hb);
    if (hb_started) pthread_join(t, NULL);
    pthread_cond_destroy(&hb.cond);
    pthread_mutex_destroy(&hb.mu);
    json_decref(claim.payload);
    if (rc == SB_EAGAIN && atomic_load(&hb.stop) == 2) {
        produce_log(logs, cfg, worker, id, attempt, &claim, "LEASE_LOST", "the lease expired; work stopped", NULL,
                    started_ms, sb_now_ms());
        json_decref(result);
        return; /* the lease is gone: another attempt owns the job now */
    }
    bool stopping = rc == SB_EAGAIN && atomic_load(&hb.stop) == 3;
    if (stopping) snprintf(error, sizeof(error), "worker %s stopped during the attempt", worker);
    jobs_outcome_t outcome = rc == 0                       ? JOB_OUTCOME_OK
                             : rc == SB_EAGAIN && !stopping ? JOB_OUTCOME_CANCELLED
                                                            : JOB_OUTCOME_FAILED;
    if (rc == SB_ELIMIT) snprintf(error, sizeof(error), "timed out after %d s", claim.timeout_s);
    int exec_rc = rc;
    if (outcome == JOB_OUTCOME_FAILED) {
        rc = jobs_store_finish(p->store, id, attempt, worker, outcome, error, NULL, cfg->backoff_base_ms,
                               cfg->backoff_max_ms, &err);
    } else {
        store_op_t end_op = {.end = {.id = id, .attempt = attempt, .outcome = outcome,
                                     .error = outcome == JOB_OUTCOME_OK ? NULL : error, .result = result}};
        op_write(p, &p->ends, &end_op, flush_ends);
        rc = end_op.rc;
        if (rc < 0) sb_err_set(&err, rc, "see the warning above");
    }
    produce_log(logs, cfg, worker, id, attempt, &claim,
                rc == SB_ENOENT ? "REFUSED"
                : outcome == JOB_OUTCOME_OK ? "COMPLETED"
                : outcome == JOB_OUTCOME_CANCELLED ? "CANCELLED"
                                                    : "FAILED",
                exec_rc == 0 ? NULL : error, result, started_ms, sb_now_ms());
    json_decref(result);
    if (rc == SB_ENOENT)
        sb_warn("jobs.worker", "job %lld attempt %d: result refused (the lease expired and the attempt was fenced off)",
                (long long)id, attempt);
    else if (rc < 0) sb_warn("jobs.worker", "job %lld: recording the result: %s", (long long)id, err.msg);
    else
        sb_info("jobs.worker", "job %lld attempt %d: %s%s%s", (long long)id, attempt,
                outcome == JOB_OUTCOME_OK ? "completed" : outcome == JOB_OUTCOME_CANCELLED ? "cancelled" : "failed",
                outcome == JOB_OUTCOME_OK ? "" : ": ", outcome == JOB_OUTCOME_OK ? "" : error);
}

static void *slot_main(void *arg)
{
    worker_pool_t *p = arg;
    struct pg_conn *sql_conn = NULL; /* the SQL executor's, kept between jobs */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->queued && !p->closing) pthread_cond_wait(&p->changed, &p->mu);
        if (!p->queued) break; /* closing and nothing left */
        task_t t = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->queued--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        run_one(p, &sql_conn, t.id, t.attempt);
        pthread_mutex_lock(&p->mu);
        p->running--;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->mu);
    job_exec_close(sql_conn);
    return NULL;
}

/* Waits (in 200 ms steps, for the stop flag) until a slot can take one more task. */
static bool wait_for_free_slot(worker_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->queued + p->running >= p->cap && !*p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->changed, &p->mu, &until);
    }
    pthread_mutex_unlock(&p->mu);
    return !*p->stop;
}

static void enqueue_task(worker_pool_t *p, int64_t id, int attempt)
{
    pthread_mutex_lock(&p->mu);
    p->ring[(p->head + p->queued) % p->cap] = (task_t){.id = id, .attempt = attempt};
    p->queued++;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->mu);
}

int jobs_worker_run(const jobs_config_t *cfg, const char *worker_id, volatile sig_atomic_t *stop, sb_err_t *err)
{
    int nslots = (int)cfg->worker_concurrency;
    /* Claims and results: one connection per slot. Heartbeats are rare (every heartbeat_ms per
     * running job), so a few connections carry them for all slots. */
    jobs_store_t *store = jobs_store_open_pool(cfg->postgres, nslots, err);
    if (!store) return SB_EIO;
    jobs_store_t *hb_store = jobs_store_open_pool(cfg->postgres, 1 + nslots / 8, err);
    if (!hb_store) {
        jobs_store_free(store);
        return SB_EIO;
    }
    char client_id[160], e[256], session[24];
    snprintf(client_id, sizeof(client_id), "streambus-jobs-worker-%.100s", worker_id);
    rd_kafka_conf_t *conf = kafka_conf(cfg, client_id);
    snprintf(session, sizeof(session), "%lld", (long long)cfg->worker_session_timeout_ms);
    rd_kafka_conf_set(conf, "group.id", cfg->consumer_group, e, sizeof(e));
    rd_kafka_conf_set(conf, "session.timeout.ms", session, e, sizeof(e));
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", e, sizeof(e));
    /* Committing before the work is safe: a task lost with a dead worker is recovered from
     * PostgreSQL by lease expiry, never from the topic. */
    rd_kafka_conf_set(conf, "enable.auto.commit", "true", e, sizeof(e));
    /* The poll loop waits while every slot is busy, for as long as the jobs run (timeoutSeconds
     * up to 86400). At Kafka's default of 5 min the client would then leave the group and force
     * a rebalance; liveness is the lease's job here, and session.timeout.ms still catches a dead
     * process. 86400000 is librdkafka's maximum. */
    rd_kafka_conf_set(conf, "max.poll.interval.ms", "86400000", e, sizeof(e));
    rd_kafka_conf_set(conf, "allow.auto.create.topics", "true", e, sizeof(e));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!rk) {
        jobs_store_free(store);
        jobs_store_free(hb_store);
        return sb_err_set(err, SB_EINVAL, "consumer: %s", e);
    }
    create_task_topic(rk, cfg);
    /* The job log producer: losing a log record loses no job state, so acks=1 and a short linger. */
    rd_kafka_conf_t *lconf = kafka_conf(cfg, client_id);
    rd_kafka_conf_set(lconf, "acks", "1", e, sizeof(e));
    rd_kafka_conf_set(lconf, "linger.ms", "20", e, sizeof(e));
    rd_kafka_t *logs = cfg->logs_topic[0] ? rd_kafka_new(RD_KAFKA_PRODUCER, lconf, e, sizeof(e)) : NULL;
    if (!logs) rd_kafka_conf_destroy(lconf);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    sb_info("jobs.worker", "worker %s consuming %s in group %s", worker_id, cfg->topic, cfg->consumer_group);
    worker_pool_t pool = {.cfg = cfg, .worker = worker_id, .stop = stop, .store = store, .hb_store = hb_store,
                          .logs = logs, .cap = nslots};
    pool.ring = calloc((size_t)nslots, sizeof(*pool.ring));
    pthread_t *slots = calloc((size_t)nslots, sizeof(*slots));
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.changed, NULL);
    pthread_mutex_init(&pool.ops_mu, NULL);
    pthread_cond_init(&pool.claims.written, NULL);
    pthread_cond_init(&pool.ends.written, NULL);
    pool.claims.tail = &pool.claims.head;
    pool.ends.tail = &pool.ends.head;
    int started = 0;
    while (pool.ring && slots && started < nslots && pthread_create(&slots[started], NULL, slot_main, &pool) == 0)
        started++;
    if (started < nslots) sb_warn("jobs.worker", "started %d of %d job slots", started, nslots);
    while (started > 0 && wait_for_free_slot(&pool)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sb_debug("jobs.worker", "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        json_t *task = json_loadb(m->payload, m->len, 0, NULL);
        json_t *id = json_object_get(task, "id"), *attempt = json_object_get(task, "attempt");
        if (json_is_integer(id) && json_is_integer(attempt))
            enqueue_task(&pool, json_integer_value(id), (int)json_integer_value(attempt));
        else sb_warn("jobs.worker", "ignoring a malformed task message at offset %lld", (long long)m->offset);
        json_decref(task);
        rd_kafka_message_destroy(m);
    }
    /* Stopping: tasks handed over but not started are left to PostgreSQL (still QUEUED, they are
     * produced again after jobs.requeue_after_ms); running jobs are stopped by their heartbeat
     * threads, which see the stop flag, and record their attempt FAILED. */
    pthread_mutex_lock(&pool.mu);
    pool.queued = 0;
    pool.closing = true;
    pthread_cond_broadcast(&pool.changed);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < started; i++) pthread_join(slots[i], NULL);
    pthread_cond_destroy(&pool.changed);
    pthread_mutex_destroy(&pool.mu);
    pthread_cond_destroy(&pool.claims.written);
    pthread_cond_destroy(&pool.ends.written);
    pthread_mutex_destroy(&pool.ops_mu);
    free(slots);
    free(pool.ring);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (logs) {
        rd_kafka_flush(logs, 5000);
        rd_kafka_destroy(logs);
    }
    jobs_store_free(store);
    jobs_store_free(hb_store);
    if (started == 0) return sb_err_set(err, SB_ENOMEM, "could not start the worker's job threads");
    return 0;
}
