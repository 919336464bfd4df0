/* Dead-letter queue: sending, listing and replaying; see dlq.h. */
#include "connect/dlq.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "connect/store.h"

#define DLQ_READ_TIMEOUT_MS 15000

typedef struct dlq_wait {
    atomic_int done;
    char errmsg[256];
} dlq_wait_t;

static void dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    dlq_wait_t *w = m->_private;
    if (!w) return;
    if (m->err) snprintf(w->errmsg, sizeof(w->errmsg), "%s", rd_kafka_err2str(m->err));
    atomic_store(&w->done, m->err ? -1 : 1);
}

static rd_kafka_t *producer_new(const char *bootstrap, sb_err_t *err)
{
    rd_kafka_conf_t *conf = connect_kafka_conf_new(bootstrap, "streambus-connect-dlq");
    if (connect_kafka_conf_set(conf, "enable.idempotence", "true", err) < 0 ||
        connect_kafka_conf_set(conf, "linger.ms", "0", err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dlq_dr);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) sb_err_set(err, SB_EINVAL, "cannot create the DLQ producer: %s", errstr);
    return rk;
}

void dlq_producer_free(void *producer)
{
    if (!producer) return;
    rd_kafka_flush(producer, 5000);
    rd_kafka_destroy(producer);
}

/* Produces one message and waits for its acknowledgement. Takes ownership of hdrs. */
static int produce_and_wait(rd_kafka_t *rk, const char *topic, int32_t partition, const void *key, int32_t key_len,
                            const void *value, int32_t value_len, rd_kafka_headers_t *hdrs, sb_err_t *err)
{
    dlq_wait_t w = {0};
    const void *kp = key_len >= 0 ? key : NULL;
    size_t kn = key_len >= 0 ? (size_t)key_len : 0;
    void *vp = value_len >= 0 ? (void *)value : NULL;
    size_t vn = value_len >= 0 ? (size_t)value_len : 0;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(kp, kn), RD_KAFKA_V_VALUE(vp, vn),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hdrs);
        return sb_err_set(err, SB_EIO, "producing to %s: %s", topic, rd_kafka_err2str(e));
    }
    while (atomic_load(&w.done) == 0) rd_kafka_poll(rk, 50);
    if (atomic_load(&w.done) < 0) return sb_err_set(err, SB_EIO, "producing to %s: %s", topic, w.errmsg);
    return 0;
}

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    char full[128];
    snprintf(full, sizeof(full), DLQ_HEADER_PREFIX "%s", name);
    rd_kafka_header_add(h, full, -1, value, -1);
}

static void add_header_i64(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    add_header(h, name, buf);
}

int dlq_send(void **producer, const char *bootstrap, const char *dlq_topic, const char *topic, int32_t partition,
             int64_t offset, const void *key, int32_t key_len, const void *value, int32_t value_len,
             const void *orig_headers, const dlq_failure_t *f, sb_err_t *err)
{
    if (!*producer) {
        *producer = producer_new(bootstrap, err);
        if (!*producer) return SB_EINVAL;
    }
    rd_kafka_headers_t *h = orig_headers ? rd_kafka_headers_copy(orig_headers) : rd_kafka_headers_new(9);
    add_header(h, "topic", topic);
    add_header_i64(h, "partition", partition);
    add_header_i64(h, "offset", offset);
    add_header(h, "connector.name", f->connector);
    add_header(h, "class", f->error_class);
    add_header(h, "exception.message", f->message);
    add_header_i64(h, "retry.count", f->retry_count);
    add_header_i64(h, "first.failure.ms", f->first_failure_ms);
    add_header_i64(h, "last.failure.ms", f->last_failure_ms);
    return produce_and_wait(*producer, dlq_topic, RD_KAFKA_PARTITION_UA, key, key_len, value, value_len, h, err);
}

/* ------------------------------------------------------------------ reading */

typedef int (*dlq_record_fn)(void *arg, const rd_kafka_message_t *m); /* nonzero stops the scan */

/* Calls fn for every record of topic with from <= offset <= to (every partition). */
static int dlq_scan(const char *bootstrap, const char *topic, int64_t from, int64_t to, dlq_record_fn fn, void *arg,
                    sb_err_t *err)
{
    rd_kafka_conf_t *conf = connect_kafka_conf_new(bootstrap, "streambus-connect-dlq-reader");
    char errstr[256];
    rd_kafka_conf_set(conf, "group.id", "streambus-connect-dlq-reader", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) return sb_err_set(err, SB_EINVAL, "cannot create a consumer: %s", errstr);
    int rc = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    int64_t *ends = NULL;
    int pending = 0, nparts = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
        rc = sb_err_set(err, SB_EIO, "no metadata for %s", topic);
        goto out;
    }
    if (md->topics[0].err) goto out; /* no DLQ topic: nothing ever failed */
    nparts = md->topics[0].partition_cnt;
    ends = calloc((size_t)nparts + 1, sizeof(*ends));
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) != 0) {
            rc = sb_err_set(err, SB_EIO, "cannot read the offsets of %s[%d]", topic, p);
            goto out;
        }
        int64_t start = from > lo ? from : lo;
        int64_t end = to < hi - 1 ? to : hi - 1;
        ends[p] = end;
        if (start <= end) {
            rd_kafka_topic_partition_list_add(parts, topic, p)->offset = start;
            pending++;
        }
    }
    if (pending == 0) goto out;
    rd_kafka_assign(rk, parts);
    int64_t deadline = sb_mono_ms() + DLQ_READ_TIMEOUT_MS;
    while (pending > 0 && sb_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                rc = sb_err_set(err, SB_EIO, "reading %s: %s", topic, rd_kafka_message_errstr(m));
                pending = 0;
            }
        } else if (m->partition < nparts && m->offset <= ends[m->partition]) {
            if (fn(arg, m)) pending = 0;
            else if (m->offset == ends[m->partition]) pending--;
        }
        rd_kafka_message_destroy(m);
    }
    if (pending > 0 && rc == 0) rc = sb_err_set(err, SB_EIO, "timed out reading %s", topic);
