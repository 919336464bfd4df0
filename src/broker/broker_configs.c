/* Broker configs as Kafka clients see them: the dynamic ones set with AlterConfigs /
 * IncrementalAlterConfigs on a BROKER resource (persisted in data_dir/.configs/), the static
 * ones from the start-up config, and the resolution of every topic config's effective value
 * and ConfigSource (topic override > this broker's dynamic value > cluster-wide dynamic
 * default > start-up config > Kafka's default). Network thread only. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "kafka/protocol.h"

#define CLUSTER_FILE "broker-default"
#define NODE_FILE "broker"

/* Kafka broker keys whose value comes from the start-up config. Only the three log settings
 * are dynamic here (they are re-applied to every partition when changed); the others would
 * need a restart of a thread or listener, so AlterConfigs refuses them, as Kafka refuses its
 * own static keys. */
typedef enum {
    SK_NODE_ID,
    SK_DATA_DIR,
    SK_LISTENERS,
    SK_ADVERTISED,
    SK_NUM_PARTITIONS,
    SK_AUTO_CREATE,
    SK_MAX_REQUEST,
    SK_MAX_CONNECTIONS,
    SK_IDLE_MS,
    SK_RETENTION_CHECK,
    SK_FLUSH_MS,
    SK_INDEX_INTERVAL,
    SK_RETENTION_MS,
    SK_RETENTION_BYTES,
    SK_SEGMENT_BYTES,
    SK_REBALANCE_DELAY,
    SK_SESSION_MIN,
    SK_SESSION_MAX,
    SK_OFFSETS_RETENTION,
    SK_ONE,
} static_which_t;

typedef struct static_key {
    const char *name;
    static_which_t which;
    bool dynamic;
} static_key_t;

