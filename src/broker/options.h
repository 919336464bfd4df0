#ifndef STREAMBUS_BROKER_OPTIONS_H
#define STREAMBUS_BROKER_OPTIONS_H

/* What the broker needs from the configuration. broker_main fills it from sb_config_t, tests fill
 * it directly; keeping it separate means the broker does not depend on the YAML layer. */

#include <stdbool.h>
#include <stdint.h>

typedef struct broker_options {
    char listen_host[256];
    int32_t listen_port; /* 0 = ephemeral (tests) */
    char advertised_host[256];
    int32_t advertised_port; /* 0 = the bound port */
    int32_t node_id;
    char data_dir[1024];
    bool auto_create_topics;
    int32_t default_partitions;
    int32_t max_partitions_per_topic;
    int64_t max_request_bytes;
    int32_t max_connections;
    int64_t idle_connection_timeout_ms;
    uint64_t segment_bytes;
    uint32_t index_interval_bytes;
    int64_t retention_ms;
    int64_t retention_bytes;
    int64_t retention_check_interval_ms;
    int64_t flush_interval_ms;
    int64_t group_initial_rebalance_delay_ms;
    int64_t group_session_timeout_min_ms;
    int64_t group_session_timeout_max_ms;
    int64_t offsets_retention_ms;
    /* Authorization (src/security/authorizer.h); off unless authorizer_enabled. */
    bool authorizer_enabled;
    bool allow_everyone_if_no_acl_found;
    bool audit_allowed;
    char super_users[4096]; /* "User:a;User:b" */
    char audit_log[1024];   /* "" = the broker log */
} broker_options_t;

void broker_options_defaults(broker_options_t *o);

#endif
