#ifndef STREAMBUS_JOBS_EXECUTORS_H
#define STREAMBUS_JOBS_EXECUTORS_H

/* The executors that do a job's work, on the worker's thread:
 *   HTTP  — libcurl: payload {url, method, headers{}, body, expectStatus}; success is the
 *           expected status (any 2xx when not given).
 *   SQL   — PostgreSQL (executors.sql_conninfo): {statement, params[]} in one transaction with
 *           statement_timeout set to the job's remaining time. A worker keeps its connection
 *           between jobs (reset with DISCARD ALL after each, closed after any failure).
 *   SHELL — off unless executors.shell_enabled; {command, args[]}: command must be on the
 *           executors.shell_allow list; run with execv (no shell, no interpolation) in its own
 *           process group, which is killed on cancel, timeout or when the worker dies.
 *   EMAIL — libcurl SMTP to executors.smtp_url as executors.smtp_from: {to[], subject, body};
 *           STARTTLS required unless executors.smtp_require_tls is false.
 *   PIPELINE — the connect REST API (executors.connect_url): {action: connector|resume, name,
 *           config} until the connector runs, or {action: reconcile, connector, tables[] |
 *           allTables, mode, repair} until the reconciliation is done.
 * Each polls *stop (set by the heartbeat thread on cancel or lost lease) at least every 100 ms. */

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "jobs/jobs_config.h"

typedef struct job_exec_ctx {
    const jobs_config_t *cfg;
    atomic_int *stop;    /* non-zero: stop now */
    int64_t deadline_ms; /* sb_mono_ms() clock; past it the job has timed out */
    /* The worker's SQL connection, kept from job to job (NULL: none yet); the SQL executor
     * opens it when needed and closes it after any failure. NULL pointer: connect per job. */
    struct pg_conn **sql_conn;
} job_exec_ctx_t;

/* Closes a connection kept in job_exec_ctx_t.sql_conn (NULL is fine). */
void job_exec_close(struct pg_conn *sql_conn);

/* Returns 0 (success; *result may be set, caller decrefs), SB_EIO (the work failed; reason in
 * error), SB_EAGAIN (stopped by *stop) or SB_ELIMIT (timed out). */
int job_exec_run(const char *type, const json_t *payload, const job_exec_ctx_t *ctx, json_t **result, char *error,
                 size_t cap);

#endif
