/* Configuration of the job orchestrator; see jobs_config.h. */
#include "jobs/jobs_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct key_def {
    const char *name;
    size_t offset;
    size_t cap; /* 0 for an int64_t, 1 for a bool */
    const char *def;
} key_def_t;

#define STR(n, f, d) {n, offsetof(jobs_config_t, f), sizeof(((jobs_config_t *)0)->f), d}
#define INT(n, f, d) {n, offsetof(jobs_config_t, f), 0, d}

static const key_def_t keys[] = {
    STR("jobs.listen", listen, "127.0.0.1:8090"),
    STR("jobs.bootstrap_servers", bootstrap, "127.0.0.1:9092"),
    STR("jobs.postgres", postgres, "dbname=streambus"),
    STR("jobs.topic", topic, "job.tasks"),
    STR("jobs.consumer_group", consumer_group, "streambus-jobs-workers"),
    STR("jobs.logs_topic", logs_topic, "job.logs"),
    INT("jobs.task_partitions", task_partitions, "4"),
    INT("jobs.scheduler_interval_ms", scheduler_interval_ms, "200"),
    INT("jobs.lease_ms", lease_ms, "30000"),
    INT("jobs.heartbeat_ms", heartbeat_ms, "10000"),
    INT("jobs.backoff_base_ms", backoff_base_ms, "1000"),
    INT("jobs.backoff_max_ms", backoff_max_ms, "300000"),
    INT("jobs.requeue_after_ms", requeue_after_ms, "60000"),
    INT("jobs.worker_session_timeout_ms", worker_session_timeout_ms, "10000"),
    INT("jobs.api_connections", api_connections, "4"),
    STR("auth.jwt_secret_env", jwt_secret_env, "STREAMBUS_JOBS_JWT_SECRET"),
    INT("auth.access_ttl_s", access_ttl_s, "900"),
    INT("auth.refresh_ttl_s", refresh_ttl_s, "86400"),
    STR("executors.sql_conninfo", sql_conninfo, ""),
    {"executors.shell_enabled", offsetof(jobs_config_t, shell_enabled), 1, "false"},
    STR("executors.smtp_url", smtp_url, ""),
    STR("executors.smtp_from", smtp_from, ""),
    STR("executors.smtp_username", smtp_username, ""),
    STR("executors.smtp_password_env", smtp_password_env, ""),
    STR("executors.smtp_ca_file", smtp_ca_file, ""),
    {"executors.smtp_require_tls", offsetof(jobs_config_t, smtp_require_tls), 1, "true"},
    STR("executors.connect_url", connect_url, "http://127.0.0.1:8083"),
    STR("logs.clickhouse_url", logs_clickhouse_url, ""),
    STR("logs.clickhouse_database", logs_clickhouse_database, "default"),
    STR("logs.clickhouse_table", logs_clickhouse_table, "job_logs"),
    INT("logs.ttl_days", logs_ttl_days, "0"),
    INT("logs.ttl_check_s", logs_ttl_check_s, "3600"),
    {"logging.level", SIZE_MAX, 0, "info"},
    {"logging.format", SIZE_MAX, 0, "auto"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void jobs_config_defaults(jobs_config_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++) jobs_config_set(c, keys[i].name, keys[i].def, NULL);
}

int jobs_config_set(jobs_config_t *c, const char *key, const char *value, sb_err_t *err)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def_t *k = &keys[i];
        if (strcmp(k->name, key) != 0) continue;
        if (strcmp(key, "logging.level") == 0)
            return sb_log_level_parse(value, &c->log_level) < 0
                       ? sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not debug, info, warn or error", key, value)
                       : 0;
        if (strcmp(key, "logging.format") == 0)
            return sb_log_format_parse(value, &c->log_format) < 0
                       ? sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not auto, text or json", key, value)
                       : 0;
        if (k->cap == 1) {
            bool *b = (bool *)((char *)c + k->offset);
            if (strcmp(value, "true") == 0) *b = true;
            else if (strcmp(value, "false") == 0) *b = false;
            else return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not true or false", key, value);
            return 0;
        }
        if (k->cap == 0) {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(value, &end, 10);
            bool zero_ok = strcmp(key, "logs.ttl_days") == 0; /* 0: the job log is kept forever */
            if (errno || end == value || *end || v < (zero_ok ? 0 : 1))
                return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not a %s integer", key, value,
                                  zero_ok ? "non-negative" : "positive");
            *(int64_t *)((char *)c + k->offset) = v;
            return 0;
        }
        if (strlen(value) >= k->cap) return sb_err_set(err, SB_EINVAL, "%s: longer than %zu bytes", key, k->cap - 1);
        snprintf((char *)c + k->offset, k->cap, "%s", value);
        return 0;
    }
    return sb_err_set(err, SB_EINVAL, "unknown key \"%s\"", key);
}

