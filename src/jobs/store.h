#ifndef STREAMBUS_JOBS_STORE_H
#define STREAMBUS_JOBS_STORE_H

/* Durable job state in PostgreSQL. One store = a small pool of libpq connections (one unless
 * opened with jobs_store_open_pool); each call holds one connection for its duration. Threads
 * with their own rhythm (scheduler, worker, heartbeat) open their own store. The schema is created on open (under an advisory lock, so the API and workers can start
 * together) and carries a version number; a newer schema than this binary knows is refused.
 *
 * Every state change goes through an UPDATE of jobs.state; a trigger writes one row per change
 * into job_transitions (job, attempt, from, to, worker, time, error) in the same transaction,
 * so no path can change a state without recording it.
 *
 * Fencing: jobs.attempt is incremented when a job is queued. A worker's claim, heartbeat and
 * result all say which attempt they belong to and match `attempt = $expected AND state =
 * 'RUNNING' AND worker_id = $me`; a result of an attempt whose lease expired (and which was
 * queued again under a new number) matches no row and is refused. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "jobs/job.h"
#include "jobs/jobs_config.h"

#define JOBS_SCHEMA_VERSION 2

typedef struct jobs_store jobs_store_t;

jobs_store_t *jobs_store_open(const char *conninfo, sb_err_t *err);
/* A store of nconns connections: up to nconns calls run at once (the API's HTTP threads share
 * one such store, so a slow query does not queue every other request behind it). */
jobs_store_t *jobs_store_open_pool(const char *conninfo, int nconns, sb_err_t *err);
void jobs_store_free(jobs_store_t *s);
/* 0 when a trivial query works (readiness). */
int jobs_store_ping(jobs_store_t *s, sb_err_t *err);

/* Inserts a job, or when its idempotency key exists returns that job with *existed = true.
 * *job receives the job as JSON (caller decrefs). Dependencies that do not exist → SB_ENOENT. */
int jobs_store_submit(jobs_store_t *s, const job_spec_t *spec, json_t **job, bool *existed, sb_err_t *err);
/* jobs_store_submit for n jobs in one transaction (one commit, so one WAL flush, for the batch;
 * all stored or none): appends each job (or the existing one its key names) to the array jobs.
 * A job may depend on one earlier in the batch. On an error jobs is left empty. */
int jobs_store_submit_batch(jobs_store_t *s, const job_spec_t *specs, size_t n, json_t *jobs, sb_err_t *err);
/* A job with its transitions ("attempts"); SB_ENOENT when none. */
int jobs_store_get(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err);
/* Jobs ordered by id, after cursor (0 = from the start), at most limit; NULL filters = any.
 * *page = {"jobs":[...], "nextCursor": id or null}. */
int jobs_store_list(jobs_store_t *s, const char *state, const char *type, const char *queue, int64_t cursor,
                    int limit, json_t **page, sb_err_t *err);
/* Cancels a job: not yet running → CANCELLED now; RUNNING → cancel requested (the worker stops
 * it and records CANCELLED). Terminal → SB_EINVAL; unknown → SB_ENOENT. */
int jobs_store_cancel(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err);
/* Puts a DEAD_LETTER or CANCELLED job back to PENDING with a fresh retry budget. */
int jobs_store_retry(jobs_store_t *s, int64_t id, json_t **job, sb_err_t *err);
int jobs_store_stats(jobs_store_t *s, json_t **stats, sb_err_t *err);
/* Appends the job metrics in Prometheus text format, computed from the tables (so they are the
 * same whichever API instance is scraped, and survive restarts): submitted / completed / failed /
 * dead-lettered per type and queue, queue depth and running per queue, lease expiries, worker
 * utilisation, and histograms of time in queue and run time. Each scrape reads every transition:
 * meant for scrape intervals of seconds, not for tight loops. */
int jobs_store_metrics(jobs_store_t *s, sb_wr_t *out, sb_err_t *err);

/* ---- scheduler */

typedef struct jobs_dispatch {
    int64_t id;
    int attempt;
    int limit; /* index into the allow array of jobs_store_queue_due, -1 = none spent */
} jobs_dispatch_t;

/* What one limited queue may start this round. */
typedef struct jobs_queue_allow {
    const char *queue;
    int concurrency; /* 0 = unlimited; else at most this many QUEUED + RUNNING */
    int tokens;      /* -1 = unlimited; else at most this many newly queued */
} jobs_queue_allow_t;

