#ifndef STREAMBUS_BROKER_PRODUCER_STATE_H
#define STREAMBUS_BROKER_PRODUCER_STATE_H

/* Idempotent-producer bookkeeping, as Kafka does it: per partition and producer id, the epoch
 * and the last 5 appended batches' sequence ranges with their offsets. A retried batch that
 * matches one of them is a duplicate and is acknowledged with its original offset; a sequence
 * that skips ahead is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH.
 * The state is rebuilt on start-up from the batch headers of the log's last
 * PRODUCER_STATE_REBUILD_BYTES, so a producer retrying across a broker crash is still recognised:
 * what it retries was appended moments before the crash. A producer whose batches are all older
 * is unknown after a restart and starts afresh at whatever sequence it sends (as Kafka treats a
 * producer whose state expired). */

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define PRODUCER_STATE_BATCHES 5
#define PRODUCER_STATE_REBUILD_BYTES (64u << 20)

typedef struct producer_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
} producer_batch_t;

typedef struct producer_entry {
    int64_t producer_id;
    int16_t epoch;
    int nbatches;
    producer_batch_t batches[PRODUCER_STATE_BATCHES]; /* oldest first */
    int64_t last_used_ms;
} producer_entry_t;

typedef struct producer_state {
    producer_entry_t *entries; /* open-addressing table keyed by producer id */
    uint32_t cap;
    uint32_t count;
} producer_state_t;

void producer_state_init(producer_state_t *s);
void producer_state_deinit(producer_state_t *s);

typedef enum {
    PRODUCER_CHECK_APPEND = 0, /* new batch in sequence (or untracked producer): append it */
    PRODUCER_CHECK_DUPLICATE,  /* already appended: *dup_offset holds its base offset */
    PRODUCER_CHECK_OUT_OF_ORDER,
    PRODUCER_CHECK_FENCED, /* stale epoch */
} producer_check_t;

/* Decides what to do with a batch from (pid, epoch) whose sequences are first..last. */
producer_check_t producer_state_check(producer_state_t *s, int64_t pid, int16_t epoch, int32_t first_seq,
                                      int32_t last_seq, int64_t *dup_offset);
/* Records an appended batch. */
int producer_state_record(producer_state_t *s, int64_t pid, int16_t epoch, int32_t first_seq, int32_t last_seq,
                          int64_t base_offset, int64_t now_ms);

struct plog;
/* Rebuilds the state from the batch headers of the log's tail (start-up). */
void producer_state_rebuild(producer_state_t *s, struct plog *log);

/* Producer id allocation: ids come from blocks reserved durably in a file under data_dir, so an
 * id is never handed out twice, even across crashes. */
typedef struct producer_ids {
    char path[1100];
    int64_t next;
    int64_t block_end;
} producer_ids_t;

int producer_ids_open(producer_ids_t *ids, const char *data_dir, sb_err_t *err);
int producer_ids_next(producer_ids_t *ids, int64_t *out, sb_err_t *err);

#endif
