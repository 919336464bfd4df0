#ifndef STREAMBUS_CONNECT_SOURCES_POSTGRES_H
#define STREAMBUS_CONNECT_SOURCES_POSTGRES_H

/* PostgreSQL change-data-capture source ("postgres-source"): an initial snapshot consistent
 * with a logical replication slot, then pgoutput streaming. See docs/sources.md for the
 * config keys, the events and the delivery guarantees. */

#include "connect/connector.h"

extern const source_ops_t postgres_source_ops;

#endif
