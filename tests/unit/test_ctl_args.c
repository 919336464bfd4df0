/* `streambus ctl` command line: what is accepted, what is refused and with which message,
 * and the aligned table the human-readable output is built from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ctl/ctl.h"
#include "ctl/ctl_args.h"
#include "ctl/ctl_table.h"

/* Parses a NULL-terminated word list as if typed after `streambus`. */
static int parse_words(ctl_args_t *args, sb_err_t *err, const char *env_bootstrap, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, env_bootstrap);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL && argc < 63;) argv[argc++] = (char *)w;
    va_end(ap);
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    return ctl_args_parse(argc, argv, env_bootstrap, args, err);
}

#define PARSE(args, err, ...) parse_words(args, err, NULL, "ctl", __VA_ARGS__, (const char *)NULL)

static void assert_usage_error(sb_err_t *err, int rc, const char *expected_fragment)
{
    assert_int_equal(rc, SB_EINVAL);
    if (!strstr(err->msg, expected_fragment)) fail_msg("message \"%s\" lacks \"%s\"", err->msg, expected_fragment);
}

static void test_defaults_and_environment(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "topic", "list"), 0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_LIST);
    assert_string_equal(args.bootstrap, "127.0.0.1:9092");
    assert_int_equal(args.timeout_ms, CTL_DEFAULT_TIMEOUT_MS);
    assert_int_equal(args.output, CTL_OUTPUT_TABLE);
    ctl_args_deinit(&args);

    assert_int_equal(parse_words(&args, &err, "kafka-1:9092", "ctl", "group", "list", (const char *)NULL), 0);
    assert_string_equal(args.bootstrap, "kafka-1:9092");
    ctl_args_deinit(&args);

    /* The flag beats the environment, wherever it stands on the line. */
    assert_int_equal(parse_words(&args, &err, "kafka-1:9092", "ctl", "group", "list", "--bootstrap-server",
                                 "other:19092", (const char *)NULL),
                     0);
    assert_string_equal(args.bootstrap, "other:19092");
    ctl_args_deinit(&args);

    /* An empty STREAMBUS_BOOTSTRAP is treated as unset rather than as an empty broker list. */
    assert_int_equal(parse_words(&args, &err, "", "ctl", "topic", "list", (const char *)NULL), 0);
    assert_string_equal(args.bootstrap, "127.0.0.1:9092");
    ctl_args_deinit(&args);
}

static void test_topic_create_full(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "--output=json", "-X", "security.protocol=SSL", "topic", "create", "orders",
                           "--partitions", "12", "--replication-factor=3", "--config", "retention.ms=60000",
                           "--config", "cleanup.policy=compact", "--if-not-exists", "-Xclient.rack=r1",
                           "--timeout-ms", "2500"),
                     0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_CREATE);
    assert_string_equal(args.name, "orders");
    assert_int_equal(args.partitions, 12);
    assert_int_equal(args.replication_factor, 3);
    assert_true(args.if_not_exists);
    assert_int_equal(args.output, CTL_OUTPUT_JSON);
    assert_int_equal(args.timeout_ms, 2500);
    assert_int_equal(args.topic_config.count, 2);
    assert_string_equal(args.topic_config.items[0].key, "retention.ms");
    assert_string_equal(args.topic_config.items[0].value, "60000");
    assert_string_equal(args.topic_config.items[1].key, "cleanup.policy");
    assert_string_equal(args.topic_config.items[1].value, "compact");
    assert_int_equal(args.client_config.count, 2);
    assert_string_equal(args.client_config.items[0].key, "security.protocol");
    assert_string_equal(args.client_config.items[1].key, "client.rack");
    assert_string_equal(args.client_config.items[1].value, "r1");
    ctl_args_deinit(&args);
}

