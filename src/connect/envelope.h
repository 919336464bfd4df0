#ifndef STREAMBUS_CONNECT_ENVELOPE_H
#define STREAMBUS_CONNECT_ENVELOPE_H

/* Debezium-compatible change events, shared by every source (see docs/sources.md):
 *   key   = {"<pk col>":<value>,...}
 *   value = {"before":{..}|null,"after":{..}|null,"source":{...,"column_types":{..}},
 *            "op":"c|u|d|r|t","ts_ms":<processing time>}
 * Written by hand into an sb_wr_t rather than through a JSON DOM: sources encode 50k+ events/s
 * and a DOM costs an allocation per field. Per-table parts that never change (escaped column
 * names, the column_types object, db/schema/table) are rendered once in envelope_table_new. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* How a column's PostgreSQL text form becomes a JSON value. Values that do not fit the JSON
 * form (NaN, integers beyond 2^53, numerics with more digits than a double holds) are written
 * as strings so no reader silently loses precision. */
typedef enum {
    ENVELOPE_KIND_STRING = 0,
    ENVELOPE_KIND_INTEGER, /* smallint, integer, bigint, oid */
    ENVELOPE_KIND_FLOAT,   /* real, double precision */
    ENVELOPE_KIND_NUMERIC, /* numeric: a number while it has at most 15 significant digits */
    ENVELOPE_KIND_BOOL,    /* 't'/'f' */
} envelope_kind_t;

typedef struct envelope_column {
    const char *name;
    const char *type_name; /* PostgreSQL type as format_type() prints it, e.g. "numeric(10,2)" */
    envelope_kind_t kind;
    bool key; /* part of the primary key: goes into the record key */
} envelope_column_t;

typedef struct envelope_table envelope_table_t;

/* Copies everything it is given. Returns NULL on allocation failure. */
envelope_table_t *envelope_table_new(const char *db, const char *schema, const char *table,
                                     const envelope_column_t *cols, int ncols);
void envelope_table_free(envelope_table_t *t);
int envelope_table_ncols(const envelope_table_t *t);
bool envelope_table_has_key(const envelope_table_t *t);
const envelope_column_t *envelope_table_column(const envelope_table_t *t, int i);

/* One column value in PostgreSQL text form. */
typedef struct envelope_value {
    const char *p;
    int32_t len; /* ENVELOPE_NULL or ENVELOPE_ABSENT instead of a length */
} envelope_value_t;
#define ENVELOPE_NULL (-1)
/* The value is not known (an unchanged TOASTed column): the field is left out of the row, so
 * a sink keeps what it has instead of overwriting it with a placeholder. */
#define ENVELOPE_ABSENT (-2)

typedef struct envelope_source {
    const char *connector; /* "postgresql" | "datagen" */
    const char *name;      /* topic prefix */
    int64_t ts_ms;         /* commit time */
    int64_t lsn;           /* < 0: null */
    int64_t txid;          /* < 0: null */
    const char *snapshot;  /* "true" | "false" | "last" */
    /* Connector-specific members appended inside "source", raw JSON, each starting with a comma
     * (e.g. ",\"ttl\":60"); NULL: none. Borrowed. */
    const char *extra;
    size_t extra_len;
} envelope_source_t;

/* Appends the record key built from the key columns of `row`. Returns 0, or SB_ENOENT when the
 * table has no key columns (the record key is then null). */
int envelope_write_key(sb_wr_t *w, const envelope_table_t *t, const envelope_value_t *row);

/* Appends a change event. `before`/`after` are arrays of ncols values or NULL for a JSON null.
 * op is one of 'c','u','d','r','t'. Returns 0 or SB_ENOMEM. */
int envelope_write_value(sb_wr_t *w, const envelope_table_t *t, char op, const envelope_value_t *before,
                         const envelope_value_t *after, const envelope_source_t *src, int64_t ts_ms);

/* Appends s as a JSON string literal (with quotes). */
void envelope_write_json_string(sb_wr_t *w, const char *s, size_t len);
/* Appends the JSON form of one value of the given kind. */
void envelope_write_json_value(sb_wr_t *w, envelope_kind_t kind, envelope_value_t v);

/* The JSON kind for a PostgreSQL built-in type oid (STRING for anything unknown). */
envelope_kind_t envelope_kind_for_pg_type(uint32_t type_oid);
/* format_type(oid, typmod) for common built-in types, written into buf. Returns false when the
 * type is not built in (the caller asks the server). */
bool envelope_pg_type_name(uint32_t type_oid, int32_t typmod, char *buf, size_t cap);

#endif
