#ifndef STREAMBUS_CQL_CQL_PROTO_H
#define STREAMBUS_CQL_CQL_PROTO_H

/* CQL native protocol v4 messages: the frame header, request encoders and response decoders
 * (apache/cassandra doc/native_protocol_v4.spec; names keep the spec's spelling). Pure: bytes
 * in, structs out, no I/O. cql_conn.c moves the frames; the fuzz driver
 * tests/fuzz/fuzz_cql_frame.c feeds these decoders hostile bytes.
 *
 * A decoded response borrows the body it was decoded from: its slices point into that body, so
 * the body must outlive it. cql_result_t can take ownership of the body (cql_result_own_body)
 * so a caller holds one object. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "cql/cql_types.h"

/* Protocol versions this client speaks. v5 adds checksummed segment framing after the
 * handshake (cql_segment.h), [int] query flags and result metadata ids. */
#define CQL_PROTOCOL_V4 4
#define CQL_PROTOCOL_V5 5
#define CQL_HEADER_LEN 9
/* The spec's limit on a frame body. Connections use a smaller configurable limit. */
#define CQL_MAX_FRAME_BODY (256u * 1024 * 1024)
/* Columns in one result: far above any real table (Cassandra warns past a few hundred). */
#define CQL_MAX_COLUMNS 4096

/* Return codes beyond common/err.h's. */
enum {
    CQL_ESERVER = -64,  /* the server answered ERROR; the code and its message are in the detail */
    CQL_ETIMEOUT = -65, /* no answer within the request timeout */
};

typedef enum cql_opcode {
    CQL_OP_ERROR = 0x00,
    CQL_OP_STARTUP = 0x01,
    CQL_OP_READY = 0x02,
    CQL_OP_AUTHENTICATE = 0x03,
    CQL_OP_OPTIONS = 0x05,
    CQL_OP_SUPPORTED = 0x06,
    CQL_OP_QUERY = 0x07,
    CQL_OP_RESULT = 0x08,
    CQL_OP_PREPARE = 0x09,
    CQL_OP_EXECUTE = 0x0A,
    CQL_OP_REGISTER = 0x0B,
    CQL_OP_EVENT = 0x0C,
    CQL_OP_BATCH = 0x0D,
    CQL_OP_AUTH_CHALLENGE = 0x0E,
    CQL_OP_AUTH_RESPONSE = 0x0F,
    CQL_OP_AUTH_SUCCESS = 0x10,
} cql_opcode_t;
const char *cql_opcode_name(int opcode);

/* Frame flags (spec 2.2). */
enum {
    CQL_FLAG_COMPRESSION = 0x01,
    CQL_FLAG_TRACING = 0x02,
    CQL_FLAG_CUSTOM_PAYLOAD = 0x04,
    CQL_FLAG_WARNING = 0x08,
};

typedef enum cql_consistency {
    CQL_CONSISTENCY_ANY = 0x0000,
    CQL_CONSISTENCY_ONE = 0x0001,
    CQL_CONSISTENCY_TWO = 0x0002,
    CQL_CONSISTENCY_THREE = 0x0003,
    CQL_CONSISTENCY_QUORUM = 0x0004,
    CQL_CONSISTENCY_ALL = 0x0005,
    CQL_CONSISTENCY_LOCAL_QUORUM = 0x0006,
    CQL_CONSISTENCY_EACH_QUORUM = 0x0007,
    CQL_CONSISTENCY_SERIAL = 0x0008,
    CQL_CONSISTENCY_LOCAL_SERIAL = 0x0009,
    CQL_CONSISTENCY_LOCAL_ONE = 0x000A,
} cql_consistency_t;
/* "LOCAL_QUORUM" -> 0x0006 (case-insensitive); SB_EINVAL for an unknown name. */
int cql_consistency_parse(const char *name, cql_consistency_t *out);
const char *cql_consistency_name(cql_consistency_t c);

/* Error codes (spec section 9). */
enum {
    CQL_ERR_SERVER = 0x0000,
    CQL_ERR_PROTOCOL = 0x000A,
    CQL_ERR_BAD_CREDENTIALS = 0x0100,
    CQL_ERR_UNAVAILABLE = 0x1000,
    CQL_ERR_OVERLOADED = 0x1001,
    CQL_ERR_IS_BOOTSTRAPPING = 0x1002,
    CQL_ERR_TRUNCATE = 0x1003,
    CQL_ERR_WRITE_TIMEOUT = 0x1100,
    CQL_ERR_READ_TIMEOUT = 0x1200,
    CQL_ERR_READ_FAILURE = 0x1300,
    CQL_ERR_FUNCTION_FAILURE = 0x1400,
    CQL_ERR_WRITE_FAILURE = 0x1500,
    CQL_ERR_SYNTAX = 0x2000,
    CQL_ERR_UNAUTHORIZED = 0x2100,
    CQL_ERR_INVALID = 0x2200,
    CQL_ERR_CONFIG = 0x2300,
    CQL_ERR_ALREADY_EXISTS = 0x2400,
    CQL_ERR_UNPREPARED = 0x2500,
};
const char *cql_error_name(int32_t code); /* "Syntax_error", ... */