static void test_topic_create_defaults_leave_counts_to_broker(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "topic", "create", "events"), 0);
    assert_int_equal(args.partitions, -1);
    assert_int_equal(args.replication_factor, -1);
    assert_false(args.if_not_exists);
    assert_int_equal(args.topic_config.count, 0);
    ctl_args_deinit(&args);

    /* A config value may itself contain '='; only the first one splits. */
    assert_int_equal(PARSE(&args, &err, "topic", "create", "events", "--config", "x.filter=a=b"), 0);
    assert_string_equal(args.topic_config.items[0].key, "x.filter");
    assert_string_equal(args.topic_config.items[0].value, "a=b");
    ctl_args_deinit(&args);
}

static void test_every_command_parses(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "topic", "describe", "orders"), 0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_DESCRIBE);
    assert_string_equal(args.name, "orders");
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "topic", "delete", "orders", "--if-exists"), 0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_DELETE);
    assert_true(args.if_exists);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "topic", "add-partitions", "orders", "--total", "8"), 0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_ADD_PARTITIONS);
    assert_int_equal(args.total_partitions, 8);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "list"), 0);
    assert_int_equal(args.command, CTL_CMD_GROUP_LIST);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "describe", "billing"), 0);
    assert_int_equal(args.command, CTL_CMD_GROUP_DESCRIBE);
    assert_string_equal(args.name, "billing");
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "delete", "billing"), 0);
    assert_int_equal(args.command, CTL_CMD_GROUP_DELETE);
    ctl_args_deinit(&args);
    /* "--" lets a group name that starts with '-' through. */
    assert_int_equal(PARSE(&args, &err, "group", "describe", "--", "-odd-group"), 0);
    assert_string_equal(args.name, "-odd-group");
    ctl_args_deinit(&args);
}

static void test_alter_config_and_records_delete(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "topic", "alter-config", "orders", "--set", "retention.ms=1000", "--delete",
                           "cleanup.policy", "--set=compression.type=gzip", "--validate-only"),
                     0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_ALTER_CONFIG);
    assert_string_equal(args.name, "orders");
    assert_true(args.validate_only);
    assert_int_equal(args.config_changes.count, 3);
    assert_string_equal(args.config_changes.items[0].key, "retention.ms");
    assert_string_equal(args.config_changes.items[0].value, "1000");
    assert_string_equal(args.config_changes.items[1].key, "cleanup.policy");
    assert_null(args.config_changes.items[1].value);
    assert_string_equal(args.config_changes.items[2].value, "gzip");
    ctl_args_deinit(&args);
    assert_usage_error(&err, PARSE(&args, &err, "topic", "alter-config", "orders"), "at least one --set");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "alter-config", "orders", "--set", "retention.ms"),
                       "needs key=value");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "alter-config", "orders", "--delete", "a=b"),
                       "needs a config name");
    assert_usage_error(&err,
                       PARSE(&args, &err, "topic", "alter-config", "orders", "--set", "a=1", "--delete", "a"),
                       "\"a\" is given more than once");

    assert_int_equal(PARSE(&args, &err, "records", "delete", "orders", "--offset", "42", "--partition", "3"), 0);
    assert_int_equal(args.command, CTL_CMD_RECORDS_DELETE);
    assert_int_equal(args.partition, 3);
    assert_int_equal(args.offset, 42);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "records", "delete", "orders", "--offset", "end"), 0);
    assert_int_equal(args.partition, -1);
    assert_int_equal(args.offset, -1);
    ctl_args_deinit(&args);
    assert_usage_error(&err, PARSE(&args, &err, "records", "delete", "orders"), "needs --offset");
    assert_usage_error(&err, PARSE(&args, &err, "records", "delete", "orders", "--offset", "-5"), "offset >= 0");
    assert_usage_error(&err, PARSE(&args, &err, "records", "delete", "orders", "--offset", "x1"), "offset >= 0");
    assert_usage_error(&err, PARSE(&args, &err, "records", "delete", "orders", "--offset", "1", "--partition", "-1"),
                       "--partition needs an integer");
    assert_usage_error(&err, PARSE(&args, &err, "records", "purge", "orders"), "expected delete");
    assert_usage_error(&err, PARSE(&args, &err, "records", "delete", "bad/name", "--offset", "1"), "contains '/'");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "t", "--offset", "1"),
                       "--offset is not valid for 'topic create'");

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ctl_usage(out, "records");
    fclose(out);
    assert_non_null(strstr(text, "delete TOPIC --offset N|end"));
    free(text);
}

