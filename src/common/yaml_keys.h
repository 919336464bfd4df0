#ifndef STREAMBUS_COMMON_YAML_KEYS_H
#define STREAMBUS_COMMON_YAML_KEYS_H

/* The YAML shape of StreamBus's flat config files (connect's, the HTTP security file): nested
 * mappings whose scalar leaves are keys "section.sub.key" = "value". One walker, so every such
 * file reports errors the same way: "<source>:<line>: <message>", the line of the key.
 *
 * Each leaf is handed to set(); its error message is prefixed with source and line. A list, or
 * a mapping deeper than max_depth levels (0 = any depth), is an error naming the key. An empty
 * document (or one with only comments) sets nothing. A mapping with a key twice, or a file with
 * a second YAML document, is an error.
 *
 * Below the walker sit the primitives every StreamBus YAML reader shares: loading exactly one
 * document with located syntax errors, null scalars, key checks (plain names, no duplicates)
 * and quoting for messages. The broker's config (broker/config.c) walks its own key table and
 * its lists of listener mappings on these primitives.
 *
 * A file with lists (the jobs config's queues, auth.users, executors.shell_allow) names them in
 * an sb_yaml_keys_spec_t: the items of a list of values are leaves "list[0]", "list[1]"; the
 * fields of a list of mappings are leaves "list[0].field" (each a single value), and after each
 * item (of either kind) item_done("list[0]") may check it whole, its error located at the item.
 * A listed key whose value is not a list, an item of the wrong kind and a field that is not a
 * single value are errors naming the key path. */

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "common/err.h"

typedef int (*sb_yaml_set_fn)(void *arg, const char *key, const char *value, sb_err_t *err);

int sb_yaml_keys_load_string(const char *source, const void *data, size_t len, int max_depth,
                             sb_yaml_set_fn set, void *arg, sb_err_t *err);
/* Reads path (at most 1 MiB) and loads it as above with path as the source. */
int sb_yaml_keys_load_file(const char *path, int max_depth, sb_yaml_set_fn set, void *arg,
                           sb_err_t *err);

typedef enum sb_yaml_list_kind {
    SB_YAML_LIST_OF_VALUES = 1,
    SB_YAML_LIST_OF_MAPPINGS = 2,
} sb_yaml_list_kind_t;

typedef struct sb_yaml_list {
    const char *key; /* dotted, "auth.users" */
    sb_yaml_list_kind_t kind;
} sb_yaml_list_t;

typedef int (*sb_yaml_item_fn)(void *arg, const char *item, sb_err_t *err);

typedef struct sb_yaml_keys_spec {
    int max_depth;               /* of the mappings outside lists; 0 = any */
    sb_yaml_set_fn set;          /* each leaf */
    const sb_yaml_list_t *lists; /* ends with {NULL}; NULL = lists are an error */
    sb_yaml_item_fn item_done;   /* optional: after each list item, of either kind */
} sb_yaml_keys_spec_t;

int sb_yaml_keys_load_string_spec(const char *source, const void *data, size_t len,
                                  const sb_yaml_keys_spec_t *spec, void *arg, sb_err_t *err);
int sb_yaml_keys_load_file_spec(const char *path, const sb_yaml_keys_spec_t *spec, void *arg,
                                sb_err_t *err);

/* When key is list's item "list[N]" or one of its fields "list[N].field": stores N and the field
 * ("" for the item itself) and returns true. */
bool sb_yaml_list_item(const char *key, const char *list, size_t *index, const char **field);

/* Parses data as exactly one YAML document into *doc (the caller deletes it with
 * yaml_document_delete on success). Errors: "<source>:<line>:<column>: YAML syntax error: ...",
 * "<source>:<line>: only one YAML document is allowed", SB_ENOMEM. */
int sb_yaml_document_load(const char *source, const void *data, size_t len, yaml_document_t *doc,
                          sb_err_t *err);

/* libyaml does not resolve implicit tags, so a plain `~`, `null` or nothing means null. */
bool sb_yaml_is_null(const yaml_node_t *n);

/* Checks the keys of one mapping: each must be a scalar ("keys must be plain names") and appear
 * once ("duplicate key "<prefix><key>" (first at line N)"), errors located at the key. */
int sb_yaml_check_mapping_keys(const char *source, yaml_document_t *doc, const yaml_node_t *map,
                               const char *prefix, sb_err_t *err);

/* Writes s[0..len) into out as a double-quoted string for a message: quotes and backslashes
 * escaped, control bytes as \xNN, cut with "..." to fit cap (>= 16). Returns out. */
const char *sb_yaml_quote(char *out, size_t cap, const char *s, size_t len);

#endif
