/* The task thread of a source connector: polls the connector, runs the connector's transform
 * chain on each record, produces the result with an idempotent producer, and commits a
 * position only once every record up to it is acknowledged by the broker and the position
 * itself is stored in the offsets topic.
 *
 * Everything here runs on the task thread, including librdkafka's delivery reports (served
 * by rd_kafka_poll from this thread). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "connect/worker_int.h"

/* Records in flight before source_emit blocks; bounds memory when the broker is slow. */
#define SOURCE_MAX_IN_FLIGHT 200000
#define STATUS_REFRESH_MS 1000

typedef struct inflight {
    char *position; /* NULL for records that carry none */
    bool acked;
} inflight_t;

struct source_ctx {
    connector_t *c;
    rd_kafka_t *rk;
    /* Ring of records in emit order; entry seq lives at ring[seq % cap]. */
    inflight_t *ring;
    uint64_t cap, head_seq, next_seq;
    char *acked_position;   /* highest position whose records are all acked */
    char *written_position; /* last position sent to the offsets topic */
    char *pending_commit;   /* stored in the offsets topic, waiting for ops->commit */
    char *committed;        /* for source_committed_position */
    bool offsets_write_in_flight;
    char failure[512]; /* a record that could not be delivered or transformed fails the task */
    connect_transformed_t tr; /* the last record's transform result; its buffers are reused */
};

const char *source_name(source_ctx_t *ctx)
{
    return ctx->c->name;
}

const char *source_committed_position(source_ctx_t *ctx)
{
    return ctx->committed;
}

static void ring_grow(source_ctx_t *s)
{
    uint64_t ncap = s->cap ? s->cap * 2 : 1024;
    inflight_t *n = calloc(ncap, sizeof(*n));
    for (uint64_t q = s->head_seq; q < s->next_seq; q++) n[q % ncap] = s->ring[q % s->cap];
    free(s->ring);
    s->ring = n;
    s->cap = ncap;
}

