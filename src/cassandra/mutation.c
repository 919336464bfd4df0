/* Mutation decoder; the field order follows Cassandra's serializers (names in comments). */
#include "cassandra/mutation.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cassandra/cass_vint.h"

/* UnfilteredRowIteratorSerializer partition flags */
#define PU_IS_EMPTY 0x01
#define PU_IS_REVERSED 0x02
#define PU_HAS_PARTITION_DELETION 0x04
#define PU_HAS_STATIC_ROW 0x08
#define PU_HAS_ROW_ESTIMATE 0x10

/* UnfilteredSerializer row flags */
#define U_END_OF_PARTITION 0x01
#define U_IS_MARKER 0x02
#define U_HAS_TIMESTAMP 0x04
#define U_HAS_TTL 0x08
#define U_HAS_DELETION 0x10
#define U_HAS_ALL_COLUMNS 0x20
#define U_HAS_COMPLEX_DELETION 0x40
#define U_EXTENSION_FLAG 0x80
/* extended flags */
#define U_IS_STATIC 0x01
#define U_HAS_SHADOWABLE_DELETION 0x02

/* Cell.Serializer flags */
#define C_IS_DELETED 0x01
#define C_IS_EXPIRING 0x02
#define C_HAS_EMPTY_VALUE 0x04
#define C_USE_ROW_TIMESTAMP 0x08
#define C_USE_ROW_TTL 0x10

/* EncodingStats: timestamps and deletion times are written as deltas from the partition's
 * minimums, which are themselves deltas from 2015-09-22T00:00:00Z. */
#define TIMESTAMP_EPOCH 1442880000000000LL
#define DELETION_TIME_EPOCH 1442880000LL

/* A row's column set is at most the table's columns; this bounds the per-row index array. */
#define MAX_HEADER_COLUMNS 4096

typedef struct stats {
    int64_t min_timestamp;
    int64_t min_local_deletion_time;
    int32_t min_ttl;
} stats_t;

typedef struct pctx {
    sb_rd_t rd;
    int version;
    const cass_table_t *table;
    stats_t stats;
    int statics[MAX_HEADER_COLUMNS];
    int nstatics;
    int regulars[MAX_HEADER_COLUMNS];
    int nregulars;
    cass_mutation_t *m;
    sb_err_t *err;
} pctx_t;

void cass_mutation_init(cass_mutation_t *m)
{
    memset(m, 0, sizeof(*m));
}

void cass_mutation_deinit(cass_mutation_t *m)
{
    free(m->updates);
    free(m->rows);
    free(m->cells);
    free(m->clustering);
    free(m->complex_deletions);
    memset(m, 0, sizeof(*m));
}

/* Grows one of the mutation's arrays by one element; returns its index or -1. */
static int grow(void **arr, int *n, int *cap, size_t elem)
{
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, (size_t)c * elem);
        if (!p) return -1;
        *arr = p;
        *cap = c;
    }
    memset((char *)*arr + (size_t)*n * elem, 0, elem);
    return (*n)++;
}
#define GROW(m, field) grow((void **)&(m)->field, &(m)->n##field, &(m)->field##_cap, sizeof(*(m)->field))

static int fail(pctx_t *c, int code, const char *what)
{
    if (code == SB_ENOMEM) return sb_err_set(c->err, SB_ENOMEM, "out of memory decoding a mutation");
    return sb_err_set(c->err, code, "mutation for %s.%s: %s", c->table ? c->table->keyspace : "?",
                      c->table ? c->table->name : "?", what);
}

/* SerializationHeader.readTimestamp / readLocalDeletionTime / readTTL. Before messaging
 * version 13 the deletion time is a signed 32-bit int (Java int arithmetic, which wraps);
 * from 13 (5.0) it is an unsigned 32-bit value. */
