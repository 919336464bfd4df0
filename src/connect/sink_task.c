/* The task thread of a sink connector: consumes with auto-commit off, seeks to the positions
 * the sink stored in its target, applies transforms and puts batches; retries transient
 * failures with backoff, isolates poison records and sends them to the DLQ.
 *
 * Everything runs on the task thread, including the rebalance callback (served by
 * rd_kafka_consumer_poll). */
#include <librdkafka/rdkafka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "connect/dlq.h"
#include "connect/worker_int.h"

#define STATUS_REFRESH_MS 1000
/* Each broker query of the lag refresh waits at most this long: the refresh runs on the task
 * thread, also while a put retries. */
#define LAG_QUERY_TIMEOUT_MS 500

/* One consumed record after transforms: rec is what the sink sees, msg the original. */
typedef struct sink_item {
    connect_record_t rec;
    connect_transformed_t tr;
    rd_kafka_message_t *msg;
    enum { ITEM_KEPT, ITEM_FILTERED, ITEM_FAILED } fate;
    char *error; /* ITEM_FAILED: why the transform refused it */
} sink_item_t;

/* Up to batch.size consumed records; after transforms and compaction, items[0..kept) are the
 * records the sink applies. */
typedef struct sink_batch {
    sink_item_t *items;
    int n, kept;
    int failed;             /* records a transform could not handle */
    connect_record_t *recs; /* the kept records as put_begin takes them */
} sink_batch_t;

struct sink_ctx {
    connector_t *c;
    rd_kafka_t *rk;
    void *state;
    void *dlq_producer;
    /* The batch the sink is applying while the next one is polled (put_begin/put_end); its
     * n is 0 when none is. */
    sink_batch_t in_flight;
    connect_record_t *recs; /* batch.size slots: the contiguous array apply_range puts */
    char failure[1024]; /* set when the task must fail */
    /* For the lag: the next offset not yet applied (or skipped) per partition, from the
     * positions stored in the target and then every applied batch. It does not depend on
     * the consumer, which is paused, unassigned or ahead of the target at times. */
    sink_position_t *applied;
    int napplied, capplied;
    char **topics;   /* the subscription: a list of topic names, or */
    bool has_regex;  /* topics.regex */
    regex_t topic_rx;
    int64_t next_status; /* monotonic ms of the next status refresh */
};

const char *sink_name(sink_ctx_t *ctx)
{
    return ctx->c->name;
}

typedef enum { APPLY_OK = 0, APPLY_STOPPED = 1, APPLY_FAILED = 2 } apply_result_t;

static void status_tick(sink_ctx_t *s);

static bool must_wait(sink_ctx_t *s)
{
    return atomic_load(&s->c->stop) || atomic_load(&s->c->paused);
}

/* Waits while paused; returns true if the task must stop. */
static bool wait_unpaused(sink_ctx_t *s)
{
    connector_t *c = s->c;
    while (atomic_load(&c->paused) && !atomic_load(&c->stop)) {
        connector_set_state(c, CONN_PAUSED, NULL);
        status_tick(s);
        /* No consumer poll here: it could hand out records of partitions that are not
         * paused, which would then be lost to this batch. max.poll.interval.ms is long. */
        connector_sleep(c, 100);
    }
    return atomic_load(&c->stop);
}

static sink_position_t *applied_find(sink_ctx_t *s, const char *topic, int32_t partition)
{
    for (int i = 0; i < s->napplied; i++)
        if (s->applied[i].partition == partition && strcmp(s->applied[i].topic, topic) == 0) return &s->applied[i];
    return NULL;
}

/* Notes that every offset before next_offset is applied; with `overwrite` it also moves back
 * (positions read from the target are the truth, e.g. after a restore). */
