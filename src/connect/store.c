/* Durable runtime state in broker topics; see store.h. */
#include "connect/store.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

/* How long a store write may wait for its acknowledgement before reporting the broker
 * unreachable. */
#define STORE_WRITE_TIMEOUT_MS 30000
#define STORE_READ_TIMEOUT_MS 30000

struct connect_store {
    rd_kafka_t *producer;
    char bootstrap[512];
};

typedef struct write_wait {
    atomic_int done; /* 0 pending, 1 delivered, -1 failed */
    char errmsg[256];
} write_wait_t;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka logs every reconnect at level 3; those are expected while a broker restarts
     * and would flood the log, so only warnings about configuration go through. */
    if (level <= 4 && strstr(buf, "onfiguration")) sb_warn("connect.kafka", "%s: %s", fac, buf);
}

void *connect_kafka_conf_new(const char *bootstrap, const char *client_id)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "client.id", client_id, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log.connection.close", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    return conf;
}

int connect_kafka_conf_set(void *conf, const char *name, const char *value, sb_err_t *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return sb_err_set(err, SB_EINVAL, "librdkafka %s=%s: %s", name, value, errstr);
    return 0;
}

static void store_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    write_wait_t *w = m->_private;
    if (!w) {
        /* connect_store_send: nobody waits, so the failure is only worth a log line. */
        if (m->err)
            sb_warn("connect.store", "a write to %s was not stored: %s", rd_kafka_topic_name(m->rkt),
                    rd_kafka_err2str(m->err));
        return;
    }
    if (m->err) snprintf(w->errmsg, sizeof(w->errmsg), "%s", rd_kafka_err2str(m->err));
    atomic_store(&w->done, m->err ? -1 : 1);
}

/* Creates single-partition topics with the given configs (name, value, ..., NULL); an
 * existing topic is left as it is. */
static void create_topics(rd_kafka_t *rk, const char *const *topics, int n, const char *const *configs)
{
    rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof(*nt));
    char errstr[256];
    for (int i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i], 1, -1, errstr, sizeof(errstr));
        for (const char *const *c = configs; c && c[0] && c[1]; c += 2) rd_kafka_NewTopic_set_config(nt[i], c[0], c[1]);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, nt, (size_t)n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            /* An existing topic is the normal case after the first start. A broker without
             * CreateTopics still auto-creates the topic on first use. */
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                sb_warn("connect.store", "creating topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                        rd_kafka_err2str(e));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < n; i++) rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
}

connect_store_t *connect_store_new(const char *bootstrap, const char *const *topics, int ntopics, sb_err_t *err)
{
    connect_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        sb_err_set(err, SB_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(s->bootstrap, sizeof(s->bootstrap), "%s", bootstrap);
    rd_kafka_conf_t *conf = connect_kafka_conf_new(bootstrap, "streambus-connect-store");
    char errstr[256];
    if (connect_kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        connect_kafka_conf_set(conf, "acks", "all", err) < 0 || connect_kafka_conf_set(conf, "linger.ms", "0", err) < 0) {
        rd_kafka_conf_destroy(conf);
        free(s);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, store_dr);
    s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!s->producer) {
        sb_err_set(err, SB_EINVAL, "cannot create the Kafka producer: %s", errstr);
        free(s);
        return NULL;
    }
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(s->producer, 0, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        sb_err_set(err, SB_EIO, "broker %s is not reachable", bootstrap);
        rd_kafka_destroy(s->producer);
        free(s);
        return NULL;
    }
    rd_kafka_metadata_destroy(md);
    static const char *const compacted[] = {"cleanup.policy", "compact", NULL};
    create_topics(s->producer, topics, ntopics, compacted);
    return s;
}

void connect_store_free(connect_store_t *s)
{
    if (!s) return;
    rd_kafka_flush(s->producer, 5000);
    rd_kafka_destroy(s->producer);
    free(s);
}

