/* Request dispatch: decodes the request header, checks the API version against what we
 * advertise, queues a response slot (so answers leave in request order) and calls the
 * handler. The table below is the single source of what the broker serves; ApiVersions
 * advertises exactly it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "broker/handlers/sasl_int.h"
#include "broker/metrics_broker.h"
#include "common/clock.h"
#include "common/log.h"
#include "kafka/protocol.h"

/* Version ranges: see /work/shared/notes/kafka-compat.md and docs/broker.md. Every range starts
 * at 0 because librdkafka enables features only when the advertised range overlaps. */
static const kafka_api_def_t api_table[] = {
    {KAFKA_API_Produce, 0, 8, 9, handle_Produce},
    {KAFKA_API_Fetch, 0, 11, 12, handle_Fetch},
    {KAFKA_API_ListOffsets, 0, 7, 6, handle_ListOffsets},
    {KAFKA_API_Metadata, 0, 8, 9, handle_Metadata},
    {KAFKA_API_OffsetCommit, 0, 7, 8, handle_OffsetCommit},
    {KAFKA_API_OffsetFetch, 0, 8, 6, handle_OffsetFetch},
    {KAFKA_API_FindCoordinator, 0, 2, 3, handle_FindCoordinator},
    {KAFKA_API_JoinGroup, 0, 5, 6, handle_JoinGroup},
    {KAFKA_API_Heartbeat, 0, 3, 4, handle_Heartbeat},
    {KAFKA_API_LeaveGroup, 0, 1, 4, handle_LeaveGroup},
    {KAFKA_API_SyncGroup, 0, 3, 4, handle_SyncGroup},
    {KAFKA_API_DescribeGroups, 0, 4, 5, handle_DescribeGroups},
    {KAFKA_API_ListGroups, 0, 4, 3, handle_ListGroups},
    {KAFKA_API_ApiVersions, 0, 3, 3, handle_ApiVersions},
    {KAFKA_API_CreateTopics, 0, 4, 5, handle_CreateTopics},
    {KAFKA_API_DeleteTopics, 0, 3, 4, handle_DeleteTopics},
    {KAFKA_API_InitProducerId, 0, 1, 2, handle_InitProducerId},
    {KAFKA_API_DescribeAcls, 0, 3, 2, handle_DescribeAcls},
    {KAFKA_API_CreateAcls, 0, 3, 2, handle_CreateAcls},
    {KAFKA_API_DeleteAcls, 0, 3, 2, handle_DeleteAcls},
    {KAFKA_API_DescribeConfigs, 0, 2, 4, handle_DescribeConfigs},
    {KAFKA_API_CreatePartitions, 0, 1, 2, handle_CreatePartitions},
    {KAFKA_API_DeleteGroups, 0, 1, 2, handle_DeleteGroups},
    {KAFKA_API_DeleteRecords, 0, 2, 2, handle_DeleteRecords},
    {KAFKA_API_AlterConfigs, 0, 2, 2, handle_AlterConfigs},
    {KAFKA_API_DescribeLogDirs, 0, 3, 2, handle_DescribeLogDirs},
    {KAFKA_API_IncrementalAlterConfigs, 0, 1, 1, handle_IncrementalAlterConfigs},
    {KAFKA_API_DescribeCluster, 0, 0, 0, handle_DescribeCluster},
    {KAFKA_API_OffsetDelete, 0, 0, -1, handle_OffsetDelete},
    {KAFKA_API_SaslHandshake, 0, 1, -1, handle_SaslHandshake},
    {KAFKA_API_SaslAuthenticate, 0, 2, 2, handle_SaslAuthenticate},
    {KAFKA_API_DescribeUserScramCredentials, 0, 0, 0, handle_DescribeUserScramCredentials},
    {KAFKA_API_AlterUserScramCredentials, 0, 0, 0, handle_AlterUserScramCredentials},
};

const kafka_api_def_t *kafka_api_table(int *n)
{
    *n = (int)(sizeof(api_table) / sizeof(api_table[0]));
    return api_table;
}

const kafka_api_def_t *kafka_api_lookup(int16_t api_key)
{
    for (size_t i = 0; i < sizeof(api_table) / sizeof(api_table[0]); i++)
        if (api_table[i].api_key == api_key) return &api_table[i];
    return NULL;
}

/* Writes the ApiVersions body: error code and the table (v0 layout when compact is false). */
static void write_api_versions(sb_wr_t *w, int16_t version, int16_t error)
{
    bool compact = version >= 3;
    int n;
    const kafka_api_def_t *t = kafka_api_table(&n);
    sb_wr_i16(w, error);
    sb_wr_array(w, compact, n);
    for (int i = 0; i < n; i++) {
        sb_wr_i16(w, t[i].api_key);
        sb_wr_i16(w, t[i].min_version);
        sb_wr_i16(w, t[i].max_version);
        sb_wr_tags(w, compact);
    }
    if (version >= 1) sb_wr_i32(w, 0); /* throttle_time_ms */
    sb_wr_tags(w, compact);
}

int handle_ApiVersions(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    if (req->api_version >= 3) {
        sb_rd_compact_string(&req->body); /* client_software_name */
        sb_rd_compact_string(&req->body); /* client_software_version */
        sb_rd_tags(&req->body);
        /* Tolerate a bad body: the answer is the same, and clients use it to recover. */
    }
    write_api_versions(resp, req->api_version, KAFKA_ERR_NONE);
    return KAFKA_HANDLER_DONE;
}

/* Opens the request's response slot at the tail of the connection's queue, with the response
 * header's correlation id written. */
