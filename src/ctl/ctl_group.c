/* `streambus ctl group ...`: ListGroups, DescribeGroups, OffsetFetch, DeleteGroups, OffsetCommit
 * (reset-offsets, through AlterConsumerGroupOffsets) and OffsetDelete through librdkafka's
 * consumer-group admin API, plus ListOffsets for the log end offsets that lag is measured
 * against and that resets aim at. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"
#include "ctl/ctl_table.h"

static int group_error(const char *action, const char *group, rd_kafka_resp_err_t code, const char *server_text,
                       sb_err_t *err)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        return sb_err_set(err, SB_ENOENT, "group \"%s\" does not exist (%s)", group, rd_kafka_err2name(code));
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        return sb_err_set(err, SB_EIO, "group \"%s\" still has active members; stop its consumers first (%s)", group,
                          rd_kafka_err2name(code));
    default:
        return sb_err_set(err, SB_EIO, "%s group \"%s\" failed: %s (%s)", action, group,
                          server_text && server_text[0] ? server_text : rd_kafka_err2str(code),
                          rd_kafka_err2name(code));
    }
}

/* ---- group list ---------------------------------------------------------------------- */

static int compare_listings(const void *a, const void *b)
{
    const rd_kafka_ConsumerGroupListing_t *la = *(const rd_kafka_ConsumerGroupListing_t *const *)a;
    const rd_kafka_ConsumerGroupListing_t *lb = *(const rd_kafka_ConsumerGroupListing_t *const *)b;
    return strcmp(rd_kafka_ConsumerGroupListing_group_id(la), rd_kafka_ConsumerGroupListing_group_id(lb));
}

int ctl_group_list(ctl_ctx_t *ctx, sb_err_t *err)
{
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, err);
    if (!options) return SB_ENOMEM;
    rd_kafka_ListConsumerGroups(ctx->client.rk, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "listing groups", &event, err);
    if (rc) return rc;

    const rd_kafka_ListConsumerGroups_result_t *result = rd_kafka_event_ListConsumerGroups_result(event);
    size_t error_count = 0, count = 0;
    const rd_kafka_error_t **errors = rd_kafka_ListConsumerGroups_result_errors(result, &error_count);
    const rd_kafka_ConsumerGroupListing_t **listed = rd_kafka_ListConsumerGroups_result_valid(result, &count);
    /* ListGroups goes to every broker; one that fails leaves the list incomplete, which the
     * user must know, but the groups the others reported are still true. */
    for (size_t i = 0; i < error_count; i++)
        fprintf(ctx->errout, "streambus ctl: warning: a broker did not list its groups: %s (%s)\n",
                rd_kafka_error_string(errors[i]), rd_kafka_error_name(errors[i]));
    if (count == 0 && error_count > 0) {
        rc = sb_err_set(err, SB_EIO, "listing groups failed: %s (%s)", rd_kafka_error_string(errors[0]),
                        rd_kafka_error_name(errors[0]));
        rd_kafka_event_destroy(event);
        return rc;
    }
    const rd_kafka_ConsumerGroupListing_t **sorted = calloc(count + 1, sizeof(*sorted));
    if (!sorted) {
        rd_kafka_event_destroy(event);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    if (count) memcpy(sorted, listed, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_listings);

    if (ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *groups = json_array();
        for (size_t i = 0; groups && i < count; i++)
            json_array_append_new(
                groups, json_pack("{s:s, s:s, s:b}", "group", rd_kafka_ConsumerGroupListing_group_id(sorted[i]),
                                  "state", rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(sorted[i])),
                                  "simple", rd_kafka_ConsumerGroupListing_is_simple_consumer_group(sorted[i])));
        rc = ctl_print_json(ctx, groups ? json_pack("{s:o}", "groups", groups) : NULL, err);
    } else {
        static const char *const headers[] = {"GROUP", "STATE", "TYPE"};
        ctl_table_t *table = ctl_table_new(3, headers);
        for (size_t i = 0; table && i < count; i++) {
            const char *row[] = {
                rd_kafka_ConsumerGroupListing_group_id(sorted[i]),
                rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(sorted[i])),
                rd_kafka_ConsumerGroupListing_is_simple_consumer_group(sorted[i]) ? "simple" : "consumer"};
            if (ctl_table_add_row(table, row)) break;
        }
        if (table) ctl_table_print(table, ctx->out);
        else rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        ctl_table_free(table);
    }
    free(sorted);
    rd_kafka_event_destroy(event);
    return rc;
}

/* ---- group describe ------------------------------------------------------------------ */

/* One row of the offsets table: a partition the group has committed to or is assigned. */
typedef struct group_partition {
    const char *topic; /* borrowed from one of the result events */
    int32_t partition;
    int64_t committed;  /* -1: nothing committed */
    int64_t log_end;    /* -1: unknown */
    int member;         /* index of the member it is assigned to, -1: unassigned */
} group_partition_t;

