#ifndef STREAMBUS_CONNECT_SOURCES_CASSANDRA_H
#define STREAMBUS_CONNECT_SOURCES_CASSANDRA_H

/* Apache Cassandra change-data-capture source ("cassandra-source"): runs beside a node and
 * reads the commit-log segments the node hard-links into cdc_raw/, up to the synced offset of
 * each segment's _cdc.idx, decodes their mutations (src/cassandra/) and emits the same
 * Debezium-compatible events as the PostgreSQL source. Fully processed segments are deleted
 * or archived once everything from them is durable in the broker. See
 * docs/cassandra-commitlog.md for the format and docs/sources.md for the events. */

#include "connect/connector.h"

extern const source_ops_t cassandra_source_ops;

#endif