static void applied_note(sink_ctx_t *s, const char *topic, int32_t partition, int64_t next_offset, bool overwrite)
{
    sink_position_t *p = applied_find(s, topic, partition);
    if (!p) {
        if (s->napplied == s->capplied) {
            int cap = s->capplied ? s->capplied * 2 : 16;
            sink_position_t *np = realloc(s->applied, (size_t)cap * sizeof(*np));
            if (!np) return;
            s->applied = np;
            s->capplied = cap;
        }
        p = &s->applied[s->napplied++];
        snprintf(p->topic, sizeof(p->topic), "%s", topic);
        p->partition = partition;
        p->next_offset = next_offset;
        return;
    }
    if (overwrite || next_offset > p->next_offset) p->next_offset = next_offset;
}

static bool subscribed(const sink_ctx_t *s, const char *topic)
{
    if (s->has_regex) return regexec(&s->topic_rx, topic, 0, NULL, 0) == 0;
    for (char **t = s->topics; t && *t; t++)
        if (strcmp(*t, topic) == 0) return true;
    return false;
}

/* The sink's lag: over every partition of the subscribed topics, the high watermark (asked of
 * the broker, not librdkafka's cache, which only moves while fetching) minus the next offset
 * the sink has not applied (the low watermark when it has applied nothing there). Returns
 * false when the broker did not answer; *lag is then untouched. */
