/* A fake broker for the group coordinator's tests and fuzz driver: it implements the part of
 * broker/broker.h the coordinator calls (deferred slots, durability callbacks, topics, identity)
 * in memory, so the tests exercise the real coordinator, codec and offsets log code.
 * Durability callbacks are queued and run by fake_run_durable(), which lets a test observe a
 * commit before and after it is durable. Include from exactly one .c file. */
#ifndef STREAMBUS_TEST_GROUP_HARNESS_H
#define STREAMBUS_TEST_GROUP_HARNESS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker.h"
#include "broker/group/coordinator.h"
#include "broker/handlers/handlers.h"

struct kslot {
    sb_wr_t w;
    int16_t api_version;
    bool completed;
    bool orphaned;
    int completion_seq; /* order in which slots were completed, from 1 */
};

struct net_conn {
    const char *host;
};

struct topic {
    const char *name;
    int32_t partitions;
};

typedef struct fake_durable {
    broker_durable_cb cb;
    void *arg;
} fake_durable_t;

struct broker {
    group_coordinator_t *gc;
    struct topic topics[4];
    int topic_count;
    fake_durable_t durable[256];
    int durable_count;
    int durable_error; /* passed to callbacks by fake_run_durable */
    int completions;
    struct net_conn conn;
    /* The authorizer as the coordinator sees it: every check is allowed except `op` on the
     * resource named deny_name (NULL: nothing denied). */
    int deny_op;
    const char *deny_name;
    int denials;
};

sb_wr_t *kslot_writer(kslot_t *slot)
{
    return &slot->w;
}

void kslot_complete(broker_t *b, kslot_t *slot)
{
    slot->completed = true;
    slot->completion_seq = ++b->completions;
}

bool kslot_orphaned(const kslot_t *slot)
{
    return slot->orphaned;
}

int16_t kslot_api_version(const kslot_t *slot)
{
    return slot->api_version;
}

void broker_after_durable(broker_t *b, plog_t *log, int64_t offset, broker_durable_cb cb, void *arg)
{
    (void)log;
    (void)offset;
    if (b->durable_count == (int)(sizeof(b->durable) / sizeof(b->durable[0]))) {
        cb(b, arg, SB_ELIMIT);
        return;
    }
    b->durable[b->durable_count].cb = cb;
    b->durable[b->durable_count].arg = arg;
    b->durable_count++;
}

/* Runs the queued durability callbacks in the order they were registered. */
static inline void fake_run_durable(broker_t *b)
{
    for (int i = 0; i < b->durable_count; i++) b->durable[i].cb(b, b->durable[i].arg, b->durable_error);
    b->durable_count = 0;
}

topic_t *broker_topic_find(broker_t *b, const char *name, int32_t name_len)
{
    for (int i = 0; i < b->topic_count; i++) {
        if ((int32_t)strlen(b->topics[i].name) == name_len && memcmp(b->topics[i].name, name, (size_t)name_len) == 0)
            return &b->topics[i];
    }
    return NULL;
}

int32_t topic_partition_count(const topic_t *t)
{
    return t->partitions;
}

int32_t broker_node_id(const broker_t *b)
{
    (void)b;
    return 7;
}

const char *broker_advertised_host(const broker_t *b)
{
    (void)b;
    return "broker.test";
}

int32_t broker_advertised_port(const broker_t *b)
{
    (void)b;
    return 19092;
}

const char *broker_advertised_host_for(const broker_t *b, const conn_t *c)
{
    (void)c;
    return broker_advertised_host(b);
}

int32_t broker_advertised_port_for(const broker_t *b, const conn_t *c)
{
    (void)c;
    return broker_advertised_port(b);
}

group_coordinator_t *broker_groups(broker_t *b)
{
    return b->gc;
}

const char *conn_peer_host(const conn_t *c)
{
    return c->host;
}

bool broker_authorize(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len)
{
    (void)req;
    (void)resource_type;
    bool denied = b->deny_name && op == b->deny_op && len == (int32_t)strlen(b->deny_name) &&
                  memcmp(name, b->deny_name, (size_t)len) == 0;
    b->denials += denied;
    return !denied;
}

bool broker_authorize_quiet(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len)
{
    return broker_authorize(b, req, op, resource_type, name, len);
}

bool broker_authorize_any(broker_t *b, const kreq_t *req, int op, int resource_type)
{
    return true;
}

static inline void fake_broker_init(broker_t *b)
{
    memset(b, 0, sizeof(*b));
    b->conn.host = "/127.0.0.1";
    b->topics[0] = (struct topic){"orders", 3};
    b->topics[1] = (struct topic){"payments", 1};
    b->topic_count = 2;
}

static inline kslot_t *fake_slot_new(int16_t version)
{
    kslot_t *s = calloc(1, sizeof(*s));
    sb_wr_init(&s->w, 64);
    s->api_version = version;
    return s;
}

static inline void fake_slot_free(kslot_t *s)
{
    if (!s) return;
    sb_wr_deinit(&s->w);
    free(s);
}

/* Sends one request body to a handler the way the dispatcher would. Returns the slot, which
 * holds the response once `completed` is set (immediately for DONE). *rc gets the handler's
 * return code. */
static inline kslot_t *fake_call(broker_t *b, kafka_handler_fn handler, int16_t api_key, int16_t version,
                                 const char *client_id, const sb_wr_t *body, int *rc)
{
    kslot_t *slot = fake_slot_new(version);
    kreq_t req;
    memset(&req, 0, sizeof(req));
    req.api_key = api_key;
    req.api_version = version;
    req.correlation_id = 1;
    req.client_id.p = (const uint8_t *)client_id;
    req.client_id.len = client_id ? (int32_t)strlen(client_id) : -1;
    req.conn = &b->conn;
    req.slot = slot;
    sb_rd_init(&req.body, body->buf ? body->buf : (const uint8_t *)"", body->len);
    sb_wr_t resp;
    sb_wr_init(&resp, 64);
    int r = handler(b, &req, &resp);
    if (r == KAFKA_HANDLER_DONE) {
        sb_wr_bytes(&slot->w, resp.buf, resp.len);
        kslot_complete(b, slot);
    }
    sb_wr_deinit(&resp);
    if (rc) *rc = r;
    return slot;
}

#endif
