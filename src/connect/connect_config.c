/* Configuration of `streambus connect`; see connect_config.h. */
#include "connect/connect_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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

static int walk(connect_config_t *c, const char *source, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                sb_err_t *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return sb_err_set(err, SB_EINVAL, "%s:%zu: expected a mapping%s%s", source, node->start_mark.line + 1,
                          prefix[0] ? " under " : "", prefix);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return sb_err_set(err, SB_EINVAL, "%s: malformed mapping", source);
        char name[256];
        snprintf(name, sizeof(name), "%s%s%.*s", prefix, prefix[0] ? "." : "", (int)k->data.scalar.length,
                 (const char *)k->data.scalar.value);
        if (v->type == YAML_MAPPING_NODE) {
            if (prefix[0]) return sb_err_set(err, SB_EINVAL, "%s:%zu: unknown key \"%s\"", source, k->start_mark.line + 1, name);
            int rc = walk(c, source, doc, v, name, err);
            if (rc < 0) return rc;
            continue;
        }
        if (v->type != YAML_SCALAR_NODE)
            return sb_err_set(err, SB_EINVAL, "%s:%zu: \"%s\" must be a scalar", source, v->start_mark.line + 1, name);
        char value[1024];
        snprintf(value, sizeof(value), "%.*s", (int)v->data.scalar.length, (const char *)v->data.scalar.value);
        sb_err_t inner = {0};
        int rc = connect_config_set(c, name, value, &inner);
        if (rc < 0) return sb_err_set(err, rc, "%s:%zu: %s", source, k->start_mark.line + 1, inner.msg);
    }
    return 0;
}

int connect_config_load_string(connect_config_t *c, const char *source_name, const void *data, size_t len, sb_err_t *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return sb_err_set(err, SB_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s", source_name, parser.problem_mark.line + 1,
                            parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = walk(c, source_name, &doc, root, "", err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int connect_config_load(connect_config_t *c, const char *path, sb_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sb_err_set(err, SB_EIO, "%s: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > 1 << 20) {
                free(data);
                fclose(f);
                return sb_err_set(err, SB_ELIMIT, "%s: larger than 1 MiB", path);
            }
            data = realloc(data, cap);
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    int rc = connect_config_load_string(c, path, data, len, err);
    free(data);
    return rc;
}
