#ifndef STREAMBUS_CONNECT_SOURCES_PGOUTPUT_H
#define STREAMBUS_CONNECT_SOURCES_PGOUTPUT_H

/* Decoder for PostgreSQL's streaming-replication copy messages ('w' XLogData, 'k' primary
 * keepalive) and for the pgoutput logical replication messages (protocol version 1) carried in
 * XLogData. Pure: bytes in, structs out, no allocation, no I/O. Every slice in a decoded
 * message borrows the input buffer, so it is valid only as long as that buffer is.
 *
 * Message layouts follow "Logical Replication Message Formats" and "Streaming Replication
 * Protocol" in the PostgreSQL documentation; names keep the documentation's spelling. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* PostgreSQL's MaxTupleAttributeNumber: no relation message or tuple can carry more. */
#define PGOUTPUT_MAX_COLUMNS 1664

/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PGOUTPUT_EPOCH_OFFSET_US 946684800000000LL

/* ---- the replication copy stream ---- */

typedef enum {
    PG_COPY_XLOGDATA = 'w',
    PG_COPY_KEEPALIVE = 'k',
} pg_copy_kind_t;

typedef struct pg_copy_msg {
    pg_copy_kind_t kind;
    uint64_t wal_start;   /* XLogData: where the payload's WAL starts (0 for most pgoutput data) */
    uint64_t wal_end;     /* the server's current end of WAL */
    int64_t send_time_us; /* server clock, µs since 2000-01-01 */
    bool reply_requested; /* keepalive: answer now or be disconnected at wal_sender_timeout */
    sb_slice_t payload;   /* XLogData: one pgoutput message */
} pg_copy_msg_t;

/* Decodes one CopyData payload of START_REPLICATION. Returns 0, or SB_EINVAL for an unknown
 * kind or a truncated message. */
int pg_copy_msg_decode(const uint8_t *p, size_t len, pg_copy_msg_t *out, sb_err_t *err);

/* Builds the 34-byte standby status update ('r'): write/flush/apply LSNs and the client clock.
 * `out` must hold PG_STANDBY_STATUS_LEN bytes. */
#define PG_STANDBY_STATUS_LEN 34
void pg_standby_status_encode(uint8_t out[PG_STANDBY_STATUS_LEN], uint64_t write_lsn, uint64_t flush_lsn,
                              uint64_t apply_lsn, int64_t now_us_since_2000, bool reply_requested);

/* ---- pgoutput messages ---- */

typedef enum {
    PGOUTPUT_BEGIN = 'B',
    PGOUTPUT_COMMIT = 'C',
    PGOUTPUT_ORIGIN = 'O',
    PGOUTPUT_RELATION = 'R',
    PGOUTPUT_TYPE = 'Y',
    PGOUTPUT_INSERT = 'I',
    PGOUTPUT_UPDATE = 'U',
    PGOUTPUT_DELETE = 'D',
    PGOUTPUT_TRUNCATE = 'T',
    PGOUTPUT_MESSAGE = 'M',
} pgoutput_kind_t;

/* TupleData column kinds. */
typedef enum {
    PGOUTPUT_COL_NULL = 'n',
    PGOUTPUT_COL_UNCHANGED_TOAST = 'u', /* value not sent: it did not change and is stored out of line */
    PGOUTPUT_COL_TEXT = 't',
    PGOUTPUT_COL_BINARY = 'b',
} pgoutput_col_kind_t;

typedef struct pgoutput_tuple_col {
    char kind;        /* pgoutput_col_kind_t */
    sb_slice_t value; /* for 't' and 'b'; len -1 otherwise */
} pgoutput_tuple_col_t;

typedef struct pgoutput_tuple {
    int ncols;
    pgoutput_tuple_col_t cols[PGOUTPUT_MAX_COLUMNS];
} pgoutput_tuple_t;

#define PGOUTPUT_COLUMN_FLAG_KEY 1

typedef struct pgoutput_relation_col {
    uint8_t flags;   /* PGOUTPUT_COLUMN_FLAG_KEY: part of the replica identity */
    sb_slice_t name; /* without the NUL */
    uint32_t type_oid;
    int32_t typmod;
} pgoutput_relation_col_t;

/* REPLICA IDENTITY settings (pg_class.relreplident). */
#define PGOUTPUT_REPLIDENT_DEFAULT 'd'
#define PGOUTPUT_REPLIDENT_NOTHING 'n'
#define PGOUTPUT_REPLIDENT_FULL 'f'
#define PGOUTPUT_REPLIDENT_INDEX 'i'

typedef struct pgoutput_msg {
    pgoutput_kind_t kind;
    union {
        struct {
            uint64_t final_lsn;
            int64_t commit_time_us; /* since 2000-01-01 */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            uint64_t commit_lsn;
            uint64_t end_lsn;
            int64_t commit_time_us;
        } commit;
        struct {
            uint64_t commit_lsn;
            sb_slice_t name;
        } origin;
        struct {
            uint32_t relid;
            sb_slice_t nspname; /* empty for pg_catalog */
            sb_slice_t relname;
            char replident;
            int ncols;
            pgoutput_relation_col_t cols[PGOUTPUT_MAX_COLUMNS];
        } relation;
        struct {
            uint32_t type_oid;
            sb_slice_t nspname;
            sb_slice_t typname;
        } type;
        struct {
            uint8_t flags; /* 1 = transactional */
            uint64_t lsn;
            sb_slice_t prefix;
            sb_slice_t content;
        } message;
        struct {
            uint32_t relid;
            /* 0 = no old tuple, 'K' = old replica-identity key, 'O' = whole old row (FULL) */
            char old_kind;
            bool has_new; /* insert/update */
        } change;
        struct {
            uint8_t options; /* 1 = CASCADE, 2 = RESTART IDENTITY */
            int nrelids;
            sb_slice_t relids_raw; /* nrelids big-endian Int32; read with pgoutput_truncate_relid */
        } truncate;
    } u;
    /* Tuples of I/U/D messages live outside the union so a change can hold both. */
    pgoutput_tuple_t old_tuple;
    pgoutput_tuple_t new_tuple;
} pgoutput_msg_t;

/* Decodes one pgoutput message. `out` is large (two tuples of PGOUTPUT_MAX_COLUMNS): allocate
 * it once and reuse it. Returns 0, or SB_EINVAL for an unknown message kind, a truncated or
 * over-long message, or a field out of range (too many columns, unknown tuple marker). */
int pgoutput_decode(const uint8_t *p, size_t len, pgoutput_msg_t *out, sb_err_t *err);

uint32_t pgoutput_truncate_relid(const pgoutput_msg_t *m, int i);

/* LSN text form "X/Y" (upper-case hex, as pg_lsn prints it). buf needs 18 bytes. */
void pg_lsn_format(uint64_t lsn, char buf[18]);
/* Parses "X/Y"; returns 0 or SB_EINVAL. */
int pg_lsn_parse(const char *s, uint64_t *out);

#endif
