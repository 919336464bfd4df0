#ifndef STREAMBUS_CONNECT_SINKS_CLICKHOUSE_SINK_H
#define STREAMBUS_CONNECT_SINKS_CLICKHOUSE_SINK_H

/* ClickHouse sink ("clickhouse-sink") over the HTTP interface. ClickHouse has no multi-statement
 * transactions, so the guarantee is at-least-once delivery with idempotent replay: every row
 * carries a version (__version) and a delete marker (__deleted) in a ReplacingMergeTree, and
 * applying a batch twice leaves the same table. See docs/sinks.md. */

#include "connect/connector.h"

extern const sink_ops_t clickhouse_sink_ops;

/* Classifies a ClickHouse exception code (0 = no answer from the server). */
connect_err_class_t clickhouse_sink_classify_code(int code);

#endif
