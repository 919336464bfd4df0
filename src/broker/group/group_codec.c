#include "broker/group/group_codec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kafka/protocol.h"

const group_api_range_t group_api_ranges[GROUP_API_COUNT] = {
    {KAFKA_API_OffsetCommit, 0, 7},    {KAFKA_API_OffsetFetch, 0, 8}, {KAFKA_API_FindCoordinator, 0, 2},
    {KAFKA_API_JoinGroup, 0, 5},       {KAFKA_API_Heartbeat, 0, 3},   {KAFKA_API_LeaveGroup, 0, 1},
    {KAFKA_API_SyncGroup, 0, 3},       {KAFKA_API_DescribeGroups, 0, 4}, {KAFKA_API_ListGroups, 0, 4},
    {KAFKA_API_DeleteGroups, 0, 1},    {KAFKA_API_OffsetDelete, 0, 0},
};

int16_t group_api_max_version(int16_t api_key)
{
    for (int i = 0; i < GROUP_API_COUNT; i++) {
        if (group_api_ranges[i].api_key == api_key) return group_api_ranges[i].max_version;
    }
    return -1;
}

static bool version_ok(int16_t api_key, int16_t version)
{
    return version >= 0 && version <= group_api_max_version(api_key);
}

static const sb_slice_t null_slice = {NULL, -1};
static const sb_slice_t empty_slice = {(const uint8_t *)"", 0};

/* Strings that the schema declares non-nullable are still read with the nullable reader; a
 * null where a string is required is malformed. */
static sb_slice_t rd_required_string(sb_rd_t *rd)
{
    sb_slice_t s = sb_rd_string(rd);
    if (s.len < 0) sb_rd_fail(rd);
    return s;
}

static int finish(sb_rd_t *rd)
{
    return sb_rd_ok(rd) ? 0 : SB_EINVAL;
}

static void wr_throttle(sb_wr_t *w)
{
    sb_wr_i32(w, 0);
}

/* ----- FindCoordinator ----- */

int find_coordinator_request_decode(sb_rd_t *rd, int16_t version, find_coordinator_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_FindCoordinator, version)) return SB_EINVAL;
    out->key = rd_required_string(rd);
    if (version >= 1) out->key_type = sb_rd_i8(rd);
    return finish(rd);
}

void find_coordinator_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const char *error_message,
                                      int32_t node_id, const char *host, int32_t port)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_i16(w, error_code);
    if (version >= 1) sb_wr_str(w, false, error_message);
    sb_wr_i32(w, node_id);
    sb_wr_str(w, false, host ? host : "");
    sb_wr_i32(w, port);
}

/* ----- JoinGroup ----- */