int connect_store_broker_reachable(connect_store_t *s, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(s->producer, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    rd_kafka_metadata_destroy(md);
    return 1;
}

/* Queues key/value (NULL value = tombstone); the delivery report gets wait (may be NULL). */
static int produce(connect_store_t *s, const char *topic, const char *key, const char *value, write_wait_t *wait,
                   sb_err_t *err)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(wait), RD_KAFKA_V_END);
    return e ? sb_err_set(err, SB_EIO, "writing %s to %s: %s", key, topic, rd_kafka_err2str(e)) : 0;
}

int connect_store_write(connect_store_t *s, const char *topic, const char *key, const char *value, sb_err_t *err)
{
    write_wait_t w = {0};
    if (produce(s, topic, key, value, &w, err) < 0) return SB_EIO;
    int64_t deadline = sb_mono_ms() + STORE_WRITE_TIMEOUT_MS;
    /* Several threads may wait at once; whichever polls serves everyone's delivery reports,
     * and each waiter only looks at its own flag. The message holds a pointer to w, so this
     * function cannot return before the report has run. */
    while (atomic_load(&w.done) == 0) {
        rd_kafka_poll(s->producer, 50);
        if (sb_mono_ms() > deadline && atomic_load(&w.done) == 0) {
            /* The message times out inside librdkafka (message.timeout.ms) and the report
             * still arrives; keep polling for it, but say why it takes long. */
            sb_warn("connect.store", "waiting for the broker to acknowledge a write to %s", topic);
            deadline = sb_mono_ms() + STORE_WRITE_TIMEOUT_MS;
        }
    }
    if (atomic_load(&w.done) < 0) return sb_err_set(err, SB_EIO, "writing %s to %s: %s", key, topic, w.errmsg);
    return 0;
}

int connect_store_send(connect_store_t *s, const char *topic, const char *key, const char *value, sb_err_t *err)
{
    int rc = produce(s, topic, key, value, NULL, err);
    rd_kafka_poll(s->producer, 0); /* serve reports of earlier sends */
    return rc;
}

int connect_store_read_all(connect_store_t *s, const char *topic, connect_store_record_fn fn, void *arg, sb_err_t *err)
{
    rd_kafka_conf_t *conf = connect_kafka_conf_new(s->bootstrap, "streambus-connect-store-reader");
    char errstr[256];
    /* No group: partitions are assigned by hand and no offsets are committed. A group.id is
     * still required by librdkafka for a consumer handle. */
    rd_kafka_conf_set(conf, "group.id", "streambus-connect-store-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) return sb_err_set(err, SB_EINVAL, "cannot create a Kafka consumer: %s", errstr);
    int rc = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    int pending = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        rc = sb_err_set(err, SB_EIO, "no metadata for topic %s", topic);
        goto out;
    }
    if (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) goto out; /* nothing stored yet */
    for (int p = 0; p < md->topics[0].partition_cnt; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = sb_err_set(err, SB_EIO, "cannot read the end offset of %s[%d]", topic, p);
            goto out;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
            pending++;
        }
    }
    if (pending == 0) goto out;
    rd_kafka_assign(rk, parts);
    int64_t deadline = sb_mono_ms() + STORE_READ_TIMEOUT_MS;
    while (pending > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (sb_mono_ms() > deadline) {
            if (m) rd_kafka_message_destroy(m);
            rc = sb_err_set(err, SB_EIO, "timed out reading %s", topic);
            break;
        }
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            pending--;
        } else if (m->err) {
            rc = sb_err_set(err, SB_EIO, "reading %s: %s", topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        } else if (m->key) {
            fn(arg, m->key, m->key_len, m->payload, m->payload ? (int32_t)m->len : -1);
        }
        rd_kafka_message_destroy(m);
    }
out:
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

void connect_store_create_kept_topic(connect_store_t *s, const char *topic)
{
    static const char *const kept[] = {"retention.ms", "-1", "retention.bytes", "-1", NULL};
    const char *topics[] = {topic};
    create_topics(s->producer, topics, 1, kept);
}
