#include "ctl/ctl_args.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "security/acl.h"

typedef struct command_spec {
    const char *noun;
    const char *verb;
    ctl_command_t command;
    bool needs_name;
} command_spec_t;

static const command_spec_t COMMANDS[] = {
    {"topic", "create", CTL_CMD_TOPIC_CREATE, true},
    {"topic", "list", CTL_CMD_TOPIC_LIST, false},
    {"topic", "describe", CTL_CMD_TOPIC_DESCRIBE, true},
    {"topic", "delete", CTL_CMD_TOPIC_DELETE, true},
    {"topic", "add-partitions", CTL_CMD_TOPIC_ADD_PARTITIONS, true},
    {"group", "list", CTL_CMD_GROUP_LIST, false},
    {"group", "describe", CTL_CMD_GROUP_DESCRIBE, true},
    {"group", "delete", CTL_CMD_GROUP_DELETE, true},
    {"topic", "alter-config", CTL_CMD_TOPIC_ALTER_CONFIG, true},
    {"records", "delete", CTL_CMD_RECORDS_DELETE, true},
    {"group", "reset-offsets", CTL_CMD_GROUP_RESET_OFFSETS, true},
    {"group", "delete-offsets", CTL_CMD_GROUP_DELETE_OFFSETS, true},
    {"acl", "add", CTL_CMD_ACL_ADD, false},
    {"acl", "remove", CTL_CMD_ACL_REMOVE, false},
    {"acl", "list", CTL_CMD_ACL_LIST, false},
    {"user", "add", CTL_CMD_USER_ADD, true},
    {"user", "passwd", CTL_CMD_USER_PASSWD, true},
    {"user", "remove", CTL_CMD_USER_REMOVE, true},
    {"user", "list", CTL_CMD_USER_LIST, false},
};
#define COMMAND_COUNT (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

typedef enum {
    OPT_BOOTSTRAP,
    OPT_TIMEOUT,
    OPT_OUTPUT,
    OPT_PARTITIONS,
    OPT_REPLICATION_FACTOR,
    OPT_CONFIG,
    OPT_IF_NOT_EXISTS,
    OPT_IF_EXISTS,
    OPT_TOTAL,
    OPT_URL,
    OPT_SET,
    OPT_DELETE,
    OPT_VALIDATE_ONLY,
    OPT_PARTITION,
    OPT_OFFSET,
    OPT_TOPIC,
    OPT_ALL_TOPICS,
    OPT_TO_EARLIEST,
    OPT_TO_LATEST,
    OPT_TO_OFFSET,
    OPT_TO_DATETIME,
    OPT_SHIFT_BY,
    OPT_DRY_RUN,
    OPT_EXECUTE,
    OPT_ACL_ALLOW_PRINCIPAL,
    OPT_ACL_DENY_PRINCIPAL,
    OPT_ACL_ALLOW_HOST,
    OPT_ACL_DENY_HOST,
    OPT_ACL_OPERATION,
    OPT_ACL_TOPIC,
    OPT_ACL_GROUP,
    OPT_ACL_CLUSTER,
    OPT_ACL_PATTERN,
    OPT_ACL_PRINCIPAL,
    OPT_MECHANISM,
    OPT_ITERATIONS,
    OPT_PASSWORD_FILE,
} option_id_t;

/* A long option. Global options have global = true; every other entry belongs to exactly one
 * command, which keeps "which option goes where" a table lookup rather than a rule (an option
 * two commands share, like --topic, has one entry per command). */
typedef struct option_spec {
    const char *name;
    option_id_t id;
    bool takes_value;
    bool global;
    ctl_command_t command;
} option_spec_t;