typedef struct group_view {
    rd_kafka_event_t *description_event;
    rd_kafka_event_t *offsets_events[2]; /* see fetch_committed_offsets */
    const rd_kafka_ConsumerGroupDescription_t *description;
    group_partition_t *partitions;
    size_t partition_count;
    size_t partition_capacity;
    int64_t total_lag;
} group_view_t;

static int add_partition(group_view_t *view, const char *topic, int32_t partition, int64_t committed, int member)
{
    if (view->partition_count == view->partition_capacity) {
        size_t capacity = view->partition_capacity ? view->partition_capacity * 2 : 16;
        group_partition_t *grown = realloc(view->partitions, capacity * sizeof(*grown));
        if (!grown) return SB_ENOMEM;
        view->partitions = grown;
        view->partition_capacity = capacity;
    }
    view->partitions[view->partition_count++] =
        (group_partition_t){.topic = topic, .partition = partition, .committed = committed, .log_end = -1, .member = member};
    return 0;
}

static int compare_group_partitions(const void *a, const void *b)
{
    const group_partition_t *pa = a, *pb = b;
    int c = strcmp(pa->topic, pb->topic);
    if (c) return c;
    return (pa->partition > pb->partition) - (pa->partition < pb->partition);
}

/* The same partition arrives once from the committed offsets and once from a member's
 * assignment; after sorting, fold each pair into one row that keeps both facts. */
static void merge_duplicate_partitions(group_view_t *view)
{
    qsort(view->partitions, view->partition_count, sizeof(*view->partitions), compare_group_partitions);
    size_t kept = 0;
    for (size_t i = 0; i < view->partition_count; i++) {
        group_partition_t *cur = &view->partitions[i];
        if (kept > 0 && compare_group_partitions(&view->partitions[kept - 1], cur) == 0) {
            group_partition_t *prev = &view->partitions[kept - 1];
            if (prev->committed < 0) prev->committed = cur->committed;
            if (prev->member < 0) prev->member = cur->member;
            continue;
        }
        view->partitions[kept++] = *cur;
    }
    view->partition_count = kept;
}

static void group_view_deinit(group_view_t *view)
{
    if (view->description_event) rd_kafka_event_destroy(view->description_event);
    for (size_t i = 0; i < 2; i++)
        if (view->offsets_events[i]) rd_kafka_event_destroy(view->offsets_events[i]);
    free(view->partitions);
}

static int fetch_description(ctl_ctx_t *ctx, const char *group, group_view_t *view, sb_err_t *err)
{
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, err);
    if (!options) return SB_ENOMEM;
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(ctx->client.rk, groups, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    char what[320];
    snprintf(what, sizeof(what), "describing group \"%s\"", group);
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, what,
                             &view->description_event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_ConsumerGroupDescription_t **descriptions = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(view->description_event), &count);
    if (count != 1) return sb_err_set(err, SB_EIO, "%s: the cluster answered for %zu groups", what, count);
    const rd_kafka_error_t *group_err = rd_kafka_ConsumerGroupDescription_error(descriptions[0]);
    if (group_err)
        return group_error("describing", group, rd_kafka_error_code(group_err), rd_kafka_error_string(group_err), err);
    view->description = descriptions[0];
    return 0;
}

/* One OffsetFetch through ListConsumerGroupOffsets; partitions NULL means "all". Adds every
 * partition with a committed offset to the view; the event is kept for the borrowed names. */
static int list_committed_offsets(ctl_ctx_t *ctx, const char *group, const rd_kafka_topic_partition_list_t *partitions,
                                  rd_kafka_event_t **event_out, group_view_t *view, sb_err_t *err)
{
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, err);
    if (!options) return SB_ENOMEM;
    rd_kafka_ListConsumerGroupOffsets_t *request = rd_kafka_ListConsumerGroupOffsets_new(group, partitions);
    rd_kafka_ListConsumerGroupOffsets(ctx->client.rk, &request, 1, options, ctx->client.results);
    rd_kafka_ListConsumerGroupOffsets_destroy(request);
    rd_kafka_AdminOptions_destroy(options);
    char what[320];
    snprintf(what, sizeof(what), "reading committed offsets of group \"%s\"", group);
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT, what, event_out, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_group_result_t **results = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(*event_out), &count);
    if (count != 1) return sb_err_set(err, SB_EIO, "%s: the cluster answered for %zu groups", what, count);
    const rd_kafka_error_t *group_err = rd_kafka_group_result_error(results[0]);
    if (group_err)
        return group_error("reading offsets of", group, rd_kafka_error_code(group_err),
                           rd_kafka_error_string(group_err), err);
    const rd_kafka_topic_partition_list_t *committed = rd_kafka_group_result_partitions(results[0]);
    for (int i = 0; committed && i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &committed->elems[i];
        /* OffsetFetch answers -1 for a partition without a commit. */
        if (tp->err || tp->offset < 0) continue;
        if (add_partition(view, tp->topic, tp->partition, tp->offset, -1))
            return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    return 0;
}

