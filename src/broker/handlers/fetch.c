/* Fetch (v0–v11) with long polling. A fetch that finds fewer than min_bytes waits (its
 * response slot stays open) until an append makes enough data available or max_wait_ms runs
 * out. Record bytes are never copied: each partition's data is a file range that the sender
 * emits with sendfile(2). No fetch sessions: session_id 0 tells clients to send full requests. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "broker/metrics_broker.h"
#include "common/clock.h"
#include "common/log.h"
#include "kafka/protocol.h"

typedef struct fetch_part {
    int32_t index;
    int64_t fetch_offset;
    int32_t max_bytes;
} fetch_part_t;

typedef struct fetch_topic {
    char *name;
    int32_t nparts;
    fetch_part_t *parts;
    bool denied; /* no READ on the topic: every partition answers TOPIC_AUTHORIZATION_FAILED */
} fetch_topic_t;

struct fetch_waiter {
    kslot_t *slot;
    int16_t version;
    int32_t min_bytes;
    int32_t max_bytes;
    int64_t deadline_ms;
    int32_t ntopics;
    fetch_topic_t *topics;
    fetch_waiter_t *next;
};

static void fetch_free(fetch_waiter_t *f)
{
    for (int32_t i = 0; i < f->ntopics; i++) {
        free(f->topics[i].name);
        free(f->topics[i].parts);
    }
    free(f->topics);
    free(f);
}

/* Writes the response body into w. Returns the number of record bytes included; *any_error is
 * set when some partition carries an error code (Kafka answers such a fetch at once). */
