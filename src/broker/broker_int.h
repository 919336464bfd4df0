#ifndef STREAMBUS_BROKER_BROKER_INT_H
#define STREAMBUS_BROKER_BROKER_INT_H

/* Private structures shared by the broker's modules (server, dispatch, topics, flusher,
 * handlers). Nothing outside src/broker/ includes this. */

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "broker/broker.h"
#include "broker/log/plog.h"
#include "broker/options.h"
#include "broker/producer_state.h"
#include "broker/topic_config.h"
#include "net/loop.h"

struct metrics_registry;

/* The cluster id Metadata and DescribeCluster report: one node is the whole cluster. */
#define BROKER_CLUSTER_ID "streambus-local"

/* ---- the in-order response queue ---- */

/* A Kafka response slot: the net layer's slot (first, so the net layer owns the allocation)
 * plus what the broker needs to finish and account the answer. */
struct kslot {
    net_slot_t base;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    int64_t start_us; /* request arrival, for latency metrics */
};

/* ---- topics and partitions ---- */

typedef struct partition {
    topic_t *topic;
    int32_t index;
    plog_t *log;
    producer_state_t producers; /* idempotent-producer sequence state */
    /* flusher bookkeeping, guarded by flusher.lock */
    bool dirty;
    bool urgent;
    bool flushing;
    struct partition *next_dirty;
    /* durability waiters (network thread only, see flusher.c) */
    int32_t durable_waiting;      /* waiters of this log queued on broker.waiters */
    uint64_t durable_blocked_pass; /* the flusher_on_event pass in which one of them had to wait */
    /* metrics */
    _Atomic uint64_t bytes_in, messages_in, bytes_out, messages_out;
} partition_t;

struct topic {
    char *name;
    int32_t npartitions;
    partition_t **partitions;
    bool internal;
    /* Dynamic topic configs (CreateTopics, AlterConfigs), validated against topic_config.h
     * and persisted in .topics/<name>. Keys not here take the broker's value. */
    config_set_t configs;
    /* What Produce enforces, derived from the effective configs (topic_refresh_produce_policy)
     * whenever they change, so the produce path reads numbers instead of config strings. */
    struct {
        int64_t max_message_bytes;       /* max.message.bytes: largest batch, log overhead included */
        bool log_append_time;            /* message.timestamp.type=LogAppendTime */
        int64_t timestamp_before_max_ms; /* CreateTime only; INT64_MAX: not checked */
        int64_t timestamp_after_max_ms;
        int32_t min_insync_replicas; /* > 1 fails acks=all here: one replica in sync */
    } produce;
    topic_t *hnext; /* hash chain */
};

/* ---- listeners ---- */

/* A Kafka listener and the address clients of it are told to use (Metadata, FindCoordinator,
 * DescribeCluster answer with the listener the request came in on, as Kafka does). */
typedef struct broker_listener {
    net_listener_t *net;
    char advertised_host[256];
    int32_t advertised_port;
} broker_listener_t;

/* ---- durability waiters and the flusher thread ---- */

typedef struct durable_waiter {
    plog_t *log;
    partition_t *p; /* the partition owning log */
    int64_t offset;
    broker_durable_cb cb;
    void *arg;
    struct durable_waiter *next;
} durable_waiter_t;

typedef struct flusher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* wakes the flusher */
    pthread_cond_t idle_cond; /* signalled when a partition's flush ends */
    partition_t *dirty_head;  /* partitions with unflushed appends */
    bool urgent;              /* some acks=all waiter is waiting */
    bool stop;
    bool started;
    int eventfd;              /* flusher -> network thread: "durable offsets advanced" */
    int64_t interval_ms;
} flusher_t;

/* ---- long-polling fetches ---- */

typedef struct fetch_waiter fetch_waiter_t;

/* ---- the broker ---- */