static void test_group_reset_and_delete_offsets(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "group", "reset-offsets", "billing", "--topic", "orders:0,2", "--topic",
                           "payments", "--to-earliest"),
                     0);
    assert_int_equal(args.command, CTL_CMD_GROUP_RESET_OFFSETS);
    assert_string_equal(args.name, "billing");
    assert_int_equal(args.reset, CTL_RESET_EARLIEST);
    assert_false(args.execute); /* a dry run unless told otherwise */
    assert_int_equal(args.topic_count, 2);
    assert_string_equal(args.topics[0].topic, "orders");
    assert_int_equal(args.topics[0].partition_count, 2);
    assert_int_equal(args.topics[0].partitions[1], 2);
    assert_string_equal(args.topics[1].topic, "payments");
    assert_int_equal(args.topics[1].partition_count, 0);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--shift-by", "-5", "--execute"), 0);
    assert_int_equal(args.reset, CTL_RESET_SHIFT);
    assert_int_equal(args.reset_value, -5);
    assert_true(args.all_topics);
    assert_true(args.execute);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-offset=42", "--dry-run"), 0);
    assert_int_equal(args.reset, CTL_RESET_OFFSET);
    assert_int_equal(args.reset_value, 42);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                           "2024-02-29T12:30:15.250+02:00"),
                     0);
    assert_int_equal(args.reset, CTL_RESET_DATETIME);
    assert_int_equal(args.reset_value, 1709202615250LL); /* 2024-02-29T10:30:15.250Z */
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "group", "delete-offsets", "g", "--topic", "orders:1"), 0);
    assert_int_equal(args.command, CTL_CMD_GROUP_DELETE_OFFSETS);
    assert_int_equal(args.topics[0].partitions[0], 1);
    ctl_args_deinit(&args);

    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics"), "needs one of --to-earliest");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--to-latest"), "either --all-topics or --topic");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--to-latest", "--all-topics", "--topic", "t"),
                       "either --all-topics or --topic");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-latest", "--to-earliest"),
                       "only one of");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-latest", "--execute",
                                   "--dry-run"),
                       "exclude each other");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-offset", "-1"), ">= 0");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--shift-by", "x"),
                       "--shift-by needs an integer");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime", "2024-02-29"),
                       "YYYY-MM-DDTHH:MM");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                                   "2024-13-01T00:00Z"),
                       "YYYY-MM-DDTHH:MM");
    /* Days the month lacks were rolled over by timegm (review of issue 8: 2026-02-30 went to March). */
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                                   "2026-02-30T00:00Z"),
                       "YYYY-MM-DDTHH:MM");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                                   "2025-02-29T00:00Z"),
                       "YYYY-MM-DDTHH:MM");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                                   "2026-04-31T00:00Z"),
                       "YYYY-MM-DDTHH:MM");
    assert_int_equal(PARSE(&args, &err, "group", "reset-offsets", "g", "--all-topics", "--to-datetime",
                           "2000-02-29T00:00Z"),
                     0);
    assert_int_equal(args.reset_value, 951782400000LL);
    ctl_args_deinit(&args);
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--to-latest", "--topic", "orders:1,x"),
                       "TOPIC:PARTITION");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "g", "--to-latest", "--topic", "bad/name"),
                       "contains '/'");
    assert_usage_error(&err, PARSE(&args, &err, "group", "delete-offsets", "g"), "needs --topic");
    assert_usage_error(&err, PARSE(&args, &err, "group", "delete-offsets", "g", "--topic", "t", "--to-latest"),
                       "--to-latest is not valid for 'group delete-offsets'");
    assert_usage_error(&err, PARSE(&args, &err, "group", "reset-offsets", "--all-topics", "--to-latest"), "needs a group name");
}