static bool compute_lag(sink_ctx_t *s, int64_t *lag, int *npartitions)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(s->rk, 1, NULL, &md, LAG_QUERY_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    int64_t total = 0;
    int nparts = 0;
    bool ok = true;
    for (int t = 0; ok && t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (mt->err || !subscribed(s, mt->topic)) continue;
        for (int p = 0; p < mt->partition_cnt; p++) {
            int64_t lo = 0, hi = 0;
            int32_t part = mt->partitions[p].id;
            if (rd_kafka_query_watermark_offsets(s->rk, mt->topic, part, &lo, &hi, LAG_QUERY_TIMEOUT_MS) !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
                ok = false;
                break;
            }
            const sink_position_t *a = applied_find(s, mt->topic, part);
            int64_t next = a && a->next_offset > lo ? a->next_offset : lo;
            if (hi > next) total += hi - next;
            nparts++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (ok) {
        *lag = total;
        *npartitions = nparts;
    }
    return ok;
}

static void refresh_status(sink_ctx_t *s);

/* Refreshes the status when it is due; called from the main loop and from every loop that
 * waits (retrying puts, paused, loading positions), so that lag and health stay current while
 * nothing is applied. */
static void status_tick(sink_ctx_t *s)
{
    if (sb_mono_ms() < s->next_status) return;
    refresh_status(s);
    s->next_status = sb_mono_ms() + STATUS_REFRESH_MS;
}

/* Calls put until it succeeds or fails for a reason other than a transient one. Returns 0,
 * 1 = stopped, or -1 with cerr (RECORD or FATAL). */
static int put_retrying(sink_ctx_t *s, connect_record_t *recs, int n, connect_err_t *cerr)
{
    connector_t *c = s->c;
    for (int attempt = 0;; attempt++) {
        if (must_wait(s) && wait_unpaused(s)) return 1;
        memset(cerr, 0, sizeof(*cerr));
        cerr->index = -1;
        if (c->kops->put(s->state, recs, n, cerr) == 0) {
            connector_db_up(c);
            if (attempt > 0) connector_set_state(c, CONN_RUNNING, NULL);
            return 0;
        }
        if (cerr->cls != CONNECT_ERR_TRANSIENT) {
            /* A record error is an answer from the database, so it is reachable. */
            if (cerr->cls == CONNECT_ERR_RECORD) connector_db_up(c);
            return -1;
        }
        connector_db_down(c, cerr->msg);
        if (c->m.err_transient) metrics_counter_inc(c->m.err_transient);
        if (c->m.retries) metrics_counter_inc(c->m.retries);
        /* Still RUNNING: the task is healthy, the target is not. The trace says why nothing
         * moves. */
        char trace[700];
        snprintf(trace, sizeof(trace), "retrying (attempt %d): %s", attempt + 1, cerr->msg);
        connector_set_state(c, CONN_RUNNING, trace);
        if (attempt == 0) sb_warn("connect", "connector %s: %s", c->name, trace);
        status_tick(s);
        if (connector_sleep(c, connect_backoff_ms(attempt))) return 1;
    }
}

static int skip_retrying(sink_ctx_t *s, connect_record_t *rec)
{
    for (int attempt = 0;; attempt++) {
        connect_err_t cerr = {.index = -1};
        if (!s->c->kops->skip || s->c->kops->skip(s->state, rec, &cerr) == 0) return 0;
        if (cerr.cls == CONNECT_ERR_TRANSIENT) connector_db_down(s->c, cerr.msg);
        if (cerr.cls != CONNECT_ERR_TRANSIENT) {
            snprintf(s->failure, sizeof(s->failure), "recording a skipped record failed: %s", cerr.msg);
            return -1;
        }
        if (connector_sleep(s->c, connect_backoff_ms(attempt))) return 1;
    }
}

/* Sends item to the DLQ (retrying until the broker has it) and tells the sink to skip it. */
static apply_result_t dead_letter(sink_ctx_t *s, sink_item_t *it, const char *cls, const char *msg, int retries,
                                  int64_t first_ms)
{
    connector_t *c = s->c;
    if (!c->tolerate_all) {
        snprintf(s->failure, sizeof(s->failure), "record %s[%d]@%lld failed (errors.tolerance=none): %s",
                 it->rec.topic, (int)it->msg->partition, (long long)it->msg->offset, msg);
        return APPLY_FAILED;
    }
    dlq_failure_t f = {c->name, cls, msg, retries, first_ms, sb_now_ms()};
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_message_headers(it->msg, &hdrs);
    for (int attempt = 0;; attempt++) {
        sb_err_t err = {0};
        if (dlq_send(&s->dlq_producer, c->w->o.bootstrap, c->dlq_topic, rd_kafka_topic_name(it->msg->rkt),
                     it->msg->partition, it->msg->offset, it->msg->key, it->msg->key ? (int32_t)it->msg->key_len : -1,
                     it->msg->payload, it->msg->payload ? (int32_t)it->msg->len : -1, hdrs, &f, &err) == 0)
            break;
        sb_warn("connect", "connector %s: DLQ write failed: %s", c->name, err.msg);
        if (connector_sleep(c, connect_backoff_ms(attempt))) return APPLY_STOPPED;
    }
    sb_warn("connect", "connector %s: record %s[%d]@%lld sent to %s: %s", c->name, rd_kafka_topic_name(it->msg->rkt),
            (int)it->msg->partition, (long long)it->msg->offset, c->dlq_topic, msg);
    if (c->m.dlq) metrics_counter_inc(c->m.dlq);
    int rc = skip_retrying(s, &it->rec);
    return rc == 0 ? APPLY_OK : rc > 0 ? APPLY_STOPPED : APPLY_FAILED;
}

static void count_applied(sink_ctx_t *s, sink_item_t *items, int n)
{
    connector_t *c = s->c;
    int64_t now = sb_now_ms();
    for (int i = 0; i < n; i++) connector_metrics_event(c, items[i].rec.value.p, items[i].rec.value.len, now, true);
    if (c->m.records) metrics_counter_add(c->m.records, (uint64_t)n);
    if (c->m.batch_size) metrics_histogram_observe(c->m.batch_size, n);
}

/* Puts one record on its own, up to retry_max times for record errors. */
static apply_result_t apply_one(sink_ctx_t *s, sink_item_t *it)
{
    connector_t *c = s->c;
    int64_t first = sb_now_ms();
    connect_err_t cerr;
    int tries = 0;
    for (;;) {
        int rc = put_retrying(s, &it->rec, 1, &cerr);
        if (rc == 0) {
            count_applied(s, it, 1);
            return APPLY_OK;
        }
        if (rc > 0) return APPLY_STOPPED;
        if (cerr.cls == CONNECT_ERR_FATAL) {
            if (c->m.err_fatal) metrics_counter_inc(c->m.err_fatal);
            snprintf(s->failure, sizeof(s->failure), "%s", cerr.msg);
            return APPLY_FAILED;
        }
        if (c->m.err_record) metrics_counter_inc(c->m.err_record);
        tries++;
        if (tries > c->retry_max) return dead_letter(s, it, "record", cerr.msg, tries, first);
        if (c->m.retries) metrics_counter_inc(c->m.retries);
        if (connector_sleep(c, 100LL * tries)) return APPLY_STOPPED;
    }
}

/* Applies items[0..n) in order: as one batch while that works, splitting around a record the
 * sink reports as bad (or record by record when it cannot say which). */
static apply_result_t apply_range(sink_ctx_t *s, sink_item_t *items, int n)
{
    connector_t *c = s->c;
    if (n <= 0) return APPLY_OK;
    /* put() takes a contiguous array of records; the splits below refill it after put. */
    for (int i = 0; i < n; i++) s->recs[i] = items[i].rec;
    connect_err_t cerr;
    int rc = put_retrying(s, s->recs, n, &cerr);
    if (rc == 0) {
        count_applied(s, items, n);
        return APPLY_OK;
    }
    if (rc > 0) return APPLY_STOPPED;
    if (cerr.cls == CONNECT_ERR_FATAL) {
        if (c->m.err_fatal) metrics_counter_inc(c->m.err_fatal);
        snprintf(s->failure, sizeof(s->failure), "%s", cerr.msg);
        return APPLY_FAILED;
    }
    if (n == 1) return apply_one(s, &items[0]);
    int bad = cerr.index;
    if (bad >= 0 && bad < n) {
        apply_result_t r = apply_range(s, items, bad);
        if (r == APPLY_OK) r = apply_one(s, &items[bad]);
        if (r == APPLY_OK) r = apply_range(s, items + bad + 1, n - bad - 1);
        return r;
    }
    for (int i = 0; i < n; i++) {
        apply_result_t r = apply_one(s, &items[i]);
        if (r != APPLY_OK) return r;
    }
    return APPLY_OK;
}

static connect_record_t record_of(const rd_kafka_message_t *m)
{
    connect_record_t r = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .key = {m->key, m->key ? (int32_t)m->key_len : -1},
        .value = {m->payload, m->payload ? (int32_t)m->len : -1},
    };
    rd_kafka_timestamp_type_t tstype;
    r.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    return r;
}

/* Runs the transforms over every record of a polled batch and notes each one's fate.
 * Returns how many records a transform could not handle. */
static int transform_batch(sink_ctx_t *s, sink_batch_t *b)
{
    connector_t *c = s->c;
    int failed = 0;
    for (int i = 0; i < b->n; i++) {
        sink_item_t *it = &b->items[i];
        connect_record_t in = record_of(it->msg);
        sb_err_t err = {0};
        int rc = connect_transforms_apply(c->transforms, &in, &it->tr, &err);
        if (rc == 1) {
            it->tr.rec.partition = in.partition;
            it->tr.rec.offset = in.offset;
            it->rec = it->tr.rec;
            it->fate = ITEM_KEPT;
        } else if (rc == 0) {
            it->fate = ITEM_FILTERED;
        } else {
            it->fate = ITEM_FAILED;
            it->error = strdup(err.msg[0] ? err.msg : "transform failed");
            if (c->m.err_transform) metrics_counter_inc(c->m.err_transform);
            failed++;
        }
    }
    return failed;
}

/* Moves the kept records to the front, keeping their order; returns how many there are. */
static int compact_kept(sink_batch_t *b)
{
    int kept = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->items[i].fate != ITEM_KEPT) continue;
        if (kept != i) {
            /* Whole items move: rec may point into tr's buffers, which move with it. */
            sink_item_t tmp = b->items[kept];
            b->items[kept] = b->items[i];
            b->items[i] = tmp;
        }
        kept++;
    }
    return kept;
}