static int64_t read_timestamp(pctx_t *c)
{
    return (int64_t)(cass_rd_uvint(&c->rd) + (uint64_t)c->stats.min_timestamp);
}
static int64_t read_local_deletion_time(pctx_t *c)
{
    uint32_t v = cass_rd_uvint32(&c->rd) + (uint32_t)c->stats.min_local_deletion_time;
    return c->version >= 13 ? (int64_t)v : (int64_t)(int32_t)v;
}
static int32_t read_ttl(pctx_t *c)
{
    return (int32_t)(cass_rd_uvint32(&c->rd) + (uint32_t)c->stats.min_ttl);
}
static cass_deletion_t read_deletion(pctx_t *c)
{
    cass_deletion_t d;
    d.marked_for_delete_at = read_timestamp(c);
    d.local_deletion_time = read_local_deletion_time(c);
    return d;
}

/* AbstractType.readValue: fixed-width types have no length prefix. */
static sb_slice_t read_value(pctx_t *c, int fixed_len)
{
    sb_slice_t s = {NULL, 0};
    if (fixed_len >= 0) {
        const uint8_t *p = sb_rd_bytes(&c->rd, (size_t)fixed_len);
        if (p) {
            s.p = p;
            s.len = fixed_len;
        }
        return s;
    }
    return cass_rd_vbytes(&c->rd);
}

/* ClusteringPrefix.Serializer.deserializeValuesWithoutSize: per 32 values one vint header with
 * two bits each (bit 2i: empty, bit 2i+1: null), then the non-empty, non-null values. */
static int read_clustering_values(pctx_t *c, int size, int *first)
{
    const cass_table_t *t = c->table;
    *first = c->m->nclustering;
    for (int off = 0; off < size;) {
        uint64_t header = cass_rd_uvint(&c->rd);
        int limit = size < off + 32 ? size : off + 32;
        for (; off < limit; off++) {
            int i = GROW(c->m, clustering);
            if (i < 0) return SB_ENOMEM;
            int bit = (off % 32) * 2;
            sb_slice_t *v = &c->m->clustering[i];
            if (header & (1ULL << (bit + 1))) {
                v->p = NULL;
                v->len = -1;
            } else if (header & (1ULL << bit)) {
                v->p = c->rd.p;
                v->len = 0;
            } else {
                *v = read_value(c, t->cols[t->ck[off]].fixed_len);
            }
        }
        if (!sb_rd_ok(&c->rd)) return SB_ECORRUPT;
    }
    return 0;
}

/* Columns.Serializer.deserialize: the header's column list, by name. */
static int read_columns(pctx_t *c, int *out, int *n)
{
    size_t count = cass_rd_len(&c->rd, 1);
    if (!sb_rd_ok(&c->rd) || count > MAX_HEADER_COLUMNS) return fail(c, SB_ECORRUPT, "bad column count");
    for (size_t i = 0; i < count; i++) {
        sb_slice_t name = cass_rd_vbytes(&c->rd);
        if (!sb_rd_ok(&c->rd)) return fail(c, SB_ECORRUPT, "truncated column list");
        int col = cass_table_column(c->table, name.p, (size_t)name.len);
        if (col < 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "unknown column %.*s (not in the schema, nor dropped)",
                     name.len > 100 ? 100 : (int)name.len, (const char *)name.p);
            return fail(c, SB_EINVAL, msg);
        }
        out[i] = col;
    }
    *n = (int)count;
    return 0;
}

/* Columns.Serializer.deserializeSubset: 0 means all; below 64 header columns a bitmap of the
 * *missing* columns; otherwise (large subsets) a count and then either the present or the
 * missing column indexes, whichever is fewer. Fills present[] with header indexes. */
