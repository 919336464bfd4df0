#include "ctl/ctl.h"

#include <inttypes.h>

#include "ctl/ctl_int.h"

int ctl_print_json(ctl_ctx_t *ctx, json_t *root, sb_err_t *err)
{
    if (!root) return sb_err_set(err, SB_ENOMEM, "out of memory building JSON output");
    int rc = json_dumpf(root, ctx->out, JSON_INDENT(2));
    json_decref(root);
    if (rc != 0) return sb_err_set(err, SB_EIO, "writing JSON output failed");
    fputc('\n', ctx->out);
    return 0;
}

rd_kafka_resp_err_t ctl_watermarks(ctl_ctx_t *ctx, const char *topic, int32_t partition, int64_t *low,
                                   int64_t *high)
{
    rd_kafka_resp_err_t code =
        rd_kafka_query_watermark_offsets(ctx->client.rk, topic, partition, low, high, ctx->client.timeout_ms);
    if (code) {
        *low = -1;
        *high = -1;
    }
    return code;
}

const char *ctl_format_offset(char *buf, size_t size, int64_t value)
{
    if (value < 0) return NULL;
    snprintf(buf, size, "%" PRId64, value);
    return buf;
}

int ctl_run(const ctl_args_t *args, FILE *out, FILE *errout, sb_err_t *err)
{
    if (args->command == CTL_CMD_HELP) {
        ctl_usage(out, args->help_noun);
        return 0;
    }
    ctl_ctx_t ctx = {.args = args, .out = out, .errout = errout};
    int rc = ctl_client_init(&ctx.client, args, err);
    if (rc) return rc;
    switch (args->command) {
    case CTL_CMD_TOPIC_CREATE: rc = ctl_topic_create(&ctx, err); break;
    case CTL_CMD_TOPIC_LIST: rc = ctl_topic_list(&ctx, err); break;
    case CTL_CMD_TOPIC_DESCRIBE: rc = ctl_topic_describe(&ctx, err); break;
    case CTL_CMD_TOPIC_DELETE: rc = ctl_topic_delete(&ctx, err); break;
    case CTL_CMD_TOPIC_ADD_PARTITIONS: rc = ctl_topic_add_partitions(&ctx, err); break;
    case CTL_CMD_GROUP_LIST: rc = ctl_group_list(&ctx, err); break;
    case CTL_CMD_GROUP_DESCRIBE: rc = ctl_group_describe(&ctx, err); break;
    case CTL_CMD_GROUP_DELETE: rc = ctl_group_delete(&ctx, err); break;
    case CTL_CMD_TOPIC_ALTER_CONFIG: rc = ctl_topic_alter_config(&ctx, err); break;
    case CTL_CMD_RECORDS_DELETE: rc = ctl_records_delete(&ctx, err); break;
    case CTL_CMD_GROUP_RESET_OFFSETS: rc = ctl_group_reset_offsets(&ctx, err); break;
    case CTL_CMD_GROUP_DELETE_OFFSETS: rc = ctl_group_delete_offsets(&ctx, err); break;
    case CTL_CMD_ACL_ADD: rc = ctl_acl_add(&ctx, err); break;
    case CTL_CMD_ACL_REMOVE: rc = ctl_acl_remove(&ctx, err); break;
    case CTL_CMD_ACL_LIST: rc = ctl_acl_list(&ctx, err); break;
    case CTL_CMD_USER_ADD: rc = ctl_user_add(&ctx, err); break;
    case CTL_CMD_USER_PASSWD: rc = ctl_user_passwd(&ctx, err); break;
    case CTL_CMD_USER_REMOVE: rc = ctl_user_remove(&ctx, err); break;
    case CTL_CMD_USER_LIST: rc = ctl_user_list(&ctx, err); break;
    case CTL_CMD_HELP: break;
    }
    fflush(out);
    ctl_client_deinit(&ctx.client);
    return rc;
}