/* Applies a transformed batch and waits for it. Records that a transform could not handle go
 * to the DLQ in their place in the sequence, so the sink's stored positions only ever move
 * forward. */
static apply_result_t apply_batch(sink_ctx_t *s, sink_batch_t *b)
{
    int start = 0, kept = 0;
    for (int i = 0; i < b->n; i++) {
        sink_item_t *it = &b->items[i];
        if (it->fate == ITEM_FILTERED) continue;
        if (it->fate == ITEM_KEPT) {
            if (kept != i) {
                sink_item_t tmp = b->items[kept];
                b->items[kept] = *it;
                *it = tmp;
            }
            kept++;
            continue;
        }
        apply_result_t r = apply_range(s, b->items + start, kept - start);
        if (r == APPLY_OK) {
            it->rec = record_of(it->msg);
            r = dead_letter(s, it, "transform", it->error, 0, sb_now_ms());
        }
        if (r != APPLY_OK) return r;
        start = kept;
    }
    return apply_range(s, b->items + start, kept - start);
}

/* Frees what a batch holds and empties it for the next poll. */
static void batch_release(sink_batch_t *b)
{
    for (int i = 0; i < b->n; i++) {
        rd_kafka_message_destroy(b->items[i].msg);
        connect_transformed_deinit(&b->items[i].tr);
        free(b->items[i].error);
        memset(&b->items[i], 0, sizeof(b->items[i]));
    }
    b->n = 0;
    b->kept = 0;
    b->failed = 0;
}

