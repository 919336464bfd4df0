#include "broker/options.h"

#include <stdio.h>
#include <string.h>

void broker_options_defaults(broker_options_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->listen_host, sizeof(o->listen_host), "127.0.0.1");
    o->listen_port = 9092;
    snprintf(o->data_dir, sizeof(o->data_dir), "./data");
    o->auto_create_topics = true;
    o->default_partitions = 1;
    o->max_partitions_per_topic = 10000;
    o->max_request_bytes = 104857600;
    o->max_connections = 4096;
    o->idle_connection_timeout_ms = 600000;
    o->segment_bytes = 1073741824;
    o->index_interval_bytes = 4096;
    o->retention_ms = 604800000;
    o->retention_bytes = -1;
    o->retention_check_interval_ms = 300000;
    o->flush_interval_ms = 1000;
    o->group_initial_rebalance_delay_ms = 3000;
    o->group_session_timeout_min_ms = 6000;
    o->group_session_timeout_max_ms = 1800000;
    o->offsets_retention_ms = 604800000;
    snprintf(o->sasl_mechanisms, sizeof(o->sasl_mechanisms), "SCRAM-SHA-256,SCRAM-SHA-512");
    o->sasl_max_failures = 10;
    o->sasl_failure_window_ms = 60000;
    o->sasl_failure_delay_ms = 100;
}