static const option_spec_t OPTIONS[] = {
    {"--bootstrap-server", OPT_BOOTSTRAP, true, true, 0},
    {"--timeout-ms", OPT_TIMEOUT, true, true, 0},
    {"--output", OPT_OUTPUT, true, true, 0},
    /* The connect REST API's address: global so that one option set fits every noun; topic
     * and group have no use for it. */
    {"--url", OPT_URL, true, true, 0},
    {"--partitions", OPT_PARTITIONS, true, false, CTL_CMD_TOPIC_CREATE},
    {"--replication-factor", OPT_REPLICATION_FACTOR, true, false, CTL_CMD_TOPIC_CREATE},
    {"--config", OPT_CONFIG, true, false, CTL_CMD_TOPIC_CREATE},
    {"--if-not-exists", OPT_IF_NOT_EXISTS, false, false, CTL_CMD_TOPIC_CREATE},
    {"--if-exists", OPT_IF_EXISTS, false, false, CTL_CMD_TOPIC_DELETE},
    {"--total", OPT_TOTAL, true, false, CTL_CMD_TOPIC_ADD_PARTITIONS},
    {"--set", OPT_SET, true, false, CTL_CMD_TOPIC_ALTER_CONFIG},
    {"--delete", OPT_DELETE, true, false, CTL_CMD_TOPIC_ALTER_CONFIG},
    {"--validate-only", OPT_VALIDATE_ONLY, false, false, CTL_CMD_TOPIC_ALTER_CONFIG},
    {"--partition", OPT_PARTITION, true, false, CTL_CMD_RECORDS_DELETE},
    {"--offset", OPT_OFFSET, true, false, CTL_CMD_RECORDS_DELETE},
    {"--topic", OPT_TOPIC, true, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--all-topics", OPT_ALL_TOPICS, false, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--to-earliest", OPT_TO_EARLIEST, false, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--to-latest", OPT_TO_LATEST, false, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--to-offset", OPT_TO_OFFSET, true, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--to-datetime", OPT_TO_DATETIME, true, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--shift-by", OPT_SHIFT_BY, true, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--dry-run", OPT_DRY_RUN, false, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--execute", OPT_EXECUTE, false, false, CTL_CMD_GROUP_RESET_OFFSETS},
    {"--topic", OPT_TOPIC, true, false, CTL_CMD_GROUP_DELETE_OFFSETS},
    {"--allow-principal", OPT_ACL_ALLOW_PRINCIPAL, true, false, CTL_CMD_ACL_ADD},
    {"--deny-principal", OPT_ACL_DENY_PRINCIPAL, true, false, CTL_CMD_ACL_ADD},
    {"--allow-host", OPT_ACL_ALLOW_HOST, true, false, CTL_CMD_ACL_ADD},
    {"--deny-host", OPT_ACL_DENY_HOST, true, false, CTL_CMD_ACL_ADD},
    {"--operation", OPT_ACL_OPERATION, true, false, CTL_CMD_ACL_ADD},
    {"--topic", OPT_ACL_TOPIC, true, false, CTL_CMD_ACL_ADD},
    {"--group", OPT_ACL_GROUP, true, false, CTL_CMD_ACL_ADD},
    {"--cluster", OPT_ACL_CLUSTER, false, false, CTL_CMD_ACL_ADD},
    {"--resource-pattern-type", OPT_ACL_PATTERN, true, false, CTL_CMD_ACL_ADD},
    {"--allow-principal", OPT_ACL_ALLOW_PRINCIPAL, true, false, CTL_CMD_ACL_REMOVE},
    {"--deny-principal", OPT_ACL_DENY_PRINCIPAL, true, false, CTL_CMD_ACL_REMOVE},
    {"--allow-host", OPT_ACL_ALLOW_HOST, true, false, CTL_CMD_ACL_REMOVE},
    {"--deny-host", OPT_ACL_DENY_HOST, true, false, CTL_CMD_ACL_REMOVE},
    {"--operation", OPT_ACL_OPERATION, true, false, CTL_CMD_ACL_REMOVE},
    {"--topic", OPT_ACL_TOPIC, true, false, CTL_CMD_ACL_REMOVE},
    {"--group", OPT_ACL_GROUP, true, false, CTL_CMD_ACL_REMOVE},
    {"--cluster", OPT_ACL_CLUSTER, false, false, CTL_CMD_ACL_REMOVE},
    {"--resource-pattern-type", OPT_ACL_PATTERN, true, false, CTL_CMD_ACL_REMOVE},
    {"--principal", OPT_ACL_PRINCIPAL, true, false, CTL_CMD_ACL_LIST},
    {"--topic", OPT_ACL_TOPIC, true, false, CTL_CMD_ACL_LIST},
    {"--group", OPT_ACL_GROUP, true, false, CTL_CMD_ACL_LIST},
    {"--cluster", OPT_ACL_CLUSTER, false, false, CTL_CMD_ACL_LIST},
    {"--resource-pattern-type", OPT_ACL_PATTERN, true, false, CTL_CMD_ACL_LIST},
    {"--mechanism", OPT_MECHANISM, true, false, CTL_CMD_USER_ADD},
    {"--mechanism", OPT_MECHANISM, true, false, CTL_CMD_USER_PASSWD},
    {"--mechanism", OPT_MECHANISM, true, false, CTL_CMD_USER_REMOVE},
    {"--iterations", OPT_ITERATIONS, true, false, CTL_CMD_USER_ADD},
    {"--iterations", OPT_ITERATIONS, true, false, CTL_CMD_USER_PASSWD},
    {"--password-file", OPT_PASSWORD_FILE, true, false, CTL_CMD_USER_ADD},
    {"--password-file", OPT_PASSWORD_FILE, true, false, CTL_CMD_USER_PASSWD},
};
#define OPTION_COUNT (sizeof(OPTIONS) / sizeof(OPTIONS[0]))

static const command_spec_t *find_command(const char *noun, const char *verb)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(COMMANDS[i].noun, noun) == 0 && strcmp(COMMANDS[i].verb, verb) == 0)
            return &COMMANDS[i];
    return NULL;
}

static const command_spec_t *find_command_by_id(ctl_command_t command)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (COMMANDS[i].command == command) return &COMMANDS[i];
    return NULL;
}

static bool is_known_noun(const char *noun)
{
    return strcmp(noun, "topic") == 0 || strcmp(noun, "group") == 0 || strcmp(noun, "records") == 0 ||
           strcmp(noun, "acl") == 0 || strcmp(noun, "user") == 0;
}

static const char *verbs_of(const char *noun)
{
    if (strcmp(noun, "records") == 0) return "delete";
    if (strcmp(noun, "acl") == 0) return "add, remove, list";
    if (strcmp(noun, "user") == 0) return "add, passwd, remove, list";
    return strcmp(noun, "topic") == 0 ? "create, list, describe, delete, add-partitions, alter-config"
                                      : "list, describe, delete, reset-offsets, delete-offsets";
}

