#include "kafka/record_batch.h"

#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "common/crc32c.h"

int kafka_batch_header_parse(const uint8_t *p, size_t len, kafka_batch_header_t *out)
{
    if (len < KAFKA_BATCH_HEADER_SIZE) return SB_EINVAL;
    sb_rd_t rd;
    sb_rd_init(&rd, p, KAFKA_BATCH_HEADER_SIZE);
    out->base_offset = sb_rd_i64(&rd);
    out->batch_length = sb_rd_i32(&rd);
    out->partition_leader_epoch = sb_rd_i32(&rd);
    out->magic = sb_rd_i8(&rd);
    out->crc = sb_rd_u32(&rd);
    out->attributes = sb_rd_i16(&rd);
    out->last_offset_delta = sb_rd_i32(&rd);
    out->base_timestamp = sb_rd_i64(&rd);
    out->max_timestamp = sb_rd_i64(&rd);
    out->producer_id = sb_rd_i64(&rd);
    out->producer_epoch = sb_rd_i16(&rd);
    out->base_sequence = sb_rd_i32(&rd);
    out->records_count = sb_rd_i32(&rd);
    return sb_rd_ok(&rd) ? 0 : SB_EINVAL;
}

int kafka_batches_validate(const uint8_t *p, size_t len, kafka_batches_info_t *info, sb_err_t *err)
{
    kafka_batches_info_t acc;
    memset(&acc, 0, sizeof(acc));
    acc.max_timestamp = -1;
    int64_t offsets_total = 0;

    if (len == 0) return sb_err_set(err, SB_EINVAL, "empty record set");

    size_t pos = 0;
    for (int i = 0; pos < len; i++) {
        size_t remaining = len - pos;
        /* Magic is checked first, even on a short tail, because older message formats (magic
         * 0/1) frame differently: "wrong magic" tells the client what is really going on. */
        if (remaining > 16 && p[pos + 16] != 2)
            return sb_err_set(err, SB_EINVAL,
                              "batch %d: magic %d, only record batch v2 is accepted", i,
                              (int8_t)p[pos + 16]);
        kafka_batch_header_t h;
        if (kafka_batch_header_parse(p + pos, remaining, &h) != 0)
            return sb_err_set(err, SB_ECORRUPT,
                              "batch %d: only %zu bytes left, less than a batch header (%d)", i,
                              remaining, KAFKA_BATCH_HEADER_SIZE);
        if (h.batch_length < KAFKA_BATCH_MIN_LENGTH)
            return sb_err_set(err, SB_ECORRUPT,
                              "batch %d: batch_length %" PRId32 " below minimum %d", i,
                              h.batch_length, KAFKA_BATCH_MIN_LENGTH);
        int64_t size = kafka_batch_size(&h);
        if ((uint64_t)size > remaining)
            return sb_err_set(err, SB_ECORRUPT,
                              "batch %d: batch_length %" PRId32 " needs %" PRId64
                              " bytes but only %zu remain (truncated)",
                              i, h.batch_length, size, remaining);
        uint32_t computed =
            crc32c(0, p + pos + KAFKA_BATCH_CRC_START, (size_t)size - KAFKA_BATCH_CRC_START);
        if (computed != h.crc)
            return sb_err_set(err, SB_ECORRUPT,
                              "batch %d: CRC mismatch (stored 0x%08" PRIx32
                              ", computed 0x%08" PRIx32 ")",
                              i, h.crc, computed);
        int codec = h.attributes & KAFKA_BATCH_ATTR_CODEC_MASK;
        if (codec > KAFKA_CODEC_ZSTD)
            return sb_err_set(err, SB_EINVAL, "batch %d: unknown compression codec %d", i, codec);
        if (h.last_offset_delta < 0)
            return sb_err_set(err, SB_EINVAL, "batch %d: negative last_offset_delta %" PRId32, i,
                              h.last_offset_delta);
        if (!(h.attributes & KAFKA_BATCH_ATTR_CONTROL)) {
            if (h.records_count < 1)
                return sb_err_set(err, SB_EINVAL, "batch %d: records_count %" PRId32 ", need >= 1",
                                  i, h.records_count);
            if (h.last_offset_delta != h.records_count - 1)
                return sb_err_set(err, SB_EINVAL,
                                  "batch %d: last_offset_delta %" PRId32
                                  " does not match records_count %" PRId32,
                                  i, h.last_offset_delta, h.records_count);
        } else if (h.records_count < 0) {
            return sb_err_set(err, SB_EINVAL, "batch %d: negative records_count %" PRId32, i,
                              h.records_count);
        }

        offsets_total += (int64_t)h.last_offset_delta + 1;
        if (offsets_total > INT32_MAX)
            return sb_err_set(err, SB_EINVAL, "batch %d: record set spans more than 2^31 offsets",
                              i);
        if (i == 0) acc.first = h;
        acc.nbatches++;
        acc.nrecords += h.records_count;
        if (h.max_timestamp > acc.max_timestamp) acc.max_timestamp = h.max_timestamp;
        pos += (size_t)size;
    }
    acc.last_offset_delta_total = (int32_t)offsets_total;
    if (info) *info = acc;
    return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

void kafka_batch_set_base_offset(uint8_t *batch, int64_t base_offset)
{
    put_be64(batch, (uint64_t)base_offset);
}

void kafka_batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
    put_be32(batch + 12, (uint32_t)epoch);
}

