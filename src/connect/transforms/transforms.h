#ifndef STREAMBUS_CONNECT_TRANSFORMS_H
#define STREAMBUS_CONNECT_TRANSFORMS_H

/* Single-record transforms applied by the runtime between the broker and a sink (and,
 * optionally, between a source and the broker), configured Kafka Connect style:
 *
 *   "transforms": "pii,onlyChanges",
 *   "transforms.pii.type": "hash", "transforms.pii.fields": "email,phone", "transforms.pii.salt": "s",
 *   "transforms.onlyChanges.type": "filter", "transforms.onlyChanges.ops.exclude": "r"
 *
 * Types (docs/connect.md has every parameter):
 *   mask    fields, replacement (default "****")   replace column values in key/before/after
 *   hash    fields, salt (optional)                 SHA-256 hex of salt + the value's text
 *   rename  renames "old:new,old2:new2"             rename columns in key/before/after
 *   filter  ops.include | ops.exclude "c,u,d,r,t"   keep or drop events by op
 *   route   regex, replacement ($1..$9)             rewrite the topic name when regex matches
 *   insert  field, value                            add a column to after (and before):
 *           value = capture_time | commit_time | source_name | topic | literal:<text>
 *
 * A chain is immutable after creation and may be shared by threads. */

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"
#include "connect/connector.h"

typedef struct connect_transforms connect_transforms_t;

/* Parses the "transforms" keys of a connector config (a JSON object of strings). Adds one
 * error per bad field to errs and returns SB_EINVAL when any is wrong; *out is NULL then.
 * A config without "transforms" yields an empty chain. */
int connect_transforms_new(const json_t *config, connect_transforms_t **out, connect_config_errors_t *errs);
void connect_transforms_free(connect_transforms_t *t);
bool connect_transforms_empty(const connect_transforms_t *t);

/* The result of applying a chain to one record: rec points into the input record or into
 * buffers owned here. Start from all zeros; reuse one across records (its buffers are kept
 * and grown, so a steady stream allocates nothing); deinit frees the buffers. */
typedef struct connect_transformed {
    connect_record_t rec;
    char *topic_buf;
    char *key_buf;
    char *value_buf;
    size_t key_cap, value_cap; /* allocated sizes of key_buf and value_buf */
} connect_transformed_t;

void connect_transformed_deinit(connect_transformed_t *t);

/* Applies the chain. Returns 1 when the record is kept (out->rec is the result), 0 when a
 * filter dropped it, or SB_EINVAL when the record cannot be transformed (its key or value
 * is not the JSON the transforms need), with the reason in err. The key and value are
 * edited as bytes (no JSON tree): filter reads only "op", route only the topic; mask, hash,
 * rename and insert rewrite just the objects they change and copy the rest verbatim.
 * out->rec stays valid until the next call with the same out. */
int connect_transforms_apply(const connect_transforms_t *t, const connect_record_t *in,
                             connect_transformed_t *out, sb_err_t *err);

#endif
