#ifndef STREAMBUS_CONNECT_SOURCES_POSTGRES_H
#define STREAMBUS_CONNECT_SOURCES_POSTGRES_H

/* PostgreSQL change-data-capture source ("postgres-source"): an initial snapshot consistent
 * with a logical replication slot, then pgoutput streaming. See docs/sources.md for the
 * config keys, the events and the delivery guarantees. */

#include "connect/connector.h"

extern const source_ops_t postgres_source_ops;

/* For tools that must find what a postgres-source publishes (reconciliation, erasure): the
 * publication it uses (publication.name, or its default from the connector's name), and the
 * topic a table "schema.table" goes to (illegal characters mapped to '_'). */
void pg_source_publication_name(const json_t *config, char *out, size_t cap);
void pg_source_topic_for(const char *prefix, const char *schema_table, char *out, size_t cap);
/* The tables of table.include.list as the connector reads it ("schema.table" each), or NULL
 * when the config has none. Free with pg_source_free_list. */
char **pg_source_include_list(const json_t *config);
void pg_source_free_list(char **list);

#endif
