#ifndef STREAMBUS_CONNECT_CONNECT_CONFIG_H
#define STREAMBUS_CONNECT_CONNECT_CONFIG_H

/* Configuration of `streambus connect` (config/connect.yaml): a YAML mapping of sections.
 * Every key, with its default, is in the table in connect_config.c; docs/connect.md lists
 * them. Unknown keys are refused with the file, line and key. */

#include <stddef.h>

#include "common/err.h"
#include "common/log.h"
#include "connect/worker.h"

typedef struct connect_config {
    connect_worker_options_t worker; /* connect.bootstrap_servers, connect.*_topic, ... */
    char rest_listen[256];           /* connect.rest_listen, "" = no REST API */
    sb_log_level_t log_level;
    sb_log_format_t log_format;
} connect_config_t;

void connect_config_defaults(connect_config_t *c);
int connect_config_load(connect_config_t *c, const char *path, sb_err_t *err);
/* Applies YAML text (for tests and fuzzing); source_name appears in errors. */
int connect_config_load_string(connect_config_t *c, const char *source_name, const void *data, size_t len,
                               sb_err_t *err);
/* Sets one key by dotted name ("connect.rest_listen"). */
int connect_config_set(connect_config_t *c, const char *key, const char *value, sb_err_t *err);

#endif
