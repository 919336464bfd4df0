#ifndef STREAMBUS_CONNECT_SOURCES_SCYLLA_CDC_H
#define STREAMBUS_CONNECT_SOURCES_SCYLLA_CDC_H

/* The pure parts of the ScyllaDB CDC source (scylla.c), kept apart so unit tests reach them
 * without a server: cdc$time (timeuuid) arithmetic, the cdc$operation -> Debezium op mapping,
 * the set of changes already emitted (dedupe by stream, cdc$time, cdc$batch_seq_no), the
 * fast-path / safety-pass windows of one stream group, and the position (checkpoint) text.
 *
 * Times are milliseconds since the Unix epoch. A window (from, to] is read as
 *   "cdc$time" > max_timeuuid(from) AND "cdc$time" <= max_timeuuid(to)
 * so consecutive windows neither overlap nor leave a gap at millisecond granularity. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* cdc$operation values (ScyllaDB docs, "CDC log table"). */
enum {
    SCYLLA_OP_PREIMAGE = 0,
    SCYLLA_OP_UPDATE = 1,
    SCYLLA_OP_INSERT = 2,
    SCYLLA_OP_ROW_DELETE = 3,
    SCYLLA_OP_PARTITION_DELETE = 4,
    SCYLLA_OP_RANGE_START_INCL = 5,
    SCYLLA_OP_RANGE_START_EXCL = 6,
    SCYLLA_OP_RANGE_END_INCL = 7,
    SCYLLA_OP_RANGE_END_EXCL = 8,
    SCYLLA_OP_POSTIMAGE = 9,
};

/* What a log row becomes: 'c', 'u', 'd' (row and partition deletes), 'R' (a range delete
 * bound: not a Debezium op, emitted on the table's range-delete topic), 'I' (a pre- or
 * post-image: merged into the change of its batch), or 0 for a value this reader does not
 * know (reported, never dropped silently). */
char scylla_op_kind(int cdc_operation);

/* ---- timeuuid (cdc$time) ---- */

/* Milliseconds since the epoch of a version 1 UUID (truncated toward minus infinity). */
int64_t scylla_timeuuid_ms(const uint8_t u[16]);
/* The largest timeuuid Scylla orders at millisecond ms (its last 100-ns tick, with the
 * clock-sequence/node bytes that sort highest as signed bytes: 0x7f...). */
void scylla_timeuuid_max(int64_t ms, uint8_t out[16]);
/* Scylla's order: timestamp first, then the remaining bytes compared as signed. */
int scylla_timeuuid_cmp(const uint8_t a[16], const uint8_t b[16]);
/* "xxxxxxxx-xxxx-..." (37 bytes with the NUL). */
void scylla_uuid_format(const uint8_t u[16], char out[37]);

/* ---- changes already emitted ---- */

typedef struct scylla_change_id {
    uint8_t stream[16]; /* a stream id is 16 bytes (token, random bits, vnode index, version) */
    uint8_t time[16];
    int32_t seq;
} scylla_change_id_t;

typedef struct scylla_seen scylla_seen_t;

scylla_seen_t *scylla_seen_new(void);
void scylla_seen_free(scylla_seen_t *s);
bool scylla_seen_contains(const scylla_seen_t *s, const scylla_change_id_t *id);
/* Adds id; 1 when it was new, 0 when it was already there, SB_ENOMEM. */
int scylla_seen_add(scylla_seen_t *s, const scylla_change_id_t *id);
/* Forgets every id whose cdc$time is at or before ms (the window that can no longer receive
 * late writes), so the set holds at most one confidence window of changes. */
void scylla_seen_prune(scylla_seen_t *s, int64_t ms);
size_t scylla_seen_count(const scylla_seen_t *s);

/* ---- windows of one stream group ---- */

typedef struct scylla_window_cfg {
    int64_t lag_ms;          /* fast path reads up to now - lag_ms */
    int64_t confidence_ms;   /* a change older than now - confidence_ms no longer appears */
    int64_t query_window_ms; /* longest window one query reads (catching up) */
} scylla_window_cfg_t;

typedef struct scylla_progress {
    int64_t gen_ms;     /* the group's generation start */
    int64_t gen_end_ms; /* the next generation's start, or INT64_MAX */
    int64_t final_ms; /* every change at or before it has been emitted, and none can still appear */
    int64_t fast_ms;  /* the fast path has read up to here (>= final_ms) */
} scylla_progress_t;

/* The next fast-path window (from, to]; false when there is nothing to read yet. */
bool scylla_fast_window(const scylla_progress_t *p, const scylla_window_cfg_t *c, int64_t now_ms,
                        int64_t *from, int64_t *to);
/* The safety pass re-reads (final_ms, fast_ms]; false when that is empty. */
bool scylla_safety_window(const scylla_progress_t *p, int64_t *from, int64_t *to);
/* After a safety pass that started at started_ms and read up to `to`: what is now final. */
void scylla_safety_done(scylla_progress_t *p, const scylla_window_cfg_t *c, int64_t started_ms,
                        int64_t to);
/* The group's generation has ended and everything in it is final. */
bool scylla_progress_finished(const scylla_progress_t *p);

/* ---- position ---- */

/* The checkpoint of every (table, stream group), as the runtime stores it (one string per
 * connector):
 *   {"v":1,"groups":[["ks.table",gen_ms,group_key,final_ms,"last change id"],...]}
 * group_key is the vnode's range_end (v2 layout) or the token of the group's first stream
 * (v1 layout). A generation absent from the position but older than every generation in it
 * was read to its end; one newer than all of them is read from its start. */
#define SCYLLA_NAME_MAX 256
typedef struct scylla_pos_entry {
    char table[SCYLLA_NAME_MAX]; /* "keyspace.table": identifiers [A-Za-z0-9_] */
    int64_t gen_ms;
    int64_t key;
    int64_t final_ms;
    char last[48]; /* "<timeuuid>/<batch_seq_no>" of the last change emitted, or "" */
} scylla_pos_entry_t;

/* Parses a position; *out is malloc'ed (free it). SB_EINVAL with a message naming what is
 * wrong. An empty list is valid. */
int scylla_pos_parse(const char *text, scylla_pos_entry_t **out, int *n, sb_err_t *err);
/* Appends the position text of n entries to w. */
void scylla_pos_write(sb_wr_t *w, const scylla_pos_entry_t *e, int n);
/* While the initial snapshot runs, the position also holds its progress:
 *   {"v":1,"snapshot":{"start_ms":T0,"done":k,"units":u},"groups":[]}
 * (k of u (table, token range) units read; change data is read from T0 - the confidence
 * window once the snapshot is complete). Returns 1 and fills the fields when the position has
 * one, 0 when not, SB_EINVAL when it is malformed. */
int scylla_pos_snapshot(const char *text, int64_t *start_ms, int *done, int *units, sb_err_t *err);
void scylla_pos_write_snapshot(sb_wr_t *w, int64_t start_ms, int done, int units);

/* Token range i of n over the Murmur3 ring, as (lo, hi] (the first starts at INT64_MIN, the
 * last ends at INT64_MAX, so together they cover every token once). */
void scylla_token_range(int i, int n, int64_t *lo, int64_t *hi);

/* "ks.table" (or "table") made of [A-Za-z0-9_] identifiers: what the source accepts. */
bool scylla_valid_table_name(const char *s);

#endif
