/* Topic administration: CreateTopics (v0–v4), DeleteTopics (v0–v3), CreatePartitions
 * (v0–v1), and InitProducerId (v0–v1) for idempotent producers. The config APIs are in
 * configs.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "common/log.h"
#include "kafka/protocol.h"

#define MAX_TOPIC_CONFIGS 64

static char *slice_dup(sb_slice_t s)
{
    return s.len < 0 ? NULL : strndup((const char *)s.p, (size_t)s.len);
}

/* Reads a CreateTopics manual replica assignment ([PartitionIndex, BrokerIds]) and checks it the
 * way Kafka's controller does, for a cluster of this one broker: partitions 0..n-1 in order, each
 * with the same non-empty list of distinct, registered brokers — here exactly this node.
 * Returns KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT with a message naming the problem, or 0. */
static int16_t check_assignments(broker_t *b, sb_rd_t *rd, int32_t na, char *msg, size_t cap)
{
    int16_t err = KAFKA_ERR_NONE;
    int32_t first_nb = -1;
    int32_t self = broker_node_id(b);
    for (int32_t j = 0; j < na && sb_rd_ok(rd); j++) {
        int32_t index = sb_rd_i32(rd);
        int32_t nb = sb_rd_array(rd, false, 4);
        bool seen_self = false;
        for (int32_t k = 0; k < nb && sb_rd_ok(rd); k++) {
            int32_t id = sb_rd_i32(rd);
            if (err) continue;
            if (id != self) {
                err = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(msg, cap, "The manual partition assignment includes broker %d, but no such broker is "
                                   "registered (this cluster is broker %d alone).", id, self);
            } else if (seen_self) {
                err = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(msg, cap, "The manual partition assignment includes the broker %d more than once.", id);
            }
            seen_self = true;
        }
        if (err || !sb_rd_ok(rd)) continue;
        if (index != j) {
            err = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, cap, "The manual partition assignment must list partitions 0..%d in order; entry %d is "
                               "partition %d.", na - 1, j, index);
        } else if (nb <= 0) {
            err = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, cap, "The manual partition assignment includes an empty replica list (partition %d).", index);
        } else if (first_nb >= 0 && nb != first_nb) {
            err = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, cap, "All partitions in the manual partition assignment must have the same number of "
                               "replicas.");
        }
        first_nb = nb;
    }
    return err;
}