/* Asking for "all partitions" (a null topic list) is how Kafka's own tools read a group's
 * offsets, but librdkafka 2.0.2 only gets the null form across at OffsetFetch v6+: below that
 * (brokers or mock clusters that serve OffsetFetch up to v5) it sends an empty list, which
 * Kafka answers with nothing. When that form yields no offsets, ask again naming every
 * partition in the cluster, which every broker understands. */
static int fetch_committed_offsets(ctl_ctx_t *ctx, const char *group, group_view_t *view, sb_err_t *err)
{
    int rc = list_committed_offsets(ctx, group, NULL, &view->offsets_events[0], view, err);
    if (rc || view->partition_count > 0) return rc;

    const struct rd_kafka_metadata *md;
    rc = ctl_client_metadata(&ctx->client, &md, err);
    if (rc) return rc;
    rd_kafka_topic_partition_list_t *everything = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < md->topic_cnt; t++)
        for (int p = 0; p < md->topics[t].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(everything, md->topics[t].topic, md->topics[t].partitions[p].id);
    rd_kafka_metadata_destroy(md);
    if (everything->cnt > 0) rc = list_committed_offsets(ctx, group, everything, &view->offsets_events[1], view, err);
    rd_kafka_topic_partition_list_destroy(everything);
    return rc;
}

static int collect_assignments(group_view_t *view, sb_err_t *err)
{
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(view->description);
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_MemberDescription_t *member = rd_kafka_ConsumerGroupDescription_member(view->description, m);
        const rd_kafka_MemberAssignment_t *assignment = rd_kafka_MemberDescription_assignment(member);
        const rd_kafka_topic_partition_list_t *assigned =
            assignment ? rd_kafka_MemberAssignment_partitions(assignment) : NULL;
        for (int i = 0; assigned && i < assigned->cnt; i++)
            if (add_partition(view, assigned->elems[i].topic, assigned->elems[i].partition, -1, (int)m))
                return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    return 0;
}

static void read_log_end_offsets(ctl_ctx_t *ctx, group_view_t *view)
{
    bool warned = false;
    view->total_lag = 0;
    for (size_t i = 0; i < view->partition_count; i++) {
        group_partition_t *p = &view->partitions[i];
        int64_t low;
        rd_kafka_resp_err_t code = ctl_watermarks(ctx, p->topic, p->partition, &low, &p->log_end);
        if (code && !warned) {
            fprintf(ctx->errout, "streambus ctl: warning: reading log end offset of %s-%" PRId32 ": %s (%s)\n",
                    p->topic, p->partition, rd_kafka_err2str(code), rd_kafka_err2name(code));
            warned = true;
        }
        if (p->committed >= 0 && p->log_end >= 0 && p->log_end > p->committed)
            view->total_lag += p->log_end - p->committed;
    }
}

/* Lag is only meaningful when both ends are known; a committed offset past the log end
 * (the topic was recreated) counts as no lag rather than a negative one. */
static int64_t partition_lag(const group_partition_t *p)
{
    if (p->committed < 0 || p->log_end < 0) return -1;
    return p->log_end > p->committed ? p->log_end - p->committed : 0;
}

static const char *member_consumer_id(const group_view_t *view, int member)
{
    if (member < 0) return NULL;
    return rd_kafka_MemberDescription_consumer_id(rd_kafka_ConsumerGroupDescription_member(view->description, (size_t)member));
}

/* "orders:0,1,2 payments:0" */
static void format_assignment(char *buf, size_t size, const rd_kafka_topic_partition_list_t *assigned)
{
    size_t used = 0;
    buf[0] = '\0';
    const char *current_topic = NULL;
    for (int i = 0; assigned && i < assigned->cnt && used < size; i++) {
        const rd_kafka_topic_partition_t *tp = &assigned->elems[i];
        int n;
        if (!current_topic || strcmp(current_topic, tp->topic) != 0) {
            n = snprintf(buf + used, size - used, "%s%s:%" PRId32, used ? " " : "", tp->topic, tp->partition);
            current_topic = tp->topic;
        } else {
            n = snprintf(buf + used, size - used, ",%" PRId32, tp->partition);
        }
        if (n < 0) break;
        used += (size_t)n;
    }
}

static const rd_kafka_topic_partition_list_t *member_partitions(const rd_kafka_MemberDescription_t *member)
{
    const rd_kafka_MemberAssignment_t *assignment = rd_kafka_MemberDescription_assignment(member);
    return assignment ? rd_kafka_MemberAssignment_partitions(assignment) : NULL;
}

