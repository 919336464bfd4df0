#ifndef STREAMBUS_KAFKA_RECORDS_H
#define STREAMBUS_KAFKA_RECORDS_H

/* Kafka record batch v2 ("magic 2") encoding and decoding of individual records.
 *
 * The broker's hot path never decodes records (it validates the 61-byte batch header and the
 * CRC and appends whole batches). These helpers are for the places that do need records: the
 * consumer-group coordinator's internal offsets log, tests, and tools that build batches.
 * Only uncompressed batches are decoded here; a compressed batch is reported as such.
 *
 * Layout (all integers big-endian, records use zig-zag varints):
 *   baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 = 2 | crc u32 |
 *   attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
 *   producerId i64 | producerEpoch i16 | baseSequence i32 | recordsCount i32 | records...
 * batchLength counts the bytes after itself; the CRC-32C covers attributes to the end. */

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "kafka/record_batch.h"
#include "common/err.h"

enum {
    KAFKA_RECORDS_BATCH_HEADER_SIZE = 61,
    /* Offset of the byte after batchLength: batchLength counts from here. */
    KAFKA_RECORDS_LOG_OVERHEAD = 12,
    /* Position of the first CRC-covered byte (attributes) inside the batch. */
    KAFKA_RECORDS_CRC_START = 21,
    KAFKA_RECORDS_ATTR_CODEC_MASK = 0x07,
    KAFKA_RECORDS_ATTR_LOG_APPEND_TIME = 0x08,
    KAFKA_RECORDS_ATTR_TRANSACTIONAL = 0x10,
    KAFKA_RECORDS_ATTR_CONTROL = 0x20,
};

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

/* The decoded 61-byte header is kafka_batch_header_t from kafka/record_batch.h. */

/* Iterates the records of one uncompressed batch. Borrows the bytes it was opened on. */
typedef struct kafka_records_iter {
    kafka_batch_header_t header;
    sb_rd_t records; /* the unread part of the records section */
    int32_t next_index;
} kafka_records_iter_t;

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

#endif
