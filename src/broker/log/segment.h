#ifndef STREAMBUS_BROKER_LOG_SEGMENT_H
#define STREAMBUS_BROKER_LOG_SEGMENT_H

/* One segment of a partition log: `<base>.log` holding whole record batches back to back,
 * plus two sparse indexes that make lookups cheap:
 *
 *   <base>.index      8-byte entries: relative offset u32, position in .log u32 (big-endian).
 *                     One entry per index_interval bytes of log, pointing at a batch start.
 *   <base>.timeindex  12-byte entries: max timestamp so far i64, relative offset u32.
 *                     Written beside an .index entry when the segment's max timestamp grew,
 *                     and once more when the segment is sealed (rolled or the log closed).
 *
 * The indexes are kept in memory (they are small: 8 bytes per index_interval of log) and the
 * files are their persistent copy; either can be rebuilt from the .log by scanning headers.
 *
 * Internal to src/broker/log/: plog.c owns segments and is the only caller. Every function
 * here runs on the log's owner thread, except that the flusher reads the fds and the
 * fields marked "plog lock" under the plog's mutex. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "kafka/record_batch.h"

#define SEGMENT_INDEX_ENTRY_SIZE 8
#define SEGMENT_TIME_ENTRY_SIZE 12

typedef struct segment_index_entry {
    uint32_t relative_offset;
    uint32_t position;
} segment_index_entry_t;

typedef struct segment_time_entry {
    int64_t timestamp;
    uint32_t relative_offset;
} segment_time_entry_t;

typedef struct segment {
    int64_t base_offset;
    int64_t next_offset; /* offset after the last batch (plog lock for writes) */
    uint64_t size;       /* bytes in .log */
    int log_fd;          /* opened O_APPEND: the log only ever grows by write() */
    int index_fd;
    int time_fd;
    uint32_t index_interval;

    segment_index_entry_t *index;
    size_t index_count, index_cap;
    size_t index_written; /* entries already in the .index file */
    segment_time_entry_t *times;
    size_t time_count, time_cap;
    size_t time_written;

    uint64_t bytes_since_index;
    int64_t max_timestamp; /* largest batch maxTimestamp in the segment, -1 if none */
    int64_t max_timestamp_offset;

    bool index_files_missing; /* .index or .timeindex did not exist when opened */
    bool index_sync_pending;  /* sealed, indexes not yet fdatasync'ed (plog lock) */
} segment_t;

/* Opens (create: creates/truncates) the three files of the segment with base offset `base` in
 * dir. The indexes start empty; call segment_load_indexes to read existing ones. */
int segment_open(const char *dir, int64_t base, uint32_t index_interval, bool create,
                 segment_t **out, sb_err_t *err);
/* Closes the files and frees. NULL ok. */
void segment_free(segment_t *seg);
/* Removes the segment's three files from dir (missing files are not an error). */
int segment_unlink_files(const char *dir, int64_t base, sb_err_t *err);

/* Reads both index files into memory, keeping entries up to the first implausible one
 * (not increasing, pointing past the log). *intact is false when anything was dropped or a
 * file was missing/short: the caller then rebuilds by scanning. Sets max_timestamp from the
 * last time entry. */
int segment_load_indexes(segment_t *seg, bool *intact, sb_err_t *err);

/* Index position for `offset`: the entry with the largest relative offset <= offset - base,
 * as (position, offset at that position); (0, base) when there is none. */
void segment_index_lookup(const segment_t *seg, int64_t offset, uint64_t *pos, int64_t *at_offset);
/* How many index entries have a position <= pos (so entry n-1, if n > 0, is the last indexed
 * batch starting at or before pos). */
size_t segment_index_count_at_or_before(const segment_t *seg, uint64_t pos);
/* Offset to start a timestamp search from: the entry of the last time-index entry whose
 * timestamp is < ts (every record before it is older than ts), or base when there is none. */
int64_t segment_time_lookup(const segment_t *seg, int64_t ts);

/* Records in the in-memory indexes that the batch with header h now sits at position pos.
 * Called once per appended batch, in order. May grow the index arrays (amortised doubling). */
int segment_note_batch(segment_t *seg, const kafka_batch_header_t *h, uint64_t pos, sb_err_t *err);
/* Adds a final time-index entry if the max timestamp grew since the last one, so a sealed
 * segment's time index ends with its true max timestamp. */
int segment_seal_time_index(segment_t *seg, sb_err_t *err);
/* Writes index entries not yet in the files (one pwrite per file when there are any). */
int segment_persist_indexes(segment_t *seg, sb_err_t *err);

/* Sequential batch-header reader over a segment with a small read-ahead buffer, so walking
 * many small batches costs few syscalls. Stack-allocate it; it needs no cleanup. */
typedef struct segment_reader {
    const segment_t *seg;
    uint64_t buf_pos;
    size_t buf_len;
    uint8_t buf[4096];
} segment_reader_t;

void segment_reader_init(segment_reader_t *r, const segment_t *seg);
/* Reads and sanity-checks the batch header at pos: magic 2, batchLength >= 49 and the whole
 * batch inside the segment. Returns 0; SB_ERANGE if pos is at/after the end; SB_ECORRUPT
 * (with the reason in err) for an implausible or torn batch; SB_EIO. */
int segment_read_header(segment_reader_t *r, uint64_t pos, kafka_batch_header_t *h, sb_err_t *err);
/* Finds the batch containing `offset` (base <= offset <= last). Returns 0 with its position
 * and header, SB_ERANGE if the segment has no such batch, or a read error. */
int segment_find_batch(const segment_t *seg, int64_t offset, uint64_t *pos, kafka_batch_header_t *h,
                       sb_err_t *err);

/* Recovery: scans batches from `pos` (a batch start holding `offset`) to the end, checking
 * sanity, offset continuity and, when check_crc, the CRC-32C of every batch. Index entries at
 * or past pos are dropped and rebuilt. At the first bad batch the .log is truncated there
 * (the reason is logged) and *truncated is set. scratch is a caller buffer for CRC reads. */
int segment_recover(segment_t *seg, const char *dir, uint64_t pos, int64_t offset, bool check_crc,
                    uint8_t *scratch, size_t scratch_len, bool *truncated, sb_err_t *err);

#endif
