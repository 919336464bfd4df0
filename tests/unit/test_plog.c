/* Tests for the partition log (src/broker/log/): append/read, rolls, recovery after torn
 * writes and crashes, index rebuilds, retention, timestamp lookup, header scans and the producer state rebuilt from them, flush. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/log/plog.h"
#include "broker/producer_state.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "kafka/record_batch.h"

typedef struct fixture {
    char root[64];
    char dir[128]; /* partition dir inside root; plog_open must create it */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/plog_test_XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/topic-0", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    plog_remove_dir(f->dir, NULL);
    rmdir(f->root);
    free(f);
    return 0;
}

static plog_config_t small_config(uint64_t segment_bytes, uint32_t index_interval)
{
    plog_config_t cfg = PLOG_CONFIG_DEFAULT;
    cfg.segment_bytes = segment_bytes;
    cfg.index_interval_bytes = index_interval;
    cfg.retention_ms = -1;
    return cfg;
}

/* Appends to w one valid uncompressed batch of n records; record i has timestamp
 * base_ts + i and a value of value_size bytes. */
static void build_batch(sb_wr_t *w, int n, int64_t base_ts, size_t value_size, int16_t attributes)
{
    sb_wr_t recs;
    sb_wr_init(&recs, 256);
    for (int i = 0; i < n; i++) {
        sb_wr_t r;
        sb_wr_init(&r, 64 + value_size);
        sb_wr_i8(&r, 0);
        sb_wr_varint(&r, i); /* timestamp delta */
        sb_wr_varint(&r, i); /* offset delta */
        sb_wr_varint(&r, -1);
        sb_wr_varint(&r, (int64_t)value_size);
        uint8_t *v = sb_wr_reserve(&r, value_size);
        for (size_t j = 0; j < value_size; j++)
            v[j] = (uint8_t)('a' + (i + j) % 26);
        sb_wr_varint(&r, 0);
        sb_wr_varint(&recs, (int64_t)r.len);
        sb_wr_bytes(&recs, r.buf, r.len);
        sb_wr_deinit(&r);
    }
    size_t start = w->len;
    sb_wr_i64(w, 0);
    sb_wr_i32(w, (int32_t)(KAFKA_BATCH_MIN_LENGTH + recs.len));
    sb_wr_i32(w, -1);
    sb_wr_i8(w, 2);
    sb_wr_u32(w, 0);
    sb_wr_i16(w, attributes);
    sb_wr_i32(w, n - 1);
    sb_wr_i64(w, base_ts);
    sb_wr_i64(w, base_ts + n - 1);
    sb_wr_i64(w, -1);
    sb_wr_i16(w, -1);
    sb_wr_i32(w, -1);
    sb_wr_i32(w, n);
    sb_wr_bytes(w, recs.buf, recs.len);
    sb_wr_deinit(&recs);
    sb_wr_patch_i32(w, start + 17, (int32_t)crc32c(0, w->buf + start + 21, w->len - start - 21));
}

/* Builds, validates and appends one batch; returns its size, and its base offset in *base. */
static size_t append_batch(plog_t *log, int n, int64_t base_ts, size_t value_size, int64_t *base)
{
    sb_wr_t w;
    sb_wr_init(&w, 256);
    build_batch(&w, n, base_ts, value_size, 0);
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(w.buf, w.len, NULL, &err), 0);
    int64_t b = -1;
    int rc = plog_append(log, w.buf, w.len, &b, &err);
    if (rc) fail_msg("append: %s", err.msg);
    size_t len = w.len;
    sb_wr_deinit(&w);
    if (base) *base = b;
    return len;
}

/* Reads a slice's bytes into a new buffer and closes the slice's fd. */
static uint8_t *slice_bytes(plog_slice_t *s)
{
    uint8_t *buf = malloc(s->len ? s->len : 1);
    assert_int_equal(pread(s->fd, buf, s->len, s->pos), (ssize_t)s->len);
    close(s->fd);
    s->fd = -1;
    return buf;
}

static int count_files(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    size_t elen = strlen(ext);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len == 20 + elen && strcmp(de->d_name + 20, ext) == 0) n++;
    }
    closedir(d);
    return n;
}

/* Base offset of the newest (or oldest) segment, from the file names. */
static int64_t segment_base(const char *dir, bool newest)
{
    DIR *d = opendir(dir);
    int64_t best = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 24 || strcmp(de->d_name + 20, ".log") != 0) continue;
        int64_t b = strtoll(de->d_name, NULL, 10);
        if (best < 0 || (newest ? b > best : b < best)) best = b;
    }
    closedir(d);
    return best;
}

static void segment_file(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
    snprintf(out, cap, "%s/%020" PRId64 "%s", dir, base, ext);
}

static off_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return st.st_size;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static plog_t *open_log(const char *dir, const plog_config_t *cfg)
{
    plog_t *log = NULL;
    sb_err_t err = {0};
    int rc = plog_open(dir, cfg, &log, &err);
    if (rc) fail_msg("plog_open: %s", err.msg);
    return log;
}