static const static_key_t static_keys[] = {
    {"advertised.listeners", SK_ADVERTISED, false},
    {"auto.create.topics.enable", SK_AUTO_CREATE, false},
    {"broker.id", SK_NODE_ID, false},
    {"connections.max.idle.ms", SK_IDLE_MS, false},
    {"default.replication.factor", SK_ONE, false},
    {"group.initial.rebalance.delay.ms", SK_REBALANCE_DELAY, false},
    {"group.max.session.timeout.ms", SK_SESSION_MAX, false},
    {"group.min.session.timeout.ms", SK_SESSION_MIN, false},
    {"listeners", SK_LISTENERS, false},
    {"log.dirs", SK_DATA_DIR, false},
    {"log.flush.interval.ms", SK_FLUSH_MS, false},
    {"log.index.interval.bytes", SK_INDEX_INTERVAL, false},
    {"log.retention.bytes", SK_RETENTION_BYTES, true},
    {"log.retention.check.interval.ms", SK_RETENTION_CHECK, false},
    {"log.retention.ms", SK_RETENTION_MS, true},
    {"log.segment.bytes", SK_SEGMENT_BYTES, true},
    {"max.connections", SK_MAX_CONNECTIONS, false},
    {"message.max.bytes", SK_MAX_REQUEST, false},
    {"num.partitions", SK_NUM_PARTITIONS, false},
    {"offsets.retention.minutes", SK_OFFSETS_RETENTION, false},
    {"offsets.topic.replication.factor", SK_ONE, false},
    {"socket.request.max.bytes", SK_MAX_REQUEST, false},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const static_key_t *find_static(const char *name)
{
    for (size_t i = 0; i < NELEMS(static_keys); i++)
        if (strcmp(static_keys[i].name, name) == 0) return &static_keys[i];
    return NULL;
}

static void static_value(const broker_t *b, static_which_t which, char *buf, size_t cap)
{
    const broker_options_t *o = &b->opt;
    switch (which) {
    case SK_NODE_ID:
        snprintf(buf, cap, "%d", o->node_id);
        break;
    case SK_DATA_DIR:
        snprintf(buf, cap, "%s", o->data_dir);
        break;
    case SK_LISTENERS:
    case SK_ADVERTISED: {
        /* Kafka's form: NAME://host:port, comma-separated. */
        size_t used = 0;
        buf[0] = 0;
        for (int i = 0; i < b->nlisteners && used < cap; i++) {
            net_listener_t *l = b->listeners[i].net;
            const char *host = which == SK_ADVERTISED ? b->listeners[i].advertised_host
                               : o->nlisteners ? o->listeners[i].host
                                               : o->listen_host;
            int32_t port = which == SK_ADVERTISED ? b->listeners[i].advertised_port : net_listener_port(l);
            int w = snprintf(buf + used, cap - used, "%s%s://%s:%d", i ? "," : "", net_listener_name(l), host, port);
            if (w > 0) used += (size_t)w;
        }
        break;
    }
    case SK_NUM_PARTITIONS:
        snprintf(buf, cap, "%d", o->default_partitions);
        break;
    case SK_AUTO_CREATE:
        snprintf(buf, cap, "%s", o->auto_create_topics ? "true" : "false");
        break;
    case SK_MAX_REQUEST:
        snprintf(buf, cap, "%" PRId64, o->max_request_bytes);
        break;
    case SK_MAX_CONNECTIONS:
        snprintf(buf, cap, "%d", o->max_connections);
        break;
    case SK_IDLE_MS:
        snprintf(buf, cap, "%" PRId64, o->idle_connection_timeout_ms);
        break;
    case SK_RETENTION_CHECK:
        snprintf(buf, cap, "%" PRId64, o->retention_check_interval_ms);
        break;
    case SK_FLUSH_MS:
        snprintf(buf, cap, "%" PRId64, o->flush_interval_ms);
        break;
    case SK_INDEX_INTERVAL:
        snprintf(buf, cap, "%" PRIu32, o->index_interval_bytes);
        break;
    case SK_RETENTION_MS:
        snprintf(buf, cap, "%" PRId64, o->retention_ms);
        break;
    case SK_RETENTION_BYTES:
        snprintf(buf, cap, "%" PRId64, o->retention_bytes);
        break;
    case SK_SEGMENT_BYTES:
        snprintf(buf, cap, "%" PRIu64, o->segment_bytes);
        break;
    case SK_REBALANCE_DELAY:
        snprintf(buf, cap, "%" PRId64, o->group_initial_rebalance_delay_ms);
        break;
    case SK_SESSION_MIN:
        snprintf(buf, cap, "%" PRId64, o->group_session_timeout_min_ms);
        break;
    case SK_SESSION_MAX:
        snprintf(buf, cap, "%" PRId64, o->group_session_timeout_max_ms);
        break;
    case SK_OFFSETS_RETENTION:
        snprintf(buf, cap, "%" PRId64, o->offsets_retention_ms / 60000);
        break;
    case SK_ONE:
        snprintf(buf, cap, "1");
        break;
    }
}

const char *broker_static_value(const broker_t *b, const char *key, const char *kafka_default,
                                char *buf, size_t cap, int8_t *source)
{
    const static_key_t *sk = find_static(key);
    if (sk) {
        *source = CONFIG_SOURCE_STATIC_BROKER;
        static_value(b, sk->which, buf, cap);
        return buf;
    }
    if (!kafka_default) return NULL;
    *source = CONFIG_SOURCE_DEFAULT;
    snprintf(buf, cap, "%s", kafka_default);
    return buf;
}

/* The effective value of a broker key and where it comes from; NULL when the key has no
 * value here at all (not a key this broker describes). */
static const char *broker_value(const broker_t *b, const char *key, const char *kafka_default,
                                char *buf, size_t cap, int8_t *source)
{
    const char *v = config_set_get(&b->dyn_node, key);
    if (v) {
        *source = CONFIG_SOURCE_DYNAMIC_BROKER;
        snprintf(buf, cap, "%s", v);
        return buf;
    }
    if ((v = config_set_get(&b->dyn_cluster, key))) {
        *source = CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER;
        snprintf(buf, cap, "%s", v);
        return buf;
    }
    return broker_static_value(b, key, kafka_default, buf, cap, source);
}

const char *topic_config_value(const broker_t *b, const topic_t *t, const tcfg_def_t *d, char *buf,
                               size_t cap, int8_t *source)
{
    const char *v = t ? config_set_get(&t->configs, d->name) : NULL;
    if (v) {
        *source = CONFIG_SOURCE_DYNAMIC_TOPIC;
        snprintf(buf, cap, "%s", v);
        return buf;
    }
    if (d->broker_name) return broker_value(b, d->broker_name, d->kafka_default, buf, cap, source);
    *source = CONFIG_SOURCE_DEFAULT;
    snprintf(buf, cap, "%s", d->kafka_default);
    return buf;
}

typedef struct named {
    const char *name;
    const char *kafka_default;
    bool read_only;
} named_t;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named_t *)a)->name, ((const named_t *)b)->name);
}