static json_t *json_nullable_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *json_nullable_offset(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static int describe_group_json(ctl_ctx_t *ctx, const group_view_t *view, sb_err_t *err)
{
    const rd_kafka_ConsumerGroupDescription_t *d = view->description;
    const rd_kafka_Node_t *coordinator = rd_kafka_ConsumerGroupDescription_coordinator(d);
    /* An empty group has no protocol; say so with null rather than "". */
    const char *protocol = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    json_t *members = json_array();
    size_t member_count = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t m = 0; members && m < member_count; m++) {
        const rd_kafka_MemberDescription_t *member = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *assigned = member_partitions(member);
        json_t *assignment = json_array();
        for (int i = 0; assignment && assigned && i < assigned->cnt; i++)
            json_array_append_new(assignment, json_pack("{s:s, s:I}", "topic", assigned->elems[i].topic, "partition",
                                                        (json_int_t)assigned->elems[i].partition));
        json_array_append_new(
            members, json_pack("{s:o, s:o, s:o, s:o, s:o}", "consumer_id",
                               json_nullable_string(rd_kafka_MemberDescription_consumer_id(member)), "client_id",
                               json_nullable_string(rd_kafka_MemberDescription_client_id(member)), "host",
                               json_nullable_string(rd_kafka_MemberDescription_host(member)), "group_instance_id",
                               json_nullable_string(rd_kafka_MemberDescription_group_instance_id(member)),
                               "assignment", assignment));
    }
    json_t *partitions = json_array();
    for (size_t i = 0; partitions && i < view->partition_count; i++) {
        const group_partition_t *p = &view->partitions[i];
        json_array_append_new(partitions,
                              json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "topic", p->topic, "partition",
                                        (json_int_t)p->partition, "committed_offset", json_nullable_offset(p->committed),
                                        "log_end_offset", json_nullable_offset(p->log_end), "lag",
                                        json_nullable_offset(partition_lag(p)), "consumer_id",
                                        json_nullable_string(member_consumer_id(view, p->member))));
    }
    json_t *coordinator_json =
        coordinator ? json_pack("{s:I, s:s, s:I}", "id", (json_int_t)rd_kafka_Node_id(coordinator), "host",
                                rd_kafka_Node_host(coordinator), "port", (json_int_t)rd_kafka_Node_port(coordinator))
                    : json_null();
    json_t *root = json_pack("{s:s, s:s, s:o, s:b, s:o, s:o, s:o, s:I}", "group",
                             rd_kafka_ConsumerGroupDescription_group_id(d), "state",
                             rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)),
                             "protocol", json_nullable_string(protocol && protocol[0] ? protocol : NULL),
                             "simple", rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d), "coordinator",
                             coordinator_json, "members", members, "partitions", partitions, "total_lag",
                             (json_int_t)view->total_lag);
    return ctl_print_json(ctx, root, err);
}

static int describe_group_table(ctl_ctx_t *ctx, const group_view_t *view, sb_err_t *err)
{
    const rd_kafka_ConsumerGroupDescription_t *d = view->description;
    const rd_kafka_Node_t *coordinator = rd_kafka_ConsumerGroupDescription_coordinator(d);
    const char *protocol = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    size_t member_count = rd_kafka_ConsumerGroupDescription_member_count(d);
    fprintf(ctx->out, "Group: %s  State: %s  Protocol: %s  Members: %zu\n", rd_kafka_ConsumerGroupDescription_group_id(d),
            rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d)),
            protocol && protocol[0] ? protocol : "-", member_count);
    if (coordinator)
        fprintf(ctx->out, "Coordinator: %d (%s:%u)\n", rd_kafka_Node_id(coordinator), rd_kafka_Node_host(coordinator),
                (unsigned)rd_kafka_Node_port(coordinator));

    int rc = 0;
    if (member_count > 0) {
        fputc('\n', ctx->out);
        static const char *const member_headers[] = {"CONSUMER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT"};
        ctl_table_t *members = ctl_table_new(4, member_headers);
        for (size_t m = 0; members && m < member_count; m++) {
            const rd_kafka_MemberDescription_t *member = rd_kafka_ConsumerGroupDescription_member(d, m);
            char assignment[1024];
            format_assignment(assignment, sizeof(assignment), member_partitions(member));
            const char *row[] = {rd_kafka_MemberDescription_consumer_id(member),
                                 rd_kafka_MemberDescription_client_id(member), rd_kafka_MemberDescription_host(member),
                                 assignment[0] ? assignment : NULL};
            if (ctl_table_add_row(members, row)) break;
        }
        if (members) ctl_table_print(members, ctx->out);
        else rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        ctl_table_free(members);
    }
    if (rc) return rc;

    fputc('\n', ctx->out);
    static const char *const headers[] = {"TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "CONSUMER-ID"};
    ctl_table_t *table = ctl_table_new(6, headers);
    if (!table) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < view->partition_count; i++) {
        const group_partition_t *p = &view->partitions[i];
        char partition[16], committed[24], log_end[24], lag[24];
        snprintf(partition, sizeof(partition), "%" PRId32, p->partition);
        const char *row[] = {p->topic, partition, ctl_format_offset(committed, sizeof(committed), p->committed),
                             ctl_format_offset(log_end, sizeof(log_end), p->log_end),
                             ctl_format_offset(lag, sizeof(lag), partition_lag(p)), member_consumer_id(view, p->member)};
        if (ctl_table_add_row(table, row)) {
            ctl_table_free(table);
            return sb_err_set(err, SB_ENOMEM, "out of memory");
        }
    }
    ctl_table_print(table, ctx->out);
    ctl_table_free(table);
    fprintf(ctx->out, "\nTotal lag: %" PRId64 "\n", view->total_lag);
    return 0;
}

