/* The Kafka topic-config table (names, types and defaults as in Kafka 3.x's LogConfig) and
 * a small string map for dynamic overrides. See topic_config.h. */
#include "broker/topic_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/err.h"

#define LMAX INT64_MAX
#define IMAX INT32_MAX
#define LMAX_STR "9223372036854775807"

static const char *const cleanup_policies[] = {"delete", "compact", NULL};
static const char *const compression_types[] = {"uncompressed", "zstd",     "lz4", "snappy",
                                                "gzip",         "producer", NULL};
static const char *const timestamp_types[] = {"CreateTime", "LogAppendTime", NULL};

/* Sorted by name, as DescribeConfigs lists them. Ranges are Kafka's, except segment.bytes,
 * whose floor and ceiling are this log's (positions in an index are u32, see plog.h). */
static const tcfg_def_t topic_defs[] = {
    {"cleanup.policy", "log.cleanup.policy", TCFG_LIST, "delete", 0, 0, cleanup_policies, false},
    {"compression.type", "compression.type", TCFG_STRING, "producer", 0, 0, compression_types,
     false},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", TCFG_LONG, "86400000", 0, LMAX, NULL,
     false},
    {"file.delete.delay.ms", "log.segment.delete.delay.ms", TCFG_LONG, "60000", 0, LMAX, NULL,
     false},
    {"flush.messages", "log.flush.interval.messages", TCFG_LONG, LMAX_STR, 1, LMAX, NULL, false},
    {"flush.ms", "log.flush.interval.ms", TCFG_LONG, LMAX_STR, 0, LMAX, NULL, false},
    {"follower.replication.throttled.replicas", NULL, TCFG_LIST, "", 0, 0, NULL, false},
    {"index.interval.bytes", "log.index.interval.bytes", TCFG_INT, "4096", 0, IMAX, NULL, false},
    {"leader.replication.throttled.replicas", NULL, TCFG_LIST, "", 0, 0, NULL, false},
    {"local.retention.bytes", "log.local.retention.bytes", TCFG_LONG, "-2", -2, LMAX, NULL, false},
    {"local.retention.ms", "log.local.retention.ms", TCFG_LONG, "-2", -2, LMAX, NULL, false},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", TCFG_LONG, LMAX_STR, 1, LMAX,
     NULL, false},
    {"max.message.bytes", "message.max.bytes", TCFG_INT, "1048588", 0, IMAX, NULL, true},
    {"message.downconversion.enable", "log.message.downconversion.enable", TCFG_BOOL, "true", 0, 0,
     NULL, false},
    {"message.format.version", "log.message.format.version", TCFG_STRING, "3.0-IV1", 0, 0, NULL,
     false},
    {"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", TCFG_LONG, LMAX_STR, 0,
     LMAX, NULL, true},
    {"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", TCFG_LONG, LMAX_STR,
     0, LMAX, NULL, true},
    {"message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", TCFG_LONG,
     LMAX_STR, 0, LMAX, NULL, true},
    {"message.timestamp.type", "log.message.timestamp.type", TCFG_STRING, "CreateTime", 0, 0,
     timestamp_types, true},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", TCFG_DOUBLE, "0.5", 0, 1, NULL,
     false},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", TCFG_LONG, "0", 0, LMAX, NULL,
     false},
    {"min.insync.replicas", "min.insync.replicas", TCFG_INT, "1", 1, IMAX, NULL, true},
    {"preallocate", "log.preallocate", TCFG_BOOL, "false", 0, 0, NULL, false},
    {"remote.storage.enable", NULL, TCFG_BOOL, "false", 0, 0, NULL, false},
    {"retention.bytes", "log.retention.bytes", TCFG_LONG, "-1", -1, LMAX, NULL, true},
    {"retention.ms", "log.retention.ms", TCFG_LONG, "604800000", -1, LMAX, NULL, true},
    {"segment.bytes", "log.segment.bytes", TCFG_INT, "1073741824", 1024, IMAX, NULL, true},
    {"segment.index.bytes", "log.index.size.max.bytes", TCFG_INT, "10485760", 4, IMAX, NULL, false},
    {"segment.jitter.ms", "log.roll.jitter.ms", TCFG_LONG, "0", 0, LMAX, NULL, false},
    {"segment.ms", "log.roll.ms", TCFG_LONG, "604800000", 1, LMAX, NULL, false},
    {"unclean.leader.election.enable", "unclean.leader.election.enable", TCFG_BOOL, "false", 0, 0,
     NULL, false},
};

