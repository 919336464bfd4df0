#ifndef STREAMBUS_CONNECT_WORKER_H
#define STREAMBUS_CONNECT_WORKER_H

/* The connect runtime: runs connectors (one task thread each), keeps their configs, positions
 * and statuses in broker topics, and exposes the operations behind the REST API.
 *
 * Threads: the public functions are called from the REST thread (or the main thread) and take
 * the worker lock; each connector's task thread calls into its connector and takes only that
 * connector's lock to publish its state. Lock order: worker lock, then connector lock. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "connect/connector.h"
#include "metrics/metrics.h"

typedef struct connect_worker connect_worker_t;

typedef struct connect_worker_options {
    char bootstrap[512];
    char worker_id[128]; /* shown in status, e.g. "127.0.0.1:8083" */
    char configs_topic[128];
    char offsets_topic[128];
    char status_topic[128];
    char dlq_topic_prefix[128]; /* a sink's DLQ topic is <prefix><connector name> */
    metrics_registry_t *metrics; /* borrowed; may be NULL */
} connect_worker_options_t;

void connect_worker_options_defaults(connect_worker_options_t *o);

/* Connects to the broker, reads back every stored config and position and starts the
 * connectors (paused ones stay paused). */
connect_worker_t *connect_worker_new(const connect_worker_options_t *o, sb_err_t *err);
/* Stops every task (each flushes what it has produced) and frees the worker. Accepts NULL. */
void connect_worker_free(connect_worker_t *w);

/* Checks a connector config: runtime keys, transforms and the connector's own validate().
 * On success *normalized is a copy with every value as a string (the form connectors get). */
int connect_worker_validate(const char *name, const json_t *config, json_t **normalized,
                            connect_config_errors_t *errs);

/* Creates or updates a connector. create_only: SB_EEXIST when it exists. Bad config:
 * SB_EINVAL with errs filled. *created tells which happened. */
int connect_worker_put(connect_worker_t *w, const char *name, const json_t *config, bool create_only,
                       bool *created, connect_config_errors_t *errs, sb_err_t *err);
/* These return SB_ENOENT for an unknown connector. */
int connect_worker_delete(connect_worker_t *w, const char *name, sb_err_t *err);
int connect_worker_pause(connect_worker_t *w, const char *name, sb_err_t *err);
int connect_worker_resume(connect_worker_t *w, const char *name, sb_err_t *err);
int connect_worker_restart(connect_worker_t *w, const char *name, sb_err_t *err);

/* New JSON values owned by the caller; NULL when the connector does not exist. */
json_t *connect_worker_names(connect_worker_t *w);
json_t *connect_worker_info(connect_worker_t *w, const char *name);   /* {name, config, tasks, type} */
json_t *connect_worker_config(connect_worker_t *w, const char *name); /* the config object */
json_t *connect_worker_status(connect_worker_t *w, const char *name); /* Kafka Connect status shape */

/* A source's committed position: {name, type, position|null}; NULL when unknown. */
json_t *connect_worker_offsets(connect_worker_t *w, const char *name);
/* Restores a source's position (backup/restore): stops its task, stores the position in the
 * offsets topic and restarts the task from there. SB_EINVAL for sinks, whose positions live in
 * their target. */
int connect_worker_set_position(connect_worker_t *w, const char *name, const char *position, sb_err_t *err);

/* The DLQ topic of a connector (which need not exist any more). */
void connect_worker_dlq_topic(connect_worker_t *w, const char *name, char *out, size_t cap);
const char *connect_worker_bootstrap(const connect_worker_t *w);

/* Readiness by component, the body of GET /health/ready:
 *   {"status":"ready"|"not_ready", "detail":"<why not>" (when not ready),
 *    "components":[{"name","kind":"broker"|"connector","status":"up"|"down"|"failed"|"unknown",
 *                   "error","since","since_ms", ...}]}
 * The broker is probed on each call (up to 1.5 s); a connector's database is down from a
 * transient failure of its task to reach it until the next success, and a FAILED connector
 * is "failed". Ready when nothing is down or failed ("unknown": not tried yet). */
json_t *connect_worker_health(connect_worker_t *w);
/* The same as a yes/no with the reasons in detail. */
bool connect_worker_ready(connect_worker_t *w, char *detail, size_t cap);

/* Building blocks of that body, for callers that have no worker yet (broker not reached). */
json_t *connect_health_component(const char *name, const char *kind, const char *status, const char *error,
                                 int64_t since_ms);
/* Takes components; returns the whole body with status and detail derived from them. */
json_t *connect_health_body(json_t *components);

#endif
