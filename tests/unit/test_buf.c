/* Bounded reader/writer: Kafka primitive encodings, with byte vectors from the protocol guide
 * (varints as in the record format, compact strings of flexible versions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crc32c.h"

static void test_fixed_width_big_endian(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 0);
    sb_wr_i16(&w, 0x0102);
    sb_wr_i32(&w, -2);
    sb_wr_i64(&w, 0x0102030405060708LL);
    const uint8_t want[] = {1, 2, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(w.buf, want, sizeof(want));
    sb_rd_t rd;
    sb_rd_init(&rd, w.buf, w.len);
    assert_int_equal(sb_rd_i16(&rd), 0x0102);
    assert_int_equal(sb_rd_i32(&rd), -2);
    assert_true(sb_rd_i64(&rd) == 0x0102030405060708LL);
    assert_true(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_remaining(&rd), 0);
    sb_wr_deinit(&w);
}

/* Zig-zag varints as the record format defines them: 0->00, -1->01, 1->02, -64->7f, 64->80 01. */
static void test_varint_vectors(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        uint8_t bytes[10];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},          {-1, {0x01}, 1},          {1, {0x02}, 1},
        {-64, {0x7f}, 1},        {64, {0x80, 0x01}, 2},    {300, {0xd8, 0x04}, 2},
        {INT64_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sb_wr_t w;
        sb_wr_init(&w, 0);
        sb_wr_varint(&w, cases[i].v);
        assert_int_equal(w.len, cases[i].n);
        assert_memory_equal(w.buf, cases[i].bytes, cases[i].n);
        sb_rd_t rd;
        sb_rd_init(&rd, w.buf, w.len);
        assert_true(sb_rd_varint(&rd) == cases[i].v);
        assert_true(sb_rd_ok(&rd));
        sb_wr_deinit(&w);
    }
}

static void test_varint_overlong_is_error(void **state)
{
    (void)state;
    const uint8_t bad[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    sb_rd_t rd;
    sb_rd_init(&rd, bad, sizeof(bad));
    sb_rd_uvarint(&rd);
    assert_false(sb_rd_ok(&rd));
    const uint8_t truncated[2] = {0x80, 0x80};
    sb_rd_init(&rd, truncated, sizeof(truncated));
    sb_rd_uvarint(&rd);
    assert_false(sb_rd_ok(&rd));
}

static void test_strings_classic_and_compact(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 0);
    sb_wr_str(&w, false, "ab");
    sb_wr_str(&w, false, NULL);
    sb_wr_str(&w, true, "ab");
    sb_wr_str(&w, true, NULL);
    /* INT16 length "ab", null (-1), compact: length+1 as uvarint, null = 0. */
    const uint8_t want[] = {0, 2, 'a', 'b', 0xff, 0xff, 3, 'a', 'b', 0};
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(w.buf, want, sizeof(want));
    sb_rd_t rd;
    sb_rd_init(&rd, w.buf, w.len);
    sb_slice_t s = sb_rd_string(&rd);
    assert_int_equal(s.len, 2);
    assert_memory_equal(s.p, "ab", 2);
    assert_int_equal(sb_rd_string(&rd).len, -1);
    s = sb_rd_compact_string(&rd);
    assert_int_equal(s.len, 2);
    assert_int_equal(sb_rd_compact_string(&rd).len, -1);
    assert_true(sb_rd_ok(&rd));
    sb_wr_deinit(&w);
}

/* A length that points past the end must fail, not read out of bounds, and the error sticks. */
static void test_reader_overrun_is_sticky(void **state)
{
    (void)state;
    const uint8_t buf[] = {0, 10, 'x'};
    sb_rd_t rd;
    sb_rd_init(&rd, buf, sizeof(buf));
    sb_slice_t s = sb_rd_string(&rd);
    assert_int_equal(s.len, -1);
    assert_false(sb_rd_ok(&rd));
    assert_int_equal(sb_rd_i32(&rd), 0);
    assert_false(sb_rd_ok(&rd));
}

/* An array count larger than the bytes left could hold is rejected before anyone allocates. */
static void test_array_count_bounded_by_remaining(void **state)
{
    (void)state;
    const uint8_t buf[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1};
    sb_rd_t rd;
    sb_rd_init(&rd, buf, sizeof(buf));
    sb_rd_array(&rd, false, 4);
    assert_false(sb_rd_ok(&rd));
    const uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
    sb_rd_init(&rd, neg, sizeof(neg));
    sb_rd_array(&rd, false, 1);
    assert_false(sb_rd_ok(&rd));
}

static void test_tagged_fields_skipped(void **state)
{
    (void)state;
    /* two tags: tag 0 size 2, tag 5 size 0, then an INT8 */
    const uint8_t buf[] = {2, 0, 2, 0xaa, 0xbb, 5, 0, 0x42};
    sb_rd_t rd;
    sb_rd_init(&rd, buf, sizeof(buf));
    sb_rd_tags(&rd);
    assert_int_equal(sb_rd_i8(&rd), 0x42);
    assert_true(sb_rd_ok(&rd));
}

static void test_splice_accounting_and_truncate(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 0);
    sb_wr_i32(&w, 7);
    int fd = dup(0);
    sb_wr_splice(&w, fd, 100, 50);
    assert_int_equal(sb_wr_total(&w), 54);
    sb_wr_truncate(&w, 4);
    assert_int_equal(w.nsplices, 0);
    assert_int_equal(sb_wr_total(&w), 4);
    sb_wr_deinit(&w);
}

static void test_crc32c_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    /* Incremental use gives the same answer as one call. */
    uint32_t c = crc32c(0, "1234", 4);
    assert_int_equal(crc32c(c, "56789", 5), 0xE3069283u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_width_big_endian),    cmocka_unit_test(test_varint_vectors),
        cmocka_unit_test(test_varint_overlong_is_error),  cmocka_unit_test(test_strings_classic_and_compact),
        cmocka_unit_test(test_reader_overrun_is_sticky),  cmocka_unit_test(test_array_count_bounded_by_remaining),
        cmocka_unit_test(test_tagged_fields_skipped),     cmocka_unit_test(test_splice_accounting_and_truncate),
        cmocka_unit_test(test_crc32c_check_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