int join_group_request_decode(sb_rd_t *rd, int16_t version, join_group_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->group_instance_id = null_slice;
    if (!version_ok(KAFKA_API_JoinGroup, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    out->session_timeout_ms = sb_rd_i32(rd);
    out->rebalance_timeout_ms = version >= 1 ? sb_rd_i32(rd) : out->session_timeout_ms;
    out->member_id = rd_required_string(rd);
    if (version >= 5) out->group_instance_id = sb_rd_string(rd);
    out->protocol_type = rd_required_string(rd);
    int32_t n = sb_rd_array(rd, false, 6);
    if (n < 0) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (n > 0) {
        out->protocols = calloc((size_t)n, sizeof(*out->protocols));
        if (!out->protocols) return SB_ENOMEM;
    }
    out->protocol_count = n;
    for (int32_t i = 0; i < n; i++) {
        out->protocols[i].name = rd_required_string(rd);
        out->protocols[i].metadata = sb_rd_kbytes(rd);
        if (out->protocols[i].metadata.len < 0) sb_rd_fail(rd);
    }
    return finish(rd);
}

void join_group_request_deinit(join_group_request_t *rq)
{
    free(rq->protocols);
    rq->protocols = NULL;
    rq->protocol_count = 0;
}

void join_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, int32_t generation_id,
                                const char *protocol_name, const char *leader, const char *member_id,
                                const join_group_response_member_t *members, int32_t member_count)
{
    if (version >= 2) wr_throttle(w);
    sb_wr_i16(w, error_code);
    sb_wr_i32(w, generation_id);
    sb_wr_str(w, false, protocol_name ? protocol_name : "");
    sb_wr_str(w, false, leader ? leader : "");
    sb_wr_str(w, false, member_id ? member_id : "");
    sb_wr_array(w, false, member_count);
    for (int32_t i = 0; i < member_count; i++) {
        sb_wr_str(w, false, members[i].member_id);
        if (version >= 5) sb_wr_str(w, false, members[i].group_instance_id);
        sb_wr_byts(w, false, members[i].metadata, members[i].metadata ? members[i].metadata_len : 0);
    }
}

/* ----- SyncGroup ----- */

int sync_group_request_decode(sb_rd_t *rd, int16_t version, sync_group_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->group_instance_id = null_slice;
    if (!version_ok(KAFKA_API_SyncGroup, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    out->generation_id = sb_rd_i32(rd);
    out->member_id = rd_required_string(rd);
    if (version >= 3) out->group_instance_id = sb_rd_string(rd);
    int32_t n = sb_rd_array(rd, false, 6);
    if (n < 0) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (n > 0) {
        out->assignments = calloc((size_t)n, sizeof(*out->assignments));
        if (!out->assignments) return SB_ENOMEM;
    }
    out->assignment_count = n;
    for (int32_t i = 0; i < n; i++) {
        out->assignments[i].member_id = rd_required_string(rd);
        out->assignments[i].assignment = sb_rd_kbytes(rd);
        if (out->assignments[i].assignment.len < 0) sb_rd_fail(rd);
    }
    return finish(rd);
}

void sync_group_request_deinit(sync_group_request_t *rq)
{
    free(rq->assignments);
    rq->assignments = NULL;
    rq->assignment_count = 0;
}

void sync_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const uint8_t *assignment,
                                int32_t assignment_len)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_i16(w, error_code);
    sb_wr_byts(w, false, assignment, assignment ? assignment_len : 0);
}

/* ----- Heartbeat ----- */

int heartbeat_request_decode(sb_rd_t *rd, int16_t version, heartbeat_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->group_instance_id = null_slice;
    if (!version_ok(KAFKA_API_Heartbeat, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    out->generation_id = sb_rd_i32(rd);
    out->member_id = rd_required_string(rd);
    if (version >= 3) out->group_instance_id = sb_rd_string(rd);
    return finish(rd);
}

void heartbeat_response_encode(sb_wr_t *w, int16_t version, int16_t error_code)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_i16(w, error_code);
}

/* ----- LeaveGroup ----- */

int leave_group_request_decode(sb_rd_t *rd, int16_t version, leave_group_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_LeaveGroup, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    out->member_id = rd_required_string(rd);
    return finish(rd);
}

void leave_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_i16(w, error_code);
}

/* ----- OffsetCommit ----- */

int offset_commit_request_decode(sb_rd_t *rd, int16_t version, offset_commit_request_t *out)
{
    memset(out, 0, sizeof(*out));
    out->generation_id = -1;
    out->member_id = empty_slice;
    out->group_instance_id = null_slice;
    out->retention_time_ms = -1;
    if (!version_ok(KAFKA_API_OffsetCommit, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    if (version >= 1) {
        out->generation_id = sb_rd_i32(rd);
        out->member_id = rd_required_string(rd);
    }
    if (version >= 7) out->group_instance_id = sb_rd_string(rd);
    if (version >= 2 && version <= 4) out->retention_time_ms = sb_rd_i64(rd);
    int32_t nt = sb_rd_array(rd, false, 6);
    if (nt < 0) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (nt > 0) {
        out->topics = calloc((size_t)nt, sizeof(*out->topics));
        if (!out->topics) return SB_ENOMEM;
    }
    out->topic_count = nt;
    size_t min_partition = 4 + 8 + 2 + (version == 1 ? 8 : 0) + (version >= 6 ? 4 : 0);
    for (int32_t t = 0; t < nt && sb_rd_ok(rd); t++) {
        offset_commit_topic_t *topic = &out->topics[t];
        topic->name = rd_required_string(rd);
        int32_t np = sb_rd_array(rd, false, min_partition);
        if (np < 0) sb_rd_fail(rd);
        if (!sb_rd_ok(rd)) break;
        if (np > 0) {
            topic->partitions = calloc((size_t)np, sizeof(*topic->partitions));
            if (!topic->partitions) return SB_ENOMEM;
        }
        topic->partition_count = np;
        for (int32_t p = 0; p < np; p++) {
            offset_commit_partition_t *part = &topic->partitions[p];
            part->partition_index = sb_rd_i32(rd);
            part->committed_offset = sb_rd_i64(rd);
            part->committed_leader_epoch = version >= 6 ? sb_rd_i32(rd) : -1;
            part->commit_timestamp = version == 1 ? sb_rd_i64(rd) : -1;
            part->committed_metadata = sb_rd_string(rd);
        }
    }
    return finish(rd);
}

void offset_commit_request_deinit(offset_commit_request_t *rq)
{
    for (int32_t t = 0; t < rq->topic_count; t++) free(rq->topics[t].partitions);
    free(rq->topics);
    rq->topics = NULL;
    rq->topic_count = 0;
}

void offset_commit_response_encode(sb_wr_t *w, int16_t version, const offset_commit_request_t *rq,
                                   const int16_t *error_codes)
{
    if (version >= 3) wr_throttle(w);
    sb_wr_array(w, false, rq->topic_count);
    size_t k = 0;
    for (int32_t t = 0; t < rq->topic_count; t++) {
        const offset_commit_topic_t *topic = &rq->topics[t];
        sb_wr_strn(w, false, topic->name.p, topic->name.len);
        sb_wr_array(w, false, topic->partition_count);
        for (int32_t p = 0; p < topic->partition_count; p++) {
            sb_wr_i32(w, topic->partitions[p].partition_index);
            sb_wr_i16(w, error_codes[k++]);
        }
    }
}

/* ----- OffsetFetch ----- */

static sb_slice_t rd_str(sb_rd_t *rd, bool compact)
{
    return compact ? sb_rd_compact_string(rd) : sb_rd_string(rd);
}

static sb_slice_t rd_required_str(sb_rd_t *rd, bool compact)
{
    sb_slice_t s = rd_str(rd, compact);
    if (s.len < 0) sb_rd_fail(rd);
    return s;
}

/* A topic list: name + partition indexes (+ tags when compact). null_ok: a null list is
 * allowed and reported as *count == -1. */
static int rd_topic_list(sb_rd_t *rd, bool compact, bool null_ok, int32_t *count, offset_fetch_topic_t **out)
{
    *count = 0;
    *out = NULL;
    int32_t nt = sb_rd_array(rd, compact, compact ? 3 : 6);
    if (nt < 0 && !null_ok) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (nt < 0) {
        *count = -1;
        return 0;
    }
    if (nt > 0) {
        *out = calloc((size_t)nt, sizeof(**out));
        if (!*out) return SB_ENOMEM;
    }
    *count = nt;
    for (int32_t t = 0; t < nt && sb_rd_ok(rd); t++) {
        offset_fetch_topic_t *topic = &(*out)[t];
        topic->name = rd_required_str(rd, compact);
        int32_t np = sb_rd_array(rd, compact, 4);
        if (np < 0) sb_rd_fail(rd);
        if (!sb_rd_ok(rd)) break;
        if (np > 0) {
            topic->partition_indexes = calloc((size_t)np, sizeof(int32_t));
            if (!topic->partition_indexes) return SB_ENOMEM;
        }
        topic->partition_count = np;
        for (int32_t p = 0; p < np; p++) topic->partition_indexes[p] = sb_rd_i32(rd);
        if (compact) sb_rd_tags(rd);
    }
    return finish(rd);
}

static void topic_list_free(int32_t count, offset_fetch_topic_t *topics)
{
    for (int32_t t = 0; t < count; t++) free(topics[t].partition_indexes);
    free(topics);
}

int offset_fetch_request_decode(sb_rd_t *rd, int16_t version, offset_fetch_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_OffsetFetch, version)) return SB_EINVAL;
    bool compact = version >= 6;
    int32_t ng = 1;
    if (version >= 8) {
        ng = sb_rd_array(rd, true, 3);
        if (ng < 0) sb_rd_fail(rd);
        if (!sb_rd_ok(rd)) return SB_EINVAL;
    }
    if (ng > 0) {
        out->groups = calloc((size_t)ng, sizeof(*out->groups));
        if (!out->groups) return SB_ENOMEM;
    }
    for (int32_t i = 0; i < ng; i++) {
        offset_fetch_group_t *g = &out->groups[i];
        g->group_id = rd_required_str(rd, compact);
        if (!sb_rd_ok(rd)) return SB_EINVAL;
        out->group_count = i + 1;
        int rc = rd_topic_list(rd, compact, version >= 2, &g->topic_count, &g->topics);
        if (rc != 0) return rc;
        if (version >= 8) sb_rd_tags(rd);
    }
    if (version >= 7) out->require_stable = sb_rd_bool(rd);
    if (compact) sb_rd_tags(rd);
    return finish(rd);
}

void offset_fetch_request_deinit(offset_fetch_request_t *rq)
{
    for (int32_t i = 0; i < rq->group_count; i++) topic_list_free(rq->groups[i].topic_count, rq->groups[i].topics);
    free(rq->groups);
    rq->groups = NULL;
    rq->group_count = 0;
}

void offset_fetch_response_begin(sb_wr_t *w, int16_t version, int32_t group_count)
{
    if (version >= 3) wr_throttle(w);
    if (version >= 8) sb_wr_array(w, true, group_count);
}

void offset_fetch_response_group(sb_wr_t *w, int16_t version, const void *group_id, int32_t group_id_len,
                                 int32_t topic_count)
{
    if (version >= 8) sb_wr_strn(w, true, group_id, group_id_len);
    sb_wr_array(w, version >= 6, topic_count);
}

void offset_fetch_response_topic(sb_wr_t *w, int16_t version, const void *name, int32_t name_len,
                                 int32_t partition_count)
{
    sb_wr_strn(w, version >= 6, name, name_len);
    sb_wr_array(w, version >= 6, partition_count);
}

void offset_fetch_response_partition(sb_wr_t *w, int16_t version, int32_t partition_index, int64_t committed_offset,
                                     int32_t committed_leader_epoch, const char *metadata, int16_t error_code)
{
    sb_wr_i32(w, partition_index);
    sb_wr_i64(w, committed_offset);
    if (version >= 5) sb_wr_i32(w, committed_leader_epoch);
    sb_wr_str(w, version >= 6, metadata);
    sb_wr_i16(w, error_code);
    sb_wr_tags(w, version >= 6);
}

void offset_fetch_response_topic_end(sb_wr_t *w, int16_t version)
{
    sb_wr_tags(w, version >= 6);
}

void offset_fetch_response_group_end(sb_wr_t *w, int16_t version, int16_t error_code)
{
    if (version >= 2) sb_wr_i16(w, error_code);
    if (version >= 8) sb_wr_tags(w, true);
}

void offset_fetch_response_end(sb_wr_t *w, int16_t version)
{
    sb_wr_tags(w, version >= 6);
}

/* ----- OffsetDelete ----- */

int offset_delete_request_decode(sb_rd_t *rd, int16_t version, offset_delete_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_OffsetDelete, version)) return SB_EINVAL;
    out->group_id = rd_required_string(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    return rd_topic_list(rd, false, false, &out->topic_count, &out->topics);
}

