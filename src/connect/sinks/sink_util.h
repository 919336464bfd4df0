#ifndef STREAMBUS_CONNECT_SINKS_SINK_UTIL_H
#define STREAMBUS_CONNECT_SINKS_SINK_UTIL_H

/* Pieces shared by the database sinks: a growable string, config reading, table naming,
 * last-event-per-key reduction and batch positions. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "connect/connector.h"
#include "connect/event_parse.h"

/* Growable NUL-terminated string. After an allocation failure `oom` is set and appends are
 * ignored, so a builder can check once at the end. */
typedef struct strbuf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
} strbuf_t;

void strbuf_init(strbuf_t *s);
void strbuf_deinit(strbuf_t *s);
void strbuf_reset(strbuf_t *s);
void strbuf_add(strbuf_t *s, const void *p, size_t n);
void strbuf_adds(strbuf_t *s, const char *str);
void strbuf_addf(strbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends "name" with embedded quotes doubled (SQL identifier; ClickHouse accepts it too). */
void strbuf_add_ident(strbuf_t *s, const char *name);
/* Appends 'text' with quotes doubled (PostgreSQL standard_conforming_strings literal). */
void strbuf_add_literal(strbuf_t *s, const char *text);

/* Config values are strings (Kafka Connect style); JSON booleans and numbers are accepted. */
const char *sink_config_str(const json_t *config, const char *key, const char *dflt);
/* Returns 0 and *out, or -1 when the value is not "true"/"false". */
int sink_config_bool(const json_t *config, const char *key, bool dflt, bool *out);

/* Expands table.name.format for a topic "<prefix>.<schema>.<table>": ${table} is the last
 * dot segment, ${schema} the one before it (empty when absent), ${topic} the whole topic.
 * Returns 0, or -1 for an unknown placeholder or a result that is empty or longer than 63
 * bytes (PostgreSQL would silently truncate it). */
int sink_table_name(const char *format, const char *topic, char *out, size_t cap);
/* Checks a format without a topic (for validate). */
int sink_table_format_check(const char *format, char *why, size_t cap);

/* Topics that carry no rows: "<prefix>.heartbeat" and "<prefix>.schema-changes". */
bool sink_topic_is_control(const char *topic);

/* The next offset per topic-partition of a batch. */
typedef struct sink_positions {
    sink_position_t *items;
    int n;
    int cap;
} sink_positions_t;

void sink_positions_reset(sink_positions_t *p);
void sink_positions_deinit(sink_positions_t *p);
int sink_positions_note(sink_positions_t *p, const connect_record_t *rec);

/* Splits "a, b,c" into trimmed names; returns the count or -1 on an empty element. */
int sink_split_fields(const char *list, char names[][64], int max);

/* Appends the identity of a row's key to `s`: the values of `fields` in order, each as type
 * byte, length and text, so {"id":1} and {"id":"1"} differ and no separator can collide. */
int sink_key_identity(strbuf_t *s, const event_row_t *row, char fields[][64], int nfields);

/* Open-addressing set of key identities -> slot value (an event index). */
typedef struct sink_keymap {
    struct sink_keymap_slot {
        uint64_t hash;
        const char *key; /* borrowed */
        size_t len;
        int value;
    } *slots;
    size_t cap; /* power of two */
    size_t n;
} sink_keymap_t;

void sink_keymap_deinit(sink_keymap_t *m);
/* Clears and sizes for `expected` keys. */
int sink_keymap_reset(sink_keymap_t *m, size_t expected);
/* Returns the slot for key (value -1 when new). The key bytes must outlive the map use. */
struct sink_keymap_slot *sink_keymap_slot(sink_keymap_t *m, const char *key, size_t len);

#endif