int handle_CreateTopics(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    int32_t n = sb_rd_array(rd, false, 12);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    /* Decode everything first: validate_only sits after the topic list. */
    sb_rd_t topics_rd = *rd;
    for (int32_t i = 0; i < n; i++) {
        sb_rd_string(rd);
        sb_rd_i32(rd);
        sb_rd_i16(rd);
        int32_t na = sb_rd_array(rd, false, 8);
        for (int32_t j = 0; j < na && sb_rd_ok(rd); j++) {
            sb_rd_i32(rd);
            int32_t nb = sb_rd_array(rd, false, 4);
            for (int32_t k = 0; k < nb && sb_rd_ok(rd); k++) sb_rd_i32(rd);
        }
        int32_t nc = sb_rd_array(rd, false, 4);
        for (int32_t j = 0; j < nc && sb_rd_ok(rd); j++) {
            sb_rd_string(rd);
            sb_rd_string(rd);
        }
    }
    sb_rd_i32(rd); /* timeout_ms */
    bool validate_only = v >= 1 ? sb_rd_bool(rd) : false;
    if (!sb_rd_ok(rd)) return -1;

    if (v >= 2) sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, false, n);
    for (int32_t i = 0; i < n; i++) {
        sb_slice_t name = sb_rd_string(&topics_rd);
        int32_t nparts = sb_rd_i32(&topics_rd);
        int16_t rf = sb_rd_i16(&topics_rd);
        int32_t na = sb_rd_array(&topics_rd, false, 8);
        char amsg[sizeof(((sb_err_t *)0)->msg)] = "";
        int16_t aerr = check_assignments(b, &topics_rd, na, amsg, sizeof(amsg));
        int32_t nc = sb_rd_array(&topics_rd, false, 4);
        char *cfg_names[MAX_TOPIC_CONFIGS], *cfg_values[MAX_TOPIC_CONFIGS];
        int ncfg = 0;
        for (int32_t j = 0; j < nc; j++) {
            sb_slice_t k = sb_rd_string(&topics_rd), val = sb_rd_string(&topics_rd);
            if (ncfg < MAX_TOPIC_CONFIGS) {
                cfg_names[ncfg] = slice_dup(k);
                cfg_values[ncfg] = slice_dup(val);
                ncfg++;
            }
        }
        char *tname = slice_dup(name);
        int16_t err = KAFKA_ERR_NONE;
        char msg[sizeof(((sb_err_t *)0)->msg)] = "";
        bool manual = na > 0;
        if (manual && (nparts != -1 || rf != -1)) {
            aerr = KAFKA_ERR_INVALID_REQUEST;
            snprintf(amsg, sizeof(amsg), "Both numPartitions or replicationFactor and replicasAssignments were set. "
                                         "Both cannot be used at the same time.");
        }
        /* A manual assignment names every partition: its length is the partition count. */
        if (manual) nparts = na;
        else if (nparts == -1) nparts = b->opt.default_partitions;
        if (!broker_authorize_create_topic(b, req, name)) {
            err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed: CREATE on the cluster or on the topic is needed.");
        } else if (!tname || !topic_name_valid(tname, strlen(tname))) {
            err = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
            snprintf(msg, sizeof(msg), "invalid topic name");
        } else if (broker_topic_find(b, tname, (int32_t)strlen(tname))) {
            err = KAFKA_ERR_TOPIC_ALREADY_EXISTS;
            snprintf(msg, sizeof(msg), "Topic '%s' already exists.", tname);
        } else if (nparts < 1 || nparts > b->opt.max_partitions_per_topic) {
            err = KAFKA_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "Number of partitions must be between 1 and %d (broker.max_partitions_per_topic).",
                     b->opt.max_partitions_per_topic);
        } else if (aerr) {
            err = aerr;
            snprintf(msg, sizeof(msg), "%s", amsg);
        } else if (rf != -1 && rf != 1) {
            err = KAFKA_ERR_INVALID_REPLICATION_FACTOR;
            snprintf(msg, sizeof(msg), "Replication factor: %d larger than available brokers: 1.", rf);
        } else if (ncfg > 0 && nc > MAX_TOPIC_CONFIGS) {
            err = KAFKA_ERR_INVALID_CONFIG;
            snprintf(msg, sizeof(msg), "too many configs");
        } else if (validate_only) {
            /* Kafka validates the configs of a validate_only request like a real one
             * (librdkafka's 0081 expects INVALID_CONFIG for an unknown key). */
            for (int j = 0; j < ncfg && !err; j++) {
                sb_err_t e = {0};
                if (topic_config_check(cfg_names[j], cfg_values[j], NULL, &e) < 0) {
                    err = KAFKA_ERR_INVALID_CONFIG;
                    snprintf(msg, sizeof(msg), "%s", e.msg);
                }
            }
        } else {
            sb_err_t e = {0};
            if (topic_create(b, tname, nparts, (const char *const *)cfg_names, (const char *const *)cfg_values, ncfg,
                             NULL, &e) < 0) {
                err = e.code == SB_EINVAL ? KAFKA_ERR_INVALID_CONFIG : KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                snprintf(msg, sizeof(msg), "%s", e.msg);
            }
        }
        sb_wr_strn(resp, false, name.p, name.len);
        sb_wr_i16(resp, err);
        if (v >= 1) sb_wr_str(resp, false, err ? msg : NULL);
        for (int j = 0; j < ncfg; j++) {
            free(cfg_names[j]);
            free(cfg_values[j]);
        }
        free(tname);
    }
    return KAFKA_HANDLER_DONE;
}