/* ---- frames ---- */

typedef struct cql_frame_header {
    uint8_t version; /* with the direction bit: 0x84 for a v4 response */
    uint8_t flags;
    int16_t stream;
    uint8_t opcode;
    int32_t length;
} cql_frame_header_t;

/* Decodes and checks a response header: version 0x80 | version, a body length within max_body. */
int cql_frame_header_decode(const uint8_t buf[CQL_HEADER_LEN], int version, size_t max_body,
                            cql_frame_header_t *h, sb_err_t *err);

/* Request frames are built in an sb_wr_t: begin writes the header with a zero length, the
 * caller appends the body, end patches the length. */
void cql_frame_begin(sb_wr_t *w, int version, int16_t stream, cql_opcode_t opcode);
void cql_frame_end(sb_wr_t *w);

/* Skips what a response's flags put before the body proper (tracing id, warnings, custom
 * payload) and returns the number of warnings. */
int cql_response_skip_prefix(sb_rd_t *rd, uint8_t flags);

/* ---- bound values ---- */

/* An ordered list of [value]s for QUERY/EXECUTE, encoded as they are added. */
typedef struct cql_values {
    sb_wr_t buf;
    int count;
} cql_values_t;

void cql_values_init(cql_values_t *v);
void cql_values_deinit(cql_values_t *v);
void cql_values_null(cql_values_t *v);
void cql_values_unset(cql_values_t *v);               /* "not set": leaves the column alone */
void cql_values_raw(cql_values_t *v, const void *p, int32_t n); /* already serialized */
void cql_values_text(cql_values_t *v, const char *s); /* text, varchar, ascii */
void cql_values_blob(cql_values_t *v, const void *p, size_t n);
void cql_values_int(cql_values_t *v, int32_t x);
void cql_values_bigint(cql_values_t *v, int64_t x); /* bigint, counter, timestamp (ms), time (ns) */
void cql_values_smallint(cql_values_t *v, int16_t x);
void cql_values_tinyint(cql_values_t *v, int8_t x);
void cql_values_bool(cql_values_t *v, bool x);
void cql_values_double(cql_values_t *v, double x);
void cql_values_float(cql_values_t *v, float x);
void cql_values_uuid(cql_values_t *v, const uint8_t u[16]); /* uuid, timeuuid */
void cql_values_date(cql_values_t *v, int64_t days_since_epoch);
/* The serialized bytes of value i (len -1 for null or unset); SB_ENOENT past the end. */
int cql_values_get(const cql_values_t *v, int i, sb_slice_t *out);

/* ---- requests ---- */

typedef struct cql_query_params {
    cql_consistency_t consistency;
    const cql_values_t *values; /* NULL: none */
    int32_t page_size;          /* > 0: page the result */
    sb_slice_t paging_state;    /* len < 0: first page */
    cql_consistency_t serial_consistency; /* used when has_serial_consistency */
    bool has_serial_consistency;
    bool has_timestamp;
    int64_t timestamp_us;       /* default write timestamp */
} cql_query_params_t;

/* A params struct with consistency ONE, no values, no paging. */
void cql_query_params_init(cql_query_params_t *p);

/* Each encoder writes one whole frame (v5: one envelope) of protocol `version`. */
void cql_encode_options(sb_wr_t *w, int version, int16_t stream);
/* CQL_VERSION 3.0.0 plus the driver name/version that servers log. No compression. */
void cql_encode_startup(sb_wr_t *w, int version, int16_t stream, const char *driver_version);
/* SASL PLAIN token: \0username\0password. */
void cql_encode_auth_response_plain(sb_wr_t *w, int version, int16_t stream, const char *user,
                                    const char *password);
void cql_encode_register(sb_wr_t *w, int version, int16_t stream, const char *const *events, int nevents);
void cql_encode_query(sb_wr_t *w, int version, int16_t stream, const char *query, const cql_query_params_t *p);
void cql_encode_prepare(sb_wr_t *w, int version, int16_t stream, const char *query);
/* result_metadata_id: v5 only (from the Prepared result, or a Rows result's new_metadata_id). */
void cql_encode_execute(sb_wr_t *w, int version, int16_t stream, sb_slice_t id, sb_slice_t result_metadata_id,
                        const cql_query_params_t *p);

