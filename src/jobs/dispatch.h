#ifndef STREAMBUS_JOBS_DISPATCH_H
#define STREAMBUS_JOBS_DISPATCH_H

/* Moving jobs between PostgreSQL and the broker.
 *
 * The scheduler (one thread in `streambus jobs`) loops every jobs.scheduler_interval_ms (and
 * at once when the API stored a job, see jobs_scheduler_kick): it
 * ends attempts whose lease expired, dead-letters jobs whose dependency failed, moves due jobs
 * to QUEUED and produces {"id":N,"attempt":A} to jobs.topic keyed by the job id (acks=all).
 *
 * A worker (`streambus jobs worker --id W`) consumes jobs.topic in the consumer group
 * jobs.consumer_group, claims each job in PostgreSQL (fenced by attempt), heartbeats the lease
 * from a second thread while the executor runs, and records the result. One job at a time per
 * worker process: scale out by running more workers. */

#include <signal.h>

#include "common/err.h"
#include "jobs/jobs_config.h"

typedef struct jobs_scheduler jobs_scheduler_t;

jobs_scheduler_t *jobs_scheduler_start(const jobs_config_t *cfg, sb_err_t *err);
/* Whether the last round reached PostgreSQL and the broker; reason in detail otherwise. */
bool jobs_scheduler_ready(jobs_scheduler_t *s, char *detail, size_t cap);
/* Whether the broker answered the scheduler's last metadata request (every 2 s). */
bool jobs_scheduler_broker_ready(jobs_scheduler_t *s, char *detail, size_t cap);
void jobs_scheduler_stop(jobs_scheduler_t *s);
/* A job may be due now (the API calls it after a submit): the next round starts at once instead
 * of after jobs.scheduler_interval_ms — only the dispatch of due jobs, at most one such round per
 * 20 ms, so a stream of submits is dispatched in small batches, not one round per job. Lease
 * expiry, dependency failures and cron still run every interval. */
void jobs_scheduler_kick(jobs_scheduler_t *s);

/* Runs a worker until *stop is set. Returns 0, or a negative code with err on start-up failure. */
int jobs_worker_run(const jobs_config_t *cfg, const char *worker_id, volatile sig_atomic_t *stop, sb_err_t *err);

#endif
