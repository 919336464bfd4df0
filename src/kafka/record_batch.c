#include "kafka/record_batch.h"

#include <inttypes.h>
#include <stdbool.h>
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

/* ---- Records: encoding ---- */

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
    if (count < 1 || !records)
        return sb_err_set(err, SB_EINVAL, "a record batch needs at least one record");
    if (opts->attributes & KAFKA_BATCH_ATTR_CODEC_MASK)
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
    if (total - KAFKA_BATCH_LOG_OVERHEAD > INT32_MAX)
        return sb_err_set(err, SB_EINVAL, "record batch too large");
    sb_wr_patch_i32(w, start + 8, (int32_t)(total - KAFKA_BATCH_LOG_OVERHEAD));
    uint32_t crc = crc32c(0, w->buf + start + KAFKA_BATCH_CRC_START, total - KAFKA_BATCH_CRC_START);
    sb_wr_patch_i32(w, start + 17, (int32_t)crc);
    return 0;
}

/* ---- Records: decoding ---- */

/* Reads a varint-length-prefixed byte string into *out; -1 (null) is allowed only when
 * nullable. A bad length fails rd. */
static void read_varint_bytes(sb_rd_t *rd, bool nullable, sb_slice_t *out)
{
    int64_t n = sb_rd_varint(rd);
    out->p = NULL;
    out->len = -1;
    if (n == -1 && nullable) return;
    if (n < 0 || (uint64_t)n > sb_rd_remaining(rd)) {
        sb_rd_fail(rd);
        return;
    }
    out->len = (int32_t)n;
    out->p = sb_rd_bytes(rd, (size_t)n);
}

/* The one record decoder. Reads the record at the front of rd (its length prefix included)
 * of the batch whose header is h, and advances rd past it. Returns 0, or -1 when the record
 * is malformed (see the rules in record_batch.h). Each record is parsed with its own reader,
 * so a field cannot run into the next record. */
static int record_decode(sb_rd_t *rd, const kafka_batch_header_t *h, kafka_record_view_t *rec)
{
    int64_t len = sb_rd_varint(rd);
    if (!sb_rd_ok(rd) || len < 0 || (uint64_t)len > sb_rd_remaining(rd)) return -1;
    sb_rd_t r;
    sb_rd_init(&r, sb_rd_bytes(rd, (size_t)len), (size_t)len);

    rec->attributes = sb_rd_i8(&r);
    int64_t ts_delta = sb_rd_varint(&r);
    int64_t offset_delta = sb_rd_varint(&r);
    read_varint_bytes(&r, true, &rec->key);
    read_varint_bytes(&r, true, &rec->value);
    int64_t header_count = sb_rd_varint(&r);
    /* Each header takes at least two bytes (two varint lengths). */
    if (header_count < 0 || (uint64_t)header_count > sb_rd_remaining(&r) / 2) sb_rd_fail(&r);
    if (!sb_rd_ok(&r) || offset_delta < 0 || offset_delta > INT32_MAX) return -1;
    rec->header_count = (int32_t)header_count;
    rec->headers = r;

    /* Walk the headers once so that a record is either wholly valid or rejected here. */
    for (int64_t i = 0; i < header_count && sb_rd_ok(&r); i++) {
        sb_slice_t skip;
        read_varint_bytes(&r, false, &skip);
        read_varint_bytes(&r, true, &skip);
    }
    if (!sb_rd_ok(&r) || sb_rd_remaining(&r) != 0) return -1;

    /* Unsigned arithmetic: a hostile delta wraps instead of being undefined behaviour. */
    rec->offset = (int64_t)((uint64_t)h->base_offset + (uint64_t)offset_delta);
    rec->timestamp = (h->attributes & KAFKA_BATCH_ATTR_LOG_APPEND_TIME)
                         ? h->max_timestamp
                         : (int64_t)((uint64_t)h->base_timestamp + (uint64_t)ts_delta);
    return 0;
}