static void replace(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

/* Positions are committed in emit order: a later record acked before an earlier one (another
 * partition) waits until the earlier one is acked too. */
static void advance_acked(source_ctx_t *s)
{
    while (s->head_seq < s->next_seq && s->ring[s->head_seq % s->cap].acked) {
        inflight_t *e = &s->ring[s->head_seq % s->cap];
        if (e->position) replace(&s->acked_position, e->position);
        e->position = NULL;
        e->acked = false;
        s->head_seq++;
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    source_ctx_t *s = opaque;
    connector_t *c = s->c;
    if (strcmp(rd_kafka_topic_name(m->rkt), c->w->o.offsets_topic) == 0) {
        s->offsets_write_in_flight = false;
        char *pos = m->_private;
        if (m->err) {
            /* Not fatal: the next write of a later position covers this one. */
            sb_warn("connect", "connector %s: storing position failed: %s", c->name, rd_kafka_err2str(m->err));
            free(pos);
            replace(&s->written_position, NULL);
        } else {
            replace(&s->pending_commit, pos);
        }
        return;
    }
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        snprintf(s->failure, sizeof(s->failure), "delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
        return;
    }
    if (seq < s->head_seq || seq >= s->next_seq) return;
    s->ring[seq % s->cap].acked = true;
    advance_acked(s);
    if (c->m.records) metrics_counter_inc(c->m.records);
}

/* A record a transform cannot handle fails the task rather than being produced unchanged:
 * the chain usually masks or hashes personal data, and an unmasked copy in a topic cannot be
 * taken back. Sources build their own events, so this means a bug, not a poison record, and
 * there is no DLQ on this side. */
int source_emit(source_ctx_t *s, const connect_record_t *in, const char *position)
{
    connector_t *c = s->c;
    while (s->next_seq - s->head_seq >= SOURCE_MAX_IN_FLIGHT) {
        if (atomic_load(&c->stop) || s->failure[0]) return SB_EAGAIN;
        rd_kafka_poll(s->rk, 10);
    }
    if (s->failure[0]) return SB_EIO;
    sb_err_t terr = {0};
    int kept = connect_transforms_apply(c->transforms, in, &s->tr, &terr);
    if (kept < 0) {
        if (c->m.err_transform) metrics_counter_inc(c->m.err_transform);
        snprintf(s->failure, sizeof(s->failure), "cannot transform a record for %.180s: %.280s", in->topic,
                 terr.msg);
        return kept;
    }
    if (s->next_seq - s->head_seq >= s->cap) ring_grow(s);
    uint64_t seq = s->next_seq;
    if (kept == 0) {
        /* Filtered out: nothing to deliver, so it is acknowledged at once. It still takes its
         * place in the ring so that its position commits only after every record emitted
         * before it is acked, like any other. */
        s->ring[seq % s->cap].position = position ? strdup(position) : NULL;
        s->ring[seq % s->cap].acked = true;
        s->next_seq++;
        advance_acked(s);
        return 0;
    }
    const connect_record_t *rec = &s->tr.rec;
    const void *kp = rec->key.len >= 0 ? rec->key.p : NULL;
    size_t kn = rec->key.len >= 0 ? (size_t)rec->key.len : 0;
    void *vp = rec->value.len >= 0 ? (void *)rec->value.p : NULL;
    size_t vn = rec->value.len >= 0 ? (size_t)rec->value.len : 0;
    int32_t partition = rec->partition >= 0 ? rec->partition : RD_KAFKA_PARTITION_UA;
    int64_t ts = rec->timestamp_ms > 0 ? rec->timestamp_ms : 0;
    for (;;) {
        /* MSG_F_COPY: the transform buffers are reused by the next record. */
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(rec->topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(kp, kn),
            RD_KAFKA_V_VALUE(vp, vn), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(s->failure, sizeof(s->failure), "cannot produce to %s: %s", rec->topic, rd_kafka_err2str(e));
            return SB_EIO;
        }
        if (atomic_load(&c->stop)) return SB_EAGAIN;
        rd_kafka_poll(s->rk, 10);
    }
    s->ring[seq % s->cap].position = position ? strdup(position) : NULL;
    s->ring[seq % s->cap].acked = false;
    s->next_seq++;
    connector_metrics_event(c, rec->value.p, rec->value.len, 0, false);
    return 0;
}

/* Stores the acked position in the offsets topic (asynchronously; the delivery report moves
 * it to pending_commit) and hands a stored one to the connector. */
static void advance_positions(source_ctx_t *s, void *state)
{
    connector_t *c = s->c;
    if (s->pending_commit) {
        char *pos = s->pending_commit;
        s->pending_commit = NULL;
        c->sops->commit(state, pos);
        replace(&s->committed, pos);
        pthread_mutex_lock(&c->mu);
        free(c->committed_position);
        c->committed_position = strdup(pos);
        pthread_mutex_unlock(&c->mu);
    }
    if (!s->acked_position || s->offsets_write_in_flight) return;
    if (s->written_position && strcmp(s->written_position, s->acked_position) == 0) return;
    json_t *v = json_pack("{s:s,s:I}", "position", s->acked_position, "ts_ms", (json_int_t)sb_now_ms());
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    char *pos = strdup(s->acked_position);
    rd_kafka_resp_err_t e = rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(c->w->o.offsets_topic),
                                              RD_KAFKA_V_KEY(c->name, strlen(c->name)), RD_KAFKA_V_VALUE(text, strlen(text)),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(pos),
                                              RD_KAFKA_V_END);
    if (e) {
        free(text);
        free(pos);
        return;
    }
    s->offsets_write_in_flight = true;
    replace(&s->written_position, strdup(s->acked_position));
}

static void refresh_status(connector_t *c, void *state)
{
    if (!c->sops->status || !state) return;
    json_t *d = json_object();
    c->sops->status(state, d);
    json_t *lag = json_object_get(d, "lag_bytes");
    if (c->m.source_lag_bytes && json_is_integer(lag)) metrics_gauge_set(c->m.source_lag_bytes, json_integer_value(lag));
    pthread_mutex_lock(&c->mu);
    json_decref(c->details);
    c->details = d;
    pthread_mutex_unlock(&c->mu);
}

static rd_kafka_t *make_producer(connector_t *c, source_ctx_t *s, sb_err_t *err)
{
    char client_id[200];
    snprintf(client_id, sizeof(client_id), "connect-%s", c->name);
    rd_kafka_conf_t *conf = connect_kafka_conf_new(c->w->o.bootstrap, client_id);
    /* Idempotence with acks=all: a retried batch is never written twice and never reordered,
     * so the positions committed below match what the broker holds. */
    if (connect_kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        connect_kafka_conf_set(conf, "acks", "all", err) < 0 || connect_kafka_conf_set(conf, "linger.ms", "5", err) < 0 ||
        connect_kafka_conf_set(conf, "compression.codec", "lz4", err) < 0 ||
        connect_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, s);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) sb_err_set(err, SB_EINVAL, "cannot create the producer: %s", errstr);
    return rk;
}