static void scalar(yaml_node_t *n, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)n->data.scalar.length, (const char *)n->data.scalar.value);
}

static int load_users(jobs_config_t *c, const char *src, yaml_document_t *doc, yaml_node_t *seq, sb_err_t *err)
{
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *u = yaml_document_get_node(doc, *it);
        size_t line = u ? u->start_mark.line + 1 : 0;
        if (!u || u->type != YAML_MAPPING_NODE)
            return sb_err_set(err, SB_EINVAL, "%s:%zu: auth.users: each user is a mapping", src, line);
        if (c->nusers == JOBS_MAX_USERS) return sb_err_set(err, SB_ELIMIT, "%s:%zu: more than %d users", src, line, JOBS_MAX_USERS);
        jobs_user_t *user = &c->users[c->nusers++];
        for (yaml_node_pair_t *p = u->data.mapping.pairs.start; p < u->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
                return sb_err_set(err, SB_EINVAL, "%s:%zu: auth.users: malformed user", src, line);
            char name[64];
            scalar(k, name, sizeof(name));
            if (strcmp(name, "name") == 0) scalar(v, user->name, sizeof(user->name));
            else if (strcmp(name, "role") == 0) scalar(v, user->role, sizeof(user->role));
            else if (strcmp(name, "password_hash") == 0) scalar(v, user->password_hash, sizeof(user->password_hash));
            else return sb_err_set(err, SB_EINVAL, "%s:%zu: auth.users: unknown key \"%s\"", src, k->start_mark.line + 1, name);
        }
        if (!user->name[0] || !user->password_hash[0] ||
            (strcmp(user->role, "viewer") && strcmp(user->role, "operator") && strcmp(user->role, "admin")))
            return sb_err_set(err, SB_EINVAL, "%s:%zu: auth.users: a user needs name, password_hash and role viewer, operator or admin",
                              src, line);
    }
    return 0;
}

static int load_queues(jobs_config_t *c, const char *src, yaml_document_t *doc, yaml_node_t *seq, sb_err_t *err)
{
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *q = yaml_document_get_node(doc, *it);
        size_t line = q ? q->start_mark.line + 1 : 0;
        if (!q || q->type != YAML_MAPPING_NODE)
            return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: each queue is a mapping", src, line);
        if (c->nqueues == JOBS_MAX_QUEUES)
            return sb_err_set(err, SB_ELIMIT, "%s:%zu: more than %d queues", src, line, JOBS_MAX_QUEUES);
        jobs_queue_limit_t *ql = &c->queues[c->nqueues++];
        for (yaml_node_pair_t *p = q->data.mapping.pairs.start; p < q->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
                return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: malformed queue", src, line);
            char name[64], value[64], *end = NULL;
            scalar(k, name, sizeof(name));
            scalar(v, value, sizeof(value));
            size_t kline = k->start_mark.line + 1;
            errno = 0;
            if (strcmp(name, "name") == 0) {
                if (!value[0] || v->data.scalar.length >= sizeof(ql->name))
                    return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: name must be 1 to 63 bytes", src, kline);
                scalar(v, ql->name, sizeof(ql->name));
            } else if (strcmp(name, "concurrency") == 0) {
                long long n = strtoll(value, &end, 10);
                if (errno || end == value || *end || n < 0 || n > 1000000)
                    return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: concurrency \"%s\" is not an integer 0-1000000",
                                      src, kline, value);
                ql->concurrency = n;
            } else if (strcmp(name, "rate_per_s") == 0) {
                double r = strtod(value, &end);
                if (errno || end == value || *end || !(r >= 0) || r > 1e6)
                    return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: rate_per_s \"%s\" is not a number 0-1000000",
                                      src, kline, value);
                ql->rate_per_s = r;
            } else {
                return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: unknown key \"%s\"", src, kline, name);
            }
        }
        if (!ql->name[0]) return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: a queue needs a name", src, line);
        for (int i = 0; i < c->nqueues - 1; i++)
            if (strcmp(c->queues[i].name, ql->name) == 0)
                return sb_err_set(err, SB_EINVAL, "%s:%zu: queues: \"%s\" is listed twice", src, line, ql->name);
    }
    return 0;
}