int kafka_records_batch_open(sb_rd_t *rd, kafka_records_iter_t *it, sb_err_t *err)
{
    memset(it, 0, sizeof(*it));
    if (!sb_rd_ok(rd)) return sb_err_set(err, SB_EINVAL, "reader already failed");
    size_t avail = sb_rd_remaining(rd);
    if (avail < KAFKA_BATCH_LOG_OVERHEAD) return sb_err_set(err, SB_EAGAIN, "partial batch header");

    /* Peek at the length first so that a partial batch leaves rd untouched. */
    sb_rd_t peek = *rd;
    sb_rd_i64(&peek);
    int32_t batch_length = sb_rd_i32(&peek);
    if (batch_length < KAFKA_BATCH_MIN_LENGTH)
        return sb_err_set(err, SB_ECORRUPT, "batch length %d is below the v2 header size",
                          (int)batch_length);
    if ((size_t)batch_length > avail - KAFKA_BATCH_LOG_OVERHEAD)
        return sb_err_set(err, SB_EAGAIN, "partial batch (%d bytes, %zu available)",
                          (int)batch_length, avail - KAFKA_BATCH_LOG_OVERHEAD);

    size_t batch_size = KAFKA_BATCH_LOG_OVERHEAD + (size_t)batch_length;
    const uint8_t *batch = sb_rd_bytes(rd, batch_size);
    kafka_batch_header_t *h = &it->header;
    kafka_batch_header_parse(batch, batch_size, h);
    if (h->magic != 2)
        return sb_err_set(err, SB_ECORRUPT, "unsupported record batch magic %d", (int)h->magic);
    uint32_t crc = crc32c(0, batch + KAFKA_BATCH_CRC_START, batch_size - KAFKA_BATCH_CRC_START);
    if (crc != h->crc)
        return sb_err_set(err, SB_ECORRUPT,
                          "record batch CRC mismatch (stored %08x, computed %08x)", h->crc, crc);
    if (h->records_count < 0 || h->last_offset_delta < 0)
        return sb_err_set(err, SB_ECORRUPT, "negative record count or offset delta");
    if (h->attributes & KAFKA_BATCH_ATTR_CODEC_MASK)
        return sb_err_set(err, SB_EINVAL, "compressed batch (codec %d) cannot be iterated",
                          h->attributes & KAFKA_BATCH_ATTR_CODEC_MASK);
    sb_rd_init(&it->records, batch + KAFKA_BATCH_HEADER_SIZE, batch_size - KAFKA_BATCH_HEADER_SIZE);
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
    memset(rec, 0, sizeof(*rec));
    if (record_decode(rd, &it->header, rec) != 0)
        return sb_err_set(err, SB_ECORRUPT, "record %d: malformed", (int)it->next_index);
    it->next_index++;
    return 1;
}

int kafka_records_next_header(kafka_record_view_t *rec, kafka_record_header_t *hdr, sb_err_t *err)
{
    if (rec->header_count <= 0) return 0;
    sb_rd_t *r = &rec->headers;
    read_varint_bytes(r, false, &hdr->key);
    if (!sb_rd_ok(r)) return sb_err_set(err, SB_ECORRUPT, "bad header key");
    read_varint_bytes(r, true, &hdr->value);
    if (!sb_rd_ok(r)) return sb_err_set(err, SB_ECORRUPT, "bad header value");
    rec->header_count--;
    return 1;
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

    sb_rd_t rd;
    sb_rd_init(&rd, batch + KAFKA_BATCH_HEADER_SIZE,
               (size_t)kafka_batch_size(&h) - KAFKA_BATCH_HEADER_SIZE);
    for (int32_t i = 0; i < h.records_count; i++) {
        kafka_record_view_t rec;
        if (record_decode(&rd, &h, &rec) != 0) return SB_EINVAL;
        int r = cb(rec.offset, rec.timestamp, arg);
        if (r != 0) return r;
    }
    if (sb_rd_remaining(&rd) != 0) return SB_EINVAL;
    return 0;
}