static kslot_t *slot_new(conn_t *c, int16_t key, int16_t version, int32_t corr)
{
    kslot_t *s = (kslot_t *)net_slot_new(c, sizeof(kslot_t));
    if (!s) return NULL;
    s->api_key = key;
    s->api_version = version;
    s->correlation_id = corr;
    s->start_us = sb_mono_us();
    sb_wr_i32(&s->base.out, corr);
    return s;
}

int broker_dispatch(broker_t *b, conn_t *c, uint8_t *frame, size_t len)
{
    /* After SaslHandshake v0 the client's next frames are bare SASL tokens. */
    int raw = broker_sasl_raw_frame(b, c, frame, len);
    if (raw != 0) return raw < 0 ? -1 : 0;
    sb_rd_t rd;
    sb_rd_init(&rd, frame, len);
    kreq_t req = {0};
    req.api_key = sb_rd_i16(&rd);
    req.api_version = sb_rd_i16(&rd);
    req.correlation_id = sb_rd_i32(&rd);
    req.client_id = sb_rd_string(&rd); /* always a nullable INT16 string, even in header v2 */
    req.conn = c;
    if (!sb_rd_ok(&rd)) {
        net_conn_close(c, "malformed request header");
        return -1;
    }
    const kafka_api_def_t *def = kafka_api_lookup(req.api_key);
    if (!def) {
        char why[96];
        snprintf(why, sizeof(why), "unsupported api key %d (version %d)", req.api_key, req.api_version);
        sb_warn("net", "%s from %s", why, net_conn_security(c)->peer);
        net_conn_close(c, why);
        return -1;
    }
    if (req.api_version < def->min_version || req.api_version > def->max_version) {
        if (req.api_key == KAFKA_API_ApiVersions) {
            /* Kafka answers an ApiVersions it cannot parse with UNSUPPORTED_VERSION in a v0
             * body, so that the client can retry with a version we know. */
            kslot_t *s = slot_new(c, req.api_key, 0, req.correlation_id);
            if (!s) {
                net_conn_close(c, "out of memory");
                return -1;
            }
            write_api_versions(&s->base.out, 0, KAFKA_ERR_UNSUPPORTED_VERSION);
            net_slot_complete(&s->base);
            return 0;
        }
        char why[128];
        snprintf(why, sizeof(why), "unsupported version %d of %s (we serve %d..%d)", req.api_version,
                 kafka_api_name(req.api_key), def->min_version, def->max_version);
        sb_warn("net", "%s from %s", why, net_conn_security(c)->peer);
        net_conn_close(c, why);
        return -1;
    }
    /* SASL listeners: nothing but ApiVersions and the SASL exchange before authentication. */
    if (broker_sasl_check(b, c, req.api_key) < 0) return -1;
    req.flexible = def->first_flexible >= 0 && req.api_version >= def->first_flexible;
    /* Request header v2 (every flexible version, ApiVersions v3 included) carries a tag
     * section after the client id. */
    if (req.flexible) sb_rd_tags(&rd);
    if (!sb_rd_ok(&rd)) {
        net_conn_close(c, "malformed request header tags");
        return -1;
    }
    req.body = rd;

    kslot_t *s = slot_new(c, req.api_key, req.api_version, req.correlation_id);
    if (!s) {
        net_conn_close(c, "out of memory");
        return -1;
    }
    /* Response header v1 (flexible) has a tag section; ApiVersions always uses header v0. */
    if (req.flexible && req.api_key != KAFKA_API_ApiVersions) sb_wr_tags(&s->base.out, true);
    req.slot = s;

    broker_metrics_request_start(b->m, req.api_key);
    int rc = def->handler(b, &req, &s->base.out);
    if (net_conn_closed(c)) return -1;
    if (rc < 0) {
        char why[128];
        snprintf(why, sizeof(why), "malformed %s v%d request (correlation id %d)", kafka_api_name(req.api_key),
                 req.api_version, req.correlation_id);
        sb_warn("net", "%s from %s", why, net_conn_security(c)->peer);
        broker_metrics_request_error(b->m, req.api_key);
        net_slot_abandon(&s->base); /* a failing handler never keeps its slot: the close frees it */
        net_conn_close(c, why);
        return -1;
    }
    if (rc == KAFKA_HANDLER_NO_RESPONSE) {
        broker_metrics_request_done(b->m, req.api_key, sb_mono_us() - s->start_us, 0);
        net_slot_drop(&s->base);
        return 0;
    }
    if (rc == KAFKA_HANDLER_DEFERRED) return 0;
    if (s->base.out.oom) {
        net_conn_close(c, "out of memory building response");
        return -1;
    }
    kslot_complete(b, s);
    return 0;
}

/* ---- response slots (broker.h) ---- */

sb_wr_t *kslot_writer(kslot_t *slot)
{
    return &slot->base.out;
}

bool kslot_orphaned(const kslot_t *slot)
{
    return net_slot_orphaned(&slot->base);
}

int16_t kslot_api_version(const kslot_t *slot)
{
    return slot->api_version;
}

void kslot_complete(broker_t *b, kslot_t *slot)
{
    if (!net_slot_orphaned(&slot->base))
        broker_metrics_request_done(b->m, slot->api_key, sb_mono_us() - slot->start_us,
                                    sb_wr_total(&slot->base.out));
    net_slot_complete(&slot->base);
}

const char *conn_peer_host(const conn_t *c)
{
    return c ? net_conn_security_const(c)->peer_host : "";
}
