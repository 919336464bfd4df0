#ifndef STREAMBUS_CONNECT_BUILTIN_FILE_H
#define STREAMBUS_CONNECT_BUILTIN_FILE_H

/* Two file connectors that ship with the runtime, like Kafka Connect's FileStream pair: for
 * trying the runtime without a database, and for testing it.
 *
 * file-source: tails a file of lines (config "file", "topic"). A line that is a JSON object
 *   with a "value" member is emitted as {key, value[, topic]} (members re-serialised compactly;
 *   null means a null key / a tombstone); any other line is the value of a record without key.
 *   The position is the byte offset after the last emitted line.
 * file-sink: appends one JSON line per record to "file":
 *   {"topic":..,"partition":..,"offset":..,"key":<text>|null,"value":<text>|null}, and
 *   {"topic":..,"partition":..,"offset":..,"skipped":true} for records sent to the DLQ. The
 *   positions are the file itself (exactly-once: a batch is one write, then fdatasync).
 *   For tests of error handling: "fail.on" = a substring that makes a record fail on its own
 *   (CONNECT_ERR_RECORD); "fail.transient.file" = a path whose existence makes every put fail
 *   with CONNECT_ERR_TRANSIENT. */

#include "connect/connector.h"

extern const source_ops_t file_source_ops;
extern const sink_ops_t file_sink_ops;

#endif
