#ifndef STREAMBUS_BROKER_BROKER_H
#define STREAMBUS_BROKER_BROKER_H

/* The broker: one network thread (epoll) that owns every connection, topic and group, plus one
 * flusher thread that fdatasyncs logs (group commit) and hands completions back through an
 * eventfd. Everything in this header is called on the network thread unless it says otherwise.
 * See docs/broker.md for the request life cycle and docs/locking.md for the threads. */

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct broker broker_t;
typedef struct net_conn conn_t; /* a client connection (src/net/conn.h) */
typedef struct kslot kslot_t;
typedef struct plog plog_t;
typedef struct group_coordinator group_coordinator_t;

/* One decoded request header plus the unread body. Valid during the handler call only;
 * a handler that answers later copies what it needs and keeps the kslot_t. */
typedef struct kreq {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    sb_slice_t client_id; /* may be null (len -1) */
    bool flexible;        /* body uses compact strings/arrays and tagged fields */
    sb_rd_t body;         /* bounded reader positioned after the request header */
    conn_t *conn;
    kslot_t *slot; /* this request's place in the connection's in-order response queue */
} kreq_t;

/* What a handler returns. */
enum {
    KAFKA_HANDLER_DONE = 0,        /* the response body is in `resp` */
    KAFKA_HANDLER_NO_RESPONSE = 1, /* nothing is sent (Produce with acks=0) */
    KAFKA_HANDLER_DEFERRED = 2,    /* kslot_complete() will be called later */
    /* < 0: the request was malformed; the connection is closed and the reason logged. */
};

/* A handler decodes req->body, acts, and encodes the response body (without the response
 * header, which the server writes) into resp. */
typedef int (*kafka_handler_fn)(broker_t *b, kreq_t *req, sb_wr_t *resp);

/* ----- deferred responses ----- */

/* The writer of a deferred slot: write the response body here, then call kslot_complete().
 * Valid until kslot_complete(). */
sb_wr_t *kslot_writer(kslot_t *slot);
/* Marks a deferred response finished; it is sent once every earlier response on the same
 * connection has been sent (Kafka answers in request order). If the connection closed in the
 * meantime the slot is just freed. */
void kslot_complete(broker_t *b, kslot_t *slot);
/* True when the slot's connection has gone away (the answer would be discarded). */
bool kslot_orphaned(const kslot_t *slot);
int16_t kslot_api_version(const kslot_t *slot);

/* ----- durability ----- */

/* Calls cb on the network thread once every offset < `offset` of `log` is on disk (fdatasync by
 * the flusher thread; many waiters share one fsync). err is 0 or a negative SB_E* code. The
 * callbacks of one log run in the order they were registered, which is offset order when each
 * registration names the log's end offset; the group coordinator relies on this. */
typedef void (*broker_durable_cb)(broker_t *b, void *arg, int err);
void broker_after_durable(broker_t *b, plog_t *log, int64_t offset, broker_durable_cb cb, void *arg);

/* ----- topics ----- */

typedef struct topic topic_t;
/* Finds a topic by name; NULL when missing. */
topic_t *broker_topic_find(broker_t *b, const char *name, int32_t name_len);
int32_t topic_partition_count(const topic_t *t);
const char *topic_name(const topic_t *t);
/* The log of one partition, or NULL when out of range. */
plog_t *topic_partition_log(topic_t *t, int32_t partition);

/* ----- identity and config the handlers need ----- */
int32_t broker_node_id(const broker_t *b);
/* The first listener's advertised address. */
const char *broker_advertised_host(const broker_t *b);
int32_t broker_advertised_port(const broker_t *b);
/* The advertised address of the listener connection c came in on (Kafka answers Metadata,
 * FindCoordinator and DescribeCluster with the endpoint of the request's listener). */
const char *broker_advertised_host_for(const broker_t *b, const conn_t *c);
int32_t broker_advertised_port_for(const broker_t *b, const conn_t *c);
group_coordinator_t *broker_groups(broker_t *b);
const struct broker_options *broker_options(const broker_t *b);
/* The client's address as Kafka reports it in DescribeGroups ("/127.0.0.1"). */
const char *conn_peer_host(const conn_t *c);
const char *broker_data_dir(const broker_t *b);

#endif