static int read_subset(pctx_t *c, int nsuper, int *present, int *npresent)
{
    uint64_t encoded = cass_rd_uvint(&c->rd);
    if (!sb_rd_ok(&c->rd)) return SB_ECORRUPT;
    int n = 0;
    if (encoded == 0) {
        for (int i = 0; i < nsuper; i++) present[n++] = i;
    } else if (nsuper < 64) {
        for (int i = 0; i < nsuper; i++, encoded >>= 1)
            if ((encoded & 1) == 0) present[n++] = i;
        if (encoded != 0) return SB_ECORRUPT;
    } else {
        /* deserializeLargeSubset: encoded = supersetCount - columnCount */
        if (encoded > (uint64_t)nsuper) return SB_ECORRUPT;
        int count = nsuper - (int)encoded;
        if (count < nsuper / 2) {
            for (int i = 0; i < count; i++) {
                uint64_t idx = cass_rd_uvint(&c->rd);
                if (idx >= (uint64_t)nsuper || (n && (int)idx <= present[n - 1])) return SB_ECORRUPT;
                present[n++] = (int)idx;
            }
        } else {
            int missing = nsuper - count, next = 0;
            for (int i = 0; i < missing; i++) {
                uint64_t idx = cass_rd_uvint(&c->rd);
                if (idx >= (uint64_t)nsuper || (int)idx < next) return SB_ECORRUPT;
                while (next < (int)idx) present[n++] = next++;
                next = (int)idx + 1;
            }
            while (next < nsuper) present[n++] = next++;
        }
    }
    *npresent = n;
    return sb_rd_ok(&c->rd) ? 0 : SB_ECORRUPT;
}

/* Cell.Serializer.deserialize */
static int read_cell(pctx_t *c, int col, const cass_row_t *row)
{
    const cass_column_t *cd = &c->table->cols[col];
    const uint8_t *fp = sb_rd_bytes(&c->rd, 1);
    if (!fp) return SB_ECORRUPT;
    int flags = fp[0];
    int i = GROW(c->m, cells);
    if (i < 0) return SB_ENOMEM;
    cass_cell_t *cell = &c->m->cells[i];
    cell->column = col;
    cell->tombstone = flags & C_IS_DELETED;
    cell->expiring = (flags & C_IS_EXPIRING) && !cell->tombstone;
    cell->timestamp = (flags & C_USE_ROW_TIMESTAMP) ? row->timestamp : read_timestamp(c);
    if (flags & C_USE_ROW_TTL) cell->local_deletion_time = row->local_expiration_time;
    else if (flags & (C_IS_DELETED | C_IS_EXPIRING)) cell->local_deletion_time = read_local_deletion_time(c);
    else cell->local_deletion_time = CASS_NO_DELETION_TIME;
    if (flags & C_USE_ROW_TTL) cell->ttl = row->ttl;
    else if (flags & C_IS_EXPIRING) cell->ttl = read_ttl(c);
    else cell->ttl = CASS_NO_TTL;
    cell->path.p = NULL;
    cell->path.len = -1;
    if (cd->complex) cell->path = cass_rd_vbytes(&c->rd); /* CollectionType.CellPathSerializer */
    cell->value.p = c->rd.p;
    cell->value.len = 0;
    /* A complex column's cells are written with the column's (collection) type, which is
     * never fixed-width. */
    if (!(flags & C_HAS_EMPTY_VALUE)) cell->value = read_value(c, cd->complex ? -1 : cd->fixed_len);
    if (!sb_rd_ok(&c->rd) || cell->ttl < 0) return SB_ECORRUPT;
    return 0;
}

