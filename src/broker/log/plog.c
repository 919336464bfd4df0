#include "broker/log/plog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/log/segment.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/atomic_file.h"
#include "common/log.h"

#define CHECKPOINT_FILE "recovery-point.checkpoint"
/* The log start offset moved by DeleteRecords; same 18-byte layout with its own magic. */
#define LOG_START_FILE "log-start-offset.checkpoint"
#define LOG_START_MAGIC 0x53424c53u /* "SBLS" */
#define CHECKPOINT_TMP_SUFFIX ".tmp"
#define CHECKPOINT_MAGIC 0x53425250u /* "SBRP" */
#define CHECKPOINT_VERSION 1
#define CHECKPOINT_SIZE 18 /* magic u32, version i16, offset i64, crc32c u32 */
/* A stale recovery point is always safe (recovery just scans more), so the flusher rewrites
 * the checkpoint at most this often instead of paying an extra fsync on every group commit. */
#define CHECKPOINT_INTERVAL_MS 1000
/* Chunk size for reading batches during recovery CRC checks. */
#define SCRATCH_MIN 65536

/* Lock order: flush_lock, then lock. The owner thread takes only `lock`, briefly, around
 * changes that the flusher reads: the segment array, a segment's next_offset and
 * index_sync_pending, end_offset and dir_sync_pending. The owner reads all of these without
 * the lock because it is their only writer. */
struct plog {
    char dir[PATH_MAX];
    plog_config_t cfg;
    int dir_fd;

    pthread_mutex_t lock;
    segment_t **segs; /* ascending base offset; the last one is active */
    size_t nsegs, segs_cap;
    int64_t end_offset;
    bool dir_sync_pending; /* segment files were created since the last flush */

    _Atomic int64_t durable_offset;

    pthread_mutex_t flush_lock;
    int *sync_fds; /* flusher-only scratch list of dup()ed fds */
    size_t sync_fds_cap;
    int64_t checkpoint_offset;
    int64_t checkpoint_mono_ms;

    uint64_t size_bytes;
    /* Owner-only: the first offset readers may see, moved forward by DeleteRecords and
     * persisted in LOG_START_FILE. The effective start is the larger of this and the base
     * of the oldest segment (retention moves that one). */
    int64_t start_offset;
    /* Owner-only buffer for CRC reads and record decoding. Held only during recovery and
     * a timestamp lookup, so thousands of idle partitions cost no buffer memory. */
    uint8_t *scratch;
    size_t scratch_cap;
};

/* ----- checkpoint ----- */

static int checkpoint_read_file(const char *dir, const char *file, uint32_t want_magic, int64_t *offset)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return SB_ENOENT;
    uint8_t buf[CHECKPOINT_SIZE + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != CHECKPOINT_SIZE) return SB_ECORRUPT;
    sb_rd_t rd;
    sb_rd_init(&rd, buf, (size_t)n);
    uint32_t magic = sb_rd_u32(&rd);
    int16_t version = sb_rd_i16(&rd);
    int64_t off = sb_rd_i64(&rd);
    uint32_t crc = sb_rd_u32(&rd);
    if (!sb_rd_ok(&rd) || magic != want_magic || version != CHECKPOINT_VERSION || off < 0 ||
        crc != crc32c(0, buf, CHECKPOINT_SIZE - 4))
        return SB_ECORRUPT;
    *offset = off;
    return 0;
}

static int checkpoint_read(const char *dir, int64_t *offset)
{
    return checkpoint_read_file(dir, CHECKPOINT_FILE, CHECKPOINT_MAGIC, offset);
}

/* Unlike the recovery point, a lost update of the log start would bring deleted records
 * back, so this one is written with the directory fsync'ed too. */
static int log_start_write(const char *dir, int64_t offset, sb_err_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/" LOG_START_FILE, dir);
    uint8_t buf[CHECKPOINT_SIZE];
    sb_wr_t w;
    sb_wr_init(&w, CHECKPOINT_SIZE);
    sb_wr_u32(&w, LOG_START_MAGIC);
    sb_wr_i16(&w, CHECKPOINT_VERSION);
    sb_wr_i64(&w, offset);
    sb_wr_u32(&w, crc32c(0, w.buf, w.len));
    if (w.oom || w.len != CHECKPOINT_SIZE) {
        sb_wr_deinit(&w);
        return sb_err_set(err, SB_ENOMEM, "out of memory for log start checkpoint");
    }
    memcpy(buf, w.buf, CHECKPOINT_SIZE);
    sb_wr_deinit(&w);
    return sb_write_file_atomic(path, buf, sizeof(buf), err);
}

/* Write-to-temp, fdatasync, rename: a reader sees the old or the new checkpoint, never a
 * mix. The directory is not fsynced: if the rename is lost in a crash, the older checkpoint
 * is still a valid (lower) recovery point. */