void broker_configs_foreach(const broker_t *b,
                            void (*cb)(void *arg, const char *name, const char *value,
                                       int8_t source, bool read_only),
                            void *arg)
{
    size_t nt, ne;
    const tcfg_def_t *td = tcfg_table(&nt);
    const tcfg_def_t *ed = tcfg_broker_extra_table(&ne);
    named_t all[NELEMS(static_keys) + 64];
    size_t n = 0;
    for (size_t i = 0; i < NELEMS(static_keys); i++)
        all[n++] = (named_t){static_keys[i].name, NULL, !static_keys[i].dynamic};
    for (size_t i = 0; i < nt && n < NELEMS(all); i++) {
        if (!td[i].broker_name || find_static(td[i].broker_name)) continue;
        all[n++] = (named_t){td[i].broker_name, td[i].kafka_default, false};
    }
    for (size_t i = 0; i < ne && n < NELEMS(all); i++)
        all[n++] = (named_t){ed[i].name, ed[i].kafka_default, false};
    qsort(all, n, sizeof(all[0]), cmp_named);
    for (size_t i = 0; i < n; i++) {
        char buf[1100];
        int8_t source;
        const char *v =
            broker_value(b, all[i].name, all[i].kafka_default, buf, sizeof(buf), &source);
        if (v) cb(arg, all[i].name, v, source, all[i].read_only);
    }
}

int16_t broker_config_check(const char *key, const char *value, char *why, size_t cap)
{
    if (!key) {
        snprintf(why, cap, "broker config with a null name");
        return KAFKA_ERR_INVALID_CONFIG;
    }
    const static_key_t *sk = find_static(key);
    if (sk && !sk->dynamic) {
        snprintf(why, cap,
                 "Cannot update these configs dynamically: [%s] (set it in the broker's config "
                 "file and restart)",
                 key);
        return KAFKA_ERR_INVALID_REQUEST;
    }
    const tcfg_def_t *d = tcfg_find_broker(key);
    if (!d) {
        snprintf(why, cap, "Unknown broker config name: %s", key);
        return KAFKA_ERR_INVALID_CONFIG;
    }
    if (tcfg_validate(d, key, value, why, cap) != 0) return KAFKA_ERR_INVALID_CONFIG;
    return KAFKA_ERR_NONE;
}

/* ----- persistence ----- */

static void config_path(const broker_t *b, bool node, char *out, size_t cap)
{
    snprintf(out, cap, "%s/.configs/%s", b->opt.data_dir, node ? NODE_FILE : CLUSTER_FILE);
}

