/* Tests for the Kafka RecordBatch v2 codec (src/kafka/record_batch.c) and CRC-32C. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