/* Option names are matched up to an optional "=value" suffix; among entries of the same name
 * the one of the current command wins, else the first (whose owner the error names). */
static const option_spec_t *find_option(const char *arg, size_t name_len, const command_spec_t *cmd)
{
    const option_spec_t *first = NULL;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (strlen(OPTIONS[i].name) != name_len || strncmp(OPTIONS[i].name, arg, name_len) != 0) continue;
        if (OPTIONS[i].global || (cmd && OPTIONS[i].command == cmd->command)) return &OPTIONS[i];
        if (!first) first = &OPTIONS[i];
    }
    return first;
}

static int parse_int64(const char *option, const char *text, int64_t min, int64_t *out, sb_err_t *err)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || v < min)
        return sb_err_set(err, SB_EINVAL, "%s needs an integer%s, got \"%s\"", option,
                          min == 0 ? " >= 0" : "", text);
    *out = v;
    return 0;
}

/* "orders" or "orders:0,2,5" */
static int topic_spec_add(ctl_args_t *out, const char *option, const char *text, sb_err_t *err)
{
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    char *name = strndup(text, name_len);
    if (!name) return sb_err_set(err, SB_ENOMEM, "out of memory");
    sb_err_t name_err = {0};
    if (ctl_validate_topic_name(name, &name_err)) {
        free(name);
        return sb_err_set(err, SB_EINVAL, "%s %s: %s", option, text, name_err.msg);
    }
    ctl_topic_spec_t spec = {.topic = name};
    if (colon) {
        const char *p = colon + 1;
        for (;;) {
            errno = 0;
            char *end = NULL;
            long v = strtol(p, &end, 10);
            if (end == p || errno == ERANGE || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0')) {
                free(spec.partitions);
                free(name);
                return sb_err_set(err, SB_EINVAL, "%s needs TOPIC or TOPIC:PARTITION,PARTITION..., got \"%s\"",
                                  option, text);
            }
            int32_t *grown = realloc(spec.partitions, (spec.partition_count + 1) * sizeof(*grown));
            if (!grown) {
                free(spec.partitions);
                free(name);
                return sb_err_set(err, SB_ENOMEM, "out of memory");
            }
            spec.partitions = grown;
            spec.partitions[spec.partition_count++] = (int32_t)v;
            if (*end == '\0') break;
            p = end + 1;
        }
    }
    ctl_topic_spec_t *grown = realloc(out->topics, (out->topic_count + 1) * sizeof(*grown));
    if (!grown) {
        free(spec.partitions);
        free(name);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    out->topics = grown;
    out->topics[out->topic_count++] = spec;
    return 0;
}

static int set_reset(ctl_args_t *out, const char *option, ctl_reset_t reset, sb_err_t *err)
{
    if (out->reset != CTL_RESET_NONE)
        return sb_err_set(err, SB_EINVAL, "%s: give only one of --to-earliest, --to-latest, --to-offset, "
                                          "--to-datetime, --shift-by", option);
    out->reset = reset;
    return 0;
}

static int parse_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9') return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int ctl_parse_datetime(const char *text, int64_t *ms_out, sb_err_t *err)
{
    const char *p = text;
    struct tm tm = {0};
    int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0, ms = 0;
    bool ok = parse_digits(&p, 4, &year) == 0 && *p++ == '-' && parse_digits(&p, 2, &mon) == 0 && *p++ == '-' &&
              parse_digits(&p, 2, &day) == 0 && *p++ == 'T' && parse_digits(&p, 2, &hour) == 0 && *p++ == ':' &&
              parse_digits(&p, 2, &min) == 0;
    if (ok && *p == ':') {
        p++;
        ok = parse_digits(&p, 2, &sec) == 0;
        if (ok && *p == '.') {
            p++;
            ok = parse_digits(&p, 3, &ms) == 0;
        }
    }
    bool zoned = false;
    int zone_min = 0;
    if (ok && *p == 'Z') {
        zoned = true;
        p++;
    } else if (ok && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, zh = 0, zm = 0;
        ok = parse_digits(&p, 2, &zh) == 0 && *p++ == ':' && parse_digits(&p, 2, &zm) == 0;
        zoned = true;
        zone_min = sign * (zh * 60 + zm);
    }
    ok = ok && *p == '\0' && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour <= 23 && min <= 59 && sec <= 60;
    /* timegm/mktime would roll 2026-02-30 over into March: refuse days the month lacks. */
    static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    ok = ok && day <= month_days[mon - 1] && !(mon == 2 && day == 29 && !leap);
    if (!ok)
        return sb_err_set(err, SB_EINVAL,
                          "--to-datetime needs YYYY-MM-DDTHH:MM[:SS[.sss]][Z|+HH:MM|-HH:MM], got \"%s\"", text);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = zoned ? timegm(&tm) - (time_t)zone_min * 60 : mktime(&tm);
    *ms_out = (int64_t)t * 1000 + ms;
    return 0;
}

static int parse_int(const char *option, const char *text, long min, long max, int *out, sb_err_t *err)
{
    errno = 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || v < min || v > max)
        return sb_err_set(err, SB_EINVAL, "%s needs an integer from %ld to %ld, got \"%s\"", option,
                          min, max, text);
    *out = (int)v;
    return 0;
}

