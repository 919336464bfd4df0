#ifndef STREAMBUS_COMMON_YAML_KEYS_H
#define STREAMBUS_COMMON_YAML_KEYS_H

/* The YAML shape of StreamBus's flat config files (connect's, the HTTP security file): nested
 * mappings whose scalar leaves are keys "section.sub.key" = "value". One walker, so every such
 * file reports errors the same way: "<source>:<line>: <message>", the line of the key.
 *
 * Each leaf is handed to set(); its error message is prefixed with source and line. A list, or
 * a mapping deeper than max_depth levels (0 = any depth), is an error naming the key. An empty
 * document (or one with only comments) sets nothing. The broker's own config (broker/config.c)
 * has lists of mappings (broker.listeners) and a key table with docs; it keeps its own walker. */

#include <stddef.h>

#include "common/err.h"

typedef int (*sb_yaml_set_fn)(void *arg, const char *key, const char *value, sb_err_t *err);

int sb_yaml_keys_load_string(const char *source, const void *data, size_t len, int max_depth,
                             sb_yaml_set_fn set, void *arg, sb_err_t *err);
/* Reads path (at most 1 MiB) and loads it as above with path as the source. */
int sb_yaml_keys_load_file(const char *path, int max_depth, sb_yaml_set_fn set, void *arg,
                           sb_err_t *err);

#endif
