/* `streambus ctl topic ...`: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
 * Metadata and ListOffsets through librdkafka's public API. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"
#include "ctl/ctl_table.h"

/* Turns a per-topic error from the cluster into the one line the user sees. The two
 * errors an operator meets daily get a sentence; the rest keep the broker's own text. */
static int topic_error(const char *action, const char *topic, rd_kafka_resp_err_t code,
                       const char *server_text, sb_err_t *err)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return sb_err_set(err, SB_EEXIST, "topic \"%s\" already exists (%s)", topic, rd_kafka_err2name(code));
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return sb_err_set(err, SB_ENOENT, "topic \"%s\" does not exist (%s)", topic, rd_kafka_err2name(code));
    default:
        return sb_err_set(err, SB_EIO, "%s topic \"%s\" failed: %s (%s)", action, topic,
                          server_text && server_text[0] ? server_text : rd_kafka_err2str(code),
                          rd_kafka_err2name(code));
    }
}

/* Every topic admin call here acts on one topic, so its result carries exactly one entry. */
static int single_topic_result(const rd_kafka_topic_result_t **results, size_t count, const char *topic,
                               rd_kafka_resp_err_t *code, const char **text, sb_err_t *err)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(rd_kafka_topic_result_name(results[i]), topic) == 0) {
            *code = rd_kafka_topic_result_error(results[i]);
            *text = rd_kafka_topic_result_error_string(results[i]);
            return 0;
        }
    }
    return sb_err_set(err, SB_EIO, "the cluster's answer did not mention topic \"%s\"", topic);
}

static int print_outcome(ctl_ctx_t *ctx, const char *topic, const char *json_flag, bool done,
                         const char *message, sb_err_t *err)
{
    if (ctx->args->output == CTL_OUTPUT_JSON)
        return ctl_print_json(ctx, json_pack("{s:s, s:b}", "topic", topic, json_flag, done), err);
    fprintf(ctx->out, "%s\n", message);
    return 0;
}

int ctl_topic_create(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    char detail[512];
    rd_kafka_NewTopic_t *new_topic =
        rd_kafka_NewTopic_new(args->name, args->partitions, args->replication_factor, detail, sizeof(detail));
    if (!new_topic) return sb_err_set(err, SB_EINVAL, "topic \"%s\": %s", args->name, detail);
    for (size_t i = 0; i < args->topic_config.count; i++) {
        rd_kafka_resp_err_t code = rd_kafka_NewTopic_set_config(new_topic, args->topic_config.items[i].key,
                                                                args->topic_config.items[i].value);
        if (code) {
            rd_kafka_NewTopic_destroy(new_topic);
            return sb_err_set(err, SB_EINVAL, "--config %s: %s", args->topic_config.items[i].key,
                              rd_kafka_err2str(code));
        }
    }
    rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_CREATETOPICS, err);
    if (!options) {
        rd_kafka_NewTopic_destroy(new_topic);
        return SB_ENOMEM;
    }
    rd_kafka_CreateTopics(ctx->client.rk, &new_topic, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(new_topic);

    char what[320];
    snprintf(what, sizeof(what), "creating topic \"%s\"", args->name);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_CREATETOPICS_RESULT, what, &event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *text = NULL;
    rc = single_topic_result(results, count, args->name, &code, &text, err);
    if (!rc && code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && args->if_not_exists) {
        snprintf(detail, sizeof(detail), "Topic \"%s\" already exists; left unchanged.", args->name);
        rc = print_outcome(ctx, args->name, "created", false, detail, err);
    } else if (!rc && code) {
        rc = topic_error("creating", args->name, code, text, err);
    } else if (!rc) {
        snprintf(detail, sizeof(detail), "Created topic \"%s\".", args->name);
        rc = print_outcome(ctx, args->name, "created", true, detail, err);
    }
    rd_kafka_event_destroy(event);
    return rc;
}