int ctl_group_describe(ctl_ctx_t *ctx, sb_err_t *err)
{
    const char *group = ctx->args->name;
    group_view_t view = {0};
    int rc = fetch_description(ctx, group, &view, err);
    if (!rc) rc = fetch_committed_offsets(ctx, group, &view, err);
    if (!rc) rc = collect_assignments(&view, err);
    /* Kafka describes an unknown group as "Dead" with no error rather than failing; with no
     * members and no offsets there is nothing that makes it a group. */
    if (!rc && rd_kafka_ConsumerGroupDescription_state(view.description) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD &&
        view.partition_count == 0 && rd_kafka_ConsumerGroupDescription_member_count(view.description) == 0)
        rc = group_error("describing", group, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, NULL, err);
    if (!rc) {
        merge_duplicate_partitions(&view);
        read_log_end_offsets(ctx, &view);
        rc = ctx->args->output == CTL_OUTPUT_JSON ? describe_group_json(ctx, &view, err)
                                                  : describe_group_table(ctx, &view, err);
    }
    group_view_deinit(&view);
    return rc;
}

/* ---- group delete -------------------------------------------------------------------- */

int ctl_group_delete(ctl_ctx_t *ctx, sb_err_t *err)
{
    const char *group = ctx->args->name;
    rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DELETEGROUPS, err);
    if (!options) return SB_ENOMEM;
    rd_kafka_DeleteGroup_t *del_group = rd_kafka_DeleteGroup_new(group);
    rd_kafka_DeleteGroups(ctx->client.rk, &del_group, 1, options, ctx->client.results);
    rd_kafka_DeleteGroup_destroy(del_group);
    rd_kafka_AdminOptions_destroy(options);

    char what[320];
    snprintf(what, sizeof(what), "deleting group \"%s\"", group);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, what, &event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_group_result_t **results =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(event), &count);
    const rd_kafka_error_t *group_err = count == 1 ? rd_kafka_group_result_error(results[0]) : NULL;
    if (count != 1) {
        rc = sb_err_set(err, SB_EIO, "%s: the cluster answered for %zu groups", what, count);
    } else if (group_err) {
        rc = group_error("deleting", group, rd_kafka_error_code(group_err), rd_kafka_error_string(group_err), err);
    } else if (ctx->args->output == CTL_OUTPUT_JSON) {
        rc = ctl_print_json(ctx, json_pack("{s:s, s:b}", "group", group, "deleted", 1), err);
    } else {
        fprintf(ctx->out, "Deleted group \"%s\".\n", group);
    }
    rd_kafka_event_destroy(event);
    return rc;
}

/* ---- group reset-offsets ------------------------------------------------------------- */

/* One partition of a reset plan. */
typedef struct reset_row {
    char *topic;
    int32_t partition;
    int64_t current; /* committed now, -1: none */
    int64_t target;
} reset_row_t;

typedef struct reset_plan {
    reset_row_t *rows;
    size_t count;
} reset_plan_t;

static void reset_plan_deinit(reset_plan_t *plan)
{
    for (size_t i = 0; i < plan->count; i++) free(plan->rows[i].topic);
    free(plan->rows);
}

static int plan_add(reset_plan_t *plan, const char *topic, int32_t partition, int64_t current, sb_err_t *err)
{
    for (size_t i = 0; i < plan->count; i++)
        if (plan->rows[i].partition == partition && strcmp(plan->rows[i].topic, topic) == 0) return 0;
    reset_row_t *grown = realloc(plan->rows, (plan->count + 1) * sizeof(*grown));
    char *name = strdup(topic);
    if (!grown || !name) {
        free(name);
        if (grown) plan->rows = grown;
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    plan->rows = grown;
    plan->rows[plan->count++] = (reset_row_t){name, partition, current, -1};
    return 0;
}

static int64_t committed_of(const group_view_t *view, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < view->partition_count; i++)
        if (view->partitions[i].partition == partition && strcmp(view->partitions[i].topic, topic) == 0)
            return view->partitions[i].committed;
    return -1;
}

/* The partitions named by --topic (every partition of the topic when none are listed), checked
 * against the cluster's metadata so that a typo is an error rather than a silent no-op. */
