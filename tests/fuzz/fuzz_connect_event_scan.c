/* Fuzz driver for what the connect runtime parses from record values and configs: the
 * change-event envelope scanner, the transforms (a fixed chain over arbitrary key/value bytes)
 * and the connect YAML config. Nothing may crash, over-read or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect_config.h"
#include "connect/event_scan.h"
#include "connect/transforms/transforms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    connect_event_summary_t env;
    connect_event_scan(data, size, &env);

    json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "transforms", "h,f,i", "transforms.h.type", "hash",
                            "transforms.h.fields", "id,email", "transforms.f.type", "filter", "transforms.f.ops.exclude",
                            "r", "transforms.i.type", "insert", "transforms.i.field", "x", "transforms.i.value",
                            "commit_time");
    connect_config_errors_t errs = {0};
    connect_transforms_t *t = NULL;
    if (connect_transforms_new(cfg, &t, &errs) == 0) {
        /* the first half is the key, the rest the value */
        size_t half = size / 2;
        connect_record_t rec = {.topic = "t", .key = {data, (int32_t)half}, .value = {data + half, (int32_t)(size - half)}};
        connect_transformed_t out = {0};
        sb_err_t err;
        connect_transforms_apply(t, &rec, &out, &err);
        connect_transformed_deinit(&out);
        connect_transforms_free(t);
    }
    json_decref(cfg);

    connect_config_t c;
    sb_err_t err;
    connect_config_defaults(&c);
    connect_config_load_string(&c, "fuzz", data, size, &err);
    return 0;
}