int ctl_topic_delete(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    rd_kafka_DeleteTopic_t *del_topic = rd_kafka_DeleteTopic_new(args->name);
    rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DELETETOPICS, err);
    if (!options) {
        rd_kafka_DeleteTopic_destroy(del_topic);
        return SB_ENOMEM;
    }
    rd_kafka_DeleteTopics(ctx->client.rk, &del_topic, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_DeleteTopic_destroy(del_topic);

    char what[320], message[320];
    snprintf(what, sizeof(what), "deleting topic \"%s\"", args->name);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DELETETOPICS_RESULT, what, &event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count);
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *text = NULL;
    rc = single_topic_result(results, count, args->name, &code, &text, err);
    if (!rc && code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && args->if_exists) {
        snprintf(message, sizeof(message), "Topic \"%s\" does not exist; nothing to delete.", args->name);
        rc = print_outcome(ctx, args->name, "deleted", false, message, err);
    } else if (!rc && code) {
        rc = topic_error("deleting", args->name, code, text, err);
    } else if (!rc) {
        snprintf(message, sizeof(message), "Deleted topic \"%s\".", args->name);
        rc = print_outcome(ctx, args->name, "deleted", true, message, err);
    }
    rd_kafka_event_destroy(event);
    return rc;
}

int ctl_topic_add_partitions(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    char detail[512];
    rd_kafka_NewPartitions_t *new_parts =
        rd_kafka_NewPartitions_new(args->name, (size_t)args->total_partitions, detail, sizeof(detail));
    if (!new_parts) return sb_err_set(err, SB_EINVAL, "topic \"%s\": %s", args->name, detail);
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, err);
    if (!options) {
        rd_kafka_NewPartitions_destroy(new_parts);
        return SB_ENOMEM;
    }
    rd_kafka_CreatePartitions(ctx->client.rk, &new_parts, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewPartitions_destroy(new_parts);

    char what[320];
    snprintf(what, sizeof(what), "adding partitions to topic \"%s\"", args->name);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, what, &event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(event), &count);
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    const char *text = NULL;
    rc = single_topic_result(results, count, args->name, &code, &text, err);
    if (!rc && code) {
        rc = topic_error("adding partitions to", args->name, code, text, err);
    } else if (!rc) {
        if (args->output == CTL_OUTPUT_JSON) {
            rc = ctl_print_json(ctx, json_pack("{s:s, s:I}", "topic", args->name, "partitions",
                                               (json_int_t)args->total_partitions),
                                err);
        } else {
            fprintf(ctx->out, "Topic \"%s\" now has %d partitions.\n", args->name, args->total_partitions);
        }
    }
    rd_kafka_event_destroy(event);
    return rc;
}

static int compare_topics_by_name(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *ta = *(const rd_kafka_metadata_topic_t *const *)a;
    const rd_kafka_metadata_topic_t *tb = *(const rd_kafka_metadata_topic_t *const *)b;
    return strcmp(ta->topic, tb->topic);
}

static int replication_factor_of(const rd_kafka_metadata_topic_t *topic)
{
    return topic->partition_cnt > 0 ? topic->partitions[0].replica_cnt : 0;
}

int ctl_topic_list(ctl_ctx_t *ctx, sb_err_t *err)
{
    const struct rd_kafka_metadata *md;
    int rc = ctl_client_metadata(&ctx->client, &md, err);
    if (rc) return rc;
    const rd_kafka_metadata_topic_t **sorted = calloc((size_t)md->topic_cnt + 1, sizeof(*sorted));
    if (!sorted) {
        rd_kafka_metadata_destroy(md);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    for (int i = 0; i < md->topic_cnt; i++) sorted[i] = &md->topics[i];
    qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), compare_topics_by_name);

    if (ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *topics = json_array();
        for (int i = 0; topics && i < md->topic_cnt; i++) {
            json_t *entry = json_pack("{s:s, s:I, s:I}", "name", sorted[i]->topic, "partitions",
                                      (json_int_t)sorted[i]->partition_cnt, "replication_factor",
                                      (json_int_t)replication_factor_of(sorted[i]));
            if (entry && sorted[i]->err)
                json_object_set_new(entry, "error", json_string(rd_kafka_err2name(sorted[i]->err)));
            json_array_append_new(topics, entry);
        }
        rc = ctl_print_json(ctx, topics ? json_pack("{s:o}", "topics", topics) : NULL, err);
    } else {
        static const char *const headers[] = {"TOPIC", "PARTITIONS", "REPLICATION-FACTOR"};
        ctl_table_t *table = ctl_table_new(3, headers);
        for (int i = 0; table && i < md->topic_cnt; i++) {
            char partitions[16], replication[16];
            snprintf(partitions, sizeof(partitions), "%d", sorted[i]->partition_cnt);
            snprintf(replication, sizeof(replication), "%d", replication_factor_of(sorted[i]));
            const char *row[] = {sorted[i]->topic, partitions, replication};
            if (ctl_table_add_row(table, row)) break;
        }
        if (table) ctl_table_print(table, ctx->out);
        else rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        ctl_table_free(table);
    }
    free(sorted);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Topic configuration as DescribeConfigs returns it; entries borrow from the event. */