static void test_help_wins_everywhere(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "--help"), 0);
    assert_int_equal(args.command, CTL_CMD_HELP);
    assert_null(args.help_noun);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "topic", "--help"), 0);
    assert_int_equal(args.command, CTL_CMD_HELP);
    assert_string_equal(args.help_noun, "topic");
    ctl_args_deinit(&args);
    /* Even a broken command line asks for help rather than failing. */
    assert_int_equal(PARSE(&args, &err, "group", "describe", "--partitions", "x", "-h"), 0);
    assert_int_equal(args.command, CTL_CMD_HELP);
    assert_string_equal(args.help_noun, "group");
    ctl_args_deinit(&args);
}

static void test_usage_errors_name_the_problem(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_usage_error(&err, parse_words(&args, &err, NULL, "ctl", (const char *)NULL), "missing command");
    assert_usage_error(&err, PARSE(&args, &err, "topics", "list"), "unknown command \"topics\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic"), "missing topic command");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "rename", "a"), "unknown topic command \"rename\"");
    assert_usage_error(&err, PARSE(&args, &err, "group", "create", "g"),
                       "expected list, describe, delete, reset-offsets, delete-offsets");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "describe"), "'topic describe' needs a topic name");
    assert_usage_error(&err, PARSE(&args, &err, "group", "delete"), "needs a group name");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "list", "extra"), "unexpected argument \"extra\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "describe", "a", "b"), "unexpected argument \"b\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "add-partitions", "orders"), "needs --total");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "list", "--verbose"), "unknown option \"--verbose\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "list", "-v"), "unknown option \"-v\"");
    assert_usage_error(&err, PARSE(&args, &err, "--partitions", "3", "topic", "create", "a"),
                       "--partitions belongs after 'topic create'");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "delete", "a", "--if-not-exists"),
                       "--if-not-exists is not valid for 'topic delete'");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--partitions"), "--partitions needs a value");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "delete", "a", "--if-exists=yes"), "takes no value");
    assert_usage_error(&err, PARSE(&args, &err, "--output", "yaml", "topic", "list"), "table or json");
    assert_usage_error(&err, PARSE(&args, &err, "-X", "debug", "topic", "list"), "-X needs key=value");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "list", "-X"), "-X needs key=value");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--config", "=1"), "needs key=value");
    assert_usage_error(&err, PARSE(&args, &err, "--bootstrap-server=", "topic", "list"), "must not be empty");
}

static void test_numbers_are_checked(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--partitions", "0"), "from 1 to");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--partitions", "3x"), "got \"3x\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--partitions", ""), "got \"\"");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--partitions", "99999999999"), "from 1 to");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "a", "--replication-factor", "40000"),
                       "from 1 to 32767");
    assert_usage_error(&err, PARSE(&args, &err, "topic", "add-partitions", "a", "--total", "-2"), "from 1 to");
    assert_usage_error(&err, PARSE(&args, &err, "--timeout-ms", "0", "topic", "list"), "--timeout-ms");
}

static void test_topic_names_follow_kafka_rules(void **state)
{
    (void)state;
    sb_err_t err = {0};
    assert_int_equal(ctl_validate_topic_name("orders.v2_eu-west", &err), 0);
    assert_int_equal(ctl_validate_topic_name("", &err), SB_EINVAL);
    assert_int_equal(ctl_validate_topic_name(".", &err), SB_EINVAL);
    assert_int_equal(ctl_validate_topic_name("..", &err), SB_EINVAL);
    assert_int_equal(ctl_validate_topic_name("a/b", &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "'/'"));
    char longest[251];
    memset(longest, 'x', 249);
    longest[249] = '\0';
    assert_int_equal(ctl_validate_topic_name(longest, &err), 0);
    longest[249] = 'x';
    longest[250] = '\0';
    assert_int_equal(ctl_validate_topic_name(longest, &err), SB_EINVAL);

    ctl_args_t args;
    assert_usage_error(&err, PARSE(&args, &err, "topic", "create", "bad name"), "contains ' '");
}

