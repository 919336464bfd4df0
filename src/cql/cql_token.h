#ifndef STREAMBUS_CQL_CQL_TOKEN_H
#define STREAMBUS_CQL_CQL_TOKEN_H

/* Token-aware routing for Murmur3Partitioner clusters (Cassandra's default since 1.2 and
 * ScyllaDB's only partitioner): the partition key's token, and the token ring that says which
 * node owns it.
 *
 * The token is Cassandra's MurmurHash.hash3_x64_128 (seed 0), first 64 bits. Cassandra's Java
 * code reads the tail bytes as *signed* bytes and sign-extends them before shifting, so keys
 * whose length is not a multiple of 16 and whose tail has bytes >= 0x80 hash differently from
 * the reference MurmurHash3; this implementation keeps that quirk (tests/unit/test_cql_token.c
 * checks it against tokens computed by the python3-cassandra driver). Long.MIN_VALUE maps to
 * Long.MAX_VALUE, as Murmur3Partitioner.getToken does.
 *
 * A node owns the range (previous token, its token]: the owner of token t is the node with the
 * smallest ring token >= t, wrapping to the first. */

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "cql/cql_proto.h"

int64_t cql_murmur3_token(const uint8_t *key, size_t len);

/* The routing key of a bound statement: the value of its one partition key column, or for a
 * composite key each component as [short length][bytes][0x00] (CompositeType). Appended to out.
 * SB_ENOENT when a key component is null or missing (such a statement cannot be routed). */
int cql_routing_key(const cql_values_t *values, const uint16_t *pk_indexes, int npk, sb_wr_t *out);

typedef struct cql_ring_entry {
    int64_t token;
    int host; /* the caller's host index */
} cql_ring_entry_t;

typedef struct cql_token_ring {
    cql_ring_entry_t *entries;
    size_t n, cap;
} cql_token_ring_t;

void cql_ring_init(cql_token_ring_t *r);
void cql_ring_deinit(cql_token_ring_t *r);
void cql_ring_clear(cql_token_ring_t *r);
int cql_ring_add(cql_token_ring_t *r, int64_t token, int host);
void cql_ring_sort(cql_token_ring_t *r); /* after the last add */
/* The host owning token, or -1 for an empty ring. */
int cql_ring_owner(const cql_token_ring_t *r, int64_t token);

#endif