static int plan_from_topic_specs(ctl_ctx_t *ctx, const group_view_t *view, reset_plan_t *plan, sb_err_t *err)
{
    const struct rd_kafka_metadata *md;
    int rc = ctl_client_metadata(&ctx->client, &md, err);
    if (rc) return rc;
    for (size_t s = 0; !rc && s < ctx->args->topic_count; s++) {
        const ctl_topic_spec_t *spec = &ctx->args->topics[s];
        const struct rd_kafka_metadata_topic *t = NULL;
        for (int i = 0; i < md->topic_cnt && !t; i++)
            if (strcmp(md->topics[i].topic, spec->topic) == 0 && !md->topics[i].err) t = &md->topics[i];
        if (!t) {
            rc = sb_err_set(err, SB_ENOENT, "topic \"%s\" does not exist", spec->topic);
            break;
        }
        if (spec->partition_count == 0) {
            for (int p = 0; !rc && p < t->partition_cnt; p++)
                rc = plan_add(plan, t->topic, t->partitions[p].id, committed_of(view, t->topic, t->partitions[p].id), err);
            continue;
        }
        for (size_t k = 0; !rc && k < spec->partition_count; k++) {
            bool exists = false;
            for (int p = 0; p < t->partition_cnt && !exists; p++) exists = t->partitions[p].id == spec->partitions[k];
            if (!exists)
                rc = sb_err_set(err, SB_ENOENT, "topic \"%s\" has no partition %" PRId32 " (it has %d)", spec->topic,
                                spec->partitions[k], t->partition_cnt);
            else rc = plan_add(plan, t->topic, spec->partitions[k], committed_of(view, t->topic, spec->partitions[k]), err);
        }
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int64_t clamp_offset(int64_t v, int64_t low, int64_t high)
{
    return v < low ? low : v > high ? high : v;
}

/* Fills every row's target as kafka-consumer-groups.sh computes it: earliest/latest are the
 * log's ends, an explicit or shifted offset is clamped into [earliest, latest], and a time maps
 * to the first offset at or after it (the log end when nothing is that new). */
static int plan_targets(ctl_ctx_t *ctx, reset_plan_t *plan, sb_err_t *err)
{
    const ctl_args_t *a = ctx->args;
    rd_kafka_topic_partition_list_t *times = NULL;
    if (a->reset == CTL_RESET_DATETIME) {
        times = rd_kafka_topic_partition_list_new((int)plan->count);
        for (size_t i = 0; i < plan->count; i++)
            rd_kafka_topic_partition_list_add(times, plan->rows[i].topic, plan->rows[i].partition)->offset = a->reset_value;
        rd_kafka_resp_err_t code = rd_kafka_offsets_for_times(ctx->client.rk, times, a->timeout_ms);
        if (code) {
            rd_kafka_topic_partition_list_destroy(times);
            return ctl_client_fail(&ctx->client, code, "looking up offsets by time", err);
        }
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < plan->count; i++) {
        reset_row_t *r = &plan->rows[i];
        int64_t low, high;
        rd_kafka_resp_err_t code = ctl_watermarks(ctx, r->topic, r->partition, &low, &high);
        if (code) {
            char what[320];
            snprintf(what, sizeof(what), "reading offsets of %s-%" PRId32, r->topic, r->partition);
            rc = ctl_client_fail(&ctx->client, code, what, err);
            break;
        }
        switch (a->reset) {
        case CTL_RESET_EARLIEST: r->target = low; break;
        case CTL_RESET_LATEST: r->target = high; break;
        case CTL_RESET_OFFSET: r->target = clamp_offset(a->reset_value, low, high); break;
        case CTL_RESET_SHIFT:
            if (r->current < 0) {
                /* A state of the cluster, not bad usage: exit 1, not 2 (SB_EINVAL). */
                rc = sb_err_set(err, SB_ENOENT, "cannot shift %s-%" PRId32 ": the group has no committed offset there",
                                r->topic, r->partition);
                break;
            }
            /* Saturating: a shift past either end lands on that end. */
            if (a->reset_value > 0 && r->current > INT64_MAX - a->reset_value) r->target = high;
            else if (a->reset_value < 0 && r->current < INT64_MIN - a->reset_value) r->target = low;
            else r->target = clamp_offset(r->current + a->reset_value, low, high);
            break;
        case CTL_RESET_DATETIME: {
            const rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(times, r->topic, r->partition);
            if (tp && tp->err) {
                rc = sb_err_set(err, SB_EIO, "looking up %s-%" PRId32 " by time failed: %s (%s)", r->topic,
                                r->partition, rd_kafka_err2str(tp->err), rd_kafka_err2name(tp->err));
                break;
            }
            r->target = tp && tp->offset >= 0 ? clamp_offset(tp->offset, low, high) : high;
            break;
        }
        case CTL_RESET_NONE: rc = sb_err_set(err, SB_EINVAL, "internal: no reset given"); break;
        }
    }
    if (times) rd_kafka_topic_partition_list_destroy(times);
    return rc;
}

static int alter_offsets(ctl_ctx_t *ctx, const char *group, const reset_plan_t *plan, sb_err_t *err)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new((int)plan->count);
    for (size_t i = 0; i < plan->count; i++)
        rd_kafka_topic_partition_list_add(offsets, plan->rows[i].topic, plan->rows[i].partition)->offset =
            plan->rows[i].target;
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, err);
    if (!options) {
        rd_kafka_topic_partition_list_destroy(offsets);
        return SB_ENOMEM;
    }
    rd_kafka_AlterConsumerGroupOffsets_t *alter = rd_kafka_AlterConsumerGroupOffsets_new(group, offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_AlterConsumerGroupOffsets(ctx->client.rk, &alter, 1, options, ctx->client.results);
    rd_kafka_AlterConsumerGroupOffsets_destroy(alter);
    rd_kafka_AdminOptions_destroy(options);

    char what[320];
    snprintf(what, sizeof(what), "resetting offsets of group \"%s\"", group);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, what, &event, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_group_result_t **results =
        rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(event), &count);
    const rd_kafka_error_t *group_err = count == 1 ? rd_kafka_group_result_error(results[0]) : NULL;
    if (count != 1) {
        rc = sb_err_set(err, SB_EIO, "%s: the cluster answered for %zu groups", what, count);
    } else if (group_err) {
        rc = group_error("resetting offsets of", group, rd_kafka_error_code(group_err), rd_kafka_error_string(group_err),
                         err);
    } else {
        const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(results[0]);
        for (int i = 0; parts && i < parts->cnt && !rc; i++) {
            rd_kafka_resp_err_t code = parts->elems[i].err;
            if (!code) continue;
            /* A member joined between the state check and the commit: the coordinator refuses
             * a commit from outside the generation. */
            if (code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
                code == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
                rc = sb_err_set(err, SB_EIO, "group \"%s\" became active while resetting; stop its consumers first (%s)",
                                group, rd_kafka_err2name(code));
            else
                rc = sb_err_set(err, SB_EIO, "%s: %s-%" PRId32 ": %s (%s)", what, parts->elems[i].topic,
                                parts->elems[i].partition, rd_kafka_err2str(code), rd_kafka_err2name(code));
        }
    }
    rd_kafka_event_destroy(event);
    return rc;
}

static int compare_reset_rows(const void *a, const void *b)
{
    const reset_row_t *ra = a, *rb = b;
    int c = strcmp(ra->topic, rb->topic);
    return c ? c : (ra->partition > rb->partition) - (ra->partition < rb->partition);
}

static int print_reset_plan(ctl_ctx_t *ctx, const char *group, const reset_plan_t *plan, bool executed, sb_err_t *err)
{
    if (ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *rows = json_array();
        for (size_t i = 0; rows && i < plan->count; i++) {
            const reset_row_t *r = &plan->rows[i];
            json_array_append_new(rows, json_pack("{s:s, s:I, s:o, s:I}", "topic", r->topic, "partition",
                                                  (json_int_t)r->partition, "current_offset",
                                                  json_nullable_offset(r->current), "new_offset", (json_int_t)r->target));
        }
        return ctl_print_json(ctx, rows ? json_pack("{s:s, s:b, s:o}", "group", group, "executed", executed, "partitions", rows)
                                        : NULL,
                              err);
    }
    static const char *const headers[] = {"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"};
    ctl_table_t *table = ctl_table_new(5, headers);
    if (!table) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < plan->count; i++) {
        const reset_row_t *r = &plan->rows[i];
        char partition[16], current[24], target[24];
        snprintf(partition, sizeof(partition), "%" PRId32, r->partition);
        const char *row[] = {group, r->topic, partition, ctl_format_offset(current, sizeof(current), r->current),
                             ctl_format_offset(target, sizeof(target), r->target)};
        if (ctl_table_add_row(table, row)) {
            ctl_table_free(table);
            return sb_err_set(err, SB_ENOMEM, "out of memory");
        }
    }
    ctl_table_print(table, ctx->out);
    ctl_table_free(table);
    if (executed) fprintf(ctx->out, "\nReset %zu partition(s) of group \"%s\".\n", plan->count, group);
    else fprintf(ctx->out, "\nDry run: nothing was changed. Run again with --execute to apply.\n");
    return 0;
}

