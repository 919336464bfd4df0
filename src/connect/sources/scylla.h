#ifndef STREAMBUS_CONNECT_SOURCES_SCYLLA_H
#define STREAMBUS_CONNECT_SOURCES_SCYLLA_H

/* ScyllaDB change-data-capture source ("scylla-source"): reads the CDC log tables
 * (<table>_scylla_cdc_log) stream group by stream group, with a low-latency fast path and a
 * safety pass over the confidence window, and emits the same Debezium-compatible events as
 * the PostgreSQL source. See docs/sources.md for the config keys, events and guarantees. */

#include "connect/connector.h"

extern const source_ops_t scylla_source_ops;

#endif
