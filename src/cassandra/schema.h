#ifndef STREAMBUS_CASSANDRA_SCHEMA_H
#define STREAMBUS_CASSANDRA_SCHEMA_H

/* The table definitions the mutation decoder needs, shaped like the rows of
 * system_schema.tables (keyspace_name, table_name, id) and system_schema.columns
 * (column_name, kind, position, type, clustering_order), so the Cassandra source can fill it
 * from a CQL query. Commit-log mutations carry only a table id and column names; the types
 * decide how many bytes each value takes (fixed-length types have no length prefix) and
 * whether a column is "complex" (a non-frozen collection or UDT, stored as several cells). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum cass_column_kind {
    CASS_COL_PARTITION_KEY,
    CASS_COL_CLUSTERING,
    CASS_COL_REGULAR,
    CASS_COL_STATIC,
} cass_column_kind_t;

typedef struct cass_column {
    char *name;
    char *type;       /* CQL type as system_schema.columns spells it, e.g. "frozen<list<int>>" */
    cass_column_kind_t kind;
    int position;     /* order within the partition key / clustering; -1 for others */
    bool reversed;    /* clustering_order = desc */
    bool complex;     /* non-frozen collection or UDT: cells carry a path */
    int fixed_len;    /* value length of fixed-width types (AbstractType.valueLengthIfFixed), or -1 */
    bool dropped;     /* only known from system_schema.dropped_columns */
} cass_column_t;

typedef struct cass_table {
    uint8_t id[16];
    char *keyspace;
    char *name;
    cass_column_t *cols;
    int ncols;
    int cols_cap;
    /* Filled by cass_table_finish: indexes into cols, in key order. */
    int *pk;
    int npk;
    int *ck;
    int nck;
} cass_table_t;

/* A user-defined type, as system_schema.types lists it (field types spelled like column types). */
typedef struct cass_udt {
    char *keyspace;
    char *name;
    int nfields;
    char **field_names;
    char **field_types;
} cass_udt_t;

typedef struct cass_schema {
    cass_table_t **tables;
    int ntables;
    int cap;
    cass_udt_t **udts;
    int nudts;
    int udts_cap;
} cass_schema_t;

void cass_schema_init(cass_schema_t *s);
void cass_schema_deinit(cass_schema_t *s);

/* Adds (or replaces, on a schema change) the table with this id; the schema owns it. */
int cass_schema_add_table(cass_schema_t *s, const uint8_t id[16], const char *keyspace, const char *name,
                          cass_table_t **out, sb_err_t *err);
/* Borrowed; NULL when the id is unknown. */
const cass_table_t *cass_schema_find(const cass_schema_t *s, const uint8_t id[16]);

/* Adds a user-defined type of keyspace ks (copies everything). */
int cass_schema_add_udt(cass_schema_t *s, const char *ks, const char *name, int nfields, const char *const *field_names,
                        const char *const *field_types, sb_err_t *err);
/* The UDT a column or field type names in keyspace ks: "address", "frozen<address>" or a
 * quoted name; NULL for any other type. Borrowed. */
const cass_udt_t *cass_schema_find_udt(const cass_schema_t *s, const char *ks, const char *type);

/* One row of system_schema.columns. kind: "partition_key", "clustering", "regular", "static";
 * clustering_order: "asc", "desc" or "none" (may be NULL). */
int cass_table_add_column(cass_table_t *t, const char *name, const char *kind, int position, const char *type,
                          const char *clustering_order, sb_err_t *err);
/* A column from system_schema.dropped_columns: old data may still name it. */
int cass_table_add_dropped_column(cass_table_t *t, const char *name, const char *type, sb_err_t *err);
/* Orders key columns by position; call after the last column. */
int cass_table_finish(cass_table_t *t, sb_err_t *err);

/* Column index by name bytes, or -1. */
int cass_table_column(const cass_table_t *t, const uint8_t *name, size_t len);

/* Properties of a CQL type string. Returns SB_EINVAL for an unparsable type. */
int cass_type_info(const char *type, bool *complex, int *fixed_len);

/* For a collection type "list<T>", "set<T>" or "map<K, V>" (not frozen): sets *kind to 'l', 's'
 * or 'm' and copies the element type (the key type for maps) into elem and, for maps, the value
 * type into value. Returns SB_EINVAL for any other type. */
int cass_type_collection(const char *type, char *kind, char *elem, size_t elem_cap, char *value, size_t value_cap);

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int cass_uuid_parse(const char *s, uint8_t out[16]);

#endif
