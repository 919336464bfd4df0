/* Murmur3 tokens, routing keys and the token ring. The expected tokens were computed with the
 * python3-cassandra driver (Murmur3Token.hash_fn, whose C and pure-Python implementations agree),
 * an implementation independent of ours; the keys include tails with bytes >= 0x80, where
 * Cassandra's sign-extension quirk changes the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cql/cql_token.h"

static void test_murmur3_matches_the_python_driver(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        size_t len;
        int64_t token;
    } cases[] = {
        {"", 0, 0LL},
        {"\x61", 1, -8839064797231613815LL},
        {"\x61\x62\x63", 3, -5434086359492102041LL},
        {"hello world", 11, 5998619086395760910LL},
        {"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e", 15, 63099782945186636LL},
        {"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16, 4920504430128807728LL},
        {"\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\x80\x81", 17, -6766471633657706105LL},
        {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
         31, -3550403632215323560LL},
        {"\x00\x00\x00\x2a", 4, -7160136740246525330LL},
        {"\x00\x05\x61\x63\x6d\x65\x31\x00\x00\x04\x00\x00\x00\x01\x00", 15, -6346422976280579210LL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_true(cql_murmur3_token((const uint8_t *)cases[i].key, cases[i].len) == cases[i].token);
}

static void test_routing_keys(void **state)
{
    (void)state;
    cql_values_t v;
    cql_values_init(&v);
    cql_values_text(&v, "acme1");
    cql_values_int(&v, 1);
    sb_wr_t w;
    sb_wr_init(&w, 32);
    /* One component: the value itself. */
    uint16_t one[] = {1};
    assert_int_equal(cql_routing_key(&v, one, 1, &w), 0);
    assert_int_equal(w.len, 4);
    assert_memory_equal(w.buf, "\x00\x00\x00\x01", 4);
    /* Composite: [short len][bytes][0x00] per component, in partition key order. */
    sb_wr_reset(&w);
    uint16_t both[] = {0, 1};
    assert_int_equal(cql_routing_key(&v, both, 2, &w), 0);
    assert_int_equal(w.len, 15);
    assert_memory_equal(w.buf, "\x00\x05" "acme1" "\x00" "\x00\x04\x00\x00\x00\x01\x00", 15);
    /* That composite key is the last vector of the test above. */
    assert_true(cql_murmur3_token(w.buf, w.len) == -6346422976280579210LL);
    /* A null component or an index past the values cannot be routed. */
    sb_wr_reset(&w);
    cql_values_null(&v);
    uint16_t nul[] = {0, 2};
    assert_int_equal(cql_routing_key(&v, nul, 2, &w), SB_ENOENT);
    uint16_t past[] = {9};
    assert_int_equal(cql_routing_key(&v, past, 1, &w), SB_ENOENT);
    assert_int_equal(cql_routing_key(&v, NULL, 0, &w), SB_ENOENT);
    sb_wr_deinit(&w);
    cql_values_deinit(&v);
}

static void test_ring_owner(void **state)
{
    (void)state;
    cql_token_ring_t r;
    cql_ring_init(&r);
    assert_int_equal(cql_ring_owner(&r, 0), -1);
    /* Added out of order; a node owns (previous token, its token]. */
    cql_ring_add(&r, 100, 2);
    cql_ring_add(&r, -100, 1);
    cql_ring_add(&r, 0, 0);
    cql_ring_sort(&r);
    assert_int_equal(cql_ring_owner(&r, -100), 1); /* equal to a token: that node */
    assert_int_equal(cql_ring_owner(&r, -99), 0);
    assert_int_equal(cql_ring_owner(&r, 0), 0);
    assert_int_equal(cql_ring_owner(&r, 1), 2);
    assert_int_equal(cql_ring_owner(&r, 100), 2);
    assert_int_equal(cql_ring_owner(&r, 101), 1);       /* past the last token: wraps */
    assert_int_equal(cql_ring_owner(&r, INT64_MIN), 1); /* before the first */
    assert_int_equal(cql_ring_owner(&r, INT64_MAX), 1);
    cql_ring_deinit(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur3_matches_the_python_driver),
        cmocka_unit_test(test_routing_keys),
        cmocka_unit_test(test_ring_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