/* Reads the whole log front to back in max_bytes steps and checks that every slice holds
 * whole, CRC-valid batches with the expected offsets. Returns the number of records seen. */
static int64_t read_whole_log(plog_t *log, size_t max_bytes)
{
    int64_t offset = plog_start_offset(log), records = 0;
    while (offset < plog_end_offset(log)) {
        plog_slice_t s;
        sb_err_t err = {0};
        assert_int_equal(plog_read(log, offset, max_bytes, &s, &err), 0);
        assert_true(s.len > 0);
        uint8_t *buf = slice_bytes(&s);
        kafka_batches_info_t info;
        if (kafka_batches_validate(buf, s.len, &info, &err) != 0) fail_msg("slice: %s", err.msg);
        assert_int_equal(info.first.base_offset, offset);
        if (info.nbatches > 1) assert_true(s.len <= max_bytes);
        offset += info.last_offset_delta_total;
        records += info.nrecords;
        free(buf);
    }
    return records;
}

static void test_empty_log(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1 << 20, 4096);
    plog_t *log = open_log(f->dir, &cfg);
    assert_int_equal(plog_start_offset(log), 0);
    assert_int_equal(plog_end_offset(log), 0);
    assert_int_equal(plog_durable_offset(log), 0);
    assert_int_equal(plog_size_bytes(log), 0);
    plog_slice_t s;
    sb_err_t err = {0};
    assert_int_equal(plog_read(log, 0, 1000, &s, &err), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.fd, -1);
    assert_int_equal(plog_read(log, 1, 1000, &s, &err), SB_ERANGE);
    assert_int_equal(plog_read(log, -1, 1000, &s, &err), SB_ERANGE);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    int64_t t;
    assert_int_equal(plog_offset_for_time(log, 0, &t, NULL, &err), SB_ENOENT);
    plog_close(log);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), 0);
    plog_close(log);
}

static void test_config_is_checked(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(100, 4096);
    plog_t *log = NULL;
    sb_err_t err = {0};
    assert_int_equal(plog_open(f->dir, &cfg, &log, &err), SB_EINVAL);
    assert_null(log);
    assert_non_null(strstr(err.msg, "segment_bytes"));
}

static void test_append_read_round_trip_across_rolls(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 100);
    plog_t *log = open_log(f->dir, &cfg);
    enum { N = 60 };
    int64_t bases[N];
    size_t sizes[N];
    int counts[N];
    for (int i = 0; i < N; i++) {
        counts[i] = i % 3 + 1;
        sizes[i] = append_batch(log, counts[i], 1000 + i, 20 + (size_t)(i * 7 % 50), &bases[i]);
        assert_int_equal(bases[i], i ? bases[i - 1] + counts[i - 1] : 0);
    }
    assert_int_equal(plog_end_offset(log), bases[N - 1] + counts[N - 1]);
    assert_true(count_files(f->dir, ".log") > 3);

    /* Every offset, including those inside multi-record batches, finds its own batch. */
    sb_err_t err = {0};
    for (int i = 0; i < N; i++) {
        for (int64_t o = bases[i]; o < bases[i] + counts[i]; o++) {
            plog_slice_t s;
            assert_int_equal(plog_read(log, o, 1, &s, &err), 0);
            assert_int_equal(s.len, sizes[i]);
            uint8_t *buf = slice_bytes(&s);
            kafka_batch_header_t h;
            kafka_batch_header_parse(buf, s.len, &h);
            assert_int_equal(h.base_offset, bases[i]);
            assert_int_equal(h.records_count, counts[i]);
            assert_int_equal(kafka_batches_validate(buf, s.len, NULL, &err), 0);
            free(buf);
        }
    }
    /* Whole-log reads with different budgets return whole batches only and lose nothing. */
    int64_t total_records = 0;
    for (int i = 0; i < N; i++)
        total_records += counts[i];
    assert_int_equal(read_whole_log(log, 1), total_records);
    assert_int_equal(read_whole_log(log, 300), total_records);
    assert_int_equal(read_whole_log(log, 1 << 20), total_records);

    plog_slice_t s;
    assert_int_equal(plog_read(log, plog_end_offset(log), 100, &s, &err), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(plog_read(log, plog_end_offset(log) + 1, 100, &s, &err), SB_ERANGE);
    plog_close(log);
}

static void test_read_returns_oversized_first_batch_whole(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 100);
    plog_t *log = open_log(f->dir, &cfg);
    int64_t small_base, big_base, after_base;
    size_t small = append_batch(log, 1, 1, 10, &small_base);
    /* Larger than a whole segment: it gets a segment of its own. */
    size_t big = append_batch(log, 2, 2, 3000, &big_base);
    size_t after = append_batch(log, 1, 3, 10, &after_base);
    assert_int_equal(count_files(f->dir, ".log"), 3);

    plog_slice_t s;
    sb_err_t err = {0};
    assert_int_equal(plog_read(log, big_base + 1, 100, &s, &err), 0);
    assert_int_equal(s.len, big);
    assert_int_equal(s.pos, 0);
    close(s.fd);
    assert_int_equal(plog_read(log, small_base, 100, &s, &err), 0);
    assert_int_equal(s.len, small); /* never spans into the next segment */
    close(s.fd);
    assert_int_equal(plog_read(log, after_base, 100000, &s, &err), 0);
    assert_int_equal(s.len, after);
    close(s.fd);
    plog_close(log);
}

