#ifndef STREAMBUS_CONNECT_STORE_H
#define STREAMBUS_CONNECT_STORE_H

/* The runtime's durable state lives in broker topics, as in Kafka Connect: connector configs,
 * source positions and statuses, each keyed by connector name, last write wins, a null value
 * meaning "deleted". Talking to the broker only through librdkafka keeps the runtime portable
 * to any Kafka cluster.
 *
 * Thread-safe: the producer is shared; each write waits for its own acknowledgement. */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct connect_store connect_store_t;

/* Connects to bootstrap and creates the topics that are missing (1 partition,
 * cleanup.policy=compact). */
connect_store_t *connect_store_new(const char *bootstrap, const char *const *topics, int ntopics, sb_err_t *err);
void connect_store_free(connect_store_t *s);
/* Creates a topic whose records never expire (retention.ms and retention.bytes -1), unless it
 * exists: for records someone must act on or may need to show later — a sink's DLQ, the
 * erasure audit trail — which the broker's default retention (7 days) would silently drop. */
void connect_store_create_kept_topic(connect_store_t *s, const char *topic);

/* Queues a write without waiting for the broker: for records that are informational (task
 * status), whose write must not hold a task — or a shutdown — while the broker is away. A
 * failure is logged when librdkafka reports it. */
int connect_store_send(connect_store_t *s, const char *topic, const char *key, const char *value, sb_err_t *err);

/* Called for each record of a topic in offset order; value NULL (len -1) = tombstone. */
typedef void (*connect_store_record_fn)(void *arg, const char *key, size_t key_len, const char *value,
                                        int32_t value_len);

/* Reads every partition of topic from the beginning up to the end it has when called. */
int connect_store_read_all(connect_store_t *s, const char *topic, connect_store_record_fn fn, void *arg,
                           sb_err_t *err);

/* Writes key = value (NULL = tombstone) with acks=all and waits until the broker has it. */
int connect_store_write(connect_store_t *s, const char *topic, const char *key, const char *value, sb_err_t *err);

/* True when the broker answered a metadata request within timeout_ms. */
int connect_store_broker_reachable(connect_store_t *s, int timeout_ms);

/* Common librdkafka settings of every client the runtime creates (bootstrap, client id,
 * quiet logging). Returns an rd_kafka_conf_t * (void * here so the header does not pull in
 * rdkafka.h). */
void *connect_kafka_conf_new(const char *bootstrap, const char *client_id);
/* conf_set that turns a failure into sb_err_t. */
int connect_kafka_conf_set(void *conf, const char *name, const char *value, sb_err_t *err);

#endif
