#ifndef STREAMBUS_CONNECT_RECONCILE_RECONCILE_H
#define STREAMBUS_CONNECT_RECONCILE_RECONCILE_H

/* Reconciliation and erasure for a postgres-source -> postgres-sink pipeline.
 *
 * A "pipeline" is a pair of connectors: the postgres-source whose topic.prefix P produces the
 * topics "P.<schema>.<table>" and a postgres-sink whose `topics` list (or `topics.regex`)
 * takes them. A sink's name identifies its pipeline; a source's name stands for every sink it
 * feeds, each table going to the sinks that consume its topic. The REST body may also name
 * both ends explicitly ("source"/"sink").
 *
 * Comparison (see docs/reconciliation.md): the source table's primary-key space is split into
 * chunks of RECON_CHUNK_ROWS keys; each chunk's count and md5 over the row text of the columns
 * common to both tables is computed on both sides; differing chunks are drilled down row by
 * row (mode full, or whenever repair is asked for).
 *
 * Threads: jobs run one at a time on the service's own thread, never on the REST thread. The
 * REST handlers only queue jobs and copy results out under the service lock. Erasure runs on
 * the REST thread (it is two single-row deletes). */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "connect/worker.h"
#include "http/admin_http.h"
#include "metrics/metrics.h"

#define RECON_CHUNK_ROWS 10000
#define RECON_KEEP_JOBS 50
/* Mismatching rows kept per job (the counts stay exact beyond it). */
#define RECON_MAX_MISMATCHES 10000
#define RECON_AUDIT_TOPIC "_streambus-audit"

typedef enum { RECON_MODE_COUNT = 0, RECON_MODE_CHECKSUM, RECON_MODE_FULL } recon_mode_t;

/* The two ends of a pipeline, resolved from connector configs. */
typedef struct recon_pair {
    char source_name[160], sink_name[160];
    char source_conninfo[1024], target_conninfo[1024];
    char topic_prefix[256];
    char target_schema[64];
    char table_format[256];
    json_t *topics; /* array of the sink's row topics that start with the prefix */
    json_t *tables; /* tables[i]: the source's "schema.table" published on topics[i] */
} recon_pair_t;

void recon_pair_deinit(recon_pair_t *p);
/* Resolves the pair from a connector name (either end) or explicit names (either may be NULL).
 * SB_ENOENT / SB_EINVAL with a message naming what is missing. */
int recon_pair_resolve(connect_worker_t *w, const char *connector, const char *source, const char *sink,
                       recon_pair_t *out, sb_err_t *err);
/* Maps a table the user named ("schema.table", or "table" when unambiguous) to the source's
 * "schema.table" and the target's "schema.table". */
int recon_pair_table(const recon_pair_t *p, const char *name, char *src, size_t src_cap, char *dst, size_t dst_cap,
                     sb_err_t *err);

/* Every pipeline a request names. A source alone (as `connector` or `source`, without a
 * sink) stands for each postgres-sink that consumes one of its row topics, through `topics`
 * or `topics.regex`; a sink, or a source and a sink, name exactly one pipeline. */
typedef struct recon_pipelines {
    recon_pair_t *items;
    int n;
} recon_pipelines_t;

int recon_pipelines_resolve(connect_worker_t *w, const char *connector, const char *source, const char *sink,
                            recon_pipelines_t *out, sb_err_t *err);
void recon_pipelines_deinit(recon_pipelines_t *ps);

/* A table as one pipeline carries it. */
typedef struct recon_table_ref {
    const recon_pair_t *pair; /* borrowed from the recon_pipelines_t */
    char src[256], dst[256];  /* "schema.table" on each side */
} recon_table_ref_t;

/* The pipelines that carry the table the user named (several when more than one sink consumes
 * its topic), at most cap of them. SB_ENOENT when none does; SB_EINVAL when the name is
 * ambiguous within a pipeline. */
int recon_pipelines_table(const recon_pipelines_t *ps, const char *name, recon_table_ref_t *refs, int cap, int *nrefs,
                          sb_err_t *err);

/* One table's comparison; the counters are -1 when the mode cannot know them. */
typedef struct recon_table_result {
    int64_t source_rows, target_rows;
    int64_t chunks, chunks_differing;
    int64_t missing_in_target, missing_in_source, differing;
    int64_t repaired_upserts, repaired_deletes;
    bool drilled; /* exact row lists were computed */
} recon_table_result_t;

/* Compares (and with repair, fixes) one table. Appends mismatch objects
 * {table, kind, key, repaired} to `mismatches` while it holds fewer than RECON_MAX_MISMATCHES. */
int recon_compare_table(const recon_pair_t *p, const char *src_table, const char *dst_table, recon_mode_t mode,
                        bool repair, recon_table_result_t *res, json_t *mismatches, sb_err_t *err);

/* Deletes one row by key from the source and the target table. `key` is a JSON object of the
 * primary-key columns, or a plain value for a single-column key. */
int recon_erase_row(const recon_pair_t *p, const char *src_table, const char *dst_table, const char *key,
                    int64_t *source_deleted, int64_t *target_deleted, char *key_hash_hex, sb_err_t *err);

typedef struct recon_service recon_service_t;

/* Starts the job thread. `metrics` may be NULL. The scheduler reads each connector's
 * `reconcile.interval.ms` (0 or absent = off). */
recon_service_t *recon_service_new(connect_worker_t *w, metrics_registry_t *metrics, sb_err_t *err);
/* Stops the thread (a running job finishes its current chunk query first). Accepts NULL. */
void recon_service_free(recon_service_t *s);
/* POST /reconciliation/trigger, GET /reconciliation/jobs[/{id}], GET /reconciliation/mismatches,
 * DELETE /records/{connector}/{table}/{key}. */
int recon_rest_register(admin_http_t *http, recon_service_t *s, sb_err_t *err);

/* Queues a job; returns its id (> 0) or a negative SB_E* code. `tables` is an array of names or
 * NULL for every table of the pipeline. */
int64_t recon_service_submit(recon_service_t *s, const char *connector, const char *source, const char *sink,
                             const json_t *tables, recon_mode_t mode, bool repair, const char *trigger, sb_err_t *err);
/* Copies of a job / all jobs (newest first); NULL when unknown. */
json_t *recon_service_job(recon_service_t *s, int64_t id);
json_t *recon_service_jobs(recon_service_t *s);

#endif