static void test_reopen_keeps_offsets_and_data(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(2048, 256);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 30; i++)
        append_batch(log, 2, 5000 + i, 40, NULL);
    int64_t leo = plog_end_offset(log);
    uint64_t size = plog_size_bytes(log);
    plog_close(log);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), leo);
    assert_int_equal(plog_durable_offset(log), leo);
    assert_int_equal(plog_size_bytes(log), size);
    assert_int_equal(read_whole_log(log, 500), leo);
    int64_t base;
    append_batch(log, 1, 9999, 10, &base);
    assert_int_equal(base, leo);
    plog_close(log);
}

/* Appends 30 batches, closes, and returns the newest segment's base and the last batch's
 * base offset and size. */
static void fill_and_close(const char *dir, const plog_config_t *cfg, int64_t *last_base,
                           size_t *last_size, int64_t *seg_base)
{
    plog_t *log = open_log(dir, cfg);
    for (int i = 0; i < 30; i++)
        *last_size = append_batch(log, i % 2 + 1, 100 + i, 30, last_base);
    plog_close(log);
    *seg_base = segment_base(dir, true);
}

static void test_recovery_truncates_torn_last_batch(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(4096, 256);
    int64_t last_base, seg_base;
    size_t last_size;
    fill_and_close(f->dir, &cfg, &last_base, &last_size, &seg_base);

    /* A torn write: only the first half of the last batch reached the disk. */
    char path[PATH_MAX];
    segment_file(path, sizeof(path), f->dir, seg_base, ".log");
    off_t full = file_size(path);
    assert_int_equal(truncate(path, full - (off_t)(last_size / 2)), 0);

    plog_t *log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), last_base);
    assert_int_equal(file_size(path), full - (off_t)last_size);
    assert_int_equal(read_whole_log(log, 1000), last_base);
    int64_t base;
    append_batch(log, 3, 500, 30, &base);
    assert_int_equal(base, last_base);
    plog_close(log);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), last_base + 3);
    assert_int_equal(read_whole_log(log, 1000), last_base + 3);
    plog_close(log);
}

static void test_recovery_truncates_corrupt_last_batch(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(4096, 256);
    int64_t last_base, seg_base;
    size_t last_size;
    fill_and_close(f->dir, &cfg, &last_base, &last_size, &seg_base);

    char path[PATH_MAX];
    segment_file(path, sizeof(path), f->dir, seg_base, ".log");
    off_t full = file_size(path);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    off_t victim = full - (off_t)last_size / 2;
    assert_int_equal(pread(fd, &byte, 1, victim), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, victim), 1);
    close(fd);

    plog_t *log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), last_base);
    assert_int_equal(file_size(path), full - (off_t)last_size);
    int64_t base;
    append_batch(log, 1, 500, 30, &base);
    assert_int_equal(base, last_base);
    assert_int_equal(read_whole_log(log, 1000), last_base + 1);
    plog_close(log);
}

/* The child process appends and flushes, appends more, then dies without plog_close: what
 * was written is in the page cache, as after a broker crash. Returns the child's LEO (its
 * exit code carries failures). */
static void crash_after_appends(const char *dir, const plog_config_t *cfg, int flushed,
                                int unflushed)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        plog_t *log;
        if (plog_open(dir, cfg, &log, NULL) != 0) _exit(2);
        for (int i = 0; i < flushed + unflushed; i++) {
            sb_wr_t w;
            sb_wr_init(&w, 256);
            build_batch(&w, 2, 7000 + i, 50, 0);
            if (plog_append(log, w.buf, w.len, NULL, NULL) != 0) _exit(3);
            sb_wr_deinit(&w);
            if (i == flushed - 1 && plog_flush(log, NULL, NULL) != 0) _exit(4);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_recovery_after_crash_keeps_valid_unflushed_tail(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(2048, 200);
    crash_after_appends(f->dir, &cfg, 10, 15);
    plog_t *log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), 50);
    assert_int_equal(plog_durable_offset(log), 50);
    assert_int_equal(read_whole_log(log, 700), 50);
    plog_close(log);
}

static void test_recovery_after_crash_cuts_torn_tail(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(2048, 200);
    crash_after_appends(f->dir, &cfg, 5, 20);
    char path[PATH_MAX];
    segment_file(path, sizeof(path), f->dir, segment_base(f->dir, true), ".log");
    off_t full = file_size(path);
    assert_int_equal(truncate(path, full - 10), 0);

    plog_t *log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), 48);
    assert_int_equal(read_whole_log(log, 700), 48);
    plog_close(log);
}

