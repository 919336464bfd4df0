#ifndef STREAMBUS_BROKER_GROUP_COORDINATOR_H
#define STREAMBUS_BROKER_GROUP_COORDINATOR_H

/* The consumer-group coordinator: Kafka's classic group membership protocol (JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup) and committed offsets, for a single broker that coordinates
 * every group. Offsets are stored as v2 record batches in an internal log (partition 0 of
 * __consumer_offsets) and replayed at start-up. See docs/groups.md and README.md in this folder.
 *
 * Threading: everything here runs on the broker's network thread; nothing is locked.
 * The ten Kafka handlers (handle_FindCoordinator ... handle_DeleteGroups, declared in
 * broker/handlers/handlers.h) find the coordinator with broker_groups(b). Their supported
 * version ranges are in group_api_ranges[] (broker/group/group_codec.h). */

#include <stdint.h>

#include "broker/broker.h"
#include "common/err.h"

typedef struct group_config {
    int64_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms (Kafka default 3000) */
    int64_t session_timeout_min_ms;     /* group.min.session.timeout.ms (6000) */
    int64_t session_timeout_max_ms;     /* group.max.session.timeout.ms (1800000) */
    int64_t offsets_retention_ms;       /* offsets.retention.minutes * 60000 (7 days); see docs/groups.md */
} group_config_t;

/* Kafka's defaults for the fields above. */
void group_config_defaults(group_config_t *cfg);

/* Creates the coordinator and replays every batch of offsets_log (borrowed; it must outlive the
 * coordinator) so committed offsets survive a restart. Returns 0, or SB_EIO / SB_ECORRUPT /
 * SB_ENOMEM when the log cannot be read back. */
int group_coordinator_new(broker_t *b, plog_t *offsets_log, const group_config_t *cfg, group_coordinator_t **out,
                          sb_err_t *err);

/* Frees the coordinator. Call it while the broker can still complete deferred responses:
 * JoinGroup/SyncGroup answers still waiting are completed with COORDINATOR_NOT_AVAILABLE.
 * Offset writes still waiting for durability are detached and answered with
 * COORDINATOR_NOT_AVAILABLE when their callback runs. Accepts NULL. */
void group_coordinator_free(group_coordinator_t *gc);

/* Runs the timers: session expiry, rebalance (join) timeouts, the delayed initial rebalance,
 * expiry of member ids handed out with MEMBER_ID_REQUIRED, and removal of empty groups that have
 * no offsets. now_ms is on the sb_mono_ms() clock. Called by the loop every ~100 ms. */
void group_coordinator_tick(group_coordinator_t *gc, int64_t now_ms);

/* Topic `topic` was deleted: every group's committed offsets of it go, as Kafka's do (its
 * GroupCoordinator.handleDeletedPartitions), so that a topic re-created under the same name
 * does not start its consumers at offsets committed against the old log. Writes their
 * tombstones to the offsets log and removes them from memory once those are durable (in log
 * order, after any commit of the topic that was still waiting for its fsync). */
void group_coordinator_topic_deleted(group_coordinator_t *gc, const char *topic);

/* Calls cb for every committed offset (durable ones only), for metrics and lag. */
void group_coordinator_foreach_offset(group_coordinator_t *gc,
                                      void (*cb)(void *arg, const char *group, const char *topic, int32_t partition,
                                                 int64_t offset),
                                      void *arg);

/* Total number of members over all groups, for metrics. */
int group_coordinator_member_count(group_coordinator_t *gc);
/* Number of groups (any state but Dead), for metrics. */
int group_coordinator_group_count(group_coordinator_t *gc);

#endif