static int checkpoint_write(const char *dir, int64_t offset, sb_err_t *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/" CHECKPOINT_FILE, dir);
    snprintf(tmp, sizeof(tmp), "%s" CHECKPOINT_TMP_SUFFIX, path);
    sb_wr_t w;
    sb_wr_init(&w, CHECKPOINT_SIZE);
    sb_wr_u32(&w, CHECKPOINT_MAGIC);
    sb_wr_i16(&w, CHECKPOINT_VERSION);
    sb_wr_i64(&w, offset);
    sb_wr_u32(&w, crc32c(0, w.buf, w.len));
    if (w.oom) {
        sb_wr_deinit(&w);
        return sb_err_set(err, SB_ENOMEM, "out of memory for checkpoint");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) {
        rc = sb_err_set(err, SB_EIO, "open %s: %s", tmp, strerror(errno));
    } else {
        if (write(fd, w.buf, w.len) != (ssize_t)w.len || fdatasync(fd) != 0)
            rc = sb_err_set(err, SB_EIO, "write %s: %s", tmp, strerror(errno));
        close(fd);
        if (rc == 0 && rename(tmp, path) != 0)
            rc = sb_err_set(err, SB_EIO, "rename %s: %s", tmp, strerror(errno));
    }
    sb_wr_deinit(&w);
    return rc;
}

/* ----- helpers ----- */

static segment_t *active_segment(const plog_t *log)
{
    return log->segs[log->nsegs - 1];
}

