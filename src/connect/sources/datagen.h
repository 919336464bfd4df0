#ifndef STREAMBUS_CONNECT_SOURCES_DATAGEN_H
#define STREAMBUS_CONNECT_SOURCES_DATAGEN_H

/* Synthetic change-event source ("datagen") for demos and benchmarks: Debezium-shaped
 * insert/update/delete events at a set rate. See docs/sources.md. */

#include "connect/connector.h"

extern const source_ops_t datagen_source_ops;

#endif