static int walk(jobs_config_t *c, const char *src, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                sb_err_t *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return sb_err_set(err, SB_EINVAL, "%s:%zu: expected a mapping", src, node->start_mark.line + 1);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) return sb_err_set(err, SB_EINVAL, "%s: malformed mapping", src);
        char name[256];
        snprintf(name, sizeof(name), "%s%s%.*s", prefix, prefix[0] ? "." : "", (int)k->data.scalar.length,
                 (const char *)k->data.scalar.value);
        size_t line = k->start_mark.line + 1;
        int rc = 0;
        if (v->type == YAML_MAPPING_NODE && !prefix[0]) {
            rc = walk(c, src, doc, v, name, err);
        } else if (v->type == YAML_SEQUENCE_NODE && strcmp(name, "queues") == 0) {
            rc = load_queues(c, src, doc, v, err);
        } else if (v->type == YAML_SEQUENCE_NODE && strcmp(name, "auth.users") == 0) {
            rc = load_users(c, src, doc, v, err);
        } else if (v->type == YAML_SEQUENCE_NODE && strcmp(name, "executors.shell_allow") == 0) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; rc == 0 && it < v->data.sequence.items.top; it++) {
                yaml_node_t *s = yaml_document_get_node(doc, *it);
                if (!s || s->type != YAML_SCALAR_NODE || s->data.scalar.length == 0 || s->data.scalar.value[0] != '/' ||
                    s->data.scalar.length >= 256 || c->nshell_allow == JOBS_MAX_SHELL_ALLOW)
                    rc = sb_err_set(err, SB_EINVAL, "%s:%zu: executors.shell_allow: absolute command paths (at most %d)",
                                    src, line, JOBS_MAX_SHELL_ALLOW);
                else scalar(s, c->shell_allow[c->nshell_allow++], 256);
            }
        } else if (v->type == YAML_SCALAR_NODE) {
            char value[1024];
            scalar(v, value, sizeof(value));
            sb_err_t inner = {0};
            if (jobs_config_set(c, name, value, &inner) < 0) rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s", src, line, inner.msg);
        } else {
            rc = sb_err_set(err, SB_EINVAL, "%s:%zu: unknown key \"%s\"", src, line, name);
        }
        if (rc < 0) return rc;
    }
    return 0;
}

int jobs_config_load_string(jobs_config_t *c, const char *source, const void *data, size_t len, sb_err_t *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return sb_err_set(err, SB_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s", source, parser.problem_mark.line + 1,
                            parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) rc = walk(c, source, &doc, root, "", err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int jobs_config_load(jobs_config_t *c, const char *path, sb_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sb_err_set(err, SB_EIO, "%s: %s", path, strerror(errno));
    char data[1 << 16];
    size_t len = fread(data, 1, sizeof(data), f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) return sb_err_set(err, SB_ELIMIT, "%s: larger than 64 KiB", path);
    return jobs_config_load_string(c, path, data, len, err);
}
