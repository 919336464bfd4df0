/* The topic registry: a hash table of topics, each with its partitions' logs. Topic metadata
 * (partition count and per-topic config overrides) lives in <data_dir>/.topics/<name>, written
 * atomically (temp file + rename); partition data lives in <data_dir>/<name>-<partition>/ as
 * Kafka lays it out. Network thread only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/group/coordinator.h"
#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/log.h"
#include "kafka/protocol.h"


static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

/* ---- plog -> partition map (for broker_after_durable, which is given a log) ---- */

typedef struct log_map_node {
    plog_t *log;
    partition_t *p;
    struct log_map_node *next;
} log_map_node_t;

#define LOG_MAP_BUCKETS 1024
static size_t ptr_bucket(const void *ptr)
{
    return (size_t)(((uintptr_t)ptr >> 4) * 0x9E3779B97F4A7C15ull >> 54) % LOG_MAP_BUCKETS;
}

static void log_map_put(broker_t *b, partition_t *p)
{
    if (!b->log_map) b->log_map = calloc(LOG_MAP_BUCKETS, sizeof(*b->log_map));
    if (!b->log_map) return;
    log_map_node_t *n = malloc(sizeof(*n));
    if (!n) return;
    size_t i = ptr_bucket(p->log);
    *n = (log_map_node_t){p->log, p, b->log_map[i]};
    b->log_map[i] = n;
}

static void log_map_del(broker_t *b, plog_t *log)
{
    if (!b->log_map) return;
    for (log_map_node_t **pp = &b->log_map[ptr_bucket(log)]; *pp; pp = &(*pp)->next)
        if ((*pp)->log == log) {
            log_map_node_t *n = *pp;
            *pp = n->next;
            free(n);
            return;
        }
}

partition_t *broker_partition_of_log(broker_t *b, plog_t *log)
{
    if (!b->log_map) return NULL;
    for (log_map_node_t *n = b->log_map[ptr_bucket(log)]; n; n = n->next)
        if (n->log == log) return n->p;
    return NULL;
}

/* ---- registry ---- */

bool topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > 249) return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

topic_t *broker_topic_find(broker_t *b, const char *name, int32_t name_len)
{
    if (!b->topic_nbuckets || name_len < 0) return NULL;
    size_t n = (size_t)name_len;
    for (topic_t *t = b->topic_buckets[name_hash(name, n) % b->topic_nbuckets]; t; t = t->hnext)
        if (strlen(t->name) == n && memcmp(t->name, name, n) == 0) return t;
    return NULL;
}

int32_t topic_partition_count(const topic_t *t)
{
    return t->npartitions;
}

const char *topic_name(const topic_t *t)
{
    return t->name;
}

partition_t *topic_partition(topic_t *t, int32_t index)
{
    return index >= 0 && index < t->npartitions ? t->partitions[index] : NULL;
}

plog_t *topic_partition_log(topic_t *t, int32_t index)
{
    partition_t *p = topic_partition(t, index);
    return p ? p->log : NULL;
}

void topics_foreach(broker_t *b, void (*cb)(void *arg, topic_t *t), void *arg)
{
    for (size_t i = 0; i < b->topic_nbuckets; i++)
        for (topic_t *t = b->topic_buckets[i], *n; t; t = n) {
            n = t->hnext; /* cb may delete t */
            cb(arg, t);
        }
}

static int registry_insert(broker_t *b, topic_t *t)
{
    if (b->ntopics + 1 > b->topic_nbuckets) {
        size_t nb = b->topic_nbuckets ? b->topic_nbuckets * 2 : 64;
        topic_t **buckets = calloc(nb, sizeof(*buckets));
        if (!buckets) return SB_ENOMEM;
        for (size_t i = 0; i < b->topic_nbuckets; i++)
            for (topic_t *x = b->topic_buckets[i], *n; x; x = n) {
                n = x->hnext;
                size_t j = name_hash(x->name, strlen(x->name)) % nb;
                x->hnext = buckets[j];
                buckets[j] = x;
            }
        free(b->topic_buckets);
        b->topic_buckets = buckets;
        b->topic_nbuckets = nb;
    }
    /* Every created or loaded topic passes here with its configs in place. */
    topic_refresh_produce_policy(b, t);
    size_t j = name_hash(t->name, strlen(t->name)) % b->topic_nbuckets;
    t->hnext = b->topic_buckets[j];
    b->topic_buckets[j] = t;
    b->ntopics++;
    return 0;
}

static void registry_remove(broker_t *b, topic_t *t)
{
    size_t j = name_hash(t->name, strlen(t->name)) % b->topic_nbuckets;
    for (topic_t **pp = &b->topic_buckets[j]; *pp; pp = &(*pp)->hnext)
        if (*pp == t) {
            *pp = t->hnext;
            b->ntopics--;
            return;
        }
}

