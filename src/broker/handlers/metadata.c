/* Metadata (v0–v8): this node is the only broker and leads every partition. Topics are
 * auto-created on request when the broker allows it (and, from v4, when the client asks). */
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "kafka/protocol.h"

static void write_topic(broker_t *b, sb_wr_t *w, int16_t v, int16_t err, const char *name, int32_t nlen, topic_t *t)
{
    sb_wr_i16(w, err);
    sb_wr_strn(w, false, name, nlen);
    if (v >= 1) sb_wr_bool(w, t && t->internal);
    int32_t np = t && !err ? t->npartitions : 0;
    sb_wr_array(w, false, np);
    for (int32_t i = 0; i < np; i++) {
        sb_wr_i16(w, KAFKA_ERR_NONE);
        sb_wr_i32(w, i);
        sb_wr_i32(w, broker_node_id(b)); /* leader */
        if (v >= 7) sb_wr_i32(w, 0);     /* leader_epoch */
        sb_wr_array(w, false, 1);        /* replicas */
        sb_wr_i32(w, broker_node_id(b));
        sb_wr_array(w, false, 1); /* isr */
        sb_wr_i32(w, broker_node_id(b));
        if (v >= 5) sb_wr_array(w, false, 0); /* offline_replicas */
    }
    if (v >= 8) sb_wr_i32(w, INT32_MIN); /* topic_authorized_operations: not computed */
}

typedef struct all_topics_ctx {
    broker_t *b;
    const kreq_t *req;
    sb_wr_t *w;
    int16_t v;
    int32_t count;
    bool count_only;
} all_topics_ctx_t;

static void all_topics_cb(void *arg, topic_t *t)
{
    all_topics_ctx_t *c = arg;
    /* Listing all topics shows only those the principal may DESCRIBE (not a denial). */
    if (!broker_authorize_quiet(c->b, c->req, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, t->name, (int32_t)strlen(t->name)))
        return;
    c->count++;
    if (!c->count_only) write_topic(c->b, c->w, c->v, 0, t->name, (int32_t)strlen(t->name), t);
}

int handle_Metadata(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    int32_t n = sb_rd_array(rd, false, 2);
    /* v0 has no null array: an empty list means all topics. */
    bool all = n < 0 || (v == 0 && n == 0);
    sb_rd_t names = *rd;
    for (int32_t i = 0; i < n; i++) sb_rd_string(rd);
    bool allow_create = true;
    if (v >= 4) allow_create = sb_rd_bool(rd);
    if (v >= 8) {
        sb_rd_bool(rd); /* include_cluster_authorized_operations */
        sb_rd_bool(rd); /* include_topic_authorized_operations */
    }
    if (!sb_rd_ok(rd)) return -1;

    if (v >= 3) sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, false, 1);
    sb_wr_i32(resp, broker_node_id(b));
    sb_wr_str(resp, false, broker_advertised_host_for(b, req->conn));
    sb_wr_i32(resp, broker_advertised_port_for(b, req->conn));
    if (v >= 1) sb_wr_str(resp, false, NULL); /* rack */
    if (v >= 2) sb_wr_str(resp, false, BROKER_CLUSTER_ID);
    if (v >= 1) sb_wr_i32(resp, broker_node_id(b)); /* controller_id */
    if (all) {
        all_topics_ctx_t c = {b, req, resp, v, 0, true};
        topics_foreach(b, all_topics_cb, &c);
        sb_wr_array(resp, false, c.count);
        c.count_only = false;
        topics_foreach(b, all_topics_cb, &c);
    } else {
        sb_wr_array(resp, false, n);
        for (int32_t i = 0; i < n; i++) {
            sb_slice_t name = sb_rd_string(&names);
            topic_t *t = NULL;
            int16_t err = !broker_authorize_topic(b, req, ACL_OP_DESCRIBE, name)
                              ? (int16_t)KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED
                              : topic_get_or_create(b, name, allow_create && broker_may_auto_create_topic(b, req, name), &t);
            write_topic(b, resp, v, err, (const char *)name.p, name.len, t);
        }
    }
    if (v >= 8) sb_wr_i32(resp, INT32_MIN); /* cluster_authorized_operations */
    return KAFKA_HANDLER_DONE;
}
