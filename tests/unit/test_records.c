/* Record batch v2 helpers: exact bytes of a small batch, round trips with headers and null
 * fields, and rejection of corrupt, truncated, compressed and inconsistent batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "kafka/records.h"

static sb_slice_t sl(const char *s)
{
    sb_slice_t x = {(const uint8_t *)s, s ? (int32_t)strlen(s) : -1};
    return x;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void recompute_crc(uint8_t *batch, size_t len)
{
    uint32_t c = crc32c(0, batch + 21, len - 21);
    batch[17] = (uint8_t)(c >> 24);
    batch[18] = (uint8_t)(c >> 16);
    batch[19] = (uint8_t)(c >> 8);
    batch[20] = (uint8_t)c;
}

static void test_single_record_bytes(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_wr_init(&w, 64);
    kafka_records_batch_opts_t o;
    kafka_records_batch_defaults(&o);
    o.base_offset = 5;
    kafka_record_t r = {.timestamp = 1000, .key = sl(NULL), .value = sl("v")};
    assert_int_equal(kafka_records_encode_batch(&w, &o, &r, 1, NULL), 0);
    assert_int_equal(w.len, 61 + 8);
    const uint8_t *b = w.buf;
    /* baseOffset, batchLength = total - 12, leader epoch -1, magic 2 */
    assert_int_equal(be32(b + 4), 5);
    assert_int_equal(be32(b + 8), 61 + 8 - 12);
    assert_int_equal(be32(b + 12), 0xffffffffu);
    assert_int_equal(b[16], 2);
    assert_int_equal(be32(b + 17), crc32c(0, b + 21, w.len - 21));
    assert_int_equal(b[21] << 8 | b[22], 0); /* attributes */
    assert_int_equal(be32(b + 23), 0);       /* lastOffsetDelta */
    assert_int_equal(be32(b + 31), 1000);    /* baseTimestamp low word */
    assert_int_equal(be32(b + 39), 1000);    /* maxTimestamp low word */
    assert_int_equal(be32(b + 43), 0xffffffffu); /* producerId -1 */
    assert_int_equal(be32(b + 57), 1);           /* recordsCount */
    /* length 7 (zig-zag 14), attributes, ts delta 0, offset delta 0, key -1 (zig-zag 1),
     * value length 1 (zig-zag 2), 'v', no headers */
    const uint8_t rec[] = {0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 'v', 0x00};
    assert_memory_equal(b + 61, rec, sizeof(rec));
    sb_wr_deinit(&w);
}

static void test_round_trip(void **state)
{
    (void)state;
    kafka_record_header_t h[] = {{sl("trace"), sl("abc")}, {sl("empty"), sl(NULL)}};
    kafka_record_t recs[] = {
        {.timestamp = 5000, .key = sl("k0"), .value = sl("value zero"), .headers = h, .header_count = 2},
        {.timestamp = 4000, .key = sl(NULL), .value = sl(NULL)},
        {.timestamp = 9000, .key = sl(""), .value = sl("x")},
    };
    sb_wr_t w;
    sb_wr_init(&w, 16);
    kafka_records_batch_opts_t o;
    kafka_records_batch_defaults(&o);
    o.base_offset = 100;
    assert_int_equal(kafka_records_encode_batch(&w, &o, recs, 3, NULL), 0);
    /* A second batch right after the first. */
    o.base_offset = 103;
    assert_int_equal(kafka_records_encode_batch(&w, &o, &recs[2], 1, NULL), 0);

    sb_rd_t rd;
    sb_rd_init(&rd, w.buf, w.len);
    kafka_records_iter_t it;
    assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), 0);
    assert_int_equal(it.header.records_count, 3);
    assert_int_equal(it.header.last_offset_delta, 2);
    assert_int_equal(it.header.base_timestamp, 5000);
    assert_int_equal(it.header.max_timestamp, 9000);
    kafka_record_view_t v;
    assert_int_equal(kafka_records_next(&it, &v, NULL), 1);
    assert_int_equal(v.offset, 100);
    assert_int_equal(v.timestamp, 5000);
    assert_int_equal(v.key.len, 2);
    assert_memory_equal(v.key.p, "k0", 2);
    assert_int_equal(v.value.len, 10);
    assert_int_equal(v.header_count, 2);
    kafka_record_header_t got;
    assert_int_equal(kafka_records_next_header(&v, &got, NULL), 1);
    assert_int_equal(got.key.len, 5);
    assert_memory_equal(got.value.p, "abc", 3);
    assert_int_equal(kafka_records_next_header(&v, &got, NULL), 1);
    assert_int_equal(got.value.len, -1);
    assert_int_equal(kafka_records_next_header(&v, &got, NULL), 0);
    assert_int_equal(kafka_records_next(&it, &v, NULL), 1);
    assert_int_equal(v.offset, 101);
    assert_int_equal(v.timestamp, 4000); /* negative delta */
    assert_int_equal(v.key.len, -1);
    assert_int_equal(v.value.len, -1);
    assert_int_equal(kafka_records_next(&it, &v, NULL), 1);
    assert_int_equal(v.key.len, 0);
    assert_int_equal(kafka_records_next(&it, &v, NULL), 0);

    assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), 0);
    assert_int_equal(it.header.base_offset, 103);
    assert_int_equal(kafka_records_next(&it, &v, NULL), 1);
    assert_int_equal(v.offset, 103);
    assert_int_equal(kafka_records_next(&it, &v, NULL), 0);
    assert_int_equal(sb_rd_remaining(&rd), 0);
    sb_wr_deinit(&w);
}

