/* DeleteRecords (v0–v2; v2 flexible): moves a partition's log start offset forward. Offsets
 * below it are gone for readers at once (Fetch answers OFFSET_OUT_OF_RANGE, ListOffsets
 * earliest reports the new start) and whole segments below it are deleted. The new start is
 * fsync'ed before the answer, so it survives a crash (plog_delete_records). */
#include <inttypes.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "common/log.h"
#include "kafka/protocol.h"

#define DELETE_TO_HIGH_WATERMARK (-1)

int handle_DeleteRecords(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    bool c = req->flexible;
    int32_t ntopics = sb_rd_array(rd, c, 6);
    if (!sb_rd_ok(rd) || ntopics < 0) return -1;
    /* The whole request is decoded before anything is deleted: a malformed tail must not
     * leave half the deletions done and the client without an answer. */
    sb_rd_t topics_rd = *rd;
    for (int32_t i = 0; i < ntopics && sb_rd_ok(rd); i++) {
        sb_rd_str(rd, c);
        int32_t np = sb_rd_array(rd, c, 12);
        for (int32_t j = 0; j < np && sb_rd_ok(rd); j++) {
            sb_rd_i32(rd);
            sb_rd_i64(rd);
            if (c) sb_rd_tags(rd);
        }
        if (c) sb_rd_tags(rd);
    }
    sb_rd_i32(rd); /* timeout_ms: the work is done before answering */
    if (c) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) return -1;

    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, c, ntopics);
    for (int32_t i = 0; i < ntopics; i++) {
        sb_slice_t name = sb_rd_str(&topics_rd, c);
        int32_t np = sb_rd_array(&topics_rd, c, 12);
        bool denied = !broker_authorize_topic(b, req, ACL_OP_DELETE, name);
        topic_t *t = broker_topic_find(b, (const char *)name.p, name.len);
        sb_wr_strn(resp, c, name.p, name.len);
        sb_wr_array(resp, c, np);
        for (int32_t j = 0; j < np; j++) {
            int32_t index = sb_rd_i32(&topics_rd);
            int64_t offset = sb_rd_i64(&topics_rd);
            if (c) sb_rd_tags(&topics_rd);
            partition_t *p = t ? topic_partition(t, index) : NULL;
            int16_t err = KAFKA_ERR_NONE;
            int64_t low = -1;
            if (denied) {
                err = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
            } else if (!p) {
                err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (t->internal) {
                /* The group coordinator replays this log at start-up; it must stay whole. */
                err = KAFKA_ERR_POLICY_VIOLATION;
            } else {
                int64_t hw = plog_end_offset(p->log);
                if (offset == DELETE_TO_HIGH_WATERMARK) offset = hw;
                if (offset < 0 || offset > hw) {
                    err = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
                } else {
                    sb_err_t e = {0};
                    int deleted = 0;
                    if (plog_delete_records(p->log, offset, &low, &deleted, &e) < 0) {
                        sb_error("records", "DeleteRecords %s-%d to %" PRId64 ": %s", t->name,
                                 index, offset, e.msg);
                        err = KAFKA_ERR_KAFKA_STORAGE_ERROR;
                        low = -1;
                    }
                }
            }
            sb_wr_i32(resp, index);
            sb_wr_i64(resp, low);
            sb_wr_i16(resp, err);
            sb_wr_tags(resp, c);
        }
        if (c) sb_rd_tags(&topics_rd);
        sb_wr_tags(resp, c);
    }
    sb_wr_tags(resp, c);
    return sb_rd_ok(&topics_rd) ? KAFKA_HANDLER_DONE : -1;
}