/* UnfilteredSerializer.deserializeRowBody */
static int read_row_body(pctx_t *c, int ri, int flags, bool is_static)
{
    cass_row_t *row = &c->m->rows[ri];
    row->timestamp = CASS_LIVE_TIMESTAMP;
    row->ttl = CASS_NO_TTL;
    row->local_expiration_time = CASS_NO_DELETION_TIME;
    row->deletion.marked_for_delete_at = CASS_LIVE_TIMESTAMP;
    row->deletion.local_deletion_time = CASS_NO_DELETION_TIME;
    if (flags & U_HAS_TIMESTAMP) {
        row->timestamp = read_timestamp(c);
        if (flags & U_HAS_TTL) {
            row->ttl = read_ttl(c);
            row->local_expiration_time = read_local_deletion_time(c);
        }
    }
    if (flags & U_HAS_DELETION) row->deletion = read_deletion(c);
    const int *hdr = is_static ? c->statics : c->regulars;
    int nhdr = is_static ? c->nstatics : c->nregulars;
    int present[MAX_HEADER_COLUMNS];
    int npresent = 0;
    if (flags & U_HAS_ALL_COLUMNS) {
        for (int i = 0; i < nhdr; i++) present[i] = i;
        npresent = nhdr;
    } else if (read_subset(c, nhdr, present, &npresent) != 0) {
        return fail(c, SB_ECORRUPT, "bad column subset of a row");
    }
    row->first_cell = c->m->ncells;
    row->first_complex_deletion = c->m->ncomplex_deletions;
    for (int k = 0; k < npresent; k++) {
        int col = hdr[present[k]];
        int rc;
        if (!c->table->cols[col].complex) {
            if ((rc = read_cell(c, col, row)) != 0) return fail(c, rc, "truncated or bad cell");
            continue;
        }
        if (flags & U_HAS_COMPLEX_DELETION) {
            cass_deletion_t d = read_deletion(c);
            if (d.marked_for_delete_at != CASS_LIVE_TIMESTAMP) {
                /* A live DeletionTime is written as (Long.MIN_VALUE, Integer.MAX_VALUE); any
                 * other value deletes the collection's earlier elements. */
                int di = GROW(c->m, complex_deletions);
                if (di < 0) return fail(c, SB_ENOMEM, "");
                c->m->complex_deletions[di].column = col;
                c->m->complex_deletions[di].deletion = d;
            }
        }
        size_t count = cass_rd_len(&c->rd, 1);
        if (!sb_rd_ok(&c->rd)) return fail(c, SB_ECORRUPT, "bad cell count of a collection");
        for (size_t j = 0; j < count; j++)
            if ((rc = read_cell(c, col, row)) != 0) return fail(c, rc, "truncated or bad collection cell");
    }
    row = &c->m->rows[ri];
    row->ncells = c->m->ncells - row->first_cell;
    row->ncomplex_deletions = c->m->ncomplex_deletions - row->first_complex_deletion;
    return sb_rd_ok(&c->rd) ? 0 : fail(c, SB_ECORRUPT, "truncated row");
}

static bool live_deletion(cass_deletion_t d)
{
    return d.marked_for_delete_at == CASS_LIVE_TIMESTAMP;
}

/* One Unfiltered (UnfilteredSerializer.deserializeOne). Returns 1 at end of partition. */
static int read_unfiltered(pctx_t *c)
{
    const uint8_t *fp = sb_rd_bytes(&c->rd, 1);
    if (!fp) return fail(c, SB_ECORRUPT, "partition ends without its end marker");
    int flags = fp[0];
    if (flags & U_END_OF_PARTITION) return 1;
    int ext = 0;
    if (flags & U_EXTENSION_FLAG) {
        const uint8_t *ep = sb_rd_bytes(&c->rd, 1);
        if (!ep) return fail(c, SB_ECORRUPT, "truncated flags");
        ext = ep[0];
    }
    int ri = GROW(c->m, rows);
    if (ri < 0) return fail(c, SB_ENOMEM, "");
    cass_row_t *row = &c->m->rows[ri];
    int rc;
    if (flags & U_IS_MARKER) {
        /* ClusteringBoundOrBoundary.Serializer: kind ordinal byte, u16 size, prefix values. */
        const uint8_t *kp = sb_rd_bytes(&c->rd, 1);
        uint16_t size = (uint16_t)sb_rd_i16(&c->rd);
        if (!kp || !sb_rd_ok(&c->rd) || kp[0] > CASS_EXCL_START_BOUND || kp[0] == CASS_CLUSTERING ||
            kp[0] == CASS_STATIC_CLUSTERING || size > c->table->nck)
            return fail(c, SB_ECORRUPT, "bad range tombstone bound");
        row->kind = CASS_RANGE_TOMBSTONE_MARKER;
        row->bound = (cass_bound_kind_t)kp[0];
        row->nclustering = size;
        row->first_clustering = c->m->nclustering;
        if (size && (rc = read_clustering_values(c, size, &row->first_clustering)) != 0)
            return fail(c, rc, "bad range tombstone bound values");
        row = &c->m->rows[ri];
        row->timestamp = CASS_LIVE_TIMESTAMP;
        row->first_cell = c->m->ncells;
        row->first_complex_deletion = c->m->ncomplex_deletions;
        /* deserializeMarkerBody: a boundary carries the end deletion, then the start deletion. */
        row->deletion = read_deletion(c);
        if (row->bound == CASS_EXCL_END_INCL_START_BOUNDARY || row->bound == CASS_INCL_END_EXCL_START_BOUNDARY)
            row->deletion2 = read_deletion(c);
        return sb_rd_ok(&c->rd) ? 0 : fail(c, SB_ECORRUPT, "truncated range tombstone");
    }
    if (ext & U_IS_STATIC) return fail(c, SB_ECORRUPT, "static flag on a non-static row");
    row->kind = CASS_ROW;
    row->bound = CASS_CLUSTERING;
    row->nclustering = c->table->nck;
    row->first_clustering = c->m->nclustering;
    if (c->table->nck && (rc = read_clustering_values(c, c->table->nck, &row->first_clustering)) != 0)
        return fail(c, rc, "bad clustering");
    c->m->rows[ri].shadowable = ext & U_HAS_SHADOWABLE_DELETION;
    return read_row_body(c, ri, flags, false);
}

