/* Produce (v0–v8). Batches are validated (magic, sizes, CRC-32C) and appended as received:
 * only the base offset is rewritten, the records are never decoded. acks=0 sends nothing,
 * acks=1 answers after the write, acks=-1 answers once the flusher has fdatasync'ed every
 * partition the request touched (group commit). */
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "broker/metrics_broker.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "kafka/record_batch.h"

typedef struct produce_part_result {
    int32_t index;
    int16_t error;
    int64_t base_offset;
    int64_t log_start_offset;
    int64_t log_append_time; /* -1 unless the topic stamps LogAppendTime */
    const char *error_message; /* static string or NULL */
} produce_part_result_t;

typedef struct produce_topic_result {
    char *name;
    int32_t nparts;
    produce_part_result_t *parts;
} produce_topic_result_t;

/* Kept alive until every durable wait of an acks=all request has come back. */
typedef struct produce_ctx {
    kslot_t *slot;
    int16_t version;
    int32_t ntopics;
    produce_topic_result_t *topics;
    int pending; /* outstanding durable waits + 1 while the handler runs */
} produce_ctx_t;

typedef struct produce_wait {
    produce_ctx_t *ctx;
    produce_part_result_t *part;
} produce_wait_t;

static void produce_ctx_free(produce_ctx_t *ctx)
{
    for (int32_t i = 0; i < ctx->ntopics; i++) {
        free(ctx->topics[i].name);
        free(ctx->topics[i].parts);
    }
    free(ctx->topics);
    free(ctx);
}

static void write_response(produce_ctx_t *ctx, sb_wr_t *w)
{
    int16_t v = ctx->version;
    sb_wr_array(w, false, ctx->ntopics);
    for (int32_t i = 0; i < ctx->ntopics; i++) {
        produce_topic_result_t *t = &ctx->topics[i];
        sb_wr_str(w, false, t->name);
        sb_wr_array(w, false, t->nparts);
        for (int32_t j = 0; j < t->nparts; j++) {
            produce_part_result_t *p = &t->parts[j];
            sb_wr_i32(w, p->index);
            sb_wr_i16(w, p->error);
            sb_wr_i64(w, p->error ? -1 : p->base_offset);
            if (v >= 2) sb_wr_i64(w, p->error ? -1 : p->log_append_time);
            if (v >= 5) sb_wr_i64(w, p->log_start_offset);
            if (v >= 8) {
                sb_wr_array(w, false, 0); /* record_errors */
                sb_wr_str(w, false, p->error ? p->error_message : NULL);
            }
        }
    }
    if (v >= 1) sb_wr_i32(w, 0); /* throttle_time_ms */
}

static void produce_ctx_release(broker_t *b, produce_ctx_t *ctx)
{
    if (--ctx->pending > 0) return;
    if (ctx->slot) {
        if (!kslot_orphaned(ctx->slot)) write_response(ctx, kslot_writer(ctx->slot));
        kslot_complete(b, ctx->slot);
    }
    produce_ctx_free(ctx);
}

static void on_durable(broker_t *b, void *arg, int err)
{
    produce_wait_t *w = arg;
    if (err) {
        w->part->error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        w->part->error_message = "fsync failed";
    }
    produce_ctx_t *ctx = w->ctx;
    free(w);
    produce_ctx_release(b, ctx);
}

static void put_be64(uint8_t *p, int64_t v)
{
    for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8)) p[i] = (uint8_t)v;
}

/* Applies the topic's produce policy (docs/configuration.md, "Topic configs") to validated
 * batches, as Kafka's log validator does: max.message.bytes per batch, min.insync.replicas
 * against acks=all, and for CreateTime topics the timestamp bounds, checked on each batch's
 * first and max timestamps (the records are not decoded). For LogAppendTime topics it stamps
 * every batch with now_ms: the timestamp-type bit and maxTimestamp change, so the CRC is
 * recomputed. Returns the partition's Kafka error code. */