static void test_recovery_without_checkpoint_checks_every_segment(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    int64_t bases[40];
    for (int i = 0; i < 40; i++)
        append_batch(log, 1, 100 + i, 60, &bases[i]);
    plog_close(log);
    int segments = count_files(f->dir, ".log");
    assert_true(segments >= 4);

    /* Damage the second segment's first batch and lose the recovery point: nothing may be
     * trusted, so the damage is found and everything after it goes. */
    int64_t second = -1;
    for (int i = 1; i < 40 && second < 0; i++) {
        char p[PATH_MAX];
        segment_file(p, sizeof(p), f->dir, bases[i], ".log");
        if (file_size(p) >= 0) second = bases[i];
    }
    assert_true(second > 0);
    char path[PATH_MAX];
    segment_file(path, sizeof(path), f->dir, second, ".log");
    int fd = open(path, O_RDWR);
    assert_int_equal(pwrite(fd, "X", 1, 70), 1);
    close(fd);
    snprintf(path, sizeof(path), "%s/recovery-point.checkpoint", f->dir);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "garbage", 7), 7);
    close(fd);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), second);
    assert_int_equal(count_files(f->dir, ".log"), 2);
    assert_int_equal(read_whole_log(log, 1000), second);
    plog_close(log);
}

static void test_deleted_index_is_rebuilt(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(2048, 128);
    plog_t *log = open_log(f->dir, &cfg);
    /* 45 batches: several full segments and an active one with a few index entries. */
    int64_t bases[45];
    for (int i = 0; i < 45; i++)
        append_batch(log, 2, 1000 + 10 * i, 40, &bases[i]);
    plog_close(log);

    int64_t first = segment_base(f->dir, false), last = segment_base(f->dir, true);
    assert_true(first != last);
    char first_index[PATH_MAX], last_index[PATH_MAX], first_time[PATH_MAX];
    segment_file(first_index, sizeof(first_index), f->dir, first, ".index");
    segment_file(last_index, sizeof(last_index), f->dir, last, ".index");
    segment_file(first_time, sizeof(first_time), f->dir, first, ".timeindex");
    size_t first_len, last_len, time_len;
    uint8_t *first_before = read_file(first_index, &first_len);
    uint8_t *last_before = read_file(last_index, &last_len);
    uint8_t *time_before = read_file(first_time, &time_len);
    assert_true(first_len > 0 && last_len > 0 && time_len > 0);
    assert_int_equal(unlink(first_index), 0);
    assert_int_equal(unlink(last_index), 0);
    assert_int_equal(unlink(first_time), 0);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), 90);
    assert_int_equal(read_whole_log(log, 300), 90);
    int64_t off, ts;
    sb_err_t err = {0};
    assert_int_equal(plog_offset_for_time(log, 1000 + 10 * 3 + 1, &off, &ts, &err), 0);
    assert_int_equal(off, bases[3] + 1);
    plog_close(log);

    /* The rebuilt files are identical to the ones written during the appends. */
    size_t len;
    uint8_t *after = read_file(first_index, &len);
    assert_int_equal(len, first_len);
    assert_memory_equal(after, first_before, len);
    free(after);
    after = read_file(last_index, &len);
    assert_int_equal(len, last_len);
    assert_memory_equal(after, last_before, len);
    free(after);
    after = read_file(first_time, &len);
    assert_int_equal(len, time_len);
    assert_memory_equal(after, time_before, len);
    free(after);
    free(first_before);
    free(last_before);
    free(time_before);
}

static void test_retention_by_size(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 40; i++)
        append_batch(log, 1, 100 + i, 150, NULL);
    int64_t leo = plog_end_offset(log);
    int segments = count_files(f->dir, ".log");
    assert_true(segments >= 6);
    plog_close(log);

    cfg.retention_bytes = 2500;
    log = open_log(f->dir, &cfg);
    int deleted = -1;
    sb_err_t err = {0};
    assert_int_equal(plog_enforce_retention(log, 0, &deleted, &err), 0);
    assert_true(deleted > 0);
    assert_int_equal(count_files(f->dir, ".log"), segments - deleted);
    int64_t start = segment_base(f->dir, false);
    assert_int_equal(plog_start_offset(log), start);
    assert_true(start > 0);
    /* Kafka's rule: drop the oldest segment only while what remains is still >= the limit. */
    char path[PATH_MAX];
    segment_file(path, sizeof(path), f->dir, start, ".log");
    assert_true(plog_size_bytes(log) >= 2500);
    assert_true(plog_size_bytes(log) - (uint64_t)file_size(path) < 2500);
    plog_slice_t s;
    assert_int_equal(plog_read(log, start - 1, 100, &s, &err), SB_ERANGE);
    assert_int_equal(read_whole_log(log, 500), leo - start);
    plog_close(log);

    /* A limit of 0 deletes every closed segment but never the active one. */
    cfg.retention_bytes = 0;
    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_start_offset(log), start);
    assert_int_equal(plog_enforce_retention(log, 0, &deleted, &err), 0);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    assert_int_equal(plog_start_offset(log), segment_base(f->dir, false));
    assert_int_equal(plog_end_offset(log), leo);
    int64_t base;
    append_batch(log, 1, 1, 10, &base);
    assert_int_equal(base, leo);
    plog_close(log);
}

