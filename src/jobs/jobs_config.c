/* Configuration of the job orchestrator; see jobs_config.h. */
#include "jobs/jobs_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yaml_keys.h"

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
    INT("jobs.worker_concurrency", worker_concurrency, "1"),
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
            /* each slot holds a PostgreSQL connection of the job store and one of the SQL executor */
            if (strcmp(key, "jobs.worker_concurrency") == 0 && v > 256)
                return sb_err_set(err, SB_EINVAL, "%s: %lld is more than 256", key, v);
            *(int64_t *)((char *)c + k->offset) = v;
            return 0;
        }
        if (strlen(value) >= k->cap) return sb_err_set(err, SB_EINVAL, "%s: longer than %zu bytes", key, k->cap - 1);
        snprintf((char *)c + k->offset, k->cap, "%s", value);
        return 0;
    }
    return sb_err_set(err, SB_EINVAL, "unknown key \"%s\"", key);
}

static int parse_int(const char *value, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* One field of queues[i] (the item is checked whole in item_done). */
static int set_queue(jobs_config_t *c, const char *item, size_t i, const char *field, const char *value,
                     sb_err_t *err)
{
    if (i >= JOBS_MAX_QUEUES) return sb_err_set(err, SB_ELIMIT, "%s: more than %d queues", item, JOBS_MAX_QUEUES);
    jobs_queue_limit_t *ql = &c->queues[i];
    if (strcmp(field, "name") == 0) {
        if (!value[0] || strlen(value) >= sizeof(ql->name))
            return sb_err_set(err, SB_EINVAL, "%s.name: must be 1 to 63 bytes", item);
        snprintf(ql->name, sizeof(ql->name), "%s", value);
    } else if (strcmp(field, "concurrency") == 0) {
        long long n;
        if (parse_int(value, 0, 1000000, &n) < 0)
            return sb_err_set(err, SB_EINVAL, "%s.concurrency: \"%s\" is not an integer 0-1000000", item, value);
        ql->concurrency = n;
    } else if (strcmp(field, "rate_per_s") == 0) {
        char *end = NULL;
        errno = 0;
        double r = strtod(value, &end);
        if (errno || end == value || *end || !(r >= 0) || r > 1e6)
            return sb_err_set(err, SB_EINVAL, "%s.rate_per_s: \"%s\" is not a number 0-1000000", item, value);
        ql->rate_per_s = r;
    } else {
        return sb_err_set(err, SB_EINVAL, "%s: unknown key \"%s\" (known: name, concurrency, rate_per_s)", item, field);
    }
    return 0;
}

static int set_user(jobs_config_t *c, const char *item, size_t i, const char *field, const char *value, sb_err_t *err)
{
    if (i >= JOBS_MAX_USERS) return sb_err_set(err, SB_ELIMIT, "%s: more than %d users", item, JOBS_MAX_USERS);
    jobs_user_t *user = &c->users[i];
    char *out;
    size_t cap;
    if (strcmp(field, "name") == 0) out = user->name, cap = sizeof(user->name);
    else if (strcmp(field, "role") == 0) out = user->role, cap = sizeof(user->role);
    else if (strcmp(field, "password_hash") == 0) out = user->password_hash, cap = sizeof(user->password_hash);
    else return sb_err_set(err, SB_EINVAL, "%s: unknown key \"%s\" (known: name, role, password_hash)", item, field);
    if (strlen(value) >= cap) return sb_err_set(err, SB_EINVAL, "%s.%s: longer than %zu bytes", item, field, cap - 1);
    snprintf(out, cap, "%s", value);
    return 0;
}

static int set_shell_allow(jobs_config_t *c, const char *item, size_t i, const char *value, sb_err_t *err)
{
    if (i >= JOBS_MAX_SHELL_ALLOW)
        return sb_err_set(err, SB_ELIMIT, "%s: more than %d command paths", item, JOBS_MAX_SHELL_ALLOW);
    if (value[0] != '/' || strlen(value) >= sizeof(c->shell_allow[i]))
        return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is not an absolute command path (at most %zu bytes)", item,
                          value, sizeof(c->shell_allow[i]) - 1);
    snprintf(c->shell_allow[i], sizeof(c->shell_allow[i]), "%s", value);
    c->nshell_allow = (int)i + 1;
    return 0;
}

static const sb_yaml_list_t lists[] = {
    {"queues", SB_YAML_LIST_OF_MAPPINGS},
    {"auth.users", SB_YAML_LIST_OF_MAPPINGS},
    {"executors.shell_allow", SB_YAML_LIST_OF_VALUES},
    {NULL, 0},
};

/* A YAML leaf: a list item's field ("queues[0].name") or a scalar key. */
static int set_leaf(void *arg, const char *key, const char *value, sb_err_t *err)
{
    jobs_config_t *c = arg;
    char item[64];
    size_t i;
    const char *field;
    const char *close = strchr(key, ']');
    snprintf(item, sizeof(item), "%.*s", close ? (int)(close - key + 1) : 0, key); /* "queues[0]" */
    if (sb_yaml_list_item(key, "queues", &i, &field)) return set_queue(c, item, i, field, value, err);
    if (sb_yaml_list_item(key, "auth.users", &i, &field)) return set_user(c, item, i, field, value, err);
    if (sb_yaml_list_item(key, "executors.shell_allow", &i, &field)) return set_shell_allow(c, item, i, value, err);
    return jobs_config_set(c, key, value, err);
}

/* After each item of a list of mappings: the item is whole. */
static int item_done(void *arg, const char *item, sb_err_t *err)
{
    jobs_config_t *c = arg;
    size_t i;
    const char *field;
    if (sb_yaml_list_item(item, "auth.users", &i, &field)) {
        if (i >= JOBS_MAX_USERS) return sb_err_set(err, SB_ELIMIT, "%s: more than %d users", item, JOBS_MAX_USERS);
        const jobs_user_t *user = &c->users[i];
        c->nusers = (int)i + 1;
        if (!user->name[0] || !user->password_hash[0] ||
            (strcmp(user->role, "viewer") && strcmp(user->role, "operator") && strcmp(user->role, "admin")))
            return sb_err_set(err, SB_EINVAL, "%s: a user needs name, password_hash and role viewer, operator or admin",
                              item);
    } else if (sb_yaml_list_item(item, "queues", &i, &field)) {
        if (i >= JOBS_MAX_QUEUES) return sb_err_set(err, SB_ELIMIT, "%s: more than %d queues", item, JOBS_MAX_QUEUES);
        const jobs_queue_limit_t *ql = &c->queues[i];
        c->nqueues = (int)i + 1;
        if (!ql->name[0]) return sb_err_set(err, SB_EINVAL, "%s: a queue needs a name", item);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->queues[j].name, ql->name) == 0)
                return sb_err_set(err, SB_EINVAL, "%s: \"%s\" is listed twice (also queues[%zu])", item, ql->name, j);
    }
    return 0;
}

static const sb_yaml_keys_spec_t spec = {.max_depth = 2, .set = set_leaf, .lists = lists, .item_done = item_done};

int jobs_config_load_string(jobs_config_t *c, const char *source, const void *data, size_t len, sb_err_t *err)
{
    return sb_yaml_keys_load_string_spec(source, data, len, &spec, c, err);
}

int jobs_config_load(jobs_config_t *c, const char *path, sb_err_t *err)
{
    return sb_yaml_keys_load_file_spec(path, &spec, c, err);
}
