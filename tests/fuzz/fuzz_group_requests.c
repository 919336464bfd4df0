/* Fuzz driver for the eleven consumer-group APIs. An input is a sequence of frames
 *   [selector u8][version u8][body length u8][body bytes]
 * where the selector picks the API (selector % 11, plus a timer tick when selector >= 250) and
 * the version is taken modulo the API's supported range. Frames run in order against one
 * coordinator behind a fake broker (tests/unit/test_group_harness.h) with a real offsets log in
 * a temporary directory, so sequences such as join -> sync -> commit -> leave are reachable.
 * Nothing may crash, over-read or leak; handlers may reject a body (negative return). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test_group_harness.h"
#include "broker/group/group_codec.h"
#include "broker/log/plog.h"
#include "common/clock.h"
#include "kafka/protocol.h"

typedef struct api {
    int16_t key;
    kafka_handler_fn fn;
} api_t;

static const api_t apis[GROUP_API_COUNT] = {
    {KAFKA_API_FindCoordinator, handle_FindCoordinator}, {KAFKA_API_JoinGroup, handle_JoinGroup},
    {KAFKA_API_SyncGroup, handle_SyncGroup},             {KAFKA_API_Heartbeat, handle_Heartbeat},
    {KAFKA_API_LeaveGroup, handle_LeaveGroup},           {KAFKA_API_OffsetCommit, handle_OffsetCommit},
    {KAFKA_API_OffsetFetch, handle_OffsetFetch},         {KAFKA_API_DescribeGroups, handle_DescribeGroups},
    {KAFKA_API_ListGroups, handle_ListGroups},           {KAFKA_API_DeleteGroups, handle_DeleteGroups},
    {KAFKA_API_OffsetDelete, handle_OffsetDelete},
};

enum { MAX_SLOTS = 512 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/sb_fuzz_group_XXXXXX";
    if (!mkdtemp(dir)) return 0;
    broker_t *b = calloc(1, sizeof(*b));
    fake_broker_init(b);
    plog_config_t pc = {.segment_bytes = 1 << 20, .index_interval_bytes = 4096, .retention_ms = -1, .retention_bytes = -1};
    plog_t *log = NULL;
    group_config_t cfg;
    group_config_defaults(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    cfg.session_timeout_min_ms = 0;
    if (plog_open(dir, &pc, &log, NULL) != 0 || group_coordinator_new(b, log, &cfg, &b->gc, NULL) != 0) {
        plog_close(log);
        plog_remove_dir(dir, NULL);
        free(b);
        return 0;
    }
    kslot_t **slots = calloc(MAX_SLOTS, sizeof(*slots));
    int *rcs = calloc(MAX_SLOTS, sizeof(*rcs));
    int nslots = 0;
    int64_t now = sb_mono_ms();
    size_t pos = 0;
    while (pos + 3 <= size && nslots < MAX_SLOTS) {
        uint8_t sel = data[pos], ver = data[pos + 1], len = data[pos + 2];
        pos += 3;
        if (len > size - pos) len = (uint8_t)(size - pos);
        if (sel >= 250) {
            /* Move time forward by up to ~4 minutes so session and rebalance timers fire. */
            now += (int64_t)ver * 1000;
            group_coordinator_tick(b->gc, now);
        } else {
            const api_t *api = &apis[sel % GROUP_API_COUNT];
            int16_t v = (int16_t)(ver % (group_api_max_version(api->key) + 1));
            sb_wr_t body;
            sb_wr_init(&body, len ? len : 1);
            sb_wr_bytes(&body, data + pos, len);
            int rc;
            slots[nslots] = fake_call(b, api->fn, api->key, v, "fuzz", &body, &rc);
            rcs[nslots++] = rc;
            sb_wr_deinit(&body);
            if (rc == KAFKA_HANDLER_DEFERRED && (sel & 0x40)) slots[nslots - 1]->orphaned = true;
        }
        pos += len;
        fake_run_durable(b);
    }
    fake_run_durable(b);
    group_coordinator_free(b->gc);
    b->gc = NULL;
    /* Every accepted request must have been answered by now; a rejected one (negative return:
     * the connection is closed) must not have been. */
    for (int i = 0; i < nslots; i++) {
        if (slots[i]->completed != (rcs[i] >= 0)) abort();
        fake_slot_free(slots[i]);
    }
    free(slots);
    free(rcs);
    plog_close(log);
    plog_remove_dir(dir, NULL);
    free(b);
    return 0;
}