static int kv_list_add(ctl_kv_list_t *list, const char *option, const char *text, sb_err_t *err)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return sb_err_set(err, SB_EINVAL, "%s needs key=value, got \"%s\"", option, text);
    ctl_kv_t *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (!grown) return sb_err_set(err, SB_ENOMEM, "out of memory");
    list->items = grown;
    char *key = strndup(text, (size_t)(eq - text));
    char *value = strdup(eq + 1);
    if (!key || !value) {
        free(key);
        free(value);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    list->items[list->count].key = key;
    list->items[list->count].value = value;
    list->count++;
    return 0;
}

/* --delete KEY: a change with a NULL value. */
static int kv_list_add_key(ctl_kv_list_t *list, const char *option, const char *key, sb_err_t *err)
{
    if (!key[0] || strchr(key, '='))
        return sb_err_set(err, SB_EINVAL, "%s needs a config name (no '='), got \"%s\"", option, key);
    ctl_kv_t *grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
    if (!grown) return sb_err_set(err, SB_ENOMEM, "out of memory");
    list->items = grown;
    char *k = strdup(key);
    if (!k) return sb_err_set(err, SB_ENOMEM, "out of memory");
    list->items[list->count].key = k;
    list->items[list->count].value = NULL;
    list->count++;
    return 0;
}

static int parse_offset(const char *option, const char *text, long long *out, sb_err_t *err)
{
    if (strcmp(text, "end") == 0) {
        *out = -1;
        return 0;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || v < 0)
        return sb_err_set(err, SB_EINVAL, "%s needs an offset >= 0 or \"end\", got \"%s\"", option, text);
    *out = v;
    return 0;
}

static void kv_list_deinit(ctl_kv_list_t *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void ctl_args_deinit(ctl_args_t *args)
{
    if (!args) return;
    kv_list_deinit(&args->client_config);
    kv_list_deinit(&args->topic_config);
    kv_list_deinit(&args->config_changes);
    for (size_t i = 0; i < args->topic_count; i++) {
        free(args->topics[i].topic);
        free(args->topics[i].partitions);
    }
    free(args->topics);
    args->topics = NULL;
    args->topic_count = 0;
}

int ctl_validate_topic_name(const char *name, sb_err_t *err)
{
    size_t len = strlen(name);
    if (len == 0) return sb_err_set(err, SB_EINVAL, "topic name must not be empty");
    if (len > 249)
        return sb_err_set(err, SB_EINVAL, "topic name is %zu characters long; the limit is 249", len);
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return sb_err_set(err, SB_EINVAL, "topic name \"%s\" is not allowed", name);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return sb_err_set(err, SB_EINVAL,
                              "topic name \"%s\" contains '%c'; allowed are letters, digits, '.', '_' "
                              "and '-'",
                              name, c);
    }
    return 0;
}

/* --help anywhere (before a "--") wins over every other check, so that a user who got a
 * command wrong can always append --help to see how it should look. */
static bool wants_help(int argc, char **argv, const char **noun)
{
    bool help = false;
    *noun = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || (i == 1 && strcmp(a, "help") == 0)) {
            help = true;
            continue;
        }
        if (!*noun && a[0] != '-' && is_known_noun(a)) *noun = a;
    }
    return help;
}

static int acl_add_principal(const char **list, size_t *count, const char *option, const char *value, sb_err_t *err)
{
    const char *colon = strchr(value, ':');
    if (!colon || colon == value || !colon[1])
        return sb_err_set(err, SB_EINVAL, "%s needs Type:name (e.g. User:alice or User:*), got \"%s\"", option, value);
    if (*count == CTL_ACL_MAX) return sb_err_set(err, SB_EINVAL, "%s: at most %d principals", option, CTL_ACL_MAX);
    list[(*count)++] = value;
    return 0;
}

static int acl_set_resource(ctl_acl_args_t *acl, const char *option, int type, const char *name, sb_err_t *err)
{
    if (acl->resource_type)
        return sb_err_set(err, SB_EINVAL, "%s: give only one of --topic, --group, --cluster", option);
    if (!name[0]) return sb_err_set(err, SB_EINVAL, "%s needs a name (\"*\" for every one)", option);
    acl->resource_type = type;
    acl->resource_name = name;
    return 0;
}