/* ---- responses ---- */

typedef struct cql_server_error {
    int32_t code;
    sb_slice_t message;
    sb_slice_t unprepared_id; /* UNPREPARED: the id the server does not know */
} cql_server_error_t;

/* ERROR body -> code, message and (for UNPREPARED) the id. */
int cql_error_decode(const uint8_t *body, size_t len, cql_server_error_t *out, sb_err_t *err);

/* AUTHENTICATE body -> the authenticator class. */
int cql_authenticate_decode(const uint8_t *body, size_t len, sb_slice_t *authenticator, sb_err_t *err);

/* SUPPORTED body: checks the [string multimap] and finds one key's first value (len -1 if absent). */
int cql_supported_find(const uint8_t *body, size_t len, const char *key, sb_slice_t *first, sb_err_t *err);
/* Whether key lists exactly `value` ("5/v5" in PROTOCOL_VERSIONS; "5/v5-beta" does not count). */
bool cql_supported_has(const uint8_t *body, size_t len, const char *key, const char *value);

typedef struct cql_column {
    sb_slice_t keyspace;
    sb_slice_t table;
    sb_slice_t name;
    cql_type_t *type;
} cql_column_t;

/* Rows metadata (4.2.5.2) or prepared bind metadata (4.2.5.4). */
typedef struct cql_metadata {
    int32_t flags;
    int32_t ncols;
    cql_column_t *cols; /* NULL when the No_metadata flag was set */
    sb_slice_t paging_state; /* len -1 unless Has_more_pages */
    sb_slice_t new_metadata_id; /* v5 Metadata_changed: len -1 otherwise */
    int32_t npk;
    uint16_t *pk_indexes; /* prepared only: bind marker index of each partition key column */
} cql_metadata_t;

enum {
    CQL_RESULT_VOID = 0x0001,
    CQL_RESULT_ROWS = 0x0002,
    CQL_RESULT_SET_KEYSPACE = 0x0003,
    CQL_RESULT_PREPARED = 0x0004,
    CQL_RESULT_SCHEMA_CHANGE = 0x0005,
};

typedef struct cql_result {
    int32_t kind;
    cql_metadata_t meta; /* ROWS: the columns; PREPARED: the bind markers */
    cql_metadata_t result_meta; /* PREPARED: the columns an EXECUTE will return */
    int32_t nrows;
    sb_slice_t *values; /* ROWS: nrows * meta.ncols cells, row-major */
    sb_slice_t prepared_id;
    sb_slice_t result_metadata_id; /* PREPARED, v5: len -1 in v4 */
    sb_slice_t keyspace; /* SET_KEYSPACE */
    sb_slice_t change_type, target, change_keyspace, change_name; /* SCHEMA_CHANGE */
    uint8_t *owned_body; /* freed with the result when set */
} cql_result_t;

/* RESULT body of protocol `version` -> result. The result borrows body (cql_result_own_body). */
int cql_result_decode(const uint8_t *body, size_t len, int version, cql_result_t *out, sb_err_t *err);
/* Frees what decode allocated and the owned body; the struct itself is not freed. */
void cql_result_deinit(cql_result_t *r);
/* deinit + free(r) for a heap result (cql_conn / cql_client hand those out); accepts NULL. */
void cql_result_free(cql_result_t *r);
/* The result takes ownership of body (a malloc'd buffer). */
void cql_result_own_body(cql_result_t *r, uint8_t *body);

static inline bool cql_result_has_more_pages(const cql_result_t *r)
{
    return r->kind == CQL_RESULT_ROWS && r->meta.paging_state.len >= 0;
}
/* The cell at (row, col); {NULL,-1} (null) when out of range. */
sb_slice_t cql_result_cell(const cql_result_t *r, int row, int col);
/* Column index by name, or -1. */
int cql_result_column(const cql_result_t *r, const char *name);

typedef struct cql_event {
    sb_slice_t type;   /* "TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE" */
    sb_slice_t change; /* "NEW_NODE", "UP", "CREATED", ... */
    char address[64];  /* TOPOLOGY/STATUS: "ip" */
    int32_t port;
    sb_slice_t target, keyspace, name; /* SCHEMA_CHANGE */
} cql_event_t;

int cql_event_decode(const uint8_t *body, size_t len, cql_event_t *out, sb_err_t *err);

#endif