typedef struct topic_configs {
    rd_kafka_event_t *event;
    const rd_kafka_ConfigEntry_t **entries;
    size_t count;
} topic_configs_t;

/* Configs are a courtesy in `describe`: when the cluster will not describe them (an old
 * broker, missing permission) the partitions are still worth printing, so a failure here is a
 * warning on stderr rather than the command's result. */
static void fetch_topic_configs(ctl_ctx_t *ctx, const char *topic, topic_configs_t *configs)
{
    memset(configs, 0, sizeof(*configs));
    sb_err_t err = {0};
    rd_kafka_ConfigResource_t *resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, &err);
    if (!options) {
        rd_kafka_ConfigResource_destroy(resource);
        return;
    }
    rd_kafka_DescribeConfigs(ctx->client.rk, &resource, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy(resource);

    rd_kafka_event_t *event;
    if (ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describing configs", &event, &err)) {
        fprintf(ctx->errout, "streambus ctl: warning: %s\n", err.msg);
        return;
    }
    size_t count = 0;
    const rd_kafka_ConfigResource_t **resources =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(event), &count);
    if (count < 1 || rd_kafka_ConfigResource_error(resources[0])) {
        rd_kafka_resp_err_t code = count < 1 ? RD_KAFKA_RESP_ERR__BAD_MSG : rd_kafka_ConfigResource_error(resources[0]);
        fprintf(ctx->errout, "streambus ctl: warning: describing configs of topic \"%s\": %s (%s)\n", topic,
                count < 1 ? "empty answer" : rd_kafka_ConfigResource_error_string(resources[0]),
                rd_kafka_err2name(code));
        rd_kafka_event_destroy(event);
        return;
    }
    configs->event = event;
    configs->entries = rd_kafka_ConfigResource_configs(resources[0], &configs->count);
}

/* An override is what `kafka-configs --describe` would call a topic config; broker-wide and
 * built-in defaults are noise in a table (they remain in the JSON output). */
static bool is_topic_override(const rd_kafka_ConfigEntry_t *entry)
{
    rd_kafka_ConfigSource_t source = rd_kafka_ConfigEntry_source(entry);
    if (source == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG) return !rd_kafka_ConfigEntry_is_default(entry);
    return source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
}

static const char *config_value(const rd_kafka_ConfigEntry_t *entry)
{
    if (rd_kafka_ConfigEntry_is_sensitive(entry)) return NULL;
    return rd_kafka_ConfigEntry_value(entry);
}

static int compare_partitions_by_id(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *pa = a, *pb = b;
    return (pa->id > pb->id) - (pa->id < pb->id);
}

static void format_broker_list(char *buf, size_t size, const int32_t *ids, int count)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%" PRId32, i ? "," : "", ids[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static json_t *json_broker_list(const int32_t *ids, int count)
{
    json_t *list = json_array();
    for (int i = 0; list && i < count; i++) json_array_append_new(list, json_integer(ids[i]));
    return list;
}

static json_t *json_offset_or_null(int64_t offset)
{
    return offset >= 0 ? json_integer(offset) : json_null();
}

static int describe_as_json(ctl_ctx_t *ctx, const rd_kafka_metadata_topic_t *topic,
                            const rd_kafka_metadata_partition_t *partitions, const int64_t *low,
                            const int64_t *high, const topic_configs_t *configs, sb_err_t *err)
{
    json_t *parts = json_array();
    for (int i = 0; parts && i < topic->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = &partitions[i];
        json_t *entry = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "partition", (json_int_t)p->id, "leader",
                                  (json_int_t)p->leader, "replicas", json_broker_list(p->replicas, p->replica_cnt),
                                  "isr", json_broker_list(p->isrs, p->isr_cnt), "earliest_offset",
                                  json_offset_or_null(low[i]), "latest_offset", json_offset_or_null(high[i]));
        if (entry && p->err) json_object_set_new(entry, "error", json_string(rd_kafka_err2name(p->err)));
        json_array_append_new(parts, entry);
    }
    json_t *config_json = configs->event ? json_object() : json_null();
    for (size_t i = 0; configs->event && config_json && i < configs->count; i++) {
        const rd_kafka_ConfigEntry_t *e = configs->entries[i];
        const char *value = config_value(e);
        json_object_set_new(config_json, rd_kafka_ConfigEntry_name(e),
                            json_pack("{s:o, s:s, s:b, s:b}", "value", value ? json_string(value) : json_null(),
                                      "source", rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e)),
                                      "is_default", rd_kafka_ConfigEntry_is_default(e), "is_sensitive",
                                      rd_kafka_ConfigEntry_is_sensitive(e)));
    }
    json_t *root = json_pack("{s:s, s:I, s:I, s:o, s:o}", "name", topic->topic, "partition_count",
                             (json_int_t)topic->partition_cnt, "replication_factor",
                             (json_int_t)replication_factor_of(topic), "partitions", parts, "configs", config_json);
    return ctl_print_json(ctx, root, err);
}

