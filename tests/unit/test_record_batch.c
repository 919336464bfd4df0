/* Tests for the Kafka RecordBatch v2 module (src/kafka/record_batch.c): the header codec and
 * validation, CRC-32C, the record encoder (exact bytes, round trips with headers and null
 * fields) and both ways of decoding records, which must agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/crc32c.h"
#include "kafka/record_batch.h"

/* A record batch built by hand from the Kafka protocol documentation, field by field. The
 * same bytes (apart from partitionLeaderEpoch, which it leaves 0) come out of kafka-python's
 * DefaultRecordBatchBuilder, an independent encoder, for the same two records. */
/* Kept one field per line: it reads better than a packed table. */
// clang-format off
static const uint8_t kBatch[] = {
    /* baseOffset 0 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* batchLength 79 = 49 header bytes after this field + 30 record bytes */ 0x00, 0x00, 0x00, 0x4f,
    /* partitionLeaderEpoch -1 */ 0xff, 0xff, 0xff, 0xff,
    /* magic 2 */ 0x02,
    /* crc: CRC-32C of everything from attributes on */ 0x4b, 0xf4, 0x2f, 0x08,
    /* attributes: no codec, CreateTime */ 0x00, 0x00,
    /* lastOffsetDelta 1 */ 0x00, 0x00, 0x00, 0x01,
    /* baseTimestamp 1700000000000 */ 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    /* maxTimestamp 1700000000005 */ 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,
    /* producerId -1 */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    /* producerEpoch -1 */ 0xff, 0xff,
    /* baseSequence -1 */ 0xff, 0xff, 0xff, 0xff,
    /* recordsCount 2 */ 0x00, 0x00, 0x00, 0x02,
    /* record 0: length 17 (zig-zag 0x22) */ 0x22,
    /*   attributes */ 0x00,
    /*   timestampDelta 0 */ 0x00,
    /*   offsetDelta 0 */ 0x00,
    /*   keyLength 2, "k1" */ 0x04, 'k', '1',
    /*   valueLength 5, "hello" */ 0x0a, 'h', 'e', 'l', 'l', 'o',
    /*   headerCount 1 */ 0x02,
    /*   header key length 1, "h" */ 0x02, 'h',
    /*   header value length 1, "v" */ 0x02, 'v',
    /* record 1: length 11 (zig-zag 0x16) */ 0x16,
    /*   attributes */ 0x00,
    /*   timestampDelta 5 */ 0x0a,
    /*   offsetDelta 1 */ 0x02,
    /*   keyLength -1: null key */ 0x01,
    /*   valueLength 5, "world" */ 0x0a, 'w', 'o', 'r', 'l', 'd',
    /*   headerCount 0 */ 0x00,
};
// clang-format on

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Recomputes the CRC after a test edits a covered field, so that only the edited property
 * is wrong. */
static void fix_crc(uint8_t *batch, size_t size)
{
    put_be32(batch + 17, crc32c(0, batch + 21, size - 21));
}

static void test_crc32c_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) appendix B.4 vectors. */
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(crc32c(0, buf, 32), 0x46DD794Eu);
    /* Chaining pieces gives the one-shot value (recovery CRCs big batches in chunks). */
    assert_int_equal(crc32c(crc32c(0, buf, 13), buf + 13, 19), 0x46DD794Eu);
}

static void test_header_parse_hand_built_batch(void **state)
{
    (void)state;
    kafka_batch_header_t h;
    assert_int_equal(kafka_batch_header_parse(kBatch, sizeof(kBatch), &h), 0);
    assert_int_equal(h.base_offset, 0);
    assert_int_equal(h.batch_length, 79);
    assert_int_equal(kafka_batch_size(&h), sizeof(kBatch));
    assert_int_equal(h.partition_leader_epoch, -1);
    assert_int_equal(h.magic, 2);
    assert_int_equal(h.crc, 0x4bf42f08u);
    assert_int_equal(h.crc, crc32c(0, kBatch + 21, sizeof(kBatch) - 21));
    assert_int_equal(h.attributes, 0);
    assert_int_equal(h.last_offset_delta, 1);
    assert_int_equal(h.base_timestamp, 1700000000000LL);
    assert_int_equal(h.max_timestamp, 1700000000005LL);
    assert_int_equal(h.producer_id, -1);
    assert_int_equal(h.producer_epoch, -1);
    assert_int_equal(h.base_sequence, -1);
    assert_int_equal(h.records_count, 2);
    assert_int_equal(kafka_batch_header_parse(kBatch, 60, &h), SB_EINVAL);
}