void offset_delete_request_deinit(offset_delete_request_t *rq)
{
    topic_list_free(rq->topic_count, rq->topics);
    rq->topics = NULL;
    rq->topic_count = 0;
}

void offset_delete_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const offset_delete_request_t *rq,
                                   const int16_t *error_codes)
{
    (void)version;
    sb_wr_i16(w, error_code);
    wr_throttle(w);
    /* A group-level error answers with no topics, as Kafka does. */
    int32_t nt = error_code ? 0 : rq->topic_count;
    sb_wr_array(w, false, nt);
    size_t k = 0;
    for (int32_t t = 0; t < nt; t++) {
        const offset_fetch_topic_t *topic = &rq->topics[t];
        sb_wr_strn(w, false, topic->name.p, topic->name.len);
        sb_wr_array(w, false, topic->partition_count);
        for (int32_t p = 0; p < topic->partition_count; p++) {
            sb_wr_i32(w, topic->partition_indexes[p]);
            sb_wr_i16(w, error_codes[k++]);
        }
    }
}

/* ----- DescribeGroups ----- */

int describe_groups_request_decode(sb_rd_t *rd, int16_t version, describe_groups_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_DescribeGroups, version)) return SB_EINVAL;
    int32_t n = sb_rd_array(rd, false, 2);
    if (n < 0) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (n > 0) {
        out->groups = calloc((size_t)n, sizeof(*out->groups));
        if (!out->groups) return SB_ENOMEM;
    }
    out->group_count = n;
    for (int32_t i = 0; i < n; i++) out->groups[i] = rd_required_string(rd);
    if (version >= 3) out->include_authorized_operations = sb_rd_bool(rd);
    return finish(rd);
}

