/* Fuzz driver for the change-event parser. The input is "key NUL value"; without a NUL byte
 * it is the value of a record with a null key. Every parsed column is walked so that ASan sees
 * any slice that points outside the input, and the parser's promises are checked: decoded
 * strings never contain NUL, and a null value is a tombstone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connect/event_parse.h"

static unsigned walk(const event_row_t *row)
{
    unsigned sum = 0;
    for (int i = 0; i < row->n; i++) {
        const event_column_t *c = &row->cols[i];
        sum += (unsigned)strlen(c->name);
        if (c->pg_type) sum += (unsigned)strlen(c->pg_type);
        if (c->value.len < 0) abort();
        if (c->value.len > 0 && !c->value.text) abort();
        for (int32_t k = 0; k < c->value.len; k++) sum += (uint8_t)c->value.text[k];
        if (c->value.type == EVENT_JSON_STRING && c->value.len && memchr(c->value.text, 0, (size_t)c->value.len))
            abort();
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    sb_slice_t key = {.p = NULL, .len = -1}, value;
    if (nul) {
        key = (sb_slice_t){.p = data, .len = (int32_t)(nul - data)};
        value = (sb_slice_t){.p = nul + 1, .len = (int32_t)(size - (size_t)(nul - data) - 1)};
        /* A lone trailing NUL means a tombstone for the key. */
        if (value.len == 0) value.len = -1;
    } else {
        value = (sb_slice_t){.p = data, .len = (int32_t)size};
    }
    event_arena_t arena;
    event_arena_init(&arena);
    event_t ev;
    sb_err_t err;
    volatile unsigned sink = 0;
    if (event_parse(&arena, key, value, &ev, &err) == 0) {
        if (value.len < 0 && ev.op != EVENT_OP_TOMBSTONE) abort();
        sink += walk(&ev.key) + walk(&ev.before) + walk(&ev.after);
        if (ev.source_schema) sink += (unsigned)strlen(ev.source_schema);
        if (ev.source_table) sink += (unsigned)strlen(ev.source_table);
    }
    (void)sink;
    event_arena_deinit(&arena);
    return 0;
}