static void test_retention_by_time(void **state)
{
    fixture_t *f = *state;
    const int64_t now = 1700000000000LL;
    plog_config_t cfg = small_config(1024, 128);
    cfg.retention_ms = 60000;
    plog_t *log = open_log(f->dir, &cfg);
    int64_t first_new = -1;
    for (int i = 0; i < 20; i++)
        append_batch(log, 1, now - 3600000 + i, 150, NULL);
    for (int i = 0; i < 20; i++) {
        int64_t b;
        append_batch(log, 1, now - 1000 + i, 150, &b);
        if (first_new < 0) first_new = b;
    }
    int segments = count_files(f->dir, ".log");

    int deleted;
    sb_err_t err = {0};
    assert_int_equal(plog_enforce_retention(log, now, &deleted, &err), 0);
    assert_true(deleted > 0);
    assert_int_equal(count_files(f->dir, ".log"), segments - deleted);
    /* Only segments holding nothing newer than now - 60 s go; the one where old meets new
     * stays because of its new records. */
    int64_t start = plog_start_offset(log);
    assert_true(start > 0 && start <= first_new);
    assert_true(first_new - start < 10);
    int64_t off, ts;
    assert_int_equal(plog_offset_for_time(log, now - 1000, &off, &ts, &err), 0);
    assert_int_equal(off, first_new);
    assert_int_equal(ts, now - 1000);
    assert_int_equal(plog_enforce_retention(log, now, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    plog_close(log);

    /* Time index files are read back at open, so the same decision holds after a restart. */
    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_start_offset(log), start);
    assert_int_equal(plog_enforce_retention(log, now + 3600000, &deleted, &err), 0);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    plog_close(log);
}

static void test_offset_for_time(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    /* Batch i holds offsets 3i..3i+2 with timestamps 10000+10i+{0,1,2}. */
    for (int i = 0; i < 30; i++)
        append_batch(log, 3, 10000 + 10 * i, 40, NULL);
    /* A compressed batch: the log cannot see inside, so it answers with the batch. */
    sb_wr_t w;
    sb_wr_init(&w, 256);
    build_batch(&w, 3, 20000, 40, KAFKA_CODEC_GZIP);
    int64_t gz_base;
    assert_int_equal(plog_append(log, w.buf, w.len, &gz_base, NULL), 0);
    sb_wr_deinit(&w);
    assert_true(count_files(f->dir, ".log") > 2);

    for (int pass = 0; pass < 2; pass++) {
        int64_t off, ts;
        sb_err_t err = {0};
        assert_int_equal(plog_offset_for_time(log, 0, &off, &ts, &err), 0);
        assert_int_equal(off, 0);
        assert_int_equal(ts, 10000);
        assert_int_equal(plog_offset_for_time(log, 10071, &off, &ts, &err), 0);
        assert_int_equal(off, 22);
        assert_int_equal(ts, 10071);
        assert_int_equal(plog_offset_for_time(log, 10073, &off, &ts, &err), 0);
        assert_int_equal(off, 24);
        assert_int_equal(ts, 10080);
        assert_int_equal(plog_offset_for_time(log, 10292, &off, &ts, &err), 0);
        assert_int_equal(off, 89);
        assert_int_equal(plog_offset_for_time(log, 20001, &off, &ts, &err), 0);
        assert_int_equal(off, gz_base);
        assert_int_equal(ts, 20002);
        assert_int_equal(plog_offset_for_time(log, 20003, &off, &ts, &err), SB_ENOENT);
        /* Second pass: the same answers from indexes read back from disk. */
        plog_close(log);
        log = open_log(f->dir, &cfg);
    }
    plog_close(log);
}


/* DeleteRecords: the start moves inside a segment, reads below it fail, whole segments below it
 * go, an offset at or below the start changes nothing, and the start survives a reopen. */
static void test_delete_records_moves_the_start_durably(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 30; i++) append_batch(log, 3, 10000 + 10 * i, 40, NULL); /* offsets 0..89 */
    int segs_before = count_files(f->dir, ".log");
    assert_true(segs_before > 3);
    sb_err_t err = {0};
    int64_t low = -1;
    int deleted = 0;
    assert_int_equal(plog_delete_records(log, 91, &low, &deleted, &err), SB_ERANGE);
    assert_int_equal(plog_delete_records(log, 50, &low, &deleted, &err), 0);
    assert_int_equal(low, 50);
    assert_true(deleted > 0);
    assert_int_equal(count_files(f->dir, ".log"), segs_before - deleted);
    assert_int_equal(plog_start_offset(log), 50);
    assert_true(segment_base(f->dir, false) <= 50); /* the segment holding 50 stays */
    plog_slice_t sl;
    assert_int_equal(plog_read(log, 49, 4096, &sl, &err), SB_ERANGE);
    assert_int_equal(plog_read(log, 50, 4096, &sl, &err), 0);
    assert_true(sl.len > 0);
    close(sl.fd);
    /* Backwards is a no-op that reports the current start. */
    assert_int_equal(plog_delete_records(log, 10, &low, &deleted, &err), 0);
    assert_int_equal(low, 50);
    assert_int_equal(deleted, 0);
    /* Timestamp lookups never answer below the start: offsets 48..50 have ts 10160..10162. */
    int64_t off, ts;
    assert_int_equal(plog_offset_for_time(log, 10000, &off, &ts, &err), 0);
    assert_int_equal(off, 50);
    assert_int_equal(ts, 10162);
    plog_close(log);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_start_offset(log), 50);
    assert_int_equal(plog_end_offset(log), 90);
    assert_int_equal(plog_read(log, 49, 4096, &sl, &err), SB_ERANGE);
    /* Up to the end: the log is empty but keeps its end offset, and appends continue there. */
    assert_int_equal(plog_delete_records(log, 90, &low, NULL, &err), 0);
    assert_int_equal(low, 90);
    int64_t base;
    append_batch(log, 2, 30000, 10, &base);
    assert_int_equal(base, 90);
    plog_close(log);
    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_start_offset(log), 90);
    assert_int_equal(plog_end_offset(log), 92);
    plog_close(log);
}

