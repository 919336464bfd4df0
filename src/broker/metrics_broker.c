/* Broker metrics. Static families (requests, latency, connections, fsync) are registry
 * handles updated with atomic adds. Per-topic, per-partition and per-group figures change
 * shape as topics and groups come and go, so the network thread renders them into a text
 * snapshot once a second (broker_metrics_snapshot) and the scrape thread's collector copies
 * that snapshot: the scrape never touches broker state owned by the network thread. */
#include "broker/metrics_broker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/group/coordinator.h"
#include "kafka/protocol.h"
#include "metrics/metrics.h"

#define API_SLOTS 69

struct broker_metrics {
    metrics_registry_t *reg;
    metrics_counter_t *requests[API_SLOTS];
    metrics_counter_t *errors[API_SLOTS];
    metrics_counter_t *response_bytes[API_SLOTS];
    metrics_histogram_t *latency[API_SLOTS];
    metrics_counter_t *authz_denied[API_SLOTS];
    metrics_gauge_t *connections;
    metrics_histogram_t *fsync;
    metrics_counter_t *fsyncs;
    pthread_mutex_t snap_lock;
    sb_wr_t snapshot; /* guarded by snap_lock */
};

static void collect(void *arg, sb_wr_t *out)
{
    broker_metrics_t *m = arg;
    pthread_mutex_lock(&m->snap_lock);
    sb_wr_bytes(out, m->snapshot.buf, m->snapshot.len);
    pthread_mutex_unlock(&m->snap_lock);
}

broker_metrics_t *broker_metrics_new(struct metrics_registry *reg)
{
    if (!reg) return NULL;
    broker_metrics_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->reg = reg;
    pthread_mutex_init(&m->snap_lock, NULL);
    sb_wr_init(&m->snapshot, 4096);
    int n;
    const kafka_api_def_t *t = kafka_api_table(&n);
    for (int i = 0; i < n; i++) {
        int16_t k = t[i].api_key;
        char labels[64];
        snprintf(labels, sizeof(labels), "api=\"%s\"", kafka_api_name(k));
        m->requests[k] = metrics_counter(reg, "streambus_requests_total", "Kafka requests handled, by API.", labels);
        m->errors[k] = metrics_counter(reg, "streambus_request_errors_total",
                                       "Malformed Kafka requests that closed their connection, by API.", labels);
        m->response_bytes[k] =
            metrics_counter(reg, "streambus_response_bytes_total", "Bytes of Kafka responses sent, by API.", labels);
        m->latency[k] = metrics_histogram(reg, "streambus_request_duration_seconds",
                                          "Time from request arrival to response ready, by API.", labels,
                                          METRICS_LATENCY_BUCKETS_SECONDS, METRICS_LATENCY_BUCKETS_COUNT);
        m->authz_denied[k] = metrics_counter(reg, "streambus_authorization_denied_total",
                                             "Authorization checks the ACLs denied, by API.", labels);
    }
    m->connections = metrics_gauge(reg, "streambus_connections", "Open Kafka client connections.", NULL);
    m->fsync = metrics_histogram(reg, "streambus_fsync_duration_seconds", "fdatasync latency of partition logs.", NULL,
                                 METRICS_LATENCY_BUCKETS_SECONDS, METRICS_LATENCY_BUCKETS_COUNT);
    m->fsyncs = metrics_counter(reg, "streambus_fsyncs_total", "fdatasync calls on partition logs.", NULL);
    metrics_register_collector(reg, collect, m);
    return m;
}

void broker_metrics_free(broker_metrics_t *m)
{
    if (!m) return;
    metrics_unregister_collector(m->reg, collect, m);
    sb_wr_deinit(&m->snapshot);
    pthread_mutex_destroy(&m->snap_lock);
    free(m);
}

static bool api_ok(int16_t k)
{
    return k >= 0 && k < API_SLOTS;
}

void broker_metrics_request_start(broker_metrics_t *m, int16_t api_key)
{
    if (m && api_ok(api_key) && m->requests[api_key]) metrics_counter_inc(m->requests[api_key]);
}

void broker_metrics_request_done(broker_metrics_t *m, int16_t api_key, int64_t latency_us, uint64_t response_bytes)
{
    if (!m || !api_ok(api_key)) return;
    if (m->latency[api_key]) metrics_histogram_observe(m->latency[api_key], (double)latency_us / 1e6);
    if (m->response_bytes[api_key]) metrics_counter_add(m->response_bytes[api_key], response_bytes);
}

void broker_metrics_request_error(broker_metrics_t *m, int16_t api_key)
{
    if (m && api_ok(api_key) && m->errors[api_key]) metrics_counter_inc(m->errors[api_key]);
}

void broker_metrics_authz_denied(broker_metrics_t *m, int16_t api_key)
{
    if (!m || api_key < 0 || api_key >= API_SLOTS || !m->authz_denied[api_key]) return;
    metrics_counter_add(m->authz_denied[api_key], 1);
}

void broker_metrics_connections(broker_metrics_t *m, int n)
{
    if (m) metrics_gauge_set(m->connections, n);
}

void broker_metrics_produced(broker_metrics_t *m, struct partition *p, uint64_t bytes, uint64_t records)
{
    (void)m;
    atomic_fetch_add_explicit(&p->bytes_in, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->messages_in, records, memory_order_relaxed);
}

void broker_metrics_fsync(broker_metrics_t *m, int64_t us)
{
    if (!m) return;
    metrics_histogram_observe(m->fsync, (double)us / 1e6);
    metrics_counter_inc(m->fsyncs);
}

/* ---- snapshot of dynamic families (network thread) ---- */

