#ifndef STREAMBUS_CTL_CTL_INT_H
#define STREAMBUS_CTL_CTL_INT_H

/* Shared between the ctl command files; not part of the ctl API. */

#include <jansson.h>
#include <stdio.h>

#include "common/err.h"
#include "ctl/ctl_args.h"
#include "ctl/ctl_client.h"

typedef struct ctl_ctx {
    const ctl_args_t *args;
    ctl_client_t client;
    FILE *out;
    FILE *errout;
} ctl_ctx_t;

int ctl_topic_create(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_topic_list(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_topic_describe(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_topic_delete(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_topic_add_partitions(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_topic_alter_config(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_records_delete(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_group_list(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_group_describe(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_group_delete(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_group_reset_offsets(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_group_delete_offsets(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_acl_add(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_acl_remove(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_acl_list(ctl_ctx_t *ctx, sb_err_t *err);
/* ctl_user.c: SCRAM users through the Kafka SCRAM admin APIs. */
int ctl_user_add(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_user_passwd(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_user_remove(ctl_ctx_t *ctx, sb_err_t *err);
int ctl_user_list(ctl_ctx_t *ctx, sb_err_t *err);

/* Prints a JSON document (takes ownership of root, which may be NULL on allocation failure)
 * followed by a newline. Returns 0 or SB_ENOMEM. */
int ctl_print_json(ctl_ctx_t *ctx, json_t *root, sb_err_t *err);

/* Reads the watermarks of one partition; on failure sets both to -1 and returns the error. */
rd_kafka_resp_err_t ctl_watermarks(ctl_ctx_t *ctx, const char *topic, int32_t partition, int64_t *low,
                                   int64_t *high);

/* "5" or NULL (printed as "-") for an offset that is not known. */
const char *ctl_format_offset(char *buf, size_t size, int64_t value);

#endif