static int64_t effective_long(const broker_t *b, const topic_t *t, const char *key)
{
    char buf[TCFG_VALUE_MAX + 1];
    int8_t source;
    return tcfg_parse_long(topic_config_value(b, t, tcfg_find(key), buf, sizeof(buf), &source));
}

void topic_plog_config(const broker_t *b, const topic_t *t, plog_config_t *cfg)
{
    cfg->segment_bytes = (uint64_t)effective_long(b, t, "segment.bytes");
    cfg->index_interval_bytes = b->opt.index_interval_bytes;
    cfg->retention_ms = effective_long(b, t, "retention.ms");
    cfg->retention_bytes = effective_long(b, t, "retention.bytes");
}

void topic_refresh_produce_policy(const broker_t *b, topic_t *t)
{
    char buf[TCFG_VALUE_MAX + 1];
    int8_t source;
    t->produce.max_message_bytes = effective_long(b, t, "max.message.bytes");
    t->produce.log_append_time =
        strcmp(topic_config_value(b, t, tcfg_find("message.timestamp.type"), buf, sizeof(buf), &source),
               "LogAppendTime") == 0;
    /* Kafka 3.6 split message.timestamp.difference.max.ms into before/after; the older key
     * still bounds both directions, so the tighter of the two wins. */
    int64_t diff = effective_long(b, t, "message.timestamp.difference.max.ms");
    int64_t before = effective_long(b, t, "message.timestamp.before.max.ms");
    int64_t after = effective_long(b, t, "message.timestamp.after.max.ms");
    t->produce.timestamp_before_max_ms = before < diff ? before : diff;
    t->produce.timestamp_after_max_ms = after < diff ? after : diff;
    t->produce.min_insync_replicas = (int32_t)effective_long(b, t, "min.insync.replicas");
}

