#ifndef STREAMBUS_JOBS_JOB_H
#define STREAMBUS_JOBS_JOB_H

/* What a job is, independent of where it is stored: states and their allowed transitions, the
 * retry backoff, and validation of a submitted job (every wrong field named). Pure functions,
 * unit-tested without PostgreSQL. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    JOB_PENDING = 0,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_RETRYING,
    JOB_DEAD_LETTER,
    JOB_CANCELLED,
    JOB_STATE_COUNT
} job_state_t;

const char *job_state_name(job_state_t s);
int job_state_parse(const char *s, job_state_t *out); /* 0 or SB_EINVAL */
/* Whether the orchestrator may move a job from `from` to `to` (the store's SQL follows this
 * table; tests check both). */
bool job_transition_allowed(job_state_t from, job_state_t to);
bool job_state_terminal(job_state_t s); /* COMPLETED, DEAD_LETTER, CANCELLED */

/* Delay before attempt `attempt`+1 after attempt `attempt` (1-based) failed: base·2^(attempt-1)
 * capped at max, with "equal jitter" — half fixed, half uniform by rand01 in [0,1) — so that
 * jobs failing together do not retry together, yet the delay never collapses to zero. */
int64_t job_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, double rand01);

#define JOB_MAX_DEPS 64
#define JOB_MAX_BATCH 500

typedef struct job_spec {
    char name[128];
    char type[16]; /* HTTP, SQL, SHELL, EMAIL */
    char queue[64];
    char idempotency_key[128]; /* "" = none */
    json_t *payload;           /* owned */
    int priority;              /* 0..10, higher first */
    int max_retries;           /* 0..10 */
    int timeout_s;             /* 1..86400 */
    int64_t run_at_ms;         /* 0 = now */
    int64_t depends_on[JOB_MAX_DEPS];
    int ndeps;
    char cron[128];     /* "" = a one-off job; else a schedule that spawns one job per tick */
    char time_zone[64]; /* of the cron expression; "UTC" unless given */
} job_spec_t;

/* Validates a submitted job object. On success fills *out (job_spec_deinit frees it) and
 * returns 0. Otherwise returns SB_EINVAL and appends one {"field":..,"message":..} per wrong
 * field to errors (a JSON array the caller owns); prefix is put before field names (e.g.
 * "jobs[3]."). */
int job_spec_parse(const json_t *body, const char *prefix, job_spec_t *out, json_t *errors);
void job_spec_deinit(job_spec_t *spec);

/* For a cron job, sets run_at_ms to its first tick after max(now_ms, runAt), reading the time
 * zone from the TZ database (so not pure: one small file read). An unknown zone or an
 * expression that never fires is reported as a wrong field like job_spec_parse does, and
 * SB_EINVAL returned. A job without cron is left alone. */
int job_spec_schedule(job_spec_t *spec, int64_t now_ms, const char *prefix, json_t *errors);

/* RFC 3339 UTC timestamp ("2026-12-04T10:00:00Z", optional fraction) → ms since the epoch. */
int job_parse_time(const char *s, int64_t *out_ms);

#endif
