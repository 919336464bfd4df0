#include "broker/log/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"

static void segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
    snprintf(out, cap, "%s/%020" PRId64 "%s", dir, base, ext);
}

int segment_open(const char *dir, int64_t base, uint32_t index_interval, bool create,
                 segment_t **out, sb_err_t *err)
{
    segment_t *seg = calloc(1, sizeof(*seg));
    if (!seg) return sb_err_set(err, SB_ENOMEM, "out of memory for segment");
    seg->base_offset = base;
    seg->next_offset = base;
    seg->index_interval = index_interval;
    seg->max_timestamp = -1;
    seg->max_timestamp_offset = base;
    seg->log_fd = seg->index_fd = seg->time_fd = -1;

    static const char *const exts[3] = {".log", ".index", ".timeindex"};
    int *fds[3] = {&seg->log_fd, &seg->index_fd, &seg->time_fd};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        segment_path(path, sizeof(path), dir, base, exts[i]);
        int flags = O_RDWR | O_CLOEXEC | O_CREAT;
        if (i == 0) flags |= O_APPEND;
        /* A new segment replaces any leftover file of the same name: such a file can only
         * come from segments that recovery cut off, so nothing in it is reachable. */
        if (create)
            flags |= O_TRUNC;
        else if (i > 0 && access(path, F_OK) != 0)
            seg->index_files_missing = true;
        *fds[i] = open(path, flags, 0644);
        if (*fds[i] < 0) {
            int e = errno;
            segment_free(seg);
            return sb_err_set(err, SB_EIO, "open %s: %s", path, strerror(e));
        }
    }
    struct stat st;
    if (fstat(seg->log_fd, &st) != 0) {
        int e = errno;
        segment_free(seg);
        return sb_err_set(err, SB_EIO, "fstat segment %020" PRId64 ".log: %s", base, strerror(e));
    }
    seg->size = (uint64_t)st.st_size;
    *out = seg;
    return 0;
}

void segment_free(segment_t *seg)
{
    if (!seg) return;
    if (seg->log_fd >= 0) close(seg->log_fd);
    if (seg->index_fd >= 0) close(seg->index_fd);
    if (seg->time_fd >= 0) close(seg->time_fd);
    free(seg->index);
    free(seg->times);
    free(seg);
}

int segment_unlink_files(const char *dir, int64_t base, sb_err_t *err)
{
    static const char *const exts[3] = {".log", ".index", ".timeindex"};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        segment_path(path, sizeof(path), dir, base, exts[i]);
        if (unlink(path) != 0 && errno != ENOENT && rc == 0)
            rc = sb_err_set(err, SB_EIO, "unlink %s: %s", path, strerror(errno));
    }
    return rc;
}

/* Reads a whole (small) file into a malloc'ed buffer. */
static int read_whole_file(int fd, uint8_t **out, size_t *out_len, sb_err_t *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return sb_err_set(err, SB_EIO, "fstat index: %s", strerror(errno));
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return sb_err_set(err, SB_ENOMEM, "out of memory reading index (%zu bytes)", len);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return sb_err_set(err, SB_EIO, "read index: %s", strerror(e));
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    *out = buf;
    *out_len = got;
    return 0;
}

