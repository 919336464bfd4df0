/* `streambus ctl records delete`: DeleteRecords through librdkafka's public admin API, so it
 * works against any Kafka cluster. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"

int ctl_records_delete(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_args_t *args = ctx->args;
    const char *name = args->name;
    /* Which partitions: the one given, or every partition the cluster lists. */
    const struct rd_kafka_metadata *md;
    int rc = ctl_client_metadata(&ctx->client, &md, err);
    if (rc) return rc;
    const rd_kafka_metadata_topic_t *topic = NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0) topic = &md->topics[i];
    if (!topic || topic->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rd_kafka_metadata_destroy(md);
        return sb_err_set(err, SB_ENOENT, "topic \"%s\" does not exist (%s)", name,
                          rd_kafka_err2name(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    }
    if (args->partition >= topic->partition_cnt) {
        int n = topic->partition_cnt;
        rd_kafka_metadata_destroy(md);
        return sb_err_set(err, SB_ENOENT, "topic \"%s\" has no partition %d (it has %d)", name,
                          args->partition, n);
    }
    rd_kafka_topic_partition_list_t *offsets =
        rd_kafka_topic_partition_list_new(topic->partition_cnt);
    int64_t target = args->offset < 0 ? RD_KAFKA_OFFSET_END : (int64_t)args->offset;
    for (int p = 0; p < topic->partition_cnt; p++) {
        int32_t id = topic->partitions[p].id;
        if (args->partition >= 0 && id != args->partition) continue;
        rd_kafka_topic_partition_list_add(offsets, name, id)->offset = target;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_sort(offsets, NULL, NULL);

    rd_kafka_DeleteRecords_t *request = rd_kafka_DeleteRecords_new(offsets);
    rd_kafka_topic_partition_list_destroy(offsets);
    rd_kafka_AdminOptions_t *options =
        ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DELETERECORDS, err);
    if (!request || !options) {
        if (request) rd_kafka_DeleteRecords_destroy(request);
        if (options) rd_kafka_AdminOptions_destroy(options);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    rd_kafka_DeleteRecords(ctx->client.rk, &request, 1, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_DeleteRecords_destroy(request);
    char what[320];
    snprintf(what, sizeof(what), "deleting records of topic \"%s\"", name);
    rd_kafka_event_t *event;
    rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DELETERECORDS_RESULT, what, &event, err);
    if (rc) return rc;
    const rd_kafka_topic_partition_list_t *result =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(event));

    /* Every partition is reported; the command fails if any partition did. */
    int failed = 0;
    json_t *parts = args->output == CTL_OUTPUT_JSON ? json_array() : NULL;
    if (args->output != CTL_OUTPUT_JSON)
        fprintf(ctx->out, "%-10s %s\n", "PARTITION", "EARLIEST OFFSET");
    for (int i = 0; result && i < result->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &result->elems[i];
        /* Past the end: say where the end is, so the operator can pick a valid offset. */
        int64_t low = -1, high = -1;
        char end_note[64] = "";
        if (tp->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE &&
            ctl_watermarks(ctx, name, tp->partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(end_note, sizeof(end_note), "; the partition ends at offset %" PRId64, high);
        if (tp->err) {
            if (!failed)
                sb_err_set(err, SB_EIO, "deleting records of %s-%" PRId32 " failed: %s (%s)%s", name,
                           tp->partition, rd_kafka_err2str(tp->err), rd_kafka_err2name(tp->err), end_note);
            failed++;
        }
        if (parts) {
            json_t *entry = json_pack("{s:i, s:I}", "partition", (int)tp->partition,
                                      "low_watermark", (json_int_t)(tp->err ? -1 : tp->offset));
            if (entry && tp->err)
                json_object_set_new(entry, "error", json_string(rd_kafka_err2name(tp->err)));
            if (entry && end_note[0]) json_object_set_new(entry, "end_offset", json_integer((json_int_t)high));
            json_array_append_new(parts, entry);
        } else if (tp->err) {
            fprintf(ctx->out, "%-10" PRId32 " error: %s (%s)%s\n", tp->partition,
                    rd_kafka_err2str(tp->err), rd_kafka_err2name(tp->err), end_note);
        } else {
            fprintf(ctx->out, "%-10" PRId32 " %" PRId64 "\n", tp->partition, tp->offset);
        }
    }
    if (parts) {
        int prc =
            ctl_print_json(ctx, json_pack("{s:s, s:o}", "topic", name, "partitions", parts), err);
        if (!failed) rc = prc;
    }
    if (!result)
        rc = sb_err_set(err, SB_EIO, "the cluster's answer to DeleteRecords had no partitions");
    else if (failed)
        rc = SB_EIO;
    rd_kafka_event_destroy(event);
    return rc;
}