static int apply_acl_option(ctl_args_t *out, const option_spec_t *opt, const char *value, sb_err_t *err)
{
    ctl_acl_args_t *acl = &out->acl;
    switch (opt->id) {
    case OPT_ACL_ALLOW_PRINCIPAL:
        return acl_add_principal(acl->allow_principals, &acl->allow_count, opt->name, value, err);
    case OPT_ACL_DENY_PRINCIPAL:
        return acl_add_principal(acl->deny_principals, &acl->deny_count, opt->name, value, err);
    case OPT_ACL_ALLOW_HOST: acl->allow_host = value; return 0;
    case OPT_ACL_DENY_HOST: acl->deny_host = value; return 0;
    case OPT_ACL_OPERATION: {
        int op = acl_operation_parse(value);
        if (op < ACL_OP_ALL || op > ACL_OP_IDEMPOTENT_WRITE)
            return sb_err_set(err, SB_EINVAL,
                              "--operation must be one of All, Read, Write, Create, Delete, Alter, Describe, "
                              "ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite; got \"%s\"", value);
        if (acl->operation_count == CTL_ACL_MAX)
            return sb_err_set(err, SB_EINVAL, "--operation: at most %d operations", CTL_ACL_MAX);
        acl->operations[acl->operation_count++] = op;
        return 0;
    }
    case OPT_ACL_TOPIC: return acl_set_resource(acl, opt->name, ACL_RESOURCE_TOPIC, value, err);
    case OPT_ACL_GROUP: return acl_set_resource(acl, opt->name, ACL_RESOURCE_GROUP, value, err);
    case OPT_ACL_CLUSTER: return acl_set_resource(acl, opt->name, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME, err);
    case OPT_ACL_PATTERN: {
        int p = acl_pattern_type_parse(value);
        bool filter = out->command != CTL_CMD_ACL_ADD;
        if (p < 0 || (!filter && p != ACL_PATTERN_LITERAL && p != ACL_PATTERN_PREFIXED))
            return sb_err_set(err, SB_EINVAL, "--resource-pattern-type must be literal or prefixed%s, got \"%s\"",
                              filter ? " (or any, match)" : "", value);
        acl->pattern_type = p;
        return 0;
    }
    case OPT_ACL_PRINCIPAL: acl->principal = value; return 0;
    default: return sb_err_set(err, SB_EINVAL, "internal: unhandled option %s", opt->name);
    }
}

static int apply_option(ctl_args_t *out, const option_spec_t *opt, const char *value, sb_err_t *err)
{
    switch (opt->id) {
    case OPT_BOOTSTRAP:
        if (value[0] == '\0') return sb_err_set(err, SB_EINVAL, "--bootstrap-server must not be empty");
        out->bootstrap = value;
        return 0;
    case OPT_TIMEOUT: return parse_int(opt->name, value, 1, INT_MAX, &out->timeout_ms, err);
    case OPT_OUTPUT:
        if (strcmp(value, "table") == 0) out->output = CTL_OUTPUT_TABLE;
        else if (strcmp(value, "json") == 0) out->output = CTL_OUTPUT_JSON;
        else return sb_err_set(err, SB_EINVAL, "--output must be table or json, got \"%s\"", value);
        return 0;
    case OPT_PARTITIONS: return parse_int(opt->name, value, 1, INT32_MAX, &out->partitions, err);
    case OPT_REPLICATION_FACTOR:
        /* ReplicationFactor is an INT16 in CreateTopics. */
        return parse_int(opt->name, value, 1, INT16_MAX, &out->replication_factor, err);
    case OPT_CONFIG: return kv_list_add(&out->topic_config, opt->name, value, err);
    case OPT_IF_NOT_EXISTS: out->if_not_exists = true; return 0;
    case OPT_IF_EXISTS: out->if_exists = true; return 0;
    case OPT_TOTAL: return parse_int(opt->name, value, 1, INT32_MAX, &out->total_partitions, err);
    case OPT_URL: return 0;
    case OPT_SET: return kv_list_add(&out->config_changes, opt->name, value, err);
    case OPT_DELETE: return kv_list_add_key(&out->config_changes, opt->name, value, err);
    case OPT_VALIDATE_ONLY: out->validate_only = true; return 0;
    case OPT_PARTITION: return parse_int(opt->name, value, 0, INT32_MAX, &out->partition, err);
    case OPT_OFFSET: out->offset_given = true; return parse_offset(opt->name, value, &out->offset, err);
    case OPT_TOPIC: return topic_spec_add(out, opt->name, value, err);
    case OPT_ALL_TOPICS: out->all_topics = true; return 0;
    case OPT_TO_EARLIEST: return set_reset(out, opt->name, CTL_RESET_EARLIEST, err);
    case OPT_TO_LATEST: return set_reset(out, opt->name, CTL_RESET_LATEST, err);
    case OPT_TO_OFFSET:
        if (set_reset(out, opt->name, CTL_RESET_OFFSET, err)) return SB_EINVAL;
        return parse_int64(opt->name, value, 0, &out->reset_value, err);
    case OPT_TO_DATETIME:
        if (set_reset(out, opt->name, CTL_RESET_DATETIME, err)) return SB_EINVAL;
        return ctl_parse_datetime(value, &out->reset_value, err);
    case OPT_SHIFT_BY:
        if (set_reset(out, opt->name, CTL_RESET_SHIFT, err)) return SB_EINVAL;
        return parse_int64(opt->name, value, INT64_MIN, &out->reset_value, err);
    case OPT_DRY_RUN: out->dry_run = true; return 0;
    case OPT_EXECUTE: out->execute = true; return 0;
    case OPT_ACL_ALLOW_PRINCIPAL:
    case OPT_ACL_DENY_PRINCIPAL:
    case OPT_ACL_ALLOW_HOST:
    case OPT_ACL_DENY_HOST:
    case OPT_ACL_OPERATION:
    case OPT_ACL_TOPIC:
    case OPT_ACL_GROUP:
    case OPT_ACL_CLUSTER:
    case OPT_ACL_PATTERN:
    case OPT_ACL_PRINCIPAL: return apply_acl_option(out, opt, value, err);
    case OPT_MECHANISM:
        if (strcmp(value, "SCRAM-SHA-256") != 0 && strcmp(value, "SCRAM-SHA-512") != 0 && strcmp(value, "both") != 0)
            return sb_err_set(err, SB_EINVAL, "--mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or both, got \"%s\"",
                              value);
        out->user_mechanism = value;
        return 0;
    /* Kafka's bounds for SCRAM iterations (AlterUserScramCredentials refuses others). */
    case OPT_ITERATIONS: return parse_int(opt->name, value, 4096, 16384, &out->iterations, err);
    case OPT_PASSWORD_FILE: out->password_file = value; return 0;
    }
    return sb_err_set(err, SB_EINVAL, "internal: unhandled option %s", opt->name);
}