void *source_task_run(void *arg)
{
    connector_t *c = arg;
    source_ctx_t s = {.c = c};
    sb_err_t err = {0};
    pthread_mutex_lock(&c->mu);
    s.committed = c->committed_position ? strdup(c->committed_position) : NULL;
    pthread_mutex_unlock(&c->mu);
    s.rk = make_producer(c, &s, &err);
    if (!s.rk) {
        connector_set_state(c, CONN_FAILED, err.msg);
        free(s.committed);
        return NULL;
    }
    void *state = NULL;
    int attempt = 0;
    /* Start: a transient failure (database down) is retried; a fatal one fails the task. */
    while (!atomic_load(&c->stop)) {
        connect_err_t cerr = {0};
        /* Not marked up on success: a source may start without its database and connect in
         * poll (postgres-source does). */
        if (c->sops->start(&s, c->config, &state, &cerr) == 0) break;
        state = NULL;
        if (cerr.cls == CONNECT_ERR_TRANSIENT) connector_db_down(c, cerr.msg);
        if (cerr.cls != CONNECT_ERR_TRANSIENT) {
            if (c->m.err_fatal) metrics_counter_inc(c->m.err_fatal);
            connector_set_state(c, CONN_FAILED, cerr.msg);
            break;
        }
        if (c->m.err_transient) metrics_counter_inc(c->m.err_transient);
        connector_set_state(c, CONN_UNASSIGNED, cerr.msg);
        connector_sleep(c, connect_backoff_ms(attempt++));
    }
    int64_t next_status = 0;
    bool ever_polled = false;
    attempt = 0;
    while (state && !atomic_load(&c->stop)) {
        if (atomic_load(&c->paused)) {
            connector_set_state(c, CONN_PAUSED, NULL);
            rd_kafka_poll(s.rk, 100);
            advance_positions(&s, state);
            continue;
        }
        connect_err_t cerr = {0};
        int rc = c->sops->poll(state, 100, &cerr);
        rd_kafka_poll(s.rk, 0);
        if (s.failure[0]) {
            connector_set_state(c, CONN_FAILED, s.failure);
            break;
        }
        if (rc < 0 && cerr.cls != CONNECT_ERR_TRANSIENT) {
            if (c->m.err_fatal) metrics_counter_inc(c->m.err_fatal);
            connector_set_state(c, CONN_FAILED, cerr.msg);
            break;
        }
        if (rc < 0) {
            if (c->m.err_transient) metrics_counter_inc(c->m.err_transient);
            if (c->m.retries) metrics_counter_inc(c->m.retries);
            sb_warn("connect", "connector %s: %s (retrying)", c->name, cerr.msg);
            connector_db_down(c, cerr.msg);
            /* Until the first successful poll the task is still waiting for its database
             * (UNASSIGNED, as while start() retries); afterwards it is a running task whose
             * database is away. */
            connector_set_state(c, ever_polled ? CONN_RUNNING : CONN_UNASSIGNED, cerr.msg);
            /* The status (and its lag) keeps following while the database is away. */
            refresh_status(c, state);
            connector_sleep(c, connect_backoff_ms(attempt++));
        } else {
            attempt = 0;
            ever_polled = true;
            connector_db_up(c);
            connector_set_state(c, CONN_RUNNING, NULL);
        }
        advance_positions(&s, state);
        if (sb_mono_ms() >= next_status) {
            refresh_status(c, state);
            next_status = sb_mono_ms() + STATUS_REFRESH_MS;
        }
    }
    /* Stop: deliver what is in flight and store the final position, so a clean restart
     * neither repeats nor skips anything. */
    int64_t deadline = sb_mono_ms() + 10000;
    while (sb_mono_ms() < deadline && state &&
           (s.head_seq < s.next_seq || s.offsets_write_in_flight || s.pending_commit ||
            (s.acked_position && (!s.written_position || strcmp(s.acked_position, s.written_position) != 0)))) {
        rd_kafka_poll(s.rk, 50);
        advance_positions(&s, state);
    }
    if (state) c->sops->stop(state);
    rd_kafka_flush(s.rk, 5000);
    rd_kafka_destroy(s.rk);
    for (uint64_t q = s.head_seq; q < s.next_seq; q++) free(s.ring[q % s.cap].position);
    free(s.ring);
    free(s.acked_position);
    free(s.written_position);
    free(s.pending_commit);
    free(s.committed);
    connect_transformed_deinit(&s.tr);
    pthread_mutex_lock(&c->mu);
    bool failed = c->state == CONN_FAILED;
    pthread_mutex_unlock(&c->mu);
    if (!failed) connector_set_state(c, CONN_UNASSIGNED, NULL);
    return NULL;
}