static void test_validate_accepts_valid_batches(void **state)
{
    (void)state;
    kafka_batches_info_t info;
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(kBatch, sizeof(kBatch), &info, &err), 0);
    assert_int_equal(info.nbatches, 1);
    assert_int_equal(info.nrecords, 2);
    assert_int_equal(info.max_timestamp, 1700000000005LL);
    assert_int_equal(info.last_offset_delta_total, 2);
    assert_int_equal(info.first.records_count, 2);

    uint8_t two[2 * sizeof(kBatch)];
    memcpy(two, kBatch, sizeof(kBatch));
    memcpy(two + sizeof(kBatch), kBatch, sizeof(kBatch));
    two[sizeof(kBatch) + 42] = 0x09; /* second batch: maxTimestamp ...6809 */
    fix_crc(two + sizeof(kBatch), sizeof(kBatch));
    assert_int_equal(kafka_batches_validate(two, sizeof(two), &info, &err), 0);
    assert_int_equal(info.nbatches, 2);
    assert_int_equal(info.nrecords, 4);
    assert_int_equal(info.last_offset_delta_total, 4);
    assert_int_equal(info.max_timestamp, 1700000000009LL);
}

static void test_validate_rejects_bad_magic(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    memcpy(b, kBatch, sizeof(b));
    b[16] = 1;
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "magic 1"));
}

static void test_validate_rejects_bad_crc(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    memcpy(b, kBatch, sizeof(b));
    b[sizeof(b) - 3] ^= 0x20; /* "world" -> "woRld" */
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "batch 0: CRC mismatch (stored 0x4bf42f08, computed 0x"));
}

static void test_validate_rejects_truncated_and_trailing(void **state)
{
    (void)state;
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(kBatch, sizeof(kBatch) - 1, NULL, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(kafka_batches_validate(kBatch, 30, NULL, &err), SB_ECORRUPT);
    assert_int_equal(kafka_batches_validate(kBatch, 0, NULL, &err), SB_EINVAL);

    uint8_t b[sizeof(kBatch) + 5];
    memcpy(b, kBatch, sizeof(kBatch));
    memset(b + sizeof(kBatch), 0, 5);
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_ECORRUPT);
    assert_non_null(strstr(err.msg, "batch 1:"));
}

static void test_validate_rejects_inconsistent_fields(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    sb_err_t err = {0};

    memcpy(b, kBatch, sizeof(b));
    put_be32(b + 8, 40); /* batchLength below the header size */
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_ECORRUPT);

    memcpy(b, kBatch, sizeof(b));
    b[22] = 5; /* codec 5 does not exist */
    fix_crc(b, sizeof(b));
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "codec 5"));

    memcpy(b, kBatch, sizeof(b));
    put_be32(b + 23, 4); /* lastOffsetDelta 4 but 2 records */
    fix_crc(b, sizeof(b));
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "last_offset_delta 4"));

    memcpy(b, kBatch, sizeof(b));
    put_be32(b + 57, 0); /* no records in a data batch */
    put_be32(b + 23, (uint32_t)-1);
    fix_crc(b, sizeof(b));
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), SB_EINVAL);

    /* A control batch (transaction marker) is judged by its control-ness, not its count. */
    memcpy(b, kBatch, sizeof(b));
    b[22] = KAFKA_BATCH_ATTR_CONTROL | KAFKA_BATCH_ATTR_TRANSACTIONAL;
    put_be32(b + 23, 0);
    fix_crc(b, sizeof(b));
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), 0);
}

static void test_offset_and_epoch_are_outside_the_crc(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    memcpy(b, kBatch, sizeof(b));
    kafka_batch_set_base_offset(b, 0x0102030405060708LL);
    kafka_batch_set_leader_epoch(b, 7);
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(b, sizeof(b), NULL, &err), 0);
    kafka_batch_header_t h;
    kafka_batch_header_parse(b, sizeof(b), &h);
    assert_int_equal(h.base_offset, 0x0102030405060708LL);
    assert_int_equal(h.partition_leader_epoch, 7);
    assert_int_equal(h.crc, 0x4bf42f08u);
}

struct seen {
    int n;
    int stop_after;
    int64_t offsets[8];
    int64_t timestamps[8];
};

static int collect(int64_t offset, int64_t timestamp, void *arg)
{
    struct seen *s = arg;
    if (s->n < 8) {
        s->offsets[s->n] = offset;
        s->timestamps[s->n] = timestamp;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static void test_records_foreach_reports_offsets_and_timestamps(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    memcpy(b, kBatch, sizeof(b));
    kafka_batch_set_base_offset(b, 100);
    struct seen s = {0};
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.offsets[0], 100);
    assert_int_equal(s.offsets[1], 101);
    assert_int_equal(s.timestamps[0], 1700000000000LL);
    assert_int_equal(s.timestamps[1], 1700000000005LL);

    struct seen first_only = {.stop_after = 1};
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &first_only), 1);
    assert_int_equal(first_only.n, 1);

    /* LogAppendTime: every record has the batch's maxTimestamp, whatever its delta says. */
    b[22] = KAFKA_BATCH_ATTR_LOG_APPEND_TIME;
    struct seen lat = {0};
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &lat), 0);
    assert_int_equal(lat.timestamps[0], 1700000000005LL);
    assert_int_equal(lat.timestamps[1], 1700000000005LL);
}