/* Handles argv[*i], a word starting with '-'; advances *i past a separate value. */
static int parse_option_word(int argc, char **argv, int *i, const command_spec_t *cmd, ctl_args_t *out,
                             sb_err_t *err)
{
    const char *a = argv[*i];
    if (strncmp(a, "-X", 2) == 0) {
        const char *value = a + 2;
        if (*value == '\0') {
            if (*i + 1 >= argc) return sb_err_set(err, SB_EINVAL, "-X needs key=value");
            value = argv[++*i];
        }
        return kv_list_add(&out->client_config, "-X", value, err);
    }
    if (strncmp(a, "--", 2) != 0) return sb_err_set(err, SB_EINVAL, "unknown option \"%s\"", a);

    const char *eq = strchr(a, '=');
    size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
    const option_spec_t *opt = find_option(a, name_len, cmd);
    if (!opt) return sb_err_set(err, SB_EINVAL, "unknown option \"%.*s\"", (int)name_len, a);
    if (!opt->global) {
        const command_spec_t *owner = find_command_by_id(opt->command);
        if (!cmd)
            return sb_err_set(err, SB_EINVAL, "option %s belongs after '%s %s'", opt->name, owner->noun,
                              owner->verb);
        if (cmd->command != opt->command)
            return sb_err_set(err, SB_EINVAL, "option %s is not valid for '%s %s' (it belongs to '%s %s')",
                              opt->name, cmd->noun, cmd->verb, owner->noun, owner->verb);
    }
    const char *value = NULL;
    if (opt->takes_value) {
        if (eq) value = eq + 1;
        else if (*i + 1 < argc) value = argv[++*i];
        else return sb_err_set(err, SB_EINVAL, "option %s needs a value", opt->name);
    } else if (eq) {
        return sb_err_set(err, SB_EINVAL, "option %s takes no value", opt->name);
    }
    return apply_option(out, opt, value, err);
}

static int parse_into(int argc, char **argv, const char *env_bootstrap, ctl_args_t *out, sb_err_t *err)
{
    out->bootstrap = env_bootstrap && env_bootstrap[0] ? env_bootstrap : CTL_DEFAULT_BOOTSTRAP;
    out->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    out->output = CTL_OUTPUT_TABLE;
    out->partitions = -1;
    out->replication_factor = -1;
    out->partition = -1;

    const char *help_noun = NULL;
    if (wants_help(argc, argv, &help_noun)) {
        out->command = CTL_CMD_HELP;
        out->help_noun = help_noun;
        return 0;
    }

    const char *noun = NULL;
    const command_spec_t *cmd = NULL;
    bool options_ended = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_ended && strcmp(a, "--") == 0) {
            options_ended = true;
            continue;
        }
        if (!options_ended && a[0] == '-' && a[1] != '\0') {
            int rc = parse_option_word(argc, argv, &i, cmd, out, err);
            if (rc) return rc;
            continue;
        }
        if (!noun) {
            if (!is_known_noun(a))
                return sb_err_set(err, SB_EINVAL, "unknown command \"%s\" (expected topic, group, records, acl, user, connector, dlq, offsets or reconcile)", a);
            noun = a;
        } else if (!cmd) {
            cmd = find_command(noun, a);
            if (!cmd)
                return sb_err_set(err, SB_EINVAL, "unknown %s command \"%s\" (expected %s)", noun, a,
                                  verbs_of(noun));
            out->command = cmd->command;
        } else if (cmd->needs_name && !out->name) {
            out->name = a;
        } else {
            return sb_err_set(err, SB_EINVAL, "unexpected argument \"%s\" for '%s %s'", a, cmd->noun,
                              cmd->verb);
        }
    }

    if (!noun) return sb_err_set(err, SB_EINVAL, "missing command (expected topic, group, records, acl, user, connector, dlq, offsets or reconcile)");
    if (!cmd)
        return sb_err_set(err, SB_EINVAL, "missing %s command (expected %s)", noun, verbs_of(noun));
    out->command = cmd->command;
    if (cmd->needs_name && !out->name)
        return sb_err_set(err, SB_EINVAL, "'%s %s' needs a %s name", cmd->noun, cmd->verb, cmd->noun);
    if (cmd->needs_name && out->name[0] == '\0')
        return sb_err_set(err, SB_EINVAL, "%s name must not be empty", cmd->noun);
    if (cmd->command == CTL_CMD_TOPIC_CREATE) return ctl_validate_topic_name(out->name, err);
    if (cmd->command == CTL_CMD_TOPIC_ADD_PARTITIONS && out->total_partitions == 0)
        return sb_err_set(err, SB_EINVAL, "'topic add-partitions' needs --total N (the new partition count)");
    if (cmd->command == CTL_CMD_TOPIC_ALTER_CONFIG && out->config_changes.count == 0)
        return sb_err_set(err, SB_EINVAL, "'topic alter-config' needs at least one --set key=value or --delete key");
    if (cmd->command == CTL_CMD_TOPIC_ALTER_CONFIG) {
        for (size_t i = 0; i < out->config_changes.count; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(out->config_changes.items[i].key, out->config_changes.items[j].key) == 0)
                    return sb_err_set(err, SB_EINVAL, "config \"%s\" is given more than once",
                                      out->config_changes.items[i].key);
    }
    if (cmd->command == CTL_CMD_RECORDS_DELETE && !out->offset_given)
        return sb_err_set(err, SB_EINVAL,
                          "'records delete' needs --offset N (records below N are deleted) or --offset end");
    if (cmd->command == CTL_CMD_RECORDS_DELETE) return ctl_validate_topic_name(out->name, err);
    if (cmd->command == CTL_CMD_GROUP_RESET_OFFSETS) {
        if (out->reset == CTL_RESET_NONE)
            return sb_err_set(err, SB_EINVAL, "'group reset-offsets' needs one of --to-earliest, --to-latest, "
                                              "--to-offset N, --to-datetime T, --shift-by N");
        if (out->all_topics == (out->topic_count > 0))
            return sb_err_set(err, SB_EINVAL, "'group reset-offsets' needs either --all-topics or --topic TOPIC[:P,...]");
        if (out->execute && out->dry_run)
            return sb_err_set(err, SB_EINVAL, "--dry-run and --execute exclude each other");
    }
    if (cmd->command == CTL_CMD_ACL_ADD) {
        if (out->acl.allow_count + out->acl.deny_count == 0)
            return sb_err_set(err, SB_EINVAL, "'acl add' needs --allow-principal or --deny-principal");
        if (out->acl.operation_count == 0)
            return sb_err_set(err, SB_EINVAL, "'acl add' needs --operation (e.g. Read, Write, Describe, All)");
    }
    if ((cmd->command == CTL_CMD_ACL_ADD || cmd->command == CTL_CMD_ACL_REMOVE) && !out->acl.resource_type)
        return sb_err_set(err, SB_EINVAL, "'acl %s' needs one of --topic NAME, --group NAME, --cluster", cmd->verb);
    if (cmd->command == CTL_CMD_GROUP_DELETE_OFFSETS && out->topic_count == 0)
        return sb_err_set(err, SB_EINVAL, "'group delete-offsets' needs --topic TOPIC[:P,...]");
    return 0;
}