static int open_partition(broker_t *b, topic_t *t, int32_t index, partition_t **out, sb_err_t *err)
{
    partition_t *p = calloc(1, sizeof(*p));
    if (!p) return sb_err_set(err, SB_ENOMEM, "out of memory");
    p->topic = t;
    p->index = index;
    producer_state_init(&p->producers);
    char dir[1400];
    snprintf(dir, sizeof(dir), "%s/%s-%d", b->opt.data_dir, t->name, index);
    plog_config_t cfg;
    topic_plog_config(b, t, &cfg);
    int rc = plog_open(dir, &cfg, &p->log, err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    producer_state_rebuild(&p->producers, p->log);
    log_map_put(b, p);
    *out = p;
    return 0;
}

static void close_partition(broker_t *b, partition_t *p)
{
    if (!p) return;
    flusher_forget(b, p);
    durable_waiters_drop_log(b, p->log);
    log_map_del(b, p->log);
    plog_close(p->log);
    producer_state_deinit(&p->producers);
    free(p);
}

static void topic_free(broker_t *b, topic_t *t)
{
    for (int32_t i = 0; i < t->npartitions; i++) close_partition(b, t->partitions[i]);
    free(t->partitions);
    free(t->name);
    config_set_deinit(&t->configs);
    free(t);
}

/* ---- metadata file ---- */

/* .topics/<name>: "partitions=N" then one "key=value" line per dynamic topic config. */
static int write_topic_meta(broker_t *b, const topic_t *t, sb_err_t *err)
{
    char dir[1100], path[1400];
    snprintf(dir, sizeof(dir), "%s/.topics", b->opt.data_dir);
    int rc = sb_mkdir_durable(dir, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof(path), "%s/%s", dir, t->name);
    sb_wr_t w;
    sb_wr_init(&w, 256);
    char line[64];
    int n = snprintf(line, sizeof(line), "partitions=%d\n", t->npartitions);
    sb_wr_bytes(&w, line, (size_t)n);
    for (size_t i = 0; i < t->configs.n; i++) {
        sb_wr_bytes(&w, t->configs.keys[i], strlen(t->configs.keys[i]));
        sb_wr_bytes(&w, "=", 1);
        sb_wr_bytes(&w, t->configs.values[i], strlen(t->configs.values[i]));
        sb_wr_bytes(&w, "\n", 1);
    }
    rc = w.oom ? sb_err_set(err, SB_ENOMEM, "out of memory") : sb_write_file_atomic(path, w.buf, w.len, err);
    sb_wr_deinit(&w);
    return rc;
}

int topic_config_check(const char *key, const char *value, config_set_t *into, sb_err_t *err)
{
    if (!key) return sb_err_set(err, SB_EINVAL, "topic config with a null name");
    const tcfg_def_t *d = tcfg_find(key);
    if (!d) return sb_err_set(err, SB_EINVAL, "Unknown topic config name: %s", key);
    char why[400];
    if (tcfg_validate(d, key, value, why, sizeof(why)) != 0) return sb_err_set(err, SB_EINVAL, "%s", why);
    if (into && config_set_put(into, key, value) != 0) return sb_err_set(err, SB_ENOMEM, "out of memory");
    return 0;
}

static topic_t *topic_alloc(const char *name)
{
    topic_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->name = strdup(name);
    config_set_init(&t->configs);
    if (!t->name) {
        free(t);
        return NULL;
    }
    return t;
}

static int open_partitions(broker_t *b, topic_t *t, int32_t from, int32_t to, sb_err_t *err)
{
    partition_t **np = realloc(t->partitions, sizeof(*np) * (size_t)to);
    if (!np) return sb_err_set(err, SB_ENOMEM, "out of memory");
    t->partitions = np;
    for (int32_t i = from; i < to; i++) {
        int rc = open_partition(b, t, i, &t->partitions[i], err);
        if (rc < 0) return rc;
        t->npartitions = i + 1;
    }
    return 0;
}

int topic_create(broker_t *b, const char *name, int32_t npartitions, const char *const *cfg_names,
                 const char *const *cfg_values, int ncfg, topic_t **out, sb_err_t *err)
{
    if (!topic_name_valid(name, strlen(name))) return sb_err_set(err, SB_EINVAL, "invalid topic name \"%s\"", name);
    if (broker_topic_find(b, name, (int32_t)strlen(name)))
        return sb_err_set(err, SB_EEXIST, "topic \"%s\" already exists", name);
    if (npartitions < 1 || npartitions > b->opt.max_partitions_per_topic)
        return sb_err_set(err, SB_ERANGE, "partition count %d outside [1, broker.max_partitions_per_topic=%d]",
                          npartitions, b->opt.max_partitions_per_topic);
    topic_t *t = topic_alloc(name);
    if (!t) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (int i = 0; i < ncfg; i++) {
        int crc = topic_config_check(cfg_names[i], cfg_values[i], &t->configs, err);
        if (crc < 0) {
            topic_free(b, t);
            return crc;
        }
    }
    int rc = write_topic_meta(b, t, err);
    if (rc == 0) {
        t->npartitions = npartitions; /* written first so a crash leaves a loadable topic */
        rc = write_topic_meta(b, t, err);
        t->npartitions = 0;
    }
    if (rc == 0) rc = open_partitions(b, t, 0, npartitions, err);
    if (rc == 0) rc = registry_insert(b, t);
    if (rc < 0) {
        topic_free(b, t);
        return rc;
    }
    sb_info("topics", "created topic %s with %d partitions", name, npartitions);
    if (out) *out = t;
    return 0;
}

int16_t topic_get_or_create(broker_t *b, sb_slice_t name, bool create, topic_t **out)
{
    *out = NULL;
    if (name.len <= 0) return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
    if (t) {
        *out = t;
        return 0;
    }
    if (!topic_name_valid((const char *)name.p, (size_t)name.len)) return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    if (!create || !b->opt.auto_create_topics) return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    char nm[256];
    memcpy(nm, name.p, (size_t)name.len);
    nm[name.len] = 0;
    sb_err_t err = {0};
    if (topic_create(b, nm, b->opt.default_partitions, NULL, NULL, 0, out, &err) < 0) {
        sb_error("topics", "auto-creating topic %s failed: %s", nm, err.msg);
        return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    }
    return 0;
}

int topic_delete(broker_t *b, topic_t *t, sb_err_t *err)
{
    registry_remove(b, t);
    /* Its committed offsets go with it, as in Kafka; a re-created topic starts afresh. */
    if (b->groups && !t->internal) group_coordinator_topic_deleted(b->groups, t->name);
    char path[1400];
    snprintf(path, sizeof(path), "%s/.topics/%s", b->opt.data_dir, t->name);
    /* The metadata file goes first: a crash halfway leaves orphan directories, never a topic
     * that half exists. */
    if (unlink(path) < 0 && errno != ENOENT) sb_warn("topics", "cannot remove %s: %s", path, strerror(errno));
    int32_t n = t->npartitions;
    char *name = strdup(t->name);
    for (int32_t i = 0; i < n; i++) {
        close_partition(b, t->partitions[i]);
        t->partitions[i] = NULL;
        char dir[1400];
        snprintf(dir, sizeof(dir), "%s/%s-%d", b->opt.data_dir, name ? name : "?", i);
        sb_err_t e2 = {0};
        if (plog_remove_dir(dir, &e2) < 0) sb_warn("topics", "cannot remove %s: %s", dir, e2.msg);
    }
    t->npartitions = 0;
    sb_info("topics", "deleted topic %s", name ? name : "?");
    free(name);
    topic_free(b, t);
    (void)err;
    return 0;
}

int topic_add_partitions(broker_t *b, topic_t *t, int32_t total, sb_err_t *err)
{
    if (total > b->opt.max_partitions_per_topic)
        return sb_err_set(err, SB_ERANGE, "partition count %d above broker.max_partitions_per_topic=%d", total,
                          b->opt.max_partitions_per_topic);
    if (total <= t->npartitions)
        return sb_err_set(err, SB_EINVAL, "topic %s has %d partitions; the new count must be larger", t->name,
                          t->npartitions);
    int32_t old = t->npartitions;
    int rc = open_partitions(b, t, old, total, err);
    if (rc == 0) rc = write_topic_meta(b, t, err);
    if (rc == 0) sb_info("topics", "topic %s now has %d partitions (was %d)", t->name, total, old);
    return rc;
}

static int load_topic_file(broker_t *b, const char *name, const char *path, sb_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return sb_err_set(err, SB_EIO, "cannot read %s: %s", path, strerror(errno));
    topic_t *t = topic_alloc(name);
    if (!t) {
        fclose(f);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    int32_t np = 0;
    char line[512];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rc = sb_err_set(err, SB_ECORRUPT, "%s:%d: expected key=value", path, lineno);
            break;
        }
        *eq = 0;
        if (strcmp(line, "partitions") == 0) {
            np = atoi(eq + 1);
            continue;
        }
        sb_err_t e = {0};
        if (topic_config_check(line, eq + 1, &t->configs, &e) < 0) {
            rc = sb_err_set(err, SB_ECORRUPT, "%s:%d: %s", path, lineno, e.msg);
            break;
        }
    }
    fclose(f);
    if (rc == 0 && np < 1) rc = sb_err_set(err, SB_ECORRUPT, "%s: missing or invalid partitions", path);
    if (rc == 0) rc = open_partitions(b, t, 0, np, err);
    if (rc == 0) rc = registry_insert(b, t);
    if (rc < 0) topic_free(b, t);
    return rc;
}

