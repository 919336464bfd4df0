#ifndef STREAMBUS_CASSANDRA_MUTATION_H
#define STREAMBUS_CASSANDRA_MUTATION_H

/* Decoder for a serialized Mutation as Cassandra writes it into the commit log
 * (Mutation.MutationSerializer -> PartitionUpdate.PartitionUpdateSerializer ->
 * UnfilteredRowIteratorSerializer -> UnfilteredSerializer / Cell.Serializer), messaging
 * versions 10 (3.0-3.11), 12 (4.0/4.1) and 13 (5.0). docs/cassandra-commitlog.md has the layout.
 *
 * The decoded form is flat arrays inside one cass_mutation_t, reused from mutation to
 * mutation; values are slices that borrow the input bytes. */

#include <stdbool.h>
#include <stdint.h>

#include "cassandra/schema.h"
#include "common/buf.h"
#include "common/err.h"

/* A deletion (DeletionTime): LIVE when marked_for_delete_at == CASS_LIVE_TIMESTAMP. */
#define CASS_LIVE_TIMESTAMP INT64_MIN
#define CASS_NO_TTL 0
#define CASS_NO_DELETION_TIME INT64_MAX

typedef struct cass_deletion {
    int64_t marked_for_delete_at; /* write timestamp of the delete (microseconds) */
    int64_t local_deletion_time;  /* seconds since the epoch */
} cass_deletion_t;

typedef struct cass_cell {
    int column;                  /* index into the table's columns */
    int64_t timestamp;
    int32_t ttl;                 /* CASS_NO_TTL when not expiring */
    int64_t local_deletion_time; /* CASS_NO_DELETION_TIME for live, non-expiring cells */
    bool tombstone;
    bool expiring;
    sb_slice_t path;             /* complex cells: the element key (list uuid, set element, map key, UDT field) */
    sb_slice_t value;            /* empty for tombstones */
} cass_cell_t;

typedef struct cass_complex_deletion {
    int column;
    cass_deletion_t deletion;   /* the whole collection was overwritten or deleted */
} cass_complex_deletion_t;

typedef enum cass_unfiltered_kind {
    CASS_ROW,
    CASS_STATIC_ROW,
    CASS_RANGE_TOMBSTONE_MARKER,
} cass_unfiltered_kind_t;

/* ClusteringPrefix.Kind, by ordinal (the byte written for range tombstone bounds). */
typedef enum cass_bound_kind {
    CASS_EXCL_END_BOUND = 0,
    CASS_INCL_START_BOUND = 1,
    CASS_EXCL_END_INCL_START_BOUNDARY = 2,
    CASS_STATIC_CLUSTERING = 3,
    CASS_CLUSTERING = 4,
    CASS_INCL_END_EXCL_START_BOUNDARY = 5,
    CASS_INCL_END_BOUND = 6,
    CASS_EXCL_START_BOUND = 7,
} cass_bound_kind_t;

typedef struct cass_row {
    cass_unfiltered_kind_t kind;
    cass_bound_kind_t bound;     /* CASS_CLUSTERING for rows */
    int first_clustering;        /* into m->clustering; nclustering values (a bound may be a prefix) */
    int nclustering;
    /* Row: primary key liveness (set by INSERT, not by UPDATE) */
    int64_t timestamp;           /* CASS_LIVE_TIMESTAMP when the row has no liveness info */
    int32_t ttl;
    int64_t local_expiration_time;
    cass_deletion_t deletion;    /* row deletion; range markers: the (end-side) deletion */
    cass_deletion_t deletion2;   /* boundaries: the start-side deletion */
    bool shadowable;
    int first_cell, ncells;      /* into m->cells */
    int first_complex_deletion, ncomplex_deletions;
} cass_row_t;

typedef struct cass_partition_update {
    const cass_table_t *table;
    sb_slice_t key;              /* the partition key bytes (CompositeType when the key has several columns) */
    cass_deletion_t partition_deletion;
    int first_row, nrows;        /* into m->rows, static row first when present */
} cass_partition_update_t;

typedef struct cass_mutation {
    cass_partition_update_t *updates;
    int nupdates, updates_cap;
    cass_row_t *rows;
    int nrows, rows_cap;
    cass_cell_t *cells;
    int ncells, cells_cap;
    sb_slice_t *clustering;      /* len -1: null */
    int nclustering, clustering_cap;
    cass_complex_deletion_t *complex_deletions;
    int ncomplex_deletions, complex_deletions_cap;
    uint8_t unknown_table[16];   /* set when decoding failed with SB_ENOENT */
} cass_mutation_t;

void cass_mutation_init(cass_mutation_t *m);
void cass_mutation_deinit(cass_mutation_t *m);

/* Decodes one mutation. Returns 0; SB_ENOENT when a table id is not in the schema (the id is in
 * m->unknown_table: the rest of the mutation cannot be parsed without its columns, and
 * Cassandra skips such mutations too); SB_EINVAL/SB_ECORRUPT for bytes that do not parse. */
int cass_mutation_decode(const uint8_t *p, size_t len, int messaging_version, const cass_schema_t *schema,
                         cass_mutation_t *m, sb_err_t *err);

/* Splits a partition key into its columns' values (CompositeType: per component a 2-byte
 * length, the bytes, one end-of-component byte). A single-column key is the value itself.
 * Fills out[0..t->npk). */
int cass_partition_key_split(const cass_table_t *t, sb_slice_t key, sb_slice_t *out, sb_err_t *err);

#endif