static int grow_array(void **arr, size_t *cap, size_t elem_size, size_t need)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem_size);
    if (!p) return SB_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int segment_load_indexes(segment_t *seg, bool *intact, sb_err_t *err)
{
    *intact = true;
    uint8_t *buf;
    size_t len;
    int rc = read_whole_file(seg->index_fd, &buf, &len, err);
    if (rc) return rc;
    if (len % SEGMENT_INDEX_ENTRY_SIZE) *intact = false;
    size_t n = len / SEGMENT_INDEX_ENTRY_SIZE;
    if (grow_array((void **)&seg->index, &seg->index_cap, sizeof(*seg->index), n ? n : 1)) {
        free(buf);
        return sb_err_set(err, SB_ENOMEM, "out of memory for index");
    }
    sb_rd_t rd;
    sb_rd_init(&rd, buf, len);
    seg->index_count = 0;
    for (size_t i = 0; i < n; i++) {
        segment_index_entry_t e;
        e.relative_offset = sb_rd_u32(&rd);
        e.position = sb_rd_u32(&rd);
        /* Entries only ever point at batch starts after position 0, and both fields grow
         * strictly; anything else (e.g. zeros left by a crash) ends the usable part. */
        const segment_index_entry_t *prev =
            seg->index_count ? &seg->index[seg->index_count - 1] : NULL;
        bool plausible =
            e.position > 0 && e.relative_offset > 0 && e.position < seg->size &&
            (!prev || (e.relative_offset > prev->relative_offset && e.position > prev->position));
        if (!plausible) {
            *intact = false;
            break;
        }
        seg->index[seg->index_count++] = e;
    }
    free(buf);

    rc = read_whole_file(seg->time_fd, &buf, &len, err);
    if (rc) return rc;
    if (len % SEGMENT_TIME_ENTRY_SIZE) *intact = false;
    n = len / SEGMENT_TIME_ENTRY_SIZE;
    if (grow_array((void **)&seg->times, &seg->time_cap, sizeof(*seg->times), n ? n : 1)) {
        free(buf);
        return sb_err_set(err, SB_ENOMEM, "out of memory for time index");
    }
    sb_rd_init(&rd, buf, len);
    seg->time_count = 0;
    for (size_t i = 0; i < n; i++) {
        segment_time_entry_t e;
        e.timestamp = sb_rd_i64(&rd);
        e.relative_offset = sb_rd_u32(&rd);
        const segment_time_entry_t *prev =
            seg->time_count ? &seg->times[seg->time_count - 1] : NULL;
        bool plausible =
            e.timestamp >= 0 &&
            (!prev || (e.timestamp > prev->timestamp && e.relative_offset > prev->relative_offset));
        if (!plausible) {
            *intact = false;
            break;
        }
        seg->times[seg->time_count++] = e;
    }
    free(buf);

    /* An index entry with no time entry at all means the time index lost its entries (or no
     * batch carried a timestamp, where a rebuild is harmless). */
    if (seg->index_files_missing || (seg->index_count > 0 && seg->time_count == 0)) *intact = false;

    /* Spot-check that the last index entry really points at the batch it claims: this
     * catches an index that is well-formed but belongs to other data. */
    if (*intact && seg->index_count) {
        const segment_index_entry_t *last = &seg->index[seg->index_count - 1];
        segment_reader_t r;
        segment_reader_init(&r, seg);
        kafka_batch_header_t h;
        if (segment_read_header(&r, last->position, &h, NULL) != 0 ||
            h.base_offset != seg->base_offset + last->relative_offset)
            *intact = false;
    }

    seg->index_written = seg->index_count;
    seg->time_written = seg->time_count;
    if (seg->time_count) {
        seg->max_timestamp = seg->times[seg->time_count - 1].timestamp;
        seg->max_timestamp_offset =
            seg->base_offset + seg->times[seg->time_count - 1].relative_offset;
    }
    return 0;
}