struct broker {
    broker_options_t opt;
    struct sb_dir_lock *dir_lock; /* held on opt.data_dir for the broker's life */
    net_loop_t *net; /* listeners, connections and the epoll loop (src/net/) */
    broker_listener_t listeners[BROKER_MAX_LISTENERS];
    int nlisteners;
    atomic_bool stopping;
    atomic_bool tls_reload; /* SIGHUP: reload listener certificates on the loop thread */

    struct log_map_node **log_map; /* plog -> partition */
    topic_t **topic_buckets;
    size_t topic_nbuckets;
    size_t ntopics;

    flusher_t flusher;
    /* One FIFO in registration order, which for each log is offset order (see flusher.c). */
    durable_waiter_t *waiters;
    durable_waiter_t *waiters_tail;
    uint64_t waiters_pass;  /* counts flusher_on_event passes */
    uint64_t waiters_drops; /* counts durable_waiters_drop_log calls, to notice one in a callback */

    fetch_waiter_t *fetch_waiters;
    uint64_t append_gen; /* bumps on every append; wakes long-polling fetches */

    group_coordinator_t *groups;
    producer_ids_t pids;

    struct metrics_registry *metrics;
    struct broker_metrics *m;

    /* Dynamic broker configs (AlterConfigs on a BROKER resource): the cluster-wide default
     * (resource name "") and this broker's own (its id), persisted in data_dir/.configs/. */
    config_set_t dyn_cluster;
    config_set_t dyn_node;

    /* ACLs and their decisions (src/security/authorizer.h); created with the dynamic configs. */
    struct authorizer *authz;

    atomic_bool ready; /* set once the loop serves; read by the admin thread */
    struct broker_sasl *sasl; /* SASL and the SCRAM credential store (handlers/sasl.c) */
    int64_t last_retention_ms;
};

/* server.c */
/* Registers an accepted (non-blocking) socket as a PLAINTEXT client connection; NULL on
 * failure. Tests and fuzz drivers use it with a socketpair. */
conn_t *conn_adopt(broker_t *b, int fd, const char *host, const char *peer);
/* Completes expired fetches and frees closed connections (the loop does this every round;
 * tests and fuzz drivers that bypass the loop call it). */
void broker_reap(broker_t *b);

/* topics.c */
int topics_load(broker_t *b, sb_err_t *err);
void topics_free_all(broker_t *b);
/* Creates a topic with n partitions (and its directories); *out may be NULL. */
int topic_create(broker_t *b, const char *name, int32_t npartitions, const char *const *cfg_names,
                 const char *const *cfg_values, int ncfg, topic_t **out, sb_err_t *err);
int topic_delete(broker_t *b, topic_t *t, sb_err_t *err);
int topic_add_partitions(broker_t *b, topic_t *t, int32_t total, sb_err_t *err);
/* Finds the topic, auto-creating it when config allows and create is true. KAFKA_ERR_* code. */
int16_t topic_get_or_create(broker_t *b, sb_slice_t name, bool create, topic_t **out);
/* Kafka's topic-name rules: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
bool topic_name_valid(const char *name, size_t len);
partition_t *topic_partition(topic_t *t, int32_t index);
void topics_foreach(broker_t *b, void (*cb)(void *arg, topic_t *t), void *arg);
void topics_enforce_retention(broker_t *b, int64_t now_ms);
/* Default plog configuration for a topic (broker defaults + topic overrides). */
void topic_plog_config(const broker_t *b, const topic_t *t, plog_config_t *cfg);
/* Validates one topic config (unknown key or bad value: SB_EINVAL, the message names the
 * key) and, when `into` is not NULL, stores it there. */
int topic_config_check(const char *key, const char *value, config_set_t *into, sb_err_t *err);
/* Replaces the topic's dynamic configs with `configs` (already validated): persists the
 * .topics file first, then swaps them in (configs receives the old set), hands the new log
 * settings to every partition and enforces retention at once, so a shorter retention.ms
 * takes effect without waiting for the next retention round. */
