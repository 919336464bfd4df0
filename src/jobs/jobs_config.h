#ifndef STREAMBUS_JOBS_JOBS_CONFIG_H
#define STREAMBUS_JOBS_JOBS_CONFIG_H

/* Configuration of `streambus jobs` and its workers (config/jobs.yaml; every key with its
 * default is listed there and in docs/jobs.md). Read by the shared YAML engine (common/yaml_keys.h):
 * unknown keys, wrong types and bad values are errors with file, line and key path
 * ("queues[0].concurrency"). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/log.h"

#define JOBS_MAX_USERS 32
#define JOBS_MAX_SHELL_ALLOW 32
#define JOBS_MAX_QUEUES 32

/* Limits of one queue (config `queues:`); 0 = unlimited. */
typedef struct jobs_queue_limit {
    char name[64];
    int64_t concurrency; /* jobs of the queue QUEUED or RUNNING at once */
    double rate_per_s;   /* jobs started per second (token bucket, burst max(1, rate)) */
} jobs_queue_limit_t;

typedef struct jobs_user {
    char name[64];
    char role[16];
    char password_hash[160];
} jobs_user_t;

typedef struct jobs_config {
    char listen[256];
    char bootstrap[512];
    char postgres[1024];
    char topic[128];
    char consumer_group[128];
    char logs_topic[128]; /* one record per attempt end; "" = none */
    int64_t task_partitions;
    int64_t scheduler_interval_ms;
    int64_t lease_ms;
    int64_t heartbeat_ms;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int64_t requeue_after_ms;
    int64_t worker_session_timeout_ms;
    int64_t worker_concurrency; /* jobs one worker process runs at once */
    int64_t api_connections; /* PostgreSQL connections the API handlers share */
    char jwt_secret_env[64];
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    jobs_user_t users[JOBS_MAX_USERS];
    int nusers;
    char sql_conninfo[1024];
    char smtp_url[512];          /* "" = EMAIL jobs fail as not configured */
    char smtp_from[256];
    char smtp_username[128];
    char smtp_password_env[64]; /* environment variable holding the SMTP password */
    char smtp_ca_file[512];     /* "" = the system's CA store */
    bool smtp_require_tls;      /* STARTTLS (or smtps://) or refuse to send */
    char connect_url[512];      /* REST API of `streambus connect` for PIPELINE jobs */
    char logs_clickhouse_url[512]; /* ClickHouse HTTP interface holding job_logs; "" = none */
    char logs_clickhouse_database[64];
    char logs_clickhouse_table[64];
    int64_t logs_ttl_days;          /* job log rows older than this are deleted; 0 = kept forever */
    int64_t logs_ttl_check_s;       /* how often the API deletes them */
    bool shell_enabled;
    char shell_allow[JOBS_MAX_SHELL_ALLOW][256];
    int nshell_allow;
    jobs_queue_limit_t queues[JOBS_MAX_QUEUES];
    int nqueues;
    sb_log_level_t log_level;
    sb_log_format_t log_format;
} jobs_config_t;

void jobs_config_defaults(jobs_config_t *c);
/* One scalar key ("jobs.lease_ms"). Lists (auth.users, executors.shell_allow) only from YAML. */
int jobs_config_set(jobs_config_t *c, const char *key, const char *value, sb_err_t *err);
int jobs_config_load_string(jobs_config_t *c, const char *source, const void *data, size_t len, sb_err_t *err);
int jobs_config_load(jobs_config_t *c, const char *path, sb_err_t *err);

#endif