int handle_DeleteTopics(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    int32_t n = sb_rd_array(rd, false, 2);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    sb_rd_t names = *rd;
    for (int32_t i = 0; i < n; i++) sb_rd_string(rd);
    sb_rd_i32(rd); /* timeout_ms */
    if (!sb_rd_ok(rd)) return -1;
    if (v >= 1) sb_wr_i32(resp, 0);
    sb_wr_array(resp, false, n);
    for (int32_t i = 0; i < n; i++) {
        sb_slice_t name = sb_rd_string(&names);
        topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
        int16_t err = KAFKA_ERR_NONE;
        if (!broker_authorize_topic(b, req, ACL_OP_DELETE, name)) err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
        else if (!t) err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        else if (t->internal) err = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
        else {
            sb_err_t e = {0};
            if (topic_delete(b, t, &e) < 0) err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
        sb_wr_strn(resp, false, name.p, name.len);
        sb_wr_i16(resp, err);
    }
    return KAFKA_HANDLER_DONE;
}

int handle_CreatePartitions(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int32_t n = sb_rd_array(rd, false, 8);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    sb_rd_t topics_rd = *rd;
    for (int32_t i = 0; i < n; i++) {
        sb_rd_string(rd);
        sb_rd_i32(rd);
        int32_t na = sb_rd_array(rd, false, 4);
        for (int32_t j = 0; j < na && sb_rd_ok(rd); j++) {
            int32_t nb = sb_rd_array(rd, false, 4);
            for (int32_t k = 0; k < nb && sb_rd_ok(rd); k++) sb_rd_i32(rd);
        }
    }
    sb_rd_i32(rd); /* timeout_ms */
    bool validate_only = sb_rd_bool(rd);
    if (!sb_rd_ok(rd)) return -1;
    sb_wr_i32(resp, 0);
    sb_wr_array(resp, false, n);
    for (int32_t i = 0; i < n; i++) {
        sb_slice_t name = sb_rd_string(&topics_rd);
        int32_t count = sb_rd_i32(&topics_rd);
        int32_t na = sb_rd_array(&topics_rd, false, 4);
        for (int32_t j = 0; j < na; j++) {
            int32_t nb = sb_rd_array(&topics_rd, false, 4);
            for (int32_t k = 0; k < nb; k++) sb_rd_i32(&topics_rd);
        }
        topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
        int16_t err = KAFKA_ERR_NONE;
        char msg[sizeof(((sb_err_t *)0)->msg)] = "";
        if (!broker_authorize_topic(b, req, ACL_OP_ALTER, name)) {
            err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "Authorization failed: ALTER on the topic is needed.");
        } else if (!t) {
            err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(msg, sizeof(msg), "topic does not exist");
        } else if (count > b->opt.max_partitions_per_topic) {
            err = KAFKA_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "%d partitions is above broker.max_partitions_per_topic=%d.", count,
                     b->opt.max_partitions_per_topic);
        } else if (count <= t->npartitions) {
            err = KAFKA_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "Topic currently has %d partitions, which is higher than or equal to the requested %d.",
                     t->npartitions, count);
        } else if (!validate_only) {
            sb_err_t e = {0};
            if (topic_add_partitions(b, t, count, &e) < 0) {
                err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                snprintf(msg, sizeof(msg), "%s", e.msg);
            }
        }
        sb_wr_strn(resp, false, name.p, name.len);
        sb_wr_i16(resp, err);
        sb_wr_str(resp, false, err ? msg : NULL);
    }
    return KAFKA_HANDLER_DONE;
}

int handle_InitProducerId(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    sb_slice_t txn = sb_rd_string(rd);
    sb_rd_i32(rd); /* transaction_timeout_ms */
    if (!sb_rd_ok(rd)) return -1;
    int16_t err = KAFKA_ERR_NONE;
    int64_t pid = -1;
    if (txn.len >= 0) {
        /* Transactions are not implemented; say so rather than pretend. */
        sb_warn("producer", "refusing InitProducerId with a transactional id: transactions are not supported");
        err = KAFKA_ERR_INVALID_REQUEST;
    } else if (!broker_authorize_idempotent_write(b, req)) {
        err = KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED;
    } else {
        sb_err_t e = {0};
        if (producer_ids_next(&b->pids, &pid, &e) < 0) {
            sb_error("producer", "cannot allocate a producer id: %s", e.msg);
            err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
    sb_wr_i32(resp, 0);
    sb_wr_i16(resp, err);
    sb_wr_i64(resp, pid);
    sb_wr_i16(resp, err ? -1 : 0);
    return KAFKA_HANDLER_DONE;
}