/* A log start checkpoint left pointing past the recovered end (the tail was lost in a crash)
 * is pulled back to the end rather than hiding the next appends. */
static void test_log_start_past_the_end_is_clamped(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1 << 20, 4096);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 4; i++) append_batch(log, 5, 1000, 10, NULL);
    assert_int_equal(plog_delete_records(log, 20, NULL, NULL, NULL), 0);
    plog_close(log);
    /* Cut the segment back to nothing, as if the appends had never reached the disk. */
    char path[256];
    segment_file(path, sizeof(path), f->dir, 0, ".log");
    assert_int_equal(truncate(path, 0), 0);
    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), 0);
    assert_int_equal(plog_start_offset(log), 0);
    int64_t base;
    append_batch(log, 1, 1000, 10, &base);
    assert_int_equal(base, 0);
    plog_slice_t sl;
    assert_int_equal(plog_read(log, 0, 4096, &sl, NULL), 0);
    close(sl.fd);
    plog_close(log);
}

/* ListOffsets MAX_TIMESTAMP: the record with the largest timestamp, across segments, counting
 * only what is at or after the log start. */
static void test_max_timestamp(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    int64_t off, ts;
    sb_err_t err = {0};
    assert_int_equal(plog_max_timestamp(log, &off, &ts, &err), SB_ENOENT);
    /* Batch i holds offsets 3i..3i+2 with timestamps base+{0,1,2}; batch 7 is the newest. */
    for (int i = 0; i < 20; i++) append_batch(log, 3, i == 7 ? 90000 : 10000 + 10 * i, 40, NULL);
    assert_true(count_files(f->dir, ".log") > 2);
    assert_int_equal(plog_max_timestamp(log, &off, &ts, &err), 0);
    assert_int_equal(ts, 90002);
    assert_int_equal(off, 23);
    /* Delete up to offset 23 (inside batch 7): 23 itself is still there. */
    assert_int_equal(plog_delete_records(log, 23, NULL, NULL, &err), 0);
    assert_int_equal(plog_max_timestamp(log, &off, &ts, &err), 0);
    assert_int_equal(off, 23);
    /* Once it is gone, the maximum is the newest remaining record: batch 19's last. */
    assert_int_equal(plog_delete_records(log, 24, NULL, NULL, &err), 0);
    assert_int_equal(plog_max_timestamp(log, &off, &ts, &err), 0);
    assert_int_equal(ts, 10192);
    assert_int_equal(off, 59);
    plog_close(log);
}

/* AlterConfigs at run time: a smaller retention takes effect on the open log. */
static void test_set_config_changes_retention(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 30; i++) append_batch(log, 3, 10000 + 10 * i, 40, NULL);
    int deleted = 0;
    assert_int_equal(plog_enforce_retention(log, 1000000, &deleted, NULL), 0);
    assert_int_equal(deleted, 0);
    plog_config_t next = cfg;
    next.retention_bytes = 2048;
    next.segment_bytes = 100; /* invalid: refused, nothing changes */
    sb_err_t err = {0};
    assert_int_equal(plog_set_config(log, &next, &err), SB_EINVAL);
    next.segment_bytes = 1024;
    assert_int_equal(plog_set_config(log, &next, &err), 0);
    assert_int_equal(plog_enforce_retention(log, 1000000, &deleted, NULL), 0);
    assert_true(deleted > 0);
    assert_true(plog_size_bytes(log) >= 2048);
    assert_true(plog_start_offset(log) > 0);
    plog_close(log);
}

