/* DescribeCluster (v0, flexible) and DescribeLogDirs (v0–v3; v2+ flexible): what operator
 * tools ask about the cluster's brokers and the disk use of each partition. This node is the
 * whole cluster and its controller; its one log directory is broker.data_dir. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "kafka/protocol.h"

int handle_DescribeCluster(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    sb_rd_bool(rd); /* include_cluster_authorized_operations: we compute none */
    sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) return -1;
    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_i16(resp, KAFKA_ERR_NONE);
    sb_wr_str(resp, true, NULL); /* error_message */
    sb_wr_str(resp, true, BROKER_CLUSTER_ID);
    sb_wr_i32(resp, broker_node_id(b)); /* controller_id */
    sb_wr_array(resp, true, 1);
    sb_wr_i32(resp, broker_node_id(b));
    sb_wr_str(resp, true, broker_advertised_host_for(b, req->conn));
    sb_wr_i32(resp, broker_advertised_port_for(b, req->conn));
    sb_wr_str(resp, true, NULL); /* rack */
    sb_wr_tags(resp, true);
    sb_wr_i32(resp, INT32_MIN); /* cluster_authorized_operations: not computed */
    sb_wr_tags(resp, true);
    return KAFKA_HANDLER_DONE;
}

/* ---- DescribeLogDirs ---- */

typedef struct logdirs_out {
    sb_wr_t *w;
    bool c;
    bool count_only;
    int32_t count;
} logdirs_out_t;

static void write_partition(logdirs_out_t *o, partition_t *p)
{
    o->count++;
    if (o->count_only) return;
    sb_wr_i32(o->w, p->index);
    sb_wr_i64(o->w, (int64_t)plog_size_bytes(p->log));
    sb_wr_i64(o->w, 0);      /* offset_lag: the high watermark is the log end here */
    sb_wr_bool(o->w, false); /* is_future_key */
    sb_wr_tags(o->w, o->c);
}

static void write_whole_topic(logdirs_out_t *o, topic_t *t)
{
    sb_wr_str(o->w, o->c, t->name);
    sb_wr_array(o->w, o->c, t->npartitions);
    for (int32_t i = 0; i < t->npartitions; i++)
        write_partition(o, t->partitions[i]);
    sb_wr_tags(o->w, o->c);
}

static void all_topics_cb(void *arg, topic_t *t)
{
    logdirs_out_t *o = arg;
    if (o->count_only)
        o->count++;
    else
        write_whole_topic(o, t);
}

int handle_DescribeLogDirs(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    bool c = req->flexible;
    int32_t ntopics = sb_rd_array(rd, c, 6); /* -1 (null): every topic */
    sb_rd_t topics_rd = *rd;
    for (int32_t i = 0; i < ntopics && sb_rd_ok(rd); i++) {
        sb_rd_str(rd, c);
        int32_t np = sb_rd_array(rd, c, 4);
        for (int32_t j = 0; j < np && sb_rd_ok(rd); j++)
            sb_rd_i32(rd);
        if (c) sb_rd_tags(rd);
    }
    if (c) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) return -1;

    if (!broker_authorize_cluster(b, req, ACL_OP_DESCRIBE)) {
        /* Kafka answers no log dirs (and, from v3, the error) to a principal without DESCRIBE. */
        sb_wr_i32(resp, 0);
        if (v >= 3) sb_wr_i16(resp, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
        sb_wr_array(resp, c, 0);
        sb_wr_tags(resp, c);
        return KAFKA_HANDLER_DONE;
    }
    char dir[PATH_MAX];
    if (!realpath(broker_data_dir(b), dir)) snprintf(dir, sizeof(dir), "%s", broker_data_dir(b));
    sb_wr_i32(resp, 0); /* throttle_time_ms */
    if (v >= 3) sb_wr_i16(resp, KAFKA_ERR_NONE);
    sb_wr_array(resp, c, 1);
    sb_wr_i16(resp, KAFKA_ERR_NONE);
    sb_wr_str(resp, c, dir);
    logdirs_out_t o = {.w = resp, .c = c};
    if (ntopics < 0) {
        o.count_only = true;
        topics_foreach(b, all_topics_cb, &o);
        sb_wr_array(resp, c, o.count);
        o.count_only = false;
        topics_foreach(b, all_topics_cb, &o);
    } else {
        /* Topics we do not host are left out, as Kafka leaves out what a log dir lacks. */
        int32_t present = 0;
        sb_rd_t r = topics_rd;
        for (int32_t i = 0; i < ntopics; i++) {
            sb_slice_t name = sb_rd_str(&r, c);
            int32_t np = sb_rd_array(&r, c, 4);
            for (int32_t j = 0; j < np; j++)
                sb_rd_i32(&r);
            if (c) sb_rd_tags(&r);
            present += broker_topic_find(b, (const char *)name.p, name.len) != NULL;
        }
        sb_wr_array(resp, c, present);
        r = topics_rd;
        for (int32_t i = 0; i < ntopics; i++) {
            sb_slice_t name = sb_rd_str(&r, c);
            int32_t np = sb_rd_array(&r, c, 4);
            sb_rd_t parts = r;
            for (int32_t j = 0; j < np; j++)
                sb_rd_i32(&r);
            if (c) sb_rd_tags(&r);
            topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
            if (!t) continue;
            sb_wr_str(resp, c, t->name);
            o.count_only = true;
            o.count = 0;
            for (int pass = 0; pass < 2; pass++) {
                sb_rd_t pr = parts;
                for (int32_t j = 0; j < np; j++) {
                    partition_t *p = topic_partition(t, sb_rd_i32(&pr));
                    if (p) write_partition(&o, p);
                }
                if (pass == 0) {
                    sb_wr_array(resp, c, o.count);
                    o.count_only = false;
                }
            }
            sb_wr_tags(resp, c);
        }
    }
    sb_wr_tags(resp, c); /* the result */
    sb_wr_tags(resp, c);
    return KAFKA_HANDLER_DONE;
}
