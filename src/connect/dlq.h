#ifndef STREAMBUS_CONNECT_DLQ_H
#define STREAMBUS_CONNECT_DLQ_H

/* The dead-letter queue: one topic per sink connector (<dlq prefix><connector name>) holding
 * records the sink could not apply, with their ORIGINAL key and value bytes and headers, plus
 * these headers (values as text) describing the failure:
 *   __connect.errors.topic, __connect.errors.partition, __connect.errors.offset
 *   __connect.errors.connector.name
 *   __connect.errors.class            record | transform | ... (the runtime's error class)
 *   __connect.errors.exception.message
 *   __connect.errors.retry.count      attempts made before giving up
 *   __connect.errors.first.failure.ms, __connect.errors.last.failure.ms  (epoch ms)
 * Replaying re-produces key, value and the original headers to the original topic, so the
 * sink applies the record again (after the target or the data has been fixed). */

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"

#define DLQ_HEADER_PREFIX "__connect.errors."

typedef struct dlq_failure {
    const char *connector;
    const char *error_class;
    const char *message;
    int retry_count;
    int64_t first_failure_ms, last_failure_ms;
} dlq_failure_t;

/* Sends one record to the DLQ and waits for the broker's acknowledgement. producer is an
 * rd_kafka_t * created on first use (*producer == NULL) and reused; destroy it with
 * dlq_producer_free. key/value len -1 = null. orig_headers is an rd_kafka_headers_t * or NULL. */
int dlq_send(void **producer, const char *bootstrap, const char *dlq_topic, const char *topic, int32_t partition,
             int64_t offset, const void *key, int32_t key_len, const void *value, int32_t value_len,
             const void *orig_headers, const dlq_failure_t *f, sb_err_t *err);
void dlq_producer_free(void *producer);

/* Reads up to limit records of a DLQ topic from from_offset on (every partition) and returns
 * a JSON array of {"id":"<partition>:<offset>","partition","offset","timestamp_ms","key","value",
 * "headers":{...}} with key/value as text (null when null). */
int dlq_list(const char *bootstrap, const char *dlq_topic, int64_t from_offset, int limit, json_t **out, sb_err_t *err);

/* Replays records of a DLQ topic, chosen by ids ("<partition>:<offset>" strings; may be
 * NULL) or by the offset range [from_offset, to_offset] of every partition. Sets *replayed
 * to the number re-produced. Unknown ids are SB_ENOENT, naming the first. */
int dlq_replay(const char *bootstrap, const char *dlq_topic, const json_t *ids, int64_t from_offset, int64_t to_offset,
               int *replayed, sb_err_t *err);

#endif
