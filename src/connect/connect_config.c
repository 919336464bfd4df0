/* Configuration of `streambus connect`; see connect_config.h. */
#include "connect/connect_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yaml_keys.h"

typedef struct key_def {
    const char *name; /* dotted */
    size_t offset;    /* of a char[] in connect_config_t, or SIZE_MAX for logging keys */
    size_t cap;
    const char *def;
    const char *doc;
} key_def_t;

#define STR_KEY(n, field, d, doc) {n, offsetof(connect_config_t, field), sizeof(((connect_config_t *)0)->field), d, doc}

static const key_def_t keys[] = {
    STR_KEY("connect.bootstrap_servers", worker.bootstrap, "127.0.0.1:9092", "Kafka bootstrap servers"),
    STR_KEY("connect.rest_listen", rest_listen, "127.0.0.1:8083", "host:port of the REST API; \"\" disables it"),
    STR_KEY("connect.worker_id", worker.worker_id, "", "shown in statuses; \"\" = rest_listen"),
    STR_KEY("connect.configs_topic", worker.configs_topic, "_streambus-connect-configs", "connector configs"),
    STR_KEY("connect.offsets_topic", worker.offsets_topic, "_streambus-connect-offsets", "source positions"),
    STR_KEY("connect.status_topic", worker.status_topic, "_streambus-connect-status", "connector statuses"),
    STR_KEY("connect.dlq_topic_prefix", worker.dlq_topic_prefix, "dlq.", "a sink's DLQ is <prefix><connector>"),
    {"logging.level", SIZE_MAX, 0, "info", "debug, info, warn or error"},
    {"logging.format", SIZE_MAX, 0, "auto", "auto (text on a TTY, else JSON), text or json"},
};

void connect_config_defaults(connect_config_t *c)
{
    memset(c, 0, sizeof(*c));
    connect_worker_options_defaults(&c->worker);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (keys[i].offset != SIZE_MAX) snprintf((char *)c + keys[i].offset, keys[i].cap, "%s", keys[i].def);
    c->log_level = SB_LOG_INFO;
    c->log_format = SB_LOG_FORMAT_AUTO;
}

int connect_config_set(connect_config_t *c, const char *key, const char *value, sb_err_t *err)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const key_def_t *k = &keys[i];
        if (strcmp(k->name, key) != 0) continue;
        if (strcmp(key, "logging.level") == 0) {
            if (sb_log_level_parse(value, &c->log_level) < 0)
                return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not debug, info, warn or error", key, value);
            return 0;
        }
        if (strcmp(key, "logging.format") == 0) {
            if (sb_log_format_parse(value, &c->log_format) < 0)
                return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not auto, text or json", key, value);
            return 0;
        }
        if (strlen(value) >= k->cap) return sb_err_set(err, SB_EINVAL, "%s: longer than %zu bytes", key, k->cap - 1);
        snprintf((char *)c + k->offset, k->cap, "%s", value);
        return 0;
    }
    return sb_err_set(err, SB_EINVAL, "unknown key \"%s\"", key);
}

static int set_key(void *arg, const char *key, const char *value, sb_err_t *err)
{
    return connect_config_set(arg, key, value, err);
}

/* Sections of keys, two levels deep ("connect.bootstrap_servers"). */
int connect_config_load_string(connect_config_t *c, const char *source_name, const void *data, size_t len, sb_err_t *err)
{
    return sb_yaml_keys_load_string(source_name, data, len, 2, set_key, c, err);
}

int connect_config_load(connect_config_t *c, const char *path, sb_err_t *err)
{
    return sb_yaml_keys_load_file(path, 2, set_key, c, err);
}