static size_t fetch_build(broker_t *b, fetch_waiter_t *f, sb_wr_t *w, bool *any_error)
{
    int16_t v = f->version;
    size_t total = 0;
    int64_t remaining = f->max_bytes > 0 ? f->max_bytes : INT32_MAX;
    if (v >= 1) sb_wr_i32(w, 0); /* throttle_time_ms */
    if (v >= 7) {
        sb_wr_i16(w, KAFKA_ERR_NONE);
        sb_wr_i32(w, 0); /* session_id: no session */
    }
    sb_wr_array(w, false, f->ntopics);
    for (int32_t i = 0; i < f->ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        topic_t *t = broker_topic_find(b, ft->name, (int32_t)strlen(ft->name));
        sb_wr_str(w, false, ft->name);
        sb_wr_array(w, false, ft->nparts);
        for (int32_t j = 0; j < ft->nparts; j++) {
            fetch_part_t *fp = &ft->parts[j];
            partition_t *p = t ? topic_partition(t, fp->index) : NULL;
            int16_t err = KAFKA_ERR_NONE;
            int64_t hw = -1, lso = -1, start = -1;
            plog_slice_t sl = {.fd = -1, .len = 0};
            if (ft->denied) {
                err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
                *any_error = true;
            } else if (!p) {
                err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else {
                hw = lso = plog_end_offset(p->log);
                start = plog_start_offset(p->log);
                if (fp->fetch_offset < start || fp->fetch_offset > hw) {
                    err = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
                } else if (fp->fetch_offset < hw && remaining > 0) {
                    size_t limit = (size_t)(fp->max_bytes < remaining ? fp->max_bytes : remaining);
                    sb_err_t e = {0};
                    if (plog_read(p->log, fp->fetch_offset, limit ? limit : 1, &sl, &e) < 0) {
                        sb_warn("fetch", "read %s-%d at %lld: %s", ft->name, fp->index, (long long)fp->fetch_offset,
                                e.msg);
                        err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                        sl.len = 0;
                        sl.fd = -1;
                    } else if (total > 0 && (int64_t)sl.len > remaining) {
                        /* Only the first batch of the response may exceed the limits (KIP-74). */
                        if (sl.fd >= 0) close(sl.fd);
                        sl.fd = -1;
                        sl.len = 0;
                    }
                }
            }
            if (err) {
                /* Kafka reports no offsets with a partition error. */
                hw = lso = start = -1;
                *any_error = true;
            }
            sb_wr_i32(w, fp->index);
            sb_wr_i16(w, err);
            sb_wr_i64(w, hw);
            if (v >= 4) sb_wr_i64(w, lso);
            if (v >= 5) sb_wr_i64(w, start);
            if (v >= 4) sb_wr_array(w, false, 0); /* aborted_transactions */
            if (v >= 11) sb_wr_i32(w, -1);        /* preferred_read_replica */
            if (sl.len > 0) {
                sb_wr_i32(w, (int32_t)sl.len);
                sb_wr_splice(w, sl.fd, sl.pos, sl.len);
                total += sl.len;
                remaining -= (int64_t)sl.len;
                atomic_fetch_add_explicit(&p->bytes_out, sl.len, memory_order_relaxed);
                /* Records before the fetch offset in the first batch are skipped by the client. */
                if (sl.next_offset > fp->fetch_offset)
                    atomic_fetch_add_explicit(&p->messages_out, (uint64_t)(sl.next_offset - fp->fetch_offset),
                                              memory_order_relaxed);
            } else {
                if (sl.fd >= 0) close(sl.fd);
                /* Empty records, never null, even with an error: librdkafka rejects a null
                 * MessageSet ("invalid MessageSetSize -1") together with the whole response, so
                 * it would never see OFFSET_OUT_OF_RANGE and never apply auto.offset.reset. */
                sb_wr_i32(w, 0);
            }
        }
    }
    return total;
}

/* Tries to answer a fetch: builds the response and completes the slot if it has enough data
 * or `force` is set. Returns true when the fetch is finished. */
static bool fetch_try_answer(broker_t *b, fetch_waiter_t *f, bool force)
{
    if (kslot_orphaned(f->slot)) {
        kslot_complete(b, f->slot);
        return true;
    }
    sb_wr_t *w = kslot_writer(f->slot);
    size_t mark = w->len;
    bool any_error = false;
    size_t got = fetch_build(b, f, w, &any_error);
    if (!force && !any_error && got < (size_t)(f->min_bytes > 0 ? f->min_bytes : 1)) {
        sb_wr_truncate(w, mark);
        return false;
    }
    kslot_complete(b, f->slot);
    return true;
}

int handle_Fetch(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    sb_rd_i32(rd); /* replica_id */
    int32_t max_wait = sb_rd_i32(rd);
    int32_t min_bytes = sb_rd_i32(rd);
    int32_t max_bytes = v >= 3 ? sb_rd_i32(rd) : INT32_MAX;
    if (v >= 4) sb_rd_i8(rd); /* isolation_level: no transactions, so both levels read the same */
    if (v >= 7) {
        sb_rd_i32(rd); /* session_id */
        sb_rd_i32(rd); /* session_epoch */
    }
    int32_t ntopics = sb_rd_array(rd, false, 6);
    if (!sb_rd_ok(rd) || ntopics < 0) return -1;
    fetch_waiter_t *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    f->version = v;
    f->min_bytes = min_bytes;
    f->max_bytes = max_bytes;
    f->topics = calloc((size_t)(ntopics ? ntopics : 1), sizeof(*f->topics));
    if (!f->topics) goto malformed;
    for (int32_t i = 0; i < ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        f->ntopics = i + 1;
        sb_slice_t name = sb_rd_string(rd);
        int32_t nparts = sb_rd_array(rd, false, 16);
        if (!sb_rd_ok(rd) || name.len < 0 || nparts < 0) goto malformed;
        ft->name = strndup((const char *)name.p, (size_t)name.len);
        ft->parts = calloc((size_t)(nparts ? nparts : 1), sizeof(*ft->parts));
        if (!ft->name || !ft->parts) goto malformed;
        ft->nparts = nparts;
        ft->denied = !broker_authorize_topic(b, req, ACL_OP_READ, name);
        for (int32_t j = 0; j < nparts; j++) {
            fetch_part_t *fp = &ft->parts[j];
            fp->index = sb_rd_i32(rd);
            if (v >= 9) sb_rd_i32(rd); /* current_leader_epoch */
            fp->fetch_offset = sb_rd_i64(rd);
            if (v >= 5) sb_rd_i64(rd); /* log_start_offset (followers only) */
            fp->max_bytes = sb_rd_i32(rd);
            if (fp->max_bytes < 0) fp->max_bytes = 0;
        }
    }
    if (v >= 7) {
        int32_t nforgotten = sb_rd_array(rd, false, 6);
        for (int32_t i = 0; i < nforgotten && sb_rd_ok(rd); i++) {
            sb_rd_string(rd);
            int32_t n = sb_rd_array(rd, false, 4);
            for (int32_t j = 0; j < n && sb_rd_ok(rd); j++) sb_rd_i32(rd);
        }
    }
    if (v >= 11) sb_rd_string(rd); /* rack_id */
    if (!sb_rd_ok(rd)) goto malformed;

    f->slot = req->slot;
    size_t mark = resp->len;
    bool any_error = false;
    size_t got = fetch_build(b, f, resp, &any_error);
    if (got >= (size_t)(min_bytes > 0 ? min_bytes : 1) || max_wait <= 0 || any_error) {
        fetch_free(f);
        return KAFKA_HANDLER_DONE;
    }
    sb_wr_truncate(resp, mark);
    f->deadline_ms = sb_mono_ms() + max_wait;
    f->next = b->fetch_waiters;
    b->fetch_waiters = f;
    return KAFKA_HANDLER_DEFERRED;

malformed:
    fetch_free(f);
    return -1;
}

void fetch_waiters_poll(broker_t *b, int64_t now_ms, bool data_arrived)
{
    fetch_waiter_t **pp = &b->fetch_waiters;
    while (*pp) {
        fetch_waiter_t *f = *pp;
        bool expired = now_ms >= f->deadline_ms;
        bool finished = false;
        if (kslot_orphaned(f->slot) || data_arrived || expired) finished = fetch_try_answer(b, f, expired);
        if (finished) {
            *pp = f->next;
            fetch_free(f);
        } else {
            pp = &f->next;
        }
    }
}

int64_t fetch_waiters_next_deadline(broker_t *b)
{
    int64_t dl = -1;
    for (fetch_waiter_t *f = b->fetch_waiters; f; f = f->next)
        if (dl < 0 || f->deadline_ms < dl) dl = f->deadline_ms;
    return dl;
}

void fetch_waiters_free_all(broker_t *b)
{
    while (b->fetch_waiters) {
        fetch_waiter_t *f = b->fetch_waiters;
        b->fetch_waiters = f->next;
        kslot_complete(b, f->slot);
        fetch_free(f);
    }
}