/* Dynamic broker configs (per broker in Kafka) that have no topic synonym and no effect on a
 * single node. They are accepted so that tools which tune them (librdkafka's admin test sets
 * sasl.kerberos.min.time.before.relogin) work, and are stored and described. */
static const tcfg_def_t broker_extra_defs[] = {
    {"background.threads", NULL, TCFG_INT, "10", 1, IMAX, NULL, false},
    {"follower.replication.throttled.rate", NULL, TCFG_LONG, LMAX_STR, 0, LMAX, NULL, false},
    {"leader.replication.throttled.rate", NULL, TCFG_LONG, LMAX_STR, 0, LMAX, NULL, false},
    {"log.cleaner.threads", NULL, TCFG_INT, "1", 0, IMAX, NULL, false},
    {"max.connections.per.ip", NULL, TCFG_INT, "2147483647", 0, IMAX, NULL, false},
    {"num.io.threads", NULL, TCFG_INT, "8", 1, IMAX, NULL, false},
    {"num.network.threads", NULL, TCFG_INT, "3", 1, IMAX, NULL, false},
    {"num.recovery.threads.per.data.dir", NULL, TCFG_INT, "1", 1, IMAX, NULL, false},
    {"num.replica.fetchers", NULL, TCFG_INT, "1", 1, IMAX, NULL, false},
    {"sasl.kerberos.min.time.before.relogin", NULL, TCFG_LONG, "60000", 0, LMAX, NULL, false},
    {"sasl.kerberos.ticket.renew.jitter", NULL, TCFG_DOUBLE, "0.05", 0, 1, NULL, false},
    {"sasl.kerberos.ticket.renew.window.factor", NULL, TCFG_DOUBLE, "0.8", 0, 1, NULL, false},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

const tcfg_def_t *tcfg_table(size_t *n)
{
    *n = NELEMS(topic_defs);
    return topic_defs;
}

const tcfg_def_t *tcfg_broker_extra_table(size_t *n)
{
    *n = NELEMS(broker_extra_defs);
    return broker_extra_defs;
}

const tcfg_def_t *tcfg_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < NELEMS(topic_defs); i++)
        if (strcmp(topic_defs[i].name, name) == 0) return &topic_defs[i];
    return NULL;
}

const tcfg_def_t *tcfg_find_broker(const char *broker_name)
{
    if (!broker_name) return NULL;
    for (size_t i = 0; i < NELEMS(topic_defs); i++)
        if (topic_defs[i].broker_name && strcmp(topic_defs[i].broker_name, broker_name) == 0)
            return &topic_defs[i];
    for (size_t i = 0; i < NELEMS(broker_extra_defs); i++)
        if (strcmp(broker_extra_defs[i].name, broker_name) == 0) return &broker_extra_defs[i];
    return NULL;
}

static bool in_choices(const char *const *choices, const char *s, size_t len)
{
    for (size_t i = 0; choices[i]; i++)
        if (strlen(choices[i]) == len && strncmp(choices[i], s, len) == 0) return true;
    return false;
}