typedef struct snap_ctx {
    broker_t *b;
    sb_wr_t *w;
    int pass; /* which family is being written */
    int64_t partitions;
} snap_ctx_t;

static void topic_family_cb(void *arg, topic_t *t)
{
    snap_ctx_t *s = arg;
    uint64_t in = 0, out = 0, msgs = 0, msgs_out = 0;
    for (int32_t i = 0; i < t->npartitions; i++) {
        partition_t *p = t->partitions[i];
        in += atomic_load_explicit(&p->bytes_in, memory_order_relaxed);
        out += atomic_load_explicit(&p->bytes_out, memory_order_relaxed);
        msgs += atomic_load_explicit(&p->messages_in, memory_order_relaxed);
        msgs_out += atomic_load_explicit(&p->messages_out, memory_order_relaxed);
    }
    metrics_label_t l[1] = {{"topic", t->name}};
    switch (s->pass) {
    case 0: metrics_write_sample_i64(s->w, "streambus_topic_bytes_in_total", l, 1, (int64_t)in); break;
    case 1: metrics_write_sample_i64(s->w, "streambus_topic_bytes_out_total", l, 1, (int64_t)out); break;
    case 2: metrics_write_sample_i64(s->w, "streambus_topic_messages_in_total", l, 1, (int64_t)msgs); break;
    case 3: metrics_write_sample_i64(s->w, "streambus_topic_messages_out_total", l, 1, (int64_t)msgs_out); break;
    default: {
        for (int32_t i = 0; i < t->npartitions; i++) {
            partition_t *p = t->partitions[i];
            char idx[16];
            snprintf(idx, sizeof(idx), "%d", i);
            metrics_label_t pl[2] = {{"topic", t->name}, {"partition", idx}};
            if (s->pass == 4) {
                metrics_write_sample_i64(s->w, "streambus_log_size_bytes", pl, 2, (int64_t)plog_size_bytes(p->log));
                s->partitions++;
            }
            if (s->pass == 5) metrics_write_sample_i64(s->w, "streambus_log_end_offset", pl, 2, plog_end_offset(p->log));
            if (s->pass == 6) metrics_write_sample_i64(s->w, "streambus_log_start_offset", pl, 2, plog_start_offset(p->log));
        }
    }
    }
}

static void lag_cb(void *arg, const char *group, const char *topic, int32_t partition, int64_t offset)
{
    snap_ctx_t *s = arg;
    topic_t *t = broker_topic_find(s->b, topic, (int32_t)strlen(topic));
    partition_t *p = t ? topic_partition(t, partition) : NULL;
    if (!p) return;
    char idx[16];
    snprintf(idx, sizeof(idx), "%d", partition);
    metrics_label_t l[3] = {{"group", group}, {"topic", topic}, {"partition", idx}};
    int64_t lag = plog_end_offset(p->log) - offset;
    if (s->pass == 0) metrics_write_sample_i64(s->w, "streambus_consumer_committed_offset", l, 3, offset);
    else metrics_write_sample_i64(s->w, "streambus_consumer_lag", l, 3, lag < 0 ? 0 : lag);
}

void broker_metrics_snapshot(broker_t *b)
{
    broker_metrics_t *m = b->m;
    if (!m) return;
    sb_wr_t w;
    sb_wr_init(&w, m->snapshot.len + 1024);
    snap_ctx_t s = {.b = b, .w = &w};
    static const struct {
        const char *name, *help;
        metrics_type_t type;
    } fam[] = {
        {"streambus_topic_bytes_in_total", "Record-batch bytes appended, by topic.", METRICS_COUNTER},
        {"streambus_topic_bytes_out_total", "Record-batch bytes sent to consumers, by topic.", METRICS_COUNTER},
        {"streambus_topic_messages_in_total", "Records appended, by topic.", METRICS_COUNTER},
        {"streambus_topic_messages_out_total", "Records sent to consumers at or after their fetch offset, by topic.",
         METRICS_COUNTER},
        {"streambus_log_size_bytes", "Bytes on disk, by partition.", METRICS_GAUGE},
        {"streambus_log_end_offset", "Next offset to be assigned, by partition.", METRICS_GAUGE},
        {"streambus_log_start_offset", "First offset still stored, by partition.", METRICS_GAUGE},
    };
    for (int i = 0; i < (int)(sizeof(fam) / sizeof(fam[0])); i++) {
        metrics_write_family(&w, fam[i].name, fam[i].help, fam[i].type);
        s.pass = i;
        topics_foreach(b, topic_family_cb, &s);
    }
    metrics_write_family(&w, "streambus_partitions", "Partitions hosted by this broker.", METRICS_GAUGE);
    metrics_write_sample_i64(&w, "streambus_partitions", NULL, 0, s.partitions);
    metrics_write_family(&w, "streambus_group_members", "Members of consumer groups.", METRICS_GAUGE);
    metrics_write_sample_i64(&w, "streambus_group_members", NULL, 0, group_coordinator_member_count(b->groups));
    metrics_write_family(&w, "streambus_consumer_committed_offset", "Committed offset, by group and partition.",
                         METRICS_GAUGE);
    s.pass = 0;
    group_coordinator_foreach_offset(b->groups, lag_cb, &s);
    metrics_write_family(&w, "streambus_consumer_lag", "Log end offset minus committed offset, by group and partition.",
                         METRICS_GAUGE);
    s.pass = 1;
    group_coordinator_foreach_offset(b->groups, lag_cb, &s);
    if (w.oom) {
        sb_wr_deinit(&w);
        return;
    }
    pthread_mutex_lock(&m->snap_lock);
    sb_wr_t old = m->snapshot;
    m->snapshot = w;
    pthread_mutex_unlock(&m->snap_lock);
    sb_wr_deinit(&old);
}
