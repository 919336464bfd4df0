#ifndef STREAMBUS_CONNECT_CONNECTOR_H
#define STREAMBUS_CONNECT_CONNECTOR_H

/* The plug-in contract between the connect runtime (src/connect/runtime*.c) and connectors
 * (src/connect/sources/, src/connect/sinks/). A connector is a vtable registered by name;
 * the runtime owns threads, the Kafka clients (librdkafka), retries of whole batches, the
 * DLQ, transforms, metrics and status. A connector only talks to its database.
 *
 * Threads: every call on one connector instance comes from that instance's task thread
 * (one thread per task; tasks.max is 1 for now), except validate(), which the REST thread
 * calls before creating anything. Connectors never touch the broker directly. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Error classes decide what the runtime does with a failure. */
typedef enum {
    CONNECT_ERR_TRANSIENT = 1, /* connection lost, server restarting, serialization failure: retry with backoff */
    CONNECT_ERR_RECORD = 2,    /* this record cannot be applied (type mismatch, constraint, bad JSON): DLQ */
    CONNECT_ERR_FATAL = 3,     /* bad config, missing permission: the task fails and says why */
} connect_err_class_t;

typedef struct connect_err {
    connect_err_class_t cls;
    int index; /* for CONNECT_ERR_RECORD from a batch put: the failing record, or -1 if unknown */
    char msg[512];
} connect_err_t;

/* Fills err (which may be NULL) with a class, the failing record's index (-1 when none) and a
 * printf-style message; returns -1 so that callers can `return connect_err_set(...)`. */
int connect_err_set(connect_err_t *err, connect_err_class_t cls, int index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Config errors for a 400 response: field name -> message. */
typedef struct connect_config_errors {
    int count;
    struct {
        char field[64];
        char msg[256];
    } items[32];
} connect_config_errors_t;

void connect_config_error_add(connect_config_errors_t *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One record as a source emits it and a sink receives it. Slices are borrowed for the call. */
typedef struct connect_record {
    const char *topic;
    int32_t partition; /* sink side: where it was read; source side: -1 = partition by key */
    int64_t offset;    /* sink side only */
    int64_t timestamp_ms;
    sb_slice_t key;   /* len -1 = null */
    sb_slice_t value; /* len -1 = null (tombstone) */
} connect_record_t;

/* ---- sources ---- */

typedef struct source_ctx source_ctx_t;

/* Emits one record. `position` is an opaque, NUL-terminated source position (e.g. an LSN);
 * once every record emitted up to and including one carrying a position has been acknowledged
 * by the broker (acks=all), the runtime calls commit(position) — never earlier. May block
 * when too many records are in flight. Returns 0 or a negative SB_E* code (runtime stopping). */
int source_emit(source_ctx_t *ctx, const connect_record_t *rec, const char *position);
/* The position last committed for this connector (durable in the runtime's offsets topic), or
 * NULL when the connector never committed one. Valid until the next call into the runtime. */
const char *source_committed_position(source_ctx_t *ctx);
/* The connector's name, for topics/slots and logs. */
const char *source_name(source_ctx_t *ctx);

typedef struct source_ops {
    const char *name; /* connector.class value, e.g. "postgres-source", "datagen" */
    const char *description;
    /* Checks config (a JSON object of strings, Kafka Connect style); adds one entry per bad
     * field. Returns 0 if valid. */
    int (*validate)(const json_t *config, connect_config_errors_t *errs);
    int (*start)(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err);
    /* Emits whatever is available, waiting at most timeout_ms for something to happen.
     * Returns 0, or -1 with err filled (TRANSIENT: the runtime backs off and calls poll
     * again; FATAL: the task fails). */
    int (*poll)(void *state, int timeout_ms, connect_err_t *err);
    /* Everything emitted up to `position` is durable in the broker. */
    void (*commit)(void *state, const char *position);
    void (*stop)(void *state); /* frees state */
    /* Optional: writes connector-specific status (e.g. replication lag) into a JSON object. */
    void (*status)(void *state, json_t *out);
    /* Optional: checks the form of a position an operator restores (PUT .../offsets, ctl
     * offsets import) before it is stored, so a typo is a 400 and not a FAILED task later.
     * Returns 0, or -1 with the reason in err. */
    int (*validate_position)(const char *position, sb_err_t *err);
} source_ops_t;

/* validate_position for sources whose position is a count (a sequence number, a byte offset). */
int connect_position_validate_count(const char *position, sb_err_t *err);

/* ---- sinks ---- */

typedef struct sink_ctx sink_ctx_t;
const char *sink_name(sink_ctx_t *ctx);

/* A topic-partition position the sink stored in its target (exactly-once). */
typedef struct sink_position {
    char topic[256];
    int32_t partition;
    int64_t next_offset; /* the first offset not yet applied */
} sink_position_t;

typedef struct sink_ops {
    const char *name; /* e.g. "postgres-sink", "clickhouse-sink" */
    const char *description;
    int (*validate)(const json_t *config, connect_config_errors_t *errs);
    int (*start)(sink_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err);
    /* Returns the positions stored in the target (the runtime seeks there; partitions without
     * one start from the earliest offset). *out is malloc'ed; the runtime frees it. */
    int (*load_positions)(void *state, sink_position_t **out, int *n, connect_err_t *err);
    /* Applies records (in offset order per partition) and records, in the SAME target
     * transaction, the next offset of every partition in the batch. All or nothing: on
     * failure nothing of the batch is applied. Returns 0 or -1 with err (RECORD with index
     * when one record is at fault; the runtime then retries records one at a time and sends
     * the failing one to the DLQ, recording its position with apply of the rest). */
    int (*put)(void *state, const connect_record_t *recs, int n, connect_err_t *err);
    /* Optional, both or neither: put in two halves, so that the target works on one batch
     * while the runtime polls and transforms the next. put_begin does what put does but may
     * return before the outcome is known; recs (and the bytes they point to) stay valid until
     * put_end, which returns that outcome like put would. The runtime calls nothing else on
     * the connector between the two. When either fails, nothing of the batch is applied and
     * the runtime puts the same records again with put, which classifies the error. */
    int (*put_begin)(void *state, const connect_record_t *recs, int n, connect_err_t *err);
    int (*put_end)(void *state, connect_err_t *err);
    /* Optional, with put_begin: called with the records of the next put_begin while the
     * previous batch is still in flight, so the connector can do its client-side work
     * (parsing) meanwhile. Must not talk to the target. The next put_begin or put with this
     * very array (same pointer and count, contents unchanged) may use the result. */
    void (*prepare)(void *state, const connect_record_t *recs, int n);
    /* Records that a record was skipped (sent to the DLQ): advance the stored position past it
     * without applying it, so a restart does not retry it. */
    int (*skip)(void *state, const connect_record_t *rec, connect_err_t *err);
    void (*stop)(void *state);
    void (*status)(void *state, json_t *out);
} sink_ops_t;

/* Registry (connect/registry.c): every built-in connector is listed there. */
const source_ops_t *connect_source_find(const char *cls);
const sink_ops_t *connect_sink_find(const char *cls);
/* For GET /connector-plugins. */
void connect_plugins_foreach(void (*cb)(void *arg, const char *cls, const char *type, const char *desc), void *arg);

#endif