static int store(broker_t *b, bool node, const config_set_t *s, sb_err_t *err)
{
    char dir[1100], path[1200];
    snprintf(dir, sizeof(dir), "%s/.configs", b->opt.data_dir);
    int rc = sb_mkdir_durable(dir, err);
    if (rc < 0) return rc;
    config_path(b, node, path, sizeof(path));
    sb_wr_t w;
    sb_wr_init(&w, 256);
    static const char head[] = "# dynamic broker configs (AlterConfigs); written by the broker\n";
    sb_wr_bytes(&w, head, sizeof(head) - 1);
    for (size_t i = 0; i < s->n; i++) {
        sb_wr_bytes(&w, s->keys[i], strlen(s->keys[i]));
        sb_wr_bytes(&w, "=", 1);
        sb_wr_bytes(&w, s->values[i], strlen(s->values[i]));
        sb_wr_bytes(&w, "\n", 1);
    }
    rc = w.oom ? sb_err_set(err, SB_ENOMEM, "out of memory")
               : sb_write_file_atomic(path, w.buf, w.len, err);
    sb_wr_deinit(&w);
    return rc;
}

static int load_file(broker_t *b, bool node, config_set_t *into, sb_err_t *err)
{
    char path[1200];
    config_path(b, node, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rc = sb_err_set(err, SB_ECORRUPT, "%s:%d: expected key=value", path, lineno);
            break;
        }
        *eq = 0;
        char why[400];
        if (broker_config_check(line, eq + 1, why, sizeof(why)) != KAFKA_ERR_NONE) {
            rc = sb_err_set(err, SB_ECORRUPT, "%s:%d: %s", path, lineno, why);
            break;
        }
        if (config_set_put(into, line, eq + 1) != 0) {
            rc = sb_err_set(err, SB_ENOMEM, "out of memory");
            break;
        }
    }
    fclose(f);
    return rc;
}

int broker_configs_load(broker_t *b, sb_err_t *err)
{
    config_set_init(&b->dyn_cluster);
    config_set_init(&b->dyn_node);
    /* ACLs are cluster metadata loaded with the dynamic configs, before any request. */
    int rc = broker_authz_init(b, err);
    if (rc == 0) rc = load_file(b, false, &b->dyn_cluster, err);
    if (rc == 0) rc = load_file(b, true, &b->dyn_node, err);
    if (rc == 0 && b->dyn_cluster.n + b->dyn_node.n > 0)
        sb_info("broker", "loaded %zu dynamic broker config(s) from %s/.configs",
                b->dyn_cluster.n + b->dyn_node.n, b->opt.data_dir);
    return rc;
}

void broker_configs_free(broker_t *b)
{
    config_set_deinit(&b->dyn_cluster);
    config_set_deinit(&b->dyn_node);
    broker_authz_free(b);
}

int broker_replace_configs(broker_t *b, bool node, config_set_t *configs, sb_err_t *err)
{
    int rc = store(b, node, configs, err);
    if (rc < 0) return rc;
    config_set_swap(node ? &b->dyn_node : &b->dyn_cluster, configs);
    topics_reapply_log_configs(b);
    return 0;
}

/* ---- identity the handlers read (broker.h) ---- */

int32_t broker_node_id(const broker_t *b)
{
    return b->opt.node_id;
}
const char *broker_advertised_host(const broker_t *b)
{
    return b->listeners[0].advertised_host;
}
int32_t broker_advertised_port(const broker_t *b)
{
    return b->listeners[0].advertised_port;
}

/* The broker entry of the listener c came in on; the first listener for adopted sockets. */
static const broker_listener_t *listener_of(const broker_t *b, const conn_t *c)
{
    net_listener_t *l = c ? net_conn_listener(c) : NULL;
    for (int i = 0; l && i < b->nlisteners; i++)
        if (b->listeners[i].net == l) return &b->listeners[i];
    return &b->listeners[0];
}

const char *broker_advertised_host_for(const broker_t *b, const conn_t *c)
{
    return listener_of(b, c)->advertised_host;
}

int32_t broker_advertised_port_for(const broker_t *b, const conn_t *c)
{
    return listener_of(b, c)->advertised_port;
}
group_coordinator_t *broker_groups(broker_t *b)
{
    return b->groups;
}
const char *broker_data_dir(const broker_t *b)
{
    return b->opt.data_dir;
}
