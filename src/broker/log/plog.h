#ifndef STREAMBUS_BROKER_LOG_PLOG_H
#define STREAMBUS_BROKER_LOG_PLOG_H

/* The on-disk log of one partition ("plog"): a directory of segments named by their 20-digit
 * base offset (`00000000000000000000.log`, `.index`, `.timeindex`) plus a recovery-point
 * checkpoint. Design, file formats and recovery: src/broker/log/README.md and docs/storage.md.
 *
 * Threading: one owner thread (the partition's) calls every function except plog_flush,
 * which a flusher thread may run concurrently with the owner. plog_close must not race with
 * plog_flush (stop the flusher first). plog_durable_offset may be read from any thread. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "kafka/record_batch.h"

typedef struct plog_config {
    uint64_t segment_bytes;        /* roll when the active segment would exceed this */
    uint32_t index_interval_bytes; /* bytes of log between sparse index entries */
    int64_t retention_ms;          /* -1: keep forever */
    int64_t retention_bytes;       /* -1: unlimited */
} plog_config_t;

/* Kafka's defaults: 1 GiB segments, an index entry every 4 KiB, 7 days, no size limit. */
#define PLOG_CONFIG_DEFAULT                                                                        \
    ((plog_config_t){.segment_bytes = 1073741824,                                                  \
                     .index_interval_bytes = 4096,                                                 \
                     .retention_ms = 7 * 24 * 3600 * 1000LL,                                       \
                     .retention_bytes = -1})

typedef struct plog plog_t;

/* A byte range of a segment file for zero-copy sending (sendfile). fd is dup()ed: the caller
 * owns it and closes it (hand it to sb_wr_splice). fd is -1 when len == 0. */
typedef struct plog_slice {
    int fd;
    off_t pos;
    size_t len;
    int64_t next_offset; /* the offset after the last batch in the slice */
} plog_slice_t;

/* Opens the log in dir, creating dir if missing, and recovers it: segments at or after the
 * recovery point are scanned and CRC-checked from their last index entry, and the log is
 * truncated at the first torn or corrupt batch (logged as a warning). Missing or damaged
 * indexes are rebuilt. segment_bytes must be in [1 KiB, 2 GiB - 1]. An empty log starts
 * at offset 0. */
int plog_open(const char *dir, const plog_config_t *cfg, plog_t **out, sb_err_t *err);
/* fdatasyncs, writes the checkpoint and frees. NULL ok. Errors are logged. */
void plog_close(plog_t *log);

/* First offset still in the log. */
int64_t plog_start_offset(const plog_t *log);
/* LEO: the next offset to assign. */
int64_t plog_end_offset(const plog_t *log);
/* Offsets below this are fdatasync'ed. Safe to call from any thread. */
int64_t plog_durable_offset(const plog_t *log);
/* Sum of the .log file sizes. */
uint64_t plog_size_bytes(const plog_t *log);

/* Appends one or more v2 batches, back to back, that kafka_batches_validate accepted. Sets
 * each batch's baseOffset in place (outside the CRC: no recomputation), rolls to a new
 * segment first if the active one would grow past segment_bytes, writes all bytes with one
 * write(), and updates the indexes. *base_offset (may be NULL) receives the first assigned
 * offset. No fsync: durability comes from plog_flush. Allocates nothing except at a roll or
 * when an in-memory index doubles. On a failed write, the segment is cut back to its previous
 * size and the log is unchanged. */
int plog_append(plog_t *log, uint8_t *batches, size_t len, int64_t *base_offset, sb_err_t *err);

/* Locates up to max_bytes of whole batches starting with the batch that contains `offset`.
 * If that first batch alone is larger than max_bytes it is returned whole anyway (KIP-74), so
 * a consumer always makes progress. The slice never spans segments: at a segment boundary the
 * caller reads again from the next offset. offset == LEO gives len 0; offset < start or > LEO
 * is SB_ERANGE. The first batch may start before `offset`: clients skip the records below
 * the offset they asked for. */