int topic_replace_configs(broker_t *b, topic_t *t, config_set_t *configs, sb_err_t *err);
/* Re-reads t->produce from the effective configs (topic, dynamic broker, start-up). */
void topic_refresh_produce_policy(const broker_t *b, topic_t *t);
/* Re-derives every partition's log settings (after a dynamic broker config changed). */
void topics_reapply_log_configs(broker_t *b);

/* broker_configs.c: dynamic broker configs and the value/source of every config. */
/* ConfigSource values of DescribeConfigs. */
enum {
    CONFIG_SOURCE_DYNAMIC_TOPIC = 1,
    CONFIG_SOURCE_DYNAMIC_BROKER = 2,
    CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    CONFIG_SOURCE_STATIC_BROKER = 4,
    CONFIG_SOURCE_DEFAULT = 5,
};
/* Loads data_dir/.configs/ (before topics, whose defaults depend on it). A bad line fails
 * start-up with the file, line and key. */
int broker_configs_load(broker_t *b, sb_err_t *err);
void broker_configs_free(broker_t *b);
/* The effective value of a topic config for t (t may be NULL: the broker default), with its
 * ConfigSource. Writes into buf and returns it. */
const char *topic_config_value(const broker_t *b, const topic_t *t, const tcfg_def_t *d, char *buf, size_t cap,
                               int8_t *source);
/* A broker key's value ignoring dynamic configs: the start-up config, else kafka_default
 * (source STATIC_BROKER or DEFAULT); NULL when neither exists. */
const char *broker_static_value(const broker_t *b, const char *key, const char *kafka_default, char *buf, size_t cap,
                                int8_t *source);
/* Calls cb for every broker config this broker describes, with its effective value and
 * source, in name order. */
void broker_configs_foreach(const broker_t *b,
                            void (*cb)(void *arg, const char *name, const char *value, int8_t source, bool read_only),
                            void *arg);
/* Checks whether `key` may be set dynamically on a broker resource and that value is valid
 * for it. Returns 0, or a KAFKA_ERR_* code with a message naming the key: INVALID_CONFIG for
 * an unknown key or a bad value, INVALID_REQUEST for a known static key ("Cannot update
 * these configs dynamically"). */
int16_t broker_config_check(const char *key, const char *value, char *why, size_t cap);
/* Replaces the cluster-wide (node=false) or this broker's (node=true) dynamic configs with
 * `configs` (validated): persists, swaps (configs receives the old set), re-applies logs. */
int broker_replace_configs(broker_t *b, bool node, config_set_t *configs, sb_err_t *err);

/* flusher.c */
int flusher_start(broker_t *b, sb_err_t *err);
void flusher_stop(broker_t *b);
/* Marks a partition as having unflushed data (called after each append). */
void flusher_mark_dirty(broker_t *b, partition_t *p);
/* Removes a partition from the flusher before its log is closed; waits for a running flush. */
void flusher_forget(broker_t *b, partition_t *p);
/* Network thread: called when the flusher's eventfd fires; completes satisfied waiters. */
void flusher_on_event(broker_t *b);
/* Fails every waiter on log (topic deleted). */
void durable_waiters_drop_log(broker_t *b, plog_t *log);
/* The partition that owns a log (a pointer-keyed lookup kept by topics.c). */
partition_t *broker_partition_of_log(broker_t *b, plog_t *log);

/* fetch.c */
void fetch_waiters_poll(broker_t *b, int64_t now_ms, bool data_arrived);
void fetch_waiters_free_all(broker_t *b);
int64_t fetch_waiters_next_deadline(broker_t *b);

/* dispatch.c */
typedef struct kafka_api_def {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
    int16_t first_flexible; /* -1: never */
    kafka_handler_fn handler;
} kafka_api_def_t;
const kafka_api_def_t *kafka_api_lookup(int16_t api_key);
const kafka_api_def_t *kafka_api_table(int *n);
/* Handles one complete request frame (without the 4-byte size): the net layer's frame handler.
 * Returns <0 after closing the connection. */
int broker_dispatch(broker_t *b, conn_t *c, uint8_t *frame, size_t len);

#endif