struct scan {
    int n;
    int stop_after;
    int64_t bases[64];
};

static int collect_header(const kafka_batch_header_t *h, void *arg)
{
    struct scan *s = arg;
    if (s->n < 64) s->bases[s->n] = h->base_offset;
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void test_scan_headers(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    int64_t bases[25];
    for (int i = 0; i < 25; i++)
        append_batch(log, 2, 100 + i, 80, &bases[i]);
    assert_true(count_files(f->dir, ".log") > 2);
    sb_err_t err = {0};

    struct scan all = {0};
    assert_int_equal(plog_scan_headers(log, 0, collect_header, &all, &err), 0);
    assert_int_equal(all.n, 25);
    assert_memory_equal(all.bases, bases, sizeof(bases));

    struct scan mid = {0};
    assert_int_equal(plog_scan_headers(log, bases[10] + 1, collect_header, &mid, &err), 0);
    assert_int_equal(mid.n, 15);
    assert_int_equal(mid.bases[0], bases[10]);

    struct scan three = {.stop_after = 3};
    assert_int_equal(plog_scan_headers(log, 0, collect_header, &three, &err), 0);
    assert_int_equal(three.n, 3);

    struct scan none = {0};
    assert_int_equal(plog_scan_headers(log, plog_end_offset(log), collect_header, &none, &err), 0);
    assert_int_equal(none.n, 0);
    plog_close(log);
}

static void test_tail_offset(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    enum { N = 40 };
    int64_t bases[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++)
        sizes[i] = append_batch(log, 2, 100 + i, 40 + (size_t)i, &bases[i]);
    assert_true(count_files(f->dir, ".log") > 3);

    /* Whatever the window, the answer is a batch's base offset from which the bytes to the end
     * cover the window, or the log start when the log is smaller. */
    for (uint64_t tail = 0; tail < 8000; tail += 97) {
        int64_t at = plog_tail_offset(log, tail);
        int k = -1;
        for (int i = 0; i < N; i++)
            if (bases[i] == at) k = i;
        if (k < 0) fail_msg("tail %" PRIu64 ": %" PRId64 " is no batch's base offset", tail, at);
        uint64_t covered = 0;
        for (int i = k; i < N; i++) covered += sizes[i];
        if (k > 0 && covered < tail)
            fail_msg("tail %" PRIu64 ": from offset %" PRId64 " only %" PRIu64 " bytes", tail, at, covered);
        /* ...and no further back than the index's granularity needs (the scan stays bounded). */
        if (covered > tail + 128 + sizes[N - 1])
            fail_msg("tail %" PRIu64 ": from offset %" PRId64 " reads %" PRIu64 " bytes", tail, at, covered);
    }
    assert_int_equal(plog_tail_offset(log, UINT64_MAX / 2), plog_start_offset(log));
    plog_close(log);
}

/* One idempotent producer's batch: build_batch's, with producer id, epoch and first sequence
 * patched in and the CRC redone. */
static void append_producer_batch(plog_t *log, int64_t pid, int32_t first_seq, int n, int64_t *base)
{
    sb_wr_t w;
    sb_wr_init(&w, 256);
    build_batch(&w, n, 1000, 30, 0);
    for (int i = 0; i < 8; i++) w.buf[43 + i] = (uint8_t)((uint64_t)pid >> (56 - 8 * i));
    w.buf[51] = 0;
    w.buf[52] = 0; /* epoch 0 */
    sb_wr_patch_i32(&w, 53, first_seq);
    sb_wr_patch_i32(&w, 17, (int32_t)crc32c(0, w.buf + 21, w.len - 21));
    sb_err_t err = {0};
    assert_int_equal(kafka_batches_validate(w.buf, w.len, NULL, &err), 0);
    if (plog_append(log, w.buf, w.len, base, &err)) fail_msg("append: %s", err.msg);
    sb_wr_deinit(&w);
}

/* The crash a user of idempotence relies on surviving: several producers write interleaved
 * batches, the broker restarts, and each producer retries its last batch. Every one of them
 * must be recognised as a duplicate, not only the producer that happened to write last. */
static void test_producer_state_rebuild_knows_every_producer(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(2048, 128);
    plog_t *log = open_log(f->dir, &cfg);
    enum { PRODUCERS = 4, ROUNDS = 6, PER_BATCH = 3 };
    int64_t last_base[PRODUCERS];
    for (int r = 0; r < ROUNDS; r++)
        for (int p = 0; p < PRODUCERS; p++)
            append_producer_batch(log, 5000 + p, r * PER_BATCH, PER_BATCH, &last_base[p]);
    assert_true(count_files(f->dir, ".log") > 1); /* the tail spans a roll */
    plog_close(log);

    log = open_log(f->dir, &cfg);
    producer_state_t ps;
    producer_state_init(&ps);
    producer_state_rebuild(&ps, log);
    int32_t last_first = (ROUNDS - 1) * PER_BATCH;
    for (int p = 0; p < PRODUCERS; p++) {
        int64_t dup = -1;
        assert_int_equal(producer_state_check(&ps, 5000 + p, 0, last_first, last_first + PER_BATCH - 1, &dup),
                         PRODUCER_CHECK_DUPLICATE);
        assert_int_equal(dup, last_base[p]);
        assert_int_equal(producer_state_check(&ps, 5000 + p, 0, last_first + PER_BATCH,
                                              last_first + 2 * PER_BATCH - 1, &dup),
                         PRODUCER_CHECK_APPEND);
        assert_int_equal(producer_state_check(&ps, 5000 + p, 0, last_first + 2 * PER_BATCH,
                                              last_first + 3 * PER_BATCH - 1, &dup),
                         PRODUCER_CHECK_OUT_OF_ORDER);
    }
    producer_state_deinit(&ps);
    plog_close(log);
}

static void test_flush_advances_durable_offset(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 3; i++)
        append_batch(log, 2, 1, 20, NULL);
    assert_int_equal(plog_durable_offset(log), 0);
    int64_t us = -1;
    sb_err_t err = {0};
    assert_int_equal(plog_flush(log, &us, &err), 0);
    assert_true(us >= 0);
    assert_int_equal(plog_durable_offset(log), 6);
    for (int i = 0; i < 20; i++)
        append_batch(log, 1, 1, 200, NULL); /* rolls segments */
    assert_int_equal(plog_durable_offset(log), 6);
    assert_int_equal(plog_flush(log, NULL, &err), 0);
    assert_int_equal(plog_durable_offset(log), 26);
    plog_close(log);
}