int ctl_group_reset_offsets(ctl_ctx_t *ctx, sb_err_t *err)
{
    const char *group = ctx->args->name;
    group_view_t view = {0};
    reset_plan_t plan = {0};
    int rc = fetch_description(ctx, group, &view, err);
    if (!rc) {
        /* As Kafka's tool: only a group without members (Empty, or Dead: not known at all)
         * may be moved, or its consumers would overwrite the reset with their next commit. */
        rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(view.description);
        if (state != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && state != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD)
            rc = sb_err_set(err, SB_EIO,
                            "group \"%s\" is %s with %zu member(s); offsets can only be reset while it has no active "
                            "members: stop its consumers first",
                            group, rd_kafka_consumer_group_state_name(state),
                            rd_kafka_ConsumerGroupDescription_member_count(view.description));
    }
    if (!rc) rc = fetch_committed_offsets(ctx, group, &view, err);
    if (!rc && ctx->args->all_topics) {
        for (size_t i = 0; !rc && i < view.partition_count; i++)
            rc = plan_add(&plan, view.partitions[i].topic, view.partitions[i].partition, view.partitions[i].committed, err);
        if (!rc && plan.count == 0)
            rc = sb_err_set(err, SB_ENOENT, "group \"%s\" has no committed offsets; name the partitions with --topic",
                            group);
    } else if (!rc) {
        rc = plan_from_topic_specs(ctx, &view, &plan, err);
    }
    if (!rc) {
        qsort(plan.rows, plan.count, sizeof(*plan.rows), compare_reset_rows);
        rc = plan_targets(ctx, &plan, err);
    }
    if (!rc && ctx->args->execute) rc = alter_offsets(ctx, group, &plan, err);
    if (!rc) rc = print_reset_plan(ctx, group, &plan, ctx->args->execute, err);
    reset_plan_deinit(&plan);
    group_view_deinit(&view);
    return rc;
}