static int describe_as_table(ctl_ctx_t *ctx, const rd_kafka_metadata_topic_t *topic,
                             const rd_kafka_metadata_partition_t *partitions, const int64_t *low,
                             const int64_t *high, const topic_configs_t *configs, sb_err_t *err)
{
    fprintf(ctx->out, "Topic: %s  Partitions: %d  Replication factor: %d\n", topic->topic, topic->partition_cnt,
            replication_factor_of(topic));
    if (configs->event) {
        fputs("Configs:", ctx->out);
        size_t shown = 0;
        for (size_t i = 0; i < configs->count; i++) {
            const rd_kafka_ConfigEntry_t *e = configs->entries[i];
            if (!is_topic_override(e)) continue;
            const char *value = config_value(e);
            fprintf(ctx->out, "%s%s=%s", shown++ ? ", " : " ", rd_kafka_ConfigEntry_name(e),
                    value ? value : "(sensitive)");
        }
        fputs(shown ? "\n" : " (none set on the topic)\n", ctx->out);
    }
    fputc('\n', ctx->out);
    static const char *const headers[] = {"PARTITION", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST"};
    ctl_table_t *table = ctl_table_new(6, headers);
    if (!table) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (int i = 0; i < topic->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = &partitions[i];
        char id[16], leader[16], replicas[256], isr[256], earliest[24], latest[24];
        snprintf(id, sizeof(id), "%" PRId32, p->id);
        snprintf(leader, sizeof(leader), "%" PRId32, p->leader);
        format_broker_list(replicas, sizeof(replicas), p->replicas, p->replica_cnt);
        format_broker_list(isr, sizeof(isr), p->isrs, p->isr_cnt);
        const char *row[] = {id, p->leader >= 0 ? leader : NULL, replicas, isr,
                             ctl_format_offset(earliest, sizeof(earliest), low[i]),
                             ctl_format_offset(latest, sizeof(latest), high[i])};
        if (ctl_table_add_row(table, row)) {
            ctl_table_free(table);
            return sb_err_set(err, SB_ENOMEM, "out of memory");
        }
    }
    ctl_table_print(table, ctx->out);
    ctl_table_free(table);
    return 0;
}

int ctl_topic_describe(ctl_ctx_t *ctx, sb_err_t *err)
{
    const char *name = ctx->args->name;
    const struct rd_kafka_metadata *md;
    int rc = ctl_client_metadata(&ctx->client, &md, err);
    if (rc) return rc;
    const rd_kafka_metadata_topic_t *topic = NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0) topic = &md->topics[i];
    if (!topic || topic->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rd_kafka_metadata_destroy(md);
        return topic_error("describing", name, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, NULL, err);
    }

    size_t n = (size_t)topic->partition_cnt;
    rd_kafka_metadata_partition_t *partitions = calloc(n + 1, sizeof(*partitions));
    int64_t *low = calloc(n + 1, sizeof(*low));
    int64_t *high = calloc(n + 1, sizeof(*high));
    if (!partitions || !low || !high) {
        rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(partitions, topic->partitions, n * sizeof(*partitions));
    qsort(partitions, n, sizeof(*partitions), compare_partitions_by_id);
    bool warned = false;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t code = ctl_watermarks(ctx, name, partitions[i].id, &low[i], &high[i]);
        if (code && !warned) {
            fprintf(ctx->errout, "streambus ctl: warning: reading offsets of %s-%" PRId32 ": %s (%s)\n", name,
                    partitions[i].id, rd_kafka_err2str(code), rd_kafka_err2name(code));
            warned = true;
        }
    }
    topic_configs_t configs;
    fetch_topic_configs(ctx, name, &configs);
    if (ctx->args->output == CTL_OUTPUT_JSON) rc = describe_as_json(ctx, topic, partitions, low, high, &configs, err);
    else rc = describe_as_table(ctx, topic, partitions, low, high, &configs, err);
    if (configs.event) rd_kafka_event_destroy(configs.event);
done:
    free(partitions);
    free(low);
    free(high);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* ---- topic alter-config ---- */

/* `alter-config` changes only the keys it is given. It sends IncrementalAlterConfigs
 * (KIP-339) itself (ctl_client_incremental_alter_topic: librdkafka 2.0.2 has no API for it),
 * so the broker applies each SET/DELETE to the topic's stored set and concurrent runs that
 * change different keys all take effect. Only when that cannot be used (-X asks for TLS/SASL,
 * or a broker older than Kafka 2.3) does it fall back to what kafka-configs did before
 * KIP-339, with a warning: read the topic's overrides (DescribeConfigs, source
 * DYNAMIC_TOPIC_CONFIG), merge the changes and send the whole set with AlterConfigs, where a
 * change someone else makes in between can be lost. */
typedef struct merged_config {
    const char *key;   /* borrowed from the args or the describe event */
    const char *value; /* NULL: deleted */
} merged_config_t;

/* Reads the topic's overrides into a new array (caller frees it and destroys *described);
 * with apply_changes, the --set/--delete changes are merged in command-line order. */
static int read_overrides(ctl_ctx_t *ctx, bool apply_changes, rd_kafka_event_t **described, merged_config_t **out,
                          size_t *nout, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    const char *name = args->name;
    *described = NULL;
    *out = NULL;
    *nout = 0;
    rd_kafka_ConfigResource_t *resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, err);
    if (!resource || !options) {
        if (resource) rd_kafka_ConfigResource_destroy(resource);
        if (options) rd_kafka_AdminOptions_destroy(options);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    rd_kafka_DescribeConfigs(ctx->client.rk, &resource, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy(resource);
    char what[320];
    snprintf(what, sizeof(what), "reading the configs of topic \"%s\"", name);
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, what, described, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_ConfigResource_t **resources =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(*described), &count);
    if (count < 1 || rd_kafka_ConfigResource_error(resources[0])) {
        rd_kafka_resp_err_t code = count < 1 ? RD_KAFKA_RESP_ERR__BAD_MSG : rd_kafka_ConfigResource_error(resources[0]);
        rc = topic_error("reading the configs of", name, code,
                         count < 1 ? "empty answer" : rd_kafka_ConfigResource_error_string(resources[0]), err);
        rd_kafka_event_destroy(*described);
        *described = NULL;
        return rc;
    }
    size_t nentries = 0;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(resources[0], &nentries);
    merged_config_t *merged = calloc(nentries + args->config_changes.count + 1, sizeof(*merged));
    if (!merged) {
        rd_kafka_event_destroy(*described);
        *described = NULL;
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    size_t nmerged = 0;
    for (size_t i = 0; i < nentries; i++)
        if (is_topic_override(entries[i]) && rd_kafka_ConfigEntry_value(entries[i]))
            merged[nmerged++] = (merged_config_t){rd_kafka_ConfigEntry_name(entries[i]),
                                                  rd_kafka_ConfigEntry_value(entries[i])};
    for (size_t c = 0; apply_changes && c < args->config_changes.count; c++) {
        const ctl_kv_t *change = &args->config_changes.items[c];
        size_t i = 0;
        while (i < nmerged && strcmp(merged[i].key, change->key) != 0) i++;
        if (i == nmerged) nmerged++;
        merged[i] = (merged_config_t){change->key, change->value};
    }
    *out = merged;
    *nout = nmerged;
    return 0;
}

/* Prints the outcome: the changes (text) or the topic's overrides as they now are, or would
 * be with --validate-only (JSON). */
static int report_altered(ctl_ctx_t *ctx, const merged_config_t *merged, size_t nmerged, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    if (args->output == CTL_OUTPUT_JSON) {
        json_t *configs = json_object();
        for (size_t i = 0; configs && i < nmerged; i++)
            if (merged[i].value) json_object_set_new(configs, merged[i].key, json_string(merged[i].value));
        return ctl_print_json(ctx,
                              configs ? json_pack("{s:s, s:b, s:o}", "topic", args->name, "validate_only",
                                                  args->validate_only, "configs", configs)
                                      : NULL,
                              err);
    }
    fprintf(ctx->out, args->validate_only ? "Configs of topic \"%s\" are valid (nothing changed).\n"
                                          : "Altered configs of topic \"%s\".\n",
            args->name);
    for (size_t c = 0; c < args->config_changes.count; c++) {
        const ctl_kv_t *change = &args->config_changes.items[c];
        if (change->value) fprintf(ctx->out, "  %s=%s\n", change->key, change->value);
        else fprintf(ctx->out, "  %s (deleted: back to the default)\n", change->key);
    }
    return 0;
}

/* The fallback: AlterConfigs of the merged set (see above). */
static int alter_by_merge(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    const char *name = args->name;
    rd_kafka_event_t *described;
    merged_config_t *merged;
    size_t nmerged;
    int rc = read_overrides(ctx, true, &described, &merged, &nmerged, err);
    if (rc) return rc;
    char what[320];
    size_t count = 0;
    const rd_kafka_ConfigResource_t **resources;

    rd_kafka_ConfigResource_t *resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    rd_kafka_AdminOptions_t *options;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; resource && i < nmerged && !code; i++)
        if (merged[i].value) code = rd_kafka_ConfigResource_set_config(resource, merged[i].key, merged[i].value);
    options = resource && !code ? ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, err) : NULL;
    char detail[256];
    if (options && args->validate_only &&
        rd_kafka_AdminOptions_set_validate_only(options, 1, detail, sizeof(detail)) != RD_KAFKA_RESP_ERR_NO_ERROR)
        code = RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!resource || !options || code) {
        if (resource) rd_kafka_ConfigResource_destroy(resource);
        if (options) rd_kafka_AdminOptions_destroy(options);
        free(merged);
        rd_kafka_event_destroy(described);
        return code ? sb_err_set(err, SB_EINVAL, "cannot build the request: %s", rd_kafka_err2str(code))
                    : sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    rd_kafka_AlterConfigs(ctx->client.rk, &resource, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy(resource);
    snprintf(what, sizeof(what), "altering the configs of topic \"%s\"", name);
    rd_kafka_event_t *altered;
    rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, what, &altered, err);
    if (rc == 0) {
        resources = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(altered), &count);
        if (count < 1) rc = sb_err_set(err, SB_EIO, "the cluster's answer did not mention topic \"%s\"", name);
        else if ((code = rd_kafka_ConfigResource_error(resources[0])))
            rc = topic_error("altering the configs of", name, code, rd_kafka_ConfigResource_error_string(resources[0]),
                             err);
        rd_kafka_event_destroy(altered);
    }

    if (rc == 0) rc = report_altered(ctx, merged, nmerged, err);
    free(merged);
    rd_kafka_event_destroy(described);
    return rc;
}