/* PartitionUpdate.PartitionUpdateSerializer.deserialize + UnfilteredRowIteratorSerializer */
static int read_partition_update(pctx_t *c, const cass_schema_t *schema)
{
    const uint8_t *id = sb_rd_bytes(&c->rd, 16);
    if (!id) return fail(c, SB_ECORRUPT, "truncated table id");
    c->table = cass_schema_find(schema, id);
    if (!c->table) {
        memcpy(c->m->unknown_table, id, 16);
        return sb_err_set(c->err, SB_ENOENT, "mutation for a table id not in the schema");
    }
    int ui = GROW(c->m, updates);
    if (ui < 0) return fail(c, SB_ENOMEM, "");
    cass_partition_update_t *u = &c->m->updates[ui];
    u->table = c->table;
    u->key = cass_rd_vbytes(&c->rd);
    const uint8_t *fp = sb_rd_bytes(&c->rd, 1);
    if (!fp || !sb_rd_ok(&c->rd)) return fail(c, SB_ECORRUPT, "truncated partition header");
    int flags = fp[0];
    u->partition_deletion.marked_for_delete_at = CASS_LIVE_TIMESTAMP;
    u->partition_deletion.local_deletion_time = CASS_NO_DELETION_TIME;
    u->first_row = c->m->nrows;
    if (flags & PU_IS_EMPTY) return 0;
    if (flags & PU_IS_REVERSED) return fail(c, SB_ECORRUPT, "reversed partition in a mutation");

    /* SerializationHeader.Serializer.deserializeForMessaging: EncodingStats, then the static
     * columns (only with a static row) and the regular columns. */
    c->stats.min_timestamp = (int64_t)(cass_rd_uvint(&c->rd) + (uint64_t)TIMESTAMP_EPOCH);
    c->stats.min_local_deletion_time = (int64_t)(uint32_t)(cass_rd_uvint32(&c->rd) + (uint32_t)DELETION_TIME_EPOCH);
    if (c->version < 13) c->stats.min_local_deletion_time = (int32_t)c->stats.min_local_deletion_time;
    c->stats.min_ttl = (int32_t)cass_rd_uvint32(&c->rd);
    int rc;
    c->nstatics = 0;
    if ((flags & PU_HAS_STATIC_ROW) && (rc = read_columns(c, c->statics, &c->nstatics)) != 0) return rc;
    if ((rc = read_columns(c, c->regulars, &c->nregulars)) != 0) return rc;

    if (flags & PU_HAS_PARTITION_DELETION) {
        cass_deletion_t d = read_deletion(c);
        c->m->updates[ui].partition_deletion = d;
    }
    if (flags & PU_HAS_STATIC_ROW) {
        /* deserializeStaticRow: flags with the extension bit, extended flags with IS_STATIC. */
        const uint8_t *sp = sb_rd_bytes(&c->rd, 2);
        if (!sp || !(sp[0] & U_EXTENSION_FLAG) || (sp[0] & (U_END_OF_PARTITION | U_IS_MARKER)) ||
            !(sp[1] & U_IS_STATIC))
            return fail(c, SB_ECORRUPT, "bad static row flags");
        int ri = GROW(c->m, rows);
        if (ri < 0) return fail(c, SB_ENOMEM, "");
        c->m->rows[ri].kind = CASS_STATIC_ROW;
        c->m->rows[ri].bound = CASS_STATIC_CLUSTERING;
        c->m->rows[ri].first_clustering = c->m->nclustering;
        if ((rc = read_row_body(c, ri, sp[0], true)) != 0) return rc;
    }
    if (flags & PU_HAS_ROW_ESTIMATE) (void)cass_rd_uvint(&c->rd);
    if (!sb_rd_ok(&c->rd)) return fail(c, SB_ECORRUPT, "truncated partition header");
    while ((rc = read_unfiltered(c)) == 0) {
    }
    if (rc < 0) return rc;
    u = &c->m->updates[ui];
    u->nrows = c->m->nrows - u->first_row;
    /* Keep the live-deletion sentinel uniform whatever the stats were. */
    if (live_deletion(u->partition_deletion)) u->partition_deletion.local_deletion_time = CASS_NO_DELETION_TIME;
    return 0;
}

