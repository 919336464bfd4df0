#ifndef STREAMBUS_CONNECT_EVENT_PARSE_H
#define STREAMBUS_CONNECT_EVENT_PARSE_H

/* Parses a Debezium-style change event (key + value JSON, no schema wrapper) into a row model
 * that sinks turn into SQL. Built for the sink hot path: the parser is a single pass over the
 * bytes with the bounded reader, allocates nothing per column (columns, names and decoded
 * strings go into a bump arena that a sink resets once per batch), and leaves values it does
 * not need to interpret (numbers, nested objects) as slices of the input.
 *
 * Value texts may point into the record bytes, so an event is valid only while both the
 * record and the arena live (a sink's put() call). The arena also remembers the bytes of the
 * last column_types object it parsed, so every record parsed into an arena must stay alive
 * until event_arena_reset or event_arena_deinit. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Bump allocator in chunks; event_arena_reset keeps the first chunk for the next batch. */
typedef struct event_arena_chunk event_arena_chunk_t;
typedef struct event_column event_column_t;
typedef struct event_arena {
    event_arena_chunk_t *head;
    size_t used; /* bytes used in head */
    /* The last source.column_types object parsed in this batch: events of one table repeat
     * it byte for byte, so the parsed form is reused when the bytes match. */
    const uint8_t *types_raw;
    size_t types_len;
    event_column_t *types_cols;
    int types_n;
} event_arena_t;

void event_arena_init(event_arena_t *a);
void event_arena_reset(event_arena_t *a);
void event_arena_deinit(event_arena_t *a);
/* Returns n bytes aligned to 8, or NULL when out of memory. */
void *event_arena_alloc(event_arena_t *a, size_t n);

typedef enum {
    EVENT_OP_CREATE = 'c',
    EVENT_OP_UPDATE = 'u',
    EVENT_OP_DELETE = 'd',
    EVENT_OP_READ = 'r', /* snapshot row: applied like a create */
    EVENT_OP_TRUNCATE = 't',
    EVENT_OP_TOMBSTONE = 'x', /* the null value that follows a delete */
} event_op_t;

typedef enum {
    EVENT_JSON_NULL,
    EVENT_JSON_FALSE,
    EVENT_JSON_TRUE,
    EVENT_JSON_INT,    /* text = the number as written */
    EVENT_JSON_REAL,   /* text = the number as written (fraction or exponent) */
    EVENT_JSON_STRING, /* text = the decoded UTF-8 string (never contains NUL) */
    EVENT_JSON_OBJECT, /* text = the raw JSON text of the object */
    EVENT_JSON_ARRAY,  /* text = the raw JSON text of the array */
} event_json_type_t;

typedef struct event_value {
    event_json_type_t type;
    int32_t len;
    const char *text; /* not NUL-terminated; NULL for null and booleans */
} event_value_t;

struct event_column {
    const char *name; /* NUL-terminated, decoded */
    event_value_t value;
    const char *pg_type; /* from source.column_types, or NULL when the event has none */
};

/* A JSON object of columns; present == false for a JSON null or a missing field. */
typedef struct event_row {
    bool present;
    int n;
    event_column_t *cols;
} event_row_t;

typedef struct event {
    event_op_t op;
    event_row_t key; /* the record key's columns (absent for a null key) */
    event_row_t before;
    event_row_t after;
    bool has_source_ts;
    int64_t source_ts_ms; /* source.ts_ms: commit time in the source */
    bool has_lsn;
    int64_t lsn;               /* source.lsn */
    int64_t ts_ms;             /* processing time, 0 when absent */
    const char *source_schema; /* NULL when absent */
    const char *source_table;
} event_t;

/* Parses one record. key.len / value.len == -1 mean null; a null value is a tombstone
 * (op EVENT_OP_TOMBSTONE, only the key set). Rejects malformed JSON, a missing or unknown
 * op, a non-object key and strings containing U+0000 (no database text type stores it),
 * with SB_EINVAL and a message naming the problem. Unknown fields are ignored. */
int event_parse(event_arena_t *arena, sb_slice_t key, sb_slice_t value, event_t *ev, sb_err_t *err);

/* Returns the column named `name` in row, or NULL. */
const event_column_t *event_row_find(const event_row_t *row, const char *name);

/* ---- Outline: a JSON document with the byte span of every value, for editing an event
 * without re-encoding it (connect/transforms rewrites a few members and copies the rest).
 * Same scanner and validation as event_parse; nothing event-specific is checked. */

typedef struct event_member event_member_t;

/* One JSON value. Objects within the outline's depth list their members; deeper values are
 * validated and kept as raw text only. */
typedef struct event_outline {
    event_value_t value; /* type, and the decoded text of a string, as event_parse gives it */
    const uint8_t *raw;  /* the value's JSON text as written */
    int32_t raw_len;
    bool expanded; /* an object whose members are listed below */
    int n;
    event_member_t *members; /* arena memory, in document order */
} event_outline_t;

struct event_member {
    const uint8_t *name_raw; /* the name as written, quotes included */
    int32_t name_raw_len;
    const char *name; /* decoded, not NUL-terminated */
    int32_t name_len;
    event_outline_t value;
};

/* Parses one JSON document of any type into an outline allocated in arena. `depth` is how
 * many levels of objects list their members (1: the top-level object's members; 2: also the
 * members of objects directly inside it). Unlike event_parse, strings must also be valid
 * UTF-8 (the outline's output is passed on as JSON, so invalid bytes would travel on).
 * Malformed JSON, nesting beyond 64 levels and \u0000 are SB_EINVAL with
 * "malformed <what> JSON: <reason>" in err. The outline points into bytes and the arena. */
int event_outline(event_arena_t *arena, const char *what, sb_slice_t bytes, int depth, event_outline_t *out,
                  sb_err_t *err);

#endif
