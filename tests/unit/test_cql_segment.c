/* Protocol v5 segments (native_protocol_v5.spec section 2.1). The CRC values were computed with
 * the python3-cassandra driver (cassandra.segment.compute_crc24 / compute_crc32), an
 * implementation independent of ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cql/cql_segment.h"

static void test_crcs_match_the_python_driver(void **state)
{
    (void)state;
    assert_int_equal(cql_crc24(0, 3), 0x7de777);
    assert_int_equal(cql_crc24(5, 3), 0x234804);
    assert_int_equal(cql_crc24((1u << 17) | 100, 3), 0x91a5f4);
    assert_int_equal(cql_crc24(131071, 3), 0xfe9138);
    assert_int_equal(cql_segment_crc32((const uint8_t *)"hello", 5), 0xb60e8074u);
    assert_int_equal(cql_segment_crc32((const uint8_t *)"", 0), 0x44777ed3u);
}

static void test_wrap_and_check(void **state)
{
    (void)state;
    sb_err_t err = {0};
    sb_wr_t w;
    sb_wr_init(&w, 64);
    cql_segment_wrap(&w, (const uint8_t *)"hello", 5);
    /* header: length 5 | self-contained (bit 17) = 0x020005, little-endian, then its CRC24. */
    assert_int_equal(w.len, 6 + 5 + 4);
    assert_memory_equal(w.buf, "\x05\x00\x02", 3);
    size_t len;
    bool sc;
    assert_int_equal(cql_segment_header_decode(w.buf, &len, &sc, &err), 0);
    assert_int_equal(len, 5);
    assert_true(sc);
    assert_int_equal(cql_segment_payload_check(w.buf + 6, 5, w.buf + 11, &err), 0);
    assert_memory_equal(w.buf + 11, "\x74\x80\x0e\xb6", 4);
    /* One flipped bit in the header or the payload is caught. */
    w.buf[0] ^= 0x01;
    assert_int_equal(cql_segment_header_decode(w.buf, &len, &sc, &err), SB_ECORRUPT);
    w.buf[0] ^= 0x01;
    w.buf[7] ^= 0x10;
    assert_int_equal(cql_segment_payload_check(w.buf + 6, 5, w.buf + 11, &err), SB_ECORRUPT);
    sb_wr_deinit(&w);

    /* An envelope larger than a segment is split into segments that are not self-contained. */
    size_t big = CQL_SEGMENT_MAX_PAYLOAD + 1000;
    uint8_t *env = malloc(big);
    for (size_t i = 0; i < big; i++) env[i] = (uint8_t)(i * 7);
    sb_wr_init(&w, big + 64);
    cql_segment_wrap(&w, env, big);
    assert_int_equal(w.len, 2 * (6 + 4) + big);
    assert_int_equal(cql_segment_header_decode(w.buf, &len, &sc, &err), 0);
    assert_int_equal(len, CQL_SEGMENT_MAX_PAYLOAD);
    assert_false(sc);
    const uint8_t *second = w.buf + 6 + CQL_SEGMENT_MAX_PAYLOAD + 4;
    assert_int_equal(cql_segment_header_decode(second, &len, &sc, &err), 0);
    assert_int_equal(len, 1000);
    assert_false(sc);
    assert_int_equal(cql_segment_payload_check(second + 6, 1000, second + 6 + 1000, &err), 0);
    assert_memory_equal(second + 6, env + CQL_SEGMENT_MAX_PAYLOAD, 1000);
    sb_wr_deinit(&w);
    free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crcs_match_the_python_driver),
        cmocka_unit_test(test_wrap_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