int cass_mutation_decode(const uint8_t *p, size_t len, int messaging_version, const cass_schema_t *schema,
                         cass_mutation_t *m, sb_err_t *err)
{
    if (messaging_version < 10 || messaging_version > 13)
        return sb_err_set(err, SB_EINVAL, "mutation messaging version %d is not supported (10..13)",
                          messaging_version);
    m->nupdates = m->nrows = m->ncells = m->nclustering = m->ncomplex_deletions = 0;
    pctx_t *c = malloc(sizeof(*c));
    if (!c) return SB_ENOMEM;
    memset(c, 0, offsetof(pctx_t, statics));
    sb_rd_init(&c->rd, p, len);
    c->version = messaging_version;
    c->m = m;
    c->err = err;
    /* Mutation.MutationSerializer: a vint count of partition updates (all of one keyspace and
     * one partition key), then each update. */
    size_t n = cass_rd_len(&c->rd, 17);
    int rc = 0;
    if (!sb_rd_ok(&c->rd) || n == 0) rc = sb_err_set(err, SB_ECORRUPT, "mutation has no partition update");
    for (size_t i = 0; rc == 0 && i < n; i++) rc = read_partition_update(c, schema);
    if (rc == 0 && sb_rd_remaining(&c->rd) != 0)
        rc = sb_err_set(err, SB_ECORRUPT, "mutation has %zu bytes after its last partition update",
                        sb_rd_remaining(&c->rd));
    free(c);
    return rc;
}

int cass_partition_key_split(const cass_table_t *t, sb_slice_t key, sb_slice_t *out, sb_err_t *err)
{
    if (t->npk <= 1) {
        out[0] = key;
        return 0;
    }
    sb_rd_t rd;
    sb_rd_init(&rd, key.p, key.len > 0 ? (size_t)key.len : 0);
    for (int i = 0; i < t->npk; i++) {
        uint16_t n = (uint16_t)sb_rd_i16(&rd);
        out[i].p = sb_rd_bytes(&rd, n);
        out[i].len = n;
        (void)sb_rd_i8(&rd); /* end-of-component byte */
        if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_ECORRUPT, "partition key of %s.%s is not a composite of %d",
                                              t->name, t->keyspace, t->npk);
    }
    return 0;
}