static void commit_group_offsets(sink_ctx_t *s, sink_item_t *items, int n);

/* Ends a batch: on success the group's offsets follow (for lag display), and the records are
 * released either way. */
static apply_result_t batch_done(sink_ctx_t *s, sink_batch_t *b, apply_result_t r)
{
    connector_t *c = s->c;
    if (r == APPLY_OK) {
        for (int i = 0; i < b->n; i++)
            applied_note(s, rd_kafka_topic_name(b->items[i].msg->rkt), b->items[i].msg->partition,
                         b->items[i].msg->offset + 1, false);
        commit_group_offsets(s, b->items, b->n);
        connector_set_state(c, CONN_RUNNING, NULL);
    }
    batch_release(b);
    if (r == APPLY_STOPPED && !atomic_load(&c->stop)) {
        /* Stopped mid-batch only happens on stop; anything else would lose the batch, so
         * fail loudly rather than silently skip. */
        snprintf(s->failure, sizeof(s->failure), "batch abandoned");
    }
    return r;
}

/* Waits for the batch left in flight by put_begin, if any. When it failed, nothing of it was
 * applied: it goes through the ordinary put path, which retries, isolates a bad record and
 * dead-letters it. */
static apply_result_t finish_in_flight(sink_ctx_t *s)
{
    connector_t *c = s->c;
    sink_batch_t *b = &s->in_flight;
    if (b->n == 0) return APPLY_OK;
    connect_err_t cerr = {.index = -1};
    apply_result_t r;
    if (c->kops->put_end(s->state, &cerr) == 0) {
        connector_db_up(c);
        count_applied(s, b->items, b->kept);
        r = APPLY_OK;
    } else {
        if (cerr.cls == CONNECT_ERR_TRANSIENT && c->m.err_transient) metrics_counter_inc(c->m.err_transient);
        sb_warn("connect", "connector %s: batch of %d records failed, applying it again: %s", c->name, b->kept,
                cerr.msg);
        r = apply_range(s, b->items, b->kept);
    }
    return batch_done(s, b, r);
}

/* Transforms a polled batch. When the sink can pipeline and no transform failed, the kept
 * records are moved to the front and handed to prepare(), so that the sink parses them while
 * the batch before is still in flight. */
static void prepare_batch(sink_ctx_t *s, sink_batch_t *b)
{
    connector_t *c = s->c;
    b->failed = transform_batch(s, b);
    if (b->failed > 0 || !c->kops->put_begin) return;
    b->kept = compact_kept(b);
    for (int i = 0; i < b->kept; i++) b->recs[i] = b->items[i].rec;
    if (b->kept > 0 && c->kops->prepare) c->kops->prepare(s->state, b->recs, b->kept);
}

/* Applies a prepared batch. Without transform failures it goes to put_begin and is left in
 * flight (s->in_flight takes over its records); otherwise it is applied and released here. */