/* `user`: options belong to their verbs, the mechanism and iteration bounds are checked at
 * parse time, and no option takes a password (it is read from a file or stdin). */
static void test_user_commands(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "user", "add", "alice", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192",
                           "--password-file", "/run/pw"),
                     0);
    assert_int_equal(args.command, CTL_CMD_USER_ADD);
    assert_string_equal(args.name, "alice");
    assert_string_equal(args.user_mechanism, "SCRAM-SHA-512");
    assert_int_equal(args.iterations, 8192);
    assert_string_equal(args.password_file, "/run/pw");
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "user", "list", "--output", "json"), 0);
    assert_int_equal(args.command, CTL_CMD_USER_LIST);
    ctl_args_deinit(&args);
    assert_int_equal(PARSE(&args, &err, "user", "remove", "bob"), 0);
    assert_null(args.user_mechanism);
    ctl_args_deinit(&args);
    assert_usage_error(&err, PARSE(&args, &err, "user", "add", "a", "--iterations", "4095"), "--iterations");
    assert_usage_error(&err, PARSE(&args, &err, "user", "add", "a", "--iterations", "16385"), "--iterations");
    assert_usage_error(&err, PARSE(&args, &err, "user", "add", "a", "--mechanism", "scram-sha-256"),
                       "--mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or both");
    assert_usage_error(&err, PARSE(&args, &err, "user", "remove", "a", "--iterations", "5000"),
                       "option --iterations is not valid for 'user remove'");
    assert_usage_error(&err, PARSE(&args, &err, "user", "add", "a", "--password", "x"), "unknown option \"--password\"");
    assert_usage_error(&err, PARSE(&args, &err, "user", "add"), "'user add' needs a user name");
    assert_usage_error(&err, PARSE(&args, &err, "user", "rename", "a"), "expected add, passwd, remove, list");

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ctl_usage(out, "user");
    fclose(out);
    assert_non_null(strstr(text, "passwd USER"));
    assert_non_null(strstr(text, "--password-file"));
    free(text);
}

static void test_usage_text_per_noun(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ctl_usage(out, "topic");
    fclose(out);
    assert_non_null(strstr(text, "add-partitions NAME --total N"));
    assert_null(strstr(text, "describe GROUP"));
    free(text);

    out = open_memstream(&text, &size);
    ctl_usage(out, "group");
    fclose(out);
    assert_non_null(strstr(text, "describe GROUP"));
    assert_non_null(strstr(text, "--bootstrap-server"));
    free(text);
}

/* The global option set is one for every noun, so a script that always passes --url (for the
 * connect nouns) also works for topic and group; the overview names every noun. */
static void test_connect_url_and_nouns_are_known(void **state)
{
    (void)state;
    ctl_args_t args;
    sb_err_t err;
    assert_int_equal(PARSE(&args, &err, "--url", "http://127.0.0.1:8083", "topic", "list"), 0);
    assert_int_equal(args.command, CTL_CMD_TOPIC_LIST);
    ctl_args_deinit(&args);
    assert_usage_error(&err, PARSE(&args, &err, "topics", "list"), "connector, dlq, offsets or reconcile");

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ctl_usage(out, NULL);
    fclose(out);
    assert_non_null(strstr(text, "reconcile --connector"));
    assert_non_null(strstr(text, "--url URL"));
    free(text);
}

