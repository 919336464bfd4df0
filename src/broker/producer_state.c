#include "broker/producer_state.h"
#include "broker/log/plog.h"
#include "common/log.h"
#include "kafka/record_batch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PID_BLOCK 1000

void producer_state_init(producer_state_t *s)
{
    memset(s, 0, sizeof(*s));
}

void producer_state_deinit(producer_state_t *s)
{
    free(s->entries);
    memset(s, 0, sizeof(*s));
}

static uint32_t pid_hash(int64_t pid)
{
    uint64_t x = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32);
}

static producer_entry_t *lookup(producer_state_t *s, int64_t pid)
{
    if (!s->cap) return NULL;
    for (uint32_t i = pid_hash(pid) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        producer_entry_t *e = &s->entries[i];
        if (e->producer_id == pid) return e;
        if (e->producer_id == -1) return NULL;
    }
}

static int grow(producer_state_t *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : 16;
    producer_entry_t *ne = malloc(sizeof(*ne) * ncap);
    if (!ne) return SB_ENOMEM;
    for (uint32_t i = 0; i < ncap; i++) ne[i].producer_id = -1;
    for (uint32_t i = 0; i < s->cap; i++) {
        producer_entry_t *e = &s->entries[i];
        if (e->producer_id == -1) continue;
        uint32_t j = pid_hash(e->producer_id) & (ncap - 1);
        while (ne[j].producer_id != -1) j = (j + 1) & (ncap - 1);
        ne[j] = *e;
    }
    free(s->entries);
    s->entries = ne;
    s->cap = ncap;
    return 0;
}

producer_check_t producer_state_check(producer_state_t *s, int64_t pid, int16_t epoch, int32_t first_seq,
                                      int32_t last_seq, int64_t *dup_offset)
{
    producer_entry_t *e = lookup(s, pid);
    /* An unknown producer (new, or whose state predates the segments we rebuilt from) starts a
     * fresh sequence wherever it is. */
    if (!e || e->nbatches == 0) return PRODUCER_CHECK_APPEND;
    if (epoch < e->epoch) return PRODUCER_CHECK_FENCED;
    if (epoch > e->epoch) {
        /* A bumped epoch restarts sequences at 0. */
        return first_seq == 0 ? PRODUCER_CHECK_APPEND : PRODUCER_CHECK_OUT_OF_ORDER;
    }
    for (int i = 0; i < e->nbatches; i++) {
        if (e->batches[i].first_seq == first_seq && e->batches[i].last_seq == last_seq) {
            *dup_offset = e->batches[i].base_offset;
            return PRODUCER_CHECK_DUPLICATE;
        }
    }
    int32_t expect = e->batches[e->nbatches - 1].last_seq + 1;
    if (expect < 0) expect = 0; /* sequence numbers wrap at INT32_MAX */
    return first_seq == expect ? PRODUCER_CHECK_APPEND : PRODUCER_CHECK_OUT_OF_ORDER;
}

int producer_state_record(producer_state_t *s, int64_t pid, int16_t epoch, int32_t first_seq, int32_t last_seq,
                          int64_t base_offset, int64_t now_ms)
{
    producer_entry_t *e = lookup(s, pid);
    if (!e) {
        if ((s->count + 1) * 4 >= s->cap * 3 && grow(s) < 0) return SB_ENOMEM;
        uint32_t j = pid_hash(pid) & (s->cap - 1);
        while (s->entries[j].producer_id != -1) j = (j + 1) & (s->cap - 1);
        e = &s->entries[j];
        memset(e, 0, sizeof(*e));
        e->producer_id = pid;
        e->epoch = epoch;
        s->count++;
    }
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->nbatches = 0;
    }
    if (e->nbatches == PRODUCER_STATE_BATCHES) {
        memmove(&e->batches[0], &e->batches[1], sizeof(e->batches[0]) * (PRODUCER_STATE_BATCHES - 1));
        e->nbatches--;
    }
    e->batches[e->nbatches++] = (producer_batch_t){first_seq, last_seq, base_offset};
    e->last_used_ms = now_ms;
    return 0;
}

/* The file holds the first id of the next unreserved block, as decimal text. */
static int write_block_end(producer_ids_t *ids, int64_t end, sb_err_t *err)
{
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ids->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return sb_err_set(err, SB_EIO, "open %s: %s", tmp, strerror(errno));
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64 "\n", end);
    if (write(fd, buf, (size_t)n) != n || fdatasync(fd) < 0) {
        int e = errno;
        close(fd);
        return sb_err_set(err, SB_EIO, "write %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, ids->path) < 0) return sb_err_set(err, SB_EIO, "rename %s: %s", tmp, strerror(errno));
    ids->block_end = end;
    return 0;
}

int producer_ids_open(producer_ids_t *ids, const char *data_dir, sb_err_t *err)
{
    memset(ids, 0, sizeof(*ids));
    snprintf(ids->path, sizeof(ids->path), "%s/.producer_ids", data_dir);
    FILE *f = fopen(ids->path, "r");
    int64_t start = 1000; /* small ids are easy to confuse with counters in logs */
    if (f) {
        long long v;
        if (fscanf(f, "%lld", &v) == 1 && v > 0) start = v;
        fclose(f);
    }
    ids->next = start;
    ids->block_end = start; /* nothing reserved yet in this run */
    return 0;
    (void)err;
}

int producer_ids_next(producer_ids_t *ids, int64_t *out, sb_err_t *err)
{
    if (ids->next >= ids->block_end) {
        int rc = write_block_end(ids, ids->next + PID_BLOCK, err);
        if (rc < 0) return rc;
    }
    *out = ids->next++;
    return 0;
}

static int rebuild_cb(const kafka_batch_header_t *h, void *arg)
{
    producer_state_t *s = arg;
    if (h->producer_id >= 0 && h->base_sequence >= 0)
        producer_state_record(s, h->producer_id, h->producer_epoch, h->base_sequence,
                              h->base_sequence + h->last_offset_delta, h->base_offset, 0);
    return 0;
}

void producer_state_rebuild(producer_state_t *s, struct plog *log)
{
    /* A producer retrying across a crash retries batches it sent in the last moments before
     * it, so those are in the log's tail; but that tail interleaves every producer's batches,
     * so it must be read whole, not just its last batch (which knows one producer). The window
     * bounds start-up work per partition. */
    sb_err_t err = {0};
    if (plog_end_offset(log) > plog_start_offset(log) &&
        plog_scan_headers(log, plog_tail_offset(log, PRODUCER_STATE_REBUILD_BYTES), rebuild_cb, s, &err) != 0)
        sb_warn("produce", "rebuilding idempotent-producer state: %s", err.msg);
}