static void join_choices(const char *const *choices, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; choices[i] && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", choices[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

int tcfg_validate(const tcfg_def_t *d, const char *key, const char *value, char *why, size_t cap)
{
    char set[160];
    if (!value) {
        snprintf(why, cap, "Null value not supported for configuration %s", key);
        return -1;
    }
    /* Values are stored one per line in key=value files, so they must be short single lines. */
    if (strlen(value) > TCFG_VALUE_MAX) {
        snprintf(why, cap, "Invalid value for configuration %s: longer than %d bytes", key,
                 TCFG_VALUE_MAX);
        return -1;
    }
    for (const char *c = value; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            snprintf(why, cap,
                     "Invalid value for configuration %s: control characters are not allowed", key);
            return -1;
        }
    switch (d->type) {
    case TCFG_LONG:
    case TCFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            snprintf(why, cap, "Invalid value %s for configuration %s: Not a number of type %s",
                     value, key, d->type == TCFG_INT ? "INT" : "LONG");
            return -1;
        }
        if (v < d->min || v > d->max) {
            snprintf(why, cap,
                     "Invalid value %s for configuration %s: Value must be in [%" PRId64
                     ", %" PRId64 "]",
                     value, key, d->min, d->max);
            return -1;
        }
        return 0;
    }
    case TCFG_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) return 0;
        snprintf(why, cap,
                 "Invalid value %s for configuration %s: Expected value to be either true or false",
                 value, key);
        return -1;
    case TCFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= (double)d->min && v <= (double)d->max)) {
            snprintf(why, cap,
                     "Invalid value %s for configuration %s: Expected a number in [%" PRId64
                     ", %" PRId64 "]",
                     value, key, d->min, d->max);
            return -1;
        }
        return 0;
    }
    case TCFG_STRING:
        if (d->choices ? in_choices(d->choices, value, strlen(value)) : value[0] != '\0') return 0;
        if (d->choices) {
            join_choices(d->choices, set, sizeof(set));
            snprintf(why, cap, "Invalid value %s for configuration %s: String must be one of: %s",
                     value, key, set);
        } else {
            snprintf(why, cap, "Invalid value for configuration %s: must not be empty", key);
        }
        return -1;
    case TCFG_LIST: {
        if (!d->choices) return 0;
        const char *p = value;
        if (!*p) {
            snprintf(why, cap, "Invalid value for configuration %s: the list must not be empty",
                     key);
            return -1;
        }
        for (;;) {
            size_t len = strcspn(p, ",");
            if (!in_choices(d->choices, p, len)) {
                join_choices(d->choices, set, sizeof(set));
                snprintf(why, cap,
                         "Invalid value %s for configuration %s: each item must be one of: %s",
                         value, key, set);
                return -1;
            }
            if (!p[len]) return 0;
            p += len + 1;
        }
    }
    }
    snprintf(why, cap, "Invalid value %s for configuration %s", value, key);
    return -1;
}

int64_t tcfg_parse_long(const char *value)
{
    return value ? strtoll(value, NULL, 10) : 0;
}

/* ----- config_set ----- */

void config_set_init(config_set_t *s)
{
    memset(s, 0, sizeof(*s));
}

void config_set_deinit(config_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i]);
        free(s->values[i]);
    }
    free(s->keys);
    free(s->values);
    memset(s, 0, sizeof(*s));
}

static ssize_t find_index(const config_set_t *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0) return (ssize_t)i;
    return -1;
}

const char *config_set_get(const config_set_t *s, const char *key)
{
    ssize_t i = find_index(s, key);
    return i < 0 ? NULL : s->values[i];
}

int config_set_put(config_set_t *s, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v) return SB_ENOMEM;
    ssize_t i = find_index(s, key);
    if (i >= 0) {
        free(s->values[i]);
        s->values[i] = v;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **k = realloc(s->keys, cap * sizeof(*k));
        if (k) s->keys = k;
        char **vs = k ? realloc(s->values, cap * sizeof(*vs)) : NULL;
        if (!vs) {
            free(v);
            return SB_ENOMEM;
        }
        s->values = vs;
        s->cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return SB_ENOMEM;
    }
    s->keys[s->n] = k;
    s->values[s->n] = v;
    s->n++;
    return 0;
}

bool config_set_del(config_set_t *s, const char *key)
{
    ssize_t i = find_index(s, key);
    if (i < 0) return false;
    free(s->keys[i]);
    free(s->values[i]);
    memmove(&s->keys[i], &s->keys[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->keys));
    memmove(&s->values[i], &s->values[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->values));
    s->n--;
    return true;
}

int config_set_copy(config_set_t *dst, const config_set_t *src)
{
    config_set_t tmp;
    config_set_init(&tmp);
    for (size_t i = 0; i < src->n; i++)
        if (config_set_put(&tmp, src->keys[i], src->values[i]) != 0) {
            config_set_deinit(&tmp);
            return SB_ENOMEM;
        }
    config_set_deinit(dst);
    *dst = tmp;
    return 0;
}

void config_set_swap(config_set_t *a, config_set_t *b)
{
    config_set_t t = *a;
    *a = *b;
    *b = t;
}