static apply_result_t submit_batch(sink_ctx_t *s, sink_batch_t *b)
{
    connector_t *c = s->c;
    if (b->failed > 0 || !c->kops->put_begin) return batch_done(s, b, apply_batch(s, b));
    if (b->kept == 0) return batch_done(s, b, APPLY_OK);
    if (must_wait(s)) return batch_done(s, b, apply_range(s, b->items, b->kept));
    connect_err_t cerr = {.index = -1};
    if (c->kops->put_begin(s->state, b->recs, b->kept, &cerr) < 0)
        return batch_done(s, b, apply_range(s, b->items, b->kept));
    sink_batch_t t = s->in_flight;
    s->in_flight = *b;
    *b = t;
    return APPLY_OK;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sink_ctx_t *s = opaque;
    connector_t *c = s->c;
    /* The batch in flight belongs to the old assignment, and the positions read below must
     * include it; the sink's connection is also busy until it ends. */
    finish_in_flight(s);
    if (e != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, NULL);
        return;
    }
    sink_position_t *pos = NULL;
    int npos = 0;
    connect_err_t cerr = {.index = -1};
    /* The target is the truth for exactly-once: seek where it says, not to the group's
     * committed offsets (which are only written for lag display). */
    for (int attempt = 0; c->kops->load_positions(s->state, &pos, &npos, &cerr) < 0; attempt++) {
        if (cerr.cls == CONNECT_ERR_TRANSIENT) connector_db_down(c, cerr.msg);
        if (cerr.cls != CONNECT_ERR_TRANSIENT) {
            snprintf(s->failure, sizeof(s->failure), "loading positions: %s", cerr.msg);
            rd_kafka_assign(rk, NULL);
            return;
        }
        status_tick(s);
        if (connector_sleep(c, connect_backoff_ms(attempt))) {
            rd_kafka_assign(rk, NULL);
            return;
        }
    }
    connector_db_up(c);
    for (int k = 0; k < npos; k++) applied_note(s, pos[k].topic, pos[k].partition, pos[k].next_offset, true);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        p->offset = RD_KAFKA_OFFSET_BEGINNING;
        for (int k = 0; k < npos; k++)
            if (pos[k].partition == p->partition && strcmp(pos[k].topic, p->topic) == 0) p->offset = pos[k].next_offset;
    }
    free(pos);
    rd_kafka_assign(rk, parts);
    if (atomic_load(&c->paused)) rd_kafka_pause_partitions(rk, parts);
}