int ctl_args_parse(int argc, char **argv, const char *env_bootstrap, ctl_args_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    int rc = parse_into(argc, argv, env_bootstrap, out, err);
    if (rc) {
        ctl_args_deinit(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

static const char USAGE_GLOBAL[] =
    "global options (anywhere on the line, for every noun):\n"
    "  --url URL                     connect REST API (connector, dlq, offsets, reconcile)\n"
    "  --bootstrap-server HOST:PORT  broker to contact (default: $STREAMBUS_BOOTSTRAP, else " CTL_DEFAULT_BOOTSTRAP
    ")\n"
    "  --timeout-ms N                how long to wait for the cluster (default 10000) or for\n"
    "                                one connect REST request (default 60000)\n"
    "  --output table|json           aligned table for people (default) or JSON for scripts\n"
    "  -X key=value                  librdkafka client property, e.g. -X security.protocol=SSL\n";

static const char USAGE_TOPIC[] =
    "usage: streambus ctl [global options] topic <command>\n\n"
    "commands:\n"
    "  create NAME [--partitions N] [--replication-factor N] [--config key=value ...] [--if-not-exists]\n"
    "                       create a topic; unset counts use the broker's defaults\n"
    "  list                 list topics with their partition count and replication factor\n"
    "  describe NAME        partitions (leader, replicas, isr, earliest/latest offset) and configs\n"
    "  delete NAME [--if-exists]\n"
    "                       delete a topic and all its data\n"
    "  add-partitions NAME --total N\n"
    "                       grow a topic to N partitions (partitions are never removed)\n"
    "  alter-config NAME [--set key=value ...] [--delete key ...] [--validate-only]\n"
    "                       change the topic's own configs; others keep their values\n";

static const char USAGE_RECORDS[] =
    "usage: streambus ctl [global options] records <command>\n\n"
    "commands:\n"
    "  delete TOPIC --offset N|end [--partition P]\n"
    "                       delete every record below offset N (end: all records) in partition P,\n"
    "                       or in every partition; prints the new earliest offsets\n";

static const char USAGE_ACL[] =
    "usage: streambus ctl [global options] acl <command>\n\n"
    "commands (the broker needs authorizer.enabled; see the ACLs section of docs/security.md):\n"
    "  add (--allow-principal P | --deny-principal P) ... --operation OP ...\n"
    "      (--topic NAME | --group NAME | --cluster) [--resource-pattern-type literal|prefixed]\n"
    "      [--allow-host IP] [--deny-host IP]\n"
    "                       one binding per principal and operation; hosts default to *\n"
    "  remove (--topic NAME | --group NAME | --cluster) [--resource-pattern-type literal|prefixed|any|match]\n"
    "      [--allow-principal P ...] [--deny-principal P ...] [--operation OP ...]\n"
    "                       delete the bindings these select (no principal/operation: all of them)\n"
    "  list [--topic NAME | --group NAME | --cluster] [--resource-pattern-type ...] [--principal P]\n"
    "                       the bindings the broker holds, by resource\n"
    "  P is Type:name (User:alice, User:* for everyone); OP is All, Read, Write, Create, Delete,\n"
    "  Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs or IdempotentWrite\n";
static const char USAGE_USER[] =
    "usage: streambus ctl [global options] user <command>\n\n"
    "SCRAM users of the broker's SASL listeners (DescribeUserScramCredentials and\n"
    "AlterUserScramCredentials). The password is read from --password-file or standard input,\n"
    "salted and hashed here; only the salted form is sent. To reach a SASL_PLAINTEXT listener\n"
    "give -X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=SCRAM-SHA-256\n"
    "-X sasl.username=U -X sasl.password=P.\n\n"
    "commands:\n"
    "  add USER [--mechanism SCRAM-SHA-256|SCRAM-SHA-512|both] [--iterations N] [--password-file F]\n"
    "                       create the user's credentials (both mechanisms by default, 4096\n"
    "                       iterations; N from 4096 to 16384)\n"
    "  passwd USER [--mechanism M] [--iterations N] [--password-file F]\n"
    "                       set a new password (for the mechanisms the user has by default)\n"
    "  remove USER [--mechanism M]\n"
    "                       delete the user's credentials (all of them by default)\n"
    "  list                 users, mechanisms and iteration counts (never a password or key)\n";

static const char USAGE_GROUP[] =
    "usage: streambus ctl [global options] group <command>\n\n"
    "commands:\n"
    "  list                 list consumer groups and their state\n"
    "  describe GROUP       state, members and their partitions; committed offset, log end\n"
    "                       offset and lag per partition; total lag\n"
    "  delete GROUP         delete an empty group and its committed offsets\n"
    "  reset-offsets GROUP (--all-topics | --topic TOPIC[:P,P...] ...)\n"
    "          (--to-earliest | --to-latest | --to-offset N | --to-datetime T | --shift-by N)\n"
    "          [--dry-run | --execute]\n"
    "                       move the group's committed offsets; prints the plan and changes\n"
    "                       nothing unless --execute is given. Refused while the group has\n"
    "                       active members. T is YYYY-MM-DDTHH:MM[:SS[.sss]][Z|+HH:MM] (local\n"
    "                       time without a zone); offsets are clamped to what the log holds\n"
    "  delete-offsets GROUP --topic TOPIC[:P,P...] ...\n"
    "                       forget the group's committed offsets of those partitions (a live\n"
    "                       group keeps those of topics it subscribes to)\n";

void ctl_usage(FILE *out, const char *noun)
{
    if (noun && strcmp(noun, "topic") == 0) {
        fprintf(out, "%s\n%s", USAGE_TOPIC, USAGE_GLOBAL);
    } else if (noun && strcmp(noun, "group") == 0) {
        fprintf(out, "%s\n%s", USAGE_GROUP, USAGE_GLOBAL);
    } else if (noun && strcmp(noun, "records") == 0) {
        fprintf(out, "%s\n%s", USAGE_RECORDS, USAGE_GLOBAL);
    } else if (noun && strcmp(noun, "acl") == 0) {
        fprintf(out, "%s\n%s", USAGE_ACL, USAGE_GLOBAL);
    } else if (noun && strcmp(noun, "user") == 0) {
        fprintf(out, "%s\n%s", USAGE_USER, USAGE_GLOBAL);
    } else {
        fprintf(out, "usage: streambus ctl [global options] "
                     "<topic|group|records|acl|user|connector|dlq|offsets|reconcile|job|certs> ...\n\n"
                     "Operator CLI. topic, group, records, acl and user use the Kafka admin protocol\n"
                     "(StreamBus or any Kafka cluster); connector, dlq, offsets and reconcile use the\n"
                     "connect REST API (--url URL, default $STREAMBUS_CONNECT_URL or http://127.0.0.1:8083);\n"
                     "job uses the jobs REST API (default $STREAMBUS_JOBS_URL or http://127.0.0.1:8090);\n"
                     "certs makes development TLS certificates.\n\n"
                     "  topic create|list|describe|delete|add-partitions|alter-config\n"
                     "  group list|describe|delete|reset-offsets|delete-offsets\n"
                     "  records delete\n"
                     "  acl add|remove|list\n"
                     "  user add|passwd|remove|list\n"
                     "  connector create|list|status|config|pause|resume|restart|delete\n"
                     "  dlq list|replay\n"
                     "  offsets export|import\n"
                     "  reconcile --connector C (--tables T,.. | --all-tables) [--sink S] [--mode M] [--repair]\n"
                     "  job submit|list|show|cancel|retry|logs\n"
                     "  certs generate --out DIR [--host NAME]... [--client NAME]...\n\n"
                     "%s\n"
                     "REST APIs secured with HTTPS and tokens (docs/security.md): STREAMBUS_CA_FILE names the CA\n"
                     "that signed the server's certificate; STREAMBUS_TOKEN (or STREAMBUS_TOKEN_FILE) holds the\n"
                     "bearer token sent with every request (from POST /auth/login). Neither is printed.\n\n"
                     "Run 'streambus ctl <noun> --help' for details.\n"
                     "Exit status: 0 success, 1 the cluster reported an error or could not be reached,\n"
                     "2 usage error (reconcile: 3 drift found).\n",
                USAGE_GLOBAL);
    }
}
