#include "kafka/records.h"

#include <string.h>

#include "common/crc32c.h"

void kafka_records_batch_defaults(kafka_records_batch_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->partition_leader_epoch = -1;
    opts->producer_id = -1;
    opts->producer_epoch = -1;
    opts->base_sequence = -1;
}

static size_t uvarint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_size(int64_t v)
{
    return uvarint_size(((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* A null key/value is written as length -1 with no bytes. */
static size_t nullable_size(sb_slice_t s)
{
    return s.len < 0 ? varint_size(-1) : varint_size(s.len) + (size_t)s.len;
}

static void wr_nullable(sb_wr_t *w, sb_slice_t s)
{
    if (s.len < 0) {
        sb_wr_varint(w, -1);
        return;
    }
    sb_wr_varint(w, s.len);
    sb_wr_bytes(w, s.p, (size_t)s.len);
}

/* The size of a record body (everything after its own length prefix). The length prefix has
 * to be written first, so it is computed rather than patched. */
static size_t record_body_size(const kafka_record_t *r, int64_t ts_delta, int32_t offset_delta)
{
    size_t n = 1 + varint_size(ts_delta) + varint_size(offset_delta);
    n += nullable_size(r->key) + nullable_size(r->value);
    n += varint_size(r->header_count);
    for (int32_t i = 0; i < r->header_count; i++) {
        n += nullable_size(r->headers[i].key) + nullable_size(r->headers[i].value);
    }
    return n;
}

int kafka_records_encode_batch(sb_wr_t *w, const kafka_records_batch_opts_t *opts,
                               const kafka_record_t *records, int32_t count, sb_err_t *err)
{
    if (count < 1 || !records) return sb_err_set(err, SB_EINVAL, "a record batch needs at least one record");
    if (opts->attributes & KAFKA_RECORDS_ATTR_CODEC_MASK)
        return sb_err_set(err, SB_EINVAL, "the record encoder writes uncompressed batches only");
    for (int32_t i = 0; i < count; i++) {
        if (records[i].header_count < 0 || (records[i].header_count > 0 && !records[i].headers))
            return sb_err_set(err, SB_EINVAL, "record %d: bad header list", (int)i);
        for (int32_t h = 0; h < records[i].header_count; h++) {
            if (records[i].headers[h].key.len < 0)
                return sb_err_set(err, SB_EINVAL, "record %d: a header key cannot be null", (int)i);
        }
    }

    int64_t base_ts = records[0].timestamp;
    int64_t max_ts = base_ts;
    for (int32_t i = 1; i < count; i++) {
        if (records[i].timestamp > max_ts) max_ts = records[i].timestamp;
    }

    size_t start = w->len;
    sb_wr_i64(w, opts->base_offset);
    sb_wr_i32(w, 0); /* batchLength, patched below */
    sb_wr_i32(w, opts->partition_leader_epoch);
    sb_wr_i8(w, 2);
    sb_wr_u32(w, 0); /* crc, patched below */
    sb_wr_i16(w, opts->attributes);
    sb_wr_i32(w, count - 1);
    sb_wr_i64(w, base_ts);
    sb_wr_i64(w, max_ts);
    sb_wr_i64(w, opts->producer_id);
    sb_wr_i16(w, opts->producer_epoch);
    sb_wr_i32(w, opts->base_sequence);
    sb_wr_i32(w, count);
    for (int32_t i = 0; i < count; i++) {
        const kafka_record_t *r = &records[i];
        int64_t ts_delta = r->timestamp - base_ts;
        size_t body = record_body_size(r, ts_delta, i);
        if (body > INT32_MAX) return sb_err_set(err, SB_EINVAL, "record %d is too large", (int)i);
        sb_wr_varint(w, (int64_t)body);
        sb_wr_i8(w, 0); /* record attributes: unused in v2 */
        sb_wr_varint(w, ts_delta);
        sb_wr_varint(w, i);
        wr_nullable(w, r->key);
        wr_nullable(w, r->value);
        sb_wr_varint(w, r->header_count);
        for (int32_t h = 0; h < r->header_count; h++) {
            wr_nullable(w, r->headers[h].key);
            wr_nullable(w, r->headers[h].value);
        }
    }
    if (w->oom) return sb_err_set(err, SB_ENOMEM, "out of memory encoding a record batch");
    size_t total = w->len - start;
    if (total - KAFKA_RECORDS_LOG_OVERHEAD > INT32_MAX) return sb_err_set(err, SB_EINVAL, "record batch too large");
    sb_wr_patch_i32(w, start + 8, (int32_t)(total - KAFKA_RECORDS_LOG_OVERHEAD));
    uint32_t crc = crc32c(0, w->buf + start + KAFKA_RECORDS_CRC_START, total - KAFKA_RECORDS_CRC_START);
    sb_wr_patch_i32(w, start + 17, (int32_t)crc);
    return 0;
}

int kafka_records_batch_open(sb_rd_t *rd, kafka_records_iter_t *it, sb_err_t *err)
{
    memset(it, 0, sizeof(*it));
    if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "reader already failed");
    size_t avail = sb_rd_remaining(rd);
    if (avail < KAFKA_RECORDS_LOG_OVERHEAD) return sb_err_set(err, SB_EAGAIN, "partial batch header");

    /* Peek at the length first so that a partial batch leaves rd untouched. */
    sb_rd_t peek = *rd;
    sb_rd_i64(&peek);
    int32_t batch_length = sb_rd_i32(&peek);
    if (batch_length < KAFKA_RECORDS_BATCH_HEADER_SIZE - KAFKA_RECORDS_LOG_OVERHEAD)
        return sb_err_set(err, SB_ECORRUPT, "batch length %d is below the v2 header size", (int)batch_length);
    if ((size_t)batch_length > avail - KAFKA_RECORDS_LOG_OVERHEAD)
        return sb_err_set(err, SB_EAGAIN, "partial batch (%d bytes, %zu available)", (int)batch_length,
                          avail - KAFKA_RECORDS_LOG_OVERHEAD);

    const uint8_t *batch = sb_rd_bytes(rd, KAFKA_RECORDS_LOG_OVERHEAD + (size_t)batch_length);
    size_t batch_size = KAFKA_RECORDS_LOG_OVERHEAD + (size_t)batch_length;
    kafka_batch_header_t *h = &it->header;
    kafka_batch_header_parse(batch, batch_size, h);
    sb_rd_t b;
    sb_rd_init(&b, batch + KAFKA_BATCH_HEADER_SIZE, batch_size - KAFKA_BATCH_HEADER_SIZE);
    if (h->magic != 2) return sb_err_set(err, SB_ECORRUPT, "unsupported record batch magic %d", (int)h->magic);
    uint32_t crc = crc32c(0, batch + KAFKA_RECORDS_CRC_START, batch_size - KAFKA_RECORDS_CRC_START);
    if (crc != h->crc)
        return sb_err_set(err, SB_ECORRUPT, "record batch CRC mismatch (stored %08x, computed %08x)", h->crc, crc);
    if (h->records_count < 0 || h->last_offset_delta < 0)
        return sb_err_set(err, SB_ECORRUPT, "negative record count or offset delta");
    if (h->attributes & KAFKA_RECORDS_ATTR_CODEC_MASK)
        return sb_err_set(err, SB_EINVAL, "compressed batch (codec %d) cannot be iterated",
                          h->attributes & KAFKA_RECORDS_ATTR_CODEC_MASK);
    it->records = b;
    return 0;
}

int kafka_records_next(kafka_records_iter_t *it, kafka_record_view_t *rec, sb_err_t *err)
{
    sb_rd_t *rd = &it->records;
    if (it->next_index >= it->header.records_count) {
        if (!sb_rd_ok(rd) || sb_rd_remaining(rd) != 0)
            return sb_err_set(err, SB_ECORRUPT, "bytes left after the last record of the batch");
        return 0;
    }
    int64_t len = sb_rd_varint(rd);
    if (!sb_rd_ok(rd) || len < 0 || (uint64_t)len > sb_rd_remaining(rd))
        return sb_err_set(err, SB_ECORRUPT, "record %d: bad length", (int)it->next_index);
    sb_rd_t r;
    sb_rd_init(&r, sb_rd_bytes(rd, (size_t)len), (size_t)len);

    memset(rec, 0, sizeof(*rec));
    rec->attributes = sb_rd_i8(&r);
    int64_t ts_delta = sb_rd_varint(&r);
    int64_t offset_delta = sb_rd_varint(&r);
    int64_t key_len = sb_rd_varint(&r);
    if (key_len >= 0 && (uint64_t)key_len <= sb_rd_remaining(&r)) {
        rec->key.len = (int32_t)key_len;
        rec->key.p = sb_rd_bytes(&r, (size_t)key_len);
    } else if (key_len == -1) {
        rec->key.len = -1;
    } else {
        sb_rd_fail(&r);
    }
    int64_t value_len = sb_rd_varint(&r);
    if (value_len >= 0 && (uint64_t)value_len <= sb_rd_remaining(&r)) {
        rec->value.len = (int32_t)value_len;
        rec->value.p = sb_rd_bytes(&r, (size_t)value_len);
    } else if (value_len == -1) {
        rec->value.len = -1;
    } else {
        sb_rd_fail(&r);
    }
    int64_t header_count = sb_rd_varint(&r);
    /* Each header takes at least two bytes (two varint lengths). */
    if (header_count < 0 || (uint64_t)header_count > sb_rd_remaining(&r) / 2) sb_rd_fail(&r);
    if (!sb_rd_ok(&r) || offset_delta < 0 || offset_delta > INT32_MAX)
        return sb_err_set(err, SB_ECORRUPT, "record %d: malformed", (int)it->next_index);
    rec->header_count = (int32_t)header_count;
    rec->headers = r;
    rec->offset = it->header.base_offset + offset_delta;
    rec->timestamp = it->header.base_timestamp + ts_delta;

    /* Walk the headers once so that a record is either wholly valid or rejected here. */
    sb_rd_t walk = r;
    for (int64_t i = 0; i < header_count; i++) {
        int64_t kl = sb_rd_varint(&walk);
        if (kl < 0 || (uint64_t)kl > sb_rd_remaining(&walk)) sb_rd_fail(&walk);
        else sb_rd_bytes(&walk, (size_t)kl);
        int64_t vl = sb_rd_varint(&walk);
        if (vl < -1 || (vl >= 0 && (uint64_t)vl > sb_rd_remaining(&walk))) sb_rd_fail(&walk);
        else if (vl > 0) sb_rd_bytes(&walk, (size_t)vl);
    }
    if (!sb_rd_ok(&walk) || sb_rd_remaining(&walk) != 0)
        return sb_err_set(err, SB_ECORRUPT, "record %d: malformed headers", (int)it->next_index);
    it->next_index++;
    return 1;
}

int kafka_records_next_header(kafka_record_view_t *rec, kafka_record_header_t *hdr, sb_err_t *err)
{
    if (rec->header_count <= 0) return 0;
    sb_rd_t *r = &rec->headers;
    int64_t kl = sb_rd_varint(r);
    if (kl < 0 || (uint64_t)kl > sb_rd_remaining(r)) return sb_err_set(err, SB_ECORRUPT, "bad header key");
    hdr->key.len = (int32_t)kl;
    hdr->key.p = sb_rd_bytes(r, (size_t)kl);
    int64_t vl = sb_rd_varint(r);
    if (vl < -1 || (vl >= 0 && (uint64_t)vl > sb_rd_remaining(r))) return sb_err_set(err, SB_ECORRUPT, "bad header value");
    hdr->value.len = (int32_t)vl;
    hdr->value.p = vl >= 0 ? sb_rd_bytes(r, (size_t)vl) : NULL;
    if (!sb_rd_ok(r)) return sb_err_set(err, SB_ECORRUPT, "bad header");
    rec->header_count--;
    return 1;
}