out:
    free(ends);
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static json_t *text_or_null(const void *p, size_t len)
{
    return p ? json_stringn_nocheck(p, len) : json_null();
}

typedef struct list_ctx {
    json_t *arr;
    int limit;
} list_ctx_t;

static int on_list(void *arg, const rd_kafka_message_t *m)
{
    list_ctx_t *l = arg;
    char id[48];
    snprintf(id, sizeof(id), "%d:%lld", (int)m->partition, (long long)m->offset);
    json_t *headers = json_object();
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            json_object_set_new(headers, name, text_or_null(val, size));
    }
    rd_kafka_timestamp_type_t tstype;
    json_array_append_new(l->arr, json_pack("{s:s,s:i,s:I,s:I,s:o,s:o,s:o}", "id", id, "partition", (int)m->partition,
                                            "offset", (json_int_t)m->offset, "timestamp_ms",
                                            (json_int_t)rd_kafka_message_timestamp(m, &tstype), "key",
                                            text_or_null(m->key, m->key_len), "value",
                                            text_or_null(m->payload, m->len), "headers", headers));
    return (int)json_array_size(l->arr) >= l->limit;
}

int dlq_list(const char *bootstrap, const char *dlq_topic, int64_t from_offset, int limit, json_t **out, sb_err_t *err)
{
    list_ctx_t l = {json_array(), limit > 0 ? limit : 100};
    int rc = dlq_scan(bootstrap, dlq_topic, from_offset, INT64_MAX, on_list, &l, err);
    if (rc < 0) {
        json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return 0;
}

typedef struct replay_ctx {
    rd_kafka_t *producer;
    const json_t *ids; /* NULL: every record in range */
    json_t *seen;      /* ids replayed */
    int replayed;
    int rc;
    sb_err_t *err;
} replay_ctx_t;

static int on_replay(void *arg, const rd_kafka_message_t *m)
{
    replay_ctx_t *r = arg;
    char id[48];
    snprintf(id, sizeof(id), "%d:%lld", (int)m->partition, (long long)m->offset);
    if (r->ids) {
        bool wanted = false;
        size_t i;
        const json_t *v;
        json_array_foreach(r->ids, i, v) if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) wanted = true;
        if (!wanted) return 0;
    }
    rd_kafka_headers_t *h = NULL;
    char topic[256] = "";
    rd_kafka_headers_t *orig = rd_kafka_headers_new(4);
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
            if (strcmp(name, DLQ_HEADER_PREFIX "topic") == 0 && val)
                snprintf(topic, sizeof(topic), "%.*s", (int)size, (const char *)val);
            else if (strncmp(name, DLQ_HEADER_PREFIX, strlen(DLQ_HEADER_PREFIX)) != 0)
                rd_kafka_header_add(orig, name, -1, val, val ? (ssize_t)size : -1);
        }
    }
    if (!topic[0]) {
        rd_kafka_headers_destroy(orig);
        r->rc = sb_err_set(r->err, SB_EINVAL, "DLQ record %s has no " DLQ_HEADER_PREFIX "topic header", id);
        return 1;
    }
    /* The original partition is not forced: the key picks it, as it did for the original. */
    r->rc = produce_and_wait(r->producer, topic, RD_KAFKA_PARTITION_UA, m->key, m->key ? (int32_t)m->key_len : -1,
                             m->payload, m->payload ? (int32_t)m->len : -1, orig, r->err);
    if (r->rc < 0) return 1;
    r->replayed++;
    json_array_append_new(r->seen, json_string(id));
    return 0;
}

int dlq_replay(const char *bootstrap, const char *dlq_topic, const json_t *ids, int64_t from_offset, int64_t to_offset,
               int *replayed, sb_err_t *err)
{
    *replayed = 0;
    if (ids) {
        /* Narrow the scan to the offsets the ids name. */
        from_offset = INT64_MAX;
        to_offset = -1;
        size_t i;
        const json_t *v;
        json_array_foreach(ids, i, v) {
            const char *s = json_string_value(v);
            const char *colon = s ? strchr(s, ':') : NULL;
            if (!colon) return sb_err_set(err, SB_EINVAL, "bad DLQ record id (expected \"partition:offset\")");
            long long off = strtoll(colon + 1, NULL, 10);
            if (off < from_offset) from_offset = off;
            if (off > to_offset) to_offset = off;
        }
        if (to_offset < 0) return 0;
    }
    replay_ctx_t r = {.ids = ids, .seen = json_array(), .err = err};
    r.producer = producer_new(bootstrap, err);
    if (!r.producer) {
        json_decref(r.seen);
        return SB_EINVAL;
    }
    int rc = dlq_scan(bootstrap, dlq_topic, from_offset, to_offset, on_replay, &r, err);
    if (rc == 0) rc = r.rc;
    if (rc == 0 && ids && json_array_size(r.seen) < json_array_size(ids)) {
        size_t i;
        const json_t *v;
        json_array_foreach(ids, i, v) {
            bool found = false;
            size_t k;
            const json_t *s;
            json_array_foreach(r.seen, k, s) if (json_equal(s, v)) found = true;
            if (!found) {
                rc = sb_err_set(err, SB_ENOENT, "no DLQ record %s in %s", json_string_value(v), dlq_topic);
                break;
            }
        }
    }
    *replayed = r.replayed;
    json_decref(r.seen);
    dlq_producer_free(r.producer);
    return rc;
}
