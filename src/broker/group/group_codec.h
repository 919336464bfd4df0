#ifndef STREAMBUS_BROKER_GROUP_CODEC_H
#define STREAMBUS_BROKER_GROUP_CODEC_H

/* Request decoders and response encoders of the eleven consumer-group APIs, field for field as in
 * apache/kafka clients/src/main/resources/common/message/<Name>{Request,Response}.json, for the
 * versions in group_api_ranges[] (flexible, compact forms only for ListGroups v3+ and
 * OffsetFetch v6+).
 *
 * Decoders borrow: every sb_slice_t points into the request bytes, which must outlive the
 * decoded struct. Arrays are heap-allocated and released by the matching _deinit (which also
 * accepts a struct whose decode failed). A decoder returns 0, or SB_EINVAL when the bytes are
 * malformed or the version is outside the supported range. */

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* The supported version range of one API, for the dispatcher's ApiVersions answer. */
typedef struct group_api_range {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
} group_api_range_t;

enum { GROUP_API_COUNT = 11 };
extern const group_api_range_t group_api_ranges[GROUP_API_COUNT];
/* The max supported version of api_key, or -1 when it is not a group API. */
int16_t group_api_max_version(int16_t api_key);

/* ----- FindCoordinator v0-2 ----- */
typedef struct find_coordinator_request {
    sb_slice_t key;
    int8_t key_type; /* 0 group, 1 transaction; v0 is always 0 */
} find_coordinator_request_t;
int find_coordinator_request_decode(sb_rd_t *rd, int16_t version, find_coordinator_request_t *out);
void find_coordinator_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const char *error_message,
                                      int32_t node_id, const char *host, int32_t port);

/* ----- JoinGroup v0-5 ----- */
typedef struct join_group_protocol {
    sb_slice_t name;
    sb_slice_t metadata;
} join_group_protocol_t;
typedef struct join_group_request {
    sb_slice_t group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* v0: equals session_timeout_ms */
    sb_slice_t member_id;
    sb_slice_t group_instance_id; /* v5+, else null */
    sb_slice_t protocol_type;
    int32_t protocol_count;
    join_group_protocol_t *protocols;
} join_group_request_t;
int join_group_request_decode(sb_rd_t *rd, int16_t version, join_group_request_t *out);
void join_group_request_deinit(join_group_request_t *rq);

typedef struct join_group_response_member {
    const char *member_id;
    const char *group_instance_id; /* NULL: null */
    const uint8_t *metadata;
    int32_t metadata_len;
} join_group_response_member_t;
void join_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, int32_t generation_id,
                                const char *protocol_name, const char *leader, const char *member_id,
                                const join_group_response_member_t *members, int32_t member_count);

/* ----- SyncGroup v0-3 ----- */
typedef struct sync_group_assignment {
    sb_slice_t member_id;
    sb_slice_t assignment;
} sync_group_assignment_t;
typedef struct sync_group_request {
    sb_slice_t group_id;
    int32_t generation_id;
    sb_slice_t member_id;
    sb_slice_t group_instance_id; /* v3+ */
    int32_t assignment_count;
    sync_group_assignment_t *assignments;
} sync_group_request_t;
int sync_group_request_decode(sb_rd_t *rd, int16_t version, sync_group_request_t *out);
void sync_group_request_deinit(sync_group_request_t *rq);
void sync_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const uint8_t *assignment,
                                int32_t assignment_len);

/* ----- Heartbeat v0-3 ----- */
typedef struct heartbeat_request {
    sb_slice_t group_id;
    int32_t generation_id;
    sb_slice_t member_id;
    sb_slice_t group_instance_id; /* v3+ */
} heartbeat_request_t;
int heartbeat_request_decode(sb_rd_t *rd, int16_t version, heartbeat_request_t *out);
/* Heartbeat and LeaveGroup responses: ThrottleTimeMs (v1+) and ErrorCode. */
void heartbeat_response_encode(sb_wr_t *w, int16_t version, int16_t error_code);

/* ----- LeaveGroup v0-1 ----- */
typedef struct leave_group_request {
    sb_slice_t group_id;
    sb_slice_t member_id;
} leave_group_request_t;
int leave_group_request_decode(sb_rd_t *rd, int16_t version, leave_group_request_t *out);
void leave_group_response_encode(sb_wr_t *w, int16_t version, int16_t error_code);

/* ----- OffsetCommit v0-7 ----- */
typedef struct offset_commit_partition {
    int32_t partition_index;
    int64_t committed_offset;
    int32_t committed_leader_epoch; /* v6+, else -1 */
    int64_t commit_timestamp;       /* v1 only, else -1 */
    sb_slice_t committed_metadata;  /* nullable */
} offset_commit_partition_t;
typedef struct offset_commit_topic {
    sb_slice_t name;
    int32_t partition_count;
    offset_commit_partition_t *partitions;
} offset_commit_topic_t;
typedef struct offset_commit_request {
    sb_slice_t group_id;
    int32_t generation_id;        /* v1+, else -1 */
    sb_slice_t member_id;         /* v1+, else "" */
    sb_slice_t group_instance_id; /* v7+ */
    int64_t retention_time_ms;    /* v2-4, else -1 */
    int32_t topic_count;
    offset_commit_topic_t *topics;
} offset_commit_request_t;
int offset_commit_request_decode(sb_rd_t *rd, int16_t version, offset_commit_request_t *out);
void offset_commit_request_deinit(offset_commit_request_t *rq);
/* The response mirrors the request: one error code per requested partition, in order. */
void offset_commit_response_encode(sb_wr_t *w, int16_t version, const offset_commit_request_t *rq,
                                   const int16_t *error_codes);