static int16_t apply_produce_policy(const topic_t *t, int16_t acks, uint8_t *records, size_t len, int64_t now_ms,
                                    produce_part_result_t *res)
{
    if (acks == -1 && t->produce.min_insync_replicas > 1) {
        res->error_message = "min.insync.replicas is above the 1 replica in sync on this broker";
        return KAFKA_ERR_NOT_ENOUGH_REPLICAS;
    }
    bool check_ts = !t->produce.log_append_time &&
                    (t->produce.timestamp_before_max_ms != INT64_MAX || t->produce.timestamp_after_max_ms != INT64_MAX);
    for (size_t pos = 0; pos < len;) {
        kafka_batch_header_t h;
        if (kafka_batch_header_parse(records + pos, len - pos, &h) < 0) return KAFKA_ERR_CORRUPT_MESSAGE;
        size_t size = (size_t)kafka_batch_size(&h);
        if ((int64_t)size > t->produce.max_message_bytes) {
            res->error_message = "the record batch is larger than the topic's max.message.bytes";
            return KAFKA_ERR_MESSAGE_TOO_LARGE;
        }
        if (check_ts && !(h.attributes & KAFKA_BATCH_ATTR_CONTROL)) {
            int64_t lo = h.base_timestamp < h.max_timestamp ? h.base_timestamp : h.max_timestamp;
            int64_t hi = h.base_timestamp < h.max_timestamp ? h.max_timestamp : h.base_timestamp;
            if ((t->produce.timestamp_before_max_ms != INT64_MAX && lo < now_ms - t->produce.timestamp_before_max_ms) ||
                (t->produce.timestamp_after_max_ms != INT64_MAX && hi > now_ms + t->produce.timestamp_after_max_ms)) {
                res->error_message = "a record timestamp is outside the topic's message.timestamp bounds";
                return KAFKA_ERR_INVALID_TIMESTAMP;
            }
        }
        pos += size;
    }
    if (t->produce.log_append_time) {
        for (size_t pos = 0; pos < len;) {
            kafka_batch_header_t h;
            kafka_batch_header_parse(records + pos, len - pos, &h);
            size_t size = (size_t)kafka_batch_size(&h);
            uint8_t *batch = records + pos;
            uint16_t attrs = (uint16_t)((uint16_t)h.attributes | KAFKA_BATCH_ATTR_LOG_APPEND_TIME);
            batch[21] = (uint8_t)(attrs >> 8);
            batch[22] = (uint8_t)attrs;
            put_be64(batch + 35, now_ms);
            uint32_t crc = crc32c(0, batch + KAFKA_BATCH_CRC_START, size - KAFKA_BATCH_CRC_START);
            for (int i = 0; i < 4; i++) batch[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
            pos += size;
        }
        res->log_append_time = now_ms;
    }
    return KAFKA_ERR_NONE;
}

/* Appends one partition's records. Returns the Kafka error code for the partition. */
static int16_t append_partition(broker_t *b, partition_t *p, int16_t acks, uint8_t *records, size_t len,
                                produce_part_result_t *res)
{
    kafka_batches_info_t info;
    sb_err_t err = {0};
    if (kafka_batches_validate(records, len, &info, &err) < 0) {
        sb_warn("produce", "rejecting records for %s-%d: %s", p->topic->name, p->index, err.msg);
        res->error_message = "corrupt or invalid record batch";
        return KAFKA_ERR_CORRUPT_MESSAGE;
    }
    int16_t perr = apply_produce_policy(p->topic, acks, records, len, sb_now_ms(), res);
    if (perr) return perr;
    const kafka_batch_header_t *h = &info.first;
    bool idempotent = h->producer_id >= 0 && h->base_sequence >= 0;
    if (idempotent) {
        if (info.nbatches != 1) {
            res->error_message = "idempotent produce must carry one batch per partition";
            return KAFKA_ERR_INVALID_RECORD;
        }
        int64_t dup = -1;
        int32_t last_seq = h->base_sequence + h->last_offset_delta;
        switch (producer_state_check(&p->producers, h->producer_id, h->producer_epoch, h->base_sequence, last_seq,
                                     &dup)) {
        case PRODUCER_CHECK_DUPLICATE:
            /* Already stored: acknowledge with the original offset, store nothing. */
            res->base_offset = dup;
            return KAFKA_ERR_NONE;
        case PRODUCER_CHECK_OUT_OF_ORDER:
            res->error_message = "out of order sequence number";
            return KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
        case PRODUCER_CHECK_FENCED:
            res->error_message = "producer epoch is stale";
            return KAFKA_ERR_INVALID_PRODUCER_EPOCH;
        case PRODUCER_CHECK_APPEND: break;
        }
    }
    int64_t base;
    if (plog_append(p->log, records, len, &base, &err) < 0) {
        sb_error("produce", "append to %s-%d failed: %s", p->topic->name, p->index, err.msg);
        res->error_message = "storage error";
        return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    }
    if (idempotent)
        producer_state_record(&p->producers, h->producer_id, h->producer_epoch, h->base_sequence,
                              h->base_sequence + h->last_offset_delta, base, sb_now_ms());
    res->base_offset = base;
    b->append_gen++;
    flusher_mark_dirty(b, p);
    broker_metrics_produced(b->m, p, len, (uint64_t)info.nrecords);
    return KAFKA_ERR_NONE;
}

int handle_Produce(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    if (v >= 3) sb_rd_string(rd); /* transactional_id: transactions are not supported */
    int16_t acks = sb_rd_i16(rd);
    sb_rd_i32(rd); /* timeout_ms */
    int32_t ntopics = sb_rd_array(rd, false, 6);
    if (!sb_rd_ok(rd) || ntopics < 0) return -1;

    produce_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return -1;
    ctx->version = v;
    ctx->pending = 1;
    ctx->topics = calloc((size_t)(ntopics ? ntopics : 1), sizeof(*ctx->topics));
    if (!ctx->topics) {
        free(ctx);
        return -1;
    }
    bool bad_acks = acks != 0 && acks != 1 && acks != -1;
    for (int32_t i = 0; i < ntopics; i++) {
        produce_topic_result_t *tr = &ctx->topics[i];
        ctx->ntopics = i + 1;
        sb_slice_t name = sb_rd_string(rd);
        int32_t nparts = sb_rd_array(rd, false, 8);
        if (!sb_rd_ok(rd) || name.len < 0 || nparts < 0) goto malformed;
        tr->name = strndup((const char *)name.p, (size_t)name.len);
        tr->parts = calloc((size_t)(nparts ? nparts : 1), sizeof(*tr->parts));
        if (!tr->name || !tr->parts) goto malformed;
        topic_t *t = NULL;
        int16_t terr = bad_acks ? (int16_t)KAFKA_ERR_INVALID_REQUIRED_ACKS
                       : !broker_authorize_topic(b, req, ACL_OP_WRITE, name) ? (int16_t)KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED
                       : topic_get_or_create(b, name, broker_may_auto_create_topic(b, req, name), &t);
        for (int32_t j = 0; j < nparts; j++) {
            produce_part_result_t *pr = &tr->parts[j];
            tr->nparts = j + 1;
            pr->index = sb_rd_i32(rd);
            sb_slice_t records = sb_rd_kbytes(rd);
            if (!sb_rd_ok(rd)) goto malformed;
            pr->base_offset = -1;
            pr->log_start_offset = -1;
            pr->log_append_time = -1;
            if (terr) {
                pr->error = terr;
                continue;
            }
            partition_t *p = topic_partition(t, pr->index);
            if (!p) {
                pr->error = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (v < 3) {
                /* Produce v0-v2 carry message sets v0/v1, which we do not store. */
                pr->error = KAFKA_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
                continue;
            }
            if (records.len <= 0) {
                pr->error = KAFKA_ERR_CORRUPT_MESSAGE;
                continue;
            }
            /* The request buffer is ours and writable: offsets are assigned in place. */
            pr->error = append_partition(b, p, acks, (uint8_t *)records.p, (size_t)records.len, pr);
            pr->log_start_offset = plog_start_offset(p->log);
            if (pr->error == KAFKA_ERR_NONE && acks == -1) {
                produce_wait_t *w = malloc(sizeof(*w));
                if (!w) {
                    pr->error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                    continue;
                }
                w->ctx = ctx;
                w->part = pr;
                ctx->pending++;
                broker_after_durable(b, p->log, plog_end_offset(p->log), on_durable, w);
            }
        }
    }
    if (!sb_rd_ok(rd)) goto malformed;
    if (acks == 0) {
        produce_ctx_free(ctx);
        return KAFKA_HANDLER_NO_RESPONSE;
    }
    if (ctx->pending == 1) {
        write_response(ctx, resp);
        produce_ctx_free(ctx);
        return KAFKA_HANDLER_DONE;
    }
    ctx->slot = req->slot;
    produce_ctx_release(b, ctx); /* drops the handler's reference; waits complete the rest */
    return KAFKA_HANDLER_DEFERRED;

malformed:
    if (ctx->pending > 1) {
        /* Some partitions were appended and are waiting on fsync: let the waits finish and
         * discard the answer, since the connection is about to close. */
        ctx->slot = NULL;
        produce_ctx_release(b, ctx);
    } else {
        produce_ctx_free(ctx);
    }
    return -1;
}