/* Moves up to cap due jobs (PENDING/RETRYING, run_at passed, every dependency COMPLETED, not a
 * cron template), highest priority first, to QUEUED with attempt + 1, and returns them in out
 * (count in *n). Queues named in allow get at most what allow says, taken in priority order
 * within the queue. Also returns QUEUED jobs not claimed for requeue_after_ms (their message may
 * be lost). */
int jobs_store_queue_due(jobs_store_t *s, int64_t requeue_after_ms, const jobs_queue_allow_t *allow, int nallow,
                         jobs_dispatch_t *out, int cap, int *n, sb_err_t *err);
/* For each cron template whose tick has come (run_at passed), in one transaction: inserts an
 * ordinary job copied from it (scheduleId = the template) and moves run_at to the first tick
 * after max(now_ms, the due tick). So a tick missed during downtime runs once, and the next
 * run survives a restart because it is the stored run_at. *n = jobs spawned. */
int jobs_store_fire_cron(jobs_store_t *s, int64_t now_ms, int *n, sb_err_t *err);
/* Fails jobs whose dependency ended without completing (DEAD_LETTER / CANCELLED) → DEAD_LETTER. */
int jobs_store_fail_orphans(jobs_store_t *s, int *n, sb_err_t *err);
/* Ends the attempts of RUNNING jobs whose lease passed: FAILED("lease expired") then RETRYING
 * with backoff or DEAD_LETTER; a job whose cancel was requested becomes CANCELLED. */
int jobs_store_expire_leases(jobs_store_t *s, int64_t backoff_base_ms, int64_t backoff_max_ms, int *n,
                             sb_err_t *err);

/* ---- worker */

typedef struct jobs_claim {
    char type[16];
    char queue[64];
    json_t *payload; /* owned by the caller after a successful claim */
    int timeout_s;
} jobs_claim_t;

/* QUEUED(attempt) → RUNNING by worker with a lease, for n tasks in one statement (one commit):
 * rcs[i] is 0 (claims[i] filled), SB_ENOENT when the job is not QUEUED under that attempt (a
 * duplicate or stale task message), or SB_ECORRUPT. A task named twice is claimed once. Returns SB_EIO (every rcs[i] too) when
 * the statement failed. Rows are locked in id order, so concurrent batches cannot deadlock. */
int jobs_store_claim_many(jobs_store_t *s, const char *worker, int64_t lease_ms, int n, const int64_t *ids,
                          const int *attempts, jobs_claim_t *claims, int *rcs, sb_err_t *err);
/* Extends the lease. SB_ENOENT when the lease is lost (expired and taken over, or the job left
 * RUNNING); *cancel says a cancel was requested. */
int jobs_store_heartbeat(jobs_store_t *s, int64_t id, int attempt, const char *worker, int64_t lease_ms,
                         bool *cancel, sb_err_t *err);

typedef enum { JOB_OUTCOME_OK, JOB_OUTCOME_FAILED, JOB_OUTCOME_CANCELLED } jobs_outcome_t;

/* Records the end of an attempt (fenced). FAILED is followed by RETRYING (run_at = now +
 * backoff) or DEAD_LETTER after the last allowed attempt. SB_ENOENT = refused (stale attempt). */
int jobs_store_finish(jobs_store_t *s, int64_t id, int attempt, const char *worker, jobs_outcome_t outcome,
                      const char *error, const json_t *result, int64_t backoff_base_ms, int64_t backoff_max_ms,
                      sb_err_t *err);

/* An attempt's end that needs no retry decision: COMPLETED (result) or CANCELLED (error). */
typedef struct jobs_end {
    int64_t id;
    int attempt;
    jobs_outcome_t outcome; /* JOB_OUTCOME_OK or JOB_OUTCOME_CANCELLED */
    const char *error;      /* CANCELLED: the reason (NULL: "cancelled by request") */
    const json_t *result;   /* OK: the executor's result, or NULL */
} jobs_end_t;

/* Records n such ends in one statement (one commit), fenced like jobs_store_finish: rcs[i] is 0
 * or SB_ENOENT (refused). Returns SB_EIO (every rcs[i] too) when the statement failed. */
int jobs_store_end_many(jobs_store_t *s, const char *worker, int n, const jobs_end_t *ends, int *rcs, sb_err_t *err);

#endif