/* ---- group delete-offsets ------------------------------------------------------------ */

int ctl_group_delete_offsets(ctl_ctx_t *ctx, sb_err_t *err)
{
    const char *group = ctx->args->name;
    group_view_t view = {0};
    reset_plan_t plan = {0};
    int rc = plan_from_topic_specs(ctx, &view, &plan, err);
    if (rc) {
        reset_plan_deinit(&plan);
        return rc;
    }
    qsort(plan.rows, plan.count, sizeof(*plan.rows), compare_reset_rows);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)plan.count);
    for (size_t i = 0; i < plan.count; i++) rd_kafka_topic_partition_list_add(parts, plan.rows[i].topic, plan.rows[i].partition);
    reset_plan_deinit(&plan);
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS, err);
    if (!options) {
        rd_kafka_topic_partition_list_destroy(parts);
        return SB_ENOMEM;
    }
    rd_kafka_DeleteConsumerGroupOffsets_t *del = rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_DeleteConsumerGroupOffsets(ctx->client.rk, &del, 1, options, ctx->client.results);
    rd_kafka_DeleteConsumerGroupOffsets_destroy(del);
    rd_kafka_AdminOptions_destroy(options);

    char what[320];
    snprintf(what, sizeof(what), "deleting offsets of group \"%s\"", group);
    rd_kafka_event_t *event;
    rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DELETECONSUMERGROUPOFFSETS_RESULT, what, &event, err);
    /* librdkafka 2.0.2 reports a group-level OffsetDelete error as a failure to parse the
     * response; say what it means instead. */
    if (rc && ctx->client.last_event_error == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
        return group_error("deleting offsets of", group, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, NULL, err);
    if (rc) return rc;
    size_t count = 0;
    const rd_kafka_group_result_t **results = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
        rd_kafka_event_DeleteConsumerGroupOffsets_result(event), &count);
    const rd_kafka_error_t *group_err = count == 1 ? rd_kafka_group_result_error(results[0]) : NULL;
    if (count != 1) {
        rc = sb_err_set(err, SB_EIO, "%s: the cluster answered for %zu groups", what, count);
    } else if (group_err) {
        rc = group_error("deleting offsets of", group, rd_kafka_error_code(group_err), rd_kafka_error_string(group_err),
                         err);
    }
    const rd_kafka_topic_partition_list_t *done = rc ? NULL : rd_kafka_group_result_partitions(results[0]);
    size_t failed = 0;
    for (int i = 0; done && i < done->cnt; i++) failed += done->elems[i].err != 0;
    if (!rc && ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *rows = json_array();
        for (int i = 0; rows && i < done->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &done->elems[i];
            json_array_append_new(rows, json_pack("{s:s, s:I, s:o}", "topic", tp->topic, "partition",
                                                  (json_int_t)tp->partition, "error",
                                                  tp->err ? json_string(rd_kafka_err2name(tp->err)) : json_null()));
        }
        rc = ctl_print_json(ctx, rows ? json_pack("{s:s, s:o}", "group", group, "partitions", rows) : NULL, err);
    } else if (!rc) {
        static const char *const headers[] = {"TOPIC", "PARTITION", "STATUS"};
        ctl_table_t *table = ctl_table_new(3, headers);
        for (int i = 0; table && i < done->cnt; i++) {
            const rd_kafka_topic_partition_t *tp = &done->elems[i];
            char partition[16];
            snprintf(partition, sizeof(partition), "%" PRId32, tp->partition);
            const char *row[] = {tp->topic, partition, tp->err ? rd_kafka_err2name(tp->err) : "deleted"};
            if (ctl_table_add_row(table, row)) break;
        }
        if (table) ctl_table_print(table, ctx->out);
        else rc = sb_err_set(err, SB_ENOMEM, "out of memory");
        ctl_table_free(table);
    }
    /* The table shows which; the exit status says that not everything went. */
    if (!rc && failed) {
        const rd_kafka_topic_partition_t *first = NULL;
        for (int i = 0; i < done->cnt && !first; i++)
            if (done->elems[i].err) first = &done->elems[i];
        rc = sb_err_set(err, SB_EIO, "%zu partition(s) kept their offsets, e.g. %s-%" PRId32 ": %s%s", failed,
                        first->topic, first->partition, rd_kafka_err2name(first->err),
                        first->err == RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC
                            ? " (the group's consumers subscribe to that topic; stop them first)"
                            : "");
    }
    rd_kafka_event_destroy(event);
    return rc;
}
