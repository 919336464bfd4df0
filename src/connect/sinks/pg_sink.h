#ifndef STREAMBUS_CONNECT_SINKS_PG_SINK_H
#define STREAMBUS_CONNECT_SINKS_PG_SINK_H

/* PostgreSQL sink ("postgres-sink"): applies Debezium-style change events to tables in one
 * transaction per batch, together with the consumed positions (exactly-once).
 * See docs/sinks.md for the config keys, the type mapping and the error classes. */

#include "connect/connector.h"

extern const sink_ops_t postgres_sink_ops;

/* Classifies a PostgreSQL SQLSTATE (NULL = no server answer, e.g. connection lost). */
connect_err_class_t pg_sink_classify_sqlstate(const char *sqlstate);

#endif