static void test_table_aligns_columns(void **state)
{
    (void)state;
    static const char *const headers[] = {"TOPIC", "PARTITION", "LAG"};
    ctl_table_t *table = ctl_table_new(3, headers);
    assert_non_null(table);
    const char *row1[] = {"orders-eu", "0", "12"};
    const char *row2[] = {"a", "10", NULL};
    assert_int_equal(ctl_table_add_row(table, row1), 0);
    assert_int_equal(ctl_table_add_row(table, row2), 0);
    assert_int_equal(ctl_table_row_count(table), 2);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ctl_table_print(table, out);
    fclose(out);
    ctl_table_free(table);
    assert_string_equal(text, "TOPIC      PARTITION  LAG\n"
                              "orders-eu  0          12\n"
                              "a          10         -\n");
    free(text);
}

/* ---- ctl_run against librdkafka's in-process mock cluster ----------------------------------
 * The mock (librdkafka 2.0.2) serves Metadata, ListOffsets, Produce and offsets but none of the
 * admin APIs (CreateTopics, DescribeConfigs, DescribeGroups, ...), so only the read paths of
 * `topic list` and `topic describe` can be checked here; the rest is covered by
 * tests/integration/test_ctl.py against the real broker. */

typedef struct mock_env {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *cluster;
    const char *bootstrap;
} mock_env_t;

static int mock_setup(void **state)
{
    mock_env_t *env = calloc(1, sizeof(*env));
    char detail[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", detail, sizeof(detail));
    env->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, detail, sizeof(detail));
    env->cluster = rd_kafka_mock_cluster_new(env->owner, 1);
    env->bootstrap = rd_kafka_mock_cluster_bootstraps(env->cluster);
    rd_kafka_mock_topic_create(env->cluster, "orders", 3, 1);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", env->bootstrap, detail, sizeof(detail));
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, detail, sizeof(detail));
    const int counts[3] = {2, 5, 0};
    for (int32_t partition = 0; partition < 3; partition++)
        for (int i = 0; i < counts[partition]; i++)
            rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_VALUE("m", 1), RD_KAFKA_V_END);
    int undelivered = rd_kafka_flush(producer, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
    rd_kafka_destroy(producer);
    *state = env;
    return undelivered;
}

static int mock_teardown(void **state)
{
    mock_env_t *env = *state;
    rd_kafka_mock_cluster_destroy(env->cluster);
    rd_kafka_destroy(env->owner);
    free(env);
    return 0;
}

typedef struct run_result {
    int rc;
    sb_err_t err;
    char *out;
    char *errout;
} run_result_t;

static run_result_t run_ctl(const char *bootstrap, ...)
{
    char *argv[32] = {"ctl", "--bootstrap-server", (char *)bootstrap, "--timeout-ms", "1500"};
    int argc = 5;
    va_list ap;
    va_start(ap, bootstrap);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL && argc < 31;) argv[argc++] = (char *)w;
    va_end(ap);
    run_result_t result = {0};
    ctl_args_t args;
    assert_int_equal(ctl_args_parse(argc, argv, NULL, &args, &result.err), 0);
    size_t out_size = 0, err_size = 0;
    FILE *out = open_memstream(&result.out, &out_size);
    FILE *errout = open_memstream(&result.errout, &err_size);
    result.rc = ctl_run(&args, out, errout, &result.err);
    fclose(out);
    fclose(errout);
    ctl_args_deinit(&args);
    return result;
}

static void run_result_free(run_result_t *result)
{
    free(result->out);
    free(result->errout);
}

static void test_mock_topic_list_json(void **state)
{
    mock_env_t *env = *state;
    run_result_t result = run_ctl(env->bootstrap, "--output", "json", "topic", "list", (const char *)NULL);
    assert_int_equal(result.rc, 0);
    json_error_t jerr;
    json_t *root = json_loads(result.out, 0, &jerr);
    assert_non_null(root);
    json_t *topics = json_object_get(root, "topics");
    assert_int_equal(json_array_size(topics), 1);
    json_t *orders = json_array_get(topics, 0);
    assert_string_equal(json_string_value(json_object_get(orders, "name")), "orders");
    assert_int_equal(json_integer_value(json_object_get(orders, "partitions")), 3);
    assert_int_equal(json_integer_value(json_object_get(orders, "replication_factor")), 1);
    json_decref(root);
    run_result_free(&result);
}