/* ----- OffsetFetch v0-8 (v6+ flexible; v7 adds RequireStable; v8 asks for several groups) ----- */
typedef struct offset_fetch_topic {
    sb_slice_t name;
    int32_t partition_count;
    int32_t *partition_indexes;
} offset_fetch_topic_t;
typedef struct offset_fetch_group {
    sb_slice_t group_id;
    int32_t topic_count; /* -1: null (v2+), meaning every topic the group has offsets for */
    offset_fetch_topic_t *topics;
} offset_fetch_group_t;
typedef struct offset_fetch_request {
    int32_t group_count; /* always 1 before v8 */
    offset_fetch_group_t *groups;
    bool require_stable; /* v7+ */
} offset_fetch_request_t;
/* Bytes after the last field are ignored, as Kafka's parser does: librdkafka 2.0.2 asks for
 * "all partitions" at v6+ by leaving a 4-byte zero placeholder where the compact array count
 * goes; its first byte reads as a null array, the zeros after it as RequireStable and the tag
 * section, and three zero bytes are left over. */
int offset_fetch_request_decode(sb_rd_t *rd, int16_t version, offset_fetch_request_t *out);
void offset_fetch_request_deinit(offset_fetch_request_t *rq);
/* The response is written piecewise because its partitions come from the coordinator:
 *   begin, then per group: group, per topic (topic, partition..., topic_end), group_end; end.
 * Before v8 there is exactly one group and group_end carries the top-level error (v2+); at v8
 * group_end carries the group's error. */
void offset_fetch_response_begin(sb_wr_t *w, int16_t version, int32_t group_count);
void offset_fetch_response_group(sb_wr_t *w, int16_t version, const void *group_id, int32_t group_id_len,
                                 int32_t topic_count);
void offset_fetch_response_topic(sb_wr_t *w, int16_t version, const void *name, int32_t name_len,
                                 int32_t partition_count);
void offset_fetch_response_partition(sb_wr_t *w, int16_t version, int32_t partition_index, int64_t committed_offset,
                                     int32_t committed_leader_epoch, const char *metadata, int16_t error_code);
void offset_fetch_response_topic_end(sb_wr_t *w, int16_t version);
void offset_fetch_response_group_end(sb_wr_t *w, int16_t version, int16_t error_code);
void offset_fetch_response_end(sb_wr_t *w, int16_t version);

/* ----- OffsetDelete v0 ----- */
typedef struct offset_delete_request {
    sb_slice_t group_id;
    int32_t topic_count;
    offset_fetch_topic_t *topics; /* the same shape: a name and partition indexes */
} offset_delete_request_t;
int offset_delete_request_decode(sb_rd_t *rd, int16_t version, offset_delete_request_t *out);
void offset_delete_request_deinit(offset_delete_request_t *rq);
/* The response mirrors the request: one error code per requested partition, in order. */
void offset_delete_response_encode(sb_wr_t *w, int16_t version, int16_t error_code, const offset_delete_request_t *rq,
                                   const int16_t *error_codes);

/* ----- DescribeGroups v0-4 ----- */
typedef struct describe_groups_request {
    int32_t group_count;
    sb_slice_t *groups;
    bool include_authorized_operations; /* v3+ */
} describe_groups_request_t;
int describe_groups_request_decode(sb_rd_t *rd, int16_t version, describe_groups_request_t *out);
void describe_groups_request_deinit(describe_groups_request_t *rq);
void describe_groups_response_begin(sb_wr_t *w, int16_t version, int32_t group_count);
void describe_groups_response_group(sb_wr_t *w, int16_t error_code, const void *group_id, int32_t group_id_len,
                                    const char *group_state, const char *protocol_type, const char *protocol_data,
                                    int32_t member_count);
void describe_groups_response_member(sb_wr_t *w, int16_t version, const char *member_id, const char *group_instance_id,
                                     const char *client_id, const char *client_host, const uint8_t *metadata,
                                     int32_t metadata_len, const uint8_t *assignment, int32_t assignment_len);
void describe_groups_response_group_end(sb_wr_t *w, int16_t version);

/* ----- ListGroups v0-4 (v3+ flexible; v4 filters by state and reports it) ----- */
#define LIST_GROUPS_MAX_STATES 8
typedef struct list_groups_request {
    int32_t state_count; /* 0 = no filter */
    sb_slice_t states[LIST_GROUPS_MAX_STATES];
} list_groups_request_t;
int list_groups_request_decode(sb_rd_t *rd, int16_t version, list_groups_request_t *out);
/* True when `state` passes the request's filter (case-insensitive, as Kafka compares). */
bool list_groups_state_wanted(const list_groups_request_t *rq, const char *state);
void list_groups_response_begin(sb_wr_t *w, int16_t version, int16_t error_code, int32_t group_count);
void list_groups_response_group(sb_wr_t *w, int16_t version, const char *group_id, const char *protocol_type,
                                const char *state);
void list_groups_response_end(sb_wr_t *w, int16_t version);

/* ----- DeleteGroups v0-1 ----- */
typedef struct delete_groups_request {
    int32_t group_count;
    sb_slice_t *groups_names;
} delete_groups_request_t;
int delete_groups_request_decode(sb_rd_t *rd, int16_t version, delete_groups_request_t *out);
void delete_groups_request_deinit(delete_groups_request_t *rq);
void delete_groups_response_encode(sb_wr_t *w, int16_t version, const delete_groups_request_t *rq,
                                   const int16_t *error_codes);

#endif
