#include "cql/cql_token.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rotl64(uint64_t v, int n)
{
    return v << n | v >> (64 - n);
}

static uint64_t fmix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A tail byte as Java's (long) key.get(i): sign-extended. */
static uint64_t jbyte(uint8_t b)
{
    return (uint64_t)(int64_t)(int8_t)b;
}

int64_t cql_murmur3_token(const uint8_t *key, size_t len)
{
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0, h2 = 0;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = le64(key + i * 16), k2 = le64(key + i * 16 + 8);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *tail = key + nblocks * 16;
    uint64_t k1 = 0, k2 = 0;
    size_t rem = len & 15;
    for (size_t i = rem; i > 8; i--) k2 ^= jbyte(tail[i - 1]) << (8 * (i - 9));
    if (rem > 8) {
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
    }
    for (size_t i = rem < 8 ? rem : 8; i > 0; i--) k1 ^= jbyte(tail[i - 1]) << (8 * (i - 1));
    if (rem > 0) {
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;
    int64_t token = (int64_t)h1;
    return token == INT64_MIN ? INT64_MAX : token;
}

int cql_routing_key(const cql_values_t *values, const uint16_t *pk_indexes, int npk, sb_wr_t *out)
{
    if (npk <= 0) return SB_ENOENT;
    for (int i = 0; i < npk; i++) {
        sb_slice_t v;
        if (cql_values_get(values, pk_indexes[i], &v) != 0 || v.len < 0) return SB_ENOENT;
        if (npk == 1) {
            sb_wr_bytes(out, v.p, (size_t)v.len);
            return 0;
        }
        if (v.len > 0xFFFF) return SB_ERANGE;
        sb_wr_i16(out, (int16_t)(uint16_t)v.len);
        sb_wr_bytes(out, v.p, (size_t)v.len);
        sb_wr_i8(out, 0);
    }
    return 0;
}

void cql_ring_init(cql_token_ring_t *r)
{
    memset(r, 0, sizeof(*r));
}

void cql_ring_deinit(cql_token_ring_t *r)
{
    free(r->entries);
    memset(r, 0, sizeof(*r));
}

void cql_ring_clear(cql_token_ring_t *r)
{
    r->n = 0;
}

int cql_ring_add(cql_token_ring_t *r, int64_t token, int host)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        cql_ring_entry_t *e = realloc(r->entries, cap * sizeof(*e));
        if (!e) return SB_ENOMEM;
        r->entries = e;
        r->cap = cap;
    }
    r->entries[r->n++] = (cql_ring_entry_t){token, host};
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    int64_t x = ((const cql_ring_entry_t *)a)->token, y = ((const cql_ring_entry_t *)b)->token;
    return x < y ? -1 : x > y;
}

void cql_ring_sort(cql_token_ring_t *r)
{
    if (r->n > 1) qsort(r->entries, r->n, sizeof(*r->entries), cmp_entry);
}

int cql_ring_owner(const cql_token_ring_t *r, int64_t token)
{
    if (r->n == 0) return -1;
    size_t lo = 0, hi = r->n; /* first entry with token >= the key's token */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->entries[mid].token < token) lo = mid + 1;
        else hi = mid;
    }
    return r->entries[lo == r->n ? 0 : lo].host;
}