void describe_groups_request_deinit(describe_groups_request_t *rq)
{
    free(rq->groups);
    rq->groups = NULL;
    rq->group_count = 0;
}

void describe_groups_response_begin(sb_wr_t *w, int16_t version, int32_t group_count)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_array(w, false, group_count);
}

void describe_groups_response_group(sb_wr_t *w, int16_t error_code, const void *group_id, int32_t group_id_len,
                                    const char *group_state, const char *protocol_type, const char *protocol_data,
                                    int32_t member_count)
{
    sb_wr_i16(w, error_code);
    sb_wr_strn(w, false, group_id, group_id_len);
    sb_wr_str(w, false, group_state ? group_state : "");
    sb_wr_str(w, false, protocol_type ? protocol_type : "");
    sb_wr_str(w, false, protocol_data ? protocol_data : "");
    sb_wr_array(w, false, member_count);
}

void describe_groups_response_member(sb_wr_t *w, int16_t version, const char *member_id, const char *group_instance_id,
                                     const char *client_id, const char *client_host, const uint8_t *metadata,
                                     int32_t metadata_len, const uint8_t *assignment, int32_t assignment_len)
{
    sb_wr_str(w, false, member_id ? member_id : "");
    if (version >= 4) sb_wr_str(w, false, group_instance_id);
    sb_wr_str(w, false, client_id ? client_id : "");
    sb_wr_str(w, false, client_host ? client_host : "");
    sb_wr_byts(w, false, metadata, metadata ? metadata_len : 0);
    sb_wr_byts(w, false, assignment, assignment ? assignment_len : 0);
}