size_t segment_index_count_at_or_before(const segment_t *seg, uint64_t pos)
{
    size_t lo = 0, hi = seg->index_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->index[mid].position <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void segment_index_lookup(const segment_t *seg, int64_t offset, uint64_t *pos, int64_t *at_offset)
{
    *pos = 0;
    *at_offset = seg->base_offset;
    if (offset <= seg->base_offset || seg->index_count == 0) return;
    uint64_t rel = (uint64_t)(offset - seg->base_offset);
    /* Binary search for the last entry with relative_offset <= rel. */
    size_t lo = 0, hi = seg->index_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->index[mid].relative_offset <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return;
    *pos = seg->index[lo - 1].position;
    *at_offset = seg->base_offset + seg->index[lo - 1].relative_offset;
}

int64_t segment_time_lookup(const segment_t *seg, int64_t ts)
{
    size_t lo = 0, hi = seg->time_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->times[mid].timestamp < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return seg->base_offset;
    return seg->base_offset + seg->times[lo - 1].relative_offset;
}

static int add_time_entry(segment_t *seg, sb_err_t *err)
{
    if (grow_array((void **)&seg->times, &seg->time_cap, sizeof(*seg->times), seg->time_count + 1))
        return sb_err_set(err, SB_ENOMEM, "out of memory for time index");
    seg->times[seg->time_count].timestamp = seg->max_timestamp;
    seg->times[seg->time_count].relative_offset =
        (uint32_t)(seg->max_timestamp_offset - seg->base_offset);
    seg->time_count++;
    return 0;
}

static int64_t last_time_entry_ts(const segment_t *seg)
{
    return seg->time_count ? seg->times[seg->time_count - 1].timestamp : -1;
}

int segment_note_batch(segment_t *seg, const kafka_batch_header_t *h, uint64_t pos, sb_err_t *err)
{
    if (h->max_timestamp > seg->max_timestamp) {
        seg->max_timestamp = h->max_timestamp;
        seg->max_timestamp_offset = h->base_offset;
    }
    /* The batch at position 0 never needs an entry: a lookup with no entry starts there. */
    if (pos > 0 && seg->bytes_since_index >= seg->index_interval) {
        if (grow_array((void **)&seg->index, &seg->index_cap, sizeof(*seg->index),
                       seg->index_count + 1))
            return sb_err_set(err, SB_ENOMEM, "out of memory for index");
        seg->index[seg->index_count].relative_offset =
            (uint32_t)(h->base_offset - seg->base_offset);
        seg->index[seg->index_count].position = (uint32_t)pos;
        seg->index_count++;
        seg->bytes_since_index = 0;
        /* Writing a time entry only beside an index entry keeps the time index as sparse as
         * the offset index, and means that at every index entry the last time entry holds
         * the max timestamp of everything up to that batch (recovery relies on this). */
        if (seg->max_timestamp > last_time_entry_ts(seg)) {
            int rc = add_time_entry(seg, err);
            if (rc) return rc;
        }
    }
    seg->bytes_since_index += (uint64_t)kafka_batch_size(h);
    return 0;
}

int segment_seal_time_index(segment_t *seg, sb_err_t *err)
{
    if (seg->max_timestamp > last_time_entry_ts(seg)) return add_time_entry(seg, err);
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int segment_persist_indexes(segment_t *seg, sb_err_t *err)
{
    /* Usually one or two entries per append; the buffer only loops for bulk rebuilds. */
    uint8_t buf[256 * SEGMENT_TIME_ENTRY_SIZE];
    while (seg->index_written < seg->index_count) {
        size_t n = seg->index_count - seg->index_written;
        if (n > 256) n = 256;
        for (size_t i = 0; i < n; i++) {
            const segment_index_entry_t *e = &seg->index[seg->index_written + i];
            put_be32(buf + i * SEGMENT_INDEX_ENTRY_SIZE, e->relative_offset);
            put_be32(buf + i * SEGMENT_INDEX_ENTRY_SIZE + 4, e->position);
        }
        if (pwrite_all(seg->index_fd, buf, n * SEGMENT_INDEX_ENTRY_SIZE,
                       (off_t)(seg->index_written * SEGMENT_INDEX_ENTRY_SIZE)))
            return sb_err_set(err, SB_EIO, "write segment %020" PRId64 ".index: %s",
                              seg->base_offset, strerror(errno));
        seg->index_written += n;
    }
    while (seg->time_written < seg->time_count) {
        size_t n = seg->time_count - seg->time_written;
        if (n > 256) n = 256;
        for (size_t i = 0; i < n; i++) {
            const segment_time_entry_t *e = &seg->times[seg->time_written + i];
            put_be64(buf + i * SEGMENT_TIME_ENTRY_SIZE, (uint64_t)e->timestamp);
            put_be32(buf + i * SEGMENT_TIME_ENTRY_SIZE + 8, e->relative_offset);
        }
        if (pwrite_all(seg->time_fd, buf, n * SEGMENT_TIME_ENTRY_SIZE,
                       (off_t)(seg->time_written * SEGMENT_TIME_ENTRY_SIZE)))
            return sb_err_set(err, SB_EIO, "write segment %020" PRId64 ".timeindex: %s",
                              seg->base_offset, strerror(errno));
        seg->time_written += n;
    }
    return 0;
}

void segment_reader_init(segment_reader_t *r, const segment_t *seg)
{
    r->seg = seg;
    r->buf_pos = 0;
    r->buf_len = 0;
}

int segment_read_header(segment_reader_t *r, uint64_t pos, kafka_batch_header_t *h, sb_err_t *err)
{
    const segment_t *seg = r->seg;
    if (pos >= seg->size) return SB_ERANGE;
    if (seg->size - pos < KAFKA_BATCH_HEADER_SIZE)
        return sb_err_set(err, SB_ECORRUPT, "torn batch header: %" PRIu64 " bytes left",
                          seg->size - pos);
    if (pos < r->buf_pos || pos + KAFKA_BATCH_HEADER_SIZE > r->buf_pos + r->buf_len) {
        size_t want = sizeof(r->buf);
        if (seg->size - pos < want) want = (size_t)(seg->size - pos);
        ssize_t n;
        do {
            n = pread(seg->log_fd, r->buf, want, (off_t)pos);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return sb_err_set(err, SB_EIO, "read segment %020" PRId64 ".log at %" PRIu64 ": %s",
                              seg->base_offset, pos, strerror(errno));
        r->buf_pos = pos;
        r->buf_len = (size_t)n;
        if ((size_t)n < KAFKA_BATCH_HEADER_SIZE) {
            r->buf_len = 0;
            return sb_err_set(err, SB_ECORRUPT, "torn batch header: file ends %zd bytes after it",
                              n);
        }
    }
    kafka_batch_header_parse(r->buf + (pos - r->buf_pos), KAFKA_BATCH_HEADER_SIZE, h);
    if (h->magic != 2) return sb_err_set(err, SB_ECORRUPT, "magic %d is not 2", h->magic);
    if (h->batch_length < KAFKA_BATCH_MIN_LENGTH)
        return sb_err_set(err, SB_ECORRUPT, "batch_length %" PRId32 " too small", h->batch_length);
    if ((uint64_t)kafka_batch_size(h) > seg->size - pos)
        return sb_err_set(err, SB_ECORRUPT,
                          "torn batch: batch_length %" PRId32 " runs past the end of the file",
                          h->batch_length);
    if (h->last_offset_delta < 0)
        return sb_err_set(err, SB_ECORRUPT, "negative last_offset_delta %" PRId32,
                          h->last_offset_delta);
    return 0;
}

int segment_find_batch(const segment_t *seg, int64_t offset, uint64_t *pos, kafka_batch_header_t *h,
                       sb_err_t *err)
{
    uint64_t p;
    int64_t at;
    segment_index_lookup(seg, offset, &p, &at);
    segment_reader_t r;
    segment_reader_init(&r, seg);
    for (;;) {
        int rc = segment_read_header(&r, p, h, err);
        if (rc == SB_ERANGE)
            return sb_err_set(err, SB_ERANGE, "offset %" PRId64 " not in segment %020" PRId64,
                              offset, seg->base_offset);
        if (rc) return rc;
        if (h->base_offset + h->last_offset_delta >= offset) {
            *pos = p;
            return 0;
        }
        p += (uint64_t)kafka_batch_size(h);
    }
}

/* CRC-32C of the batch at pos, read in scratch-sized pieces so no batch size needs a
 * matching allocation. */
static int batch_crc(const segment_t *seg, uint64_t pos, uint64_t size, uint8_t *scratch,
                     size_t scratch_len, uint32_t *crc, sb_err_t *err)
{
    uint32_t c = 0;
    uint64_t at = pos + KAFKA_BATCH_CRC_START;
    uint64_t left = size - KAFKA_BATCH_CRC_START;
    while (left > 0) {
        size_t want = left < scratch_len ? (size_t)left : scratch_len;
        ssize_t n = pread(seg->log_fd, scratch, want, (off_t)at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return sb_err_set(err, SB_EIO, "read segment %020" PRId64 ".log at %" PRIu64 ": %s",
                              seg->base_offset, at, n < 0 ? strerror(errno) : "unexpected end");
        c = crc32c(c, scratch, (size_t)n);
        at += (uint64_t)n;
        left -= (uint64_t)n;
    }
    *crc = c;
    return 0;
}

int segment_recover(segment_t *seg, const char *dir, uint64_t pos, int64_t offset, bool check_crc,
                    uint8_t *scratch, size_t scratch_len, bool *truncated, sb_err_t *err)
{
    *truncated = false;

    /* Forget what the indexes say about the part being rescanned; the scan re-adds it. */
    while (seg->index_count && seg->index[seg->index_count - 1].position >= pos)
        seg->index_count--;
    uint64_t rel = (uint64_t)(offset - seg->base_offset);
    while (seg->time_count && seg->times[seg->time_count - 1].relative_offset >= rel)
        seg->time_count--;
    if (seg->index_written > seg->index_count) seg->index_written = seg->index_count;
    if (seg->time_written > seg->time_count) seg->time_written = seg->time_count;
    seg->max_timestamp = last_time_entry_ts(seg);
    seg->max_timestamp_offset =
        seg->time_count ? seg->base_offset + seg->times[seg->time_count - 1].relative_offset
                        : seg->base_offset;
    /* pos is an index entry (or 0): make the scan put that entry back. */
    seg->bytes_since_index = seg->index_interval;
    seg->next_offset = offset;

    segment_reader_t r;
    segment_reader_init(&r, seg);
    char reason[sizeof(((sb_err_t *)0)->msg)] = "";
    for (;;) {
        kafka_batch_header_t h;
        sb_err_t herr = {0};
        int rc = segment_read_header(&r, pos, &h, &herr);
        if (rc == SB_ERANGE) break;
        if (rc == SB_EIO) return sb_err_set(err, rc, "%s", herr.msg);
        if (rc) {
            snprintf(reason, sizeof(reason), "%s", herr.msg);
            break;
        }
        if (h.base_offset != seg->next_offset) {
            snprintf(reason, sizeof(reason),
                     "base offset %" PRId64 " where %" PRId64 " was expected", h.base_offset,
                     seg->next_offset);
            break;
        }
        if (h.base_offset + h.last_offset_delta - seg->base_offset > (int64_t)UINT32_MAX) {
            snprintf(reason, sizeof(reason), "offset %" PRId64 " too far from segment base",
                     h.base_offset + h.last_offset_delta);
            break;
        }
        if (check_crc) {
            uint32_t crc = 0;
            rc = batch_crc(seg, pos, (uint64_t)kafka_batch_size(&h), scratch, scratch_len, &crc,
                           err);
            if (rc) return rc;
            if (crc != h.crc) {
                snprintf(reason, sizeof(reason),
                         "CRC mismatch in batch at offset %" PRId64 " (stored 0x%08" PRIx32
                         ", computed 0x%08" PRIx32 ")",
                         h.base_offset, h.crc, crc);
                break;
            }
        }
        rc = segment_note_batch(seg, &h, pos, err);
        if (rc) return rc;
        seg->next_offset = h.base_offset + h.last_offset_delta + 1;
        pos += (uint64_t)kafka_batch_size(&h);
    }

    if (reason[0]) {
        if (ftruncate(seg->log_fd, (off_t)pos) != 0)
            return sb_err_set(err, SB_EIO, "truncate segment %020" PRId64 ".log: %s",
                              seg->base_offset, strerror(errno));
        sb_warn("log",
                "%s: segment %020" PRId64 ".log truncated from %" PRIu64 " to %" PRIu64
                " bytes at position %" PRIu64 " (%s)",
                dir, seg->base_offset, seg->size, pos, pos, reason);
        seg->size = pos;
        *truncated = true;
    }

    if (ftruncate(seg->index_fd, (off_t)(seg->index_written * SEGMENT_INDEX_ENTRY_SIZE)) != 0 ||
        ftruncate(seg->time_fd, (off_t)(seg->time_written * SEGMENT_TIME_ENTRY_SIZE)) != 0)
        return sb_err_set(err, SB_EIO, "truncate indexes of segment %020" PRId64 ": %s",
                          seg->base_offset, strerror(errno));
    return segment_persist_indexes(seg, err);
}