/* Reads a zig-zag varint that must fit in 32 bits (Kafka "varint", as opposed to "varlong"). */
static int32_t read_varint32(sb_rd_t *rd)
{
    int64_t v = sb_rd_varint(rd);
    if (v < INT32_MIN || v > INT32_MAX) {
        sb_rd_fail(rd);
        return 0;
    }
    return (int32_t)v;
}

/* Skips a varint-length-prefixed byte string; -1 (null) is allowed only when nullable. */
static void skip_varint_bytes(sb_rd_t *rd, int nullable)
{
    int32_t n = read_varint32(rd);
    if (n == -1 && nullable) return;
    if (n < 0) {
        sb_rd_fail(rd);
        return;
    }
    sb_rd_bytes(rd, (size_t)n);
}

int kafka_batch_records_foreach(const uint8_t *batch, size_t len,
                                int (*cb)(int64_t offset, int64_t timestamp, void *arg), void *arg)
{
    kafka_batch_header_t h;
    if (kafka_batch_header_parse(batch, len, &h) != 0) return SB_EINVAL;
    if (h.magic != 2 || h.batch_length < KAFKA_BATCH_MIN_LENGTH ||
        (uint64_t)kafka_batch_size(&h) > len)
        return SB_EINVAL;
    if ((h.attributes & KAFKA_BATCH_ATTR_CODEC_MASK) != KAFKA_CODEC_NONE) return SB_EINVAL;
    if (h.records_count < 0) return SB_EINVAL;

    bool log_append_time = (h.attributes & KAFKA_BATCH_ATTR_LOG_APPEND_TIME) != 0;
    sb_rd_t rd;
    sb_rd_init(&rd, batch + KAFKA_BATCH_HEADER_SIZE,
               (size_t)kafka_batch_size(&h) - KAFKA_BATCH_HEADER_SIZE);
    for (int32_t i = 0; i < h.records_count; i++) {
        int32_t record_len = read_varint32(&rd);
        if (record_len < 0) return SB_EINVAL;
        const uint8_t *record_bytes = sb_rd_bytes(&rd, (size_t)record_len);
        if (!record_bytes) return SB_EINVAL;

        /* Each record is parsed with its own reader so a field cannot run into the next
         * record, and a record whose fields do not add up to its length is rejected (as the
         * Java broker does). */
        sb_rd_t rec;
        sb_rd_init(&rec, record_bytes, (size_t)record_len);
        sb_rd_i8(&rec); /* record attributes: unused in v2 */
        int64_t timestamp_delta = sb_rd_varint(&rec);
        int32_t offset_delta = read_varint32(&rec);
        skip_varint_bytes(&rec, 1); /* key */
        skip_varint_bytes(&rec, 1); /* value */
        int32_t header_count = read_varint32(&rec);
        if (header_count < 0) return SB_EINVAL;
        for (int32_t j = 0; j < header_count && sb_rd_ok(&rec); j++) {
            skip_varint_bytes(&rec, 0); /* header key: a non-null string */
            skip_varint_bytes(&rec, 1); /* header value */
        }
        if (!sb_rd_ok(&rec) || sb_rd_remaining(&rec) != 0) return SB_EINVAL;

        int64_t timestamp = log_append_time
                                ? h.max_timestamp
                                : (int64_t)((uint64_t)h.base_timestamp + (uint64_t)timestamp_delta);
        int r = cb((int64_t)((uint64_t)h.base_offset + (uint64_t)(int64_t)offset_delta), timestamp,
                   arg);
        if (r != 0) return r;
    }
    if (sb_rd_remaining(&rd) != 0) return SB_EINVAL;
    return 0;
}
