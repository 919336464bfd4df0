#ifndef STREAMBUS_CTL_CTL_ARGS_H
#define STREAMBUS_CTL_CTL_ARGS_H

/* Command line of `streambus ctl`: a pure parser (no I/O, no environment access) so that
 * every accepted and rejected form can be unit tested.
 *
 *   streambus ctl [global options] <noun> <verb> [NAME] [command options]
 *
 * Global options may appear anywhere on the line (operators habitually append
 * `--output json` at the end); command options are accepted only after the verb that owns
 * them, so that a misplaced option is reported against the command it does not belong to. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

#define CTL_DEFAULT_BOOTSTRAP "127.0.0.1:9092"
#define CTL_DEFAULT_TIMEOUT_MS 10000

typedef enum { CTL_OUTPUT_TABLE = 0, CTL_OUTPUT_JSON } ctl_output_t;

typedef enum {
    CTL_CMD_HELP = 0, /* print usage for args->help_noun and exit 0 */
    CTL_CMD_TOPIC_CREATE,
    CTL_CMD_TOPIC_LIST,
    CTL_CMD_TOPIC_DESCRIBE,
    CTL_CMD_TOPIC_DELETE,
    CTL_CMD_TOPIC_ADD_PARTITIONS,
    CTL_CMD_GROUP_LIST,
    CTL_CMD_GROUP_DESCRIBE,
    CTL_CMD_GROUP_DELETE,
    CTL_CMD_TOPIC_ALTER_CONFIG,
    CTL_CMD_RECORDS_DELETE,
    CTL_CMD_GROUP_RESET_OFFSETS,
    CTL_CMD_GROUP_DELETE_OFFSETS,
    CTL_CMD_ACL_ADD,
    CTL_CMD_ACL_REMOVE,
    CTL_CMD_ACL_LIST,
    CTL_CMD_USER_ADD,
    CTL_CMD_USER_PASSWD,
    CTL_CMD_USER_REMOVE,
    CTL_CMD_USER_LIST,
} ctl_command_t;

/* acl add|remove|list, shaped like kafka-acls.sh. Strings borrow from argv; the numeric
 * values are Kafka's (security/acl.h), which librdkafka's enums share. */
#define CTL_ACL_MAX 16
typedef struct ctl_acl_args {
    const char *allow_principals[CTL_ACL_MAX];
    size_t allow_count;
    const char *deny_principals[CTL_ACL_MAX];
    size_t deny_count;
    const char *allow_host; /* NULL: "*" */
    const char *deny_host;
    int operations[CTL_ACL_MAX];
    size_t operation_count;
    int resource_type; /* 0 until --topic/--group/--cluster */
    const char *resource_name;
    int pattern_type;      /* 0 until --resource-pattern-type */
    const char *principal; /* list --principal */
} ctl_acl_args_t;

/* group reset-offsets: where to move the committed offsets (kafka-consumer-groups.sh's
 * --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by). */
typedef enum {
    CTL_RESET_NONE = 0,
    CTL_RESET_EARLIEST,
    CTL_RESET_LATEST,
    CTL_RESET_OFFSET,   /* reset_value: the offset, clamped to the partition's range */
    CTL_RESET_DATETIME, /* reset_value: milliseconds since the epoch */
    CTL_RESET_SHIFT,    /* reset_value: added to the committed offset, then clamped */
} ctl_reset_t;

/* --topic NAME or NAME:P,P,...; no partitions means every partition of the topic. */
typedef struct ctl_topic_spec {
    char *topic;
    int32_t *partitions;
    size_t partition_count;
} ctl_topic_spec_t;

/* A key=value pair split out of one argument; both strings are owned by ctl_args_t. */
typedef struct ctl_kv {
    char *key;
    char *value;
} ctl_kv_t;

typedef struct ctl_kv_list {
    ctl_kv_t *items;
    size_t count;
} ctl_kv_list_t;

typedef struct ctl_args {
    /* Global options. bootstrap borrows from argv or from the env_bootstrap argument of
     * ctl_args_parse, or points at the CTL_DEFAULT_BOOTSTRAP literal. */
    const char *bootstrap;
    int timeout_ms;
    ctl_output_t output;
    ctl_kv_list_t client_config; /* -X key=value, passed to librdkafka verbatim */

    ctl_command_t command;
    const char *help_noun; /* CTL_CMD_HELP only: NULL (top level), "topic" or "group" */

    const char *name; /* topic or group name, borrowed from argv */

    /* topic create: -1 means "let the broker choose" (its default). */
    int partitions;
    int replication_factor;
    ctl_kv_list_t topic_config; /* --config key=value */
    bool if_not_exists;

    bool if_exists;       /* topic delete */
    int total_partitions; /* topic add-partitions --total; 0 until given */

    /* topic alter-config: --set key=value and --delete key (the value is NULL) in order. */
    ctl_kv_list_t config_changes;
    bool validate_only;

    /* records delete: --partition (-1 = every partition) and --offset (-1 = the end). */
    int partition;
    long long offset;
    bool offset_given;
    /* group reset-offsets / delete-offsets */
    ctl_topic_spec_t *topics; /* --topic, repeatable */
    size_t topic_count;
    bool all_topics; /* reset-offsets --all-topics: every partition the group has committed */
    ctl_reset_t reset;
    int64_t reset_value;
    bool execute; /* reset-offsets: apply the plan; the default (--dry-run) only prints it */
    bool dry_run; /* given explicitly; only checked against --execute */
    ctl_acl_args_t acl;
    /* user add/passwd/remove: --mechanism (NULL: add both; passwd/remove what the user has),
     * --iterations (0: 4096), --password-file (NULL: standard input). */
    const char *user_mechanism;
    int iterations;
    const char *password_file;
} ctl_args_t;

/* Parses argv (argv[0] is "ctl" and is skipped). env_bootstrap is the value of
 * STREAMBUS_BOOTSTRAP (or NULL); --bootstrap-server overrides it. On success returns 0 and
 * fills *out, which the caller releases with ctl_args_deinit. On a usage error returns
 * SB_EINVAL with a one-line message in err, and *out holds nothing to release. */
int ctl_args_parse(int argc, char **argv, const char *env_bootstrap, ctl_args_t *out, sb_err_t *err);

void ctl_args_deinit(ctl_args_t *args);

/* Writes the usage text for noun (NULL: the overview, "topic", "group", "records"). */
void ctl_usage(FILE *out, const char *noun);

/* Parses an ISO-8601 date-time as kafka-consumer-groups.sh --to-datetime takes it:
 * YYYY-MM-DDTHH:MM[:SS[.sss]] with an optional zone (Z or +HH:MM / -HH:MM); without a zone the
 * local time zone applies. Returns 0 and milliseconds since the epoch, or SB_EINVAL. */
int ctl_parse_datetime(const char *text, int64_t *ms_out, sb_err_t *err);

/* Kafka's rule for topic names: 1..249 characters of [a-zA-Z0-9._-], and not "." or "..".
 * Returns 0 or SB_EINVAL with the reason in err. */
int ctl_validate_topic_name(const char *name, sb_err_t *err);

#endif