void describe_groups_response_group_end(sb_wr_t *w, int16_t version)
{
    /* AuthorizedOperations: INT32_MIN means "not requested / not computed". There are no ACLs
     * on groups yet, so nothing is reported even when asked. */
    if (version >= 3) sb_wr_i32(w, INT32_MIN);
}

/* ----- ListGroups ----- */

int list_groups_request_decode(sb_rd_t *rd, int16_t version, list_groups_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_ListGroups, version)) return SB_EINVAL;
    if (version >= 4) {
        int32_t n = sb_rd_array(rd, true, 1);
        for (int32_t i = 0; i < n && sb_rd_ok(rd); i++) {
            sb_slice_t st = sb_rd_compact_string(rd);
            if (out->state_count < LIST_GROUPS_MAX_STATES) out->states[out->state_count++] = st;
        }
    }
    if (version >= 3) sb_rd_tags(rd);
    return sb_rd_ok(rd) ? 0 : SB_EINVAL;
}

bool list_groups_state_wanted(const list_groups_request_t *rq, const char *state)
{
    if (rq->state_count == 0) return true;
    size_t n = strlen(state);
    for (int32_t i = 0; i < rq->state_count; i++)
        if (rq->states[i].len == (int32_t)n && strncasecmp((const char *)rq->states[i].p, state, n) == 0) return true;
    return false;
}

void list_groups_response_begin(sb_wr_t *w, int16_t version, int16_t error_code, int32_t group_count)
{
    if (version >= 1) wr_throttle(w);
    sb_wr_i16(w, error_code);
    sb_wr_array(w, version >= 3, group_count);
}

void list_groups_response_group(sb_wr_t *w, int16_t version, const char *group_id, const char *protocol_type,
                                const char *state)
{
    bool compact = version >= 3;
    sb_wr_str(w, compact, group_id);
    sb_wr_str(w, compact, protocol_type ? protocol_type : "");
    if (version >= 4) sb_wr_str(w, compact, state);
    sb_wr_tags(w, compact);
}

void list_groups_response_end(sb_wr_t *w, int16_t version)
{
    sb_wr_tags(w, version >= 3);
}

/* ----- DeleteGroups ----- */

int delete_groups_request_decode(sb_rd_t *rd, int16_t version, delete_groups_request_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!version_ok(KAFKA_API_DeleteGroups, version)) return SB_EINVAL;
    int32_t n = sb_rd_array(rd, false, 2);
    if (n < 0) sb_rd_fail(rd);
    if (!sb_rd_ok(rd)) return SB_EINVAL;
    if (n > 0) {
        out->groups_names = calloc((size_t)n, sizeof(*out->groups_names));
        if (!out->groups_names) return SB_ENOMEM;
    }
    out->group_count = n;
    for (int32_t i = 0; i < n; i++) out->groups_names[i] = rd_required_string(rd);
    return finish(rd);
}

void delete_groups_request_deinit(delete_groups_request_t *rq)
{
    free(rq->groups_names);
    rq->groups_names = NULL;
    rq->group_count = 0;
}

void delete_groups_response_encode(sb_wr_t *w, int16_t version, const delete_groups_request_t *rq,
                                   const int16_t *error_codes)
{
    (void)version;
    wr_throttle(w);
    sb_wr_array(w, false, rq->group_count);
    for (int32_t i = 0; i < rq->group_count; i++) {
        sb_wr_strn(w, false, rq->groups_names[i].p, rq->groups_names[i].len);
        sb_wr_i16(w, error_codes[i]);
    }
}
