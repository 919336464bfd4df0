#ifndef STREAMBUS_CONNECT_EVENT_SCAN_H
#define STREAMBUS_CONNECT_EVENT_SCAN_H

/* Reading the few fields of a change event (Debezium-style JSON value, see docs/connect.md)
 * that the runtime needs for every record: op, source.ts_ms, source.schema/table/name.
 *
 * The sink hot path reads these for metrics (events by table/op, end-to-end latency) at tens
 * of thousands of records per second, so this is a bounded scanner that walks the top-level
 * object and skips values without building a tree; a full jansson parse happens only when a
 * transform has to change the value. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct connect_event_summary {
    char op;              /* 'c', 'u', 'd', 'r', 't', or 0 when the value has no "op" */
    int64_t ts_ms;        /* value.ts_ms (processing time), -1 when absent */
    int64_t source_ts_ms; /* value.source.ts_ms (commit time), -1 when absent */
    /* Borrowed from the scanned bytes; the raw string contents (escapes not decoded). len 0
     * when absent. */
    sb_slice_t source_name, schema, table;
} connect_event_summary_t;

/* Scans a JSON value. Returns 0 when the bytes are a JSON object (fields it does not find
 * stay at their "absent" values), SB_EINVAL when they are not (malformed, or not an object). */
int connect_event_scan(const void *data, size_t len, connect_event_summary_t *out);

#endif
