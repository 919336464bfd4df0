/* The built-in connectors, by connector.class. A static table rather than self-registration:
 * the core is a static library, and an object file that nothing references is never linked,
 * so a connector must be named here to exist. */
#include <string.h>

#include "connect/builtin_file.h"
#include "connect/connector.h"
#include "connect/sinks/clickhouse_sink.h"
#include "connect/sinks/pg_sink.h"
#include "connect/sources/cassandra.h"
#include "connect/sources/datagen.h"
#include "connect/sources/postgres.h"
#include "connect/sources/scylla.h"

static const source_ops_t *const source_table[] = {
    &postgres_source_ops,
    &scylla_source_ops,
    &datagen_source_ops,
    &cassandra_source_ops,
    &file_source_ops,
};

static const sink_ops_t *const sink_table[] = {
    &postgres_sink_ops,
    &clickhouse_sink_ops,
    &file_sink_ops,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const source_ops_t *connect_source_find(const char *cls)
{
    for (size_t i = 0; cls && i < COUNT(source_table); i++)
        if (strcmp(source_table[i]->name, cls) == 0) return source_table[i];
    return NULL;
}

const sink_ops_t *connect_sink_find(const char *cls)
{
    for (size_t i = 0; cls && i < COUNT(sink_table); i++)
        if (strcmp(sink_table[i]->name, cls) == 0) return sink_table[i];
    return NULL;
}

void connect_plugins_foreach(void (*cb)(void *arg, const char *cls, const char *type, const char *desc), void *arg)
{
    for (size_t i = 0; i < COUNT(source_table); i++) cb(arg, source_table[i]->name, "source", source_table[i]->description);
    for (size_t i = 0; i < COUNT(sink_table); i++) cb(arg, sink_table[i]->name, "sink", sink_table[i]->description);
}