/* Index of the segment holding `offset`: the last one whose base is <= offset. */
static size_t segment_index_for(const plog_t *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

static int ensure_scratch(plog_t *log, size_t need, sb_err_t *err)
{
    if (need <= log->scratch_cap) return 0;
    size_t cap = log->scratch_cap ? log->scratch_cap : SCRATCH_MIN;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(log->scratch, cap);
    if (!p) return sb_err_set(err, SB_ENOMEM, "out of memory (%zu bytes) for log scratch", cap);
    log->scratch = p;
    log->scratch_cap = cap;
    return 0;
}

static void release_scratch(plog_t *log)
{
    free(log->scratch);
    log->scratch = NULL;
    log->scratch_cap = 0;
}

static int push_segment(plog_t *log, segment_t *seg, sb_err_t *err)
{
    /* The realloc happens under the lock because the flusher may be walking the array. */
    pthread_mutex_lock(&log->lock);
    if (log->nsegs == log->segs_cap) {
        size_t cap = log->segs_cap ? log->segs_cap * 2 : 8;
        segment_t **p = realloc(log->segs, cap * sizeof(*p));
        if (!p) {
            pthread_mutex_unlock(&log->lock);
            return sb_err_set(err, SB_ENOMEM, "out of memory for segment list");
        }
        log->segs = p;
        log->segs_cap = cap;
    }
    log->segs[log->nsegs++] = seg;
    pthread_mutex_unlock(&log->lock);
    return 0;
}

static int mkdir_parents(const char *dir, sb_err_t *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return sb_err_set(err, SB_EINVAL, "log directory path too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return sb_err_set(err, SB_EIO, "mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return sb_err_set(err, SB_EIO, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

/* Parses "<20 digits><ext>" into a base offset. */
static bool parse_segment_name(const char *name, const char *ext, int64_t *base)
{
    size_t len = strlen(name), elen = strlen(ext);
    if (len != 20 + elen || strcmp(name + 20, ext) != 0) return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the base offsets of the .log files in dir (sorted) and removes leftovers that no
 * segment owns: index files without a log, and temporary checkpoint files. */
static int list_segments(const char *dir, int64_t **out, size_t *out_n, sb_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d) return sb_err_set(err, SB_EIO, "opendir %s: %s", dir, strerror(errno));
    int64_t *bases = NULL;
    size_t n = 0, cap = 0;
    int64_t *orphans = NULL; /* index files; checked against bases below */
    size_t norphans = 0, orphans_cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t base;
        if (parse_segment_name(de->d_name, ".log", &base)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                int64_t *p = realloc(bases, cap * sizeof(*p));
                if (!p) {
                    rc = sb_err_set(err, SB_ENOMEM, "out of memory listing %s", dir);
                    break;
                }
                bases = p;
            }
            bases[n++] = base;
        } else if (parse_segment_name(de->d_name, ".index", &base) ||
                   parse_segment_name(de->d_name, ".timeindex", &base)) {
            if (norphans == orphans_cap) {
                orphans_cap = orphans_cap ? orphans_cap * 2 : 16;
                int64_t *p = realloc(orphans, orphans_cap * sizeof(*p));
                if (!p) {
                    rc = sb_err_set(err, SB_ENOMEM, "out of memory listing %s", dir);
                    break;
                }
                orphans = p;
            }
            orphans[norphans++] = base;
        } else if (strcmp(de->d_name, CHECKPOINT_FILE CHECKPOINT_TMP_SUFFIX) == 0 ||
                   strcmp(de->d_name, LOG_START_FILE ".tmp") == 0) {
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
    if (rc) {
        free(bases);
        free(orphans);
        return rc;
    }
    if (n) qsort(bases, n, sizeof(*bases), cmp_i64);
    for (size_t i = 0; i < norphans; i++) {
        if (n && bsearch(&orphans[i], bases, n, sizeof(*bases), cmp_i64)) continue;
        sb_warn("log", "%s: removing index files of missing segment %020" PRId64, dir, orphans[i]);
        segment_unlink_files(dir, orphans[i], NULL);
    }
    free(orphans);
    *out = bases;
    *out_n = n;
    return 0;
}

/* Drops segments from index `from` on (recovery found a hole before them). */
static void drop_segments_from(plog_t *log, size_t from)
{
    while (log->nsegs > from) {
        segment_t *seg = log->segs[--log->nsegs];
        sb_warn("log", "%s: deleting segment %020" PRId64 ".log: it follows a truncated segment",
                log->dir, seg->base_offset);
        segment_unlink_files(log->dir, seg->base_offset, NULL);
        segment_free(seg);
    }
}

static int fsync_fd(int fd, bool data_only)
{
    int rc;
    do {
        rc = data_only ? fdatasync(fd) : fsync(fd);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

/* ----- open / close ----- */

static int validate_config(const plog_config_t *cfg, sb_err_t *err)
{
    /* Positions in the .index are u32; capping segments below 2 GiB leaves room for one
     * oversized append into an empty segment. */
    if (cfg->segment_bytes < 1024 || cfg->segment_bytes > INT32_MAX)
        return sb_err_set(err, SB_EINVAL, "segment_bytes %" PRIu64 " outside [1024, %d]",
                          cfg->segment_bytes, INT32_MAX);
    if (cfg->retention_ms < -1)
        return sb_err_set(err, SB_EINVAL, "retention_ms %" PRId64 " must be >= -1",
                          cfg->retention_ms);
    if (cfg->retention_bytes < -1)
        return sb_err_set(err, SB_EINVAL, "retention_bytes %" PRId64 " must be >= -1",
                          cfg->retention_bytes);
    return 0;
}

static int recover(plog_t *log, sb_err_t *err)
{
    int64_t rp = -1;
    int crc = checkpoint_read(log->dir, &rp);
    if (crc == SB_ECORRUPT)
        sb_warn("log", "%s: recovery-point checkpoint unreadable; checking every segment",
                log->dir);
    if (crc != 0) rp = -1;

    /* Segments wholly below the recovery point were fdatasync'ed: trust them. The segment
     * holding the recovery point is checked from its last index entry at or below it, and
     * every later segment from its start. */
    size_t first_unsafe = rp < 0 ? 0 : segment_index_for(log, rp);
    bool changed = false;
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_t *seg = log->segs[i];
        bool intact;
        int rc = segment_load_indexes(seg, &intact, err);
        if (rc) return rc;
        uint64_t pos = 0;
        int64_t at = seg->base_offset;
        bool check_crc = i >= first_unsafe;
        if (i < first_unsafe) {
            if (intact) {
                seg->next_offset = log->segs[i + 1]->base_offset;
                continue;
            }
            sb_info("log", "%s: rebuilding indexes of segment %020" PRId64, log->dir,
                    seg->base_offset);
        } else if (i == first_unsafe && intact && rp >= 0) {
            segment_index_lookup(seg, rp, &pos, &at);
        }
        bool truncated;
        rc = segment_recover(seg, log->dir, pos, at, check_crc, log->scratch, log->scratch_cap,
                             &truncated, err);
        if (rc) return rc;
        if (i + 1 < log->nsegs && !truncated && seg->next_offset != log->segs[i + 1]->base_offset) {
            sb_warn("log",
                    "%s: segment %020" PRId64 " ends at offset %" PRId64
                    " but the next segment starts at %" PRId64,
                    log->dir, seg->base_offset, seg->next_offset, log->segs[i + 1]->base_offset);
            truncated = seg->next_offset > log->segs[i + 1]->base_offset;
        }
        if (truncated) {
            changed = true;
            drop_segments_from(log, i + 1);
        }
        if (i < first_unsafe || !(truncated || rp < 0 || seg->next_offset > rp)) continue;
        /* What the scan accepted may so far live only in the page cache (a process crash
         * keeps it, a power loss would not); sync it before calling it durable. */
        if (fsync_fd(seg->log_fd, true) || fsync_fd(seg->index_fd, true) ||
            fsync_fd(seg->time_fd, true))
            return sb_err_set(err, SB_EIO, "fdatasync segment %020" PRId64 ": %s", seg->base_offset,
                              strerror(errno));
    }

    segment_t *active = active_segment(log);
    log->end_offset = active->next_offset;
    log->size_bytes = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        log->size_bytes += log->segs[i]->size;
    if (changed && fsync_fd(log->dir_fd, false) != 0)
        return sb_err_set(err, SB_EIO, "fsync %s: %s", log->dir, strerror(errno));
    if (rp != log->end_offset) {
        int rc = checkpoint_write(log->dir, log->end_offset, err);
        if (rc) return rc;
    }
    log->checkpoint_offset = log->end_offset;
    atomic_store(&log->durable_offset, log->end_offset);

    int64_t start = 0;
    int lrc = checkpoint_read_file(log->dir, LOG_START_FILE, LOG_START_MAGIC, &start);
    if (lrc == SB_ECORRUPT)
        sb_warn("log", "%s: " LOG_START_FILE " unreadable; records deleted by DeleteRecords may reappear", log->dir);
    if (lrc == 0 && start > log->end_offset) {
        /* Recovery cut the tail below the deleted point (acks=1 data lost in a crash): the
         * log restarts at its end rather than hiding the next appends. */
        sb_warn("log", "%s: log start offset %" PRId64 " is past the recovered end %" PRId64 "; using the end",
                log->dir, start, log->end_offset);
        start = log->end_offset;
    }
    log->start_offset = lrc == 0 ? start : 0;
    return 0;
}

/* Drops segments wholly below the log start offset (DeleteRecords), oldest first; the active
 * segment always stays. */
static int delete_segments_below_start(plog_t *log, int *deleted, sb_err_t *err)
{
    int rc = 0;
    while (log->nsegs > 1 && log->segs[1]->base_offset <= log->start_offset) {
        segment_t *seg = log->segs[0];
        pthread_mutex_lock(&log->lock);
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
        log->nsegs--;
        pthread_mutex_unlock(&log->lock);
        log->size_bytes -= seg->size;
        sb_info("log", "%s: deleting segment %020" PRId64 ".log (offsets %" PRId64 "..%" PRId64
                ") below the log start offset %" PRId64,
                log->dir, seg->base_offset, seg->base_offset, seg->next_offset - 1, log->start_offset);
        int urc = segment_unlink_files(log->dir, seg->base_offset, err);
        if (urc && rc == 0) rc = urc;
        segment_free(seg);
        if (deleted) (*deleted)++;
    }
    return rc;
}

int plog_open(const char *dir, const plog_config_t *cfg, plog_t **out, sb_err_t *err)
{
    int rc = validate_config(cfg, err);
    if (rc) return rc;
    if (strlen(dir) > PATH_MAX - 40)
        return sb_err_set(err, SB_EINVAL, "log directory path too long");
    rc = mkdir_parents(dir, err);
    if (rc) return rc;

    plog_t *log = calloc(1, sizeof(*log));
    if (!log) return sb_err_set(err, SB_ENOMEM, "out of memory for log");
    snprintf(log->dir, sizeof(log->dir), "%s", dir);
    log->cfg = *cfg;
    pthread_mutex_init(&log->lock, NULL);
    pthread_mutex_init(&log->flush_lock, NULL);
    log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dir_fd < 0) {
        rc = sb_err_set(err, SB_EIO, "open %s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = ensure_scratch(log, SCRATCH_MIN, err);
    if (rc) goto fail;

    int64_t *bases = NULL;
    size_t nbases = 0;
    rc = list_segments(dir, &bases, &nbases, err);
    if (rc) goto fail;
    for (size_t i = 0; i < nbases && rc == 0; i++) {
        segment_t *seg;
        rc = segment_open(dir, bases[i], cfg->index_interval_bytes, false, &seg, err);
        if (rc == 0) {
            rc = push_segment(log, seg, err);
            if (rc) segment_free(seg);
        }
    }
    free(bases);
    if (rc) goto fail;
    if (log->nsegs == 0) {
        segment_t *seg;
        rc = segment_open(dir, 0, cfg->index_interval_bytes, true, &seg, err);
        if (rc) goto fail;
        rc = push_segment(log, seg, err);
        if (rc) {
            segment_free(seg);
            goto fail;
        }
        log->dir_sync_pending = true;
    }
    rc = recover(log, err);
    if (rc) goto fail;
    /* A crash between writing the log start and unlinking the segments below it leaves them
     * behind; finish the job. */
    sb_err_t derr = {0};
    if (delete_segments_below_start(log, NULL, &derr) != 0) sb_warn("log", "%s: %s", dir, derr.msg);
    release_scratch(log);
    *out = log;
    return 0;
fail:
    for (size_t i = 0; i < log->nsegs; i++)
        segment_free(log->segs[i]);
    free(log->segs);
    free(log->scratch);
    if (log->dir_fd >= 0) close(log->dir_fd);
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->flush_lock);
    free(log);
    return rc;
}

void plog_close(plog_t *log)
{
    if (!log) return;
    sb_err_t err = {0};
    segment_t *active = active_segment(log);
    /* Seal the active segment's time index so its max timestamp survives without a rescan. */
    int rc = segment_seal_time_index(active, &err);
    if (rc == 0) rc = segment_persist_indexes(active, &err);
    if (rc == 0) {
        pthread_mutex_lock(&log->lock);
        active->index_sync_pending = true;
        pthread_mutex_unlock(&log->lock);
        rc = plog_flush(log, NULL, &err);
    }
    if (rc == 0 && log->checkpoint_offset != atomic_load(&log->durable_offset))
        rc = checkpoint_write(log->dir, atomic_load(&log->durable_offset), &err);
    if (rc) sb_error("log", "%s: close: %s", log->dir, err.msg);
    for (size_t i = 0; i < log->nsegs; i++)
        segment_free(log->segs[i]);
    free(log->segs);
    free(log->sync_fds);
    free(log->scratch);
    close(log->dir_fd);
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->flush_lock);
    free(log);
}

int64_t plog_start_offset(const plog_t *log)
{
    int64_t base = log->segs[0]->base_offset;
    return log->start_offset > base ? log->start_offset : base;
}

int plog_set_config(plog_t *log, const plog_config_t *cfg, sb_err_t *err)
{
    plog_config_t next = *cfg;
    /* Existing segments keep the interval they were opened with. */
    next.index_interval_bytes = log->cfg.index_interval_bytes;
    int rc = validate_config(&next, err);
    if (rc) return rc;
    log->cfg = next;
    return 0;
}

int plog_delete_records(plog_t *log, int64_t offset, int64_t *low_watermark, int *segments_deleted, sb_err_t *err)
{
    if (segments_deleted) *segments_deleted = 0;
    if (offset < 0 || offset > log->end_offset)
        return sb_err_set(err, SB_ERANGE, "offset %" PRId64 " outside [0, %" PRId64 "]", offset, log->end_offset);
    if (offset > plog_start_offset(log)) {
        /* Durable first: once the caller is answered, the records must stay gone. */
        int rc = log_start_write(log->dir, offset, err);
        if (rc) return rc;
        log->start_offset = offset;
        sb_info("log", "%s: log start offset moved to %" PRId64 " (DeleteRecords)", log->dir, offset);
        sb_err_t derr = {0};
        if (delete_segments_below_start(log, segments_deleted, &derr) != 0)
            sb_warn("log", "%s: %s (the files are removed at the next start)", log->dir, derr.msg);
    }
    if (low_watermark) *low_watermark = plog_start_offset(log);
    return 0;
}

int64_t plog_end_offset(const plog_t *log)
{
    return log->end_offset;
}

int64_t plog_durable_offset(const plog_t *log)
{
    return atomic_load(&((plog_t *)log)->durable_offset);
}

uint64_t plog_size_bytes(const plog_t *log)
{
    return log->size_bytes;
}

/* ----- append ----- */

static int roll(plog_t *log, sb_err_t *err)
{
    segment_t *old = active_segment(log);
    int rc = segment_seal_time_index(old, err);
    if (rc == 0) rc = segment_persist_indexes(old, err);
    if (rc) return rc;
    segment_t *seg;
    rc = segment_open(log->dir, log->end_offset, log->cfg.index_interval_bytes, true, &seg, err);
    if (rc) return rc;
    rc = push_segment(log, seg, err);
    if (rc) {
        segment_free(seg);
        segment_unlink_files(log->dir, log->end_offset, NULL);
        return rc;
    }
    pthread_mutex_lock(&log->lock);
    old->index_sync_pending = true;
    log->dir_sync_pending = true;
    pthread_mutex_unlock(&log->lock);
    sb_debug("log", "%s: rolled to segment %020" PRId64, log->dir, log->end_offset);
    return 0;
}

int plog_append(plog_t *log, uint8_t *batches, size_t len, int64_t *base_offset, sb_err_t *err)
{
    if (len == 0 || len > INT32_MAX)
        return sb_err_set(err, SB_EINVAL, "append of %zu bytes: need 1..%d", len, INT32_MAX);

    /* Assign offsets in place. The payload was validated, but the framing is re-checked so a
     * caller mistake cannot write a record set the log could not read back. */
    int64_t next = log->end_offset;
    size_t pos = 0;
    while (pos < len) {
        kafka_batch_header_t h;
        if (kafka_batch_header_parse(batches + pos, len - pos, &h) != 0 ||
            h.batch_length < KAFKA_BATCH_MIN_LENGTH || (uint64_t)kafka_batch_size(&h) > len - pos ||
            h.last_offset_delta < 0)
            return sb_err_set(err, SB_EINVAL, "append: malformed batch framing at byte %zu", pos);
        kafka_batch_set_base_offset(batches + pos, next);
        next += (int64_t)h.last_offset_delta + 1;
        pos += (size_t)kafka_batch_size(&h);
    }
    if (next - log->end_offset > INT32_MAX)
        return sb_err_set(err, SB_EINVAL, "append spans more than 2^31 offsets");

    segment_t *seg = active_segment(log);
    if (seg->size > 0 && (seg->size + len > log->cfg.segment_bytes ||
                          next - seg->base_offset > (int64_t)UINT32_MAX)) {
        int rc = roll(log, err);
        if (rc) return rc;
        seg = active_segment(log);
    }

    size_t done = 0;
    while (done < len) {
        ssize_t n = write(seg->log_fd, batches + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            /* Never leave half a record set behind: later appends and recovery would see a
             * torn batch in the middle of the log. */
            if (done > 0 && ftruncate(seg->log_fd, (off_t)seg->size) != 0)
                sb_error("log", "%s: cannot cut back failed append: %s", log->dir, strerror(errno));
            return sb_err_set(err, SB_EIO, "write segment %020" PRId64 ".log: %s", seg->base_offset,
                              strerror(e));
        }
        done += (size_t)n;
    }

    pos = 0;
    while (pos < len) {
        kafka_batch_header_t h;
        kafka_batch_header_parse(batches + pos, len - pos, &h);
        sb_err_t ierr = {0};
        /* Out of memory for the index is not an append failure: the data is written, and a
         * missing index entry only makes lookups walk further. */
        if (segment_note_batch(seg, &h, seg->size + pos, &ierr) != 0)
            sb_warn("log", "%s: %s", log->dir, ierr.msg);
        pos += (size_t)kafka_batch_size(&h);
    }
    sb_err_t ierr = {0};
    if (segment_persist_indexes(seg, &ierr) != 0)
        sb_warn("log", "%s: %s (will retry; recovery rebuilds indexes)", log->dir, ierr.msg);

    int64_t first = log->end_offset;
    seg->size += len;
    log->size_bytes += len;
    pthread_mutex_lock(&log->lock);
    seg->next_offset = next;
    log->end_offset = next;
    pthread_mutex_unlock(&log->lock);
    if (base_offset) *base_offset = first;
    return 0;
}

/* ----- read ----- */

/* The segment that holds `offset`, skipping segments that end before it. NULL if none. */
static segment_t *segment_holding(const plog_t *log, int64_t offset, size_t *idx)
{
    for (size_t i = segment_index_for(log, offset); i < log->nsegs; i++) {
        if (offset < log->segs[i]->next_offset) {
            if (idx) *idx = i;
            return log->segs[i];
        }
    }
    return NULL;
}

int plog_read(plog_t *log, int64_t offset, size_t max_bytes, plog_slice_t *out, sb_err_t *err)
{
    out->fd = -1;
    out->pos = 0;
    out->len = 0;
    out->next_offset = offset;
    if (offset < plog_start_offset(log) || offset > log->end_offset)
        return sb_err_set(err, SB_ERANGE, "offset %" PRId64 " outside [%" PRId64 ", %" PRId64 "]",
                          offset, plog_start_offset(log), log->end_offset);
    if (offset == log->end_offset) return 0;
    segment_t *seg = segment_holding(log, offset, NULL);
    if (!seg) return sb_err_set(err, SB_ERANGE, "offset %" PRId64 " not found", offset);

    uint64_t start;
    kafka_batch_header_t h;
    int rc = segment_find_batch(seg, offset, &start, &h, err);
    if (rc) return rc;
    uint64_t end = start + (uint64_t)kafka_batch_size(&h);
    int64_t next = h.base_offset + h.last_offset_delta + 1;
    uint64_t limit = max_bytes > UINT64_MAX - start ? UINT64_MAX : start + max_bytes;
    if (limit >= seg->size) {
        end = seg->size;
        next = seg->next_offset;
    } else if (limit > end) {
        /* Jump to the last indexed batch start that still fits, then walk the few headers
         * between it and the limit. */
        size_t lo = segment_index_count_at_or_before(seg, limit);
        if (lo > 0 && seg->index[lo - 1].position > end) end = seg->index[lo - 1].position;
        segment_reader_t r;
        segment_reader_init(&r, seg);
        for (;;) {
            rc = segment_read_header(&r, end, &h, err);
            if (rc == SB_ERANGE) {
                next = seg->next_offset;
                break;
            }
            if (rc) return rc;
            next = h.base_offset; /* the first batch not (yet) included */
            if (end + (uint64_t)kafka_batch_size(&h) > limit) break;
            end += (uint64_t)kafka_batch_size(&h);
        }
    }
    out->fd = fcntl(seg->log_fd, F_DUPFD_CLOEXEC, 0);
    if (out->fd < 0) return sb_err_set(err, SB_EIO, "dup segment fd: %s", strerror(errno));
    out->pos = (off_t)start;
    out->len = (size_t)(end - start);
    out->next_offset = next;
    return 0;
}

/* ----- flush ----- */

static int add_sync_fd(plog_t *log, size_t *n, int fd, sb_err_t *err)
{
    if (*n == log->sync_fds_cap) {
        size_t cap = log->sync_fds_cap ? log->sync_fds_cap * 2 : 16;
        int *p = realloc(log->sync_fds, cap * sizeof(*p));
        if (!p) return sb_err_set(err, SB_ENOMEM, "out of memory in flush");
        log->sync_fds = p;
        log->sync_fds_cap = cap;
    }
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) return sb_err_set(err, SB_EIO, "dup for flush: %s", strerror(errno));
    log->sync_fds[(*n)++] = d;
    return 0;
}

int plog_flush(plog_t *log, int64_t *fsync_us, sb_err_t *err)
{
    pthread_mutex_lock(&log->flush_lock);
    int64_t durable = atomic_load(&log->durable_offset);
    size_t nfds = 0;
    int rc = 0;
    bool dir_sync;

    pthread_mutex_lock(&log->lock);
    int64_t target = log->end_offset;
    /* Segments needing work are at the end: the active one and those rolled since the last
     * flush. Once a sealed segment is clean, every older one is too. */
    for (size_t i = log->nsegs; i-- > 0 && rc == 0;) {
        segment_t *seg = log->segs[i];
        bool has_unsynced_data = seg->next_offset > durable;
        if (!has_unsynced_data && !seg->index_sync_pending && i + 1 < log->nsegs) break;
        if (has_unsynced_data) rc = add_sync_fd(log, &nfds, seg->log_fd, err);
        if (rc == 0 && seg->index_sync_pending) {
            rc = add_sync_fd(log, &nfds, seg->index_fd, err);
            if (rc == 0) rc = add_sync_fd(log, &nfds, seg->time_fd, err);
            if (rc == 0) seg->index_sync_pending = false;
        }
    }
    dir_sync = log->dir_sync_pending;
    if (rc == 0 && dir_sync) {
        rc = add_sync_fd(log, &nfds, log->dir_fd, err);
        if (rc == 0) log->dir_sync_pending = false;
    }
    pthread_mutex_unlock(&log->lock);

    int64_t t0 = sb_mono_us();
    for (size_t i = 0; i < nfds; i++) {
        bool is_dir = dir_sync && i == nfds - 1;
        if (rc == 0 && fsync_fd(log->sync_fds[i], !is_dir) != 0)
            rc = sb_err_set(err, SB_EIO, "%s %s: %s", is_dir ? "fsync" : "fdatasync", log->dir,
                            strerror(errno));
        close(log->sync_fds[i]);
    }
    if (fsync_us) *fsync_us = sb_mono_us() - t0;

    if (rc == 0 && target > durable) {
        atomic_store(&log->durable_offset, target);
        int64_t now = sb_mono_ms();
        if (dir_sync || now - log->checkpoint_mono_ms >= CHECKPOINT_INTERVAL_MS) {
            rc = checkpoint_write(log->dir, target, err);
            if (rc == 0) {
                log->checkpoint_offset = target;
                log->checkpoint_mono_ms = now;
            }
        }
    }
    pthread_mutex_unlock(&log->flush_lock);
    return rc;
}

/* ----- timestamps ----- */

struct time_search {
    int64_t target;
    int64_t offset;
    int64_t timestamp;
    int64_t min_offset; /* the log start: records below it were deleted */
};

static int find_first_at_or_after(int64_t offset, int64_t timestamp, void *arg)
{
    struct time_search *s = arg;
    if (timestamp < s->target || offset < s->min_offset) return 0;
    s->offset = offset;
    s->timestamp = timestamp;
    return 1;
}

static int read_batch(plog_t *log, const segment_t *seg, uint64_t pos, size_t size, sb_err_t *err)
{
    int rc = ensure_scratch(log, size, err);
    if (rc) return rc;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(seg->log_fd, log->scratch + got, size - got, (off_t)(pos + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return sb_err_set(err, SB_EIO, "read segment %020" PRId64 ".log: %s", seg->base_offset,
                              n < 0 ? strerror(errno) : "unexpected end");
        got += (size_t)n;
    }
    return 0;
}

static int find_offset_for_time(plog_t *log, int64_t ts, int64_t *offset, int64_t *found_ts,
                                sb_err_t *err)
{
    int64_t start = plog_start_offset(log);
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_t *seg = log->segs[i];
        /* Every record of a segment is at most its max timestamp. */
        if (seg->max_timestamp < ts || seg->next_offset <= start) continue;
        uint64_t pos;
        int64_t at;
        segment_index_lookup(seg, segment_time_lookup(seg, ts), &pos, &at);
        segment_reader_t r;
        segment_reader_init(&r, seg);
        for (;;) {
            kafka_batch_header_t h;
            int rc = segment_read_header(&r, pos, &h, err);
            if (rc == SB_ERANGE) break;
            if (rc) return rc;
            size_t size = (size_t)kafka_batch_size(&h);
            int64_t last = h.base_offset + h.last_offset_delta;
            if (h.max_timestamp >= ts && last >= start) {
                bool exact = (h.attributes & KAFKA_BATCH_ATTR_CODEC_MASK) == KAFKA_CODEC_NONE &&
                             !(h.attributes & KAFKA_BATCH_ATTR_LOG_APPEND_TIME);
                int64_t first = h.base_offset > start ? h.base_offset : start;
                struct time_search s = {ts, first, h.max_timestamp, start};
                if (exact) {
                    rc = read_batch(log, seg, pos, size, err);
                    if (rc) return rc;
                    rc =
                        kafka_batch_records_foreach(log->scratch, size, find_first_at_or_after, &s);
                    /* A batch whose records do not decode still answers at batch level. */
                    if (rc < 0)
                        s = (struct time_search){ts, first, h.max_timestamp, start};
                    else if (rc == 0)
                        s.offset = -1; /* maxTimestamp lied: keep looking */
                }
                if (s.offset >= 0) {
                    *offset = s.offset;
                    if (found_ts) *found_ts = s.timestamp;
                    return 0;
                }
            }
            pos += size;
        }
    }
    return sb_err_set(err, SB_ENOENT, "no record with timestamp >= %" PRId64, ts);
}

int plog_offset_for_time(plog_t *log, int64_t ts, int64_t *offset, int64_t *found_ts, sb_err_t *err)
{
    int rc = find_offset_for_time(log, ts, offset, found_ts, err);
    release_scratch(log);
    return rc;
}

struct max_search {
    int64_t target;
    int64_t min_offset;
    int64_t offset;
};

static int find_first_equal(int64_t offset, int64_t timestamp, void *arg)
{
    struct max_search *s = arg;
    if (offset < s->min_offset || timestamp != s->target) return 0;
    s->offset = offset;
    return 1;
}

/* Walks the batches of seg from the one holding `from` (or the segment start). With want < 0
 * it returns the largest batch max timestamp among batches reaching `from` in *best_ts; with
 * want >= 0 it stops at the first such batch whose max timestamp equals want and returns the
 * offset of the record carrying it in *offset. */
static int walk_segment_max(plog_t *log, segment_t *seg, int64_t from, int64_t want, int64_t *best_ts,
                            int64_t *offset, sb_err_t *err)
{
    uint64_t pos = 0;
    kafka_batch_header_t h;
    if (from > seg->base_offset) {
        int rc = segment_find_batch(seg, from, &pos, &h, err);
        if (rc) return rc;
    }
    segment_reader_t r;
    segment_reader_init(&r, seg);
    for (;;) {
        int rc = segment_read_header(&r, pos, &h, err);
        if (rc == SB_ERANGE) return want < 0 ? 0 : SB_ENOENT;
        if (rc) return rc;
        size_t size = (size_t)kafka_batch_size(&h);
        if (h.base_offset + h.last_offset_delta >= from) {
            if (want < 0) {
                if (h.max_timestamp > *best_ts) *best_ts = h.max_timestamp;
            } else if (h.max_timestamp == want) {
                int64_t first = h.base_offset > from ? h.base_offset : from;
                struct max_search s = {want, from, first};
                bool exact = (h.attributes & KAFKA_BATCH_ATTR_CODEC_MASK) == KAFKA_CODEC_NONE &&
                             !(h.attributes & KAFKA_BATCH_ATTR_LOG_APPEND_TIME);
                if (exact) {
                    rc = read_batch(log, seg, pos, size, err);
                    if (rc) return rc;
                    s.offset = -1;
                    if (kafka_batch_records_foreach(log->scratch, size, find_first_equal, &s) <= 0 || s.offset < 0)
                        s.offset = first; /* undecodable, or maxTimestamp lied: answer at batch level */
                }
                *offset = s.offset;
                return 0;
            }
        }
        pos += size;
    }
}

static int find_max_timestamp(plog_t *log, int64_t *offset, int64_t *ts, sb_err_t *err)
{
    int64_t start = plog_start_offset(log);
    int64_t best_ts = -1;
    size_t best = log->nsegs;
    for (size_t i = 0; i < log->nsegs; i++) {
        segment_t *seg = log->segs[i];
        if (seg->next_offset <= start || seg->max_timestamp < 0) continue;
        int64_t seg_max = seg->max_timestamp;
        if (seg->base_offset < start) {
            /* Part of this segment was deleted: its recorded maximum may be gone with it. */
            seg_max = -1;
            int rc = walk_segment_max(log, seg, start, -1, &seg_max, NULL, err);
            if (rc) return rc;
        }
        if (seg_max > best_ts) {
            best_ts = seg_max;
            best = i;
        }
    }
    if (best == log->nsegs) return sb_err_set(err, SB_ENOENT, "no record with a timestamp");
    int rc = walk_segment_max(log, log->segs[best], start, best_ts, NULL, offset, err);
    if (rc == 0) *ts = best_ts;
    return rc;
}

int plog_max_timestamp(plog_t *log, int64_t *offset, int64_t *ts, sb_err_t *err)
{
    int rc = find_max_timestamp(log, offset, ts, err);
    release_scratch(log);
    return rc;
}

/* ----- retention ----- */

static int64_t segment_age_timestamp(const segment_t *seg)
{
    if (seg->max_timestamp >= 0) return seg->max_timestamp;
    struct stat st;
    if (fstat(seg->log_fd, &st) != 0) return INT64_MAX; /* unknown: never expire */
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

int plog_enforce_retention(plog_t *log, int64_t now_ms, int *segments_deleted, sb_err_t *err)
{
    int deleted = 0;
    int rc = 0;
    while (log->nsegs > 1) {
        segment_t *seg = log->segs[0];
        const char *why = NULL;
        if (log->cfg.retention_ms >= 0 &&
            now_ms - segment_age_timestamp(seg) > log->cfg.retention_ms)
            why = "retention_ms";
        else if (log->cfg.retention_bytes >= 0 &&
                 log->size_bytes - seg->size >= (uint64_t)log->cfg.retention_bytes)
            why = "retention_bytes";
        if (!why) break;

        pthread_mutex_lock(&log->lock);
        memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
        log->nsegs--;
        pthread_mutex_unlock(&log->lock);
        log->size_bytes -= seg->size;
        sb_info("log",
                "%s: deleting segment %020" PRId64 ".log (%" PRIu64 " bytes, offsets %" PRId64
                "..%" PRId64 ") by %s",
                log->dir, seg->base_offset, seg->size, seg->base_offset, seg->next_offset - 1, why);
        int urc = segment_unlink_files(log->dir, seg->base_offset, err);
        if (urc && rc == 0) rc = urc;
        segment_free(seg);
        deleted++;
    }
    if (segments_deleted) *segments_deleted = deleted;
    return rc;
}

/* ----- header scan ----- */

int64_t plog_tail_offset(const plog_t *log, uint64_t tail_bytes)
{
    int64_t start = plog_start_offset(log);
    uint64_t want = tail_bytes;
    for (size_t i = log->nsegs; i-- > 0;) {
        const segment_t *seg = log->segs[i];
        if (seg->size <= want) {
            if (i == 0) break;
            want -= seg->size;
            continue;
        }
        /* The window starts inside this segment: the last index entry at or before its first
         * byte is a batch boundary at least tail_bytes from the end. */
        size_t lo = segment_index_count_at_or_before(seg, seg->size - want);
        int64_t at = lo ? seg->base_offset + seg->index[lo - 1].relative_offset : seg->base_offset;
        return at > start ? at : start;
    }
    return start;
}

int plog_scan_headers(plog_t *log, int64_t from_offset,
                      int (*cb)(const kafka_batch_header_t *h, void *arg), void *arg, sb_err_t *err)
{
    if (from_offset < plog_start_offset(log)) from_offset = plog_start_offset(log);
    if (from_offset >= log->end_offset) return 0;
    size_t i;
    segment_t *seg = segment_holding(log, from_offset, &i);
    if (!seg) return 0;
    uint64_t pos;
    kafka_batch_header_t h;
    int rc = segment_find_batch(seg, from_offset, &pos, &h, err);
    if (rc) return rc;
    for (; i < log->nsegs; i++, pos = 0) {
        seg = log->segs[i];
        segment_reader_t r;
        segment_reader_init(&r, seg);
        for (;;) {
            rc = segment_read_header(&r, pos, &h, err);
            if (rc == SB_ERANGE) break;
            if (rc) return rc;
            if (cb(&h, arg) != 0) return 0;
            pos += (uint64_t)kafka_batch_size(&h);
        }
    }
    return 0;
}

/* ----- delete ----- */

int plog_remove_dir(const char *dir, sb_err_t *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return sb_err_set(err, SB_EIO, "opendir %s: %s", dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && rc == 0)
            rc = sb_err_set(err, SB_EIO, "unlink %s/%s: %s", dir, de->d_name, strerror(errno));
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0)
        rc = sb_err_set(err, SB_EIO, "rmdir %s: %s", dir, strerror(errno));
    return rc;
}