int ctl_topic_alter_config(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    const char *name = args->name;
    ctl_iac_outcome_t outcome;
    int16_t code = 0;
    char msg[512] = "";
    int rc = ctl_client_incremental_alter_topic(&ctx->client, name, args->config_changes.items,
                                                args->config_changes.count, args->validate_only, &outcome, &code,
                                                msg, sizeof(msg), err);
    if (rc) return rc;
    if (outcome == CTL_IAC_UNSUPPORTED) {
        fprintf(ctx->errout,
                "warning: %s; falling back to AlterConfigs of the merged set, where a change made to topic \"%s\" "
                "by someone else at the same moment can be lost\n",
                ctx->client.raw_plaintext_ok ? "the cluster does not support IncrementalAlterConfigs"
                                             : "IncrementalAlterConfigs is sent on a plaintext connection only",
                name);
        return alter_by_merge(ctx, err);
    }
    if (code) return topic_error("altering the configs of", name, (rd_kafka_resp_err_t)code, msg, err);
    if (args->output != CTL_OUTPUT_JSON) return report_altered(ctx, NULL, 0, err);
    /* JSON reports the overrides as they now are (after a real change, read back; with
     * --validate-only, the current ones with the changes applied). */
    rd_kafka_event_t *described;
    merged_config_t *merged;
    size_t nmerged;
    rc = read_overrides(ctx, args->validate_only, &described, &merged, &nmerged, err);
    if (rc) return rc;
    rc = report_altered(ctx, merged, nmerged, err);
    free(merged);
    rd_kafka_event_destroy(described);
    return rc;
}