static rd_kafka_t *make_consumer(sink_ctx_t *s, sb_err_t *err)
{
    connector_t *c = s->c;
    char client_id[200], group[200];
    snprintf(client_id, sizeof(client_id), "connect-%s", c->name);
    snprintf(group, sizeof(group), "connect-%s", c->name);
    rd_kafka_conf_t *conf = connect_kafka_conf_new(c->w->o.bootstrap, client_id);
    /* A put can retry for a long time while the target is down; the consumer must not be
     * thrown out of its group for not polling meanwhile. */
    if (connect_kafka_conf_set(conf, "group.id", group, err) < 0 ||
        connect_kafka_conf_set(conf, "enable.auto.commit", "false", err) < 0 ||
        connect_kafka_conf_set(conf, "enable.auto.offset.store", "false", err) < 0 ||
        connect_kafka_conf_set(conf, "auto.offset.reset", "earliest", err) < 0 ||
        connect_kafka_conf_set(conf, "max.poll.interval.ms", "86400000", err) < 0 ||
        connect_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "5000", err) < 0 ||
        connect_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, s);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        sb_err_set(err, SB_EINVAL, "cannot create the consumer: %s", errstr);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(4);
    const char *re = json_string_value(json_object_get(c->config, "topics.regex"));
    if (re) {
        /* librdkafka treats a subscription starting with ^ as a regex. */
        char buf[600];
        snprintf(buf, sizeof(buf), "%s%s", re[0] == '^' ? "" : "^", re);
        rd_kafka_topic_partition_list_add(subs, buf, RD_KAFKA_PARTITION_UA);
        s->has_regex = regcomp(&s->topic_rx, buf, REG_EXTENDED | REG_NOSUB) == 0;
    } else {
        char *list = strdup(json_string_value(json_object_get(c->config, "topics")));
        char *save = NULL;
        int n = 0;
        for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            rd_kafka_topic_partition_list_add(subs, t, RD_KAFKA_PARTITION_UA);
            char **nt = realloc(s->topics, (size_t)(n + 2) * sizeof(*nt));
            if (!nt) break;
            s->topics = nt;
            s->topics[n++] = strdup(t);
            s->topics[n] = NULL;
        }
        free(list);
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        sb_err_set(err, SB_EINVAL, "subscribe failed: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

static void refresh_status(sink_ctx_t *s)
{
    connector_t *c = s->c;
    json_t *d = json_object();
    if (c->kops->status) c->kops->status(s->state, d);
    pthread_mutex_lock(&c->mu);
    bool db_down = c->db_health == DB_DOWN;
    /* The last lag stays when the broker does not answer, marked stale. */
    json_t *old_lag = json_object_get(c->details, "lag");
    int64_t lag = json_is_integer(old_lag) ? json_integer_value(old_lag) : 0;
    pthread_mutex_unlock(&c->mu);
    /* The connector's "connected" is its own view as of its last call; a put that just failed
     * to reach the database is fresher news. */
    if (db_down && json_object_get(d, "connected")) json_object_set_new(d, "connected", json_false());
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(s->rk, &asg) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        json_object_set_new(d, "assigned_partitions", json_integer(asg->cnt));
        rd_kafka_topic_partition_list_destroy(asg);
    }
    int nparts = 0;
    if (compute_lag(s, &lag, &nparts)) {
        if (c->m.lag) metrics_gauge_set(c->m.lag, lag);
    } else {
        json_object_set_new(d, "lag_stale", json_true());
    }
    json_object_set_new(d, "lag", json_integer(lag));
    pthread_mutex_lock(&c->mu);
    json_decref(c->details);
    c->details = d;
    pthread_mutex_unlock(&c->mu);
}

/* Commits the consumed offsets to the group, for `ctl group` lag and other tools; the sink's
 * own positions stay the truth. */
