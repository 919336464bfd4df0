#ifndef STREAMBUS_CTL_CTL_CLIENT_H
#define STREAMBUS_CTL_CTL_CLIENT_H

/* The librdkafka handle behind `streambus ctl`, and the one helper every admin call needs:
 * wait for its result event while keeping track of why the cluster could not be reached.
 *
 * ctl deliberately uses only librdkafka's public admin API (no StreamBus-specific calls), so
 * it works against any Kafka cluster. Single-threaded use from the CLI's main thread; the
 * error callback runs on that same thread via rd_kafka_poll. */

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "common/err.h"
#include "ctl/ctl_args.h"

typedef struct ctl_client {
    rd_kafka_t *rk;
    rd_kafka_queue_t *results; /* admin results arrive here */
    const char *bootstrap;     /* borrowed from the args */
    int timeout_ms;
    /* Last broker-connection error librdkafka reported (e.g. "Connection refused"), kept so
     * that a timeout can say *why* nothing answered instead of only that nothing did. */
    char last_transport_error[256];
    /* False when -X asks for TLS or SASL: the raw IncrementalAlterConfigs connection below
     * speaks plaintext only, so it must not be used then. */
    bool raw_plaintext_ok;
    /* The error of the last result event ctl_client_wait saw (NO_ERROR if none), so that a
     * caller can reword a request-level error librdkafka describes poorly. */
    rd_kafka_resp_err_t last_event_error;
} ctl_client_t;

/* Creates the handle from the global options in args (bootstrap, timeout, -X properties).
 * The struct must stay at its address until ctl_client_deinit (librdkafka keeps a pointer). */
int ctl_client_init(ctl_client_t *client, const ctl_args_t *args, sb_err_t *err);
void ctl_client_deinit(ctl_client_t *client);

/* Admin options with the request timeout set to the CLI timeout; for operations that the
 * broker completes asynchronously (create/delete topics, partitions) also the operation
 * timeout, so "created" means created. Returns NULL when librdkafka is out of memory. */
rd_kafka_AdminOptions_t *ctl_client_admin_options(ctl_client_t *client, rd_kafka_admin_op_t op,
                                                  sb_err_t *err);

/* Waits for the result of the admin call just issued on client->results. On success returns
 * 0 and *event_out (caller destroys it with rd_kafka_event_destroy). A request-level failure
 * (unreachable cluster, timeout, unsupported API) returns SB_EIO with a message that starts
 * with `what` (e.g. "creating topic \"x\"") and ends with the error name. */
int ctl_client_wait(ctl_client_t *client, rd_kafka_event_type_t type, const char *what,
                    rd_kafka_event_t **event_out, sb_err_t *err);

/* Formats the failure of a synchronous librdkafka call (metadata, watermarks). */
int ctl_client_fail(ctl_client_t *client, rd_kafka_resp_err_t code, const char *what, sb_err_t *err);

/* Fetches metadata for all topics (never a single topic by name: asking for one topic by
 * name can make a broker with auto.create.topics.enable create it). */
int ctl_client_metadata(ctl_client_t *client, const struct rd_kafka_metadata **md_out, sb_err_t *err);

/* ---- IncrementalAlterConfigs (KIP-339) on a raw connection ----
 *
 * librdkafka 2.0.2 has no IncrementalAlterConfigs, and AlterConfigs replaces a resource's
 * whole config set, so a read-merge-write from the CLI loses a change made by someone else in
 * between. This sends IncrementalAlterConfigs v0 itself, on one plaintext connection to the
 * first bootstrap address that accepts it: the broker applies each SET/DELETE to the stored
 * set, so concurrent runs that change different keys all take effect. */

typedef enum {
    CTL_IAC_DONE = 0,     /* the broker answered; *error_code says how the resource fared */
    CTL_IAC_UNSUPPORTED,  /* cannot be used here: the client config needs TLS/SASL, or the
                             broker does not implement the API (closed the connection or
                             answered UNSUPPORTED_VERSION) */
} ctl_iac_outcome_t;

/* One TOPIC resource; ops are (key, value) pairs, a NULL value meaning DELETE. On
 * CTL_IAC_DONE, *error_code is the resource's Kafka error code and msg its message (may be
 * empty). A transport failure (nothing reachable, timeout) returns SB_EIO in the same words
 * as the other ctl calls. */
int ctl_client_incremental_alter_topic(ctl_client_t *client, const char *topic, const ctl_kv_t *ops, size_t nops,
                                       bool validate_only, ctl_iac_outcome_t *outcome, int16_t *error_code,
                                       char *msg, size_t msg_cap, sb_err_t *err);

/* Decodes an IncrementalAlterConfigs v0 response body (after the correlation id) for one
 * resource. Returns 0, or SB_EINVAL when the bytes are malformed. Exposed for the unit test. */
int ctl_iac_parse_response(const uint8_t *body, size_t len, int16_t *error_code, char *msg, size_t msg_cap);

#endif
