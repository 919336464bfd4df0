#ifndef STREAMBUS_KAFKA_RECORD_BATCH_H
#define STREAMBUS_KAFKA_RECORD_BATCH_H

/* Kafka RecordBatch v2 (magic 2), the one module for it: the header codec, produce-payload
 * validation, the record encoder, and record decoding of uncompressed batches (an iterator
 * and a callback walk that share one record decoder).
 *
 * The broker's hot path never decodes records: it validates the header and the CRC and appends
 * whole batches. Records are decoded where they are needed: timestamp lookups in the log, the
 * group coordinator's offsets log, tests and tools that build batches.
 *
 * Layout of the 61-byte header (all big-endian):
 *
 *   offset  field                  type
 *        0  baseOffset             int64   \ outside the CRC: the broker assigns them in
 *        8  batchLength            int32    | place without recomputing anything
 *       12  partitionLeaderEpoch   int32   /
 *       16  magic                  int8    (2)
 *       17  crc                    uint32  CRC-32C of the bytes from attributes to the end
 *       21  attributes             int16   bits 0-2 codec, 3 timestamp type, 4 transactional,
 *                                          5 control
 *       23  lastOffsetDelta        int32
 *       27  baseTimestamp          int64
 *       35  maxTimestamp           int64
 *       43  producerId             int64
 *       51  producerEpoch          int16
 *       53  baseSequence           int32
 *       57  recordsCount           int32
 *       61  records...
 *
 * batchLength counts the bytes after the batchLength field, so a whole batch is
 * 12 + batchLength bytes.
 *
 * Each record inside is:
 *   length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *   keyLength varint, key, valueLength varint, value, headerCount varint,
 *   headers: [keyLength varint, key, valueLength varint, value]
 * where every varint/varlong is zig-zag encoded (Kafka's "varint" type), and a length of -1
 * means null. Decode them with sb_rd_varint (signed, zig-zag) from common/buf.h; sb_rd_uvarint
 * is the unsigned form used by flexible protocol versions, not by records. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define KAFKA_BATCH_HEADER_SIZE 61
/* Bytes of the header that batchLength does not count (baseOffset + batchLength). */
#define KAFKA_BATCH_LOG_OVERHEAD 12
/* The smallest legal batchLength: a header and no records. */
#define KAFKA_BATCH_MIN_LENGTH (KAFKA_BATCH_HEADER_SIZE - KAFKA_BATCH_LOG_OVERHEAD)
/* Where the CRC-covered part of a batch starts (the attributes field). */
#define KAFKA_BATCH_CRC_START 21

#define KAFKA_BATCH_ATTR_CODEC_MASK 0x07
#define KAFKA_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define KAFKA_BATCH_ATTR_TRANSACTIONAL 0x10
#define KAFKA_BATCH_ATTR_CONTROL 0x20

enum {
    KAFKA_CODEC_NONE = 0,
    KAFKA_CODEC_GZIP = 1,
    KAFKA_CODEC_SNAPPY = 2,
    KAFKA_CODEC_LZ4 = 3,
    KAFKA_CODEC_ZSTD = 4,
};

typedef struct kafka_batch_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
} kafka_batch_header_t;

/* Decodes the 61-byte header at p. Needs len >= 61, else returns SB_EINVAL. Checks nothing
 * else (no magic, length or CRC check): callers that take bytes from outside validate with
 * kafka_batches_validate. */
int kafka_batch_header_parse(const uint8_t *p, size_t len, kafka_batch_header_t *out);

/* Whole size of the batch whose header is h (12 + batchLength). */
static inline int64_t kafka_batch_size(const kafka_batch_header_t *h)
{
    return (int64_t)KAFKA_BATCH_LOG_OVERHEAD + h->batch_length;
}

typedef struct kafka_batches_info {
    int nbatches;
    int64_t nrecords;
    int64_t max_timestamp;      /* largest maxTimestamp over the batches; -1 if none is larger */
    kafka_batch_header_t first; /* header of the first batch */
    /* Sum over batches of lastOffsetDelta + 1: how many offsets the payload consumes. */
    int32_t last_offset_delta_total;
} kafka_batches_info_t;

/* Validates a produce payload: one or more whole v2 batches back to back. Checks, per batch:
 * magic 2; batchLength >= 49 and the whole batch present (no trailing partial bytes after the
 * last batch); CRC-32C of attributes..end matches; codec 0..4; lastOffsetDelta >= 0; for
 * non-control batches recordsCount >= 1 and lastOffsetDelta == recordsCount - 1. Records are
 * not decoded (the broker works per batch).
 *
 * Returns 0 and fills info (may be NULL); SB_ECORRUPT when the framing or CRC is broken (the
 * bytes were damaged: Kafka's CORRUPT_MESSAGE); SB_EINVAL when the bytes are intact but not
 * acceptable (wrong magic, unknown codec, inconsistent counts, empty payload). err names the
 * batch index and what was wrong, e.g. "batch 0: CRC mismatch (stored 0x..., computed 0x...)". */