static void encode_three(sb_wr_t *w)
{
    kafka_record_t recs[3] = {
        {.timestamp = 1, .key = sl("a"), .value = sl("1")},
        {.timestamp = 2, .key = sl("b"), .value = sl("2")},
        {.timestamp = 3, .key = sl("c"), .value = sl("3")},
    };
    kafka_records_batch_opts_t o;
    kafka_records_batch_defaults(&o);
    sb_wr_init(w, 64);
    assert_int_equal(kafka_records_encode_batch(w, &o, recs, 3, NULL), 0);
}

static int drain(sb_wr_t *w)
{
    sb_rd_t rd;
    sb_rd_init(&rd, w->buf, w->len);
    kafka_records_iter_t it;
    int rc = kafka_records_batch_open(&rd, &it, NULL);
    if (rc != 0) return rc;
    kafka_record_view_t v;
    while ((rc = kafka_records_next(&it, &v, NULL)) == 1) {
    }
    return rc;
}

static void test_rejects_bad_batches(void **state)
{
    (void)state;
    sb_wr_t w;
    sb_err_t err = {0};

    encode_three(&w);
    w.buf[w.len - 2] ^= 0x40; /* a payload byte: the CRC no longer matches */
    sb_rd_t rd;
    sb_rd_init(&rd, w.buf, w.len);
    kafka_records_iter_t it;
    assert_int_equal(kafka_records_batch_open(&rd, &it, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "CRC"));
    sb_wr_deinit(&w);

    /* Truncated: asks for more and leaves the reader where it was. */
    encode_three(&w);
    sb_rd_init(&rd, w.buf, w.len - 1);
    assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), SB_EAGAIN);
    assert_int_equal(sb_rd_remaining(&rd), w.len - 1);
    sb_rd_init(&rd, w.buf, 10);
    assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), SB_EAGAIN);
    sb_wr_deinit(&w);

    /* A count larger than the records present. */
    encode_three(&w);
    w.buf[60] = 4;
    recompute_crc(w.buf, w.len);
    assert_int_equal(drain(&w), SB_ECORRUPT);
    sb_wr_deinit(&w);

    /* A count smaller than the records present leaves bytes behind. */
    encode_three(&w);
    w.buf[60] = 2;
    recompute_crc(w.buf, w.len);
    assert_int_equal(drain(&w), SB_ECORRUPT);
    sb_wr_deinit(&w);

    /* A record length running past the batch. */
    encode_three(&w);
    w.buf[61] = 0x7e;
    recompute_crc(w.buf, w.len);
    assert_int_equal(drain(&w), SB_ECORRUPT);
    sb_wr_deinit(&w);

    /* Compressed batches are recognised but not iterated. */
    encode_three(&w);
    w.buf[22] = 1;
    recompute_crc(w.buf, w.len);
    assert_int_equal(drain(&w), SB_EINVAL);
    sb_wr_deinit(&w);

    /* Wrong magic; a length below the header size. */
    encode_three(&w);
    w.buf[16] = 1;
    assert_int_equal(drain(&w), SB_ECORRUPT);
    w.buf[16] = 2;
    w.buf[8] = w.buf[9] = w.buf[10] = 0;
    w.buf[11] = 10;
    assert_int_equal(drain(&w), SB_ECORRUPT);
    sb_wr_deinit(&w);

    /* The encoder refuses what it cannot write. */
    sb_wr_init(&w, 8);
    kafka_records_batch_opts_t o;
    kafka_records_batch_defaults(&o);
    kafka_record_t r = {.timestamp = 0, .key = sl("k"), .value = sl("v")};
    assert_int_equal(kafka_records_encode_batch(&w, &o, &r, 0, NULL), SB_EINVAL);
    o.attributes = 2;
    assert_int_equal(kafka_records_encode_batch(&w, &o, &r, 1, NULL), SB_EINVAL);
    sb_wr_deinit(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_record_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_bad_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
