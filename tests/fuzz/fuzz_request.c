/* Fuzz driver for Kafka request decoding: every input is one request frame (header + body,
 * without the 4-byte size) dispatched through the real broker — header parsing, the version
 * table and each handler's decoder — on a connection backed by a socketpair. The broker lives
 * in a temporary directory for the whole run. A malformed input must only close its own
 * connection. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/group/coordinator.h"
#include "broker/server.h"
#include "common/clock.h"
#include "common/log.h"

static broker_t *fuzz_b;
static char data_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    broker_free(fuzz_b);
    fuzz_b = NULL;
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static broker_t *fuzz_broker(void)
{
    if (fuzz_b) return fuzz_b;
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);
    snprintf(data_dir, sizeof(data_dir), "/tmp/streambus-fuzz-XXXXXX");
    if (!mkdtemp(data_dir)) abort();
    atexit(cleanup);
    broker_options_t o;
    broker_options_defaults(&o);
    o.listen_port = 0;
    snprintf(o.data_dir, sizeof(o.data_dir), "%s", data_dir);
    o.group_initial_rebalance_delay_ms = 0;
    o.segment_bytes = 1 << 20;
    /* Keep what one input can create small, so the run measures decoding, not disk space. */
    o.max_partitions_per_topic = 8;
    sb_err_t err = {0};
    if (broker_new(&o, NULL, &fuzz_b, &err) < 0) abort();
    return fuzz_b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    broker_t *b = fuzz_broker();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) return 0;
    conn_t *c = conn_adopt(b, fds[0], "127.0.0.1", "fuzz");
    if (!c) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    /* Produce assigns offsets in place, so the frame must be writable, as the read buffer is. */
    uint8_t *frame = malloc(size ? size : 1);
    memcpy(frame, data, size);
    broker_dispatch(b, c, frame, size);
    if (!net_conn_closed(c)) net_conn_close(c, NULL);
    group_coordinator_tick(b->groups, sb_mono_ms() + 3600 * 1000);
    broker_reap(b);
    free(frame);
    close(fds[1]);
    return 0;
}
