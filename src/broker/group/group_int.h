#ifndef STREAMBUS_BROKER_GROUP_INT_H
#define STREAMBUS_BROKER_GROUP_INT_H

/* Private structures shared by coordinator.c (membership) and offsets.c (committed offsets).
 * Groups, members and offsets are kept in plain arrays searched linearly: a broker holds few
 * groups and a group few members, and this keeps ownership obvious. Replace with hash maps if
 * profiles ever show these scans. */

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "broker/group/coordinator.h"

typedef enum {
    GROUP_EMPTY = 0,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD,
} group_state_t;

typedef struct group_protocol {
    char *name;
    uint8_t *metadata;
    int32_t metadata_len;
} group_protocol_t;

typedef struct group_member {
    char *member_id;
    char *group_instance_id; /* KIP-345 static member id; NULL for a dynamic member */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    group_protocol_t *protocols; /* in the member's order of preference */
    int32_t protocol_count;
    uint8_t *assignment; /* from the leader's SyncGroup; NULL until then */
    int32_t assignment_len;
    int64_t heartbeat_deadline_ms; /* sb_mono_ms() clock */
    kslot_t *join_slot;            /* JoinGroup response waiting for the rebalance to finish */
    kslot_t *sync_slot;            /* SyncGroup response waiting for the leader's assignment */
} group_member_t;

/* A member id handed out with MEMBER_ID_REQUIRED that has not rejoined yet. */
typedef struct group_pending_member {
    char *member_id;
    int64_t deadline_ms;
} group_pending_member_t;

typedef struct group_offset {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata; /* never NULL: Kafka stores "" for a null commit metadata */
    int64_t commit_timestamp;
} group_offset_t;

typedef struct group {
    char *group_id;
    group_state_t state;
    char *protocol_type; /* NULL until the first member joins */
    char *protocol_name; /* chosen at the end of each join phase */
    int32_t generation_id;
    char *leader_id;
    group_member_t **members;
    int32_t member_count;
    int32_t member_cap;
    group_pending_member_t *pending;
    int32_t pending_count;
    int32_t pending_cap;
    int64_t join_deadline_ms;
    /* The delayed initial rebalance: while true, the join phase of a group that was empty waits
     * until join_deadline_ms even if every member has joined, so that consumers starting
     * together land in one generation. Each new member pushes the deadline out, up to
     * initial_delay_cap_ms. */
    bool initial_delay;
    int64_t initial_delay_cap_ms;
    group_offset_t *offsets;
    int32_t offset_count;
    int32_t offset_cap;
} group_t;

typedef struct offset_write offset_write_t;

struct group_coordinator {
    broker_t *broker;
    plog_t *offsets_log;
    group_config_t cfg;
    group_t **groups;
    int32_t group_count;
    int32_t group_cap;
    offset_write_t *writes; /* offset writes waiting for durability (a list) */
    /* The slot and writer of the request being handled right now. A response that completes
     * during its own handler call is written to the handler's writer and the handler returns
     * DONE, so a slot is only ever completed after its handler returned DEFERRED. */
    kslot_t *current_slot;
    sb_wr_t *current_resp;
    bool current_answered;
};

group_t *group_find(group_coordinator_t *gc, const void *name, int32_t len);
group_t *group_get_or_create(group_coordinator_t *gc, const void *name, int32_t len);
/* Removes g from the table and frees it; deferred answers still attached get `error_code`. */
void group_delete(group_coordinator_t *gc, group_t *g, int16_t error_code);
const char *group_state_name(group_state_t state);
group_member_t *group_member_find(group_t *g, const void *member_id, int32_t len);
/* KIP-345: true when group_instance_id (non-null) belongs to a member other than member_id,
 * i.e. the caller is an old incarnation of a static member that was replaced. */
bool group_static_member_fenced(group_t *g, sb_slice_t group_instance_id, sb_slice_t member_id);
void group_member_touch(group_member_t *m, int64_t now_ms);

/* Deferred responses: begin returns the writer (the handler's own while it runs), or NULL
 * when the connection has gone and nothing needs writing; end completes the slot. */
sb_wr_t *group_slot_begin(group_coordinator_t *gc, kslot_t *slot);
void group_slot_end(group_coordinator_t *gc, kslot_t *slot);
/* Wraps a handler call: returns DONE if the request's own slot was answered meanwhile. */
void group_request_enter(group_coordinator_t *gc, kreq_t *req, sb_wr_t *resp);
int group_request_leave(group_coordinator_t *gc, int rc);

/* offsets.c */
int group_offsets_replay(group_coordinator_t *gc, sb_err_t *err);
/* Appends the group's metadata (its protocol type) to the offsets log, so an Empty group
 * keeps its type across a restart. Best effort: not waited for durability. */
void group_offsets_write_metadata(group_coordinator_t *gc, const group_t *g);
void group_offsets_clear(group_t *g);
void group_offsets_detach_writes(group_coordinator_t *gc);

char *group_strndup(const void *p, int32_t len);

#endif