struct flusher {
    plog_t *log;
    atomic_bool stop;
    atomic_int failures;
    int flushes;
};

static void *flusher_main(void *arg)
{
    struct flusher *fl = arg;
    int64_t last = 0;
    while (!atomic_load(&fl->stop)) {
        sb_err_t err = {0};
        if (plog_flush(fl->log, NULL, &err) != 0) atomic_fetch_add(&fl->failures, 1);
        int64_t d = plog_durable_offset(fl->log);
        if (d < last) atomic_fetch_add(&fl->failures, 1);
        last = d;
        fl->flushes++;
    }
    return NULL;
}

static void test_flush_runs_concurrently_with_appends_rolls_and_retention(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    cfg.retention_bytes = 4096;
    plog_t *log = open_log(f->dir, &cfg);
    struct flusher fl = {.log = log};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, flusher_main, &fl), 0);
    for (int i = 0; i < 400; i++) {
        append_batch(log, 1 + i % 3, i, 100, NULL);
        if (i % 25 == 0) {
            sb_err_t err = {0};
            assert_int_equal(plog_enforce_retention(log, 0, NULL, &err), 0);
            assert_true(read_whole_log(log, 2000) > 0);
        }
    }
    atomic_store(&fl.stop, true);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&fl.failures), 0);
    assert_true(fl.flushes > 0);
    sb_err_t err = {0};
    assert_int_equal(plog_flush(log, NULL, &err), 0);
    int64_t leo = plog_end_offset(log), start = plog_start_offset(log);
    assert_int_equal(plog_durable_offset(log), leo);
    plog_close(log);

    log = open_log(f->dir, &cfg);
    assert_int_equal(plog_end_offset(log), leo);
    assert_int_equal(plog_start_offset(log), start);
    assert_int_equal(read_whole_log(log, 2000), leo - start);
    plog_close(log);
}

static void test_append_rejects_bad_framing(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    append_batch(log, 1, 1, 10, NULL);
    uint8_t junk[70];
    memset(junk, 0, sizeof(junk));
    sb_err_t err = {0};
    assert_int_equal(plog_append(log, junk, sizeof(junk), NULL, &err), SB_EINVAL);
    assert_int_equal(plog_append(log, junk, 0, NULL, &err), SB_EINVAL);
    assert_int_equal(plog_end_offset(log), 1);
    assert_int_equal(read_whole_log(log, 1000), 1);
    plog_close(log);
}

static void test_remove_dir(void **state)
{
    fixture_t *f = *state;
    plog_config_t cfg = small_config(1024, 128);
    plog_t *log = open_log(f->dir, &cfg);
    for (int i = 0; i < 10; i++)
        append_batch(log, 1, 1, 200, NULL);
    plog_close(log);
    sb_err_t err = {0};
    assert_int_equal(plog_remove_dir(f->dir, &err), 0);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    /* Recovery warnings are expected here; keep the test output readable. */
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_read_round_trip_across_rolls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_returns_oversized_first_batch_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_offsets_and_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_truncates_torn_last_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_truncates_corrupt_last_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash_keeps_valid_unflushed_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash_cuts_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_without_checkpoint_checks_every_segment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_index_is_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_for_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_records_moves_the_start_durably, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_start_past_the_end_is_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_config_changes_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_state_rebuild_knows_every_producer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_advances_durable_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_flush_runs_concurrently_with_appends_rolls_and_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_rejects_bad_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