int topics_load(broker_t *b, sb_err_t *err)
{
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/.topics", b->opt.data_dir);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : sb_err_set(err, SB_EIO, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) continue;
        if (!topic_name_valid(de->d_name, n)) continue;
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if ((rc = load_topic_file(b, de->d_name, path, err)) < 0) break;
    }
    closedir(d);
    return rc;
}

void topics_free_all(broker_t *b)
{
    for (size_t i = 0; i < b->topic_nbuckets; i++) {
        for (topic_t *t = b->topic_buckets[i], *n; t; t = n) {
            n = t->hnext;
            topic_free(b, t);
        }
        b->topic_buckets[i] = NULL;
    }
    b->ntopics = 0;
    if (b->log_map) {
        for (size_t i = 0; i < LOG_MAP_BUCKETS; i++)
            for (log_map_node_t *x = b->log_map[i], *n; x; x = n) {
                n = x->next;
                free(x);
            }
        free(b->log_map);
        b->log_map = NULL;
    }
}

static void retention_cb(void *arg, topic_t *t)
{
    broker_t *b = arg;
    int64_t now = sb_now_ms();
    for (int32_t i = 0; i < t->npartitions; i++) {
        int deleted = 0;
        sb_err_t err = {0};
        if (plog_enforce_retention(t->partitions[i]->log, now, &deleted, &err) < 0)
            sb_warn("retention", "%s-%d: %s", t->name, i, err.msg);
        else if (deleted)
            sb_info("retention", "%s-%d: deleted %d old segment(s)", t->name, i, deleted);
    }
    (void)b;
}

void topics_enforce_retention(broker_t *b, int64_t now_ms)
{
    (void)now_ms;
    topics_foreach(b, retention_cb, b);
}

static void apply_log_config(broker_t *b, topic_t *t)
{
    topic_refresh_produce_policy(b, t);
    plog_config_t cfg;
    topic_plog_config(b, t, &cfg);
    for (int32_t i = 0; i < t->npartitions; i++) {
        sb_err_t e = {0};
        if (plog_set_config(t->partitions[i]->log, &cfg, &e) < 0) sb_warn("topics", "%s-%d: %s", t->name, i, e.msg);
    }
}

int topic_replace_configs(broker_t *b, topic_t *t, config_set_t *configs, sb_err_t *err)
{
    config_set_swap(&t->configs, configs);
    int rc = write_topic_meta(b, t, err);
    if (rc < 0) {
        config_set_swap(&t->configs, configs); /* nothing changed: the old file is intact */
        return rc;
    }
    apply_log_config(b, t);
    retention_cb(b, t);
    return 0;
}

static void reapply_cb(void *arg, topic_t *t)
{
    apply_log_config(arg, t);
    retention_cb(arg, t);
}

void topics_reapply_log_configs(broker_t *b)
{
    topics_foreach(b, reapply_cb, b);
}
