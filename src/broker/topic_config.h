#ifndef STREAMBUS_BROKER_TOPIC_CONFIG_H
#define STREAMBUS_BROKER_TOPIC_CONFIG_H

/* Kafka's topic configs and the broker configs that supply their defaults, as one table:
 * the single place that knows which keys exist, their types, ranges and Kafka defaults, and
 * which of them this broker acts on. CreateTopics, AlterConfigs, IncrementalAlterConfigs,
 * DescribeConfigs and the .topics/ files all go through it, so a key accepted by one is
 * accepted by all. Keys this broker does not act on are accepted, validated, stored and
 * described, but have no effect; docs/configuration.md lists which are applied (retention and
 * segment size here via plog, the produce checks via topic_t.produce) and which are not.
 *
 * Also a small ordered string map (config_set_t) for the dynamic overrides of a topic or of
 * the broker. Pure functions: no broker state, any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TCFG_LONG,
    TCFG_INT,
    TCFG_BOOL,
    TCFG_DOUBLE,
    TCFG_STRING, /* one of `choices`, or any non-empty string when choices is NULL */
    TCFG_LIST,   /* comma-separated items, each one of `choices` (any when NULL); may be empty */
} tcfg_type_t;

typedef struct tcfg_def {
    const char *name;        /* the key as Kafka spells it */
    const char *broker_name; /* broker config that supplies the default; NULL: none */
    tcfg_type_t type;
    const char *kafka_default;
    int64_t min, max; /* inclusive, for LONG and INT */
    const char *const *choices;
    bool applied; /* this broker acts on the value (retention, segment size, produce checks) */
} tcfg_def_t;

/* The topic-config table. */
const tcfg_def_t *tcfg_table(size_t *n);
/* A topic config by name, or NULL when Kafka has no such topic config. */
const tcfg_def_t *tcfg_find(const char *name);
/* Broker keys that are dynamic here but are not the default of a topic config (stored and
 * described only). */
const tcfg_def_t *tcfg_broker_extra_table(size_t *n);
/* The definition used to validate a dynamic broker key: a topic config's broker synonym
 * (log.retention.ms -> retention.ms's definition) or one of the extra keys; NULL otherwise. */
const tcfg_def_t *tcfg_find_broker(const char *broker_name);

/* Longest value accepted (values live one per line in key=value files). */
#define TCFG_VALUE_MAX 255

/* Checks `value` against d. On failure returns -1 and writes a message that names the key
 * (`key`, which may differ from d->name for broker synonyms) and says what was expected,
 * e.g. `Invalid value abc for configuration retention.ms: Not a number of type LONG`.
 * A NULL value, control characters and values longer than TCFG_VALUE_MAX are invalid. */
int tcfg_validate(const tcfg_def_t *d, const char *key, const char *value, char *why, size_t cap);

/* Parses an already validated LONG/INT value. */
int64_t tcfg_parse_long(const char *value);

/* ----- an ordered key -> value map ----- */

typedef struct config_set {
    size_t n, cap;
    char **keys;
    char **values;
} config_set_t;

void config_set_init(config_set_t *s);
void config_set_deinit(config_set_t *s);
/* The value for key, or NULL. */
const char *config_set_get(const config_set_t *s, const char *key);
/* Inserts or replaces (copies both strings). 0 or SB_ENOMEM. */
int config_set_put(config_set_t *s, const char *key, const char *value);
/* Removes key if present; true when it was. */
bool config_set_del(config_set_t *s, const char *key);
/* dst becomes a copy of src (dst must be initialised). 0 or SB_ENOMEM. */
int config_set_copy(config_set_t *dst, const config_set_t *src);
/* Exchanges the contents of a and b (used to commit a validated copy). */
void config_set_swap(config_set_t *a, config_set_t *b);

#endif
