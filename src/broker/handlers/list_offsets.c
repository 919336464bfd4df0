/* ListOffsets (v0–v7; v6+ flexible): timestamp -2 = earliest (the log start offset, which
 * DeleteRecords and retention move), -1 = latest, -3 = MAX_TIMESTAMP (the record with the
 * largest timestamp, KIP-734, v7), otherwise the first offset whose timestamp is at or after
 * the given one (from the time index). */
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "kafka/protocol.h"

#define LATEST_TIMESTAMP (-1)
#define EARLIEST_TIMESTAMP (-2)
#define MAX_TIMESTAMP (-3)

int handle_ListOffsets(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    bool c = req->flexible;
    sb_rd_i32(rd);            /* replica_id */
    if (v >= 2) sb_rd_i8(rd); /* isolation_level */
    int32_t ntopics = sb_rd_array(rd, c, 6);
    if (!sb_rd_ok(rd) || ntopics < 0) return -1;
    if (v >= 2) sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, c, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        sb_slice_t name = sb_rd_str(rd, c);
        int32_t nparts = sb_rd_array(rd, c, 12);
        if (!sb_rd_ok(rd) || name.len < 0 || nparts < 0) return -1;
        bool denied = !broker_authorize_topic(b, req, ACL_OP_DESCRIBE, name);
        topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
        sb_wr_strn(resp, c, name.p, name.len);
        sb_wr_array(resp, c, nparts);
        for (int32_t j = 0; j < nparts; j++) {
            int32_t index = sb_rd_i32(rd);
            if (v >= 4) sb_rd_i32(rd); /* current_leader_epoch */
            int64_t ts = sb_rd_i64(rd);
            int32_t max_num = v == 0 ? sb_rd_i32(rd) : 1;
            if (c) sb_rd_tags(rd);
            if (!sb_rd_ok(rd)) return -1;
            partition_t *p = t ? topic_partition(t, index) : NULL;
            int16_t err = KAFKA_ERR_NONE;
            int64_t offset = -1, found_ts = -1;
            if (denied) {
                err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (!p) {
                err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ts == LATEST_TIMESTAMP) {
                offset = plog_end_offset(p->log);
            } else if (ts == EARLIEST_TIMESTAMP) {
                offset = plog_start_offset(p->log);
            } else if (ts == MAX_TIMESTAMP && v >= 1) {
                sb_err_t e = {0};
                int rc = plog_max_timestamp(p->log, &offset, &found_ts, &e);
                if (rc == SB_ENOENT) {
                    offset = -1; /* an empty log: Kafka answers offset and timestamp -1 */
                    found_ts = -1;
                } else if (rc < 0) {
                    err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                }
            } else if (ts < 0) {
                err = KAFKA_ERR_INVALID_REQUEST;
            } else {
                sb_err_t e = {0};
                int rc = plog_offset_for_time(p->log, ts, &offset, &found_ts, &e);
                if (rc == SB_ENOENT) {
                    offset = -1; /* no record at or after ts: Kafka answers offset -1 */
                    found_ts = -1;
                } else if (rc < 0) {
                    err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                }
            }
            sb_wr_i32(resp, index);
            sb_wr_i16(resp, err);
            if (v == 0) {
                bool one = !err && offset >= 0 && max_num > 0;
                sb_wr_array(resp, false, one ? 1 : 0);
                if (one) sb_wr_i64(resp, offset);
            } else {
                sb_wr_i64(resp, found_ts);
                sb_wr_i64(resp, offset);
                if (v >= 4) sb_wr_i32(resp, err ? -1 : 0); /* leader_epoch */
            }
            sb_wr_tags(resp, c);
        }
        if (c) sb_rd_tags(rd);
        sb_wr_tags(resp, c);
    }
    if (c) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) return -1;
    sb_wr_tags(resp, c);
    return KAFKA_HANDLER_DONE;
}