static void test_mock_topic_describe_reports_offsets(void **state)
{
    mock_env_t *env = *state;
    run_result_t result = run_ctl(env->bootstrap, "topic", "describe", "orders", (const char *)NULL);
    assert_int_equal(result.rc, 0);
    /* The mock cannot describe configs: the partitions must still be printed, with a warning. */
    assert_non_null(strstr(result.errout, "warning: describing configs"));
    assert_non_null(strstr(result.out, "Topic: orders  Partitions: 3  Replication factor: 1\n"));
    assert_non_null(strstr(result.out, "PARTITION  LEADER  REPLICAS  ISR  EARLIEST  LATEST\n"
                                       "0          1       1         1    0         2\n"
                                       "1          1       1         1    0         5\n"
                                       "2          1       1         1    0         0\n"));
    run_result_free(&result);
}

static void test_mock_unknown_topic_is_named(void **state)
{
    mock_env_t *env = *state;
    run_result_t result = run_ctl(env->bootstrap, "topic", "describe", "nope", (const char *)NULL);
    assert_int_equal(result.rc, SB_ENOENT);
    assert_string_equal(result.err.msg, "topic \"nope\" does not exist (UNKNOWN_TOPIC_OR_PART)");
    assert_string_equal(result.out, "");
    run_result_free(&result);
}

static void test_unreachable_cluster_names_address_and_cause(void **state)
{
    (void)state;
    /* Port 1 on loopback: nothing listens, the connection is refused at once. */
    run_result_t result = run_ctl("127.0.0.1:1", "topic", "list", (const char *)NULL);
    assert_int_equal(result.rc, SB_EIO);
    assert_non_null(strstr(result.err.msg, "no answer from 127.0.0.1:1 within 1500 ms"));
    assert_non_null(strstr(result.err.msg, "Connection refused"));
    run_result_free(&result);
}

static void test_bad_client_property_is_a_usage_error_without_its_value(void **state)
{
    (void)state;
    run_result_t result = run_ctl("127.0.0.1:1", "-X", "sasl.pasword=hunter2", "topic", "list", (const char *)NULL);
    assert_int_equal(result.rc, SB_EINVAL);
    assert_non_null(strstr(result.err.msg, "sasl.pasword"));
    assert_null(strstr(result.err.msg, "hunter2"));
    run_result_free(&result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_environment),
        cmocka_unit_test(test_topic_create_full),
        cmocka_unit_test(test_topic_create_defaults_leave_counts_to_broker),
        cmocka_unit_test(test_every_command_parses),
        cmocka_unit_test(test_alter_config_and_records_delete),
        cmocka_unit_test(test_group_reset_and_delete_offsets),
        cmocka_unit_test(test_user_commands),
        cmocka_unit_test(test_help_wins_everywhere),
        cmocka_unit_test(test_usage_errors_name_the_problem),
        cmocka_unit_test(test_numbers_are_checked),
        cmocka_unit_test(test_topic_names_follow_kafka_rules),
        cmocka_unit_test(test_usage_text_per_noun),
        cmocka_unit_test(test_connect_url_and_nouns_are_known),
        cmocka_unit_test(test_table_aligns_columns),
        cmocka_unit_test(test_unreachable_cluster_names_address_and_cause),
        cmocka_unit_test(test_bad_client_property_is_a_usage_error_without_its_value),
    };
    const struct CMUnitTest mock_tests[] = {
        cmocka_unit_test(test_mock_topic_list_json),
        cmocka_unit_test(test_mock_topic_describe_reports_offsets),
        cmocka_unit_test(test_mock_unknown_topic_is_named),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("ctl_run against the librdkafka mock cluster", mock_tests, mock_setup,
                                          mock_teardown);
    return failed;
}