static void commit_group_offsets(sink_ctx_t *s, sink_item_t *items, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = items[i].msg;
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(m->rkt), m->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition);
        if (m->offset + 1 > p->offset) p->offset = m->offset + 1;
    }
    if (l->cnt > 0) rd_kafka_commit(s->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void pause_all(sink_ctx_t *s, bool pause)
{
    rd_kafka_topic_partition_list_t *asg = NULL;
    if (rd_kafka_assignment(s->rk, &asg) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (pause) rd_kafka_pause_partitions(s->rk, asg);
    else rd_kafka_resume_partitions(s->rk, asg);
    rd_kafka_topic_partition_list_destroy(asg);
}

void *sink_task_run(void *arg)
{
    connector_t *c = arg;
    sink_ctx_t s = {.c = c};
    sb_err_t err = {0};
    int attempt = 0;
    while (!atomic_load(&c->stop)) {
        connect_err_t cerr = {.index = -1};
        if (c->kops->start(&s, c->config, &s.state, &cerr) == 0) {
            connector_db_up(c);
            break;
        }
        s.state = NULL;
        if (cerr.cls == CONNECT_ERR_TRANSIENT) connector_db_down(c, cerr.msg);
        if (cerr.cls != CONNECT_ERR_TRANSIENT) {
            if (c->m.err_fatal) metrics_counter_inc(c->m.err_fatal);
            connector_set_state(c, CONN_FAILED, cerr.msg);
            return NULL;
        }
        if (c->m.err_transient) metrics_counter_inc(c->m.err_transient);
        connector_set_state(c, CONN_UNASSIGNED, cerr.msg);
        connector_sleep(c, connect_backoff_ms(attempt++));
    }
    if (!s.state) {
        connector_set_state(c, CONN_UNASSIGNED, NULL);
        return NULL;
    }
    /* Dead letters wait for an operator: the broker's default retention must not drop them. */
    if (c->tolerate_all) connect_store_create_kept_topic(c->w->store, c->dlq_topic);
    s.rk = make_consumer(&s, &err);
    if (!s.rk) {
        c->kops->stop(s.state);
        connector_set_state(c, CONN_FAILED, err.msg);
        return NULL;
    }
    {
        /* Seeds the lag before the group assigns anything (a rebalance can take a while after
         * an unclean stop); the rebalance reads the positions again. */
        sink_position_t *pos = NULL;
        int npos = 0;
        connect_err_t cerr = {.index = -1};
        if (c->kops->load_positions(s.state, &pos, &npos, &cerr) == 0) {
            connector_db_up(c);
            for (int k = 0; k < npos; k++) applied_note(&s, pos[k].topic, pos[k].partition, pos[k].next_offset, true);
        } else if (cerr.cls == CONNECT_ERR_TRANSIENT) {
            connector_db_down(c, cerr.msg);
        }
        free(pos);
    }
    size_t nb = (size_t)c->batch_size;
    sink_batch_t batch = {.items = calloc(nb, sizeof(sink_item_t)), .recs = calloc(nb, sizeof(connect_record_t))};
    s.in_flight.items = calloc(nb, sizeof(sink_item_t));
    s.in_flight.recs = calloc(nb, sizeof(connect_record_t));
    s.recs = calloc(nb, sizeof(connect_record_t));
    bool was_paused = false;
    while (!atomic_load(&c->stop) && !s.failure[0]) {
        bool paused = atomic_load(&c->paused);
        if (paused && finish_in_flight(&s) != APPLY_OK) break;
        if (paused != was_paused) {
            pause_all(&s, paused);
            was_paused = paused;
        }
        status_tick(&s);
        if (paused) {
            connector_set_state(c, CONN_PAUSED, NULL);
            rd_kafka_message_t *m = rd_kafka_consumer_poll(s.rk, 100);
            if (m) rd_kafka_message_destroy(m);
            continue;
        }
        /* A batch: up to batch.size records, waiting at most linger.ms after the first. The
         * sink may still be applying the previous batch meanwhile. */
        int64_t linger_end = 0;
        while (batch.n < c->batch_size && !atomic_load(&c->stop)) {
            int timeout = 100;
            if (batch.n > 0) {
                int64_t left = linger_end - sb_mono_ms();
                if (left <= 0) break;
                timeout = (int)left;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(s.rk, timeout);
            if (!m) {
                if (batch.n == 0) break;
                continue;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    sb_debug("connect", "connector %s: consumer: %s", c->name, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            if (batch.n == 0) linger_end = sb_mono_ms() + c->linger_ms;
            batch.items[batch.n++].msg = m;
        }
        if (batch.n > 0) prepare_batch(&s, &batch);
        if (finish_in_flight(&s) != APPLY_OK || s.failure[0]) break;
        if (batch.n == 0) {
            connector_set_state(c, CONN_RUNNING, NULL);
            continue;
        }
        if (submit_batch(&s, &batch) != APPLY_OK) break;
    }
    /* Whatever is in flight ends before the sink stops; a batch not applied is simply read
     * again on the next start, from the positions stored in the target. */
    finish_in_flight(&s);
    batch_release(&batch);
    if (s.failure[0]) connector_set_state(c, CONN_FAILED, s.failure);
    free(batch.items);
    free(batch.recs);
    free(s.in_flight.items);
    free(s.in_flight.recs);
    free(s.recs);
    rd_kafka_consumer_close(s.rk);
    rd_kafka_destroy(s.rk);
    free(s.applied);
    for (char **t = s.topics; t && *t; t++) free(*t);
    free(s.topics);
    if (s.has_regex) regfree(&s.topic_rx);
    dlq_producer_free(s.dlq_producer);
    c->kops->stop(s.state);
    if (!s.failure[0]) connector_set_state(c, CONN_UNASSIGNED, NULL);
    return NULL;
}