int kafka_batches_validate(const uint8_t *p, size_t len, kafka_batches_info_t *info, sb_err_t *err);

/* Both fields sit outside the CRC, so the broker may set them on a validated batch in place. */
void kafka_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void kafka_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/* ---- Records: encoding ---- */

typedef struct kafka_record_header {
    sb_slice_t key;   /* never null on the wire */
    sb_slice_t value; /* len -1: null */
} kafka_record_header_t;

/* One record to encode. key/value with len -1 are null. */
typedef struct kafka_record {
    int64_t timestamp; /* absolute, milliseconds since the epoch */
    sb_slice_t key;
    sb_slice_t value;
    const kafka_record_header_t *headers;
    int32_t header_count;
} kafka_record_t;

/* Batch-level fields the encoder cannot infer. kafka_records_batch_defaults() gives the values
 * of a plain, non-idempotent, uncompressed batch (producerId -1, epoch -1, sequence -1). */
typedef struct kafka_records_batch_opts {
    int64_t base_offset;
    int32_t partition_leader_epoch;
    int16_t attributes; /* the codec bits must be 0: the encoder writes uncompressed records */
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
} kafka_records_batch_opts_t;

void kafka_records_batch_defaults(kafka_records_batch_opts_t *opts);

/* Appends one complete v2 batch holding `count` (>= 1) records to w, CRC included. The base
 * timestamp is the first record's, maxTimestamp the largest. Returns 0, SB_EINVAL for a bad
 * argument or SB_ENOMEM when the writer ran out of memory. */
int kafka_records_encode_batch(sb_wr_t *w, const kafka_records_batch_opts_t *opts,
                               const kafka_record_t *records, int32_t count, sb_err_t *err);

/* ---- Records: decoding (uncompressed batches only) ----
 *
 * Both ways below apply the same rules to every record, through one decoder: the record's
 * fields must add up to exactly its length prefix (as the Java broker requires), offsetDelta
 * is 0..2^31-1, a header key is never null, and the records section must hold exactly
 * recordsCount records. A record's timestamp is baseTimestamp + timestampDelta, or the
 * batch's maxTimestamp for a batch with LogAppendTime, as Kafka defines it. */

/* One decoded record; slices borrow the batch bytes. Headers are read with
 * kafka_records_next_header() from `headers`. */
typedef struct kafka_record_view {
    int64_t offset;
    int64_t timestamp;
    int8_t attributes;
    sb_slice_t key;
    sb_slice_t value;
    int32_t header_count;
    sb_rd_t headers;
} kafka_record_view_t;

/* Iterates the records of one uncompressed batch. Borrows the bytes it was opened on. */
typedef struct kafka_records_iter {
    kafka_batch_header_t header;
    sb_rd_t records; /* the unread part of the records section */
    int32_t next_index;
} kafka_records_iter_t;

/* Reads one whole batch from rd (advancing rd past it), checks magic, length and CRC, and
 * prepares `it` to iterate its records. Returns 0; SB_EAGAIN when rd holds only part of a
 * batch (rd is left unchanged, so a caller reading a log in chunks can fetch more);
 * SB_ECORRUPT for a bad magic, length or CRC; SB_EINVAL for a compressed batch (the header is
 * still filled in and rd advanced, so callers may skip it). */
int kafka_records_batch_open(sb_rd_t *rd, kafka_records_iter_t *it, sb_err_t *err);

/* Decodes the next record. Returns 1 with *rec filled in, 0 after the last record (having
 * checked that the records section was consumed exactly), or SB_ECORRUPT. */
int kafka_records_next(kafka_records_iter_t *it, kafka_record_view_t *rec, sb_err_t *err);

/* Decodes the next header of rec. Returns 1, 0 when none is left, or SB_ECORRUPT. */
int kafka_records_next_header(kafka_record_view_t *rec, kafka_record_header_t *hdr, sb_err_t *err);

/* Calls cb once per record of the UNCOMPRESSED batch at batch[0..len) (len may extend past
 * the batch; only this batch is visited), in order, with the record's absolute offset and
 * timestamp. Unlike kafka_records_batch_open it does not check the CRC: it serves the log,
 * whose batches were validated when they were appended.
 *
 * Returns 0 after visiting every record; the callback's value as soon as it returns non-zero
 * (use positive values to stop early); SB_EINVAL for a compressed or non-v2 batch, malformed
 * records (bad varints, lengths past the record, recordsCount not matching the bytes). Records
 * before a malformed one have already been passed to cb. */
int kafka_batch_records_foreach(const uint8_t *batch, size_t len,
                                int (*cb)(int64_t offset, int64_t timestamp, void *arg), void *arg);

#endif