static void test_records_foreach_rejects_compressed_and_malformed(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    struct seen s = {0};

    memcpy(b, kBatch, sizeof(b));
    b[22] = KAFKA_CODEC_GZIP;
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    memcpy(b, kBatch, sizeof(b));
    b[61] = 0x24; /* first record claims 18 bytes: its fields no longer add up */
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    memcpy(b, kBatch, sizeof(b));
    put_be32(b + 57, 3); /* three records promised, two present */
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    memcpy(b, kBatch, sizeof(b));
    put_be32(b + 57, 1); /* one record promised, a second one left over */
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    memcpy(b, kBatch, sizeof(b));
    b[65] = 0x7e; /* key length 63: runs past the record */
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    memcpy(b, kBatch, sizeof(b));
    b[75] = 0x01; /* header key length -1: header keys cannot be null */
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);

    assert_int_equal(kafka_batch_records_foreach(kBatch, sizeof(kBatch) - 1, collect, &s),
                     SB_EINVAL);
}

/* ---- The record encoder and iterator (formerly kafka/records.c) ---- */

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
    assert_int_equal(b[21] << 8 | b[22], 0);     /* attributes */
    assert_int_equal(be32(b + 23), 0);           /* lastOffsetDelta */
    assert_int_equal(be32(b + 31), 1000);        /* baseTimestamp low word */
    assert_int_equal(be32(b + 39), 1000);        /* maxTimestamp low word */
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
        {.timestamp = 5000,
         .key = sl("k0"),
         .value = sl("value zero"),
         .headers = h,
         .header_count = 2},
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

/* The iterator and the callback walk share one record decoder: on the hand-built batch they
 * report the same offsets and timestamps, LogAppendTime included, and the iterator also gives
 * the keys, values and headers that the bytes spell. */
static void test_iterator_and_foreach_agree(void **state)
{
    (void)state;
    uint8_t b[sizeof(kBatch)];
    memcpy(b, kBatch, sizeof(b));
    for (int log_append_time = 0; log_append_time <= 1; log_append_time++) {
        if (log_append_time) {
            b[22] = KAFKA_BATCH_ATTR_LOG_APPEND_TIME;
            fix_crc(b, sizeof(b));
        }
        struct seen s = {0};
        assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), 0);

        sb_rd_t rd;
        sb_rd_init(&rd, b, sizeof(b));
        kafka_records_iter_t it;
        assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), 0);
        kafka_record_view_t rec;
        int n = 0;
        while (kafka_records_next(&it, &rec, NULL) == 1) {
            assert_true(n < s.n);
            assert_int_equal(rec.offset, s.offsets[n]);
            assert_int_equal(rec.timestamp, s.timestamps[n]);
            if (n == 0) {
                assert_int_equal(rec.key.len, 2);
                assert_memory_equal(rec.key.p, "k1", 2);
                assert_int_equal(rec.value.len, 5);
                assert_memory_equal(rec.value.p, "hello", 5);
                kafka_record_header_t hdr;
                assert_int_equal(kafka_records_next_header(&rec, &hdr, NULL), 1);
                assert_memory_equal(hdr.key.p, "h", 1);
                assert_memory_equal(hdr.value.p, "v", 1);
                assert_int_equal(kafka_records_next_header(&rec, &hdr, NULL), 0);
            } else {
                assert_int_equal(rec.key.len, -1);
                assert_memory_equal(rec.value.p, "world", 5);
            }
            n++;
        }
        assert_int_equal(n, 2);
        assert_int_equal(s.timestamps[1], 1700000000005LL);
        assert_int_equal(s.timestamps[0], log_append_time ? 1700000000005LL : 1700000000000LL);
    }

    /* A record whose fields do not add up to its length is refused by both. */
    memcpy(b, kBatch, sizeof(b));
    b[61] = 0x24;
    fix_crc(b, sizeof(b));
    struct seen s = {0};
    assert_int_equal(kafka_batch_records_foreach(b, sizeof(b), collect, &s), SB_EINVAL);
    sb_rd_t rd;
    sb_rd_init(&rd, b, sizeof(b));
    kafka_records_iter_t it;
    assert_int_equal(kafka_records_batch_open(&rd, &it, NULL), 0);
    kafka_record_view_t rec;
    assert_int_equal(kafka_records_next(&it, &rec, NULL), SB_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_vectors),
        cmocka_unit_test(test_header_parse_hand_built_batch),
        cmocka_unit_test(test_validate_accepts_valid_batches),
        cmocka_unit_test(test_validate_rejects_bad_magic),
        cmocka_unit_test(test_validate_rejects_bad_crc),
        cmocka_unit_test(test_validate_rejects_truncated_and_trailing),
        cmocka_unit_test(test_validate_rejects_inconsistent_fields),
        cmocka_unit_test(test_offset_and_epoch_are_outside_the_crc),
        cmocka_unit_test(test_records_foreach_reports_offsets_and_timestamps),
        cmocka_unit_test(test_records_foreach_rejects_compressed_and_malformed),
        cmocka_unit_test(test_single_record_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_bad_batches),
        cmocka_unit_test(test_iterator_and_foreach_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