int plog_read(plog_t *log, int64_t offset, size_t max_bytes, plog_slice_t *out, sb_err_t *err);

/* fdatasyncs everything appended so far, including segments rolled since the last flush
 * (their indexes too), then advances the durable offset and, at most once a second, rewrites
 * the recovery-point checkpoint. Safe to run on a flusher thread concurrently with the owner
 * thread's appends, reads, rolls and retention: the segment list is guarded by a mutex that
 * is not held during fdatasync (the fds are dup()ed). *fsync_us (may be NULL) receives the
 * time spent in fdatasync. An SB_EIO here must be treated as fatal for the partition: after a
 * failed fdatasync the kernel may have dropped the dirty pages, so a retry proves nothing. */
int plog_flush(plog_t *log, int64_t *fsync_us, sb_err_t *err);

/* ListOffsets by timestamp: the earliest offset whose record timestamp is >= ts, and that
 * record's timestamp. Uses the time index, then batch headers, then the records of
 * uncompressed batches; for a compressed batch (or LogAppendTime) the answer is the batch's
 * base offset and its max timestamp. SB_ENOENT if every record is older. The special Kafka
 * timestamps -1 (latest) and -2 (earliest) are the caller's: use plog_end_offset and
 * plog_start_offset. */
int plog_offset_for_time(plog_t *log, int64_t ts, int64_t *offset, int64_t *found_ts,
                         sb_err_t *err);

/* ListOffsets MAX_TIMESTAMP (-3): the largest record timestamp at or after the log start and
 * the offset of the first record carrying it (for a compressed or LogAppendTime batch, the
 * batch's first offset at or after the log start). SB_ENOENT when the log has no record. */
int plog_max_timestamp(plog_t *log, int64_t *offset, int64_t *ts, sb_err_t *err);

/* Changes retention and segment size of an open log (AlterConfigs); index_interval_bytes is
 * kept. A smaller segment_bytes applies from the next roll, retention from the next
 * plog_enforce_retention. Owner thread. */
int plog_set_config(plog_t *log, const plog_config_t *cfg, sb_err_t *err);

/* DeleteRecords: moves the log start offset forward to `offset` (0..LEO) and deletes whole
 * segments below it (never the active one). The new start is made durable (temp file,
 * fdatasync, rename, directory fsync) before anything else changes, and is restored by
 * plog_open; reads below it fail with SB_ERANGE. An offset at or below the current start
 * changes nothing. *low_watermark gets the resulting start offset. SB_ERANGE when offset is
 * outside [0, LEO]. Owner thread. */
int plog_delete_records(plog_t *log, int64_t offset, int64_t *low_watermark, int *segments_deleted, sb_err_t *err);

/* Deletes whole closed segments, oldest first, while their max timestamp is older than
 * now_ms - retention_ms (file mtime when a segment holds no timestamps), or while the log
 * without them is still at least retention_bytes. Never deletes the active segment.
 * Advances the start offset. *segments_deleted (may be NULL) gets the count. */
int plog_enforce_retention(plog_t *log, int64_t now_ms, int *segments_deleted, sb_err_t *err);

/* An offset from which reading to the end covers at least the last tail_bytes of the log (an
 * indexed batch boundary; the log start if the log is smaller). Bounds start-up scans. */
int64_t plog_tail_offset(const plog_t *log, uint64_t tail_bytes);

/* Calls cb with the header (true base offset) of every batch from the one containing
 * from_offset (or the log start, if from_offset is older) to the end, in order. Stops early
 * when cb returns non-zero. Used to rebuild idempotent-producer state after a restart. */
int plog_scan_headers(plog_t *log, int64_t from_offset,
                      int (*cb)(const kafka_batch_header_t *h, void *arg), void *arg,
                      sb_err_t *err);

/* Deletes the files of a closed partition log and its directory (DeleteTopics). */
int plog_remove_dir(const char *dir, sb_err_t *err);

#endif
